"""`report.html`: one self-contained page from `metrics.json` (`evaluation.evaluate`).

Standard library only, like every module of the Lambda asset: the functions run on the runtime's
Python with boto3 and nothing else, and the asset is the source directory (no Docker bundling, no
layer), so a plotting library and its compiled dependencies have no way in. The charts are inline
SVG drawn from the numbers instead (docs/evaluation.md says why in full):

- the class distribution of the train and validation splits (counts passed in: summary.json),
- the confusion matrix as a heat map (rows: true class, columns: predicted class),
- per-class precision, recall and F1 as bars, and the same numbers as a table,
- a grid of the most confident mistakes, each image from the URL given for its `source-ref`
  (a pre-signed https URL, or a `data:image/...` thumbnail), with a caption.

Self-contained: no script, no stylesheet or font from elsewhere; the only URLs are the images'.
A Content-Security-Policy in the page says so to the browser too (no script at all, styles only
from the page's own style element, images only from the schemes the page uses), and
`referrer: no-referrer` keeps the report's own address (itself possibly a pre-signed URL) from
being sent with image requests.

Every number drawn carries machine-readable attributes (`data-true`, `data-pred`, `data-class`,
`data-metric`, `data-split`, `data-value`: the exact value from metrics.json, `""` when undefined)
so a test (or a reader's script) can read the page back. Every label, name and URL is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

METRICS = ("precision", "recall", "f1")
METRIC_TITLES = {"precision": "Precision", "recall": "Recall", "f1": "F1"}
# Tableau 10's blue, orange and green: distinct in the common colour-vision deficiencies.
METRIC_COLOURS = {"precision": "#4e79a7", "recall": "#f28e2b", "f1": "#59a14f"}
SPLIT_COLOURS = {"train": "#4e79a7", "validation": "#e15759"}
# Heat map: correct (diagonal) cells in blues, mistakes in oranges, by the share of the row.
DIAGONAL_SCALE = ((0xF7, 0xFB, 0xFF), (0x08, 0x30, 0x6B))
MISTAKE_SCALE = ((0xFF, 0xF5, 0xEB), (0x7F, 0x27, 0x04))
EMPTY_CELL = "#f4f4f4"
LABEL_CHARS = 18  # longer labels are shortened in the charts; the full label is the tooltip

# Image URLs the page may load. https: pre-signed S3 URLs; http: only the local emulator's;
# data: inline thumbnails of an image type. Anything else (javascript:, file:, ...) is not loaded.
_IMAGE_URL = re.compile(r"^(?:https?://[^\s\"'<>]+|data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+)$")

_STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 24px;
  color: #1b1b1b; background: #ffffff; max-width: 1200px; }
h1 { font-size: 1.5em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.lead { margin: 0 0 16px; color: #555; }
.headline { display: flex; flex-wrap: wrap; gap: 12px; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; min-width: 140px; }
.figure .value { font-size: 1.6em; font-weight: 600; }
.figure .name { color: #555; font-size: 0.9em; }
.warning { border: 1px solid #e0a800; background: #fff8e1; border-radius: 6px; padding: 8px 14px; margin-top: 16px; }
.warning li { margin: 2px 0; }
.chart { overflow-x: auto; }
svg text { font-family: system-ui, "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
table { border-collapse: collapse; margin-top: 8px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f6f6; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; }
figure.mistake { margin: 0; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
figure.mistake img { width: 100%; height: 160px; object-fit: contain; background: #f4f4f4; display: block; }
figure.mistake .noimage { height: 160px; display: flex; align-items: center; justify-content: center;
  background: #f4f4f4; color: #777; font-size: 0.85em; text-align: center; }
figure.mistake figcaption { font-size: 0.85em; margin-top: 6px; overflow-wrap: anywhere; }
.muted { color: #666; }
code { font-size: 0.9em; }
""".strip()


def _e(value: object) -> str:
    """Escaped for text and for a double- or single-quoted attribute."""
    return html.escape(str(value), quote=True)


def _number(value: float | int | None) -> str:
    """The exact value for a `data-value` attribute ("" when undefined)."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else repr(float(value))


def _fixed(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"


def _mix(scale: tuple[tuple[int, int, int], tuple[int, int, int]], share: float) -> tuple[int, int, int]:
    (red, green, blue), (red_high, green_high, blue_high) = scale
    share = min(max(share, 0.0), 1.0)
    return (
        round(red + (red_high - red) * share),
        round(green + (green_high - green) * share),
        round(blue + (blue_high - blue) * share),
    )


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _text_colour(rgb: tuple[int, int, int]) -> str:
    # Relative luminance (sRGB approximation): light text on dark cells.
    red, green, blue = rgb
    return "#ffffff" if 0.2126 * red + 0.7152 * green + 0.0722 * blue < 140 else "#1b1b1b"


def safe_image_url(url: object) -> str | None:
    """`url` if the page may load it as an image (https, http, data:image base64), else None."""
    if isinstance(url, str) and _IMAGE_URL.match(url):
        return url
    return None


# --- charts ----------------------------------------------------------------------------------


def confusion_matrix_svg(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """The heat map: a cell per (true, predicted) pair, coloured by its share of the true row."""
    count = len(labels)
    cell = max(30, min(64, 640 // max(count, 1)))
    left, top = 150, 130  # room for the row labels and the rotated column labels
    width, height = max(left + cell * count + 20, 420), top + cell * count + 66
    font = max(10, min(15, cell // 3))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="confusion-matrix" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="cm-title">',
        '<title id="cm-title">Confusion matrix: rows are the true class, columns the predicted class</title>',
        f'<text x="{left + cell * count / 2}" y="16" text-anchor="middle" font-size="13" '
        'font-weight="600">predicted class</text>',
        f'<text x="14" y="{top + cell * count / 2}" text-anchor="middle" font-size="13" font-weight="600" '
        f'transform="rotate(-90 14 {top + cell * count / 2})">true class</text>',
    ]
    for index, label in enumerate(labels):
        x = left + cell * index + cell / 2
        parts.append(
            f'<text class="cm-col-label" data-pred="{index}" x="{x}" y="{top - 8}" font-size="12" '
            f'transform="rotate(-45 {x} {top - 8})">{_e(_short(label))}<title>{_e(label)}</title></text>'
        )
        y = top + cell * index + cell / 2 + 4
        parts.append(
            f'<text class="cm-row-label" data-true="{index}" x="{left - 8}" y="{y}" text-anchor="end" '
            f'font-size="12">{_e(_short(label))}<title>{_e(label)}</title></text>'
        )
    for true_id, row in enumerate(matrix):
        row_total = sum(row)
        for predicted_id, value in enumerate(row):
            share = value / row_total if row_total else 0.0
            if value == 0:
                fill = EMPTY_CELL
                ink = "#999999"
            else:
                rgb = _mix(DIAGONAL_SCALE if true_id == predicted_id else MISTAKE_SCALE, 0.15 + 0.85 * share)
                fill, ink = _hex(rgb), _text_colour(rgb)
            x, y = left + cell * predicted_id, top + cell * true_id
            tooltip = (
                f"true {labels[true_id]}, predicted {labels[predicted_id]}: {value}"
                + (f" of {row_total} ({share * 100:.1f}% of the row)" if row_total else "")
            )
            parts.append(
                f'<g class="cm-cell" data-true="{true_id}" data-pred="{predicted_id}" data-value="{value}" '
                f'data-share="{_number(share)}"><title>{_e(tooltip)}</title>'
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ffffff" '
                f'stroke-width="1"/>'
                f'<text x="{x + cell / 2}" y="{y + cell / 2 + font / 3}" text-anchor="middle" '
                f'font-size="{font}" fill="{ink}">{value}</text></g>'
            )
    legend = (("correct (diagonal)", DIAGONAL_SCALE), ("mistaken", MISTAKE_SCALE))
    for offset, (name, scale) in enumerate(legend):
        x, y = 30, top + cell * count + 22 + offset * 20
        parts.append(
            f'<rect x="{x}" y="{y - 11}" width="14" height="14" fill="{_hex(_mix(scale, 0.7))}"/>'
            f'<text x="{x + 20}" y="{y}" font-size="12">{name}; darker: a larger share of the true class</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def metric_bars_svg(classes: Sequence[Mapping[str, Any]]) -> str:
    """Per class, one bar each for precision, recall and F1 (0..1 on a shared axis)."""
    left, bar, gap, scale = 160, 14, 12, 400
    group = bar * len(METRICS) + gap
    top = 34
    width, height = left + scale + 70, top + group * len(classes) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="metric-bars" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="bars-title">',
        '<title id="bars-title">Precision, recall and F1 per class</title>',
    ]
    for offset, metric in enumerate(METRICS):
        x = left + offset * 110
        parts.append(
            f'<rect x="{x}" y="6" width="14" height="14" fill="{METRIC_COLOURS[metric]}"/>'
            f'<text x="{x + 20}" y="18" font-size="12">{METRIC_TITLES[metric]}</text>'
        )
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * scale
        parts.append(
            f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{height - 24}" stroke="#e4e4e4"/>'
            f'<text x="{x}" y="{height - 10}" font-size="11" text-anchor="middle" fill="#666666">{tick:g}</text>'
        )
    for row, entry in enumerate(classes):
        y0 = top + row * group
        label = str(entry["label"])
        parts.append(
            f'<text x="{left - 8}" y="{y0 + bar * len(METRICS) / 2 + 4}" text-anchor="end" font-size="12" '
            f'data-class="{entry["id"]}">{_e(_short(label))}<title>{_e(label)}</title></text>'
        )
        for index, metric in enumerate(METRICS):
            value = entry[metric]
            y = y0 + index * bar
            length = 0.0 if value is None else value * scale
            attributes = f'data-class="{entry["id"]}" data-metric="{metric}" data-value="{_number(value)}"'
            parts.append(
                f'<rect class="metric-bar" {attributes} x="{left}" y="{y + 1}" width="{length:.2f}" '
                f'height="{bar - 2}" fill="{METRIC_COLOURS[metric]}">'
                f"<title>{_e(label)}: {METRIC_TITLES[metric]} {_fixed(value)}</title></rect>"
                f'<text class="metric-value" {attributes} x="{left + length + 4:.2f}" y="{y + bar - 3}" '
                f'font-size="11">{_fixed(value)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def distribution_svg(counts: Sequence[Mapping[str, Any]]) -> str:
    """Per class, the number of train and validation objects (bars on a shared axis)."""
    left, bar, gap, scale = 160, 14, 10, 400
    splits = ("train", "validation")
    group = bar * len(splits) + gap
    top = 34
    largest = max([int(entry[split]) for entry in counts for split in splits] + [1])
    width, height = left + scale + 70, top + group * len(counts) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="distribution" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="dist-title">',
        '<title id="dist-title">Objects per class in the train and validation splits</title>',
    ]
    for offset, split in enumerate(splits):
        x = left + offset * 110
        parts.append(
            f'<rect x="{x}" y="6" width="14" height="14" fill="{SPLIT_COLOURS[split]}"/>'
            f'<text x="{x + 20}" y="18" font-size="12">{split}</text>'
        )
    for row, entry in enumerate(counts):
        y0 = top + row * group
        label = str(entry["label"])
        parts.append(
            f'<text x="{left - 8}" y="{y0 + bar + 4}" text-anchor="end" font-size="12" '
            f'data-class="{row}">{_e(_short(label))}<title>{_e(label)}</title></text>'
        )
        for index, split in enumerate(splits):
            value = int(entry[split])
            length = value / largest * scale
            y = y0 + index * bar
            attributes = f'data-class="{row}" data-split="{split}" data-value="{value}"'
            parts.append(
                f'<rect class="count-bar" {attributes} x="{left}" y="{y + 1}" width="{length:.2f}" '
                f'height="{bar - 2}" fill="{SPLIT_COLOURS[split]}"><title>{_e(label)}: {value} {split}</title></rect>'
                f'<text class="count-value" {attributes} x="{left + length + 4:.2f}" y="{y + bar - 3}" '
                f'font-size="11">{value}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


# --- the page ---------------------------------------------------------------------------------


def _class_counts(
    metrics: Mapping[str, Any], class_counts: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """summary.json's `classes` entries (`label`, `train`, `validation`) in class-id order, checked
    against the label map: a distribution that names other classes is not drawn against them."""
    if class_counts is None:
        return None
    labels = [entry["label"] for entry in metrics["classes"]]
    rows = []
    for entry in class_counts:
        train, validation = entry.get("train"), entry.get("validation")
        if type(train) is not int or type(validation) is not int or train < 0 or validation < 0:
            raise ValueError(f"class_counts: {entry!r} needs non-negative int 'train' and 'validation' counts")
        rows.append({"label": str(entry.get("label")), "train": train, "validation": validation})
    if [row["label"] for row in rows] != labels:
        raise ValueError(
            f"class_counts name the classes {[row['label'] for row in rows]}, the label map {labels}: "
            "pass summary.json's classes of the same training split"
        )
    return rows


def _headline(metrics: Mapping[str, Any]) -> str:
    counts = metrics["counts"]
    training = metrics.get("training") or {}
    metric = training.get("metric")
    figures = [
        ("accuracy", metrics["accuracy"], _percent(metrics["accuracy"]), "accuracy on the validation split"),
        (
            "training_metric", training.get("value"), _percent(training.get("value")),
            f"the training job's final {metric}" if metric else "no final metric of the training job",
        ),
        ("macro_f1", metrics["macro_avg"]["f1"], _fixed(metrics["macro_avg"]["f1"]), "macro-average F1"),
        ("evaluated", counts["evaluated"], str(counts["evaluated"]), f"objects evaluated of {counts['objects']}"),
    ]
    return '<div class="headline">' + "".join(
        f'<div class="figure"><div class="value" data-metric="{key}" data-value="{_number(value)}">{_e(text)}</div>'
        f'<div class="name">{_e(name)}</div></div>'
        for key, value, text, name in figures
    ) + "</div>"


def _problems(metrics: Mapping[str, Any]) -> str:
    counts = metrics["counts"]
    named = metrics.get("problems") or {}
    items = []
    for problem, examples in named.items():
        shown = ", ".join(f"{example['object']} ({example['reason']})" for example in examples[:5])
        more = counts.get(problem, len(examples)) - min(len(examples), 5)
        items.append(
            f'<li data-count="{_e(problem)}" data-value="{counts.get(problem, len(examples))}">'
            f"<strong>{_e(problem.replace('_', ' '))}</strong>: {counts.get(problem, len(examples))}"
            f" &mdash; {_e(shown)}{_e(f' and {more} more (metrics.json)') if more > 0 else ''}</li>"
        )
    if not items:
        return ""
    return (
        '<div class="warning" role="note"><strong>Not everything could be evaluated.</strong> '
        "These objects or outputs were counted and left out of the figures below:<ul>"
        + "".join(items)
        + "</ul></div>"
    )


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    rows = []
    for entry in metrics["classes"]:
        cells = "".join(
            f'<td data-class="{entry["id"]}" data-metric="{metric}" data-value="{_number(entry[metric])}">'
            f"{_fixed(entry[metric])}</td>"
            for metric in METRICS
        )
        rows.append(
            f'<tr><td>{_e(entry["label"])}</td>{cells}'
            f'<td data-class="{entry["id"]}" data-metric="support" data-value="{entry["support"]}">'
            f'{entry["support"]}</td></tr>'
        )
    for name, key in (("macro average", "macro_avg"), ("weighted average", "weighted_avg")):
        averages = metrics[key]
        cells = "".join(
            f'<td data-average="{key}" data-metric="{metric}" data-value="{_number(averages[metric])}">'
            f"{_fixed(averages[metric])}</td>"
            for metric in METRICS
        )
        rows.append(f'<tr><td class="muted">{name}</td>{cells}<td></td></tr>')
    return (
        '<table class="per-class"><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>'
        "<th>support</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _mistakes(metrics: Mapping[str, Any], image_urls: Mapping[str, str]) -> str:
    mistakes = metrics.get("worst_misclassified") or []
    if not mistakes:
        return '<p class="muted">No misclassified objects.</p>'
    figures = []
    for rank, mistake in enumerate(mistakes, start=1):
        source = str(mistake["source_ref"])
        name = source.rsplit("/", 1)[-1]
        url = safe_image_url(image_urls.get(source))
        caption = f"true {mistake['true']}, predicted {mistake['predicted']}"
        if url is not None:
            picture = f'<img src="{_e(url)}" alt="{_e(caption)}" loading="lazy">'
        else:
            picture = '<div class="noimage">no image link for this object</div>'
        figures.append(
            f'<figure class="mistake" data-rank="{rank}" data-source="{_e(source)}" '
            f'data-true="{mistake["true_id"]}" data-pred="{mistake["predicted_id"]}" '
            f'data-value="{_number(mistake["probability"])}">{picture}'
            f"<figcaption><strong>{_e(mistake['true'])}</strong> &rarr; <strong>{_e(mistake['predicted'])}</strong>"
            f" ({_fixed(mistake['probability'])})<br><span class=\"muted\" title=\"{_e(source)}\">{_e(name)}</span>"
            "</figcaption></figure>"
        )
    return '<div class="grid">' + "".join(figures) + "</div>"


def _policy(image_urls: Sequence[str]) -> str:
    """The page's Content-Security-Policy: nothing but its own style element and its images."""
    style_hash = base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")
    schemes = sorted({url.split(":", 1)[0] + ":" for url in image_urls})
    images = " ".join(schemes) if schemes else "'none'"
    return f"default-src 'none'; style-src 'sha256-{style_hash}'; img-src {images}; base-uri 'none'; form-action 'none'"


def render_report(
    metrics: Mapping[str, Any],
    *,
    class_counts: Sequence[Mapping[str, Any]] | None = None,
    image_urls: Mapping[str, str] | None = None,
    title: str | None = None,
) -> str:
    """The report page for `metrics` (the metrics.json document).

    `class_counts`: summary.json's `classes` (`label`, `train`, `validation`), in class-id order;
    None leaves the distribution chart out. `image_urls`: `source-ref` -> a URL for the worst
    mistakes' images (pre-signed https, or `data:image/...;base64,`); other URLs are not loaded.
    """
    image_urls = dict(image_urls or {})
    labels = [entry["label"] for entry in metrics["classes"]]
    counts = _class_counts(metrics, class_counts)
    used_urls = [
        url
        for mistake in metrics.get("worst_misclassified") or []
        if (url := safe_image_url(image_urls.get(str(mistake["source_ref"])))) is not None
    ]
    job = metrics.get("training_job")
    heading = title or (f"Evaluation of {job}" if job else "Model evaluation")
    attribute = metrics.get("label_attribute")
    lead = f"{metrics['counts']['evaluated']} validation objects evaluated, {len(labels)} classes"
    if attribute:
        lead += f", label attribute {attribute}"
    sections = [
        f"<h1>{_e(heading)}</h1>",
        f'<p class="lead">{_e(lead)}.</p>',
        _headline(metrics),
        _problems(metrics),
    ]
    if counts is not None:
        sections += [
            "<h2>Class distribution</h2>",
            '<p class="muted">Objects per class in the train and validation splits.</p>',
            f'<div class="chart">{distribution_svg(counts)}</div>',
        ]
    sections += [
        "<h2>Confusion matrix</h2>",
        '<p class="muted">Rows: the true class; columns: the class the model predicted. Each cell counts '
        "validation objects; the diagonal holds the correct ones.</p>",
        f'<div class="chart">{confusion_matrix_svg(metrics["confusion_matrix"], labels)}</div>',
        "<h2>Precision, recall and F1 per class</h2>",
        f'<div class="chart">{metric_bars_svg(metrics["classes"])}</div>',
        _metrics_table(metrics),
        "<h2>Most confident mistakes</h2>",
        '<p class="muted">Misclassified validation objects, the highest probability for the wrong class '
        "first.</p>",
        _mistakes(metrics, image_urls),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_policy(used_urls))}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(heading)}</title><style>{_STYLE}</style></head>"
        "<body>" + "\n".join(section for section in sections if section) + "</body></html>\n"
    )
