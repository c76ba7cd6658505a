"""report.html: well-formed, self-contained (only the given image URLs), escaped, and every number
drawn readable back from its data-* attributes (docs/evaluation.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from lambdas.evaluation import Predictions, TrainingMetric, evaluate, predictions_from_outputs
from lambdas.evaluation_report import render_report, safe_image_url
from tests.unit.test_evaluation import (
    ATTRIBUTE,
    BUCKET,
    EXPECTED_MATRIX,
    LABELS,
    OBJECTIVE,
    manifest_line,
    probabilities,
    source,
    table_inputs,
    transform_output,
)

# Void elements never get an end tag; everything else must be closed, in order.
VOID = {"meta", "img", "br", "rect", "line", "input", "hr", "link"}
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class Page(HTMLParser):
    """Every element with its attributes and its direct text, and the nesting checked."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict[str, Any]] = []
        self.stack: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {[element['tag'] for element in self.stack]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "parent": self.stack[-1] if self.stack else None}
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(
            {"tag": tag, "attrs": dict(attrs), "text": "", "parent": self.stack[-1] if self.stack else None}
        )

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1]["tag"] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1]['tag'] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1]["text"] += data

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, Any]]:
        return [
            element
            for element in self.elements
            if (tag is None or element["tag"] == tag)
            and all(element["attrs"].get(name.replace("_", "-")) == value for name, value in attrs.items())
        ]


def table_metrics(**kwargs: Any) -> dict[str, Any]:
    lines, outputs = table_inputs()
    return evaluate(
        lines, predictions_from_outputs(outputs, bucket=BUCKET), label_attribute=ATTRIBUTE, labels=LABELS,
        training_job="gt-demo-train-1", training_metric=TrainingMetric(OBJECTIVE, 0.7), **kwargs,
    )


COUNTS = [
    {"index": index, "label": label, "train": train, "validation": validation}
    for index, (label, train, validation) in enumerate(zip(LABELS, [20, 16, 16, 15, 12], [5, 4, 4, 4, 3], strict=True))
]


def test_the_page_parses_and_every_element_is_closed() -> None:
    text = render_report(table_metrics(), class_counts=COUNTS)
    assert text.startswith("<!DOCTYPE html>\n")
    page = Page(text)
    assert page.errors == []
    assert [element["tag"] for element in page.elements[:2]] == ["html", "head"]
    assert len(page.find("svg")) == 3  # distribution, confusion matrix, metric bars


def test_confusion_matrix_cells_carry_the_matrix() -> None:
    page = Page(render_report(table_metrics()))
    cells = page.find("g", **{"class": "cm-cell"})
    assert len(cells) == 25
    read = [[-1] * 5 for _ in range(5)]
    for cell in cells:
        read[int(cell["attrs"]["data-true"])][int(cell["attrs"]["data-pred"])] = int(cell["attrs"]["data-value"])
    assert read == EXPECTED_MATRIX
    # The count is also the text drawn in the cell (its <text> child).
    for cell in cells:
        drawn = [element["text"] for element in page.find("text") if element["parent"] is cell]
        assert drawn == [cell["attrs"]["data-value"]]


def test_bars_and_table_carry_the_per_class_figures() -> None:
    metrics = table_metrics()
    page = Page(render_report(metrics))
    for entry in metrics["classes"]:
        for metric in ("precision", "recall", "f1"):
            where = {"data_class": str(entry["id"]), "data_metric": metric}
            bar = page.find("rect", **where)
            label = page.find("text", **where)
            cell = page.find("td", **where)
            assert len(bar) == len(label) == len(cell) == 1, (entry["label"], metric)
            assert float(bar[0]["attrs"]["data-value"]) == entry[metric]
            assert float(cell[0]["attrs"]["data-value"]) == entry[metric]
            assert label[0]["text"] == cell[0]["text"] == f"{entry[metric]:.3f}"
            # The bar's length is the value on a 400-pixel axis.
            assert float(bar[0]["attrs"]["width"]) == pytest.approx(entry[metric] * 400, abs=0.01)
    accuracy = page.find("div", data_metric="accuracy")[0]
    assert float(accuracy["attrs"]["data-value"]) == metrics["accuracy"]
    assert accuracy["text"] == "65.0%"
    (training,) = page.find("div", data_metric="training_metric")
    assert (training["attrs"]["data-value"], training["text"]) == ("0.7", "70.0%")
    assert [element["text"] for element in page.find("div", **{"class": "name"})][1] == (
        f"the training job's final {OBJECTIVE}"
    )


def test_distribution_bars_carry_the_counts_and_are_left_out_without_them() -> None:
    page = Page(render_report(table_metrics(), class_counts=COUNTS))
    for row in COUNTS:
        for split in ("train", "validation"):
            bars = page.find("rect", data_class=str(row["index"]), data_split=split)
            assert [int(bar["attrs"]["data-value"]) for bar in bars] == [row[split]]
    assert not Page(render_report(table_metrics())).find("svg", **{"class": "distribution"})


def test_class_counts_must_match_the_label_map() -> None:
    with pytest.raises(ValueError, match="name the classes"):
        render_report(table_metrics(), class_counts=COUNTS[:4])
    with pytest.raises(ValueError, match="non-negative int"):
        render_report(table_metrics(), class_counts=[{**COUNTS[0], "train": -1}, *COUNTS[1:]])


def test_undefined_figures_show_n_a_with_an_empty_value() -> None:
    lines = [manifest_line("a", 0), manifest_line("f", 2)]
    outputs = {
        "ground-truth-demo/images/a.jpg.out": transform_output(probabilities(0, 0.8)),
        "ground-truth-demo/images/f.jpg.out": transform_output(probabilities(0, 0.7)),
    }
    predictions = predictions_from_outputs(outputs, bucket=BUCKET)
    metrics = evaluate(lines, predictions, label_attribute=ATTRIBUTE, labels=LABELS)
    page = Page(render_report(metrics))
    ferry = page.find("td", data_class="2", data_metric="precision")[0]  # Ferry: never predicted
    assert (ferry["attrs"]["data-value"], ferry["text"]) == ("", "n/a")
    assert float(page.find("rect", data_class="2", data_metric="precision")[0]["attrs"]["width"]) == 0


def test_only_the_given_image_urls_are_referenced() -> None:
    metrics = table_metrics()
    worst = [item["source_ref"] for item in metrics["worst_misclassified"]]
    urls = {
        worst[0]: "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Signature=abc&X-Amz-Expires=3600",
        worst[1]: PNG,
        worst[2]: "http://127.0.0.1:5000/bucket/b.jpg",
        source("not-among-the-worst"): "https://elsewhere.example/x.jpg",
    }
    text = render_report(metrics, image_urls=urls)
    page = Page(text)
    referenced = [
        value for element in page.elements for name, value in element["attrs"].items()
        if name in {"src", "href", "xlink:href", "srcset", "poster", "data", "action", "background"}
    ]
    assert sorted(referenced) == sorted([urls[worst[0]], PNG, urls[worst[2]]])
    for tag in ("script", "link", "iframe", "object", "embed", "base", "form", "foreignobject", "use"):
        assert not page.find(tag), tag
    assert not [name for element in page.elements for name in element["attrs"] if name.startswith("on")]
    assert "url(" not in text and "@import" not in text
    # Every http(s) string in the page is a given URL or an SVG namespace name (not fetched).
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) - {"http://www.w3.org/2000/svg"} == {
        urls[worst[0]].replace("&", "&amp;"), urls[worst[2]],
    }


def test_content_security_policy_allows_nothing_but_the_page_and_its_images() -> None:
    metrics = table_metrics()
    worst = metrics["worst_misclassified"][0]["source_ref"]
    page = Page(render_report(metrics, image_urls={worst: "https://bucket.s3.amazonaws.com/a.jpg"}))
    policy = page.find("meta", http_equiv="Content-Security-Policy")[0]["attrs"]["content"]
    style = page.find("style")[0]["text"]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy == (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src https:; base-uri 'none'; form-action 'none'"
    )
    assert page.find("meta", name="referrer")[0]["attrs"]["content"] == "no-referrer"
    no_images = Page(render_report(metrics)).find("meta", http_equiv="Content-Security-Policy")[0]
    assert "img-src 'none'" in no_images["attrs"]["content"]
    # No style attribute anywhere: the hash covers the style element only.
    assert not [element for element in page.elements if "style" in element["attrs"]]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "data:image/svg+xml;base64,PHN2Zz4=",  # SVG can carry script
        "file:///etc/passwd",
        "//evil.example/x.png",
        'https://x.example/a.jpg" onerror="alert(1)',
        "https://x.example/a b.jpg",
        "",
        None,
    ],
)
def test_unsafe_image_urls_are_not_loaded(url: Any) -> None:
    assert safe_image_url(url) is None
    metrics = table_metrics()
    worst = metrics["worst_misclassified"][0]["source_ref"]
    page = Page(render_report(metrics, image_urls={worst: url}))
    assert not page.find("img")
    placeholder = page.find("div", **{"class": "noimage"})
    assert [element["text"] for element in placeholder][:1] == ["no image link for this object"]


def test_labels_names_and_urls_are_escaped() -> None:
    evil = ['<script>alert("x")</script>', "Car & <b>Van</b>", "it's \"quoted\"", "Ferry", "Motor\u00e9bike"]
    evil_source = f's3://{BUCKET}/images/"><img src=x onerror=alert(1)>.jpg'
    attribute = "<i>attr</i>"
    lines = [
        json.dumps({"source-ref": evil_source, attribute: 0}),
        json.dumps({"source-ref": source("ok"), attribute: 1}),
    ]
    predictions = Predictions(by_source={
        evil_source: transform_output(probabilities(1, 0.9)),
        source("ok"): transform_output(probabilities(1, 0.9)),
    })
    metrics = evaluate(lines, predictions, label_attribute=attribute, labels=evil, training_job="job<1>")
    url = "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Credential=a%2Fb&X-Amz-Signature=c"
    text = render_report(metrics, image_urls={evil_source: url})

    for raw in ("<script>", "<b>Van", "<img src=x", "<i>attr", "job<1>"):
        assert raw not in text, raw
    page = Page(text)
    assert page.errors == []
    assert not page.find("script") and not page.find("b")
    assert not [name for element in page.elements for name in element["attrs"] if name.startswith("on")]
    # The texts read back are the original labels (escaped on the wire, unescaped by the parser).
    row_labels = [element["text"] for element in page.find("td") if element["text"] in evil]
    assert row_labels == evil
    figure = page.find("figure", data_rank="1")[0]
    assert figure["attrs"]["data-source"] == evil_source
    # The URL's & is escaped on the wire and read back as given.
    assert "X-Amz-Credential=a%2Fb&amp;X-Amz-Signature=c" in text
    assert [image["attrs"]["src"] for image in page.find("img")] == [url]
    assert page.find("img")[0]["attrs"]["alt"] == f"true {evil[0]}, predicted {evil[1]}"
    assert page.find("title")[0]["text"] == "Evaluation of job<1>"
