"""The portal-URL custom resource handler (lambdas/portal_urls.py) against botocore's models.

Every call goes through a real boto3 client with botocore's Stubber: requests are checked against
the exact expected parameters and botocore's input model, responses against its output model
(Stubber validates both). The responses are shaped as the API models shape them (no DescribeWorkforce
example exists in AWS's documentation; the DescribeUserPoolClient fields are the UserPoolClientType
members, values as a client created by stacks/workforce.py has them). The emulator (moto) has no
SageMaker workforce API; its Cognito half runs against it at the end of this file.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from demo.emulator import Emulator
from lambdas import aws_clients, portal_urls
from lambdas.portal_urls import PortalUrlError, handler, portal_url
from lambdas.settings import SettingsError

REGION = "us-east-1"
ACCOUNT = "123456789012"
WORKFORCE = "gt-demo-prod"
POOL = "us-east-1_AbCdEf123"
CLIENT = "1example23456789abcdefghij"
SUBDOMAIN = "k2l5m9q8rt.labeling.us-east-1.sagemaker.aws"
PORTAL = f"https://{SUBDOMAIN}"
PLACEHOLDER = "https://localhost"
WHEN = datetime.datetime(2025, 1, 6, 12, 0, tzinfo=datetime.UTC)


def described_workforce(**changes: Any) -> dict[str, Any]:
    """A DescribeWorkforce response of the stack's Cognito workforce (members of Workforce)."""
    workforce = {
        "WorkforceName": WORKFORCE,
        "WorkforceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workforce/{WORKFORCE}",
        "LastUpdatedDate": WHEN,
        "SourceIpConfig": {"Cidrs": []},
        "SubDomain": SUBDOMAIN,
        "CognitoConfig": {"UserPool": POOL, "ClientId": CLIENT},
        "CreateDate": WHEN,
        "Status": "Active",
        "IpAddressType": "ipv4",
    }
    workforce.update(changes)
    return {"Workforce": {k: v for k, v in workforce.items() if v is not None}}


def described_client(**changes: Any) -> dict[str, Any]:
    """A DescribeUserPoolClient response: every member of UserPoolClientType, as the app client of
    stacks/workforce.py has it after CloudFormation wrote the placeholder URLs back."""
    client = {
        "UserPoolId": POOL,
        "ClientName": "WorkforceWorkerPoolAppClient-abc",
        "ClientId": CLIENT,
        "ClientSecret": "s3cr3t-never-sent-back-0123456789abcdef",
        "ClientSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:cognito-client-abc",
        "LastModifiedDate": WHEN,
        "CreationDate": WHEN,
        "RefreshTokenValidity": 30,
        "AccessTokenValidity": 60,
        "IdTokenValidity": 60,
        "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
        "ReadAttributes": ["email", "email_verified"],
        "WriteAttributes": ["email"],
        "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        "SupportedIdentityProviders": ["COGNITO"],
        "CallbackURLs": [PLACEHOLDER],
        "LogoutURLs": [PLACEHOLDER],
        "DefaultRedirectURI": PLACEHOLDER,
        "AllowedOAuthFlows": ["implicit", "code"],
        "AllowedOAuthScopes": ["profile", "email", "openid"],
        "AllowedOAuthFlowsUserPoolClient": True,
        "AnalyticsConfiguration": {
            "ApplicationId": "0123456789abcdef0123456789abcdef",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/pinpoint",
            "ExternalId": "external",
            "UserDataShared": False,
        },
        "PreventUserExistenceErrors": "ENABLED",
        "EnableTokenRevocation": True,
        "EnablePropagateAdditionalUserContextData": False,
        "AuthSessionValidity": 3,
        "RefreshTokenRotation": {"Feature": "DISABLED", "RetryGracePeriodSeconds": 0},
        "ClientType": "REGULAR",
    }
    client.update(changes)
    return {"UserPoolClient": {k: v for k, v in client.items() if v is not None}}


# What UpdateUserPoolClient must receive for `described_client()`, written out by hand: every
# setting above that UpdateUserPoolClient accepts (not the secret, its ARN, the dates or
# ClientType: not members of UpdateUserPoolClientRequest), the URLs replaced by the portal's and
# DefaultRedirectURI moved with them ("Must be in the CallbackURLs list").
EXPECTED_UPDATE: dict[str, Any] = {
    "UserPoolId": POOL,
    "ClientId": CLIENT,
    "ClientName": "WorkforceWorkerPoolAppClient-abc",
    "RefreshTokenValidity": 30,
    "AccessTokenValidity": 60,
    "IdTokenValidity": 60,
    "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
    "ReadAttributes": ["email", "email_verified"],
    "WriteAttributes": ["email"],
    "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    "SupportedIdentityProviders": ["COGNITO"],
    "CallbackURLs": [f"{PORTAL}/oauth2/idpresponse"],
    "LogoutURLs": [f"{PORTAL}/logout"],
    "DefaultRedirectURI": f"{PORTAL}/oauth2/idpresponse",
    "AllowedOAuthFlows": ["implicit", "code"],
    "AllowedOAuthScopes": ["profile", "email", "openid"],
    "AllowedOAuthFlowsUserPoolClient": True,
    "AnalyticsConfiguration": {
        "ApplicationId": "0123456789abcdef0123456789abcdef",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/pinpoint",
        "ExternalId": "external",
        "UserDataShared": False,
    },
    "PreventUserExistenceErrors": "ENABLED",
    "EnableTokenRevocation": True,
    "EnablePropagateAdditionalUserContextData": False,
    "AuthSessionValidity": 3,
    "RefreshTokenRotation": {"Feature": "DISABLED", "RetryGracePeriodSeconds": 0},
}


def event(request_type: str = "Create", **properties: Any) -> dict[str, Any]:
    """A CloudFormation custom resource request as the Provider framework passes it to onEvent."""
    resource_properties = {
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:prod-Workflow-framework-onEvent",
        portal_urls.WORKFORCE_NAME: WORKFORCE,
        portal_urls.USER_POOL_ID: POOL,
        portal_urls.CLIENT_ID: CLIENT,
        portal_urls.CLIENT_SETTINGS_HASH: "5535be5fb2ef17ce1297172514bf2c08251ee2c86029bbd11ce89df996c8fb41",
        **properties,
    }
    request: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": resource_properties["ServiceToken"],
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/prod-Workflow/1a2b3c4d",
        "RequestId": "5d2a6b8e-1111-2222-3333-444455556666",
        "LogicalResourceId": "WorkforcePortalUrls8E189A10",
        "ResourceType": "Custom::LabelingPortalUrls",
        "ResourceProperties": {k: v for k, v in resource_properties.items() if v is not None},
    }
    if request_type != "Create":
        request["PhysicalResourceId"] = f"{WORKFORCE}/{POOL}/portal-urls"
    if request_type == "Update":
        request["OldResourceProperties"] = {**request["ResourceProperties"], portal_urls.CLIENT_SETTINGS_HASH: "0" * 64}
    return request


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(portal_urls.SETTINGS_VARIABLE, json.dumps({"region": REGION}))
    aws_clients.reset()
    yield
    aws_clients.reset()


@pytest.fixture
def stubs() -> Iterator[tuple[Stubber, Stubber]]:
    """Stubbed sagemaker and cognito-idp clients, installed where the handler gets its clients."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    cognito = boto3.client("cognito-idp", region_name=REGION)
    aws_clients.use("sagemaker", REGION, sagemaker)
    aws_clients.use("cognito-idp", REGION, cognito)
    with Stubber(sagemaker) as sagemaker_stub, Stubber(cognito) as cognito_stub:
        yield sagemaker_stub, cognito_stub
        sagemaker_stub.assert_no_pending_responses()
        cognito_stub.assert_no_pending_responses()


def expect_reads(sagemaker: Stubber, cognito: Stubber, *, workforce: dict[str, Any] | None = None,
                 client: dict[str, Any] | None = None) -> None:
    sagemaker.add_response("describe_workforce", workforce or described_workforce(), {"WorkforceName": WORKFORCE})
    cognito.add_response("describe_user_pool_client", client or described_client(),
                         {"UserPoolId": POOL, "ClientId": CLIENT})


# --------------------------------------------------------------------------- Create and Update


def test_create_sets_the_portal_urls_and_carries_every_other_setting(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, cognito = stubs
    expect_reads(sagemaker, cognito)
    cognito.add_response("update_user_pool_client", described_client(**{
        k: EXPECTED_UPDATE[k] for k in ("CallbackURLs", "LogoutURLs", "DefaultRedirectURI")}), EXPECTED_UPDATE)
    assert handler(event("Create")) == {
        "PhysicalResourceId": f"{WORKFORCE}/{POOL}/portal-urls",
        "Data": {"PortalUrl": PORTAL},
    }


def test_update_runs_the_same_calls_and_keeps_the_physical_id(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, cognito = stubs
    expect_reads(sagemaker, cognito)
    cognito.add_response("update_user_pool_client", described_client(), EXPECTED_UPDATE)
    update = event("Update")
    assert handler(update) == {"PhysicalResourceId": update["PhysicalResourceId"], "Data": {"PortalUrl": PORTAL}}


def test_the_update_sends_every_setting_update_user_pool_client_accepts() -> None:
    """Omitted settings are reset to their defaults: the request must name all of them. The one
    exception, PublishSecretsInAWSSecretsManager, "If you omit this parameter, Amazon Cognito doesn't
    change how it manages the existing secret" (and DescribeUserPoolClient does not return it)."""
    model = boto3.client("cognito-idp", region_name=REGION).meta.service_model
    accepted = set(model.operation_model("UpdateUserPoolClient").input_shape.members)
    assert set(EXPECTED_UPDATE) == accepted - {"PublishSecretsInAWSSecretsManager"}
    # And the fixture is complete: it has every member DescribeUserPoolClient can return.
    assert set(described_client()["UserPoolClient"]) == set(model.shape_for("UserPoolClientType").members)


def test_a_client_that_already_has_the_portal_urls_is_not_written(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, cognito = stubs
    expect_reads(sagemaker, cognito, client=described_client(**{
        k: EXPECTED_UPDATE[k] for k in ("CallbackURLs", "LogoutURLs", "DefaultRedirectURI")}))
    # No update_user_pool_client response queued: a call would fail with "Unexpected call".
    assert handler(event("Update"))["Data"] == {"PortalUrl": PORTAL}


def test_without_a_default_redirect_uri_none_is_added(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, cognito = stubs
    expect_reads(sagemaker, cognito, client=described_client(DefaultRedirectURI=None))
    expected = {k: v for k, v in EXPECTED_UPDATE.items() if k != "DefaultRedirectURI"}
    cognito.add_response("update_user_pool_client", described_client(), expected)
    handler(event("Create"))


def test_the_client_secret_is_neither_sent_nor_returned(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, cognito = stubs
    expect_reads(sagemaker, cognito)
    cognito.add_response("update_user_pool_client", described_client(), EXPECTED_UPDATE)
    assert "s3cr3t" not in json.dumps(handler(event("Create")))
    assert "ClientSecret" not in EXPECTED_UPDATE  # and Stubber checked the request is exactly that


# --------------------------------------------------------------------------- Delete


def test_delete_makes_no_call(stubs: tuple[Stubber, Stubber]) -> None:
    # Nothing queued on either stub: any call would raise "Unexpected call".
    delete = event("Delete")
    assert handler(delete) == {"PhysicalResourceId": delete["PhysicalResourceId"]}


# --------------------------------------------------------------------------- failures name what failed


def test_a_workforce_without_a_subdomain_fails_with_its_status(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, _ = stubs
    sagemaker.add_response("describe_workforce", described_workforce(SubDomain=None, Status="Initializing"),
                           {"WorkforceName": WORKFORCE})
    with pytest.raises(PortalUrlError) as raised:
        handler(event("Create"))
    message = str(raised.value)
    assert f"DescribeWorkforce of workforce '{WORKFORCE}' returned no SubDomain (Status Initializing)" in message
    assert f"aws sagemaker describe-workforce --workforce-name {WORKFORCE}" in message


def test_a_failed_workforce_reports_its_failure_reason(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, _ = stubs
    sagemaker.add_response("describe_workforce", described_workforce(
        SubDomain=None, Status="Failed", FailureReason="The user pool has no domain"), {"WorkforceName": WORKFORCE})
    with pytest.raises(PortalUrlError, match="Status Failed, FailureReason 'The user pool has no domain'"):
        handler(event("Create"))


def test_a_workforce_of_another_client_is_not_touched(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, _ = stubs
    sagemaker.add_response("describe_workforce", described_workforce(
        CognitoConfig={"UserPool": POOL, "ClientId": "9other0client0id000000000"}), {"WorkforceName": WORKFORCE})
    with pytest.raises(PortalUrlError, match="app client 9other0client0id000000000, not with user pool"):
        handler(event("Create"))


def test_an_oidc_workforce_is_not_touched(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, _ = stubs
    sagemaker.add_response("describe_workforce", described_workforce(
        CognitoConfig=None, OidcConfig={"ClientId": "oidc", "Issuer": "https://idp.example.com"}),
        {"WorkforceName": WORKFORCE})
    with pytest.raises(PortalUrlError, match=f"workforce '{WORKFORCE}' is an OIDC workforce"):
        handler(event("Create"))


def test_a_client_without_oauth_is_refused(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, cognito = stubs
    expect_reads(sagemaker, cognito, client=described_client(AllowedOAuthFlowsUserPoolClient=False))
    with pytest.raises(PortalUrlError, match="AllowedOAuthFlowsUserPoolClient false"):
        handler(event("Create"))


def test_an_aws_error_names_the_call_and_the_client(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, cognito = stubs
    expect_reads(sagemaker, cognito)
    cognito.add_client_error("update_user_pool_client", service_error_code="NotAuthorizedException",
                             service_message="User is not authorized to perform: cognito-idp:UpdateUserPoolClient",
                             http_status_code=400, expected_params=EXPECTED_UPDATE)
    with pytest.raises(PortalUrlError) as raised:
        handler(event("Create"))
    assert str(raised.value) == (
        f"cognito-idp:UpdateUserPoolClient of client {CLIENT} in user pool {POOL} failed: NotAuthorizedException: "
        "User is not authorized to perform: cognito-idp:UpdateUserPoolClient")


def test_a_missing_workforce_names_the_describe_call(stubs: tuple[Stubber, Stubber]) -> None:
    sagemaker, _ = stubs
    sagemaker.add_client_error("describe_workforce", service_error_code="ValidationException",
                               service_message="Workforce gt-demo-prod not found.", http_status_code=400,
                               expected_params={"WorkforceName": WORKFORCE})
    with pytest.raises(PortalUrlError, match=f"sagemaker:DescribeWorkforce of workforce '{WORKFORCE}' failed: "
                                             "ValidationException: Workforce gt-demo-prod not found."):
        handler(event("Create"))


def test_a_missing_property_names_it(stubs: tuple[Stubber, Stubber]) -> None:
    with pytest.raises(SettingsError, match=r"ResourceProperties\.ClientId is missing"):
        handler(event("Create", ClientId=None))


def test_an_unknown_request_type_is_refused(stubs: tuple[Stubber, Stubber]) -> None:
    with pytest.raises(PortalUrlError, match="RequestType 'Replace'"):
        handler(event("Replace"))


@pytest.mark.parametrize(("subdomain", "expected"), [
    (SUBDOMAIN, PORTAL),
    (f"{PORTAL}/", PORTAL),  # tolerated: a SubDomain given as a URL
])
def test_portal_url_is_https_and_the_host(subdomain: str, expected: str) -> None:
    assert portal_url(described_workforce(SubDomain=subdomain)["Workforce"]) == expected


@pytest.mark.parametrize("subdomain", ["labeling.example/path", "host:8443", "two words"])
def test_a_subdomain_that_is_not_a_host_name_is_refused(subdomain: str) -> None:
    with pytest.raises(PortalUrlError, match="which is not a host name"):
        portal_url(described_workforce(SubDomain=subdomain)["Workforce"])


# --------------------------------------------------------------------------- emulator (Cognito half)


def test_on_the_emulator_the_client_ends_with_the_portal_urls(emulator: Emulator) -> None:
    """moto implements Cognito user pools and clients, not SageMaker workforces: the workforce is
    stubbed, Describe/UpdateUserPoolClient run against the emulator. moto's UpdateUserPoolClient merges
    the request into the client instead of resetting what it omits, so this cannot show that nothing is
    reset (the Stubber tests above do); it shows the requests are accepted and the end state."""
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=emulator.endpoint_url)
    pool = cognito.create_user_pool(PoolName="portal-urls-test")["UserPool"]["Id"]
    created = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="workers", GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"], SupportedIdentityProviders=["COGNITO"],
        CallbackURLs=[PLACEHOLDER], LogoutURLs=[PLACEHOLDER], AllowedOAuthFlows=["code", "implicit"],
        AllowedOAuthScopes=["email", "openid", "profile"], AllowedOAuthFlowsUserPoolClient=True,
        PreventUserExistenceErrors="ENABLED",
    )["UserPoolClient"]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    aws_clients.use("sagemaker", REGION, sagemaker)
    aws_clients.use("cognito-idp", REGION, cognito)
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_workforce", described_workforce(
            CognitoConfig={"UserPool": pool, "ClientId": created["ClientId"]}), {"WorkforceName": WORKFORCE})
        result = handler(event("Create", UserPoolId=pool, ClientId=created["ClientId"]))
    after = cognito.describe_user_pool_client(UserPoolId=pool, ClientId=created["ClientId"])["UserPoolClient"]
    assert result["Data"] == {"PortalUrl": PORTAL}
    assert after["CallbackURLs"] == [f"{PORTAL}/oauth2/idpresponse"]
    assert after["LogoutURLs"] == [f"{PORTAL}/logout"]
    unchanged = ("ClientName", "ExplicitAuthFlows", "SupportedIdentityProviders", "AllowedOAuthFlows",
                 "AllowedOAuthScopes", "AllowedOAuthFlowsUserPoolClient", "PreventUserExistenceErrors", "ClientSecret")
    assert {k: after.get(k) for k in unchanged} == {k: created.get(k) for k in unchanged}
