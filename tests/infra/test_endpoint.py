"""Deploy on approval (stacks/endpoint.py): present only with `endpoint.enabled`, exactly the grants the
Deployment function's calls need on this environment's names, rules that match this environment's model
package group and endpoint only (evaluated by EventBridge's own matcher, TestEventPattern on the emulator),
and the same retries, dead-letter queue and error alarm as the other steps."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import tempfile
from typing import Any

import boto3
import pytest

from demo.events import matches, sagemaker_event
from lambdas import deployment
from lambdas.settings import DeploymentSettings
from stacks import endpoint as endpoint_stack
from stacks.app import build_app
from tests.infra.synth import ACCOUNT, CONFIGURATIONS, REGION, context_for, render, synthesize
from tests.permissions.policies import StackInput, resolve
from workflow import outputs

HANDLER = "lambdas.deployment.handler"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
ENABLED = {"workflow.model.register_package": True, "workflow.endpoint.enabled": True}


@functools.cache
def prod_with_endpoint() -> dict[str, Any]:
    """prod (`-c env=prod`: job prefix prod-gt-demo, group prod-models) with the endpoint, in the same account."""
    app = build_app(context_for({**CONFIGURATIONS["prod"][0], **ENABLED}), default_account=ACCOUNT,
                    default_region=REGION, outdir=tempfile.mkdtemp(prefix="cdk-test-endpoint-prod-"))
    return next(s.template for s in app.synth().stacks if s.stack_name.endswith("-Workflow"))


def workflow(config: str) -> dict[str, Any]:
    return prod_with_endpoint() if config == "prod-endpoint" else synthesize(config)["Workflow"]


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def deployment_function(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, v["Properties"]) for k, v in of_type(template, "AWS::Lambda::Function").items()
                if v["Properties"]["Handler"] == HANDLER]
    return found


def deployment_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    _, function = deployment_function(template)
    role = function["Role"]["Fn::GetAtt"][0]
    return [statement for policy in of_type(template, "AWS::IAM::Policy").values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in render(policy["Properties"]["PolicyDocument"]["Statement"])]


def rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rules that target the Deployment function, by logical id."""
    function_id, _ = deployment_function(template)
    return {k: v["Properties"] for k, v in of_type(template, "AWS::Events::Rule").items()
            if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in v["Properties"]["Targets"])}


def rule(template: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [props for key, props in rules(template).items() if key.startswith(f"Endpoint{name}")]
    return found


# --- present only when enabled ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["explicit-env", "prod", "vpc-kms", "default"])
def test_the_default_deploys_nothing_of_it(config: str) -> None:
    template = synthesize(config)["Workflow"]
    text = json.dumps(template)
    assert HANDLER not in text
    assert deployment.PACKAGE_DETAIL_TYPE not in text and deployment.ENDPOINT_DETAIL_TYPE not in text
    assert outputs.ENDPOINT_NAME not in template.get("Outputs", {})
    assert not any("DeploymentErrors" in k for k in of_type(template, "AWS::CloudWatch::Alarm"))


@pytest.mark.parametrize("config", ["endpoint", "endpoint-instance-kms"])
def test_enabled_it_is_one_function_with_its_alarm_outputs_and_rules(config: str) -> None:
    template = workflow(config)
    function_id, function = deployment_function(template)
    assert function["Runtime"] == "python3.14" and function["Timeout"] == 60
    # The text CloudFormation resolves at deploy (the topic and role ARNs), parsed by the Lambda's own reader.
    stacks = [StackInput(f"dev-{suffix}", t) for suffix, t in synthesize(config).items()]
    text = resolve(stacks, "dev-Workflow", function["Environment"]["Variables"][DeploymentSettings.VARIABLE])
    parsed = DeploymentSettings.from_json(text)
    assert (parsed.job_prefix, parsed.package_group_name) == ("gt-demo", "dev-models")
    assert parsed.mode == ("instance" if config == "endpoint-instance-kms" else "serverless")
    assert parsed.kms_key_arn == (KEY if config == "endpoint-instance-kms" else None)
    assert template["Outputs"][outputs.ENDPOINT_NAME]["Value"] == "gt-demo-endpoint"
    assert template["Outputs"][outputs.DEPLOYMENT_FUNCTION]["Value"] == {"Ref": function_id}
    assert (endpoint_stack.ENDPOINT_NAME_OUTPUT, endpoint_stack.DEPLOYMENT_FUNCTION_OUTPUT) == (
        outputs.ENDPOINT_NAME, outputs.DEPLOYMENT_FUNCTION)
    # Failed invocations: retried twice, then the dead-letter queue; errors alarm to the topic.
    invoke_config = [v["Properties"] for v in of_type(template, "AWS::Lambda::EventInvokeConfig").values()
                     if v["Properties"]["FunctionName"] == {"Ref": function_id}]
    assert invoke_config and invoke_config[0]["MaximumRetryAttempts"] == 2
    assert "OnFailure" in invoke_config[0]["DestinationConfig"]
    (alarm,) = [v["Properties"] for k, v in of_type(template, "AWS::CloudWatch::Alarm").items()
                if "DeploymentErrors" in k]
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    assert alarm["AlarmActions"] and alarm["Threshold"] == 0
    # Every rule delivers with the workflow's retry policy and dead-letter queue.
    found = rules(template)
    expected = {"PackageStateChanged", "EndpointStateChanged"} | (
        {"IdleCheck"} if config == "endpoint-instance-kms" else set())
    assert {re.sub(r"^Endpoint|[0-9A-F]{8}$", "", k) for k in found} == expected
    for props in found.values():
        (target,) = props["Targets"]
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 2}
        assert "DeadLetterConfig" in target


def _topic_ids(template: dict[str, Any]) -> list[str]:
    return list(of_type(template, "AWS::SNS::Topic"))


def _queue_id(template: dict[str, Any]) -> str:
    (queue,) = of_type(template, "AWS::SQS::Queue")
    return queue


def test_the_idle_rule_runs_on_a_schedule_in_instance_mode_only() -> None:
    idle = rule(workflow("endpoint-instance-kms"), "IdleCheck")
    assert idle["ScheduleExpression"] == "rate(30 minutes)"  # half of the default 60 idle minutes
    assert endpoint_stack.idle_check_minutes(10) == 5 and endpoint_stack.idle_check_minutes(1440) == 60


# --- exactly the grants the handler's calls need -----------------------------------------------------------


def arn(resource: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{resource}"


SERVERLESS_GRANTS = {
    ("ReadOurPackageVersions", ("sagemaker:DescribeModelPackage",), (arn("model-package/dev-models/*"),)),
    ("CreateOurModels", ("sagemaker:AddTags", "sagemaker:CreateModel"), (arn("model/gt-demo-model-v*"),)),
    ("ReadAndRetireOurModels", ("sagemaker:DeleteModel", "sagemaker:DescribeModel"), (arn("model/gt-demo-model-v*"),)),
    ("CreateOurEndpointConfigs", ("sagemaker:AddTags", "sagemaker:CreateEndpointConfig"),
     (arn("endpoint-config/gt-demo-v*"),)),
    ("ReadAndRetireOurEndpointConfigs", ("sagemaker:DeleteEndpointConfig", "sagemaker:DescribeEndpointConfig"),
     (arn("endpoint-config/gt-demo-v*"),)),
    ("ServeOurEndpoint", ("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"),
     (arn("endpoint-config/gt-demo-v*"), arn("endpoint/gt-demo-endpoint"))),
    ("ManageOurEndpoint", ("sagemaker:AddTags", "sagemaker:DeleteEndpoint", "sagemaker:DescribeEndpoint"),
     (arn("endpoint/gt-demo-endpoint"),)),
    ("FindOurEndpointConfigs", ("sagemaker:ListEndpointConfigs",), ("*",)),
}
INSTANCE_GRANTS = {
    ("ReadInvocationMetrics", ("cloudwatch:GetMetricStatistics",), ("*",)),
    ("EndpointVolumeKey", ("kms:CreateGrant",), (KEY,)),
}


def grants(statements: list[dict[str, Any]]) -> set[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    def listed(value: Any) -> tuple[str, ...]:
        return tuple(sorted(value if isinstance(value, list) else [value]))

    return {(s.get("Sid", ""), listed(s["Action"]), listed(s["Resource"])) for s in statements}


@pytest.mark.parametrize(("config", "expected"), [
    ("endpoint", SERVERLESS_GRANTS),
    ("endpoint-instance-kms", SERVERLESS_GRANTS | INSTANCE_GRANTS),
])
def test_the_role_is_granted_exactly_the_calls_the_handler_makes(config: str,
                                                                 expected: set[tuple[str, ...]]) -> None:
    statements = deployment_statements(workflow(config))
    found = grants(statements)
    # The statements without a Sid: its own log group (WorkflowFunction), failed invocations to the dead-letter
    # queue (CDK's on-failure destination) and passing the execution role.
    logs = {g for g in found if g[1] == ("logs:CreateLogStream", "logs:PutLogEvents")}
    dead_letters = {("", ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"),
                     (f"<{_queue_id(workflow(config))}.Arn>",))}
    pass_role = [s for s in statements if s["Action"] == "iam:PassRole"]
    alert = {g for g in found if g[0] == "Alert"}
    assert len(logs) == 1 and next(iter(logs))[2][0].startswith("<EndpointDeploymentLogs")
    assert alert == {("Alert", ("sns:Publish",), (f"<{_topic_ids(workflow(config))[0]}>",))}
    assert len(pass_role) == 1
    assert pass_role[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert "SageMakerExecutionRole" in pass_role[0]["Resource"]
    assert dead_letters <= found
    assert found - logs - alert - dead_letters - grants(pass_role) == expected
    volume_key = [s for s in statements if s.get("Sid") == "EndpointVolumeKey"]
    for statement in volume_key:
        assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_no_volume_key_grant_where_the_config_sends_no_key() -> None:
    """Serverless takes no key; an instance type with local NVMe storage gets none (lambdas/deployment.py)."""
    config = {**ENABLED, "workflow.endpoint.mode": "instance", "workflow.endpoint.instance_type": "ml.m5d.large",
              "workflow.bucket.kms_key_arn": KEY}
    app = build_app(context_for(config), default_account=ACCOUNT, default_region=REGION,
                    outdir=tempfile.mkdtemp(prefix="cdk-test-endpoint-m5d-"))
    template = next(s.template for s in app.synth().stacks if s.stack_name.endswith("-Workflow"))
    assert "kms:CreateGrant" not in json.dumps(deployment_statements(template))
    assert "kms:CreateGrant" not in json.dumps(deployment_statements(workflow("endpoint")))


def test_the_granted_name_patterns_cover_every_name_the_function_derives_and_no_other_environments() -> None:
    """The IAM wildcards against lambdas/deployment.py's names: ours (any version, either variant) match;
    prod's (same account), RegisterModel's model names and a foreign endpoint do not."""
    resources = {r for s in deployment_statements(workflow("endpoint")) if s.get("Sid")
                 for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
                 if r.startswith(arn(""))}

    def granted(resource: str) -> bool:
        return any(fnmatch.fnmatchcase(arn(resource), pattern) for pattern in resources)

    base = {"region": REGION, "account": ACCOUNT, "role_arn": f"arn:aws:iam::{ACCOUNT}:role/Exec",
            "tags": {}, "task_type": "image-classification", "package_group_name": "dev-models",
            "topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts", "memory_mb": 6144, "max_concurrency": 200,
            "instance_type": "ml.p6e-gb200.36xlarge", "idle_minutes": 60}
    for prefix, ours in (("gt-demo", True), ("prod-gt-demo", False)):
        for mode in ("serverless", "instance"):
            s = DeploymentSettings.from_mapping({**base, "job_prefix": prefix, "mode": mode})
            for version in (1, 999_999_999):
                assert granted(f"model/{deployment.model_name(s, version)}") is ours
                assert granted(f"endpoint-config/{deployment.endpoint_config_name(s, version)}") is ours
            assert granted(f"endpoint/{deployment.endpoint_name(s)}") is ours
    assert not granted("model/gt-demo-20261130-101500")  # RegisterModel's models are not the deployment's
    assert not granted("endpoint/gt-demo-endpoint-2")
    assert granted("model-package/dev-models/7") and not granted("model-package/prod-models/7")


# --- the rules match this environment only (EventBridge's matcher on the emulator) -------------------------


@pytest.fixture(scope="module")
def events_client(emulator: Any) -> Any:
    return boto3.client("events", endpoint_url=emulator.endpoint_url, region_name=REGION)


def package_event(group: str, version: int = 3, approval: str = "Approved", *, spelled: str | None = None,
                  account: str = ACCOUNT) -> dict[str, Any]:
    """AWS's "SageMaker Model Package State Change" example, for `group` (`spelled`: as the detail names it)."""
    package = f"arn:aws:sagemaker:{REGION}:{account}:model-package/{group.lower()}/{version}"
    return sagemaker_event(deployment.PACKAGE_DETAIL_TYPE, {
        "ModelPackageGroupName": spelled or group, "ModelPackageVersion": version, "ModelPackageArn": package,
        "CreationTime": "2026-11-30T10:15:00Z", "ModelPackageStatus": "Completed", "ModelApprovalStatus": approval,
    }, [package], account=account)


def endpoint_event(name: str, status: str = "IN_SERVICE") -> dict[str, Any]:
    endpoint = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"
    return sagemaker_event(deployment.ENDPOINT_DETAIL_TYPE, {
        "EndpointName": name, "EndpointArn": endpoint, "EndpointConfigName": f"{name}-config",
        "EndpointStatus": status, "CreationTime": 1_700_000_000_000, "LastModifiedTime": 1_700_000_000_000,
    }, [endpoint])


def test_the_package_rule_matches_our_groups_approval_changes_only(events_client: Any) -> None:
    dev = rule(workflow("endpoint"), "PackageStateChanged")
    prod = rule(workflow("prod-endpoint"), "PackageStateChanged")
    for approval in ("Approved", "Rejected", "PendingManualApproval"):
        assert matches(events_client, dev["EventPattern"], package_event("dev-models", approval=approval))
    assert matches(events_client, dev["EventPattern"], package_event("dev-models", spelled="Dev-Models"))
    assert not matches(events_client, dev["EventPattern"], package_event("prod-models"))
    assert not matches(events_client, dev["EventPattern"], package_event("dev-models-2"))
    assert matches(events_client, prod["EventPattern"], package_event("prod-models"))
    assert not matches(events_client, prod["EventPattern"], package_event("dev-models"))
    training = sagemaker_event("SageMaker Training Job State Change", {"ModelPackageGroupName": "dev-models"}, [])
    assert not matches(events_client, dev["EventPattern"], training)


def test_the_endpoint_rule_matches_our_endpoint_only(events_client: Any) -> None:
    dev, prod = rule(workflow("endpoint"), "EndpointStateChanged"), rule(workflow("prod-endpoint"),
                                                                         "EndpointStateChanged")
    for status in ("IN_SERVICE", "FAILED", "UPDATING", "InService"):
        assert matches(events_client, dev["EventPattern"], endpoint_event("gt-demo-endpoint", status))
    assert not matches(events_client, dev["EventPattern"], endpoint_event("prod-gt-demo-endpoint"))
    assert not matches(events_client, dev["EventPattern"], endpoint_event("gt-demo-endpoint-2"))
    assert matches(events_client, prod["EventPattern"], endpoint_event("prod-gt-demo-endpoint"))
    assert not matches(events_client, prod["EventPattern"], endpoint_event("gt-demo-endpoint"))
    assert render(prod_with_endpoint()["Outputs"][outputs.ENDPOINT_NAME]["Value"]) == "prod-gt-demo-endpoint"
