"""SageMaker EventBridge events for the offline demo, and delivery through a deployed rule.

The emulator stores the stacks' EventBridge rules but cannot run Lambda code, so the demo
calls handlers in-process. `deliver` keeps that honest: a handler only sees an event when the
*deployed* rule's pattern matches it, decided by EventBridge's own `TestEventPattern` API
(answered by the emulator, see `demo.emulator.emulator_extensions`). A rule whose
pattern is wrong therefore breaks the demo exactly as it would break the real workflow.

The builders produce the envelope EventBridge hands to a Lambda target (`version`, `id`,
`detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`), with the detail
fields AWS documents for each SageMaker state change
(https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

SAGEMAKER_SOURCE = "aws.sagemaker"
LABELING_JOB_STATE_CHANGE = "SageMaker Ground Truth Labeling Job State Change"
TRAINING_JOB_STATE_CHANGE = "SageMaker Training Job State Change"
TUNING_JOB_STATE_CHANGE = "SageMaker HyperParameter Tuning Job State Change"
TRANSFORM_JOB_STATE_CHANGE = "SageMaker Transform Job State Change"

# moto's default account: what the emulator answers for the fake credentials.
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

# EventBridge refuses to test (or route) an event missing any of these envelope fields.

# Fixed namespace so that the same event always gets the same id (deterministic demo runs).
_EVENT_ID_NAMESPACE = uuid.UUID("6f1c0b1e-3d1a-4c36-9a55-5a9f1e0c2b7d")

Event = dict[str, Any]
Handler = Callable[[Event, Any], Any]


class PatternTestUnavailable(RuntimeError):
    """The endpoint answered TestEventPattern without a `Result` (moto's unimplemented stub)."""


def event_time(moment: datetime | None = None) -> str:
    """EventBridge's `time` format: UTC, whole seconds, `Z` suffix."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sagemaker_arn(resource_type: str, name: str, *, region: str, account: str) -> str:
    # The workflow reads the job name back out of `resources[0]`: keep it verbatim.
    return f"arn:aws:sagemaker:{region}:{account}:{resource_type}/{name}"


def sagemaker_event(
    detail_type: str,
    detail: Mapping[str, Any],
    resources: list[str],
    *,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    time: datetime | str | None = None,
    event_id: str | None = None,
) -> Event:
    """An EventBridge envelope as delivered to a target, with source `aws.sagemaker`.

    Without `event_id` the id is derived from the content, so a rebuilt event is identical
    (which is also how a duplicate delivery of the same state change looks to a handler).
    """
    if event_id is None:
        fingerprint = json.dumps([detail_type, resources, detail], sort_keys=True, default=str)
        event_id = str(uuid.uuid5(_EVENT_ID_NAMESPACE, fingerprint))
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": SAGEMAKER_SOURCE,
        "account": account,
        "time": time if isinstance(time, str) else event_time(time),
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
    }


def labeling_job_state_change(
    job_name: str,
    status: str = "Completed",
    *,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    time: datetime | str | None = None,
    event_id: str | None = None,
) -> Event:
    """Ground Truth's event: the job name is only in `resources[0]`, the detail has the status."""
    arn = sagemaker_arn("labeling-job", job_name, region=region, account=account)
    return sagemaker_event(
        LABELING_JOB_STATE_CHANGE,
        {"LabelingJobStatus": status},
        [arn],
        region=region,
        account=account,
        time=time,
        event_id=event_id,
    )


def training_job_state_change(
    job_name: str,
    status: str = "Completed",
    *,
    secondary_status: str | None = None,
    failure_reason: str | None = None,
    model_artifacts_s3_uri: str | None = None,
    extra_detail: Mapping[str, Any] | None = None,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    time: datetime | str | None = None,
    event_id: str | None = None,
) -> Event:
    """SageMaker's training event; its detail mirrors DescribeTrainingJob (a subset here)."""
    arn = sagemaker_arn("training-job", job_name, region=region, account=account)
    detail: dict[str, Any] = {
        "TrainingJobName": job_name,
        "TrainingJobArn": arn,
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary_status or status,
    }
    if failure_reason is not None:
        detail["FailureReason"] = failure_reason
    if model_artifacts_s3_uri is not None:
        detail["ModelArtifacts"] = {"S3ModelArtifacts": model_artifacts_s3_uri}
    detail.update(extra_detail or {})
    return sagemaker_event(
        TRAINING_JOB_STATE_CHANGE,
        detail,
        [arn],
        region=region,
        account=account,
        time=time,
        event_id=event_id,
    )


def tuning_job_state_change(
    job_name: str,
    status: str = "Completed",
    *,
    best_training_job_name: str | None = None,
    failure_reason: str | None = None,
    extra_detail: Mapping[str, Any] | None = None,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    time: datetime | str | None = None,
    event_id: str | None = None,
) -> Event:
    """SageMaker's tuning event; detail mirrors DescribeHyperParameterTuningJob (a subset)."""
    arn = sagemaker_arn("hyper-parameter-tuning-job", job_name, region=region, account=account)
    detail: dict[str, Any] = {
        "HyperParameterTuningJobName": job_name,
        "HyperParameterTuningJobArn": arn,
        "HyperParameterTuningJobStatus": status,
    }
    if best_training_job_name is not None:
        detail["BestTrainingJob"] = {
            "TrainingJobName": best_training_job_name,
            "TrainingJobArn": sagemaker_arn("training-job", best_training_job_name, region=region, account=account),
        }
    if failure_reason is not None:
        detail["FailureReason"] = failure_reason
    detail.update(extra_detail or {})
    return sagemaker_event(
        TUNING_JOB_STATE_CHANGE,
        detail,
        [arn],
        region=region,
        account=account,
        time=time,
        event_id=event_id,
    )


def transform_job_state_change(
    description: Mapping[str, Any],
    *,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    time: datetime | str | None = None,
    event_id: str | None = None,
) -> Event:
    """SageMaker's batch transform event from a DescribeTransformJob answer: its detail mirrors the
    description (AWS's example: name, ARN, status, FailureReason, model, TransformInput, TransformOutput,
    TransformResources, times, Tags), timestamps as ISO text."""
    name = description["TransformJobName"]
    arn = description.get("TransformJobArn") or sagemaker_arn("transform-job", name, region=region, account=account)
    detail: dict[str, Any] = {"TransformJobName": name, "TransformJobArn": arn,
                              "TransformJobStatus": description["TransformJobStatus"]}
    for key in ("FailureReason", "ModelName", "MaxConcurrentTransforms", "MaxPayloadInMB", "BatchStrategy",
                "TransformInput", "TransformOutput", "TransformResources"):
        if description.get(key) not in (None, ""):
            detail[key] = description[key]
    for key in ("CreationTime", "TransformStartTime", "TransformEndTime"):
        if description.get(key) is not None:
            value = description[key]
            detail[key] = event_time(value) if isinstance(value, datetime) else str(value)
    detail["Tags"] = {}
    return sagemaker_event(TRANSFORM_JOB_STATE_CHANGE, detail, [arn], region=region, account=account, time=time,
                           event_id=event_id)


def put_event_entry(event: Event, *, event_bus_name: str = "default") -> dict[str, Any]:
    """The PutEvents entry that makes EventBridge build `event`'s envelope."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Resources": list(event["resources"]),
        "Detail": json.dumps(event["detail"]),
        "EventBusName": event_bus_name,
    }


# --- Matching and delivery -----------------------------------------------------------------


def rule_pattern(events_client: Any, rule_name: str, *, event_bus_name: str = "default") -> str:
    """The event pattern of a deployed rule (as stored by EventBridge, JSON text)."""
    rule = events_client.describe_rule(Name=rule_name, EventBusName=event_bus_name)
    pattern = rule.get("EventPattern")
    if not pattern:
        raise ValueError(
            f"EventBridge rule {rule_name!r} has no event pattern (a scheduled rule?); "
            "events cannot be matched against it"
        )
    return str(pattern)


def matches(events_client: Any, pattern: str | Mapping[str, Any], event: Event) -> bool:
    """Whether EventBridge says `pattern` matches `event` (the TestEventPattern API)."""
    pattern_text = pattern if isinstance(pattern, str) else json.dumps(pattern)
    response = events_client.test_event_pattern(EventPattern=pattern_text, Event=json.dumps(event))
    if "Result" not in response:
        # Plain moto answers TestEventPattern with an empty 200; treating that as "no match"
        # would silently skip every handler.
        raise PatternTestUnavailable(
            "TestEventPattern returned no Result: the emulator's stub is not replaced. Start it "
            "with demo.emulator.running_emulator(), which installs a working TestEventPattern."
        )
    return bool(response["Result"])


def deliver(
    events_client: Any,
    rule_name_or_pattern: str | Mapping[str, Any],
    event: Event,
    handler: Handler,
    *,
    context: Any = None,
    event_bus_name: str = "default",
) -> bool:
    """Call `handler(event, context)` if the rule (or pattern) matches; return whether it did.

    `rule_name_or_pattern` is a deployed rule's name, or a pattern (dict or JSON text) to test
    a pattern before it is deployed.
    """
    if isinstance(rule_name_or_pattern, Mapping):
        pattern: str | Mapping[str, Any] = rule_name_or_pattern
    elif rule_name_or_pattern.lstrip().startswith("{"):
        pattern = rule_name_or_pattern
    else:
        pattern = rule_pattern(events_client, rule_name_or_pattern, event_bus_name=event_bus_name)
    if not matches(events_client, pattern, event):
        return False
    handler(event, context)
    return True
