"""What the training split uses: human and machine labels counted, machine labels below
`training.exclude_machine_labels_below` left out (lambdas/training_input.py), on AWS's own records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.manifests import DataLocation
from lambdas.settings import SettingsError, TrainingSettings
from lambdas.training_input import split_with_label_sources
from tests.unit.test_relabel import ATTRIBUTE, AWS_RECORDS, as_attribute, example, failed_line

BUCKET = "sagemaker-us-east-1-123456789012"
LOCATION = DataLocation(BUCKET, "ground-truth-demo")


def in_our_bucket(line: bytes, number: int) -> bytes:
    """The AWS record with its source-ref moved into our data location (nothing else changed): the split
    keeps only images there."""
    record = json.loads(line)
    source = record["source-ref"]
    return line.replace(f'"{source}"'.encode(), f'"s3://{BUCKET}/ground-truth-demo/images/{number}.jpg"'.encode())


def manifest() -> list[bytes]:
    lines = [in_our_bucket(as_attribute(example(name), attribute), number)
             for number, (name, attribute, _, _) in enumerate(AWS_RECORDS)]
    return [*lines, failed_line(f"s3://{BUCKET}/ground-truth-demo/images/failed.jpg")]


def split(**kwargs: Any) -> dict[str, Any]:
    result = split_with_label_sources(manifest(), label_attribute=ATTRIBUTE, categories=("football", "other"),
                                      labeling_job_name="gt-demo-1", location=LOCATION, validation_fraction=0.2,
                                      **kwargs)
    return {**result.summary, "lines": [*result.train, *result.validation]}


def test_human_and_machine_labels_used_are_counted() -> None:
    # AWS's records: four labeled by humans ("yes"), one by automated labeling ("no", confidence 0.95).
    assert [human for _, _, _, human in AWS_RECORDS] == [True, True, True, True, False]
    summary = split()
    assert summary["totals"]["kept"] == 5 and summary["dropped"]["failed"] == 1
    assert summary["label_sources"] == {"human": 4, "machine": 1, "unknown_source": 0, "machine_excluded": 0,
                                        "exclude_machine_labels_below": None}


def test_machine_labels_below_the_threshold_are_left_out_and_human_ones_never_are() -> None:
    summary = split(exclude_machine_below=0.96)
    # The machine label (0.95) goes; the human labels at 0.00 stay (their scores are on another scale).
    assert summary["label_sources"] == {"human": 4, "machine": 0, "unknown_source": 0, "machine_excluded": 1,
                                        "exclude_machine_labels_below": "0.96"}
    assert summary["totals"]["kept"] == 4
    assert all(json.loads(line)[f"{ATTRIBUTE}-metadata"]["human-annotated"] == "yes" for line in summary["lines"])


def test_a_machine_label_at_the_threshold_stays() -> None:
    summary = split(exclude_machine_below=0.95)
    assert (summary["label_sources"]["machine"], summary["label_sources"]["machine_excluded"]) == (1, 0)


def training_settings(**changes: Any) -> dict[str, Any]:
    from tests.lambdas.test_training_start_handler import training_settings as base

    return {**base(BUCKET, "arn:aws:sns:us-east-1:123456789012:alerts"), **changes}


def test_the_setting_may_be_absent_and_must_be_a_confidence() -> None:
    assert TrainingSettings.from_mapping(training_settings()).exclude_machine_labels_below is None
    at_one = TrainingSettings.from_mapping(training_settings(exclude_machine_labels_below=1))
    assert at_one.exclude_machine_labels_below == 1
    for bad in (0, 1.5, "0.8", True):
        with pytest.raises(SettingsError, match=r"TRAINING_SETTINGS\.exclude_machine_labels_below"):
            TrainingSettings.from_mapping(training_settings(exclude_machine_labels_below=bad))
