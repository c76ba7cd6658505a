"""StartTraining on a relabel job whose chain cannot be merged (it alerts, starts nothing), and with
machine labels left out of training, against the moto server (harness: test_training_start_handler.py)."""

from __future__ import annotations

import json

import pytest

from lambdas.start_training import handler
from tests.lambdas.test_training_start_handler import (  # noqa: F401 (aws: a fixture)
    REGION,
    Aws,
    aws,
    labeling_event,
    manifest_lines,
    training_prefix,
)


def test_a_relabel_job_without_its_relabel_json_alerts_and_starts_nothing(aws: Aws) -> None:  # noqa: F811
    first, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 12, 1: 12}))
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 2}))
    aws.sagemaker.descriptions[name]["Tags"] = [{"Key": "relabel-of", "Value": first}]

    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped" and result["training_job"] is None
    key = f"ground-truth-demo/labeling/{name}/relabel.json"
    assert result["reason"] == (f"it relabels an earlier job, but its relabel chain cannot be merged: "
                                f"s3://{aws.bucket}/{key} does not exist (NoSuchKey): nothing to train on")
    [alert] = aws.alerts()
    assert alert["Subject"] == f"Training not started for labeling job {name}"
    assert result["reason"] in alert["Message"]
    assert alert["Message"].endswith(f"#/labeling-jobs/details/{name}")
    assert aws.sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []


def test_a_relabel_json_that_disagrees_with_the_tag_alerts(aws: Aws) -> None:  # noqa: F811
    first, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 12, 1: 12}))
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 2}))
    aws.sagemaker.descriptions[name]["Tags"] = [{"Key": "relabel-of", "Value": first}]
    link = {"version": 1, "job_name": name, "from_job": "gt-demo-someone-else", "label_attribute": name,
            "training_label_attribute": first, "criteria": {}, "selected": 2}
    aws.s3.put_object(Bucket=aws.bucket, Key=f"ground-truth-demo/labeling/{name}/relabel.json",
                      Body=json.dumps(link).encode())

    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped"
    assert f"is tagged relabel-of={first!r}" in result["reason"]
    assert len(aws.alerts()) == 1


def test_machine_labels_below_the_configured_confidence_are_left_out(
        aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    def lines(name: str) -> list[bytes]:
        result = []
        for number, line in enumerate(manifest_lines(name, {0: 12, 1: 12})):
            record = json.loads(line)
            if number % 4 == 0:  # every 4th labeled by automated labeling, with a low score every 8th
                record[f"{name}-metadata"].update({"human-annotated": "no",
                                                   "confidence": 0.5 if number % 8 == 0 else 0.97})
            result.append(json.dumps(record).encode())
        return result

    name, _ = aws.labeling_job(lines)
    aws.use_settings(monkeypatch, exclude_machine_labels_below=0.9)

    result = handler(labeling_event(name), None)

    assert result["decision"] == "started", result
    # 24 lines: 6 machine-labeled (0, 4, ..., 20), 3 of them at 0.5 (0, 8, 16): left out.
    assert result["counts"]["label_sources"] == {"human": 18, "machine": 3, "unknown_source": 0,
                                                 "machine_excluded": 3, "exclude_machine_labels_below": "0.9"}
    summary = json.loads(aws.read(f"{training_prefix(name)}/summary.json"))
    assert summary["label_sources"] == result["counts"]["label_sources"]
    assert summary["totals"]["kept"] == 21
    job = aws.sagemaker.describe_training_job(TrainingJobName=name)
    assert job["HyperParameters"]["num_training_samples"] == str(summary["totals"]["train"])
    assert REGION in job["TrainingJobArn"]
