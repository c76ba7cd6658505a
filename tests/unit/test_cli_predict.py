"""`python -m workflow predict` and the endpoint in `workflow status`, end to end through the CLI.

The deployment as the stacks leave it is on the local emulator (moto server on loopback): the Data and
Workflow stacks' outputs, the training job with its train channel, the label map StartTraining wrote next
to it, the model package version (with its training-job property), the model made from it, the serverless
endpoint config and the endpoint. InvokeEndpoint goes to tests/unit/test_predict.py's stub server, which
answers as the built-in image classification algorithm does (docs/deployment.md): the CLI's real
sagemaker-runtime client reaches it through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, every other client the
emulator through AWS_ENDPOINT_URL. The emulator runs no transform container: for `--batch --wait` a
stand-in writes the `.out` objects the algorithm would write before the job is described.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from demo.emulator import Emulator
from tests.unit.test_predict import GIF, StubEndpoint, jpeg_bytes, png_bytes
from tests.unit.test_predict import stub_endpoint as stub_endpoint
from workflow import cli, predict_command, status

REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "ground-truth-demo"
# Not the config's labels (Airplane, Car, ...): a printed name proves the label map was read.
MAP_LABELS = ["Bicycle", "Bus", "Canoe", "Glider", "Scooter"]


@dataclass(frozen=True)
class Deployed:
    env: str
    job_prefix: str
    bucket: str
    endpoint: str
    training_job: str

    def argv(self, *command: str, enabled: bool = True) -> list[str]:
        flags = ["-c", "workflow.model.register_package=true", "-c", "workflow.endpoint.enabled=true"] if enabled \
            else []
        return ["--env", self.env, "-c", f"workflow.labeling.job_prefix={self.job_prefix}", *flags, *command]


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=emulator.endpoint_url)


def stack(cloudformation: Any, name: str, outputs: dict[str, str]) -> None:
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()}}))


@pytest.fixture(scope="module")
def deployed(emulator: Emulator) -> Deployed:
    suffix = uuid.uuid4().hex[:8]
    env, job_prefix, bucket = f"pred{suffix}", f"pred-{suffix}", f"sagemaker-pred-{suffix}"
    labeling_job, training_job = f"{job_prefix}-cars-1", f"{job_prefix}-cars-1-train"
    endpoint = f"{job_prefix}-endpoint"
    s3, sagemaker = client(emulator, "s3"), client(emulator, "sagemaker")
    s3.create_bucket(Bucket=bucket)
    folder = f"{PREFIX}/training/{labeling_job}"
    s3.put_object(Bucket=bucket, Key=f"{folder}/label-map.json",
                  Body=json.dumps({"labels": MAP_LABELS, "label_attribute": "vehicle-type"}).encode())
    role = f"arn:aws:iam::{ACCOUNT}:role/Exec"
    image = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
    artifact = f"s3://{bucket}/{PREFIX}/models/{training_job}/output/model.tar.gz"
    sagemaker.create_training_job(
        TrainingJobName=training_job, RoleArn=role,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "Pipe"},
        InputDataConfig=[{"ChannelName": name, "DataSource": {"S3DataSource": {
            "S3DataType": "AugmentedManifestFile", "S3Uri": f"s3://{bucket}/{folder}/{name}.manifest",
            "AttributeNames": ["source-ref", "vehicle-type"]}}} for name in ("train", "validation")],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/{PREFIX}/models/"},
        ResourceConfig={"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    group = f"{env}-models"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"training-job": training_job},
        InferenceSpecification={"Containers": [{"Image": image, "ModelDataUrl": artifact}],
                                "SupportedContentTypes": ["image/jpeg", "image/png"],
                                "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]
    model = f"{job_prefix}-model-v1"
    sagemaker.create_model(ModelName=model, PrimaryContainer={"ModelPackageName": package}, ExecutionRoleArn=role)
    config = f"{job_prefix}-v1-serverless-2048mb-c2"
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model,
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 2}}])
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    cloudformation = client(emulator, "cloudformation")
    stack(cloudformation, f"{env}-Data", {"BucketName": bucket})
    stack(cloudformation, f"{env}-Workflow", {"EndpointName": endpoint})
    return Deployed(env, job_prefix, bucket, endpoint, training_job)


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    files = {"car.jpg": jpeg_bytes(), "ferry.png": png_bytes(2, 2), "photo.gif": GIF}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


@pytest.fixture
def aws(emulator: Emulator, stub_endpoint: StubEndpoint, monkeypatch: pytest.MonkeyPatch) -> StubEndpoint:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stub_endpoint.url)
    return stub_endpoint


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_with_the_stacks_endpoint_prints_top_k_with_the_label_maps_names(
        deployed: Deployed, aws: StubEndpoint, images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    aws.name = deployed.endpoint
    code, out, err = run(capsys, deployed.argv("predict", str(images["car.jpg"]), str(images["ferry.png"]),
                                               "--top-k", "2"))
    assert code == 0, err
    # The stub answers [0.05, 0.81, 0.09, 0.03, 0.02]: class 1 then class 2, named by label-map.json.
    assert out.splitlines() == [
        str(images["car.jpg"]), "  1. Bus    0.8100  (class 1)", "  2. Canoe  0.0900  (class 2)",
        str(images["ferry.png"]), "  1. Bus    0.8100  (class 1)", "  2. Canoe  0.0900  (class 2)",
    ]
    assert "note:" not in err
    first, second = aws.requests
    assert first["path"] == f"/endpoints/{deployed.endpoint}/invocations" and first["signed"]
    assert (first["content_type"], first["body"]) == ("image/jpeg", jpeg_bytes())
    assert (second["content_type"], second["accept"]) == ("image/png", "application/json")


def test_predict_json_names_where_the_labels_came_from(
        deployed: Deployed, aws: StubEndpoint, images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    aws.name = deployed.endpoint
    code, out, err = run(capsys, deployed.argv("predict", str(images["car.jpg"]), "--top-k", "1", "--json"))
    assert code == 0, err
    document = json.loads(out)
    assert document["endpoint"] == deployed.endpoint
    assert document["labels"] == f"s3://{deployed.bucket}/{PREFIX}/training/{deployed.job_prefix}-cars-1/label-map.json"
    assert document["results"][0]["top"] == [{"class_id": 1, "name": "Bus", "probability": 0.81}]


def test_explicit_endpoint_and_label_file(deployed: Deployed, aws: StubEndpoint, images: dict[str, Path],
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aws.name = deployed.endpoint
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(["a", "b", "c", "d", "e"]))
    code, out, err = run(capsys, deployed.argv("predict", str(images["car.jpg"]), "--endpoint", deployed.endpoint,
                                               "--labels", str(labels), "--top-k", "1", enabled=False))
    assert code == 0, err
    assert out.splitlines()[1] == "  1. b  0.8100  (class 1)"


def test_images_are_checked_before_any_aws_call(deployed: Deployed, images: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listens on 127.0.0.1:9: any AWS call would end in a connection error, not this message."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    code, _, err = run(capsys, deployed.argv("predict", str(images["car.jpg"]), str(images["photo.gif"]),
                                             str(images["car.jpg"].parent / "missing.png")))
    assert code == 2
    assert "photo.gif: GIF; the model reads JPEG or PNG only" in err
    assert "missing.png: no such file" in err


def test_without_an_endpoint_in_the_config_it_says_what_to_do(
        deployed: Deployed, aws: StubEndpoint, images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, deployed.argv("predict", str(images["car.jpg"]), enabled=False))
    assert code == 2
    assert "workflow.endpoint.enabled is false" in err and "--batch" in err
    assert aws.requests == []


def test_an_endpoint_that_does_not_exist_is_named(
        deployed: Deployed, aws: StubEndpoint, images: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, deployed.argv("predict", str(images["car.jpg"]), "--endpoint", "nobodys-endpoint"))
    assert code == 1
    assert "no endpoint nobodys-endpoint in us-east-1: approve a version of model package group" in err
    assert aws.requests == []


def test_batch_plans_and_starts_only_when_confirmed(
        deployed: Deployed, aws: StubEndpoint, images: dict[str, Path], emulator: Emulator,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    s3, sagemaker = client(emulator, "s3"), client(emulator, "sagemaker")
    monkeypatch.setattr(predict_command, "ask", lambda prompt: False)
    code, out, err = run(capsys, deployed.argv("predict", "--batch", str(images["car.jpg"])))
    assert code == 0, err
    assert f"One-off batch transform with model {deployed.job_prefix}-model-v1 on ml.m5.large" in out
    assert "Nothing was uploaded or started." in out
    job = json.loads(out[out.index("{"):out.index("\nAnswers:")])["TransformJobName"]
    assert not s3.list_objects_v2(Bucket=deployed.bucket, Prefix=f"{PREFIX}/predictions/").get("Contents")

    code, out, err = run(capsys, deployed.argv("predict", "--batch", "--yes", str(images["car.jpg"]),
                                               str(images["ferry.png"])))
    assert code == 0, err
    job = next(line.split()[3] for line in out.splitlines() if line.startswith("Started transform job"))
    described = sagemaker.describe_transform_job(TransformJobName=job)
    assert described["ModelName"] == f"{deployed.job_prefix}-model-v1"
    assert described["TransformInput"]["ContentType"] == "application/x-image"
    uploaded = s3.list_objects_v2(Bucket=deployed.bucket, Prefix=f"{PREFIX}/predictions/")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[-1] for o in uploaded) == ["001-car.jpg", "002-ferry.png"]
    assert aws.requests == []  # no endpoint involved


def test_batch_wait_prints_the_answers(deployed: Deployed, aws: StubEndpoint, images: dict[str, Path],
                                       emulator: Emulator, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    s3 = client(emulator, "s3")
    wait_for = predict_command.wait_for

    def transform_then_describe(sagemaker: Any, job: str, **kwargs: Any) -> dict[str, Any]:
        """The stand-in for the transform container: one `.out` per input, `{"prediction": [...]}`."""
        described = sagemaker.describe_transform_job(TransformJobName=job)
        source = described["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].removeprefix(
            f"s3://{deployed.bucket}/")
        output = described["TransformOutput"]["S3OutputPath"].removeprefix(f"s3://{deployed.bucket}/")
        for item in s3.list_objects_v2(Bucket=deployed.bucket, Prefix=source)["Contents"]:
            name = item["Key"].rsplit("/", 1)[-1]
            s3.put_object(Bucket=deployed.bucket, Key=f"{output}/{name}.out",
                          Body=json.dumps({"prediction": [0.1, 0.1, 0.1, 0.6, 0.1]}).encode())
        return wait_for(sagemaker, job, **kwargs)

    monkeypatch.setattr(predict_command, "wait_for", transform_then_describe)
    code, out, err = run(capsys, deployed.argv("predict", "--batch", "--yes", "--wait", "--top-k", "1",
                                               str(images["ferry.png"])))
    assert code == 0, err
    assert out.splitlines()[-2:] == [str(images["ferry.png"]), "  1. Glider  0.6000  (class 3)"]


def status_json(capsys: pytest.CaptureFixture[str], argv: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`status --json` with the labeling part stood in for (not what is tested here; the emulator has no
    labeling job of this prefix): the endpoint part is the real code against the emulator."""
    report = status.StatusReport(labeling=status.StepStatus("labeling job", "x", "Completed"), counters={},
                                 training=status.StepStatus("training job", "x-train"),
                                 model=status.StepStatus("model", None))
    monkeypatch.setattr(status, "collect", lambda *args, **kwargs: report)
    monkeypatch.setattr(status, "team_status", lambda *args, **kwargs: status.TeamStatus("public"))
    code, out, err = run(capsys, argv)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def test_status_shows_the_endpoint_when_enabled(deployed: Deployed, aws: StubEndpoint,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    document = status_json(capsys, deployed.argv("status", "--json"), monkeypatch)
    assert document["endpoint"] == {"name": deployed.endpoint, "status": "InService",
                                    "mode": "serverless 2048 MB, max concurrency 2",
                                    "config": f"{deployed.job_prefix}-v1-serverless-2048mb-c2", "failure_reason": None}
    assert "endpoint" not in status_json(capsys, deployed.argv("status", "--json", enabled=False), monkeypatch)
    code, out, err = run(capsys, deployed.argv("status"))
    assert code == 0, err
    assert f"Endpoint {deployed.endpoint}: InService (serverless 2048 MB, max concurrency 2)" in out.splitlines()


def test_status_of_an_endpoint_not_deployed_or_real_time(emulator: Emulator, aws: StubEndpoint) -> None:
    sagemaker = client(emulator, "sagemaker")
    gone = status.endpoint_status(sagemaker, f"gone-{uuid.uuid4().hex[:8]}-endpoint")
    assert gone.status is None and "not deployed" in gone.lines()[0]
    suffix = uuid.uuid4().hex[:8]
    sagemaker.create_model(ModelName=f"rt-{suffix}-model-v1", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/Exec",
                           PrimaryContainer={"Image": "811284229777.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=f"rt-{suffix}-v1-ml-m5-large", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"rt-{suffix}-model-v1", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=f"rt-{suffix}-endpoint", EndpointConfigName=f"rt-{suffix}-v1-ml-m5-large")
    real_time = status.endpoint_status(sagemaker, f"rt-{suffix}-endpoint")
    assert real_time.mode == "instance ml.m5.large x 1"  # the type from the config: DescribeEndpoint has none
