"""The operator CLI end to end against the local emulator (moto server on loopback).

The stacks are stand-ins: tiny CloudFormation templates with the real stacks' output names.
The StartLabeling function exists in the emulator with LABELING_SETTINGS built from the config
by `stacks.lambda_settings` (the emulator stores functions but cannot run them), so
`start-labeling --local` runs the handler in-process against the emulator's S3. The labeling
APIs moto lacks are answered by the project's simulated Ground Truth
(`demo.simulated_ground_truth`), which validates every request against botocore's model.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.validate import validate_parameters

from demo.emulator import Emulator
from demo.simulated_ground_truth import SimulatedGroundTruth, simulated_ground_truth
from lambdas import register_model
from stacks import regions
from stacks.lambda_settings import Deployment, labeling_settings
from workflow import cli, context

REGION = "us-east-1"
ACCOUNT = "123456789012"  # the emulator's account for the fake credentials
PREFIX = "ground-truth-demo"


@dataclass(frozen=True)
class Deployed:
    env: str
    job_prefix: str
    bucket: str
    function: str
    role_arn: str

    def argv(self, *command: str) -> list[str]:
        """The CLI arguments selecting this deployment's stacks and config."""
        return ["--env", self.env, "-c", f"workflow.labeling.job_prefix={self.job_prefix}", *command]


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=emulator.endpoint_url)


def function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("start_labeling.py", "def handler(event, context):\n    raise NotImplementedError\n")
    return buffer.getvalue()


def stack_template(resources: dict[str, Any], outputs: dict[str, Any]) -> str:
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": resources,
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    })


@pytest.fixture(scope="module")
def deployed(emulator: Emulator) -> Deployed:
    """Stand-in Data and Workflow stacks, images in the bucket, the StartLabeling function."""
    suffix = uuid.uuid4().hex[:8]
    env, job_prefix, bucket = f"cli{suffix}", f"cli-{suffix}", f"sagemaker-cli-{suffix}"
    cloudformation, s3 = client(emulator, "cloudformation"), client(emulator, "s3")

    cloudformation.create_stack(StackName=f"{env}-Data", TemplateBody=stack_template(
        {"DataBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}}},
        {"BucketName": {"Ref": "DataBucket"}, "ImagesS3Uri": f"s3://{bucket}/{PREFIX}/images/",
         "LabeledDataS3Uri": f"s3://{bucket}/{PREFIX}/labeled-data/"},
    ))
    for key in ("cars/1.jpg", "cars/2.jpg", "boats/3.png", "boats/4.png", "boats/5.jpeg", "notes.txt"):
        s3.put_object(Bucket=bucket, Key=f"{PREFIX}/images/{key}", Body=b"\xff\xd8 image")

    role_arn = client(emulator, "iam").create_role(
        RoleName=f"{env}-StartLabeling",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    project = context.load_project(
        context.build_context(context.read_cdk_context(), env=env,
                              overrides={"workflow.labeling.job_prefix": job_prefix}),
        region=REGION,
    )
    settings = labeling_settings(
        project.config,
        Deployment(account=ACCOUNT, region=REGION, bucket=bucket, role_arn=f"arn:aws:iam::{ACCOUNT}:role/Exec"),
        workteam_arn=regions.public_workteam_arn(REGION),
        pre_lambda_arn=regions.ground_truth_lambda_arn(REGION, project.config.task.ground_truth.pre_lambda_name),
        acs_lambda_arn=regions.ground_truth_lambda_arn(REGION, project.config.task.ground_truth.acs_lambda_name),
    )
    function = f"{env}-StartLabeling"
    client(emulator, "lambda").create_function(
        FunctionName=function, Runtime="python3.12", Role=role_arn, Handler="start_labeling.handler",
        Code={"ZipFile": function_zip()}, Environment={"Variables": {"LABELING_SETTINGS": json.dumps(settings)}},
    )
    cloudformation.create_stack(StackName=f"{env}-Workflow", TemplateBody=stack_template(
        {"Alerts": {"Type": "AWS::SNS::Topic"}},
        {"StartLabelingFunctionName": function, "AlertsTopicArn": {"Ref": "Alerts"}},
    ))
    return Deployed(env=env, job_prefix=job_prefix, bucket=bucket, function=function, role_arn=role_arn)


@pytest.fixture
def ground_truth(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedGroundTruth]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)  # the CLI's clients
    with simulated_ground_truth(emulator.endpoint_url) as simulator:
        yield simulator


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_start_labeling_local_on_a_new_job(
    deployed: Deployed, ground_truth: SimulatedGroundTruth, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, deployed.argv("start-labeling", "--local", "--name", "no-workaround"))
    assert code == 0, err


def test_labeling_to_model_through_the_cli(
    emulator: Emulator, deployed: Deployed, ground_truth: SimulatedGroundTruth, capsys: pytest.CaptureFixture[str]
) -> None:
    job = f"{deployed.job_prefix}-cars-1"

    # start-labeling --local: the handler runs here with the deployed function's settings.
    code, out, err = run(capsys, deployed.argv("start-labeling", "--local", "--name", "cars-1"))
    assert code == 0, err
    # First the cost of the 5 images: 5 x 0.08 USD Ground Truth fee + 5 x 3 workers x 0.012 USD.
    assert out.startswith("Estimated labeling cost: 0.58 USD for 5 objects\n")
    out = out[out.index("Started labeling job"):]
    assert out.splitlines()[:5] == [
        f"Started labeling job {job} (Initializing)",
        f"  ARN:      arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{job}",
        "  objects:  5 to label",
        "  skipped:  1 not an image",
        f"  console:  https://{REGION}.console.aws.amazon.com/sagemaker/groundtruth?region={REGION}"
        f"#/labeling-jobs/details/{job}",
    ]
    assert '"message": "created labeling job"' in err  # the handler's log lines go to stderr
    s3 = client(emulator, "s3")
    inputs = s3.list_objects_v2(Bucket=deployed.bucket, Prefix=f"{PREFIX}/labeling/{job}/")["Contents"]
    assert sorted(item["Key"].rsplit("/", 1)[1] for item in inputs) == [
        "input.manifest", "label-categories.json", "request.json", "ui-template.liquid"]

    # The same name again: idempotent, nothing new.
    code, out, _ = run(capsys, deployed.argv("start-labeling", "--local", "--name", "cars-1"))
    assert code == 0
    assert out.startswith(f"Labeling job {job} already exists (InProgress): nothing was written or started")

    # status of the newest job: in progress, nothing labeled yet, training not started.
    code, out, err = run(capsys, deployed.argv("status"))
    assert code == 0, err
    assert out.splitlines()[:2] == [f"Labeling job {job}: InProgress", "  [" + "." * 30 + "] no objects counted yet"]
    assert f"Training job {job}: not started yet" in out

    # Workers label four objects (two cars, two ferries) and fail one.
    outcome = ground_truth.complete_job(
        job, lambda ref: None if ref.endswith(".jpeg") else "Car" if ref.endswith(".jpg") else "Ferry")
    code, out, _ = run(capsys, deployed.argv("status", job))
    assert out.splitlines()[:3] == [
        f"Labeling job {job}: Completed",
        "  [" + "#" * 24 + "x" * 6 + "] 4/5 labeled (80%)",
        "  human 4, machine 0, failed 1, unlabeled 0",
    ]
    assert f"  output manifest: {outcome.output_manifest_uri}" in out
    assert "StartTraining runs when the labeling job completes" in out

    # plan-training reads the real output manifest from S3 (read-only); too few objects to train.
    # (--bucket: StartTraining keeps only images in the data bucket, which the dry run must know.)
    code, out, err = run(capsys, deployed.argv("plan-training", "--manifest", outcome.output_manifest_uri,
                                               "--label-attribute", "vehicle-type", "--json",
                                               "--bucket", deployed.bucket))
    assert code == 0, err
    plan = json.loads(out)
    assert plan["summary"]["labeling_job"] == job
    assert plan["summary"]["totals"]["kept"] == 4 and plan["summary"]["dropped"]["failed"] == 1
    assert plan["request"] is None and plan["summary"]["decision"] == "skipped"

    # With the minimum lowered, the request is one the emulator's SageMaker accepts.
    code, out, err = run(capsys, deployed.argv(
        "plan-training", "--manifest", outcome.output_manifest_uri, "--label-attribute", "vehicle-type", "--json",
        "-c", "workflow.training.min_labeled_objects=4", "-c", "workflow.training.validation_fraction=0.5",
        "--account", ACCOUNT, "--bucket", deployed.bucket, "--role-arn", deployed.role_arn))
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["summary"]["totals"]["train"], plan["summary"]["totals"]["validation"]) == (2, 2)
    request = plan["request"]
    sagemaker = client(emulator, "sagemaker")
    validate_parameters(request, sagemaker.meta.service_model.operation_model("CreateTrainingJob").input_shape)
    assert request["TrainingJobName"] == job
    sagemaker.create_training_job(**request)  # the emulator completes it at once
    code, out, _ = run(capsys, deployed.argv("status", job))
    assert f"Training job {job}: Completed" in out
    model = register_model.model_name(job)
    assert f"Model {model}: not started yet" in out

    artifacts = sagemaker.describe_training_job(TrainingJobName=job)["ModelArtifacts"]["S3ModelArtifacts"]
    sagemaker.create_model(ModelName=model, ExecutionRoleArn=deployed.role_arn,
                           PrimaryContainer={"Image": request["AlgorithmSpecification"]["TrainingImage"],
                                             "ModelDataUrl": artifacts})
    code, out, _ = run(capsys, deployed.argv("status", job, "--json"))
    report = json.loads(out)
    assert (report["training"]["status"], report["model"]["name"], report["model"]["status"]) == (
        "Completed", model, "Created")


def test_start_labeling_local_reports_what_the_handler_refuses(
    deployed: Deployed, ground_truth: SimulatedGroundTruth, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, deployed.argv("start-labeling", "--local", "--prefix", f"{PREFIX}/no-such-folder"))
    assert code == 1 and out == ""
    assert f"StartLabeling (run locally with the settings of {deployed.function}) failed: no images in " in err
    assert "Traceback" not in err


def test_missing_stack_and_unknown_job_against_the_emulator(
    deployed: Deployed, ground_truth: SimulatedGroundTruth, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, ["--env", "nosuchenv", "start-labeling", "--local"])
    assert code == 1
    assert err == "error: stack nosuchenv-Workflow not found in us-east-1: deploy with `npx cdk deploy --all`\n"

    code, _, err = run(capsys, deployed.argv("status", f"{deployed.job_prefix}-never-started"))
    assert code == 1
    assert err == f"error: no labeling job named {deployed.job_prefix}-never-started\n"
