"""cdk-nag cannot be fooled: every acknowledgement suppresses a reported finding, and every statement an
IAM5 acknowledgement covers grants exactly the actions recorded as reviewed in stacks/nag.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from constructs import Construct

from stacks import nag
from stacks.app import build_app
from tests.infra.synth import CONFIGURATIONS, context_for, synthesize_stacks

ALL = sorted(CONFIGURATIONS)


def assembly_dir(config: str) -> Path:
    return Path(next(iter(synthesize_stacks(config).values())).assembly.directory)


@pytest.mark.parametrize("config", ALL)
def test_every_acknowledgement_suppresses_a_reported_finding(config: str) -> None:
    directory = assembly_dir(config)
    acks = nag.read_acknowledgements(directory)
    assert acks, "no acknowledgements read: the metadata format changed?"
    unused = nag.unused_acknowledgements(acks, nag.read_suppressed_findings(directory))
    assert unused == [], (
        f"{config}: these acknowledgements suppress no cdk-nag finding (remove them, or fix the id; "
        f"use stacks.nag.acknowledge so the id carries the AwsSolutions:: namespace): {unused}")


@pytest.mark.parametrize("config", ALL)
def test_acknowledged_wildcard_statements_grant_only_reviewed_actions(config: str) -> None:
    statements = nag.acknowledged_wildcard_statements(assembly_dir(config))
    assert statements, "no acknowledged IAM5 statements found: the report format changed?"
    assert nag.unreviewed_wildcard_statements(statements) == [], (
        f"{config}: a statement covered by an IAM5 acknowledgement grants actions nobody reviewed. Reread "
        "the acknowledgement's reason; if it still holds, record the action list in "
        "stacks/nag.py REVIEWED_WILDCARD_ACTIONS")


def test_every_reviewed_action_list_is_still_granted() -> None:
    """No stale entries: each reviewed list is granted in some configuration."""
    granted: dict[str, list[list[str]]] = {}
    for config in ALL:
        for statement in nag.acknowledged_wildcard_statements(assembly_dir(config)):
            lists = granted.setdefault(statement.policy, [])
            if list(statement.actions) not in lists:
                lists.append(list(statement.actions))
    stale = {policy: [a for a in lists if a not in granted.get(policy, [])]
             for policy, lists in nag.REVIEWED_WILDCARD_ACTIONS.items()}
    assert {p: a for p, a in stale.items() if a} == {}


@pytest.fixture(scope="module")
def tampered() -> Path:
    """The default app with three changes cdk-nag alone lets through (it synthesizes)."""
    outdir = tempfile.mkdtemp(prefix="cdk-test-nag-tampered-")
    app = build_app(context_for({}), outdir=outdir)
    workflow = app.node.find_child("dev-Workflow")
    # 1. A stale acknowledgement: AwsSolutions 3.x has no SNS2 rule (this one used to be in alerts.py).
    nag.acknowledge(workflow.node.find_child("Alerts").node.find_child("Topic").node.default_child,
                    "SNS2", "stale: no such finding")
    # 2. A bare id: cdk-nag honours it silently; the validation report never lists it.
    Validations.of(workflow.node.find_child("Notebook").node.find_child("Instance")).acknowledge(
        Acknowledgment(id="AwsSolutions-SM1", reason="bare id"))
    # 3. One more action in the acknowledged `ecr:GetAuthorizationToken` on `*` policy.
    pull = workflow.node.find_child("Training").node.find_child("PullAlgorithmImage")
    pull.add_statements(iam.PolicyStatement(actions=["ecr:DescribeRepositories"], resources=["*"]))
    app.synth()
    return Path(outdir)


def test_a_stale_or_bare_acknowledgement_is_reported(tampered: Path) -> None:
    unused = nag.unused_acknowledgements(nag.read_acknowledgements(tampered),
                                         nag.read_suppressed_findings(tampered))
    assert nag.Ack("dev-Workflow/Alerts/Topic/Resource", "AwsSolutions::AwsSolutions-SNS2") in unused
    assert nag.Ack("dev-Workflow/Notebook/Instance", "Annotation::AwsSolutions-SM1") in unused


def test_adding_an_action_to_an_acknowledged_policy_fails(tampered: Path) -> None:
    unreviewed = nag.unreviewed_wildcard_statements(nag.acknowledged_wildcard_statements(tampered))
    assert [s.policy for s in unreviewed] == ["Training/PullAlgorithmImage"]
    assert "ecr:DescribeRepositories" in unreviewed[0].actions


def test_a_finding_without_a_matching_statement_is_unreviewed() -> None:
    statement = nag.WildcardStatement("Training/PullAlgorithmImage", "Resource::*", ())
    assert nag.unreviewed_wildcard_statements([statement]) == [statement]


def test_wildcard_statement_actions_matches_resources_and_actions() -> None:
    template = {"Resources": {"P": {"Properties": {"PolicyDocument": {"Statement": [
        {"Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/p/*"]]}},
        {"Action": "s3:*", "Resource": "arn:aws:s3:::b"},
        {"Action": "ecr:GetAuthorizationToken", "Resource": {"Fn::FindInMap": ["M", "k", "v"]}},
    ]}}}}}
    assert nag.wildcard_statement_actions(template, "P", "Resource::<Bucket.Arn>/p/*") == [
        ["s3:GetObject", "s3:PutObject"]]
    assert nag.wildcard_statement_actions(template, "P", "Action::s3:*") == [["s3:*"]]
    assert nag.wildcard_statement_actions(template, "P", "Resource::*") == []


def test_skip_checkov_appends_to_the_resource_metadata() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    queue = sqs.Queue(stack, "Queue")
    nag.skip_checkov(queue, "CKV_AWS_27", "first reason")
    nag.skip_checkov(queue.node.default_child, "CKV_AWS_999", "second reason")
    (resource,) = Template.from_stack(stack).find_resources("AWS::SQS::Queue").values()
    assert resource["Metadata"]["checkov"] == {"skip": [
        {"id": "CKV_AWS_27", "comment": "first reason"}, {"id": "CKV_AWS_999", "comment": "second reason"}]}


def test_skip_checkov_needs_a_cloudformation_resource() -> None:
    plain = Construct(cdk.Stack(cdk.App(), "S"), "Plain")
    with pytest.raises(TypeError, match="S/Plain"):
        nag.skip_checkov(plain, "CKV_AWS_27", "reason")
