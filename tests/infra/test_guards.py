"""Cross-cutting guards over every synthesized template: no Custom resources, cfn-lint clean,
cdk-nag enforced, snapshots."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cfnlint.api import ManualArgs, lint
from syrupy.extensions.json import JSONSnapshotExtension

from stacks import portal_urls
from stacks.app import build_app
from stacks.config import load_config
from tests.infra.synth import CONFIGURATIONS, PROJECT_DIR, context_for, synthesize, synthesize_stacks

ALL = sorted(CONFIGURATIONS)


@pytest.mark.parametrize("config", ALL)
def test_custom_resources_only_where_the_stack_creates_a_private_workforce(config: str) -> None:
    # The local emulator cannot run them: the default configuration (`make demo`) has none. The one custom
    # resource sets the labeling portal's URLs on the app client after the workforce exists (stacks/portal_urls.py),
    # where CloudFormation has no resource for it.
    creates_workforce = load_config(context_for(CONFIGURATIONS[config][0])).workforce.creates_private_workforce
    for stack, template in synthesize(config).items():
        custom = [t["Type"] for t in template["Resources"].values()
                  if t["Type"].startswith("Custom::") or t["Type"] == "AWS::CloudFormation::CustomResource"]
        expected = [portal_urls.RESOURCE_TYPE] if creates_workforce and stack == "Workflow" else []
        assert custom == expected, f"{config}/{stack}: {custom}"
    if config == "default":
        assert not creates_workforce


@pytest.mark.parametrize("config", ALL)
def test_cfn_lint_finds_no_errors(config: str) -> None:
    regions = ["us-east-1"] if config == "default" else ["us-east-1", "eu-west-1"]
    for stack, template in synthesize(config).items():
        # W3005 (redundant DependsOn) is how CDK renders some dependencies; nothing else is ignored.
        matches = lint(json.dumps(template), regions=regions,
                       config=ManualArgs(regions=regions, ignore_checks=["W3005"]))
        assert [str(m) for m in matches] == [], f"{config}/{stack}"


CHECKOV = PROJECT_DIR / ".tools" / "checkov" / "bin" / "checkov"


def run_checkov(template_files: list[Path]) -> list[dict[str, Any]]:
    """checkov's JSON report (one entry per framework) on the given CloudFormation templates."""
    assert CHECKOV.exists(), f"checkov is not installed at {CHECKOV}: run `make checkov` (own venv, see Makefile)"
    # --skip-download: no call to the Prisma Cloud API (offline; only built-in checks).
    command = [str(CHECKOV), "--framework", "cloudformation", "--skip-download", "--output", "json",
               "--file", *map(str, template_files)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}): {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    return report if isinstance(report, list) else [report]


def test_checkov_finds_no_failed_checks(tmp_path: Path) -> None:
    """Every configuration in one checkov process (its start-up is ~3 s); skips live in the resources'
    checkov metadata. A control template without metadata proves that checkov ran and fails things."""
    control = tmp_path / "control.template.json"
    control.write_text(json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}}))
    files = sorted(template for config in ALL
                   for template in Path(next(iter(synthesize_stacks(config).values())).assembly.directory)
                   .glob("*.template.json"))
    (report,) = run_checkov([*files, control])
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] > len(files), summary
    failed = [f"{f['check_id']} {f['resource']} ({f['file_path']})" for f in report["results"]["failed_checks"]
              if not f["file_path"].endswith(control.name)]
    assert failed == [], "fix the resource, or skip the check in its metadata (stacks.nag.skip_checkov) with a reason"
    assert "CKV_AWS_27" in {f["check_id"] for f in report["results"]["failed_checks"]
                            if f["file_path"].endswith(control.name)}, "control: checkov did not fail a plain queue"
    uncommented = [f"{s['check_id']} {s['resource']}" for s in report["results"]["skipped_checks"]
                   if s["check_result"].get("suppress_comment", "No comment provided") == "No comment provided"]
    assert uncommented == [], "every checkov skip needs a comment a reviewer can check"


def test_a_deliberately_insecure_change_fails_synthesis() -> None:
    """cdk-nag is enforced: the tutorial's `s3:*` on `*` fix would not synthesize."""
    app = build_app(context_for({}))
    data = app.node.find_child("dev-Data")
    data.execution_role.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    with pytest.raises(RuntimeError, match=r"AwsSolutions-IAM5\[Action::s3:\*\]"):
        app.synth()


def test_the_same_app_without_the_insecure_change_synthesizes() -> None:
    """The control for the test above: the failure comes from the change, not the app."""
    assert synthesize("default")["Data"]["Resources"]


_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def _mask(value: Any) -> Any:
    """Asset hashes change with every code edit; the snapshot guards the shape around them."""
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, str):
        return _ASSET_HASH.sub("<asset-hash>", value)
    return value


@pytest.fixture
def json_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("config", ["default", "explicit-env", "prod"])
@pytest.mark.parametrize("stack", ["Data", "Workflow"])
def test_template_snapshot(config: str, stack: str, json_snapshot: Any) -> None:
    assert _mask(synthesize(config)[stack]) == json_snapshot


def test_env_agnostic_without_credentials_and_explicit_env() -> None:
    agnostic = cdk.Stack.of(build_app(context_for({})).node.find_child("dev-Data"))
    assert cdk.Token.is_unresolved(agnostic.account) and cdk.Token.is_unresolved(agnostic.region)
    explicit = build_app(context_for({"workflow.account": "210987654321", "workflow.region": "eu-west-1"}))
    stack = explicit.node.find_child("dev-Data")
    assert (stack.account, stack.region) == ("210987654321", "eu-west-1")
