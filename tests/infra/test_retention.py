"""Prod (workflow.retain_on_delete, set in cdk.json's environments.prod) keeps the stateful resources
of the Workflow stack and protects the stack from deletion; other environments delete them with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.app import build_app
from tests.infra.synth import ACCOUNT, CONFIGURATIONS, REGION, context_for, synthesize, synthesize_stacks

RETAINED_TYPES = ("AWS::SageMaker::ModelPackageGroup", "AWS::Cognito::UserPool", "AWS::SageMaker::NotebookInstance")


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


@pytest.mark.parametrize("resource_type", RETAINED_TYPES)
def test_prod_retains_the_workflow_stacks_stateful_resources(resource_type: str) -> None:
    found = resources_of(synthesize("prod")["Workflow"], resource_type)
    assert found, f"prod has no {resource_type}"  # prod: private workforce, model registry, notebook
    for logical_id, resource in found.items():
        assert resource.get("DeletionPolicy") == "Retain", logical_id
        assert resource.get("UpdateReplacePolicy") == "Retain", logical_id


def test_prod_workflow_stack_has_termination_protection() -> None:
    stacks = synthesize_stacks("prod")
    assert stacks["Workflow"].termination_protection is True
    assert stacks["Data"].termination_protection is True


def test_default_workflow_stack_is_deletable_with_its_resources() -> None:
    assert not synthesize_stacks("default")["Workflow"].termination_protection
    template = synthesize("default")["Workflow"]
    for resource_type in RETAINED_TYPES:
        for logical_id, resource in resources_of(template, resource_type).items():
            assert resource.get("DeletionPolicy") != "Retain", logical_id


def test_the_flag_not_the_environment_name_drives_retention(tmp_path: Path) -> None:
    # prod's resources (private workforce pool, model package group, notebook) without the flag.
    overrides, _ = CONFIGURATIONS["prod"]
    app = build_app(context_for({**overrides, "workflow.retain_on_delete": False}),
                    default_account=ACCOUNT, default_region=REGION, outdir=str(tmp_path))
    workflow = next(s for s in app.synth().stacks if s.stack_name.endswith("-Workflow"))
    assert not workflow.termination_protection
    for resource_type in RETAINED_TYPES:
        found = resources_of(workflow.template, resource_type)
        assert found, resource_type
        for logical_id, resource in found.items():
            assert resource.get("DeletionPolicy") != "Retain", logical_id
