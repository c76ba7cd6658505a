"""Who labels, and with which built-in Lambdas: the Ground Truth workforce of the workflow.

What is built follows the kind's policy (`lambdas/workforces.py`), by where its work team
comes from (`WorkteamSource`), never by comparing the kind's name:

* `PUBLIC_CROWD` (kind `public`): Amazon Mechanical Turk's team of the region. Nothing is created.
* `FROM_CONFIG` (kind `existing`): a work team the user already has
  (`workflow.workforce.workteam_arn`). Nothing is created.
* `CREATED_BY_STACK` (kind `private`): our own team of invited workers. A Cognito user pool (the
  workers' accounts) with a domain, an app client and a group of workers, one user per
  `workflow.workforce.worker_emails` entry, the private `AWS::SageMaker::Workforce` bound to
  the pool and an `AWS::SageMaker::Workteam` made of the group.

Every kind also needs the region's built-in pre-annotation and consolidation Lambdas of the
task type (their names are the task type's `GroundTruthTask`, `lambdas/task_types.py`), owned by
a per-region Ground Truth account that exists in 12 regions only
(`regions.GROUND_TRUTH_LAMBDA_ACCOUNTS`).

AWS quirks this construct works around, with their consequences:

* Region. With a concrete region the ARNs are literals and an unsupported region fails at
  synth. An environment-agnostic template carries a region -> account `CfnMapping` and builds
  the ARNs with `Fn::FindInMap` on `AWS::Region`: deploying it to a region without Ground Truth
  fails at deploy time, before any resource is created, with CloudFormation's
  "Fn::FindInMap - Key '<region>' not found in Mapping" error.
* App client and the labeling portal. Ground Truth signs workers in through the pool's hosted UI
  with this client, so the client needs OAuth (code and implicit flows, scopes
  email/openid/profile, the Cognito identity provider) and a secret. Cognito refuses OAuth
  flows without a callback URL, but the portal's URL (`https://<Workforce SubDomain>`) exists
  only once the Workforce exists, and the Workforce needs the client first. So the client is
  declared with the placeholder `OAUTH_PLACEHOLDER_URL`, and any CloudFormation update of the
  client writes it back. Ground Truth itself updates the client when it creates the workforce
  and the team (their CloudFormation handlers need cognito-idp:UpdateUserPoolClient; what it
  writes is not documented), but nothing does after a later update of the client. So a custom
  resource (`stacks/portal_urls.py`) sets the callback and sign-out URLs to the portal's
  (`https://<subdomain>/oauth2/idpresponse`, `.../logout`) after the team exists and after every
  deploy that changes the client (its properties carry a hash of the client's). Facts and
  sources: docs/private-workforce.md.
* Invitations. Cognito e-mails each worker a temporary password when their user is created.
  The invitation cannot contain the portal URL (the pool exists before the Workforce), so it
  says to use the link sent by the team owner: the stack output `LabelingPortalUrl`.
* One private workforce per account and region. Set
  `workflow.workforce.existing_workforce_name` to add our team to a workforce that already
  exists instead of creating one. Ground Truth requires a team's Cognito group to be in the
  user pool the workforce was created with, and to use that workforce's app client, so this
  mode needs the existing pool id and client id (`aws sagemaker describe-workforce
  --workforce-name <name>` -> `Workforce.CognitoConfig`), passed as `existing_user_pool_id`
  and `existing_app_client_id`. The group and users are then created in that pool.
"""

from __future__ import annotations

import hashlib
import re

from aws_cdk import Aws, CfnMapping, CfnOutput, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas import workforces
from lambdas.task_types import GroundTruthTask
from lambdas.workforces import WorkteamSource
from stacks import nag, regions
from stacks.config import WorkforceConfig
from stacks.portal_urls import PortalUrls

# Pinned logical IDs: replacing the pool deletes every worker's account (password and MFA
# enrolment), replacing the workforce changes the portal URL the workers use.
USER_POOL_LOGICAL_ID = "LabelingWorkerPool"
WORKFORCE_LOGICAL_ID = "LabelingWorkforce"

# The custom resource (stacks/portal_urls.py) overwrites the client's callback and sign-out URLs
# with the labeling portal's (see the module docstring). Until then Cognito needs some https URL;
# localhost sends an authorization code nowhere but the worker's own machine.
OAUTH_PLACEHOLDER_URL = "https://localhost"
OAUTH_SCOPES = (cognito.OAuthScope.EMAIL, cognito.OAuthScope.OPENID, cognito.OAuthScope.PROFILE)

PASSWORD_MIN_LENGTH = 12
TEMPORARY_PASSWORD_DAYS = 7  # time a worker has to accept the invitation

# Cognito prefix domains: 1-63 lowercase letters, digits and '-', not starting or ending with
# '-', unique per region across all AWS accounts, and without these reserved words.
MAX_COGNITO_DOMAIN_LENGTH = 63
COGNITO_DOMAIN_RESERVED_WORDS = ("aws", "amazon", "cognito")
DOMAIN_SUFFIX_LENGTH = 8  # first group of the stack id's UUID
MAX_DOMAIN_PREFIX_LENGTH = MAX_COGNITO_DOMAIN_LENGTH - 1 - DOMAIN_SUFFIX_LENGTH
FALLBACK_DOMAIN_PREFIX = "labeling"

# SageMaker names: WorkforceName `[a-zA-Z0-9]([a-zA-Z0-9-]){0,62}`, WorkteamName
# `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`; both at most 63 characters.
MAX_SAGEMAKER_NAME_LENGTH = 63
MAX_WORKTEAM_DESCRIPTION_LENGTH = 200

_MAPPING_ACCOUNT_KEY = "Account"


def cognito_domain_prefix(name_prefix: str) -> str:
    """The literal part of the Cognito domain: lowercase, valid, without reserved words.

    The stack adds `-<8 hex digits of its stack id>`, which makes the domain unique per
    deployment (a prefix domain is global to the region, across all AWS accounts) and stable
    for the stack's lifetime. Hex digits cannot spell a reserved word.
    """
    text = re.sub(r"[^a-z0-9]+", "-", name_prefix.lower())
    previous = None
    while previous != text:  # removing one word can join the letters of another
        previous = text
        for word in COGNITO_DOMAIN_RESERVED_WORDS:
            text = text.replace(word, "")
        text = re.sub(r"-{2,}", "-", text).strip("-")
    text = text[:MAX_DOMAIN_PREFIX_LENGTH].rstrip("-")
    return text or FALLBACK_DOMAIN_PREFIX


def sagemaker_name(name_prefix: str, suffix: str = "") -> str:
    """A workforce/workteam name: letters, digits and single '-', at most 63 characters."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", name_prefix).strip("-") or "labeling"
    tail = f"-{suffix}" if suffix else ""
    return base[: MAX_SAGEMAKER_NAME_LENGTH - len(tail)].rstrip("-") + tail


def ground_truth_console_url(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/groundtruth?region={region}#/labeling-workforces"


class Workforce(Construct):
    """The labeling workforce of one deployment and the region's built-in Lambda ARNs.

    Attributes:
        workteam_arn: the work team labeling jobs are sent to (token or literal).
        pre_lambda_arn / acs_lambda_arn: the task type's built-in pre-annotation and consolidation
            Lambdas of the deployment region.
        portal_url: the private labeling portal (`https://<Workforce SubDomain>`, as the portal URL
            custom resource set it on the app client) when this construct creates the private
            workforce; None otherwise.
    """

    workteam_arn: str
    pre_lambda_arn: str
    acs_lambda_arn: str
    portal_url: str | None

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: WorkforceConfig,
        task: GroundTruthTask,
        name_prefix: str,
        region: str | None,
        existing_user_pool_id: str | None = None,
        existing_app_client_id: str | None = None,
        log_retention: logs.RetentionDays | None = None,
    ) -> None:
        super().__init__(scope, id_)
        if Token.is_unresolved(name_prefix):
            raise ValueError("Workforce name_prefix must be a literal string (it names the workforce and domain)")
        if region is not None and Token.is_unresolved(region):
            region = None  # Stack.region of an environment-agnostic stack
        if region is not None and region not in regions.GROUND_TRUTH_LAMBDA_ACCOUNTS:
            raise ValueError(regions.unsupported_region_message(
                "deployment region (workflow.region or CDK_DEFAULT_REGION)", region))

        policy = workforces.policy_for(config.type)
        joins_workforce = (workforces.EXISTING_USER_POOL_ID in policy.config_keys
                           and config.existing_workforce_name is not None)
        if (existing_user_pool_id is not None or existing_app_client_id is not None) and not joins_workforce:
            raise ValueError("existing_user_pool_id/existing_app_client_id apply only to workflow.workforce.type = "
                             f"{' or '.join(map(repr, workforces.kinds_where(workforces.EXISTING_USER_POOL_ID)))} "
                             "with workflow.workforce.existing_workforce_name")

        self.pre_lambda_arn, self.acs_lambda_arn = self._lambda_arns(region, task)
        self.portal_url = None
        self.user_pool_id: str | None = None  # private only
        self.workforce_name: str | None = None  # private only
        self.workteam: sagemaker.CfnWorkteam | None = None  # private only

        source = policy.workteam_source
        if source is WorkteamSource.PUBLIC_CROWD:
            self.workteam_arn = workforces.public_crowd_workteam_arn(region if region is not None else Aws.REGION)
        elif source is WorkteamSource.FROM_CONFIG:
            if config.workteam_arn is None:
                raise ValueError("workflow.workforce.workteam_arn is required when "
                                 f"workflow.workforce.type = {config.type.value!r}")
            self.workteam_arn = config.workteam_arn
        elif source is WorkteamSource.CREATED_BY_STACK:
            self.workteam_arn = self._private_team(
                config, name_prefix, existing_user_pool_id=existing_user_pool_id,
                existing_app_client_id=existing_app_client_id, log_retention=log_retention,
            )
        else:  # a new WorkteamSource needs its builder here
            raise ValueError(f"workflow.workforce.type = {config.type.value!r}: no builder for work teams {source}")

        stack = Stack.of(self)
        CfnOutput(stack, "LabelingWorkteamArn", value=self.workteam_arn,
                  description=f"Ground Truth work team ({config.type.value}) that labeling jobs go to")
        if self.portal_url is not None:
            CfnOutput(stack, "LabelingPortalUrl", value=self.portal_url,
                      description="Workers sign in here with the account from their invitation e-mail")
        elif source is WorkteamSource.CREATED_BY_STACK:
            CfnOutput(stack, "LabelingWorkforceConsoleUrl", value=ground_truth_console_url(Aws.REGION),
                      description="The existing private workforce; its labeling portal URL is shown here")

    # ------------------------------------------------------------------ built-in Lambdas

    def _lambda_arns(self, region: str | None, task: GroundTruthTask) -> tuple[str, str]:
        if region is not None:
            return regions.ground_truth_lambda_arns(region, task)
        # Environment-agnostic: resolved at deploy time. An unsupported region fails there
        # with "Fn::FindInMap - Key not found in Mapping" (see the module docstring).
        mapping = CfnMapping(self, "GroundTruthLambdaAccounts", mapping={
            name: {_MAPPING_ACCOUNT_KEY: account} for name, account in regions.GROUND_TRUTH_LAMBDA_ACCOUNTS.items()
        })
        account = mapping.find_in_map(Aws.REGION, _MAPPING_ACCOUNT_KEY)
        return (f"arn:aws:lambda:{Aws.REGION}:{account}:function:{task.pre_lambda_name}",
                f"arn:aws:lambda:{Aws.REGION}:{account}:function:{task.acs_lambda_name}")

    # ------------------------------------------------------------------ private team

    def _private_team(self, config: WorkforceConfig, name_prefix: str, *,
                      existing_user_pool_id: str | None, existing_app_client_id: str | None,
                      log_retention: logs.RetentionDays | None) -> str:
        joining = config.existing_workforce_name is not None
        if joining and (existing_user_pool_id is None or existing_app_client_id is None):
            raise ValueError(
                f"workflow.workforce.existing_workforce_name = {config.existing_workforce_name!r}: a team in an "
                "existing Cognito workforce must use that workforce's user pool and app client (Ground Truth "
                "rejects a group from another pool). Pass existing_user_pool_id and existing_app_client_id "
                f"(aws sagemaker describe-workforce --workforce-name {config.existing_workforce_name} -> "
                "Workforce.CognitoConfig), or use workflow.workforce.type = 'existing' with the team's ARN"
            )
        _check_unique_emails(config.worker_emails)

        if not joining and log_retention is None:
            raise ValueError("Workforce: log_retention is required when the stack creates the private workforce "
                             "(the function that sets the portal URLs on the app client logs with it)")
        if joining:
            assert existing_user_pool_id is not None and existing_app_client_id is not None
            user_pool_id, client_id = existing_user_pool_id, existing_app_client_id
            workforce_name: str = config.existing_workforce_name  # type: ignore[assignment]
            workforce: sagemaker.CfnWorkforce | None = None
        else:
            pool, domain, client = self._user_pool(config, name_prefix)
            user_pool_id, client_id = pool.user_pool_id, client.user_pool_client_id
            workforce_name = sagemaker_name(name_prefix)
            workforce = sagemaker.CfnWorkforce(
                self, "Workforce",
                workforce_name=workforce_name,
                cognito_config=sagemaker.CfnWorkforce.CognitoConfigProperty(
                    client_id=client_id, user_pool=user_pool_id,
                ),
            )
            workforce.override_logical_id(WORKFORCE_LOGICAL_ID)
            # Ground Truth signs workers in through the pool's hosted UI: the domain must exist.
            workforce.node.add_dependency(domain)
        self.user_pool_id = user_pool_id
        self.workforce_name = workforce_name

        # Generated group name: unique even inside an existing pool shared with other teams.
        group = cognito.CfnUserPoolGroup(
            self, "Workers", user_pool_id=user_pool_id,
            description=f"Ground Truth labeling team of {name_prefix}"[:2048],
        )
        for email in config.worker_emails:
            user_id = "Worker" + hashlib.sha256(email.casefold().encode()).hexdigest()[:8]
            user = cognito.CfnUserPoolUser(
                self, user_id,
                user_pool_id=user_pool_id,
                username=email,
                desired_delivery_mediums=["EMAIL"],
                user_attributes=[
                    # Verified: the temporary password goes to this address, so signing in proves
                    # it; account recovery (e-mail only) needs a verified address.
                    cognito.CfnUserPoolUser.AttributeTypeProperty(name="email", value=email),
                    cognito.CfnUserPoolUser.AttributeTypeProperty(name="email_verified", value="true"),
                ],
            )
            cognito.CfnUserPoolUserToGroupAttachment(
                self, f"{user_id}InGroup", user_pool_id=user_pool_id, group_name=group.ref, username=user.ref,
            )

        team = sagemaker.CfnWorkteam(
            self, "Workteam",
            # The CreateWorkteam API requires a name; the resource documents no generated one.
            workteam_name=sagemaker_name(name_prefix, "labelers"),
            workforce_name=workforce_name,
            description=f"{name_prefix}: private image-labeling team"[:MAX_WORKTEAM_DESCRIPTION_LENGTH],
            member_definitions=[sagemaker.CfnWorkteam.MemberDefinitionProperty(
                cognito_member_definition=sagemaker.CfnWorkteam.CognitoMemberDefinitionProperty(
                    cognito_user_pool=user_pool_id, cognito_user_group=group.ref, cognito_client_id=client_id,
                ),
            )],
        )
        if workforce is not None:
            team.node.add_dependency(workforce)  # WorkforceName is a literal, not a reference
            # The client's URLs are the portal's after every deploy that creates or changes it.
            assert log_retention is not None
            portal = PortalUrls(self, "PortalUrls", workforce=workforce, user_pool=pool, client=client,
                                after=(team,), log_retention=log_retention)
            self.portal_url = portal.portal_url
        self.workteam = team
        return team.attr_workteam_arn

    def _user_pool(self, config: WorkforceConfig, name_prefix: str) -> tuple[
            cognito.UserPool, cognito.UserPoolDomain, cognito.UserPoolClient]:
        mfa = {"OFF": cognito.Mfa.OFF, "OPTIONAL": cognito.Mfa.OPTIONAL, "ON": cognito.Mfa.REQUIRED}[config.mfa]
        pool = cognito.UserPool(
            self, "WorkerPool",
            # Workers are invited (worker_emails or the console), never sign themselves up.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True),
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=PASSWORD_MIN_LENGTH,
                require_lowercase=True, require_uppercase=True, require_digits=True, require_symbols=True,
                temp_password_validity=Duration.days(TEMPORARY_PASSWORD_DAYS),
            ),
            # TOTP (authenticator app) only: no SMS, so no SMS role and no phone numbers.
            mfa=mfa,
            mfa_second_factor=(None if config.mfa == "OFF" else cognito.MfaSecondFactor(otp=True, sms=False)),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            user_invitation=cognito.UserInvitationConfig(
                email_subject="You are invited to label images with SageMaker Ground Truth",
                email_body=(
                    "You have been invited to a private image-labeling team.<br>"
                    "User name: {username}<br>Temporary password: {####}<br>"
                    "Sign in at the labeling portal link sent to you by the team owner; you will be "
                    f"asked to choose a new password ({PASSWORD_MIN_LENGTH}+ characters)"
                    # Only ON makes the hosted sign-in ask for an authenticator app; with OPTIONAL a worker
                    # may enrol one but is not asked (Cognito's MfaConfiguration, botocore's model).
                    + {"ON": " and to set up an authenticator app", "OPTIONAL": "; you may also set up an "
                       "authenticator app for a second sign-in factor"}.get(config.mfa, "") + "."
                ),
            ),
            # DESTROY, not RETAIN: only this stack's Workforce can use the pool, and it goes
            # with the stack; a retained pool could not be re-attached (a new deployment creates
            # a new pool) and would only keep the workers' e-mail addresses without an owner.
            # The accounts are declared in the config and re-invited on the next deployment;
            # labels live in S3 (data stack). The pinned logical ID guards against replacement.
            # With workflow.retain_on_delete (prod) stacks/app.py sets RETAIN instead, so a stack
            # deletion never silently removes the workers' accounts.
            removal_policy=RemovalPolicy.DESTROY,
        )
        pool_resource = pool.node.default_child
        assert isinstance(pool_resource, cognito.CfnUserPool)
        pool_resource.override_logical_id(USER_POOL_LOGICAL_ID)

        stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
        domain = pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(
            domain_prefix=Fn.join("-", [cognito_domain_prefix(name_prefix), Fn.select(0, Fn.split("-", stack_uuid))]),
        ))
        # An update of the client writes the placeholder URLs back; the portal URL custom resource
        # runs again after it (stacks/portal_urls.py), so these properties may change.
        client = pool.add_client(
            "AppClient",
            generate_secret=True,  # Ground Truth's portal is a confidential OAuth client
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=True),
                scopes=list(OAUTH_SCOPES),
                callback_urls=[OAUTH_PLACEHOLDER_URL],
                logout_urls=[OAUTH_PLACEHOLDER_URL],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
        )

        if config.mfa != "ON":
            nag.acknowledge(pool_resource, "COG2", (
                f"workflow.workforce.mfa = {config.mfa!r}: workers may sign in without a second factor "
                "(OPTIONAL lets each worker enrol an authenticator app); set it to 'ON' to require TOTP MFA, "
                "as the prod environment does"))
        nag.acknowledge(pool_resource, "COG8", (
            "The worker pool uses the Essentials feature plan: accounts are admin-invited only (no self "
            f"sign-up), passwords need {PASSWORD_MIN_LENGTH}+ characters of all classes, MFA follows "
            "workflow.workforce.mfa. The Plus plan's threat protection is billed per monthly active user "
            "and is not needed for a small invited labeling team"))
        return pool, domain, client


def _check_unique_emails(emails: tuple[str, ...]) -> None:
    """Cognito user names are case-insensitive here: a repeated address would fail the deploy."""
    seen: dict[str, str] = {}
    for email in emails:
        key = email.casefold()
        if key in seen:
            raise ValueError(f"workflow.workforce.worker_emails lists {seen[key]!r} and {email!r}: the same "
                             "worker (addresses are case-insensitive); list each worker once")
        seen[key] = email
