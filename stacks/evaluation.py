"""The evaluation step: a model's evaluation transform ended -> the Evaluation function.

RegisterModel starts a batch transform of each new model over its validation split (stacks/model.py,
lambdas/evaluation_job.py). EventBridge delivers the end of those transform jobs, and only those, to
the Evaluation function, which writes metrics.json and report.html and registers the model package
with its metrics, or alerts (lambdas/evaluate_model.py). Asynchronous, with explicit retries and a
dead-letter queue like the other steps. Only deployed with `evaluation.enabled`.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.evaluation_job import EVALUATION_FOLDER
from stacks.alerts import Alerts
from stacks.config import WorkflowConfig
from stacks.data_key import s3_data_key_statement
from stacks.execution_role import prefix_list_condition
from stacks.functions import WorkflowFunction
from stacks.labeling import sagemaker_arn
from stacks.lambda_settings import EVALUATION_SETTINGS_VAR, Deployment, evaluation_settings
from stacks.model import model_package_statements
from stacks.training import MAX_EVENT_AGE, RETRY_ATTEMPTS, async_target

TRANSFORM_STATE_CHANGE = "SageMaker Transform Job State Change"


class ModelEvaluation(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: WorkflowConfig,
        deployment: Deployment,
        bucket: s3.IBucket,
        alerts: Alerts,
        log_retention: logs.RetentionDays,
        package_group_name: str | None,
    ) -> None:
        super().__init__(scope, id_)
        job_prefix, prefix = config.labeling.job_prefix, config.prefix
        topic_arn = alerts.topic.topic_arn
        self.function = WorkflowFunction(
            self, "Evaluate",
            handler="lambdas.evaluate_model.handler",
            description="Measures a new model on its validation split (the evaluation transform's outputs), writes "
                        "metrics and report, registers the model package; alerts on failures",
            settings_var=EVALUATION_SETTINGS_VAR,
            settings=evaluation_settings(config, deployment, topic_arn=topic_arn,
                                         package_group_name=package_group_name),
            # Reads one small output per validation image (up to 20,000, ten at a time) and writes two
            # files: well under a minute; the margin covers S3 throttling and retries.
            timeout=Duration.minutes(10),
            memory_size=1024,
            log_retention=log_retention,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            dead_letter_queue=alerts.dead_letters,
        )
        transform_jobs = sagemaker_arn(self, "transform-job", f"{job_prefix}-*")
        data = bucket.arn_for_objects(f"{prefix}/*")
        evaluations = bucket.arn_for_objects(f"{prefix}/{EVALUATION_FOLDER}/*")
        self.function.add_to_policy(
            iam.PolicyStatement(sid="DescribeOurEvaluations", actions=["sagemaker:DescribeTransformJob"],
                                resources=[transform_jobs]),
            # The transform's outputs: listed, so an output for no object and a missing one are both told.
            iam.PolicyStatement(sid="ListEvaluationOutputs", actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                conditions=prefix_list_condition(f"{prefix}/{EVALUATION_FOLDER}")),
            # inputs.json, the outputs, the split with its label map and summary; and the images, which may be
            # anywhere under the prefix: the report's image links are pre-signed with this role's credentials,
            # and a pre-signed URL only works for what its signer may read.
            iam.PolicyStatement(sid="ReadEvaluationInputsAndImages", actions=["s3:GetObject"], resources=[data]),
            iam.PolicyStatement(sid="WriteMetricsAndReport", actions=["s3:PutObject"], resources=[evaluations]),
            iam.PolicyStatement(sid="Alert", actions=["sns:Publish"], resources=[topic_arn]),
        )
        wildcard_reasons = {
            transform_jobs: f"evaluation transform jobs named from our training jobs (prefix {job_prefix})",
            data: "read-only: the evaluation's inputs and the images under the data prefix (the report's pre-signed "
                  "image links are signed by this role; StartLabeling takes images from anywhere under the prefix)",
            evaluations: "one folder per model evaluation",
        }
        if config.bucket.kms_key_arn:
            self.function.add_to_policy(s3_data_key_statement(self, config.bucket.kms_key_arn))
        if package_group_name is not None:
            models = sagemaker_arn(self, "model", f"{job_prefix}-*")
            statements, reasons = model_package_statements(self, package_group_name)
            self.function.add_to_policy(
                # The package holds what was evaluated: the model's image and artifact (evaluate_model._register).
                iam.PolicyStatement(sid="DescribeOurModels", actions=["sagemaker:DescribeModel"], resources=[models]),
                *statements,
            )
            wildcard_reasons.update(reasons)
            wildcard_reasons[models] = f"models named from our training jobs (prefix {job_prefix})"
        self.function.acknowledge_wildcards(wildcard_reasons)

        # Our evaluations only: the job prefix and the evaluation's output folder. Other transform jobs of the
        # prefix (`workflow predict --batch`) write elsewhere and never reach the function.
        self.transform_ended = events.Rule(
            self, "TransformJobEnded",
            description="Our evaluation transform jobs that completed, failed or stopped -> Evaluation",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[TRANSFORM_STATE_CHANGE],
                detail={
                    "TransformJobStatus": ["Completed", "Failed", "Stopped"],
                    "TransformJobName": events.Match.prefix(f"{job_prefix}-"),
                    "TransformOutput": {"S3OutputPath": events.Match.prefix(
                        f"s3://{bucket.bucket_name}/{prefix}/{EVALUATION_FOLDER}/")},
                },
            ),
        )
        self.transform_ended.add_target(async_target(self.function, alerts))

        stack = Stack.of(self)
        CfnOutput(stack, "EvaluationFunctionName", value=self.function.function.function_name)
        CfnOutput(stack, "TransformEndedRuleName", value=self.transform_ended.rule_name)
