"""The simulated Ground Truth, TestEventPattern delivery and generated images, on the emulator.

Everything talks HTTP to the session's loopback moto server, as the demo will.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError
from botocore.session import get_session
from botocore.validate import validate_parameters
from moto.sagemaker.responses import SageMakerResponse

from demo import events, images
from demo.emulator import Emulator, held_deliveries
from demo.simulated_ground_truth import (
    IMAGE_CLASSIFICATION_TYPE,
    SimulatedGroundTruth,
    SimulatorError,
    request_errors,
    simulated_ground_truth,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SAGEMAKER_MODEL = get_session().get_service_model("sagemaker")
PRIVATE_WORKTEAM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/vehicles"
PUBLIC_WORKTEAM = f"arn:aws:sagemaker:{REGION}:394669845002:workteam/public-crowd/default"
GT_ACCOUNT = "432418664414"  # owner of the built-in Lambdas in us-east-1 (API_HumanTaskConfig)


def ticking_clock() -> Callable[[], datetime]:
    """A clock that advances one second per reading: deterministic, strictly increasing."""
    ticks = iter(range(1_000_000))
    return lambda: START + timedelta(seconds=next(ticks))


@pytest.fixture
def ground_truth(emulator: Emulator) -> Iterator[SimulatedGroundTruth]:
    with simulated_ground_truth(emulator.endpoint_url, clock=ticking_clock()) as simulator:
        yield simulator


def client(emulator: Emulator, service: str, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint_url,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, **config),
    )


@pytest.fixture
def sagemaker(emulator: Emulator) -> Any:
    return client(emulator, "sagemaker")


@pytest.fixture
def unvalidated_sagemaker(emulator: Emulator) -> Any:
    """A client that sends what it is given, so the emulator's validation is what answers."""
    return client(emulator, "sagemaker", parameter_validation=False)


@pytest.fixture
def s3(emulator: Emulator) -> Any:
    return client(emulator, "s3")


@pytest.fixture
def events_client(emulator: Emulator) -> Any:
    return client(emulator, "events")


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test (the session emulator keeps state between tests)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:30].strip("-")
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    name = f"sagemaker-{slug}-{digest}"
    s3.create_bucket(Bucket=name)
    return name


def labeling_request(bucket: str, name: str = "vehicles-1", **overrides: Any) -> dict[str, Any]:
    """A built-in image-classification request like the workflow sends (API_CreateLabelingJob)."""
    request: dict[str, Any] = {
        "LabelingJobName": name,
        "LabelAttributeName": "vehicle",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/in/input.manifest"}}},
        "OutputConfig": {"S3OutputPath": f"s3://{bucket}/labeling/output/"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/labeling-execution",
        "LabelCategoryConfigS3Uri": f"s3://{bucket}/in/label-categories.json",
        "HumanTaskConfig": {
            "WorkteamArn": PRIVATE_WORKTEAM,
            "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/in/ui-template.liquid"},
            "PreHumanTaskLambdaArn": (f"arn:aws:lambda:{REGION}:{GT_ACCOUNT}:function:PRE-ImageMultiClass"),
            "TaskKeywords": ["Images", "Classification"],
            "TaskTitle": "What vehicle is this?",
            "TaskDescription": "Choose the vehicle shown in the image",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 300,
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": (
                    f"arn:aws:lambda:{REGION}:{GT_ACCOUNT}:function:ACS-ImageMultiClass"
                )
            },
        },
        "Tags": [{"Key": "labeling-job", "Value": name}],
    }
    request.update(overrides)
    return request


def stage_inputs(s3: Any, bucket: str, source_refs: list[str]) -> None:
    s3.put_object(Bucket=bucket, Key="in/input.manifest", Body=images.input_manifest(source_refs))
    s3.put_object(
        Bucket=bucket,
        Key="in/label-categories.json",
        Body=json.dumps(images.label_categories()),
    )


def assert_valid_output(operation: str, response: dict[str, Any]) -> None:
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    validate_parameters(body, SAGEMAKER_MODEL.operation_model(operation).output_shape)


def read_lines(s3: Any, uri: str) -> list[dict[str, Any]]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


# --- CreateLabelingJob -----------------------------------------------------------------------


def test_create_accepts_a_request_valid_for_botocore(
    ground_truth: SimulatedGroundTruth, sagemaker: Any, bucket: str
) -> None:
    request = labeling_request(bucket)
    assert request_errors("CreateLabelingJob", request) == []

    response = sagemaker.create_labeling_job(**request)

    assert response["LabelingJobArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/vehicles-1"
    assert_valid_output("CreateLabelingJob", response)


def _workers(count: Any) -> Callable[[dict[str, Any]], None]:
    def change(request: dict[str, Any]) -> None:
        request["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] = count

    return change


INVALID_REQUESTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "name pattern": (
        lambda r: r.update(LabelingJobName="vehicles_1"),
        "at 'labelingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern",
    ),
    "name too long": (
        lambda r: r.update(LabelingJobName="v" * 64),
        "Member must have length less than or equal to 63",
    ),
    "too many workers": (
        _workers(10),
        "at 'humanTaskConfig.numberOfHumanWorkersPerDataObject' failed to satisfy constraint: "
        "Member must have value less than or equal to 9",
    ),
    "wrong type": (_workers("one"), "Invalid type for parameter"),
    "missing role": (lambda r: r.pop("RoleArn"), 'Missing required parameter in input: "RoleArn"'),
    "bad content classifier": (
        lambda r: r["InputConfig"].update(DataAttributes={"ContentClassifiers": ["FreeOfCats"]}),
        "Member must satisfy enum value set",
    ),
    "attribute ends in -metadata": (
        lambda r: r.update(LabelAttributeName="vehicle-metadata"),
        "must not end with '-metadata'",
    ),
    "public workforce without price": (
        lambda r: r["HumanTaskConfig"].update(WorkteamArn=PUBLIC_WORKTEAM),
        "PublicWorkforceTaskPrice is required for the public workforce",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_REQUESTS))
def test_create_rejects_an_invalid_request_like_sagemaker(
    case: str,
    ground_truth: SimulatedGroundTruth,
    unvalidated_sagemaker: Any,
    sagemaker: Any,
    bucket: str,
) -> None:
    change, expected = INVALID_REQUESTS[case]
    request = labeling_request(bucket, name=f"invalid-{len(case)}")
    change(request)

    with pytest.raises(ClientError) as raised:
        unvalidated_sagemaker.create_labeling_job(**request)

    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert expected in error["Message"]
    assert re.match(r"\d+ validation errors? detected: ", error["Message"])
    assert sagemaker.list_labeling_jobs()["LabelingJobSummaryList"] == []


def test_the_sdk_rejects_what_the_simulator_rejects_for_type_errors(
    ground_truth: SimulatedGroundTruth, sagemaker: Any, bucket: str
) -> None:
    # Same validator on both sides: the SDK refuses before sending, the simulator after.
    request = labeling_request(bucket)
    del request["RoleArn"]
    with pytest.raises(ParamValidationError, match="RoleArn"):
        sagemaker.create_labeling_job(**request)
    missing_role = 'Missing required parameter in input: "RoleArn"'
    assert request_errors("CreateLabelingJob", request) == [missing_role]
    # boto3 cannot even serialize an unknown key; the simulator's validator names it.
    members = SAGEMAKER_MODEL.operation_model("CreateLabelingJob").input_shape.members
    assert request_errors("CreateLabelingJob", labeling_request(bucket, Priority=1)) == [
        f'Unknown parameter in input: "Priority", must be one of: {", ".join(members)}'
    ]


def test_a_name_is_taken_forever_resource_in_use(
    ground_truth: SimulatedGroundTruth, sagemaker: Any, s3: Any, bucket: str
) -> None:
    stage_inputs(s3, bucket, [f"s3://{bucket}/images/Car/0001.png"])
    sagemaker.create_labeling_job(**labeling_request(bucket))

    with pytest.raises(ClientError) as raised:
        sagemaker.create_labeling_job(**labeling_request(bucket))
    assert raised.value.response["Error"]["Code"] == "ResourceInUse"
    assert "already exists" in raised.value.response["Error"]["Message"]

    ground_truth.complete_job("vehicles-1", images.class_from_source_ref)
    with pytest.raises(ClientError) as raised:
        sagemaker.create_labeling_job(**labeling_request(bucket))
    assert raised.value.response["Error"]["Code"] == "ResourceInUse"


# --- DescribeLabelingJob and ListLabelingJobs ------------------------------------------------


def test_describe_an_in_progress_job(ground_truth: SimulatedGroundTruth, sagemaker: Any, bucket: str) -> None:
    request = labeling_request(bucket)
    sagemaker.create_labeling_job(**request)

    job = sagemaker.describe_labeling_job(LabelingJobName="vehicles-1")

    assert_valid_output("DescribeLabelingJob", job)
    assert job["LabelingJobStatus"] == "InProgress"
    assert job["LabelingJobArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/vehicles-1"
    assert job["CreationTime"] == START
    assert job["LastModifiedTime"] == START
    assert job["LabelCounters"] == {
        "TotalLabeled": 0,
        "HumanLabeled": 0,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 0,
        "Unlabeled": 0,
    }
    for key in (
        "LabelingJobName",
        "LabelAttributeName",
        "InputConfig",
        "OutputConfig",
        "RoleArn",
        "LabelCategoryConfigS3Uri",
        "HumanTaskConfig",
        "Tags",
    ):
        assert job[key] == request[key], key
    assert "LabelingJobOutput" not in job
    assert job["JobReferenceCode"].startswith(ACCOUNT)


def test_describe_an_unknown_job(ground_truth: SimulatedGroundTruth, sagemaker: Any) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.describe_labeling_job(LabelingJobName="never-created")

    assert raised.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Could not find requested job with name never-created",
    }


def test_list_filters_sorts_and_pages(ground_truth: SimulatedGroundTruth, sagemaker: Any, s3: Any, bucket: str) -> None:
    stage_inputs(s3, bucket, [f"s3://{bucket}/images/Car/0001.png"])
    for name in ("cars-b", "cars-a", "boats-a"):
        sagemaker.create_labeling_job(**labeling_request(bucket, name=name))
    ground_truth.complete_job("cars-a", images.class_from_source_ref)

    def names(**kwargs: Any) -> list[str]:
        response = sagemaker.list_labeling_jobs(**kwargs)
        assert_valid_output("ListLabelingJobs", response)
        return [job["LabelingJobName"] for job in response["LabelingJobSummaryList"]]

    assert names() == ["cars-b", "cars-a", "boats-a"]  # CreationTime, ascending
    assert names(SortBy="Name", SortOrder="Descending") == ["cars-b", "cars-a", "boats-a"]
    assert names(SortBy="Name") == ["boats-a", "cars-a", "cars-b"]
    assert names(StatusEquals="Completed") == ["cars-a"]
    assert names(NameContains="CARS") == ["cars-b", "cars-a"]
    first = sagemaker.list_labeling_jobs(MaxResults=2)
    assert len(first["LabelingJobSummaryList"]) == 2
    rest = sagemaker.list_labeling_jobs(MaxResults=2, NextToken=first["NextToken"])
    assert [j["LabelingJobName"] for j in rest["LabelingJobSummaryList"]] == ["boats-a"]
    assert "NextToken" not in rest


# --- Completing a job ------------------------------------------------------------------------


def test_complete_job_writes_a_real_format_output_manifest(
    ground_truth: SimulatedGroundTruth, sagemaker: Any, s3: Any, bucket: str
) -> None:
    generated = images.generate_images(6)
    refs = [*images.upload_images(s3, bucket, generated), f"s3://{bucket}/images/blurry/0001.png"]
    stage_inputs(s3, bucket, refs)
    sagemaker.create_labeling_job(**labeling_request(bucket))

    outcome = ground_truth.complete_job("vehicles-1", images.class_from_source_ref)

    expected_uri = f"s3://{bucket}/labeling/output/vehicles-1/manifests/output/output.manifest"
    assert outcome.output_manifest_uri == expected_uri
    assert (outcome.labeled, outcome.failed) == (6, 1)
    lines = read_lines(s3, expected_uri)
    assert [line["source-ref"] for line in lines] == refs  # input order kept
    labeled, failed = lines[:6], lines[6]
    for line, image in zip(labeled, generated, strict=True):
        assert set(line) == {"source-ref", "vehicle", "vehicle-metadata"}
        assert line["vehicle"] == images.CLASSES.index(image.label)
        assert isinstance(line["vehicle"], int)
        assert line["vehicle-metadata"] == {
            "class-name": image.label,
            "confidence": 0.95,
            "type": IMAGE_CLASSIFICATION_TYPE,
            "job-name": "labeling-job/vehicles-1",
            "human-annotated": "yes",
            "creation-date": "2024-05-01T12:00:01.000000",
        }
    assert "vehicle" not in failed
    assert failed["vehicle-metadata"]["failure-reason"]
    assert failed["vehicle-metadata"]["job-name"] == "labeling-job/vehicles-1"
    assert "class-name" not in failed["vehicle-metadata"]


def test_describe_after_completion(ground_truth: SimulatedGroundTruth, sagemaker: Any, s3: Any, bucket: str) -> None:
    refs = images.upload_images(s3, bucket, images.generate_images(5))
    stage_inputs(s3, bucket, [*refs, f"s3://{bucket}/elsewhere/photo.png"])
    sagemaker.create_labeling_job(**labeling_request(bucket))
    outcome = ground_truth.complete_job("vehicles-1", images.class_from_source_ref)

    job = sagemaker.describe_labeling_job(LabelingJobName="vehicles-1")

    assert_valid_output("DescribeLabelingJob", job)
    assert job["LabelingJobStatus"] == "Completed"
    assert job["LabelingJobOutput"] == {"OutputDatasetS3Uri": outcome.output_manifest_uri}
    assert job["LabelCounters"] == {
        "TotalLabeled": 5,
        "HumanLabeled": 5,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 1,
        "Unlabeled": 0,
    }
    assert job["LastModifiedTime"] > job["CreationTime"]


def test_complete_job_refuses_what_workers_could_not_do(
    ground_truth: SimulatedGroundTruth, sagemaker: Any, s3: Any, bucket: str
) -> None:
    stage_inputs(s3, bucket, [f"s3://{bucket}/images/Car/0001.png"])
    sagemaker.create_labeling_job(**labeling_request(bucket))

    with pytest.raises(SimulatorError, match=r"'Truck'.*label categories"):
        ground_truth.complete_job("vehicles-1", lambda ref: "Truck")
    with pytest.raises(SimulatorError, match="expected one labeling job named 'other'"):
        ground_truth.complete_job("other", images.class_from_source_ref)

    ground_truth.complete_job("vehicles-1", images.class_from_source_ref)
    with pytest.raises(SimulatorError, match="is Completed, not InProgress"):
        ground_truth.complete_job("vehicles-1", images.class_from_source_ref)


# --- Events ----------------------------------------------------------------------------------


def test_completion_event_reaches_a_rule_matching_a_resources_prefix(
    ground_truth: SimulatedGroundTruth,
    sagemaker: Any,
    s3: Any,
    events_client: Any,
    emulator: Emulator,
    bucket: str,
) -> None:
    # A rule like the workflow's: SageMaker labeling completions of jobs named "vehicles-*".
    job_prefix = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/vehicles-"
    pattern = {
        "source": ["aws.sagemaker"],
        "detail-type": [events.LABELING_JOB_STATE_CHANGE],
        "resources": [{"prefix": job_prefix}],
        "detail": {"LabelingJobStatus": ["Completed"]},
    }
    rule = f"LabelingJobCompleted-{bucket}"[:64]
    events_client.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    # An SQS target shows what moto's own routing delivered from the default bus.
    sqs = client(emulator, "sqs")
    queue_url = sqs.create_queue(QueueName=f"q-{bucket}"[:80])["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # And a Lambda target, like the workflow's rules: the emulator holds that delivery.
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:start-training"
    events_client.put_targets(
        Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}, {"Id": "function", "Arn": function_arn}]
    )
    held_deliveries(clear=True)
    stage_inputs(s3, bucket, [f"s3://{bucket}/images/Ferry/0001.png"])
    sagemaker.create_labeling_job(**labeling_request(bucket))

    outcome = ground_truth.complete_job("vehicles-1", images.class_from_source_ref)

    assert outcome.event["source"] == "aws.sagemaker"
    assert outcome.event["detail-type"] == "SageMaker Ground Truth Labeling Job State Change"
    assert outcome.event["resources"] == [outcome.job_arn]
    assert outcome.event["detail"] == {"LabelingJobStatus": "Completed"}
    assert outcome.event["version"] == "0"
    assert (outcome.event["account"], outcome.event["region"]) == (ACCOUNT, REGION)
    routed = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["Messages"]
    assert [json.loads(m["Body"])["resources"] for m in routed] == [[outcome.job_arn]]
    assert json.loads(routed[0]["Body"])["id"] == outcome.event["id"]
    held = held_deliveries(clear=True)
    assert [(h.rule_arn.split("/")[-1], h.target_arn) for h in held] == [(rule, function_arn)]
    assert held[0].event["resources"] == [outcome.job_arn]

    received: list[dict[str, Any]] = []
    assert events.deliver(events_client, rule, outcome.event, lambda e, c: received.append(e))
    assert received == [outcome.event]
    other_job = events.labeling_job_state_change("boats-1")
    assert not events.deliver(events_client, rule, other_job, lambda e, c: received.append(e))
    failed = events.labeling_job_state_change("vehicles-2", "Failed")
    assert not events.deliver(events_client, rule, failed, lambda e, c: received.append(e))
    assert len(received) == 1


def test_fail_job_and_duplicate_events(
    ground_truth: SimulatedGroundTruth, sagemaker: Any, events_client: Any, bucket: str
) -> None:
    sagemaker.create_labeling_job(**labeling_request(bucket))

    event = ground_truth.fail_job("vehicles-1", "ClientError: manifest not found")
    again = ground_truth.emit_state_change("vehicles-1")

    job = sagemaker.describe_labeling_job(LabelingJobName="vehicles-1")
    assert job["LabelingJobStatus"] == "Failed"
    assert job["FailureReason"] == "ClientError: manifest not found"
    assert "LabelingJobOutput" not in job
    assert event["detail"] == {"LabelingJobStatus": "Failed"}
    assert {k: v for k, v in again.items() if k != "id"} == {k: v for k, v in event.items() if k != "id"}
    assert events.matches(events_client, {"detail": {"LabelingJobStatus": ["Failed"]}}, again)


def test_test_event_pattern_is_real_eventbridge_matching(events_client: Any) -> None:
    event = events.training_job_state_change("vehicles-1-train", "Failed", failure_reason="AlgorithmError: bad record")
    assert events.matches(
        events_client,
        {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Training Job State Change"],
            "detail": {"TrainingJobStatus": ["Failed", "Stopped"]},
        },
        event,
    )
    assert events.matches(events_client, {"detail": {"TrainingJobName": [{"prefix": "vehicles-"}]}}, event)
    assert not events.matches(events_client, {"detail": {"TrainingJobStatus": [{"anything-but": ["Failed"]}]}}, event)
    # The envelope EventBridge requires: an incomplete hand-made event is refused, not "no match".
    with pytest.raises(ClientError, match="Parameter Event is not valid"):
        events.matches(events_client, {"source": ["aws.sagemaker"]}, {"source": "aws.sagemaker"})
    with pytest.raises(ClientError, match="InvalidEventPatternException"):
        events.matches(events_client, '{"source": "aws.sagemaker"}', event)


def test_event_builders_carry_the_documented_fields() -> None:
    labeling = events.labeling_job_state_change("job-1", time=START)
    assert labeling == {
        "version": "0",
        "id": labeling["id"],
        "detail-type": "SageMaker Ground Truth Labeling Job State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2024-05-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/job-1"],
        "detail": {"LabelingJobStatus": "Completed"},
    }
    assert events.labeling_job_state_change("job-1", time=START) == labeling  # deterministic id
    training = events.training_job_state_change("t-1", "Failed", failure_reason="boom")
    assert training["detail"]["TrainingJobName"] == "t-1"
    assert training["detail"]["TrainingJobStatus"] == "Failed"
    assert training["detail"]["FailureReason"] == "boom"
    assert training["resources"] == [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/t-1"]
    tuning = events.tuning_job_state_change("tune-1", best_training_job_name="tune-1-001")
    assert tuning["detail"]["HyperParameterTuningJobName"] == "tune-1"
    assert tuning["detail"]["HyperParameterTuningJobStatus"] == "Completed"
    assert tuning["detail"]["BestTrainingJob"]["TrainingJobName"] == "tune-1-001"
    assert tuning["detail-type"] == "SageMaker HyperParameter Tuning Job State Change"


# --- Installing and removing -----------------------------------------------------------------


def test_the_simulator_is_removed_on_exit_and_not_nested(emulator: Emulator) -> None:
    assert "create_labeling_job" not in SageMakerResponse.__dict__
    with simulated_ground_truth(emulator.endpoint_url):
        assert "create_labeling_job" in SageMakerResponse.__dict__
        with (
            pytest.raises(SimulatorError, match="already installed"),
            simulated_ground_truth(emulator.endpoint_url),
        ):
            pass
    for name in ("create_labeling_job", "describe_labeling_job", "parse_parameters"):
        assert name not in SageMakerResponse.__dict__


# --- Generated images ------------------------------------------------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and raw scanlines, checking signature, chunk CRCs and the IEND chunk."""
    assert data[:8] == images.PNG_SIGNATURE
    offset, chunks = 8, {}
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks[kind] = body
        offset += 12 + length
    assert list(chunks)[-1] == b"IEND"
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 3 * width
    return width, height, [raw[i : i + stride] for i in range(0, len(raw), stride)]


def test_generated_images_are_valid_pngs_in_class_colours() -> None:
    generated = images.generate_images(12, size=4)

    assert [g.key for g in generated[:6]] == [
        "images/Airplane/0001.png",
        "images/Car/0001.png",
        "images/Ferry/0001.png",
        "images/Helicopter/0001.png",
        "images/Motorbike/0001.png",
        "images/Airplane/0002.png",
    ]
    assert len({g.data for g in generated}) == 12
    for image in generated:
        width, height, rows = decode_png(image.data)
        assert (width, height, len(rows)) == (4, 4, 4)
        assert rows[1][1:4] == bytes(images.CLASS_COLOURS[image.label])
        assert images.class_from_source_ref(f"s3://b/{image.key}") == image.label
    assert images.generate_images(12, size=4) == generated  # deterministic
    assert images.class_from_source_ref("s3://b/images/blurry/0001.png") is None
    assert images.class_from_source_ref("s3://b/Car.png") is None
