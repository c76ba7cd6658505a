"""The workforce kinds' registry (lambdas/workforces.py): every kind has a policy, each policy's
rules match AWS's documented limits (botocore's SageMaker model as the oracle), and a kind
registered only in a test goes through config, settings and the labeling planner: the extension
point works without touching any of them."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

import boto3
import pytest

from lambdas import labeling_request as lr
from lambdas import workforces
from lambdas.settings import SettingsError
from lambdas.workforces import (
    FREE_OF_ADULT_CONTENT,
    FREE_OF_PII,
    KIND_SPECIFIC_KEYS,
    POLICIES,
    WorkforceKind,
    WorkforcePolicy,
    WorkteamSource,
)
from stacks.config import ConfigError, load_config
from stacks.lambda_settings import Deployment, labeling_settings
from tests.unit.test_config import CONTEXT
from tests.unit.test_labeling_request import assert_valid_create_labeling_job
from workflow import plans

SAGEMAKER_MODEL = boto3.session.Session().client("sagemaker", region_name="us-east-1").meta.service_model
HUMAN_TASK = SAGEMAKER_MODEL.shape_for("HumanTaskConfig")
DAY = 24 * 60 * 60


# --- The registry ----------------------------------------------------------------------------


def test_every_kind_has_exactly_its_own_policy() -> None:
    assert set(POLICIES) == set(WorkforceKind)
    for kind, policy in POLICIES.items():
        assert policy.kind is kind
        assert workforces.policy_for(kind) is policy
        assert workforces.policy_for(kind.value) is policy  # settings JSON and cdk.json hold the string


def test_kind_values_are_the_config_strings_unchanged() -> None:
    # cdk.json and every deployed Lambda's settings use these: renaming one breaks them.
    assert workforces.kind_values() == ("public", "private", "existing")
    assert CONTEXT["workflow"]["workforce"]["type"] in workforces.kind_values()
    assert CONTEXT["workflow"]["environments"]["prod"]["workforce"]["type"] in workforces.kind_values()


def test_kinds_print_and_serialize_as_their_values() -> None:
    assert f"{WorkforceKind.PRIVATE}" == str(WorkforceKind.PRIVATE) == "private"
    assert json.dumps({"workforce": WorkforceKind.EXISTING}) == '{"workforce": "existing"}'
    assert WorkforceKind.PUBLIC == "public"


def test_unknown_kind_is_refused_naming_the_allowed_values() -> None:
    assert workforces.parse_kind("mturk") is None
    with pytest.raises(ValueError, match="workforce type 'mturk' is not one of public, private, existing"):
        workforces.policy_for("mturk")


def test_config_keys_are_known_and_each_applies_to_some_kind() -> None:
    for key in KIND_SPECIFIC_KEYS:
        assert workforces.kinds_where(key), f"{key} applies to no kind"
    assert workforces.kinds_where("workteam_arn") == ("existing",)
    assert workforces.kinds_where("price_usd") == ("public",)
    assert workforces.kinds_where("worker_emails") == ("private",)


# --- Each policy's rules, against AWS's documented limits -------------------------------------


def test_public_is_mechanical_turk_paid_per_task_for_12_hours_with_pii_declared() -> None:
    policy = POLICIES[WorkforceKind.PUBLIC]
    assert policy.workteam_source is WorkteamSource.PUBLIC_CROWD
    assert policy.paid_per_task and policy.required_config_keys == {"price_usd"}
    assert policy.max_task_availability_seconds == 43_200
    assert policy.task_prices_usd[:3] == (Decimal("0.012"), Decimal("0.024"), Decimal("0.036"))
    assert policy.task_prices_usd[-1] == Decimal("1.200") and len(policy.task_prices_usd) == 16
    assert policy.declared_content_classifiers(free_of_adult_content=True) == (FREE_OF_PII, FREE_OF_ADULT_CONTENT)
    assert policy.declared_content_classifiers(free_of_adult_content=False) == (FREE_OF_PII,)
    assert policy.config_keys == {"price_usd", "free_of_adult_content"}


@pytest.mark.parametrize("kind", [WorkforceKind.PRIVATE, WorkforceKind.EXISTING])
def test_own_and_vendor_teams_are_unpaid_for_30_days_without_declarations(kind: WorkforceKind) -> None:
    policy = POLICIES[kind]
    assert not policy.paid_per_task and "price_usd" not in policy.config_keys
    assert policy.max_task_availability_seconds == 30 * DAY
    assert policy.declared_content_classifiers(free_of_adult_content=True) == ()


def test_private_team_is_created_by_the_stack_and_existing_comes_from_the_config() -> None:
    private, existing = POLICIES[WorkforceKind.PRIVATE], POLICIES[WorkforceKind.EXISTING]
    assert private.workteam_source is WorkteamSource.CREATED_BY_STACK
    assert private.config_keys == {"worker_emails", "mfa", "existing_workforce_name", "existing_user_pool_id",
                                   "existing_app_client_id"}
    assert private.required_config_keys == frozenset()
    assert existing.workteam_source is WorkteamSource.FROM_CONFIG
    assert existing.config_keys == existing.required_config_keys == {"workteam_arn"}


def test_task_availability_limits_are_the_ones_botocore_documents() -> None:
    """HumanTaskConfig.TaskAvailabilityLifetimeInSeconds: the model's minimum, and the per-workforce
    maxima its documentation states (the model has no maximum of its own)."""
    member = HUMAN_TASK.members["TaskAvailabilityLifetimeInSeconds"]
    assert member.metadata == {"min": workforces.MIN_TASK_AVAILABILITY_SECONDS}
    doc = " ".join(HUMAN_TASK.members["TaskAvailabilityLifetimeInSeconds"].documentation.split())
    assert "Amazon Mechanical Turk workforce, the maximum is 12 hours (43,200 seconds)" in doc
    assert "private or vendor workforce, the default value is 30 days" in doc
    assert "the maximum is also 30 days" in doc
    assert workforces.MECHANICAL_TURK_MAX_TASK_AVAILABILITY_SECONDS == 12 * 60 * 60
    assert workforces.WORK_TEAM_MAX_TASK_AVAILABILITY_SECONDS == 30 * DAY


def test_content_classifiers_and_prices_fit_the_model() -> None:
    classifiers = SAGEMAKER_MODEL.shape_for("LabelingJobDataAttributes").members["ContentClassifiers"].member
    assert set(classifiers.enum) == {FREE_OF_PII, FREE_OF_ADULT_CONTENT}
    for price in POLICIES[WorkforceKind.PUBLIC].task_prices_usd:
        lr.price_to_usd(str(price))  # each is expressible as {Dollars <= 2, Cents, TenthFractionsOfACent}


def test_public_crowd_arn_is_the_documented_one() -> None:
    assert workforces.public_crowd_workteam_arn("us-west-2") == (
        "arn:aws:sagemaker:us-west-2:394669845002:workteam/public-crowd/default")


def test_task_availability_problem_names_the_kind_and_its_limit() -> None:
    public = POLICIES[WorkforceKind.PUBLIC]
    assert public.task_availability_problem(43_200) is None
    assert public.task_availability_problem(43_201) == (
        "Amazon Mechanical Turk (workforce.type = 'public') allows at most 43200 (12 hours)")
    private = POLICIES[WorkforceKind.PRIVATE]
    assert private.task_availability_problem(30 * DAY) is None
    assert "(workforce.type = 'private') allows at most 2592000 (30 days)" in str(
        private.task_availability_problem(30 * DAY + 1))


@pytest.mark.parametrize(("seconds", "text"), [
    (43_200, "12 hours"), (30 * DAY, "30 days"), (DAY, "1 day"), (90, "90 seconds"), (120, "2 minutes"),
])
def test_describe_seconds(seconds: int, text: str) -> None:
    assert workforces.describe_seconds(seconds) == text


@pytest.mark.parametrize(("changes", "message"), [
    ({"config_keys": frozenset({"workteam_arn", "colour"})}, "unknown config keys ['colour']"),
    ({"required_config_keys": frozenset({"workteam_arn"})}, "required keys must be among its config keys"),
    ({"config_keys": frozenset({"price_usd"})}, "price_usd applies exactly when prices are listed"),
    ({"task_prices_usd": (Decimal("0.012"),)}, "price_usd applies exactly when prices are listed"),
    ({"max_task_availability_seconds": 59}, "below the API's minimum 60"),
])
def test_an_inconsistent_policy_cannot_be_made(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"kind": WorkforceKind.PRIVATE, "title": "t",
                                 "workteam_source": WorkteamSource.FROM_CONFIG,
                                 "max_task_availability_seconds": DAY, **changes}
    with pytest.raises(ValueError, match=re.escape(message)):
        WorkforcePolicy(**arguments)


# --- The change test: a kind registered only here ----------------------------------------------


class ExtraKind(StrEnum):
    """Stands for a kind added later, e.g. a vendor team from AWS Marketplace."""

    VENDOR = "vendor"


VENDOR_TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/vendor-crowd/acme-labeling"
VENDOR = WorkforcePolicy(
    kind=cast(WorkforceKind, ExtraKind.VENDOR),
    title="the ACME vendor team",
    workteam_source=WorkteamSource.FROM_CONFIG,
    max_task_availability_seconds=2 * 60 * 60,  # differs from every built-in kind, to be seen applied
    content_classifiers=(FREE_OF_PII,),  # likewise: declared although nobody is paid per task
    config_keys=frozenset({"workteam_arn"}),
    required_config_keys=frozenset({"workteam_arn"}),
)
DEPLOYMENT = Deployment(account="123456789012", region="us-east-1", bucket="sagemaker-us-east-1-123456789012",
                        role_arn="arn:aws:iam::123456789012:role/Exec")


@pytest.fixture
def vendor_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one registration line a new kind needs, applied for one test."""
    monkeypatch.setattr(workforces, "POLICIES", {**POLICIES, ExtraKind.VENDOR: VENDOR})


def vendor_config(**overrides: Any) -> Any:
    values = {"workforce.type": "vendor", "workforce.price_usd": None, "workforce.workteam_arn": VENDOR_TEAM,
              "labeling.task_availability_seconds": 3600, **overrides}
    return load_config({**CONTEXT, **{f"workflow.{key}": value for key, value in values.items()}})


def test_an_unregistered_kind_is_refused_by_config() -> None:
    with pytest.raises(ConfigError) as error:
        vendor_config()
    assert ("workflow.workforce.type = 'vendor' is not allowed: choose one of public, private, existing"
            in error.value.problems)


@pytest.mark.usefixtures("vendor_registered")
def test_config_accepts_a_registered_kind_and_applies_its_rules() -> None:
    config = vendor_config()
    assert config.workforce.type == "vendor" and config.workforce.workteam_arn == VENDOR_TEAM
    assert workforces.policy_for(config.workforce.type) is VENDOR
    with pytest.raises(ConfigError) as error:
        vendor_config(**{"workforce.workteam_arn": None, "labeling.task_availability_seconds": 3 * 60 * 60,
                         "workforce.worker_emails": ["ann@example.com"]})
    problems = error.value.problems
    assert ("workflow.workforce.workteam_arn is required when workflow.workforce.type = 'vendor' "
            "(the ACME vendor team)") in problems
    assert ("workflow.labeling.task_availability_seconds = 10800: the ACME vendor team (workforce.type = 'vendor') "
            "allows at most 7200 (2 hours)") in problems
    assert ("workflow.workforce.worker_emails = ['ann@example.com'] applies only when workflow.workforce.type is "
            "'private', not 'vendor': set it to []") in problems


@pytest.mark.usefixtures("vendor_registered")
def test_the_labeling_planner_applies_a_registered_kinds_policy() -> None:
    config = vendor_config()
    team, note = plans.workteam_arn(config, DEPLOYMENT)
    assert (team, note) == (VENDOR_TEAM, None)  # WorkteamSource.FROM_CONFIG, no code for the kind
    settings_map = labeling_settings(config, DEPLOYMENT, workteam_arn=team,
                                     pre_lambda_arn="arn:aws:lambda:us-east-1:432418664414:function:PRE-ImageMultiClass",
                                     acs_lambda_arn="arn:aws:lambda:us-east-1:432418664414:function:ACS-ImageMultiClass")
    # Through JSON, as the Lambda receives it.
    settings = lr.LabelingSettings.from_json(json.dumps(settings_map))
    assert settings.workforce == "vendor"

    request = lr.build_create_labeling_job_request(settings, "gt-demo-20240506-070809")
    assert_valid_create_labeling_job(request)
    assert request["HumanTaskConfig"]["WorkteamArn"] == VENDOR_TEAM
    assert request["HumanTaskConfig"]["TaskAvailabilityLifetimeInSeconds"] == 3600
    assert request["InputConfig"]["DataAttributes"] == {"ContentClassifiers": [FREE_OF_PII]}
    assert "PublicWorkforceTaskPrice" not in request["HumanTaskConfig"]

    too_long = lr.LabelingSettings.from_mapping({**settings_map, "task_availability_seconds": 7201})
    with pytest.raises(lr.LabelingRequestError, match=r"7201 is above 7200 \(2 hours\), the maximum of the ACME "
                                                      r"vendor team \(workforce.type = 'vendor'\)"):
        lr.build_create_labeling_job_request(too_long, "gt-demo-x")
    with pytest.raises(SettingsError, match="price_usd must be null for the ACME vendor team"):
        lr.LabelingSettings.from_mapping({**settings_map, "price_usd": "0.012"})
