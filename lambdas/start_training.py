"""Lambda: a Ground Truth labeling job completed -> split its output and start training.

Triggered by the EventBridge event "SageMaker Ground Truth Labeling Job State Change". Reads
the job's output manifest from S3 as a stream, writes `train.manifest`, `validation.manifest`,
`label-map.json` (class id -> category name, needed at inference time) and `summary.json` under
`<prefix>/training/<labeling-job>/`, then starts a training job (or a
hyperparameter tuning job when tuning is enabled) named after the labeling job.

A relabel job (tagged `relabel-of`, lambdas/relabel_chain.py) is trained on its chain's merged
manifest instead: the first job's output with each relabel job's labels merged in, later labels
winning, one line per object, under the first job's label attribute (`relabel.merge_chain`), also
written as `merged.manifest` next to the split. Machine labels below `exclude_machine_labels_below`
are left out, and summary.json counts the human and machine labels used (lambdas/training_input.py).

Idempotent: SageMaker may deliver the same event twice and Lambda retries async invocations.
The job name is derived from the labeling job, so a second delivery finds the job already
there (or gets "already exists" from SageMaker) and starts nothing.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from . import relabel
from .aws_clients import client
from .manifests import (
    DataLocation,
    ManifestSplit,
    iter_lines,
    parse_label_categories,
    write_manifest,
)
from .naming import job_name_from_arn
from .relabel_chain import ChainReader
from .runtime import (
    alert_settings_error,
    alerting_failures,
    console_url,
    error_code,
    error_message,
    finish,
    get_logger,
    is_already_exists_error,
    is_not_found_error,
    publish_alert,
)
from .settings import SettingsError
from .training_input import MERGED_MANIFEST_FILE, chain_summary, split_with_label_sources
from .training_request import (
    SETTINGS_VARIABLE,
    JobRequestPlan,
    LabelingJob,
    TrainingSettings,
    manifest_key,
    plan_job_request,
    skip_reason,
    training_job_name,
    tuning_job_name,
)

DETAIL_TYPE = "SageMaker Ground Truth Labeling Job State Change"

# 1 MiB reads instead of botocore's default 1 KiB: fewer trips through the stream, and memory
# stays at about one chunk plus one line (a line is capped at manifests.MAX_LINE_BYTES).
READ_CHUNK_BYTES = 1 << 20
# Next to the manifests: the model outputs one probability per class id, in this order.
LABEL_MAP_FILE = "label-map.json"

LOGGER = get_logger("start_training")
# How alerts name this function.
FUNCTION = "StartTraining"
# GetObject on a key that is not there: NoSuchKey (404) when the reader may list the bucket, else
# AccessDenied (403): "If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP
# status code 403" (GetObject API reference). This function may not list the bucket, so on a real
# account a missing manifest answers AccessDenied.
MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
MISSING_OR_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden"})


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        settings = TrainingSettings.from_env()
    except SettingsError as error:
        alert_settings_error(LOGGER, FUNCTION, SETTINGS_VARIABLE, error, context=context)
        raise
    labeling_job_name, status = parse_event(event)
    result: dict[str, Any] = {"labeling_job": labeling_job_name, "labeling_job_status": status}

    if not labeling_job_name.startswith(settings.job_prefix):
        return finish(LOGGER, result, "ignored", f"not one of ours (prefix {settings.job_prefix!r})")
    if status != "Completed":
        return finish(LOGGER, result, "ignored", f"labeling job is {status}, not Completed")
    # Accepted: from here on, every way out without a job tells people (docs/alerts.md).
    with alerting_failures(LOGGER, FUNCTION, f"labeling job {labeling_job_name}", topic_arn=settings.topic_arn,
                           region=settings.region,
                           console=console_url(settings.region, "labeling-job", labeling_job_name)):
        return _start(settings, labeling_job_name, result)


def _start(settings: TrainingSettings, labeling_job_name: str, result: dict[str, Any]) -> dict[str, Any]:
    sagemaker = client("sagemaker", settings.region)
    tuning = settings.tuning.enabled
    job_key = "tuning_job" if tuning else "training_job"
    job_name = tuning_job_name(labeling_job_name) if tuning else training_job_name(labeling_job_name)
    result[job_key] = job_name
    # Checked first so a redelivered event does not re-read and rewrite the manifests that a
    # running job is reading (they would be identical, but the work is wasted).
    if _job_exists(sagemaker, job_name, tuning=tuning):
        return finish(LOGGER, result, "already_started", f"{job_key.replace('_', ' ')} exists")

    description = sagemaker.describe_labeling_job(LabelingJobName=labeling_job_name)
    job = describe_labeling_job(sagemaker, settings.region, labeling_job_name, owner=settings.account,
                                bucket=settings.bucket, description=description)
    if not job.output_manifest_uri:
        return _manifest_unusable(settings, result, job_key, labeling_job_name,
                                  "SageMaker reports no output manifest (LabelingJobOutput.OutputDatasetS3Uri)")
    reader = _chain_reader(settings, sagemaker, description)
    try:
        links = reader.chain(labeling_job_name)
        merged = _merge(settings, reader, links) if links else None
    except (relabel.RelabelError, _Unreadable) as error:
        return _manifest_unusable(settings, result, job_key, labeling_job_name,
                                  f"it relabels an earlier job, but its relabel chain cannot be merged: {error}")
    chain: dict[str, Any] | None = None
    lines: Iterable[bytes]
    if merged is not None:
        # Trained like the chain's first job: its label attribute, one line per object, later labels winning.
        job = dataclasses.replace(job, label_attribute=reader.training_label_attribute(job.name, links))
        merged_uri = f"s3://{settings.bucket}/{manifest_key(settings, job.name, MERGED_MANIFEST_FILE)}"
        chain = chain_summary(links, merged, merged_uri)
        result["relabel_chain"] = chain["jobs"]
        lines = merged.lines
    else:
        try:
            body = open_object(settings.region, job.output_manifest_uri,
                               _owner_of(settings, job.output_manifest_uri))
        except ClientError as error:
            problem = _missing_problem(error, f"the output manifest {job.output_manifest_uri}")
            return _manifest_unusable(settings, result, job_key, labeling_job_name, problem)
        lines = body_lines(body)
    split = split_with_label_sources(
        lines,
        label_attribute=job.label_attribute,
        categories=job.categories,
        labeling_job_name=job.name,
        # Images only from the project's data prefix: the execution role reads no other place.
        location=DataLocation(settings.bucket, settings.prefix),
        validation_fraction=settings.validation_fraction,
        exclude_machine_below=settings.exclude_machine_labels_below,
    )
    if chain is not None:
        split = dataclasses.replace(split, summary={**split.summary, "relabel_chain": chain})
    totals = split.summary["totals"]
    result["counts"] = {
        **totals,
        "dropped_by_reason": split.summary["dropped"],
        "classes_present": split.summary["classes_present"],
        "label_sources": split.summary["label_sources"],
    }
    if totals["input_lines"] == 0:
        return _manifest_unusable(settings, result, job_key, labeling_job_name,
                                  f"the output manifest {job.output_manifest_uri} is empty (no lines)")
    reason = skip_reason(settings, split.summary)
    # The request is built and checked before anything is written, so summary.json tells the outcome.
    plan = None if reason else plan_job_request(settings, job, train_count=totals["train"],
                                                label_ids=_label_ids(split.summary))
    refusal = "; ".join(plan.problems) if plan and plan.problems else None
    decision = "skipped" if reason else "refused" if refusal else "started"
    _write_outputs(settings, job.name, _with_plan(split, plan), decision=decision, reason=reason or refusal,
                   merged=None if merged is None else merged.lines)

    if reason:
        _alert(settings, f"Training not started for labeling job {job.name}", reason, split.summary)
        result[job_key] = None
        return finish(LOGGER, result, "skipped", reason)

    assert plan is not None  # built whenever there is no skip reason
    result["adjustments"] = plan.adjustments_json()
    if plan.problems:
        # The service or the algorithm would reject this request, or fail the job mid-run.
        details = "\n".join(["SageMaker or the algorithm would reject this request:",
                             *(f"- {problem}" for problem in plan.problems)])
        _alert(settings, f"Training refused for labeling job {job.name}", details, split.summary)
        result[job_key] = None
        return finish(LOGGER, result, "refused", "; ".join(plan.problems))

    create = sagemaker.create_hyper_parameter_tuning_job if tuning else sagemaker.create_training_job
    try:
        create(**plan.request)
    except ClientError as error:
        if not is_already_exists_error(error.response):
            raise
        return finish(LOGGER, result, "already_started", f"SageMaker says: {error_message(error)}")
    return finish(LOGGER, result, "started", f"started {job_key.replace('_', ' ')} {job_name}")


def _label_ids(summary: Mapping[str, Any]) -> list[int]:
    """The class ids the split's lines carry (classes with at least one example)."""
    return [entry["index"] for entry in summary["classes"] if entry["train"] or entry["validation"]]


def _with_plan(split: ManifestSplit, plan: JobRequestPlan | None) -> ManifestSplit:
    """The split with the request plan's adjustments and problems in its summary (summary.json)."""
    extra = {
        "adjustments": plan.adjustments_json() if plan else [],
        "problems": list(plan.problems) if plan else [],
    }
    return dataclasses.replace(split, summary={**split.summary, **extra})


# --- event and SageMaker/S3 reading ---------------------------------------------------------


def parse_event(event: Any) -> tuple[str, str]:
    """(labeling job name, status) from the EventBridge event; ValueError naming what is wrong."""
    if not isinstance(event, Mapping):
        raise ValueError(f"expected an EventBridge event object, got {type(event).__name__}")
    detail_type = event.get("detail-type")
    if detail_type != DETAIL_TYPE:
        raise ValueError(f"event detail-type is {detail_type!r}; this function handles {DETAIL_TYPE!r}")
    resources = event.get("resources")
    if not isinstance(resources, list) or not resources:
        raise ValueError(
            "event.resources must list the labeling job ARN (SageMaker puts the job name only "
            f"there), got {resources!r}"
        )
    detail = event.get("detail")
    status = detail.get("LabelingJobStatus") if isinstance(detail, Mapping) else None
    if not isinstance(status, str) or not status:
        raise ValueError(f"event.detail.LabelingJobStatus is missing; detail = {detail!r}")
    return job_name_from_arn(resources[0]), status


def describe_labeling_job(
    sagemaker: Any, region: str, name: str, *, owner: str | None = None, bucket: str | None = None,
    description: Mapping[str, Any] | None = None,
) -> LabelingJob:
    """The labeling job's facts; `output_manifest_uri` is "" when SageMaker reports no output.

    `owner` is sent as ExpectedBucketOwner when the category file is in `bucket` (the project's).
    `description`: DescribeLabelingJob's answer when the caller has it already."""
    if description is None:
        description = sagemaker.describe_labeling_job(LabelingJobName=name)
    output_uri = (description.get("LabelingJobOutput") or {}).get("OutputDatasetS3Uri") or ""
    categories_uri = description.get("LabelCategoryConfigS3Uri")
    if not categories_uri:
        raise ValueError(
            f"labeling job {name} has no LabelCategoryConfigS3Uri: the class index order "
            "(and num_classes) comes from that file"
        )
    categories_bucket, _ = parse_s3_uri(categories_uri)
    document = open_object(region, categories_uri, owner if categories_bucket == bucket else None).read()
    try:
        categories = parse_label_categories(document)
    except ValueError as error:
        raise ValueError(f"{categories_uri}: {error}") from None
    return LabelingJob(
        name=name,
        label_attribute=description["LabelAttributeName"],
        categories=categories,
        output_manifest_uri=output_uri,
    )


def read_lines(region: str, uri: str, owner: str | None = None) -> Iterable[bytes]:
    """The lines of an S3 object, streamed: never the whole object, nor one whole over-long line,
    in memory. Not botocore's `iter_lines`: it buffers a line of any length (and splits on a
    lone `\\r` too, `bytes.splitlines`); `manifests.iter_lines` caps each line."""
    yield from body_lines(open_object(region, uri, owner))


def body_lines(body: Any) -> Iterable[bytes]:
    """The lines of an open GetObject body (see `read_lines`), closing it at the end."""
    try:
        yield from iter_lines(body.iter_chunks(chunk_size=READ_CHUNK_BYTES))
    finally:
        body.close()


def open_object(region: str, uri: str, owner: str | None) -> Any:
    """GetObject's streaming body. `owner`: ExpectedBucketOwner, so a same-named bucket in another
    account is refused (403) instead of read (S3 GetObject API reference; docs/alerts.md)."""
    bucket, key = parse_s3_uri(uri)
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if owner:
        request["ExpectedBucketOwner"] = owner
    return client("s3", region).get_object(**request)["Body"]


# --- relabel chains ----------------------------------------------------------------------------


class _Unreadable(Exception):
    """A job or object of a relabel chain that does not exist or cannot be read (the message says which)."""


def _missing_problem(error: ClientError, what: str) -> str:
    """What a missing or unreadable object's error means; re-raises any other error (a retry may help)."""
    code = error_code(error)
    if code in MISSING_OBJECT_CODES:
        return f"{what} does not exist ({code})"
    if code in MISSING_OR_DENIED_CODES:
        return (f"{what} does not exist or cannot be read ({code}: S3 answers 403, not 404, for a missing key "
                "when the reader may not list the bucket)")
    raise error


def _chain_reader(settings: TrainingSettings, sagemaker: Any, description: Mapping[str, Any]) -> ChainReader:
    """Reads a relabel chain with this function's grants: DescribeLabelingJob (our jobs) and GetObject of
    `<prefix>/labeling/<job>/relabel.json` in the data bucket."""

    def describe(name: str) -> Mapping[str, Any]:
        try:
            return dict(sagemaker.describe_labeling_job(LabelingJobName=name))
        except ClientError as error:
            if is_not_found_error(error.response):
                raise _Unreadable(f"labeling job {name} does not exist") from None
            raise

    def read_object(key: str) -> bytes:
        uri = f"s3://{settings.bucket}/{key}"
        try:
            return bytes(open_object(settings.region, uri, settings.account).read())
        except ClientError as error:
            raise _Unreadable(_missing_problem(error, uri)) from None

    reader = ChainReader(settings.prefix, describe=describe, read_object=read_object)
    reader.remember(description)
    return reader


def _merge(settings: TrainingSettings, reader: ChainReader, links: list[relabel.ChainLink]) -> relabel.MergedManifest:
    """The chain's merged manifest (every job's output read in full: the merge keeps one line per object)."""

    def output(name: str) -> list[bytes]:
        uri = reader.output_uri(name)
        try:
            return list(read_lines(settings.region, uri, _owner_of(settings, uri)))
        except ClientError as error:
            raise _Unreadable(_missing_problem(error, f"the output manifest {uri}")) from None

    return relabel.merge_chain(links, output)


def _owner_of(settings: TrainingSettings, uri: str) -> str | None:
    """The account expected to own `uri`'s bucket: ours for the project bucket, unknown otherwise."""
    return settings.account if parse_s3_uri(uri)[0] == settings.bucket else None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    return bucket, key


def _job_exists(sagemaker: Any, name: str, *, tuning: bool) -> bool:
    try:
        if tuning:
            sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        else:
            sagemaker.describe_training_job(TrainingJobName=name)
    except ClientError as error:
        if is_not_found_error(error.response):
            return False
        raise
    return True


# --- writing and alerting --------------------------------------------------------------------


def _write_outputs(
    settings: TrainingSettings, name: str, split: ManifestSplit, *, decision: str, reason: str | None,
    merged: list[bytes] | None = None,
) -> None:
    s3 = client("s3", settings.region)
    if merged is not None:
        # A relabel chain's merged manifest: what the split read, for the record and for a later relabel.
        with tempfile.TemporaryFile() as spool:
            write_manifest(merged, spool)
            spool.seek(0)
            s3.put_object(Bucket=settings.bucket, ExpectedBucketOwner=settings.account,
                          Key=manifest_key(settings, name, MERGED_MANIFEST_FILE), Body=spool,
                          ContentType="application/jsonlines")
    for channel, lines in (("train", split.train), ("validation", split.validation)):
        # Through a temporary file: joining the lines in memory would hold the manifest twice.
        with tempfile.TemporaryFile() as spool:
            write_manifest(lines, spool)
            spool.seek(0)
            s3.put_object(
                Bucket=settings.bucket,
                ExpectedBucketOwner=settings.account,
                Key=manifest_key(settings, name, f"{channel}.manifest"),
                Body=spool,
                ContentType="application/jsonlines",
            )
    s3.put_object(
        Bucket=settings.bucket,
        ExpectedBucketOwner=settings.account,
        Key=manifest_key(settings, name, LABEL_MAP_FILE),
        Body=json.dumps(split.label_map, indent=2).encode(),
        ContentType="application/json",
    )
    summary = {**split.summary, "decision": decision, "reason": reason}
    # Written last: its presence says the manifests next to it are complete.
    s3.put_object(
        Bucket=settings.bucket,
        ExpectedBucketOwner=settings.account,
        Key=manifest_key(settings, name, "summary.json"),
        Body=json.dumps(summary, indent=2).encode(),
        ContentType="application/json",
    )


def _manifest_unusable(
    settings: TrainingSettings, result: dict[str, Any], job_key: str, labeling_job: str, problem: str
) -> dict[str, Any]:
    """Alert that the labeling job left nothing to train on, and finish without a job."""
    reason = f"{problem}: nothing to train on"
    message = "\n".join([
        f"Training not started for labeling job {labeling_job}: {reason}.",
        "",
        "What to do: open the labeling job in the console and check that it labeled objects and "
        "wrote its output; a labeling job that ended with no labeled objects needs a new job.",
    ])
    publish_alert(settings.topic_arn, settings.region, f"Training not started for labeling job {labeling_job}",
                  message, console=console_url(settings.region, "labeling-job", labeling_job),
                  logger=LOGGER, fields={"reason": reason})
    result[job_key] = None
    return finish(LOGGER, result, "skipped", reason)


def _alert(settings: TrainingSettings, subject: str, reason: str, summary: Mapping[str, Any]) -> None:
    message = "\n".join(
        [
            reason,
            "",
            f"Split summary: s3://{settings.bucket}/"
            f"{manifest_key(settings, summary['labeling_job'], 'summary.json')}",
            f"Totals: {json.dumps(summary['totals'])}",
            f"Dropped by reason: {json.dumps(summary['dropped'])}",
        ]
    )
    publish_alert(
        settings.topic_arn, settings.region, subject, message,
        console=console_url(settings.region, "labeling-job", summary["labeling_job"]),
        logger=LOGGER, fields={"reason": reason},
    )
