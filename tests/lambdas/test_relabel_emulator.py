"""Relabeling end to end on the local emulator: `workflow relabel` selects from a real output manifest,
StartLabeling starts the chained job, the simulated Ground Truth labels it, and StartTraining trains on
the merged manifest (one line per object, the later labels winning).

Stand-in stacks as in test_cli_emulator.py: the StartLabeling function holds LABELING_SETTINGS built from
the config (the emulator stores functions but cannot run them, so `--local` runs the handler here), and
StartTraining's handler runs in-process with TRAINING_SETTINGS built from the same config. The session's
one emulator; Ground Truth's labeling APIs are the demo's simulator (validated against botocore's model).
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
import pytest

from demo.emulator import Emulator
from demo.events import labeling_job_state_change
from demo.images import CLASSES
from demo.simulated_ground_truth import SimulatedGroundTruth, simulated_ground_truth
from lambdas import aws_clients, start_training
from stacks import algorithm_images, regions
from stacks.lambda_settings import Deployment, labeling_settings, training_settings
from workflow import cli, context

REGION = "us-east-1"
ACCOUNT = "123456789012"  # the emulator's account for the fake credentials
PREFIX = "ground-truth-demo"
ATTRIBUTE = "vehicle-type"
IMAGES = 12
# Workers' confidence per image number: below 0.7 for images 2, 5 and 8 (0.69 is just below; 0.7 itself is not).
CONFIDENCE = {2: 0.42, 5: 0.69, 8: 0.05}
AT_THRESHOLD = 11  # image 11 gets exactly 0.7: not below it
FAILED = 9  # image 9 fails labeling


@dataclass(frozen=True)
class Deployed:
    env: str
    job_prefix: str
    bucket: str
    topic_arn: str
    training_settings: str

    def argv(self, *command: str) -> list[str]:
        return ["--env", self.env, "-c", f"workflow.labeling.job_prefix={self.job_prefix}", *command]

    def key(self, *parts: str) -> str:
        return "/".join((PREFIX, *parts))


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=emulator.endpoint_url)


def image_key(number: int) -> str:
    return f"{PREFIX}/images/{CLASSES[number % len(CLASSES)]}/{number}.png"


def number_of(source_ref: str) -> int:
    return int(source_ref.rsplit("/", 1)[1].split(".")[0])


def template(resources: dict[str, Any], outputs: dict[str, Any]) -> str:
    return json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources,
                       "Outputs": {key: {"Value": value} for key, value in outputs.items()}})


@pytest.fixture(scope="module")
def deployed(emulator: Emulator) -> Deployed:
    suffix = uuid.uuid4().hex[:8]
    env, job_prefix, bucket = f"rl{suffix}", f"rl-{suffix}", f"sagemaker-rl-{suffix}"
    cloudformation, s3 = client(emulator, "cloudformation"), client(emulator, "s3")
    cloudformation.create_stack(StackName=f"{env}-Data", TemplateBody=template(
        {"DataBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}}},
        {"BucketName": {"Ref": "DataBucket"}}))
    for number in range(IMAGES):
        s3.put_object(Bucket=bucket, Key=image_key(number), Body=b"\x89PNG image")
    role_arn = client(emulator, "iam").create_role(
        RoleName=f"{env}-StartLabeling", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    topic_arn = client(emulator, "sns").create_topic(Name=f"{env}-alerts")["TopicArn"]
    project = context.load_project(context.build_context(
        context.read_cdk_context(), env=env, overrides={"workflow.labeling.job_prefix": job_prefix}), region=REGION)
    config = project.config
    deployment = Deployment(account=ACCOUNT, region=REGION, bucket=bucket, role_arn=f"arn:aws:iam::{ACCOUNT}:role/Exec")
    ground_truth = config.task.ground_truth
    labeling = labeling_settings(
        config, deployment, workteam_arn=regions.public_workteam_arn(REGION),
        pre_lambda_arn=regions.ground_truth_lambda_arn(REGION, ground_truth.pre_lambda_name),
        acs_lambda_arn=regions.ground_truth_lambda_arn(REGION, ground_truth.acs_lambda_name))
    training = training_settings(config, deployment, topic_arn=topic_arn,
                                 image_uri=algorithm_images.image_uri(REGION, config.task.algorithm))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("start_labeling.py", "def handler(event, context):\n    raise NotImplementedError\n")
    function = f"{env}-StartLabeling"
    client(emulator, "lambda").create_function(
        FunctionName=function, Runtime="python3.12", Role=role_arn, Handler="start_labeling.handler",
        Code={"ZipFile": buffer.getvalue()}, Environment={"Variables": {"LABELING_SETTINGS": json.dumps(labeling)}})
    cloudformation.create_stack(StackName=f"{env}-Workflow", TemplateBody=template(
        {"Alerts": {"Type": "AWS::SNS::Topic"}}, {"StartLabelingFunctionName": function}))
    return Deployed(env, job_prefix, bucket, topic_arn, json.dumps(training))


@pytest.fixture
def ground_truth(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedGroundTruth]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)  # the CLI's and the handlers' clients
    aws_clients.reset()
    with simulated_ground_truth(emulator.endpoint_url) as simulator:
        yield simulator
    aws_clients.reset()


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def worker(source_ref: str) -> str | None:
    number = number_of(source_ref)
    return None if number == FAILED else CLASSES[number % len(CLASSES)]


def confidence(source_ref: str) -> float:
    number = number_of(source_ref)
    return 0.7 if number == AT_THRESHOLD else CONFIDENCE.get(number, 0.95)


def read(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def train(deployed: Deployed, monkeypatch: pytest.MonkeyPatch, job: str) -> dict[str, Any]:
    """StartTraining's handler on the job's completion event, with the deployed-like TRAINING_SETTINGS."""
    monkeypatch.setenv("TRAINING_SETTINGS", deployed.training_settings)
    aws_clients.reset()
    return start_training.handler(labeling_job_state_change(job, "Completed", region=REGION, account=ACCOUNT), None)


def test_relabel_below_a_confidence_chains_a_job_and_trains_on_the_merged_manifest(
    emulator: Emulator, deployed: Deployed, ground_truth: SimulatedGroundTruth,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3, sagemaker = client(emulator, "s3"), client(emulator, "sagemaker")
    base, chained = f"{deployed.job_prefix}-base", f"{deployed.job_prefix}-doubtful"
    code, _, err = run(capsys, deployed.argv("start-labeling", "--local", "--name", "base"))
    assert code == 0, err
    first = ground_truth.complete_job(base, worker, confidence=confidence)
    output = read(s3, deployed.bucket, first.output_manifest_uri.split(f"{deployed.bucket}/", 1)[1]).splitlines()

    code, out, err = run(capsys, deployed.argv("relabel", "--from", "base", "--below-confidence", "0.7",
                                               "--name", "doubtful", "--local", "--yes"))
    assert code == 0, err
    assert f"Started labeling job {chained} (Initializing)" in out
    assert "3 of 12 lines" in out and "Estimated labeling cost" in out

    # The input manifest is exactly the output lines whose confidence is below 0.7, byte for byte.
    below = [line for line in output
             if Decimal(str(json.loads(line).get(f"{ATTRIBUTE}-metadata", {}).get("confidence", 1))) < Decimal("0.7")]
    assert sorted(number_of(json.loads(line)["source-ref"]) for line in below) == [2, 5, 8]  # not 11 (= 0.7), not 9
    inputs = f"{PREFIX}/labeling/{chained}/"
    assert read(s3, deployed.bucket, inputs + "input.manifest").splitlines() == below
    link = json.loads(read(s3, deployed.bucket, inputs + "relabel.json"))
    assert (link["job_name"], link["from_job"], link["label_attribute"], link["training_label_attribute"],
            link["selected"], link["criteria"]) == (chained, base, f"{ATTRIBUTE}-relabel-1", ATTRIBUTE, 3,
                                                    {"below_confidence": "0.7", "failed": False})
    job = sagemaker.describe_labeling_job(LabelingJobName=chained)
    assert job["LabelAttributeName"] == f"{ATTRIBUTE}-relabel-1"
    assert {"Key": "relabel-of", "Value": base} in job["Tags"]
    assert job["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"] == f"s3://{deployed.bucket}/{inputs}" \
        "input.manifest"
    assert "LabelingJobAlgorithmsConfig" not in job  # a relabel job is labeled by humans only

    # Workers relabel the three as Ferry; the chained job's completion trains on the merged manifest.
    ground_truth.complete_job(chained, lambda ref: "Ferry", confidence=0.99)
    answer = train(deployed, monkeypatch, chained)
    assert answer["decision"] == "started", answer
    assert answer["relabel_chain"] == [base, chained]
    training = f"{PREFIX}/training/{chained}/"
    merged = [json.loads(line) for line in read(s3, deployed.bucket, training + "merged.manifest").splitlines()]
    refs = [record["source-ref"] for record in merged]
    assert len(merged) == IMAGES and len(set(refs)) == IMAGES  # one line per object
    ferry = CLASSES.index("Ferry")
    for record in merged:
        number = number_of(record["source-ref"])
        metadata = record[f"{ATTRIBUTE}-metadata"]
        if number in CONFIDENCE:  # relabeled: the later label wins, under the attribute training reads
            assert (record[ATTRIBUTE], metadata["class-name"], metadata["job-name"]) == (
                ferry, "Ferry", f"labeling-job/{chained}")
            assert f"{ATTRIBUTE}-relabel-1" not in record
        elif number == FAILED:
            assert "failure-reason" in metadata
        else:
            assert (record[ATTRIBUTE], metadata["job-name"]) == (number % len(CLASSES), f"labeling-job/{base}")
    summary = json.loads(read(s3, deployed.bucket, training + "summary.json"))
    assert summary["label_attribute"] == ATTRIBUTE
    assert summary["totals"]["input_lines"] == IMAGES and summary["totals"]["kept"] == IMAGES - 1
    assert summary["dropped"]["failed"] == 1
    assert summary["relabel_chain"]["jobs"] == [base, chained]
    assert summary["relabel_chain"]["merge"]["replaced"] == 3 and summary["relabel_chain"]["merge"]["kept"] == 9
    assert summary["label_sources"] == {"human": IMAGES - 1, "machine": 0, "unknown_source": 0,
                                        "machine_excluded": 0, "exclude_machine_labels_below": None}
    trained = sagemaker.describe_training_job(TrainingJobName=chained)
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in trained["InputDataConfig"]}
    assert channels["train"]["AttributeNames"] == ["source-ref", ATTRIBUTE]

    # A relabel of the relabel job selects from the merged view: only the object that still failed is left.
    code, out, err = run(capsys, deployed.argv("relabel", "--from", chained, "--failed", "--dry-run"))
    assert code == 0, err
    assert f"the merged manifest of the relabel chain {base} -> {chained}" in out
    assert "1 of 12 lines" in out and f"label:        {ATTRIBUTE}-relabel-2" in out
    assert f"{deployed.job_prefix}-relabel-" in out
    assert not s3.list_objects_v2(Bucket=deployed.bucket, Prefix=f"{PREFIX}/labeling/{deployed.job_prefix}-relabel-"
                                  ).get("Contents")  # a dry run writes nothing


def test_relabel_above_the_threshold_without_a_terminal_is_refused_and_writes_nothing(
    emulator: Emulator, deployed: Deployed, ground_truth: SimulatedGroundTruth,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run(capsys, deployed.argv("start-labeling", "--local", "--name", "costly"))
    assert code == 0, err
    ground_truth.complete_job(f"{deployed.job_prefix}-costly", worker, confidence=confidence)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a pipe: nobody to ask
    code, out, err = run(capsys, deployed.argv("relabel", "--from", "costly", "--failed", "--name", "costly-2",
                                               "--local", "-c", "workflow.labeling.confirm_above_usd=0"))
    assert code == 2
    assert "Estimated labeling cost: 0.116 USD for 1 objects" in out  # 0.08 fee + 3 x 0.012
    assert err.startswith("error: the estimate, up to 0.116 USD, is above workflow.labeling.confirm_above_usd = "
                          "0.00 USD, and stdin is not a terminal to ask on: pass --yes")
    s3 = client(emulator, "s3")
    assert not s3.list_objects_v2(Bucket=deployed.bucket, Prefix=f"{PREFIX}/labeling/{deployed.job_prefix}-costly-2/"
                                  ).get("Contents")
    sagemaker = client(emulator, "sagemaker")
    assert sagemaker.list_labeling_jobs(NameContains=f"{deployed.job_prefix}-costly-2")["LabelingJobSummaryList"] == []


def test_start_labeling_refuses_a_relabel_event_with_other_categories_and_creates_nothing(
    emulator: Emulator, deployed: Deployed, ground_truth: SimulatedGroundTruth,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Lambda checks the chain itself: a job labeled with other categories cannot be merged."""
    s3 = client(emulator, "s3")
    code, _, err = run(capsys, deployed.argv("start-labeling", "--local", "--name", "other"))
    assert code == 0, err
    other = f"{deployed.job_prefix}-other"
    ground_truth.complete_job(other, worker)
    s3.put_object(Bucket=deployed.bucket, Key=f"{PREFIX}/labeling/{other}/label-categories.json",
                  Body=json.dumps({"document-version": "2018-11-28", "labels": [{"label": "Cat"}, {"label": "Dog"}]}))
    name = f"{deployed.job_prefix}-other-2"
    key = f"{PREFIX}/labeling/{name}/input.manifest"
    s3.put_object(Bucket=deployed.bucket, Key=key, Body=json.dumps({"source-ref": f"s3://{deployed.bucket}/"
                                                                                  f"{image_key(1)}"}).encode())
    from lambdas import start_labeling
    from workflow import local

    function = local.deployed_function(client(emulator, "lambda"), f"{deployed.env}-StartLabeling")
    event = {"job_name": name, "input_manifest_key": key, "label_attribute": f"{ATTRIBUTE}-relabel-1",
             "relabel": {"from_job": other, "failed": True}}
    with local.deployed_environment(function), pytest.raises(ValueError, match=r"was labeled with the categories "
                                                             r"\['Cat', 'Dog'\].*must use the same categories"):
        start_labeling.handler(event, None)
    assert client(emulator, "sagemaker").list_labeling_jobs(NameContains=name)["LabelingJobSummaryList"] == []
