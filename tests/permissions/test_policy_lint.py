"""Every synthesized identity and bucket policy, resolved, linted with parliament: unknown actions,
resource ARNs that fit no resource type of the action, malformed condition keys and the like."""

from __future__ import annotations

import json
import warnings

import pytest

from tests.infra.synth import CONFIGURATIONS, synthesize
from tests.permissions.policies import StackInput, load_policies

with warnings.catch_warnings():  # parliament imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    from parliament import analyze_policy_string

EXPLICIT_ENV = sorted(name for name, (_, explicit) in CONFIGURATIONS.items() if explicit)


@pytest.mark.parametrize("configuration", EXPLICIT_ENV)
def test_every_policy_passes_parliament(configuration: str) -> None:
    templates = synthesize(configuration)
    policies = load_policies([StackInput(f"stack-{suffix}", template) for suffix, template in templates.items()])
    documents = {policy.name: policy.document for group in policies.identity.values() for policy in group}
    documents.update({f"bucket policy of {bucket}": document for bucket, document in policies.buckets.items()})
    assert documents, "no policies found"
    findings = []
    for name, document in documents.items():
        findings.extend(f"{name}: {issue}" for issue in lint(document))
    assert not findings, "\n".join(findings)


def lint(document: dict) -> list[str]:
    findings = analyze_policy_string(json.dumps(document)).findings
    return [f"{f.issue} {json.dumps(f.detail, default=str)}" for f in findings]


def test_the_lint_catches_what_it_is_here_for() -> None:
    """A misspelt action and an action on a resource type it does not take are findings."""
    bad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:DescribeTrainingJobs",
         "Resource": "arn:aws:sagemaker:us-east-1:123456789012:training-job/x"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket"},
    ]}
    issues = " ".join(lint(bad))
    assert "UNKNOWN_ACTION" in issues
    assert "RESOURCE_MISMATCH" in issues
