"""The training step: a completed labeling job of ours -> StartTraining.

EventBridge delivers our completed labeling jobs to StartTraining, which splits the output
manifest and starts the training or tuning job (lambdas/start_training.py). Asynchronous, with
explicit retries and a dead-letter queue; idempotent through deterministic job names. The
algorithm's image (pulled by the execution role) is shared with the model step (stacks/model.py).
"""

from __future__ import annotations

from aws_cdk import Aws, CfnMapping, CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas import job_rules
from lambdas.task_types import Algorithm
from stacks import algorithm_images
from stacks.alerts import LABELING_STATE_CHANGE, Alerts, labeling_job_arn_prefix
from stacks.config import WorkflowConfig
from stacks.data_key import s3_data_key_statement
from stacks.execution_role import SageMakerExecutionRole
from stacks.functions import WorkflowFunction
from stacks.labeling import sagemaker_arn
from stacks.lambda_settings import TRAINING_SETTINGS_VAR, Deployment, training_settings
from stacks.nag import acknowledge

# Async invocations: two retries cover throttling and transient errors; an event older than
# six hours is stale (the operator will have noticed), so it goes to the dead-letter queue.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(6)


class AlgorithmImage:
    """The task type's built-in algorithm image for the deployment region (SDK-generated table),
    and the execution role's right to pull it (SageMaker pulls it as that role to train and host)."""

    def __init__(self, scope: Construct, region: str | None, *, algorithm: Algorithm,
                 execution: SageMakerExecutionRole) -> None:
        if region is not None:
            self.uri = algorithm_images.image_uri(region, algorithm)  # unsupported region -> clear ValueError
            self.repository_arn = algorithm_images.repository_arn(region, algorithm)
        else:
            mapping = CfnMapping(scope, "AlgorithmImages", mapping=algorithm_images.mapping_table(algorithm))
            self.uri = mapping.find_in_map(Aws.REGION, "uri")
            account = mapping.find_in_map(Aws.REGION, "account")
            # The repository is named after the algorithm (Algorithm.name; a unit test checks the table).
            self.repository_arn = f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{account}:repository/{algorithm.name}"
        pull = iam.Policy(scope, "PullAlgorithmImage", roles=[execution.role], statements=[
            iam.PolicyStatement(actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                         "ecr:BatchCheckLayerAvailability"],
                                resources=[self.repository_arn]),
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        ])
        acknowledge(pull, "IAM5", applies_to="Resource::*",
                    reason="ecr:GetAuthorizationToken has no resource-level permissions")


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
        topic_arn = alerts.topic.topic_arn
        self.image = image = AlgorithmImage(self, region, algorithm=config.task.algorithm, execution=execution)

        key_arn = config.bucket.kms_key_arn
        if key_arn and not job_rules.has_local_instance_storage(config.training.instance_type):
            # StartTraining sets ResourceConfig.VolumeKmsKeyId on instance types without local NVMe
            # storage; SageMaker then needs kms:CreateGrant as the execution role (sagemaker-roles:
            # "If you specify a volume KMS key ... add kms:CreateGrant"), for itself only.
            iam.Policy(self, "TrainingVolumeKey", roles=[execution.role], statements=[
                iam.PolicyStatement(actions=["kms:CreateGrant"], resources=[key_arn],
                                    conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            ])

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
        training_jobs = sagemaker_arn(self, "training-job", f"{job_prefix}-*")
        tuning_jobs = sagemaker_arn(self, "hyper-parameter-tuning-job", f"{job_prefix}-*")
        self.start_training.add_to_policy(
            iam.PolicyStatement(sid="DescribeOurLabelingJobs", actions=["sagemaker:DescribeLabelingJob"],
                                resources=[labeling_jobs]),
            # A redelivered event must not start a second job: start_training._job_exists looks first.
            *describe_our_jobs(training_jobs, tuning_jobs),
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

        # Our labeling jobs only, by ARN prefix.
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
        self.labeling_completed.add_target(async_target(self.start_training, alerts))

        stack = Stack.of(self)
        CfnOutput(stack, "StartTrainingFunctionName", value=self.start_training.function.function_name)
        CfnOutput(stack, "LabelingCompletedRuleName", value=self.labeling_completed.rule_name)


def describe_our_jobs(training_jobs: str, tuning_jobs: str) -> list[iam.PolicyStatement]:
    """Describe our training and tuning jobs: one statement per resource type, since the actions x
    resources of a combined statement would also grant DescribeTrainingJob on tuning-job ARNs
    (the permission rehearsal lists such unused grants)."""
    return [
        iam.PolicyStatement(sid="DescribeOurTrainingJobs", actions=["sagemaker:DescribeTrainingJob"],
                            resources=[training_jobs]),
        iam.PolicyStatement(sid="DescribeOurTuningJobs", actions=["sagemaker:DescribeHyperParameterTuningJob"],
                            resources=[tuning_jobs]),
    ]


def async_target(function: WorkflowFunction, alerts: Alerts) -> targets.LambdaFunction:
    """An EventBridge target with the workflow's retry policy and dead-letter queue."""
    return targets.LambdaFunction(function.function, dead_letter_queue=alerts.dead_letters,
                                  retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
