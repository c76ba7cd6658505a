"""report.html in a real browser: Debian's Chromium, headless, offline (file:// and data: URLs only).

`--dump-dom` gives the DOM as Chromium built it: the confusion matrix cells, the bars and the
table must carry the numbers of metrics.json (the file, read back), for the hand-computed matrix
of tests/unit/test_evaluation.py. `--screenshot` writes a PNG (set EVALUATION_SCREENSHOT=<path> to
keep it and look at it). Not skipped when Chromium is missing: `make install` runs
tools/chromium.sh, which installs it.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from demo.images import PNG_SIGNATURE, class_image
from lambdas.evaluation import metrics_json
from lambdas.evaluation_report import render_report
from tests.unit.test_evaluation import EXPECTED_MATRIX
from tests.unit.test_evaluation_report import COUNTS, Page, table_metrics

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
WINDOW = (1280, 2400)
# Headless, no sandbox (containers and CI run as root), no GPU, and nothing that reaches a network:
# the page is a file and its images are data: URLs.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--force-color-profile=srgb",
)


def chromium(tmp_path: Path, *arguments: str) -> str:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run `bash tools/chromium.sh` (part of `make install`) to install it")
    profile = tmp_path / "profile"
    result = subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, f"chromium exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """report.html and metrics.json written to disk, as the evaluation Lambda writes them."""
    folder = tmp_path_factory.mktemp("evaluation")
    metrics = table_metrics()
    (folder / "metrics.json").write_bytes(metrics_json(metrics))
    # Thumbnails in each object's true class colour (the demo's images), as data: URLs.
    urls = {}
    for mistake in metrics["worst_misclassified"]:
        image = class_image(mistake["true"], int(mistake["source_ref"].rsplit("-", 1)[-1][:-4]), size=48)
        urls[mistake["source_ref"]] = "data:image/png;base64," + base64.b64encode(image).decode()
    (folder / "report.html").write_text(render_report(metrics, class_counts=COUNTS, image_urls=urls), "utf-8")
    return {"folder": folder, "url": (folder / "report.html").as_uri()}


def test_the_rendered_dom_shows_the_numbers_of_metrics_json(report: dict[str, Any], tmp_path: Path) -> None:
    metrics = json.loads((report["folder"] / "metrics.json").read_text())
    dom = chromium(tmp_path, "--dump-dom", report["url"])
    assert_report_shows(dom, metrics)
    assert metrics["confusion_matrix"] == EXPECTED_MATRIX


def assert_report_shows(dom: str, metrics: dict[str, Any]) -> None:
    """The DOM Chromium built shows metrics.json's numbers: every confusion matrix cell, each class's
    precision, recall, F1 (bar, bar label, table cell) and support, the accuracy, and the worst mistakes.
    (tests/integration/test_demo.py checks the demo's report with it too.)"""
    page = Page(dom)
    labels = metrics["labels"]
    cells = page.find("g", **{"class": "cm-cell"})
    assert len(cells) == len(labels) ** 2
    shown: list[list[int | None]] = [[None] * len(labels) for _ in labels]
    for cell in cells:
        true, predicted = int(cell["attrs"]["data-true"]), int(cell["attrs"]["data-pred"])
        text = [element["text"] for element in page.find("text") if element["parent"] is cell]
        assert text == [cell["attrs"]["data-value"]], (true, predicted)
        shown[true][predicted] = int(text[0])
    assert shown == metrics["confusion_matrix"]

    for entry in metrics["classes"]:
        for metric in ("precision", "recall", "f1"):
            where = {"data_class": str(entry["id"]), "data_metric": metric}
            for tag in ("rect", "text", "td"):
                (element,) = page.find(tag, **where)
                assert float(element["attrs"]["data-value"]) == entry[metric], (tag, entry["label"], metric)
            (label,) = page.find("text", **where)
            (cell,) = page.find("td", **where)
            assert label["text"] == cell["text"] == f"{entry[metric]:.3f}"
        (support,) = page.find("td", data_class=str(entry["id"]), data_metric="support")
        assert int(support["text"]) == entry["support"]
    (accuracy,) = page.find("div", data_metric="accuracy")
    assert float(accuracy["attrs"]["data-value"]) == metrics["accuracy"]
    assert accuracy["text"] == f"{metrics['accuracy'] * 100:.1f}%"

    figures = page.find("figure", **{"class": "mistake"})
    assert [figure["attrs"]["data-source"] for figure in figures] == [
        item["source_ref"] for item in metrics["worst_misclassified"]
    ]
    assert len(page.find("img")) == len(metrics["worst_misclassified"])


def test_the_screenshot_is_a_full_page_png(report: dict[str, Any], tmp_path: Path) -> None:
    target = Path(os.environ.get("EVALUATION_SCREENSHOT") or tmp_path / "report.png")
    assert_screenshot(tmp_path, report["url"], target)


def assert_screenshot(tmp_path: Path, url: str, target: Path) -> None:
    """A full-window PNG of the page at `url`, written to `target`, that is not blank."""
    chromium(tmp_path, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={target}", url)
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # IHDR, the first chunk
    assert (width, height) == WINDOW
    # A blank page of this size compresses to a few kilobytes; the charts and thumbnails do not.
    assert len(data) > 40_000, f"{target}: {len(data)} bytes, suspiciously small for the report"
