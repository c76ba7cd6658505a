"""cdk-nag acknowledgements and checkov skips, each with a reason a reviewer can check.

cdk-nag 3.x runs as a validation plugin: an unacknowledged finding fails synthesis. Findings
are acknowledged per construct and, for wildcard IAM findings, per exact resource, so a new
wildcard is never covered by an old reason. tests/infra/test_nag.py reads the acknowledgements
back from the cloud assembly: each must suppress a reported finding, and each statement an IAM5
acknowledgement covers must grant exactly the actions in REVIEWED_WILDCARD_ACTIONS.
docs/security-checks.md lists what is checked and every exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(construct: IConstruct, rule: str, reason: str, *, applies_to: str | None = None) -> None:
    """`rule` like "IAM5"; `applies_to` like "Resource::*" for a finding on one resource."""
    finding = f"{PACK}::{PACK}-{rule}" + (f"[{applies_to}]" if applies_to else "")
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def skip_checkov(construct: IConstruct, check_id: str, comment: str) -> None:
    """Skip one checkov check on one resource, with a reason a reviewer can check.

    checkov reads `Metadata: {checkov: {skip: [{id, comment}]}}` on a CloudFormation resource;
    this appends to that list, so the constructs that know a reason can each add their own.
    https://www.checkov.io/2.Basics/Suppressing%20and%20Skipping%20Policies.html
    """
    resource = construct if CfnResource.is_cfn_resource(construct) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path}: checkov skips go on a CloudFormation resource")
    existing = resource.get_metadata("checkov") or {}
    resource.add_metadata("checkov", {"skip": [*existing.get("skip", []), {"id": check_id, "comment": comment}]})


def acknowledge_wildcard_resources(construct: IConstruct, reasons: dict[str, str]) -> None:
    """IAM5 on the listed resource ARNs (tokens allowed), each with its own reason."""
    for resource, reason in reasons.items():
        acknowledge(construct, "IAM5", reason, applies_to=f"Resource::{nag_text(construct, resource)}")


def nag_text(scope: IConstruct, value: str) -> str:
    """A value as cdk-nag prints it in finding ids: intrinsics become <Ref> / <Id.Attr>."""
    return _render(Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(p) for p in parts)
    raise ValueError(f"cannot render {value!r} as cdk-nag text")


# --- Reading acknowledgements and findings back from a cloud assembly (tests/infra/test_nag.py) ---
#
# `Validations.of(x).acknowledge()` records construct metadata "aws:cdk:acknowledged-rules"
# ({"<plugin>::<rule id>": reason}); it reaches the assembly's <stack>.metadata.json. CDK matches
# each plugin finding against it and writes the findings it suppressed to validation-report.json
# (pluginReports[].suppressedViolations, with acknowledgedId and acknowledgedAt).
# https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.cloud_assembly_schema.SuppressedViolationJson.md
# Only ids in the plugin's namespace ("AwsSolutions::...", what `acknowledge` writes) are matched by
# CDK and reported. A bare "AwsSolutions-SM1" becomes "Annotation::AwsSolutions-SM1", which cdk-nag
# 3.0.2 itself honours without reporting it, so an unused bare acknowledgement would go unnoticed:
# `unused_acknowledgements` reports those as unused too.

ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"  # aws_cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
VALIDATION_REPORT = "validation-report.json"


class Ack(NamedTuple):
    """One acknowledgement: the construct path it was declared on and its qualified id."""

    path: str
    id: str


class Finding(NamedTuple):
    """One suppressed finding on one resource, with the acknowledgement that suppressed it."""

    rule: str  # e.g. "AwsSolutions-IAM5[Resource::*]"
    resource_path: str  # construct path of the CfnResource
    ack: Ack


def read_acknowledgements(assembly_dir: Path) -> dict[Ack, str]:
    """Every acknowledgement of every stack in the assembly, with its reason."""
    acks: dict[Ack, str] = {}
    for metadata_file in sorted(Path(assembly_dir).glob("*.metadata.json")):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry.get("type") == ACKNOWLEDGED_RULES:
                    for ack_id, reason in entry["data"].items():
                        acks[Ack(path.lstrip("/"), ack_id)] = reason
    return acks


def read_suppressed_findings(assembly_dir: Path) -> list[Finding]:
    """The findings CDK suppressed because of an acknowledgement, from the validation report."""
    report_file = Path(assembly_dir) / VALIDATION_REPORT
    if not report_file.exists():  # written only when some plugin reported something
        return []
    report = json.loads(report_file.read_text())
    return [
        Finding(violation["ruleName"], construct["constructPath"],
                Ack(violation.get("acknowledgedAt", ""), violation["acknowledgedId"]))
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("suppressedViolations") or []
        for construct in violation.get("violatingConstructs", [])
    ]


def unused_acknowledgements(acks: Iterable[Ack], findings: Iterable[Finding]) -> list[Ack]:
    """Acknowledgements that suppressed no reported finding: stale, misspelt or outside the namespace."""
    used = {finding.ack for finding in findings}
    return sorted(set(acks) - used)


# --- Wildcard acknowledgements bind to the exact actions they were reviewed for ---
#
# An IAM5 acknowledgement names a resource (or action); CDK suppresses the finding whatever else the
# statement grants. So, per acknowledged policy (construct path below its stack), the action lists of
# the statements that carry an acknowledged wildcard, as reviewed. A statement granting anything else
# fails tests/infra/test_nag.py until someone rereads the reason and updates this table.
REVIEWED_WILDCARD_ACTIONS: dict[str, list[list[str]]] = {
    # Only with endpoint.enabled (stacks/endpoint.py); GetMetricStatistics only in instance mode.
    "Endpoint/Deployment/Role/DefaultPolicy": [
        ["cloudwatch:GetMetricStatistics"],
        ["sagemaker:AddTags", "sagemaker:CreateEndpointConfig"],
        ["sagemaker:AddTags", "sagemaker:CreateModel"],
        ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
        ["sagemaker:DeleteEndpointConfig", "sagemaker:DescribeEndpointConfig"],
        ["sagemaker:DeleteModel", "sagemaker:DescribeModel"],
        ["sagemaker:DescribeModelPackage"],
        ["sagemaker:ListEndpointConfigs"],
    ],
    # Only with evaluation.enabled (stacks/evaluation.py); the package statements only with model.register_package.
    "Evaluation/Evaluate/Role/DefaultPolicy": [
        ["s3:GetObject"],
        ["s3:PutObject"],
        ["sagemaker:AddTags", "sagemaker:CreateModelPackage"],
        ["sagemaker:DescribeModel"],
        ["sagemaker:DescribeTransformJob"],
        ["sagemaker:Search"],
    ],
    "Labeling/StartLabeling/Role/DefaultPolicy": [
        ["s3:AbortMultipartUpload", "s3:PutObject"],
        ["s3:GetObject"],
        ["sagemaker:AddTags", "sagemaker:CreateLabelingJob", "sagemaker:DescribeLabelingJob"],
    ],
    "Model/RegisterModel/Role/DefaultPolicy": [
        # The evaluation's start (evaluation.enabled): the split read, its inputs written, the transform job.
        ["s3:GetObject"],
        ["s3:PutObject"],
        ["sagemaker:AddTags", "sagemaker:CreateModel"],
        ["sagemaker:AddTags", "sagemaker:CreateModelPackage"],
        ["sagemaker:AddTags", "sagemaker:CreateTransformJob"],
        ["sagemaker:DescribeHyperParameterTuningJob"],
        ["sagemaker:DescribeModel"],
        ["sagemaker:DescribeTrainingJob"],
        ["sagemaker:DescribeTransformJob"],
        ["sagemaker:Search"],
    ],
    "SageMakerExecution/Role/DefaultPolicy": [
        ["cloudwatch:PutMetricData"],
        ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        ["s3:GetObject"],
    ],
    "Training/PullAlgorithmImage": [
        ["ecr:GetAuthorizationToken"],
    ],
    "Training/StartTraining/Role/DefaultPolicy": [
        ["s3:AbortMultipartUpload", "s3:PutObject"],
        ["s3:GetObject"],
        ["sagemaker:AddTags", "sagemaker:CreateHyperParameterTuningJob"],
        ["sagemaker:AddTags", "sagemaker:CreateTrainingJob"],
        ["sagemaker:DescribeHyperParameterTuningJob"],
        ["sagemaker:DescribeLabelingJob"],
        ["sagemaker:DescribeTrainingJob"],
    ],
    "Workforce/PortalUrls/ProviderRole/DefaultPolicy": [
        ["lambda:InvokeFunction"],
    ],
}


class WildcardStatement(NamedTuple):
    """A statement that an IAM5 acknowledgement covers: where, which finding, what it grants."""

    policy: str  # the acknowledgement's construct path below its stack, e.g. "Training/PullAlgorithmImage"
    finding: str  # e.g. "Resource::*"
    actions: tuple[str, ...]  # sorted; () when no statement of the policy matches the finding


def acknowledged_wildcard_statements(assembly_dir: Path) -> list[WildcardStatement]:
    """Every statement covered by a suppressed IAM5 finding in the assembly."""
    assembly_dir = Path(assembly_dir)
    logical_ids = _logical_ids(assembly_dir)
    rows: set[WildcardStatement] = set()
    for finding in read_suppressed_findings(assembly_dir):
        prefix = f"{PACK}-IAM5["
        if not finding.rule.startswith(prefix):
            continue
        subject = finding.rule[len(prefix):-1]
        stack, _, policy = finding.ack.path.partition("/")
        template = json.loads((assembly_dir / f"{stack}.template.json").read_text())
        statements = wildcard_statement_actions(template, logical_ids[finding.resource_path], subject)
        rows.update(WildcardStatement(policy, subject, tuple(a)) for a in statements or [[]])
    return sorted(rows)


def unreviewed_wildcard_statements(
    statements: Iterable[WildcardStatement], reviewed: dict[str, list[list[str]]] = REVIEWED_WILDCARD_ACTIONS,
) -> list[WildcardStatement]:
    """Covered statements whose action list nobody reviewed (or that no statement matched)."""
    return sorted(s for s in statements
                  if not s.actions or list(s.actions) not in reviewed.get(s.policy, []))


def _logical_ids(assembly_dir: Path) -> dict[str, str]:
    """Construct path -> CloudFormation logical id, from the stacks' "aws:cdk:logicalId" metadata."""
    ids: dict[str, str] = {}
    for metadata_file in assembly_dir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text()).items():
            ids.update({path.lstrip("/"): e["data"] for e in entries if e.get("type") == "aws:cdk:logicalId"})
    return ids


def wildcard_statement_actions(
    template: dict[str, Any], logical_id: str, finding: str,
) -> list[list[str]]:
    """Sorted action lists of the statements of policy `logical_id` that `finding` is about:
    "Resource::X" -> statements whose (rendered) resources include X; "Action::X" -> whose actions do."""
    kind, _, subject = finding.partition("::")
    document = template["Resources"][logical_id]["Properties"]["PolicyDocument"]
    matched: list[list[str]] = []
    for statement in document["Statement"]:
        actions = sorted(_as_list(statement.get("Action", [])))
        resources = [_render_or_json(r) for r in _as_list(statement.get("Resource", []))]
        if (kind == "Resource" and subject in resources) or (kind == "Action" and subject in actions):
            matched.append(actions)
    return matched


def _render_or_json(value: Any) -> str:
    """Intrinsics cdk-nag does not name in findings (Fn::FindInMap, ...) cannot match one."""
    try:
        return _render(value)
    except ValueError:
        return json.dumps(value, sort_keys=True)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
