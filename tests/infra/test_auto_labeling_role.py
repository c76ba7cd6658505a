"""`labeling.auto_labeling`: exactly the documented grants on the execution role when on, nothing when off.

Documented (docs/labeling-cost.md, "Permissions"): iam:PassRole of the execution role to SageMaker, and
with a volume key kms:CreateGrant on that key for AWS resources. The synth runs cdk-nag, so these
templates also pass its checks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.auto_labeling_synth import VOLUME_KEY_ARN, synthesize_auto_labeling
from tests.infra.synth import render, synthesize

ROLE = "<import:dev-Data:ExportsOutputFnGetAttSageMakerExecutionRole38ADDEB7Arn6AE73636>"
ROLE_REF = "<import:dev-Data:ExportsOutputRefSageMakerExecutionRole38ADDEB79D86567C>"
PASS_ROLE = {"Sid": "AutoLabelingPassRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
             "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}
CREATE_GRANT = {"Sid": "AutoLabelingVolumeKey", "Effect": "Allow", "Action": "kms:CreateGrant",
                "Resource": VOLUME_KEY_ARN, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}


def auto_labeling_policies(templates: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {logical: render(resource["Properties"])
            for template in templates.values() for logical, resource in template["Resources"].items()
            if resource["Type"] == "AWS::IAM::Policy" and "AutoLabeling" in logical}


def labeling_settings(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [function] = [resource for resource in templates["Workflow"]["Resources"].values()
                  if resource["Type"] == "AWS::Lambda::Function"
                  and "LABELING_SETTINGS" in json.dumps(resource["Properties"].get("Environment", {}))]
    text = function["Properties"]["Environment"]["Variables"]["LABELING_SETTINGS"]
    return json.loads(text if isinstance(text, str) else "".join(p for p in text["Fn::Join"][1] if isinstance(p, str)))


@pytest.mark.parametrize(("configuration", "statements"), [
    ("with-volume-key", [PASS_ROLE, CREATE_GRANT]),
    ("without-volume-key", [PASS_ROLE]),
])
def test_on_the_execution_role_gets_exactly_the_documented_statements(configuration: str,
                                                                      statements: list[dict[str, Any]]) -> None:
    [policy] = auto_labeling_policies(synthesize_auto_labeling(configuration)).values()
    assert policy["Roles"] == [ROLE_REF]
    assert policy["PolicyDocument"]["Statement"] == statements


def test_on_adds_that_policy_and_nothing_else() -> None:
    on, off = synthesize_auto_labeling("with-volume-key"), synthesize("explicit-env")
    for suffix in ("Data", "Workflow"):
        added = set(on[suffix]["Resources"]) - set(off[suffix]["Resources"])
        removed = set(off[suffix]["Resources"]) - set(on[suffix]["Resources"])
        assert removed == set()
        assert added == (set(auto_labeling_policies({suffix: on[suffix]})) if suffix == "Workflow" else set())
    assert on["Data"] == off["Data"]  # the stateful stack does not change at all


def test_off_grants_nothing_for_it() -> None:
    templates = synthesize("explicit-env")
    assert auto_labeling_policies(templates) == {}
    rendered = json.dumps(render(templates))
    assert "kms:CreateGrant" not in rendered  # no volume key anywhere (the training volume grant needs a bucket key)
    assert labeling_settings(templates)["auto_labeling"] == {"enabled": False, "initial_model_arn": None,
                                                             "volume_kms_key_arn": None}


def test_on_passes_the_settings_to_start_labeling() -> None:
    settings = labeling_settings(synthesize_auto_labeling("with-volume-key"))
    assert settings["auto_labeling"] == {"enabled": True, "initial_model_arn": None,
                                         "volume_kms_key_arn": VOLUME_KEY_ARN}
