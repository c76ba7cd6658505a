"""The StartLabeling handler: S3 on the moto server (real HTTP on loopback), the labeling
APIs moto lacks (CreateLabelingJob, DescribeLabelingJob) answered by botocore's Stubber on a
real SageMaker client, so every request is still validated against the service model."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from demo.emulator import Emulator
from lambdas import aws_clients, start_labeling
from lambdas import labeling_request as lr
from lambdas.settings import SettingsError
from tests.unit.test_labeling_request import assert_valid_create_labeling_job, settings_dict

ACCOUNT = "123456789012"  # also the moto server's account, so ExpectedBucketOwner holds


# --- Fixtures ------------------------------------------------------------------------------


@pytest.fixture
def s3(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The emulator's S3, and the handler's lazily created clients pointed at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    aws_clients.reset()
    yield boto3.client("s3", region_name="us-east-1", endpoint_url=emulator.endpoint_url)
    aws_clients.reset()


@pytest.fixture
def bucket(s3: Any) -> str:
    """A bucket of its own per test: the moto server lives for the whole session."""
    name = f"sagemaker-test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def sagemaker(s3: Any) -> Iterator[tuple[Any, Stubber]]:
    """A real SageMaker client behind a Stubber, installed as the handler's client."""
    client = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    aws_clients.use("sagemaker", "us-east-1", client)
    yield client, stubber
    stubber.deactivate()


def use_settings(
    monkeypatch: pytest.MonkeyPatch, bucket: str, workforce: str = "public", **overrides: Any
) -> lr.LabelingSettings:
    """Give the handler its LABELING_SETTINGS; returns the same settings, parsed."""
    data = settings_dict(workforce, bucket=bucket, **overrides)
    monkeypatch.setenv("LABELING_SETTINGS", json.dumps(data))
    return lr.LabelingSettings.from_mapping(data)


def put_objects(s3: Any, bucket: str, keys: list[str], body: bytes = b"\xff\xd8jpeg") -> None:
    # Fewer threads than the client's 10 pooled connections.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=body), keys))


def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", ())]


def read(s3: Any, bucket: str, key: str) -> tuple[bytes, str]:
    answer = s3.get_object(Bucket=bucket, Key=key)
    return answer["Body"].read(), answer["ContentType"]


def expect_not_found(stubber: Stubber, job_name: str) -> None:
    stubber.add_client_error(
        "describe_labeling_job",
        service_error_code="ResourceNotFound",
        service_message=f"Labeling job {job_name} not found",
        http_status_code=400,
        expected_params={"LabelingJobName": job_name},
    )


def expect_create(stubber: Stubber, request: dict[str, Any]) -> str:
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{request['LabelingJobName']}"
    stubber.add_response("create_labeling_job", {"LabelingJobArn": arn}, expected_params=request)
    return arn


def describe_response(request: dict[str, Any], status: str = "InProgress") -> dict[str, Any]:
    """What DescribeLabelingJob answers for a job created from `request` (model-validated)."""
    name = request["LabelingJobName"]
    return {
        "LabelingJobName": name,
        "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{name}",
        "LabelingJobStatus": status,
        "LabelCounters": {"TotalLabeled": 0, "Unlabeled": 3},
        "CreationTime": datetime(2024, 5, 6, tzinfo=UTC),
        "LastModifiedTime": datetime(2024, 5, 6, tzinfo=UTC),
        "JobReferenceCode": "ref",
        "LabelAttributeName": request["LabelAttributeName"],
        "InputConfig": request["InputConfig"],
        "OutputConfig": request["OutputConfig"],
        "RoleArn": request["RoleArn"],
        "HumanTaskConfig": request["HumanTaskConfig"],
    }


def count_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record the params of every call to `operation` on `client`."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        f"provide-client-params.{client.meta.service_model.endpoint_prefix}.{operation}",
        lambda params, **_: calls.append(dict(params)),
    )
    return calls


# --- The happy path, with > 1,000 objects --------------------------------------------------


def test_handler_lists_all_pages_writes_inputs_and_creates_the_job(
    s3: Any, bucket: str, sagemaker: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = use_settings(monkeypatch, bucket, max_objects=None)
    images = [f"ground-truth-demo/images/batch-{i % 3}/img-{i:05d}.jpg" for i in range(1200)]
    images += [
        "ground-truth-demo/images/UPPER.JPG",
        "ground-truth-demo/images/photo.jpeg",
        "ground-truth-demo/images/drawing.PNG",
        "ground-truth-demo/images/z/last.png",
        'ground-truth-demo/images/a b/ünï "quoted".jpg',
    ]
    other_files = [f"ground-truth-demo/images/notes-{i}.txt" for i in range(20)] + [
        "ground-truth-demo/images/labels.csv",
        "ground-truth-demo/images/img.jpg.json",
    ]
    folders = ["ground-truth-demo/images/", "ground-truth-demo/images/batch-0/"]
    outside = ["ground-truth-demo/images-old/x.jpg", "ground-truth-demo/other/y.jpg", "top.jpg"]
    put_objects(s3, bucket, images + other_files + folders + outside)
    assert len(images) == 1205

    # The handler's own S3 client, created lazily from AWS_ENDPOINT_URL: spy on it.
    handler_s3 = start_labeling.client("s3", "us-east-1")
    listings = count_calls(handler_s3, "ListObjectsV2")
    owners: list[bytes | None] = []
    handler_s3.meta.events.register(
        "before-send.s3",
        lambda request, **_: owners.append(request.headers.get("x-amz-expected-bucket-owner")),
    )

    job_name = "gt-demo-vehicles-1"
    request = lr.build_create_labeling_job_request(settings, job_name, max_objects=100)
    _, stubber = sagemaker
    expect_not_found(stubber, job_name)
    arn = expect_create(stubber, request)

    result = start_labeling.handler({"job_name": "vehicles-1", "max_objects": 100}, None)
    stubber.assert_no_pending_responses()

    assert result == {
        "job_name": job_name,
        "job_arn": arn,
        "console_url": (
            "https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1"
            f"#/labeling-jobs/details/{job_name}"
        ),
        "object_count": 1205,
        "skipped": {"folder_marker": 2, "not_an_image": 22, "too_large": 0},
        "status": "Initializing",
        "created": True,
    }
    # 1,229 objects under the prefix: S3 pages at 1,000, so the paginator needed two calls.
    assert len(listings) == 2
    assert listings[0]["Prefix"] == "ground-truth-demo/images/"
    # Every S3 request carried the account as expected bucket owner.
    assert owners and set(owners) == {ACCOUNT.encode()}

    base = f"ground-truth-demo/labeling/{job_name}/"
    assert keys_under(s3, bucket, base) == [
        base + "input.manifest",
        base + "label-categories.json",
        base + "request.json",
        base + "ui-template.liquid",
    ]

    manifest, content_type = read(s3, bucket, base + "input.manifest")
    assert content_type == "application/x-ndjson"
    # One line per image, in S3's key order (the order the listing returned them).
    expected = "".join(json.dumps({"source-ref": f"s3://{bucket}/{key}"}) + "\n" for key in sorted(images))
    assert manifest.decode() == expected
    lines = manifest.decode().splitlines()
    assert len(lines) == 1205
    assert json.loads(lines[0]) == {"source-ref": f"s3://{bucket}/{sorted(images)[0]}"}

    categories, content_type = read(s3, bucket, base + "label-categories.json")
    assert content_type == "application/json"
    assert json.loads(categories) == {
        "document-version": "2018-11-28",
        "labels": [
            {"label": "Airplane"},
            {"label": "Car"},
            {"label": "Ferry"},
            {"label": "Helicopter"},
            {"label": "Motorbike"},
        ],
    }

    template, content_type = read(s3, bucket, base + "ui-template.liquid")
    assert content_type.startswith("text/html")
    assert '<crowd-image-classifier\n    name="crowd-image-classifier"' in template.decode()
    assert settings.short_instructions in template.decode()
    assert "If two vehicles are equally big, choose the nearer one." in template.decode()

    written_request, _ = read(s3, bucket, base + "request.json")
    # The file records exactly what was sent; the Stubber checked the sent params.
    assert json.loads(written_request) == request
    assert request["StoppingConditions"] == {"MaxHumanLabeledObjectCount": 100}


def test_handler_names_the_job_by_time_and_defaults(
    s3: Any, bucket: str, sagemaker: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = use_settings(monkeypatch, bucket)
    put_objects(s3, bucket, ["ground-truth-demo/images/a.jpg"])
    _, stubber = sagemaker
    fixed = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    monkeypatch.setattr(start_labeling, "datetime", type("FixedClock", (), {"now": staticmethod(lambda tz: fixed)}))
    request = lr.build_create_labeling_job_request(settings, "gt-demo-20240506-070809")
    assert "StoppingConditions" not in request
    expect_not_found(stubber, "gt-demo-20240506-070809")
    expect_create(stubber, request)

    result = start_labeling.handler({}, None)

    stubber.assert_no_pending_responses()
    assert result["job_name"] == "gt-demo-20240506-070809"
    assert result["object_count"] == 1


@pytest.mark.parametrize("workforce", ["public", "private", "existing"])
def test_handler_request_is_valid_for_every_workforce(
    workforce: str,
    s3: Any,
    bucket: str,
    sagemaker: tuple[Any, Stubber],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = use_settings(monkeypatch, bucket, workforce)
    put_objects(s3, bucket, ["ground-truth-demo/images/cars/a.jpg"])
    _, stubber = sagemaker
    request = lr.build_create_labeling_job_request(settings, "gt-demo-cars")
    assert_valid_create_labeling_job(request)
    expect_not_found(stubber, "gt-demo-cars")
    expect_create(stubber, request)

    result = start_labeling.handler(
        {"job_name": "cars", "images_prefix": f"s3://{bucket}/ground-truth-demo/images/cars"},
        None,
    )
    stubber.assert_no_pending_responses()
    assert result["created"] is True
    assert result["object_count"] == 1


# --- Idempotency ---------------------------------------------------------------------------


def test_second_call_with_the_same_name_returns_the_existing_job(
    s3: Any, bucket: str, sagemaker: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = use_settings(monkeypatch, bucket)
    put_objects(s3, bucket, [f"ground-truth-demo/images/{i}.png" for i in range(3)])
    request = lr.build_create_labeling_job_request(settings, "gt-demo-once")
    _, stubber = sagemaker
    expect_not_found(stubber, "gt-demo-once")
    arn = expect_create(stubber, request)

    first = start_labeling.handler({"job_name": "gt-demo-once"}, None)
    assert first["created"] is True
    stubber.assert_no_pending_responses()

    # Remove what the first call wrote: the second call must not write it again.
    base = "ground-truth-demo/labeling/gt-demo-once/"
    for key in keys_under(s3, bucket, base):
        s3.delete_object(Bucket=bucket, Key=key)
    handler_s3 = start_labeling.client("s3", "us-east-1")
    listings = count_calls(handler_s3, "ListObjectsV2")
    stubber.add_response(
        "describe_labeling_job",
        describe_response(request, status="InProgress"),
        expected_params={"LabelingJobName": "gt-demo-once"},
    )
    # No CreateLabelingJob response is queued: calling it would raise UnStubbedResponseError.

    second = start_labeling.handler({"job_name": "once"}, None)

    stubber.assert_no_pending_responses()
    assert second == {
        "job_name": "gt-demo-once",
        "job_arn": arn,
        "console_url": first["console_url"],
        "object_count": None,
        "skipped": {},
        "status": "InProgress",
        "created": False,
    }
    assert listings == []
    assert keys_under(s3, bucket, base) == []


def test_create_race_returns_the_job_the_other_invocation_created(
    s3: Any, bucket: str, sagemaker: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = use_settings(monkeypatch, bucket)
    put_objects(s3, bucket, ["ground-truth-demo/images/a.jpg"])
    request = lr.build_create_labeling_job_request(settings, "gt-demo-race")
    _, stubber = sagemaker
    expect_not_found(stubber, "gt-demo-race")
    stubber.add_client_error(
        "create_labeling_job",
        service_error_code="ResourceInUse",
        service_message="Job name gt-demo-race already exists",
        http_status_code=400,
        expected_params=request,
    )
    stubber.add_response(
        "describe_labeling_job",
        describe_response(request, status="Initializing"),
        expected_params={"LabelingJobName": "gt-demo-race"},
    )

    result = start_labeling.handler({"job_name": "race"}, None)

    stubber.assert_no_pending_responses()
    assert result["created"] is False
    assert result["status"] == "Initializing"
    assert result["job_arn"].endswith(":labeling-job/gt-demo-race")


def test_other_create_errors_propagate(
    s3: Any, bucket: str, sagemaker: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, bucket)
    put_objects(s3, bucket, ["ground-truth-demo/images/a.jpg"])
    _, stubber = sagemaker
    expect_not_found(stubber, "gt-demo-quota")
    stubber.add_client_error("create_labeling_job", service_error_code="ResourceLimitExceeded", http_status_code=400)
    with pytest.raises(Exception, match="ResourceLimitExceeded"):
        start_labeling.handler({"job_name": "quota"}, None)
    stubber.assert_no_pending_responses()


# --- Refusals ------------------------------------------------------------------------------


def test_zero_images_fails_before_writing_or_creating(
    s3: Any, bucket: str, sagemaker: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, bucket)
    put_objects(s3, bucket, ["ground-truth-demo/images/", "ground-truth-demo/images/readme.txt"])
    _, stubber = sagemaker
    expect_not_found(stubber, "gt-demo-empty")

    with pytest.raises(lr.LabelingRequestError) as error:
        start_labeling.handler({"job_name": "empty"}, None)

    assert str(error.value).startswith(f"no images in s3://{bucket}/ground-truth-demo/images/")
    assert "1 folder_marker, 1 not_an_image" in str(error.value)
    stubber.assert_no_pending_responses()
    assert keys_under(s3, bucket, "ground-truth-demo/labeling/") == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"job": "x"}, r"unknown event key\(s\) job; allowed: images_prefix, job_name"),
        ({"max_objects": "5"}, "event key max_objects must be an integer"),
        ({"max_objects": 0}, "max_objects must be at least 1"),
        ({"job_name": 7}, "event key job_name must be a string"),
        ({"images_prefix": "ground-truth-demo/../../etc"}, r"'\.\.' segments"),
        ({"images_prefix": "s3://another-bucket/images"}, "names bucket 'another-bucket'"),
        ({"job_name": "bad name"}, "not a valid labeling job name"),
        (["images"], "the event must be a JSON object"),
    ],
)
def test_bad_events_fail_before_any_aws_call(
    event: Any,
    message: str,
    s3: Any,
    bucket: str,
    sagemaker: tuple[Any, Stubber],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings(monkeypatch, bucket)
    # Nothing queued on the Stubber: any SageMaker call would fail with a different error.
    with pytest.raises(lr.LabelingRequestError, match=message):
        start_labeling.handler(event, None)
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout is the CLI's (`start-labeling --local` prints its answer there)
    logged = [json.loads(line) for line in captured.err.splitlines()]
    assert logged[-1]["level"] == "ERROR"
    assert logged[-1]["message"] == "labeling job not started"


def test_missing_or_broken_settings_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABELING_SETTINGS", raising=False)
    with pytest.raises(SettingsError, match="LABELING_SETTINGS is not set"):
        start_labeling.handler({}, None)
    monkeypatch.setenv("LABELING_SETTINGS", json.dumps(settings_dict(workers_per_object=0)))
    with pytest.raises(SettingsError, match=r"LABELING_SETTINGS\.workers_per_object"):
        start_labeling.handler({}, None)


def test_parse_event_accepts_nulls_and_absent_keys() -> None:
    assert start_labeling.parse_event(None) == start_labeling.StartLabelingEvent()
    assert start_labeling.parse_event({"job_name": None}) == start_labeling.StartLabelingEvent()
    assert start_labeling.parse_event(
        {"images_prefix": "p/", "job_name": "j", "max_objects": 3}
    ) == start_labeling.StartLabelingEvent("p/", "j", 3)
    with pytest.raises(lr.LabelingRequestError, match="must be an integer"):
        start_labeling.parse_event({"max_objects": True})


# --- DescribeLabelingJob answers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "missing"),
    [
        ("ResourceNotFound", "Labeling job x not found", True),
        ("ValidationException", "Requested resource not found", True),
        ("ValidationException", "Job name must match the pattern", False),
        ("AccessDeniedException", "not authorized", False),
    ],
)
def test_describe_tells_missing_from_other_errors(code: str, message: str, missing: bool) -> None:
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_labeling_job", service_error_code=code, service_message=message)
        if missing:
            assert start_labeling.describe_job(client, "gt-demo-x") is None
        else:
            with pytest.raises(Exception, match=code):
                start_labeling.describe_job(client, "gt-demo-x")


# --- Streaming a 100,000-image manifest to S3 ----------------------------------------------


def test_full_size_manifest_streams_through_a_multipart_upload(s3: Any, bucket: str) -> None:
    settings = lr.LabelingSettings.from_mapping(settings_dict(bucket=bucket))
    listing = (
        (f"ground-truth-demo/images/camera-{i % 7}/2024-05-06/img-{i:06d}.jpg", 250_000)
        for i in range(lr.MAX_OBJECTS_PER_JOB)
    )
    plan = lr.plan_labeling(settings, listing, job_name="big")
    manifest = plan.file("input.manifest")
    digest = hashlib.sha256()
    expected_size = 0
    for chunk in manifest.produce():
        digest.update(chunk)
        expected_size += len(chunk)
    assert expected_size > start_labeling.SPOOL_IN_MEMORY_BYTES  # spills to disk, goes multipart

    handler_s3 = start_labeling.client("s3", "us-east-1")
    parts = count_calls(handler_s3, "UploadPart")
    size = start_labeling.upload(handler_s3, manifest, ACCOUNT)

    assert size == expected_size
    assert len(parts) >= 2
    body, _ = read(s3, bucket, manifest.key)
    assert hashlib.sha256(body).hexdigest() == digest.hexdigest()
    assert body.count(b"\n") == 100_000
