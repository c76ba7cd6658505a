"""StartLabeling Lambda: freeze the inputs of a Ground Truth job in S3 and create the job.

The handler is thin: it validates the event, asks SageMaker whether the job already exists,
lists the images, lets `labeling_request.plan_labeling` decide everything, writes the planned
files and sends the planned `CreateLabelingJob` request.

Event (every key optional):
    {"images_prefix": "ground-truth-demo/images/", "job_name": "cars-2", "max_objects": 500}

Idempotent per job name: if the job exists nothing is written and the existing job is
returned. Without `job_name` the name comes from the current UTC second, so a retried
invocation gets a new name; callers that need exactly-once pass `job_name`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from . import labeling_request as lr
from .aws_clients import client
from .runtime import finish, get_logger, is_already_exists_error, is_not_found_error, log
from .settings import SettingsError

# Manifests up to this size stay in memory, bigger ones spill to /tmp (a 100,000-image
# manifest is ~10 MB): bounded memory whatever the job size, no disk use for small jobs.
SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024

# First status Ground Truth reports for a job it has just accepted.
NEW_JOB_STATUS = "Initializing"

LOGGER = get_logger("start_labeling")


# --- Event ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartLabelingEvent:
    images_prefix: str | None = None
    job_name: str | None = None
    max_objects: int | None = None


_EVENT_TYPES: dict[str, type] = {"images_prefix": str, "job_name": str, "max_objects": int}


def parse_event(event: Any) -> StartLabelingEvent:
    """Validate the invocation event; a JSON null counts as an absent key."""
    if event is None:
        return StartLabelingEvent()
    if not isinstance(event, Mapping):
        raise lr.LabelingRequestError(
            f"the event must be a JSON object with optional keys {', '.join(_EVENT_TYPES)}, got {type(event).__name__}"
        )
    unknown = sorted(set(event) - set(_EVENT_TYPES))
    if unknown:
        raise lr.LabelingRequestError(
            f"unknown event key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(_EVENT_TYPES)}"
        )
    values: dict[str, Any] = {}
    for key, expected in _EVENT_TYPES.items():
        value = event.get(key)
        if value is None:
            continue
        # bool is an int subclass: `"max_objects": true` must not mean 1.
        if not isinstance(value, expected) or isinstance(value, bool):
            raise lr.LabelingRequestError(
                f"event key {key} must be {'an integer' if expected is int else 'a string'}, got {value!r}"
            )
        values[key] = value
    if values.get("max_objects", 1) < 1:
        raise lr.LabelingRequestError(f"event key max_objects must be at least 1, got {values['max_objects']}")
    return StartLabelingEvent(**values)


# --- AWS steps -----------------------------------------------------------------------------


def describe_job(sagemaker: Any, job_name: str) -> dict[str, Any] | None:
    try:
        return sagemaker.describe_labeling_job(LabelingJobName=job_name)
    except ClientError as error:
        if is_not_found_error(error.response):
            return None
        raise


def list_objects(s3: Any, bucket: str, prefix: str, owner: str) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under the prefix, page by page, in S3's (key) order."""
    paginator = s3.get_paginator("list_objects_v2")
    # ExpectedBucketOwner: never read or write a same-named bucket in someone else's account.
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, ExpectedBucketOwner=owner):
        for listed in page.get("Contents", ()):
            yield listed["Key"], listed["Size"]


def upload(s3: Any, planned: lr.PlannedFile, owner: str) -> int:
    """Stream a planned file to S3 through a spooled temporary file; returns its size."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as buffer:
        for chunk in planned.produce():
            buffer.write(chunk)
        size = buffer.tell()
        buffer.seek(0)
        # upload_fileobj switches to a multipart upload for big files by itself.
        s3.upload_fileobj(
            buffer,
            planned.bucket,
            planned.key,
            ExtraArgs={"ContentType": planned.content_type, "ExpectedBucketOwner": owner},
        )
    return size


def _existing_job_result(settings: lr.LabelingSettings, job: Mapping[str, Any]) -> dict[str, Any]:
    name = job["LabelingJobName"]
    return {
        "job_name": name,
        "job_arn": job["LabelingJobArn"],
        "console_url": lr.console_url(settings, name),
        # DescribeLabelingJob does not report how many objects the manifest held, and this
        # invocation listed nothing: the counts belong to the call that created the job.
        "object_count": None,
        "skipped": {},
        "status": job["LabelingJobStatus"],
        "created": False,
    }


def start_labeling(
    settings: lr.LabelingSettings,
    request: StartLabelingEvent,
    *,
    now: datetime,
    s3: Any,
    sagemaker: Any,
) -> dict[str, Any]:
    # Everything that can be checked without AWS is checked before the first call.
    job_name = lr.resolve_job_name(settings, request.job_name, now=now)
    images_prefix = lr.resolve_images_prefix(settings, request.images_prefix)

    existing = describe_job(sagemaker, job_name)
    if existing is not None:
        log(LOGGER, "labeling job already exists; nothing written", job_name=job_name)
        return _outcome(_existing_job_result(settings, existing), "already_exists",
                        f"labeling job {job_name} exists; nothing written")

    plan = lr.plan_labeling(
        settings,
        list_objects(s3, settings.bucket, images_prefix, settings.account),
        job_name=job_name,
        max_objects=request.max_objects,
        images_prefix=images_prefix,
    )
    log(
        LOGGER,
        "planned labeling job",
        job_name=plan.job_name,
        images=plan.images_uri,
        object_count=plan.object_count,
        skipped=dict(plan.skipped),
    )
    # Files in plan order: request.json last, so it only exists once everything it names does.
    for planned in plan.files.values():
        size = upload(s3, planned, settings.account)
        log(LOGGER, "wrote labeling input", uri=planned.uri, bytes=size)

    try:
        job_arn = sagemaker.create_labeling_job(**plan.request)["LabelingJobArn"]
    except ClientError as error:
        if not is_already_exists_error(error.response):
            raise
        # Another invocation created the same name between our Describe and Create.
        raced = describe_job(sagemaker, job_name)
        if raced is None:
            raise
        log(LOGGER, "labeling job created concurrently by another invocation", job_name=job_name)
        return _outcome(_existing_job_result(settings, raced), "already_exists",
                        f"labeling job {job_name} was created concurrently by another invocation")

    log(LOGGER, "created labeling job", job_name=plan.job_name, job_arn=job_arn)
    return _outcome({
        "job_name": plan.job_name,
        "job_arn": job_arn,
        "console_url": plan.console_url,
        "object_count": plan.object_count,
        "skipped": dict(plan.skipped),
        "status": NEW_JOB_STATUS,
        "created": True,
    }, "created", f"created labeling job {plan.job_name}")


def _outcome(result: dict[str, Any], decision: str, reason: str) -> dict[str, Any]:
    """Log the decision like the other handlers do; the answer keeps its shape (the CLI reads it)."""
    finish(LOGGER, result, decision, reason)
    return result


def handler(event: Any, context: Any) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", None)
    try:
        request = parse_event(event)
        settings = lr.LabelingSettings.from_env()
        return start_labeling(
            settings,
            request,
            now=datetime.now(UTC),
            s3=client("s3", settings.region),
            sagemaker=client("sagemaker", settings.region),
        )
    except (lr.LabelingRequestError, SettingsError) as error:
        log(LOGGER, "labeling job not started", level=logging.ERROR, error=str(error), request_id=request_id)
        raise
