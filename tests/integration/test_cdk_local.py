"""The real CDK CLI deploys (and updates) a throwaway app on the local emulator.

The app lives in the test's tmp_path and uses the resource types the project's stacks use,
so a CLI or moto upgrade that breaks local deploys fails here, independently of the stacks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from demo import events
from demo.cdk_local import CDK_CLI, deploy_to_emulator
from demo.emulator import Emulator, held_deliveries, running_emulator

pytestmark = [
    pytest.mark.integration,
    # From bootstrapping: moto skips the CDK staging bucket's policy (a known, harmless gap).
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.S3.BucketPolicy:UserWarning"),
    pytest.mark.skipif(not CDK_CLI.exists(), reason=f"{CDK_CLI} missing: run `npm ci`"),
]

THROWAWAY_APP = """\
import os
import pathlib

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

app = cdk.App()
local = app.node.try_get_context("local_emulator") == "true"
stack = cdk.Stack(
    app,
    "Throwaway",
    synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=not local),
    env=cdk.Environment(account=os.environ["CDK_DEFAULT_ACCOUNT"], region=os.environ["CDK_DEFAULT_REGION"]),
)
bucket = s3.Bucket(stack, "Data", bucket_name="sagemaker-throwaway-data")
role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
bucket.grant_read_write(role)
function = lambda_.Function(
    stack,
    "Handler",
    runtime=lambda_.Runtime.PYTHON_3_12,
    handler="index.handler",
    code=lambda_.Code.from_asset(str(pathlib.Path(__file__).parent / "handler")),
    environment={"RELEASE": app.node.try_get_context("release") or "1"},
)
rule = events.Rule(
    stack,
    "LabelingJobCompleted",
    event_pattern=events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=["SageMaker Ground Truth Labeling Job State Change"],
        detail={"LabelingJobStatus": ["Completed"]},
    ),
)
rule.add_target(targets.LambdaFunction(function))
queue = sqs.Queue(stack, "Queue")
topic = sns.Topic(stack, "Topic")
cdk.CfnOutput(stack, "BucketName", value=bucket.bucket_name)
cdk.CfnOutput(stack, "FunctionName", value=function.function_name)
cdk.CfnOutput(stack, "RuleName", value=rule.rule_name)
cdk.CfnOutput(stack, "QueueUrl", value=queue.queue_url)
cdk.CfnOutput(stack, "TopicArn", value=topic.topic_arn)
cdk.CfnOutput(stack, "RoleArn", value=role.role_arn)
app.synth()
"""


# moto's state is per process, shared with the session emulator: deploy to a region the
# other tests do not use, and delete the stacks afterwards, so that this test's rule (with its
# Lambda target) never sees their events.
REGION = "eu-west-1"


@pytest.fixture
def own_emulator() -> Iterator[Emulator]:
    with running_emulator() as emulator:
        try:
            yield emulator
        finally:
            cloudformation = client(emulator, "cloudformation")
            for stack in ("Throwaway", "CDKToolkit"):
                with contextlib.suppress(ClientError):
                    cloudformation.delete_stack(StackName=stack)


@pytest.fixture
def throwaway_app(tmp_path: Path) -> Path:
    (tmp_path / "handler").mkdir()
    (tmp_path / "handler" / "index.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "app.py").write_text(THROWAWAY_APP)
    return tmp_path


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, endpoint_url=emulator.endpoint_url, region_name=REGION)


def test_bootstrap_deploy_diff_and_update(own_emulator: Emulator, throwaway_app: Path) -> None:
    first = deploy_to_emulator(throwaway_app, own_emulator.endpoint_url, region=REGION)

    assert list(first.timings) == ["synth", "bootstrap", "deploy", "diff"]
    assert first.stacks == ("Throwaway",)
    assert first.skipped == ()  # --no-version-reporting: no AWS::CDK::Metadata for moto to skip
    outputs = first.outputs["Throwaway"]
    assert outputs["BucketName"] == "sagemaker-throwaway-data"
    lambda_client = client(own_emulator, "lambda")
    function = lambda_client.get_function(FunctionName=outputs["FunctionName"])["Configuration"]
    assert function["Environment"]["Variables"] == {"RELEASE": "1"}
    assert client(own_emulator, "s3").head_bucket(Bucket=outputs["BucketName"])
    assert client(own_emulator, "iam").get_role(RoleName=outputs["RoleArn"].split("/")[-1])
    events_client = client(own_emulator, "events")
    targets = events_client.list_targets_by_rule(Rule=outputs["RuleName"])["Targets"]
    assert [t["Arn"].split(":")[-1] for t in targets] == [outputs["FunctionName"]]
    # The deployed rule's pattern decides delivery, through TestEventPattern.
    completed = events.labeling_job_state_change("vehicles-1", region=REGION)
    assert events.deliver(events_client, outputs["RuleName"], completed, lambda e, c: None)
    failed = events.labeling_job_state_change("vehicles-1", "Failed", region=REGION)
    assert not events.deliver(events_client, outputs["RuleName"], failed, lambda e, c: None)
    # PutEvents to a rule with a Lambda target: moto cannot invoke it; the emulator holds it.
    held_deliveries(clear=True)
    entries = [events.put_event_entry(completed), events.put_event_entry(failed)]
    assert events_client.put_events(Entries=entries)["FailedEntryCount"] == 0
    held = held_deliveries(clear=True)
    assert [(h.target_arn, h.event["detail"]) for h in held] == [
        (function["FunctionArn"], {"LabelingJobStatus": "Completed"})
    ]

    # An update: needs the bootstrap-version rule left out (context local_emulator=true).
    second = deploy_to_emulator(
        throwaway_app, own_emulator.endpoint_url, region=REGION, bootstrap=False, context={"release": "2"}
    )

    assert list(second.timings) == ["synth", "deploy", "diff"]
    function = lambda_client.get_function(FunctionName=outputs["FunctionName"])["Configuration"]
    assert function["Environment"]["Variables"] == {"RELEASE": "2"}
    assert second.outputs["Throwaway"]["FunctionName"] == outputs["FunctionName"]
