"""The labeling portal's URLs on the private workforce's Cognito app client, after every deploy.

A custom resource backed by `lambdas/portal_urls.py` (through the CDK Provider framework) reads
the workforce's `SubDomain` and rewrites the client's CallbackURLs and LogoutURLs to the portal's,
with every other setting of the client carried over. Its properties include a hash of the client's
CloudFormation properties: any deploy that changes the client (and so writes the placeholder URLs
back) changes the hash, so CloudFormation sends the custom resource an Update after updating the
client, and the handler runs again. Only the stack's own private workforce gets it
(stacks/workforce.py); the facts behind it: docs/private-workforce.md.

Why the Provider framework rather than a function that answers CloudFormation itself: the
framework reports every failure of the handler (exception, timeout) to CloudFormation with its
message, so a failed deploy says what failed instead of waiting an hour for a response that
never comes; the handler stays a plain function that returns a dict.
"""

from __future__ import annotations

import hashlib
import json

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import custom_resources as cr
from constructs import Construct, IDependable

from lambdas import portal_urls
from stacks.functions import WorkflowFunction
from stacks.lambda_settings import build_portal_url_settings
from stacks.nag import acknowledge_wildcard_resources, skip_checkov

RESOURCE_TYPE = "Custom::LabelingPortalUrls"
# Three calls; one ends within aws_clients.worst_case_call_seconds() (52 s with every retry).
TIMEOUT = Duration.minutes(3)


def client_settings_hash(client: cognito.UserPoolClient) -> str:
    """SHA-256 of the client's CloudFormation properties as they are rendered into the template
    (tokens as their intrinsics): changes exactly when CloudFormation would update the client.

    `_render_properties(_cfn_properties)` is how a CfnResource renders its properties (CDK's
    protected API for L1 subclasses); raw overrides added later (`add_property_override`) are not in
    it, which tests/infra/test_workforce.py catches by comparing with the synthesized template.
    """
    resource = client.node.default_child
    assert isinstance(resource, cognito.CfnUserPoolClient)
    properties = Stack.of(client).resolve(resource._render_properties(resource._cfn_properties))
    return hashlib.sha256(json.dumps(properties, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class PortalUrls(Construct):
    """Sets the app client's callback and sign-out URLs to the labeling portal's.

    Attributes:
        portal_url: `https://<Workforce SubDomain>`, as the handler found it (a token).
        resource: the custom resource.
        handler: the onEvent function (our code, least privilege).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        workforce: sagemaker.CfnWorkforce,
        user_pool: cognito.UserPool,
        client: cognito.UserPoolClient,
        after: tuple[IDependable, ...] = (),
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.handler = WorkflowFunction(
            self, "SetPortalUrls",
            handler="lambdas.portal_urls.handler",
            description="Sets the private workforce app client's callback and sign-out URLs to the labeling portal",
            settings_var=portal_urls.SETTINGS_VARIABLE,
            settings=build_portal_url_settings(region=stack.region).to_mapping(),
            timeout=TIMEOUT,
            memory_size=256,
            log_retention=log_retention,
            retry_attempts=0,  # invoked synchronously by the Provider framework, never asynchronously
        )
        skip_checkov(self.handler.function, "CKV_AWS_116", "invoked synchronously by the custom resource "
                     "Provider framework, which reports a failure to CloudFormation; no asynchronous event to lose")
        # Resource types of the Service Authorization Reference: DescribeWorkforce takes `workforce`
        # (arn:...:sagemaker:<region>:<account>:workforce/<name>), Describe/UpdateUserPoolClient take
        # `userpool` (arn:...:cognito-idp:<region>:<account>:userpool/<id>). Built from the name and
        # id, not GetAtt: the same ARNs, and readable by the permission checks of tests/permissions.
        self.handler.add_to_policy(
            iam.PolicyStatement(
                sid="ReadThePortalAddress",
                actions=["sagemaker:DescribeWorkforce"],
                resources=[stack.format_arn(service="sagemaker", resource="workforce",
                                            resource_name=workforce.workforce_name)],
            ),
            iam.PolicyStatement(
                sid="RewriteTheAppClientUrls",
                actions=["cognito-idp:DescribeUserPoolClient", "cognito-idp:UpdateUserPoolClient"],
                resources=[stack.format_arn(service="cognito-idp", resource="userpool",
                                            resource_name=user_pool.user_pool_id)],
            ),
        )

        provider = self._provider(log_retention)
        self.resource = CustomResource(
            self, "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={
                # The literal name: the resource's Ref is its ARN (primaryIdentifier WorkforceArn).
                portal_urls.WORKFORCE_NAME: workforce.workforce_name,
                portal_urls.USER_POOL_ID: user_pool.user_pool_id,
                portal_urls.CLIENT_ID: client.user_pool_client_id,
                portal_urls.CLIENT_SETTINGS_HASH: client_settings_hash(client),
            },
        )
        # After the workforce (named by a literal) and the client; `after` (the work team): Ground
        # Truth's CreateWorkteam also writes the client (docs/private-workforce.md), so this runs last.
        self.resource.node.add_dependency(workforce, client, *after)
        self.portal_url = self.resource.get_att_string(portal_urls.PORTAL_URL)

    def _provider(self, log_retention: logs.RetentionDays) -> cr.Provider:
        """The framework's own function, with our role and log group (no AWS managed policy)."""
        log_group = logs.LogGroup(self, "ProviderLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        skip_checkov(log_group, "CKV_AWS_158", "CloudWatch Logs encrypts log data at rest by default; a "
                     "customer-managed key costs money while idle, and these logs carry resource ids, no data")
        role = iam.Role(self, "ProviderRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="CDK custom resource Provider framework for the labeling portal URLs "
                                    "(least privilege)")
        role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                               resources=[log_group.log_group_arn]))
        provider = cr.Provider(self, "Provider", on_event_handler=self.handler.function,
                               framework_on_event_role=role, log_group=log_group)
        framework = provider.node.find_child("framework-onEvent")
        for check, why in (
            ("CKV_AWS_173", "the CDK Provider framework's environment holds the onEvent function's name, no secret"),
            ("CKV_AWS_117", "calls only Lambda (our handler) and CloudFormation's response URL; a VPC would need "
                            "a NAT gateway or endpoints that cost money while idle"),
            ("CKV_AWS_115", "runs only during deploys of this stack; a reservation takes from the account's "
                            "unreserved pool, which must stay >= 100"),
            ("CKV_AWS_116", "invoked by CloudFormation for a custom resource, which waits for the framework's "
                            "response; there is no asynchronous event to lose"),
        ):
            skip_checkov(framework, check, why)
        acknowledge_wildcard_resources(role.node.find_child("DefaultPolicy"), {
            f"{self.handler.function.function_arn}:*": (
                "The CDK Provider framework may invoke any version or alias of our onEvent function (the grant "
                "CDK's Provider adds); the function itself is named, the ':*' covers only its qualifiers"),
        })
        return provider

