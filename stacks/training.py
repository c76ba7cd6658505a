"""Labeling -> training -> model, event driven.

EventBridge delivers our completed labeling jobs to StartTraining (split the output manifest,
start the training or tuning job) and our training/tuning state changes to RegisterModel
(create the model; alert on failures). Both are asynchronous invocations with explicit
retries and a dead-letter queue; both are idempotent through deterministic job names.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnMapping, CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas import job_rules
from stacks import algorithm_images
from stacks.alerts import LABELING_STATE_CHANGE, Alerts, labeling_job_arn_prefix
from stacks.config import WorkflowConfig
from stacks.data_key import s3_data_key_statement
from stacks.execution_role import SageMakerExecutionRole
from stacks.functions import WorkflowFunction
from stacks.labeling import sagemaker_arn
from stacks.lambda_settings import (
    MODEL_SETTINGS_VAR,
    TRAINING_SETTINGS_VAR,
    Deployment,
    model_settings,
    training_settings,
)
from stacks.nag import acknowledge

TRAINING_STATE_CHANGE = "SageMaker Training Job State Change"
TUNING_STATE_CHANGE = "SageMaker HyperParameter Tuning Job State Change"

# Async invocations: two retries cover throttling and transient errors; an event older than
# six hours is stale (the operator will have noticed), so it goes to the dead-letter queue.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(6)


class AlgorithmImage:
    """The built-in image-classification image for the deployment region (SDK-generated table)."""

    def __init__(self, scope: Construct, region: str | None) -> None:
        if region is not None:
            self.uri = algorithm_images.image_uri(region)  # unsupported region -> clear ValueError
            self.repository_arn = algorithm_images.repository_arn(region)
            return
        mapping = CfnMapping(scope, "AlgorithmImages", mapping=algorithm_images.mapping_table())
        self.uri = mapping.find_in_map(Aws.REGION, "uri")
        account = mapping.find_in_map(Aws.REGION, "account")
        self.repository_arn = f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{account}:repository/image-classification"


class Training(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: WorkflowConfig,
        deployment: Deployment,
        region: str | None,
        bucket: s3.IBucket,
        execution: SageMakerExecutionRole,
        alerts: Alerts,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        prefix, job_prefix = config.prefix, config.labeling.job_prefix
        image = AlgorithmImage(self, region)
        topic_arn = alerts.topic.topic_arn

        # SageMaker pulls the algorithm image as the execution role.
        iam.Policy(self, "PullAlgorithmImage", roles=[execution.role], statements=[
            iam.PolicyStatement(actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                         "ecr:BatchCheckLayerAvailability"],
                                resources=[image.repository_arn]),
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        ])
        acknowledge(self.node.find_child("PullAlgorithmImage"), "IAM5", applies_to="Resource::*",
                    reason="ecr:GetAuthorizationToken has no resource-level permissions")
        key_arn = config.bucket.kms_key_arn
        if key_arn and not job_rules.has_local_instance_storage(config.training.instance_type):
            # StartTraining sets ResourceConfig.VolumeKmsKeyId on instance types without local NVMe
            # storage; SageMaker then needs kms:CreateGrant as the execution role (sagemaker-roles:
            # "If you specify a volume KMS key ... add kms:CreateGrant"), for itself only.
            iam.Policy(self, "TrainingVolumeKey", roles=[execution.role], statements=[
                iam.PolicyStatement(actions=["kms:CreateGrant"], resources=[key_arn],
                                    conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            ])

        self.package_group_name: str | None = None
        if config.model.register_package:
            group = sagemaker.CfnModelPackageGroup(
                self, "ModelPackageGroup",
                model_package_group_name=config.model.package_group_name or f"{job_prefix}-{config.env_name}-models",
                model_package_group_description="Image classifiers trained from Ground Truth labels",
            )
            self.package_group_name = group.model_package_group_name

        self.start_training = WorkflowFunction(
            self, "StartTraining",
            handler="lambdas.start_training.handler",
            description="Splits a completed labeling job's manifest and starts training (or tuning)",
            settings_var=TRAINING_SETTINGS_VAR,
            settings=training_settings(config, deployment, image_uri=image.uri, topic_arn=topic_arn),
            # Streaming and splitting 100,000 lines takes about a second (make bench); the
            # margin covers slow S3 reads. 1 GB buys CPU; memory use stays under 64 MiB.
            timeout=Duration.minutes(5),
            memory_size=1024,
            log_retention=log_retention,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            dead_letter_queue=alerts.dead_letters,
        )
        labeling_jobs = sagemaker_arn(self, "labeling-job", f"{job_prefix}-*")
        training_jobs = sagemaker_arn(self, "training-job", f"{job_prefix}*")
        tuning_jobs = sagemaker_arn(self, "hyper-parameter-tuning-job", f"{job_prefix}*")
        self.start_training.add_to_policy(
            iam.PolicyStatement(sid="DescribeOurLabelingJobs", actions=["sagemaker:DescribeLabelingJob"],
                                resources=[labeling_jobs]),
            # A redelivered event must not start a second job: start_training._job_exists looks first.
            # One statement per resource type: actions x resources of a combined statement would
            # also grant, say, DescribeTrainingJob on tuning-job ARNs (the permission rehearsal
            # lists such unused grants).
            iam.PolicyStatement(sid="DescribeOurTrainingJobs", actions=["sagemaker:DescribeTrainingJob"],
                                resources=[training_jobs]),
            iam.PolicyStatement(sid="DescribeOurTuningJobs", actions=["sagemaker:DescribeHyperParameterTuningJob"],
                                resources=[tuning_jobs]),
            iam.PolicyStatement(sid="ReadLabelingOutputAndInputs", actions=["s3:GetObject"],
                                resources=[bucket.arn_for_objects(f"{prefix}/labeled-data/*"),
                                           bucket.arn_for_objects(f"{prefix}/labeling/*")]),
            iam.PolicyStatement(sid="WriteTrainingManifests", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                resources=[bucket.arn_for_objects(f"{prefix}/training/*")]),
            iam.PolicyStatement(sid="StartOurTrainingJobs",
                                actions=["sagemaker:CreateTrainingJob", "sagemaker:AddTags"],
                                resources=[training_jobs]),
            iam.PolicyStatement(sid="StartOurTuningJobs",
                                actions=["sagemaker:CreateHyperParameterTuningJob", "sagemaker:AddTags"],
                                resources=[tuning_jobs]),
            iam.PolicyStatement(sid="Alert", actions=["sns:Publish"], resources=[topic_arn]),
        )
        if key_arn:
            self.start_training.add_to_policy(s3_data_key_statement(self, key_arn))
        execution.grant_pass_role(self.start_training.role)
        self.start_training.acknowledge_wildcards({
            labeling_jobs: f"labeling jobs named with this workflow's prefix {job_prefix}-",
            bucket.arn_for_objects(f"{prefix}/labeled-data/*"): "Ground Truth's output under the data prefix",
            bucket.arn_for_objects(f"{prefix}/labeling/*"): "the frozen inputs (label categories) of our jobs",
            bucket.arn_for_objects(f"{prefix}/training/*"): "one folder of manifests per labeling job",
            training_jobs: f"training jobs named from our labeling jobs (prefix {job_prefix})",
            tuning_jobs: f"tuning jobs named from our labeling jobs (prefix {job_prefix})",
        })

        self.register_model = WorkflowFunction(
            self, "RegisterModel",
            handler="lambdas.register_model.handler",
            description="Creates the model from a completed training (or tuning) job; alerts on failures",
            settings_var=MODEL_SETTINGS_VAR,
            settings=model_settings(config, deployment, image_uri=image.uri, topic_arn=topic_arn,
                                    package_group_name=self.package_group_name),
            timeout=Duration.minutes(1),  # a few describe/create calls
            memory_size=256,
            log_retention=log_retention,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            dead_letter_queue=alerts.dead_letters,
        )
        models = sagemaker_arn(self, "model", f"{job_prefix}*")
        self.register_model.add_to_policy(
            iam.PolicyStatement(sid="DescribeOurTrainingJobs", actions=["sagemaker:DescribeTrainingJob"],
                                resources=[training_jobs]),
            iam.PolicyStatement(sid="DescribeOurTuningJobs", actions=["sagemaker:DescribeHyperParameterTuningJob"],
                                resources=[tuning_jobs]),
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
        if self.package_group_name is not None:
            # The model-package resource type is model-package/${ModelPackageName}; a version of a
            # group is named by its group (ModelPackageName = group name) and its ARN adds
            # /<version>: both forms, this group's only (docs/permissions-fixes.md). SageMaker ARNs
            # carry names lowercased, and IAM compares ARNs case-sensitively.
            group = self.package_group_name.lower()
            package = sagemaker_arn(self, "model-package", group)
            versions = sagemaker_arn(self, "model-package", f"{group}/*")
            self.register_model.add_to_policy(
                iam.PolicyStatement(
                    sid="RegisterModelPackageVersions",
                    actions=["sagemaker:CreateModelPackage", "sagemaker:AddTags"],
                    resources=[package, versions],
                ),
                # One Search finds the version a redelivered event already registered.
                iam.PolicyStatement(sid="FindRegisteredVersion", actions=["sagemaker:Search"], resources=["*"]),
            )
            wildcard_reasons[versions] = "versions of this workflow's model package group"
            wildcard_reasons["*"] = ("sagemaker:Search has no resource-level permissions; one call per "
                                     "registration finds the version a redelivered event already made")
        execution.grant_pass_role(self.register_model.role)
        self.register_model.acknowledge_wildcards(wildcard_reasons)

        # Rules: our jobs only, by ARN or name prefix.
        self.labeling_completed = events.Rule(
            self, "LabelingJobCompleted",
            description="Our completed labeling jobs -> StartTraining",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[LABELING_STATE_CHANGE],
                detail={"LabelingJobStatus": ["Completed"]},
                resources=events.Match.prefix(labeling_job_arn_prefix(self, job_prefix)),
            ),
        )
        self.training_state = events.Rule(
            self, "TrainingJobEnded",
            description="Our training jobs that completed, failed or stopped -> RegisterModel",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[TRAINING_STATE_CHANGE],
                detail={"TrainingJobStatus": ["Completed", "Failed", "Stopped"],
                        "TrainingJobName": events.Match.prefix(job_prefix)},
            ),
        )
        self.tuning_state = events.Rule(
            self, "TuningJobEnded",
            description="Our tuning jobs that completed, failed or stopped -> RegisterModel",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[TUNING_STATE_CHANGE],
                detail={"HyperParameterTuningJobStatus": ["Completed", "Failed", "Stopped"],
                        "HyperParameterTuningJobName": events.Match.prefix(job_prefix)},
            ),
        )
        for rule, function in ((self.labeling_completed, self.start_training),
                               (self.training_state, self.register_model),
                               (self.tuning_state, self.register_model)):
            rule.add_target(targets.LambdaFunction(
                function.function, dead_letter_queue=alerts.dead_letters,
                retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE,
            ))

        stack = Stack.of(self)
        CfnOutput(stack, "StartTrainingFunctionName", value=self.start_training.function.function_name)
        CfnOutput(stack, "RegisterModelFunctionName", value=self.register_model.function.function_name)
        CfnOutput(stack, "LabelingCompletedRuleName", value=self.labeling_completed.rule_name)
        CfnOutput(stack, "TrainingEndedRuleName", value=self.training_state.rule_name)
        CfnOutput(stack, "TuningEndedRuleName", value=self.tuning_state.rule_name)
        if self.package_group_name is not None:
            CfnOutput(stack, "ModelPackageGroupName", value=self.package_group_name)
