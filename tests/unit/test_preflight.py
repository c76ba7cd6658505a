"""`python -m workflow preflight` without AWS: the permission table, the policy readers, and every
check's PASS and FAIL path through botocore's Stubber (which validates each request and response
against botocore's service model)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from workflow import aws, cli, context, outputs, preflight
from workflow.context import Project
from workflow.preflight import (
    EXECUTION_ROLE,
    FAIL,
    PASS,
    REGISTER_MODEL,
    START_LABELING,
    START_TRAINING,
    WARN,
    Call,
    Preflight,
    Result,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
PREFIX = "ground-truth-demo"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/operator"
EXECUTION_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/dev-Data-SageMakerExecutionRole-ABC"
FUNCTIONS = {START_LABELING: "dev-StartLabeling-1", START_TRAINING: "dev-StartTraining-2",
             REGISTER_MODEL: "dev-RegisterModel-3"}
ROLE_ARNS = {EXECUTION_ROLE: EXECUTION_ROLE_ARN,
             **{role: f"arn:aws:iam::{ACCOUNT}:role/dev-Workflow-{role}Role-XYZ" for role in FUNCTIONS}}
RULES = {"LabelingCompletedRuleName": "dev-LabelingCompleted", "TrainingEndedRuleName": "dev-TrainingEnded",
         "TuningEndedRuleName": "dev-TuningEnded"}
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:dev-Alerts"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CREATED = datetime(2024, 5, 6, tzinfo=UTC)

DATA_OUTPUTS = {"BucketName": BUCKET, "ExecutionRoleArn": EXECUTION_ROLE_ARN,
                "ImagesS3Uri": f"s3://{BUCKET}/{PREFIX}/images/"}
WORKFLOW_OUTPUTS = {
    "StartLabelingFunctionName": FUNCTIONS[START_LABELING],
    "StartTrainingFunctionName": FUNCTIONS[START_TRAINING],
    "RegisterModelFunctionName": FUNCTIONS[REGISTER_MODEL],
    "AlertsTopicArn": TOPIC,
    "LabelingWorkteamArn": f"arn:aws:sagemaker:{REGION}:394669845002:workteam/public-crowd/default",
    **RULES,
}

# What CDK's `enforce_ssl=True` puts in the bucket policy (stacks/data_stack.py).
TLS_DENY = {
    "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
ROOT_KEY_STATEMENT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                      "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}


def project(**overrides: Any) -> Project:
    values = {f"workflow.{key}": json.dumps(value) for key, value in overrides.items()}
    return context.load_project(context.build_context(context.read_cdk_context(), env=None, overrides=values),
                                region=REGION, require_ground_truth_region=False)


def deployment(**overrides: Any) -> preflight.Deployment:
    return preflight.Deployment(config=project(**overrides).config, region=REGION, account=ACCOUNT, bucket=BUCKET,
                                execution_role_arn=EXECUTION_ROLE_ARN, topic_arn=TOPIC)


class Stubs:
    """One stubbed client per service, made on first use; `preflight` gets them through `__call__`."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}
        self.operations: list[str] = []  # every call made, in order

    def __call__(self, service: str) -> Any:
        if service not in self.clients:
            client = boto3.client(service, region_name=REGION)
            client.meta.events.register("before-parameter-build.*.*", self._record)
            self.clients[service], self.stubbers[service] = client, Stubber(client)
            self.stubbers[service].activate()
        return self.clients[service]

    def _record(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    def stub(self, service: str) -> Stubber:
        self(service)
        return self.stubbers[service]

    def verify(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()
            stubber.deactivate()


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    stubs = Stubs()
    yield stubs
    stubs.verify()


def checked(stubs: Stubs, *, data: dict[str, str] | None = None, workflow: dict[str, str] | None = None,
            **config: Any) -> Preflight:
    """A Preflight whose identity and stack checks have run (their state set as they set it)."""
    check = Preflight(project=project(**config), client=stubs)
    check.account = ACCOUNT
    check.data = outputs.StackOutputs(f"{check.project.data_stack}", REGION, "CREATE_COMPLETE",
                                      DATA_OUTPUTS if data is None else data)
    check.workflow = outputs.StackOutputs(f"{check.project.workflow_stack}", REGION, "UPDATE_COMPLETE",
                                          WORKFLOW_OUTPUTS if workflow is None else workflow)
    return check


def statuses(results: list[Result]) -> list[str]:
    return [result.status for result in results]


def only(results: list[Result]) -> Result:
    assert len(results) == 1, [r.line() for r in results]
    return results[0]


# --- the permission table (pure) -------------------------------------------------------------


def calls_of(table: dict[str, tuple[Call, ...]], role: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    return {(c.action, c.resource, tuple((v.key, ",".join(v.values)) for v in c.context)) for c in table[role]}


def test_the_execution_role_rehearses_data_access_under_the_prefix_and_the_image_pull() -> None:
    table = preflight.permission_table(deployment())
    calls = calls_of(table, EXECUTION_ROLE)
    bucket_arn = f"arn:aws:s3:::{BUCKET}"
    assert ("s3:GetObject", f"{bucket_arn}/{PREFIX}/images/example.jpg", ()) in calls
    assert ("s3:PutObject", f"{bucket_arn}/{PREFIX}/labeled-data/gt-demo-preflight/manifests/output/output.manifest",
            ()) in calls
    assert ("s3:ListBucket", bucket_arn, ()) in calls  # HeadBucket: no s3:prefix
    assert ("s3:ListBucket", bucket_arn, (("s3:prefix", f"{PREFIX}/checkpoints/gt-demo-preflight/"),)) in calls
    repository = "arn:aws:ecr:us-east-1:811284229777:repository/image-classification"
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"):
        assert (action, repository, ()) in calls
    s3_objects = [c.resource for c in table[EXECUTION_ROLE] if c.action in ("s3:GetObject", "s3:PutObject")]
    assert s3_objects and all(r.startswith(f"{bucket_arn}/{PREFIX}/") for r in s3_objects)
    assert not any(c.action.startswith("kms:") for c in table[EXECUTION_ROLE])  # no key configured


def test_the_lambda_roles_rehearse_what_their_handlers_call() -> None:
    table = preflight.permission_table(deployment())
    labeling_job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/gt-demo-preflight"
    training_job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/gt-demo-preflight"
    model = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-preflight"
    pass_role = ("iam:PassRole", EXECUTION_ROLE_ARN, (("iam:PassedToService", "sagemaker.amazonaws.com"),))
    assert {("sagemaker:CreateLabelingJob", labeling_job, ()), ("sagemaker:AddTags", labeling_job, ()),
            ("sagemaker:DescribeLabelingJob", labeling_job, ()), pass_role,
            ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", (("s3:prefix", f"{PREFIX}/images/"),))
            } <= calls_of(table, START_LABELING)
    assert {("sagemaker:DescribeLabelingJob", labeling_job, ()), ("sagemaker:DescribeTrainingJob", training_job, ()),
            ("sagemaker:CreateTrainingJob", training_job, ()), ("sagemaker:AddTags", training_job, ()), pass_role,
            ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/{PREFIX}/labeling/gt-demo-preflight/label-categories.json", ()),
            ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/{PREFIX}/training/gt-demo-preflight/train.manifest", ()),
            ("sns:Publish", TOPIC, ())} <= calls_of(table, START_TRAINING)
    assert {("sagemaker:DescribeTrainingJob", training_job, ()), ("sagemaker:DescribeModel", model, ()),
            ("sagemaker:CreateModel", model, ()), ("sagemaker:AddTags", model, ()), pass_role
            } <= calls_of(table, REGISTER_MODEL)


def test_the_permission_table_follows_the_config() -> None:
    table = preflight.permission_table(deployment(**{
        "tuning.enabled": True, "bucket.kms_key_arn": KEY, "model.register_package": True,
        "labeling.job_prefix": "cars"}))
    tuning_job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/cars-preflight"
    assert ("sagemaker:CreateHyperParameterTuningJob", tuning_job, ()) in calls_of(table, START_TRAINING)
    assert not any(c.action == "sagemaker:CreateTrainingJob" for c in table[START_TRAINING])
    assert ("sagemaker:DescribeHyperParameterTuningJob", tuning_job, ()) in calls_of(table, REGISTER_MODEL)
    # With evaluation (the default) the Evaluation function registers the package, after the evaluation.
    package = ("sagemaker:CreateModelPackage", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/dev-models/1", ())
    assert package in calls_of(table, preflight.EVALUATION)
    assert package not in calls_of(table, REGISTER_MODEL)
    transform = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/cars-preflight"  # named like the model
    assert ("sagemaker:CreateTransformJob", transform, ()) in calls_of(table, REGISTER_MODEL)
    assert ("sagemaker:DescribeTransformJob", transform, ()) in calls_of(table, preflight.EVALUATION)
    key_calls = {role: sorted(c.action for c in calls if c.resource == KEY) for role, calls in table.items()}
    assert key_calls == {EXECUTION_ROLE: ["kms:Decrypt", "kms:GenerateDataKey"],
                         START_LABELING: ["kms:Decrypt", "kms:GenerateDataKey"],
                         START_TRAINING: ["kms:Decrypt", "kms:GenerateDataKey"],
                         REGISTER_MODEL: ["kms:Decrypt", "kms:GenerateDataKey"],
                         preflight.EVALUATION: ["kms:Decrypt", "kms:GenerateDataKey"]}

    without = preflight.permission_table(deployment(**{"model.register_package": True, "evaluation.enabled": False}))
    assert preflight.EVALUATION not in without
    assert package in calls_of(without, REGISTER_MODEL)
    assert not any("Transform" in c.action for calls in without.values() for c in calls)


def test_simulation_requests_group_actions_per_resource_and_are_valid_requests() -> None:
    calls = preflight.permission_table(deployment())[START_LABELING]
    requests = preflight.simulation_requests(ROLE_ARNS[START_LABELING], calls)
    shape = boto3.client("iam").meta.service_model.operation_model("SimulatePrincipalPolicy").input_shape
    for request in requests:
        validate_parameters(request, shape)
    by_resource = {r["ResourceArns"][0]: r for r in requests}
    job = by_resource[f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/gt-demo-preflight"]
    assert job["ActionNames"] == ["sagemaker:DescribeLabelingJob", "sagemaker:CreateLabelingJob", "sagemaker:AddTags"]
    assert by_resource[EXECUTION_ROLE_ARN]["ContextEntries"] == [{
        "ContextKeyName": "iam:PassedToService", "ContextKeyValues": ["sagemaker.amazonaws.com"],
        "ContextKeyType": "string"}]
    assert sum(len(r["ActionNames"]) for r in requests) == len(calls)


def test_denials_read_per_resource_results_and_say_why() -> None:
    found = preflight.denials([
        {"EvalActionName": "s3:GetObject", "EvalResourceName": "arn:aws:s3:::b/k", "EvalDecision": "allowed"},
        {"EvalActionName": "sagemaker:CreateModel", "EvalResourceName": "*", "EvalDecision": "explicitDeny",
         "OrganizationsDecisionDetail": {"AllowedByOrganizations": False},
         "ResourceSpecificResults": [{"EvalResourceName": "arn:m", "EvalResourceDecision": "explicitDeny"}]},
        {"EvalActionName": "s3:ListBucket", "EvalResourceName": "arn:aws:s3:::b", "EvalDecision": "implicitDeny",
         "MissingContextValues": ["s3:prefix"],
         "PermissionsBoundaryDecisionDetail": {"AllowedByPermissionsBoundary": False}},
    ])
    assert found == [
        preflight.Denial("sagemaker:CreateModel", "arn:m", "explicitDeny", ("an SCP of your organisation denies it",)),
        preflight.Denial("s3:ListBucket", "arn:aws:s3:::b", "implicitDeny",
                         ("the role's permissions boundary denies it", "missing context s3:prefix")),
    ]
    assert "SCP" in preflight.denial_fix(found[0]) and "permissions boundary" in preflight.denial_fix(found[1])


# --- policy readers (pure) -------------------------------------------------------------------


def test_the_tls_only_deny_is_recognised_and_imitations_are_not() -> None:
    assert preflight.has_tls_only_deny({"Statement": [TLS_DENY]}, BUCKET)
    assert preflight.has_tls_only_deny({"Statement": {**TLS_DENY, "Principal": "*", "Action": ["s3:*"]}}, BUCKET)
    assert not preflight.has_tls_only_deny(None, BUCKET)
    assert not preflight.has_tls_only_deny({"Statement": [{**TLS_DENY, "Effect": "Allow"}]}, BUCKET)
    assert not preflight.has_tls_only_deny({"Statement": [{**TLS_DENY, "Condition": {}}]}, BUCKET)
    assert not preflight.has_tls_only_deny({"Statement": [{**TLS_DENY, "Resource": f"arn:aws:s3:::{BUCKET}"}]},
                                           BUCKET)  # objects not covered
    assert not preflight.has_tls_only_deny({"Statement": [{**TLS_DENY, "Action": "s3:GetObject"}]}, BUCKET)


def test_the_cors_rule_preflight_looks_for_is_the_data_stacks() -> None:
    from stacks.data_stack import GROUND_TRUTH_CORS_RULE as rule  # imports aws_cdk: only here

    as_returned = {"AllowedMethods": [m.value for m in rule.allowed_methods], "AllowedOrigins": rule.allowed_origins,
                   "ExposeHeaders": rule.exposed_headers}
    assert preflight.has_ground_truth_cors_rule([as_returned])
    assert not preflight.has_ground_truth_cors_rule([{**as_returned, "AllowedOrigins": ["https://example.com"]}])
    assert not preflight.has_ground_truth_cors_rule([{**as_returned, "ExposeHeaders": []}])


def test_key_policies_that_delegate_to_iam_or_name_the_roles() -> None:
    assert preflight.key_policy_delegates_to_iam({"Statement": [ROOT_KEY_STATEMENT]}, ACCOUNT)
    narrow = {**ROOT_KEY_STATEMENT, "Action": ["kms:Describe*", "kms:Get*"]}
    assert not preflight.key_policy_delegates_to_iam({"Statement": [narrow]}, ACCOUNT)
    assert not preflight.key_policy_delegates_to_iam({"Statement": [ROOT_KEY_STATEMENT]}, "999999999999")
    named = {"Effect": "Allow", "Principal": {"AWS": [ROLE_ARNS[EXECUTION_ROLE], ROLE_ARNS[START_LABELING]]},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}
    assert preflight.key_policy_grantees({"Statement": [named]}, ROLE_ARNS.values()) == {
        ROLE_ARNS[EXECUTION_ROLE], ROLE_ARNS[START_LABELING]}


@pytest.mark.parametrize(("name", "spot", "matches"), [
    ("ml.g4dn.xlarge for training job usage", False, True),
    ("ML.G4DN.XLARGE  for Training Job Usage ", False, True),
    ("ml.g4dn.xlarge for spot training job usage", True, True),
    ("ml.g4dn.xlarge for spot training job usage", False, False),
    ("ml.g4dn.xlarge for training job usage", True, False),
    ("ml.g4dn.xlarge for training warm pool usage", False, False),
    ("ml.g4dn.xlarge for processing job usage", False, False),
    ("ml.g4dn.2xlarge for training job usage", False, False),
])
def test_quota_names_match_robustly(name: str, spot: bool, matches: bool) -> None:
    assert bool(preflight.quota_pattern("ml.g4dn.xlarge", spot=spot).match(name)) is matches


def test_every_call_preflight_makes_is_read_only() -> None:
    assert all(operation.startswith(("Get", "Describe", "List", "Head", "Simulate"))
               for operation in preflight.IAM_ACTIONS)


# --- 1-2. region, credentials, stacks --------------------------------------------------------


def test_the_region_check_names_the_ground_truth_regions() -> None:
    assert preflight.region_result(REGION).status == PASS
    result = preflight.region_result("eu-north-1")
    assert result.status == FAIL and "eu-north-1" in result.detail
    assert result.fix == ("use one of ap-northeast-1, ap-northeast-2, ap-south-1, ap-southeast-1, ap-southeast-2, "
                          "ca-central-1, eu-central-1, eu-west-1, eu-west-2, us-east-1, us-east-2, us-west-2 "
                          "(--region or AWS_REGION)")


def test_credentials_of_another_account_than_the_config_pins(stubs: Stubs) -> None:
    stubs.stub("sts").add_response("get_caller_identity", {"Account": "999999999999", "Arn": CALLER,
                                                           "UserId": "AIDA"})
    check = Preflight(project=project(account="111111111111"), client=stubs)
    result = only(check.guarded("credentials", check.check_identity))
    assert result.status == FAIL
    assert "config pins account 111111111111" in result.detail and "AWS_PROFILE" in (result.fix or "")


def stack(name: str, outputs_: dict[str, str], status: str = "CREATE_COMPLETE") -> dict[str, Any]:
    return {"Stacks": [{"StackName": name, "StackStatus": status, "CreationTime": CREATED,
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs_.items()]}]}


def test_stacks_complete_with_their_outputs_pass(stubs: Stubs) -> None:
    cloudformation = stubs.stub("cloudformation")
    cloudformation.add_response("describe_stacks", stack("dev-Data", DATA_OUTPUTS), {"StackName": "dev-Data"})
    cloudformation.add_response("describe_stacks", stack("dev-Workflow", WORKFLOW_OUTPUTS, "UPDATE_COMPLETE"),
                                {"StackName": "dev-Workflow"})
    check = Preflight(project=project(), client=stubs)
    results = [*check.guarded("s", lambda: check.check_stack("data")),
               *check.guarded("s", lambda: check.check_stack("workflow"))]
    assert statuses(results) == [PASS, PASS]
    assert check.data is not None and check.data.get("BucketName") == BUCKET


@pytest.mark.parametrize(("response", "detail"), [
    (None, "not found in us-east-1"),
    (stack("dev-Data", DATA_OUTPUTS, "UPDATE_IN_PROGRESS"), "is UPDATE_IN_PROGRESS"),
    (stack("dev-Data", DATA_OUTPUTS, "ROLLBACK_COMPLETE"), "is ROLLBACK_COMPLETE"),
    (stack("dev-Data", {"BucketName": BUCKET}), "without the outputs ExecutionRoleArn"),
])
def test_a_missing_unfinished_or_outdated_stack_fails(stubs: Stubs, response: dict[str, Any] | None,
                                                      detail: str) -> None:
    if response is None:
        stubs.stub("cloudformation").add_client_error("describe_stacks", "ValidationError",
                                                      "Stack with id dev-Data does not exist")
    else:
        stubs.stub("cloudformation").add_response("describe_stacks", response)
    check = Preflight(project=project(), client=stubs)
    result = only(check.guarded("stack dev-Data", lambda: check.check_stack("data")))
    assert result.status == FAIL and detail in result.detail, result.line()
    assert result.line().startswith("FAIL  stack dev-Data: ")


# --- 3. data bucket and key ------------------------------------------------------------------


def bucket_params() -> dict[str, str]:
    return {"Bucket": BUCKET, "ExpectedBucketOwner": ACCOUNT}


def test_a_healthy_bucket_passes_every_check(stubs: Stubs) -> None:
    s3 = stubs.stub("s3")
    s3.add_response("head_bucket", {}, bucket_params())
    s3.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": {
        flag: True for flag in preflight.BLOCK_PUBLIC_ACCESS_FLAGS}}, bucket_params())
    s3.add_response("get_bucket_cors", {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"],
                                                       "AllowedHeaders": [],
                                                       "ExposeHeaders": ["Access-Control-Allow-Origin"]}]},
                    bucket_params())
    s3.add_response("get_bucket_policy", {"Policy": json.dumps({"Statement": [TLS_DENY]})}, bucket_params())
    s3.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}, bucket_params())
    check = checked(stubs)
    results = [r for fn in (check.check_bucket_exists, check.check_public_access_block, check.check_cors,
                            check.check_bucket_policy, check.check_encryption) for r in check.guarded("b", fn)]
    assert statuses(results) == [PASS] * 5, [r.line() for r in results]


def test_a_missing_bucket_fails_and_the_other_bucket_checks_are_skipped(stubs: Stubs) -> None:
    stubs.stub("s3").add_client_error("head_bucket", "404", "Not Found", 404, expected_params=bucket_params())
    check = checked(stubs)
    result = only(check.guarded("b", check.check_bucket_exists))
    assert result.status == FAIL and result.detail == "does not exist"
    assert check.guarded("b", check.check_cors) == []  # no call made: the Stubber has nothing queued


def test_head_bucket_forbidden_is_a_warning_naming_both_causes(stubs: Stubs) -> None:
    stubs.stub("s3").add_client_error("head_bucket", "403", "Forbidden", 403, expected_params=bucket_params())
    check = checked(stubs)
    result = only(check.guarded("b", check.check_bucket_exists))
    assert result.status == WARN
    assert "s3:ListBucket (HeadBucket) denied" in result.detail and "another account" in result.detail


def reachable(stubs: Stubs, **config: Any) -> Preflight:
    check = checked(stubs, **config)
    check.bucket_reachable = True
    return check


def test_block_public_access_off_or_absent_fails(stubs: Stubs) -> None:
    s3 = stubs.stub("s3")
    s3.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False}}, bucket_params())
    s3.add_client_error("get_public_access_block", "NoSuchPublicAccessBlockConfiguration", "none", 404)
    check = reachable(stubs)
    first = only(check.guarded("b", check.check_public_access_block))
    assert first.status == FAIL
    assert first.detail == "Block Public Access is off: BlockPublicPolicy, RestrictPublicBuckets"
    second = only(check.guarded("b", check.check_public_access_block))
    assert second.status == FAIL and "BlockPublicAcls, IgnorePublicAcls" in second.detail


def test_missing_cors_rule_fails(stubs: Stubs) -> None:
    stubs.stub("s3").add_client_error("get_bucket_cors", "NoSuchCORSConfiguration", "none", 404)
    check = reachable(stubs)
    result = only(check.guarded("b", check.check_cors))
    assert result.status == FAIL and "Ground Truth tasks fail without it" in result.detail


def test_no_bucket_policy_or_no_tls_deny_fails(stubs: Stubs) -> None:
    s3 = stubs.stub("s3")
    s3.add_client_error("get_bucket_policy", "NoSuchBucketPolicy", "none", 404)
    s3.add_response("get_bucket_policy", {"Policy": json.dumps({"Statement": [{**TLS_DENY, "Condition": {}}]})})
    check = reachable(stubs)
    for _ in range(2):
        result = only(check.guarded("b", check.check_bucket_policy))
        assert result.status == FAIL and "no TLS-only deny" in result.detail


def test_encryption_must_use_the_configured_key(stubs: Stubs) -> None:
    s3 = stubs.stub("s3")
    s3.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}})
    s3.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}})
    s3.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}}]}})
    check = reachable(stubs, **{"bucket.kms_key_arn": KEY})
    wrong = only(check.guarded("b", check.check_encryption))
    assert wrong.status == FAIL and f"is AES256, not the configured key {KEY}" in wrong.detail
    managed = only(check.guarded("b", check.check_encryption))
    assert managed.status == FAIL and f"is aws:kms (AWS managed key), not the configured key {KEY}" in managed.detail
    assert only(check.guarded("b", check.check_encryption)).status == PASS


def test_access_denied_is_a_warning_and_the_next_check_still_runs(stubs: Stubs) -> None:
    s3 = stubs.stub("s3")
    s3.add_client_error("get_bucket_policy", "AccessDenied", "Access Denied", 403, expected_params=bucket_params())
    s3.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}})
    check = reachable(stubs)
    denied = only(check.guarded(f"data bucket {BUCKET}", check.check_bucket_policy))
    assert denied == Result(WARN, f"data bucket {BUCKET}", "could not check: s3:GetBucketPolicy denied for your "
                            "credentials", "use credentials allowed s3:GetBucketPolicy (read-only), or have an "
                            "administrator check this")
    assert only(check.guarded("b", check.check_encryption)).status == PASS


@pytest.mark.parametrize(("state", "detail", "fix"), [
    ("Disabled", "is Disabled", "aws kms enable-key"),
    ("PendingDeletion", "is scheduled for deletion", "aws kms cancel-key-deletion"),
])
def test_a_disabled_or_deleted_key_fails(stubs: Stubs, state: str, detail: str, fix: str) -> None:
    stubs.stub("kms").add_response("describe_key", {"KeyMetadata": {
        "KeyId": KEY.rsplit("/", 1)[1], "Arn": KEY, "KeyState": state, "Enabled": False}}, {"KeyId": KEY})
    check = checked(stubs, **{"bucket.kms_key_arn": KEY})
    result = only(check.guarded("k", check.check_key_state))
    assert result.status == FAIL and detail in result.detail and fix in (result.fix or "")


def function_configuration(role: str) -> dict[str, Any]:
    return {"FunctionName": FUNCTIONS[role], "Role": ROLE_ARNS[role]}


# The roles whose S3 calls use the bucket's key: RegisterModel too, since it reads the validation split and
# writes the evaluation's inputs (evaluation.enabled, the default).
def stub_function_roles(stubs: Stubs, roles: tuple[str, ...] = (START_LABELING, START_TRAINING,
                                                                REGISTER_MODEL)) -> None:
    for role in roles:
        stubs.stub("lambda").add_response("get_function_configuration", function_configuration(role),
                                          {"FunctionName": FUNCTIONS[role]})


def test_a_key_policy_that_delegates_to_iam_passes(stubs: Stubs) -> None:
    stubs.stub("kms").add_response("get_key_policy", {"Policy": json.dumps({"Statement": [ROOT_KEY_STATEMENT]})},
                                   {"KeyId": KEY, "PolicyName": "default"})
    stub_function_roles(stubs)
    check = checked(stubs, **{"bucket.kms_key_arn": KEY})
    result = only(check.guarded("k", check.check_key_policy))
    assert result.status == PASS and "account root" in result.detail
    assert check.key_grantees == set()


def test_a_key_policy_that_names_only_some_roles_fails(stubs: Stubs) -> None:
    named = {"Effect": "Allow", "Principal": {"AWS": [EXECUTION_ROLE_ARN]}, "Action": "kms:*", "Resource": "*"}
    stubs.stub("kms").add_response("get_key_policy", {"Policy": json.dumps({"Statement": [named]})})
    stub_function_roles(stubs)
    check = checked(stubs, **{"bucket.kms_key_arn": KEY})
    result = only(check.guarded("k", check.check_key_policy))
    assert result.status == FAIL
    assert "StartLabeling role dev-Workflow-StartLabelingRole-XYZ" in result.detail
    assert "StartTraining role" in result.detail and "execution role" not in result.detail


# --- 4. roles --------------------------------------------------------------------------------


def role_response(arn: str) -> dict[str, Any]:
    name = arn.rsplit("/", 1)[1]
    return {"Role": {"Path": "/", "RoleName": name, "RoleId": "AROAEXAMPLE1234567890", "Arn": arn,
                     "CreateDate": CREATED}}


def stub_simulations(stubs: Stubs, role: str, calls: tuple[Call, ...], *,
                     deny: tuple[str, str, bool] | None = None) -> None:
    """The simulator's answers: all allowed but `deny` (action, resource, with a context or not)."""
    iam = stubs.stub("iam")
    for request in preflight.simulation_requests(ROLE_ARNS[role], calls):
        resource, with_context = request["ResourceArns"][0], "ContextEntries" in request
        results = [{"EvalActionName": action, "EvalResourceName": resource,
                    "EvalDecision": "implicitDeny" if deny == (action, resource, with_context) else "allowed"}
                   for action in request["ActionNames"]]
        iam.add_response("simulate_principal_policy", {"EvaluationResults": results, "IsTruncated": False}, request)


def test_a_role_whose_calls_are_all_allowed_passes(stubs: Stubs) -> None:
    stub_function_roles(stubs, (START_TRAINING,))
    stubs.stub("iam").add_response("get_role", role_response(ROLE_ARNS[START_TRAINING]),
                                   {"RoleName": "dev-Workflow-StartTrainingRole-XYZ"})
    calls = preflight.permission_table(deployment())[START_TRAINING]
    stub_simulations(stubs, START_TRAINING, calls)
    check = checked(stubs)
    result = only(check.guarded("r", lambda: check.check_role(START_TRAINING)))
    assert result == Result(PASS, "StartTraining role dev-Workflow-StartTrainingRole-XYZ",
                            f"exists; IAM's policy simulator allows all {len(calls)} calls it makes")


def test_a_denied_simulation_fails_naming_role_action_resource_and_decision(stubs: Stubs) -> None:
    stubs.stub("iam").add_response("get_role", role_response(EXECUTION_ROLE_ARN))
    calls = preflight.permission_table(deployment())[EXECUTION_ROLE]
    # As a role whose ListBucket is limited to the data prefix answers HeadBucket's rehearsal.
    stub_simulations(stubs, EXECUTION_ROLE, calls, deny=("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", False))
    check = checked(stubs)
    result = only(check.guarded("r", lambda: check.check_role(EXECUTION_ROLE)))
    assert result == Result(
        FAIL, "execution role dev-Data-SageMakerExecutionRole-ABC",
        f"s3:ListBucket on arn:aws:s3:::{BUCKET} is implicitDeny, needed to check the bucket exists with HeadBucket "
        "(the notebook's default_bucket())",
        "deploy the current stacks (deploy with `npx cdk deploy --all`); the role's policy should allow it")


def test_a_missing_role_or_function_fails(stubs: Stubs) -> None:
    stubs.stub("iam").add_client_error("get_role", "NoSuchEntity", "The role cannot be found", 404)
    stubs.stub("lambda").add_client_error("get_function_configuration", "ResourceNotFoundException",
                                          "Function not found", 404)
    check = checked(stubs)
    assert only(check.guarded("r", lambda: check.check_role(EXECUTION_ROLE))).detail == "does not exist"
    missing = only(check.guarded("r", lambda: check.check_role(REGISTER_MODEL)))
    assert missing.status == FAIL and missing.detail == f"function {FUNCTIONS[REGISTER_MODEL]} does not exist"


def test_kms_calls_of_a_role_the_key_policy_names_are_not_simulated(stubs: Stubs) -> None:
    stubs.stub("iam").add_response("get_role", role_response(EXECUTION_ROLE_ARN))
    calls = preflight.permission_table(deployment(**{"bucket.kms_key_arn": KEY}))[EXECUTION_ROLE]
    stub_simulations(stubs, EXECUTION_ROLE, tuple(c for c in calls if not c.action.startswith("kms:")))
    check = checked(stubs, **{"bucket.kms_key_arn": KEY})
    check.key_grantees = {EXECUTION_ROLE_ARN}
    assert only(check.guarded("r", lambda: check.check_role(EXECUTION_ROLE))).status == PASS


# --- 5. rules --------------------------------------------------------------------------------


def function_arn(role: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTIONS[role]}"


def test_rules_enabled_and_targeting_their_function_pass_otherwise_fail(stubs: Stubs) -> None:
    events = stubs.stub("events")
    rule = RULES["LabelingCompletedRuleName"]
    events.add_response("describe_rule", {"Name": rule, "State": "ENABLED"}, {"Name": rule})
    events.add_response("list_targets_by_rule", {"Targets": [{"Id": "T", "Arn": function_arn(START_TRAINING)}]},
                        {"Rule": rule})
    events.add_response("describe_rule", {"Name": rule, "State": "DISABLED"}, {"Name": rule})
    events.add_response("describe_rule", {"Name": rule, "State": "ENABLED"}, {"Name": rule})
    events.add_response("list_targets_by_rule", {"Targets": [{"Id": "T", "Arn": function_arn(REGISTER_MODEL)}]},
                        {"Rule": rule})
    check = checked(stubs)
    run = lambda: check.guarded("r", lambda: check.check_rule("LabelingCompletedRuleName"))  # noqa: E731
    assert only(run()) == Result(PASS, f"rule {rule}", f"enabled, targets {FUNCTIONS[START_TRAINING]}")
    disabled = only(run())
    assert disabled.status == FAIL and disabled.fix == f"aws events enable-rule --name {rule}"
    elsewhere = only(run())
    assert elsewhere.status == FAIL and f"does not target {FUNCTIONS[START_TRAINING]}" in elsewhere.detail


# --- 6. workforce ----------------------------------------------------------------------------


def test_the_public_workforce_only_reports_the_price(stubs: Stubs) -> None:
    check = checked(stubs)
    result = only(check.guarded("w", check.check_workforce))
    assert result.status == PASS and "0.012 USD x 3 = 0.036 USD per image" in result.detail


def test_a_private_workforce_without_a_team_fails(stubs: Stubs) -> None:
    workflow = {k: v for k, v in WORKFLOW_OUTPUTS.items() if k != "LabelingWorkteamArn"}
    check = checked(stubs, workflow=workflow, **{"workforce.type": "private", "workforce.price_usd": None,
                                                  "labeling.task_availability_seconds": 86400})
    result = only(check.guarded("w", check.check_workforce))
    assert result.status == FAIL and "no work team ARN" in result.detail


TEAM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/dev-labelers"


def team_response(members: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Workteam": {"WorkteamName": "dev-labelers", "MemberDefinitions": members, "WorkteamArn": TEAM,
                         "Description": "team"}}


def private(stubs: Stubs) -> Preflight:
    return checked(stubs, workflow={**WORKFLOW_OUTPUTS, "LabelingWorkteamArn": TEAM},
                   **{"workforce.type": "private", "workforce.price_usd": None})


def test_a_private_team_counts_its_workers(stubs: Stubs) -> None:
    group = {"CognitoMemberDefinition": {"UserPool": "us-east-1_abc", "UserGroup": "workers", "ClientId": "client"}}
    sagemaker, cognito = stubs.stub("sagemaker"), stubs.stub("cognito-idp")
    sagemaker.add_response("describe_workteam", team_response([group]), {"WorkteamName": "dev-labelers"})
    cognito.add_response("list_users_in_group", {"Users": [{"Username": "a"}, {"Username": "b"}]},
                         {"UserPoolId": "us-east-1_abc", "GroupName": "workers"})
    sagemaker.add_response("describe_workteam", team_response([group]))
    cognito.add_response("list_users_in_group", {"Users": []})
    check = private(stubs)
    assert [r.line() for r in check.guarded("w", check.check_workforce)] == [
        f"PASS  work team {TEAM}: exists (1 Cognito group(s), 0 OIDC group(s))",
        f"PASS  work team {TEAM}: 2 worker(s) in its Cognito group(s)",
    ]
    assert statuses(check.guarded("w", check.check_workforce)) == [PASS, WARN]


def test_a_team_of_another_account_is_a_warning_without_a_call(stubs: Stubs) -> None:
    vendor = f"arn:aws:sagemaker:{REGION}:210987654321:workteam/vendor-crowd/acme"
    check = checked(stubs, workflow={**WORKFLOW_OUTPUTS, "LabelingWorkteamArn": vendor},
                    **{"workforce.type": "existing", "workforce.workteam_arn": vendor, "workforce.price_usd": None})
    result = only(check.guarded("w", check.check_workforce))
    assert result.status == WARN and "belongs to account 210987654321" in result.detail


def test_a_team_that_does_not_exist_fails(stubs: Stubs) -> None:
    stubs.stub("sagemaker").add_client_error("describe_workteam", "ValidationException",
                                             f"Workteam {TEAM} does not exist", 400)
    check = private(stubs)
    result = only(check.guarded("w", check.check_workforce))
    assert result.status == FAIL and result.detail == "does not exist"


# --- 7. quotas -------------------------------------------------------------------------------


def quota(name: str, value: float) -> dict[str, Any]:
    return {"ServiceCode": "sagemaker", "QuotaName": name, "QuotaCode": "L-X", "Value": value}


def test_a_zero_spot_quota_fails_and_a_low_one_warns(stubs: Stubs) -> None:
    service_quotas = stubs.stub("service-quotas")
    service_quotas.add_response("list_service_quotas", {"Quotas": [
        quota("ml.g4dn.xlarge for training job usage", 2.0),
        quota("ml.g4dn.xlarge for spot training job usage", 0.0),
        quota("ml.g4dn.xlarge for processing job usage", 4.0)]}, {"ServiceCode": "sagemaker"})
    check = checked(stubs)
    assert [r.line() for r in check.guarded("q", check.check_quotas)] == [
        "PASS  quota ml.g4dn.xlarge for training job usage: is 2 (the config needs 1)",
        "FAIL  quota ml.g4dn.xlarge for spot training job usage: is 0: no training job can start -> request an "
        "increase in the Service Quotas console (Amazon SageMaker)",
    ]


def test_a_quota_below_instance_count_times_parallel_jobs_warns(stubs: Stubs) -> None:
    stubs.stub("service-quotas").add_response("list_service_quotas", {"Quotas": [
        quota("ml.g5.xlarge for training job usage", 2.0)]})
    check = checked(stubs, **{"training.instance_type": "ml.g5.xlarge", "training.spot": False,
                              "training.instance_count": 2, "tuning.enabled": True, "tuning.max_parallel_jobs": 2})
    result = only(check.guarded("q", check.check_quotas))
    assert result.status == WARN and "is 2, below the 4 instance(s)" in result.detail


def test_a_quota_without_an_applied_value_falls_back_to_the_default(stubs: Stubs) -> None:
    service_quotas = stubs.stub("service-quotas")
    service_quotas.add_response("list_service_quotas", {"Quotas": []}, {"ServiceCode": "sagemaker"})
    service_quotas.add_response("list_aws_default_service_quotas", {"Quotas": [
        quota("ml.g4dn.xlarge for training job usage", 0.0)]}, {"ServiceCode": "sagemaker"})
    check = checked(stubs, **{"training.spot": False})
    result = only(check.guarded("q", check.check_quotas))
    assert result.status == FAIL and "is 0 (AWS default; no applied value published)" in result.detail


def test_with_spot_a_zero_on_demand_quota_only_warns(stubs: Stubs) -> None:
    stubs.stub("service-quotas").add_response("list_service_quotas", {"Quotas": [
        quota("ml.g4dn.xlarge for training job usage", 0.0),
        quota("ml.g4dn.xlarge for spot training job usage", 1.0)]})
    check = checked(stubs)
    assert statuses(check.guarded("q", check.check_quotas)) == [WARN, PASS]


# --- the whole command -----------------------------------------------------------------------


def stub_healthy_account(stubs: Stubs) -> None:
    """Every call of a full run on a healthy, default-config deployment, in order per service."""
    stubs.stub("sts").add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": CALLER, "UserId": "AIDA"})
    cloudformation = stubs.stub("cloudformation")
    cloudformation.add_response("describe_stacks", stack("dev-Data", DATA_OUTPUTS), {"StackName": "dev-Data"})
    cloudformation.add_response("describe_stacks", stack("dev-Workflow", WORKFLOW_OUTPUTS),
                                {"StackName": "dev-Workflow"})
    s3 = stubs.stub("s3")
    s3.add_response("head_bucket", {}, bucket_params())
    s3.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": {
        flag: True for flag in preflight.BLOCK_PUBLIC_ACCESS_FLAGS}}, bucket_params())
    s3.add_response("get_bucket_cors", {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"],
                                                       "ExposeHeaders": ["Access-Control-Allow-Origin"]}]})
    s3.add_response("get_bucket_policy", {"Policy": json.dumps({"Statement": [TLS_DENY]})})
    s3.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}})
    table = preflight.permission_table(deployment())
    for role in (EXECUTION_ROLE, START_LABELING, START_TRAINING, REGISTER_MODEL):
        if role in FUNCTIONS:
            stub_function_roles(stubs, (role,))
        stubs.stub("iam").add_response("get_role", role_response(ROLE_ARNS[role]))
        stub_simulations(stubs, role, table[role])
    events = stubs.stub("events")
    for output, rule in RULES.items():
        target = START_TRAINING if output == "LabelingCompletedRuleName" else REGISTER_MODEL
        events.add_response("describe_rule", {"Name": rule, "State": "ENABLED"}, {"Name": rule})
        events.add_response("list_targets_by_rule", {"Targets": [{"Id": "T", "Arn": function_arn(target)}]})
    stubs.stub("service-quotas").add_response("list_service_quotas", {"Quotas": [
        quota("ml.g4dn.xlarge for training job usage", 1.0),
        quota("ml.g4dn.xlarge for spot training job usage", 1.0)]})


def use(monkeypatch: pytest.MonkeyPatch, stubs: Stubs) -> None:
    def fake(service: str, region: str, *, config: Config | None = None, session: Any = None) -> Any:
        assert region == REGION
        return stubs(service)

    monkeypatch.setattr(aws, "client", fake)


def test_a_healthy_account_passes_every_check_and_exits_0(monkeypatch: pytest.MonkeyPatch, stubs: Stubs,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    stub_healthy_account(stubs)
    use(monkeypatch, stubs)
    code = cli.main(["preflight"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, "\n".join(out)
    assert all(line.startswith("PASS  ") for line in out[:-1]), "\n".join(out)
    assert out[0] == "PASS  region: us-east-1: Ground Truth's built-in image classification runs here"
    assert out[-1] == f"preflight: {len(out) - 1} PASS, 0 WARN, 0 FAIL: ready for the first labeling job"
    assert len(out) - 1 == 2 + 2 + 5 + 4 + 3 + 1 + 2  # region+identity, stacks, bucket, roles, rules, team, quotas
    # Only the read-only calls preflight declares (so an AccessDenied names the right IAM action).
    assert set(stubs.operations) == set(preflight.IAM_ACTIONS) - {
        "GetKeyPolicy", "DescribeKey", "DescribeWorkteam", "ListUsersInGroup", "ListAWSDefaultServiceQuotas"}


def test_invalid_credentials_stop_the_run_with_the_clis_message(monkeypatch: pytest.MonkeyPatch, stubs: Stubs,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    stubs.stub("sts").add_client_error("get_caller_identity", "ExpiredToken", "The security token has expired", 403)
    use(monkeypatch, stubs)
    code = cli.main(["preflight"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err == ("error: GetCallerIdentity failed: ExpiredToken: The security token has expired "
                            "(your AWS credentials are invalid or expired)\n")


def stub_account_without_stacks(stubs: Stubs) -> None:
    stubs.stub("sts").add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": CALLER, "UserId": "AIDA"})
    cloudformation = stubs.stub("cloudformation")
    for name in ("dev-Data", "dev-Workflow"):
        cloudformation.add_client_error("describe_stacks", "ValidationError", f"Stack with id {name} does not exist",
                                        expected_params={"StackName": name})
    stubs.stub("s3").add_client_error("head_bucket", "404", "Not Found", 404)
    stubs.stub("service-quotas").add_client_error("list_service_quotas", "AccessDeniedException", "no", 400)


def test_any_fail_exits_1_and_the_run_goes_on(monkeypatch: pytest.MonkeyPatch, stubs: Stubs,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    stub_account_without_stacks(stubs)
    use(monkeypatch, stubs)
    code = cli.main(["preflight"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out == [
        "PASS  region: us-east-1: Ground Truth's built-in image classification runs here",
        f"PASS  credentials: {CALLER} in account {ACCOUNT}",
        "FAIL  stack dev-Data: not found in us-east-1 -> deploy with `npx cdk deploy --all`",
        "FAIL  stack dev-Workflow: not found in us-east-1 -> deploy with `npx cdk deploy --all`",
        f"FAIL  data bucket {BUCKET}: does not exist -> deploy the Data stack (deploy with `npx cdk deploy --all`) "
        "or fix workflow.bucket.name",
        "PASS  workforce (public): Amazon Mechanical Turk: nothing to check; workers cost 0.012 USD x 3 = 0.036 USD "
        "per image, plus Ground Truth's per-object fee",
        "WARN  quota ml.g4dn.xlarge: could not check: servicequotas:ListServiceQuotas denied for your credentials "
        "-> use credentials allowed servicequotas:ListServiceQuotas (read-only), or have an administrator check this",
        "preflight: 3 PASS, 1 WARN, 3 FAIL: not ready, fix the FAIL lines first",
    ]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_region_without_ground_truth_is_a_fail_line_not_a_usage_error(
        how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def no_aws(service: str, region: str, **_: Any) -> Any:
        raise AssertionError(f"no {service} call: nothing else can be ready in that region")

    monkeypatch.setattr(aws, "client", no_aws)
    if how == "environment":
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    code = cli.main(["preflight", "--region", "eu-north-1"] if how == "option" else ["preflight"])
    assert code == 1
    assert capsys.readouterr().out.splitlines() == [
        preflight.region_result("eu-north-1").line(),
        "preflight: 0 PASS, 0 WARN, 1 FAIL: not ready, fix the FAIL lines first",
    ]


def test_the_queue_arn_comes_from_its_url() -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/dev-Workflow-AlertsDeadLetters-AbC"
    assert preflight.queue_arn(url) == "arn:aws:sqs:eu-west-1:123456789012:dev-Workflow-AlertsDeadLetters-AbC"


def test_what_the_lambda_service_and_the_notebook_do_with_the_roles_is_rehearsed_too() -> None:
    """The function's logs and dead-letter queue (the Lambda service acts with the function's role),
    and the notebook's SDK and idle checker (as the execution role) are in the table when known."""
    plain = preflight.permission_table(dataclasses.replace(deployment(), notebook_name=None))
    queue = "arn:aws:sqs:us-east-1:123456789012:dlq"
    table = preflight.permission_table(dataclasses.replace(
        deployment(), notebook_name="ground-truth-demo-dev", dead_letter_queue_arn=queue,
        function_log_groups={preflight.START_TRAINING: "dev-Workflow-StartTrainingLogs"}))
    actions = {role: {(c.action, c.resource) for c in calls} for role, calls in table.items()}
    notebook = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/ground-truth-demo-dev"
    assert {("sagemaker:DescribeNotebookInstance", notebook), ("sagemaker:StopNotebookInstance", notebook)} <= (
        actions[preflight.EXECUTION_ROLE])
    assert ("sqs:SendMessage", queue) in actions[preflight.START_TRAINING]
    assert ("sqs:SendMessage", queue) in actions[preflight.REGISTER_MODEL]
    assert not any(a == "sqs:SendMessage" for a, _ in actions[preflight.START_LABELING])  # invoked synchronously
    assert any(a == "logs:PutLogEvents" and ":log-group:dev-Workflow-StartTrainingLogs:log-stream:" in r
               for a, r in actions[preflight.START_TRAINING])
    assert not any(c.action == "sagemaker:StopNotebookInstance" for c in plain[preflight.EXECUTION_ROLE])
