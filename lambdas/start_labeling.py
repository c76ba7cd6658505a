"""StartLabeling Lambda: freeze the inputs of a Ground Truth job in S3 and create the job.

The handler is thin: it validates the event, asks SageMaker whether the job already exists,
lists the images, lets `labeling_request.plan_labeling` decide everything, writes the planned
files and sends the planned `CreateLabelingJob` request.

Event (every key optional):
    {"images_prefix": "ground-truth-demo/images/", "job_name": "cars-2", "max_objects": 500}

A job over a manifest already uploaded to the job's input folder (`python -m workflow relabel`
uploads the selected objects there), under another label attribute, as a relabel job of a
completed job:
    {"job_name": "gt-demo-relabel-1",
     "input_manifest_key": "ground-truth-demo/labeling/gt-demo-relabel-1/input.manifest",
     "label_attribute": "vehicle-type-relabel-1",
     "relabel": {"from_job": "gt-demo-20240506-070809", "below_confidence": "0.7", "failed": false}}
`input_manifest_key` needs `job_name` and excludes `images_prefix`; `relabel` needs both
`input_manifest_key` and `label_attribute`. For a relabel job the function checks that the earlier
job completed and used the same label categories, works out the attribute training reads (the
chain's first job's), writes `relabel.json` with the other inputs and tags the job `relabel-of`
(docs/labeling-cost.md).

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
from . import relabel
from .aws_clients import client
from .manifests import iter_lines, parse_label_categories
from .relabel_chain import ChainReader
from .runtime import error_code, finish, get_logger, is_already_exists_error, is_not_found_error, log
from .settings import SettingsError

# Manifests up to this size stay in memory, bigger ones spill to /tmp (a 100,000-image
# manifest is ~10 MB): bounded memory whatever the job size, no disk use for small jobs.
SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024

# First status Ground Truth reports for a job it has just accepted.
NEW_JOB_STATUS = "Initializing"
# 1 MiB reads of a given input manifest (bounded memory: one chunk plus one capped line).
READ_CHUNK_BYTES = 1 << 20
# GetObject of a key that is not there: 404 NoSuchKey, or 403 AccessDenied for a reader that may not
# list the bucket (this function lists only the images prefix): GetObject API reference.
MISSING_OR_DENIED_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403", "Forbidden"})

LOGGER = get_logger("start_labeling")


# --- Event ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelabelRequest:
    """The event's `relabel`: the completed job whose objects the input manifest holds, and why."""

    from_job: str
    criteria: relabel.RelabelCriteria


@dataclass(frozen=True)
class StartLabelingEvent:
    images_prefix: str | None = None
    job_name: str | None = None
    max_objects: int | None = None
    input_manifest_key: str | None = None
    label_attribute: str | None = None
    relabel: RelabelRequest | None = None


_EVENT_TYPES: dict[str, type] = {"images_prefix": str, "job_name": str, "max_objects": int,
                                 "input_manifest_key": str, "label_attribute": str, "relabel": dict}
_RELABEL_KEYS = ("from_job", "below_confidence", "failed")


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
        expected_check = Mapping if expected is dict else expected
        if not isinstance(value, expected_check) or isinstance(value, bool):
            what = {int: "an integer", str: "a string", dict: "a JSON object"}[expected]
            raise lr.LabelingRequestError(f"event key {key} must be {what}, got {value!r}")
        values[key] = value
    if values.get("max_objects", 1) < 1:
        raise lr.LabelingRequestError(f"event key max_objects must be at least 1, got {values['max_objects']}")
    if "relabel" in values:
        values["relabel"] = _parse_relabel(values["relabel"])
    _check_combination(values)
    return StartLabelingEvent(**values)


def _parse_relabel(value: Mapping[str, Any]) -> RelabelRequest:
    unknown = sorted(map(str, set(value) - set(_RELABEL_KEYS)))
    if unknown:
        raise lr.LabelingRequestError(f"unknown key(s) {', '.join(unknown)} in event key relabel; allowed: "
                                      f"{', '.join(_RELABEL_KEYS)}")
    from_job = value.get("from_job")
    if not isinstance(from_job, str) or not lr.JOB_NAME_PATTERN.fullmatch(from_job):
        raise lr.LabelingRequestError(f"event key relabel.from_job must be the name of the labeling job whose "
                                      f"objects are relabeled, got {from_job!r}")
    failed = value.get("failed", False)
    if not isinstance(failed, bool):
        raise lr.LabelingRequestError(f"event key relabel.failed must be true or false, got {failed!r}")
    below = value.get("below_confidence")
    if isinstance(below, bool) or not isinstance(below, (str, int, float, type(None))):
        raise lr.LabelingRequestError(f"event key relabel.below_confidence must be a number such as \"0.7\" or "
                                      f"null, got {below!r}")
    try:
        criteria = relabel.RelabelCriteria(below_confidence=below, failed=failed)  # type: ignore[arg-type]
    except relabel.RelabelError as error:
        raise lr.LabelingRequestError(f"event key relabel: {error}") from None
    return RelabelRequest(from_job=from_job, criteria=criteria)


def _check_combination(values: Mapping[str, Any]) -> None:
    """The keys that only work together, said plainly."""
    if "input_manifest_key" in values:
        if "images_prefix" in values:
            raise lr.LabelingRequestError("give images_prefix (images to list) or input_manifest_key (a manifest "
                                          "already uploaded), not both")
        if "job_name" not in values:
            raise lr.LabelingRequestError("input_manifest_key needs job_name: the manifest lives in that job's "
                                          "input folder, <prefix>/labeling/<job_name>/")
    if "label_attribute" in values:
        problem = relabel.label_attribute_problem(values["label_attribute"])
        if problem:
            raise lr.LabelingRequestError(f"event key label_attribute: {problem}")
    if "relabel" in values and not {"input_manifest_key", "label_attribute"} <= set(values):
        raise lr.LabelingRequestError("relabel needs input_manifest_key (the selected objects) and label_attribute "
                                      "(a new one: relabel.next_label_attribute); `python -m workflow relabel` "
                                      "sends all three")


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
    if request.input_manifest_key is not None:
        lr.check_input_manifest_key(settings, job_name, request.input_manifest_key)
    if request.relabel is not None:
        _check_from_job(settings, request.relabel.from_job, job_name)

    existing = describe_job(sagemaker, job_name)
    if existing is not None:
        log(LOGGER, "labeling job already exists; nothing written", job_name=job_name)
        return _outcome(_existing_job_result(settings, existing), "already_exists",
                        f"labeling job {job_name} exists; nothing written")

    if request.input_manifest_key is None:
        plan = lr.plan_labeling(
            settings,
            list_objects(s3, settings.bucket, images_prefix, settings.account),
            job_name=job_name,
            max_objects=request.max_objects,
            images_prefix=images_prefix,
        )
    else:
        plan = _plan_from_manifest(settings, request, job_name, s3=s3, sagemaker=sagemaker)
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
    result = {
        "job_name": plan.job_name,
        "job_arn": job_arn,
        "console_url": plan.console_url,
        "object_count": plan.object_count,
        "skipped": dict(plan.skipped),
        "status": NEW_JOB_STATUS,
        "created": True,
    }
    if request.relabel is not None:
        result["relabel_of"] = request.relabel.from_job
        result["label_attribute"] = plan.request["LabelAttributeName"]
    return _outcome(result, "created", f"created labeling job {plan.job_name}")


# --- A job over a given manifest (relabel jobs) ----------------------------------------------


def _check_from_job(settings: lr.LabelingSettings, from_job: str, job_name: str) -> None:
    if not from_job.startswith(f"{settings.job_prefix}-"):
        raise lr.LabelingRequestError(f"relabel.from_job {from_job!r} is not one of this workflow's jobs (they start "
                                      f"with {settings.job_prefix}-)")
    if from_job == job_name:
        raise lr.LabelingRequestError(f"job {job_name} cannot relabel itself: give the new job another name")


def read_object(s3: Any, settings: lr.LabelingSettings, key: str) -> bytes:
    """A small object of the data bucket (label categories, relabel.json); LabelingRequestError if it is
    missing or unreadable."""
    return _body(s3, settings, key).read()


def _body(s3: Any, settings: lr.LabelingSettings, key: str) -> Any:
    try:
        return s3.get_object(Bucket=settings.bucket, Key=key, ExpectedBucketOwner=settings.account)["Body"]
    except ClientError as error:
        if error_code(error) not in MISSING_OR_DENIED_CODES:
            raise
        raise lr.LabelingRequestError(
            f"s3://{settings.bucket}/{key} does not exist or cannot be read ({error_code(error)}; S3 answers 403 "
            "for a missing key to a reader that may not list the bucket)") from None


def read_lines(s3: Any, settings: lr.LabelingSettings, key: str) -> Iterator[bytes]:
    body = _body(s3, settings, key)
    try:
        yield from iter_lines(body.iter_chunks(chunk_size=READ_CHUNK_BYTES))
    finally:
        body.close()


def _plan_from_manifest(settings: lr.LabelingSettings, request: StartLabelingEvent, job_name: str, *,
                        s3: Any, sagemaker: Any) -> lr.LabelingPlan:
    key = request.input_manifest_key
    assert key is not None  # the caller's branch
    uri = f"s3://{settings.bucket}/{key}"
    count = lr.count_manifest_objects(read_lines(s3, settings, key), settings, where=uri)
    link = None
    if request.relabel is not None:
        assert request.label_attribute is not None  # parse_event requires it
        link = relabel_link(settings, request.relabel, job_name, request.label_attribute, count,
                            s3=s3, sagemaker=sagemaker)
    return lr.plan_labeling_from_manifest(settings, job_name=job_name, manifest_key=key, object_count=count,
                                          label_attribute=request.label_attribute, chain_link=link,
                                          max_objects=request.max_objects)


def relabel_link(settings: lr.LabelingSettings, wanted: RelabelRequest, job_name: str, label_attribute: str,
                 selected: int, *, s3: Any, sagemaker: Any) -> relabel.ChainLink:
    """The relabel.json of a new relabel job, after checking what chaining needs: the earlier job
    completed, used the same label categories (the merge keeps class ids), and the new label attribute
    is new (with the earlier one, Ground Truth would skip every object that has a label)."""
    from_job = wanted.from_job
    described = describe_job(sagemaker, from_job)
    if described is None:
        raise lr.LabelingRequestError(f"relabel.from_job {from_job}: no such labeling job")
    if described["LabelingJobStatus"] != "Completed":
        raise lr.LabelingRequestError(f"relabel.from_job {from_job} is {described['LabelingJobStatus']}: only a "
                                      "completed job's labels can be relabeled")
    reader = ChainReader(settings.prefix, describe=lambda name: _described(sagemaker, name),
                         read_object=lambda key: read_object(s3, settings, key))
    reader.remember(described)
    categories_uri = str(described.get("LabelCategoryConfigS3Uri") or "")
    categories_key = categories_uri.removeprefix(f"s3://{settings.bucket}/")
    if categories_key == categories_uri or not categories_key.startswith(lr.inputs_prefix(settings.prefix, "")):
        raise lr.LabelingRequestError(f"relabel.from_job {from_job}: its label categories {categories_uri!r} are not "
                                      f"in this workflow's inputs (s3://{settings.bucket}/"
                                      f"{lr.inputs_prefix(settings.prefix, '')}): cannot check they are the same")
    try:
        categories = parse_label_categories(read_object(s3, settings, categories_key))
        links = reader.chain(from_job)
    except (ValueError, relabel.RelabelError) as error:  # RelabelError is a ValueError
        raise lr.LabelingRequestError(f"relabel.from_job {from_job}: {error}") from None
    if categories != tuple(settings.labels):
        raise lr.LabelingRequestError(
            f"relabel.from_job {from_job} was labeled with the categories {list(categories)}, the settings have "
            f"{list(settings.labels)}: a relabel job must use the same categories (the merge keeps class ids)")
    training_attribute = reader.training_label_attribute(from_job, links)
    taken = {described["LabelAttributeName"], training_attribute, *(link.label_attribute for link in links)}
    if label_attribute in taken:
        raise lr.LabelingRequestError(
            f"label_attribute {label_attribute!r} is already used in the chain of {from_job}: a relabel job needs a "
            f"new one, e.g. {relabel.next_label_attribute(described['LabelAttributeName'], taken)!r} (with a used "
            "one, Ground Truth skips every object that has a label under it)")
    try:
        return relabel.ChainLink(job_name=job_name, from_job=from_job, label_attribute=label_attribute,
                                 training_label_attribute=training_attribute,
                                 criteria=wanted.criteria.as_json(), selected=selected)
    except relabel.RelabelError as error:
        raise lr.LabelingRequestError(str(error)) from None


def _described(sagemaker: Any, job_name: str) -> dict[str, Any]:
    found = describe_job(sagemaker, job_name)
    if found is None:
        raise lr.LabelingRequestError(f"labeling job {job_name} of the relabel chain does not exist")
    return found


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
