"""RegisterModel starting a model's evaluation (lambdas/evaluation_job.py): the CreateTransformJob request
against botocore's model, the flow with every call stubbed, and against the emulator."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from demo.emulator import Emulator
from lambdas import aws_clients, evaluation_job, register_model, task_types
from lambdas.evaluation import TrainingMetric
from lambdas.register_model import handler
from lambdas.settings import EvaluationStart, ModelSettings
from tests.lambdas.test_register_model import (
    ACCOUNT,
    IMAGE,
    NOW,
    REGION,
    ROLE,
    SETTINGS,
    TOPIC,
    described_training_job,
    training_event,
)
from tests.lambdas.training_shape_check import shape_problems

TASK = task_types.IMAGE_CLASSIFICATION
BUCKET = "sagemaker-us-east-1-123456789012"
PREFIX = "ground-truth-demo"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EVALUATION = {"bucket": BUCKET, "prefix": PREFIX, "instance_type": "ml.m5.large", "kms_key_arn": None}
VALIDATION = f"s3://{BUCKET}/{PREFIX}/training/gt-demo-1/validation.manifest"
LINES = [
    {"source-ref": f"s3://{BUCKET}/{PREFIX}/images/Car/3.png", "vehicle-type": 1},
    {"source-ref": f"s3://{BUCKET}/{PREFIX}/images/Airplane/0.png", "vehicle-type": 0},
    {"source-ref": f"s3://{BUCKET}/{PREFIX}/images/Car/3.png", "vehicle-type": 1},  # listed twice: read once
]
TAGS = [{"Key": "project", "Value": "ground-truth-demo"}, {"Key": "training-job", "Value": "gt-demo-1"}]


def start_settings(**changes: Any) -> EvaluationStart:
    data = {**EVALUATION, **changes}
    return ModelSettings.from_json(json.dumps({**SETTINGS, "evaluation": data})).evaluation  # type: ignore[return-value]


def channel(name: str, uri: str) -> dict[str, Any]:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "AugmentedManifestFile", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated",
        "AttributeNames": ["source-ref", "vehicle-type"]}}}


def training(name: str = "gt-demo-1", **extra: Any) -> dict[str, Any]:
    return described_training_job(name, **{
        "InputDataConfig": [channel("train", VALIDATION.replace("validation", "train")),
                            channel("validation", VALIDATION)],
        "FinalMetricDataList": [{"MetricName": "train:accuracy", "Value": 0.99, "Timestamp": NOW},
                                {"MetricName": "validation:accuracy", "Value": 0.75, "Timestamp": NOW}],
        **extra,
    })


def manifest_body() -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in LINES)


# --- names and requests (pure) -------------------------------------------------------------------


def test_the_transform_job_is_named_like_the_model_and_keeps_the_prefix() -> None:
    for training_job in ("gt-demo-1", "gt-demo-" + "x" * 24 + "-007-3f2a9c1b", "gt-demo-" + "y" * 60):
        name = evaluation_job.transform_job_name(training_job)
        assert name == register_model.model_name(training_job)
        assert name.startswith("gt-demo-")
        problems = shape_problems("CreateTransformJob", {"TransformJobName": name})
        assert [problem for problem in problems if "TransformJobName" in problem] == []
    assert len(evaluation_job.transform_job_name("gt-demo-" + "y" * 60)) == 63


def test_the_payload_fits_the_largest_labeled_image_within_the_100_mb_product() -> None:
    # Ground Truth labels images up to 40,000,000 bytes (the descriptor): 40 MB per request, and
    # MaxConcurrentTransforms x MaxPayloadInMB <= 100 leaves room for 100 // 40 = 2 requests at a time.
    assert TASK.ground_truth.max_object_bytes == 40_000_000
    assert evaluation_job.payload_limits(TASK) == (40, 2)


def test_the_request_against_botocores_model() -> None:
    request = evaluation_job.build_transform_request(start_settings(), task=TASK, job="gt-demo-1",
                                                     model_name="gt-demo-1", tags=TAGS)
    folder = f"s3://{BUCKET}/{PREFIX}/evaluation/gt-demo-1"
    assert request == {
        "TransformJobName": "gt-demo-1",
        "ModelName": "gt-demo-1",
        "MaxConcurrentTransforms": 2,
        "MaxPayloadInMB": 40,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                            "S3Uri": f"{folder}/transform-input.manifest"}},
            "ContentType": "application/x-image",
            "CompressionType": "None",
            "SplitType": "None",
        },
        "TransformOutput": {"S3OutputPath": f"{folder}/predictions/", "Accept": "application/jsonlines",
                            "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "Tags": TAGS,
    }
    assert shape_problems("CreateTransformJob", request) == []
    assert request["TransformInput"]["ContentType"] in TASK.algorithm.inference_content_types
    client = boto3.client("sagemaker", region_name=REGION)
    with Stubber(client) as stubber:  # botocore's own validation of the request
        stubber.add_response("create_transform_job", {"TransformJobArn": "arn"}, expected_params=request)
        client.create_transform_job(**request)


def test_a_kms_bucket_encrypts_the_outputs_with_its_key() -> None:
    request = evaluation_job.build_transform_request(start_settings(kms_key_arn=KEY), task=TASK, job="gt-demo-1",
                                                     model_name="gt-demo-1", tags=TAGS)
    assert request["TransformOutput"]["KmsKeyId"] == KEY
    assert shape_problems("CreateTransformJob", request) == []


def test_the_validation_channel_is_found_and_must_be_ours() -> None:
    assert evaluation_job.validation_manifest_uri(training(), TASK, bucket=BUCKET, prefix=PREFIX) == VALIDATION
    foreign = training(InputDataConfig=[channel("validation", "s3://other-bucket/x/validation.manifest")])
    with pytest.raises(ValueError, match="not a split of ours"):
        evaluation_job.validation_manifest_uri(foreign, TASK, bucket=BUCKET, prefix=PREFIX)
    outside = training(InputDataConfig=[channel("validation", f"s3://{BUCKET}/elsewhere/validation.manifest")])
    with pytest.raises(ValueError, match="not a split of ours"):
        evaluation_job.validation_manifest_uri(outside, TASK, bucket=BUCKET, prefix=PREFIX)
    with pytest.raises(ValueError, match="has no 'validation' channel"):
        evaluation_job.validation_manifest_uri(training(InputDataConfig=[]), TASK, bucket=BUCKET, prefix=PREFIX)


def test_inputs_name_the_split_its_label_map_summary_and_the_training_metric() -> None:
    inputs = evaluation_job.inputs_document(job="gt-demo-1", model_name="gt-demo-1", training_job="gt-demo-1",
                                            tuning_job=None, validation_manifest=VALIDATION,
                                            training_metric=TrainingMetric("validation:accuracy", 0.75))
    assert inputs["label_map"] == f"s3://{BUCKET}/{PREFIX}/training/gt-demo-1/label-map.json"
    assert inputs["summary"] == f"s3://{BUCKET}/{PREFIX}/training/gt-demo-1/summary.json"
    assert inputs["training_metric"] == {"name": "validation:accuracy", "value": 0.75}
    # The validation accuracy, not the first metric the job emitted (train:accuracy 0.99).
    assert evaluation_job.training_metric_of(training(), TASK) == TrainingMetric("validation:accuracy", 0.75)
    assert evaluation_job.training_metric_of(described_training_job("gt-demo-1"), TASK) is None


def test_source_refs_say_which_line_is_bad() -> None:
    assert evaluation_job.source_refs([b'{"source-ref": "s3://b/k"}', b"", b" "]) == ["s3://b/k"]
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        evaluation_job.source_refs([b'{"source-ref": "s3://b/k"}', b"{"])
    with pytest.raises(ValueError, match="line 1 has no source-ref"):
        evaluation_job.source_refs([b'{"vehicle-type": 1}'])


# --- RegisterModel with every call stubbed --------------------------------------------------------


class Stubbed:
    def __init__(self) -> None:
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sm, self.storage, self.topic = Stubber(self.sagemaker), Stubber(self.s3), Stubber(self.sns)

    def model_created(self, name: str = "gt-demo-1") -> None:
        self.sm.add_response("describe_training_job", training(name), expected_params={"TrainingJobName": name})
        self.sm.add_client_error("describe_model", "ValidationException", f'Could not find model "{name}".')
        self.sm.add_response("create_model", {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{name}"})

    def transform_missing(self, name: str = "gt-demo-1") -> None:
        self.sm.add_client_error("describe_transform_job", "ValidationException",
                                 f"Could not find job to update with name {name}",
                                 expected_params={"TransformJobName": name})


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubbed]:
    monkeypatch.setenv("MODEL_SETTINGS", json.dumps({**SETTINGS, "evaluation": EVALUATION, "register_package": True,
                                                     "package_group_name": "models"}))
    aws = Stubbed()
    monkeypatch.setattr(aws_clients, "_clients", {("sagemaker", REGION): aws.sagemaker, ("s3", REGION): aws.s3,
                                                  ("sns", REGION): aws.sns})
    with aws.sm, aws.storage, aws.topic:
        yield aws
        for stubber in (aws.sm, aws.storage, aws.topic):
            stubber.assert_no_pending_responses()


def streaming(body: bytes) -> Any:
    import io

    from botocore.response import StreamingBody

    return StreamingBody(io.BytesIO(body), len(body))


def test_a_new_model_is_evaluated_and_its_package_waits_for_the_evaluation(stubbed: Stubbed) -> None:
    stubbed.model_created()
    stubbed.transform_missing()
    folder = f"{PREFIX}/evaluation/gt-demo-1"
    stubbed.storage.add_response("get_object", {"Body": streaming(manifest_body())}, expected_params={
        "Bucket": BUCKET, "Key": f"{PREFIX}/training/gt-demo-1/validation.manifest", "ExpectedBucketOwner": ACCOUNT})
    # The ManifestFile: the bucket root as the prefix, each image once, in the split's order.
    stubbed.storage.add_response("put_object", {}, expected_params={
        "Bucket": BUCKET, "Key": f"{folder}/transform-input.manifest", "ContentType": "application/json",
        "ExpectedBucketOwner": ACCOUNT,
        "Body": json.dumps([{"prefix": f"s3://{BUCKET}/"}, f"{PREFIX}/images/Car/3.png",
                            f"{PREFIX}/images/Airplane/0.png"]).encode()})
    written: dict[str, Any] = {}
    stubbed.storage.add_response("put_object", {}, expected_params={
        "Bucket": BUCKET, "Key": f"{folder}/inputs.json", "ContentType": "application/json",
        "ExpectedBucketOwner": ACCOUNT, "Body": ANY})
    stubbed.sm.add_response("create_transform_job", {"TransformJobArn": "arn"}, expected_params={
        **evaluation_job.build_transform_request(start_settings(), task=TASK, job="gt-demo-1", model_name="gt-demo-1",
                                                 tags=TAGS)})
    original = stubbed.s3.put_object

    def capture(**params: Any) -> Any:
        written[params["Key"]] = params["Body"]
        return original(**params)

    stubbed.s3.put_object = capture  # type: ignore[method-assign]
    result = handler(training_event("gt-demo-1"), None)

    assert result["decision"] == "registered"
    assert result["evaluation_started"] is True
    assert result["transform_job"] == "gt-demo-1"
    assert result["evaluation"] == f"s3://{BUCKET}/{folder}"
    assert result["images"] == 2
    assert "model_package" not in result  # the Evaluation function registers it (no create_model_package queued)
    inputs = json.loads(written[f"{folder}/inputs.json"])
    assert inputs["training_job"] == inputs["model"] == "gt-demo-1"
    assert inputs["validation_manifest"] == VALIDATION
    assert inputs["training_metric"] == {"name": "validation:accuracy", "value": 0.75}
    assert "evaluation gt-demo-1 started" in result["reason"]


def test_a_redelivered_event_finds_the_evaluation_and_writes_nothing(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_training_job", training())
    stubbed.sm.add_response("describe_model", {"ModelName": "gt-demo-1", "CreationTime": NOW,
                                               "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-1"})
    stubbed.sm.add_response("describe_transform_job", {
        "TransformJobName": "gt-demo-1", "TransformJobArn": "arn", "TransformJobStatus": "InProgress",
        "ModelName": "gt-demo-1", "CreationTime": NOW,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}},
        expected_params={"TransformJobName": "gt-demo-1"})
    result = handler(training_event("gt-demo-1"), None)  # no S3 call, no create: nothing else is queued
    assert result["decision"] == "already_registered"
    assert result["evaluation_started"] is False


def test_a_concurrent_delivery_that_started_it_first_counts_as_started(stubbed: Stubbed) -> None:
    stubbed.model_created()
    stubbed.transform_missing()
    stubbed.storage.add_response("get_object", {"Body": streaming(manifest_body())})
    stubbed.storage.add_response("put_object", {})
    stubbed.storage.add_response("put_object", {})
    stubbed.sm.add_client_error("create_transform_job", "ValidationException",
                                "Job name must be unique within an AWS account and region, and a job with this name "
                                "already exists (arn:aws:sagemaker:us-east-1:123456789012:transform-job/gt-demo-1)")
    result = handler(training_event("gt-demo-1"), None)
    assert result["decision"] == "registered"  # the model was created by this delivery
    assert result["evaluation_started"] is False


def test_an_empty_validation_split_alerts_and_propagates(stubbed: Stubbed) -> None:
    stubbed.model_created()
    stubbed.transform_missing()
    stubbed.storage.add_response("get_object", {"Body": streaming(b"\n")})
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "RegisterModel failed for training job gt-demo-1", "Message": ANY})
    with pytest.raises(ValueError, match=re.escape(f"the validation split {VALIDATION} has no objects")):
        handler(training_event("gt-demo-1"), None)


def test_a_denied_read_of_the_split_alerts_as_access_denied(stubbed: Stubbed) -> None:
    stubbed.model_created()
    stubbed.transform_missing()
    stubbed.storage.add_client_error("get_object", "AccessDenied", "Access Denied", http_status_code=403)
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "RegisterModel was denied access for training job gt-demo-1", "Message": ANY})
    with pytest.raises(register_model.ClientError, match="AccessDenied"):
        handler(training_event("gt-demo-1"), None)


# --- against the emulator ---------------------------------------------------------------------------


@pytest.fixture
def emulated(_no_real_aws: None, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setattr(aws_clients, "_clients", {})
    suffix = uuid.uuid4().hex[:10]
    bucket = f"evaluation-start-{suffix}"
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    evaluation = {**EVALUATION, "bucket": bucket}
    monkeypatch.setenv("MODEL_SETTINGS", json.dumps({**SETTINGS, "evaluation": evaluation}))
    return {"s3": s3, "sagemaker": boto3.client("sagemaker", region_name=REGION), "bucket": bucket,
            "suffix": suffix}


def test_emulator_the_transform_job_is_started_once(emulated: dict[str, Any]) -> None:
    s3, sagemaker, bucket = emulated["s3"], emulated["sagemaker"], emulated["bucket"]
    name = f"gt-demo-eval-{emulated['suffix']}"
    split = f"s3://{bucket}/{PREFIX}/training/{name}/validation.manifest"
    s3.put_object(Bucket=bucket, Key=split.split(f"{bucket}/", 1)[1],
                  Body=manifest_body().replace(BUCKET.encode(), bucket.encode()))
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "Pipe"},
        InputDataConfig=[channel("train", split.replace("validation", "train")), channel("validation", split)],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/{PREFIX}/models/"},
        ResourceConfig={"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )

    first = handler(training_event(name), None)
    manifest = s3.get_object(Bucket=bucket, Key=f"{PREFIX}/evaluation/{name}/transform-input.manifest")
    second = handler(training_event(name), None)

    assert (first["evaluation_started"], second["evaluation_started"]) == (True, False)
    job = sagemaker.describe_transform_job(TransformJobName=name)
    assert job["ModelName"] == name
    assert job["TransformOutput"]["S3OutputPath"] == f"s3://{bucket}/{PREFIX}/evaluation/{name}/predictions/"
    assert json.loads(manifest["Body"].read()) == [{"prefix": f"s3://{bucket}/"}, f"{PREFIX}/images/Car/3.png",
                                                   f"{PREFIX}/images/Airplane/0.png"]
