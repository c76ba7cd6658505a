"""Typed, validated configuration of the workflow.

The config is the `workflow` object in `cdk.json` context. It can be changed per deployment:

* `-c env=prod` merges the block `workflow.environments.prod` over the defaults;
* `-c workflow.<dotted.key>=<value>` overrides a single key (values are parsed as JSON
  when they parse, else taken as strings: `-c workflow.notebook.idle_minutes=30`).

Every value is checked here, at synth, and every problem is reported at once, each naming
the key, the bad value and what is allowed. Unknown keys are errors (typos must not be
silently ignored).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import botocore.session

from lambdas import job_rules, task_types, workforces
from lambdas.task_types import TaskType
from lambdas.workforces import WorkforceKind, WorkforcePolicy
from stacks import notebook_platforms, regions

CONTEXT_KEY = "workflow"
ENV_SELECTOR_KEY = "env"
ENVIRONMENTS_KEY = "environments"

# Limits with their reasons.
MAX_BUCKET_NAME_LENGTH = 63  # S3 bucket naming rules
MAX_JOB_PREFIX_LENGTH = 23  # tuning job names (<= 32) keep 23 characters before their hash
MAX_IDLE_MINUTES = 24 * 60
MAX_LABELING_TASK_SECONDS = 8 * 60 * 60  # TaskTimeLimitInSeconds upper bound (API model)
MAX_TRAINING_RUNTIME_SECONDS = 28 * 24 * 60 * 60  # CreateTrainingJob limit
# Tags the workflow adds to every job it creates, besides workflow.tags: stacks/lambda_settings.py adds
# workflow-env, the Lambdas add labeling-job (lambdas/labeling_request.py, lambdas/training_request.py).
WORKFLOW_JOB_TAG_KEYS = ("workflow-env", "labeling-job")
# The retention periods CloudWatch Logs accepts, with the name of each in CDK's RetentionDays.
LOG_RETENTION_PERIODS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
LOG_RETENTION_DAYS = tuple(LOG_RETENTION_PERIODS)
# Notebook platforms: the API's and CloudFormation's, minus deprecated ones (stacks/notebook_platforms.py).
PLATFORM_IDENTIFIERS = notebook_platforms.supported_platform_identifiers()
MFA_MODES = ("OFF", "OPTIONAL", "ON")
EARLY_STOPPING = ("Off", "Auto")
RANGE_TYPES = ("continuous", "integer", "categorical")
RANGE_SCALINGS = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# Segments of S3 "safe" characters minus '*' (an IAM wildcard: the prefix becomes part of the IAM resource
# ARNs arn:aws:s3:::<bucket>/<prefix>/*), no empty, '.' or '..' segments, no leading or trailing '/'.
# '?' is an IAM wildcard too and is not in the safe set; "'" is dropped as well (the notebook's lifecycle
# script embeds the prefix in shell: stacks/lifecycle_scripts.py rejects it, so reject it here, naming the key).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
_PREFIX_SEGMENT = r"(?!\.{1,2}(?:/|$))[a-zA-Z0-9!_.()-]+"
_PREFIX = re.compile(rf"^{_PREFIX_SEGMENT}(?:/{_PREFIX_SEGMENT})*$")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_JOB_PREFIX = re.compile(r"^[a-z0-9](-*[a-z0-9]){0,62}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
_WORKTEAM_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/[a-z0-9\-]+/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
)
# Standard topics only: CloudWatch alarms cannot notify a FIFO topic.
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LABEL_ATTRIBUTE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}$")
_TAG_KEY = re.compile(r"^[\w.:/=+@ -]{1,128}$")
_WORKFORCE_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]){0,62}$")
_MODEL_PACKAGE_GROUP = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@functools.cache
def _sagemaker_limits() -> tuple[re.Pattern[str], int, int]:
    """(TaskKeyword pattern, TaskKeyword max length, TagList max) from botocore's SageMaker model: the
    limits CreateLabelingJob / CreateTrainingJob / CreateHyperParameterTuningJob enforce (docs/config-limits.md)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    keyword = model.shape_for("TaskKeyword").metadata
    return re.compile(keyword["pattern"]), int(keyword["max"]), int(model.shape_for("TagList").metadata["max"])


class ConfigError(ValueError):
    """One or more config values are invalid; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid workflow config:\n" + "\n".join(f"  - {p}" for p in problems)
        )


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class BucketConfig:
    name: str | None
    adopt_existing: bool
    kms_key_arn: str | None
    noncurrent_version_expiration_days: int
    access_log_expiration_days: int


@dataclass(frozen=True)
class NotebookConfig:
    enabled: bool
    instance_type: str
    volume_size_gb: int
    platform_identifier: str
    root_access: bool
    idle_minutes: int
    subnet_id: str | None
    security_group_ids: tuple[str, ...]
    kms_key_arn: str | None
    sync_sample_images: bool


@dataclass(frozen=True)
class LabelingConfig:
    job_prefix: str
    label_attribute: str
    labels: tuple[str, ...]
    task_title: str
    task_description: str
    task_keywords: tuple[str, ...]
    short_instructions: str
    full_instructions: str
    task_time_limit_seconds: int
    task_availability_seconds: int
    max_concurrent_tasks: int | None
    max_objects: int | None


@dataclass(frozen=True)
class WorkforceConfig:
    type: WorkforceKind  # its rules: workforces.policy_for(type)
    price_usd: Decimal | None
    workers_per_object: int
    free_of_adult_content: bool
    worker_emails: tuple[str, ...]
    mfa: str
    existing_workforce_name: str | None
    existing_user_pool_id: str | None
    existing_app_client_id: str | None
    workteam_arn: str | None


@dataclass(frozen=True)
class TrainingConfig:
    instance_type: str
    instance_count: int
    volume_size_gb: int
    spot: bool
    max_runtime_seconds: int
    max_wait_seconds: int
    validation_fraction: float
    min_labeled_objects: int
    hyperparameters: Mapping[str, str]


@dataclass(frozen=True)
class ParameterRange:
    type: str
    min: float | None = None
    max: float | None = None
    scaling: str = "Auto"
    values: tuple[str, ...] = ()

    def to_settings(self) -> dict[str, Any]:
        if self.type == "categorical":
            return {"type": self.type, "values": list(self.values)}
        return {"type": self.type, "min": self.min, "max": self.max, "scaling": self.scaling}


@dataclass(frozen=True)
class TuningConfig:
    enabled: bool
    max_jobs: int
    max_parallel_jobs: int
    early_stopping: str
    ranges: Mapping[str, ParameterRange]


@dataclass(frozen=True)
class ModelConfig:
    register_package: bool
    package_group_name: str | None


@dataclass(frozen=True)
class AlertsConfig:
    email: str | None
    # An existing SNS topic to alert to instead of the stack's own (its policy is then its owner's).
    topic_arn: str | None = None
    # True (environments.prod): synth refuses without a subscriber (stacks/alerts.py).
    require_subscriber: bool = False

    @property
    def has_subscriber(self) -> bool:
        return bool(self.email or self.topic_arn)


@dataclass(frozen=True)
class WorkflowConfig:
    env_name: str
    account: str | None
    region: str | None
    prefix: str
    tags: Mapping[str, str]
    log_retention_days: int
    bucket: BucketConfig
    notebook: NotebookConfig
    labeling: LabelingConfig
    workforce: WorkforceConfig
    training: TrainingConfig
    tuning: TuningConfig
    model: ModelConfig
    alerts: AlertsConfig
    # A registered task type's name (lambdas/task_types.py); its descriptor: `task`.
    task_type: str
    # Local-emulator target only (`make demo`): see app.py. Never set for a real account.
    local_emulator: bool = field(default=False)
    # True (environments.prod): the model package group, the private workforce's user pool and the
    # notebook instance are retained when deleted or replaced, and the Workflow stack gets termination
    # protection (stacks/app.py).
    retain_on_delete: bool = field(default=False)

    @property
    def is_env_agnostic(self) -> bool:
        return self.account is None or self.region is None

    @property
    def stack_prefix(self) -> str:
        return self.env_name

    @property
    def task(self) -> TaskType:
        """The task type's descriptor (looked up in the registry at call time)."""
        return task_types.task_type(self.task_type)


# --------------------------------------------------------------------------- loading


def load_config(
    context: Mapping[str, Any],
    *,
    default_account: str | None = None,
    default_region: str | None = None,
) -> WorkflowConfig:
    """Build the config from CDK context (the whole context mapping).

    `default_account`/`default_region` are what the CDK CLI derived from credentials
    (`CDK_DEFAULT_ACCOUNT`/`CDK_DEFAULT_REGION`); app.py reads them, nothing else does.
    """
    raw = context.get(CONTEXT_KEY)
    if not isinstance(raw, Mapping):
        raise ConfigError([f"context key {CONTEXT_KEY!r} is missing or not an object (see cdk.json)"])
    merged = _deep_copy(raw)
    environments = merged.pop(ENVIRONMENTS_KEY, {}) or {}
    problems: list[str] = []

    selected = context.get(ENV_SELECTOR_KEY)
    if selected is not None:
        if not isinstance(environments, Mapping) or selected not in environments:
            known = ", ".join(sorted(environments)) if isinstance(environments, Mapping) else ""
            raise ConfigError([
                f"env = {selected!r} selects no block in {CONTEXT_KEY}.{ENVIRONMENTS_KEY}; "
                f"known environments: {known or '(none)'}"
            ])
        merged = _deep_merge(merged, environments[selected], f"{CONTEXT_KEY}.{ENVIRONMENTS_KEY}.{selected}", problems)
        merged.setdefault("env_name", selected)

    for key in sorted(k for k in context if k.startswith(CONTEXT_KEY + ".")):
        _apply_override(merged, key[len(CONTEXT_KEY) + 1 :], context[key], problems)

    if isinstance(merged.get("account"), int) and not isinstance(merged["account"], bool):
        merged["account"] = str(merged["account"])  # `-c workflow.account=...` parses as a number
    if merged.get("account") is None and default_account:
        merged["account"] = default_account
    if merged.get("region") is None and default_region:
        merged["region"] = default_region

    reader = _Reader(merged, CONTEXT_KEY, problems)
    config = _read_workflow(reader, bool(context.get("local_emulator") in (True, "true", "True")))
    reader.finish()
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


def _read_workflow(r: _Reader, local_emulator: bool) -> WorkflowConfig | None:
    env_name = r.string("env_name", pattern=re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}$"),
                        allowed="1-16 letters or digits, starting with a letter (it prefixes stack names)")
    account = r.optional_string("account", pattern=_ACCOUNT, allowed="a 12-digit AWS account id")
    region = r.optional_string("region", pattern=_REGION, allowed="an AWS region name such as us-east-1")
    if region is not None and _REGION.match(region) and region not in regions.GROUND_TRUTH_REGIONS:
        r.problems.append(regions.unsupported_region_message(f"{r.path}.region", region))
    prefix = r.string("prefix", pattern=_PREFIX,
                      allowed="an S3 key prefix of '/'-separated segments of letters, digits and ! _ . ( ) -, "
                      "without a leading or trailing '/', empty, '.' or '..' segments, or the wildcards '*' and '?' "
                      "(the prefix becomes part of the IAM resource ARNs the roles are granted, where '*' and '?' "
                      "would widen the grant to other keys of the bucket)")
    tags = r.string_map("tags", key_pattern=_TAG_KEY)
    _check_tag_count(r, tags)
    log_retention = r.choice("log_retention_days", LOG_RETENTION_DAYS)
    # What labels and what trains: read first, the labeling and training checks are the task type's.
    task_type = r.choice("task_type", task_types.names())
    task = task_types.task_type(task_type)  # choice() falls back to a registered name after reporting
    bucket = _read_bucket(r.section("bucket"), account, region)
    notebook = _read_notebook(r.section("notebook"))
    labeling = _read_labeling(r.section("labeling"), task)
    workforce = _read_workforce(r.section("workforce"), region)
    training = _read_training(r.section("training"), task)
    tuning = _read_tuning(r.section("tuning"), training, task)
    model = _read_model(r.section("model"))
    alerts = _read_alerts(r.section("alerts"))
    retain_on_delete = r.boolean("retain_on_delete") if "retain_on_delete" in r.keys() else False  # noqa: SIM118
    # The bound depends on the kind (workforces.py): checked once both sections are read.
    too_long = workforces.policy_for(workforce.type).task_availability_problem(labeling.task_availability_seconds)
    if too_long:
        r.problems.append(f"{r.path}.labeling.task_availability_seconds = {labeling.task_availability_seconds}: "
                          f"{too_long}")
    if r.problems:
        return None
    return WorkflowConfig(
        env_name=env_name, account=account, region=region, prefix=prefix, tags=tags,
        log_retention_days=log_retention, bucket=bucket, notebook=notebook, labeling=labeling,
        workforce=workforce, training=training, tuning=tuning, model=model, alerts=alerts,
        task_type=task_type, local_emulator=local_emulator, retain_on_delete=retain_on_delete,
    )


def _check_tag_count(r: _Reader, tags: Mapping[str, str]) -> None:
    # Each job the Lambdas create carries these tags plus the workflow's own; SageMaker accepts TagList max.
    _, _, max_tags = _sagemaker_limits()
    on_jobs = set(tags) | set(WORKFLOW_JOB_TAG_KEYS)
    if len(on_jobs) > max_tags:
        allowed = max_tags - len(set(WORKFLOW_JOB_TAG_KEYS) - set(tags))
        r.problems.append(f"{r.path}.tags has {len(tags)} tags; at most {allowed} allowed: every labeling, training "
                          f"and tuning job also gets the tags {', '.join(WORKFLOW_JOB_TAG_KEYS)}, and SageMaker "
                          f"accepts at most {max_tags} tags per job")


def _read_bucket(r: _Reader, account: str | None, region: str | None) -> BucketConfig:
    name = r.optional_string("name")
    if name is not None:
        _check_bucket_name(r, name)
    adopt = r.boolean("adopt_existing")
    if adopt and name is None and (account is None or region is None):
        r.problems.append(
            f"{r.path}.adopt_existing = true needs {r.path}.name, or an explicit account and region "
            "so the default name sagemaker-<region>-<account> is known"
        )
    config = BucketConfig(
        name=name,
        adopt_existing=adopt,
        kms_key_arn=r.optional_string("kms_key_arn", pattern=_KMS_KEY_ARN,
                                      allowed="a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"),
        noncurrent_version_expiration_days=r.integer("noncurrent_version_expiration_days", 1, 3650),
        access_log_expiration_days=r.integer("access_log_expiration_days", 1, 3650),
    )
    r.finish()
    return config


def _check_bucket_name(r: _Reader, name: str) -> None:
    key = f"{r.path}.name"
    if not _BUCKET_NAME.match(name) or ".." in name or _IP_ADDRESS.match(name) or name.startswith("xn--"):
        r.problems.append(
            f"{key} = {name!r} is not a valid S3 bucket name: use 3-{MAX_BUCKET_NAME_LENGTH} lowercase "
            "letters, digits, '.' or '-', starting and ending with a letter or digit"
        )


def _read_notebook(r: _Reader) -> NotebookConfig:
    subnet = r.optional_string("subnet_id", pattern=_SUBNET, allowed="a subnet id such as subnet-0abc12345")
    groups = r.string_list("security_group_ids", pattern=_SECURITY_GROUP,
                           allowed="security group ids such as sg-0abc12345")
    if subnet is not None and not groups:
        r.problems.append(f"{r.path}.subnet_id is set but {r.path}.security_group_ids is empty; "
                          "a notebook in a VPC subnet needs at least one security group")
    if groups and subnet is None:
        r.problems.append(f"{r.path}.security_group_ids is set but {r.path}.subnet_id is not; "
                          "security groups apply only inside a VPC subnet")
    config = NotebookConfig(
        enabled=r.boolean("enabled"),
        instance_type=r.string("instance_type", pattern=_INSTANCE_TYPE,
                               allowed="a SageMaker instance type such as ml.t3.medium"),
        volume_size_gb=r.integer("volume_size_gb", 5, 16384),
        platform_identifier=_read_platform(r),
        root_access=r.boolean("root_access"),
        idle_minutes=r.integer("idle_minutes", 0, MAX_IDLE_MINUTES, note="0 disables auto-stop"),
        subnet_id=subnet,
        security_group_ids=tuple(groups),
        kms_key_arn=r.optional_string("kms_key_arn", pattern=_KMS_KEY_ARN,
                                      allowed="a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"),
        sync_sample_images=r.boolean("sync_sample_images"),
    )
    r.finish()
    return config


def _read_platform(r: _Reader) -> str:
    present = "platform_identifier" in r.keys()  # noqa: SIM118 (_Reader is not a dict)
    value = r.raw("platform_identifier")  # reports a missing key
    problem = present and notebook_platforms.platform_problem(f"{r.path}.platform_identifier", value)
    if problem:
        r.problems.append(problem)
    return value if value in PLATFORM_IDENTIFIERS else PLATFORM_IDENTIFIERS[-1]


def _read_labeling(r: _Reader, task: TaskType) -> LabelingConfig:
    # Lowercase: SageMaker writes job names lowercased into ARNs, and the training trigger
    # matches the labeling job ARN by prefix.
    job_prefix = r.string("job_prefix", pattern=_JOB_PREFIX,
                          allowed="lowercase letters, digits and '-', starting and ending with a letter or digit "
                          "(the labeling job name pattern, lowercased)")
    if len(job_prefix) > MAX_JOB_PREFIX_LENGTH:
        r.problems.append(f"{r.path}.job_prefix = {job_prefix!r} is {len(job_prefix)} characters; at most "
                          f"{MAX_JOB_PREFIX_LENGTH} leave room for the timestamp in 63-character job names")
    attribute = r.string("label_attribute", pattern=_LABEL_ATTRIBUTE,
                         allowed="letters, digits and '-' (at most 127 characters)")
    if attribute.endswith("-metadata"):
        r.problems.append(f"{r.path}.label_attribute = {attribute!r} must not end in '-metadata' "
                          "(Ground Truth reserves that suffix for the label's metadata)")
    labels = r.string_list("labels")
    ground_truth = task.ground_truth
    if len(labels) < ground_truth.min_labels:
        r.problems.append(f"{r.path}.labels = {labels!r}: {ground_truth.title} needs at least "
                          f"{ground_truth.min_labels} labels")
    if len(labels) > ground_truth.max_labels:
        r.problems.append(f"{r.path}.labels has {len(labels)} labels; Ground Truth allows at most "
                          f"{ground_truth.max_labels} for {ground_truth.title}")
    duplicates = sorted({x for x in labels if [y.casefold() for y in labels].count(x.casefold()) > 1})
    if duplicates:
        r.problems.append(f"{r.path}.labels contains duplicates {duplicates!r}; each label must be unique")
    for label in labels:
        if not label.strip() or len(label) > 256:
            r.problems.append(f"{r.path}.labels entry {label!r} must be 1-256 non-blank characters")
    keyword_pattern, keyword_max, _ = _sagemaker_limits()
    keywords = r.string_list("task_keywords")
    if not 1 <= len(keywords) <= 5:
        r.problems.append(f"{r.path}.task_keywords = {keywords!r}: give 1 to 5 keywords")
    for keyword in keywords:
        if not keyword_pattern.fullmatch(keyword) or len(keyword) > keyword_max:
            r.problems.append(f"{r.path}.task_keywords entry {keyword!r} is not allowed: use 1-{keyword_max} "
                              "letters or digits, words separated by single spaces (CreateLabelingJob's "
                              "TaskKeyword pattern)")
    config = LabelingConfig(
        job_prefix=job_prefix,
        label_attribute=attribute,
        labels=tuple(labels),
        task_title=r.string("task_title", max_length=128),
        task_description=r.string("task_description", max_length=255),
        task_keywords=tuple(keywords),
        short_instructions=r.string("short_instructions", max_length=1000),
        full_instructions=r.string("full_instructions", max_length=2000),
        task_time_limit_seconds=r.integer("task_time_limit_seconds", 30, MAX_LABELING_TASK_SECONDS),
        task_availability_seconds=r.integer("task_availability_seconds", workforces.MIN_TASK_AVAILABILITY_SECONDS,
                                            workforces.longest_task_availability_seconds(),
                                            note="the longest any workforce.type allows"),
        max_concurrent_tasks=r.optional_integer("max_concurrent_tasks", 1, 5000),
        max_objects=r.optional_integer("max_objects", 1, 100_000),
    )
    r.finish()
    return config


def _read_workforce(r: _Reader, region: str | None) -> WorkforceConfig:
    # What applies to which kind is the kind's policy (lambdas/workforces.py), not a comparison here.
    kind = workforces.parse_kind(r.choice("type", workforces.kind_values()))
    assert kind is not None  # choice() falls back to a registered kind after reporting the bad one
    policy = workforces.policy_for(kind)
    price_raw = r.raw("price_usd")
    emails = r.string_list("worker_emails", pattern=_EMAIL, allowed="email addresses")
    workteam_arn = r.optional_string("workteam_arn", pattern=_WORKTEAM_ARN,
                                     allowed="a SageMaker workteam ARN "
                                     "(arn:aws:sagemaker:<region>:<account>:workteam/private-crowd/<name>)")
    if workteam_arn and region and _WORKTEAM_ARN.match(workteam_arn):
        arn_region = workteam_arn.split(":")[3]
        if arn_region != region:
            r.problems.append(f"{r.path}.workteam_arn is in {arn_region!r} but the stacks deploy to {region!r}; "
                              "a workteam serves labeling jobs in its own region only")
    folded = [e.casefold() for e in emails]
    repeated = sorted({e for e in emails if folded.count(e.casefold()) > 1})
    if repeated:
        r.problems.append(f"{r.path}.worker_emails lists {repeated!r} more than once (emails are case-insensitive)")
    existing_workforce = r.optional_string("existing_workforce_name", pattern=_WORKFORCE_NAME,
                                           allowed="a workforce name (letters, digits, '-')")
    pool_id = r.optional_string("existing_user_pool_id", pattern=re.compile(r"^[\w-]+_[0-9a-zA-Z]+$"),
                                allowed="a Cognito user pool id such as us-east-1_AbCdEf123")
    client_id = r.optional_string("existing_app_client_id", pattern=re.compile(r"^[\w+]+$"),
                                  allowed="a Cognito app client id")
    joining = workforces.EXISTING_WORKFORCE_NAME in policy.config_keys and existing_workforce
    if joining and not (pool_id and client_id):
        r.problems.append(f"{r.path}.existing_workforce_name needs existing_user_pool_id and existing_app_client_id "
                          "(a team must use its workforce's pool and client: `aws sagemaker describe-workforce "
                          "--workforce-name <name>` shows them under CognitoConfig)")
    _check_kind_specific_keys(r, policy, {
        workforces.PRICE_USD: price_raw, workforces.WORKER_EMAILS: emails, workforces.WORKTEAM_ARN: workteam_arn,
        workforces.EXISTING_WORKFORCE_NAME: existing_workforce, workforces.EXISTING_USER_POOL_ID: pool_id,
        workforces.EXISTING_APP_CLIENT_ID: client_id,
    })
    price = _read_price(r, price_raw, policy) if policy.paid_per_task and price_raw is not None else None
    config = WorkforceConfig(
        type=kind,
        price_usd=price,
        workers_per_object=r.integer("workers_per_object", 1, 9),
        # Both always have a value (cdk.json's defaults): they apply to the kinds whose policy lists
        # them (free_of_adult_content: declares_adult_content; mfa: the pool the stack creates).
        free_of_adult_content=r.boolean("free_of_adult_content"),
        worker_emails=tuple(emails),
        mfa=r.choice("mfa", MFA_MODES),
        existing_workforce_name=existing_workforce,
        existing_user_pool_id=pool_id,
        existing_app_client_id=client_id,
        workteam_arn=workteam_arn,
    )
    r.finish()
    return config


def _check_kind_specific_keys(r: _Reader, policy: WorkforcePolicy, values: Mapping[str, Any]) -> None:
    """Keys the kind requires must be set; keys of other kinds must not be (a leftover, or the wrong type)."""
    kind = policy.kind.value
    for key, value in values.items():
        unset = value is None or value in ([], ())
        if key in policy.required_config_keys and unset:
            hint = ""
            if key == workforces.PRICE_USD:
                hint = f": choose one of {_price_list(policy)} (USD per object per worker)"
            r.problems.append(f"{r.path}.{key} is required when {r.path}.type = {kind!r} ({policy.title}){hint}")
        elif key not in policy.config_keys and not unset:
            where = " or ".join(repr(k) for k in workforces.kinds_where(key)) or "no registered type"
            empty = "[]" if isinstance(value, (list, tuple)) else "null"
            r.problems.append(f"{r.path}.{key} = {value!r} applies only when {r.path}.type is {where}, not "
                              f"{kind!r}: set it to {empty}")


def _price_list(policy: WorkforcePolicy) -> str:
    return ", ".join(str(p) for p in policy.task_prices_usd)


def _read_price(r: _Reader, value: Any, policy: WorkforcePolicy) -> Decimal | None:
    # PublicWorkforceTaskPrice is, by the API's definition, what a Mechanical Turk worker is paid per task.
    prices = policy.task_prices_usd
    key = f"{r.path}.price_usd"
    try:
        price = Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except InvalidOperation:
        price = None
    if price is None or price not in prices:
        r.problems.append(f"{key} = {value!r} is not a valid Mechanical Turk price for image "
                          f"classification; choose one of {_price_list(policy)} (USD per object per worker)")
        return None
    return next(p for p in prices if p == price)


def _read_training(r: _Reader, task: TaskType) -> TrainingConfig:
    instance_type = r.string("instance_type", pattern=_INSTANCE_TYPE,
                             allowed="a SageMaker instance type such as ml.g4dn.xlarge")
    spot = r.boolean("spot")
    runtime = r.integer("max_runtime_seconds", 60, MAX_TRAINING_RUNTIME_SECONDS)
    wait = r.integer("max_wait_seconds", 60, MAX_TRAINING_RUNTIME_SECONDS)
    if spot and wait < runtime:
        r.problems.append(f"{r.path}.max_wait_seconds = {wait} must be >= max_runtime_seconds = {runtime} "
                          "with managed spot training")
    # Digits too: beta_1 and beta_2 are documented names. Which names exist is the algorithm's rules' call.
    hyperparameters = r.string_map("hyperparameters", key_pattern=re.compile(r"^[a-z0-9_]{1,64}$"), coerce=True)
    r.problems.extend(task_types.computed_hyperparameter_problems(hyperparameters, task,
                                                                  path=f"{r.path}.hyperparameters"))
    r.problems.extend(task.algorithm.rules.check_training_config(
        instance_type=instance_type if _INSTANCE_TYPE.match(instance_type) else None,  # else reported above
        hyperparameters=hyperparameters, path=r.path))
    config = TrainingConfig(
        instance_type=instance_type,
        instance_count=r.integer("instance_count", 1, 20),
        volume_size_gb=r.integer("volume_size_gb", 1, 16384),
        spot=spot,
        max_runtime_seconds=runtime,
        max_wait_seconds=wait,
        validation_fraction=r.number("validation_fraction", 0.05, 0.5),
        min_labeled_objects=r.integer("min_labeled_objects", 2, 100_000),
        hyperparameters=hyperparameters,
    )
    r.finish()
    return config


def _read_tuning(r: _Reader, training: TrainingConfig | None, task: TaskType) -> TuningConfig:
    max_jobs = r.integer("max_jobs", 1, 500)
    parallel = r.integer("max_parallel_jobs", 1, 100)
    if parallel > max_jobs:
        r.problems.append(f"{r.path}.max_parallel_jobs = {parallel} must be <= max_jobs = {max_jobs}")
    ranges_reader = r.section("ranges", open_keys=True)
    ranges: dict[str, ParameterRange] = {}
    computed = task.algorithm.computed_hyperparameter_names
    for name in ranges_reader.keys():  # noqa: SIM118 (a _Reader, not a dict)
        sub = ranges_reader.section(name)
        if name in computed:
            sub.problems.append(f"{sub.path} cannot be tuned: {name} is computed from the labeled data; "
                                "remove the range")
        kind = sub.choice("type", RANGE_TYPES)
        if kind == "categorical":
            values = sub.string_list("values", coerce=True)
            if not values:
                sub.problems.append(f"{sub.path}.values must list at least one value")
            ranges[name] = ParameterRange(type=kind, values=tuple(values))
        else:
            low, high = sub.number("min"), sub.number("max")
            if low >= high:
                sub.problems.append(f"{sub.path}: min = {low} must be < max = {high}")
            if kind == "integer" and not (low.is_integer() and high.is_integer()):
                sub.problems.append(f"{sub.path}: an integer range needs whole-number min and max "
                                    f"(got {low} and {high})")
            scaling = sub.choice("scaling", RANGE_SCALINGS)
            # API_ContinuousParameterRange / API_IntegerParameterRange: Logarithmic needs values > 0;
            # ReverseLogarithmic works only within 0 <= x < 1 and is not supported for integer ranges.
            if scaling == "Logarithmic" and low <= 0:
                sub.problems.append(f"{sub.path}: Logarithmic scaling needs min > 0 (got {low})")
            if scaling == "ReverseLogarithmic" and (kind != "continuous" or low < 0 or high >= 1):
                sub.problems.append(f"{sub.path}: ReverseLogarithmic scaling needs a continuous range within "
                                    f"0 <= x < 1 (got {kind} {low}..{high})")
            ranges[name] = ParameterRange(type=kind, min=low, max=high, scaling=scaling)
        sub.finish()
    # Against the algorithm's tuning rules whether or not tuning is enabled: enabling it must not be
    # when they fail.
    r.problems.extend(task.algorithm.rules.check_tuning_config(
        {name: job_rules.TunableRange(p.type, p.min, p.max, p.values) for name, p in ranges.items()},
        path=ranges_reader.path))
    enabled = r.boolean("enabled")
    if enabled and not ranges:
        r.problems.append(f"{r.path}.ranges is empty; tuning needs at least one hyperparameter range")
    config = TuningConfig(enabled=enabled, max_jobs=max_jobs, max_parallel_jobs=parallel,
                          early_stopping=r.choice("early_stopping", EARLY_STOPPING), ranges=ranges)
    r.finish()
    return config


def _read_model(r: _Reader) -> ModelConfig:
    config = ModelConfig(
        register_package=r.boolean("register_package"),
        package_group_name=r.optional_string("package_group_name", pattern=_MODEL_PACKAGE_GROUP,
                                             allowed="letters, digits and '-' (at most 63 characters)"),
    )
    r.finish()
    return config


def _read_alerts(r: _Reader) -> AlertsConfig:
    config = AlertsConfig(
        email=r.optional_string("email", pattern=_EMAIL, allowed="an email address"),
        topic_arn=r.optional_string("topic_arn", pattern=_SNS_TOPIC_ARN,
                                    allowed="an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), or null"),
        require_subscriber=r.boolean("require_subscriber") if "require_subscriber" in r.keys() else False  # noqa: SIM118,
    )
    r.finish()
    return config


# --------------------------------------------------------------------------- plumbing


class _Reader:
    """Reads typed values from one object of the config, recording problems with their key."""

    def __init__(self, data: Any, path: str, problems: list[str], *, open_keys: bool = False) -> None:
        self.path = path
        self.problems = problems
        self._open_keys = open_keys
        if not isinstance(data, Mapping):
            problems.append(f"{path} = {data!r} must be an object")
            data = {}
        self._data: Mapping[str, Any] = data
        self._seen: set[str] = set()

    def keys(self) -> list[str]:
        return list(self._data)

    def raw(self, key: str) -> Any:
        self._seen.add(key)
        if key not in self._data:
            self.problems.append(f"{self.path}.{key} is missing")
            return None
        return self._data[key]

    def section(self, key: str, *, open_keys: bool = False) -> _Reader:
        if key not in self._data:
            self.raw(key)  # reports the missing section once; its fields are not reported again
            return _Reader({}, f"{self.path}.{key}", [], open_keys=True)
        return _Reader(self.raw(key), f"{self.path}.{key}", self.problems, open_keys=open_keys)

    def _typed(self, key: str, check: Callable[[Any], bool], expected: str, default: Any) -> Any:
        value = self.raw(key)
        if key in self._data and not check(value):
            self.problems.append(f"{self.path}.{key} = {value!r} must be {expected}")
            return default
        return value if key in self._data else default

    def string(self, key: str, *, pattern: re.Pattern[str] | None = None, allowed: str = "",
               max_length: int | None = None) -> str:
        value = self._typed(key, lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string", "")
        if value and pattern is not None and not pattern.match(value):
            self.problems.append(f"{self.path}.{key} = {value!r} is not allowed: use {allowed}")
        if value and max_length is not None and len(value) > max_length:
            self.problems.append(f"{self.path}.{key} is {len(value)} characters; at most {max_length} allowed")
        return value

    def optional_string(self, key: str, *, pattern: re.Pattern[str] | None = None,
                        allowed: str = "") -> str | None:
        if key in self._data and self._data[key] is None:
            self._seen.add(key)
            return None
        if key not in self._data:
            self._seen.add(key)
            return None
        return self.string(key, pattern=pattern, allowed=allowed) or None

    def boolean(self, key: str) -> bool:
        return bool(self._typed(key, lambda v: isinstance(v, bool), "true or false", False))

    def integer(self, key: str, low: int, high: int, *, note: str = "") -> int:
        value = self._typed(key, lambda v: isinstance(v, int) and not isinstance(v, bool),
                            "an integer", low)
        if not low <= value <= high:
            extra = f" ({note})" if note else ""
            self.problems.append(f"{self.path}.{key} = {value!r} is out of range: allowed {low}..{high}{extra}")
            return low
        return value

    def optional_integer(self, key: str, low: int, high: int) -> int | None:
        if self._data.get(key) is None:
            self._seen.add(key)
            return None
        return self.integer(key, low, high)

    def number(self, key: str, low: float | None = None, high: float | None = None) -> float:
        value = self._typed(key, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                            "a number", low if low is not None else 0.0)
        if low is not None and high is not None and not low <= value <= high:
            self.problems.append(f"{self.path}.{key} = {value!r} is out of range: allowed {low}..{high}")
            return low
        return float(value)

    def choice(self, key: str, allowed: tuple[Any, ...]) -> Any:
        value = self.raw(key)
        if key in self._data and value not in allowed:
            self.problems.append(f"{self.path}.{key} = {value!r} is not allowed: choose one of "
                                 f"{', '.join(str(a) for a in allowed)}")
            return allowed[0]
        return value if key in self._data else allowed[0]

    def string_list(self, key: str, *, pattern: re.Pattern[str] | None = None, allowed: str = "",
                    coerce: bool = False) -> list[str]:
        value = self._typed(key, lambda v: isinstance(v, list), "a list", [])
        result: list[str] = []
        for item in value:
            if coerce and isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str):
                self.problems.append(f"{self.path}.{key} entry {item!r} must be a string")
            elif pattern is not None and not pattern.match(item):
                self.problems.append(f"{self.path}.{key} entry {item!r} is not allowed: use {allowed}")
            else:
                result.append(item)
        return result

    def string_map(self, key: str, *, key_pattern: re.Pattern[str], coerce: bool = False) -> dict[str, str]:
        value = self._typed(key, lambda v: isinstance(v, Mapping), "an object", {})
        result: dict[str, str] = {}
        for k, v in value.items():
            if coerce and isinstance(v, (int, float)) and not isinstance(v, bool):
                v = str(v)
            if not key_pattern.match(k):
                self.problems.append(f"{self.path}.{key} key {k!r} is not allowed")
            elif not isinstance(v, str) or not v:
                self.problems.append(f"{self.path}.{key}.{k} = {v!r} must be a non-empty string")
            else:
                result[k] = v
        return result

    def finish(self) -> None:
        """Unknown keys are errors: a typo must never be silently ignored."""
        if self._open_keys:
            return
        for key in self._data:
            if key not in self._seen:
                close = difflib.get_close_matches(key, sorted(self._seen), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(self._seen))}"
                self.problems.append(f"{self.path}.{key} is not a known setting{hint}")


def _deep_copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _deep_merge(base: dict[str, Any], override: Any, path: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(override, Mapping):
        problems.append(f"{path} = {override!r} must be an object")
        return base
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value, f"{path}.{key}", problems)
        else:
            merged[key] = _deep_copy(value)
    return merged


def _apply_override(merged: dict[str, Any], dotted: str, value: Any, problems: list[str]) -> None:
    parts = dotted.split(".")
    node: Any = merged
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            where = ".".join([CONTEXT_KEY, *parts[: i + 1]])
            problems.append(f"-c {CONTEXT_KEY}.{dotted}: {where} is not a config section")
            return
        node = node[part]
    if isinstance(value, str):
        with contextlib.suppress(json.JSONDecodeError):  # else a plain string, e.g. a bucket name
            value = json.loads(value)
    node[parts[-1]] = value
