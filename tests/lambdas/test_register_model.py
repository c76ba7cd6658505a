"""The register_model Lambda: requests validated by Stubber, flows against Stubber and moto."""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from demo.emulator import Emulator
from lambdas import aws_clients, register_model
from lambdas.register_model import (
    ModelSettings,
    SettingsError,
    build_create_model_request,
    build_model_package_request,
    handler,
    model_name,
    model_package_client_token,
    parse_event,
)
from tests.lambdas.training_shape_check import shape_problems

REGION = "us-east-1"
ACCOUNT = "123456789012"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Exec"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
MODEL_DATA = "s3://sagemaker-us-east-1-123456789012/ground-truth-demo/models/gt-demo-1/output/model.tar.gz"
NOW = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)

SETTINGS: dict[str, Any] = {
    "region": REGION,
    "account": ACCOUNT,
    "job_prefix": "gt-demo",
    "task_type": "image-classification",
    "role_arn": ROLE,
    "image_uri": IMAGE,
    "register_package": False,
    "package_group_name": None,
    "topic_arn": TOPIC,
    "tags": {"project": "ground-truth-demo"},
    # evaluation.enabled = false: RegisterModel registers the package itself (the evaluation path:
    # tests/lambdas/test_evaluation_start.py).
    "evaluation": None,
}


def settings(**changes: Any) -> ModelSettings:
    return ModelSettings.from_json(json.dumps({**SETTINGS, **changes}))


def training_event(name: str, status: str = "Completed", **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2024-01-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}"],
        "detail": {"TrainingJobName": name, "TrainingJobStatus": status, **detail},
    }


def tuning_event(name: str, status: str = "Completed", **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker HyperParameter Tuning Job State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2024-01-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/{name}"],
        "detail": {"HyperParameterTuningJobName": name, "HyperParameterTuningJobStatus": status, **detail},
    }


def described_training_job(name: str, model_data: str = MODEL_DATA, **extra: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}",
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_data},
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "Pipe"},
        "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": NOW,
        **extra,
    }


# --- settings ------------------------------------------------------------------------------


def test_settings_parse_the_stack_shape() -> None:
    parsed = settings()
    assert parsed.register_package is False
    assert parsed.package_group_name is None
    assert parsed.tags == {"project": "ground-truth-demo"}


@pytest.mark.parametrize("key", ["region", "account", "job_prefix", "role_arn", "image_uri", "topic_arn"])
def test_missing_settings_are_named(key: str) -> None:
    data = copy.deepcopy(SETTINGS)
    del data[key]
    with pytest.raises(SettingsError, match=rf"MODEL_SETTINGS\.{key} is missing"):
        ModelSettings.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"register_package": "yes"}, r"register_package = 'yes' is invalid"),
        ({"register_package": True}, r"package_group_name = None is invalid: registering model packages"),
        ({"register_package": True, "package_group_name": ""}, r"package_group_name = '' is invalid"),
        ({"image_uri": ""}, r"image_uri = '' is invalid"),
        ({"tags": {"a": 1}}, r"^MODEL_SETTINGS\.tags\.a = 1 is invalid: expected a string"),
        ({"tags": {f"t{i}": "x" for i in range(49)}}, r"^MODEL_SETTINGS\.tags has 49 tags; with the training-job, "
                                                      r"tuning-job tag\(s\)"),
        ({"package_group_name": "-x"}, r"^MODEL_SETTINGS\.package_group_name = '-x' is invalid"),
        ({"topic_arn": "alerts"}, r"^MODEL_SETTINGS\.topic_arn = 'alerts' is invalid: expected an SNS topic ARN"),
        ({"job_prefix": "x" * 24}, r"^MODEL_SETTINGS\.job_prefix = 'x+' is invalid"),
    ],
)
def test_bad_settings_are_named(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        settings(**changes)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_SETTINGS", raising=False)
    with pytest.raises(SettingsError, match="MODEL_SETTINGS is not set"):
        ModelSettings.from_env()
    monkeypatch.setenv("MODEL_SETTINGS", json.dumps(SETTINGS))
    assert ModelSettings.from_env().job_prefix == "gt-demo"


# --- events ------------------------------------------------------------------------------


def test_parse_events() -> None:
    change = parse_event(training_event("gt-demo-1", "Failed", FailureReason="AlgorithmError: boom"))
    assert (change.kind, change.name, change.status) == ("training", "gt-demo-1", "Failed")
    assert change.detail["FailureReason"] == "AlgorithmError: boom"
    change = parse_event(tuning_event("gt-demo-1"))
    assert (change.kind, change.name, change.status) == ("tuning", "gt-demo-1", "Completed")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("x", "expected an EventBridge event object"),
        ({"detail-type": "SageMaker Ground Truth Labeling Job State Change"}, "this function handles"),
        ({"detail-type": "SageMaker Training Job State Change", "detail": None}, "event.detail must be an object"),
        (
            {"detail-type": "SageMaker Training Job State Change", "detail": {"TrainingJobStatus": "Completed"}},
            r"event\.detail\.TrainingJobName is missing",
        ),
        (
            {"detail-type": "SageMaker HyperParameter Tuning Job State Change",
             "detail": {"HyperParameterTuningJobName": "x"}},
            r"event\.detail\.HyperParameterTuningJobStatus is missing",
        ),
    ],
)
def test_bad_events_say_what_is_wrong(event: Any, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_event(event)


# --- requests ------------------------------------------------------------------------------


def test_model_names() -> None:
    assert model_name("gt-demo-1") == "gt-demo-1"
    best = "gt-demo-" + "x" * 24 + "-007-3f2a9c1b"  # a tuning job's child: tuning name + suffix
    assert model_name(best) == best
    long = "gt-demo-" + "y" * 60
    assert len(model_name(long)) == 63
    assert shape_problems("CreateModel", {"ModelName": model_name(long)}) == []


def test_create_model_request() -> None:
    client = boto3.client("sagemaker", region_name=REGION)
    request = build_create_model_request(
        settings(), training_job_name="gt-demo-1", model_data_url=MODEL_DATA, tuning_job_name=None
    )
    with Stubber(client) as stubber:
        stubber.add_response(
            "create_model",
            {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-1"},
            expected_params={
                "ModelName": "gt-demo-1",
                "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": MODEL_DATA},
                "ExecutionRoleArn": ROLE,
                "Tags": [
                    {"Key": "project", "Value": "ground-truth-demo"},
                    {"Key": "training-job", "Value": "gt-demo-1"},
                ],
            },
        )
        client.create_model(**request)
    assert shape_problems("CreateModel", request) == []


def test_create_model_request_from_a_tuning_job() -> None:
    request = build_create_model_request(
        settings(), training_job_name="gt-demo-1-003-abc", model_data_url=MODEL_DATA, tuning_job_name="gt-demo-1"
    )
    assert request["ModelName"] == "gt-demo-1-003-abc"
    assert {"Key": "tuning-job", "Value": "gt-demo-1"} in request["Tags"]


def test_model_package_request() -> None:
    client = boto3.client("sagemaker", region_name=REGION)
    request = build_model_package_request(
        settings(register_package=True, package_group_name="gt-demo-models"),
        training_job_name="gt-demo-1",
        model_data_url=MODEL_DATA,
        tuning_job_name=None,
    )
    with Stubber(client) as stubber:
        stubber.add_response(
            "create_model_package",
            {"ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/gt-demo-models/1"},
            expected_params={
                "ModelPackageGroupName": "gt-demo-models",
                "ModelPackageDescription": "Image classifier from training job gt-demo-1",
                "ModelApprovalStatus": "PendingManualApproval",
                "InferenceSpecification": {
                    "Containers": [{"Image": IMAGE, "ModelDataUrl": MODEL_DATA}],
                    "SupportedContentTypes": ["image/jpeg", "image/png", "application/x-image"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
                "CustomerMetadataProperties": {"training-job": "gt-demo-1"},
                "Tags": [
                    {"Key": "project", "Value": "ground-truth-demo"},
                    {"Key": "training-job", "Value": "gt-demo-1"},
                ],
                "ClientToken": model_package_client_token("gt-demo-models", "gt-demo-1"),
            },
        )
        client.create_model_package(**request)
    assert shape_problems("CreateModelPackage", request) == []


def test_model_package_client_token_is_stable_per_training_job_and_fits_the_api() -> None:
    token = model_package_client_token("gt-demo-models", "gt-demo-" + "x" * 55)  # a 63-character job name
    assert token == model_package_client_token("gt-demo-models", "gt-demo-" + "x" * 55)  # every delivery
    assert token != model_package_client_token("gt-demo-models", "gt-demo-2")
    assert token != model_package_client_token("other-models", "gt-demo-" + "x" * 55)
    # botocore's ClientToken shape: 1-36 characters of [a-zA-Z0-9-] (Stubber checks neither bound nor pattern).
    assert shape_problems("CreateModelPackage", {
        "ModelPackageGroupName": "gt-demo-models", "ClientToken": token}) == []


# --- flows with every AWS call stubbed ---------------------------------------------------------


class Stubbed:
    def __init__(self) -> None:
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sm = Stubber(self.sagemaker)
        self.topic = Stubber(self.sns)

    def model_missing(self, name: str) -> None:
        self.sm.add_client_error(
            "describe_model",
            "ValidationException",
            f"Could not find model \"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{name}\".",
            expected_params={"ModelName": name},
        )

    def expect_alert(self, subject: str, message: Any = ANY) -> None:
        self.topic.add_response(
            "publish",
            {"MessageId": "1"},
            expected_params={"TopicArn": TOPIC, "Subject": subject, "Message": message},
        )


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubbed]:
    monkeypatch.setenv("MODEL_SETTINGS", json.dumps(SETTINGS))
    aws = Stubbed()
    monkeypatch.setattr(aws_clients, "_clients", {("sagemaker", REGION): aws.sagemaker, ("sns", REGION): aws.sns})
    with aws.sm, aws.topic:
        yield aws
        aws.sm.assert_no_pending_responses()
        aws.topic.assert_no_pending_responses()


def test_completed_training_job_creates_the_model(stubbed: Stubbed) -> None:
    stubbed.sm.add_response(
        "describe_training_job", described_training_job("gt-demo-1"), expected_params={"TrainingJobName": "gt-demo-1"}
    )
    stubbed.model_missing("gt-demo-1")
    stubbed.sm.add_response(
        "create_model",
        {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/gt-demo-1"},
        expected_params={
            "ModelName": "gt-demo-1",
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": MODEL_DATA},
            "ExecutionRoleArn": ROLE,
            "Tags": ANY,
        },
    )
    result = handler(training_event("gt-demo-1"), None)
    assert result["decision"] == "registered"
    assert result["model"] == "gt-demo-1"
    assert result["model_data"] == MODEL_DATA


def test_existing_model_is_not_created_again(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_training_job", described_training_job("gt-demo-1"))
    stubbed.sm.add_response(
        "describe_model",
        {"ModelName": "gt-demo-1", "ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/gt-demo-1",
         "CreationTime": NOW},
        expected_params={"ModelName": "gt-demo-1"},
    )
    result = handler(training_event("gt-demo-1"), None)
    assert result["decision"] == "already_registered"
    assert result["model_created"] is False


def test_create_model_already_existing_counts_as_success(stubbed: Stubbed) -> None:
    """A concurrent delivery created it between our look and our create."""
    stubbed.sm.add_response("describe_training_job", described_training_job("gt-demo-1"))
    stubbed.model_missing("gt-demo-1")
    stubbed.sm.add_client_error(
        "create_model",
        "ValidationException",
        f'Cannot create already existing model "arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-1".',
    )
    assert handler(training_event("gt-demo-1"), None)["decision"] == "already_registered"


def test_other_create_model_errors_alert_and_propagate(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_training_job", described_training_job("gt-demo-1"))
    stubbed.model_missing("gt-demo-1")
    stubbed.sm.add_client_error("create_model", "ValidationException", "Could not access model data at s3://...")
    stubbed.expect_alert("RegisterModel failed for training job gt-demo-1", (
        "RegisterModel stopped without starting anything for training job gt-demo-1.\n"
        "Error: ClientError: An error occurred (ValidationException) when calling the CreateModel operation: "
        "Could not access model data at s3://...\n\n"
        "Retrying will not fix this: fix the cause named above, then redrive the event.\n"
        "After Lambda's retries the event is kept in the dead-letter queue.\n\n"
        f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}#/jobs/gt-demo-1"))
    with pytest.raises(register_model.ClientError, match="Could not access model data"):
        handler(training_event("gt-demo-1"), None)


def test_access_denied_alerts_and_propagates(stubbed: Stubbed) -> None:
    stubbed.sm.add_client_error(
        "describe_hyper_parameter_tuning_job", "AccessDeniedException",
        "not authorized to perform: sagemaker:DescribeHyperParameterTuningJob", http_status_code=400)
    stubbed.expect_alert("RegisterModel was denied access for tuning job gt-demo-1", (
        "RegisterModel stopped without starting anything for tuning job gt-demo-1.\n"
        "Error: ClientError: An error occurred (AccessDeniedException) when calling the "
        "DescribeHyperParameterTuningJob operation: not authorized to perform: "
        "sagemaker:DescribeHyperParameterTuningJob\n\n"
        "AWS refused the call (AccessDenied): the function's role lacks a permission, a bucket or key policy "
        "denies it, or the bucket belongs to another account (ExpectedBucketOwner). Retrying will not help "
        "until the permission is fixed.\n"
        "After Lambda's retries the event is kept in the dead-letter queue.\n\n"
        f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}"
        "#/hyper-tuning-jobs/gt-demo-1"))
    with pytest.raises(register_model.ClientError, match="AccessDeniedException"):
        handler(tuning_event("gt-demo-1"), None)


def test_a_throttled_call_alerts_as_will_retry_and_propagates(stubbed: Stubbed) -> None:
    stubbed.sm.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded",
                                http_status_code=400)
    stubbed.expect_alert("RegisterModel failed for training job gt-demo-1 (will retry)")
    with pytest.raises(register_model.ClientError, match="Rate exceeded") as raised:
        handler(training_event("gt-demo-1"), None)
    assert register_model.is_retryable(raised.value)


def test_missing_model_artifacts_alert_and_propagate(stubbed: Stubbed) -> None:
    described = described_training_job("gt-demo-1", model_data="")
    stubbed.sm.add_response("describe_training_job", described)
    stubbed.expect_alert("RegisterModel failed for training job gt-demo-1", ANY)
    with pytest.raises(ValueError, match=r"has no ModelArtifacts\.S3ModelArtifacts"):
        handler(training_event("gt-demo-1"), None)


def test_a_failed_alert_does_not_hide_the_original_error(stubbed: Stubbed, capsys: pytest.CaptureFixture[str]) -> None:
    stubbed.sm.add_client_error("describe_training_job", "InternalFailure", "boom", http_status_code=500)
    stubbed.topic.add_client_error("publish", "AuthorizationError", "not allowed to publish")
    with pytest.raises(register_model.ClientError, match="InternalFailure"):
        handler(training_event("gt-demo-1"), None)
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [lost] = [r for r in records if r["message"] == "alert_not_published"]
    assert lost["level"] == "CRITICAL"
    assert lost["subject"] == "RegisterModel failed for training job gt-demo-1 (will retry)"
    assert "AuthorizationError" in lost["error"]


class FakeContext:
    function_name = "dev-Workflow-RegisterModel"


def test_unreadable_settings_alert_to_the_topic_named_in_them(
    stubbed: Stubbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_SETTINGS", json.dumps({**SETTINGS, "register_package": "yes"}))
    stubbed.expect_alert("RegisterModel cannot read its settings: nothing was started", (
        "RegisterModel stopped before doing anything: its settings (MODEL_SETTINGS) cannot be read.\n"
        "Reason: MODEL_SETTINGS.register_package = 'yes' is invalid: expected true or false\n\n"
        "What to do: the stack writes MODEL_SETTINGS; fix the config (cdk.json) and redeploy, or correct the "
        "function's environment variable. The event is retried by Lambda and then kept in the dead-letter "
        "queue: redrive it once the settings are fixed.\n\n"
        f"Console: https://{REGION}.console.aws.amazon.com/lambda/home?region={REGION}"
        "#/functions/dev-Workflow-RegisterModel"))
    with pytest.raises(SettingsError, match="register_package"):
        handler(training_event("gt-demo-1"), FakeContext())


def test_unreadable_settings_without_a_topic_are_logged_loudly(
    stubbed: Stubbed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_SETTINGS", json.dumps({**SETTINGS, "topic_arn": "alerts", "role_arn": 5}))
    with pytest.raises(SettingsError):  # nothing published: the stubbers have nothing queued
        handler(training_event("gt-demo-1"), FakeContext())
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["message"]) for r in records] == [
        ("CRITICAL", "settings_unreadable"), ("CRITICAL", "alert_not_published")]


def test_training_job_of_a_tuning_job_is_left_to_the_tuning_job(stubbed: Stubbed) -> None:
    tuning_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/gt-demo-1"
    stubbed.sm.add_response(
        "describe_training_job", described_training_job("gt-demo-1-002-1a2b3c4d", TuningJobArn=tuning_arn)
    )
    result = handler(training_event("gt-demo-1-002-1a2b3c4d"), None)
    assert result["decision"] == "ignored"
    assert "part of tuning job gt-demo-1" in result["reason"]


def test_completed_tuning_job_registers_its_best_training_job(stubbed: Stubbed) -> None:
    best = "gt-demo-1-004-9f8e7d6c"
    stubbed.sm.add_response(
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": "gt-demo-1",
            "HyperParameterTuningJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/gt-demo-1",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            },
            "HyperParameterTuningJobStatus": "Completed",
            "CreationTime": NOW,
            "TrainingJobStatusCounters": {},
            "ObjectiveStatusCounters": {},
            "BestTrainingJob": {
                "TrainingJobName": best,
                "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{best}",
                "CreationTime": NOW,
                "TrainingJobStatus": "Completed",
                "TunedHyperParameters": {"learning_rate": "0.02"},
            },
        },
        expected_params={"HyperParameterTuningJobName": "gt-demo-1"},
    )
    best_data = f"s3://bucket/models/{best}/output/model.tar.gz"
    stubbed.sm.add_response(
        "describe_training_job", described_training_job(best, best_data), expected_params={"TrainingJobName": best}
    )
    stubbed.model_missing(best)
    stubbed.sm.add_response(
        "create_model",
        {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{best}"},
        expected_params={
            "ModelName": best,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": best_data},
            "ExecutionRoleArn": ROLE,
            "Tags": [
                {"Key": "project", "Value": "ground-truth-demo"},
                {"Key": "training-job", "Value": best},
                {"Key": "tuning-job", "Value": "gt-demo-1"},
            ],
        },
    )
    result = handler(tuning_event("gt-demo-1"), None)
    assert result["decision"] == "registered"
    assert result["tuning_job"] == "gt-demo-1"
    assert result["training_job"] == best


def test_failed_training_job_alerts_with_the_reason(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_training_job", described_training_job("gt-demo-1"))  # no TuningJobArn
    stubbed.expect_alert("Training job gt-demo-1 Failed", (
        "Training job gt-demo-1 Failed: ClientError: Got empty batch\n\n"
        f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}#/jobs/gt-demo-1"))
    result = handler(training_event("gt-demo-1", "Failed", FailureReason="ClientError: Got empty batch"), None)
    assert result["decision"] == "alerted"
    assert result["failure_reason"] == "ClientError: Got empty batch"


def test_failed_training_job_reason_comes_from_describe_when_the_event_lacks_it(stubbed: Stubbed) -> None:
    stubbed.sm.add_response(
        "describe_training_job",
        described_training_job("gt-demo-1", TrainingJobStatus="Failed", FailureReason="AlgorithmError: boom"),
    )
    stubbed.expect_alert("Training job gt-demo-1 Failed")
    result = handler(training_event("gt-demo-1", "Failed"), None)
    assert result["failure_reason"] == "AlgorithmError: boom"


def test_stopped_child_of_a_tuning_job_is_not_an_alert(stubbed: Stubbed) -> None:
    tuning_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/gt-demo-1"
    result = handler(
        training_event("gt-demo-1-003-aaaa", "Stopped", TuningJobArn=tuning_arn, FailureReason="early stopping"),
        None,
    )
    assert result["decision"] == "ignored"  # no describe, no publish: the stubbers have nothing queued


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_or_stopped_tuning_job_alerts(stubbed: Stubbed, status: str) -> None:
    stubbed.expect_alert(f"Tuning job gt-demo-1 {status}", (
        f"Tuning job gt-demo-1 {status}: No training job succeeded\n\n"
        f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}#/hyper-tuning-jobs/gt-demo-1"))
    result = handler(tuning_event("gt-demo-1", status, FailureReason="No training job succeeded"), None)
    assert result["decision"] == "alerted"
    assert result["failure_reason"] == "No training job succeeded"


def test_in_progress_and_foreign_jobs_are_ignored(stubbed: Stubbed) -> None:
    assert handler(training_event("gt-demo-1", "InProgress"), None)["decision"] == "ignored"
    assert handler(training_event("someone-else", "Failed"), None)["decision"] == "ignored"


PACKAGE_GROUP = "models"


def package_arn(version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{PACKAGE_GROUP}/{version}"


def search_params(training_job: str) -> dict[str, Any]:
    return {
        "Resource": "ModelPackage",
        "SearchExpression": {"Filters": [
            {"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": PACKAGE_GROUP},
            {"Name": "Tags.training-job", "Operator": "Equals", "Value": training_job},
        ]},
        "MaxResults": 1,
    }


def search_answer(group: list[tuple[int, str]], training_job: str) -> dict[str, Any]:
    """What Search answers for a group of (version, training job) pairs: the matching version, if any."""
    return {"Results": [
        {"ModelPackage": {"ModelPackageGroupName": PACKAGE_GROUP, "ModelPackageArn": package_arn(version),
                          "ModelPackageVersion": version, "Tags": [{"Key": "training-job", "Value": job}]}}
        for version, job in group if job == training_job
    ][:1]}


def expect_registered_model(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_training_job", described_training_job("gt-demo-1"))
    stubbed.sm.add_response(
        "describe_model",
        {"ModelName": "gt-demo-1", "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-1",
         "CreationTime": NOW},
    )


@pytest.fixture
def registering(stubbed: Stubbed, monkeypatch: pytest.MonkeyPatch) -> Stubbed:
    monkeypatch.setenv(
        "MODEL_SETTINGS", json.dumps({**SETTINGS, "register_package": True, "package_group_name": PACKAGE_GROUP})
    )
    return stubbed


def test_model_package_is_created_once(registering: Stubbed) -> None:
    token = model_package_client_token(PACKAGE_GROUP, "gt-demo-1")
    # first delivery: no version for this training job yet -> one Search, one create
    registering.sm.add_response("describe_training_job", described_training_job("gt-demo-1"))
    registering.model_missing("gt-demo-1")
    registering.sm.add_response("create_model", {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-1"})
    registering.sm.add_response("search", search_answer([(2, "gt-demo-0")], "gt-demo-1"),
                                expected_params=search_params("gt-demo-1"))
    registering.sm.add_response("create_model_package", {"ModelPackageArn": package_arn(3)},
                                expected_params={**build_model_package_request(
                                    settings(register_package=True, package_group_name=PACKAGE_GROUP),
                                    training_job_name="gt-demo-1", model_data_url=MODEL_DATA, tuning_job_name=None),
                                    "ClientToken": token})
    first = handler(training_event("gt-demo-1"), None)
    assert first["decision"] == "registered"
    assert first["model_package"] == package_arn(3)

    # second delivery: the model and the version (found by its training-job tag) exist -> nothing created
    expect_registered_model(registering)
    registering.sm.add_response("search", search_answer([(2, "gt-demo-0"), (3, "gt-demo-1")], "gt-demo-1"),
                                expected_params=search_params("gt-demo-1"))
    second = handler(training_event("gt-demo-1"), None)
    assert second["decision"] == "already_registered"
    assert second["model_package"] == package_arn(3)
    assert second["model_package_created"] is False


@pytest.mark.parametrize("group_size", [1, 40, 2500])
def test_a_redelivery_makes_the_same_few_calls_whatever_the_group_size(registering: Stubbed, group_size: int) -> None:
    """O(1): one Search finds this training job's version; no listing or describing every version.
    Stubber fails the test on any call not queued here (and validates each call's parameters)."""
    group = [(version, f"gt-demo-{version + 100}") for version in range(1, group_size)]
    group.insert(group_size // 2, (group_size, "gt-demo-1"))
    expect_registered_model(registering)
    registering.sm.add_response("search", search_answer(group, "gt-demo-1"), expected_params=search_params("gt-demo-1"))

    result = handler(training_event("gt-demo-1"), None)

    assert result["decision"] == "already_registered"
    assert result["model_package"] == package_arn(group_size)
    # describe_training_job, describe_model, search: three SageMaker calls for 1 or 2,500 versions.


def test_a_redelivery_the_search_index_has_not_caught_up_with_reuses_the_client_token(registering: Stubbed) -> None:
    """Search may lag the create it follows; the same ClientToken makes SageMaker return the first version."""
    token = model_package_client_token(PACKAGE_GROUP, "gt-demo-1")
    for _ in range(2):
        expect_registered_model(registering)
        registering.sm.add_response("search", {"Results": []}, expected_params=search_params("gt-demo-1"))
        registering.sm.add_response("create_model_package", {"ModelPackageArn": package_arn(7)},
                                    expected_params={**build_model_package_request(
                                        settings(register_package=True, package_group_name=PACKAGE_GROUP),
                                        training_job_name="gt-demo-1", model_data_url=MODEL_DATA,
                                        tuning_job_name=None), "ClientToken": token})
    results = [handler(training_event("gt-demo-1"), None) for _ in range(2)]
    assert {r["model_package"] for r in results} == {package_arn(7)}


# --- against the emulator ------------------------------------------------------------------------


@pytest.fixture
def emulated(_no_real_aws: None, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setattr(aws_clients, "_clients", {})
    suffix = uuid.uuid4().hex[:12]
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"alerts-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    group = f"models-{suffix}"
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    monkeypatch.setenv("MODEL_SETTINGS", json.dumps({**SETTINGS, "topic_arn": topic}))
    return {"sagemaker": sagemaker, "sqs": sqs, "queue": queue, "topic": topic, "group": group, "suffix": suffix}


def start_emulated_training_job(sagemaker: Any, name: str) -> dict[str, Any]:
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "Pipe"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://sagemaker-test/models/"},
        ResourceConfig={"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    return sagemaker.describe_training_job(TrainingJobName=name)  # moto: Completed at once


def test_emulator_model_is_created_once(emulated: dict[str, Any]) -> None:
    sagemaker = emulated["sagemaker"]
    name = f"gt-demo-{emulated['suffix']}"
    job = start_emulated_training_job(sagemaker, name)

    first = handler(training_event(name), None)
    model = sagemaker.describe_model(ModelName=name)
    second = handler(training_event(name), None)

    assert first["decision"] == "registered"
    assert second["decision"] == "already_registered"
    assert model["PrimaryContainer"] == {"Image": IMAGE, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]}
    assert model["ExecutionRoleArn"] == ROLE
    assert sagemaker.describe_model(ModelName=name)["CreationTime"] == model["CreationTime"]  # not replaced
    tags = sagemaker.list_tags(ResourceArn=model["ModelArn"])["Tags"]
    assert {"Key": "training-job", "Value": name} in tags


def test_emulator_silently_replaces_a_duplicate_model(emulated: dict[str, Any]) -> None:
    """Why register_model looks before it creates: moto answers a duplicate CreateModel with
    200 and replaces the model, where SageMaker answers ValidationException "Cannot create
    already existing model"."""
    sagemaker = emulated["sagemaker"]
    name = f"gt-demo-dup-{emulated['suffix']}"
    sagemaker.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/1.tar.gz"},
                           ExecutionRoleArn=ROLE)
    sagemaker.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://b/2.tar.gz"},
                           ExecutionRoleArn=ROLE)
    assert sagemaker.describe_model(ModelName=name)["PrimaryContainer"]["ModelDataUrl"] == "s3://b/2.tar.gz"


def test_emulator_model_package_is_registered_once(emulated: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    sagemaker = emulated["sagemaker"]
    monkeypatch.setenv(
        "MODEL_SETTINGS",
        json.dumps(
            {**SETTINGS, "topic_arn": emulated["topic"], "register_package": True,
             "package_group_name": emulated["group"]}
        ),
    )
    name = f"gt-demo-pkg-{emulated['suffix']}"
    job = start_emulated_training_job(sagemaker, name)

    results = [handler(training_event(name), None) for _ in range(3)]

    assert [r["decision"] for r in results] == ["registered", "already_registered", "already_registered"]
    packages = sagemaker.list_model_packages(ModelPackageGroupName=emulated["group"])["ModelPackageSummaryList"]
    assert len(packages) == 1
    assert {r["model_package"] for r in results} == {packages[0]["ModelPackageArn"]}
    package = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == job["ModelArtifacts"][
        "S3ModelArtifacts"
    ]


def test_emulator_failed_training_job_alert_reaches_the_topic(emulated: dict[str, Any]) -> None:
    name = f"gt-demo-failed-{emulated['suffix']}"
    event = training_event(name, "Failed", FailureReason="ClientError: Record IO header does not start with magic")
    # the event lacks TuningJobArn, so the handler describes the job; moto has none by this name
    result = handler(event, None)
    assert result["decision"] == "alerted"
    messages = emulated["sqs"].receive_message(QueueUrl=emulated["queue"], WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert body["Subject"] == f"Training job {name} Failed"
    assert "Record IO header" in body["Message"]
    assert body["Message"].endswith(f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}"
                                    f"#/jobs/{name}")
