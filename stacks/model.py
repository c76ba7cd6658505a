"""The model step: a training (or tuning) job of ours ended -> RegisterModel.

EventBridge delivers our training and tuning state changes to RegisterModel, which creates the
SageMaker model from a completed job's artifacts and starts its evaluation (a batch transform of the
validation split, stacks/evaluation.py), or, with evaluation off, registers a model package version
awaiting approval when configured; it alerts on a failed or stopped job (lambdas/register_model.py).
Asynchronous, with explicit retries and a dead-letter queue; idempotent through names derived
from the training job.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.alerts import Alerts
from stacks.config import WorkflowConfig
from stacks.data_key import s3_data_key_statement
from stacks.execution_role import SageMakerExecutionRole
from stacks.functions import WorkflowFunction
from stacks.labeling import sagemaker_arn
from stacks.lambda_settings import MODEL_SETTINGS_VAR, Deployment, model_settings
from stacks.training import MAX_EVENT_AGE, RETRY_ATTEMPTS, AlgorithmImage, async_target, describe_our_jobs

TRAINING_STATE_CHANGE = "SageMaker Training Job State Change"
TUNING_STATE_CHANGE = "SageMaker HyperParameter Tuning Job State Change"
# The group holds every registered model version: its logical ID must never change (a new one
# would replace the group). Pinned to the ID it had when it lived in the training construct.
MODEL_PACKAGE_GROUP_LOGICAL_ID = "TrainingModelPackageGroup2A1BF969"


class ModelRegistration(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: WorkflowConfig,
        deployment: Deployment,
        bucket: s3.IBucket,
        image: AlgorithmImage,
        execution: SageMakerExecutionRole,
        alerts: Alerts,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        job_prefix, prefix = config.labeling.job_prefix, config.prefix
        topic_arn = alerts.topic.topic_arn

        self.package_group_name: str | None = None
        if config.model.register_package:
            group = sagemaker.CfnModelPackageGroup(
                self, "ModelPackageGroup",
                model_package_group_name=config.model_package_group_name,
                model_package_group_description="Image classifiers trained from Ground Truth labels",
            )
            group.override_logical_id(MODEL_PACKAGE_GROUP_LOGICAL_ID)
            self.package_group_name = group.model_package_group_name

        self.register_model = WorkflowFunction(
            self, "RegisterModel",
            handler="lambdas.register_model.handler",
            description="Creates the model from a completed training (or tuning) job; alerts on failures",
            settings_var=MODEL_SETTINGS_VAR,
            settings=model_settings(config, deployment, image_uri=image.uri, topic_arn=topic_arn,
                                    package_group_name=self.package_group_name),
            # A few describe/create calls; with evaluation, also reading the validation split (up to
            # 20,000 lines) and writing two small objects.
            timeout=Duration.minutes(2),
            memory_size=256,
            log_retention=log_retention,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            dead_letter_queue=alerts.dead_letters,
        )
        training_jobs = sagemaker_arn(self, "training-job", f"{job_prefix}-*")
        tuning_jobs = sagemaker_arn(self, "hyper-parameter-tuning-job", f"{job_prefix}-*")
        models = sagemaker_arn(self, "model", f"{job_prefix}-*")
        self.register_model.add_to_policy(
            *describe_our_jobs(training_jobs, tuning_jobs),
            iam.PolicyStatement(sid="CreateOurModels", actions=["sagemaker:CreateModel", "sagemaker:AddTags"],
                                resources=[models]),
            # register_model looks before it creates (_create_model_once).
            iam.PolicyStatement(sid="DescribeOurModels", actions=["sagemaker:DescribeModel"], resources=[models]),
            iam.PolicyStatement(sid="Alert", actions=["sns:Publish"], resources=[topic_arn]),
        )
        wildcard_reasons = {
            training_jobs: f"training jobs named from our labeling jobs (prefix {job_prefix})",
            tuning_jobs: f"tuning jobs named from our labeling jobs (prefix {job_prefix})",
            models: f"models named from our training jobs (prefix {job_prefix})",
        }
        if config.evaluation.enabled:
            # evaluation_job.start: read the split, write the transform's manifest and inputs.json,
            # start the transform job (no role is passed: it runs as the model's execution role).
            transform_jobs = sagemaker_arn(self, "transform-job", f"{job_prefix}-*")
            splits = bucket.arn_for_objects(f"{prefix}/training/*")
            evaluations = bucket.arn_for_objects(f"{prefix}/evaluation/*")
            self.register_model.add_to_policy(
                iam.PolicyStatement(sid="ReadValidationSplits", actions=["s3:GetObject"], resources=[splits]),
                iam.PolicyStatement(sid="WriteEvaluationInputs", actions=["s3:PutObject"], resources=[evaluations]),
                iam.PolicyStatement(sid="StartOurEvaluations",
                                    actions=["sagemaker:CreateTransformJob", "sagemaker:AddTags"],
                                    resources=[transform_jobs]),
                # A redelivered event must not rewrite a started evaluation: evaluation_job.start looks first.
                iam.PolicyStatement(sid="DescribeOurEvaluations", actions=["sagemaker:DescribeTransformJob"],
                                    resources=[transform_jobs]),
            )
            if config.bucket.kms_key_arn:
                self.register_model.add_to_policy(s3_data_key_statement(self, config.bucket.kms_key_arn))
            wildcard_reasons.update({
                transform_jobs: f"evaluation transform jobs named from our training jobs (prefix {job_prefix})",
                splits: "the validation split a training job read (one folder per labeling job)",
                evaluations: "one folder per model evaluation",
            })
        elif self.package_group_name is not None:
            # With evaluation the Evaluation function registers the package, with its metrics.
            statements, reasons = model_package_statements(self, self.package_group_name)
            self.register_model.add_to_policy(*statements)
            wildcard_reasons.update(reasons)
        execution.grant_pass_role(self.register_model.role)
        self.register_model.acknowledge_wildcards(wildcard_reasons)

        # Our jobs only, by name prefix.
        self.training_state = events.Rule(
            self, "TrainingJobEnded",
            description="Our training jobs that completed, failed or stopped -> RegisterModel",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[TRAINING_STATE_CHANGE],
                detail={"TrainingJobStatus": ["Completed", "Failed", "Stopped"],
                        "TrainingJobName": events.Match.prefix(f"{job_prefix}-")},
            ),
        )
        self.tuning_state = events.Rule(
            self, "TuningJobEnded",
            description="Our tuning jobs that completed, failed or stopped -> RegisterModel",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[TUNING_STATE_CHANGE],
                detail={"HyperParameterTuningJobStatus": ["Completed", "Failed", "Stopped"],
                        "HyperParameterTuningJobName": events.Match.prefix(f"{job_prefix}-")},
            ),
        )
        for rule in (self.training_state, self.tuning_state):
            rule.add_target(async_target(self.register_model, alerts))

        stack = Stack.of(self)
        CfnOutput(stack, "RegisterModelFunctionName", value=self.register_model.function.function_name)
        CfnOutput(stack, "TrainingEndedRuleName", value=self.training_state.rule_name)
        CfnOutput(stack, "TuningEndedRuleName", value=self.tuning_state.rule_name)
        if self.package_group_name is not None:
            CfnOutput(stack, "ModelPackageGroupName", value=self.package_group_name)


def model_package_statements(scope: Construct, group: str) -> tuple[list[iam.PolicyStatement], dict[str, str]]:
    """Registering versions of the model package group `group`, and the IAM5 reasons of its wildcards.

    The model-package resource type is model-package/${ModelPackageName}; a version of a group is
    named by its group (ModelPackageName = group name) and its ARN adds /<version>: both forms, this
    group's only (docs/permissions-fixes.md). SageMaker ARNs carry names lowercased, and IAM compares
    ARNs case-sensitively."""
    group_name = group.lower()
    package = sagemaker_arn(scope, "model-package", group_name)
    versions = sagemaker_arn(scope, "model-package", f"{group_name}/*")
    statements = [
        iam.PolicyStatement(
            sid="RegisterModelPackageVersions",
            actions=["sagemaker:CreateModelPackage", "sagemaker:AddTags"],
            resources=[package, versions],
        ),
        # One Search finds the version a redelivered event already registered.
        iam.PolicyStatement(sid="FindRegisteredVersion", actions=["sagemaker:Search"], resources=["*"]),
    ]
    return statements, {
        versions: "versions of this workflow's model package group",
        "*": ("sagemaker:Search has no resource-level permissions; one call per registration finds the version a "
              "redelivered event already made"),
    }
