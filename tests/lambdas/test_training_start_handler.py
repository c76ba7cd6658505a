"""The start_training Lambda handler, end to end against the moto server (real HTTP on loopback).

Moto implements S3, SNS, SQS and CreateTrainingJob/CreateHyperParameterTuningJob, but not
DescribeLabelingJob. Only that one call is stubbed: `SageMakerWithLabelingJobs` delegates every
other call to the moto-backed client and answers DescribeLabelingJob through a `Stubber`ed real
client, so the request and the canned response are both validated against botocore's model.
"""

from __future__ import annotations

import datetime
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from demo.emulator import Emulator
from lambdas import aws_clients, start_training
from lambdas.manifests import MAX_LINE_BYTES, OVERLONG_LINE, DataLocation, split_manifest
from lambdas.start_training import handler, parse_event, parse_s3_uri, read_lines

REGION = "us-east-1"
ACCOUNT = "123456789012"
CATEGORIES = ["Airplane", "Automobile", "Bird", "Cat"]
DETAIL_TYPE = "SageMaker Ground Truth Labeling Job State Change"
PREFIX = "ground-truth-demo"
# Manifests name their images under this stand-in; `Aws.labeling_job` puts the test's bucket there.
DATA = "s3://test-data-bucket/ground-truth-demo"


def labeling_event(name: str, status: str = "Completed") -> dict[str, Any]:
    """The EventBridge event as SageMaker sends it: the job name only in `resources`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2024-01-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}"],
        "detail": {"LabelingJobStatus": status},
    }


def manifest_lines(attribute: str, counts: dict[int, int], *, failed: int = 0, junk: bool = False) -> list[bytes]:
    lines: list[bytes] = []
    n = 0
    for index, count in counts.items():
        for _ in range(count):
            n += 1
            lines.append(
                json.dumps(
                    {
                        "source-ref": f"{DATA}/images/img-{n:05d}.jpg",
                        attribute: index if n % 3 else str(index),
                        f"{attribute}-metadata": {
                            "class-name": CATEGORIES[index],
                            "confidence": 0.9,
                            "type": "groundtruth/image-classification",
                            "job-name": f"labeling-job/{attribute}",
                            "human-annotated": "yes",
                            "creation-date": "2024-01-01T00:00:00.000000",
                        },
                    }
                ).encode()
            )
    for k in range(failed):
        lines.append(
            json.dumps(
                {
                    "source-ref": f"{DATA}/images/failed-{k}.jpg",
                    f"{attribute}-metadata": {"failure-reason": "ClientError: timed out", "job-name": "x"},
                }
            ).encode()
        )
    if junk:
        lines += [b"", b"{not json", json.dumps({"source-ref": "s3://x.jpg", attribute: 9}).encode()]
    return lines


def describe_response(name: str, bucket: str, *, categories: bool = True) -> dict[str, Any]:
    response: dict[str, Any] = {
        "LabelingJobStatus": "Completed",
        "LabelCounters": {"TotalLabeled": 10, "HumanLabeled": 10, "MachineLabeled": 0, "Unlabeled": 0},
        "CreationTime": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        "LastModifiedTime": datetime.datetime(2024, 1, 1, 1, tzinfo=datetime.UTC),
        "JobReferenceCode": "ref",
        "LabelingJobName": name,
        "LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}",
        "LabelAttributeName": name,
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/input.manifest"}}},
        "OutputConfig": {"S3OutputPath": f"s3://{bucket}/output/"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/Exec",
        "HumanTaskConfig": {
            "WorkteamArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/team",
            "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/template.liquid"},
            "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-ImageMultiClass",
            "TaskTitle": "Classify",
            "TaskDescription": "Pick one",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 300,
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:ACS-ImageMultiClass"
            },
        },
        "LabelingJobOutput": {"OutputDatasetS3Uri": f"s3://{bucket}/output/{name}/manifests/output/output.manifest"},
    }
    if categories:
        response["LabelCategoryConfigS3Uri"] = f"s3://{bucket}/categories/{name}.json"
    return response


class SageMakerWithLabelingJobs:
    """The moto-backed SageMaker client plus DescribeLabelingJob answered via Stubber."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._stubbed = boto3.client("sagemaker", region_name=REGION)
        self._stubber = Stubber(self._stubbed)
        self._stubber.activate()
        self.descriptions: dict[str, dict[str, Any]] = {}
        self.describe_calls: list[str] = []

    def describe_labeling_job(self, **kwargs: Any) -> dict[str, Any]:
        name = kwargs.get("LabelingJobName", "")
        self.describe_calls.append(name)
        if name in self.descriptions:
            self._stubber.add_response("describe_labeling_job", self.descriptions[name], expected_params=kwargs)
        else:
            self._stubber.add_client_error(
                "describe_labeling_job", "ResourceNotFound", f"Could not find labeling job {name}"
            )
        return self._stubbed.describe_labeling_job(**kwargs)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._real, attribute)


@dataclass
class Aws:
    bucket: str
    topic_arn: str
    queue_url: str
    settings: dict[str, Any]
    sagemaker: SageMakerWithLabelingJobs
    s3: Any = field(default_factory=lambda: boto3.client("s3", region_name=REGION))
    sqs: Any = field(default_factory=lambda: boto3.client("sqs", region_name=REGION))

    def labeling_job(
        self, make_lines: Callable[[str], list[bytes]], *, newline: bytes = b"\n"
    ) -> tuple[str, list[bytes]]:
        """A completed labeling job (unique name) whose output manifest is `make_lines(name)`
        (the label attribute is the job name, as the console names it; `DATA` is this test's
        data location)."""
        name = f"gt-demo-{uuid.uuid4().hex[:12]}"
        lines = [raw.replace(DATA.encode(), f"s3://{self.bucket}/{PREFIX}".encode()) for raw in make_lines(name)]
        description = describe_response(name, self.bucket)
        self.sagemaker.descriptions[name] = description
        bucket, key = parse_s3_uri(description["LabelingJobOutput"]["OutputDatasetS3Uri"])
        self.s3.put_object(Bucket=bucket, Key=key, Body=b"".join(raw + newline for raw in lines))
        document = {"document-version": "2018-11-28", "labels": [{"label": label} for label in CATEGORIES]}
        bucket, key = parse_s3_uri(description["LabelCategoryConfigS3Uri"])
        self.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
        return name, lines

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def alerts(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(message["Body"]) for message in messages.get("Messages", [])]

    def use_settings(self, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
        self.settings.update(changes)
        monkeypatch.setenv("TRAINING_SETTINGS", json.dumps(self.settings))


def training_settings(bucket: str, topic_arn: str) -> dict[str, Any]:
    return {
        "region": REGION,
        "account": ACCOUNT,
        "bucket": bucket,
        "prefix": "ground-truth-demo",
        "job_prefix": "gt-demo",
        "task_type": "image-classification",
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/Exec",
        "image_uri": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
        "instance_type": "ml.p3.2xlarge",
        "instance_count": 1,
        "volume_gb": 50,
        "max_runtime_seconds": 3600,
        "spot": True,
        "max_wait_seconds": 7200,
        "validation_fraction": 0.2,
        "min_labeled_objects": 10,
        "hyperparameters": {"image_shape": "3,224,224", "resize": "256", "num_layers": "18", "epochs": "10",
                            "learning_rate": "0.01"},
        "tuning": {
            "enabled": False,
            "max_jobs": 4,
            "max_parallel_jobs": 2,
            "early_stopping": "Auto",
            "ranges": {"learning_rate": {"type": "continuous", "min": 0.0001, "max": 0.1, "scaling": "Logarithmic"}},
        },
        "topic_arn": topic_arn,
        "tags": {"project": "ground-truth-demo"},
    }


@pytest.fixture
def aws(_no_real_aws: None, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setattr(aws_clients, "_clients", {})
    suffix = uuid.uuid4().hex[:12]
    bucket = f"sagemaker-test-{suffix}"  # the moto server lives for the whole session
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=bucket)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"alerts-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    sagemaker = SageMakerWithLabelingJobs(boto3.client("sagemaker", region_name=REGION))
    aws_clients.use("sagemaker", REGION, sagemaker)
    state = Aws(bucket, topic_arn, queue_url, training_settings(bucket, topic_arn), sagemaker)
    state.use_settings(monkeypatch)
    yield state


def training_prefix(name: str) -> str:
    return f"ground-truth-demo/training/{name}"


# --- full flow against the emulator ----------------------------------------------------------


def test_completed_labeling_job_starts_training(aws: Aws) -> None:
    name, lines = aws.labeling_job(lambda name: manifest_lines(name, {0: 20, 1: 15, 2: 6}, failed=3, junk=True))

    result = handler(labeling_event(name), None)

    assert result["decision"] == "started"
    assert result["training_job"] == name
    assert result["counts"]["input_lines"] == 41 + 3 + 3
    assert result["counts"]["kept"] == 41
    assert result["counts"]["train"] + result["counts"]["validation"] == 41
    assert result["counts"]["dropped_by_reason"]["failed"] == 3

    # the manifests are the lines split exactly as the pure function splits them
    expected = split_manifest(lines, label_attribute=name, categories=CATEGORIES, labeling_job_name=name,
                              location=DataLocation(aws.bucket, PREFIX))
    assert aws.read(f"{training_prefix(name)}/train.manifest").splitlines() == expected.train
    assert aws.read(f"{training_prefix(name)}/validation.manifest").splitlines() == expected.validation
    summary = json.loads(aws.read(f"{training_prefix(name)}/summary.json"))
    assert summary["decision"] == "started"
    assert summary["totals"] == expected.summary["totals"]
    assert [c["validation"] for c in summary["classes"]] == [4, 3, 1, 0]
    # every label the algorithm reads is an int class id (the manifest had "0" strings too)
    written = expected.train + expected.validation
    assert all(type(json.loads(raw)[name]) is int for raw in written)
    assert any(f'"{name}": "'.encode() in raw for raw in lines)
    # and the ids can be turned back into names at inference time
    assert json.loads(aws.read(f"{training_prefix(name)}/label-map.json")) == {
        "labels": CATEGORIES, "label_attribute": name, "labeling_job": name}
    assert summary["labels"] == CATEGORIES

    job = aws.sagemaker.describe_training_job(TrainingJobName=name)
    channels = {channel["ChannelName"]: channel for channel in job["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    for channel_name, channel in channels.items():
        source = channel["DataSource"]["S3DataSource"]
        assert source["S3DataType"] == "AugmentedManifestFile"
        assert source["S3Uri"] == f"s3://{aws.bucket}/{training_prefix(name)}/{channel_name}.manifest"
        assert source["AttributeNames"] == ["source-ref", name]
        assert source["S3DataDistributionType"] == "FullyReplicated"
        assert channel["ContentType"] == "application/x-recordio"
        assert channel["RecordWrapperType"] == "RecordIO"
        assert channel["InputMode"] == "Pipe"
    assert job["HyperParameters"]["num_classes"] == "4"  # categories, not classes present
    assert job["HyperParameters"]["num_training_samples"] == str(len(expected.train))
    assert job["HyperParameters"]["learning_rate"] == "0.01"
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert job["CheckpointConfig"]["S3Uri"] == f"s3://{aws.bucket}/ground-truth-demo/checkpoints/{name}/"
    tags = aws.sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    assert {"Key": "labeling-job", "Value": name} in tags
    assert aws.alerts() == []


def test_duplicate_deliveries_start_exactly_one_training_job(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    event = labeling_event(name)

    results = [handler(event, None) for _ in range(3)]

    assert [r["decision"] for r in results] == ["started", "already_started", "already_started"]
    assert all(r["training_job"] == name for r in results)
    jobs = aws.sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"]
    assert [job["TrainingJobName"] for job in jobs] == [name]
    # The redeliveries stopped at the existence check: they neither re-read the labeling job
    # nor re-created the job (the emulator would silently replace it: see test below).
    assert aws.sagemaker.describe_calls == [name]


def test_emulator_silently_replaces_a_duplicate_training_job(aws: Aws) -> None:
    """Why the handler looks before it creates: moto answers 200 to a duplicate name and
    overwrites the job, where SageMaker answers ResourceInUse. If moto starts refusing, this
    test fails and the check-first could be revisited."""
    name = f"gt-demo-{uuid.uuid4().hex[:12]}"
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "image", "TrainingInputMode": "Pipe"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/Exec",
        "OutputDataConfig": {"S3OutputPath": f"s3://{aws.bucket}/models/"},
        "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {"epochs": "1"},
    }
    aws.sagemaker.create_training_job(**request)
    request["HyperParameters"] = {"epochs": "2"}
    aws.sagemaker.create_training_job(**request)  # no error
    job = aws.sagemaker.describe_training_job(TrainingJobName=name)
    assert job["HyperParameters"] == {"epochs": "2"}
    assert job["TrainingJobStatus"] == "Completed"  # moto completes jobs at once


def test_tuning_enabled_starts_one_tuning_job(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.use_settings(monkeypatch, tuning={**aws.settings["tuning"], "enabled": True})
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 3: 10}))

    first = handler(labeling_event(name), None)
    second = handler(labeling_event(name), None)

    assert first["decision"] == "started"
    assert first["tuning_job"] == name  # 20 characters: fits the 32 limit unchanged
    assert "training_job" not in first
    assert second["decision"] == "already_started"
    tuning = aws.sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    config = tuning["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:accuracy"}
    static = tuning["TrainingJobDefinition"]["StaticHyperParameters"]
    assert "learning_rate" not in static
    assert static["num_training_samples"] == "16"
    assert aws.sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []


def test_too_few_labeled_objects_alert_and_start_nothing(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 3, 1: 2}, failed=6))

    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped"
    assert result["training_job"] is None
    assert "only 5 of 11 manifest lines" in result["reason"]
    assert aws.sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []
    alerts = aws.alerts()
    assert len(alerts) == 1
    assert alerts[0]["Subject"] == f"Training not started for labeling job {name}"
    assert "min_labeled_objects is 10" in alerts[0]["Message"]
    assert "failed 6" in alerts[0]["Message"]
    assert alerts[0]["Message"].endswith(  # the labeling job the alert is about
        f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/groundtruth?region={REGION}"
        f"#/labeling-jobs/details/{name}")
    summary = json.loads(aws.read(f"{training_prefix(name)}/summary.json"))
    assert summary["decision"] == "skipped"
    assert summary["reason"] == result["reason"]


def test_a_single_class_alerts_and_starts_nothing(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {2: 30}))

    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped"
    assert "cover 1 class(es) (Bird)" in result["reason"]
    assert aws.sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []
    assert len(aws.alerts()) == 1


def test_crlf_manifest_read_in_small_chunks(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_training, "READ_CHUNK_BYTES", 1)  # every boundary, incl. \r|\n
    name, lines = aws.labeling_job(lambda name: manifest_lines(name, {0: 8, 1: 8}), newline=b"\r\n")

    result = handler(labeling_event(name), None)

    assert result["counts"]["input_lines"] == 16
    assert result["counts"]["dropped_by_reason"]["blank"] == 0
    written = aws.read(f"{training_prefix(name)}/train.manifest") + aws.read(
        f"{training_prefix(name)}/validation.manifest"
    )
    expected = split_manifest(lines, label_attribute=name, categories=CATEGORIES, labeling_job_name=name,
                              location=DataLocation(aws.bucket, PREFIX))
    assert result["counts"]["kept"] == 16
    assert sorted(written.splitlines()) == sorted(expected.train + expected.validation)  # no line cut
    assert b"\r" not in written


def test_images_outside_the_data_prefix_and_overlong_lines_are_dropped(aws: Aws) -> None:
    def make(name: str) -> list[bytes]:
        good = manifest_lines(name, {0: 10, 1: 10})
        record = json.loads(good[0])
        outside = [
            json.dumps({**record, "source-ref": source}).encode()
            for source in (
                "s3://someone-elses-bucket/ground-truth-demo/images/a.jpg",
                f"{DATA}-old/a.jpg",  # a sibling of the prefix, not inside it
                f"{DATA}/../other-project/a.jpg",
                f"{DATA}/%2e%2e/other-project/a.jpg",
                "images/a.jpg",
            )
        ]
        huge = json.dumps({**record, "padding": "x" * (3 * MAX_LINE_BYTES)}).encode()  # valid JSON
        return [*good, *outside, huge]

    name, _ = aws.labeling_job(make)

    result = handler(labeling_event(name), None)

    assert result["decision"] == "started"
    assert result["counts"]["kept"] == 20
    dropped = result["counts"]["dropped_by_reason"]
    assert (dropped["source_ref_other_bucket"], dropped["source_ref_outside_prefix"], dropped["source_ref_unsafe_path"],
            dropped["source_ref_not_s3"], dropped["line_too_long"]) == (1, 1, 2, 1, 1)
    summary = json.loads(aws.read(f"{training_prefix(name)}/summary.json"))
    assert summary["dropped"] == dropped
    written = aws.read(f"{training_prefix(name)}/train.manifest") + aws.read(
        f"{training_prefix(name)}/validation.manifest")
    assert all(json.loads(raw)["source-ref"].startswith(f"s3://{aws.bucket}/{PREFIX}/images/")
               for raw in written.splitlines())


def test_two_images_per_class_train_with_every_class_in_validation(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.use_settings(monkeypatch, min_labeled_objects=8)
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 2, 1: 2, 2: 2, 3: 2}))

    result = handler(labeling_event(name), None)

    assert result["decision"] == "started"
    assert (result["counts"]["train"], result["counts"]["validation"]) == (4, 4)


def test_a_set_that_cannot_validate_two_classes_is_refused_in_words(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.use_settings(monkeypatch, min_labeled_objects=2)
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 5, 1: 1, 2: 1}))

    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped"
    assert "only 1 class(es) (Airplane) have the 2 labeled objects" in result["reason"]
    assert "classes with a single image: Automobile, Bird" in result["reason"]
    assert aws.sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []


class BodyWithoutIterLines(StreamingBody):
    """A real StreamingBody whose `iter_lines` fails: it buffers a line of any length."""

    def iter_lines(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read_lines must not use botocore's iter_lines")


def test_read_lines_reads_chunks_and_caps_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"a\n" + b"x" * (MAX_LINE_BYTES + 10) + b"\r\nb\r\nc"
    calls: list[dict[str, Any]] = []

    class FakeS3:
        def get_object(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"Body": BodyWithoutIterLines(io.BytesIO(data), len(data))}

    monkeypatch.setattr(start_training, "client", lambda service, region: FakeS3())
    monkeypatch.setattr(start_training, "READ_CHUNK_BYTES", 1000)

    lines = list(read_lines(REGION, "s3://bucket/out/output.manifest"))

    assert calls == [{"Bucket": "bucket", "Key": "out/output.manifest"}]
    assert lines[0] == b"a"
    assert lines[1] is OVERLONG_LINE
    assert lines[2:] == [b"b\r", b"c"]


def test_a_small_split_clamps_mini_batch_size_and_says_so(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 6, 1: 6}))

    result = handler(labeling_event(name), None)

    assert result["decision"] == "started"
    train = result["counts"]["train"]
    assert train < 32
    # The settings leave mini_batch_size unset: the algorithm's default, 32, would fail the job.
    assert [(a["setting"], a["configured"], a["applied"]) for a in result["adjustments"]] == [
        ("HyperParameters.mini_batch_size", "32 (algorithm default)", str(train))]
    job = aws.sagemaker.describe_training_job(TrainingJobName=name)
    assert job["HyperParameters"]["mini_batch_size"] == str(train)
    summary = json.loads(aws.read(f"{training_prefix(name)}/summary.json"))
    assert summary["decision"] == "started"
    assert summary["adjustments"] == result["adjustments"]
    assert summary["problems"] == []
    assert aws.alerts() == []


def test_a_request_the_algorithm_would_reject_is_refused_and_alerted_without_creating_a_job(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TRAINING_SETTINGS edited by hand (the config would not synthesize these): a CPU instance,
    # and a resize smaller than the 224 px crop. botocore's model accepts both.
    aws.use_settings(monkeypatch, instance_type="ml.m5.xlarge",
                     hyperparameters={**aws.settings["hyperparameters"], "resize": "128"})
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    stubbed = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(stubbed)
    stubber.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.",
                             expected_params={"TrainingJobName": name})
    # Nothing else is queued: a CreateTrainingJob (or tuning job) call would fail the test.
    aws.sagemaker._real = stubbed
    with stubber:
        result = handler(labeling_event(name), None)
        stubber.assert_no_pending_responses()

    assert result["decision"] == "refused"
    assert result["training_job"] is None
    assert "ResourceConfig.InstanceType = 'ml.m5.xlarge'" in result["reason"]
    assert "HyperParameters.resize = '128' is smaller than the crop" in result["reason"]
    alerts = aws.alerts()
    assert len(alerts) == 1
    assert alerts[0]["Subject"] == f"Training refused for labeling job {name}"
    assert "- ResourceConfig.InstanceType = 'ml.m5.xlarge'" in alerts[0]["Message"]
    assert "- HyperParameters.resize = '128'" in alerts[0]["Message"]
    summary = json.loads(aws.read(f"{training_prefix(name)}/summary.json"))
    assert summary["decision"] == "refused"
    assert summary["reason"] == result["reason"]
    assert len(summary["problems"]) == 2
    # The manifests are written all the same: a fixed config can be replayed against them.
    assert aws.read(f"{training_prefix(name)}/train.manifest")


def test_missing_category_file_is_a_clear_error(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 5}))
    del aws.sagemaker.descriptions[name]["LabelCategoryConfigS3Uri"]
    with pytest.raises(ValueError, match="has no LabelCategoryConfigS3Uri"):
        handler(labeling_event(name), None)


def test_race_with_a_concurrent_delivery_counts_as_started(aws: Aws) -> None:
    """The existence check passed, then another invocation created the job first: SageMaker
    answers ResourceInUse, which is success (manifests written by both are identical)."""
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    stubbed = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(stubbed)
    stubber.add_client_error(
        "describe_training_job",
        "ValidationException",
        "Requested resource not found.",
        expected_params={"TrainingJobName": name},
    )
    stubber.add_client_error(
        "create_training_job",
        "ResourceInUse",
        "Training job names must be unique within an AWS account and region, and a training job "
        f"with this name already exists (arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name})",
    )
    aws.sagemaker._real = stubbed
    with stubber:
        result = handler(labeling_event(name), None)
        stubber.assert_no_pending_responses()
    assert result["decision"] == "already_started"
    assert "already exists" in result["reason"]


# --- decisions without AWS calls ---------------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = training_settings("sagemaker-unused", f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts")
    monkeypatch.setenv("TRAINING_SETTINGS", json.dumps(settings))

    def refuse(service: str, region: str) -> Any:
        raise AssertionError(f"unexpected {service} client")

    monkeypatch.setattr(start_training, "client", refuse)


@pytest.mark.parametrize("status", ["Failed", "Stopped", "InProgress"])
def test_unfinished_labeling_jobs_are_ignored(no_aws: None, status: str) -> None:
    result = handler(labeling_event("gt-demo-1", status), None)
    assert result["decision"] == "ignored"
    assert status in result["reason"]


def test_other_prefixes_are_ignored(no_aws: None) -> None:
    result = handler(labeling_event("someone-elses-job"), None)
    assert result["decision"] == "ignored"
    assert "'gt-demo'" in result["reason"]


def test_missing_settings_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAINING_SETTINGS", raising=False)
    with pytest.raises(ValueError, match="TRAINING_SETTINGS is not set"):
        handler(labeling_event("gt-demo-1"), None)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ([], "expected an EventBridge event object, got list"),
        ({"detail-type": "SageMaker Training Job State Change"}, "this function handles"),
        ({"detail-type": DETAIL_TYPE, "detail": {"LabelingJobStatus": "Completed"}}, "event.resources must list"),
        ({"detail-type": DETAIL_TYPE, "resources": [], "detail": {}}, "event.resources must list"),
        (
            {"detail-type": DETAIL_TYPE, "resources": ["arn:aws:sagemaker:us-east-1:1:labeling-job/x"], "detail": {}},
            "LabelingJobStatus is missing",
        ),
        (
            {"detail-type": DETAIL_TYPE, "resources": ["gt-demo-1"], "detail": {"LabelingJobStatus": "Completed"}},
            "is not a labeling job ARN",
        ),
    ],
)
def test_bad_events_say_what_is_wrong(event: Any, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_event(event)


def test_parse_event() -> None:
    assert parse_event(labeling_event("gt-demo-7", "Failed")) == ("gt-demo-7", "Failed")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/a/b.manifest", ("bucket", "a/b.manifest")),
        ("s3://bucket/key with space", ("bucket", "key with space")),
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["", "https://bucket/key", "s3://bucket", "s3://bucket/", "s3:///key"])
def test_parse_s3_uri_rejects(uri: str) -> None:
    with pytest.raises(ValueError, match="s3://bucket/key"):
        parse_s3_uri(uri)


# --- every way out without a job alerts (docs/alerts.md) -----------------------------------------


def console_link(name: str) -> str:
    return (f"Console: https://{REGION}.console.aws.amazon.com/sagemaker/groundtruth?region={REGION}"
            f"#/labeling-jobs/details/{name}")


def test_a_missing_output_manifest_alerts_and_starts_nothing(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    uri = aws.sagemaker.descriptions[name]["LabelingJobOutput"]["OutputDatasetS3Uri"]
    aws.s3.delete_object(Bucket=aws.bucket, Key=parse_s3_uri(uri)[1])

    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped"
    assert result["training_job"] is None
    assert f"the output manifest {uri} does not exist (NoSuchKey)" in result["reason"]
    [alert] = aws.alerts()
    assert alert["Subject"] == f"Training not started for labeling job {name}"
    assert alert["Message"] == (
        f"Training not started for labeling job {name}: the output manifest {uri} does not exist (NoSuchKey): "
        "nothing to train on.\n\nWhat to do: open the labeling job in the console and check that it labeled "
        "objects and wrote its output; a labeling job that ended with no labeled objects needs a new job.\n\n"
        + console_link(name))
    assert aws.sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []


def test_a_manifest_s3_refuses_to_read_is_reported_as_missing_or_unreadable(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On AWS this function may not list the bucket, so a missing key answers 403, not 404."""
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    uri = aws.sagemaker.descriptions[name]["LabelingJobOutput"]["OutputDatasetS3Uri"]

    real_open = start_training.open_object

    def denied_for_the_manifest(region: str, object_uri: str, owner: str | None) -> Any:
        if object_uri == uri:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
        return real_open(region, object_uri, owner)

    monkeypatch.setattr(start_training, "open_object", denied_for_the_manifest)
    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped"
    assert f"the output manifest {uri} does not exist or cannot be read (AccessDenied: S3 answers 403" in (
        result["reason"])
    [alert] = aws.alerts()
    assert alert["Subject"] == f"Training not started for labeling job {name}"
    assert "does not exist or cannot be read" in alert["Message"]
    assert aws.sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []


def test_an_empty_output_manifest_alerts_and_starts_nothing(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: [])
    uri = aws.sagemaker.descriptions[name]["LabelingJobOutput"]["OutputDatasetS3Uri"]

    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped"
    [alert] = aws.alerts()
    assert alert["Subject"] == f"Training not started for labeling job {name}"
    assert f"the output manifest {uri} is empty (no lines): nothing to train on." in alert["Message"]
    assert alert["Message"].endswith(console_link(name))


def test_no_output_manifest_uri_alerts_and_starts_nothing(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    del aws.sagemaker.descriptions[name]["LabelingJobOutput"]

    result = handler(labeling_event(name), None)

    assert result["decision"] == "skipped"
    [alert] = aws.alerts()
    assert "SageMaker reports no output manifest (LabelingJobOutput.OutputDatasetS3Uri)" in alert["Message"]


def test_access_denied_after_the_event_was_accepted_alerts_and_reraises(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    stubbed = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(stubbed)
    stubber.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.")
    stubber.add_client_error(
        "create_training_job", "AccessDeniedException",
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/StartTraining is not authorized to perform: "
        "iam:PassRole", http_status_code=400)
    aws.sagemaker._real = stubbed

    with stubber, pytest.raises(ClientError, match="AccessDeniedException"):
        handler(labeling_event(name), None)

    [alert] = aws.alerts()
    assert alert["Subject"] == f"StartTraining was denied access for labeling job {name}"
    assert alert["Message"].startswith(
        f"StartTraining stopped without starting anything for labeling job {name}.\n"
        "Error: ClientError: An error occurred (AccessDeniedException) when calling the CreateTrainingJob "
        "operation: User: ")
    assert "AWS refused the call (AccessDenied): the function's role lacks a permission" in alert["Message"]
    assert "After Lambda's retries the event is kept in the dead-letter queue." in alert["Message"]
    assert alert["Message"].endswith(console_link(name))


def test_a_throttled_call_alerts_as_will_retry_and_reraises(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    stubbed = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(stubbed)
    stubber.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded", http_status_code=400)
    aws.sagemaker._real = stubbed

    with stubber, pytest.raises(ClientError, match="Rate exceeded"):
        handler(labeling_event(name), None)

    [alert] = aws.alerts()
    assert alert["Subject"] == f"StartTraining failed for labeling job {name} (will retry)"
    assert "The error is transient (throttling, a timeout, a 5xx or a broken connection): Lambda retries" \
        in alert["Message"]


def test_other_create_errors_alert_before_they_propagate(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    stubbed = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(stubbed)
    stubber.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.")
    stubber.add_client_error("create_training_job", "ResourceLimitExceeded", "account-level service limit")
    aws.sagemaker._real = stubbed
    with stubber, pytest.raises(ClientError, match="ResourceLimitExceeded"):
        handler(labeling_event(name), None)
    [alert] = aws.alerts()
    assert alert["Subject"] == f"StartTraining failed for labeling job {name}"
    assert "Retrying will not fix this: fix the cause named above, then redrive the event." in alert["Message"]


class FakeContext:
    function_name = "dev-Workflow-StartTraining"


def test_unreadable_settings_alert_to_the_topic_named_in_them(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = {key: value for key, value in aws.settings.items() if key != "role_arn"}
    monkeypatch.setenv("TRAINING_SETTINGS", json.dumps(broken))

    with pytest.raises(ValueError, match=r"TRAINING_SETTINGS\.role_arn is missing"):
        handler(labeling_event("gt-demo-1"), FakeContext())

    [alert] = aws.alerts()
    assert alert["Subject"] == "StartTraining cannot read its settings: nothing was started"
    assert alert["Message"] == (
        "StartTraining stopped before doing anything: its settings (TRAINING_SETTINGS) cannot be read.\n"
        "Reason: TRAINING_SETTINGS.role_arn is missing\n\n"
        "What to do: the stack writes TRAINING_SETTINGS; fix the config (cdk.json) and redeploy, or correct the "
        "function's environment variable. The event is retried by Lambda and then kept in the dead-letter "
        "queue: redrive it once the settings are fixed.\n\n"
        f"Console: https://{REGION}.console.aws.amazon.com/lambda/home?region={REGION}"
        "#/functions/dev-Workflow-StartTraining")


def test_unreadable_settings_without_a_topic_are_logged_loudly(
    no_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRAINING_SETTINGS", "{not json")
    with pytest.raises(ValueError, match="TRAINING_SETTINGS is not valid JSON"):
        handler(labeling_event("gt-demo-1"), None)  # no client: `no_aws` refuses every one
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["message"]) for r in records] == [
        ("CRITICAL", "settings_unreadable"), ("CRITICAL", "alert_not_published")]
    assert records[1]["subject"] == "StartTraining cannot read its settings: nothing was started"
    assert "no SNS topic ARN in TRAINING_SETTINGS" in records[1]["reason"]


def test_s3_calls_on_the_project_bucket_name_the_expected_owner(aws: Aws) -> None:
    name, _ = aws.labeling_job(lambda name: manifest_lines(name, {0: 10, 1: 10}))
    s3 = boto3.client("s3", region_name=REGION)
    calls: list[tuple[str, dict[str, Any]]] = []
    s3.meta.events.register("provide-client-params.s3.*",
                            lambda params, model, **_: calls.append((model.name, dict(params))))
    aws_clients.use("s3", REGION, s3)

    assert handler(labeling_event(name), None)["decision"] == "started"

    assert [operation for operation, _ in calls] == ["GetObject", "GetObject"] + ["PutObject"] * 4
    assert all(params["Bucket"] == aws.bucket and params["ExpectedBucketOwner"] == ACCOUNT for _, params in calls)


def test_read_lines_sends_the_expected_owner_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    class FakeS3:
        def get_object(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return {"Body": StreamingBody(io.BytesIO(b"a\n"), 2)}

    monkeypatch.setattr(start_training, "client", lambda service, region: FakeS3())
    assert list(read_lines(REGION, "s3://bucket/out/output.manifest", ACCOUNT)) == [b"a"]
    assert calls == [{"Bucket": "bucket", "Key": "out/output.manifest", "ExpectedBucketOwner": ACCOUNT}]
