"""dev and prod side by side in one account: no shared physical name, no rule that fires on the other's jobs."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from stacks.config import ConfigError, load_config
from tests.infra.synth import ACCOUNT, CDK_JSON_CONTEXT, REGION, render, synthesize

# "explicit-env" is the default environment (dev) and "prod" is `-c env=prod`, both for ACCOUNT/REGION.
SIDE_BY_SIDE = ("explicit-env", "prod")
# Stack-scoped values resolve differently in every stack, whatever the template text says.
_STACK_SCOPED = {"AWS::StackName", "AWS::StackId"}
# A property that names a resource: CloudFormation's *Name properties, plus the Cognito domain's prefix.
_NAME_KEYS = {"Domain"}
# *Name properties that name no account-wide resource: a metric, an inline policy (scoped to its role), a label.
_NOT_PHYSICAL = {"MetricName", "PolicyName", "DisplayName"}


def physical_names(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(resource type, property) -> name, for every name that is not scoped to the stack by a reference."""
    own = set(template["Resources"])
    names: dict[tuple[str, str], str] = {}
    for logical_id, resource in template["Resources"].items():
        for key, value in (resource.get("Properties") or {}).items():
            if not (key.endswith("Name") or key in _NAME_KEYS) or key in _NOT_PHYSICAL:
                continue
            text = render(value)
            if not isinstance(text, str):
                continue
            references = {token.split(".")[0] for token in re.findall(r"<([^<>]+)>", text)}
            if references & (own | _STACK_SCOPED):
                continue  # resolves to something of this stack only
            names[(f"{resource['Type']}.{key}", logical_id)] = text.replace("<AWS::Partition>", "aws")
    for output in template.get("Outputs", {}).values():
        if "Export" in output:
            names[("Output.Export", render(output["Export"]["Name"]))] = render(output["Export"]["Name"])
    return names


def all_names(configuration: str) -> dict[tuple[str, str], str]:
    names: dict[tuple[str, str], str] = {}
    for stack, template in synthesize(configuration).items():
        names.update({(kind, f"{stack}/{where}"): name for (kind, where), name in physical_names(template).items()})
    return names


def test_dev_and_prod_in_one_account_share_no_physical_name() -> None:
    dev, prod = (all_names(c) for c in SIDE_BY_SIDE)
    shared = {name for name in dev.values()} & {name for name in prod.values()}
    assert shared == set(), f"names both environments would create in {ACCOUNT}/{REGION}: {sorted(shared)}"
    # Not vacuous: the names that collided before environments were namespaced are all walked.
    # (Function, role and log group names are CloudFormation's, unique per stack; dev registers no packages.)
    kinds = {kind for kind, _ in dev} & {kind for kind, _ in prod}
    assert {"AWS::S3::Bucket.BucketName", "AWS::CloudWatch::Alarm.AlarmName",
            "AWS::SageMaker::NotebookInstance.NotebookInstanceName", "Output.Export"} <= kinds, kinds
    groups = [name for (kind, _), name in prod.items() if kind.endswith("ModelPackageGroupName")]
    assert groups == ["prod-models"]  # dev, when it registers, uses dev-models
    assert load_config(CDK_JSON_CONTEXT).model_package_group_name == "dev-models"
    assert dev[("AWS::S3::Bucket.BucketName", "Data/DataBucket")] == f"sagemaker-{REGION}-{ACCOUNT}"
    assert prod[("AWS::S3::Bucket.BucketName", "Data/DataBucket")] == f"sagemaker-{REGION}-{ACCOUNT}-prod"


def rule_prefixes(template: dict[str, Any]) -> list[str]:
    """Every `prefix` of every EventBridge rule's pattern, intrinsics rendered (partition: aws)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if set(node) == {"prefix"}:
                found.append(str(render(node["prefix"])).replace("<AWS::Partition>", "aws"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Events::Rule":
            walk(resource["Properties"]["EventPattern"])
    return found


def job_names(configuration: str) -> list[str]:
    """A labeling job of the environment, as an ARN and as a name (training jobs are named after it), and
    where its model's evaluation transform writes (the evaluation rule matches that output path too)."""
    config = load_config({**CDK_JSON_CONTEXT, **_OVERRIDES[configuration]},
                         default_account=ACCOUNT, default_region=REGION)
    name = f"{config.labeling.job_prefix}-20261202-120000"
    bucket = config.bucket.name or config.default_bucket_name(ACCOUNT, REGION)
    return [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}", name,
            f"s3://{bucket}/{config.prefix}/evaluation/{name}/predictions/"]


_OVERRIDES = {"explicit-env": {}, "prod": {"env": "prod", "workflow.alerts.email": "ml-team@example.com"}}


@pytest.mark.parametrize(("mine", "theirs"), [SIDE_BY_SIDE, SIDE_BY_SIDE[::-1]])
def test_no_rule_of_one_environment_matches_the_others_jobs(mine: str, theirs: str) -> None:
    prefixes = [p for template in synthesize(mine).values() for p in rule_prefixes(template)]
    assert prefixes, "no rule with a prefix pattern: the test would prove nothing"
    own, other = job_names(mine), job_names(theirs)
    for prefix in prefixes:
        assert any(name.startswith(prefix) for name in own), f"{prefix!r} matches none of {mine}'s own jobs"
        assert not any(name.startswith(prefix) for name in other), f"{mine}'s {prefix!r} matches {theirs}'s jobs"


def test_rule_prefixes_end_at_the_dash_so_a_longer_prefix_does_not_match() -> None:
    for prefix in (p for t in synthesize("explicit-env").values() for p in rule_prefixes(t)):
        if prefix.startswith("s3://"):  # the evaluation rule's output path: it ends at a folder
            assert prefix == f"s3://sagemaker-{REGION}-{ACCOUNT}/ground-truth-demo/evaluation/", prefix
            assert not f"s3://sagemaker-{REGION}-{ACCOUNT}/ground-truth-demo/evaluation2/x/".startswith(prefix)
            continue
        assert prefix.endswith("gt-demo-"), prefix
        assert not f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/gt-demo2-20261202-120000".startswith(prefix)
        assert not "gt-demo2-20261202-120000".startswith(prefix)


# --- what config refuses or derives -----------------------------------------------------------------


def _context(**environments: dict[str, Any]) -> dict[str, Any]:
    context = copy.deepcopy(CDK_JSON_CONTEXT)
    context["workflow"]["environments"].update(environments)
    return context


def test_a_named_environment_prefixes_its_jobs_with_its_name_unless_it_pins_them() -> None:
    assert load_config(CDK_JSON_CONTEXT).labeling.job_prefix == "gt-demo"
    prod = load_config({**CDK_JSON_CONTEXT, "env": "prod", "workflow.alerts.email": "a@example.com"})
    assert prod.labeling.job_prefix == "prod-gt-demo"
    assert prod.model_package_group_name == "prod-models"
    pinned = load_config({**_context(staging={"env_name": "staging", "labeling": {"job_prefix": "stg"}}),
                          "env": "staging"})
    assert pinned.labeling.job_prefix == "stg"


def test_overlapping_job_prefixes_are_refused_naming_both_environments() -> None:
    context = _context(staging={"labeling": {"job_prefix": "gt-demo-x"}})
    with pytest.raises(ConfigError) as raised:
        load_config({**context, "env": "staging"})
    assert ("workflow.environments.staging.labeling.job_prefix = 'gt-demo-x' overlaps workflow's 'gt-demo'"
            in str(raised.value))
    with pytest.raises(ConfigError, match=r"workflow.labeling.job_prefix = 'gt-demo' overlaps "
                                          r"workflow.environments.staging's 'gt-demo-x'"):
        load_config(context)  # the default environment sees it too


def test_two_new_private_workforces_in_one_known_account_are_refused_and_unknown_ones_warned() -> None:
    private = {"workflow.workforce.type": "private", "workflow.workforce.price_usd": None}
    warned = load_config({**CDK_JSON_CONTEXT, **private})  # account unknown: it may be another one
    assert any("one private workforce per region" in w and "existing_workforce_name" in w for w in warned.warnings)
    same = _context(prod={**CDK_JSON_CONTEXT["workflow"]["environments"]["prod"], "account": ACCOUNT,
                          "region": REGION})
    with pytest.raises(ConfigError, match=r"an AWS account has one private workforce per region\. Share it"):
        load_config({**same, **private, "workflow.account": ACCOUNT, "workflow.region": REGION})
    # Sharing is the documented way out.
    shared = load_config({**same, **private, "workflow.account": ACCOUNT, "workflow.region": REGION,
                          "workflow.workforce.existing_workforce_name": "prod-labeling",
                          "workflow.workforce.existing_user_pool_id": "us-east-1_AbCdEf123",
                          "workflow.workforce.existing_app_client_id": "abc123"})
    assert shared.workforce.existing_workforce_name == "prod-labeling" and not shared.warnings


def test_an_explicit_bucket_name_in_two_environments_is_refused() -> None:
    context = _context(prod={**CDK_JSON_CONTEXT["workflow"]["environments"]["prod"], "bucket": {"name": "ml-data"}})
    with pytest.raises(ConfigError, match=r"workflow.bucket.name = 'ml-data' is also workflow.environments.prod's"):
        load_config({**context, "workflow.bucket.name": "ml-data"})


# --- stable names: an edit that should not replace anything does not ------------------------------

# Edits a team makes to a running environment: none of them may replace a resource. (Not `prefix`: moving the
# data to another S3 prefix is a relocation, and the notebook is named after it.)
NON_STRUCTURAL_EDITS = {
    "workflow.labeling.job_prefix": "vehicles",
    "workflow.labeling.labels": ["Airplane", "Car", "Ferry", "Helicopter", "Motorbike", "Truck"],
    "workflow.labeling.task_title": "Which vehicle is it?",
    "workflow.workforce.worker_emails": ["ann@example.com", "bob@example.com"],
    "workflow.workforce.workers_per_object": 2,
    "workflow.notebook.idle_minutes": 45,
    "workflow.tags": {"project": "ground-truth-demo", "team": "vision"},
}


def create_only_paths() -> dict[str, list[tuple[str, ...]]]:
    """CloudFormation's createOnlyProperties per resource type, from the resource schemas cfn-lint ships."""
    import json
    from importlib import resources

    paths: dict[str, list[tuple[str, ...]]] = {}
    for schema_file in (resources.files("cfnlint") / "data" / "schemas" / "resources").iterdir():
        if schema_file.name.endswith(".json"):
            schema = json.loads(schema_file.read_text())
            paths[schema["typeName"]] = [tuple(p.split("/")[2:]) for p in schema.get("createOnlyProperties", [])]
    return paths


def _at(properties: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = properties
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return render(node)


def test_an_edit_that_should_not_replace_the_workforce_replaces_nothing() -> None:
    import tempfile

    from stacks.app import build_app
    from tests.infra.synth import context_for

    base = synthesize("prod")
    context = context_for({"env": "prod", "workflow.alerts.email": "ml-team@example.com", **NON_STRUCTURAL_EDITS})
    assembly = build_app(context, default_account=ACCOUNT, default_region=REGION,
                         outdir=tempfile.mkdtemp(prefix="cdk-test-prod-edited-")).synth()
    edited = {stack.stack_name.split("-", 1)[1]: stack.template for stack in assembly.stacks}
    schemas = create_only_paths()
    compared = set()
    for stack, template in base.items():
        before, after = template["Resources"], edited[stack]["Resources"]
        assert set(before) <= set(after), f"{stack}: resources removed by the edit: {set(before) - set(after)}"
        for logical_id, resource in before.items():
            for path in schemas.get(resource["Type"], []):
                old = _at(resource.get("Properties", {}), path)
                new = _at(after[logical_id].get("Properties", {}), path)
                assert old == new, f"{stack}/{logical_id} ({resource['Type']}).{'.'.join(path)}: {old!r} -> {new!r}"
                compared.add(resource["Type"])
    # The create-only names that used to follow the job prefix were compared.
    assert {"AWS::SageMaker::Workforce", "AWS::SageMaker::Workteam", "AWS::Cognito::UserPoolDomain",
            "AWS::SageMaker::ModelPackageGroup", "AWS::S3::Bucket", "AWS::SageMaker::NotebookInstance"} <= compared
