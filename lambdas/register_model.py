"""Lambda: a training (or tuning) job of ours finished -> create the SageMaker model, or alert.

Triggered by the EventBridge events "SageMaker Training Job State Change" and "SageMaker
HyperParameter Tuning Job State Change".

- Completed training job: CreateModel from its artifacts, unless the job belongs to a tuning job
  (the tuning job's completion registers its best training job instead).
- Completed tuning job: CreateModel from its best training job.
- With `evaluation.enabled`: then starts the model's evaluation, a batch transform of the validation
  split (evaluation_job.start); the Evaluation function registers the model package afterwards.
- Otherwise, optionally also a model package (PendingManualApproval) in a model package group.
- Failed/Stopped: an SNS alert with the failure reason.

Idempotent: the model name is derived from the training job and an existing model is found
before creating ("already exists" counts as success). A model package version gets a number, not
a name we choose, so each delivery makes one Search for the version tagged with its training job
and, if none is found, creates it with a ClientToken derived from the training job: a bounded
number of calls whatever the size of the group (docs/permissions-fixes.md).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import evaluation_job, task_types
from .aws_clients import client
from .naming import MODEL_NAME_MAX, derive_name
from .runtime import (
    alert_settings_error,
    alerting_failures,
    console_url,
    finish,
    get_logger,
    is_already_exists_error,
    is_not_found_error,
    is_retryable,
    log,
    publish_alert,
)
from .settings import (
    MODEL_SETTINGS_VAR,
    TRAINING_JOB_TAG_KEY,
    TUNING_JOB_TAG_KEY,
    EvaluationSettings,
    ModelSettings,
    SettingsError,
)

# The settings (ModelSettings, its rules and reader) are the contract in settings.py.
SETTINGS_VARIABLE = MODEL_SETTINGS_VAR

TRAINING_DETAIL_TYPE = "SageMaker Training Job State Change"
TUNING_DETAIL_TYPE = "SageMaker HyperParameter Tuning Job State Change"
FAILED_STATUSES = ("Failed", "Stopped")

# What the inference container accepts and answers is the algorithm's
# (task_types.Algorithm.inference_content_types / inference_response_types).
# Recorded on every model package (metadata and tag) so a redelivered event can find the one it
# already made: Search filters on the tag (`Tags.<key>`, as the Filter docs define it).
TRAINING_JOB_PROPERTY = TRAINING_JOB_TAG_KEY
# CreateModelPackage's ClientToken: 1-36 characters of [a-zA-Z0-9-] (botocore's model). A UUID5
# of group and training job fits and is the same on every delivery. Fixed namespace: never change
# it, or a redelivery after a deploy would no longer be recognised by SageMaker.
_CLIENT_TOKEN_NAMESPACE = uuid.UUID("6f1c1d2e-5a0b-4c63-9d55-0c8f3b0a9e41")

LOGGER = get_logger("register_model")
# How alerts name this function.
FUNCTION = "RegisterModel"


@dataclass(frozen=True)
class JobStateChange:
    kind: str  # "training" or "tuning"
    name: str
    status: str
    detail: Mapping[str, Any]


# --- handler -------------------------------------------------------------------------------


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        settings = ModelSettings.from_env()
    except SettingsError as error:
        alert_settings_error(LOGGER, FUNCTION, SETTINGS_VARIABLE, error, context=context)
        raise
    change = parse_event(event)
    result: dict[str, Any] = {f"{change.kind}_job": change.name, "status": change.status}
    if not change.name.startswith(settings.job_prefix):
        return finish(LOGGER, result, "ignored", f"not one of ours (prefix {settings.job_prefix!r})")
    # Accepted: from here on, every way out without a model tells people (docs/alerts.md).
    with alerting_failures(LOGGER, FUNCTION, f"{change.kind} job {change.name}", topic_arn=settings.topic_arn,
                           region=settings.region,
                           console=console_url(settings.region, f"{change.kind}-job", change.name)):
        return _handle(settings, change, result)


def _handle(settings: ModelSettings, change: JobStateChange, result: dict[str, Any]) -> dict[str, Any]:
    sagemaker = client("sagemaker", settings.region)
    if change.status in FAILED_STATUSES:
        return _on_failure(settings, sagemaker, change, result)
    if change.status != "Completed":
        return finish(LOGGER, result, "ignored", f"status {change.status} needs no action")

    if change.kind == "training":
        training = sagemaker.describe_training_job(TrainingJobName=change.name)
        if training.get("TuningJobArn"):
            return finish(
                LOGGER,
                result,
                "ignored",
                f"part of tuning job {training['TuningJobArn'].rsplit('/', 1)[-1]}; its completion "
                "registers the best training job",
            )
        return _register(settings, sagemaker, training, result, tuning_job=None)

    tuning = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=change.name)
    best = (tuning.get("BestTrainingJob") or {}).get("TrainingJobName")
    if not best:
        reason = f"tuning job {change.name} completed without a best training job"
        _alert(settings, f"No model from tuning job {change.name}", reason,
               console=console_url(settings.region, "tuning-job", change.name))
        return finish(LOGGER, result, "alerted", reason)
    training = sagemaker.describe_training_job(TrainingJobName=best)
    return _register(settings, sagemaker, training, result, tuning_job=change.name)


def parse_event(event: Any) -> JobStateChange:
    """The job state change in an EventBridge event; ValueError naming what is wrong."""
    if not isinstance(event, Mapping):
        raise ValueError(f"expected an EventBridge event object, got {type(event).__name__}")
    detail_type = event.get("detail-type")
    if detail_type == TRAINING_DETAIL_TYPE:
        kind, name_key, status_key = "training", "TrainingJobName", "TrainingJobStatus"
    elif detail_type == TUNING_DETAIL_TYPE:
        kind, name_key = "tuning", "HyperParameterTuningJobName"
        status_key = "HyperParameterTuningJobStatus"
    else:
        raise ValueError(
            f"event detail-type is {detail_type!r}; this function handles "
            f"{TRAINING_DETAIL_TYPE!r} and {TUNING_DETAIL_TYPE!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise ValueError(f"event.detail must be an object, got {detail!r}")
    for key in (name_key, status_key):
        if not isinstance(detail.get(key), str) or not detail[key]:
            raise ValueError(f"event.detail.{key} is missing for a {detail_type!r} event")
    return JobStateChange(kind=kind, name=detail[name_key], status=detail[status_key], detail=detail)


# --- requests (pure) ---------------------------------------------------------------------------


def model_name(training_job_name: str) -> str:
    return derive_name(training_job_name, max_length=MODEL_NAME_MAX)


def build_create_model_request(
    settings: ModelSettings, *, training_job_name: str, model_data_url: str, tuning_job_name: str | None
) -> dict[str, Any]:
    return {
        "ModelName": model_name(training_job_name),
        "PrimaryContainer": {"Image": settings.image_uri, "ModelDataUrl": model_data_url},
        "ExecutionRoleArn": settings.role_arn,
        "Tags": _tags(settings, training_job_name, tuning_job_name),
    }


def build_model_package_request(
    settings: ModelSettings, *, training_job_name: str, model_data_url: str, tuning_job_name: str | None
) -> dict[str, Any]:
    return model_package_request(settings, image_uri=settings.image_uri, training_job_name=training_job_name,
                                 model_data_url=model_data_url, tuning_job_name=tuning_job_name)


def model_package_request(
    settings: ModelSettings | EvaluationSettings,
    *,
    image_uri: str,
    training_job_name: str,
    model_data_url: str,
    tuning_job_name: str | None,
    note: str | None = None,
    metadata: Mapping[str, str] | None = None,
    model_metrics: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """CreateModelPackage for the model of `training_job_name`, awaiting a person's approval.

    The Evaluation function adds what it measured (evaluate_model): `note` (appended to the
    description), `metadata` (CustomerMetadataProperties next to the training job) and
    `model_metrics` (ModelMetrics)."""
    if not settings.package_group_name:
        raise ValueError("package_group_name is required to register a model package")
    source = f"tuning job {tuning_job_name}, " if tuning_job_name else ""
    description = f"Image classifier from {source}training job {training_job_name}"
    request: dict[str, Any] = {
        "ModelPackageGroupName": settings.package_group_name,
        "ModelPackageDescription": f"{description}. {note}" if note else description,
        # A person approves before anything deploys it.
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [{"Image": image_uri, "ModelDataUrl": model_data_url}],
            **task_types.inference_types(settings.task),
        },
        "CustomerMetadataProperties": {**(metadata or {}), TRAINING_JOB_PROPERTY: training_job_name},
        "Tags": _tags(settings, training_job_name, tuning_job_name),
        "ClientToken": model_package_client_token(settings.package_group_name, training_job_name),
    }
    if model_metrics:
        request["ModelMetrics"] = dict(model_metrics)
    return request


def model_package_client_token(group: str, training_job_name: str) -> str:
    """The same idempotency token for the same group and training job, on every delivery."""
    return str(uuid.uuid5(_CLIENT_TOKEN_NAMESPACE, f"{group}/{training_job_name}"))


def _tags(settings: ModelSettings | EvaluationSettings, training_job_name: str,
          tuning_job_name: str | None) -> list[dict[str, str]]:
    tags = {**settings.tags, TRAINING_JOB_TAG_KEY: training_job_name}
    if tuning_job_name:
        tags[TUNING_JOB_TAG_KEY] = tuning_job_name
    return [{"Key": key, "Value": tags[key]} for key in sorted(tags)]


# --- AWS side ------------------------------------------------------------------------------


def _register(
    settings: ModelSettings,
    sagemaker: Any,
    training: Mapping[str, Any],
    result: dict[str, Any],
    *,
    tuning_job: str | None,
) -> dict[str, Any]:
    training_name = training["TrainingJobName"]
    model_data = (training.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not model_data:
        raise ValueError(f"training job {training_name} has no ModelArtifacts.S3ModelArtifacts")
    request = build_create_model_request(
        settings, training_job_name=training_name, model_data_url=model_data, tuning_job_name=tuning_job
    )
    result.update(training_job=training_name, model=request["ModelName"], model_data=model_data)

    created = _create_model_once(sagemaker, request)
    result["model_created"] = created
    if settings.evaluation is not None:
        # The model package (when registering) waits for the evaluation, to carry its metrics: the
        # Evaluation function registers it when the transform job ends (evaluate_model).
        result.update(evaluation_job.start(
            settings.evaluation, task=settings.task, sagemaker=sagemaker, s3=client("s3", settings.region),
            account=settings.account, training=training, model_name=request["ModelName"], tuning_job=tuning_job,
            tags=request["Tags"]))
        created = created or result["evaluation_started"]
        decision = "registered" if created else "already_registered"
        return finish(LOGGER, result, decision, f"model {request['ModelName']} from {model_data}; evaluation "
                      f"{result['transform_job']} {'started' if result['evaluation_started'] else 'already started'}")
    if settings.register_package:
        arn, package_created = create_model_package_once(
            sagemaker,
            build_model_package_request(
                settings, training_job_name=training_name, model_data_url=model_data, tuning_job_name=tuning_job
            ),
        )
        result.update(model_package=arn, model_package_created=package_created)
        created = created or package_created
    decision = "registered" if created else "already_registered"
    return finish(LOGGER, result, decision, f"model {request['ModelName']} from {model_data}")


def _create_model_once(sagemaker: Any, request: Mapping[str, Any]) -> bool:
    """Create the model unless it exists; True if this call created it."""
    # Looked up first because not every endpoint refuses a duplicate (the local emulator
    # silently accepts one); the error check below covers a concurrent duplicate delivery.
    try:
        sagemaker.describe_model(ModelName=request["ModelName"])
        return False
    except ClientError as error:
        if not is_not_found_error(error.response):
            raise
    try:
        sagemaker.create_model(**request)
    except ClientError as error:
        if is_already_exists_error(error.response):
            return False
        raise
    return True


def create_model_package_once(sagemaker: Any, request: Mapping[str, Any]) -> tuple[str, bool]:
    """(package ARN, created?): the version already registered for this training job, else a new one.

    At most two calls whatever the size of the group: one Search, then (if nothing is found) one
    CreateModelPackage. Search reads an index that AWS does not document as immediately
    consistent, so a redelivery right after the first creation may not see it; the request's
    ClientToken (the same for the same training job) makes SageMaker answer that retry with the
    version it already created instead of a second one. `created` is then True again: the
    response does not say which happened.
    """
    training_name = request["CustomerMetadataProperties"][TRAINING_JOB_PROPERTY]
    existing = find_model_package(sagemaker, request["ModelPackageGroupName"], training_job_name=training_name)
    if existing:
        return existing, False
    return sagemaker.create_model_package(**request)["ModelPackageArn"], True


def find_model_package(sagemaker: Any, group: str, *, training_job_name: str) -> str | None:
    """ARN of the version in `group` tagged with this training job, or None: one Search call."""
    response = sagemaker.search(
        Resource="ModelPackage",
        SearchExpression={"Filters": [
            {"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": group},
            {"Name": f"Tags.{TRAINING_JOB_PROPERTY}", "Operator": "Equals", "Value": training_job_name},
        ]},
        MaxResults=1,
    )
    for result in response.get("Results", []):
        package = result.get("ModelPackage") or {}
        if package.get("ModelPackageGroupName") == group and package.get("ModelPackageArn"):
            return package["ModelPackageArn"]
    return None


def _on_failure(
    settings: ModelSettings, sagemaker: Any, change: JobStateChange, result: dict[str, Any]
) -> dict[str, Any]:
    reason = change.detail.get("FailureReason")
    if change.kind == "training":
        tuning_arn = change.detail.get("TuningJobArn")
        if tuning_arn is None or not reason:
            described = _describe_quietly(sagemaker, change)
            tuning_arn = tuning_arn or described.get("TuningJobArn")
            reason = reason or described.get("FailureReason")
        if tuning_arn:
            # Tuning stops weak candidates early and tolerates failed ones; the tuning job's
            # own state change is the one worth an alert.
            return finish(LOGGER, result, "ignored", f"part of tuning job {tuning_arn.rsplit('/', 1)[-1]}")
    elif not reason:
        reason = _describe_quietly(sagemaker, change).get("FailureReason")
    reason = reason or "SageMaker gave no FailureReason"
    kind = "Training" if change.kind == "training" else "Tuning"
    _alert(settings, f"{kind} job {change.name} {change.status}", f"{kind} job {change.name} {change.status}: {reason}",
           console=console_url(settings.region, f"{change.kind}-job", change.name))
    result["failure_reason"] = reason
    return finish(LOGGER, result, "alerted", reason)


def _describe_quietly(sagemaker: Any, change: JobStateChange) -> Mapping[str, Any]:
    """Fill in what the event left out; the alert matters more than the detail, so no raise."""
    try:
        if change.kind == "training":
            return sagemaker.describe_training_job(TrainingJobName=change.name)
        return sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=change.name)
    except ClientError as error:
        log(LOGGER, "describe_failed", level=logging.WARNING, job=change.name, error=str(error),
            retryable=is_retryable(error))
        return {}


def _alert(settings: ModelSettings, subject: str, message: str, *, console: str) -> None:
    publish_alert(settings.topic_arn, settings.region, subject, message, console=console, logger=LOGGER)
