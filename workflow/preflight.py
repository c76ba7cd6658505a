"""`python -m workflow preflight`: read-only checks of a real account before the first labeling job.

The tests prove the workflow against the synthesized policies and a local emulator; only the real
account can say whether its quotas, its organisation's SCPs and permission boundaries, the key
policy of a key it owns, its stacks as deployed and its work team are ready. This module asks the
account, with Describe/Get/List/Simulate calls only (`IAM_ACTIONS` lists every one), and turns
each answer into one line: PASS, WARN (could not check, or worth a look) or FAIL (fix before the
first job). Facts it relies on, with their AWS sources: docs/preflight.md.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.parsers import ResponseParserError

from lambdas import register_model, training_request, workforces
from lambdas.workforces import WorkteamSource
from stacks import algorithm_images, regions
from stacks.config import WorkflowConfig
from workflow import outputs
from workflow.aws import error_code, error_message, is_not_found
from workflow.context import Project, region_from_environment
from workflow.errors import CliError

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"

# A client factory: service name -> boto3 client (the CLI's `Invocation.client`, or stubs).
Clients = Callable[[str], Any]

# Every AWS operation preflight makes, with the IAM action it needs: all read-only. An
# AccessDenied on one names the action the operator's credentials lack.
IAM_ACTIONS: Mapping[str, str] = {
    "GetCallerIdentity": "sts:GetCallerIdentity",
    "DescribeStacks": "cloudformation:DescribeStacks",
    # HeadBucket is authorized as s3:ListBucket (S3 API reference, HeadBucket).
    "HeadBucket": "s3:ListBucket",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "GetBucketCors": "s3:GetBucketCORS",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "DescribeKey": "kms:DescribeKey",
    "GetKeyPolicy": "kms:GetKeyPolicy",
    "GetFunctionConfiguration": "lambda:GetFunctionConfiguration",
    "GetRole": "iam:GetRole",
    "SimulatePrincipalPolicy": "iam:SimulatePrincipalPolicy",
    "DescribeRule": "events:DescribeRule",
    "ListTargetsByRule": "events:ListTargetsByRule",
    "DescribeWorkteam": "sagemaker:DescribeWorkteam",
    "ListUsersInGroup": "cognito-idp:ListUsersInGroup",
    "ListServiceQuotas": "servicequotas:ListServiceQuotas",
    "ListAWSDefaultServiceQuotas": "servicequotas:ListAWSDefaultServiceQuotas",
}

# Error codes meaning "your credentials may not do this". HeadBucket has no body: its 403 is
# handled where it is made, because it also means "owned by another account".
_DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
    "AuthorizationErrorException", "UnauthorizedException",
})
# Not a check's problem: the whole run cannot work; the CLI reports these as for any command.
_CREDENTIAL_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "SignatureDoesNotMatch",
})
_FATAL_BOTOCORE = (NoCredentialsError, PartialCredentialsError, ProfileNotFound)
# An answer botocore cannot read (not a BotoCoreError): a check that cannot vouch for its item.
_UNREADABLE = (BotoCoreError, ResponseParserError)

# Role keys of the permission table and what names each role's ARN.
EXECUTION_ROLE = "execution"
START_LABELING = "StartLabeling"
START_TRAINING = "StartTraining"
REGISTER_MODEL = "RegisterModel"
EVALUATION = "Evaluation"  # only with evaluation.enabled: checked when the stack has its output
FUNCTION_OUTPUTS: Mapping[str, str] = {
    START_LABELING: outputs.START_LABELING_FUNCTION,
    START_TRAINING: outputs.START_TRAINING_FUNCTION,
    REGISTER_MODEL: outputs.REGISTER_MODEL_FUNCTION,
    EVALUATION: outputs.EVALUATION_FUNCTION,
}

# EventBridge rule outputs of the Workflow stack (stacks/training.py) and the function each targets.
LABELING_COMPLETED_RULE = "LabelingCompletedRuleName"
TRAINING_ENDED_RULE = "TrainingEndedRuleName"
TUNING_ENDED_RULE = "TuningEndedRuleName"
TRANSFORM_ENDED_RULE = "TransformEndedRuleName"  # only with evaluation.enabled (stacks/evaluation.py)
RULE_TARGETS: Mapping[str, str] = {
    LABELING_COMPLETED_RULE: outputs.START_TRAINING_FUNCTION,
    TRAINING_ENDED_RULE: outputs.REGISTER_MODEL_FUNCTION,
    TUNING_ENDED_RULE: outputs.REGISTER_MODEL_FUNCTION,
    TRANSFORM_ENDED_RULE: outputs.EVALUATION_FUNCTION,
}

DATA_OUTPUTS = (outputs.BUCKET_NAME, outputs.EXECUTION_ROLE_ARN)
WORKFLOW_OUTPUTS = (
    outputs.START_LABELING_FUNCTION, outputs.START_TRAINING_FUNCTION, outputs.REGISTER_MODEL_FUNCTION,
    outputs.ALERTS_TOPIC_ARN, LABELING_COMPLETED_RULE, TRAINING_ENDED_RULE, TUNING_ENDED_RULE,
)

# The Ground Truth CORS rule of stacks/data_stack.py (GROUND_TRUTH_CORS_RULE), as GetBucketCors
# returns it; a test keeps the two equal (importing aws_cdk here would start a jsii runtime).
CORS_METHOD, CORS_ORIGIN, CORS_EXPOSED_HEADER = "GET", "*", "Access-Control-Allow-Origin"

BLOCK_PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

# What the execution role (stacks/execution_role.py) and the S3-writing Lambdas need of the key.
KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")

PASSED_TO_SAGEMAKER = "sagemaker.amazonaws.com"
SAMPLE_JOB_SUFFIX = "preflight"  # a job name that matches the roles' <job_prefix>-* resources
QUOTA_CONSOLE = "request an increase in the Service Quotas console (Amazon SageMaker)"
DEPLOY = outputs.DEPLOY_HINT


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One line of the report: what was checked, what was found and, unless PASS, what to do."""

    status: str
    subject: str
    detail: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.status:<4}  {self.subject}: {self.detail}"
        return f"{text} -> {self.fix}" if self.fix else text


def passed(subject: str, detail: str) -> Result:
    return Result(PASS, subject, detail)


def warned(subject: str, detail: str, fix: str | None = None) -> Result:
    return Result(WARN, subject, detail, fix)


def failed(subject: str, detail: str, fix: str) -> Result:
    return Result(FAIL, subject, detail, fix)


def exit_code(results: Sequence[Result]) -> int:
    return 1 if any(result.status == FAIL for result in results) else 0


def summary(results: Sequence[Result]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in (PASS, WARN, FAIL)}
    verdict = "not ready, fix the FAIL lines first" if counts[FAIL] else "ready for the first labeling job"
    return f"preflight: {counts[PASS]} PASS, {counts[WARN]} WARN, {counts[FAIL]} FAIL: {verdict}"


def could_not_check(subject: str, error: Exception, operation: str | None = None) -> Result:
    """An AWS error while checking: WARN if the operator may not read it, else FAIL."""
    operation = getattr(error, "operation_name", "") or operation or ""
    action = IAM_ACTIONS.get(operation, operation or "the AWS call")
    if isinstance(error, ClientError):
        code = error_code(error)
        if code in _DENIED_CODES:
            return warned(subject, f"could not check: {action} denied for your credentials",
                          f"use credentials allowed {action} (read-only), or have an administrator check this")
        return failed(subject, f"could not check: {operation} failed: {code}: {_one_line(error_message(error))}",
                      "run preflight again; if it persists, check this in the AWS console")
    first_line = str(error).split("\n", 1)[0].rstrip(":")  # a parse error appends the raw answer
    return failed(subject, f"could not check: {operation or 'AWS call'} failed: {_one_line(first_line)}",
                  "run preflight again; if it persists, check this in the AWS console")


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


# --- the permission table --------------------------------------------------------------------


@dataclass(frozen=True)
class ContextValue:
    """A condition key value for the simulator (IAM ContextEntry)."""

    key: str
    values: tuple[str, ...]
    type: str = "string"

    def entry(self) -> dict[str, Any]:
        return {"ContextKeyName": self.key, "ContextKeyValues": list(self.values), "ContextKeyType": self.type}


@dataclass(frozen=True)
class Call:
    """One call a role makes (or SageMaker makes as it), rehearsed with IAM's policy simulator."""

    action: str
    resource: str
    why: str
    context: tuple[ContextValue, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """What the permission table is derived from: the config and the account it runs in."""

    config: WorkflowConfig
    region: str
    account: str
    bucket: str
    execution_role_arn: str
    partition: str = "aws"
    topic_arn: str | None = None
    notebook_name: str | None = None  # the notebook's SDK and idle checker act as the execution role
    dead_letter_queue_arn: str | None = None  # the Lambda service sends failed async events there
    # role -> the function's log group name: the Lambda service writes the logs with the role.
    function_log_groups: Mapping[str, str] = field(default_factory=dict)


def sample_job_names(config: WorkflowConfig) -> dict[str, str]:
    """The names the workflow derives from one labeling job (same functions as the Lambdas)."""
    labeling = f"{config.labeling.job_prefix}-{SAMPLE_JOB_SUFFIX}"
    training = training_request.training_job_name(labeling)
    return {
        "labeling": labeling,
        "training": training,
        "tuning": training_request.tuning_job_name(labeling),
        "model": register_model.model_name(training),
    }


def permission_table(deployment: Deployment) -> dict[str, tuple[Call, ...]]:
    """role -> the key calls it makes, with the resource ARN and condition context of each.

    Sample resources stand for all of their kind: one labeling job named with the job prefix, the
    training/tuning job and model names the Lambdas derive from it, keys under the data prefix.
    """
    config, p, region, account = deployment.config, deployment.partition, deployment.region, deployment.account
    prefix, names = config.prefix, sample_job_names(config)
    job, training, tuning, model = names["labeling"], names["training"], names["tuning"], names["model"]
    bucket_arn = f"arn:{p}:s3:::{deployment.bucket}"

    def obj(*parts: str) -> str:
        return f"{bucket_arn}/{prefix}/" + "/".join(parts)

    def sagemaker(resource: str, name: str) -> str:
        # SageMaker ARNs carry resource names in lower case.
        return f"arn:{p}:sagemaker:{region}:{account}:{resource}/{name.lower()}"

    def list_prefix(key_prefix: str) -> tuple[ContextValue, ...]:
        return (ContextValue("s3:prefix", (key_prefix,)),)

    pass_role = Call("iam:PassRole", deployment.execution_role_arn, "pass the execution role to SageMaker",
                     (ContextValue("iam:PassedToService", (PASSED_TO_SAGEMAKER,)),))
    key = config.bucket.kms_key_arn
    alerts = (Call("sns:Publish", deployment.topic_arn, "publish alerts when no job starts or one fails"),) \
        if deployment.topic_arn else ()
    log_stream = (f"arn:{p}:logs:{region}:{account}:log-group:/aws/sagemaker/TrainingJobs"
                  f":log-stream:{training}/algo-1")

    execution = [
        Call("s3:ListBucket", bucket_arn, "list the data prefix (spot training resumes from its checkpoints)",
             list_prefix(f"{prefix}/checkpoints/{training}/")),
        # Without s3:prefix: HeadBucket, as sagemaker.Session().default_bucket() makes in the notebook.
        Call("s3:ListBucket", bucket_arn, "check the bucket exists with HeadBucket (the notebook's default_bucket())"),
        Call("s3:GetObject", obj("images", "example.jpg"), "let Ground Truth read the images to label"),
        *(Call("s3:GetObject", obj("labeling", job, name), "let Ground Truth read the frozen job inputs")
          for name in ("input.manifest", "label-categories.json", "ui-template.liquid")),
        Call("s3:PutObject", obj("labeled-data", job, "manifests", "output", "output.manifest"),
             "let Ground Truth write its output"),
        Call("s3:GetObject", obj("training", job, "train.manifest"), "let training read its manifests"),
        Call("s3:PutObject", obj("models", training, "output", "model.tar.gz"), "let training write the model"),
        Call("s3:GetObject", obj("models", training, "output", "model.tar.gz"),
             "let SageMaker read the model artifact (CreateModel)"),
        Call("s3:PutObject", obj("checkpoints", training, "checkpoint"), "let spot training write checkpoints"),
        *(Call(action, algorithm_images.repository_arn(region, config.task.algorithm),
               "let SageMaker pull the algorithm image")
          for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")),
        Call("ecr:GetAuthorizationToken", "*", "let SageMaker sign in to ECR"),
        Call("logs:CreateLogStream", log_stream, "let training write its logs"),
        Call("logs:PutLogEvents", log_stream, "let training write its logs"),
        Call("cloudwatch:PutMetricData", "*", "let training publish its metrics",
             (ContextValue("cloudwatch:namespace", ("/aws/sagemaker/TrainingJobs",)),)),
        *(Call(action, key, "read and write SSE-KMS objects") for action in KEY_ACTIONS if key),
        *(Call(action, f"arn:{p}:logs:{region}:{account}:log-group:/aws/sagemaker/TrainingJobs",
               "let training create and read its log group") for action in ("logs:CreateLogGroup",
                                                                              "logs:DescribeLogStreams")),
    ]
    auto = config.labeling.auto_labeling
    if auto.enabled:  # docs/labeling-cost.md, "Automated data labeling": Ground Truth runs jobs as this role
        execution.append(Call("iam:PassRole", deployment.execution_role_arn, "let Ground Truth run automated "
                              "labeling's training and inference jobs as this role",
                              (ContextValue("iam:PassedToService", (PASSED_TO_SAGEMAKER,)),)))
        if auto.volume_kms_key_arn:
            execution.append(Call("kms:CreateGrant", auto.volume_kms_key_arn, "encrypt automated labeling's "
                                  "instance volumes", (ContextValue("kms:GrantIsForAWSResource", ("true",)),)))
    if deployment.notebook_name:
        notebook = sagemaker("notebook-instance", deployment.notebook_name)
        execution += [
            Call("sagemaker:DescribeNotebookInstance", notebook, "the notebook SDK's get_execution_role()"),
            Call("sagemaker:StopNotebookInstance", notebook, "the notebook's idle auto-stop"),
        ]
    labeling_job = sagemaker("labeling-job", job)
    start_labeling = [
        Call("s3:ListBucket", bucket_arn, "list the images to label", list_prefix(f"{prefix}/images/")),
        Call("s3:PutObject", obj("labeling", job, "input.manifest"), "freeze the job inputs"),
        Call("s3:GetObject", obj("labeling", job, "input.manifest"),
             "read a relabel job's uploaded manifest and the earlier job's label categories"),
        *(Call(action, labeling_job, "start the labeling job (idempotent per name)")
          for action in ("sagemaker:DescribeLabelingJob", "sagemaker:CreateLabelingJob", "sagemaker:AddTags")),
        pass_role,
        *(Call(action, key, "read and write SSE-KMS objects") for action in KEY_ACTIONS if key),
    ]
    if config.tuning.enabled:
        job_kind, job_arn = "HyperParameterTuningJob", sagemaker("hyper-parameter-tuning-job", tuning)
    else:
        job_kind, job_arn = "TrainingJob", sagemaker("training-job", training)
    start_training = [
        Call("sagemaker:DescribeLabelingJob", labeling_job, "read the completed labeling job"),
        Call("s3:GetObject", obj("labeled-data", job, "manifests", "output", "output.manifest"),
             "read Ground Truth's output manifest"),
        Call("s3:GetObject", obj("labeling", job, "label-categories.json"), "read the label categories"),
        Call("s3:PutObject", obj("training", job, "train.manifest"), "write the train/validation manifests"),
        *(Call(f"sagemaker:{verb}{job_kind}", job_arn, "start the job unless it exists")
          for verb in ("Describe", "Create")),
        Call("sagemaker:AddTags", job_arn, "tag the job"),
        pass_role,
        *alerts,
        *(Call(action, key, "read and write SSE-KMS objects") for action in KEY_ACTIONS if key),
    ]
    model_arn = sagemaker("model", model)
    register = [
        Call("sagemaker:DescribeTrainingJob", sagemaker("training-job", training), "read the finished training job"),
        *((Call("sagemaker:DescribeHyperParameterTuningJob", job_arn, "read the finished tuning job"),)
          if config.tuning.enabled else ()),
        *(Call(action, model_arn, "create the model unless it exists")
          for action in ("sagemaker:DescribeModel", "sagemaker:CreateModel", "sagemaker:AddTags")),
        pass_role,
        *alerts,
    ]
    package = Call("sagemaker:CreateModelPackage", f"arn:{p}:sagemaker:{region}:{account}:model-package/"
                   f"{config.model_package_group_name}/1", "register a model package version")
    table = {EXECUTION_ROLE: execution, START_LABELING: start_labeling, START_TRAINING: start_training,
             REGISTER_MODEL: register}
    if config.evaluation.enabled:
        evaluation_calls(table, deployment, names, package=package)
    elif config.model.register_package:
        register.append(package)
    for role, log_group in deployment.function_log_groups.items():
        if role not in table:
            continue
        stream = f"arn:{p}:logs:{region}:{account}:log-group:{log_group}:log-stream:2026/01/01/[$LATEST]0"
        table[role] += [Call(action, stream, "let the Lambda service write the function's logs")
                        for action in ("logs:CreateLogStream", "logs:PutLogEvents")]
    if deployment.dead_letter_queue_arn:
        for role in (START_TRAINING, REGISTER_MODEL, EVALUATION):  # invoked asynchronously by EventBridge
            if role not in table:
                continue
            table[role].append(Call("sqs:SendMessage", deployment.dead_letter_queue_arn,
                                    "let the Lambda service keep a failed event in the dead-letter queue"))
    return {role: tuple(calls) for role, calls in table.items()}


def evaluation_calls(table: dict[str, list[Call]], deployment: Deployment, names: Mapping[str, str], *,
                     package: Call) -> None:
    """The model's evaluation (evaluation.enabled): RegisterModel starts the batch transform, SageMaker runs it
    as the execution role, the Evaluation function reads its outputs and registers the package."""
    config, p, region, account = deployment.config, deployment.partition, deployment.region, deployment.account
    prefix, job, model = config.prefix, names["labeling"], names["model"]
    bucket_arn = f"arn:{p}:s3:::{deployment.bucket}"
    # The evaluation's transform job is named like the model (lambdas/evaluation_job.py).
    transform = f"arn:{p}:sagemaker:{region}:{account}:transform-job/{model.lower()}"
    folder = f"{bucket_arn}/{prefix}/evaluation/{model}"
    split = f"{bucket_arn}/{prefix}/training/{job}/validation.manifest"
    key = config.bucket.kms_key_arn
    keys = [Call(action, key, "read and write SSE-KMS objects") for action in KEY_ACTIONS if key]
    alerts = [Call("sns:Publish", deployment.topic_arn, "publish alerts when an evaluation fails or a model is "
                   "below the accuracy floor")] if deployment.topic_arn else []
    stream = f"arn:{p}:logs:{region}:{account}:log-group:/aws/sagemaker/TransformJobs:log-stream:{model}/i-0"
    table[EXECUTION_ROLE] += [
        Call("s3:GetObject", f"{folder}/transform-input.manifest", "let the evaluation's transform read its manifest"),
        Call("s3:PutObject", f"{folder}/predictions/{prefix}/images/example.jpg.out",
             "let the evaluation's transform write its predictions"),
        Call("logs:CreateLogStream", stream, "let the evaluation's transform write its logs"),
        Call("logs:PutLogEvents", stream, "let the evaluation's transform write its logs"),
        Call("cloudwatch:PutMetricData", "*", "let the evaluation's transform publish its metrics",
             (ContextValue("cloudwatch:namespace", ("/aws/sagemaker/TransformJobs",)),)),
    ]
    table[REGISTER_MODEL] += [
        Call("s3:GetObject", split, "read the validation split the model is evaluated on"),
        Call("s3:PutObject", f"{folder}/inputs.json", "write the evaluation's manifest and inputs"),
        *(Call(action, transform, "start the evaluation's transform job unless it exists")
          for action in ("sagemaker:DescribeTransformJob", "sagemaker:CreateTransformJob", "sagemaker:AddTags")),
        *keys,
    ]
    evaluation = [
        Call("sagemaker:DescribeTransformJob", transform, "read the ended evaluation transform job"),
        Call("s3:ListBucket", bucket_arn, "list the transform's predictions",
             (ContextValue("s3:prefix", (f"{prefix}/evaluation/{model}/predictions/",)),)),
        Call("s3:GetObject", f"{folder}/predictions/{prefix}/images/example.jpg.out", "read the predictions"),
        Call("s3:GetObject", split, "read the validation split's labels"),
        Call("s3:GetObject", f"{bucket_arn}/{prefix}/images/example.jpg", "sign the report's image links"),
        Call("s3:PutObject", f"{folder}/metrics.json", "write metrics.json and report.html"),
        *alerts,
        *keys,
    ]
    if config.model.register_package:
        evaluation += [
            Call("sagemaker:DescribeModel", f"arn:{p}:sagemaker:{region}:{account}:model/{model.lower()}",
                 "register the evaluated model's image and artifact"),
            package,
            Call("sagemaker:Search", "*", "find the version a redelivered event already registered"),
        ]
    table[EVALUATION] = evaluation


def queue_arn(queue_url: str, partition: str = "aws") -> str:
    """`https://sqs.<region>.amazonaws.com/<account>/<name>` -> the queue's ARN."""
    parts = queue_url.rstrip("/").split("/")
    region = parts[2].split(".")[1]
    return f"arn:{partition}:sqs:{region}:{parts[-2]}:{parts[-1]}"


def simulation_requests(role_arn: str, calls: Iterable[Call]) -> list[dict[str, Any]]:
    """SimulatePrincipalPolicy requests: one per (resource, context), its actions together."""
    groups: dict[tuple[str, tuple[ContextValue, ...]], list[str]] = {}
    for call in calls:
        actions = groups.setdefault((call.resource, call.context), [])
        if call.action not in actions:
            actions.append(call.action)
    requests = []
    for (resource, context), actions in groups.items():
        request: dict[str, Any] = {"PolicySourceArn": role_arn, "ActionNames": actions, "ResourceArns": [resource]}
        if context:
            request["ContextEntries"] = [value.entry() for value in context]
        requests.append(request)
    return requests


@dataclass(frozen=True)
class Denial:
    action: str
    resource: str
    decision: str
    reasons: tuple[str, ...] = ()


def denials(evaluation_results: Iterable[Mapping[str, Any]]) -> list[Denial]:
    """Every (action, resource) the simulator did not allow.

    The simulator returns one EvaluationResult per action; per-resource decisions are in
    ResourceSpecificResults when present (the top-level decision is the most restrictive).
    """
    found = []
    for result in evaluation_results:
        action = str(result.get("EvalActionName", "?"))
        reasons = []
        if (result.get("OrganizationsDecisionDetail") or {}).get("AllowedByOrganizations") is False:
            reasons.append("an SCP of your organisation denies it")
        if (result.get("PermissionsBoundaryDecisionDetail") or {}).get("AllowedByPermissionsBoundary") is False:
            reasons.append("the role's permissions boundary denies it")
        per_resource = result.get("ResourceSpecificResults") or []
        decisions = [(str(r.get("EvalResourceName", "?")), str(r.get("EvalResourceDecision", "?")),
                      tuple(r.get("MissingContextValues") or ())) for r in per_resource] or [
            (str(result.get("EvalResourceName", "?")), str(result.get("EvalDecision", "?")),
             tuple(result.get("MissingContextValues") or ()))]
        for resource, decision, missing in decisions:
            if decision != "allowed":
                extra = (f"missing context {', '.join(missing)}",) if missing else ()
                found.append(Denial(action, resource, decision, (*reasons, *extra)))
    return found


def denial_fix(denial: Denial) -> str:
    if any("SCP" in reason for reason in denial.reasons):
        return f"ask your AWS administrator to allow {denial.action} for this role in the SCP"
    if any("boundary" in reason for reason in denial.reasons):
        return f"ask your AWS administrator to allow {denial.action} in the role's permissions boundary"
    if denial.decision == "explicitDeny":
        return "find the Deny statement (IAM console, policy simulator) and remove it or narrow it"
    return f"deploy the current stacks ({DEPLOY}); the role's policy should allow it"


# --- policy documents (pure) -----------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [str(p) for p in _as_list(principal.get("AWS"))]
    return []


def _actions_cover(statement: Mapping[str, Any], actions: Iterable[str]) -> bool:
    granted = [str(a).lower() for a in _as_list(statement.get("Action"))]
    return all(any(fnmatch.fnmatchcase(action.lower(), pattern) for pattern in granted) for action in actions)


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def has_tls_only_deny(policy: Any, bucket: str, partition: str = "aws") -> bool:
    """A Deny of s3 actions to everyone on the bucket and its objects when aws:SecureTransport is false."""
    wanted = {f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"}
    for statement in _statements(policy):
        if statement.get("Effect") != "Deny" or "*" not in _principals(statement):
            continue
        if not _actions_cover(statement, ("s3:GetObject", "s3:PutObject", "s3:ListBucket")):
            continue
        resources = {str(r) for r in _as_list(statement.get("Resource"))}
        if not (wanted <= resources or "*" in resources):
            continue
        for operator, entries in (statement.get("Condition") or {}).items():
            if operator not in ("Bool", "BoolIfExists") or not isinstance(entries, Mapping):
                continue
            for key, value in entries.items():
                if key.lower() == "aws:securetransport" and [str(v).lower() for v in _as_list(value)] == ["false"]:
                    return True
    return False


def has_ground_truth_cors_rule(rules: Iterable[Mapping[str, Any]]) -> bool:
    return any(
        CORS_METHOD in rule.get("AllowedMethods", ())
        and CORS_ORIGIN in rule.get("AllowedOrigins", ())
        and CORS_EXPOSED_HEADER.lower() in [h.lower() for h in rule.get("ExposeHeaders", ())]
        for rule in rules
    )


def key_policy_delegates_to_iam(policy: Any, account: str, partition: str = "aws") -> bool:
    """The default key policy statement: the account (root) may use the key, so IAM policies decide."""
    root = {f"arn:{partition}:iam::{account}:root", account}
    return any(
        statement.get("Effect") == "Allow" and (root & set(_principals(statement)) or "*" in _principals(statement))
        and _actions_cover(statement, KEY_ACTIONS)
        for statement in _statements(policy)
    )


def key_policy_grantees(policy: Any, role_arns: Iterable[str]) -> set[str]:
    """The roles the key policy allows the data-key actions by name."""
    granted: set[str] = set()
    for statement in _statements(policy):
        if statement.get("Effect") == "Allow" and _actions_cover(statement, KEY_ACTIONS):
            granted.update(_principals(statement))
    return {arn for arn in role_arns if arn in granted}


# --- quotas (pure) ---------------------------------------------------------------------------


def quota_pattern(instance_type: str, *, spot: bool) -> re.Pattern[str]:
    """`ml.g4dn.xlarge for training job usage` / `... for spot training job usage`, any case or spacing."""
    kind = r"spot\s+training" if spot else r"training"
    return re.compile(rf"^\s*{re.escape(instance_type)}\s+for\s+{kind}\s+job\s+usage\s*$", re.IGNORECASE)


def find_quota(quotas: Iterable[Mapping[str, Any]], pattern: re.Pattern[str]) -> Mapping[str, Any] | None:
    return next((q for q in quotas if pattern.match(str(q.get("QuotaName", "")))), None)


def instances_needed(config: WorkflowConfig) -> int:
    parallel = config.tuning.max_parallel_jobs if config.tuning.enabled else 1
    return config.training.instance_count * parallel


# --- the checks ------------------------------------------------------------------------------


def requested_region(option: str | None) -> str | None:
    """The region the command was asked for (--region, else AWS_REGION/AWS_DEFAULT_REGION)."""
    return option or region_from_environment()


def region_result(region: str) -> Result:
    if region in regions.GROUND_TRUTH_REGIONS:
        return passed("region", f"{region}: Ground Truth's built-in image classification runs here")
    return failed("region", f"{region}: Ground Truth's built-in image classification is not available",
                  f"use one of {', '.join(regions.GROUND_TRUTH_REGIONS)} (--region or AWS_REGION)")


def _role_name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


def _function_name(arn: str) -> str:
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else arn


@dataclass
class Preflight:
    """Runs the checks in order; later checks use what earlier ones found (outputs, account)."""

    project: Project
    client: Clients
    account: str | None = None
    partition: str = "aws"
    data: outputs.StackOutputs | None = None
    workflow: outputs.StackOutputs | None = None
    bucket_reachable: bool = False
    key_grantees: set[str] | None = None
    role_arns: dict[str, str] = field(default_factory=dict)
    log_groups: dict[str, str] = field(default_factory=dict)  # role -> its function's log group

    @property
    def config(self) -> WorkflowConfig:
        return self.project.config

    @property
    def region(self) -> str:
        return self.project.region

    def run(self) -> list[Result]:
        results: list[Result] = []
        for subject, check in self.checks():
            results.extend(self.guarded(subject, check))
        return results

    def checks(self) -> Iterator[tuple[str, Callable[[], Iterable[Result]]]]:
        # A generator: each check's subject is computed after the checks before it ran.
        yield "region", self.check_region
        yield "credentials", self.check_identity
        yield f"stack {self.project.data_stack}", lambda: self.check_stack("data")
        yield f"stack {self.project.workflow_stack}", lambda: self.check_stack("workflow")
        bucket = f"data bucket {self.bucket_name()}"
        yield bucket, self.check_bucket_exists
        for check in (self.check_public_access_block, self.check_cors, self.check_bucket_policy,
                      self.check_encryption):
            yield bucket, check
        key = self.config.bucket.kms_key_arn
        if key:
            yield f"KMS key {key}", self.check_key_state
            yield f"KMS key {key}", self.check_key_policy
        for role in (EXECUTION_ROLE, START_LABELING, START_TRAINING, REGISTER_MODEL, EVALUATION):
            if role == EVALUATION and not self.output("workflow", outputs.EVALUATION_FUNCTION):
                continue  # evaluation.enabled is false for this deployment
            yield f"{role} role", lambda role=role: self.check_role(role)
        for rule in RULE_TARGETS:
            yield f"rule {self.output('workflow', rule) or rule}", lambda rule=rule: self.check_rule(rule)
        yield f"workforce ({self.config.workforce.type.value})", self.check_workforce
        yield f"quota {self.config.training.instance_type}", self.check_quotas

    def guarded(self, subject: str, check: Callable[[], Iterable[Result]]) -> list[Result]:
        """The check's results; an AWS error ends only this check, as one WARN or FAIL line."""
        results: list[Result] = []
        try:
            for result in check():
                results.append(result)
        except ClientError as error:
            if error_code(error) in _CREDENTIAL_CODES:
                raise
            results.append(could_not_check(subject, error))
        except _FATAL_BOTOCORE:
            raise
        except _UNREADABLE as error:
            results.append(could_not_check(subject, error))
        return results

    # --- helpers

    def output(self, which: str, key: str) -> str | None:
        stack = self.data if which == "data" else self.workflow
        return stack.get(key) if stack is not None else None

    def bucket_name(self) -> str:
        return (self.output("data", outputs.BUCKET_NAME) or self.config.bucket.name
                or f"sagemaker-{self.region}-{self.account or '<account>'}")

    def deployment(self) -> Deployment | None:
        execution_role = self.output("data", outputs.EXECUTION_ROLE_ARN)
        if self.account is None or execution_role is None:
            return None
        queue_url = self.output("workflow", outputs.DEAD_LETTER_QUEUE_URL)
        return Deployment(config=self.config, region=self.region, account=self.account, bucket=self.bucket_name(),
                          execution_role_arn=execution_role, partition=self.partition,
                          topic_arn=self.output("workflow", outputs.ALERTS_TOPIC_ARN),
                          notebook_name=self.output("workflow", outputs.NOTEBOOK_NAME),
                          dead_letter_queue_arn=queue_arn(queue_url, self.partition) if queue_url else None,
                          function_log_groups=dict(self.log_groups))

    # --- 1. region and credentials

    def check_region(self) -> Iterator[Result]:
        yield region_result(self.region)

    def check_identity(self) -> Iterator[Result]:
        identity = self.client("sts").get_caller_identity()
        self.account = str(identity["Account"])
        self.partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
        pinned = self.config.account
        if pinned is not None and pinned != self.account:
            yield failed("credentials", f"{identity.get('Arn')} is in account {self.account}, but the config pins "
                         f"account {pinned}", f"use credentials of account {pinned} (AWS_PROFILE)")
            return
        yield passed("credentials", f"{identity.get('Arn')} in account {self.account}")

    # --- 2. stacks

    def check_stack(self, which: str) -> Iterator[Result]:
        name = self.project.data_stack if which == "data" else self.project.workflow_stack
        subject = f"stack {name}"
        try:
            stack = outputs.stack_outputs(self.client("cloudformation"), name)
        except CliError as error:
            # outputs.stack_outputs says "stack <name> <what>: <what to do>".
            detail, _, fix = str(error).removeprefix(f"stack {name} ").partition(": ")
            yield failed(subject, detail, fix or DEPLOY)
            return
        if which == "data":
            self.data = stack
        else:
            self.workflow = stack
        if not stack.status.endswith("_COMPLETE"):
            yield failed(subject, f"is {stack.status}", "wait until the deployment finishes, then run preflight again")
            return
        required = list(DATA_OUTPUTS if which == "data" else WORKFLOW_OUTPUTS)
        missing = [key for key in required if not stack.get(key)]
        if which == "workflow":
            # Only a team AWS owns (Mechanical Turk's) needs no output: the CLI knows its ARN.
            source = workforces.policy_for(self.config.workforce.type).workteam_source
            if source is not WorkteamSource.PUBLIC_CROWD and not stack.workteam_arn():
                missing.append(outputs.LABELING_WORKTEAM_ARN)
            if self.config.model.register_package and not stack.get(outputs.MODEL_PACKAGE_GROUP_NAME):
                missing.append(outputs.MODEL_PACKAGE_GROUP_NAME)
        if missing:
            yield failed(subject, f"{stack.status} but without the outputs {', '.join(missing)} (deployed from an "
                         "older version of this project?)", DEPLOY)
            return
        yield passed(subject, f"{stack.status} with the outputs the CLI needs")

    # --- 3. data bucket and key

    def check_bucket_exists(self) -> Iterator[Result]:
        bucket, subject = self.bucket_name(), f"data bucket {self.bucket_name()}"
        if self.account is None:
            return
        try:
            self.client("s3").head_bucket(Bucket=bucket, ExpectedBucketOwner=self.account)
        except ClientError as error:
            # HeadBucket answers with a bare status: 404 missing, 403 denied or another owner.
            code = error_code(error)
            if code in ("404", "NoSuchBucket", "NotFound"):
                yield failed(subject, "does not exist", f"deploy the Data stack ({DEPLOY}) or fix workflow.bucket.name")
                return
            if code in ("403", "Forbidden", "AccessDenied"):
                yield warned(subject, f"could not check: s3:ListBucket (HeadBucket) denied for your credentials, or "
                             f"the bucket belongs to another account than {self.account}",
                             "check the bucket's owner in the S3 console; a bucket of another account cannot be "
                             "the data bucket")
                return
            raise
        self.bucket_reachable = True
        yield passed(subject, f"exists and is owned by account {self.account}")

    def _bucket_call(self, operation: str) -> Any:
        method = getattr(self.client("s3"), operation)
        return method(Bucket=self.bucket_name(), ExpectedBucketOwner=self.account)

    def check_public_access_block(self) -> Iterator[Result]:
        if not self.bucket_reachable:
            return
        subject = f"data bucket {self.bucket_name()}"
        try:
            flags = self._bucket_call("get_public_access_block")["PublicAccessBlockConfiguration"]
        except ClientError as error:
            if error_code(error) != "NoSuchPublicAccessBlockConfiguration":
                raise
            flags = {}
        off = [flag for flag in BLOCK_PUBLIC_ACCESS_FLAGS if not flags.get(flag)]
        if off:
            yield failed(subject, f"Block Public Access is off: {', '.join(off)}",
                         "turn on all four settings (S3 console > Permissions); workers never need public access")
        else:
            yield passed(subject, "Block Public Access: all four settings on")

    def check_cors(self) -> Iterator[Result]:
        if not self.bucket_reachable:
            return
        subject = f"data bucket {self.bucket_name()}"
        try:
            rules = self._bucket_call("get_bucket_cors").get("CORSRules", [])
        except ClientError as error:
            if error_code(error) != "NoSuchCORSConfiguration":
                raise
            rules = []
        if has_ground_truth_cors_rule(rules):
            yield passed(subject, "the Ground Truth CORS rule is present")
        else:
            yield failed(subject, f"no CORS rule allowing {CORS_METHOD} from {CORS_ORIGIN} and exposing "
                         f"{CORS_EXPOSED_HEADER}: Ground Truth tasks fail without it",
                         "add the rule of stacks/data_stack.py (GROUND_TRUTH_CORS_RULE), or deploy the Data stack")

    def check_bucket_policy(self) -> Iterator[Result]:
        if not self.bucket_reachable:
            return
        subject = f"data bucket {self.bucket_name()}"
        try:
            policy = json.loads(self._bucket_call("get_bucket_policy")["Policy"])
        except ClientError as error:
            if error_code(error) != "NoSuchBucketPolicy":
                raise
            policy = None
        if has_tls_only_deny(policy, self.bucket_name(), self.partition):
            yield passed(subject, "the bucket policy denies requests without TLS")
        else:
            yield failed(subject, "the bucket policy has no TLS-only deny (aws:SecureTransport false)",
                         "add a Deny of s3:* for everyone when aws:SecureTransport is false (enforce_ssl), or deploy")

    def check_encryption(self) -> Iterator[Result]:
        if not self.bucket_reachable:
            return
        subject = f"data bucket {self.bucket_name()}"
        try:
            config = self._bucket_call("get_bucket_encryption")["ServerSideEncryptionConfiguration"]
            defaults = [rule.get("ApplyServerSideEncryptionByDefault") or {} for rule in config.get("Rules", [])]
        except ClientError as error:
            if error_code(error) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            defaults = []
        if not defaults:
            yield failed(subject, "no default encryption", "turn on default encryption (SSE-S3 or SSE-KMS)")
            return
        algorithm, key_id = str(defaults[0].get("SSEAlgorithm", "")), defaults[0].get("KMSMasterKeyID")
        key = self.config.bucket.kms_key_arn
        if key is None:
            yield passed(subject, f"default encryption {algorithm}")
        elif not algorithm.startswith("aws:kms") or key_id not in (key, key.rsplit("/", 1)[-1]):
            # No KMSMasterKeyID with aws:kms means the AWS managed key aws/s3.
            used = key_id or ("(AWS managed key)" if algorithm.startswith("aws:kms") else "")
            yield failed(subject, f"default encryption is {f'{algorithm} {used}'.rstrip()}, not the configured key "
                         f"{key}", f"set SSE-KMS with {key} (or deploy the Data stack)")
        else:
            yield passed(subject, f"default encryption {algorithm} with the configured key")

    def check_key_state(self) -> Iterator[Result]:
        key = self.config.bucket.kms_key_arn
        assert key is not None
        subject = f"KMS key {key}"
        try:
            metadata = self.client("kms").describe_key(KeyId=key)["KeyMetadata"]
        except ClientError as error:
            if error_code(error) != "NotFoundException":
                raise
            yield failed(subject, "does not exist", "fix workflow.bucket.kms_key_arn")
            return
        state = str(metadata.get("KeyState", "?"))
        if state == "Enabled":
            yield passed(subject, "exists and is enabled")
        elif state == "PendingDeletion":
            yield failed(subject, f"is scheduled for deletion ({metadata.get('DeletionDate')})",
                         f"cancel it: aws kms cancel-key-deletion --key-id {key}, then enable it")
        else:
            yield failed(subject, f"is {state}", f"enable it: aws kms enable-key --key-id {key}")

    def check_key_policy(self) -> Iterator[Result]:
        key, account = self.config.bucket.kms_key_arn, self.account
        assert key is not None
        if account is None:
            return
        subject = f"KMS key {key}"
        policy = json.loads(self.client("kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"])
        users = self.key_users()
        self.key_grantees = key_policy_grantees(policy, users.values())
        if key_policy_delegates_to_iam(policy, account, self.partition):
            yield passed(subject, "the key policy lets IAM policies grant its use (account root); the roles' IAM "
                         "permissions are simulated below")
            return
        missing = [f"{role} role {_role_name(arn)}" for role, arn in users.items() if arn not in self.key_grantees]
        if missing:
            yield failed(subject, f"the key policy neither delegates to IAM (account root) nor allows "
                         f"{', '.join(KEY_ACTIONS)} to {', '.join(missing)}",
                         "add those roles to the key policy, or the default statement allowing the account root "
                         "kms:* (KMS console > key policy)")
        else:
            yield passed(subject, "the key policy allows the execution and Lambda roles to use the key")

    def key_users(self) -> dict[str, str]:
        """Roles that read or write objects in the bucket, from the permission table."""
        deployment = self.deployment()
        if deployment is None:
            return {}
        users = {}
        for role, calls in permission_table(deployment).items():
            if any(call.action.startswith("kms:") for call in calls):
                try:
                    arn = self.role_arn(role)
                except ClientError:
                    continue  # the role's own check reports a missing or unreadable function
                if arn:
                    users[role] = arn
        return users

    # --- 4. roles and their permissions

    def role_arn(self, role: str) -> str | None:
        """The role's ARN: the Data stack's output, or the function's configuration."""
        if role in self.role_arns:
            return self.role_arns[role]
        if role == EXECUTION_ROLE:
            arn = self.output("data", outputs.EXECUTION_ROLE_ARN)
        else:
            function = self.output("workflow", FUNCTION_OUTPUTS[role])
            if function is None:
                return None
            configuration = self.client("lambda").get_function_configuration(FunctionName=function)
            arn = configuration.get("Role")
            log_group = (configuration.get("LoggingConfig") or {}).get("LogGroup")
            if log_group:
                self.log_groups[role] = str(log_group)
        if arn:
            self.role_arns[role] = str(arn)
        return arn

    def check_role(self, role: str) -> Iterator[Result]:
        deployment = self.deployment()
        if deployment is None:
            return  # the stack checks already said what is missing
        subject = f"{role} role"
        try:
            arn = self.role_arn(role)
        except ClientError as error:
            if not is_not_found(error):
                raise
            function = self.output("workflow", FUNCTION_OUTPUTS[role])
            yield failed(subject, f"function {function} does not exist", DEPLOY)
            return
        if arn is None:
            return
        subject = f"{role} role {_role_name(arn)}"
        try:
            self.client("iam").get_role(RoleName=_role_name(arn))
        except ClientError as error:
            if error_code(error) not in ("NoSuchEntity", "NoSuchEntityException"):
                raise
            yield failed(subject, "does not exist", DEPLOY)
            return
        # Again: role_arn() has just read the function's log group, which the table includes.
        calls = [call for call in permission_table(self.deployment() or deployment).get(role, ())
                 if not (call.action.startswith("kms:") and self.key_grantees and arn in self.key_grantees)]
        why = {(call.action, call.resource): call.why for call in calls}
        found: list[Denial] = []
        paginator = self.client("iam").get_paginator("simulate_principal_policy")
        try:
            for request in simulation_requests(arn, calls):
                for page in paginator.paginate(**request):
                    found.extend(denials(page.get("EvaluationResults", [])))
        except _FATAL_BOTOCORE:
            raise
        except _UNREADABLE as error:  # e.g. an answer botocore cannot parse: name the call
            yield could_not_check(subject, error, "SimulatePrincipalPolicy")
            return
        for denial in found:
            reason = "; ".join(denial.reasons)
            purpose = why.get((denial.action, denial.resource))
            detail = f"{denial.action} on {denial.resource} is {denial.decision}" + (f" ({reason})" if reason else "")
            yield failed(subject, detail + (f", needed to {purpose}" if purpose else ""), denial_fix(denial))
        if not found:
            yield passed(subject, f"exists; IAM's policy simulator allows all {len(calls)} calls it makes")

    # --- 5. EventBridge rules

    def check_rule(self, rule_output: str) -> Iterator[Result]:
        rule = self.output("workflow", rule_output)
        function = self.output("workflow", RULE_TARGETS[rule_output])
        if rule is None or function is None:
            return  # the stack check reported the missing output
        subject = f"rule {rule}"
        events = self.client("events")
        try:
            state = str(events.describe_rule(Name=rule).get("State", "?"))
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            yield failed(subject, "does not exist", DEPLOY)
            return
        if not state.startswith("ENABLED"):
            yield failed(subject, f"is {state}: its jobs' events are dropped",
                         f"aws events enable-rule --name {rule}")
            return
        targets = [target for page in events.get_paginator("list_targets_by_rule").paginate(Rule=rule)
                   for target in page.get("Targets", [])]
        if any(_function_name(str(target.get("Arn", ""))) == function for target in targets):
            yield passed(subject, f"enabled, targets {function}")
        else:
            yield failed(subject, f"enabled but does not target {function}", DEPLOY)

    # --- 6. workforce

    def check_workforce(self) -> Iterator[Result]:
        workforce = self.config.workforce
        policy = workforces.policy_for(workforce.type)
        subject = f"workforce ({policy.kind.value})"
        if policy.workteam_source is WorkteamSource.PUBLIC_CROWD:
            # AWS's own team: nothing of it is in this account to describe.
            detail = f"{policy.title}: nothing to check"
            if policy.paid_per_task:
                price = workforce.price_usd or Decimal(0)
                per_image = price * workforce.workers_per_object
                detail += (f"; workers cost {price} USD x {workforce.workers_per_object} = {per_image} USD per "
                           "image, plus Ground Truth's per-object fee")
            yield passed(subject, detail)
            return
        arn = (self.workflow.workteam_arn() if self.workflow else None) or workforce.workteam_arn
        if not arn:
            yield failed(subject, "no work team ARN (stack output LabelingWorkteamArn or workflow.workforce."
                         "workteam_arn)", f"set workflow.workforce.workteam_arn or {DEPLOY}")
            return
        subject = f"work team {arn}"
        team_account = arn.split(":")[4] if arn.count(":") >= 5 else None
        if self.account and team_account and team_account != self.account:
            yield warned(subject, f"belongs to account {team_account}; DescribeWorkteam sees only this account's teams",
                         "check the team's subscription in the Ground Truth console (labeling workforces)")
            return
        try:
            team = self.client("sagemaker").describe_workteam(WorkteamName=arn.rsplit("/", 1)[-1])["Workteam"]
        except ClientError as error:
            if not is_not_found(error):
                raise
            yield failed(subject, "does not exist",
                         f"create the team ({DEPLOY}) or fix workflow.workforce.workteam_arn")
            return
        members = team.get("MemberDefinitions", [])
        groups = [m["CognitoMemberDefinition"] for m in members if m.get("CognitoMemberDefinition")]
        oidc = [g for m in members for g in (m.get("OidcMemberDefinition") or {}).get("Groups", [])]
        yield passed(subject, f"exists ({len(groups)} Cognito group(s), {len(oidc)} OIDC group(s))")
        if groups:
            count = self.count_workers(groups)
            if count == 0:
                yield warned(subject, "its Cognito groups have no workers yet",
                             "invite workers (workflow.workforce.worker_emails, then deploy, or the Ground Truth "
                             "console)")
            else:
                yield passed(subject, f"{count} worker(s) in its Cognito group(s)")
        elif not oidc:
            yield failed(subject, "has no member groups", "add a Cognito or OIDC group to the team")

    def count_workers(self, groups: Sequence[Mapping[str, Any]]) -> int:
        paginator = self.client("cognito-idp").get_paginator("list_users_in_group")
        return sum(len(page.get("Users", [])) for group in groups
                   for page in paginator.paginate(UserPoolId=group["UserPool"], GroupName=group["UserGroup"]))

    # --- 7. quotas

    def check_quotas(self) -> Iterator[Result]:
        training = self.config.training
        instance, needed = training.instance_type, instances_needed(self.config)
        quotas = self.list_quotas("list_service_quotas")
        defaults: list[Mapping[str, Any]] | None = None
        for spot in ((False, True) if training.spot else (False,)):
            pattern = quota_pattern(instance, spot=spot)
            name = f"{instance} for {'spot ' if spot else ''}training job usage"
            subject = f"quota {name}"
            quota, note = find_quota(quotas, pattern), ""
            if quota is None:
                # ListServiceQuotas leaves out quotas whose applied value is not available.
                defaults = self.list_quotas("list_aws_default_service_quotas") if defaults is None else defaults
                quota, note = find_quota(defaults, pattern), " (AWS default; no applied value published)"
            if quota is None:
                yield warned(subject, f"not found in Service Quotas for SageMaker in {self.region}",
                             "check it in the Service Quotas console (Amazon SageMaker)")
                continue
            value = quota.get("Value")
            amount = int(value) if isinstance(value, int | float) and float(value).is_integer() else value
            binding = spot or not training.spot  # with managed spot, jobs count against the spot quota
            if value is not None and float(value) == 0:
                if binding:
                    yield failed(subject, f"is 0{note}: no training job can start", QUOTA_CONSOLE)
                else:
                    yield warned(subject, f"is 0{note} (only needed with training.spot = false)", QUOTA_CONSOLE)
            elif value is not None and float(value) < needed and binding:
                yield warned(subject, f"is {amount}{note}, below the {needed} instance(s) the config can run at once "
                             f"(instance_count x parallel jobs): jobs will wait or fail", QUOTA_CONSOLE)
            else:
                yield passed(subject, f"is {amount}{note} (the config needs {needed})")

    def list_quotas(self, operation: str) -> list[Mapping[str, Any]]:
        paginator = self.client("service-quotas").get_paginator(operation)
        return [quota for page in paginator.paginate(ServiceCode="sagemaker") for quota in page.get("Quotas", [])]


def run_preflight(project: Project, client: Clients) -> list[Result]:
    return Preflight(project=project, client=client).run()


def report(results: Sequence[Result]) -> list[str]:
    return [result.line() for result in results] + [summary(results)]
