"""workflow/local.py: a deployed function's handler run here gets its settings, nothing else."""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.stub import Stubber

from workflow import local

ROLE = "arn:aws:iam::123456789012:role/StartLabeling"
DEPLOYED_ENVIRONMENT = {
    "LABELING_SETTINGS": '{"region": "us-east-1"}',
    "AWS_ENDPOINT_URL": "https://attacker.example",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "HTTPS_PROXY": "http://proxy.example:3128",
    "no_proxy": "*",
}


def test_deployed_function_keeps_only_the_settings_variables() -> None:
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_function_configuration",
            {"FunctionName": "StartLabeling", "Role": ROLE, "Environment": {"Variables": DEPLOYED_ENVIRONMENT}},
            expected_params={"FunctionName": "StartLabeling"},
        )
        deployed = local.deployed_function(client, "StartLabeling")
    assert deployed.variables == {"LABELING_SETTINGS": '{"region": "us-east-1"}'}
    assert deployed.role_arn == ROLE


def test_deployed_environment_sets_no_aws_or_proxy_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "HTTPS_PROXY", "no_proxy", "LABELING_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    function = local.DeployedFunction(name="StartLabeling", role_arn=ROLE, variables=DEPLOYED_ENVIRONMENT)

    with local.deployed_environment(function):
        assert os.environ["LABELING_SETTINGS"] == '{"region": "us-east-1"}'
        assert os.environ["AWS_REGION"] == "us-east-1"
        assert not {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "HTTPS_PROXY", "no_proxy"} & set(os.environ)
        assert local.running_as.get() == ROLE
    assert "LABELING_SETTINGS" not in os.environ
