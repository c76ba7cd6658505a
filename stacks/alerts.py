"""Where failures go: an SNS topic for people, an SQS dead-letter queue for lost events."""

from __future__ import annotations

import sys

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import ConfigError, WorkflowConfig
from stacks.labeling import sagemaker_arn
from stacks.nag import acknowledge, skip_checkov

LABELING_STATE_CHANGE = "SageMaker Ground Truth Labeling Job State Change"
# Alarms: one 5-minute period, breaching above 0 (docs/alerts.md).
ALARM_PERIOD = Duration.minutes(5)
NO_SUBSCRIBER = (
    "workflow.alerts has no subscriber: set workflow.alerts.email (an address to confirm) or "
    "workflow.alerts.topic_arn (an existing SNS topic), e.g. -c workflow.alerts.email=ml-team@example.com"
)


def check_subscriber(config: WorkflowConfig) -> None:
    """Refuse (require_subscriber: prod) or warn on stderr (dev) when nobody would receive an alert."""
    if config.alerts.has_subscriber:
        return
    if config.alerts.require_subscriber:
        raise ConfigError([f"{NO_SUBSCRIBER}. Environment {config.env_name!r} sets "
                           "workflow.alerts.require_subscriber = true: failures must reach a person."])
    print(f"warning: {NO_SUBSCRIBER}. Alerts of {config.env_name!r} go to a topic nobody reads.", file=sys.stderr)


def labeling_job_arn_prefix(scope: Construct, job_prefix: str) -> str:
    """Our labeling jobs in this account and region: `<job_prefix>-…`, with the '-', so that neither another
    team's jobs nor another environment's (`gt-demo2-…` beside `gt-demo-…`) match."""
    return sagemaker_arn(scope, "labeling-job", f"{job_prefix}-")


class Alerts(Construct):
    def __init__(self, scope: Construct, id_: str, *, config: WorkflowConfig) -> None:
        super().__init__(scope, id_)
        check_subscriber(config)
        # Alarm names start with the stack's name: the topic policy admits exactly these alarms.
        self._alarm_prefix = f"{Stack.of(self).stack_name}-"
        self.managed_topic: sns.Topic | None = None
        if config.alerts.topic_arn:
            # An existing topic: its policy is its owner's to write (docs/alerts.md lists what to admit).
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "Topic", config.alerts.topic_arn)
        else:
            self.managed_topic = sns.Topic(self, "Topic", display_name="SageMaker labeling-to-training alerts",
                                           enforce_ssl=True)
            self.topic = self.managed_topic
        if self.managed_topic is not None:
            skip_checkov(self.managed_topic, "CKV_AWS_26", "EventBridge can publish only to a topic encrypted with "
                         "a customer-managed key, which costs money while idle; alerts carry job names, no data")
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
        skip_checkov(self.dead_letters, "CKV_AWS_27", "encrypted with SSE-SQS (SqsManagedSseEnabled: true); "
                     "CKV_AWS_27 recognises only KmsMasterKeyId")
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
            # By reference: given the topic itself, CDK would admit events.amazonaws.com without any
            # condition. `_admit_services` adds the conditioned statement instead.
            sns.Topic.from_topic_arn(self, "TopicForRules", self.topic.topic_arn),
            message=events.RuleTargetInput.from_text(
                f"Labeling job {events.EventField.from_path('$.resources[0]')} is "
                f"{events.EventField.from_path('$.detail.LabelingJobStatus')}: no training was started."),
            dead_letter_queue=self.dead_letters,
        ))
        self._admit_services()
        self.dead_letters_alarm = self._alarm(
            "DeadLettersVisible",
            self.dead_letters.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD, statistic="Maximum"),
            "Events or invocations failed after their retries and wait in the dead-letter queue",
        )
        CfnOutput(Stack.of(self), "AlertsTopicArn", value=self.topic.topic_arn,
                  description="Subscribe to be told about failed or skipped steps")
        CfnOutput(Stack.of(self), "DeadLetterQueueUrl", value=self.dead_letters.queue_url,
                  description="Events and invocations that failed after their retries")

    def alarm_on_errors(self, label: str, function: lambda_.IFunction) -> cloudwatch.Alarm:
        """Alarm to the topic when `function` reports an error (Errors > 0 in 5 minutes)."""
        return self._alarm(
            f"{label}Errors",
            function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
            f"{label} failed (an unhandled error or a timeout); see its log group",
        )

    def _alarm(self, id_: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, id_,
            alarm_name=f"{self._alarm_prefix}{id_}",
            alarm_description=description,
            metric=metric,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            # No data points (no invocations, an empty queue) is not a failure.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        return alarm

    def _admit_services(self) -> None:
        """The topic policy: CloudWatch (our alarms) and EventBridge (our rule) may publish, each only
        for this account and these sources (confused-deputy protection; docs/alerts.md)."""
        if self.managed_topic is None:
            return
        stack = Stack.of(self)
        account = stack.account
        self.managed_topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AlarmsOfThisStack",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[self.managed_topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": (f"arn:{stack.partition}:cloudwatch:{stack.region}:{account}:alarm:"
                                              f"{self._alarm_prefix}*")},
            },
        ))
        self.managed_topic.add_to_resource_policy(iam.PolicyStatement(
            sid="RulesOfThisStack",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[self.managed_topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": account},
                "ArnEquals": {"aws:SourceArn": self.labeling_failed.rule_arn},
            },
        ))
