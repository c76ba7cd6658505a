"""Lambda: a model's evaluation transform ended -> metrics.json, report.html and the model package, or an alert.

Triggered by the EventBridge event "SageMaker Transform Job State Change" of our evaluation
transform jobs (the rule matches the job prefix and the evaluation's output path, so other
transform jobs of the prefix, such as `workflow predict --batch`, never reach it). RegisterModel
started the job and froze what the evaluation needs in `inputs.json` (evaluation_job.py).

- Completed: joins the predictions with the validation split's labels (`evaluation.evaluate`),
  writes `metrics.json` and `report.html` (the worst mistakes' images as pre-signed links) under
  `<prefix>/evaluation/<job>/`, then, with `model.register_package`, registers the model package
  version with the metrics (`ModelMetrics`: ModelQuality statistics = metrics.json, with its
  SHA-256) and whether it may be approved: a model below `evaluation.accuracy_floor` stays
  PendingManualApproval with the reason in its description and `approvable` = "false" in its
  CustomerMetadataProperties (the deployment refuses such a package), and an alert says so.
- Failed or Stopped, or outputs from which nothing can be evaluated: an alert with the reason and
  the console link; the package (when registering) is registered without metrics, approvable only
  when no floor is configured (an unmeasured model cannot be shown to meet one).

Idempotent: metrics.json and report.html are rewritten with the same numbers, and the package is
found by its training-job tag before it is created (register_model.create_model_package_once).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from . import register_model
from .aws_clients import CLIENT_CONFIG, client
from .evaluation import (
    EvaluationError,
    TrainingMetric,
    evaluate,
    metrics_json,
    parse_label_map,
    predictions_from_outputs,
    split_s3_uri,
)
from .evaluation_job import (
    ACCURACY_FLOOR_PROPERTY,
    ACCURACY_PROPERTY,
    APPROVABLE_PROPERTY,
    INPUTS_FILE,
    METRICS_FILE,
    REPORT_FILE,
    EvaluationLocation,
)
from .evaluation_report import render_report
from .manifests import iter_lines
from .runtime import (
    alert_settings_error,
    alerting_failures,
    console_url,
    finish,
    get_logger,
    log,
    publish_alert,
)
from .settings import EVALUATION_SETTINGS_VAR, EvaluationSettings, SettingsError

SETTINGS_VARIABLE = EVALUATION_SETTINGS_VAR
DETAIL_TYPE = "SageMaker Transform Job State Change"
# TransformJobStatus: InProgress | Completed | Failed | Stopping | Stopped (DescribeTransformJob).
COMPLETED = "Completed"
FAILED_STATUSES = ("Failed", "Stopped")

# CustomerMetadataProperties of the package (keys and values: letters, digits, spaces and _ . : / = + - @,
# at most 128 / 256 characters; botocore's model). The deployment reads `approvable`.
# ModelPackageDescription: at most 1024 characters.
DESCRIPTION_MAX = 1024
# MetricsSource.ContentType of metrics.json.
METRICS_CONTENT_TYPE = "application/json"
REPORT_CONTENT_TYPE = "text/html; charset=utf-8"
# SigV4 pre-signed URLs live at most 7 days; one signed with a role's temporary credentials (this
# function's) stops working when that session ends, whichever comes first (using-presigned-url).
# `workflow evaluate --open` renders the page again with fresh links.
IMAGE_LINK_SECONDS = 7 * 24 * 3600
# Parallel reads of the transform's outputs (one small object per image): botocore's connection pool
# holds 10 connections per client (Config.max_pool_connections), so more threads would only wait.
READ_WORKERS = 10
READ_CHUNK_BYTES = 1 << 20

LOGGER = get_logger("evaluate_model")
# How alerts name this function.
FUNCTION = "Evaluation"


@dataclass(frozen=True)
class TransformStateChange:
    name: str
    status: str
    output_path: str | None  # detail.TransformOutput.S3OutputPath, when the event carries it
    failure_reason: str | None


@dataclass(frozen=True)
class Verdict:
    """Whether the evaluated model may be approved, and why (the package's description and metadata)."""

    accuracy: float
    correct: int
    evaluated: int
    floor: float | None

    @property
    def approvable(self) -> bool:
        return self.floor is None or self.accuracy >= self.floor

    @property
    def reason(self) -> str:
        measured = f"validation accuracy {self.correct}/{self.evaluated} = {number_text(self.accuracy)}"
        if self.floor is None:
            return f"{measured}; no accuracy floor is configured"
        if self.approvable:
            return f"{measured} meets the accuracy floor {number_text(self.floor)}"
        return f"{measured} is below the accuracy floor {number_text(self.floor)}: not approvable"

    def metadata(self) -> dict[str, str]:
        properties = {ACCURACY_PROPERTY: number_text(self.accuracy), APPROVABLE_PROPERTY: _flag(self.approvable)}
        if self.floor is not None:
            properties[ACCURACY_FLOOR_PROPERTY] = number_text(self.floor)
        return properties


def number_text(value: float) -> str:
    """A fraction as the package's metadata shows it: at most 6 decimals, no exponent."""
    return format(round(value, 6), "f").rstrip("0").rstrip(".") or "0"


def _flag(value: bool) -> str:
    return "true" if value else "false"


# --- handler ---------------------------------------------------------------------------------------


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        settings = EvaluationSettings.from_env()
    except SettingsError as error:
        alert_settings_error(LOGGER, FUNCTION, SETTINGS_VARIABLE, error, context=context)
        raise
    change = parse_event(event)
    result: dict[str, Any] = {"transform_job": change.name, "status": change.status}
    if not change.name.startswith(f"{settings.job_prefix}-"):
        return finish(LOGGER, result, "ignored", f"not one of ours (prefix {settings.job_prefix}-)")
    location = EvaluationLocation(settings.bucket, settings.prefix, change.name)
    if change.output_path is not None and not same_location(change.output_path, location.predictions_uri):
        return finish(LOGGER, result, "ignored", f"writes to {change.output_path}, not to an evaluation of ours")
    # Accepted: from here on, every way out without an evaluation tells people (docs/alerts.md).
    with alerting_failures(LOGGER, FUNCTION, f"evaluation {change.name}", topic_arn=settings.topic_arn,
                           region=settings.region, console=console_url(settings.region, "transform-job", change.name)):
        return _handle(settings, change, location, result)


def parse_event(event: Any) -> TransformStateChange:
    """The transform job state change in an EventBridge event; ValueError naming what is wrong."""
    if not isinstance(event, Mapping):
        raise ValueError(f"expected an EventBridge event object, got {type(event).__name__}")
    if event.get("detail-type") != DETAIL_TYPE:
        raise ValueError(f"event detail-type is {event.get('detail-type')!r}; this function handles {DETAIL_TYPE!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise ValueError(f"event.detail must be an object, got {detail!r}")
    for key in ("TransformJobName", "TransformJobStatus"):
        if not isinstance(detail.get(key), str) or not detail[key]:
            raise ValueError(f"event.detail.{key} is missing for a {DETAIL_TYPE!r} event")
    output = (detail.get("TransformOutput") or {}).get("S3OutputPath") if isinstance(
        detail.get("TransformOutput"), Mapping) else None
    reason = detail.get("FailureReason")
    return TransformStateChange(name=detail["TransformJobName"], status=detail["TransformJobStatus"],
                                output_path=output if isinstance(output, str) else None,
                                failure_reason=reason if isinstance(reason, str) and reason else None)


def same_location(a: str, b: str) -> bool:
    """Two S3 output paths name the same place (SageMaker may echo a path without its trailing `/`)."""
    return a.rstrip("/") == b.rstrip("/")


def _handle(settings: EvaluationSettings, change: TransformStateChange, location: EvaluationLocation,
            result: dict[str, Any]) -> dict[str, Any]:
    if change.status != COMPLETED and change.status not in FAILED_STATUSES:
        return finish(LOGGER, result, "ignored", f"status {change.status} needs no action")
    sagemaker = client("sagemaker", settings.region)
    s3 = client("s3", settings.region)
    job = sagemaker.describe_transform_job(TransformJobName=change.name)
    output = (job.get("TransformOutput") or {}).get("S3OutputPath") or ""
    if not same_location(output, location.predictions_uri):
        return finish(LOGGER, result, "ignored", f"writes to {output or 'nowhere'}, not to an evaluation of ours")
    status = str(job.get("TransformJobStatus"))
    inputs = read_inputs(s3, settings, location)
    result.update(model=inputs["model"], training_job=inputs["training_job"], evaluation=location.uri())
    if status in FAILED_STATUSES:
        reason = change.failure_reason or job.get("FailureReason") or "SageMaker gave no FailureReason"
        return _not_evaluated(settings, sagemaker, inputs, result, f"transform job {change.name} {status}: {reason}")
    if status != COMPLETED:
        return finish(LOGGER, result, "ignored", f"the event says {change.status}, the job is {status}")
    try:
        metrics = measure(settings, s3, inputs, location)
    except EvaluationError as error:
        return _not_evaluated(settings, sagemaker, inputs, result, str(error))

    body = metrics_json(metrics)
    _put(s3, settings, location.key(METRICS_FILE), body, METRICS_CONTENT_TYPE)
    summary = _read_json(s3, settings, inputs["summary"])
    page = render_report(metrics, class_counts=summary.get("classes"), image_urls=image_links(settings, metrics))
    _put(s3, settings, location.key(REPORT_FILE), page.encode("utf-8"), REPORT_CONTENT_TYPE)
    verdict = Verdict(accuracy=metrics["accuracy"], correct=metrics["counts"]["correct"],
                      evaluated=metrics["counts"]["evaluated"], floor=settings.accuracy_floor)
    result.update(accuracy=verdict.accuracy, approvable=verdict.approvable, metrics=location.uri(METRICS_FILE),
                  report=location.uri(REPORT_FILE))
    if settings.register_package:
        statistics = {"ContentType": METRICS_CONTENT_TYPE, "S3Uri": location.uri(METRICS_FILE),
                      # Pins the package to these exact numbers (MetricsSource.ContentDigest).
                      "ContentDigest": "sha256:" + hashlib.sha256(body).hexdigest()}
        metrics_source = {"ModelQuality": {"Statistics": statistics}}
        result.update(_register(settings, sagemaker, inputs, note=_sentence(verdict.reason),
                                metadata=verdict.metadata(), model_metrics=metrics_source))
    if not verdict.approvable:
        _alert_below_floor(settings, change.name, inputs, verdict, location, result.get("model_package"))
    return finish(LOGGER, result, "evaluated", verdict.reason)


# --- reading and measuring -------------------------------------------------------------------------


def read_inputs(s3: Any, settings: EvaluationSettings, location: EvaluationLocation) -> dict[str, Any]:
    """inputs.json (evaluation_job.inputs_document), with its locations checked to be in the data bucket."""
    inputs = _read_json(s3, settings, location.uri(INPUTS_FILE))
    for key in ("model", "training_job", "validation_manifest", "label_map", "summary"):
        if not isinstance(inputs.get(key), str) or not inputs[key]:
            raise ValueError(f"{location.uri(INPUTS_FILE)} has no {key!r}: it was not written by RegisterModel")
    return inputs


def measure(settings: EvaluationSettings, s3: Any, inputs: Mapping[str, Any],
            location: EvaluationLocation) -> dict[str, Any]:
    """metrics.json's document: the transform's outputs against the validation split's labels."""
    label_map = _read_json(s3, settings, inputs["label_map"])
    labels = parse_label_map(label_map)
    label_attribute = label_map.get("label_attribute")
    if not isinstance(label_attribute, str) or not label_attribute:
        raise ValueError(f"{inputs['label_map']} has no label_attribute (StartTraining writes it)")
    metric = inputs.get("training_metric")
    training_metric = TrainingMetric(name=metric["name"], value=metric["value"]) if metric else None
    outputs = read_outputs(s3, settings, location.predictions_prefix)
    predictions = predictions_from_outputs(outputs, bucket=settings.bucket)
    metrics = evaluate(_read_lines(s3, settings, inputs["validation_manifest"]), predictions,
                       label_attribute=label_attribute, labels=labels, training_job=inputs["training_job"],
                       training_metric=training_metric)
    metrics["evaluation"] = {"transform_job": location.job, "model": inputs["model"],
                             "tuning_job": inputs.get("tuning_job")}
    return metrics


def read_outputs(s3: Any, settings: EvaluationSettings, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix` (the transform's outputs), keyed by its key relative to it."""
    keys = [entry["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.bucket, Prefix=prefix, ExpectedBucketOwner=settings.account)
        for entry in page.get("Contents", ())]

    def read(key: str) -> bytes:
        return bytes(s3.get_object(Bucket=settings.bucket, Key=key, ExpectedBucketOwner=settings.account)["Body"]
                     .read())

    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        bodies = list(pool.map(read, keys))
    return {key[len(prefix):]: body for key, body in zip(keys, bodies, strict=True)}


def image_links(settings: EvaluationSettings, metrics: Mapping[str, Any], *, signer: Any = None) -> dict[str, str]:
    """Pre-signed GET links for the images of the worst mistakes (no API call: signed locally)."""
    signer = signer or presigner(settings.region)
    links = {}
    for mistake in metrics.get("worst_misclassified") or ():
        source = mistake["source_ref"]
        bucket, key = split_s3_uri(source)
        if bucket == settings.bucket:
            links[source] = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                          ExpiresIn=IMAGE_LINK_SECONDS)
    return links


def presigner(region: str) -> Any:
    """An S3 client that signs URLs with Signature Version 4: botocore may still pre-sign with SigV2 (an
    access key id in the URL), which S3 is retiring (sigv2-retirement)."""
    return boto3.client("s3", region_name=region, config=CLIENT_CONFIG.merge(Config(signature_version="s3v4")))


def _ours(settings: EvaluationSettings, uri: str) -> str:
    """The key of `uri`, which must be in the data bucket under the prefix (inputs.json names them)."""
    bucket, key = split_s3_uri(uri)
    if bucket != settings.bucket or not key.startswith(f"{settings.prefix}/"):
        raise ValueError(f"{uri} is not under s3://{settings.bucket}/{settings.prefix}/: not a location of ours")
    return key


def _read_json(s3: Any, settings: EvaluationSettings, uri: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=settings.bucket, Key=_ours(settings, uri), ExpectedBucketOwner=settings.account)
    try:
        document = json.loads(body["Body"].read())
    except ValueError as error:
        raise ValueError(f"{uri} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{uri} is not a JSON object")
    return document


def _read_lines(s3: Any, settings: EvaluationSettings, uri: str) -> list[bytes]:
    body = s3.get_object(Bucket=settings.bucket, Key=_ours(settings, uri), ExpectedBucketOwner=settings.account)
    return list(iter_lines(body["Body"].iter_chunks(chunk_size=READ_CHUNK_BYTES)))


def _put(s3: Any, settings: EvaluationSettings, key: str, body: bytes, content_type: str) -> None:
    s3.put_object(Bucket=settings.bucket, Key=key, Body=body, ContentType=content_type,
                  ExpectedBucketOwner=settings.account)


# --- the model package and alerts ------------------------------------------------------------------


def _register(settings: EvaluationSettings, sagemaker: Any, inputs: Mapping[str, Any], *, note: str,
              metadata: Mapping[str, str], model_metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model package version of the evaluated model: what it holds is what was evaluated (DescribeModel)."""
    model = sagemaker.describe_model(ModelName=inputs["model"])
    container = model.get("PrimaryContainer") or {}
    request = register_model.model_package_request(
        settings, image_uri=container["Image"], model_data_url=container["ModelDataUrl"],
        training_job_name=inputs["training_job"], tuning_job_name=inputs.get("tuning_job"), note=note,
        metadata=metadata, model_metrics=model_metrics)
    base = request["ModelPackageDescription"]
    if len(base) > DESCRIPTION_MAX:
        request["ModelPackageDescription"] = base[: DESCRIPTION_MAX - 3] + "..."
    arn, created = register_model.create_model_package_once(sagemaker, request)
    return {"model_package": arn, "model_package_created": created}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _not_evaluated(settings: EvaluationSettings, sagemaker: Any, inputs: Mapping[str, Any], result: dict[str, Any],
                   reason: str) -> dict[str, Any]:
    """No metrics: alert; with registration on, the package is registered without them."""
    job = result["transform_job"]
    floor = settings.accuracy_floor
    if settings.register_package:
        metadata = {APPROVABLE_PROPERTY: _flag(floor is None)}
        if floor is not None:
            metadata[ACCURACY_FLOOR_PROPERTY] = number_text(floor)
            note = (f"Not evaluated ({reason}): not approvable, the accuracy floor {number_text(floor)} cannot be "
                    "shown to be met.")
        else:
            note = f"Not evaluated ({reason}); no accuracy floor is configured."
        result.update(_register(settings, sagemaker, inputs, note=note, metadata=metadata, model_metrics=None))
        package = (f"Model package {result['model_package']} is registered without metrics"
                   + (f" and marked not approvable (accuracy floor {number_text(floor)})." if floor is not None
                      else "; no accuracy floor is configured, so it can still be approved after review."))
    else:
        package = "No model package is registered (model.register_package is false)."
    message = "\n".join([
        f"The evaluation of model {inputs['model']} (training job {inputs['training_job']}) produced no metrics.",
        f"Reason: {reason}",
        "",
        package,
        f"The transform job's logs are in CloudWatch Logs, log group /aws/sagemaker/TransformJobs, streams {job}/*; "
        "a quota of 0 for the transform instance type shows in Service Quotas (SageMaker, "
        "'<instance type> for transform job usage').",
    ])
    publish_alert(settings.topic_arn, settings.region, f"Evaluation of model {inputs['model']} failed", message,
                  console=console_url(settings.region, "transform-job", job), logger=LOGGER)
    result["failure_reason"] = reason
    return finish(LOGGER, result, "alerted", reason)


def _alert_below_floor(settings: EvaluationSettings, job: str, inputs: Mapping[str, Any], verdict: Verdict,
                       location: EvaluationLocation, package: str | None) -> None:
    floor = verdict.floor if verdict.floor is not None else 0.0
    subject = (f"Model {inputs['model']} is below the accuracy floor ({number_text(verdict.accuracy)} < "
               f"{number_text(floor)})")
    if package:
        registered = (f"Model package {package} stays PendingManualApproval and is marked approvable = false: "
                      "the deployment refuses it.")
    else:
        registered = "No model package is registered (model.register_package is false)."
    message = "\n".join([
        f"Model {inputs['model']} (training job {inputs['training_job']}): {verdict.reason}.",
        f"Report: {location.uri(REPORT_FILE)}",
        f"Metrics: {location.uri(METRICS_FILE)}",
        "",
        registered,
        "What to do: look at the report's confusion matrix and worst mistakes; label more (or cleaner) images of the "
        "classes it confuses and train again, or lower workflow.evaluation.accuracy_floor if the floor is too strict.",
    ])
    publish_alert(settings.topic_arn, settings.region, subject, message,
                  console=console_url(settings.region, "transform-job", job), logger=LOGGER,
                  fields={"accuracy": verdict.accuracy, "floor": verdict.floor})
    log(LOGGER, "below_accuracy_floor", level=logging.WARNING, model=inputs["model"], accuracy=verdict.accuracy,
        floor=verdict.floor)
