"""The Evaluation function (lambdas/evaluate_model.py): a hand-computed evaluation end to end on the
emulator (metrics.json, report.html, the model package with its metrics and the accuracy floor), and
the paths that end without metrics, stubbed, with their alert texts."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from demo.emulator import Emulator
from demo.events import transform_job_state_change
from demo.simulated_transform import complete_transform_job, planned_answers
from lambdas import aws_clients, evaluation_job, task_types
from lambdas.evaluate_model import Verdict, handler, number_text, parse_event
from lambdas.evaluation import TrainingMetric, transform_manifest_document
from lambdas.settings import EvaluationSettings, EvaluationStart, SettingsError
from tests.lambdas.training_shape_check import shape_problems

REGION = "us-east-1"
ACCOUNT = "123456789012"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Exec"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
PREFIX = "ground-truth-demo"
BUCKET = "sagemaker-us-east-1-123456789012"
LABELS = ["Airplane", "Car", "Ferry"]
SETTINGS: dict[str, Any] = {
    "region": REGION, "account": ACCOUNT, "job_prefix": "gt-demo", "role_arn": ROLE,
    "tags": {"project": "ground-truth-demo"}, "task_type": "image-classification", "bucket": BUCKET,
    "prefix": PREFIX, "register_package": False, "package_group_name": None, "accuracy_floor": None,
    "topic_arn": TOPIC,
}

# The hand-computed evaluation: 4 Airplanes, 3 Cars and 3 Ferries in the validation split, and a model
# that answers (rows: true class, columns: predicted)
#             Airplane Car Ferry
#   Airplane     3      1    0
#   Car          0      2    1
#   Ferry        0      0    3
MATRIX = [[3, 1, 0], [0, 2, 1], [0, 0, 3]]
SUPPORT = [4, 3, 3]
# accuracy = (3 + 2 + 3) / 10 = 0.8
# precision = diagonal / column sum: Airplane 3/3 = 1, Car 2/3, Ferry 3/4 = 0.75
# recall = diagonal / row sum: Airplane 3/4 = 0.75, Car 2/3, Ferry 3/3 = 1
# F1 = 2TP / (2TP + FP + FN): Airplane 6/(6+0+1) = 6/7, Car 4/(4+1+1) = 2/3, Ferry 6/(6+1+0) = 6/7
ACCURACY = 0.8
PRECISION = [1.0, 2 / 3, 0.75]
RECALL = [0.75, 2 / 3, 1.0]
F1 = [6 / 7, 2 / 3, 6 / 7]


def event(job: str, status: str = "Completed", *, output: str | None = None, **detail: Any) -> dict[str, Any]:
    description = {"TransformJobName": job, "TransformJobStatus": status, **detail}
    if output is not None:
        description["TransformOutput"] = {"S3OutputPath": output}
    return transform_job_state_change(description, region=REGION, account=ACCOUNT)


def predictions_uri(job: str, bucket: str = BUCKET) -> str:
    return f"s3://{bucket}/{PREFIX}/evaluation/{job}/predictions/"


# --- pure parts --------------------------------------------------------------------------------------


def test_settings_need_a_group_to_register_and_a_floor_within_0_and_1() -> None:
    with pytest.raises(SettingsError, match=r"EVALUATION_SETTINGS\.package_group_name = None is invalid"):
        EvaluationSettings.from_json(json.dumps({**SETTINGS, "register_package": True}))
    with pytest.raises(SettingsError, match=r"EVALUATION_SETTINGS\.accuracy_floor = 1\.5 is invalid: expected a "
                                            r"number from 0 to 1"):
        EvaluationSettings.from_json(json.dumps({**SETTINGS, "accuracy_floor": 1.5}))


def test_events_parse_and_bad_ones_say_what_is_wrong() -> None:
    change = parse_event(event("gt-demo-1", "Failed", output=predictions_uri("gt-demo-1"), FailureReason="boom"))
    assert (change.name, change.status, change.output_path, change.failure_reason) == (
        "gt-demo-1", "Failed", predictions_uri("gt-demo-1"), "boom")
    with pytest.raises(ValueError, match="this function handles 'SageMaker Transform Job State Change'"):
        parse_event({"detail-type": "SageMaker Training Job State Change"})
    with pytest.raises(ValueError, match=r"event\.detail\.TransformJobStatus is missing"):
        parse_event({"detail-type": "SageMaker Transform Job State Change", "detail": {"TransformJobName": "x"}})


def test_the_verdict_against_the_floor() -> None:
    # 8 of 10 right: 0.8, against no floor, a floor it meets (0.8: equal is enough) and one it misses.
    assert Verdict(0.8, 8, 10, None).approvable
    assert Verdict(0.8, 8, 10, None).metadata() == {"evaluation-accuracy": "0.8", "approvable": "true"}
    assert Verdict(0.8, 8, 10, 0.8).approvable
    below = Verdict(0.8, 8, 10, 0.85)
    assert not below.approvable
    assert below.reason == "validation accuracy 8/10 = 0.8 is below the accuracy floor 0.85: not approvable"
    assert below.metadata() == {"evaluation-accuracy": "0.8", "approvable": "false", "accuracy-floor": "0.85"}
    assert [number_text(x) for x in (2 / 3, 1.0, 0.0, 0.1234567)] == ["0.666667", "1", "0", "0.123457"]


def test_the_package_request_with_metrics_against_botocores_model() -> None:
    from lambdas import register_model

    settings = EvaluationSettings.from_json(json.dumps({**SETTINGS, "register_package": True,
                                                        "package_group_name": "models"}))
    metrics = {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                               "S3Uri": f"s3://{BUCKET}/{PREFIX}/evaluation/gt-demo-1/metrics.json",
                                               "ContentDigest": "sha256:" + "0" * 64}}}
    request = register_model.model_package_request(
        settings, image_uri=IMAGE, training_job_name="gt-demo-1", model_data_url="s3://b/m.tar.gz",
        tuning_job_name=None, note="Validation accuracy 8/10 = 0.8.",
        metadata=Verdict(0.8, 8, 10, 0.85).metadata(), model_metrics=metrics)
    assert request["ModelPackageDescription"] == ("Image classifier from training job gt-demo-1. Validation accuracy "
                                                  "8/10 = 0.8.")
    assert request["CustomerMetadataProperties"] == {"evaluation-accuracy": "0.8", "approvable": "false",
                                                     "accuracy-floor": "0.85", "training-job": "gt-demo-1"}
    assert shape_problems("CreateModelPackage", request) == []


# --- the whole evaluation on the emulator ------------------------------------------------------------


@pytest.fixture
def emulated(_no_real_aws: None, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setattr(aws_clients, "_clients", {})
    suffix = uuid.uuid4().hex[:10]
    bucket = f"evaluate-model-{suffix}"
    s3 = boto3.client("s3", region_name=REGION)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"alerts-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    group = f"models-{suffix}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    job = f"gt-demo-eval-{suffix}"
    seed_evaluation(s3, sagemaker, bucket, job)
    settings = {**SETTINGS, "bucket": bucket, "topic_arn": topic, "register_package": True,
                "package_group_name": group}
    monkeypatch.setenv("EVALUATION_SETTINGS", json.dumps(settings))
    return {"s3": s3, "sagemaker": sagemaker, "sqs": sqs, "queue": queue, "bucket": bucket, "group": group,
            "job": job, "settings": settings}


def seed_evaluation(s3: Any, sagemaker: Any, bucket: str, job: str) -> None:
    """What StartTraining and RegisterModel leave behind for one model, and the transform's outputs."""
    folder = f"{PREFIX}/training/{job}"
    objects = [(label, number) for label, count in zip(LABELS, SUPPORT, strict=True)
               for number in range(1, count + 1)]
    sources = [f"s3://{bucket}/{PREFIX}/images/{label}/{number:04d}.png" for label, number in objects]
    lines = [json.dumps({"source-ref": source, "vehicle-type": LABELS.index(label)})
             for source, (label, _) in zip(sources, objects, strict=True)]
    s3.put_object(Bucket=bucket, Key=f"{folder}/validation.manifest", Body="\n".join(lines) + "\n")
    s3.put_object(Bucket=bucket, Key=f"{folder}/label-map.json", Body=json.dumps(
        {"labels": LABELS, "label_attribute": "vehicle-type", "labeling_job": job}))
    s3.put_object(Bucket=bucket, Key=f"{folder}/summary.json", Body=json.dumps({"classes": [
        {"index": i, "label": label, "train": 4 * count, "validation": count}
        for i, (label, count) in enumerate(zip(LABELS, SUPPORT, strict=True))]}))
    sagemaker.create_model(ModelName=job, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/{PREFIX}/models/m.tar.gz"})
    location = evaluation_job.EvaluationLocation(bucket, PREFIX, job)
    s3.put_object(Bucket=bucket, Key=location.key("transform-input.manifest"),
                  Body=transform_manifest_document(sources))
    s3.put_object(Bucket=bucket, Key=location.key("inputs.json"), Body=json.dumps(evaluation_job.inputs_document(
        job=job, model_name=job, training_job=job, tuning_job=None,
        validation_manifest=f"s3://{bucket}/{folder}/validation.manifest",
        training_metric=TrainingMetric("validation:accuracy", 0.9))))
    request = evaluation_job.build_transform_request(
        EvaluationStart(bucket=bucket, prefix=PREFIX, instance_type="ml.m5.large"),
        task=task_types.IMAGE_CLASSIFICATION, job=job, model_name=job, tags=[])
    sagemaker.create_transform_job(**request)
    complete_transform_job(s3, sagemaker, job, planned_answers(MATRIX, LABELS), class_count=len(LABELS))


def alerts(emulated: dict[str, Any]) -> list[dict[str, Any]]:
    messages = emulated["sqs"].receive_message(QueueUrl=emulated["queue"], WaitTimeSeconds=1,
                                               MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def run(emulated: dict[str, Any]) -> dict[str, Any]:
    description = emulated["sagemaker"].describe_transform_job(TransformJobName=emulated["job"])
    return handler(transform_job_state_change(description, region=REGION, account=ACCOUNT), None)


def test_emulator_metrics_equal_the_hand_computed_matrix(emulated: dict[str, Any]) -> None:
    result = run(emulated)
    s3, bucket, job = emulated["s3"], emulated["bucket"], emulated["job"]
    folder = f"{PREFIX}/evaluation/{job}"
    metrics = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}/metrics.json")["Body"].read())

    assert result["decision"] == "evaluated"
    assert metrics["confusion_matrix"] == MATRIX
    assert metrics["accuracy"] == pytest.approx(ACCURACY)
    assert [entry["support"] for entry in metrics["classes"]] == SUPPORT
    assert [entry["precision"] for entry in metrics["classes"]] == pytest.approx(PRECISION)
    assert [entry["recall"] for entry in metrics["classes"]] == pytest.approx(RECALL)
    assert [entry["f1"] for entry in metrics["classes"]] == pytest.approx(F1)
    assert metrics["training"] == {"metric": "validation:accuracy", "value": 0.9,
                                   "difference": pytest.approx(ACCURACY - 0.9)}
    assert metrics["evaluation"] == {"transform_job": job, "model": job, "tuning_job": None}
    assert len(metrics["worst_misclassified"]) == 2  # Airplane -> Car, Car -> Ferry
    report = s3.get_object(Bucket=bucket, Key=f"{folder}/report.html")
    assert report["ContentType"] == "text/html; charset=utf-8"
    page = report["Body"].read().decode()
    assert 'data-true="0" data-pred="1" data-value="1"' in page
    # The worst mistakes' images are pre-signed links to the images in the bucket.
    assert page.count(f"/{bucket}/{PREFIX}/images/") >= 2 and "X-Amz-Signature=" in page


def test_emulator_the_package_carries_the_metrics_and_is_approvable_without_a_floor(emulated: dict[str, Any]) -> None:
    result = run(emulated)
    sagemaker, bucket, job = emulated["sagemaker"], emulated["bucket"], emulated["job"]
    package = sagemaker.describe_model_package(ModelPackageName=result["model_package"])
    body = emulated["s3"].get_object(Bucket=bucket, Key=f"{PREFIX}/evaluation/{job}/metrics.json")["Body"].read()

    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ModelMetrics"] == {"ModelQuality": {"Statistics": {
        "ContentType": "application/json", "S3Uri": f"s3://{bucket}/{PREFIX}/evaluation/{job}/metrics.json",
        "ContentDigest": "sha256:" + hashlib.sha256(body).hexdigest()}}}
    assert package["CustomerMetadataProperties"] == {"evaluation-accuracy": "0.8", "approvable": "true",
                                                     "training-job": job}
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == (
        f"s3://{bucket}/{PREFIX}/models/m.tar.gz")  # the evaluated model's (DescribeModel)
    assert alerts(emulated) == []
    # A redelivery rewrites the same numbers and finds the package.
    again = run(emulated)
    assert again["model_package"] == result["model_package"] and again["model_package_created"] is False
    assert len(sagemaker.list_model_packages(ModelPackageGroupName=emulated["group"])["ModelPackageSummaryList"]) == 1


def test_emulator_below_the_floor_the_package_is_not_approvable_and_an_alert_says_why(
    emulated: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALUATION_SETTINGS", json.dumps({**emulated["settings"], "accuracy_floor": 0.85}))
    result = run(emulated)
    package = emulated["sagemaker"].describe_model_package(ModelPackageName=result["model_package"])
    job = emulated["job"]

    assert result["approvable"] is False
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"] == {"evaluation-accuracy": "0.8", "accuracy-floor": "0.85",
                                                     "approvable": "false", "training-job": job}
    assert package["ModelPackageDescription"] == (
        f"Image classifier from training job {job}. Validation accuracy 8/10 = 0.8 is below the accuracy floor "
        "0.85: not approvable.")
    [alert] = alerts(emulated)
    assert alert["Subject"] == f"Model {job} is below the accuracy floor (0.8 < 0.85)"
    assert alert["Message"].startswith(
        f"Model {job} (training job {job}): validation accuracy 8/10 = 0.8 is below the accuracy floor 0.85: "
        f"not approvable.\nReport: s3://{emulated['bucket']}/{PREFIX}/evaluation/{job}/report.html\n")
    assert f"Model package {result['model_package']} stays PendingManualApproval and is marked approvable = false" \
        in alert["Message"]
    assert alert["Message"].endswith(f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/home?region="
                                     f"{REGION}#/transform-jobs/{job}")


def test_emulator_another_transform_job_of_the_prefix_is_ignored(emulated: dict[str, Any]) -> None:
    """`workflow predict --batch` names its jobs <job_prefix>-predict-...: its outputs go elsewhere."""
    other = f"s3://{emulated['bucket']}/{PREFIX}/predictions/run-1/output"
    result = handler(event("gt-demo-predict-run-1", output=other), None)
    assert result["decision"] == "ignored"
    assert "not to an evaluation of ours" in result["reason"]


# --- the paths without metrics, stubbed ---------------------------------------------------------------


class Stubbed:
    def __init__(self) -> None:
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sm, self.storage, self.topic = Stubber(self.sagemaker), Stubber(self.s3), Stubber(self.sns)

    def transform(self, job: str, status: str, **extra: Any) -> None:
        self.sm.add_response("describe_transform_job", {
            "TransformJobName": job, "TransformJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/{job}",
            "TransformJobStatus": status, "ModelName": job, "CreationTime": "2024-01-01T00:00:00Z",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}},
            "TransformOutput": {"S3OutputPath": predictions_uri(job)},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}, **extra},
            expected_params={"TransformJobName": job})

    def inputs(self, job: str) -> None:
        inputs = evaluation_job.inputs_document(
            job=job, model_name=job, training_job=job, tuning_job=None,
            validation_manifest=f"s3://{BUCKET}/{PREFIX}/training/{job}/validation.manifest", training_metric=None)
        body = json.dumps(inputs).encode()
        self.storage.add_response("get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))},
                                  expected_params={"Bucket": BUCKET, "Key": f"{PREFIX}/evaluation/{job}/inputs.json",
                                                   "ExpectedBucketOwner": ACCOUNT})


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubbed]:
    monkeypatch.setenv("EVALUATION_SETTINGS", json.dumps(SETTINGS))
    aws = Stubbed()
    monkeypatch.setattr(aws_clients, "_clients", {("sagemaker", REGION): aws.sagemaker, ("s3", REGION): aws.s3,
                                                  ("sns", REGION): aws.sns})
    with aws.sm, aws.storage, aws.topic:
        yield aws
        for stubber in (aws.sm, aws.storage, aws.topic):
            stubber.assert_no_pending_responses()


def test_a_failed_transform_alerts_with_the_reason_and_the_console_link(stubbed: Stubbed) -> None:
    stubbed.transform("gt-demo-1", "Failed", FailureReason="ClientError: image too large")
    stubbed.inputs("gt-demo-1")
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "Evaluation of model gt-demo-1 failed", "Message": (
            "The evaluation of model gt-demo-1 (training job gt-demo-1) produced no metrics.\n"
            "Reason: transform job gt-demo-1 Failed: ClientError: image too large\n\n"
            "No model package is registered (model.register_package is false).\n"
            "The transform job's logs are in CloudWatch Logs, log group /aws/sagemaker/TransformJobs, streams "
            "gt-demo-1/*; a quota of 0 for the transform instance type shows in Service Quotas (SageMaker, "
            "'<instance type> for transform job usage').\n\n"
            f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}"
            "#/transform-jobs/gt-demo-1")})
    result = handler(event("gt-demo-1", "Failed", output=predictions_uri("gt-demo-1")), None)
    assert result["decision"] == "alerted"
    assert result["failure_reason"] == "transform job gt-demo-1 Failed: ClientError: image too large"


def test_a_stopped_transform_with_a_floor_registers_a_package_that_is_not_approvable(
    stubbed: Stubbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALUATION_SETTINGS", json.dumps({**SETTINGS, "register_package": True,
                                                          "package_group_name": "models", "accuracy_floor": 0.9}))
    stubbed.transform("gt-demo-1", "Stopped")
    stubbed.inputs("gt-demo-1")
    stubbed.sm.add_response("describe_model", {
        "ModelName": "gt-demo-1", "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-1",
        "CreationTime": "2024-01-01T00:00:00Z",
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/m.tar.gz"}},
        expected_params={"ModelName": "gt-demo-1"})
    stubbed.sm.add_response("search", {"Results": []})
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/models/4"
    stubbed.sm.add_response("create_model_package", {"ModelPackageArn": arn}, expected_params={
        "ModelPackageGroupName": "models",
        "ModelPackageDescription": ("Image classifier from training job gt-demo-1. Not evaluated (transform job "
                                    "gt-demo-1 Stopped: SageMaker gave no FailureReason): not approvable, the "
                                    "accuracy floor 0.9 cannot be shown to be met."),
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": ANY,
        "CustomerMetadataProperties": {"approvable": "false", "accuracy-floor": "0.9", "training-job": "gt-demo-1"},
        "Tags": [{"Key": "project", "Value": "ground-truth-demo"}, {"Key": "training-job", "Value": "gt-demo-1"}],
        "ClientToken": ANY})
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "Evaluation of model gt-demo-1 failed", "Message": ANY})
    result = handler(event("gt-demo-1", "Stopped", output=predictions_uri("gt-demo-1")), None)
    assert result["decision"] == "alerted"
    assert result["model_package"] == arn


def test_a_throttled_read_alerts_as_will_retry_and_propagates(stubbed: Stubbed) -> None:
    stubbed.transform("gt-demo-1", "Completed")
    stubbed.storage.add_client_error("get_object", "SlowDown", "Please reduce your request rate.",
                                     http_status_code=503)
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "Evaluation failed for evaluation gt-demo-1 (will retry)", "Message": ANY})
    with pytest.raises(ClientError, match="SlowDown"):
        handler(event("gt-demo-1", output=predictions_uri("gt-demo-1")), None)


@pytest.mark.parametrize(("job", "status", "output"), [
    ("someone-else-1", "Completed", None),  # another prefix
    ("gt-demo-1", "InProgress", predictions_uri("gt-demo-1")),  # not an end
    ("gt-demo-1", "Completed", f"s3://{BUCKET}/{PREFIX}/predictions/x/output"),  # not an evaluation
])
def test_what_is_not_an_ended_evaluation_of_ours_is_ignored_without_a_call(
    stubbed: Stubbed, job: str, status: str, output: str | None
) -> None:
    assert handler(event(job, status, output=output), None)["decision"] == "ignored"


def test_the_deployment_reads_the_metadata_keys_this_function_writes() -> None:
    from lambdas import deployment, evaluate_model

    assert (deployment.APPROVABLE_PROPERTY, deployment.ACCURACY_PROPERTY, deployment.ACCURACY_FLOOR_PROPERTY) == (
        evaluate_model.APPROVABLE_PROPERTY, evaluate_model.ACCURACY_PROPERTY, evaluate_model.ACCURACY_FLOOR_PROPERTY)
    # A package below the floor, as written here, is refused there.
    described = {"CustomerMetadataProperties": Verdict(0.8, 8, 10, 0.85).metadata()}
    assert deployment.not_approvable_reason(described) == (
        "its evaluated accuracy 0.8 is below the accuracy floor 0.85 (workflow.evaluation.accuracy_floor)")
    assert deployment.not_approvable_reason({"CustomerMetadataProperties": Verdict(0.8, 8, 10, 0.8).metadata()}) is None
