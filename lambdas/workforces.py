"""Workforce kinds (who labels) and, for each, the rules that differ by kind: one registry.

`workflow.workforce.type` names a kind; `POLICIES` maps each kind to a frozen
`WorkforcePolicy`. Everything that used to compare the kind as a string reads the policy
instead: config validation (`stacks/config.py`), the resources the stack builds
(`stacks/workforce.py`, by `WorkteamSource`), the CreateLabelingJob request the Lambda sends
(`lambdas/labeling_request.py`), the CLI's dry run (`workflow/plans.py`) and preflight
(`workflow/preflight.py`).

Adding a kind, e.g. a vendor workforce subscribed to on AWS Marketplace (whose team ARN comes
from the config like `existing`): a `WorkforceKind` member, a `WorkforcePolicy`, and its line in
`POLICIES`. Nothing else branches on the kind; only a new way of obtaining the work team would
need a new `WorkteamSource` and its builder in `stacks/workforce.py`.

Standard library only: the Lambda asset imports this module (relatively, as `.workforces`),
and so do the synth side and the CLI (as `lambdas.workforces`). The registry is read at call
time (never copied at import), so a test can register a kind by replacing `POLICIES`.

The AWS facts, with their sources, are in docs/workforces.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum


class WorkforceKind(StrEnum):
    """The values of `workflow.workforce.type` (and of the Lambda settings' `workforce`).

    A StrEnum (a `str` and an `Enum`, Python 3.11+): members equal, hash and print as their
    values, so cdk.json, the settings JSON and messages keep "public", "private", "existing".
    """

    PUBLIC = "public"  # Amazon Mechanical Turk
    PRIVATE = "private"  # a Cognito user pool, workforce and work team that the stack creates
    EXISTING = "existing"  # a work team the user already has (private or vendor): its ARN in the config


class WorkteamSource(StrEnum):
    """Where the work team ARN that CreateLabelingJob's HumanTaskConfig.WorkteamArn names comes from."""

    PUBLIC_CROWD = "public-crowd"  # AWS's documented Mechanical Turk team of the deployment region
    CREATED_BY_STACK = "created-by-stack"  # the stack's own Cognito pool, workforce and work team
    FROM_CONFIG = "from-config"  # workflow.workforce.workteam_arn


# --- AWS facts (docs/workforces.md) ---------------------------------------------------------

# "arn:aws:sagemaker:region:394669845002:workteam/public-crowd/default" is the Mechanical Turk
# team to use as WorkteamArn, region replaced by the labeling job's region
# (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-workforce-management-public.html).
PUBLIC_CROWD_ACCOUNT = "394669845002"

# HumanTaskConfig.TaskAvailabilityLifetimeInSeconds: "If you choose the Amazon Mechanical Turk
# workforce, the maximum is 12 hours (43,200 seconds)"; "If you choose a private or vendor
# workforce, the default value is 30 days (2592,000 seconds) for non-AL mode. For most users, the
# maximum is also 30 days." The model's only bound is min 60 (botocore sagemaker-2017-07-24).
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_HumanTaskConfig.html
MIN_TASK_AVAILABILITY_SECONDS = 60
MECHANICAL_TURK_MAX_TASK_AVAILABILITY_SECONDS = 12 * 60 * 60
WORK_TEAM_MAX_TASK_AVAILABILITY_SECONDS = 30 * 24 * 60 * 60

# PublicWorkforceTaskPrice: the USD per task (object, per worker) Mechanical Turk accepts for
# image classification, text classification and custom tasks
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PublicWorkforceTaskPrice.html).
MECHANICAL_TURK_IMAGE_CLASSIFICATION_PRICES_USD: tuple[Decimal, ...] = (
    *(Decimal(p) for p in ("0.012", "0.024", "0.036", "0.048", "0.060", "0.072")),
    *(Decimal("0.120") * n for n in range(1, 11)),
)

# LabelingJobDataAttributes.ContentClassifiers values. Mechanical Turk requires the first: "If you
# use the Mechanical Turk workforce and do not specify that your input data is free of PII, your
# Ground Truth labeling job will fail" (sms-workforce-management-public.html); the second lets
# SageMaker show the task to more workers and is declared only when the operator says so.
FREE_OF_PII = "FreeOfPersonallyIdentifiableInformation"
FREE_OF_ADULT_CONTENT = "FreeOfAdultContent"

# --- Config keys of workflow.workforce that apply to some kinds only -------------------------

PRICE_USD = "price_usd"
FREE_OF_ADULT_CONTENT_KEY = "free_of_adult_content"
WORKER_EMAILS = "worker_emails"
MFA = "mfa"
EXISTING_WORKFORCE_NAME = "existing_workforce_name"
EXISTING_USER_POOL_ID = "existing_user_pool_id"
EXISTING_APP_CLIENT_ID = "existing_app_client_id"
WORKTEAM_ARN = "workteam_arn"
KIND_SPECIFIC_KEYS: tuple[str, ...] = (
    PRICE_USD, FREE_OF_ADULT_CONTENT_KEY, WORKER_EMAILS, MFA, EXISTING_WORKFORCE_NAME, EXISTING_USER_POOL_ID,
    EXISTING_APP_CLIENT_ID, WORKTEAM_ARN,
)


# --- Policies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkforcePolicy:
    """What differs by workforce kind.

    Attributes:
        kind: the `workflow.workforce.type` value.
        title: how messages name the workforce ("Amazon Mechanical Turk").
        workteam_source: how the stack obtains the work team ARN.
        max_task_availability_seconds: the upper bound of TaskAvailabilityLifetimeInSeconds.
        task_prices_usd: the prices PublicWorkforceTaskPrice accepts; empty when the kind is not
            paid per task (then `price_usd` must be null).
        content_classifiers: ContentClassifiers declared on every job of this kind (required).
        declares_adult_content: FreeOfAdultContent is declared when
            `workflow.workforce.free_of_adult_content` is true.
        config_keys: the keys of KIND_SPECIFIC_KEYS that apply to this kind.
        required_config_keys: those of `config_keys` that must be set.
    """

    kind: WorkforceKind
    title: str
    workteam_source: WorkteamSource
    max_task_availability_seconds: int
    task_prices_usd: tuple[Decimal, ...] = ()
    content_classifiers: tuple[str, ...] = ()
    declares_adult_content: bool = False
    config_keys: frozenset[str] = frozenset()
    required_config_keys: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = (self.config_keys | self.required_config_keys) - set(KIND_SPECIFIC_KEYS)
        if unknown:
            raise ValueError(f"workforce policy {self.kind.value!r}: unknown config keys {sorted(unknown)}")
        if not self.required_config_keys <= self.config_keys:
            raise ValueError(f"workforce policy {self.kind.value!r}: required keys must be among its config keys")
        if (PRICE_USD in self.config_keys) != bool(self.task_prices_usd):
            raise ValueError(f"workforce policy {self.kind.value!r}: price_usd applies exactly when prices are listed")
        if self.max_task_availability_seconds < MIN_TASK_AVAILABILITY_SECONDS:
            raise ValueError(f"workforce policy {self.kind.value!r}: max_task_availability_seconds below the API's "
                             f"minimum {MIN_TASK_AVAILABILITY_SECONDS}")

    @property
    def paid_per_task(self) -> bool:
        """Whether CreateLabelingJob needs a PublicWorkforceTaskPrice (and the config a price_usd)."""
        return bool(self.task_prices_usd)

    def label(self) -> str:
        """`<title> (workforce.type = '<kind>')`, how messages name the kind."""
        return f"{self.title} (workforce.type = '{self.kind.value}')"

    def declared_content_classifiers(self, *, free_of_adult_content: bool) -> tuple[str, ...]:
        """The ContentClassifiers a job of this kind declares; empty: no DataAttributes at all."""
        extra = (FREE_OF_ADULT_CONTENT,) if self.declares_adult_content and free_of_adult_content else ()
        return self.content_classifiers + extra

    def task_availability_problem(self, seconds: int) -> str | None:
        """Why `seconds` is too long a TaskAvailabilityLifetimeInSeconds for this kind, or None."""
        limit = self.max_task_availability_seconds
        if seconds <= limit:
            return None
        return f"{self.label()} allows at most {limit} ({describe_seconds(limit)})"


PUBLIC = WorkforcePolicy(
    kind=WorkforceKind.PUBLIC,
    title="Amazon Mechanical Turk",
    workteam_source=WorkteamSource.PUBLIC_CROWD,
    max_task_availability_seconds=MECHANICAL_TURK_MAX_TASK_AVAILABILITY_SECONDS,
    task_prices_usd=MECHANICAL_TURK_IMAGE_CLASSIFICATION_PRICES_USD,
    content_classifiers=(FREE_OF_PII,),
    declares_adult_content=True,
    config_keys=frozenset({PRICE_USD, FREE_OF_ADULT_CONTENT_KEY}),
    required_config_keys=frozenset({PRICE_USD}),
)
PRIVATE = WorkforcePolicy(
    kind=WorkforceKind.PRIVATE,
    title="the private work team this stack creates",
    workteam_source=WorkteamSource.CREATED_BY_STACK,
    max_task_availability_seconds=WORK_TEAM_MAX_TASK_AVAILABILITY_SECONDS,
    config_keys=frozenset({WORKER_EMAILS, MFA, EXISTING_WORKFORCE_NAME, EXISTING_USER_POOL_ID,
                           EXISTING_APP_CLIENT_ID}),
)
EXISTING = WorkforcePolicy(
    kind=WorkforceKind.EXISTING,
    title="an existing (private or vendor) work team",
    workteam_source=WorkteamSource.FROM_CONFIG,
    max_task_availability_seconds=WORK_TEAM_MAX_TASK_AVAILABILITY_SECONDS,
    config_keys=frozenset({WORKTEAM_ARN}),
    required_config_keys=frozenset({WORKTEAM_ARN}),
)

# The registry. Keys are str-valued enum members; the first is the default kind (cdk.json's).
POLICIES: dict[WorkforceKind, WorkforcePolicy] = {
    WorkforceKind.PUBLIC: PUBLIC,
    WorkforceKind.PRIVATE: PRIVATE,
    WorkforceKind.EXISTING: EXISTING,
}


# --- Lookups (read POLICIES at call time) ------------------------------------------------------


def kind_values() -> tuple[str, ...]:
    """The accepted `workflow.workforce.type` values, in registry order."""
    return tuple(kind.value for kind in POLICIES)


def parse_kind(value: object) -> WorkforceKind | None:
    """The registered kind whose value is `value`, or None."""
    return next((kind for kind in POLICIES if kind.value == value), None)


def policy_for(kind: object) -> WorkforcePolicy:
    """The policy of a kind (a member or its string value); ValueError names the allowed values."""
    found = parse_kind(kind.value if isinstance(kind, Enum) else kind)
    if found is None:
        raise ValueError(f"workforce type {kind!r} is not one of {', '.join(kind_values())}")
    return POLICIES[found]


def kinds_where(key: str) -> tuple[str, ...]:
    """The kinds (values) a config key applies to, for messages."""
    return tuple(kind.value for kind, policy in POLICIES.items() if key in policy.config_keys)


def longest_task_availability_seconds() -> int:
    """The largest maximum of any kind: the bound of `labeling.task_availability_seconds` before the
    kind's own is checked."""
    return max(policy.max_task_availability_seconds for policy in POLICIES.values())


def public_crowd_workteam_arn(region: str) -> str:
    """Mechanical Turk's work team in `region` (a literal or a CloudFormation token)."""
    return f"arn:aws:sagemaker:{region}:{PUBLIC_CROWD_ACCOUNT}:workteam/public-crowd/default"


def describe_seconds(seconds: int) -> str:
    """43200 -> "12 hours", 2592000 -> "30 days", for messages."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"
