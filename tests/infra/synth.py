"""Synthesize each configuration once per test session and share the templates.

The test App gets `cdk.json`'s context (feature flags and the `workflow` config), exactly as
`cdk synth` does, plus per-configuration overrides.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

from stacks.app import build_app

PROJECT_DIR = Path(__file__).resolve().parents[2]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((PROJECT_DIR / "cdk.json").read_text())["context"]

ACCOUNT = "123456789012"
REGION = "us-east-1"

# Named configurations the infra tests run over (key -> context overrides, explicit env?).
CONFIGURATIONS: dict[str, tuple[dict[str, Any], bool]] = {
    "default": ({}, False),  # env-agnostic, as `make synth` with no credentials
    "explicit-env": ({}, True),
    # prod refuses to synthesize without an alert subscriber (stacks/alerts.py).
    "prod": ({"env": "prod", "workflow.alerts.email": "ml-team@example.com"}, True),
    "vpc-kms": ({
        "workflow.notebook.subnet_id": "subnet-0123456789abcdef0",
        "workflow.notebook.security_group_ids": ["sg-0123456789abcdef0"],
        "workflow.notebook.kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        "workflow.bucket.kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        "workflow.notebook.root_access": True,
        "workflow.notebook.idle_minutes": 0,
    }, True),
    "adopt-bucket": ({
        "workflow.bucket.name": "team-ml-data",
        "workflow.bucket.adopt_existing": True,
    }, True),
    # Deploy on approval (stacks/endpoint.py): serverless, and one real-time instance with the idle rule and
    # an SSE-KMS data bucket (the instance's volume key).
    "endpoint": ({
        "workflow.model.register_package": True,
        "workflow.endpoint.enabled": True,
    }, True),
    "endpoint-instance-kms": ({
        "workflow.model.register_package": True,
        "workflow.endpoint.enabled": True,
        "workflow.endpoint.mode": "instance",
        "workflow.bucket.kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
    }, True),
    # Evaluation off (stacks/evaluation.py absent): RegisterModel registers the model package itself.
    "no-evaluation-package": ({
        "workflow.evaluation.enabled": False,
        "workflow.model.register_package": True,
    }, True),
}


def context_for(overrides: dict[str, Any]) -> dict[str, Any]:
    return {**CDK_JSON_CONTEXT, **overrides}


@functools.cache
def synthesize(name: str) -> dict[str, dict[str, Any]]:
    """Templates of one configuration, keyed by stack suffix ("Data", "Workflow")."""
    return {suffix: stack.template for suffix, stack in synthesize_stacks(name).items()}


@functools.cache
def synthesize_stacks(name: str) -> dict[str, Any]:
    """Cloud-assembly stack artifacts of one configuration, keyed by stack suffix."""
    overrides, explicit_env = CONFIGURATIONS[name]
    outdir = tempfile.mkdtemp(prefix=f"cdk-test-{name}-")
    app = build_app(
        context_for(overrides),
        default_account=ACCOUNT if explicit_env else None,
        default_region=REGION if explicit_env else None,
        outdir=outdir,
    )
    assembly = app.synth()
    return {stack.stack_name.split("-", 1)[1]: stack for stack in assembly.stacks}


def render(value: Any) -> Any:
    """Flatten CloudFormation intrinsics to readable strings: {"Ref": "X"} -> "<X>",
    GetAtt -> "<X.Attr>", ImportValue -> "<import:Name>", Fn::Join -> the joined text. Other structures are walked."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return f"<{value['Ref']}>"
        if set(value) == {"Fn::GetAtt"}:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if set(value) == {"Fn::ImportValue"}:
            return f"<import:{value['Fn::ImportValue']}>"
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(render(p)) for p in parts)
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


def policy_statements(template: dict[str, Any], resource_type: str = "AWS::IAM::Policy") -> list[dict[str, Any]]:
    """All statements of all policies of a type, intrinsics rendered."""
    statements: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        if resource["Type"] == resource_type:
            statements.extend(render(resource["Properties"]["PolicyDocument"]["Statement"]))
    return statements
