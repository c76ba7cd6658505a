"""The Ground Truth workforce construct over public / private / existing workforces, in an
environment-agnostic stack and in concrete regions, and the portal-URL custom resource of the
private workforce the stack creates (in the app's configurations too: tests/infra/synth.py).

Each case builds its config with `load_config` (cdk.json's context plus `-c`-style overrides),
synthesizes a tiny stack holding only the construct with cdk-nag's AwsSolutions pack
registered (an unacknowledged finding fails the synth, hence the test), once per session.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aws_cdk as cdk
import cdk_nag
import pytest
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from lambdas import aws_clients, portal_urls, workforces
from stacks import regions
from stacks import workforce as workforce_module
from stacks.config import WorkflowConfig, load_config
from stacks.portal_urls import RESOURCE_TYPE
from stacks.workforce import (
    COGNITO_DOMAIN_RESERVED_WORDS,
    OAUTH_PLACEHOLDER_URL,
    PASSWORD_MIN_LENGTH,
    USER_POOL_LOGICAL_ID,
    WORKFORCE_LOGICAL_ID,
    Workforce,
    cognito_domain_prefix,
    sagemaker_name,
)
from tests.infra.synth import ACCOUNT, CDK_JSON_CONTEXT, render, synthesize

EMAILS = ["alice@example.com", "Bob.Builder@example.org"]
EXISTING_TEAM_ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/vehicles"
EXISTING_POOL_ID = "us-east-1_AbCdEf123"
EXISTING_CLIENT_ID = "1a2b3c4d5e6f7g8h9i0j1k2l3m"

PRIVATE = {
    "workflow.workforce.type": "private",
    "workflow.workforce.price_usd": None,
    "workflow.workforce.worker_emails": EMAILS,
    # Synth rejects more workers per object than invited workers (the job could never finish).
    "workflow.workforce.workers_per_object": len(EMAILS),
}
EXISTING = {
    "workflow.workforce.type": "existing",
    "workflow.workforce.price_usd": None,
    "workflow.workforce.workteam_arn": EXISTING_TEAM_ARN,
}

# name -> (context overrides, region or None for env-agnostic, extra construct arguments)
CASES: dict[str, tuple[dict[str, Any], str | None, dict[str, str]]] = {
    "public-agnostic": ({}, None, {}),
    "public-us-east-1": ({}, "us-east-1", {}),
    "existing-agnostic": (EXISTING, None, {}),
    "existing-us-east-1": (EXISTING, "us-east-1", {}),
    "private-agnostic": (PRIVATE, None, {}),  # mfa OPTIONAL, the default
    "private-mfa-off": ({**PRIVATE, "workflow.workforce.mfa": "OFF"}, "us-east-1", {}),
    # The real prod environment block: private, mfa ON.
    "private-prod-eu-west-1": ({"env": "prod", "workflow.workforce.worker_emails": EMAILS,
                                "workflow.workforce.workers_per_object": len(EMAILS)}, "eu-west-1", {}),
    "private-joins-workforce": (
        {**PRIVATE, "workflow.workforce.existing_workforce_name": "default",
         "workflow.workforce.existing_user_pool_id": EXISTING_POOL_ID,
         "workflow.workforce.existing_app_client_id": EXISTING_CLIENT_ID}, "us-east-1",
        {"existing_user_pool_id": EXISTING_POOL_ID, "existing_app_client_id": EXISTING_CLIENT_ID},
    ),
}
PUBLIC_CASES = ["public-agnostic", "public-us-east-1"]
EXISTING_CASES = ["existing-agnostic", "existing-us-east-1"]
OWN_POOL_CASES = ["private-agnostic", "private-mfa-off", "private-prod-eu-west-1"]
PRIVATE_CASES = [*OWN_POOL_CASES, "private-joins-workforce"]
AGNOSTIC_CASES = [name for name, (_, region, _) in CASES.items() if region is None]
PLACEHOLDER = "Placeholder"
EXPECTED_MFA = {"private-agnostic": "OPTIONAL", "private-mfa-off": "OFF", "private-prod-eu-west-1": "ON"}

COGNITO_AND_SAGEMAKER_TYPES = [
    "AWS::Cognito::UserPool", "AWS::Cognito::UserPoolDomain", "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup", "AWS::Cognito::UserPoolUser", "AWS::Cognito::UserPoolUserToGroupAttachment",
    "AWS::SageMaker::Workforce", "AWS::SageMaker::Workteam",
]
OWN_POOL_COUNTS = dict.fromkeys(COGNITO_AND_SAGEMAKER_TYPES, 1) | {
    "AWS::Cognito::UserPoolUser": 2, "AWS::Cognito::UserPoolUserToGroupAttachment": 2,
    # The portal-URL custom resource: our handler and the CDK Provider framework's function, each
    # with its own role (TOTP only: no SMS role for Cognito; test_no_role_for_cognito_sms).
    RESOURCE_TYPE: 1, "AWS::Lambda::Function": 2, "AWS::IAM::Role": 2,
}
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
JOINING_COUNTS = dict.fromkeys(COGNITO_AND_SAGEMAKER_TYPES, 0) | {
    "AWS::Cognito::UserPoolGroup": 1, "AWS::Cognito::UserPoolUser": 2,
    "AWS::Cognito::UserPoolUserToGroupAttachment": 2, "AWS::SageMaker::Workteam": 1,
}


@dataclass(frozen=True)
class Synthesized:
    config: WorkflowConfig
    workforce: Workforce
    raw: dict[str, Any]

    @property
    def template(self) -> Template:
        return Template.from_json(self.raw)

    @property
    def outputs(self) -> dict[str, Any]:
        return {key: output["Value"] for key, output in self.raw.get("Outputs", {}).items()}

    @property
    def all_resources(self) -> dict[str, dict[str, Any]]:
        """The construct's resources (without the test stack's placeholder)."""
        return {key: r for key, r in self.raw["Resources"].items() if key != PLACEHOLDER}

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {key: r for key, r in self.all_resources.items() if r["Type"] == resource_type}

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        (item,) = self.resources(resource_type).items()
        return item


def config_for(overrides: dict[str, Any], region: str | None) -> tuple[dict[str, Any], WorkflowConfig]:
    context = {**CDK_JSON_CONTEXT, **overrides}
    return context, load_config(context, default_account=ACCOUNT if region else None, default_region=region)


def test_app(context: dict[str, Any], region: str | None) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(context=context)
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks())
    env = cdk.Environment(account=ACCOUNT, region=region) if region else None
    stack = cdk.Stack(app, "WorkforceTest", env=env)
    # A template needs one resource (the public and existing kinds create none).
    cdk.CfnWaitConditionHandle(stack, PLACEHOLDER)
    return app, stack


test_app.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def name_prefix(config: WorkflowConfig) -> str:
    return f"{config.prefix}-{config.env_name}"


@functools.cache
def synth(case: str) -> Synthesized:
    overrides, region, extra = CASES[case]
    context, config = config_for(overrides, region)
    app, stack = test_app(context, region)
    workforce = Workforce(stack, "Workforce", config=config.workforce, task=config.task.ground_truth,
                          name_prefix=name_prefix(config),
                          region=config.region, log_retention=LOG_RETENTION, **extra)
    cdk.CfnOutput(stack, "TestWorkteamArn", value=workforce.workteam_arn)
    cdk.CfnOutput(stack, "TestPreLambdaArn", value=workforce.pre_lambda_arn)
    cdk.CfnOutput(stack, "TestAcsLambdaArn", value=workforce.acs_lambda_arn)
    if workforce.portal_url is not None:
        cdk.CfnOutput(stack, "TestPortalUrl", value=workforce.portal_url)
    raw = app.synth().get_stack_by_name("WorkforceTest").template
    return Synthesized(config=config, workforce=workforce, raw=raw)


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


# --------------------------------------------------------------------------- every kind


def custom_resource_types(resources: dict[str, dict[str, Any]]) -> set[str]:
    return {r["Type"] for r in resources.values()
            if r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"}


@pytest.mark.parametrize("case", [case for case in CASES if case not in OWN_POOL_CASES])
def test_no_custom_resources_or_lambdas_unless_the_stack_creates_the_workforce(case: str) -> None:
    resources = synth(case).all_resources
    assert custom_resource_types(resources) == set()
    assert "AWS::Lambda::Function" not in {r["Type"] for r in resources.values()}


@pytest.mark.parametrize("case", [*PUBLIC_CASES, *EXISTING_CASES])
def test_public_and_existing_create_nothing(case: str) -> None:
    assert synth(case).all_resources == {}
    assert synth(case).workforce.portal_url is None


@pytest.mark.parametrize("case", PRIVATE_CASES)
def test_private_resource_counts(case: str) -> None:
    expected = JOINING_COUNTS if case == "private-joins-workforce" else OWN_POOL_COUNTS
    template = synth(case).template
    for resource_type, count in expected.items():
        template.resource_count_is(resource_type, count)


# --------------------------------------------------------------------------- region and built-in Lambdas


@pytest.mark.parametrize(("case", "region", "account"), [
    ("public-us-east-1", "us-east-1", "432418664414"),
    ("existing-us-east-1", "us-east-1", "432418664414"),
    ("private-prod-eu-west-1", "eu-west-1", "568282634449"),
])
def test_concrete_region_gives_literal_lambda_arns_and_no_mapping(case: str, region: str, account: str) -> None:
    result = synth(case)
    assert result.outputs["TestPreLambdaArn"] == f"arn:aws:lambda:{region}:{account}:function:PRE-ImageMultiClass"
    assert result.outputs["TestAcsLambdaArn"] == f"arn:aws:lambda:{region}:{account}:function:ACS-ImageMultiClass"
    assert "Mappings" not in result.raw


@pytest.mark.parametrize("case", AGNOSTIC_CASES)
def test_env_agnostic_maps_every_ground_truth_region_and_finds_the_account_at_deploy(case: str) -> None:
    result = synth(case)
    (mapping_id, mapping), = result.raw["Mappings"].items()
    assert mapping == {region: {"Account": account} for region, account in regions.GROUND_TRUTH_LAMBDA_ACCOUNTS.items()}
    find_account = {"Fn::FindInMap": [mapping_id, ref("AWS::Region"), "Account"]}
    for output, name in (("TestPreLambdaArn", "PRE-ImageMultiClass"), ("TestAcsLambdaArn", "ACS-ImageMultiClass")):
        assert result.outputs[output] == {"Fn::Join": ["", [
            "arn:aws:lambda:", ref("AWS::Region"), ":", find_account, f":function:{name}"]]}


def test_unsupported_region_fails_at_synth_listing_the_supported_ones() -> None:
    # A concrete region can come from CDK_DEFAULT_REGION, not only workflow.region: the
    # construct checks it itself.
    context, config = config_for({}, None)
    _, stack = test_app(context, None)
    with pytest.raises(ValueError, match="'eu-north-1'") as raised:
        Workforce(stack, "Workforce", config=config.workforce, task=config.task.ground_truth,
                  name_prefix="gt", region="eu-north-1")
    assert all(region in str(raised.value) for region in regions.GROUND_TRUTH_REGIONS)


# --------------------------------------------------------------------------- public and existing


def test_public_workteam_is_mechanical_turk_of_the_region() -> None:
    assert synth("public-us-east-1").workforce.workteam_arn == (
        "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default")
    assert synth("public-agnostic").outputs["TestWorkteamArn"] == {"Fn::Join": ["", [
        "arn:aws:sagemaker:", ref("AWS::Region"), ":394669845002:workteam/public-crowd/default"]]}


@pytest.mark.parametrize("case", EXISTING_CASES)
def test_existing_workteam_is_used_as_given(case: str) -> None:
    result = synth(case)
    assert result.workforce.workteam_arn == EXISTING_TEAM_ARN
    assert result.outputs["LabelingWorkteamArn"] == EXISTING_TEAM_ARN


class ExtraKind(StrEnum):
    VENDOR = "vendor"  # stands for a kind added later, e.g. a vendor team from AWS Marketplace


def test_a_registered_kind_whose_team_comes_from_the_config_needs_no_stack_code(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The one registration line: the construct builds by WorkteamSource, not by the kind's name.
    vendor = dataclasses.replace(workforces.EXISTING, kind=ExtraKind.VENDOR, title="a vendor team")
    monkeypatch.setattr(workforces, "POLICIES", {**workforces.POLICIES, ExtraKind.VENDOR: vendor})
    team = "arn:aws:sagemaker:us-east-1:123456789012:workteam/vendor-crowd/acme"
    context, config = config_for({"workflow.workforce.type": "vendor", "workflow.workforce.price_usd": None,
                                  "workflow.workforce.workteam_arn": team}, "us-east-1")
    app, stack = test_app(context, "us-east-1")
    workforce = Workforce(stack, "Workforce", config=config.workforce, task=config.task.ground_truth,
                          name_prefix="gt", region="us-east-1")
    raw = app.synth().get_stack_by_name("WorkforceTest").template
    assert workforce.workteam_arn == team and workforce.portal_url is None
    assert set(raw["Resources"]) == {PLACEHOLDER}
    assert raw["Outputs"]["LabelingWorkteamArn"] == {
        "Description": "Ground Truth work team (vendor) that labeling jobs go to", "Value": team}


# --------------------------------------------------------------------------- private: user pool


def test_stateful_logical_ids_are_pinned() -> None:
    # Replacing the pool deletes every worker account; replacing the workforce moves the portal.
    assert (USER_POOL_LOGICAL_ID, WORKFORCE_LOGICAL_ID) == ("LabelingWorkerPool", "LabelingWorkforce")
    resources = synth("private-agnostic").raw["Resources"]
    assert resources[USER_POOL_LOGICAL_ID]["Type"] == "AWS::Cognito::UserPool"
    assert resources[WORKFORCE_LOGICAL_ID]["Type"] == "AWS::SageMaker::Workforce"


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_user_pool_password_policy_mfa_and_invitation_only(case: str) -> None:
    mfa = EXPECTED_MFA[case]
    assert synth(case).config.workforce.mfa == mfa  # the config the case claims to test
    pool = synth(case).raw["Resources"][USER_POOL_LOGICAL_ID]
    properties = pool["Properties"]
    assert properties["Policies"]["PasswordPolicy"] == {
        "MinimumLength": PASSWORD_MIN_LENGTH, "RequireLowercase": True, "RequireUppercase": True,
        "RequireNumbers": True, "RequireSymbols": True, "TemporaryPasswordValidityDays": 7,
    }
    assert PASSWORD_MIN_LENGTH >= 12
    assert properties["MfaConfiguration"] == mfa
    if mfa == "OFF":
        assert "EnabledMfas" not in properties
    else:
        assert properties["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]  # TOTP, never SMS
    assert "SmsConfiguration" not in properties
    assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert properties["AccountRecoverySetting"] == {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]}
    assert properties["UsernameAttributes"] == ["email"]
    assert properties["UsernameConfiguration"] == {"CaseSensitive": False}
    assert (pool["DeletionPolicy"], pool["UpdateReplacePolicy"]) == ("Delete", "Delete")


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_nag_acknowledgements_depend_on_the_config(case: str) -> None:
    pool = synth(case).workforce.node.find_child("WorkerPool").node.default_child
    assert isinstance(pool, cognito.CfnUserPool)
    acknowledged: dict[str, str] = {}
    for entry in pool.node.metadata:
        if entry.type == "aws:cdk:acknowledged-rules":
            acknowledged.update(entry.data)
    mfa = EXPECTED_MFA[case]
    if mfa == "ON":
        assert "AwsSolutions::AwsSolutions-COG2" not in acknowledged  # MFA required: nothing to excuse
    else:
        assert f"workflow.workforce.mfa = '{mfa}'" in acknowledged["AwsSolutions::AwsSolutions-COG2"]
    assert "Plus plan" in acknowledged["AwsSolutions::AwsSolutions-COG8"]


def test_nag_failures_fail_the_synth_of_this_harness() -> None:
    context, _ = config_for({}, None)
    app, stack = test_app(context, None)
    cognito.CfnUserPool(stack, "WeakPool")
    with pytest.raises(Exception, match="AwsSolutions-COG1"):
        app.synth()


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_domain_is_a_valid_prefix_plus_the_stack_id_suffix(case: str) -> None:
    prefix = cognito_domain_prefix(name_prefix(synth(case).config))
    _, domain = synth(case).only("AWS::Cognito::UserPoolDomain")
    stack_uuid = {"Fn::Select": [2, {"Fn::Split": ["/", ref("AWS::StackId")]}]}
    assert domain["Properties"] == {
        "Domain": {"Fn::Join": ["-", [prefix, {"Fn::Select": [0, {"Fn::Split": ["-", stack_uuid]}]}]]},
        "UserPoolId": ref(USER_POOL_LOGICAL_ID),
    }


@pytest.mark.parametrize(("name_prefix_", "expected"), [
    ("ground-truth-demo-dev", "ground-truth-demo-dev"),
    ("Team_AWS.Amazon/Cognito-Labeling", "team-labeling"),
    ("awsaws-amazonian", "ian"),
    ("aawsws", "labeling"),  # removing "aws" leaves "aws" again: removed until none is left
    ("AWS", "labeling"),
    ("x" * 80, "x" * 54),
])
def test_cognito_domain_prefix(name_prefix_: str, expected: str) -> None:
    prefix = cognito_domain_prefix(name_prefix_)
    assert prefix == expected
    full = f"{prefix}-0123abcd"  # the deployed domain: plus 8 hex digits of the stack id
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", full)
    assert not any(word in full for word in COGNITO_DOMAIN_RESERVED_WORDS)


@pytest.mark.parametrize("name_prefix_", ["ground-truth-demo/dev", "--x--", "a" * 90, "Team_AWS.Labeling"])
def test_sagemaker_names_match_the_api_patterns(name_prefix_: str) -> None:
    workforce, workteam = sagemaker_name(name_prefix_), sagemaker_name(name_prefix_, "labelers")
    assert re.fullmatch(r"[a-zA-Z0-9]([a-zA-Z0-9\-]){0,62}", workforce)
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", workteam)
    assert workteam.endswith("-labelers")


# --------------------------------------------------------------------------- private: client, workforce, team


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_app_client_is_set_up_the_way_ground_truth_needs(case: str) -> None:
    _, client = synth(case).only("AWS::Cognito::UserPoolClient")
    properties = client["Properties"]
    assert properties["UserPoolId"] == ref(USER_POOL_LOGICAL_ID)
    assert properties["GenerateSecret"] is True
    assert properties["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(properties["AllowedOAuthFlows"]) == ["code", "implicit"]
    assert sorted(properties["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    assert properties["SupportedIdentityProviders"] == ["COGNITO"]
    # Placeholders: the portal-URL custom resource replaces them after every deploy that writes them.
    assert properties["CallbackURLs"] == properties["LogoutURLs"] == [OAUTH_PLACEHOLDER_URL]
    # No password sign-in outside the hosted UI's SRP.
    assert sorted(properties["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    assert "ClientName" not in properties  # generated


def test_app_client_does_not_depend_on_the_config() -> None:
    # Any update of the client writes the placeholder URLs back (the custom resource then runs again).
    clients = {case: synth(case).only("AWS::Cognito::UserPoolClient")[1] for case in OWN_POOL_CASES}
    assert len({repr(client) for client in clients.values()}) == 1


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_workforce_binds_the_pool_and_client_after_the_domain_exists(case: str) -> None:
    result = synth(case)
    client_id, _ = result.only("AWS::Cognito::UserPoolClient")
    domain_id, _ = result.only("AWS::Cognito::UserPoolDomain")
    workforce = result.raw["Resources"][WORKFORCE_LOGICAL_ID]
    assert workforce["Properties"]["CognitoConfig"] == {
        "ClientId": ref(client_id), "UserPool": ref(USER_POOL_LOGICAL_ID)}
    assert workforce["DependsOn"] == [domain_id]
    assert workforce["Properties"]["WorkforceName"] == sagemaker_name(name_prefix(result.config))


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_workteam_is_the_workers_group_of_the_pool(case: str) -> None:
    result = synth(case)
    client_id, _ = result.only("AWS::Cognito::UserPoolClient")
    group_id, group = result.only("AWS::Cognito::UserPoolGroup")
    assert group["Properties"]["UserPoolId"] == ref(USER_POOL_LOGICAL_ID)
    assert "GroupName" not in group["Properties"]  # generated
    team_id, team = result.only("AWS::SageMaker::Workteam")
    assert team["Properties"]["MemberDefinitions"] == [{"CognitoMemberDefinition": {
        "CognitoUserPool": ref(USER_POOL_LOGICAL_ID), "CognitoUserGroup": ref(group_id),
        "CognitoClientId": ref(client_id),
    }}]
    assert team["Properties"]["WorkforceName"] == result.raw["Resources"][WORKFORCE_LOGICAL_ID]["Properties"][
        "WorkforceName"]
    assert team["DependsOn"] == [WORKFORCE_LOGICAL_ID]
    assert team["Properties"]["Description"]
    assert result.outputs["LabelingWorkteamArn"] == {"Fn::GetAtt": [team_id, "WorkteamArn"]}


@pytest.mark.parametrize("case", PRIVATE_CASES)
def test_each_worker_email_is_an_invited_user_in_the_group(case: str) -> None:
    result = synth(case)
    pool = EXISTING_POOL_ID if case == "private-joins-workforce" else ref(USER_POOL_LOGICAL_ID)
    group_id, _ = result.only("AWS::Cognito::UserPoolGroup")
    users = result.resources("AWS::Cognito::UserPoolUser")
    assert sorted(user["Properties"]["Username"] for user in users.values()) == sorted(EMAILS)
    for user in users.values():
        email = user["Properties"]["Username"]
        assert user["Properties"] == {
            "UserPoolId": pool, "Username": email, "DesiredDeliveryMediums": ["EMAIL"],
            "UserAttributes": [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        }
    attachments = result.resources("AWS::Cognito::UserPoolUserToGroupAttachment")
    assert sorted(a["Properties"]["Username"]["Ref"] for a in attachments.values()) == sorted(users)
    for attachment in attachments.values():
        assert attachment["Properties"]["GroupName"] == ref(group_id)
        assert attachment["Properties"]["UserPoolId"] == pool


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_portal_url_output_is_the_url_the_custom_resource_set(case: str) -> None:
    result = synth(case)
    resource_id, _ = result.only(RESOURCE_TYPE)
    portal = {"Fn::GetAtt": [resource_id, portal_urls.PORTAL_URL]}  # https://<SubDomain>, lambdas/portal_urls.py
    assert result.outputs["LabelingPortalUrl"] == result.outputs["TestPortalUrl"] == portal
    assert "LabelingWorkforceConsoleUrl" not in result.outputs


def test_workteam_arn_is_a_token_for_a_created_team() -> None:
    assert cdk.Token.is_unresolved(synth("private-agnostic").workforce.workteam_arn)


# --------------------------------------------------------------------------- private: joining an existing workforce


def test_joining_an_existing_workforce_creates_no_workforce_and_uses_its_pool() -> None:
    result = synth("private-joins-workforce")
    result.template.resource_count_is("AWS::SageMaker::Workforce", 0)
    group_id, group = result.only("AWS::Cognito::UserPoolGroup")
    assert group["Properties"]["UserPoolId"] == EXISTING_POOL_ID
    result.template.has_resource("AWS::SageMaker::Workteam", {
        "Properties": Match.object_like({
            "WorkforceName": "default",
            "MemberDefinitions": [{"CognitoMemberDefinition": {
                "CognitoUserPool": EXISTING_POOL_ID, "CognitoUserGroup": ref(group_id),
                "CognitoClientId": EXISTING_CLIENT_ID,
            }}],
        }),
        "DependsOn": Match.absent(),
    })
    assert result.workforce.portal_url is None
    assert "LabelingPortalUrl" not in result.outputs
    assert result.outputs["LabelingWorkforceConsoleUrl"]["Fn::Join"][1][0] == "https://"


def test_joining_an_existing_workforce_needs_its_pool_and_client() -> None:
    context, config = config_for({**PRIVATE, "workflow.workforce.existing_workforce_name": "default",
                                  "workflow.workforce.existing_user_pool_id": EXISTING_POOL_ID,
                                  "workflow.workforce.existing_app_client_id": EXISTING_CLIENT_ID}, "us-east-1")
    _, stack = test_app(context, "us-east-1")
    with pytest.raises(ValueError, match="describe-workforce --workforce-name default"):
        Workforce(stack, "Workforce", config=config.workforce, task=config.task.ground_truth,
                  name_prefix="gt", region="us-east-1")


def test_existing_pool_arguments_without_existing_workforce_name_are_rejected() -> None:
    context, config = config_for(PRIVATE, "us-east-1")
    _, stack = test_app(context, "us-east-1")
    with pytest.raises(ValueError, match="apply only to"):
        Workforce(stack, "Workforce", config=config.workforce, task=config.task.ground_truth,
                  name_prefix="gt", region="us-east-1",
                  existing_user_pool_id=EXISTING_POOL_ID, existing_app_client_id=EXISTING_CLIENT_ID)


def test_a_worker_listed_twice_fails_at_synth() -> None:
    # The config catches it first (case-insensitively); the construct checks again.
    with pytest.raises(ValueError, match=re.escape("lists ['Ann@Example.com', 'ann@example.com'] more than once")):
        config_for({**PRIVATE, "workflow.workforce.worker_emails": ["ann@example.com", "Ann@Example.com"]}, None)


# --------------------------------------------------------------------------- private: the portal URLs on the app client


def sha256_of_properties(properties: dict[str, Any]) -> str:
    """Canonical JSON (sorted keys, no spaces) of a resource's Properties as the template has them."""
    return hashlib.sha256(json.dumps(properties, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def function_by_handler(result: Synthesized, handler: str) -> tuple[str, dict[str, Any]]:
    (item,) = [(key, f) for key, f in result.resources("AWS::Lambda::Function").items()
               if f["Properties"]["Handler"] == handler]
    return item


def arn_of(case: str, service: str, resource: str) -> str:
    """An ARN as Stack.format_arn renders it (intrinsics as render() prints them) in `case`'s stack."""
    region = CASES[case][1]
    if region:  # a concrete region's partition is known at synth
        return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"
    return f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"


def policy_of_role(result: Synthesized, role_id: str) -> list[dict[str, Any]]:
    (policy,) = [p for p in result.resources("AWS::IAM::Policy").values() if ref(role_id) in p["Properties"]["Roles"]]
    return render(policy["Properties"]["PolicyDocument"]["Statement"])


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_the_custom_resource_names_the_workforce_pool_client_and_the_client_settings(case: str) -> None:
    result = synth(case)
    _, resource = result.only(RESOURCE_TYPE)
    client_id, client = result.only("AWS::Cognito::UserPoolClient")
    framework_id, _ = function_by_handler(result, "framework.onEvent")
    assert resource["Properties"] == {
        "ServiceToken": {"Fn::GetAtt": [framework_id, "Arn"]},
        "WorkforceName": result.raw["Resources"][WORKFORCE_LOGICAL_ID]["Properties"]["WorkforceName"],
        "UserPoolId": ref(USER_POOL_LOGICAL_ID),
        "ClientId": ref(client_id),
        # The hash of the client exactly as CloudFormation receives it: changes whenever the client does.
        "ClientSettingsHash": sha256_of_properties(client["Properties"]),
    }


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_the_custom_resource_runs_after_the_workforce_the_client_and_the_team(case: str) -> None:
    result = synth(case)
    _, resource = result.only(RESOURCE_TYPE)
    client_id, _ = result.only("AWS::Cognito::UserPoolClient")
    team_id, _ = result.only("AWS::SageMaker::Workteam")
    assert {WORKFORCE_LOGICAL_ID, client_id, team_id} <= set(resource["DependsOn"])


def test_the_hash_changes_when_the_app_client_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands for any later edit of the client (or a CDK upgrade that renders it differently).
    monkeypatch.setattr(workforce_module, "OAUTH_SCOPES", (cognito.OAuthScope.EMAIL, cognito.OAuthScope.OPENID))
    overrides, region, _ = CASES["private-mfa-off"]
    context, config = config_for(overrides, region)
    app, stack = test_app(context, region)
    workforce = Workforce(stack, "Workforce", config=config.workforce, task=config.task.ground_truth,
                          name_prefix=name_prefix(config), region=config.region, log_retention=LOG_RETENTION)
    changed = Synthesized(config, workforce, app.synth().get_stack_by_name("WorkforceTest").template)
    _, client = changed.only("AWS::Cognito::UserPoolClient")
    assert sorted(client["Properties"]["AllowedOAuthScopes"]) == ["email", "openid"]
    new_hash = changed.only(RESOURCE_TYPE)[1]["Properties"]["ClientSettingsHash"]
    old_hash = synth("private-mfa-off").only(RESOURCE_TYPE)[1]["Properties"]["ClientSettingsHash"]
    assert new_hash != old_hash
    assert new_hash == sha256_of_properties(client["Properties"])


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_the_handler_may_only_read_the_workforce_and_rewrite_the_client(case: str) -> None:
    result = synth(case)
    function_id, function = function_by_handler(result, "lambdas.portal_urls.handler")
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in result.raw["Resources"][role_id]["Properties"]
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert policy_of_role(result, role_id) == [
        {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow", "Resource": f"<{log_group}.Arn>"},
        # The resource types the Service Authorization Reference gives these actions: workforce/<name>
        # and userpool/<pool id> (docs/private-workforce.md).
        {"Action": "sagemaker:DescribeWorkforce", "Effect": "Allow", "Sid": "ReadThePortalAddress",
         "Resource": arn_of(case, "sagemaker", f"workforce/{sagemaker_name(name_prefix(result.config))}")},
        {"Action": ["cognito-idp:DescribeUserPoolClient", "cognito-idp:UpdateUserPoolClient"], "Effect": "Allow",
         "Resource": arn_of(case, "cognito-idp", f"userpool/<{USER_POOL_LOGICAL_ID}>"),
         "Sid": "RewriteTheAppClientUrls"},
    ]
    # The framework's own function may only invoke ours (any qualifier) and write its own logs.
    _, framework = function_by_handler(result, "framework.onEvent")
    framework_role = framework["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in result.raw["Resources"][framework_role]["Properties"]
    framework_logs = framework["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert policy_of_role(result, framework_role) == [
        {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow",
         "Resource": f"<{framework_logs}.Arn>"},
        {"Action": "lambda:InvokeFunction", "Effect": "Allow",
         "Resource": [f"<{function_id}.Arn>", f"<{function_id}.Arn>:*"]},
        {"Action": "lambda:GetFunction", "Effect": "Allow", "Resource": f"<{function_id}.Arn>"},
    ]
    assert framework["Properties"]["Environment"]["Variables"] == {
        "USER_ON_EVENT_FUNCTION_ARN": {"Fn::GetAtt": [function_id, "Arn"]}}


def test_the_handler_gets_its_region_and_time_for_its_three_calls() -> None:
    result = synth("private-mfa-off")  # us-east-1: literal settings
    _, function = function_by_handler(result, "lambdas.portal_urls.handler")
    settings = json.loads(function["Properties"]["Environment"]["Variables"][portal_urls.SETTINGS_VARIABLE])
    assert settings == {"region": "us-east-1"}
    assert function["Properties"]["Timeout"] > 3 * aws_clients.worst_case_call_seconds()
    assert function["Properties"]["LoggingConfig"]["LogFormat"] == "JSON"


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_no_role_for_cognito_sms(case: str) -> None:
    # TOTP only: the only roles are the two Lambda functions'.
    for role in synth(case).resources("AWS::IAM::Role").values():
        principals = [s["Principal"] for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]]
        assert principals == [{"Service": "lambda.amazonaws.com"}]


def test_creating_the_workforce_needs_a_log_retention() -> None:
    context, config = config_for(PRIVATE, "us-east-1")
    _, stack = test_app(context, "us-east-1")
    with pytest.raises(ValueError, match="log_retention is required when the stack creates the private workforce"):
        Workforce(stack, "Workforce", config=config.workforce, task=config.task.ground_truth,
                  name_prefix="gt", region="us-east-1")


# --------------------------------------------------------------------------- the app's configurations


def test_the_default_configuration_has_no_custom_resource_and_no_provider_function() -> None:
    for stack, template in synthesize("default").items():
        resources = template["Resources"]
        assert custom_resource_types(resources) == set(), stack
        handlers = {r["Properties"].get("Handler") for r in resources.values() if r["Type"] == "AWS::Lambda::Function"}
        assert not handlers & {"framework.onEvent", "lambdas.portal_urls.handler"}, stack


def test_the_private_prod_configuration_sets_the_portal_urls() -> None:
    templates = synthesize("prod")
    assert custom_resource_types(templates["Data"]["Resources"]) == set()
    resources = templates["Workflow"]["Resources"]
    assert custom_resource_types(resources) == {RESOURCE_TYPE}
    (resource_id,) = [key for key, r in resources.items() if r["Type"] == RESOURCE_TYPE]
    assert templates["Workflow"]["Outputs"]["LabelingPortalUrl"]["Value"] == {
        "Fn::GetAtt": [resource_id, portal_urls.PORTAL_URL]}


@pytest.mark.parametrize("case", OWN_POOL_CASES)
def test_the_readme_says_what_the_pool_enforces(case: str) -> None:
    """README's private-workforce paragraph states the pool's password policy, invitation lifetime and MFA modes."""
    from tests.infra.synth import PROJECT_DIR

    readme = " ".join((PROJECT_DIR / "README.md").read_text().split())
    pool = synth(case).raw["Resources"][USER_POOL_LOGICAL_ID]["Properties"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert f"Passwords: {policy['MinimumLength']}+ characters with lower- and upper-case letters, digits and symbols" \
        in readme
    assert f"a temporary password valid {policy['TemporaryPasswordValidityDays']} days" in readme
    assert "cannot sign themselves up" in readme and pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"]
    said = {"ON": "`ON` requires an authenticator app (TOTP) at sign-in",
            "OPTIONAL": "`OPTIONAL` lets each worker enrol one but does not ask", "OFF": "`OFF` has none"}
    assert said[pool["MfaConfiguration"]] in readme
    # The invitation promises an authenticator-app step only where the hosted sign-in asks for one.
    body = pool["UserInvitation"]["EmailMessage"] if "UserInvitation" in pool else \
        pool["AdminCreateUserConfig"]["InviteMessageTemplate"]["EmailMessage"]
    assert ("to set up an authenticator app" in body) == (pool["MfaConfiguration"] == "ON")
