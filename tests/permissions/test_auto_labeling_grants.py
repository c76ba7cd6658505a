"""Automated data labeling's calls against the synthesized policies, with the rehearsal's evaluator.

The end-to-end rehearsal (tests/integration/test_demo.py) runs with automated labeling off: the demo's
25 images are below its documented minimum of 1,250 objects. So the calls Ground Truth then makes as
the execution role are evaluated here, as tests/permissions/test_preflight_table.py does for preflight:
built from the documentation (docs/labeling-cost.md, "Automated data labeling"), evaluated against the
templates synthesized with `labeling.auto_labeling` on (tests/infra/auto_labeling_synth.py), and, as the
proof that each grant is needed and absent when off, against the default templates.

- Ground Truth passes the execution role to the training and inference jobs it runs for automated
  labeling: iam:PassRole on the role itself with iam:PassedToService = sagemaker.amazonaws.com
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-security-permission-execution-role.html).
- With `volume_kms_key_arn`, SageMaker creates a grant on that key for the instances' volumes:
  kms:CreateGrant, kms:GrantIsForAWSResource true
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-security-kms-permissions.html).
- Those jobs read and write under the labeling job's output path (`activelearning/`, `inference/`,
  `training/`: https://docs.aws.amazon.com/sagemaker/latest/dg/sms-data-output.html) and log as training
  and transform jobs do (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.auto_labeling_synth import VOLUME_KEY_ARN, synthesize_auto_labeling
from tests.infra.synth import ACCOUNT, REGION, synthesize
from tests.permissions.policies import Policies, StackInput, load_policies
from tests.permissions.rehearsal import Call, Evaluation, IamRequest, evaluate, iam_requests, load_call_map

BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
JOB = "gt-demo-20240506-070809"
OUTPUT = f"ground-truth-demo/labeled-data/{JOB}"
WHY = "Ground Truth automated data labeling"


def policies_of(templates: dict[str, dict[str, Any]]) -> Policies:
    return load_policies([StackInput(f"dev-{suffix}", template) for suffix, template in templates.items()])


def documented_requests(policies: Policies, *, volume_key: bool) -> list[IamRequest]:
    role = policies.role("Data", "SageMakerExecutionRole")
    requests = [IamRequest(role, "iam:PassRole", role, {
        "aws:SecureTransport": "true", "iam:PassedToService": "sagemaker.amazonaws.com"},
        Call(role, "iam", "PassRole", {}, REGION, f"{WHY}: its training and inference jobs run as this role"))]
    if volume_key:
        requests.append(IamRequest(role, "kms:CreateGrant", VOLUME_KEY_ARN, {
            "aws:SecureTransport": "true", "kms:GrantIsForAWSResource": "true"},
            Call(role, "kms", "CreateGrant", {"KeyId": VOLUME_KEY_ARN}, REGION, f"{WHY}: volume encryption")))
    calls = [
        Call(role, "s3", "GetObject", {"Bucket": BUCKET, "Key": f"{OUTPUT}/training/iteration-1/train.manifest"},
             REGION, WHY),
        Call(role, "s3", "PutObject", {"Bucket": BUCKET, "Key": f"{OUTPUT}/activelearning/iteration-1/model.tar.gz"},
             REGION, WHY),
        Call(role, "s3", "PutObject", {"Bucket": BUCKET, "Key": f"{OUTPUT}/inference/iteration-1/part-0.out"},
             REGION, WHY),
        Call(role, "cloudwatch", "PutMetricData", {"Namespace": "/aws/sagemaker/TrainingJobs"}, REGION, WHY),
    ]
    for group, stream in (("/aws/sagemaker/TrainingJobs", f"{JOB}-training/algo-1"),
                          ("/aws/sagemaker/TransformJobs", f"{JOB}-inference/i-0123")):
        calls += [Call(role, "logs", "CreateLogGroup", {"logGroupName": group}, REGION, WHY),
                  Call(role, "logs", "CreateLogStream", {"logGroupName": group, "logStreamName": stream}, REGION, WHY),
                  Call(role, "logs", "PutLogEvents", {"logGroupName": group, "logStreamName": stream}, REGION, WHY)]
    call_map = load_call_map()
    return requests + [request for call in calls for request in iam_requests(call, policies, call_map=call_map)]


def decisions(evaluations: list[Evaluation]) -> dict[str, str]:
    return {f"{e.request.action} on {e.request.resource.rsplit(':', 1)[-1]}": e.decision for e in evaluations}


@pytest.mark.parametrize("configuration", ["with-volume-key", "without-volume-key"])
def test_every_documented_call_is_allowed_with_auto_labeling_on(configuration: str) -> None:
    policies = policies_of(synthesize_auto_labeling(configuration))
    requests = documented_requests(policies, volume_key=configuration == "with-volume-key")
    denied = [f"{e.request.describe()} -> {e.decision} {e.errors or ''}" for e in evaluate(requests, policies)
              if not e.allowed]
    assert not denied, "automated labeling would be denied:\n" + "\n".join(denied)


def test_the_grants_are_used_by_exactly_those_calls_and_scoped_to_the_role_and_key() -> None:
    policies = policies_of(synthesize_auto_labeling("with-volume-key"))
    role = policies.role("Data", "SageMakerExecutionRole")
    evaluations = evaluate(documented_requests(policies, volume_key=True), policies)
    # Identity-policy statements only (the key's default policy allows too); the evaluator reports a Sid with its
    # index appended (policies._with_sids).
    used_by = {e.request.action: {re.sub(r"S\d+$", "", sid) for policy, sid, _, _ in e.used if policy is not None}
               for e in evaluations}
    assert used_by["iam:PassRole"] == {"AutoLabelingPassRole"}
    assert used_by["kms:CreateGrant"] == {"AutoLabelingVolumeKey"}
    # Not to another role, another service, another key, or a grant for something other than an AWS resource.
    other = f"arn:aws:iam::{ACCOUNT}:role/SomeoneElse"
    other_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    origin = Call(role, "iam", "PassRole", {}, REGION, "negative")
    negatives = [
        IamRequest(role, "iam:PassRole", other, {"iam:PassedToService": "sagemaker.amazonaws.com"}, origin),
        IamRequest(role, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"}, origin),
        IamRequest(role, "kms:CreateGrant", other_key, {"kms:GrantIsForAWSResource": "true"}, origin),
        IamRequest(role, "kms:CreateGrant", VOLUME_KEY_ARN, {"kms:GrantIsForAWSResource": "false"}, origin),
    ]
    assert [e.decision for e in evaluate(negatives, policies)] == ["ImplicitlyDenied"] * 4


def test_with_auto_labeling_off_the_role_cannot_pass_itself_or_grant_on_the_key() -> None:
    """What automated labeling adds is absent when it is off: the same calls are denied by the default
    templates (and the S3 and log calls, which the role needs anyway, are still allowed)."""
    policies = policies_of(synthesize("explicit-env"))
    result = decisions(evaluate(documented_requests(policies, volume_key=True), policies))
    role_name = policies.role("Data", "SageMakerExecutionRole").rsplit(":", 1)[-1]
    assert result.pop(f"iam:PassRole on {role_name}") == "ImplicitlyDenied"
    assert result.pop(f"kms:CreateGrant on {VOLUME_KEY_ARN.rsplit(':', 1)[-1]}") == "ImplicitlyDenied"
    assert set(result.values()) == {"Allowed"}
