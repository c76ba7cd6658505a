"""The rehearsal's own parts, offline: the call map's rows, the mapping of calls to IAM requests,
and the simulator wrapper (each would let a denial slip through if wrong)."""

from __future__ import annotations

import pytest
from parliament import UnknownActionException, UnknownPrefixException, expand_action

from tests.permissions.policies import IdentityPolicy, Policies
from tests.permissions.rehearsal import Call, IamRequest, MappingError, evaluate, iam_requests, load_call_map

ROLE = "arn:aws:iam::123456789012:role/dev-Workflow-StartTraining"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/dev-Data-Execution"
NO_POLICIES = Policies(identity={}, buckets={}, bucket_kms_keys={}, roles={})


def call(service: str, operation: str, **params: object) -> Call:
    return Call(ROLE, service, operation, params, "us-east-1")


@pytest.mark.parametrize("operation", sorted(load_call_map()))
def test_every_row_cites_aws_and_names_real_actions(operation: str) -> None:
    row = load_call_map()[operation]
    assert row["doc"].startswith("https://docs.aws.amazon.com/"), row["doc"]
    for request in row["requests"]:
        try:
            assert expand_action(request["action"]), request["action"]
        except (UnknownActionException, UnknownPrefixException) as error:
            pytest.fail(f"{operation}: {request['action']} is not an IAM action ({error})")


def test_head_bucket_is_list_bucket_without_a_prefix() -> None:
    [request] = iam_requests(call("s3", "HeadBucket", Bucket="data"), NO_POLICIES)
    assert (request.action, request.resource) == ("s3:ListBucket", "arn:aws:s3:::data")
    assert "s3:prefix" not in request.context


def test_list_objects_carries_its_prefix_as_the_condition_key() -> None:
    [request] = iam_requests(call("s3", "ListObjectsV2", Bucket="data", Prefix="p/images/"), NO_POLICIES)
    assert request.context["s3:prefix"] == "p/images/"
    [no_prefix] = iam_requests(call("s3", "ListObjectsV2", Bucket="data"), NO_POLICIES)
    assert "s3:prefix" not in no_prefix.context


def test_create_with_tags_needs_add_tags_and_pass_role_to_sagemaker() -> None:
    requests = iam_requests(call("sagemaker", "CreateTrainingJob", TrainingJobName="Gt-Demo-1", RoleArn=EXECUTION_ROLE,
                                 Tags=[{"Key": "k", "Value": "v"}]), NO_POLICIES)
    assert [(r.action, r.resource) for r in requests] == [
        ("sagemaker:CreateTrainingJob", "arn:aws:sagemaker:us-east-1:123456789012:training-job/gt-demo-1"),
        ("sagemaker:AddTags", "arn:aws:sagemaker:us-east-1:123456789012:training-job/gt-demo-1"),
        ("iam:PassRole", EXECUTION_ROLE),
    ]
    assert requests[2].context["iam:PassedToService"] == "sagemaker.amazonaws.com"
    untagged = iam_requests(call("sagemaker", "CreateTrainingJob", TrainingJobName="j", RoleArn=EXECUTION_ROLE),
                            NO_POLICIES)
    assert "sagemaker:AddTags" not in [r.action for r in untagged]


def test_objects_in_an_sse_kms_bucket_need_the_key() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    policies = Policies(identity={}, buckets={}, bucket_kms_keys={"data": key}, roles={})
    put = iam_requests(call("s3", "PutObject", Bucket="data", Key="p/x"), policies)
    get = iam_requests(call("s3", "GetObject", Bucket="data", Key="p/x"), policies)
    assert [(r.action, r.resource) for r in put][1] == ("kms:GenerateDataKey", key)
    assert [(r.action, r.resource) for r in get][1] == ("kms:Decrypt", key)
    assert put[1].context["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert len(iam_requests(call("s3", "PutObject", Bucket="other", Key="x"), policies)) == 1


def test_an_operation_without_a_row_is_an_error_not_a_pass() -> None:
    with pytest.raises(MappingError, match="DeleteBucket has no row"):
        iam_requests(call("s3", "DeleteBucket", Bucket="data"), NO_POLICIES)
    with pytest.raises(MappingError, match="operator"):
        iam_requests(Call(None, "s3", "GetObject", {"Bucket": "b", "Key": "k"}, "us-east-1"), NO_POLICIES)


def test_simulator_allows_denies_and_rejects_unknown_actions() -> None:
    policy = IdentityPolicy(ROLE, "p", {"Version": "2012-10-17", "Statement": [
        {"Sid": "S0", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data",
         "Condition": {"StringLike": {"s3:prefix": ["p", "p/*"]}}}]})
    policies = Policies(identity={ROLE: (policy,)}, buckets={}, bucket_kms_keys={}, roles={})

    def request(action: str, **context: str) -> IamRequest:
        return IamRequest(ROLE, action, "arn:aws:s3:::data", {"aws:SecureTransport": "true", **context},
                          call("s3", "x"))

    allowed, no_prefix, unknown = evaluate(
        [request("s3:ListBucket", **{"s3:prefix": "p/images/"}), request("s3:ListBucket"),
         request("s3:ListBuckett")], policies)
    assert allowed.decision == "Allowed"
    assert allowed.used == (("p", "S0", "s3:ListBucket", "arn:aws:s3:::data"),)
    assert no_prefix.decision == "ImplicitlyDenied"
    assert unknown.decision == "Error"
