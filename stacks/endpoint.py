"""The deployment step (only with `endpoint.enabled`): an approved model package version -> one SageMaker endpoint.

EventBridge delivers three kinds of events to the Deployment function (lambdas/deployment.py):
- "SageMaker Model Package State Change" of this environment's model package group: Approved deploys
  the version (serverless by default, or one real-time instance), Rejected or deleted removes what it
  deployed; a version the evaluation marked not approvable (below `evaluation.accuracy_floor`) is refused
  with an alert;
- "SageMaker Endpoint State Change" of this environment's endpoint: InService retires the previous
  endpoint config and model, Failed alerts with SageMaker's reason;
- a schedule (instance mode only): the idle rule deletes a real-time endpoint nobody called for
  `endpoint.idle_minutes` (a serverless endpoint costs nothing while idle and needs none).

Every name the function creates starts with the environment's job prefix (`<job_prefix>-endpoint`,
`<job_prefix>-v<N>-...` configs, `<job_prefix>-model-v<N>` models), and its role may touch exactly those:
dev's function cannot change prod's endpoint. Asynchronous, with the workflow's retries, dead-letter
queue and error alarm, like the other steps. The facts: docs/deployment.md.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from lambdas import deployment, job_rules
from stacks.alerts import Alerts
from stacks.config import WorkflowConfig
from stacks.execution_role import SageMakerExecutionRole
from stacks.functions import WorkflowFunction
from stacks.labeling import sagemaker_arn
from stacks.lambda_settings import Deployment, build_deployment_settings
from stacks.training import MAX_EVENT_AGE, RETRY_ATTEMPTS, async_target

# The stack outputs `workflow predict` and `workflow status` read (workflow/outputs.py).
ENDPOINT_NAME_OUTPUT = "EndpointName"
DEPLOYMENT_FUNCTION_OUTPUT = "DeploymentFunctionName"
# How often the idle rule looks: often enough that an idle endpoint lives at most about 1.5 x idle_minutes,
# never more often than every 5 minutes (each run is one DescribeEndpoint and one GetMetricStatistics).
MIN_IDLE_CHECK_MINUTES = 5
MAX_IDLE_CHECK_MINUTES = 60


def idle_check_minutes(idle_minutes: int) -> int:
    """The schedule's rate for an idle window of `idle_minutes` (half of it, within 5..60 minutes)."""
    return max(MIN_IDLE_CHECK_MINUTES, min(MAX_IDLE_CHECK_MINUTES, idle_minutes // 2))


def needs_volume_key_grant(config: WorkflowConfig) -> bool:
    """True when the endpoint config carries a KmsKeyId (lambdas/deployment.py sends one for a real-time
    instance with the data bucket's key, unless the instance type has local NVMe storage)."""
    endpoint, key = config.endpoint, config.bucket.kms_key_arn
    return (endpoint.mode == deployment.INSTANCE and key is not None
            and not job_rules.has_local_instance_storage(endpoint.instance_type))


class EndpointDeployment(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: WorkflowConfig,
        deployment_values: Deployment,
        execution: SageMakerExecutionRole,
        alerts: Alerts,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        if not config.model.register_package:  # the config refuses this; a construct used alone must too
            raise ValueError("endpoint deployment needs model.register_package: it deploys approved model packages")
        job_prefix = config.labeling.job_prefix
        group = config.model_package_group_name
        topic_arn = alerts.topic.topic_arn
        instance_mode = config.endpoint.mode == deployment.INSTANCE
        self.endpoint_name = deployment.endpoint_name_for(job_prefix)

        self.function = WorkflowFunction(
            self, "Deployment",
            handler="lambdas.deployment.handler",
            description="Deploys the approved model package version to one SageMaker endpoint; removes rejected ones",
            settings_var=deployment.SETTINGS_VARIABLE,
            settings=build_deployment_settings(config, deployment_values, package_group_name=group,
                                               topic_arn=topic_arn).to_mapping(),
            # A handful of Describe/Create calls, plus one DescribeEndpointConfig per config of ours.
            timeout=Duration.minutes(1),
            memory_size=256,
            log_retention=log_retention,
            # A busy endpoint (Creating, Updating) is waited for by Lambda's retries of the event.
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            dead_letter_queue=alerts.dead_letters,
        )

        # Exactly the calls lambdas/deployment.py makes, on this environment's names only. SageMaker writes
        # names lowercased into ARNs, and IAM compares ARNs case-sensitively: the job prefix is lowercase by
        # rule, the group name is lowercased here (docs/permissions-fixes.md).
        endpoint = sagemaker_arn(self, "endpoint", self.endpoint_name)
        configs = sagemaker_arn(self, "endpoint-config", f"{job_prefix}-v*")
        models = sagemaker_arn(self, "model", f"{job_prefix}-model-v*")
        versions = sagemaker_arn(self, "model-package", f"{group.lower()}/*")
        statements = [
            # The version's current state decides, not the event's (a late event must not deploy).
            iam.PolicyStatement(sid="ReadOurPackageVersions", actions=["sagemaker:DescribeModelPackage"],
                                resources=[versions]),
            iam.PolicyStatement(sid="CreateOurModels", actions=["sagemaker:CreateModel", "sagemaker:AddTags"],
                                resources=[models]),
            iam.PolicyStatement(sid="ReadAndRetireOurModels",
                                actions=["sagemaker:DescribeModel", "sagemaker:DeleteModel"], resources=[models]),
            iam.PolicyStatement(sid="CreateOurEndpointConfigs",
                                actions=["sagemaker:CreateEndpointConfig", "sagemaker:AddTags"], resources=[configs]),
            iam.PolicyStatement(sid="ReadAndRetireOurEndpointConfigs",
                                actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig"],
                                resources=[configs]),
            # CreateEndpoint and UpdateEndpoint are authorized on the endpoint and on the config it gets
            # (both resource types are required: Service Authorization Reference).
            iam.PolicyStatement(sid="ServeOurEndpoint",
                                actions=["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
                                resources=[endpoint, configs]),
            iam.PolicyStatement(sid="ManageOurEndpoint",
                                actions=["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:AddTags"],
                                resources=[endpoint]),
            # Which previous configs to retire: ListEndpointConfigs has no resource-level permissions.
            iam.PolicyStatement(sid="FindOurEndpointConfigs", actions=["sagemaker:ListEndpointConfigs"],
                                resources=["*"]),
            iam.PolicyStatement(sid="Alert", actions=["sns:Publish"], resources=[topic_arn]),
        ]
        if instance_mode:
            # The idle rule: the endpoint's Invocations. GetMetricStatistics has no resource-level
            # permissions and no condition keys (Service Authorization Reference, CloudWatch).
            statements.append(iam.PolicyStatement(sid="ReadInvocationMetrics",
                                                  actions=["cloudwatch:GetMetricStatistics"], resources=["*"]))
        if needs_volume_key_grant(config):
            # "CreateEndpoint: kms:CreateGrant (required only if the associated EndpointConfig has a KmsKeyId
            # specified)" (SageMaker API permissions reference); UpdateEndpoint launches instances with the new
            # config's key the same way. For AWS services only.
            statements.append(iam.PolicyStatement(
                sid="EndpointVolumeKey", actions=["kms:CreateGrant"], resources=[str(config.bucket.kms_key_arn)],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}))
        self.function.add_to_policy(*statements)
        execution.grant_pass_role(self.function.role)  # CreateModel's ExecutionRoleArn, to SageMaker only
        wildcard_reasons = {
            versions: f"versions of this environment's model package group {group}",
            configs: f"endpoint configs this function names {job_prefix}-v<version>-<variant>",
            models: f"models this function names {job_prefix}-model-v<version>",
            "*": ("sagemaker:ListEndpointConfigs and cloudwatch:GetMetricStatistics have no resource-level "
                  "permissions; the function lists configs to retire its own and reads its endpoint's Invocations"),
        }
        self.function.acknowledge_wildcards(wildcard_reasons)

        self.package_changed = events.Rule(
            self, "PackageStateChanged",
            description=f"Approval changes of the versions of {group} -> Deployment",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[deployment.PACKAGE_DETAIL_TYPE],
                # Every approval status: Rejected removes what Approved deployed. The group's name as the
                # config spells it or as SageMaker writes it into ARNs (lowercased).
                detail={"ModelPackageGroupName": events.Match.equals_ignore_case(group)},
            ),
        )
        self.endpoint_changed = events.Rule(
            self, "EndpointStateChanged",
            description=f"State changes of {self.endpoint_name} -> Deployment (retire old configs, alert on Failed)",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[deployment.ENDPOINT_DETAIL_TYPE],
                # Every status: the function reads the endpoint's current one (AWS's example event spells
                # IN_SERVICE, DescribeEndpoint InService; a status filter could miss a spelling).
                detail={"EndpointName": [self.endpoint_name]},
            ),
        )
        rules = [self.package_changed, self.endpoint_changed]
        self.idle_check: events.Rule | None = None
        if instance_mode:
            minutes = idle_check_minutes(config.endpoint.idle_minutes)
            self.idle_check = events.Rule(
                self, "IdleCheck",
                description=f"Every {minutes} minutes: delete {self.endpoint_name} after "
                            f"{config.endpoint.idle_minutes} idle minutes; retire old configs",
                schedule=events.Schedule.rate(Duration.minutes(minutes)),
            )
            rules.append(self.idle_check)
        for rule in rules:
            rule.add_target(async_target(self.function, alerts))

        stack = Stack.of(self)
        CfnOutput(stack, ENDPOINT_NAME_OUTPUT, value=self.endpoint_name,
                  description="The endpoint an approved model package version is deployed to (`workflow predict`)")
        CfnOutput(stack, DEPLOYMENT_FUNCTION_OUTPUT, value=self.function.function.function_name)
