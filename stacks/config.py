"""Typed, validated configuration of the workflow, declared on pydantic v2.

The config is the `workflow` object in `cdk.json` context. It can be changed per deployment:

* `-c env=prod` merges the block `workflow.environments.prod` over the defaults;
* `-c workflow.<dotted.key>=<value>` overrides a single key (values are parsed as JSON
  when they parse, else taken as strings: `-c workflow.notebook.idle_minutes=30`).

The models below declare every type, range, pattern and cross-field rule; pydantic validates
the merged JSON (strict JSON mode: no string-to-number or number-to-bool coercion), and
`load_config` turns its errors into one line per problem that names the key, the bad value and
what is allowed. Unknown keys are errors (typos must not be silently ignored). Field errors of
every section are reported at once; a section's cross-field rules run once its fields are valid.

The JSON Schema of `context.workflow` (docs/cdk-json.schema.json) is generated from these models
(`make docs`, tools/config_schema.py) and a test keeps it equal to them.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from lambdas import auto_labeling, job_rules, task_types, workforces
from lambdas import settings as contract
from lambdas.task_types import TaskType
from lambdas.workforces import WorkforceKind
from stacks import notebook_platforms, regions

CONTEXT_KEY = "workflow"
ENV_SELECTOR_KEY = "env"
ENVIRONMENTS_KEY = "environments"

# Limits with their reasons.
MAX_BUCKET_NAME_LENGTH = 63  # S3 bucket naming rules
MAX_JOB_PREFIX_LENGTH = contract.MAX_JOB_PREFIX_LENGTH  # tuning job names (<= 32) keep it before their hash
MAX_IDLE_MINUTES = 24 * 60
MAX_LABELING_TASK_SECONDS = 8 * 60 * 60  # TaskTimeLimitInSeconds upper bound (API model)
MAX_TRAINING_RUNTIME_SECONDS = 28 * 24 * 60 * 60  # CreateTrainingJob limit
# Tags the workflow adds besides workflow.tags: stacks/lambda_settings.py adds workflow-env to every function's
# settings; each function adds its own (the settings classes' ADDED_TAG_KEYS, lambdas/settings.py).
ADDED_TAG_KEYS = (contract.LabelingSettings.ADDED_TAG_KEYS, contract.TrainingSettings.ADDED_TAG_KEYS,
                  contract.ModelSettings.ADDED_TAG_KEYS, contract.DeploymentSettings.ADDED_TAG_KEYS)
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
# Shared with the functions' settings (lambdas/settings.py): one definition of each rule both sides check.
EARLY_STOPPING = contract.EARLY_STOPPING_TYPES
RANGE_TYPES = contract.RANGE_TYPES
RANGE_SCALINGS = contract.SCALING_TYPES
# The prefix becomes part of IAM resource ARNs (arn:aws:s3:::<bucket>/<prefix>/*): no wildcards, no '.'/'..' or
# empty segments, no outer '/', no quote (lambdas/settings.py says why, with the AWS pages).
PREFIX_PATTERN = contract.PREFIX_PATTERN
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
_TAG_KEY = contract.TAG_KEY_PATTERN
_KMS_KEY_ARN = contract.KMS_KEY_ARN_PATTERN
_INSTANCE_TYPE = contract.INSTANCE_TYPE_PATTERN
_WORKTEAM_ARN = r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/[a-z0-9\-]+/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
_KMS_ALLOWED = "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"


class ConfigError(ValueError):
    """One or more config values are invalid; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid workflow config:\n" + "\n".join(f"  - {p}" for p in problems)
        )


# --------------------------------------------------------------------------- declared types
# Each helper returns an Annotated type: the check pydantic runs, and the JSON Schema an editor sees.
# Patterns are checked with re.fullmatch (Python's `$` would accept a trailing newline); the schema
# carries the same pattern anchored for ECMA-262, which JSON Schema uses.

_ALLOWED = "x-allowed"  # schema key holding the "what is allowed" text of a patterned string


def _text(pattern: str | None = None, *, allowed: str = "", max_length: int | None = None,
          description: str = "") -> Any:
    compiled = re.compile(pattern) if pattern else None

    def check(value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("workflow_value", "must be a non-empty string")
        if compiled is not None and not compiled.fullmatch(value):
            raise PydanticCustomError("workflow_value", "is not allowed: use {allowed}", {"allowed": allowed})
        if max_length is not None and len(value) > max_length:
            raise PydanticCustomError("workflow_key", "is {length} characters; at most {max} allowed",
                                      {"length": len(value), "max": max_length})
        return value

    schema: dict[str, Any] = {"minLength": 1}
    if pattern:
        schema["pattern"] = f"^(?:{pattern})$"
    if max_length is not None:
        schema["maxLength"] = max_length
    return Annotated[str, AfterValidator(check),
                     Field(description=description or allowed or None, json_schema_extra=schema)]


def _int(low: int, high: int, *, note: str = "", description: str = "") -> Any:
    return Annotated[int, Field(ge=low, le=high, description=description or note or None)]


def _number(low: float, high: float, description: str = "") -> Any:
    return Annotated[float, Field(ge=low, le=high, description=description or None)]


def _coerce_number_to_text(value: Any) -> Any:
    # Hyperparameters and categorical values are strings to SageMaker; cdk.json may write 10 or 0.1.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _choice(values: Iterable[Any], description: str = "") -> Any:
    """A value from a set that is known at import time (schema `enum`)."""
    return Literal[tuple(values)] if not description else Annotated[Literal[tuple(values)],
                                                                    Field(description=description)]


def _registered(names: Any, what: str) -> Any:
    """A name from a registry that tests may extend at run time (task types): checked at validation time."""

    def check(value: str) -> str:
        known = names()
        if value not in known:
            raise PydanticCustomError("workflow_value", "is not allowed: choose one of {known}",
                                      {"known": ", ".join(known)})
        return value

    return Annotated[str, AfterValidator(check), Field(description=what, json_schema_extra=lambda s: s.update(
        enum=list(names())))]


def _problems(problems: list[str]) -> None:
    """Raises the cross-field problems of a model as one error that load_config expands, line by line."""
    if problems:
        raise PydanticCustomError("workflow_problems", "{problems}", {"problems": problems})


def _context(info: ValidationInfo) -> _Selectors:
    return (info.context or {}).get("selectors") or _Selectors.default()


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, regex_engine="python-re",
                              use_attribute_docstrings=True)


# --------------------------------------------------------------------------- sections


class BucketConfig(_Model):
    PATH: ClassVar[str] = f"{CONTEXT_KEY}.bucket"

    name: Annotated[str | None, Field(description="The data bucket's name; null: sagemaker-<region>-<account>")]
    adopt_existing: bool
    """Use an existing bucket of that name instead of creating one."""
    kms_key_arn: _text(_KMS_KEY_ARN, allowed=_KMS_ALLOWED) | None
    noncurrent_version_expiration_days: _int(1, 3650)
    access_log_expiration_days: _int(1, 3650)

    @model_validator(mode="after")
    def _valid_bucket_name(self) -> BucketConfig:
        name = self.name
        if name is not None and (not _BUCKET_NAME.fullmatch(name) or ".." in name or _IP_ADDRESS.fullmatch(name)
                                 or name.startswith("xn--")):
            _problems([f"{self.PATH}.name = {name!r} is not a valid S3 bucket name: use 3-{MAX_BUCKET_NAME_LENGTH} "
                       "lowercase letters, digits, '.' or '-', starting and ending with a letter or digit"])
        return self


class NotebookConfig(_Model):
    PATH: ClassVar[str] = f"{CONTEXT_KEY}.notebook"

    enabled: bool
    instance_type: _text(_INSTANCE_TYPE, allowed="a SageMaker instance type such as ml.t3.medium")
    volume_size_gb: _int(5, 16384)
    platform_identifier: Annotated[str, Field(json_schema_extra={"enum": list(PLATFORM_IDENTIFIERS)},
                                              description="Amazon Linux platform of the notebook instance")]
    root_access: bool
    idle_minutes: _int(0, MAX_IDLE_MINUTES, note="0 disables auto-stop")
    subnet_id: _text(r"subnet-[0-9a-f]{8,17}", allowed="a subnet id such as subnet-0abc12345") | None
    security_group_ids: tuple[_text(r"sg-[0-9a-f]{8,17}", allowed="security group ids such as sg-0abc12345"), ...]
    kms_key_arn: _text(_KMS_KEY_ARN, allowed=_KMS_ALLOWED) | None
    sync_sample_images: bool

    @model_validator(mode="after")
    def _rules(self) -> NotebookConfig:
        p, problems = self.PATH, []
        platform = notebook_platforms.platform_problem(f"{p}.platform_identifier", self.platform_identifier)
        if platform:
            problems.append(platform)
        if self.subnet_id is not None and not self.security_group_ids:
            problems.append(f"{p}.subnet_id is set but {p}.security_group_ids is empty; "
                            "a notebook in a VPC subnet needs at least one security group")
        if self.security_group_ids and self.subnet_id is None:
            problems.append(f"{p}.security_group_ids is set but {p}.subnet_id is not; "
                            "security groups apply only inside a VPC subnet")
        _problems(problems)
        return self


class AutoLabelingConfig(_Model):
    """Ground Truth's automated data labeling (docs/labeling-cost.md): at least 1,250 objects per job."""

    enabled: bool = False
    initial_model_arn: _text(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:model/.+",
                             allowed="a SageMaker model ARN: a previous job's FinalActiveLearningModelArn") \
        | None = None
    volume_kms_key_arn: _text(_KMS_KEY_ARN, allowed=_KMS_ALLOWED) | None = None
    """The key of the storage volumes of the training and inference jobs Ground Truth runs."""


class LabelingConfig(_Model):
    PATH: ClassVar[str] = f"{CONTEXT_KEY}.labeling"

    # Lowercase: SageMaker writes job names lowercased into ARNs, and the training trigger matches the
    # labeling job ARN by prefix.
    job_prefix: _text(contract.JOB_PREFIX_PATTERN, allowed="lowercase letters, digits and '-', starting and "
                      "ending with a letter or digit (the labeling job name pattern, lowercased)")
    label_attribute: _text(contract.LABEL_ATTRIBUTE_PATTERN,
                           allowed="letters, digits and '-' (at most 127 characters)")
    labels: tuple[str, ...]
    task_title: _text(max_length=128)
    task_description: _text(max_length=255)
    task_keywords: tuple[str, ...]
    short_instructions: _text(max_length=1000)
    full_instructions: _text(max_length=2000)
    task_time_limit_seconds: _int(30, MAX_LABELING_TASK_SECONDS)
    task_availability_seconds: _int(workforces.MIN_TASK_AVAILABILITY_SECONDS,
                                    workforces.longest_task_availability_seconds(),
                                    note="the longest any workforce.type allows")
    max_concurrent_tasks: _int(1, 5000) | None
    max_objects: _int(1, 100_000) | None
    auto_labeling: AutoLabelingConfig = AutoLabelingConfig()
    confirm_above_usd: _number(0, 1_000_000, "start-labeling asks before a job whose estimate exceeds this "
                               "(USD); null: never ask") | None = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> LabelingConfig:
        p, problems = self.PATH, []
        if len(self.job_prefix) > MAX_JOB_PREFIX_LENGTH:
            problems.append(f"{p}.job_prefix = {self.job_prefix!r} is {len(self.job_prefix)} characters; at most "
                            f"{MAX_JOB_PREFIX_LENGTH} leave room for the timestamp in 63-character job names")
        if self.label_attribute.endswith("-metadata"):
            problems.append(f"{p}.label_attribute = {self.label_attribute!r} must not end in '-metadata' "
                            "(Ground Truth reserves that suffix for the label's metadata)")
        labels, ground_truth = list(self.labels), _context(info).task.ground_truth
        if len(labels) < ground_truth.min_labels:
            problems.append(f"{p}.labels = {labels!r}: {ground_truth.title} needs at least "
                            f"{ground_truth.min_labels} labels")
        if len(labels) > ground_truth.max_labels:
            problems.append(f"{p}.labels has {len(labels)} labels; Ground Truth allows at most "
                            f"{ground_truth.max_labels} for {ground_truth.title}")
        folded = [label.casefold() for label in labels]
        duplicates = sorted({x for x in labels if folded.count(x.casefold()) > 1})
        if duplicates:
            problems.append(f"{p}.labels contains duplicates {duplicates!r}; each label must be unique")
        problems.extend(f"{p}.labels entry {label!r} must be 1-256 non-blank characters"
                        for label in labels if not label.strip() or len(label) > 256)
        # The bound depends on the workforce kind (workforces.py); an unknown kind is reported by its own key.
        kind, seconds = _context(info).workforce_kind, self.task_availability_seconds
        too_long = kind is not None and workforces.policy_for(kind).task_availability_problem(seconds)
        if too_long:
            problems.append(f"{p}.task_availability_seconds = {seconds}: {too_long}")
        keyword_pattern, keyword_max = re.compile(contract.TASK_KEYWORD_PATTERN), contract.MAX_TASK_KEYWORD_LENGTH
        keywords = list(self.task_keywords)
        if not contract.MIN_TASK_KEYWORDS <= len(keywords) <= contract.MAX_TASK_KEYWORDS:
            problems.append(f"{p}.task_keywords = {keywords!r}: give {contract.MIN_TASK_KEYWORDS} to "
                            f"{contract.MAX_TASK_KEYWORDS} keywords")
        problems.extend(f"{p}.task_keywords entry {keyword!r} is not allowed: use 1-{keyword_max} letters or "
                        "digits, words separated by single spaces (CreateLabelingJob's TaskKeyword pattern)"
                        for keyword in keywords
                        if not keyword_pattern.fullmatch(keyword) or len(keyword) > keyword_max)
        _problems(problems)
        return self


class WorkforceConfig(_Model):
    PATH: ClassVar[str] = f"{CONTEXT_KEY}.workforce"

    type: Annotated[WorkforceKind, PlainValidator(lambda v: _workforce_kind(v)),
                    WithJsonSchema({"type": "string", "enum": [kind.value for kind in WorkforceKind],
                                    "description": "Who labels: its rules are the kind's policy"})]
    price_usd: Annotated[Decimal | None, BeforeValidator(lambda v: _price(v)),
                         Field(description="USD per object per worker (Mechanical Turk only)",
                               json_schema_extra={"type": ["number", "string", "null"]})]
    workers_per_object: _int(1, 9)
    # Both always have a value (cdk.json's defaults): they apply to the kinds whose policy lists them
    # (free_of_adult_content: declares_adult_content; mfa: the pool the stack creates).
    free_of_adult_content: bool
    worker_emails: tuple[_text(r"[^@\s]+@[^@\s]+\.[^@\s]+", allowed="email addresses"), ...]
    mfa: _choice(MFA_MODES)
    existing_workforce_name: _text(r"[a-zA-Z0-9]([a-zA-Z0-9\-]){0,62}",
                                   allowed="a workforce name (letters, digits, '-')") | None
    existing_user_pool_id: _text(r"[\w-]+_[0-9a-zA-Z]+", allowed="a Cognito user pool id such as "
                                 "us-east-1_AbCdEf123") | None
    existing_app_client_id: _text(r"[\w+]+", allowed="a Cognito app client id") | None
    workteam_arn: _text(_WORKTEAM_ARN, allowed="a SageMaker workteam ARN "
                        "(arn:aws:sagemaker:<region>:<account>:workteam/private-crowd/<name>)") | None
    name_prefix: _text(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,39}", allowed="1-40 letters, digits and inner '-'") \
        | None = None
    """Pins the create-only names of the private workforce, work team and Cognito domain; null:
    `<env_name>-labeling`."""

    @property
    def creates_private_workforce(self) -> bool:
        """The stack creates the account's private workforce (Cognito pool, client, domain) for this team."""
        source = workforces.policy_for(self.type).workteam_source
        return source is workforces.WorkteamSource.CREATED_BY_STACK and not self.existing_workforce_name

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> WorkforceConfig:
        p, problems, region = self.PATH, [], _context(info).region
        policy = workforces.policy_for(self.type)
        if self.workteam_arn and region and (arn_region := self.workteam_arn.split(":")[3]) != region:
            problems.append(f"{p}.workteam_arn is in {arn_region!r} but the stacks deploy to {region!r}; "
                            "a workteam serves labeling jobs in its own region only")
        folded = [e.casefold() for e in self.worker_emails]
        repeated = sorted({e for e in self.worker_emails if folded.count(e.casefold()) > 1})
        if repeated:
            problems.append(f"{p}.worker_emails lists {repeated!r} more than once (emails are case-insensitive)")
        joining = workforces.EXISTING_WORKFORCE_NAME in policy.config_keys and self.existing_workforce_name
        if joining and not (self.existing_user_pool_id and self.existing_app_client_id):
            problems.append(f"{p}.existing_workforce_name needs existing_user_pool_id and existing_app_client_id "
                            "(a team must use its workforce's pool and client: `aws sagemaker describe-workforce "
                            "--workforce-name <name>` shows them under CognitoConfig)")
        # NumberOfHumanWorkersPerDataObject: an object is done when that many workers labeled it, so a team of
        # fewer invited workers never finishes. Workers can also be invited outside the config (the console):
        # an empty list is not checked here (stacks/app.py warns).
        invited = len(self.worker_emails)
        if self.type is WorkforceKind.PRIVATE and 0 < invited < self.workers_per_object:
            problems.append(f"{p}.workers_per_object = {self.workers_per_object} but {p}.worker_emails invites "
                            f"{invited}: each object needs that many different workers, so the job could never "
                            "finish; invite more workers or lower workers_per_object")
        prices = ", ".join(str(x) for x in policy.task_prices_usd)
        # What applies to which kind is the kind's policy, not a comparison here: keys the kind requires must
        # be set; keys of other kinds must not be (a leftover, or the wrong type).
        for key in (workforces.PRICE_USD, workforces.WORKER_EMAILS, workforces.WORKTEAM_ARN,
                    workforces.EXISTING_WORKFORCE_NAME, workforces.EXISTING_USER_POOL_ID,
                    workforces.EXISTING_APP_CLIENT_ID):
            value = getattr(self, key)
            unset = value is None or value == ()
            if key in policy.required_config_keys and unset:
                hint = f": choose one of {prices} (USD per object per worker)" if key == workforces.PRICE_USD else ""
                problems.append(f"{p}.{key} is required when {p}.type = {self.type.value!r} ({policy.title}){hint}")
            elif key not in policy.config_keys and not unset:
                where = " or ".join(repr(k) for k in workforces.kinds_where(key)) or "no registered type"
                shown, empty = (list(value), "[]") if isinstance(value, tuple) else (value, "null")
                if isinstance(value, Decimal):
                    shown = float(value)
                problems.append(f"{p}.{key} = {shown!r} applies only when {p}.type is {where}, not "
                                f"{self.type.value!r}: set it to {empty}")
        # PublicWorkforceTaskPrice is, by the API's definition, what a Mechanical Turk worker is paid per task.
        if policy.paid_per_task and self.price_usd is not None and self.price_usd not in policy.task_prices_usd:
            problems.append(f"{p}.price_usd = {float(self.price_usd)!r} is not a valid Mechanical Turk price for "
                            f"image classification; choose one of {prices} (USD per object per worker)")
        _problems(problems)
        return self


def _workforce_kind(value: Any) -> WorkforceKind:
    # The registry is read at call time: a kind registered later (a vendor team) is accepted too.
    kind = workforces.parse_kind(value) if isinstance(value, str) else None
    if kind is None:
        raise PydanticCustomError("workflow_value", "is not allowed: choose one of {known}",
                                  {"known": ", ".join(workforces.kind_values())})
    return kind


def _price(value: Any) -> Any:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return value  # null passes, other types fail pydantic's own type check
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PydanticCustomError("workflow_value", "is not a price: write a decimal number such as 0.012") from None


def _mapping(key_pattern: str, allowed: str, value: Any) -> Any:
    """An object whose keys match a pattern (JSON Schema: propertyNames) and whose values are `value`."""
    return Annotated[dict[_text(key_pattern, allowed=allowed), value],
                     Field(json_schema_extra={"propertyNames": {"pattern": f"^(?:{key_pattern})$"}})]


_Hyperparameters = _mapping(r"[a-z0-9_]{1,64}", "lowercase letters, digits and '_'",
                            Annotated[_text(), BeforeValidator(_coerce_number_to_text)])


class TrainingConfig(_Model):
    PATH: ClassVar[str] = f"{CONTEXT_KEY}.training"

    instance_type: _text(_INSTANCE_TYPE, allowed="a SageMaker instance type such as ml.g4dn.xlarge")
    instance_count: _int(1, 20)
    volume_size_gb: _int(1, 16384)
    spot: bool
    max_runtime_seconds: _int(60, MAX_TRAINING_RUNTIME_SECONDS)
    max_wait_seconds: _int(60, MAX_TRAINING_RUNTIME_SECONDS)
    validation_fraction: _number(0.05, 0.5)
    min_labeled_objects: _int(2, 100_000)
    # Digits too: beta_1 and beta_2 are documented names. Which names exist is the algorithm's rules' call.
    hyperparameters: _Hyperparameters
    exclude_machine_labels_below: Annotated[float, Field(gt=0, le=1, description=(
        "Drop machine (auto-labeling) labels whose confidence is below this from training; null keeps all"))] \
        | None = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> TrainingConfig:
        p, task, problems = self.PATH, _context(info).task, []
        if self.spot and self.max_wait_seconds < self.max_runtime_seconds:
            problems.append(f"{p}.max_wait_seconds = {self.max_wait_seconds} must be >= max_runtime_seconds = "
                            f"{self.max_runtime_seconds} with managed spot training")
        problems.extend(task_types.computed_hyperparameter_problems(self.hyperparameters, task,
                                                                    path=f"{p}.hyperparameters"))
        problems.extend(task.algorithm.rules.check_training_config(
            instance_type=self.instance_type, hyperparameters=self.hyperparameters, path=p))
        _problems(problems)
        return self


class _NumericRange(_Model):
    min: float
    max: float
    scaling: _choice(RANGE_SCALINGS) = "Auto"
    """ScalingType; the API's default is Auto."""

    @property
    def values(self) -> tuple[str, ...]:
        return ()

    def to_settings(self) -> dict[str, Any]:
        return {"type": self.type, "min": self.min, "max": self.max, "scaling": self.scaling}

    def problems(self, path: str) -> list[str]:
        low, high, problems = self.min, self.max, []
        if low >= high:
            problems.append(f"{path}: min = {low} must be < max = {high}")
        # API_ContinuousParameterRange / API_IntegerParameterRange: Logarithmic needs values > 0;
        # ReverseLogarithmic works only within 0 <= x < 1 and is not supported for integer ranges.
        if self.scaling == "Logarithmic" and low <= 0:
            problems.append(f"{path}: Logarithmic scaling needs min > 0 (got {low})")
        if self.scaling == "ReverseLogarithmic" and (self.type != "continuous" or low < 0 or high >= 1):
            problems.append(f"{path}: ReverseLogarithmic scaling needs a continuous range within "
                            f"0 <= x < 1 (got {self.type} {low}..{high})")
        return problems


class ContinuousRange(_NumericRange):
    type: Literal["continuous"]


class IntegerRange(_NumericRange):
    type: Literal["integer"]

    def problems(self, path: str) -> list[str]:
        problems = super().problems(path)
        if not (self.min.is_integer() and self.max.is_integer()):
            problems.append(f"{path}: an integer range needs whole-number min and max (got {self.min} and {self.max})")
        return problems


class CategoricalRange(_Model):
    type: Literal["categorical"]
    values: Annotated[tuple[Annotated[str, BeforeValidator(_coerce_number_to_text)], ...], Field(min_length=1)]

    min: ClassVar[None] = None
    max: ClassVar[None] = None
    scaling: ClassVar[str] = "Auto"

    def to_settings(self) -> dict[str, Any]:
        return {"type": self.type, "values": list(self.values)}

    def problems(self, path: str) -> list[str]:
        return []


ParameterRange = Annotated[ContinuousRange | IntegerRange | CategoricalRange, Field(discriminator="type")]


class TuningConfig(_Model):
    PATH: ClassVar[str] = f"{CONTEXT_KEY}.tuning"

    enabled: bool
    max_jobs: _int(1, 500)
    max_parallel_jobs: _int(1, 100)
    early_stopping: _choice(EARLY_STOPPING)
    ranges: dict[str, ParameterRange]

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> TuningConfig:
        p, task, problems = self.PATH, _context(info).task, []
        if self.max_parallel_jobs > self.max_jobs:
            problems.append(f"{p}.max_parallel_jobs = {self.max_parallel_jobs} must be <= max_jobs = {self.max_jobs}")
        computed = task.algorithm.computed_hyperparameter_names
        for name, parameter_range in self.ranges.items():
            if name in computed:
                problems.append(f"{p}.ranges.{name} cannot be tuned: {name} is computed from the labeled data; "
                                "remove the range")
            problems.extend(parameter_range.problems(f"{p}.ranges.{name}"))
        # Against the algorithm's tuning rules whether or not tuning is enabled: enabling it must not be when
        # they fail.
        problems.extend(task.algorithm.rules.check_tuning_config(
            {name: job_rules.TunableRange(r.type, r.min, r.max, r.values) for name, r in self.ranges.items()},
            path=f"{p}.ranges"))
        if self.enabled and not self.ranges:
            problems.append(f"{p}.ranges is empty; tuning needs at least one hyperparameter range")
        _problems(problems)
        return self


class ModelConfig(_Model):
    register_package: bool
    package_group_name: _text(contract.MODEL_PACKAGE_GROUP_PATTERN,
                              allowed="letters, digits and '-' (at most 63 characters)") | None


class EvaluationConfig(_Model):
    PATH: ClassVar[str] = f"{CONTEXT_KEY}.evaluation"

    enabled: bool = True
    """Batch-transform the validation set with each new model and write metrics.json and report.html."""
    instance_type: _text(_INSTANCE_TYPE, allowed="a SageMaker instance type such as ml.m5.large") \
        = "ml.m5.large"
    accuracy_floor: _number(0, 1, "a model below this validation accuracy is not approvable; null: no floor") \
        | None = None

    @model_validator(mode="after")
    def _rules(self) -> EvaluationConfig:
        if self.accuracy_floor is not None and not self.enabled:
            _problems([f"{self.PATH}.accuracy_floor = {self.accuracy_floor} needs {self.PATH}.enabled = true "
                       "(the floor is checked against the evaluation's accuracy)"])
        return self


class EndpointConfig(_Model):
    PATH: ClassVar[str] = f"{CONTEXT_KEY}.endpoint"

    enabled: bool = False
    """Deploy a model package when it is approved, remove it when rejected (docs/deployment.md)."""
    mode: _choice(contract.ENDPOINT_MODES) = "serverless"
    memory_mb: _choice(contract.SERVERLESS_MEMORY_SIZES, "serverless: memory of the endpoint") = 2048
    max_concurrency: _int(1, contract.SERVERLESS_MAX_CONCURRENCY, note="serverless") = 2
    instance_type: _text(_INSTANCE_TYPE, allowed="a SageMaker instance type such as ml.m5.large") \
        = "ml.m5.large"
    """instance mode: the one real-time instance."""
    idle_minutes: _int(contract.IDLE_MINUTES_MIN, contract.IDLE_MINUTES_MAX,
                       note="instance mode: delete the endpoint after this long without an invocation") = 60


class AlertsConfig(_Model):
    email: _text(r"[^@\s]+@[^@\s]+\.[^@\s]+", allowed="an email address") | None
    # Standard topics only: CloudWatch alarms cannot notify a FIFO topic.
    topic_arn: _text(contract.SNS_TOPIC_ARN_PATTERN,
                     allowed="an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), or null") | None = None
    """An existing SNS topic to alert to instead of the stack's own (its policy is then its owner's)."""
    require_subscriber: bool = False
    """True (environments.prod): synth refuses without a subscriber (stacks/alerts.py)."""

    @property
    def has_subscriber(self) -> bool:
        return bool(self.email or self.topic_arn)


class WorkflowConfig(_Model):
    PATH: ClassVar[str] = CONTEXT_KEY

    env_name: _text(r"[A-Za-z][A-Za-z0-9]{0,15}",
                    allowed="1-16 letters or digits, starting with a letter (it prefixes stack names)")
    account: _text(r"\d{12}", allowed="a 12-digit AWS account id") | None
    region: _text(r"[a-z]{2}(-gov)?-[a-z]+-\d", allowed="an AWS region name such as us-east-1") | None
    prefix: _text(PREFIX_PATTERN, allowed="an S3 key prefix of '/'-separated segments of letters, digits and "
                  "! _ . ( ) -, without a leading or trailing '/', empty, '.' or '..' segments, or the wildcards "
                  "'*' and '?' (the prefix becomes part of the IAM resource ARNs the roles are granted, where "
                  "'*' and '?' would widen the grant to other keys of the bucket)")
    task_type: _registered(task_types.names, "What is labeled and trained (lambdas/task_types.py)")
    """A registered task type's name (lambdas/task_types.py); its descriptor: `task`."""
    tags: _mapping(_TAG_KEY, "1-128 letters, digits, spaces and _ . : / = + - @",
                   _text(max_length=contract.MAX_TAG_VALUE_LENGTH))
    log_retention_days: _choice(LOG_RETENTION_DAYS)
    retain_on_delete: bool = False
    """True (environments.prod): the model package group, the private workforce's user pool and the notebook
    instance are retained when deleted or replaced, and the Workflow stack gets termination protection."""
    bucket: BucketConfig
    notebook: NotebookConfig
    labeling: LabelingConfig
    workforce: WorkforceConfig
    training: TrainingConfig
    tuning: TuningConfig
    model: ModelConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    endpoint: EndpointConfig = EndpointConfig()
    alerts: AlertsConfig

    # Local-emulator target only (`make demo`, the `local_emulator` context key): see app.py. Never set for a
    # real account, and not a key of `workflow`.
    _local_emulator: bool = PrivateAttr(default=False)
    # The environment block `-c env=<name>` selected; None: the default environment (no block).
    _environment: str | None = PrivateAttr(default=None)
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _rules(self) -> WorkflowConfig:
        problems = []
        if self.region is not None and self.region not in regions.GROUND_TRUTH_REGIONS:
            problems.append(regions.unsupported_region_message(f"{self.PATH}.region", self.region))
        # Each job and model the functions create carries these tags, workflow-env and the function's own.
        too_many = [added for added in ADDED_TAG_KEYS
                    if contract.tag_count_problem(self.tags, added=(contract.WORKFLOW_ENV_TAG_KEY, *added))]
        if too_many:
            most = max(too_many, key=lambda added: len({contract.WORKFLOW_ENV_TAG_KEY, *added} - set(self.tags)))
            allowed = contract.MAX_TAGS - len({contract.WORKFLOW_ENV_TAG_KEY, *most} - set(self.tags))
            problems.append(f"{self.PATH}.tags has {len(self.tags)} tags; at most {allowed} allowed: what the workflow "
                            f"creates also gets the tags {', '.join([contract.WORKFLOW_ENV_TAG_KEY, *most])}, and "
                            f"SageMaker accepts at most {contract.MAX_TAGS} tags per job or model")
        problems.extend(f"{self.PATH}.tags key {key!r} is reserved: AWS keeps tag keys starting with 'aws:' for "
                        "itself" for key in self.tags if key.lower().startswith("aws:"))
        if self.endpoint.enabled and not self.model.register_package:
            problems.append(f"{EndpointConfig.PATH}.enabled = true needs {CONTEXT_KEY}.model.register_package = true: "
                            "an endpoint is deployed when a registered model package is approved")
        auto = self.labeling.auto_labeling
        if auto.enabled and self.region is not None:
            problems.extend(auto_labeling.AutoLabelingOptions(
                initial_model_arn=auto.initial_model_arn, volume_kms_key_arn=auto.volume_kms_key_arn,
            ).problems(self.region, path=f"{LabelingConfig.PATH}.auto_labeling"))
        problems.extend(self._environment_size_problems())
        if self.bucket.adopt_existing and self.bucket.name is None and self.is_env_agnostic:
            problems.append(f"{BucketConfig.PATH}.adopt_existing = true needs {BucketConfig.PATH}.name, or an explicit "
                            "account and region so the default name sagemaker-<region>-<account> is known")
        _problems(problems)
        return self

    def _environment_size_problems(self) -> list[str]:
        """Lambda allows 4 KB of environment variables; LABELING_SETTINGS carries the worker instructions.

        Measured as the function would get it, with the longest values a deployment can put in (a 63-character
        bucket, a 64-character role name, the longest Ground Truth region) and the same allowance the stack
        keeps for CloudFormation tokens (stacks/lambda_settings.py), so what passes here always synthesizes.
        """
        from stacks import lambda_settings  # imports this module

        region = max(regions.GROUND_TRUTH_REGIONS, key=len)
        account = "1" * 12
        deployment = lambda_settings.Deployment(account=account, region=region, bucket="b" * MAX_BUCKET_NAME_LENGTH,
                                                role_arn=f"arn:aws:iam::{account}:role/{'r' * 64}")
        pre, acs = regions.ground_truth_lambda_arns(region, self.task.ground_truth)
        settings = lambda_settings.build_labeling_settings(
            self, deployment, pre_lambda_arn=pre, acs_lambda_arn=acs,
            workteam_arn=f"arn:aws:sagemaker:{region}:{account}:workteam/private-crowd/{'t' * 63}")
        size = len(settings.to_json().encode())
        budget = lambda_settings.MAX_ENVIRONMENT_BYTES - lambda_settings.TOKEN_ALLOWANCE_BYTES
        if size <= budget:
            return []
        return [f"{LabelingConfig.PATH}.short_instructions, full_instructions, labels and task texts take {size} bytes "
                f"of StartLabeling's settings, over the {budget} that Lambda's 4 KB environment leaves them; "
                f"shorten them by {size - budget} bytes"]

    @property
    def local_emulator(self) -> bool:
        return self._local_emulator

    @property
    def warnings(self) -> tuple[str, ...]:
        """What synth should tell the user without refusing (stacks/app.py prints them)."""
        workforce = self.workforce
        uninvited = workforce.creates_private_workforce and not workforce.worker_emails
        return self._warnings + ((
            f"{WorkforceConfig.PATH}.worker_emails is empty: the private team has no workers until you invite "
            f"at least {workforce.workers_per_object} (workers_per_object) in the SageMaker console or in the "
            "config; labeling jobs wait until then",) if uninvited else ())

    @property
    def environment(self) -> str | None:
        """The selected environment block's name (`-c env=<name>`); None for the default environment."""
        return self._environment

    def default_bucket_name(self, account: str, region: str) -> str:
        """The data bucket's name when `bucket.name` is null (account and region may be CDK tokens).

        The default environment keeps the tutorial's `sagemaker-<region>-<account>` (what the SageMaker
        SDK's `Session().default_bucket()` returns in a notebook); a named environment appends its name, so
        `dev` and `prod` in one account never share a bucket.
        """
        base = f"sagemaker-{region}-{account}"
        return base if self._environment is None else f"{base}-{self.env_name.lower()}"

    @property
    def model_package_group_name(self) -> str:
        """`model.package_group_name`, else `<env_name>-models`.

        A create-only name, so it is derived from what never changes for a stack (its environment), not
        from the job prefix: editing `labeling.job_prefix` must not replace the group and its versions.
        """
        return self.model.package_group_name or f"{self.env_name.lower()}-models"

    @property
    def workforce_name_prefix(self) -> str:
        """What the private workforce, its work team and Cognito domain are named from: `workforce.name_prefix`,
        else `<env_name>-labeling`.

        Create-only names (stacks/workforce.py): derived from the environment only, so that editing the job
        prefix, the S3 prefix or the labels does not replace a running team (docs/environments.md).
        """
        return self.workforce.name_prefix or f"{self.env_name.lower()}-labeling"

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


class _Selectors(typing.NamedTuple):
    """What other sections' rules depend on, read before the full validation (validation context)."""

    task: TaskType
    region: str | None
    workforce_kind: WorkforceKind | None

    @classmethod
    def default(cls) -> _Selectors:
        return cls(task_types.task_type(task_types.names()[0]), None, None)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> _Selectors:
        # An unknown task type is reported by the field itself; the other rules then use a registered one.
        name = data.get("task_type")
        task = task_types.task_type(name) if name in task_types.names() else cls.default().task
        region, workforce = data.get("region"), data.get("workforce")
        kind = workforces.parse_kind(workforce.get("type")) if isinstance(workforce, Mapping) else None
        return cls(task, region if isinstance(region, str) else None, kind)


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
        merged = _named_environment(merged, environments[selected], selected, problems)

    for key in sorted(k for k in context if k.startswith(CONTEXT_KEY + ".")):
        _apply_override(merged, key[len(CONTEXT_KEY) + 1 :], context[key], problems)

    if isinstance(merged.get("account"), int) and not isinstance(merged["account"], bool):
        merged["account"] = str(merged["account"])  # `-c workflow.account=...` parses as a number
    if merged.get("account") is None and default_account:
        merged["account"] = default_account
    if merged.get("region") is None and default_region:
        merged["region"] = default_region

    collisions, warnings = _environment_collisions(raw, selected, merged)
    problems.extend(collisions)
    config: WorkflowConfig | None = None
    try:
        config = WorkflowConfig.model_validate_json(json.dumps(merged),
                                                    context={"selectors": _Selectors.of(merged)})
    except ValidationError as error:
        problems.extend(_describe(error))
    if problems or config is None:
        raise ConfigError(problems)
    config._local_emulator = context.get("local_emulator") in (True, "true", "True")
    config._environment = selected
    config._warnings = tuple(warnings)
    return config


# --------------------------------------------------------------------------- environments side by side
# Teams deploy several environments into one account. Names that could collide are derived from the
# environment (bucket: WorkflowConfig.default_bucket_name; job prefix below; everything else from the stack
# name, which starts with env_name), and load_config refuses what would still collide (docs/environments.md).


def _named_environment(base: dict[str, Any], block: Any, name: str, problems: list[str]) -> dict[str, Any]:
    """The defaults with the block of environment `name` merged over them.

    Unless the block pins `labeling.job_prefix`, the environment's jobs are named `<name>-<job_prefix>-…`:
    the environment's name first, so that no environment's rules (`<prefix>-*`) match another's jobs.
    """
    merged = _deep_merge(base, block, f"{CONTEXT_KEY}.{ENVIRONMENTS_KEY}.{name}", problems)
    merged.setdefault("env_name", name)
    labeling = merged.get("labeling")
    pinned = isinstance(block, Mapping) and isinstance(block.get("labeling"), Mapping) \
        and "job_prefix" in block["labeling"]
    if isinstance(labeling, dict) and isinstance(labeling.get("job_prefix"), str) and not pinned:
        labeling["job_prefix"] = f"{str(merged['env_name']).lower()}-{labeling['job_prefix']}"
    return merged


def _environment_collisions(raw: Mapping[str, Any], selected: str | None,
                            merged: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """What the selected environment would share with another environment of cdk.json: (problems, warnings)."""
    environments = raw.get(ENVIRONMENTS_KEY) or {}
    if not isinstance(environments, Mapping):
        return [], []
    defaults = {k: v for k, v in raw.items() if k != ENVIRONMENTS_KEY}
    others: dict[str | None, Mapping[str, Any]] = {None: defaults} if selected is not None else {}
    for name, block in environments.items():
        if name != selected and isinstance(block, Mapping):
            others[name] = _named_environment(_deep_copy(defaults), block, name, [])
    here = _where(selected)
    problems: list[str] = []
    warnings: list[str] = []
    for name, other in others.items():
        there = _where(name)
        mine, theirs = _get(merged, "labeling", "job_prefix"), _get(other, "labeling", "job_prefix")
        if isinstance(mine, str) and isinstance(theirs, str) and (
                f"{mine}-".startswith(f"{theirs}-") or f"{theirs}-".startswith(f"{mine}-")):
            problems.append(
                f"{here}.labeling.job_prefix = {mine!r} overlaps {there}'s {theirs!r}: each environment's rules "
                f"match the labeling jobs named '<job_prefix>-…', so one would start training on the other's jobs; "
                f"give each environment a job prefix that does not start with another's followed by '-'")
        bucket = _get(merged, "bucket", "name")
        if isinstance(bucket, str) and bucket == _get(other, "bucket", "name") and _same_place(merged, other):
            problems.append(f"{here}.bucket.name = {bucket!r} is also {there}'s bucket: two environments in one "
                            "account and region must not share the data bucket (set null for a derived name)")
        if _new_private_workforce(merged) and _new_private_workforce(other) and _same_place(merged, other):
            # Refused where both name the same account and region; where either is left to the credentials,
            # the second deploy in one account would fail, so say how to share before it does.
            known = all(merged.get(k) is not None and other.get(k) is not None for k in ("account", "region"))
            (problems if known else warnings).append(
                f"{here}.workforce asks for a new private workforce, and so does {there}: an AWS account has one "
                "private workforce per region" + ("" if known else ", so if both deploy to one account and region "
                "the second deploy fails") + ". Share it: deploy one of them first, then set "
                f"{here}.workforce.existing_workforce_name (with existing_user_pool_id and existing_app_client_id, "
                "from `aws sagemaker describe-workforce`); or give the environments accounts or regions that differ")
    return problems, warnings


def _where(environment: str | None) -> str:
    return CONTEXT_KEY if environment is None else f"{CONTEXT_KEY}.{ENVIRONMENTS_KEY}.{environment}"


def _get(data: Mapping[str, Any], section: str, key: str) -> Any:
    value = data.get(section)
    return value.get(key) if isinstance(value, Mapping) else None


def _same_place(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two environments may deploy into one account and region (unknown counts as maybe)."""
    return all(a.get(k) is None or b.get(k) is None or str(a.get(k)) == str(b.get(k)) for k in ("account", "region"))


def _new_private_workforce(data: Mapping[str, Any]) -> bool:
    workforce = data.get("workforce")
    return isinstance(workforce, Mapping) and workforce.get("type") == WorkforceKind.PRIVATE.value \
        and not workforce.get("existing_workforce_name")


# --------------------------------------------------------------------------- error messages


def _describe(error: ValidationError) -> Iterator[str]:
    """One line per problem: the key path, the bad value, what is allowed."""
    for detail in error.errors(include_url=False):
        kind, ctx, value = detail["type"], detail.get("ctx") or {}, detail.get("input")
        path, field = _locate(detail["loc"])
        if kind == "workflow_problems":
            yield from ctx["problems"]
        elif kind == "workflow_value":
            yield f"{path} = {value!r} {detail['msg']}"
        elif kind == "workflow_key":
            yield f"{path} {detail['msg']}"
        elif kind == "missing":
            yield f"{path} is missing"
        elif kind == "extra_forbidden":
            known = _known_keys(detail["loc"][:-1])
            key = str(detail["loc"][-1])
            close = difflib.get_close_matches(key, known, n=1)
            yield f"{path} is not a known setting" + (f"; did you mean {close[0]!r}?" if close
                                                      else f"; known keys: {', '.join(known)}")
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal"):
            bounds = _constraints(field)
            note = f" ({bounds['description']})" if "description" in bounds else ""
            low = bounds["ge"] if "ge" in bounds else f"above {bounds.get('gt')} up to "
            separator = ".." if "ge" in bounds else ""
            yield f"{path} = {value!r} is out of range: allowed {low}{separator}{bounds.get('le')}{note}"
        elif kind in ("literal_error", "enum"):
            yield f"{path} = {value!r} is not allowed: choose one of {', '.join(_choices(field, ctx))}"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            yield (f"{path}.type = {ctx.get('tag')!r} is not allowed: choose one of {', '.join(RANGE_TYPES)}"
                   if kind == "union_tag_invalid" else f"{path}.type is missing")
        elif kind == "too_short" and ctx.get("min_length") == 1:
            yield f"{path} must list at least one value"
        else:
            yield f"{path} = {value!r} must be {_EXPECTED.get(kind, detail['msg'])}"


_EXPECTED = {
    "int_type": "an integer", "int_from_float": "an integer", "int_parsing": "an integer",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "float_type": "a number", "float_parsing": "a number",
    "string_type": "a non-empty string", "tuple_type": "a list", "list_type": "a list",
    "dict_type": "an object", "model_type": "an object", "model_attributes_type": "an object",
    "decimal_type": "a number", "decimal_parsing": "a number",
}


def _locate(loc: tuple[Any, ...]) -> tuple[str, FieldInfo | None]:
    """The dotted key path of a pydantic error location, and the field it names (None inside maps/lists)."""
    parts: list[str] = [CONTEXT_KEY]
    field: FieldInfo | None = None
    annotation: Any = WorkflowConfig
    for item in loc:
        if item == "[key]":
            continue
        if isinstance(item, str) and item in RANGE_TYPES and _is_union(annotation):
            continue  # a discriminated union's tag (tuning ranges), not a key of the config
        target = _model_of(annotation)
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
            annotation = _item_type(annotation)
            continue
        parts.append(str(item))
        if target is not None and item in target.model_fields:
            field = target.model_fields[str(item)]
            annotation = field.annotation
        else:
            annotation, field = _value_type(annotation), None
    return ".".join(parts), field


def _strip(annotation: Any) -> Any:
    """Unwraps Annotated and Optional."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(_strip(annotation)) in (typing.Union, types.UnionType)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    stripped = _strip(annotation)
    return stripped if isinstance(stripped, type) and issubclass(stripped, BaseModel) else None


def _value_type(annotation: Any) -> Any:
    args = typing.get_args(_strip(annotation))
    return args[-1] if args else Any


def _item_type(annotation: Any) -> Any:
    args = typing.get_args(_strip(annotation))
    return args[0] if args else Any


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    annotation: Any = WorkflowConfig
    for item in loc:
        model = _model_of(annotation)
        if isinstance(item, str) and item in RANGE_TYPES and _is_union(annotation):
            annotation = next(m for m in typing.get_args(_strip(annotation))
                              if m.model_fields["type"].annotation == Literal[item])
            continue
        annotation = model.model_fields[item].annotation if model and item in model.model_fields \
            else _value_type(annotation)
    model = _model_of(annotation)
    return sorted(model.model_fields) if model else []


def _constraints(field: FieldInfo | None) -> dict[str, Any]:
    """ge/gt/le/description of a field, including those declared inside an Optional's Annotated type."""
    found: dict[str, Any] = {}
    if field is None:
        return found
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):  # X | None: X's own Annotated metadata
        if typing.get_origin(arg) is Annotated:
            metadata.extend(typing.get_args(arg)[1:])
    for meta in metadata:
        for source in (meta, *getattr(meta, "metadata", ())):
            for key in ("ge", "gt", "le", "description"):
                if getattr(source, key, None) is not None:
                    found.setdefault(key, getattr(source, key))
    if field.description:
        found["description"] = field.description
    return found


def _choices(field: FieldInfo | None, ctx: Mapping[str, Any]) -> list[str]:
    stripped = _strip(field.annotation) if field is not None else None
    if typing.get_origin(stripped) is Literal:
        return [str(a) for a in typing.get_args(stripped)]
    if isinstance(stripped, type) and issubclass(stripped, WorkforceKind):
        return [k.value for k in stripped]
    return [str(ctx.get("expected", ""))]


# --------------------------------------------------------------------------- merging


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
