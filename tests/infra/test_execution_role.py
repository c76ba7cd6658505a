"""The SageMaker execution role: trust, scoped statements, no managed policies, PassRole."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from stacks.execution_role import SageMakerExecutionRole
from tests.infra.synth import policy_statements, render, synthesize


def role_resource(config: str) -> dict:
    roles = {k: v for k, v in synthesize(config)["Data"]["Resources"].items()
             if v["Type"] == "AWS::IAM::Role" and k.startswith("SageMakerExecutionRole")}
    (role,) = roles.values()
    return role


def role_statements(config: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy_statements(synthesize(config)["Data"]) if "Sid" in s}


@pytest.mark.parametrize("config", ["default", "explicit-env", "adopt-bucket"])
def test_trusts_sagemaker_only_and_has_no_managed_policies(config: str) -> None:
    role = role_resource(config)["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [{
        "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}]
    assert "ManagedPolicyArns" not in role


def test_lists_and_writes_only_under_the_prefix() -> None:
    statements = role_statements("default")
    assert statements["ListDataPrefix"]["Action"] == "s3:ListBucket"
    assert statements["ListDataPrefix"]["Resource"] == "<DataBucket.Arn>"
    assert statements["ListDataPrefix"]["Condition"] == {
        "StringLike": {"s3:prefix": ["ground-truth-demo", "ground-truth-demo/*"]}}
    assert statements["ReadWriteDataPrefix"]["Resource"] == "<DataBucket.Arn>/ground-truth-demo/*"
    assert sorted(statements["ReadWriteDataPrefix"]["Action"]) == [
        "s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]


def test_reads_the_public_sample_dataset_only() -> None:
    statements = role_statements("default")
    assert statements["ReadSampleDataset"] == {
        "Sid": "ReadSampleDataset", "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": "arn:<AWS::Partition>:s3:::sagemaker-sample-files/datasets/image/caltech-101/*"}
    assert statements["ListSampleDataset"]["Condition"] == {
        "StringLike": {"s3:prefix": ["datasets/image/caltech-101", "datasets/image/caltech-101/*"]}}


def test_job_logs_scoped_to_sagemaker_log_groups_one_resource_type_per_statement() -> None:
    statements = role_statements("explicit-env")
    groups, streams = statements["SageMakerJobLogGroups"], statements["SageMakerJobLogStreams"]
    assert groups["Resource"] == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/*"
    assert sorted(groups["Action"]) == ["logs:CreateLogGroup", "logs:DescribeLogStreams"]
    assert streams["Resource"] == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/*:log-stream:*"
    assert sorted(streams["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]


@pytest.mark.parametrize("config", ["default", "explicit-env", "prod", "vpc-kms", "adopt-bucket"])
def test_no_wildcard_actions_and_no_star_resource_on_data(config: str) -> None:
    for template in synthesize(config).values():
        for statement in policy_statements(template):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a == "*" or a.endswith(":*") for a in actions), statement
            if statement["Resource"] == "*":
                # Only actions without resource-level permissions: narrowed by a condition, or
                # ECR sign-in, which grants nothing by itself (pulls are scoped to one repository),
                # or RegisterModel's one Search for its own model package version (metadata only).
                assert ("Condition" in statement
                        or statement["Action"] in ("ecr:GetAuthorizationToken", "sagemaker:Search")), statement


def test_kms_key_use_is_explicit_when_configured() -> None:
    statement = role_statements("vpc-kms")["DataKeyUse"]
    # S3 reads/writes (Decrypt, GenerateDataKey) and the jobs' output encryption (Encrypt, DescribeKey).
    assert statement["Action"] == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    assert "DataKeyUse" not in role_statements("default")


# --- the notebook's SageMaker SDK: Session().default_bucket() -> HeadBucket (no s3:prefix) ----------


def test_role_allows_the_sdks_prefix_less_bucket_check() -> None:
    statement = role_statements("default")["SdkDefaultBucketCheck"]
    assert statement["Action"] == "s3:ListBucket"
    assert statement["Resource"] == "<DataBucket.Arn>"
    assert statement["Condition"] == {"Null": {"s3:prefix": "true"}}


def _allows(statements: list[dict], action: str, resource: str, context: dict[str, str]) -> bool:
    """Enough of IAM's evaluation for these statements: Allow, exact action and resource,
    StringLike and Null conditions (a key absent from `context` is null)."""
    import fnmatch

    def listed(value: object) -> list:
        return value if isinstance(value, list) else [value]

    def condition_holds(operator: str, tests: dict) -> bool:
        for key, expected in tests.items():
            if operator == "Null":
                if (key not in context) != (str(expected).lower() == "true"):
                    return False
            elif operator == "StringLike":
                if key not in context or not any(fnmatch.fnmatchcase(context[key], p) for p in listed(expected)):
                    return False
            else:
                raise AssertionError(f"operator {operator} not modelled")
        return True

    return any(
        s["Effect"] == "Allow" and action in listed(s["Action"]) and resource in listed(s["Resource"])
        and all(condition_holds(op, tests) for op, tests in s.get("Condition", {}).items())
        for s in statements
    )


@pytest.mark.parametrize("policy", ["role", "bucket"])
def test_head_bucket_is_allowed_and_listing_other_prefixes_is_not(policy: str) -> None:
    """HeadBucket is authorized as s3:ListBucket with no s3:prefix in the request context; the
    prefix-conditioned statement alone denied it (the tutorial's 403 in its first cell)."""
    data = synthesize("default")["Data"]
    statements = (policy_statements(data) if policy == "role"
                  else policy_statements(data, "AWS::S3::BucketPolicy"))
    statements = [s for s in statements if policy == "role" or "SageMakerExecutionRole" in str(s.get("Principal"))]
    bucket = "<DataBucket.Arn>"
    assert _allows(statements, "s3:ListBucket", bucket, {})  # HeadBucket / default_bucket()
    assert _allows(statements, "s3:ListBucket", bucket, {"s3:prefix": "ground-truth-demo/images/"})
    assert not _allows(statements, "s3:ListBucket", bucket, {"s3:prefix": "someone-else/"})


def test_prefix_less_bucket_check_only_with_a_notebook() -> None:
    from stacks.app import build_app
    from tests.infra.synth import context_for

    app = build_app(context_for({"workflow.notebook.enabled": False}))
    stack = app.node.find_child("dev-Data")
    template = Template.from_stack(stack).to_json()
    sids = {s.get("Sid") for kind in ("AWS::IAM::Policy", "AWS::S3::BucketPolicy")
            for s in policy_statements(template, kind)}
    assert "ListDataPrefix" in sids
    assert not sids & {"SdkDefaultBucketCheck", "ExecutionRoleSdkDefaultBucketCheck"}


def test_pass_role_only_to_sagemaker() -> None:
    stack = cdk.Stack(cdk.App())
    bucket = s3.Bucket(stack, "B")
    execution = SageMakerExecutionRole(stack, "Exec", bucket=bucket, prefix="p")
    starter = iam.Role(stack, "Starter", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    execution.grant_pass_role(starter)
    statements = policy_statements(Template.from_stack(stack).to_json())
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert pass_role["Resource"] == render({"Fn::GetAtt": [
        stack.get_logical_id(execution.role.node.default_child), "Arn"]})
