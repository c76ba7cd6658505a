"""The deployment Lambda: every request checked against botocore's models, the decisions on
events, names, retirement and the idle rule, and the handler's flows with every call stubbed."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import ANY, Stubber
from botocore.validate import validate_parameters

from demo.emulator import Emulator
from lambdas import aws_clients, deployment
from lambdas import settings as contract
from lambdas.deployment import (
    DEPLOY,
    IGNORE,
    REFUSE,
    REMOVE,
    Call,
    ConfigInfo,
    DeploymentSettings,
    EndpointBusy,
    PackageChange,
    SettingsError,
    create_endpoint_config_request,
    create_endpoint_request,
    create_model_request,
    decide,
    endpoint_config_name,
    endpoint_name,
    endpoint_step,
    handler,
    idle_decision,
    invocation_metric_requests,
    model_conflict,
    model_name,
    our_configs,
    parse_endpoint_event,
    parse_package_event,
    removal_calls,
    retirement_calls,
    update_endpoint_request,
)
from tests.lambdas.training_shape_check import shape_problems

REGION = "us-east-1"
ACCOUNT = "123456789012"
GROUP = "gt-demo-models"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Exec"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

SETTINGS: dict[str, Any] = {
    "region": REGION,
    "account": ACCOUNT,
    "job_prefix": "gt-demo",
    "role_arn": ROLE,
    "tags": {"project": "ground-truth-demo"},
    "task_type": "image-classification",
    "package_group_name": GROUP,
    "topic_arn": TOPIC,
    "mode": "serverless",
    "memory_mb": 2048,
    "max_concurrency": 2,
    "instance_type": "ml.m5.large",
    "idle_minutes": 60,
}


def settings(**changes: Any) -> DeploymentSettings:
    return DeploymentSettings.from_json(json.dumps({**SETTINGS, **changes}))


def package_arn(version: int, group: str = GROUP, account: str = ACCOUNT) -> str:
    return f"arn:aws:sagemaker:{REGION}:{account}:model-package/{group}/{version}"


def package_event(version: int, approval: str = "Approved", *, group: str = GROUP,
                  status: str = "Completed") -> dict[str, Any]:
    """The shape of AWS's example "SageMaker Model Package State Change" event (EventBridge docs)."""
    return {
        "version": "0",
        "id": "844e2571-85d4-695f-b930-0153b71dcb42",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2024-06-01T12:00:00Z",
        "region": REGION,
        "resources": [package_arn(version, group)],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageArn": package_arn(version, group),
            "CreationTime": "2024-06-01T11:00:00Z",
            "ModelPackageStatus": status,
            "ModelApprovalStatus": approval,
        },
    }


def described_package(version: int, approval: str, status: str = "Completed") -> dict[str, Any]:
    return {
        "ModelPackageName": GROUP,
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": version,
        "ModelPackageArn": package_arn(version),
        "CreationTime": NOW - timedelta(hours=1),
        "ModelPackageStatus": status,
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": approval,
    }


def described_endpoint(config: str, status: str = "InService", *, changed: datetime = NOW - timedelta(hours=2),
                       serverless: bool = False, pending: str | None = None) -> dict[str, Any]:
    variant: dict[str, Any] = {"VariantName": "AllTraffic"}
    if serverless:
        variant["CurrentServerlessConfig"] = {"MemorySizeInMB": 2048, "MaxConcurrency": 2}
    else:
        variant.update(CurrentInstanceCount=1, DesiredInstanceCount=1)
    described: dict[str, Any] = {
        "EndpointName": "gt-demo-endpoint",
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/gt-demo-endpoint",
        "EndpointConfigName": config,
        "ProductionVariants": [variant],
        "EndpointStatus": status,
        "CreationTime": NOW - timedelta(days=1),
        "LastModifiedTime": changed,
    }
    if pending:
        described["PendingDeploymentSummary"] = {"EndpointConfigName": pending}
    return described


def described_config(name: str, model: str, created: datetime) -> dict[str, Any]:
    return {
        "EndpointConfigName": name,
        "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{name}",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model,
                                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 2}}],
        "CreationTime": created,
    }


def config_info(version: int, created: datetime, *, prefix: str = "gt-demo") -> ConfigInfo:
    return ConfigInfo(name=f"{prefix}-v{version}-serverless-2048mb-c2", models=(f"{prefix}-model-v{version}",),
                      created=created)


def assert_valid(operation: str, params: Any, *, service: str = "sagemaker") -> None:
    """botocore's own parameter validation (what a client and Stubber run before sending) and the
    model's max lengths, patterns and enums, which botocore leaves to the service."""
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    validate_parameters(dict(params), shape)  # raises ParamValidationError
    assert shape_problems(operation, dict(params), service=service) == []


# --- settings --------------------------------------------------------------------------------


def test_settings_parse_the_stack_shape() -> None:
    parsed = settings()
    assert (parsed.mode, parsed.memory_mb, parsed.max_concurrency) == ("serverless", 2048, 2)
    assert parsed.kms_key_arn is None
    assert dict(parsed.tags) == {"project": "ground-truth-demo"}


@pytest.mark.parametrize("key", ["region", "account", "job_prefix", "package_group_name", "role_arn", "topic_arn",
                                 "mode", "memory_mb", "max_concurrency", "instance_type", "idle_minutes", "tags",
                                 "task_type"])
def test_missing_settings_are_named(key: str) -> None:
    data = copy.deepcopy(SETTINGS)
    del data[key]
    with pytest.raises(SettingsError, match=rf"DEPLOYMENT_SETTINGS\.{key} is missing"):
        DeploymentSettings.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mode": "async"}, r"mode = 'async' is invalid: expected one of serverless, instance"),
        ({"memory_mb": 1500}, r"memory_mb = 1500 is invalid: expected one of 1024, 2048"),
        ({"memory_mb": 8192}, r"memory_mb = 8192 is invalid"),
        ({"max_concurrency": 0}, r"max_concurrency = 0 is invalid"),
        ({"max_concurrency": 201}, r"max_concurrency = 201 is invalid: expected an integer from 1 to 200"),
        ({"instance_type": "m5.large"}, r"instance_type = 'm5.large' is invalid"),
        ({"idle_minutes": 5}, r"idle_minutes = 5 is invalid: expected an integer from 10 to 1440"),
        ({"idle_minutes": 1441}, r"idle_minutes = 1441 is invalid"),
        ({"job_prefix": "x" * 24}, r"job_prefix = 'x{24}' is invalid: expected 1-23"),
        ({"job_prefix": "gt_demo"}, r"job_prefix = 'gt_demo' is invalid"),
        ({"kms_key_arn": "alias/mine"}, r"kms_key_arn = 'alias/mine' is invalid"),
        ({"tags": {"a": 1}}, r"tags\.a = 1 is invalid"),
        ({"tags": {f"t{i}": "v" for i in range(50)}}, r"tags has 50 tags; with the model-package tag"),
        ({"surprise": 1}, r"DEPLOYMENT_SETTINGS has unknown key\(s\) surprise"),
    ],
)
def test_bad_settings_are_named(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        settings(**changes)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPLOYMENT_SETTINGS", raising=False)
    with pytest.raises(SettingsError, match="DEPLOYMENT_SETTINGS is not set"):
        DeploymentSettings.from_env()
    monkeypatch.setenv("DEPLOYMENT_SETTINGS", json.dumps(SETTINGS))
    assert DeploymentSettings.from_env().package_group_name == GROUP


# --- names -----------------------------------------------------------------------------------


def test_names_carry_the_prefix_and_the_version() -> None:
    s = settings()
    assert endpoint_name(s) == "gt-demo-endpoint"
    assert model_name(s, 3) == "gt-demo-model-v3"
    assert endpoint_config_name(s, 3) == "gt-demo-v3-serverless-2048mb-c2"
    assert endpoint_config_name(settings(mode="instance"), 3) == "gt-demo-v3-ml-m5-large"


def test_a_changed_variant_is_a_new_config_name() -> None:
    """UpdateEndpoint needs a new EndpointConfig: other contents must never reuse a name."""
    names = {endpoint_config_name(settings(**changes), 3) for changes in (
        {}, {"memory_mb": 3072}, {"max_concurrency": 3}, {"mode": "instance"},
        {"mode": "instance", "instance_type": "ml.c5.xlarge"})}
    assert len(names) == 5


def test_the_longest_prefix_and_version_still_fit_whole() -> None:
    """The longest job prefix, a 9-digit version and the longest variant: no name is cut, so
    every name starts with `<prefix>-` (what IAM policies scope to)."""
    assert contract.MAX_JOB_PREFIX_LENGTH <= deployment.NAME_PREFIX_MAX
    prefix = "p" * contract.MAX_JOB_PREFIX_LENGTH
    for s in (settings(job_prefix=prefix, memory_mb=6144, max_concurrency=200),
              settings(job_prefix=prefix, mode="instance", instance_type="ml.p6e-gb200.36xlarge")):
        names = [endpoint_name(s), model_name(s, 999_999_999), endpoint_config_name(s, 999_999_999)]
        for name in names:
            assert len(name) <= 63 and name.startswith(prefix + "-"), name
        assert shape_problems("CreateEndpoint", {"EndpointName": names[0], "EndpointConfigName": names[2]}) == []
        assert shape_problems("CreateModel", {"ModelName": names[1]}) == []


def test_only_this_deployments_configs_count_as_ours() -> None:
    """Another deployment's prefix `gt-demo-2` also starts with `gt-demo-`; its configs serve
    `gt-demo-2-model-v1`, which is not one of our model names."""
    s = settings()
    mine = config_info(1, NOW)
    other = config_info(1, NOW, prefix="gt-demo-2")
    foreign = ConfigInfo("gt-demo-handmade", ("somebody-elses-model",), NOW)
    assert our_configs(s, [mine, other, foreign]) == [mine]


# --- requests, each checked against botocore's model -------------------------------------------------


def test_create_model_request_is_the_package_as_a_single_container() -> None:
    request = create_model_request(settings(), package_arn(3), 3)
    assert request == {
        "ModelName": "gt-demo-model-v3",
        "PrimaryContainer": {"ModelPackageName": package_arn(3)},
        "ExecutionRoleArn": ROLE,
        "Tags": [{"Key": "model-package", "Value": package_arn(3)}, {"Key": "project", "Value": "ground-truth-demo"}],
    }
    assert "Containers" not in request  # the inference-pipeline form, which serverless excludes
    assert_valid("CreateModel", request)


def test_serverless_endpoint_config_request() -> None:
    request = create_endpoint_config_request(settings(kms_key_arn=KEY), package_arn(3), 3)
    assert request["ProductionVariants"] == [{
        "VariantName": "AllTraffic", "ModelName": "gt-demo-model-v3",
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 2}}]
    assert "KmsKeyId" not in request  # Serverless Inference takes no KMS key
    assert_valid("CreateEndpointConfig", request)


def test_instance_endpoint_config_request() -> None:
    request = create_endpoint_config_request(settings(mode="instance", kms_key_arn=KEY), package_arn(3), 3)
    assert request["ProductionVariants"] == [{
        "VariantName": "AllTraffic", "ModelName": "gt-demo-model-v3", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}]
    assert request["KmsKeyId"] == KEY
    assert_valid("CreateEndpointConfig", request)


def test_an_instance_type_sagemaker_cannot_host_is_caught_by_the_model_check() -> None:
    """The settings accept any ml.* name; the enum of botocore's model is what SageMaker checks."""
    request = create_endpoint_config_request(settings(mode="instance", instance_type="ml.m5.huge"), package_arn(3), 3)
    assert any("not one of" in problem for problem in shape_problems("CreateEndpointConfig", request))


def test_endpoint_requests() -> None:
    s = settings()
    create = create_endpoint_request(s, "gt-demo-v3-serverless-2048mb-c2", package_arn(3))
    assert create["EndpointName"] == "gt-demo-endpoint"
    assert_valid("CreateEndpoint", create)
    update = update_endpoint_request(s, "gt-demo-v4-serverless-2048mb-c2")
    assert update == {"EndpointName": "gt-demo-endpoint", "EndpointConfigName": "gt-demo-v4-serverless-2048mb-c2"}
    assert_valid("UpdateEndpoint", update)


def test_existing_model_must_serve_the_same_package() -> None:
    mine = {"ModelName": "gt-demo-model-v3", "PrimaryContainer": {"ModelPackageName": package_arn(3)}}
    assert model_conflict(mine, package_arn(3)) is None
    theirs = {"ModelName": "gt-demo-model-v3", "PrimaryContainer": {"Image": "x", "ModelDataUrl": "s3://b/k"}}
    assert "not " + package_arn(3) in (model_conflict(theirs, package_arn(3)) or "")


# --- events and decisions --------------------------------------------------------------------------


def test_parse_the_documented_package_event() -> None:
    change = parse_package_event(package_event(3, "Rejected"))
    assert change == PackageChange(arn=package_arn(3), group=GROUP, version=3, approval="Rejected",
                                   status="Completed")


@pytest.mark.parametrize("arn", ["arn:aws:sagemaker:us-east-1:123456789012:model-package/unversioned",
                                 "arn:aws:sagemaker:us-east-1:123456789012:model/gt-demo-models/3", None])
def test_a_package_event_without_a_versioned_arn_is_refused(arn: Any) -> None:
    event = package_event(3)
    event["detail"]["ModelPackageArn"] = arn
    with pytest.raises(ValueError, match="is not a versioned model package ARN"):
        parse_package_event(event)


def test_endpoint_event_status_is_spelled_as_describe_endpoint_spells_it() -> None:
    event = {"detail-type": "SageMaker Endpoint State Change",
             "detail": {"EndpointName": "gt-demo-endpoint", "EndpointStatus": "IN_SERVICE"}}
    assert parse_endpoint_event(event) == ("gt-demo-endpoint", "InService")


@pytest.mark.parametrize(
    ("current", "action"),
    [
        (described_package(3, "Approved"), DEPLOY),
        (described_package(3, "Rejected"), REMOVE),
        (described_package(3, "PendingManualApproval"), IGNORE),
        (described_package(3, "Approved", status="Deleting"), REMOVE),
        (described_package(3, "Approved", status="Failed"), IGNORE),
        (None, REMOVE),  # deleted: DescribeModelPackage says it does not exist
    ],
)
def test_decisions_follow_the_current_state(current: Any, action: str) -> None:
    assert decide(settings(), parse_package_event(package_event(3)), current).action == action


def test_a_late_approved_event_for_a_version_rejected_since_removes_it() -> None:
    decision = decide(settings(), parse_package_event(package_event(3, "Approved")), described_package(3, "Rejected"))
    assert decision.action == REMOVE
    assert "Rejected" in decision.reason


def test_other_groups_and_accounts_are_ignored() -> None:
    other_group = parse_package_event(package_event(3, group="someone-elses-models"))
    assert decide(settings(), other_group, described_package(3, "Approved")).action == IGNORE
    event = package_event(3)
    event["detail"]["ModelPackageArn"] = package_arn(3, account="210987654321")
    assert decide(settings(), parse_package_event(event), described_package(3, "Approved")).action == IGNORE


# --- the endpoint's next step ----------------------------------------------------------------------


def test_no_endpoint_yet_creates_it() -> None:
    step = endpoint_step(settings(), "gt-demo-v3-serverless-2048mb-c2", package_arn(3), None)
    assert [c.operation for c in step.calls] == ["CreateEndpoint"] and not step.wait
    assert_valid("CreateEndpoint", step.calls[0].params)


def test_an_in_service_endpoint_is_updated_to_the_new_config() -> None:
    step = endpoint_step(settings(), "gt-demo-v4-serverless-2048mb-c2", package_arn(4),
                         described_endpoint("gt-demo-v3-serverless-2048mb-c2", serverless=True))
    assert step.calls == (Call("UpdateEndpoint", {"EndpointName": "gt-demo-endpoint",
                                                  "EndpointConfigName": "gt-demo-v4-serverless-2048mb-c2"}),)


@pytest.mark.parametrize("endpoint", [
    described_endpoint("gt-demo-v4-serverless-2048mb-c2"),
    described_endpoint("gt-demo-v4-serverless-2048mb-c2", "Creating"),
    described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Updating", pending="gt-demo-v4-serverless-2048mb-c2"),
])
def test_an_endpoint_already_on_or_moving_to_the_config_is_left_alone(endpoint: dict[str, Any]) -> None:
    step = endpoint_step(settings(), "gt-demo-v4-serverless-2048mb-c2", package_arn(4), endpoint)
    assert step.calls == () and not step.wait


def test_a_real_time_endpoint_is_replaced_not_updated_when_the_mode_becomes_serverless() -> None:
    """SageMaker cannot convert a real-time endpoint to serverless (UpdateEndpoint: ValidationError)."""
    real_time = described_endpoint("gt-demo-v3-ml-m5-large")
    step = endpoint_step(settings(), "gt-demo-v4-serverless-2048mb-c2", package_arn(4), real_time)
    assert step.calls == (Call("DeleteEndpoint", {"EndpointName": "gt-demo-endpoint"}),) and step.wait
    # The other way round is an update: serverless endpoints can become real-time.
    serverless = described_endpoint("gt-demo-v3-serverless-2048mb-c2", serverless=True)
    step = endpoint_step(settings(mode="instance"), "gt-demo-v4-ml-m5-large", package_arn(4), serverless)
    assert [c.operation for c in step.calls] == ["UpdateEndpoint"] and not step.wait


def test_a_settling_endpoint_means_wait() -> None:
    step = endpoint_step(settings(), "gt-demo-v5-serverless-2048mb-c2", package_arn(5),
                         described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Updating",
                                            pending="gt-demo-v4-serverless-2048mb-c2"))
    assert step.calls == () and step.wait
    assert "Updating" in step.reason


def test_a_failed_endpoint_is_deleted_and_recreated_on_the_retry() -> None:
    endpoint = described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Failed")
    endpoint["FailureReason"] = "Image size 13279248421 is greater than supported size 10737418240"
    for target in ("gt-demo-v4-serverless-2048mb-c2", "gt-demo-v3-serverless-2048mb-c2"):  # even the same config
        step = endpoint_step(settings(), target, package_arn(4), endpoint)
        assert step.calls == (Call("DeleteEndpoint", {"EndpointName": "gt-demo-endpoint"}),) and step.wait
        assert "greater than supported size" in step.reason


# --- retirement and removal --------------------------------------------------------------------------


def test_the_previous_config_and_model_retire_once_the_new_one_is_in_service() -> None:
    endpoint = described_endpoint("gt-demo-v4-serverless-2048mb-c2", changed=NOW - timedelta(minutes=5))
    configs = [config_info(3, NOW - timedelta(days=1)), config_info(4, NOW - timedelta(minutes=20))]
    calls, reason = retirement_calls(endpoint, configs)
    assert calls == [Call("DeleteEndpointConfig", {"EndpointConfigName": "gt-demo-v3-serverless-2048mb-c2"}),
                     Call("DeleteModel", {"ModelName": "gt-demo-model-v3"})]
    assert "retired gt-demo-v3-serverless-2048mb-c2" in reason
    for call in calls:
        assert_valid(call.operation, call.params)


def test_a_model_the_current_config_still_uses_is_kept() -> None:
    """A settings change (memory) makes a new config for the same version and model."""
    endpoint = described_endpoint("gt-demo-v4-serverless-3072mb-c2")
    old = ConfigInfo("gt-demo-v4-serverless-2048mb-c2", ("gt-demo-model-v4",), NOW - timedelta(days=1))
    new = ConfigInfo("gt-demo-v4-serverless-3072mb-c2", ("gt-demo-model-v4",), NOW - timedelta(days=1))
    calls, _ = retirement_calls(endpoint, [old, new])
    assert [c.operation for c in calls] == ["DeleteEndpointConfig"]


@pytest.mark.parametrize("endpoint", [
    described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Updating", pending="gt-demo-v4-serverless-2048mb-c2"),
    described_endpoint("gt-demo-v3-serverless-2048mb-c2", "InService", pending="gt-demo-v4-serverless-2048mb-c2"),
    described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Failed"),
])
def test_nothing_retires_until_the_endpoint_is_in_service_without_a_pending_update(endpoint: dict[str, Any]) -> None:
    configs = [config_info(3, NOW - timedelta(days=2)), config_info(4, NOW - timedelta(days=1))]
    assert retirement_calls(endpoint, configs)[0] == []


def test_a_config_newer_than_the_endpoints_last_change_is_kept() -> None:
    """Created for a deployment in flight (UpdateEndpoint not sent yet): not ours to delete."""
    endpoint = described_endpoint("gt-demo-v4-serverless-2048mb-c2", changed=NOW - timedelta(hours=1))
    calls, _ = retirement_calls(endpoint, [config_info(4, NOW - timedelta(hours=2)), config_info(5, NOW)])
    assert calls == []


def test_rejecting_the_served_version_deletes_endpoint_config_and_model() -> None:
    endpoint = described_endpoint("gt-demo-v4-serverless-2048mb-c2")
    configs = [config_info(3, NOW - timedelta(days=1)), config_info(4, NOW - timedelta(hours=3))]
    calls, _ = removal_calls(settings(), 4, endpoint, configs)
    assert calls == [Call("DeleteEndpoint", {"EndpointName": "gt-demo-endpoint"}),
                     Call("DeleteEndpointConfig", {"EndpointConfigName": "gt-demo-v4-serverless-2048mb-c2"}),
                     Call("DeleteModel", {"ModelName": "gt-demo-model-v4"})]
    for call in calls:
        assert_valid(call.operation, call.params)


def test_rejecting_a_version_the_endpoint_is_moving_to_deletes_the_endpoint() -> None:
    endpoint = described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Updating",
                                  pending="gt-demo-v4-serverless-2048mb-c2")
    calls, _ = removal_calls(settings(), 4, endpoint, [config_info(3, NOW), config_info(4, NOW)])
    assert calls[0] == Call("DeleteEndpoint", {"EndpointName": "gt-demo-endpoint"})


def test_rejecting_an_older_version_leaves_the_endpoint_serving() -> None:
    endpoint = described_endpoint("gt-demo-v4-serverless-2048mb-c2")
    calls, _ = removal_calls(settings(), 3, endpoint, [config_info(3, NOW), config_info(4, NOW)])
    assert [c.operation for c in calls] == ["DeleteEndpointConfig", "DeleteModel"]
    assert calls[0].params == {"EndpointConfigName": "gt-demo-v3-serverless-2048mb-c2"}


def test_rejecting_the_version_an_update_moves_away_from_keeps_its_config_in_use() -> None:
    """The endpoint still serves v3 while it moves to v4: v3's config and model must stay."""
    endpoint = described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Updating",
                                  pending="gt-demo-v4-serverless-2048mb-c2")
    calls, _ = removal_calls(settings(), 3, endpoint, [config_info(3, NOW), config_info(4, NOW)])
    assert calls == []


# --- the idle rule -----------------------------------------------------------------------------------


def test_invocation_metric_request_is_valid_cloudwatch() -> None:
    [request] = invocation_metric_requests(described_endpoint("c"), now=NOW, minutes=60)
    assert request["Namespace"] == "AWS/SageMaker" and request["MetricName"] == "Invocations"
    assert request["Dimensions"] == [{"Name": "EndpointName", "Value": "gt-demo-endpoint"},
                                     {"Name": "VariantName", "Value": "AllTraffic"}]
    assert (request["StartTime"], request["EndTime"]) == (NOW - timedelta(hours=1), NOW)
    assert request["Period"] == 3600 and request["Period"] % 60 == 0
    assert_valid("GetMetricStatistics", request, service="cloudwatch")


def test_an_idle_real_time_endpoint_is_deleted_and_its_config_kept() -> None:
    endpoint = described_endpoint("gt-demo-v3-ml-m5-large")
    calls, reason = idle_decision(endpoint, [{"Sum": 0.0}], now=NOW, idle_minutes=60)
    assert calls == [Call("DeleteEndpoint", {"EndpointName": "gt-demo-endpoint"})]
    assert "gt-demo-v3-ml-m5-large is kept" in reason
    # SageMaker sends the metric with requests: an hour without a datapoint is an hour without a call.
    assert idle_decision(endpoint, [], now=NOW, idle_minutes=60)[0] == calls


@pytest.mark.parametrize(("endpoint", "points", "why"), [
    (described_endpoint("c"), [{"Sum": 0.0}, {"Sum": 3.0}], "had 3 invocations"),
    (described_endpoint("c", changed=NOW - timedelta(minutes=30)), [], "changed less than 60 minutes ago"),
    (described_endpoint("c", serverless=True), [], "is serverless"),
    (described_endpoint("c", "Updating"), [], "is Updating"),
])
def test_an_endpoint_in_use_recent_serverless_or_changing_is_kept(endpoint: dict[str, Any], points: list[Any],
                                                                  why: str) -> None:
    calls, reason = idle_decision(endpoint, points, now=NOW, idle_minutes=60)
    assert calls == [] and why in reason


# --- the handler, every AWS call stubbed -----------------------------------------------------------


class Stubbed:
    def __init__(self) -> None:
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        self.sm = Stubber(self.sagemaker)
        self.topic = Stubber(self.sns)
        self.cw = Stubber(self.cloudwatch)

    def missing(self, operation: str, message: str, **params: Any) -> None:
        self.sm.add_client_error(operation, "ValidationException", message, expected_params=params)

    def no_endpoint(self) -> None:
        self.missing("describe_endpoint", 'Could not find endpoint "gt-demo-endpoint".',
                     EndpointName="gt-demo-endpoint")

    def configs(self, *described: dict[str, Any]) -> None:
        self.sm.add_response("list_endpoint_configs", {"EndpointConfigs": [
            {"EndpointConfigName": d["EndpointConfigName"], "EndpointConfigArn": d["EndpointConfigArn"],
             "CreationTime": d["CreationTime"]} for d in described]}, expected_params={"NameContains": "gt-demo"})
        for d in described:
            self.sm.add_response("describe_endpoint_config", d,
                                 expected_params={"EndpointConfigName": d["EndpointConfigName"]})

    def ok(self, operation: str, **params: Any) -> None:
        self.sm.add_response(operation, {}, expected_params=params)


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubbed]:
    monkeypatch.setenv("DEPLOYMENT_SETTINGS", json.dumps(SETTINGS))
    aws = Stubbed()
    monkeypatch.setattr(aws_clients, "_clients", {("sagemaker", REGION): aws.sagemaker, ("sns", REGION): aws.sns,
                                                  ("cloudwatch", REGION): aws.cloudwatch})
    with aws.sm, aws.topic, aws.cw:
        yield aws
        aws.sm.assert_no_pending_responses()
        aws.topic.assert_no_pending_responses()
        aws.cw.assert_no_pending_responses()


def test_approving_the_first_version_creates_model_config_and_endpoint(stubbed: Stubbed) -> None:
    arn = package_arn(3)
    stubbed.sm.add_response("describe_model_package", described_package(3, "Approved"),
                            expected_params={"ModelPackageName": arn})
    stubbed.no_endpoint()
    stubbed.missing("describe_model", "Could not find model \"gt-demo-model-v3\".", ModelName="gt-demo-model-v3")
    stubbed.sm.add_response("create_model",
                            {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-model-v3"},
                            expected_params=create_model_request(settings(), arn, 3))
    config = "gt-demo-v3-serverless-2048mb-c2"
    stubbed.missing("describe_endpoint_config", f"Could not find endpoint configuration \"{config}\".",
                    EndpointConfigName=config)
    stubbed.sm.add_response("create_endpoint_config", {"EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:"
                                                       f"endpoint-config/{config}"},
                            expected_params=create_endpoint_config_request(settings(), arn, 3))
    stubbed.sm.add_response("create_endpoint", {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:"
                                                "endpoint/gt-demo-endpoint"},
                            expected_params=create_endpoint_request(settings(), config, arn))
    result = handler(package_event(3), None)
    assert result["decision"] == "deployed"
    assert result["calls"] == ["CreateEndpoint"]
    assert (result["model"], result["endpoint_config"]) == ("gt-demo-model-v3", config)


def test_approving_a_newer_version_reuses_what_exists_and_updates_the_endpoint(stubbed: Stubbed) -> None:
    """A redelivered event: model and config exist (and are ours), the endpoint serves v3."""
    arn = package_arn(4)
    config = "gt-demo-v4-serverless-2048mb-c2"
    stubbed.sm.add_response("describe_model_package", described_package(4, "Approved"))
    stubbed.sm.add_response("describe_endpoint", described_endpoint("gt-demo-v3-serverless-2048mb-c2",
                                                                    serverless=True))
    stubbed.sm.add_response("describe_model", {
        "ModelName": "gt-demo-model-v4", "PrimaryContainer": {"ModelPackageName": arn},
        "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-model-v4", "CreationTime": NOW})
    stubbed.sm.add_response("describe_endpoint_config", described_config(config, "gt-demo-model-v4", NOW))
    stubbed.sm.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"},
                            expected_params={"EndpointName": "gt-demo-endpoint", "EndpointConfigName": config})
    assert handler(package_event(4), None)["calls"] == ["UpdateEndpoint"]


def test_a_busy_endpoint_alerts_as_will_retry_and_raises(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_model_package", described_package(5, "Approved"))
    stubbed.sm.add_response("describe_endpoint", described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Updating",
                                                                    pending="gt-demo-v4-serverless-2048mb-c2"))
    stubbed.sm.add_response("describe_model", {
        "ModelName": "gt-demo-model-v5", "PrimaryContainer": {"ModelPackageName": package_arn(5)},
        "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-model-v5", "CreationTime": NOW})
    stubbed.sm.add_response("describe_endpoint_config",
                            described_config("gt-demo-v5-serverless-2048mb-c2", "gt-demo-model-v5", NOW))
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "Deployment failed for model package gt-demo-models/5 (will retry)",
        "Message": ANY})
    with pytest.raises(EndpointBusy, match="is Updating"):
        handler(package_event(5), None)


def test_a_model_of_our_name_from_something_else_is_not_reused(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_model_package", described_package(3, "Approved"))
    stubbed.no_endpoint()
    stubbed.sm.add_response("describe_model", {
        "ModelName": "gt-demo-model-v3", "PrimaryContainer": {"Image": "x", "ModelDataUrl": "s3://b/model.tar.gz"},
        "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-model-v3", "CreationTime": NOW})
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "Deployment failed for model package gt-demo-models/3", "Message": ANY})
    with pytest.raises(ValueError, match="exists but serves"):
        handler(package_event(3), None)


def test_rejecting_the_served_version_removes_it(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_model_package", described_package(4, "Rejected"))
    stubbed.sm.add_response("describe_endpoint", described_endpoint("gt-demo-v4-serverless-2048mb-c2"))
    stubbed.configs(described_config("gt-demo-v3-serverless-2048mb-c2", "gt-demo-model-v3", NOW - timedelta(days=1)),
                    described_config("gt-demo-v4-serverless-2048mb-c2", "gt-demo-model-v4", NOW - timedelta(hours=3)))
    stubbed.ok("delete_endpoint", EndpointName="gt-demo-endpoint")
    stubbed.ok("delete_endpoint_config", EndpointConfigName="gt-demo-v4-serverless-2048mb-c2")
    stubbed.sm.add_client_error("delete_model", "ValidationException", "Could not find model \"gt-demo-model-v4\".")
    result = handler(package_event(4, "Rejected"), None)
    assert result["decision"] == "removed"
    assert result["calls"] == ["DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"]


def test_a_deleted_version_is_removed_too(stubbed: Stubbed) -> None:
    """Deletion has no documented event of its own; whatever event names a version that no longer
    exists removes what it deployed (DescribeModelPackage: "... does not exist.")."""
    stubbed.sm.add_client_error("describe_model_package", "ValidationException",
                                f"ModelPackage {package_arn(3)} does not exist.")
    stubbed.no_endpoint()
    stubbed.configs(described_config("gt-demo-v3-serverless-2048mb-c2", "gt-demo-model-v3", NOW))
    stubbed.ok("delete_endpoint_config", EndpointConfigName="gt-demo-v3-serverless-2048mb-c2")
    stubbed.ok("delete_model", ModelName="gt-demo-model-v3")
    assert handler(package_event(3, status="Deleting"), None)["decision"] == "removed"


def test_pending_and_other_groups_make_no_change(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_model_package", described_package(3, "PendingManualApproval"))
    assert handler(package_event(3, "PendingManualApproval"), None)["decision"] == "ignored"
    # Another group's package: not even described.
    assert handler(package_event(3, group="someone-elses-models"), None)["decision"] == "ignored"


def test_in_service_event_retires_the_previous_config(stubbed: Stubbed) -> None:
    stubbed.sm.add_response("describe_endpoint", described_endpoint("gt-demo-v4-serverless-2048mb-c2",
                                                                    changed=NOW - timedelta(minutes=5)))
    stubbed.configs(described_config("gt-demo-v3-serverless-2048mb-c2", "gt-demo-model-v3", NOW - timedelta(days=1)),
                    described_config("gt-demo-v4-serverless-2048mb-c2", "gt-demo-model-v4", NOW - timedelta(hours=1)))
    stubbed.ok("delete_endpoint_config", EndpointConfigName="gt-demo-v3-serverless-2048mb-c2")
    stubbed.ok("delete_model", ModelName="gt-demo-model-v3")
    event = {"detail-type": "SageMaker Endpoint State Change",
             "detail": {"EndpointName": "gt-demo-endpoint", "EndpointStatus": "IN_SERVICE"}}
    assert handler(event, None)["calls"] == ["DeleteEndpointConfig", "DeleteModel"]


def test_failed_endpoint_event_alerts_with_the_reason(stubbed: Stubbed) -> None:
    endpoint = described_endpoint("gt-demo-v3-serverless-2048mb-c2", "Failed")
    endpoint["FailureReason"] = "Image size 13279248421 is greater than supported size 10737418240"
    stubbed.sm.add_response("describe_endpoint", endpoint)
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "Endpoint gt-demo-endpoint is Failed", "Message": ANY})
    event = {"detail-type": "SageMaker Endpoint State Change",
             "detail": {"EndpointName": "gt-demo-endpoint", "EndpointStatus": "FAILED"}}
    result = handler(event, None)
    assert result["decision"] == "alerted" and "10737418240" in result["reason"]


def test_another_endpoints_event_is_ignored(stubbed: Stubbed) -> None:
    event = {"detail-type": "SageMaker Endpoint State Change",
             "detail": {"EndpointName": "someone-elses", "EndpointStatus": "IN_SERVICE"}}
    assert handler(event, None)["decision"] == "ignored"


def test_schedule_deletes_an_idle_real_time_endpoint(stubbed: Stubbed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYMENT_SETTINGS", json.dumps({**SETTINGS, "mode": "instance"}))
    stubbed.sm.add_response("describe_endpoint", described_endpoint("gt-demo-v3-ml-m5-large",
                                                                    changed=datetime.now(UTC) - timedelta(days=1)))
    stubbed.configs(described_config("gt-demo-v3-ml-m5-large", "gt-demo-model-v3", NOW - timedelta(days=2)))
    stubbed.cw.add_response("get_metric_statistics", {"Label": "Invocations", "Datapoints": []}, expected_params={
        "Namespace": "AWS/SageMaker", "MetricName": "Invocations",
        "Dimensions": [{"Name": "EndpointName", "Value": "gt-demo-endpoint"},
                       {"Name": "VariantName", "Value": "AllTraffic"}],
        "StartTime": ANY, "EndTime": ANY, "Period": 3600, "Statistics": ["Sum"]})
    stubbed.ok("delete_endpoint", EndpointName="gt-demo-endpoint")
    result = handler({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}, None)
    assert result["calls"] == ["DeleteEndpoint"]


def test_unreadable_settings_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYMENT_SETTINGS", json.dumps({**SETTINGS, "mode": "gpu"}))
    with pytest.raises(SettingsError, match="mode = 'gpu'"):
        handler(package_event(3), None)


def test_unknown_events_are_refused(stubbed: Stubbed) -> None:
    with pytest.raises(ValueError, match="this function handles"):
        handler({"detail-type": "SageMaker Training Job State Change", "detail": {}}, None)


def test_the_module_is_importable_without_settings_or_region() -> None:
    assert deployment.FUNCTION == "Deployment"


# --- against the emulator ------------------------------------------------------------------------


@pytest.fixture
def emulated(_no_real_aws: None, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The session's moto server; names unique to the test (the server keeps state across tests)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setattr(aws_clients, "_clients", {})
    suffix = uuid.uuid4().hex[:10]
    topic = boto3.client("sns", region_name=REGION).create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    group = f"models-{suffix}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    prefix = f"dep-{suffix}"
    monkeypatch.setenv("DEPLOYMENT_SETTINGS", json.dumps({
        **SETTINGS, "job_prefix": prefix, "package_group_name": group, "topic_arn": topic}))
    return {"sagemaker": sagemaker, "group": group, "prefix": prefix}


def register(sagemaker: Any, group: str) -> str:
    return sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
                            "ModelDataUrl": "s3://sagemaker-test/models/model.tar.gz"}],
            "SupportedContentTypes": ["image/jpeg", "image/png", "application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]


def set_approval(sagemaker: Any, arn: str, approval: str) -> dict[str, Any]:
    """Change the version's approval as a person would, and the event SageMaker then sends."""
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=approval)
    group, version = arn.rsplit("/", 2)[-2:]
    return {"detail-type": "SageMaker Model Package State Change", "source": "aws.sagemaker",
            "detail": {"ModelPackageArn": arn, "ModelPackageGroupName": group, "ModelPackageVersion": int(version),
                       "ModelApprovalStatus": approval, "ModelPackageStatus": "Completed"}}


def named_with(sagemaker: Any, operation: str, key: str, name_key: str, prefix: str) -> list[str]:
    """The names starting with `<prefix>-` in a listing (every page). The emulator is shared by the whole test
    session and ignores NameContains, so the filter is ours: other tests' models must not count here."""
    pages = sagemaker.get_paginator(operation).paginate(NameContains=prefix)
    return sorted(item[name_key] for page in pages for item in page[key] if item[name_key].startswith(f"{prefix}-"))


def test_emulator_approve_repeat_reject_and_approve_another(emulated: dict[str, Any]) -> None:
    """The emulator has no UpdateEndpoint (nor DeleteModelPackage): moving the endpoint between
    versions is covered by the stubbed flows above, against botocore's model."""
    sagemaker, group, prefix = emulated["sagemaker"], emulated["group"], emulated["prefix"]
    endpoint = f"{prefix}-endpoint"
    first, second = register(sagemaker, group), register(sagemaker, group)

    assert handler(set_approval(sagemaker, first, "Approved"), None)["calls"] == ["CreateEndpoint"]
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == \
        f"{prefix}-v1-serverless-2048mb-c2"
    assert sagemaker.describe_model(ModelName=f"{prefix}-model-v1")["PrimaryContainer"] == {"ModelPackageName": first}
    config = sagemaker.describe_endpoint_config(EndpointConfigName=f"{prefix}-v1-serverless-2048mb-c2")
    assert config["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 2}
    assert handler(set_approval(sagemaker, first, "Approved"), None)["calls"] == []  # a repeated event
    assert handler(set_approval(sagemaker, second, "PendingManualApproval"), None)["decision"] == "ignored"

    assert handler(set_approval(sagemaker, first, "Rejected"), None)["decision"] == "removed"
    assert named_with(sagemaker, "list_endpoints", "Endpoints", "EndpointName", prefix) == []
    assert named_with(sagemaker, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", prefix) == []
    assert named_with(sagemaker, "list_models", "Models", "ModelName", prefix) == []

    assert handler(set_approval(sagemaker, second, "Approved"), None)["calls"] == ["CreateEndpoint"]
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == \
        f"{prefix}-v2-serverless-2048mb-c2"
    in_service = {"detail-type": "SageMaker Endpoint State Change",
                  "detail": {"EndpointName": endpoint, "EndpointStatus": "IN_SERVICE"}}
    assert handler(in_service, None)["decision"] == "unchanged"  # nothing older to retire


# --- the accuracy floor: a version the evaluation marked not approvable is never deployed -------------


def below_floor(version: int) -> dict[str, Any]:
    """A version the Evaluation function evaluated at 0.62 against a floor of 0.8 (its CustomerMetadataProperties)."""
    described = described_package(version, "Approved")
    described["CustomerMetadataProperties"] = {"training-job": "gt-demo-1", "approvable": "false",
                                               "evaluation-accuracy": "0.62", "accuracy-floor": "0.8"}
    return described


def test_an_approved_version_below_the_floor_is_refused_naming_accuracy_and_floor() -> None:
    decision = decide(settings(), parse_package_event(package_event(3)), below_floor(3))
    assert decision.action == REFUSE
    assert "accuracy 0.62 is below the accuracy floor 0.8" in decision.reason
    # Marked approvable (or never evaluated): deployed as before.
    approvable = {**below_floor(3), "CustomerMetadataProperties": {"approvable": "true", "evaluation-accuracy": "0.9"}}
    assert decide(settings(), parse_package_event(package_event(3)), approvable).action == DEPLOY
    assert decide(settings(), parse_package_event(package_event(3)), described_package(3, "Approved")).action == DEPLOY
    # Without the figures, the refusal stands and says they are unknown.
    bare = {**below_floor(3), "CustomerMetadataProperties": {"approvable": "False"}}
    assert "accuracy unknown is below the accuracy floor unknown" in decide(
        settings(), parse_package_event(package_event(3)), bare).reason


def test_a_refused_version_alerts_and_changes_nothing(stubbed: Stubbed) -> None:
    """No endpoint call at all: the endpoint keeps serving the version it served."""
    stubbed.sm.add_response("describe_model_package", below_floor(4),
                            expected_params={"ModelPackageName": package_arn(4)})
    stubbed.topic.add_response("publish", {"MessageId": "1"}, expected_params={
        "TopicArn": TOPIC, "Subject": "Model package gt-demo-models/4 approved but not deployed", "Message": ANY})
    result = handler(package_event(4), None)
    assert result["decision"] == "refused"
    assert "accuracy 0.62 is below the accuracy floor 0.8" in result["reason"]


def test_the_refusal_alert_names_accuracy_floor_and_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYMENT_SETTINGS", json.dumps(SETTINGS))
    sent: list[dict[str, Any]] = []

    class FakeSageMaker:
        def describe_model_package(self, **_: Any) -> dict[str, Any]:
            return below_floor(4)

    class FakeSns:
        def publish(self, **request: Any) -> dict[str, str]:
            sent.append(request)
            return {"MessageId": "1"}

    monkeypatch.setattr(aws_clients, "_clients", {("sagemaker", REGION): FakeSageMaker(), ("sns", REGION): FakeSns()})
    handler(package_event(4), None)
    [alert] = sent
    assert alert["TopicArn"] == TOPIC
    message = alert["Message"]
    assert "version 4 of gt-demo-models is Approved but not approvable" in message
    assert "accuracy 0.62 is below the accuracy floor 0.8 (workflow.evaluation.accuracy_floor)" in message
    assert "Nothing was deployed; the endpoint gt-demo-endpoint" in message
    assert "#/model-registry/model-package-groups/gt-demo-models/versions/4" in message  # the console link


def test_group_names_compare_as_sagemaker_writes_arns() -> None:
    """SageMaker lowercases names in ARNs; a config may spell the group with capitals."""
    mixed = settings(package_group_name="Gt-Demo-Models")
    change = parse_package_event(package_event(3))  # the ARN's group: gt-demo-models
    assert decide(mixed, change, described_package(3, "Approved")).action == DEPLOY


def test_no_volume_key_on_instance_types_with_local_storage() -> None:
    """CreateEndpointConfig refuses a KmsKeyId for instance types with local NVMe storage (their volumes are
    encrypted by the hardware): ml.m5d.large gets none, ml.m5.large gets the key."""
    local = create_endpoint_config_request(settings(mode="instance", instance_type="ml.m5d.large", kms_key_arn=KEY),
                                           package_arn(3), 3)
    assert "KmsKeyId" not in local
    assert_valid("CreateEndpointConfig", local)
    ebs = create_endpoint_config_request(settings(mode="instance", kms_key_arn=KEY), package_arn(3), 3)
    assert ebs["KmsKeyId"] == KEY


def test_emulator_refuses_a_version_below_the_floor(emulated: dict[str, Any]) -> None:
    sagemaker, group, prefix = emulated["sagemaker"], emulated["group"], emulated["prefix"]
    arn = register(sagemaker, group)
    # The evaluation's verdict, then the approval. (The emulator's UpdateModelPackage drops the properties a
    # request leaves out, where SageMaker keeps them: the approval repeats them here.)
    verdict = {"approvable": "false", "evaluation-accuracy": "0.62", "accuracy-floor": "0.8"}
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties=verdict)
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved",
                                   CustomerMetadataProperties=verdict)
    assert sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"] == verdict
    event = {"detail-type": "SageMaker Model Package State Change", "source": "aws.sagemaker",
             "detail": {"ModelPackageArn": arn, "ModelPackageGroupName": group, "ModelApprovalStatus": "Approved",
                        "ModelPackageStatus": "Completed"}}
    result = handler(event, None)
    assert result["decision"] == "refused" and "0.62" in result["reason"]
    assert named_with(sagemaker, "list_endpoints", "Endpoints", "EndpointName", prefix) == []
    assert named_with(sagemaker, "list_models", "Models", "ModelName", prefix) == []


def test_the_properties_read_are_the_ones_the_evaluation_writes() -> None:
    """One vocabulary: lambdas/evaluate_model.py writes these CustomerMetadataProperties, deployment reads them."""
    from lambdas import evaluate_model

    assert deployment.APPROVABLE_PROPERTY == evaluate_model.APPROVABLE_PROPERTY
    assert deployment.ACCURACY_PROPERTY == evaluate_model.ACCURACY_PROPERTY
    assert deployment.ACCURACY_FLOOR_PROPERTY == evaluate_model.ACCURACY_FLOOR_PROPERTY
