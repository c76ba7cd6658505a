"""Evaluate a trained image classifier: join batch transform predictions with the validation labels.

Pure functions, standard library only, no AWS calls: the evaluation Lambda reads the objects and
writes `metrics.json`; the report is `evaluation_report.py`. Facts and sources: docs/evaluation.md.

The inputs, as the rest of the workflow writes them:
- `validation.manifest` (StartTraining, `manifests.split_manifest`): JSON Lines, one object per
  line, `source-ref` (the image's S3 URI) and the class id (an int) under the label attribute.
- `label-map.json`: `{"labels": [...]}`, class id i -> `labels[i]` (`parse_label_map`).
- The batch transform's output. Batch transform cannot read an augmented manifest
  (TransformS3DataSource: "The following value is not compatible: AugmentedManifestFile"), so the
  transform reads a `ManifestFile` listing the validation images (`transform_manifest_document`);
  for each input object it writes `<S3OutputPath>/<path relative to the manifest's prefix>.out`,
  and with the bucket root as the prefix that path is the image's key
  (`predictions_from_outputs`). The image-classification container answers one image per request
  with the probabilities of all classes: `{"prediction": [p0, p1, ...]}` in JSON Lines for batch
  transform (`parse_prediction`). An output assembled from several records (`AssembleWith: Line`
  over a multi-record input) holds one such line per record, in input order
  (`predictions_from_assembled`).

Nothing is dropped silently: an object without a prediction, a prediction that does not parse,
names a class outside the label map or names no validation object, and a manifest line without a
usable label are counted and named (`problems` in metrics.json, up to `MAX_NAMED` names each);
`evaluate` raises `EvaluationError` when no object could be evaluated.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .manifests import SOURCE_ATTRIBUTE

# Batch transform names each output object after its input object with this suffix
# (API_TransformOutput, S3OutputPath; batch-transform.html).
OUTPUT_SUFFIX = ".out"
# The key of the class probabilities in the image-classification container's JSON answer
# (image-classification.html, "Inference with the Image Format Algorithm").
PREDICTION_KEY = "prediction"
METRICS_SCHEMA_VERSION = 1

# How many objects each problem names in metrics.json (its count is always exact): a validation
# split holds up to 20,000 objects, and metrics.json stays small enough to read.
MAX_NAMED = 100
DEFAULT_WORST = 12
# Softmax outputs are in [0, 1]; float32 rounding may overshoot by a few ulps.
PROBABILITY_SLACK = 1e-6

# Why an object or an output was not evaluated, in the order metrics.json lists them.
PROBLEMS: tuple[str, ...] = (
    "invalid_manifest_line",  # a validation line without a parseable source-ref or label
    "label_outside_map",  # a validation label that is not a class id of the label map
    "missing_prediction",  # no output for a validation object
    "unparseable_prediction",  # an output that is not the documented format
    "class_outside_map",  # the top class of a prediction is not in the label map
    "class_count_mismatch",  # a prediction with another number of classes than the label map
    "unmatched_prediction",  # an output that names no validation object
)


class EvaluationError(ValueError):
    """Nothing could be evaluated, or the inputs cannot belong together; the message says why."""


class PredictionFormatError(ValueError):
    """One output is not the documented `{"prediction": [...]}` answer; the message says how."""


@dataclass(frozen=True)
class TrainingMetric:
    """The training job's own final figure for the model, shown next to the accuracy measured here.

    `name`: the task type's tuning objective (`task_types`: `algorithm.tuning_objective.metric_name`,
    the validation accuracy for the image classifier); `value`: from DescribeTrainingJob's
    FinalMetricDataList (`final_metric`).
    """

    name: str
    value: float

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("TrainingMetric.name must name the training job's metric")
        if type(self.value) not in (int, float) or not 0 <= self.value <= 1:
            raise ValueError(f"TrainingMetric.value must be a fraction in [0, 1], got {self.value!r}")


def final_metric(description: Mapping[str, Any], name: str) -> float | None:
    """The value of metric `name` in a DescribeTrainingJob answer's FinalMetricDataList, or None
    (a job that emitted no such metric; DescribeTrainingJob: "FinalMetricDataList: A collection
    of MetricData objects that specify the names, values, and dates and times that the training
    algorithm emitted to Amazon CloudWatch")."""
    for entry in description.get("FinalMetricDataList") or ():
        if isinstance(entry, Mapping) and entry.get("MetricName") == name:
            value = entry.get("Value")
            if type(value) in (int, float) and math.isfinite(value):
                return float(value)
    return None


# --- the batch transform's input --------------------------------------------------------------


def transform_manifest_document(source_refs: Iterable[str]) -> bytes:
    """The `ManifestFile` a batch transform job reads: the validation images, each once.

    `[{"prefix": "s3://<bucket>/"}, "<key>", ...]` (TransformS3DataSource.S3Uri). The prefix is the
    bucket root, so each listed path is the image's full key and its output is
    `<S3OutputPath>/<key>.out` (see `predictions_from_outputs`).
    """
    bucket: str | None = None
    keys: list[str] = []
    seen: set[str] = set()
    for source in source_refs:
        source_bucket, key = split_s3_uri(source)
        if bucket is None:
            bucket = source_bucket
        elif source_bucket != bucket:
            raise ValueError(
                f"{source!r} is in bucket {source_bucket!r}, the others in {bucket!r}: a transform manifest has "
                "one prefix, so all images must be in one bucket"
            )
        if key not in seen:
            seen.add(key)
            keys.append(key)
    if bucket is None:
        raise ValueError("no images: a transform manifest lists at least one object")
    return json.dumps([{"prefix": f"s3://{bucket}/"}, *keys], ensure_ascii=False).encode("utf-8")


def split_s3_uri(uri: object) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); ValueError for anything else."""
    if type(uri) is not str or not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, slash, key = uri[len("s3://") :].partition("/")
    if not bucket or not slash or not key:
        raise ValueError(f"{uri!r} is not an s3://<bucket>/<key> URI")
    return bucket, key


# --- the batch transform's output -------------------------------------------------------------


@dataclass(frozen=True)
class Predictions:
    """Raw outputs keyed by the validation object they belong to.

    `by_source`: `source-ref` -> that object's output (bytes or text, parsed by `evaluate`).
    `unmatched`: names of outputs that belong to no object (an output key without `.out`, a
    line beyond the listed objects); `evaluate` adds outputs for objects not in the manifest.
    """

    by_source: Mapping[str, bytes | str]
    unmatched: tuple[str, ...] = ()


def predictions_from_outputs(outputs: Mapping[str, bytes | str], *, bucket: str) -> Predictions:
    """Outputs of a transform that read `transform_manifest_document` (prefix: the bucket root).

    `outputs` maps each output object's key relative to the transform's S3OutputPath (no leading
    `/`) to its body: `images/car-1.jpg.out` is the prediction for `s3://<bucket>/images/car-1.jpg`.
    """
    if not bucket or "/" in bucket:
        raise ValueError(f"bucket must be a bucket name, got {bucket!r}")
    by_source: dict[str, bytes | str] = {}
    unmatched: list[str] = []
    for key, body in outputs.items():
        relative = key.lstrip("/")
        if relative.endswith(OUTPUT_SUFFIX) and len(relative) > len(OUTPUT_SUFFIX):
            by_source[f"s3://{bucket}/{relative[: -len(OUTPUT_SUFFIX)]}"] = body
        else:
            unmatched.append(key)
    return Predictions(by_source=by_source, unmatched=tuple(sorted(unmatched)))


def predictions_from_assembled(body: bytes | str, source_refs: Sequence[str]) -> Predictions:
    """One output assembled with `AssembleWith: Line` from a multi-record input: line i answers
    `source_refs[i]` ("The predictions in an output file are listed in the same order as the
    corresponding records in the input file", batch-transform.html).

    Batch transform writes an output only when every record of its input succeeded, so a line
    count other than the record count means the output is not this input's: refused, since
    no line could then be paired with its object.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) != len(source_refs):
        raise EvaluationError(
            f"the assembled output has {len(lines)} prediction lines for {len(source_refs)} input records: "
            "it does not belong to this input (a batch transform writes one line per record, in order)"
        )
    by_source: dict[str, bytes | str] = {}
    unmatched: list[str] = []
    for number, (source, line) in enumerate(zip(source_refs, lines, strict=True), start=1):
        if source in by_source:
            unmatched.append(f"line {number} (a second line for {source})")
        else:
            by_source[source] = line
    return Predictions(by_source=by_source, unmatched=tuple(unmatched))


def parse_prediction(body: bytes | str) -> list[float]:
    """The class probabilities in one object's output.

    Batch transform (`Accept: application/jsonlines`, the algorithm's batch format) writes
    `{"prediction": [p0, p1, ...]}` on one line, with a trailing newline under `AssembleWith:
    Line`; a real-time endpoint answering `application/json` sends the bare list `[p0, ...]`,
    accepted too. Each probability is a number in [0, 1]; anything else raises
    PredictionFormatError.
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PredictionFormatError("not UTF-8 text") from None
    else:
        text = body
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        raise PredictionFormatError("empty output")
    if len(lines) > 1:
        raise PredictionFormatError(f"{len(lines)} lines where one image has one answer line")
    try:
        document = json.loads(lines[0])
    except ValueError as error:
        raise PredictionFormatError(f"not JSON ({error.args[0] if error.args else error})") from None
    if isinstance(document, dict):
        if PREDICTION_KEY not in document:
            raise PredictionFormatError(f'a JSON object without "{PREDICTION_KEY}"')
        probabilities = document[PREDICTION_KEY]
    else:
        probabilities = document
    if not isinstance(probabilities, list) or not probabilities:
        raise PredictionFormatError(f'"{PREDICTION_KEY}" is not a non-empty list of probabilities')
    values: list[float] = []
    for index, value in enumerate(probabilities):
        # (bool is an int subclass: `true` is not a probability)
        if type(value) not in (int, float) or not math.isfinite(value):
            raise PredictionFormatError(f"probability {index} is {value!r}, not a finite number")
        if not -PROBABILITY_SLACK <= value <= 1 + PROBABILITY_SLACK:
            raise PredictionFormatError(f"probability {index} is {value!r}, outside [0, 1]")
        values.append(float(value))
    return values


def top_class(probabilities: Sequence[float]) -> int:
    """The class id with the highest probability; the lowest id on a tie (numpy's argmax)."""
    best = 0
    for index, value in enumerate(probabilities):
        if value > probabilities[best]:
            best = index
    return best


# --- the label map ----------------------------------------------------------------------------


def parse_label_map(document: bytes | str | Mapping[str, Any]) -> tuple[str, ...]:
    """Class names by id from `label-map.json` (`{"labels": ["Airplane", ...], ...}`)."""
    if isinstance(document, (bytes, str)):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise ValueError(f"label-map.json is not JSON: {error}") from None
    labels = document.get("labels") if isinstance(document, Mapping) else None
    if not isinstance(labels, list) or not labels:
        raise ValueError('label-map.json has no "labels" list (class id -> name, written by StartTraining)')
    if not all(isinstance(name, str) and name for name in labels):
        raise ValueError('label-map.json: every entry of "labels" must be a non-empty string')
    if len(set(labels)) != len(labels):
        raise ValueError('label-map.json: "labels" names a class twice')
    return tuple(labels)


# --- the evaluation ---------------------------------------------------------------------------


@dataclass
class _Problems:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROBLEMS, 0))
    named: dict[str, list[dict[str, str]]] = field(default_factory=lambda: {name: [] for name in PROBLEMS})

    def add(self, problem: str, what: str, reason: str) -> None:
        self.counts[problem] += 1
        if len(self.named[problem]) < MAX_NAMED:
            self.named[problem].append({"object": what, "reason": reason})


@dataclass(frozen=True)
class _Labeled:
    source: str
    class_id: int


def _read_manifest(
    lines: Iterable[bytes | str], *, label_attribute: str, labels: Sequence[str], problems: _Problems
) -> tuple[list[_Labeled], int]:
    """The validation objects with their class id, and the number of non-blank lines read."""
    index_by_name = {name: index for index, name in enumerate(labels)}
    objects: list[_Labeled] = []
    read = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if not line.strip():
            continue  # a blank line holds no object (e.g. after the last line break)
        read += 1
        where = f"line {number}"
        try:
            record = json.loads(line)
        except ValueError:
            problems.add("invalid_manifest_line", where, "not JSON")
            continue
        if not isinstance(record, dict):
            problems.add("invalid_manifest_line", where, "not a JSON object")
            continue
        source = record.get(SOURCE_ATTRIBUTE)
        try:
            split_s3_uri(source)
        except ValueError:
            problems.add("invalid_manifest_line", where, f"no {SOURCE_ATTRIBUTE} s3:// URI")
            continue
        label = record.get(label_attribute)
        # StartTraining writes int ids; a digit string ("3") and a class name are what Ground
        # Truth's own output may hold (docs/manifests.md), read the same way as for training.
        if type(label) is int:
            class_id = label
        elif isinstance(label, str) and label.isascii() and label.isdigit():
            class_id = int(label)
        elif isinstance(label, str) and label in index_by_name:
            class_id = index_by_name[label]
        elif label is None:
            problems.add("invalid_manifest_line", source, f"no label under {label_attribute!r}")
            continue
        else:
            problems.add("label_outside_map", source, f"label {label!r} is not a class of the label map")
            continue
        if not 0 <= class_id < len(labels):
            problems.add(
                "label_outside_map", source, f"class id {class_id} is not in the label map (0..{len(labels) - 1})"
            )
            continue
        objects.append(_Labeled(source, class_id))
    return objects, read


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def evaluate(
    validation_lines: Iterable[bytes | str],
    predictions: Predictions,
    *,
    label_attribute: str,
    labels: Sequence[str],
    training_job: str | None = None,
    training_metric: TrainingMetric | None = None,
    worst: int = DEFAULT_WORST,
) -> dict[str, Any]:
    """The `metrics.json` document for one model over its validation split.

    `labels[i]` names class id i (`parse_label_map`). `training_metric`: the training job's final
    validation accuracy, shown next to the accuracy measured here. `worst`: how many
    misclassified objects to list, the most confident mistakes first. Definitions:
    docs/evaluation.md.
    """
    if not label_attribute:
        raise ValueError("label_attribute must be the attribute the labels are written under")
    labels = tuple(labels)
    if not labels:
        raise ValueError("labels must name at least one class (class id -> name)")
    if worst < 0:
        raise ValueError(f"worst must be >= 0, got {worst}")

    problems = _Problems()
    objects, lines_read = _read_manifest(
        validation_lines, label_attribute=label_attribute, labels=labels, problems=problems
    )
    class_count = len(labels)
    matrix = [[0] * class_count for _ in range(class_count)]
    mistakes: list[dict[str, Any]] = []
    for name in predictions.unmatched:
        problems.add("unmatched_prediction", name, "names no validation object")
    known_sources = {item.source for item in objects}
    for source in sorted(set(predictions.by_source) - known_sources):
        problems.add("unmatched_prediction", source, "not an object of the validation manifest")

    for item in objects:
        body = predictions.by_source.get(item.source)
        if body is None:
            problems.add("missing_prediction", item.source, "the batch transform wrote no output for it")
            continue
        try:
            probabilities = parse_prediction(body)
        except PredictionFormatError as error:
            problems.add("unparseable_prediction", item.source, str(error))
            continue
        predicted = top_class(probabilities)
        if predicted >= class_count:
            problems.add(
                "class_outside_map", item.source,
                f"top class id {predicted} is not in the label map (0..{class_count - 1})",
            )
            continue
        if len(probabilities) != class_count:
            problems.add(
                "class_count_mismatch", item.source,
                f"{len(probabilities)} probabilities for the label map's {class_count} classes",
            )
            continue
        matrix[item.class_id][predicted] += 1
        if predicted != item.class_id:
            mistakes.append({
                "source_ref": item.source,
                "true_id": item.class_id,
                "true": labels[item.class_id],
                "predicted_id": predicted,
                "predicted": labels[predicted],
                "probability": probabilities[predicted],
                "true_probability": probabilities[item.class_id],
            })

    evaluated = sum(map(sum, matrix))
    if not evaluated:
        found = ", ".join(f"{name} {count}" for name, count in problems.counts.items() if count) or "no problems"
        raise EvaluationError(
            f"nothing could be evaluated: {lines_read} validation lines, {len(predictions.by_source)} predictions "
            f"({found}); check that the transform read this validation split and wrote its outputs"
        )
    correct = sum(matrix[index][index] for index in range(class_count))
    classes = _per_class(matrix, labels)
    mistakes.sort(key=lambda mistake: (-mistake["probability"], mistake["source_ref"]))
    accuracy = correct / evaluated
    return {
        "schema_version": METRICS_SCHEMA_VERSION,
        "training_job": training_job,
        "label_attribute": label_attribute,
        "accuracy": accuracy,
        "training": {
            "metric": None if training_metric is None else training_metric.name,
            "value": None if training_metric is None else training_metric.value,
            # The accuracy measured here minus the training job's: negative when the job's was higher.
            "difference": None if training_metric is None else accuracy - training_metric.value,
        },
        "labels": {str(index): name for index, name in enumerate(labels)},
        "classes": classes,
        "macro_avg": _macro(classes),
        "weighted_avg": _weighted(classes),
        # Rows: the true class id; columns: the predicted class id.
        "confusion_matrix": matrix,
        "counts": {
            "manifest_lines": lines_read,
            "objects": len(objects),
            "evaluated": evaluated,
            "correct": correct,
            "predictions": len(predictions.by_source) + len(predictions.unmatched),
            **{problem: problems.counts[problem] for problem in PROBLEMS},
        },
        "problems": {problem: problems.named[problem] for problem in PROBLEMS if problems.counts[problem]},
        "worst_misclassified": mistakes[:worst],
    }


def _per_class(matrix: list[list[int]], labels: Sequence[str]) -> list[dict[str, Any]]:
    classes = []
    for index, name in enumerate(labels):
        true_positives = matrix[index][index]
        support = sum(matrix[index])  # row: objects of this class
        predicted = sum(row[index] for row in matrix)  # column: objects predicted as this class
        false_positives = predicted - true_positives
        false_negatives = support - true_positives
        classes.append({
            "id": index,
            "label": name,
            "support": support,
            "predicted": predicted,
            "true_positives": true_positives,
            # None: undefined (never predicted / never present), shown as "n/a", never as 0.
            "precision": _ratio(true_positives, predicted),
            "recall": _ratio(true_positives, support),
            # 2TP / (2TP + FP + FN) = the harmonic mean of precision and recall where both are
            # defined, and 0 where the class was present or predicted but never right.
            "f1": _ratio(2 * true_positives, 2 * true_positives + false_positives + false_negatives),
        })
    return classes


def _macro(classes: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Unweighted mean over the classes present in the validation split (support > 0); an
    undefined precision (a present class never predicted) counts as 0 there."""
    present = [entry for entry in classes if entry["support"]]
    if not present:
        return {"precision": None, "recall": None, "f1": None}
    return {
        metric: sum(entry[metric] or 0.0 for entry in present) / len(present)
        for metric in ("precision", "recall", "f1")
    }


def _weighted(classes: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Mean weighted by support (undefined precision counts as 0, as in `_macro`)."""
    total = sum(entry["support"] for entry in classes)
    if not total:
        return {"precision": None, "recall": None, "f1": None}
    return {
        metric: sum((entry[metric] or 0.0) * entry["support"] for entry in classes) / total
        for metric in ("precision", "recall", "f1")
    }


def metrics_json(metrics: Mapping[str, Any]) -> bytes:
    """metrics.json's bytes: UTF-8, indented, no NaN (a NaN here is a bug, not a value)."""
    return json.dumps(metrics, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"
