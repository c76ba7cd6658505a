"""The cost estimate and confirmation of `plan-labeling`, `start-labeling` and `relabel`, and automated
labeling's refusal at plan time, through the CLI (botocore's Stubber for the AWS calls; no network)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from lambdas import auto_labeling
from tests.unit.test_cli import deployed_start_labeling, listed_images, payload, use_clients, workflow_outputs
from tests.unit.test_labeling_request import assert_valid_create_labeling_job
from workflow import cli, estimates, labeling_cost
from workflow.errors import CliError, UsageError

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "data-bkt"  # the deployed settings' bucket (tests.unit.test_cli.deployed_start_labeling)
PRICES = json.loads(labeling_cost.PRICES_FILE.read_text())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class Terminal(io.StringIO):
    """stdin that says it is a terminal, with the operator's answer typed in."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def stubbed() -> Iterator[Callable[[str], tuple[Any, Stubber]]]:
    stubbers: list[Stubber] = []

    def make(service: str) -> tuple[Any, Stubber]:
        client = boto3.client(service, region_name=REGION)
        stubber = Stubber(client)
        stubber.activate()
        stubbers.append(stubber)
        return client, stubber

    yield make
    for stubber in stubbers:
        stubber.assert_no_pending_responses()  # every stubbed call happened: an invoke that was expected, too
        stubber.deactivate()


def images(directory: Path, count: int) -> Path:
    directory.mkdir()
    for number in range(count):
        (directory / f"{number}.jpg").write_bytes(b"\xff\xd8 image")
    return directory


# --- plan-labeling --------------------------------------------------------------------------


def test_the_demos_25_images_cost_the_hand_computed_amount(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    # cdk.json: Mechanical Turk, 3 workers per object at 0.012 USD; the table's first fee tier is 0.08 USD.
    assert PRICES["ground_truth_fee_per_object"]["tiers"][0] == {"objects_per_month_up_to": 50000,
                                                                 "usd_per_object": "0.08"}
    code, out, err = run(capsys, "--region", REGION, "plan-labeling", "--images", str(images(tmp_path / "i", 25)))
    assert code == 0, err
    # 25 x 3 x 0.012 = 0.90 for the workers, 25 x 0.08 = 2.00 for Ground Truth: 2.90 USD.
    assert "Estimated labeling cost: 2.90 USD for 25 objects" in out
    assert "  Ground Truth fee: 25 objects x 0.08 USD (the month's objects 1 to 25) = 2.00 USD" in out
    assert ("  Amazon Mechanical Turk workers: 25 objects x 3 workers x 0.012 USD per worker per object = 0.90 USD"
            in out)
    assert ("Prices: https://aws.amazon.com/sagemaker/groundtruth/pricing/, copied on "
            f"{PRICES['source']['copied_on']} (workflow/labeling_prices.json)") in out
    # Before the request, which stays the last thing printed (the JSON a reader copies).
    assert out.index("Estimated labeling cost") < out.index("CreateLabelingJob request")


@pytest.mark.parametrize(("overrides", "expected"), [
    (["-c", "workflow.labeling.max_objects=10"],
     "Estimated labeling cost: at most 1.16 USD for 10 of 25 objects"),  # 10 x 0.08 + 10 x 3 x 0.012
    (["-c", "workflow.workforce.type=private", "-c", "workflow.workforce.price_usd=null",
      "-c", 'workflow.workforce.worker_emails=["a@example.com","b@example.com","c@example.com"]'],
     "Estimated labeling cost: 2.00 USD for 25 objects"),  # own workers: the fee only
])
def test_the_estimate_follows_the_stopping_condition_and_the_workforce(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, overrides: list[str], expected: str) -> None:
    code, out, err = run(capsys, "--region", REGION, "plan-labeling", "--images", str(images(tmp_path / "i", 25)),
                         *overrides)
    assert code == 0, err
    assert expected in out


def test_plan_labeling_json_keeps_stdout_for_the_request_and_prints_the_estimate_on_stderr(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "--region", REGION, "plan-labeling", "--images", str(images(tmp_path / "i", 25)),
                         "--json")
    assert code == 0
    assert json.loads(out)["LabelingJobName"].startswith("gt-demo-")
    assert "Estimated labeling cost: 2.90 USD for 25 objects" in err


def test_auto_labeling_on_the_demos_25_images_is_refused_at_plan_time_with_the_reason(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "--region", REGION, "plan-labeling", "--images", str(images(tmp_path / "i", 25)),
                         "-c", "workflow.labeling.auto_labeling.enabled=true")
    assert code == 2 and out == ""
    assert err.startswith("error: StartLabeling would refuse this: labeling.auto_labeling is on, but automated data "
                          "labeling needs at least 1,250 objects and the dataset has 25: \"The minimum number of "
                          "objects allowed for automated data labeling is 1,250\" (https://docs.aws.amazon.com/"
                          "sagemaker/latest/dg/sms-automated-labeling.html)")


def test_auto_labeling_above_the_minimum_plans_a_valid_request_and_a_cost_range(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"  # a key list: 1,300 images without writing 1,300 files
    keys.write_text("".join(f"ground-truth-demo/images/{n}.jpg\n" for n in range(1300)))
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
    code, out, err = run(capsys, "--region", REGION, "plan-labeling", "--images", str(keys), "--json",
                         "--account", ACCOUNT, "-c", "workflow.labeling.auto_labeling.enabled=true",
                         "-c", f"workflow.labeling.auto_labeling.volume_kms_key_arn={key}")
    assert code == 0, err
    request = json.loads(out)
    assert request["LabelingJobAlgorithmsConfig"] == {
        "LabelingJobAlgorithmSpecificationArn":
            f"arn:aws:sagemaker:{REGION}:{auto_labeling.ALGORITHM_ACCOUNT}:labeling-job-algorithm-specification/"
            "image-classification",
        "LabelingJobResourceConfig": {"VolumeKmsKeyId": key}}
    assert auto_labeling.ALGORITHM_ACCOUNT == "027400017018"  # the one account AWS documents
    assert_valid_create_labeling_job(request)
    # The range: from the fee alone (1,300 x 0.08 = 104) to every object labeled by 3 workers (+ 46.80).
    assert "Estimated labeling cost: 104.00 USD to 150.80 USD for 1,300 objects with automated data labeling" in err


# --- confirmation ---------------------------------------------------------------------------


def an_estimate(objects: int = 25) -> labeling_cost.LabelingEstimate:
    return labeling_cost.estimate(objects=objects, workers_per_object=3, workforce="public",
                                  worker_price_usd=Decimal("0.012"))


def test_below_the_threshold_or_without_one_nothing_is_asked() -> None:
    never_read = Terminal("")
    never_read.readline = None  # type: ignore[assignment,method-assign]  # reading would fail
    assert estimates.confirm(an_estimate(), Decimal("2.90"), yes=False, what="start it", stdin=never_read) is False
    assert estimates.confirm(an_estimate(), None, yes=False, what="start it", stdin=never_read) is False
    assert estimates.confirm(an_estimate(), Decimal("1"), yes=True, what="start it", stdin=never_read) is False


def test_above_the_threshold_a_yes_starts_and_anything_else_does_not() -> None:
    prompt = io.StringIO()
    assert estimates.confirm(an_estimate(), Decimal("2.89"), yes=False, what="start the labeling job",
                             stdin=Terminal("y\n"), prompt=prompt) is True
    assert prompt.getvalue() == ("the estimate, up to 2.90 USD, is above workflow.labeling.confirm_above_usd = 2.89 "
                                 "USD. Start the labeling job? [y/N] ")
    for answer in ("n\n", "\n", "", "maybe\n"):
        with pytest.raises(CliError, match="not confirmed: nothing was started") as refused:
            estimates.confirm(an_estimate(), Decimal("2.89"), yes=False, what="start it", stdin=Terminal(answer),
                              prompt=io.StringIO())
        assert refused.value.exit_code == 1


def test_above_the_threshold_without_a_terminal_it_refuses_instead_of_asking() -> None:
    with pytest.raises(UsageError, match=r"stdin is not a terminal to ask on: pass --yes to start it anyway"):
        estimates.confirm(an_estimate(), Decimal("1"), yes=False, what="start it", stdin=io.StringIO("y\n"))


def start_labeling_with(stubbed: Callable[[str], tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch, *,
                        invoked: bool) -> None:
    cloudformation, cfn = stubbed("cloudformation")
    workflow_outputs(cfn)
    lambda_client, lambda_stubber = stubbed("lambda")
    deployed_start_labeling(lambda_stubber)
    s3, s3_stubber = stubbed("s3")
    listed_images(s3_stubber, [f"ground-truth-demo/images/{n}.jpg" for n in range(25)])
    if invoked:
        result = {"job_name": "gt-demo-x", "job_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/gt-demo-x",
                  "console_url": "https://console/x", "object_count": 25, "skipped": {}, "status": "Initializing",
                  "created": True}
        lambda_stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(result)})
    use_clients(monkeypatch, cloudformation=cloudformation, s3=s3, **{"lambda": lambda_client})


ABOVE = ("-c", "workflow.labeling.confirm_above_usd=2.5")  # the 25 images cost 2.90 USD


def test_start_labeling_above_the_threshold_asks_and_starts_on_yes(
        stubbed: Callable[[str], tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    start_labeling_with(stubbed, monkeypatch, invoked=True)
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, err = run(capsys, "start-labeling", *ABOVE)
    assert code == 0, err
    assert out.startswith("Estimated labeling cost: 2.90 USD for 25 objects\n")
    assert "Started labeling job gt-demo-x (Initializing)" in out
    assert "is above workflow.labeling.confirm_above_usd = 2.50 USD. Start the labeling job? [y/N] " in err


def test_start_labeling_above_the_threshold_starts_nothing_on_no(
        stubbed: Callable[[str], tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    start_labeling_with(stubbed, monkeypatch, invoked=False)  # an invoke would fail: no response stubbed
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, out, err = run(capsys, "start-labeling", *ABOVE)
    assert code == 1
    assert "Started" not in out
    assert err.endswith("error: not confirmed: nothing was started (start the labeling job needs a 'y')\n")


def test_start_labeling_above_the_threshold_with_yes_does_not_ask(
        stubbed: Callable[[str], tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    start_labeling_with(stubbed, monkeypatch, invoked=True)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a script: not a terminal
    code, out, err = run(capsys, "start-labeling", "--yes", *ABOVE)
    assert code == 0, err
    assert "[y/N]" not in err and "Started labeling job gt-demo-x" in out


def test_start_labeling_above_the_threshold_in_a_script_without_yes_is_refused(
        stubbed: Callable[[str], tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    start_labeling_with(stubbed, monkeypatch, invoked=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped input is not an answer
    code, _, err = run(capsys, "start-labeling", *ABOVE)
    assert code == 2
    assert err == ("error: the estimate, up to 2.90 USD, is above workflow.labeling.confirm_above_usd = 2.50 USD, and "
                   "stdin is not a terminal to ask on: pass --yes to start the labeling job anyway, or raise "
                   "workflow.labeling.confirm_above_usd (-c workflow.labeling.confirm_above_usd=<USD>)\n")


def test_cdk_json_asks_above_10_usd() -> None:
    from workflow import context

    project = context.load_project(context.read_cdk_context(), region=REGION)
    assert estimates.threshold(project.config) == Decimal("10")


# --- relabel through the Stubber ------------------------------------------------------------


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def output_line(number: int, confidence: float | None, *, human: str = "yes") -> bytes:
    """An image-classification output line in the form AWS documents (sms-data-output)."""
    record: dict[str, Any] = {"source-ref": f"s3://{BUCKET}/ground-truth-demo/images/{number}.jpg"}
    if confidence is None:
        record["vehicle-type-metadata"] = {"failure-reason": "ClientError: Annotation tasks expired.",
                                           "job-name": "labeling-job/gt-demo-first"}
    else:
        record["vehicle-type"] = 1
        record["vehicle-type-metadata"] = {"class-name": "Car", "confidence": confidence,
                                           "type": "groundtruth/image-classification",
                                           "job-name": "labeling-job/gt-demo-first", "human-annotated": human,
                                           "creation-date": "2024-05-06T07:08:09.123456"}
    return json.dumps(record).encode()


def described(name: str, *, status: str = "Completed", tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "LabelingJobStatus": status, "LabelCounters": {}, "CreationTime": datetime(2024, 5, 6, tzinfo=UTC),
        "LastModifiedTime": datetime(2024, 5, 6, tzinfo=UTC), "JobReferenceCode": "ref", "LabelingJobName": name,
        "LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}",
        "LabelAttributeName": "vehicle-type",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{BUCKET}/m"}}},
        "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/ground-truth-demo/labeled-data/"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/Exec",
        "LabelCategoryConfigS3Uri": f"s3://{BUCKET}/ground-truth-demo/labeling/{name}/label-categories.json",
        "HumanTaskConfig": {
            "WorkteamArn": f"arn:aws:sagemaker:{REGION}:394669845002:workteam/public-crowd/default",
            "UiConfig": {"UiTemplateS3Uri": f"s3://{BUCKET}/t"}, "TaskTitle": "t", "TaskDescription": "d",
            "NumberOfHumanWorkersPerDataObject": 3, "TaskTimeLimitInSeconds": 300,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": "arn:aws:lambda:us-east-1:"
                                              "432418664414:function:ACS-ImageMultiClass"}},
        "LabelingJobOutput": {"OutputDatasetS3Uri": f"s3://{BUCKET}/ground-truth-demo/labeled-data/{name}/"
                                                    "manifests/output/output.manifest"},
        **({"Tags": tags} if tags is not None else {}),
    }


def test_relabel_dry_run_selects_the_lines_below_the_threshold_and_writes_nothing(
        stubbed: Callable[[str], tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cloudformation, cfn = stubbed("cloudformation")
    workflow_outputs(cfn)
    lambda_client, lambda_stubber = stubbed("lambda")
    deployed_start_labeling(lambda_stubber)  # no invoke stubbed: a dry run must not start anything
    sagemaker, sagemaker_stubber = stubbed("sagemaker")
    job = described("gt-demo-first", tags=[{"Key": "labeling-job", "Value": "gt-demo-first"}])
    sagemaker_stubber.add_response("describe_labeling_job", job, {"LabelingJobName": "gt-demo-first"})
    s3, s3_stubber = stubbed("s3")
    labels = ("Airplane", "Car", "Ferry", "Helicopter", "Motorbike")
    categories = {"document-version": "2018-11-28", "labels": [{"label": label} for label in labels]}
    s3_stubber.add_response("get_object", {"Body": body(json.dumps(categories).encode())}, {
        "Bucket": BUCKET, "Key": "ground-truth-demo/labeling/gt-demo-first/label-categories.json",
        "ExpectedBucketOwner": ACCOUNT})
    lines = [output_line(1, 0.95), output_line(2, 0.69), output_line(3, 0.7), output_line(4, None),
             output_line(5, 0.12, human="no"), output_line(6, 0.00)]
    s3_stubber.add_response("get_object", {"Body": body(b"\n".join(lines) + b"\n")}, {
        "Bucket": BUCKET, "Key": "ground-truth-demo/labeled-data/gt-demo-first/manifests/output/output.manifest",
        "ExpectedBucketOwner": ACCOUNT})
    use_clients(monkeypatch, cloudformation=cloudformation, sagemaker=sagemaker, s3=s3, **{"lambda": lambda_client})
    code, out, err = run(capsys, "relabel", "--from", "first", "--below-confidence", "0.7", "--name", "second",
                         "--dry-run")
    assert code == 0, err
    # Below 0.7: images 2, 5 (machine-labeled) and 6 (0.00: one worker); not 3 (exactly 0.7), not 4 (failed).
    assert ("  selects:      confidence below 0.7: 3 of 6 lines (3 below the threshold: 2 human-, 1 machine-labeled; "
            "0 failed; 0 unlabeled)") in out
    assert "  new job:      gt-demo-second (tagged relabel-of=gt-demo-first), labeled by humans only" in out
    assert "  label:        vehicle-type-relabel-1" in out
    assert "Estimated labeling cost: 0.348 USD for 3 objects" in out  # 3 x 0.08 + 3 x 3 x 0.012
    assert "the selection mixes human and machine labels" in out


def test_relabel_without_criteria_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "relabel", "--from", "x")
    assert code == 2 and out == ""
    assert err == ("error: relabel: nothing to select: give a confidence threshold (--below-confidence) and/or "
                   "--failed\n")


def test_relabel_refuses_a_threshold_outside_the_confidence_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["relabel", "--from", "x", "--below-confidence", "1.5"])
    assert exit_info.value.code == 2
    assert "must be above 0 and at most 1" in capsys.readouterr().err
