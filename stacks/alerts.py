"""Where failures go: an SNS topic for people, an SQS dead-letter queue for lost events."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import WorkflowConfig
from stacks.labeling import sagemaker_arn
from stacks.nag import acknowledge

LABELING_STATE_CHANGE = "SageMaker Ground Truth Labeling Job State Change"


def labeling_job_arn_prefix(scope: Construct, job_prefix: str) -> str:
    """Our labeling jobs in this account and region (other teams' jobs never match)."""
    return sagemaker_arn(scope, "labeling-job", job_prefix)


class Alerts(Construct):
    def __init__(self, scope: Construct, id_: str, *, config: WorkflowConfig) -> None:
        super().__init__(scope, id_)
        self.topic = sns.Topic(self, "Topic", display_name="SageMaker labeling-to-training alerts", enforce_ssl=True)
        acknowledge(self.topic.node.default_child, "SNS2", reason=(
            "alerts carry job names and failure reasons, no data; EventBridge cannot publish to a topic "
            "encrypted with the AWS-managed SNS key, and a customer-managed key costs money while idle"))
        if config.alerts.email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alerts.email))

        # Failed asynchronous invocations (after their retries) and undeliverable events.
        self.dead_letters = sqs.Queue(
            self, "DeadLetters",
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(self.dead_letters.node.default_child, "SQS3", reason=(
            "this queue is itself the dead-letter destination of the workflow's Lambda functions and rules"))

        # Labeling that ends without a completed job: tell people, nothing to start.
        self.labeling_failed = events.Rule(
            self, "LabelingJobFailedOrStopped",
            description="Our labeling jobs that failed or were stopped -> alerts topic",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[LABELING_STATE_CHANGE],
                detail={"LabelingJobStatus": ["Failed", "Stopped"]},
                resources=events.Match.prefix(labeling_job_arn_prefix(self, config.labeling.job_prefix)),
            ),
        )
        self.labeling_failed.add_target(targets.SnsTopic(
            self.topic,
            message=events.RuleTargetInput.from_text(
                f"Labeling job {events.EventField.from_path('$.resources[0]')} is "
                f"{events.EventField.from_path('$.detail.LabelingJobStatus')}: no training was started."),
            dead_letter_queue=self.dead_letters,
        ))
        CfnOutput(Stack.of(self), "AlertsTopicArn", value=self.topic.topic_arn,
                  description="Subscribe to be told about failed or skipped steps")
        CfnOutput(Stack.of(self), "DeadLetterQueueUrl", value=self.dead_letters.queue_url,
                  description="Events and invocations that failed after their retries")
