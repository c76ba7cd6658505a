"""A new model's evaluation: its names, where it lives in S3, and the batch transform that starts it.

RegisterModel calls `start` right after it created the model (when `evaluation.enabled`); the
Evaluation function (evaluate_model.py) picks the transform job's end up. One evaluation per model,
under `<prefix>/evaluation/<job>/`, `<job>` being the transform job's name:

- `transform-input.manifest`: the `ManifestFile` the transform reads. Batch transform cannot read an
  augmented manifest (TransformS3DataSource: "The following value is not compatible:
  AugmentedManifestFile"), so the validation split's images are listed in the format it reads
  (`evaluation.transform_manifest_document`).
- `inputs.json`: what the Evaluation function needs that the transform job does not say: the
  training (and tuning) job, the validation manifest with its `label-map.json` and `summary.json`,
  and the training job's own final metric (`evaluation.final_metric`).
- `predictions/<image key>.out`: the transform's outputs, one per image (the manifest's prefix is the
  bucket root, so each output is named after the image's full key).
- `metrics.json`, `report.html`: written by the Evaluation function.

Idempotent like the rest: the transform job's name is derived from the training job (the same
derivation as the model's, so model and evaluation share a name), and an existing job is found
before anything is written or started. Facts and sources: docs/evaluation.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import task_types
from .evaluation import TrainingMetric, final_metric, split_s3_uri, transform_manifest_document
from .manifests import SOURCE_ATTRIBUTE, iter_lines
from .naming import derive_name
from .runtime import is_already_exists_error, is_not_found_error
from .settings import EvaluationStart

# TransformJobName: 1-63 characters of [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} (botocore's SageMaker model).
TRANSFORM_JOB_NAME_MAX = 63
EVALUATION_FOLDER = "evaluation"
TRANSFORM_MANIFEST_FILE = "transform-input.manifest"
INPUTS_FILE = "inputs.json"
PREDICTIONS_FOLDER = "predictions"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
INPUTS_SCHEMA_VERSION = 1
# StartTraining writes these next to each split's manifests (start_training.py, manifests.py).
LABEL_MAP_FILE = "label-map.json"
SUMMARY_FILE = "summary.json"
# CustomerMetadataProperties the Evaluation function (evaluate_model.py) sets on a version it evaluated and the
# Deployment function (deployment.py) reads: "approvable" is "false" when its accuracy on the validation split
# is below `evaluation.accuracy_floor`; such a version is never deployed, even when someone approves it.
APPROVABLE_PROPERTY = "approvable"
ACCURACY_PROPERTY = "evaluation-accuracy"
ACCURACY_FLOOR_PROPERTY = "accuracy-floor"

# One content type for a split that mixes JPEG and PNG: the descriptor's content type that names no
# single image format (for image classification the container decodes any image it is given under it;
# `transform_content_type`). Its batch answer is JSON Lines, one line per image:
# `{"prediction": [p0, p1, ...]}` (image-classification.html, "Inference with the Image Format Algorithm").
TRANSFORM_ACCEPT = "application/jsonlines"
# MaxPayloadInMB must be at least one record (one image here, SplitType None), at most 100, and
# MaxConcurrentTransforms x MaxPayloadInMB at most 100 (CreateTransformJob). Sized from the largest
# object Ground Truth labels, so no labeled image can fail the transform for its size.
MAX_PAYLOAD_TOTAL_MB = 100
# 1 MiB reads of the validation manifest (botocore's default is 1 KiB).
READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class EvaluationLocation:
    """Where one evaluation's files live: `s3://<bucket>/<prefix>/evaluation/<job>/...`."""

    bucket: str
    prefix: str
    job: str

    def key(self, *parts: str) -> str:
        return "/".join(part.strip("/") for part in (self.prefix, EVALUATION_FOLDER, self.job, *parts)
                        if part.strip("/"))

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    @property
    def predictions_prefix(self) -> str:
        """The key prefix of the transform's outputs, with its trailing `/`."""
        return self.key(PREDICTIONS_FOLDER) + "/"

    @property
    def predictions_uri(self) -> str:
        return f"s3://{self.bucket}/{self.predictions_prefix}"


def transform_job_name(training_job_name: str) -> str:
    """The evaluation's transform job: named like the model (register_model.model_name), so the
    training job, its model and its evaluation are found under one name; keeps the job prefix."""
    return derive_name(training_job_name, max_length=TRANSFORM_JOB_NAME_MAX)


def transform_content_type(task: task_types.TaskType) -> str:
    """The transform's ContentType: the task type's (descriptor's) one that is not a single image format."""
    generic = [t for t in task.algorithm.inference_content_types if not t.startswith("image/")]
    if not generic:
        raise ValueError(f"{task.algorithm.title} accepts only {', '.join(task.algorithm.inference_content_types)}: "
                         "the evaluation's batch transform needs one content type for every image of the split")
    return generic[0]


def payload_limits(task: task_types.TaskType) -> tuple[int, int]:
    """(MaxPayloadInMB, MaxConcurrentTransforms): room for the largest object the task type labels."""
    payload = math.ceil(task.ground_truth.max_object_bytes / 1_000_000)
    if payload > MAX_PAYLOAD_TOTAL_MB:
        raise ValueError(f"{task.ground_truth.title} objects may be {payload} MB, over batch transform's "
                         f"{MAX_PAYLOAD_TOTAL_MB} MB payload limit")
    return payload, MAX_PAYLOAD_TOTAL_MB // payload


# --- requests (pure) -----------------------------------------------------------------------------


def build_transform_request(
    start: EvaluationStart,
    *,
    task: task_types.TaskType,
    job: str,
    model_name: str,
    tags: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    """CreateTransformJob: the model over the split's images (`transform-input.manifest`), one image
    per request, outputs under `predictions/`."""
    location = EvaluationLocation(start.bucket, start.prefix, job)
    max_payload, concurrency = payload_limits(task)
    output: dict[str, str] = {
        "S3OutputPath": location.predictions_uri,
        "Accept": TRANSFORM_ACCEPT,
        # One image per object, one answer line per output (newline-terminated).
        "AssembleWith": "Line",
    }
    if start.kms_key_arn:
        # Without it SageMaker encrypts the outputs with the account's default S3 key, not the bucket's.
        output["KmsKeyId"] = start.kms_key_arn
    return {
        "TransformJobName": job,
        "ModelName": model_name,
        "MaxConcurrentTransforms": concurrency,
        "MaxPayloadInMB": max_payload,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                            "S3Uri": location.uri(TRANSFORM_MANIFEST_FILE)}},
            "ContentType": transform_content_type(task),
            "CompressionType": "None",
            # Each object is one image: one request.
            "SplitType": "None",
        },
        "TransformOutput": output,
        "TransformResources": {"InstanceType": start.instance_type, "InstanceCount": 1},
        "Tags": [dict(tag) for tag in tags],
    }


def validation_manifest_uri(training: Mapping[str, Any], task: task_types.TaskType, *, bucket: str,
                            prefix: str) -> str:
    """The validation split the training job read (its validation channel), checked to be one of ours:
    `s3://<bucket>/<prefix>/training/<labeling job>/<file>`."""
    channel = task.algorithm.validation_channel
    for entry in training.get("InputDataConfig") or ():
        if entry.get("ChannelName") == channel:
            uri = ((entry.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
            break
    else:
        raise ValueError(f"training job {training.get('TrainingJobName')} has no {channel!r} channel: nothing to "
                         "evaluate the model on")
    source_bucket, key = split_s3_uri(uri)
    if source_bucket != bucket or not key.startswith(f"{prefix}/training/"):
        raise ValueError(f"training job {training.get('TrainingJobName')} read its {channel!r} channel from {uri}, "
                         f"not from the workflow's s3://{bucket}/{prefix}/training/: not a split of ours")
    return str(uri)


def sibling_uri(uri: str, file_name: str) -> str:
    """`file_name` in the same S3 "folder" as `uri` (label-map.json and summary.json sit next to the split)."""
    return uri.rsplit("/", 1)[0] + "/" + file_name


def inputs_document(
    *,
    job: str,
    model_name: str,
    training_job: str,
    tuning_job: str | None,
    validation_manifest: str,
    training_metric: TrainingMetric | None,
) -> dict[str, Any]:
    """`inputs.json`: what the Evaluation function reads besides the transform job's description."""
    return {
        "schema_version": INPUTS_SCHEMA_VERSION,
        "transform_job": job,
        "model": model_name,
        "training_job": training_job,
        "tuning_job": tuning_job,
        "validation_manifest": validation_manifest,
        "label_map": sibling_uri(validation_manifest, LABEL_MAP_FILE),
        "summary": sibling_uri(validation_manifest, SUMMARY_FILE),
        "training_metric": None if training_metric is None else {"name": training_metric.name,
                                                                 "value": training_metric.value},
    }


def source_refs(lines: Iterable[bytes]) -> list[str]:
    """The `source-ref` of every line of a split manifest (StartTraining wrote and checked them)."""
    refs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ValueError(f"validation manifest line {number} is not JSON") from None
        source = record.get(SOURCE_ATTRIBUTE) if isinstance(record, dict) else None
        if not isinstance(source, str):
            raise ValueError(f"validation manifest line {number} has no {SOURCE_ATTRIBUTE}")
        refs.append(source)
    return refs


def training_metric_of(training: Mapping[str, Any], task: task_types.TaskType) -> TrainingMetric | None:
    """The training job's own final value of the task type's objective metric, if it emitted one."""
    name = task.algorithm.tuning_objective.metric_name
    value = final_metric(training, name)
    if value is None or not 0 <= value <= 1:
        return None
    return TrainingMetric(name=name, value=value)


# --- AWS side --------------------------------------------------------------------------------------


def start(
    start_settings: EvaluationStart,
    *,
    task: task_types.TaskType,
    sagemaker: Any,
    s3: Any,
    account: str,
    training: Mapping[str, Any],
    model_name: str,
    tuning_job: str | None,
    tags: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    """Start the model's evaluation unless it exists; the fields RegisterModel adds to its result.

    Looks first (DescribeTransformJob): a redelivered event must neither rewrite the inputs of a
    running evaluation nor start a second one. Then writes `transform-input.manifest` and
    `inputs.json` and starts the transform job; a concurrent delivery that started it first makes
    CreateTransformJob answer "already exists", which counts as started.
    """
    training_job = str(training["TrainingJobName"])
    job = transform_job_name(training_job)
    location = EvaluationLocation(start_settings.bucket, start_settings.prefix, job)
    result: dict[str, Any] = {"transform_job": job, "evaluation": location.uri()}
    try:
        sagemaker.describe_transform_job(TransformJobName=job)
        return {**result, "evaluation_started": False}
    except ClientError as error:
        if not is_not_found_error(error.response):
            raise
    manifest_uri = validation_manifest_uri(training, task, bucket=start_settings.bucket,
                                           prefix=start_settings.prefix)
    bucket, key = split_s3_uri(manifest_uri)
    # ExpectedBucketOwner: the bucket is this account's (S3 refuses the call if someone else owns it).
    body = s3.get_object(Bucket=bucket, Key=key, ExpectedBucketOwner=account)["Body"]
    refs = source_refs(iter_lines(body.iter_chunks(chunk_size=READ_CHUNK_BYTES)))
    if not refs:
        raise ValueError(f"the validation split {manifest_uri} has no objects: nothing to evaluate the model on")
    request = build_transform_request(start_settings, task=task, job=job, model_name=model_name, tags=tags)
    s3.put_object(Bucket=start_settings.bucket, Key=location.key(TRANSFORM_MANIFEST_FILE),
                  Body=transform_manifest_document(refs), ContentType="application/json", ExpectedBucketOwner=account)
    inputs = inputs_document(job=job, model_name=model_name, training_job=training_job, tuning_job=tuning_job,
                             validation_manifest=manifest_uri, training_metric=training_metric_of(training, task))
    s3.put_object(Bucket=start_settings.bucket, Key=location.key(INPUTS_FILE),
                  Body=json.dumps(inputs, indent=2).encode(), ContentType="application/json",
                  ExpectedBucketOwner=account)
    images = len(set(refs))  # the transform reads each image once
    try:
        sagemaker.create_transform_job(**request)
    except ClientError as error:
        if is_already_exists_error(error.response):
            return {**result, "evaluation_started": False, "images": images}
        raise
    return {**result, "evaluation_started": True, "images": images}

