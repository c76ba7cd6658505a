"""One way to deploy the workflow's Lambda functions: latest Python runtime, our own role
(no AWS managed policies), a log group with retention, JSON logs, explicit async settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import LOG_RETENTION_PERIODS
from stacks.lambda_settings import MAX_ENVIRONMENT_BYTES
from stacks.nag import acknowledge_wildcard_resources, skip_checkov

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The asset is the project folder reduced to the `lambdas` package: handlers are
# `lambdas.<module>.handler`, and the package imports itself exactly as the tests and the CLI do.
# ".*": glob "*" does not match dot files and folders (.venv, .git).
LAMBDA_ASSET_EXCLUDE = ["*", ".*", "!lambdas", "!lambdas/**", "**/__pycache__", "**/*.pyc", "**/.*"]
RUNTIME = lambda_.Runtime.PYTHON_3_14  # latest; the code also runs on 3.11 for the tests

def retention_days(days: int) -> logs.RetentionDays:
    """CloudWatch Logs accepts only these retention periods (config checks the number)."""
    return logs.RetentionDays[LOG_RETENTION_PERIODS[days]]


class WorkflowFunction(Construct):
    """A Lambda function from the `lambdas/` asset with a least-privilege role."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        handler: str,
        description: str,
        settings_var: str,
        settings: dict[str, Any],
        timeout: Duration,
        memory_size: int,
        log_retention: logs.RetentionDays,
        retry_attempts: int,
        max_event_age: Duration | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, id_)
        # json.dumps, not Stack.to_json_string: the latter drops null values, and the Lambdas
        # require every key. Tokens inside the text (ARNs, names: never quotes) resolve at deploy.
        settings_text = json.dumps(settings, separators=(",", ":"))
        # Tokens resolve at deploy time; the literal part must leave room for them.
        if len(settings_text) > MAX_ENVIRONMENT_BYTES - 512:
            raise ValueError(f"{settings_var} is too large for Lambda's 4 KB environment; shorten the "
                             "instructions or labels in the workflow config")
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} (least privilege)",
        )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY,
        )
        self.function = lambda_.Function(
            self, "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=lambda_.Code.from_asset(str(PROJECT_DIR), exclude=LAMBDA_ASSET_EXCLUDE, ignore_mode=IgnoreMode.GLOB),
            description=description,
            role=self.role,
            timeout=timeout,
            memory_size=memory_size,
            environment={settings_var: settings_text},
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
            on_failure=destinations.SqsDestination(dead_letter_queue) if dead_letter_queue else None,
        )
        skip_checkov(self.log_group, "CKV_AWS_158", "CloudWatch Logs encrypts log data at rest by default; "
                     "a customer-managed key costs money while idle, and these logs carry job names, no data")
        skip_checkov(self.function, "CKV_AWS_173", "the environment holds settings (names, ARNs, prefixes), no "
                     "secrets; Lambda encrypts environment variables at rest with an AWS-managed key by default")
        skip_checkov(self.function, "CKV_AWS_117", "calls only AWS APIs (SageMaker, S3, logs); in a VPC it would "
                     "need a NAT gateway or interface endpoints, which cost money while idle")
        skip_checkov(self.function, "CKV_AWS_115", "runs once per job event; a reservation takes from the account's "
                     "unreserved pool, which must stay >= 100 (fails in new low-quota accounts)")
        if dead_letter_queue is not None:
            skip_checkov(self.function, "CKV_AWS_116", "failed asynchronous invocations go to the on-failure "
                         "destination (EventInvokeConfig, the alerts queue), which records more than a DLQ")
        # The role writes only to its own log group (no AWSLambdaBasicExecutionRole). No IAM5
        # acknowledgement: cdk-nag sees the Arn as a token, not a wildcard (docs/security-checks.md).
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn],
        ))

    def add_to_policy(self, *statements: iam.PolicyStatement) -> None:
        for statement in statements:
            self.role.add_to_policy(statement)

    def acknowledge_wildcards(self, reasons: dict[str, str]) -> None:
        acknowledge_wildcard_resources(self.role.node.find_child("DefaultPolicy"), reasons)
