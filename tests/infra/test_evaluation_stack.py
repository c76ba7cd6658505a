"""The evaluation step in the templates (stacks/evaluation.py, stacks/model.py): the Evaluation function's
grants, exactly; RegisterModel's evaluation grants; the rule, checked by EventBridge's own matcher (the
emulator's TestEventPattern); the settings; and nothing of it with evaluation.enabled false."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from demo.events import matches, transform_job_state_change
from stacks.lambda_settings import EVALUATION_SETTINGS_VAR, MODEL_SETTINGS_VAR
from tests.infra.synth import ACCOUNT, REGION, render
from tests.infra.test_workflow_resources import function, resources, role_statements, rule_pattern

BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
OBJECTS = f"arn:aws:s3:::{BUCKET}/ground-truth-demo"
TRANSFORM_JOBS = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/gt-demo-*"


def by_sid(config: str, role: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in role_statements(config, role) if s.get("Sid")}


def test_the_evaluation_function_is_granted_exactly_what_it_calls() -> None:
    granted = by_sid("explicit-env", "EvaluationEvaluate")
    assert granted["DescribeOurEvaluations"] == {"Sid": "DescribeOurEvaluations", "Effect": "Allow",
                                                 "Action": "sagemaker:DescribeTransformJob",
                                                 "Resource": TRANSFORM_JOBS}
    assert granted["ListEvaluationOutputs"] == {
        "Sid": "ListEvaluationOutputs", "Effect": "Allow", "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{BUCKET}",
        "Condition": {"StringLike": {"s3:prefix": ["ground-truth-demo/evaluation", "ground-truth-demo/evaluation/*"]}}}
    assert granted["ReadEvaluationInputsAndImages"]["Action"] == "s3:GetObject"  # read-only on the prefix
    assert granted["ReadEvaluationInputsAndImages"]["Resource"] == f"{OBJECTS}/*"
    assert granted["WriteMetricsAndReport"]["Action"] == "s3:PutObject"
    assert granted["WriteMetricsAndReport"]["Resource"] == f"{OBJECTS}/evaluation/*"
    # dev registers no package: nothing of the registry, and no DescribeModel.
    assert not {"RegisterModelPackageVersions", "FindRegisteredVersion", "DescribeOurModels"} & set(granted)
    assert "iam:PassRole" not in json.dumps(role_statements("explicit-env", "EvaluationEvaluate"))


def test_register_model_starts_evaluations_of_our_models_only() -> None:
    granted = by_sid("explicit-env", "RegisterModel")
    assert sorted(granted["StartOurEvaluations"]["Action"]) == ["sagemaker:AddTags", "sagemaker:CreateTransformJob"]
    assert granted["StartOurEvaluations"]["Resource"] == TRANSFORM_JOBS
    assert granted["DescribeOurEvaluations"]["Resource"] == TRANSFORM_JOBS
    assert granted["ReadValidationSplits"] == {"Sid": "ReadValidationSplits", "Effect": "Allow",
                                               "Action": "s3:GetObject", "Resource": f"{OBJECTS}/training/*"}
    assert granted["WriteEvaluationInputs"] == {"Sid": "WriteEvaluationInputs", "Effect": "Allow",
                                                "Action": "s3:PutObject", "Resource": f"{OBJECTS}/evaluation/*"}


def test_the_settings_name_the_bucket_prefix_instance_type_and_floor() -> None:
    model = json.loads(render(function("explicit-env", "RegisterModel")["Environment"]["Variables"]
                              [MODEL_SETTINGS_VAR]))
    assert model["evaluation"] == {"bucket": BUCKET, "prefix": "ground-truth-demo", "instance_type": "ml.m5.large",
                                   "kms_key_arn": None}
    evaluation = json.loads(render(function("explicit-env", "EvaluationEvaluate")["Environment"]["Variables"]
                                   [EVALUATION_SETTINGS_VAR]))
    assert (evaluation["bucket"], evaluation["prefix"], evaluation["accuracy_floor"]) == (
        BUCKET, "ground-truth-demo", None)
    assert (evaluation["register_package"], evaluation["package_group_name"]) == (False, None)


def test_evaluation_off_deploys_nothing_of_it() -> None:
    assert not [k for k in resources("no-evaluation-package", "AWS::Lambda::Function") if "Evaluation" in k]
    assert not [k for k in resources("no-evaluation-package", "AWS::Events::Rule") if "Transform" in k]
    model = json.loads(render(function("no-evaluation-package", "RegisterModel")["Environment"]["Variables"]
                              [MODEL_SETTINGS_VAR]))
    assert model["evaluation"] is None
    assert "Transform" not in json.dumps(role_statements("no-evaluation-package", "RegisterModel"))


@pytest.fixture(scope="module")
def events_client(emulator: Any) -> Any:
    return boto3.client("events", endpoint_url=emulator.endpoint_url, region_name=REGION)


def transform_event(job: str, status: str, output: str) -> dict[str, Any]:
    return transform_job_state_change({"TransformJobName": job, "TransformJobStatus": status,
                                       "TransformOutput": {"S3OutputPath": output}}, region=REGION, account=ACCOUNT)


def test_the_rule_matches_our_evaluations_that_ended_and_nothing_else(events_client: Any) -> None:
    pattern = rule_pattern("explicit-env", "TransformJobEnded")
    ours = f"s3://{BUCKET}/ground-truth-demo/evaluation/gt-demo-1/predictions/"
    for status in ("Completed", "Failed", "Stopped"):
        assert matches(events_client, pattern, transform_event("gt-demo-1", status, ours))
    assert not matches(events_client, pattern, transform_event("gt-demo-1", "InProgress", ours))
    # `workflow predict --batch`: a transform job of the prefix that is no evaluation.
    assert not matches(events_client, pattern, transform_event(
        "gt-demo-predict-20261202", "Completed", f"s3://{BUCKET}/ground-truth-demo/predictions/20261202/output"))
    assert not matches(events_client, pattern, transform_event("other-team-1", "Completed", ours))
    assert not matches(events_client, pattern, transform_event(
        "gt-demo-1", "Completed", f"s3://{BUCKET}-prod/ground-truth-demo/evaluation/gt-demo-1/predictions/"))
