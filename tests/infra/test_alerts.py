"""Failures are loud: alarms on the dead-letter queue and on each function's errors, a topic policy
that admits CloudWatch and EventBridge only for this account's own sources, and no silent prod."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.app import build_app
from stacks.config import ConfigError
from tests.infra.synth import ACCOUNT, REGION, context_for, render, synthesize

FUNCTIONS = ("StartLabeling", "StartTraining", "RegisterModel", "Evaluation")  # Evaluation: evaluation.enabled


def resources(config: str, kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in synthesize(config)["Workflow"]["Resources"].items()
            if resource["Type"] == kind}


def alarms(config: str) -> dict[str, dict[str, Any]]:
    """Alarm properties by alarm name (intrinsics rendered)."""
    found = [render(r["Properties"]) for r in resources(config, "AWS::CloudWatch::Alarm").values()]
    return {props["AlarmName"]: props for props in found}


def topic_ref(config: str) -> str:
    [name] = resources(config, "AWS::SNS::Topic")
    return f"<{name}>"


@pytest.mark.parametrize("config", ["explicit-env", "prod"])
def test_dead_letter_queue_alarm_notifies_the_topic(config: str) -> None:
    alarm = alarms(config)[f"{config.replace('explicit-env', 'dev')}-Workflow-DeadLettersVisible"]
    [queue] = resources(config, "AWS::SQS::Queue")
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": f"<{queue}.QueueName>"}]
    assert alarm["Statistic"] == "Maximum" and alarm["Period"] == 300
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (
        "GreaterThanThreshold", 0, 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [topic_ref(config)]


def test_each_function_has_an_errors_alarm_that_notifies_the_topic() -> None:
    functions = {name: r for name, r in resources("explicit-env", "AWS::Lambda::Function").items()
                 if any(name.startswith(part) for part in ("Labeling", "Training", "Model", "Evaluation"))}
    found = alarms("explicit-env")
    errors = {name: alarm for name, alarm in found.items() if alarm.get("MetricName") == "Errors"}
    assert sorted(errors) == sorted(f"dev-Workflow-{function}Errors" for function in FUNCTIONS)
    alarmed = set()
    for alarm in errors.values():
        assert alarm["Namespace"] == "AWS/Lambda"
        assert alarm["Statistic"] == "Sum" and alarm["Period"] == 300
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["AlarmActions"] == [topic_ref("explicit-env")]
        [dimension] = alarm["Dimensions"]
        assert dimension["Name"] == "FunctionName"
        alarmed.add(dimension["Value"].strip("<>"))
    assert alarmed <= set(functions) and len(alarmed) == len(FUNCTIONS)


def topic_statements(config: str) -> dict[str, dict[str, Any]]:
    [policy] = resources(config, "AWS::SNS::TopicPolicy").values()
    return {s.get("Sid"): s for s in render(policy["Properties"]["PolicyDocument"]["Statement"])}


def test_topic_policy_admits_cloudwatch_and_eventbridge_only_for_this_accounts_sources() -> None:
    statements = topic_statements("explicit-env")
    topic = topic_ref("explicit-env")
    [rule] = [name for name, r in resources("explicit-env", "AWS::Events::Rule").items()
              if name.startswith("AlertsLabelingJobFailedOrStopped")]
    assert statements["AlarmsOfThisStack"] == {
        "Sid": "AlarmsOfThisStack", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic,
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:dev-Workflow-*"},
        },
    }
    assert statements["RulesOfThisStack"] == {
        "Sid": "RulesOfThisStack", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic,
        "Principal": {"Service": "events.amazonaws.com"},
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                      "ArnEquals": {"aws:SourceArn": f"<{rule}.Arn>"}},
    }
    # Every service the policy admits is conditioned on the source account.
    for statement in statements.values():
        if "Service" in statement.get("Principal", {}) and statement["Effect"] == "Allow":
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT


def test_env_agnostic_topic_policy_names_the_deploying_account() -> None:
    statements = topic_statements("default")
    assert statements["RulesOfThisStack"]["Condition"]["StringEquals"] == {"aws:SourceAccount": "<AWS::AccountId>"}


def test_prod_refuses_to_synthesize_without_a_subscriber() -> None:
    with pytest.raises(ConfigError, match=r"workflow\.alerts has no subscriber") as raised:
        build_app(context_for({"env": "prod"}), default_account=ACCOUNT, default_region=REGION)
    assert "Environment 'prod' sets workflow.alerts.require_subscriber = true" in str(raised.value)


def test_prod_synthesizes_with_an_existing_topic_instead(capsys: pytest.CaptureFixture[str]) -> None:
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:team-alerts"
    app = build_app(context_for({"env": "prod", "workflow.alerts.topic_arn": topic_arn}),
                    default_account=ACCOUNT, default_region=REGION)
    template = app.synth().get_stack_by_name("prod-Workflow").template
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::SNS::Topic" not in kinds and "AWS::SNS::TopicPolicy" not in kinds
    actions = [r["Properties"]["AlarmActions"] for r in template["Resources"].values()
               if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert actions and all(a == [topic_arn] for a in actions)
    assert "warning: workflow.alerts" not in capsys.readouterr().err  # (prod invites no workers: that warns)


def test_dev_without_a_subscriber_warns_on_stderr_and_synthesizes(capsys: pytest.CaptureFixture[str]) -> None:
    build_app(context_for({}), default_account=ACCOUNT, default_region=REGION).synth()
    assert "warning: workflow.alerts has no subscriber" in capsys.readouterr().err


def test_prod_with_an_email_subscribes_it() -> None:
    [subscription] = [render(r["Properties"]) for r in resources("prod", "AWS::SNS::Subscription").values()]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ml-team@example.com")
