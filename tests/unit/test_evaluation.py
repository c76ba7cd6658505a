"""Evaluation: the batch transform's documented output format, the join with the validation
labels, and metrics checked against a confusion matrix computed by hand (docs/evaluation.md)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from lambdas.evaluation import (
    MAX_NAMED,
    PROBLEMS,
    EvaluationError,
    PredictionFormatError,
    Predictions,
    TrainingMetric,
    evaluate,
    final_metric,
    metrics_json,
    parse_label_map,
    parse_prediction,
    predictions_from_assembled,
    predictions_from_outputs,
    top_class,
    transform_manifest_document,
)
from lambdas.task_types import IMAGE_CLASSIFICATION

BUCKET = "sagemaker-us-east-1-123456789012"
# The training job's final metric the evaluation is compared with: the task type's tuning objective.
OBJECTIVE = IMAGE_CLASSIFICATION.algorithm.tuning_objective.metric_name
ATTRIBUTE = "vehicle-type"
LABELS = ("Airplane", "Car", "Ferry", "Helicopter", "Motorbike")
A, C, F, H, M = range(5)

# The fixed prediction table: 20 validation objects, (name, true class, predicted class, the
# probability of the predicted class). Correct objects get 0.9; the 7 mistakes each their own.
TABLE: tuple[tuple[str, int, int, float], ...] = (
    ("airplane-0", A, A, 0.9),
    ("airplane-1", A, A, 0.9),
    ("airplane-2", A, A, 0.9),
    ("airplane-3", A, H, 0.55),
    ("airplane-4", A, H, 0.81),
    ("car-0", C, C, 0.9),
    ("car-1", C, C, 0.9),
    ("car-2", C, C, 0.9),
    ("car-3", C, M, 0.62),
    ("ferry-0", F, F, 0.9),
    ("ferry-1", F, F, 0.9),
    ("ferry-2", F, A, 0.93),
    ("ferry-3", F, F, 0.9),
    ("helicopter-0", H, H, 0.9),
    ("helicopter-1", H, H, 0.9),
    ("helicopter-2", H, A, 0.48),
    ("helicopter-3", H, H, 0.9),
    ("motorbike-0", M, M, 0.9),
    ("motorbike-1", M, C, 0.71),
    ("motorbike-2", M, C, 0.66),
)

# By hand, from TABLE (rows: true class, columns: predicted class, order A C F H M):
#   Airplane:   3 right, 2 -> Helicopter           [3, 0, 0, 2, 0]
#   Car:        3 right, 1 -> Motorbike            [0, 3, 0, 0, 1]
#   Ferry:      3 right, 1 -> Airplane             [1, 0, 3, 0, 0]
#   Helicopter: 3 right, 1 -> Airplane             [1, 0, 0, 3, 0]
#   Motorbike:  1 right, 2 -> Car                  [0, 2, 0, 0, 1]
# Column sums (predicted as): A 3+1+1 = 5, C 3+2 = 5, F 3, H 2+3 = 5, M 1+1 = 2; total 20.
EXPECTED_MATRIX = [
    [3, 0, 0, 2, 0],
    [0, 3, 0, 0, 1],
    [1, 0, 3, 0, 0],
    [1, 0, 0, 3, 0],
    [0, 2, 0, 0, 1],
]
# accuracy = diagonal / total = (3 + 3 + 3 + 3 + 1) / 20 = 13/20 = 0.65
EXPECTED_ACCURACY = 13 / 20
# precision = TP / column sum; recall = TP / row sum (support); F1 = 2TP / (2TP + FP + FN):
#   Airplane:   P 3/5 = 0.6   R 3/5 = 0.6    F1 6/(6+2+2) = 0.6
#   Car:        P 3/5 = 0.6   R 3/4 = 0.75   F1 6/(6+2+1) = 2/3   (= 2*0.6*0.75/1.35)
#   Ferry:      P 3/3 = 1.0   R 3/4 = 0.75   F1 6/(6+0+1) = 6/7
#   Helicopter: P 3/5 = 0.6   R 3/4 = 0.75   F1 6/(6+2+1) = 2/3
#   Motorbike:  P 1/2 = 0.5   R 1/3          F1 2/(2+1+2) = 0.4   (= 2*0.5*(1/3)/(5/6))
EXPECTED_CLASSES = {
    # label: (support, predicted, precision, recall, f1)
    "Airplane": (5, 5, 3 / 5, 3 / 5, 6 / 10),
    "Car": (4, 5, 3 / 5, 3 / 4, 6 / 9),
    "Ferry": (4, 3, 3 / 3, 3 / 4, 6 / 7),
    "Helicopter": (4, 5, 3 / 5, 3 / 4, 6 / 9),
    "Motorbike": (3, 2, 1 / 2, 1 / 3, 2 / 5),
}
# macro = plain means over the 5 classes:
#   precision (0.6 + 0.6 + 1 + 0.6 + 0.5) / 5 = 3.3 / 5 = 0.66
#   recall    (0.6 + 0.75 + 0.75 + 0.75 + 1/3) / 5 = 3.18333... / 5 = 0.636666...
#   F1        (0.6 + 2/3 + 6/7 + 2/3 + 0.4) / 5 = 3.190476... / 5 = 0.638095...
# weighted (by support 5, 4, 4, 4, 3 of 20):
#   precision (0.6*5 + 0.6*4 + 1*4 + 0.6*4 + 0.5*3) / 20 = 13.3 / 20 = 0.665
#   recall    = sum of TP / 20 = accuracy = 0.65
EXPECTED_MACRO = {"precision": 0.66, "recall": 3.183333333333333 / 5, "f1": 3.1904761904761907 / 5}
EXPECTED_WEIGHTED_PRECISION = 0.665
# The 7 mistakes, the most confident first: ferry-2 0.93, airplane-4 0.81, motorbike-1 0.71,
# motorbike-2 0.66, car-3 0.62, airplane-3 0.55, helicopter-2 0.48.
EXPECTED_WORST = ["ferry-2", "airplane-4", "motorbike-1", "motorbike-2", "car-3", "airplane-3", "helicopter-2"]


def source(name: str) -> str:
    return f"s3://{BUCKET}/ground-truth-demo/images/{name}.jpg"


def probabilities(predicted: int, top: float, classes: int = 5) -> list[float]:
    """`top` for the predicted class, the rest shared evenly (each below `top`)."""
    rest = (1 - top) / (classes - 1)
    return [top if index == predicted else rest for index in range(classes)]


def manifest_line(name: str, label: Any) -> str:
    return json.dumps({
        "source-ref": source(name),
        ATTRIBUTE: label,
        f"{ATTRIBUTE}-metadata": {"class-name": "x", "type": "groundtruth/image-classification"},
    })


def transform_output(values: list[float]) -> bytes:
    """One object's output as batch transform writes it (JSON Lines, `AssembleWith: Line`)."""
    return (json.dumps({"prediction": values}) + "\n").encode()


def table_inputs() -> tuple[list[str], dict[str, bytes]]:
    """The validation manifest lines and the transform's outputs (keys relative to S3OutputPath)."""
    lines = [manifest_line(name, true) for name, true, _, _ in TABLE]
    outputs = {
        f"ground-truth-demo/images/{name}.jpg.out": transform_output(probabilities(predicted, top))
        for name, _, predicted, top in TABLE
    }
    return lines, outputs


def run(lines: list[str], predictions: Predictions, **kwargs: Any) -> dict[str, Any]:
    return evaluate(lines, predictions, label_attribute=ATTRIBUTE, labels=LABELS, **kwargs)


# --- the hand-computed confusion matrix --------------------------------------------------------


def test_hand_computed_table_through_the_documented_output_layout() -> None:
    lines, outputs = table_inputs()
    metrics = run(
        lines, predictions_from_outputs(outputs, bucket=BUCKET),
        training_job="gt-demo-train-1", training_metric=TrainingMetric(OBJECTIVE, 0.7),
    )

    assert metrics["confusion_matrix"] == EXPECTED_MATRIX
    assert metrics["accuracy"] == pytest.approx(EXPECTED_ACCURACY)
    for entry in metrics["classes"]:
        support, predicted, precision, recall, f1 = EXPECTED_CLASSES[entry["label"]]
        assert (entry["support"], entry["predicted"]) == (support, predicted), entry["label"]
        assert entry["precision"] == pytest.approx(precision), entry["label"]
        assert entry["recall"] == pytest.approx(recall), entry["label"]
        assert entry["f1"] == pytest.approx(f1), entry["label"]
    assert [entry["id"] for entry in metrics["classes"]] == [0, 1, 2, 3, 4]
    assert metrics["macro_avg"] == pytest.approx(EXPECTED_MACRO)
    assert metrics["weighted_avg"]["precision"] == pytest.approx(EXPECTED_WEIGHTED_PRECISION)
    assert metrics["weighted_avg"]["recall"] == pytest.approx(EXPECTED_ACCURACY)
    assert metrics["labels"] == {"0": "Airplane", "1": "Car", "2": "Ferry", "3": "Helicopter", "4": "Motorbike"}
    # 0.65 measured here against 0.7 reported by the training job: 0.05 lower.
    assert metrics["training"]["metric"] == OBJECTIVE
    assert metrics["training"]["value"] == 0.7
    assert metrics["training"]["difference"] == pytest.approx(-0.05)
    assert metrics["counts"] == {
        "manifest_lines": 20, "objects": 20, "evaluated": 20, "correct": 13, "predictions": 20,
        **dict.fromkeys(PROBLEMS, 0),
    }
    assert metrics["problems"] == {}


def test_worst_misclassified_are_the_most_confident_mistakes_first() -> None:
    lines, outputs = table_inputs()
    worst = run(lines, predictions_from_outputs(outputs, bucket=BUCKET), worst=20)["worst_misclassified"]

    assert [item["source_ref"] for item in worst] == [source(name) for name in EXPECTED_WORST]
    first = worst[0]  # ferry-2: a Ferry predicted as Airplane with 0.93; the Ferry got (1 - 0.93) / 4
    assert (first["true_id"], first["true"], first["predicted_id"], first["predicted"]) == (F, "Ferry", A, "Airplane")
    assert first["probability"] == pytest.approx(0.93)
    assert first["true_probability"] == pytest.approx(0.07 / 4)
    # The default keeps the 12 worst: here all 7; `worst` cuts the list, most confident kept.
    assert len(run(lines, predictions_from_outputs(outputs, bucket=BUCKET))["worst_misclassified"]) == 7
    three = run(lines, predictions_from_outputs(outputs, bucket=BUCKET), worst=3)["worst_misclassified"]
    assert [item["source_ref"] for item in three] == [source(name) for name in EXPECTED_WORST[:3]]


def test_metrics_json_round_trips_without_nan() -> None:
    lines, outputs = table_inputs()
    metrics = run(lines, predictions_from_outputs(outputs, bucket=BUCKET))
    data = metrics_json(metrics)
    assert data.endswith(b"\n")
    assert json.loads(data) == metrics
    with pytest.raises(ValueError):
        metrics_json({"accuracy": math.nan})


def test_a_class_never_predicted_has_no_precision_and_counts_as_zero_in_the_averages() -> None:
    # 2 classes of LABELS used; Ferry objects are all predicted Airplane: Ferry's column is empty.
    lines = [manifest_line("a", A), manifest_line("f", F)]
    outputs = {
        "ground-truth-demo/images/a.jpg.out": transform_output(probabilities(A, 0.8)),
        "ground-truth-demo/images/f.jpg.out": transform_output(probabilities(A, 0.7)),
    }
    metrics = run(lines, predictions_from_outputs(outputs, bucket=BUCKET))
    by_label = {entry["label"]: entry for entry in metrics["classes"]}
    # Airplane: TP 1, FP 1 -> P 0.5, R 1, F1 2/(2+1+0) = 2/3. Ferry: TP 0, never predicted ->
    # P undefined, R 0/1 = 0, F1 0/(0+0+1) = 0. Car, Helicopter, Motorbike: absent -> all undefined.
    assert by_label["Airplane"]["precision"] == pytest.approx(0.5)
    assert by_label["Airplane"]["f1"] == pytest.approx(2 / 3)
    assert by_label["Ferry"]["precision"] is None
    assert by_label["Ferry"]["recall"] == 0
    assert by_label["Ferry"]["f1"] == 0
    assert by_label["Car"] == {
        "id": 1, "label": "Car", "support": 0, "predicted": 0, "true_positives": 0,
        "precision": None, "recall": None, "f1": None,
    }
    # Macro over the 2 present classes, Ferry's undefined precision as 0: (0.5 + 0) / 2.
    assert metrics["macro_avg"]["precision"] == pytest.approx(0.25)
    assert metrics["macro_avg"]["recall"] == pytest.approx(0.5)
    assert metrics["macro_avg"]["f1"] == pytest.approx(1 / 3)


def test_labels_written_as_digit_strings_or_names_are_read_like_ints() -> None:
    lines = [manifest_line("a", "0"), manifest_line("c", "Car"), manifest_line("m", M)]
    outputs = {
        "ground-truth-demo/images/a.jpg.out": transform_output(probabilities(A, 0.9)),
        "ground-truth-demo/images/c.jpg.out": transform_output(probabilities(C, 0.9)),
        "ground-truth-demo/images/m.jpg.out": transform_output(probabilities(M, 0.9)),
    }
    metrics = run(lines, predictions_from_outputs(outputs, bucket=BUCKET))
    assert metrics["counts"]["evaluated"] == 3
    assert [metrics["confusion_matrix"][index][index] for index in (A, C, M)] == [1, 1, 1]


# --- bad input: counted and named, never dropped silently --------------------------------------


def test_each_kind_of_bad_input_is_counted_and_named() -> None:
    lines = [
        manifest_line("good-car", C),
        manifest_line("no-output", A),
        manifest_line("garbled", A),
        manifest_line("six-classes", A),
        manifest_line("four-classes", A),
        "{not json",
        json.dumps({ATTRIBUTE: 1}),  # no source-ref
        json.dumps({"source-ref": source("unlabeled")}),
        manifest_line("truck", "Truck"),
        manifest_line("seven", 7),
        "",  # a blank line holds no object: not a problem
    ]
    outputs = {
        "ground-truth-demo/images/good-car.jpg.out": transform_output(probabilities(C, 0.9)),
        "ground-truth-demo/images/garbled.jpg.out": b'{"prediction": [0.1, 0.2',
        # 6 probabilities, the top one at id 5: a class the label map does not have.
        "ground-truth-demo/images/six-classes.jpg.out": transform_output([0.1, 0.1, 0.1, 0.1, 0.1, 0.5]),
        # 4 probabilities, top id 0 inside the map, but the model does not match the map.
        "ground-truth-demo/images/four-classes.jpg.out": transform_output([0.7, 0.1, 0.1, 0.1]),
        "ground-truth-demo/images/stranger.jpg.out": transform_output(probabilities(A, 0.9)),
        "ground-truth-demo/_SUCCESS": b"",
    }
    metrics = run(lines, predictions_from_outputs(outputs, bucket=BUCKET))

    counts = metrics["counts"]
    assert (counts["manifest_lines"], counts["objects"], counts["evaluated"], counts["correct"]) == (10, 5, 1, 1)
    assert {problem: counts[problem] for problem in PROBLEMS} == {
        "invalid_manifest_line": 3,
        "label_outside_map": 2,
        "missing_prediction": 1,
        "unparseable_prediction": 1,
        "class_outside_map": 1,
        "class_count_mismatch": 1,
        "unmatched_prediction": 2,
    }
    named = {problem: [entry["object"] for entry in entries] for problem, entries in metrics["problems"].items()}
    assert named == {
        "invalid_manifest_line": ["line 6", "line 7", source("unlabeled")],
        "label_outside_map": [source("truck"), source("seven")],
        "missing_prediction": [source("no-output")],
        "unparseable_prediction": [source("garbled")],
        "class_outside_map": [source("six-classes")],
        "class_count_mismatch": [source("four-classes")],
        "unmatched_prediction": ["ground-truth-demo/_SUCCESS", source("stranger")],
    }
    reasons = {problem: entries[0]["reason"] for problem, entries in metrics["problems"].items()}
    assert "not JSON" in reasons["unparseable_prediction"]
    assert "top class id 5" in reasons["class_outside_map"]
    assert "4 probabilities for the label map's 5 classes" in reasons["class_count_mismatch"]
    assert "'Truck'" in reasons["label_outside_map"]
    # Only the one good object is in the matrix.
    assert sum(map(sum, metrics["confusion_matrix"])) == 1
    assert metrics["confusion_matrix"][C][C] == 1


def test_nothing_evaluated_is_refused_with_the_counts() -> None:
    lines = [manifest_line("a", A), manifest_line("b", C)]
    outputs = {"ground-truth-demo/images/a.jpg.out": b"oops"}
    with pytest.raises(EvaluationError) as raised:
        run(lines, predictions_from_outputs(outputs, bucket=BUCKET))
    message = str(raised.value)
    assert "nothing could be evaluated" in message
    assert "unparseable_prediction 1" in message and "missing_prediction 1" in message
    with pytest.raises(EvaluationError, match="0 validation lines"):
        run([], Predictions(by_source={}))


def test_names_are_capped_but_counts_are_exact() -> None:
    lines = [manifest_line("good", A)] + [manifest_line(f"lost-{index:03}", A) for index in range(MAX_NAMED + 50)]
    outputs = {"ground-truth-demo/images/good.jpg.out": transform_output(probabilities(A, 0.9))}
    metrics = run(lines, predictions_from_outputs(outputs, bucket=BUCKET))
    assert metrics["counts"]["missing_prediction"] == MAX_NAMED + 50
    assert len(metrics["problems"]["missing_prediction"]) == MAX_NAMED
    assert metrics["problems"]["missing_prediction"][0]["object"] == source("lost-000")


@pytest.mark.parametrize("value", [1.2, -0.5, "0.7", True, math.nan])
def test_training_metric_must_be_a_fraction(value: Any) -> None:
    with pytest.raises(ValueError, match="fraction"):
        TrainingMetric(OBJECTIVE, value)
    with pytest.raises(ValueError, match="name"):
        TrainingMetric("", 0.5)


def test_without_a_training_metric_there_is_no_difference() -> None:
    lines, outputs = table_inputs()
    training = run(lines, predictions_from_outputs(outputs, bucket=BUCKET))["training"]
    assert training == {"metric": None, "value": None, "difference": None}


def test_final_metric_reads_describe_training_jobs_final_metric_data_list() -> None:
    description = {
        "TrainingJobName": "gt-demo-train-1",
        "FinalMetricDataList": [
            {"MetricName": "train:accuracy", "Value": 0.97, "Timestamp": "2024-05-01T12:00:00Z"},
            {"MetricName": OBJECTIVE, "Value": 0.7, "Timestamp": "2024-05-01T12:00:00Z"},
        ],
    }
    assert final_metric(description, OBJECTIVE) == 0.7
    assert final_metric(description, "validation:loss") is None
    assert final_metric({"TrainingJobName": "x"}, OBJECTIVE) is None
    assert final_metric({"FinalMetricDataList": [{"MetricName": OBJECTIVE, "Value": math.nan}]}, OBJECTIVE) is None


# --- the documented output format ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Batch transform, Accept application/jsonlines: one line, newline-terminated with AssembleWith Line.
        (b'{"prediction": [0.1, 0.7, 0.2]}\n', [0.1, 0.7, 0.2]),
        # AssembleWith None: the container's answer as it is, no newline added.
        (b'{"prediction": [0.1, 0.7, 0.2]}', [0.1, 0.7, 0.2]),
        # A real-time endpoint answering application/json: the bare list.
        ("[0.25, 0.75]", [0.25, 0.75]),
        # Other keys next to "prediction" are ignored; ints 0 and 1 are probabilities too.
        ('{"prediction": [0, 1], "model": "x"}\r\n', [0.0, 1.0]),
    ],
)
def test_parse_prediction_reads_the_documented_answers(body: bytes | str, expected: list[float]) -> None:
    assert parse_prediction(body) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty output"),
        (b"\n\n", "empty output"),
        (b'{"prediction": [0.5, 0.5]}\n{"prediction": [0.5, 0.5]}\n', "2 lines"),
        (b"{not json}", "not JSON"),
        (b'{"probabilities": [0.5, 0.5]}', '"prediction"'),
        (b'{"prediction": []}', "non-empty list"),
        (b'{"prediction": 0.5}', "non-empty list"),
        (b'{"prediction": [0.5, "0.5"]}', "probability 1"),
        (b'{"prediction": [true, false]}', "probability 0"),
        (b'{"prediction": [NaN, 0.5]}', "finite"),
        (b'{"prediction": [1.5, 0.0]}', "outside [0, 1]"),
        (b'{"prediction": [-0.1, 1.0]}', "outside [0, 1]"),
        (b'\xff{"prediction": [1.0]}', "UTF-8"),
    ],
)
def test_parse_prediction_refuses_anything_else(body: bytes, reason: str) -> None:
    with pytest.raises(PredictionFormatError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_prediction(body)


def test_float32_rounding_above_one_is_accepted() -> None:
    assert parse_prediction('{"prediction": [1.0000001, 0.0]}') == [1.0000001, 0.0]


def test_top_class_takes_the_lowest_id_on_a_tie() -> None:
    assert top_class([0.2, 0.4, 0.4]) == 1
    assert top_class([0.5]) == 0
    assert top_class([0.1, 0.2, 0.7]) == 2


def test_transform_manifest_is_the_documented_manifest_file_format() -> None:
    refs = [source("b"), source("a"), source("b"), f"s3://{BUCKET}/other/c.png"]
    document = json.loads(transform_manifest_document(refs))
    # [{"prefix": "s3://bucket/"}, "relative path", ...]: TransformS3DataSource.S3Uri, each image once.
    assert document == [
        {"prefix": f"s3://{BUCKET}/"},
        "ground-truth-demo/images/b.jpg",
        "ground-truth-demo/images/a.jpg",
        "other/c.png",
    ]
    # Each listed path + ".out" (relative to S3OutputPath) names that image again.
    outputs = {f"{path}.out": b"{}" for path in document[1:]}
    assert set(predictions_from_outputs(outputs, bucket=BUCKET).by_source) == {
        source("a"), source("b"), f"s3://{BUCKET}/other/c.png",
    }


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        ([], "at least one"),
        (["https://example.com/a.jpg"], "not an s3:// URI"),
        (["s3://bucket-only"], "s3://<bucket>/<key>"),
        ([source("a"), "s3://another-bucket/a.jpg"], "one bucket"),
    ],
)
def test_transform_manifest_refuses_what_it_cannot_express(refs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        transform_manifest_document(refs)


def test_outputs_map_back_to_source_refs_and_strays_are_unmatched() -> None:
    predictions = predictions_from_outputs(
        {"images/a.jpg.out": b"x", "/images/b.png.out": b"y", "images/manifest.json": b"z", ".out": b"w"},
        bucket=BUCKET,
    )
    assert predictions.by_source == {f"s3://{BUCKET}/images/a.jpg": b"x", f"s3://{BUCKET}/images/b.png": b"y"}
    assert predictions.unmatched == (".out", "images/manifest.json")
    with pytest.raises(ValueError, match="bucket name"):
        predictions_from_outputs({}, bucket="bucket/with/key")


def test_assembled_output_pairs_line_i_with_record_i() -> None:
    refs = [source(name) for name, _, _, _ in TABLE]
    body = b"".join(transform_output(probabilities(predicted, top)) for _, _, predicted, top in TABLE)
    lines = [manifest_line(name, true) for name, true, _, _ in TABLE]
    metrics = run(lines, predictions_from_assembled(body, refs))
    assert metrics["confusion_matrix"] == EXPECTED_MATRIX


def test_assembled_output_with_another_line_count_is_refused() -> None:
    refs = [source("a"), source("b")]
    with pytest.raises(EvaluationError, match="1 prediction lines for 2 input records"):
        predictions_from_assembled(transform_output(probabilities(A, 0.9)), refs)


def test_assembled_output_with_a_repeated_record_names_the_extra_line() -> None:
    refs = [source("a"), source("a")]
    body = transform_output(probabilities(A, 0.9)) * 2
    predictions = predictions_from_assembled(body, refs)
    assert list(predictions.by_source) == [source("a")]
    assert predictions.unmatched == (f"line 2 (a second line for {source('a')})",)


# --- the label map ----------------------------------------------------------------------------


def test_parse_label_map_reads_start_trainings_document() -> None:
    document = {"labels": list(LABELS), "label_attribute": ATTRIBUTE, "labeling_job": "gt-demo-1"}
    assert parse_label_map(json.dumps(document)) == LABELS
    assert parse_label_map(json.dumps(document).encode()) == LABELS
    assert parse_label_map(document) == LABELS


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not JSON"),
        ("[]", '"labels"'),
        ('{"labels": []}', '"labels"'),
        ('{"labels": ["Car", ""]}', "non-empty string"),
        ('{"labels": ["Car", 3]}', "non-empty string"),
        ('{"labels": ["Car", "Car"]}', "twice"),
    ],
)
def test_parse_label_map_refuses_bad_documents(document: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_label_map(document)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_attribute": ""}, "label_attribute"),
        ({"labels": ()}, "at least one class"),
        ({"worst": -1}, "worst"),
    ],
)
def test_evaluate_checks_its_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"label_attribute": ATTRIBUTE, "labels": LABELS, **kwargs}
    with pytest.raises(ValueError, match=message):
        evaluate([], Predictions(by_source={}), **arguments)
