"""Custom resource: point the private workforce's Cognito app client at its labeling portal.

The `onEvent` handler of a CDK `custom_resources.Provider` (stacks/portal_urls.py): it returns
`{"PhysicalResourceId": ..., "Data": {...}}` or raises, and the Provider framework answers
CloudFormation (an exception's message becomes the failed resource's reason in the stack events).

Create and Update:
1. DescribeWorkforce(WorkforceName): the portal's host name (`Workforce.SubDomain`), after checking
   that the workforce is the Cognito workforce of this pool and client.
2. DescribeUserPoolClient: the client's full current settings.
3. UpdateUserPoolClient with all of those settings, only CallbackURLs and LogoutURLs replaced by
   the portal's (`https://<SubDomain>/oauth2/idpresponse`, `https://<SubDomain>/logout`).
   UpdateUserPoolClient resets every setting the request omits to its default ("If you don't
   provide a value for an attribute, Amazon Cognito sets it to its default value"), so the request
   carries every setting DescribeUserPoolClient returned that UpdateUserPoolClient accepts, read
   from botocore's model of both operations rather than from a list kept here. No call when the
   client already has the portal's URLs.
Delete: nothing (the client goes with the stack; restoring a placeholder would only break sign-in).

The AWS facts, with their sources: docs/private-workforce.md. Standard library and boto3 only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .aws_clients import client
from .runtime import error_code, error_message, get_logger, log
from .settings import PORTAL_URLS_SETTINGS_VAR, PortalUrlSettings, SettingsError

SETTINGS_VARIABLE = PORTAL_URLS_SETTINGS_VAR  # {"region": ...}: PortalUrlSettings, the settings contract

# The custom resource's properties (set by stacks/portal_urls.py) and the attribute it returns.
WORKFORCE_NAME = "WorkforceName"
USER_POOL_ID = "UserPoolId"
CLIENT_ID = "ClientId"
# Not read here: a hash of the app client's CloudFormation properties, so that CloudFormation
# sends an Update (and this handler runs again) after every deploy that updates the client.
CLIENT_SETTINGS_HASH = "ClientSettingsHash"
PORTAL_URL = "PortalUrl"

# The portal's OAuth redirect (the path Ground Truth's worker portal receives the authorization
# code on) and its sign-out page (docs/private-workforce.md).
CALLBACK_PATH = "/oauth2/idpresponse"
LOGOUT_PATH = "/logout"

_URL_KEYS = ("CallbackURLs", "LogoutURLs")  # replaced
_IDENTITY_KEYS = ("UserPoolId", "ClientId")  # name the client; passed as given
# "Must be in the CallbackURLs list" (UpdateUserPoolClient): follows the callback URL if it was set.
_DEFAULT_REDIRECT_KEY = "DefaultRedirectURI"

class PortalUrlError(RuntimeError):
    """The portal URLs could not be set; the message names the call or value and what to do."""


def handler(event: Mapping[str, Any], _context: Any = None) -> dict[str, Any]:
    logger = get_logger("portal_urls")
    request_type = event.get("RequestType")
    if request_type == "Delete":
        log(logger, "portal_urls", request_type=request_type, decision="nothing to do",
            physical_resource_id=event.get("PhysicalResourceId"))
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if request_type not in ("Create", "Update"):
        raise PortalUrlError(f"RequestType {request_type!r} is not Create, Update or Delete")

    properties = event.get("ResourceProperties")
    workforce_name = _property(properties, WORKFORCE_NAME)
    user_pool_id = _property(properties, USER_POOL_ID)
    client_id = _property(properties, CLIENT_ID)
    region = PortalUrlSettings.from_env().region
    sagemaker, cognito = client("sagemaker", region), client("cognito-idp", region)

    workforce = _call(f"sagemaker:DescribeWorkforce of workforce {workforce_name!r}",
                      sagemaker.describe_workforce, WorkforceName=workforce_name)["Workforce"]
    _check_bound_to(workforce, user_pool_id, client_id)
    portal = portal_url(workforce)

    current = _call(f"cognito-idp:DescribeUserPoolClient of client {client_id} in user pool {user_pool_id}",
                    cognito.describe_user_pool_client, UserPoolId=user_pool_id,
                    ClientId=client_id)["UserPoolClient"]
    if not current.get("AllowedOAuthFlowsUserPoolClient"):
        raise PortalUrlError(
            f"app client {client_id} of user pool {user_pool_id} has AllowedOAuthFlowsUserPoolClient false: "
            "callback URLs need OAuth enabled on the client, and Ground Truth signs workers in with the OAuth code "
            "flow; enable OAuth on the client (stacks/workforce.py declares it) and deploy again")

    request = update_request(current, portal, updatable_settings(cognito))
    changed = any(current.get(key) != request.get(key) for key in (*_URL_KEYS, _DEFAULT_REDIRECT_KEY))
    if changed:
        _call(f"cognito-idp:UpdateUserPoolClient of client {client_id} in user pool {user_pool_id}",
              cognito.update_user_pool_client, **request)
    log(logger, "portal_urls", request_type=request_type, portal_url=portal, updated=changed,
        previous_callback_urls=current.get("CallbackURLs"), previous_logout_urls=current.get("LogoutURLs"),
        settings_carried_over=sorted(k for k in request if k not in (*_IDENTITY_KEYS, *_URL_KEYS)))
    physical_id = (event["PhysicalResourceId"] if request_type == "Update"
                   else f"{workforce_name}/{user_pool_id}/portal-urls")
    return {"PhysicalResourceId": physical_id, "Data": {PORTAL_URL: portal}}


def _property(properties: Any, key: str) -> str:
    """A non-empty string property of the custom resource (stacks/portal_urls.py sets them; CloudFormation
    adds ServiceToken and passes the rest as given)."""
    if not isinstance(properties, Mapping):
        raise SettingsError(f"ResourceProperties must be a JSON object, got {type(properties).__name__}")
    if key not in properties:
        raise SettingsError(f"ResourceProperties.{key} is missing")
    value = properties[key]
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"ResourceProperties.{key} = {value!r} is invalid: expected a non-empty string")
    return value


def portal_url(workforce: Mapping[str, Any]) -> str:
    """`https://<SubDomain>`: the labeling portal, from a DescribeWorkforce `Workforce`."""
    name = workforce.get("WorkforceName", "?")
    subdomain = str(workforce.get("SubDomain") or "").strip()
    if not subdomain:
        status = workforce.get("Status", "unknown")
        reason = f", FailureReason {workforce['FailureReason']!r}" if workforce.get("FailureReason") else ""
        raise PortalUrlError(
            f"sagemaker:DescribeWorkforce of workforce {name!r} returned no SubDomain (Status {status}{reason}): "
            "the labeling portal has no address yet, so the app client's callback URLs cannot be set. Check "
            f"`aws sagemaker describe-workforce --workforce-name {name}`; once it is Active, deploy again")
    host = subdomain.removeprefix("https://").rstrip("/")
    if not host or any(c in host for c in "/ ?#:"):
        raise PortalUrlError(f"sagemaker:DescribeWorkforce of workforce {name!r} returned SubDomain {subdomain!r}, "
                             "which is not a host name: expected e.g. 'abc123.labeling.us-east-1.sagemaker.aws'")
    return f"https://{host}"


def portal_redirects(portal: str) -> dict[str, list[str]]:
    """The app client's CallbackURLs and LogoutURLs for the portal at `portal` (`https://<host>`)."""
    return {"CallbackURLs": [portal + CALLBACK_PATH], "LogoutURLs": [portal + LOGOUT_PATH]}


def updatable_settings(cognito: Any) -> frozenset[str]:
    """The settings DescribeUserPoolClient returns that UpdateUserPoolClient also accepts, from the
    client's own botocore model: the request that keeps everything else as it is."""
    model = cognito.meta.service_model
    accepted = set(model.operation_model("UpdateUserPoolClient").input_shape.members)
    described = set(model.shape_for("UserPoolClientType").members)
    return frozenset(accepted & described)


def update_request(current: Mapping[str, Any], portal: str, settings: frozenset[str]) -> dict[str, Any]:
    """The UpdateUserPoolClient request: `current` (a DescribeUserPoolClient `UserPoolClient`) with
    every setting in `settings`, the portal's redirect URLs instead of the current ones.

    Not carried: what UpdateUserPoolClient does not accept (ClientSecret, the dates, ClientType,
    ClientSecretArn), and PublishSecretsInAWSSecretsManager, which Describe does not return and
    whose absence leaves the secret as it is.
    """
    request = {key: value for key, value in current.items() if key in settings}
    missing = [key for key in _IDENTITY_KEYS if not request.get(key)]
    if missing:
        raise PortalUrlError(f"cognito-idp:DescribeUserPoolClient returned no {' or '.join(missing)}")
    request.update(portal_redirects(portal))
    default_redirect = request.get(_DEFAULT_REDIRECT_KEY)
    if default_redirect and default_redirect not in request["CallbackURLs"]:
        request[_DEFAULT_REDIRECT_KEY] = request["CallbackURLs"][0]
    return request


def _check_bound_to(workforce: Mapping[str, Any], user_pool_id: str, client_id: str) -> None:
    """The portal must be the one of this pool and client: never point a client at another portal."""
    name = workforce.get("WorkforceName", "?")
    cognito_config = workforce.get("CognitoConfig")
    if not cognito_config:
        kind = "an OIDC workforce" if workforce.get("OidcConfig") else "not a Cognito workforce"
        raise PortalUrlError(f"workforce {name!r} is {kind}: its portal does not sign in through user pool "
                             f"{user_pool_id}; no URLs were changed")
    bound = (cognito_config.get("UserPool"), cognito_config.get("ClientId"))
    if bound != (user_pool_id, client_id):
        raise PortalUrlError(
            f"workforce {name!r} signs in with user pool {bound[0]} and app client {bound[1]}, not with user pool "
            f"{user_pool_id} and client {client_id}: no URLs were changed (a private workforce's pool and client "
            "are fixed when it is created; one private workforce per account and region)")


def _call(what: str, operation: Any, **request: Any) -> Any:
    """`operation(**request)`; an AWS error becomes a PortalUrlError that names `what` failed."""
    try:
        return operation(**request)
    except ClientError as error:
        raise PortalUrlError(f"{what} failed: {error_code(error)}: {error_message(error)}") from error
    except BotoCoreError as error:
        raise PortalUrlError(f"{what} failed: {error}") from error

