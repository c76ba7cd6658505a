"""The notebook instance: pinned platform, IMDSv2, root access, VPC, KMS, lifecycle, outputs."""

from __future__ import annotations

import base64

import pytest

from stacks.lifecycle_scripts import MAX_SCRIPT_CHARS
from stacks.notebook import NOTEBOOK_LOGICAL_ID
from tests.infra.synth import policy_statements, render, synthesize


def notebook(config: str) -> dict:
    return synthesize(config)["Workflow"]["Resources"][NOTEBOOK_LOGICAL_ID]["Properties"]


def lifecycle(config: str) -> dict:
    resources = synthesize(config)["Workflow"]["Resources"]
    (config_resource,) = [r for r in resources.values()
                          if r["Type"] == "AWS::SageMaker::NotebookInstanceLifecycleConfig"]
    return config_resource["Properties"]


def test_defaults_reproduce_the_article_securely() -> None:
    props = notebook("default")
    assert props["InstanceType"] == "ml.t3.medium"
    assert props["VolumeSizeInGB"] == 5
    assert props["PlatformIdentifier"] == "notebook-al2023-v1"  # the newest deployable (notebook_platforms)
    assert props["InstanceMetadataServiceConfiguration"] == {"MinimumInstanceMetadataServiceVersion": "2"}
    assert props["RootAccess"] == "Disabled"
    assert props["DirectInternetAccess"] == "Enabled"
    assert "SubnetId" not in props and "KmsKeyId" not in props
    assert render(props["RoleArn"]).startswith("<import:dev-Data:ExportsOutputFnGetAttSageMakerExecutionRole")
    assert props["NotebookInstanceName"] == "ground-truth-demo-dev"


def test_vpc_kms_and_root_access_from_config() -> None:
    props = notebook("vpc-kms")
    assert props["SubnetId"] == "subnet-0123456789abcdef0"
    assert props["SecurityGroupIds"] == ["sg-0123456789abcdef0"]
    assert props["DirectInternetAccess"] == "Disabled"
    assert props["KmsKeyId"].endswith(":key/11111111-2222-3333-4444-555555555555")
    assert props["RootAccess"] == "Enabled"


def _script(hook: list) -> str:
    (entry,) = hook
    content = entry["Content"]["Fn::Base64"]
    return render(content)


@pytest.mark.parametrize("config", ["default", "explicit-env", "vpc-kms"])
def test_lifecycle_scripts_are_ours_inline_and_within_the_limit(config: str) -> None:
    props = lifecycle(config)
    on_start, on_create = _script(props["OnStart"]), _script(props["OnCreate"])
    for script in (on_start, on_create):
        assert script.startswith("#!/bin/bash")
        assert len(base64.b64encode(script.encode())) <= MAX_SCRIPT_CHARS
    assert "notebook_lifecycle" not in on_start  # never the downloaded sample script
    assert notebook(config)["LifecycleConfigName"]["Fn::GetAtt"][1] == "NotebookInstanceLifecycleConfigName"


def test_idle_minutes_reach_the_on_start_script() -> None:
    assert "IDLE_MINUTES=60" in _script(lifecycle("default")["OnStart"]).replace('"', "")
    disabled = _script(lifecycle("vpc-kms")["OnStart"])  # idle_minutes = 0
    assert "auto-stop: disabled" in disabled
    assert "systemctl" not in disabled and "IDLE_MINUTES" not in disabled


def test_sample_sync_targets_the_images_prefix_only_when_enabled() -> None:
    enabled = _script(lifecycle("explicit-env")["OnCreate"])
    # The workflow stack derives the bucket name itself (no reference into the data stack).
    assert "DESTINATION='s3://sagemaker-us-east-1-123456789012/ground-truth-demo/images/'" in enabled
    assert "sagemaker-sample-files/datasets/image/caltech-101" in enabled
    disabled = _script(lifecycle("prod")["OnCreate"])  # prod turns the sample sync off
    assert "aws s3 sync" not in disabled


def test_notebook_may_stop_only_itself() -> None:
    statements = [s for s in policy_statements(synthesize("explicit-env")["Workflow"])
                  if "sagemaker:StopNotebookInstance" in s["Action"]]
    assert statements == [{
        "Action": ["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"],
        "Effect": "Allow",
        "Resource": "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/ground-truth-demo-dev",
    }]


def test_outputs_name_the_notebook_and_its_console_url() -> None:
    outputs = synthesize("explicit-env")["Workflow"]["Outputs"]
    assert outputs["NotebookName"]["Value"] == "ground-truth-demo-dev"
    assert render(outputs["NotebookConsoleUrl"]["Value"]) == (
        "https://<AWS::Region>.console.aws.amazon.com/sagemaker/home?region=<AWS::Region>"
        "#/notebook-instances/ground-truth-demo-dev")


def test_notebook_can_be_disabled() -> None:
    from stacks.app import build_app
    from tests.infra.synth import context_for
    app = build_app(context_for({"workflow.notebook.enabled": False}))
    stack = app.node.find_child("dev-Workflow")
    assert stack.node.try_find_child("Notebook") is None
