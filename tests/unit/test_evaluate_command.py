"""`workflow evaluate` and the evaluation step of `workflow status` without AWS: the table from a metrics.json
computed by hand, the report written for --open, and what they say when there is no evaluation yet.
(tests/integration/test_demo.py runs both against the emulator's end-to-end run.)"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from lambdas.evaluation import Predictions, TrainingMetric, evaluate
from lambdas.evaluation_job import EvaluationLocation
from workflow import evaluate as command
from workflow import status
from workflow.errors import CliError

BUCKET, PREFIX, ACCOUNT, REGION = "sagemaker-us-east-1-123456789012", "ground-truth-demo", "123456789012", "us-east-1"
LABELS = ["Airplane", "Car"]
# 3 Airplanes (one taken for a Car) and 2 Cars: accuracy 4/5 = 80.0%; Airplane precision 2/2, recall 2/3,
# F1 4/(4+0+1) = 0.8; Car precision 2/3, recall 2/2, F1 4/(4+1+0) = 0.8.
TRUE = [0, 0, 0, 1, 1]
PREDICTED = [0, 0, 1, 1, 1]


TRAINING_METRIC = TrainingMetric("validation:accuracy", 0.9)


def metrics(metric: TrainingMetric | None = TRAINING_METRIC) -> dict[str, Any]:
    sources = [f"s3://{BUCKET}/{PREFIX}/images/{i}.png" for i in range(len(TRUE))]
    lines = [json.dumps({"source-ref": s, "label": t}) for s, t in zip(sources, TRUE, strict=True)]
    answers = {s: json.dumps({"prediction": [0.9, 0.1] if p == 0 else [0.2, 0.8]})
               for s, p in zip(sources, PREDICTED, strict=True)}
    return evaluate(lines, Predictions(answers), label_attribute="label", labels=LABELS, training_job="gt-demo-1",
                    training_metric=metric)


FOUND = command.Found("gt-demo-1", EvaluationLocation(BUCKET, PREFIX, "gt-demo-1"), labeling_job="gt-demo-1")


def test_the_table_shows_the_hand_computed_figures_and_where_the_report_is() -> None:
    lines = command.describe(metrics(), FOUND)
    assert lines[:3] == [
        "Evaluation gt-demo-1 of model gt-demo-1 (training job gt-demo-1)",
        "  accuracy: 80.0% (4/5 validation objects)",
        "  the training job's validation:accuracy: 90.0% (this evaluation -10.0 points)",
    ]
    assert lines[3].split() == ["class", "precision", "recall", "F1", "support"]
    assert lines[4].split() == ["Airplane", "1.000", "0.667", "0.800", "3"]
    assert lines[5].split() == ["Car", "0.667", "1.000", "0.800", "2"]
    assert lines[-2:] == [f"  report:  s3://{BUCKET}/{PREFIX}/evaluation/gt-demo-1/report.html",
                          f"  metrics: s3://{BUCKET}/{PREFIX}/evaluation/gt-demo-1/metrics.json"]
    assert "not reported by the job" in command.describe(metrics(None), FOUND)[2]


def test_open_writes_the_report_with_fresh_links_and_hands_its_path_to_the_browser(tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    signer = boto3.client("s3", region_name=REGION, config=command.PRESIGN_CONFIG)
    document = metrics()
    with Stubber(s3) as stub:
        body = json.dumps(document).encode()
        stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))},
                          {"Bucket": BUCKET, "Key": f"{PREFIX}/evaluation/gt-demo-1/metrics.json",
                           "ExpectedBucketOwner": ACCOUNT})
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", http_status_code=403)  # inputs.json
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        opened: list[str] = []
        printed: list[str] = []
        target = tmp_path / "report.html"
        with Stubber(sagemaker) as sm:
            sm.add_client_error("describe_labeling_job", "ResourceNotFound", "not found")
            sm.add_client_error("describe_labeling_job", "ResourceNotFound", "not found")
            code = command.run(sagemaker=sagemaker, s3=s3, presigner=signer, bucket=BUCKET, prefix=PREFIX,
                               account=ACCOUNT, job_prefix="gt-demo", tuning_enabled=False, job_name="gt-demo-1",
                               open_report=True, output=target, as_json=False, out=printed.append,
                               opener=opened.append)
    assert code == 0
    assert opened == [target.resolve().as_uri()]
    page = target.read_text()
    assert 'data-metric="accuracy" data-value="0.8"' in page
    assert "X-Amz-Signature=" in page  # the mistake's image, signed now with SigV4
    assert printed[0].endswith(f"  opened:  {target}")


def test_no_metrics_yet_says_where_the_evaluation_is() -> None:
    s3, sagemaker = boto3.client("s3", region_name=REGION), boto3.client("sagemaker", region_name=REGION)
    with Stubber(s3) as stub, Stubber(sagemaker) as sm:
        stub.add_client_error("get_object", "NoSuchKey", "missing", http_status_code=404)
        sm.add_response("describe_transform_job", {
            "TransformJobName": "gt-demo-1", "TransformJobArn": "arn:aws:sagemaker:us-east-1:1:transform-job/x",
            "TransformJobStatus": "Failed", "FailureReason": "ClientError: quota", "ModelName": "gt-demo-1",
            "CreationTime": "2024-01-01T00:00:00Z",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}})
        with pytest.raises(CliError, match=r"^evaluation gt-demo-1 is Failed: ClientError: quota; no s3://.*/metrics"
                                           r"\.json yet: the Evaluation function's alert says why"):
            command.read_metrics(s3, sagemaker, FOUND, account=ACCOUNT)


def test_status_shows_the_evaluation_as_its_own_step() -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    model = status.StepStatus("model", "gt-demo-1", "Created")
    report_uri = f"s3://{BUCKET}/{PREFIX}/evaluation/gt-demo-1/report.html"
    asked: list[str] = []

    def fetch(job: str) -> tuple[dict[str, Any], str]:
        asked.append(job)
        return metrics(), report_uri

    described = {
        "TransformJobName": "gt-demo-1", "TransformJobArn": "arn:aws:sagemaker:us-east-1:1:transform-job/x",
        "ModelName": "gt-demo-1", "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}
    with Stubber(sagemaker) as sm:
        sm.add_response("describe_transform_job", {**described, "TransformJobStatus": "InProgress"},
                        {"TransformJobName": "gt-demo-1"})
        sm.add_response("describe_transform_job", {**described, "TransformJobStatus": "Completed"})
        running = status.evaluation_step(sagemaker, model, fetch_metrics=fetch)
        step = status.evaluation_step(sagemaker, model, fetch_metrics=fetch)
    assert (running.status, running.details, asked) == ("InProgress", {"instance": "ml.m5.large",
                                                                       "created": "2024-01-01T00:00:00+00:00"},
                                                        ["gt-demo-1"])  # metrics read for the completed one only
    assert (step.name, step.status) == ("gt-demo-1", "Completed")
    assert step.details["accuracy"] == "80.0% (4/5 validation objects)"
    assert step.details["report"] == report_uri
    report = status.StatusReport(status.StepStatus("labeling job", "gt-demo-1", "Completed"), {},
                                 status.StepStatus("training job", "gt-demo-1", "Completed"), model, step)
    lines = status.describe(report)
    assert "Evaluation gt-demo-1: Completed" in lines
    assert "  accuracy: 80.0% (4/5 validation objects)" in lines
    assert report.as_dict()["evaluation"]["status"] == "Completed"
    # No model yet: no call at all (the stubber has nothing queued).
    assert status.evaluation_step(sagemaker, status.StepStatus("model", "gt-demo-1"), fetch_metrics=fetch).status \
        is None


def test_status_says_when_the_metrics_cannot_be_read() -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    def fetch(job: str) -> tuple[dict[str, Any], str]:
        raise CliError(f"evaluation {job} is Completed; no metrics.json yet")

    with Stubber(sagemaker) as sm:
        sm.add_response("describe_transform_job", {
            "TransformJobName": "gt-demo-1", "TransformJobArn": "arn:aws:sagemaker:us-east-1:1:transform-job/x",
            "TransformJobStatus": "Completed", "ModelName": "gt-demo-1", "CreationTime": "2024-01-01T00:00:00Z",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}})
        step = status.evaluation_step(sagemaker, status.StepStatus("model", "gt-demo-1", "Created"),
                                      fetch_metrics=fetch)
    assert step.details["metrics"].startswith("not readable (evaluation gt-demo-1 is Completed; no metrics.json yet)")
