"""`python -m workflow preflight` end to end against the local emulator (moto server on loopback).

The stacks are stand-ins created by the emulator's CloudFormation: the Data stack has the bucket
(SSE-KMS with a KMS key of the emulator) and the execution role; the Workflow stack has the three
functions with their roles, the EventBridge rules targeting them and the alerts topic, under the
real stacks' output names. Preflight reads them with the same calls it makes in a real account.

What moto 5.2 does not implement, so preflight reports "could not check" (a FAIL: it cannot
vouch for it) where a real account answers:
- iam:SimulatePrincipalPolicy (the server answers 500 with an HTML page botocore cannot parse);
- servicequotas:ListServiceQuotas (500; its ListAWSDefaultServiceQuotas knows no SageMaker);
- sagemaker:DescribeWorkteam (500), so this runs with the public workforce, which needs no call.
And what moto accepts that AWS does not: HeadBucket ignores ExpectedBucketOwner (the unit tests
cover the other-owner answer); its CloudFormation ignores a bucket's PublicAccessBlockConfiguration
and CorsConfiguration and has no AWS::S3::BucketPolicy. The first run therefore finds exactly the
bucket settings missing that an adopted, hand-made bucket would lack; the test then sets them with
the S3 API as an operator fixing those lines would, and the second run passes them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from demo.emulator import Emulator
from workflow import cli

REGION = "us-east-1"
ACCOUNT = "123456789012"  # the emulator's account for the fake credentials
FUNCTIONS = ("StartLabeling", "StartTraining", "RegisterModel")
RULES = {"LabelingCompleted": "StartTraining", "TrainingEnded": "RegisterModel", "TuningEnded": "RegisterModel"}
NOT_IMPLEMENTED = "could not check:"


@dataclass(frozen=True)
class Account:
    env: str
    bucket: str
    key_arn: str
    outputs: dict[str, str]

    def argv(self, *command: str) -> list[str]:
        return ["--env", self.env, "-c", f"workflow.bucket.kms_key_arn={self.key_arn}", *command]


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=emulator.endpoint_url)


def role(service: str) -> dict[str, Any]:
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}}}


def create_stack(emulator: Emulator, name: str, resources: dict[str, Any], outputs: dict[str, Any]) -> dict[str, str]:
    cloudformation = client(emulator, "cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09", "Resources": resources,
        "Outputs": {key: {"Value": value} for key, value in outputs.items()}}))
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {item["OutputKey"]: item["OutputValue"] for item in stack["Outputs"]}


@pytest.fixture(scope="module")
def account(emulator: Emulator) -> Account:
    suffix = uuid.uuid4().hex[:8]
    env, bucket = f"pf{suffix}", f"sagemaker-pf-{suffix}"
    key_arn = client(emulator, "kms").create_key(Description="data key")["KeyMetadata"]["Arn"]
    data = create_stack(emulator, f"{env}-Data", {
        "DataBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket, "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]}}},
        "ExecutionRole": role("sagemaker.amazonaws.com"),
    }, {"BucketName": {"Ref": "DataBucket"}, "ExecutionRoleArn": {"Fn::GetAtt": ["ExecutionRole", "Arn"]}})

    resources: dict[str, Any] = {"Alerts": {"Type": "AWS::SNS::Topic"}}
    outputs: dict[str, Any] = {"AlertsTopicArn": {"Ref": "Alerts"}}
    for name in FUNCTIONS:
        resources[f"{name}Role"] = role("lambda.amazonaws.com")
        resources[name] = {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "index.handler", "Role": {"Fn::GetAtt": [f"{name}Role", "Arn"]},
            "Code": {"ZipFile": "def handler(event, context):\n    raise NotImplementedError\n"}}}
        outputs[f"{name}FunctionName"] = {"Ref": name}
    for rule, target in RULES.items():
        resources[rule] = {"Type": "AWS::Events::Rule", "Properties": {
            "EventPattern": {"source": ["aws.sagemaker"]}, "State": "ENABLED",
            "Targets": [{"Id": "Target0", "Arn": {"Fn::GetAtt": [target, "Arn"]}}]}}
        outputs[f"{rule}RuleName"] = {"Ref": rule}
    workflow = create_stack(emulator, f"{env}-Workflow", resources, outputs)
    return Account(env=env, bucket=bucket, key_arn=key_arn, outputs={**data, **workflow})


@pytest.fixture
def endpoint(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)  # the CLI's clients
    yield


def preflight(capsys: pytest.CaptureFixture[str], account: Account) -> tuple[int, dict[str, list[str]]]:
    """Exit code and the report's lines by status."""
    code = cli.main(account.argv("preflight"))
    out = capsys.readouterr().out.splitlines()
    lines: dict[str, list[str]] = {"PASS": [], "WARN": [], "FAIL": []}
    for line in out[:-1]:
        lines[line[:4]].append(line)
    assert out[-1].startswith("preflight: "), out
    return code, lines


def test_preflight_reads_the_emulated_account(emulator: Emulator, account: Account, endpoint: None,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    env, bucket, key = account.env, account.bucket, account.key_arn
    code, lines = preflight(capsys, account)
    assert code == 1
    functions = {name: account.outputs[f"{name}FunctionName"] for name in FUNCTIONS}
    assert lines["PASS"] == [
        "PASS  region: us-east-1: Ground Truth's built-in image classification runs here",
        f"PASS  credentials: arn:aws:sts::{ACCOUNT}:user/moto in account {ACCOUNT}",
        f"PASS  stack {env}-Data: CREATE_COMPLETE with the outputs the CLI needs",
        f"PASS  stack {env}-Workflow: CREATE_COMPLETE with the outputs the CLI needs",
        f"PASS  data bucket {bucket}: exists and is owned by account {ACCOUNT}",
        f"PASS  data bucket {bucket}: default encryption aws:kms with the configured key",
        f"PASS  KMS key {key}: exists and is enabled",
        f"PASS  KMS key {key}: the key policy lets IAM policies grant its use (account root); the roles' IAM "
        "permissions are simulated below",
        *(f"PASS  rule {account.outputs[f'{rule}RuleName']}: enabled, targets {functions[target]}"
          for rule, target in RULES.items()),
        "PASS  workforce (public): Amazon Mechanical Turk: nothing to check; workers cost 0.012 USD x 3 = 0.036 "
        "USD per image, plus Ground Truth's per-object fee",
    ]
    assert lines["WARN"] == []
    # The stack as the emulator built it lacks these (see the module docstring).
    bucket_fails = [line for line in lines["FAIL"] if line.startswith(f"FAIL  data bucket {bucket}: ")]
    assert [line.removeprefix(f"FAIL  data bucket {bucket}: ").split(" -> ")[0] for line in bucket_fails] == [
        "Block Public Access is off: BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets",
        "no CORS rule allowing GET from * and exposing Access-Control-Allow-Origin: Ground Truth tasks fail without it",
        "the bucket policy has no TLS-only deny (aws:SecureTransport false)",
    ]
    # What moto does not implement: one "could not check" line per role and for the quotas.
    unchecked = [line for line in lines["FAIL"] if line not in bucket_fails]
    assert len(unchecked) == 5, unchecked
    assert all(NOT_IMPLEMENTED in line for line in unchecked)
    assert [line.split(":")[0] for line in unchecked[:4]] == [
        "FAIL  execution role " + account.outputs["ExecutionRoleArn"].rsplit("/", 1)[1],
        *(f"FAIL  {name} role " + role_name(emulator, functions[name]) for name in FUNCTIONS)]
    assert all("SimulatePrincipalPolicy failed" in line for line in unchecked[:4])
    assert unchecked[4].startswith("FAIL  quota ml.g4dn.xlarge: could not check: ListServiceQuotas failed: 500")

    # The operator fixes the bucket lines; the next run passes them.
    s3 = client(emulator, "s3")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "ExposeHeaders": ["Access-Control-Allow-Origin"]}]})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    code, lines = preflight(capsys, account)
    assert [line for line in lines["FAIL"] if line.startswith(f"FAIL  data bucket {bucket}")] == []
    assert [line for line in lines["PASS"] if line.startswith(f"PASS  data bucket {bucket}")] == [
        f"PASS  data bucket {bucket}: exists and is owned by account {ACCOUNT}",
        f"PASS  data bucket {bucket}: Block Public Access: all four settings on",
        f"PASS  data bucket {bucket}: the Ground Truth CORS rule is present",
        f"PASS  data bucket {bucket}: the bucket policy denies requests without TLS",
        f"PASS  data bucket {bucket}: default encryption aws:kms with the configured key",
    ]
    assert code == 1 and len(lines["FAIL"]) == 5  # only what the emulator cannot answer


def role_name(emulator: Emulator, function: str) -> str:
    return str(client(emulator, "lambda").get_function_configuration(FunctionName=function)["Role"]).rsplit("/", 1)[1]


def test_a_missing_deployment_fails_without_a_traceback(account: Account, endpoint: None,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # Another region than the other emulator tests: moto's state is per process, and a test file
    # sharing this worker may have deployed the default bucket of us-east-1.
    code = cli.main(["--region", "eu-west-1", "--env", "nosuchenv", "preflight"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "FAIL  stack nosuchenv-Data: not found in eu-west-1 -> deploy with `npx cdk deploy --all`" in captured.out
    assert f"FAIL  data bucket sagemaker-eu-west-1-{ACCOUNT}: does not exist" in captured.out
