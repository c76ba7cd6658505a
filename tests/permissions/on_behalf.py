"""The calls AWS makes with the execution role on the workflow's behalf, derived from the job
requests our code sent, as the AWS documentation describes them:

- Ground Truth (CreateLabelingJob): reads the input manifest, the label category file, the UI
  template and every image the manifest names; writes under the output path; logs.
  https://docs.aws.amazon.com/sagemaker/latest/dg/sms-security-permission-execution-role.html
- Training (CreateTrainingJob, and each training job of a tuning job): reads every channel's
  manifest and, for an augmented manifest, every object a `source-ref` names; pulls the algorithm
  image; writes the model artifact and checkpoints; logs and metrics.
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html#sagemaker-roles-createtrainingjob-perms
- CreateModel: reads the model artifact and pulls the inference image.
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html#sagemaker-roles-createmodel-perms
- Batch transform (CreateTransformJob, the model's evaluation): runs as the model's execution role
  (the CreateModel request naming it); reads the model artifact, pulls the image, reads the
  `ManifestFile` and every object it lists, writes `<S3OutputPath>/<path>.out` for each (with the
  output key, if any), logs and metrics.
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html#sagemaker-roles-createtransformjob-perms
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html
- The notebook instance's lifecycle scripts (run as the execution role on the instance): `aws s3
  sync` of the sample images (lists both sides, copies object to object) and the idle checker's
  StopNotebookInstance (stacks/lifecycle/).

Only what a request names is derived; nothing is invented from the emulator's fake jobs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from tests.permissions.policies import FunctionInfo
from tests.permissions.rehearsal import Call

ReadObject = Callable[[str, str], bytes]

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
LABELING_LOG_GROUP = "/aws/sagemaker/LabelingJobs"
TRAINING_METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
TRANSFORM_METRICS_NAMESPACE = "/aws/sagemaker/TransformJobs"
# A tuning job names its training jobs <tuning job>-<3 digits>-<8 hex>.
TUNING_TRAINING_JOB_SUFFIX = "-001-0a1b2c3d"


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def service_calls(recorded: Iterable[Call], read_object: ReadObject) -> list[Call]:
    calls: list[Call] = []
    models: dict[str, Mapping[str, Any]] = {}  # model name -> its CreateModel request (a transform runs as it)
    for call in recorded:
        if call.principal is None:
            continue
        if call.key == "sagemaker.CreateModel":
            models[call.params["ModelName"]] = call.params
        if call.key == "sagemaker.CreateTransformJob":
            calls.extend(transform_calls(call, models, read_object))
        if call.key == "sagemaker.CreateLabelingJob":
            calls.extend(ground_truth_calls(call, read_object))
        elif call.key == "sagemaker.CreateTrainingJob":
            calls.extend(training_calls(call.params, call.params["TrainingJobName"], call.region, read_object))
        elif call.key == "sagemaker.CreateHyperParameterTuningJob":
            name = call.params["HyperParameterTuningJobName"] + TUNING_TRAINING_JOB_SUFFIX
            calls.extend(training_calls(call.params["TrainingJobDefinition"], name, call.region, read_object))
        elif call.key == "sagemaker.CreateModel":
            calls.extend(model_calls(call))
    return calls


def ground_truth_calls(call: Call, read_object: ReadObject) -> Iterator[Call]:
    p, region = call.params, call.region
    role, job = p["RoleArn"], p["LabelingJobName"]
    why = f"Ground Truth, labeling job {job}"

    def s3(operation: str, uri: str, **extra: Any) -> Call:
        bucket, key = split_s3_uri(uri)
        return Call(role, "s3", operation, {"Bucket": bucket, "Key": key, **extra}, region, why)

    manifest_uri = p["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"]
    yield s3("GetObject", manifest_uri)
    if p.get("LabelCategoryConfigS3Uri"):
        yield s3("GetObject", p["LabelCategoryConfigS3Uri"])
    yield s3("GetObject", p["HumanTaskConfig"]["UiConfig"]["UiTemplateS3Uri"])
    for uri in source_refs(manifest_uri, read_object):
        yield s3("GetObject", uri)
    output = p["OutputConfig"]["S3OutputPath"].rstrip("/") + f"/{job}/"
    for suffix in ("manifests/output/output.manifest", "annotations/worker-response/iteration-1/0/response.json",
                   "annotations/consolidated-annotation/output/0/response.json"):
        yield s3("PutObject", output + suffix)
    key_id = p["OutputConfig"].get("KmsKeyId")
    if key_id:
        yield Call(role, "kms", "GenerateDataKey", {"KeyId": key_id}, region, why)
    yield from _logs(role, region, LABELING_LOG_GROUP, job, why)


def training_calls(definition: Mapping[str, Any], job: str, region: str, read_object: ReadObject) -> Iterator[Call]:
    role = definition["RoleArn"]
    why = f"SageMaker training, job {job}"

    def s3(operation: str, uri: str, **extra: Any) -> Call:
        bucket, key = split_s3_uri(uri)
        return Call(role, "s3", operation, {"Bucket": bucket, "Key": key, **extra}, region, why)

    for channel in definition["InputDataConfig"]:
        source = channel["DataSource"]["S3DataSource"]
        yield s3("GetObject", source["S3Uri"])
        if source["S3DataType"] == "AugmentedManifestFile":
            for uri in source_refs(source["S3Uri"], read_object):
                yield s3("GetObject", uri)
        else:  # S3Prefix: SageMaker lists the prefix
            bucket, key = split_s3_uri(source["S3Uri"])
            yield Call(role, "s3", "ListObjectsV2", {"Bucket": bucket, "Prefix": key}, region, why)
    yield from pull_image(role, region, definition["AlgorithmSpecification"]["TrainingImage"], why)
    output = definition["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{job}/output/model.tar.gz"
    yield s3("PutObject", output)
    checkpoint = (definition.get("CheckpointConfig") or {}).get("S3Uri")
    if checkpoint:
        bucket, key = split_s3_uri(checkpoint)
        # Spot training: checkpoints are uploaded while training and copied back after an interruption.
        yield s3("PutObject", checkpoint.rstrip("/") + "/checkpoint-0001.params")
        yield Call(role, "s3", "ListObjectsV2", {"Bucket": bucket, "Prefix": key}, region, why)
        yield s3("GetObject", checkpoint.rstrip("/") + "/checkpoint-0001.params")
    output_key = definition["OutputDataConfig"].get("KmsKeyId")
    if output_key:
        yield Call(role, "kms", "Encrypt", {"KeyId": output_key}, region, why)
        yield Call(role, "kms", "GenerateDataKey", {"KeyId": output_key}, region, why)
    volume_key = definition["ResourceConfig"].get("VolumeKmsKeyId")
    if volume_key:
        yield Call(role, "kms", "CreateGrant", {"KeyId": volume_key}, region, why)
    yield from _logs(role, region, TRAINING_LOG_GROUP, f"{job}/algo-1-1700000000", why)
    yield Call(role, "cloudwatch", "PutMetricData", {"Namespace": TRAINING_METRICS_NAMESPACE}, region, why)


def model_calls(call: Call) -> Iterator[Call]:
    p, region = call.params, call.region
    role = p["ExecutionRoleArn"]
    why = f"SageMaker hosting, model {p['ModelName']}"
    for container in [p.get("PrimaryContainer"), *p.get("Containers", [])]:
        if not container:
            continue
        if container.get("ModelDataUrl"):
            bucket, key = split_s3_uri(container["ModelDataUrl"])
            yield Call(role, "s3", "GetObject", {"Bucket": bucket, "Key": key}, region, why)
        yield from pull_image(role, region, container["Image"], why)


def transform_calls(call: Call, models: Mapping[str, Mapping[str, Any]], read_object: ReadObject) -> Iterator[Call]:
    p, region, job = call.params, call.region, call.params["TransformJobName"]
    model = models.get(p["ModelName"])
    if model is None:
        raise ValueError(f"CreateTransformJob {job} uses model {p['ModelName']}, which no recorded CreateModel made: "
                         "the role SageMaker runs the transform as is unknown")
    role = model["ExecutionRoleArn"]
    why = f"SageMaker batch transform, job {job}"

    def s3(operation: str, uri: str) -> Call:
        bucket, key = split_s3_uri(uri)
        return Call(role, "s3", operation, {"Bucket": bucket, "Key": key}, region, why)

    container = model["PrimaryContainer"]
    yield s3("GetObject", container["ModelDataUrl"])
    yield from pull_image(role, region, container["Image"], why)
    source = p["TransformInput"]["DataSource"]["S3DataSource"]
    output = p["TransformOutput"]["S3OutputPath"].rstrip("/") + "/"
    yield s3("GetObject", source["S3Uri"])
    if source["S3DataType"] == "ManifestFile":
        bucket, key = split_s3_uri(source["S3Uri"])
        manifest = json.loads(read_object(bucket, key))
        prefix = manifest[0]["prefix"]
        for path in manifest[1:]:
            yield s3("GetObject", prefix + path)
            yield s3("PutObject", f"{output}{path}.out")
    else:  # S3Prefix: SageMaker lists the prefix
        bucket, key = split_s3_uri(source["S3Uri"])
        yield Call(role, "s3", "ListObjectsV2", {"Bucket": bucket, "Prefix": key}, region, why)
    output_key = p["TransformOutput"].get("KmsKeyId")
    if output_key:
        yield Call(role, "kms", "Encrypt", {"KeyId": output_key}, region, why)
        yield Call(role, "kms", "GenerateDataKey", {"KeyId": output_key}, region, why)
    yield from _logs(role, region, TRANSFORM_LOG_GROUP, f"{job}/i-0123456789abcdef0-1700000000", why)
    yield Call(role, "cloudwatch", "PutMetricData", {"Namespace": TRANSFORM_METRICS_NAMESPACE}, region, why)


def pull_image(role: str, region: str, image: str, why: str) -> Iterator[Call]:
    """`<registry>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>` pulled as `role`."""
    host, _, path = image.partition("/")
    registry = host.split(".", 1)[0]
    repository = path.split("@", 1)[0].rsplit(":", 1)[0]
    yield Call(role, "ecr", "GetAuthorizationToken", {}, region, why)
    yield Call(role, "ecr", "PullImage", {"registryId": registry, "repositoryName": repository}, region, why)


def notebook_calls(*, role: str, region: str, notebook_name: str, sample_source: str | None,
                   bucket: str, prefix: str) -> Iterator[Call]:
    """What the lifecycle scripts run on the instance (stacks/lifecycle/), as the execution role."""
    why = "notebook lifecycle: aws s3 sync of the sample images"
    if sample_source:
        source_bucket, source_key = split_s3_uri(sample_source)
        destination = f"{prefix}/images/"
        yield Call(role, "s3", "ListObjectsV2", {"Bucket": source_bucket, "Prefix": source_key}, region, why)
        yield Call(role, "s3", "ListObjectsV2", {"Bucket": bucket, "Prefix": destination}, region, why)
        yield Call(role, "s3", "CopyObject", {
            "Bucket": bucket, "Key": f"{destination}airplane_1.jpg",
            "CopySource": {"Bucket": source_bucket, "Key": f"{source_key}airplane_1.jpg"},
        }, region, why)
    yield Call(role, "sagemaker", "StopNotebookInstance", {"NotebookInstanceName": notebook_name}, region,
               "notebook lifecycle: idle checker")


def lambda_service_calls(functions: Iterable[FunctionInfo], invoked_roles: set[str], region: str) -> Iterator[Call]:
    """The Lambda service, with each invoked function's role, writes the function's logs and sends a
    failed asynchronous invocation to its on-failure destination.
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html"""
    for function in functions:
        if function.role_arn not in invoked_roles:
            continue
        why = f"Lambda service, function {function.logical_id}"
        if function.log_group:
            stream = "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef"
            yield Call(function.role_arn, "logs", "CreateLogStream",
                       {"logGroupName": function.log_group, "logStreamName": stream}, region, why)
            yield Call(function.role_arn, "logs", "PutLogEvents",
                       {"logGroupName": function.log_group, "logStreamName": stream}, region, why)
        if function.failure_queue_arn:
            yield Call(function.role_arn, "sqs", "SendMessage", {"QueueArn": function.failure_queue_arn}, region, why)


def source_refs(manifest_uri: str, read_object: ReadObject) -> list[str]:
    bucket, key = split_s3_uri(manifest_uri)
    refs = []
    for line in read_object(bucket, key).splitlines():
        if line.strip():
            ref = json.loads(line).get("source-ref")
            if isinstance(ref, str):
                refs.append(ref)
    return refs


def _logs(role: str, region: str, group: str, stream: str, why: str) -> Iterator[Call]:
    yield Call(role, "logs", "CreateLogGroup", {"logGroupName": group}, region, why)
    yield Call(role, "logs", "CreateLogStream", {"logGroupName": group, "logStreamName": stream}, region, why)
    yield Call(role, "logs", "PutLogEvents", {"logGroupName": group, "logStreamName": stream}, region, why)
    yield Call(role, "logs", "DescribeLogStreams", {"logGroupName": group}, region, why)
