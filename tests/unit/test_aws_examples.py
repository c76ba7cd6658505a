"""AWS's own documentation examples (tests/fixtures/aws_examples/, sources in its README.md) through
our parser and event handlers: what AWS says its services write, not what we think they write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambdas import evaluate_model, register_model, start_training
from lambdas.manifests import DataLocation, iter_lines, split_manifest

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "aws_examples"
DOC_BUCKET = "AWSDOC-EXAMPLE-BUCKET"  # the bucket the SageMaker examples name
PROJECT = DataLocation("sagemaker-us-east-1-123456789012", "ground-truth-demo")


def example_lines(name: str) -> list[bytes]:
    with (EXAMPLES / name).open("rb") as handle:
        return list(iter_lines(iter(lambda: handle.read(1 << 16), b"")))


def split(name: str, attribute: str, categories: tuple[str, ...], location: DataLocation) -> Any:
    return split_manifest(example_lines(name), label_attribute=attribute, categories=categories,
                          labeling_job_name="gt-demo-docs", location=location)


def written(result: Any) -> list[bytes]:
    return result.train + result.validation


def test_every_example_file_is_named_in_the_readme() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for path in EXAMPLES.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme


def test_image_classification_with_an_int_label_is_kept_byte_for_byte() -> None:
    # sms-data-output.html: "sport": 0 with class-name "football"
    result = split("image-classification-int-label.manifest", "sport", ("football", "basketball"),
                   DataLocation(DOC_BUCKET))
    assert result.summary["totals"]["kept"] == 1
    assert written(result) == example_lines("image-classification-int-label.manifest")
    assert result.label_map["labels"][json.loads(written(result)[0])["sport"]] == "football"


def test_a_string_label_from_the_docs_reaches_training_as_an_int_id() -> None:
    # sms-data-output.html#sms-output-class: "species": "0" with class-name "dog"
    original = json.loads(example_lines("image-classification-string-label.manifest")[0])
    result = split("image-classification-string-label.manifest", "species", ("dog", "cat"), DataLocation(DOC_BUCKET))
    assert result.summary["totals"]["kept"] == 1
    record = json.loads(written(result)[0])
    assert record["species"] == 0
    assert type(record["species"]) is int
    assert record == {**original, "species": 0}  # metadata (class-name, confidence ...) untouched


def test_a_machine_annotated_label_is_read_like_a_human_one() -> None:
    # Ground Truth format record whose second label has "human-annotated": "no" (index 0 is not
    # named in the example; index 1 is "Football").
    categories = ("index-0-unnamed", "Football")
    location = DataLocation("test-bucket", "dataset")
    for attribute, annotated in (
        ("rekognition-custom-labels-training-0", "yes"),
        ("rekognition-custom-labels-evaluation-0", "no"),
    ):
        result = split("image-classification-machine-annotated.manifest", attribute, categories, location)
        assert result.summary["totals"]["kept"] == 1, attribute
        record = json.loads(written(result)[0])
        assert record[f"{attribute}-metadata"]["human-annotated"] == annotated
        assert categories[record[attribute]] == record[f"{attribute}-metadata"]["class-name"]


def test_the_doc_examples_images_are_outside_our_data_location() -> None:
    result = split("image-classification-int-label.manifest", "sport", ("football",), PROJECT)
    assert result.summary["totals"]["kept"] == 0
    assert result.summary["dropped"]["source_ref_other_bucket"] == 1


def test_the_labeling_job_state_change_example_parses() -> None:
    event = json.loads((EXAMPLES / "labeling-job-state-change.json").read_text())
    assert start_training.parse_event(event) == ("test-labeling-job", "Completed")


def test_the_training_job_state_change_example_parses() -> None:
    event = json.loads((EXAMPLES / "training-job-state-change.json").read_text())
    change = register_model.parse_event(event)
    assert (change.kind, change.status) == ("training", "Completed")
    # the name comes from detail.TrainingJobName (the example's ARN names another job)
    assert change.name == "89c96cc8-dded-4739-afcc-6f1dc936701d"


def test_the_transform_job_state_change_example_parses_and_is_not_an_evaluation_of_ours() -> None:
    event = json.loads((EXAMPLES / "transform-job-state-change.json").read_text())
    change = evaluate_model.parse_event(event)
    assert change.name == "4b52bd8f-e034-4345-818d-884bdd7c9724"  # from detail, not the ARN
    assert (change.status, change.failure_reason, change.output_path) == ("another status... GO", "failed why 1",
                                                                          "s3Uri")
    ours = "s3://sagemaker-us-east-1-123456789012/ground-truth-demo/evaluation/gt-demo-1/predictions/"
    assert not evaluate_model.same_location(change.output_path or "", ours)
