"""Lambda: serve the approved model package version from one SageMaker endpoint, and only that.

Triggered by EventBridge:
- "SageMaker Model Package State Change" for the group's versions. The version's *current* state
  (DescribeModelPackage: SageMaker may send an event more than once, and events can arrive out of
  order) decides: Approved -> create or update the endpoint; Rejected, or the version no longer
  exists -> remove what it deployed; anything else (PendingManualApproval) -> nothing.
- "SageMaker Endpoint State Change" for our endpoint: InService -> retire the previous endpoint
  config and its model; Failed -> an alert with SageMaker's reason.
- "Scheduled Event" (a schedule rule): the same retirement, and the idle rule of a real-time
  endpoint (no invocations for `idle_minutes` -> delete the endpoint, keep its config and model so
  the same version can be redeployed with one CreateEndpoint).

Idempotent by naming: the model, the endpoint config and the endpoint are named from the prefix
and the package version (`model_name`, `endpoint_config_name`, `endpoint_name`), so a repeated
event finds what the first one created. Every request is built by a pure function below; the
handler only describes, decides and sends.

Facts (serverless or real-time for this algorithm, payload limits, the events, the metric), with
their AWS sources: docs/deployment.md.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from .aws_clients import client
from .evaluation_job import ACCURACY_FLOOR_PROPERTY, ACCURACY_PROPERTY, APPROVABLE_PROPERTY
from .job_rules import has_local_instance_storage
from .naming import derive_name
from .runtime import (
    alert_settings_error,
    alerting_failures,
    finish,
    get_logger,
    is_already_exists_error,
    is_not_found_error,
    log,
    publish_alert,
)
from .settings import DEPLOYMENT_SETTINGS_VAR, ENDPOINT_MODES, MODEL_PACKAGE_TAG_KEY, DeploymentSettings, SettingsError

# The settings (DeploymentSettings: keys, rules, the reader) are the contract in settings.py.
SETTINGS_VARIABLE = DEPLOYMENT_SETTINGS_VAR
LOGGER = get_logger("deployment")
FUNCTION = "Deployment"

PACKAGE_DETAIL_TYPE = "SageMaker Model Package State Change"
ENDPOINT_DETAIL_TYPE = "SageMaker Endpoint State Change"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"

SERVERLESS, INSTANCE = ENDPOINT_MODES
MODES = ENDPOINT_MODES

# EndpointName, EndpointConfigName, ModelName: at most 63 characters (botocore model).
NAME_MAX = 63
# The longest suffix a name gets: "-v<9 digits>-serverless-6144mb-c200" (a version has at most 9
# digits: the ModelPackageName pattern). 63 - 34 = 29: a prefix of at most 29 characters is kept
# whole in every name, which IAM policies scope to `<prefix>-...`. The prefix is the environment's
# labeling.job_prefix, which has at most 23 (settings.MAX_JOB_PREFIX_LENGTH).
NAME_PREFIX_MAX = 29
VARIANT_NAME = "AllTraffic"
# Tag on everything this function creates: which package version it serves.
PACKAGE_TAG = MODEL_PACKAGE_TAG_KEY

# Endpoint states (DescribeEndpoint EndpointStatus).
IN_SERVICE = "InService"
SETTLING_STATES = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
BROKEN_STATES = ("Failed", "OutOfService", "UpdateRollbackFailed")

_PACKAGE_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"model-package/(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<version>[0-9]{1,9})"
)


# --- names (pure) ----------------------------------------------------------------------------


def endpoint_name(settings: DeploymentSettings) -> str:
    """The one endpoint of this deployment; `workflow predict` invokes it by this name."""
    return endpoint_name_for(settings.job_prefix)


def endpoint_name_for(job_prefix: str) -> str:
    """`<job_prefix>-endpoint`: what the stack outputs and `workflow status` looks up."""
    return _name(job_prefix, "endpoint")


def model_name(settings: DeploymentSettings, version: int) -> str:
    return _name(settings.job_prefix, f"model-v{version}")


def endpoint_config_name(settings: DeploymentSettings, version: int) -> str:
    """Version plus what the variant is: a changed memory, concurrency or instance type is a new
    config (UpdateEndpoint needs a new EndpointConfig), never a reused name with other contents."""
    return _name(settings.job_prefix, f"v{version}-{variant_tag(settings)}")


def variant_tag(settings: DeploymentSettings) -> str:
    if settings.mode == SERVERLESS:
        return f"serverless-{settings.memory_mb}mb-c{settings.max_concurrency}"
    return settings.instance_type.replace(".", "-")


def is_our_model(settings: DeploymentSettings, name: str) -> bool:
    """True for a model name this deployment derives (`model_name` of some version)."""
    return re.fullmatch(re.escape(settings.job_prefix) + r"-model-v[0-9]{1,9}", name) is not None


def our_configs(settings: DeploymentSettings, configs: Sequence[ConfigInfo]) -> list[ConfigInfo]:
    """The configs that serve only models of this deployment. Name prefixes alone would not do:
    another deployment's prefix `gt-demo-2` would also start with `gt-demo-` (the config refuses
    such prefixes within one account, but a hand-made deployment is not bound by it)."""
    return [c for c in configs if c.models and all(is_our_model(settings, m) for m in c.models)]


def _name(prefix: str, suffix: str) -> str:
    name = derive_name(prefix, max_length=NAME_MAX, suffix=suffix)
    if not name.startswith(prefix + "-"):  # settings keep prefixes short enough; guard the IAM scope anyway
        raise ValueError(f"name {name!r} does not start with {prefix}-: the prefix is too long")
    return name


# --- events (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageChange:
    """A model package version named by a state change event (its state as the event says)."""

    arn: str
    group: str
    version: int
    approval: str | None
    status: str | None


def parse_package_event(event: Any) -> PackageChange:
    """The version in a "SageMaker Model Package State Change" event; ValueError naming what is wrong."""
    detail = _detail(event, PACKAGE_DETAIL_TYPE)
    arn = detail.get("ModelPackageArn")
    match = _PACKAGE_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None:
        raise ValueError(f"event.detail.ModelPackageArn = {arn!r} is not a versioned model package ARN "
                         "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)")
    approval, status = detail.get("ModelApprovalStatus"), detail.get("ModelPackageStatus")
    return PackageChange(arn=arn, group=match["group"], version=int(match["version"]),
                         approval=approval if isinstance(approval, str) else None,
                         status=status if isinstance(status, str) else None)


def parse_endpoint_event(event: Any) -> tuple[str, str]:
    """(endpoint name, status) of a "SageMaker Endpoint State Change" event.

    The status is normalised to DescribeEndpoint's spelling: AWS's example event says IN_SERVICE
    where DescribeEndpoint says InService."""
    detail = _detail(event, ENDPOINT_DETAIL_TYPE)
    name, status = detail.get("EndpointName"), detail.get("EndpointStatus")
    if not isinstance(name, str) or not name or not isinstance(status, str):
        raise ValueError("event.detail.EndpointName and EndpointStatus must be strings")
    spelled = {s.upper().replace("_", ""): s for s in (IN_SERVICE, *SETTLING_STATES, *BROKEN_STATES)}
    return name, spelled.get(status.upper().replace("_", ""), status)


def _detail(event: Any, detail_type: str) -> Mapping[str, Any]:
    if not isinstance(event, Mapping) or event.get("detail-type") != detail_type:
        raise ValueError(f"expected a {detail_type!r} event")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise ValueError(f"event.detail must be an object, got {detail!r}")
    return detail


def is_our_group(settings: DeploymentSettings, group: str) -> bool:
    """SageMaker writes names lowercased into ARNs (the group of a version ARN), the config may not."""
    return group.lower() == settings.package_group_name.lower()


def not_approvable_reason(described: Mapping[str, Any]) -> str | None:
    """Why a version the Evaluation function marked `approvable: false` must not be deployed (None: it may).

    Its accuracy and the floor come from the same CustomerMetadataProperties; a missing figure reads
    "unknown" rather than hiding the refusal."""
    properties = described.get("CustomerMetadataProperties") or {}
    if str(properties.get(APPROVABLE_PROPERTY, "")).strip().lower() != "false":
        return None
    accuracy = properties.get(ACCURACY_PROPERTY, "unknown")
    floor = properties.get(ACCURACY_FLOOR_PROPERTY, "unknown")
    return (f"its evaluated accuracy {accuracy} is below the accuracy floor {floor} (workflow.evaluation."
            "accuracy_floor)")


DEPLOY = "deploy"
REMOVE = "remove"
IGNORE = "ignore"
REFUSE = "refuse"  # Approved, but the evaluation found it below the accuracy floor: alert, change nothing


@dataclass(frozen=True)
class Decision:
    action: str  # DEPLOY, REMOVE, IGNORE or REFUSE
    reason: str


def decide(settings: DeploymentSettings, change: PackageChange, current: Mapping[str, Any] | None) -> Decision:
    """What to do about `change`, given the version's current description (None: it no longer exists).

    Acts on the current state, not the event's: a late "Approved" event for a version rejected
    since must not deploy it."""
    where = f"{settings.region}:{settings.account}"
    if not is_our_group(settings, change.group):
        return Decision(IGNORE, f"group {change.group!r} is not {settings.package_group_name!r}")
    if change.arn.split(":")[3:5] != where.split(":"):
        return Decision(IGNORE, f"{change.arn} is not in {where}")
    label = f"version {change.version} of {change.group}"
    if current is None:
        return Decision(REMOVE, f"{label} no longer exists")
    approval, status = current.get("ModelApprovalStatus"), current.get("ModelPackageStatus")
    if status == "Deleting":
        return Decision(REMOVE, f"{label} is being deleted")
    if approval == "Rejected":
        return Decision(REMOVE, f"{label} is Rejected")
    if approval == "Approved":
        if status == "Failed":
            return Decision(IGNORE, f"{label} is Approved but its status is Failed: nothing to deploy")
        below_floor = not_approvable_reason(current)
        if below_floor:
            return Decision(REFUSE, f"{label} is Approved but not approvable: {below_floor}")
        return Decision(DEPLOY, f"{label} is Approved")
    return Decision(IGNORE, f"{label} is {approval or 'without an approval status'}: only Approved versions deploy")


# --- requests (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One SageMaker request: its operation name (as in botocore's model) and parameters."""

    operation: str
    params: Mapping[str, Any]


def create_model_request(settings: DeploymentSettings, package_arn: str, version: int) -> dict[str, Any]:
    # PrimaryContainer, not Containers: CreateModel documents Containers as "the containers in the
    # inference pipeline", and Serverless Inference excludes inference pipelines. The SageMaker
    # Python SDK's ModelPackage.deploy sends this same single-container form.
    return {
        "ModelName": model_name(settings, version),
        "PrimaryContainer": {"ModelPackageName": package_arn},
        "ExecutionRoleArn": settings.role_arn,
        "Tags": _tags(settings, package_arn),
    }


def production_variant(settings: DeploymentSettings, model: str) -> dict[str, Any]:
    if settings.mode == SERVERLESS:
        return {"VariantName": VARIANT_NAME, "ModelName": model,
                "ServerlessConfig": {"MemorySizeInMB": settings.memory_mb,
                                     "MaxConcurrency": settings.max_concurrency}}
    # One instance: the cheapest real-time endpoint; the idle rule deletes it when nobody calls.
    return {"VariantName": VARIANT_NAME, "ModelName": model, "InstanceType": settings.instance_type,
            "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}


def create_endpoint_config_request(settings: DeploymentSettings, package_arn: str, version: int) -> dict[str, Any]:
    request: dict[str, Any] = {
        "EndpointConfigName": endpoint_config_name(settings, version),
        "ProductionVariants": [production_variant(settings, model_name(settings, version))],
        "Tags": _tags(settings, package_arn),
    }
    # Serverless Inference does not support KMS keys (feature exclusions); an instance's storage
    # volume is encrypted with the configured key, except on instance types with local NVMe storage,
    # whose volumes the hardware encrypts and for which CreateEndpointConfig refuses a KmsKeyId.
    if settings.mode == INSTANCE and settings.kms_key_arn and not has_local_instance_storage(settings.instance_type):
        request["KmsKeyId"] = settings.kms_key_arn
    return request


def create_endpoint_request(settings: DeploymentSettings, config_name: str, package_arn: str) -> dict[str, Any]:
    return {"EndpointName": endpoint_name(settings), "EndpointConfigName": config_name,
            "Tags": _tags(settings, package_arn)}


def update_endpoint_request(settings: DeploymentSettings, config_name: str) -> dict[str, Any]:
    return {"EndpointName": endpoint_name(settings), "EndpointConfigName": config_name}


def _tags(settings: DeploymentSettings, package_arn: str) -> list[dict[str, str]]:
    tags = {**settings.tags, PACKAGE_TAG: package_arn}
    return [{"Key": key, "Value": tags[key]} for key in sorted(tags)]


def model_conflict(described: Mapping[str, Any], package_arn: str) -> str | None:
    """Why an existing model of our name is not the one for `package_arn` (None: it is)."""
    containers = [described.get("PrimaryContainer") or {}, *(described.get("Containers") or [])]
    packages = {c.get("ModelPackageName") for c in containers if c.get("ModelPackageName")}
    if packages == {package_arn}:
        return None
    return (f"model {described.get('ModelName')} exists but serves {sorted(packages) or 'no model package'}, "
            f"not {package_arn}: delete it (or rename what created it), then redrive the event")


def config_conflict(described: Mapping[str, Any], model: str) -> str | None:
    """Why an existing endpoint config of our name does not serve `model` (None: it does)."""
    models = sorted({v.get("ModelName") for v in described.get("ProductionVariants") or []})
    if models == [model]:
        return None
    return (f"endpoint config {described.get('EndpointConfigName')} exists but serves {models}, not {model}: "
            "delete it, then redrive the event")


# --- the endpoint's next step (pure) --------------------------------------------------------------


@dataclass(frozen=True)
class EndpointStep:
    """What to do with the endpoint to serve `config`: `calls` now, or `wait` (retry later)."""

    calls: tuple[Call, ...]
    reason: str
    wait: bool = False


def endpoint_step(settings: DeploymentSettings, config: str, package_arn: str,
                  endpoint: Mapping[str, Any] | None) -> EndpointStep:
    """Create the endpoint, update it to `config`, leave it alone, or wait for it to settle.

    UpdateEndpoint deploys a new config without availability loss, and needs an InService
    endpoint; a broken endpoint is deleted first (it serves nothing) and created on the retry."""
    name = endpoint_name(settings)
    if endpoint is None:
        return EndpointStep((Call("CreateEndpoint", create_endpoint_request(settings, config, package_arn)),),
                            f"created endpoint {name} with {config}")
    status = endpoint.get("EndpointStatus")
    if status in BROKEN_STATES:  # even with this config: a failed creation is tried again
        reason = endpoint.get("FailureReason") or "SageMaker gave no FailureReason"
        return EndpointStep((Call("DeleteEndpoint", {"EndpointName": name}),),
                            f"endpoint {name} is {status} ({reason}); deleted it, the retry creates it with {config}",
                            wait=True)
    if config in _target_configs(endpoint):
        return EndpointStep((), f"endpoint {name} already serves {config} ({status})")
    if status == IN_SERVICE and settings.mode == SERVERLESS and not is_serverless(endpoint):
        # "You cannot convert your instance-based, real-time endpoint to a serverless endpoint"
        # (UpdateEndpoint answers ValidationError): replace it.
        return EndpointStep((Call("DeleteEndpoint", {"EndpointName": name}),),
                            f"endpoint {name} is real-time and cannot be updated to serverless; deleted it, "
                            f"the retry creates it with {config}", wait=True)
    if status == IN_SERVICE:
        return EndpointStep((Call("UpdateEndpoint", update_endpoint_request(settings, config)),),
                            f"updating endpoint {name} from {endpoint.get('EndpointConfigName')} to {config}")
    return EndpointStep((), f"endpoint {name} is {status}; it can be updated to {config} once it is {IN_SERVICE}",
                        wait=True)


def is_serverless(endpoint: Mapping[str, Any]) -> bool:
    """True if a DescribeEndpoint answer is a serverless endpoint (its variants report a serverless config)."""
    return any(v.get("CurrentServerlessConfig") for v in endpoint.get("ProductionVariants") or [])


def _target_configs(endpoint: Mapping[str, Any]) -> set[str]:
    """The config the endpoint serves and, during an update, the one it is moving to."""
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    return {c for c in (endpoint.get("EndpointConfigName"), pending) if c}


# --- retirement and removal (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class ConfigInfo:
    """One of our endpoint configs (DescribeEndpointConfig): its models and creation time."""

    name: str
    models: tuple[str, ...]
    created: datetime

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> ConfigInfo:
        variants = described.get("ProductionVariants") or []
        models = tuple(sorted({v["ModelName"] for v in variants if v.get("ModelName")}))
        return cls(name=described["EndpointConfigName"], models=models, created=described["CreationTime"])


def retirement_calls(endpoint: Mapping[str, Any], configs: Sequence[ConfigInfo]) -> tuple[list[Call], str]:
    """Delete the configs (and their models) the InService endpoint no longer uses.

    Only once the endpoint is InService with no update pending: while an update runs, the previous
    config must not be deleted (UpdateEndpoint, DeleteEndpointConfig). A config created after the
    endpoint last changed may belong to a deployment in flight (created, UpdateEndpoint not yet
    sent): it is kept for the next sweep."""
    name = endpoint.get("EndpointName")
    status = endpoint.get("EndpointStatus")
    if status != IN_SERVICE or endpoint.get("PendingDeploymentSummary"):
        state = f"{status} with an update pending" if status == IN_SERVICE else status
        return [], f"endpoint {name} is {state}: nothing is retired until it is {IN_SERVICE} with no update pending"
    current = endpoint.get("EndpointConfigName")
    changed = endpoint.get("LastModifiedTime")
    kept_models = {m for c in configs if c.name == current for m in c.models}
    old = [c for c in configs if c.name != current and (changed is None or c.created < changed)]
    calls = [Call("DeleteEndpointConfig", {"EndpointConfigName": c.name}) for c in old]
    for model in sorted({m for c in old for m in c.models} - kept_models):
        calls.append(Call("DeleteModel", {"ModelName": model}))
    if not calls:
        return [], f"endpoint {name} serves {current}; no previous config to retire"
    return calls, f"endpoint {name} serves {current}; retired {', '.join(c.name for c in old)}"


def removal_calls(settings: DeploymentSettings, version: int, endpoint: Mapping[str, Any] | None,
                  configs: Sequence[ConfigInfo]) -> tuple[list[Call], str]:
    """Remove what `version` deployed: the endpoint if its target (the config it is moving to,
    else the one it serves) is one of the version's configs, then the version's configs and model
    that nothing still uses. The endpoint is not rolled back to an older version: approving one
    again deploys it (see docs/deployment.md)."""
    model = model_name(settings, version)
    own = {c.name for c in configs if model in c.models}
    calls: list[Call] = []
    in_use: set[str] = set()
    if endpoint is not None:
        pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        if (pending or endpoint.get("EndpointConfigName")) in own:
            calls.append(Call("DeleteEndpoint", {"EndpointName": endpoint_name(settings)}))
        else:
            # Serving this version while moving to another: the update finishes, and the
            # retirement then deletes this version's config and model.
            in_use = _target_configs(endpoint)
    calls += [Call("DeleteEndpointConfig", {"EndpointConfigName": c}) for c in sorted(own - in_use)]
    if not own & in_use:
        calls.append(Call("DeleteModel", {"ModelName": model}))
    if not calls:
        return [], f"version {version}'s config is still in use by an update to another version: the retirement " \
                   "removes it once that update is in service"
    return calls, f"removed what version {version} deployed ({', '.join(c.operation for c in calls)})"


# --- idle rule (pure) ------------------------------------------------------------------------------

INVOCATIONS_NAMESPACE = "AWS/SageMaker"
INVOCATIONS_METRIC = "Invocations"


def invocation_metric_requests(endpoint: Mapping[str, Any], *, now: datetime, minutes: int) -> list[dict[str, Any]]:
    """GetMetricStatistics requests for the endpoint's Invocations (Sum) over the last `minutes`,
    one per variant (the metric's dimensions are EndpointName and VariantName).

    One period spanning the whole window: regular-resolution periods are multiples of 60 s, and
    a start time 3 hours to 15 days ago still takes any multiple of 60 (GetMetricStatistics)."""
    start = now - timedelta(minutes=minutes)
    return [{
        "Namespace": INVOCATIONS_NAMESPACE,
        "MetricName": INVOCATIONS_METRIC,
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint["EndpointName"]},
                       {"Name": "VariantName", "Value": variant["VariantName"]}],
        "StartTime": start,
        "EndTime": now,
        "Period": minutes * 60,
        "Statistics": ["Sum"],
    } for variant in endpoint.get("ProductionVariants") or []]


def idle_decision(endpoint: Mapping[str, Any], datapoints: Sequence[Mapping[str, Any]], *, now: datetime,
                  idle_minutes: int) -> tuple[list[Call], str]:
    """DeleteEndpoint if this real-time endpoint had no invocation for `idle_minutes`; else nothing.

    The config and model stay: CreateEndpoint with the same config brings the version back.
    No datapoint counts as zero (SageMaker sends the metric with requests). A serverless endpoint
    is never deleted: it scales to zero and costs nothing while idle. An endpoint changed less
    than `idle_minutes` ago has not been observed for the whole window yet."""
    name = endpoint.get("EndpointName")
    if endpoint.get("EndpointStatus") != IN_SERVICE:
        return [], f"endpoint {name} is {endpoint.get('EndpointStatus')}, not {IN_SERVICE}"
    if is_serverless(endpoint):
        return [], f"endpoint {name} is serverless: it costs nothing while idle"
    changed = endpoint.get("LastModifiedTime")
    if changed is None or now - changed < timedelta(minutes=idle_minutes):
        return [], f"endpoint {name} changed less than {idle_minutes} minutes ago"
    invocations = sum(float(point.get("Sum", 0)) for point in datapoints)
    if invocations > 0:
        return [], f"endpoint {name} had {invocations:g} invocations in the last {idle_minutes} minutes"
    return ([Call("DeleteEndpoint", {"EndpointName": name})],
            f"endpoint {name} had no invocation in {idle_minutes} minutes: deleted it (its config "
            f"{endpoint.get('EndpointConfigName')} is kept for a redeploy)")


# --- handler ---------------------------------------------------------------------------------------


class EndpointBusy(TimeoutError):
    """The endpoint is not in a state this step can act on yet. A TimeoutError, which
    `runtime.is_retryable` counts as retryable: Lambda's retry of the event is the wait."""


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        settings = DeploymentSettings.from_env()
    except SettingsError as error:
        alert_settings_error(LOGGER, FUNCTION, SETTINGS_VARIABLE, error, context=context)
        raise
    detail_type = event.get("detail-type") if isinstance(event, Mapping) else None
    if detail_type == PACKAGE_DETAIL_TYPE:
        change = parse_package_event(event)
        result: dict[str, Any] = {"model_package": change.arn}
        if not is_our_group(settings, change.group):
            return finish(LOGGER, result, "ignored", f"group {change.group!r} is not ours")
        with _alerting(settings, f"model package {change.group}/{change.version}"):
            return _on_package(settings, change, result)
    if detail_type == ENDPOINT_DETAIL_TYPE:
        name, status = parse_endpoint_event(event)
        result = {"endpoint": name, "status": status}
        if name != endpoint_name(settings):
            return finish(LOGGER, result, "ignored", f"not our endpoint ({endpoint_name(settings)})")
        with _alerting(settings, f"endpoint {name}"):
            return _sweep(settings, result, alert_broken=True)
    if detail_type == SCHEDULED_DETAIL_TYPE:
        result = {"endpoint": endpoint_name(settings)}
        with _alerting(settings, f"endpoint {endpoint_name(settings)}"):
            return _sweep(settings, result, idle_rule=True)
    raise ValueError(f"event detail-type is {detail_type!r}; this function handles {PACKAGE_DETAIL_TYPE!r}, "
                     f"{ENDPOINT_DETAIL_TYPE!r} and {SCHEDULED_DETAIL_TYPE!r}")


def endpoint_console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/endpoints/{name}"


def package_console_url(region: str, group: str, version: int) -> str:
    return (f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"
            f"#/model-registry/model-package-groups/{group}/versions/{version}")


def _alerting(settings: DeploymentSettings, what: str) -> contextlib.AbstractContextManager[None]:
    return alerting_failures(LOGGER, FUNCTION, what, topic_arn=settings.topic_arn, region=settings.region,
                             console=endpoint_console_url(settings.region, endpoint_name(settings)))


def _on_package(settings: DeploymentSettings, change: PackageChange, result: dict[str, Any]) -> dict[str, Any]:
    sagemaker = client("sagemaker", settings.region)
    current = _describe(sagemaker.describe_model_package, ModelPackageName=change.arn)
    decision = decide(settings, change, current)
    if decision.action == IGNORE:
        return finish(LOGGER, result, "ignored", decision.reason)
    if decision.action == REFUSE:
        # Not an error a retry can fix: alert once, deploy nothing, keep whatever the endpoint serves.
        publish_alert(settings.topic_arn, settings.region,
                      f"Model package {change.group}/{change.version} approved but not deployed",
                      f"{decision.reason}.\n\nNothing was deployed; the endpoint {endpoint_name(settings)} (if any) "
                      "keeps serving what it served. Reject this version, or train a better model and approve "
                      "that one.", console=package_console_url(settings.region, change.group, change.version),
                      logger=LOGGER)
        return finish(LOGGER, result, "refused", decision.reason)
    endpoint = _describe(sagemaker.describe_endpoint, EndpointName=endpoint_name(settings))
    if decision.action == REMOVE:
        calls, reason = removal_calls(settings, change.version, endpoint, _our_configs(sagemaker, settings))
        _send(sagemaker, calls)
        return finish(LOGGER, {**result, "calls": [c.operation for c in calls]}, "removed",
                      f"{decision.reason}: {reason}")
    model_request = create_model_request(settings, change.arn, change.version)
    _ensure(sagemaker, "Model", model_request["ModelName"], model_request,
            lambda described: model_conflict(described, change.arn))
    config_request = create_endpoint_config_request(settings, change.arn, change.version)
    config = config_request["EndpointConfigName"]
    _ensure(sagemaker, "EndpointConfig", config, config_request,
            lambda described: config_conflict(described, model_request["ModelName"]))
    step = endpoint_step(settings, config, change.arn, endpoint)
    _send(sagemaker, step.calls)
    if step.wait:
        raise EndpointBusy(step.reason)
    return finish(LOGGER, {**result, "model": model_request["ModelName"], "endpoint_config": config,
                           "calls": [c.operation for c in step.calls]}, "deployed", step.reason)


def _sweep(settings: DeploymentSettings, result: dict[str, Any], *, idle_rule: bool = False,
           alert_broken: bool = False) -> dict[str, Any]:
    """Retire previous configs and (on schedule) apply the idle rule; a broken endpoint is alerted
    once, on its state change event (the schedule would repeat the alert every run)."""
    sagemaker = client("sagemaker", settings.region)
    name = endpoint_name(settings)
    endpoint = _describe(sagemaker.describe_endpoint, EndpointName=name)
    if endpoint is None:
        return finish(LOGGER, result, "ignored", f"endpoint {name} does not exist")
    status = endpoint.get("EndpointStatus")
    if status in BROKEN_STATES:
        reason = endpoint.get("FailureReason") or "SageMaker gave no FailureReason"
        if not alert_broken:
            return finish(LOGGER, {**result, "status": status}, "unchanged", f"endpoint {name} is {status}: {reason}")
        publish_alert(settings.topic_arn, settings.region, f"Endpoint {name} is {status}",
                      f"Endpoint {name} ({endpoint.get('EndpointConfigName')}) is {status}: {reason}\n\n"
                      "Approving the version again (or redriving its event) replaces the endpoint.",
                      console=endpoint_console_url(settings.region, name), logger=LOGGER)
        return finish(LOGGER, {**result, "status": status}, "alerted", reason)
    calls, reason = retirement_calls(endpoint, _our_configs(sagemaker, settings))
    if idle_rule and settings.mode == INSTANCE:
        now = datetime.now(UTC)
        cloudwatch = client("cloudwatch", settings.region)
        points = [point for request in invocation_metric_requests(endpoint, now=now, minutes=settings.idle_minutes)
                  for point in cloudwatch.get_metric_statistics(**request).get("Datapoints", [])]
        idle_calls, idle_reason = idle_decision(endpoint, points, now=now, idle_minutes=settings.idle_minutes)
        calls, reason = calls + idle_calls, f"{reason}; {idle_reason}"
    _send(sagemaker, calls)
    return finish(LOGGER, {**result, "calls": [c.operation for c in calls]},
                  "changed" if calls else "unchanged", reason)


def _our_configs(sagemaker: Any, settings: DeploymentSettings) -> list[ConfigInfo]:
    """Every endpoint config of this deployment (`our_configs`), with its models."""
    names = [summary["EndpointConfigName"]
             for page in sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=settings.job_prefix)
             for summary in page.get("EndpointConfigs", [])
             if summary["EndpointConfigName"].startswith(settings.job_prefix + "-")]
    described = (_describe(sagemaker.describe_endpoint_config, EndpointConfigName=n) for n in names)
    return our_configs(settings, [ConfigInfo.from_description(d) for d in described if d is not None])


def _ensure(sagemaker: Any, kind: str, name: str, request: Mapping[str, Any],
            conflict: Callable[[Mapping[str, Any]], str | None]) -> None:
    """Create the model or endpoint config unless one of that name exists; an existing one must be ours.

    Looked up first because not every endpoint refuses a duplicate (the local emulator accepts
    one); "already exists" from the create covers a concurrent delivery."""
    described = _describe(getattr(sagemaker, f"describe_{xform_name(kind)}"), **{f"{kind}Name": name})
    if described is not None:
        problem = conflict(described)
        if problem:
            raise ValueError(problem)
        return
    try:
        getattr(sagemaker, f"create_{xform_name(kind)}")(**request)
    except ClientError as error:
        if not is_already_exists_error(error.response):
            raise
        log(LOGGER, "already_created", kind=kind, name=name)
        return
    log(LOGGER, "created", kind=kind, name=name)


def _send(sagemaker: Any, calls: Sequence[Call]) -> None:
    """Send `calls` in order; a Delete of something already gone counts as done."""
    for call in calls:
        try:
            getattr(sagemaker, xform_name(call.operation))(**call.params)
        except ClientError as error:
            if not (call.operation.startswith("Delete") and _is_missing(error.response)):
                raise
            log(LOGGER, "already_gone", level=logging.INFO, operation=call.operation, params=dict(call.params))
            continue
        log(LOGGER, "sent", operation=call.operation, params=dict(call.params))


def _describe(call: Any, **params: Any) -> dict[str, Any] | None:
    try:
        described: dict[str, Any] = call(**params)
    except ClientError as error:
        if _is_missing(error.response):
            return None
        raise
    return described


def _is_missing(response: Mapping[str, Any]) -> bool:
    """`runtime.is_not_found_error`, plus DescribeModelPackage's answer for a deleted version:
    a ValidationException "ModelPackage <arn> does not exist."."""
    error = response.get("Error") or {}
    return is_not_found_error(response) or (
        error.get("Code") == "ValidationException" and "does not exist" in str(error.get("Message", "")).lower())
