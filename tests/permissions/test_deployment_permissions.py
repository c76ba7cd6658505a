"""The Deployment function's role against the exact requests its handler sends, offline.

The demo's configuration leaves `endpoint.enabled` false, so the end-to-end rehearsal
(tests/integration/test_demo.py) never runs the Deployment function. Here its handler runs each of its
paths with every AWS call answered by botocore's Stubber (responses checked against botocore's model),
recorded by the rehearsal's CallRecorder as made with the Deployment role, mapped to IAM requests by
call_map.json's rows, and evaluated by the rehearsal's evaluator against the synthesized policies of a
configuration with `endpoint.enabled` and `model.register_package` (serverless; and one real-time instance
with the idle rule and an SSE-KMS data bucket):

- approve the first version (CreateModel, CreateEndpointConfig, CreateEndpoint), approve a newer one
  (UpdateEndpoint), the InService event that retires the previous config and model, reject the served
  version (DeleteEndpoint, DeleteEndpointConfig, DeleteModel), the idle rule (GetMetricStatistics,
  DeleteEndpoint), a version below the accuracy floor (refused, alerted) and a Failed endpoint (alerted).

Every request must be allowed, every grant of the role must be used by one of them (least privilege: no
grant without a call), and removing any one grant must deny exactly the requests that need it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.stub import Stubber

from lambdas import aws_clients, deployment
from lambdas.settings import DeploymentSettings
from stacks.config import load_config
from tests.infra.synth import ACCOUNT, CONFIGURATIONS, REGION, context_for, synthesize
from tests.permissions.policies import Policies, StackInput, load_policies, resolve
from tests.permissions.rehearsal import (
    Call,
    CallRecorder,
    Evaluation,
    IamRequest,
    evaluate,
    iam_requests,
    unused_grants,
)
from tests.permissions.rehearsal_checks import without_action
from workflow import local

CONFIGS = ("endpoint", "endpoint-instance-kms")
ROLE_LABEL = "EndpointDeploymentRole"
NOW = datetime.now(UTC)
# Not calls of the handler: Lambda writes the function's logs, and sends a failed asynchronous invocation to
# its on-failure destination, with the role (the end-to-end rehearsal covers both for every function).
NOT_HANDLER_CALLS = ("logs:", "sqs:")


@dataclass(frozen=True)
class Deployed:
    stacks: list[StackInput]
    policies: Policies
    role: str
    settings_text: str
    settings: DeploymentSettings


@functools.cache
def deployed(config: str) -> Deployed:
    env = load_config(context_for(CONFIGURATIONS[config][0]), default_account=ACCOUNT, default_region=REGION).env_name
    stacks = [StackInput(f"{env}-{suffix}", template) for suffix, template in synthesize(config).items()]
    policies = load_policies(stacks)
    workflow = next(s for s in stacks if s.name.endswith("-Workflow"))
    [function] = [r["Properties"] for r in workflow.template["Resources"].values()
                  if r["Type"] == "AWS::Lambda::Function"
                  and r["Properties"]["Handler"] == "lambdas.deployment.handler"]
    text = resolve(stacks, workflow.name, function["Environment"]["Variables"][deployment.SETTINGS_VARIABLE])
    return Deployed(stacks, policies, policies.role("Workflow", ROLE_LABEL), text, DeploymentSettings.from_json(text))


# --- the handler's paths, every call stubbed ---------------------------------------------------------------


class Aws:
    """Stubbed clients the handler gets from aws_clients (created while the recorder records)."""

    def __init__(self) -> None:
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        self.sm, self.topic, self.cw = Stubber(self.sagemaker), Stubber(self.sns), Stubber(self.cloudwatch)

    def missing(self, operation: str) -> None:
        self.sm.add_client_error(operation, "ValidationException", "Could not find it.")

    def ok(self, operation: str, response: dict[str, Any] | None = None) -> None:
        self.sm.add_response(operation, response or {})


def package(s: DeploymentSettings, version: int, approval: str, **properties: str) -> dict[str, Any]:
    arn = package_arn(s, version)
    described = {"ModelPackageName": s.package_group_name, "ModelPackageGroupName": s.package_group_name,
                 "ModelPackageVersion": version, "ModelPackageArn": arn, "CreationTime": NOW,
                 "ModelPackageStatus": "Completed", "ModelPackageStatusDetails": {"ValidationStatuses": []},
                 "ModelApprovalStatus": approval}
    return {**described, "CustomerMetadataProperties": properties} if properties else described


def package_arn(s: DeploymentSettings, version: int) -> str:
    return f"arn:aws:sagemaker:{s.region}:{s.account}:model-package/{s.package_group_name.lower()}/{version}"


def package_event(s: DeploymentSettings, version: int, approval: str) -> dict[str, Any]:
    return {"detail-type": deployment.PACKAGE_DETAIL_TYPE, "source": "aws.sagemaker",
            "detail": {"ModelPackageArn": package_arn(s, version), "ModelPackageGroupName": s.package_group_name,
                       "ModelApprovalStatus": approval, "ModelPackageStatus": "Completed"}}


def endpoint(s: DeploymentSettings, version: int, status: str = "InService", *, changed: datetime) -> dict[str, Any]:
    variant: dict[str, Any] = {"VariantName": deployment.VARIANT_NAME}
    if s.mode == deployment.SERVERLESS:
        variant["CurrentServerlessConfig"] = {"MemorySizeInMB": s.memory_mb, "MaxConcurrency": s.max_concurrency}
    else:
        variant.update(CurrentInstanceCount=1, DesiredInstanceCount=1)
    return {"EndpointName": deployment.endpoint_name(s), "EndpointArn": "arn:aws:sagemaker:x:1:endpoint/e",
            "EndpointConfigName": deployment.endpoint_config_name(s, version), "ProductionVariants": [variant],
            "EndpointStatus": status, "CreationTime": NOW - timedelta(days=2), "LastModifiedTime": changed,
            **({"FailureReason": "the container did not answer /ping"} if status == "Failed" else {})}


def configs(aws: Aws, s: DeploymentSettings, *versions: int) -> None:
    described = [{"EndpointConfigName": deployment.endpoint_config_name(s, v),
                  "EndpointConfigArn": f"arn:aws:sagemaker:{s.region}:{s.account}:endpoint-config/c{v}",
                  "ProductionVariants": [{"VariantName": deployment.VARIANT_NAME,
                                          "ModelName": deployment.model_name(s, v)}],
                  "CreationTime": NOW - timedelta(days=3 - i)} for i, v in enumerate(versions)]
    aws.ok("list_endpoint_configs", {"EndpointConfigs": [
        {k: d[k] for k in ("EndpointConfigName", "EndpointConfigArn", "CreationTime")} for d in described]})
    for d in described:
        aws.ok("describe_endpoint_config", d)


def create_all(aws: Aws, s: DeploymentSettings, version: int) -> None:
    """Model and endpoint config of `version` do not exist yet: looked up, then created."""
    aws.missing("describe_model")
    aws.ok("create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"})
    aws.missing("describe_endpoint_config")
    aws.ok("create_endpoint_config",
           {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c"})


def approve_first(aws: Aws, s: DeploymentSettings) -> dict[str, Any]:
    aws.ok("describe_model_package", package(s, 3, "Approved"))
    aws.missing("describe_endpoint")
    create_all(aws, s, 3)
    aws.ok("create_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"})
    return package_event(s, 3, "Approved")


def approve_newer(aws: Aws, s: DeploymentSettings) -> dict[str, Any]:
    aws.ok("describe_model_package", package(s, 4, "Approved"))
    aws.ok("describe_endpoint", endpoint(s, 3, changed=NOW - timedelta(days=1)))
    create_all(aws, s, 4)
    aws.ok("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"})
    return package_event(s, 4, "Approved")


def in_service(aws: Aws, s: DeploymentSettings) -> dict[str, Any]:
    aws.ok("describe_endpoint", endpoint(s, 4, changed=NOW - timedelta(minutes=5)))
    configs(aws, s, 3, 4)
    aws.ok("delete_endpoint_config")
    aws.ok("delete_model")
    return {"detail-type": deployment.ENDPOINT_DETAIL_TYPE,
            "detail": {"EndpointName": deployment.endpoint_name(s), "EndpointStatus": "IN_SERVICE"}}


def reject_served(aws: Aws, s: DeploymentSettings) -> dict[str, Any]:
    aws.ok("describe_model_package", package(s, 4, "Rejected"))
    aws.ok("describe_endpoint", endpoint(s, 4, changed=NOW - timedelta(hours=1)))
    configs(aws, s, 4)
    aws.ok("delete_endpoint")
    aws.ok("delete_endpoint_config")
    aws.ok("delete_model")
    return package_event(s, 4, "Rejected")


def idle(aws: Aws, s: DeploymentSettings) -> dict[str, Any]:
    aws.ok("describe_endpoint", endpoint(s, 4, changed=NOW - timedelta(days=1)))
    configs(aws, s, 4)
    aws.cw.add_response("get_metric_statistics", {"Label": "Invocations", "Datapoints": []})
    aws.ok("delete_endpoint")
    return {"detail-type": deployment.SCHEDULED_DETAIL_TYPE, "source": "aws.events", "detail": {}}


def below_floor(aws: Aws, s: DeploymentSettings) -> dict[str, Any]:
    aws.ok("describe_model_package", package(s, 5, "Approved", **{
        deployment.APPROVABLE_PROPERTY: "false", deployment.ACCURACY_PROPERTY: "0.62",
        deployment.ACCURACY_FLOOR_PROPERTY: "0.8"}))
    aws.topic.add_response("publish", {"MessageId": "1"})
    return package_event(s, 5, "Approved")


def failed_endpoint(aws: Aws, s: DeploymentSettings) -> dict[str, Any]:
    aws.ok("describe_endpoint", endpoint(s, 4, "Failed", changed=NOW))
    aws.topic.add_response("publish", {"MessageId": "1"})
    return {"detail-type": deployment.ENDPOINT_DETAIL_TYPE,
            "detail": {"EndpointName": deployment.endpoint_name(s), "EndpointStatus": "FAILED"}}


Flow = Callable[[Aws, DeploymentSettings], dict[str, Any]]
FLOWS: dict[str, tuple[Flow, str]] = {  # name -> (stubs, the handler's decision)
    "approve": (approve_first, "deployed"),
    "approve a newer version": (approve_newer, "deployed"),
    "in service": (in_service, "changed"),
    "reject": (reject_served, "removed"),
    "idle": (idle, "changed"),
    "below the floor": (below_floor, "refused"),
    "failed endpoint": (failed_endpoint, "alerted"),
}


@contextmanager
def as_deployed(d: Deployed, aws: Aws) -> Iterator[None]:
    clients = {("sagemaker", REGION): aws.sagemaker, ("sns", REGION): aws.sns, ("cloudwatch", REGION): aws.cloudwatch}
    with (mock.patch.dict(os.environ, {deployment.SETTINGS_VARIABLE: d.settings_text}),
          mock.patch.object(aws_clients, "_clients", clients), local.acting_as(d.role),
          aws.sm, aws.topic, aws.cw):
        yield
        for stubber in (aws.sm, aws.topic, aws.cw):
            stubber.assert_no_pending_responses()


@functools.cache
def recorded(config: str) -> tuple[Call, ...]:
    """Every call of every path the configuration's mode takes (the idle rule: instance mode only)."""
    d = deployed(config)
    recorder = CallRecorder()
    for name, (flow, decision) in FLOWS.items():
        if name == "idle" and d.settings.mode != deployment.INSTANCE:
            continue
        with recorder.recording():
            aws = Aws()
            event = flow(aws, d.settings)
            with as_deployed(d, aws):
                result = deployment.handler(event, None)
        assert result["decision"] == decision, (name, result)
    return tuple(recorder.calls)


def requests_of(config: str) -> list[IamRequest]:
    d = deployed(config)
    requests = [request for call in recorded(config) for request in iam_requests(call, d.policies)]
    if d.settings.mode == deployment.INSTANCE and d.settings.kms_key_arn:
        # "CreateEndpoint: kms:CreateGrant (required only if the associated EndpointConfig has a KmsKeyId
        # specified)": https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html. The
        # request does not show the config's key, so call_map.json cannot; UpdateEndpoint launches instances
        # with the new config's key the same way.
        requests += [IamRequest(d.role, "kms:CreateGrant", d.settings.kms_key_arn,
                                {"aws:SecureTransport": "true", "kms:GrantIsForAWSResource": "true"}, call)
                     for call in recorded(config) if call.operation in ("CreateEndpoint", "UpdateEndpoint")]
    return requests


def denied(evaluations: list[Evaluation]) -> list[str]:
    return [f"{e.request.describe()} -> {e.decision} {e.errors or ''}" for e in evaluations if not e.allowed]


# --- the checks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
def test_every_call_of_every_path_is_recorded_as_the_deployment_role(config: str) -> None:
    calls = recorded(config)
    assert {c.principal for c in calls} == {deployed(config).role}
    operations = {c.operation for c in calls}
    expected = {"DescribeModelPackage", "DescribeEndpoint", "DescribeModel", "CreateModel", "DescribeEndpointConfig",
                "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint", "ListEndpointConfigs",
                "DeleteEndpointConfig", "DeleteModel", "DeleteEndpoint", "Publish"}
    instance = config == "endpoint-instance-kms"
    assert operations == expected | ({"GetMetricStatistics"} if instance else set())
    create_config = next(c for c in calls if c.operation == "CreateEndpointConfig")
    assert ("KmsKeyId" in create_config.params) is instance


@pytest.mark.parametrize("config", CONFIGS)
def test_the_role_allows_every_request_and_grants_nothing_unused(config: str) -> None:
    d = deployed(config)
    evaluations = evaluate(requests_of(config), d.policies)
    assert not denied(evaluations), "\n".join(denied(evaluations))
    unused = [g for g in unused_grants(d.policies, evaluations)
              if ROLE_LABEL in g.policy and not g.action.startswith(NOT_HANDLER_CALLS)]
    assert unused == [], f"grants of the Deployment role no call of the handler uses: {unused}"


FAULTS = [
    ("endpoint", "sagemaker:UpdateEndpoint"),
    ("endpoint", "sagemaker:ListEndpointConfigs"),
    ("endpoint", "sagemaker:DescribeModelPackage"),
    ("endpoint", "sagemaker:AddTags"),
    ("endpoint", "iam:PassRole"),
    ("endpoint", "sns:Publish"),
    ("endpoint-instance-kms", "cloudwatch:GetMetricStatistics"),
    ("endpoint-instance-kms", "kms:CreateGrant"),
]


@pytest.mark.parametrize(("config", "action"), FAULTS)
def test_a_removed_grant_denies_exactly_the_requests_that_need_it(config: str, action: str) -> None:
    d = deployed(config)
    policies = load_policies(without_action(d.stacks, ROLE_LABEL, action))
    evaluations = evaluate(requests_of(config), policies)
    refused = {e.request.action for e in evaluations if not e.allowed}
    assert refused == {action}, denied(evaluations)
