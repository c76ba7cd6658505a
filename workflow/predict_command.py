"""`workflow predict IMAGE... [--endpoint NAME | --batch]`: the command behind the CLI's parser.

Endpoint (the default): the images are checked first (JPEG or PNG by their bytes, at most the real-time
payload limit), without any AWS call; then the endpoint is described (it must be InService; a serverless
one takes at most 4 MB per image, checked again before anything is sent), the class names are found
(below), each image is sent with InvokeEndpoint and the top k classes are printed.

`--batch` (no endpoint needed): the same checks against batch transform's 6 MB payload, then the newest
model of this environment, then the plan of a one-off transform job (uploads, the CreateTransformJob
request, where the answers land, what it costs). Only with a confirmation (`--yes`, or "yes" at the
prompt) are the images uploaded and the job started; `--wait` follows it and prints the answers.

Class names: `--labels FILE` (a label map), else the training job's own `label-map.json`, found from the
model: the model package's training-job property (RegisterModel records it) or the training job named in
the model artifact's S3 path (SageMaker writes `<S3OutputPath>/<training job>/output/model.tar.gz`), then
the folder of that job's train channel manifest, where StartTraining wrote the label map. If any step of
that fails, the config's `labeling.labels` (their order is the class order) with a note saying why.

Facts and limits: docs/deployment.md. The request builders are workflow/predict.py's.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

from lambdas import deployment, register_model
from lambdas.runtime import console_url
from lambdas.settings import WORKFLOW_ENV_TAG_KEY
from lambdas.start_training import LABEL_MAP_FILE
from stacks.config import WorkflowConfig
from workflow import outputs, predict
from workflow.aws import describe_or_none
from workflow.errors import CliError, UsageError

# ClientFactory(service, config=None) -> a boto3 client in the command's region (cli.Invocation.client).
ClientFactory = Callable[..., Any]
# StackLookup("data" | "workflow") -> the stack's outputs (cli.Invocation.stack).
StackLookup = Callable[[str], outputs.StackOutputs]

IN_SERVICE = "InService"
TRANSFORM_DONE = ("Completed", "Failed", "Stopped")
# --wait: how often DescribeTransformJob is asked (a transform job takes minutes; its own status is enough).
WAIT_SECONDS = 30
_MODEL_ARTIFACT_SUFFIX = "/output/model.tar.gz"


@dataclass(frozen=True)
class PredictRequest:
    """The command line, as the command needs it."""

    images: tuple[str, ...]
    endpoint: str | None = None
    batch: bool = False
    top_k: int = predict.DEFAULT_TOP_K
    labels_file: str | None = None
    yes: bool = False
    wait: bool = False
    json: bool = False


@dataclass(frozen=True)
class Labels:
    names: tuple[str, ...]
    source: str  # where they came from, for the report


def run(request: PredictRequest, *, config: WorkflowConfig, region: str, client: ClientFactory,
        stack: StackLookup, out: TextIO, err: TextIO,
        confirm: Callable[[str], bool] | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    if request.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {request.top_k}")
    if request.batch:
        return _batch(request, config=config, region=region, client=client, stack=stack, out=out, err=err,
                      confirm=confirm or ask, sleep=sleep)
    return _endpoint(request, config=config, client=client, stack=stack, out=out, err=err)


# --- the endpoint ----------------------------------------------------------------------------------


def _endpoint(request: PredictRequest, *, config: WorkflowConfig, client: ClientFactory, stack: StackLookup,
              out: TextIO, err: TextIO) -> int:
    # First, without any AWS call: what could be sent at all (a serverless endpoint's lower limit follows).
    predict.validate_images(request.images, max_bytes=predict.REALTIME_MAX_BYTES,
                            limit="a real-time endpoint's 6 MB payload limit")
    name = request.endpoint or endpoint_from_stack(config, stack)
    sagemaker = client("sagemaker")
    described = describe_or_none(sagemaker.describe_endpoint, EndpointName=name)
    if described is None:
        raise CliError(f"no endpoint {name} in {sagemaker.meta.region_name}: approve a version of model package "
                       f"group {config.model_package_group_name} to deploy one (the Deployment function creates "
                       f"it), or use --batch for a one-off batch transform")
    status = described.get("EndpointStatus")
    if status != IN_SERVICE:
        reason = f" ({described['FailureReason']})" if described.get("FailureReason") else ""
        raise CliError(f"endpoint {name} is {status}{reason}, not {IN_SERVICE}: wait for it (`python -m workflow "
                       "status` shows it), or use --batch")
    max_bytes, limit = predict.payload_limit(described)
    images = predict.validate_images(request.images, max_bytes=max_bytes, limit=limit)
    labels = resolve_labels(request, config, sagemaker, client, model=served_model(sagemaker, described), err=err)
    results = predict.predict_with_endpoint(client("sagemaker-runtime", config=predict.RUNTIME_CONFIG), name,
                                            images, labels.names, k=request.top_k,
                                            out=err if request.json else out, err=err)
    if request.json:
        print(json.dumps({"endpoint": name, "labels": labels.source, "results": results}, indent=2), file=out)
    return 0


def endpoint_from_stack(config: WorkflowConfig, stack: StackLookup) -> str:
    """The Workflow stack's EndpointName output (present when it was deployed with endpoint.enabled)."""
    if not config.endpoint.enabled:
        raise UsageError("no endpoint to call: workflow.endpoint.enabled is false in this config, so approving a "
                         "model package deploys nothing. Use --batch (a one-off batch transform), --endpoint NAME, "
                         "or enable the endpoint (-c workflow.endpoint.enabled=true, with "
                         "workflow.model.register_package) and deploy")
    workflow_stack = stack("workflow")
    name = workflow_stack.get(outputs.ENDPOINT_NAME)
    if not name:
        raise CliError(f"stack {workflow_stack.stack_name} has no {outputs.ENDPOINT_NAME} output although the "
                       f"config enables the endpoint: {outputs.DEPLOY_HINT} (it would be "
                       f"{deployment.endpoint_name_for(config.labeling.job_prefix)})")
    return name


def served_model(sagemaker: Any, endpoint: Mapping[str, Any]) -> str | None:
    """The model behind the endpoint's config (one variant: what the Deployment function creates)."""
    config = describe_or_none(sagemaker.describe_endpoint_config, EndpointConfigName=endpoint["EndpointConfigName"])
    variants = (config or {}).get("ProductionVariants") or []
    return variants[0].get("ModelName") if variants else None


# --- class names -----------------------------------------------------------------------------------


def resolve_labels(request: PredictRequest, config: WorkflowConfig, sagemaker: Any, client: ClientFactory, *,
                   model: str | None, err: TextIO) -> Labels:
    """`--labels FILE`, else the model's training job's label map, else the config's labels (with a note)."""
    if request.labels_file:
        path = Path(request.labels_file)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"--labels {path}: {error}") from None
        return Labels(predict.load_labels(document), str(path))
    why = "the endpoint names no model"
    if model:
        try:
            uri = label_map_uri(sagemaker, model, train_channel=config.task.algorithm.channels[0])
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
            return Labels(predict.load_labels(json.loads(body)), uri)
        except (ClientError, CliError, ValueError, KeyError) as error:
            why = f"{type(error).__name__}: {error}"
    print(f"note: class names from the config's workflow.labeling.labels: could not read the training job's "
          f"{LABEL_MAP_FILE} of model {model} ({why})", file=err)
    return Labels(tuple(config.labeling.labels), "workflow.labeling.labels")


def label_map_uri(sagemaker: Any, model: str, *, train_channel: str) -> str:
    """s3:// URI of the label map the model was trained with (see the module docstring)."""
    described = sagemaker.describe_model(ModelName=model)
    container = described.get("PrimaryContainer") or next(iter(described.get("Containers") or []), {})
    training_job = None
    artifact = container.get("ModelDataUrl")
    if container.get("ModelPackageName"):
        package = sagemaker.describe_model_package(ModelPackageName=container["ModelPackageName"])
        training_job = (package.get("CustomerMetadataProperties") or {}).get(register_model.TRAINING_JOB_PROPERTY)
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
        artifact = artifact or containers[0].get("ModelDataUrl")
    training_job = training_job or training_job_of_artifact(artifact)
    if not training_job:
        raise CliError(f"model {model} names no training job (no training-job property, artifact {artifact!r})")
    job = sagemaker.describe_training_job(TrainingJobName=training_job)
    for channel in job.get("InputDataConfig") or []:
        if channel.get("ChannelName") == train_channel:
            manifest = channel["DataSource"]["S3DataSource"]["S3Uri"]
            return f"{manifest.rsplit('/', 1)[0]}/{LABEL_MAP_FILE}"
    raise CliError(f"training job {training_job} has no {train_channel!r} channel")


def training_job_of_artifact(uri: str | None) -> str | None:
    """`<job>` of `s3://.../<job>/output/model.tar.gz` (where SageMaker writes a training job's model)."""
    if not uri or not uri.endswith(_MODEL_ARTIFACT_SUFFIX):
        return None
    return uri[: -len(_MODEL_ARTIFACT_SUFFIX)].rsplit("/", 1)[-1] or None


# --- a one-off batch transform ---------------------------------------------------------------------


def newest_model(sagemaker: Any, job_prefix: str) -> str | None:
    """The most recently created model of this environment (`<job_prefix>-...`): RegisterModel's or the
    Deployment function's. Filtered here too: NameContains is a substring match."""
    pages = sagemaker.get_paginator("list_models").paginate(NameContains=job_prefix, SortBy="CreationTime",
                                                             SortOrder="Descending")
    models = [m for page in pages for m in page.get("Models", []) if m["ModelName"].startswith(f"{job_prefix}-")]
    return max(models, key=lambda m: m["CreationTime"])["ModelName"] if models else None


def _batch(request: PredictRequest, *, config: WorkflowConfig, region: str, client: ClientFactory,
           stack: StackLookup, out: TextIO, err: TextIO, confirm: Callable[[str], bool],
           sleep: Callable[[float], None]) -> int:
    if request.endpoint:
        raise UsageError("--batch and --endpoint exclude each other: a batch transform needs no endpoint")
    images = predict.validate_images(request.images, max_bytes=predict.BATCH_MAX_BYTES,
                                     limit=f"batch transform's MaxPayloadInMB of {predict.BATCH_MAX_PAYLOAD_MB}")
    sagemaker = client("sagemaker")
    job_prefix = config.labeling.job_prefix
    model = newest_model(sagemaker, job_prefix)
    if model is None:
        raise CliError(f"no model named {job_prefix}-... in {region} yet: RegisterModel creates one when a training "
                       "job completes (`python -m workflow status`)")
    bucket = stack("data").require(outputs.BUCKET_NAME)
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    plan = predict.batch_plan(images, bucket=bucket, prefix=config.prefix, run_id=run_id, job_prefix=job_prefix,
                              model_name=model, instance_type=config.evaluation.instance_type,
                              tags={**config.tags, WORKFLOW_ENV_TAG_KEY: config.env_name},
                              kms_key_arn=config.bucket.kms_key_arn)
    job = plan.request["TransformJobName"]
    print("\n".join(describe_batch_plan(plan, bucket)), file=err if request.json else out)
    if not (request.yes or confirm(f"Upload {len(images)} image(s) and start transform job {job}? [y/N] ")):
        print("Nothing was uploaded or started.", file=err if request.json else out)
        return 0
    s3 = client("s3")
    for path, key in plan.uploads:
        s3.upload_file(str(path), bucket, key)
    sagemaker.create_transform_job(**plan.request)
    shown = err if request.json else out
    print(f"Started transform job {job} (model {model}).\n  console: {console_url(region, 'transform-job', job)}",
          file=shown)
    if not request.wait:
        print(f"  answers: s3://{bucket}/{plan.outputs[0][1].rsplit('/', 1)[0]}/ once it completes "
              "(a few minutes; --wait follows it and prints them)", file=shown)
        if request.json:
            print(json.dumps({"transform_job": job, "model": model, "status": "InProgress"}, indent=2), file=out)
        return 0
    status = wait_for(sagemaker, job, sleep=sleep, err=err)
    if status["TransformJobStatus"] != "Completed":
        raise CliError(f"transform job {job} is {status['TransformJobStatus']}: "
                       f"{status.get('FailureReason') or 'no FailureReason'}")
    labels = resolve_labels(request, config, sagemaker, client, model=model, err=err)
    answers = [(str(path), s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for path, key in plan.outputs]
    if request.json:
        results = [{"image": image, "top": [p.__dict__ for p in predict.top_k(
            predict.parse_probabilities(body), labels.names, request.top_k)]} for image, body in answers]
        print(json.dumps({"transform_job": job, "model": model, "labels": labels.source, "results": results},
                         indent=2), file=out)
    else:
        predict.print_batch_answers(answers, labels.names, k=request.top_k, out=out)
    return 0


def describe_batch_plan(plan: predict.BatchPlan, bucket: str) -> list[str]:
    request = plan.request
    lines = [f"One-off batch transform with model {request['ModelName']} on "
             f"{request['TransformResources']['InstanceType']} (workflow.evaluation.instance_type):",
             "  billed per second of the instance while the job runs (usually a few minutes, most of it starting "
             "the instance); nothing stays running afterwards.",
             "Uploads:"]
    lines += [f"  {path} -> s3://{bucket}/{key}" for path, key in plan.uploads]
    lines.append("CreateTransformJob request:")
    lines.append(json.dumps(request, indent=2))
    lines.append("Answers:")
    lines += [f"  {path}: s3://{bucket}/{key}" for path, key in plan.outputs]
    return lines


def wait_for(sagemaker: Any, job: str, *, sleep: Callable[[float], None], err: TextIO) -> dict[str, Any]:
    """DescribeTransformJob until the job has ended."""
    while True:
        described: dict[str, Any] = sagemaker.describe_transform_job(TransformJobName=job)
        if described["TransformJobStatus"] in TRANSFORM_DONE:
            return described
        print(f"  {job}: {described['TransformJobStatus']}...", file=err)
        sleep(WAIT_SECONDS)


def ask(prompt: str) -> bool:
    """A yes from the operator at a terminal; never from a pipe (a script must say --yes)."""
    if not sys.stdin.isatty():
        raise UsageError("starting a transform job costs money: pass --yes to confirm (stdin is not a terminal)")
    return input(prompt).strip().lower() in ("y", "yes")


def request_from_args(args: Any) -> PredictRequest:
    return PredictRequest(images=tuple(args.images), endpoint=args.endpoint, batch=args.batch, top_k=args.top_k,
                          labels_file=args.labels, yes=args.yes, wait=args.wait, json=args.json)
