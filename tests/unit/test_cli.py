"""The operator CLI without AWS: argparse, config selection, the dry runs (checked against
botocore's SageMaker model), the progress bar, and error messages through botocore's Stubber."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ParamValidationError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from lambdas import register_model, training_request
from stacks.config import ConfigError
from workflow import aws, cli, context, outputs, plans, status
from workflow.errors import CliError, UsageError

REGION = "us-east-1"
ACCOUNT = "123456789012"
LABELS = ["Airplane", "Car", "Ferry", "Helicopter", "Motorbike"]
ATTRIBUTE = "vehicle-type"
LABELING_JOB = "gt-demo-20240506-070809"
ACS_ARN = "arn:aws:lambda:us-east-1:432418664414:function:ACS-ImageMultiClass"
SAGEMAKER = boto3.session.Session().client("sagemaker", region_name=REGION)


def assert_valid(operation: str, request: dict[str, Any]) -> None:
    """The request is what boto3 would send: botocore's validator raises on any error."""
    shape = SAGEMAKER.meta.service_model.operation_model(operation).input_shape
    validate_parameters(request, shape)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- argparse and config selection ---------------------------------------------------------


def test_global_options_work_before_and_after_the_command() -> None:
    parser = cli.build_parser()
    before = parser.parse_args(["--env", "prod", "--region", "eu-west-1", "-c", "a=1", "status"])
    after = parser.parse_args(["status", "--env", "prod", "--region", "eu-west-1", "-c", "a=1", "-c", "b=2"])
    assert (before.env, before.region, before.context) == ("prod", "eu-west-1", ["a=1"])
    assert (after.env, after.region, after.context) == ("prod", "eu-west-1", ["a=1", "b=2"])
    assert parser.parse_args(["status"]).context == []


def test_start_labeling_event_omits_unset_keys() -> None:
    parser = cli.build_parser()
    assert cli.start_labeling_event(parser.parse_args(["start-labeling"])) == {}
    args = parser.parse_args(["start-labeling", "--name", "cars", "--prefix", "p/images/cars", "--max-objects", "5"])
    assert cli.start_labeling_event(args) == {"job_name": "cars", "images_prefix": "p/images/cars", "max_objects": 5}


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["plan-labeling"],  # --images is required
        ["plan-training", "--manifest", "m"],  # --label-attribute is required
        ["start-labeling", "--max-objects", "0"],
        ["start-labeling", "--max-objects", "many"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_env_with_a_block_selects_it_like_cdk_context() -> None:
    base = context.read_cdk_context()
    built = context.build_context(base, env="prod", overrides={})
    assert built["env"] == "prod"
    project = context.load_project(built, region=REGION)
    assert (project.data_stack, project.workflow_stack) == ("prod-Data", "prod-Workflow")
    assert project.config.workforce.type == "private"


def test_env_without_a_block_renames_the_stacks_only() -> None:
    base = context.read_cdk_context()
    assert context.build_context(base, env="dev", overrides={}) == base
    project = context.load_project(context.build_context(base, env="test", overrides={}), region=REGION)
    assert project.workflow_stack == "test-Workflow"
    assert project.config.workforce.type == "public"


def test_context_overrides_parse_like_cdk() -> None:
    assert context.parse_overrides(["workflow.tuning.enabled=true", "x=a=b"]) == {
        "workflow.tuning.enabled": "true",
        "x": "a=b",
    }
    with pytest.raises(UsageError, match="KEY=VALUE"):
        context.parse_overrides(["workflow.tuning.enabled"])
    with pytest.raises(UsageError, match="contradicts"):
        context.build_context(context.read_cdk_context(), env="prod", overrides={"env": "dev"})


def test_region_comes_from_the_option_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    base = context.read_cdk_context()
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert context.load_project(base, region="us-west-2").region == "us-west-2"
    assert context.load_project(base, region=None).region == "eu-west-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(UsageError, match="no AWS region"):
        context.load_project(base, region=None)
    with pytest.raises(ConfigError, match="eu-north-1"):  # no Ground Truth there
        context.load_project(base, region="eu-north-1")


def test_config_errors_exit_2_with_the_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "plan-labeling", "--images", str(tmp_path), "-c", "workflow.workforce.price_usd=0.05")
    assert code == 2 and out == ""
    assert "workflow.workforce.price_usd = 0.05 is not a valid Mechanical Turk price" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("selector", "bucket"), [
    ({}, f"sagemaker-{REGION}-{ACCOUNT}"), ({"env": "prod"}, f"sagemaker-{REGION}-{ACCOUNT}-prod")])
def test_the_dry_run_default_bucket_is_the_data_stacks(selector: dict[str, str], bucket: str) -> None:
    # One derivation (WorkflowConfig.default_bucket_name) for the stack and the dry run.
    from stacks.config import load_config

    config = load_config({**context.read_cdk_context(), **selector, "workflow.alerts.email": "ml@example.com"})
    assert plans.dry_run_deployment(config, REGION, account=ACCOUNT).deployment.bucket == bucket


# --- plan-labeling -------------------------------------------------------------------------


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "cars").mkdir(parents=True)
    (root / "boats").mkdir()
    for name in ("a.jpg", "cars/b.PNG", "cars/c.jpeg", "boats/d.jpg"):
        (root / name).write_bytes(b"\xff\xd8 image")
    (root / "README.txt").write_text("not an image")
    return root


def test_plan_labeling_json_of_a_directory_is_a_valid_request(
    capsys: pytest.CaptureFixture[str], image_dir: Path
) -> None:
    code, out, err = run(capsys, "plan-labeling", "--images", str(image_dir), "--name", "cars-1", "--json")
    assert code == 0
    request = json.loads(out)  # nothing but the request on stdout
    assert_valid("CreateLabelingJob", request)
    assert request["LabelingJobName"] == "gt-demo-cars-1"
    assert request["HumanTaskConfig"]["WorkteamArn"].endswith(":394669845002:workteam/public-crowd/default")
    assert request["RoleArn"] == f"arn:aws:iam::000000000000:role/{plans.PLACEHOLDER_ROLE_NAME}"
    manifest = request["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"]
    assert manifest == ("s3://sagemaker-us-east-1-000000000000/ground-truth-demo/labeling/gt-demo-cars-1/"
                        "input.manifest")
    assert "000000000000 is a placeholder" in err  # notes go to stderr


def test_plan_labeling_lists_the_directory_as_the_lambda_would_list_s3(image_dir: Path) -> None:
    project = context.load_project(context.read_cdk_context(), region=REGION)
    listing = plans.list_local_directory(image_dir, project.config.prefix)
    assert listing.objects == [
        ("ground-truth-demo/images/README.txt", 12),
        ("ground-truth-demo/images/a.jpg", 8),
        ("ground-truth-demo/images/boats/d.jpg", 8),
        ("ground-truth-demo/images/cars/b.PNG", 8),
        ("ground-truth-demo/images/cars/c.jpeg", 8),
    ]
    dry_run = plans.dry_run_deployment(project.config, REGION, account=ACCOUNT)
    plan, _ = plans.plan_labeling(project.config, dry_run, listing, job_name=None,
                                  now=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    assert plan.job_name == LABELING_JOB
    assert plan.object_count == 4 and plan.skipped["not_an_image"] == 1
    lines = plan.file("input.manifest").read_bytes().decode().splitlines()
    assert json.loads(lines[0]) == {"source-ref": f"s3://sagemaker-us-east-1-{ACCOUNT}/ground-truth-demo/images/a.jpg"}
    assert len(lines) == 4


def test_plan_labeling_human_output_shows_counts_files_and_request(
    capsys: pytest.CaptureFixture[str], image_dir: Path
) -> None:
    code, out, _ = run(capsys, "plan-labeling", "--images", str(image_dir), "--name", "cars-1",
                       "--account", ACCOUNT, "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/Exec")
    assert code == 0
    assert "nothing was written and no SageMaker call was made" in out
    assert "images:    4 from directory" in out
    assert "skipped:   1 not an image" in out
    prefix = f"s3://sagemaker-us-east-1-{ACCOUNT}/ground-truth-demo/labeling/gt-demo-cars-1/"
    for name in ("input.manifest", "label-categories.json", "ui-template.liquid", "request.json"):
        assert prefix + name in out
    assert f'{{"source-ref": "s3://sagemaker-us-east-1-{ACCOUNT}/ground-truth-demo/images/a.jpg"}}' in out
    assert "... 1 more" in out  # three manifest lines shown of four
    assert "000000000000" not in out  # account and role given: no placeholders
    request = json.loads(out[out.index("\n{") :])
    assert_valid("CreateLabelingJob", request)


def test_plan_labeling_of_a_key_list_uses_the_bucket_it_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(
        "# images to label\n"
        "s3://my-sagemaker-data/ground-truth-demo/images/cars/1.jpg\n"
        "\n"
        "s3://my-sagemaker-data/ground-truth-demo/images/cars/2.png\n"
        "s3://my-sagemaker-data/ground-truth-demo/images/cars/notes.csv\n"
    )
    code, out, err = run(capsys, "plan-labeling", "--images", str(keys), "--name", "keys", "--json",
                         "--max-objects", "2")
    assert code == 0
    request = json.loads(out)
    assert_valid("CreateLabelingJob", request)
    assert request["StoppingConditions"] == {"MaxHumanLabeledObjectCount": 2}
    assert request["OutputConfig"]["S3OutputPath"] == "s3://my-sagemaker-data/ground-truth-demo/labeled-data/"
    assert "40 MB image limit was not checked" in err

    code, out, _ = run(capsys, "plan-labeling", "--images", str(keys), "--name", "keys")
    assert "images:    2 from key list" in out
    assert "(as s3://my-sagemaker-data/ground-truth-demo/images/cars/)" in out
    assert "skipped:   1 not an image" in out


def test_plan_labeling_refuses_conflicting_buckets(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("s3://bucket-one/p/images/1.jpg\ns3://bucket-two/p/images/2.jpg\n")
    code, _, err = run(capsys, "plan-labeling", "--images", str(keys))
    assert code == 2 and "several buckets" in err
    keys.write_text("s3://bucket-one/p/images/1.jpg\n")
    code, _, err = run(capsys, "plan-labeling", "--images", str(keys), "--bucket", "bucket-two")
    assert code == 2 and "images are in bucket bucket-one" in err


@pytest.mark.parametrize(
    ("options", "workteam"),
    [
        (["--env", "prod"], f"workteam/private-crowd/{plans.PLACEHOLDER_WORKTEAM_NAME}"),
        (["-c", "workflow.workforce.type=existing", "-c", "workflow.workforce.price_usd=null",
          "-c", f"workflow.workforce.workteam_arn=arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/ours"],
         f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/ours"),
    ],
    ids=["private", "existing"],
)
def test_plan_labeling_for_own_workforces(
    capsys: pytest.CaptureFixture[str], image_dir: Path, options: list[str], workteam: str
) -> None:
    code, out, err = run(capsys, "plan-labeling", "--images", str(image_dir), "--json", *options)
    assert code == 0, err
    request = json.loads(out)
    assert_valid("CreateLabelingJob", request)
    assert request["HumanTaskConfig"]["WorkteamArn"].endswith(workteam)
    assert "PublicWorkforceTaskPrice" not in request["HumanTaskConfig"]
    assert ("created by the stack" in err) == ("--env" in options)


def test_plan_labeling_input_problems_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "plan-labeling", "--images", str(tmp_path / "missing"))
    assert code == 2 and "no such file or directory" in err
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = run(capsys, "plan-labeling", "--images", str(tmp_path))
    assert code == 2 and "StartLabeling would refuse this: no images in" in err
    code, _, err = run(capsys, "plan-labeling", "--images", str(tmp_path), "--name", "bad_name!")
    assert code == 2 and "not a valid labeling job name" in err


def test_plan_labeling_of_an_s3_prefix_lists_it(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    with Stubber(s3) as stubber:
        stubber.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": "p/images/1.jpg", "Size": 10}, {"Key": "p/images/big.jpg", "Size": 41_000_000}],
             "IsTruncated": False},
            {"Bucket": "data-bucket", "Prefix": "p/images/"},
        )
        use_clients(monkeypatch, s3=s3)
        code, out, err = run(capsys, "plan-labeling", "--images", "s3://data-bucket/p/images", "--name", "s3")
    assert code == 0, err
    assert "images:    1 from s3://data-bucket/p/images/" in out
    assert "skipped:   1 too large" in out


# --- plan-training -------------------------------------------------------------------------


# The bucket a dry run assumes without --account/--bucket: StartTraining keeps only images in it.
DRY_RUN_BUCKET = f"sagemaker-us-east-1-{plans.PLACEHOLDER_ACCOUNT}"


def write_output_manifest(path: Path, per_class: int = 5, *, job: str = LABELING_JOB,
                          bucket: str = DRY_RUN_BUCKET) -> Path:
    """An output.manifest as Ground Truth writes it (docs/manifests.md), plus a failed object."""
    lines = []
    for index in range(per_class * len(LABELS)):
        label = index % len(LABELS)
        lines.append({
            "source-ref": f"s3://{bucket}/ground-truth-demo/images/{index}.jpg",
            ATTRIBUTE: label if index % 2 else str(label),  # int or string, as Ground Truth writes either
            f"{ATTRIBUTE}-metadata": {
                "class-name": LABELS[label], "confidence": 0.9, "type": "groundtruth/image-classification",
                "job-name": f"labeling-job/{job}", "human-annotated": "yes",
                "creation-date": "2024-05-06T07:08:09.000000",
            },
        })
    lines.append({
        "source-ref": f"s3://{bucket}/ground-truth-demo/images/failed.jpg",
        f"{ATTRIBUTE}-metadata": {"failure-reason": "ClientError: Annotation tasks expired.",
                                  "job-name": f"labeling-job/{job}"},
    })
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_plan_training_json_has_the_split_and_a_valid_training_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = write_output_manifest(tmp_path / "output.manifest", bucket=f"sagemaker-us-east-1-{ACCOUNT}")
    code, out, err = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                         "--json", "--account", ACCOUNT)
    assert code == 0, err
    result = json.loads(out)
    summary, request = result["summary"], result["request"]
    assert summary["totals"] == {"input_lines": 26, "kept": 25, "dropped": 1, "train": 20, "validation": 5}
    assert summary["dropped"]["failed"] == 1
    classes = [(c["label"], c["train"], c["validation"]) for c in summary["classes"]]
    assert classes == [(label, 4, 1) for label in LABELS]
    assert summary["decision"] == "started"
    assert_valid("CreateTrainingJob", request)
    assert request["TrainingJobName"] == LABELING_JOB  # read from the manifest's metadata
    assert request["HyperParameters"]["num_classes"] == "5"
    assert request["HyperParameters"]["num_training_samples"] == "20"
    assert request["AlgorithmSpecification"]["TrainingImage"].endswith("/image-classification:1")
    channel = request["InputDataConfig"][0]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"s3://sagemaker-us-east-1-{ACCOUNT}/ground-truth-demo/training/{LABELING_JOB}/train.manifest")


def test_plan_training_with_tuning_on_builds_a_tuning_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = write_output_manifest(tmp_path / "output.manifest")
    code, out, err = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                         "--json", "-c", "workflow.tuning.enabled=true", "--job-name", "gt-demo-a-rather-long-job-name")
    assert code == 0, err
    request = json.loads(out)["request"]
    assert_valid("CreateHyperParameterTuningJob", request)
    assert len(request["HyperParameterTuningJobName"]) <= 32
    assert request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] == (
        "validation:accuracy")


def test_plan_training_human_output_and_categories_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = write_output_manifest(tmp_path / "output.manifest")
    categories = tmp_path / "label-categories.json"
    # Two categories only: labels 2-4 become unknown.
    categories.write_text(json.dumps({"document-version": "2018-11-28", "labels": [{"label": "Plane"},
                                                                                   {"label": "Auto"}]}))
    code, out, _ = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                       "--categories", str(categories))
    assert code == 0
    assert "split:        8 train, 2 validation" in out
    assert "dropped:      1 failed, 15 unknown label" in out
    assert "CreateTrainingJob request:" in out
    assert "categories: the config's labels" not in out


def test_plan_training_says_when_the_images_are_in_another_bucket(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = write_output_manifest(tmp_path / "output.manifest", bucket="my-real-data-bucket")
    code, out, err = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                         "--json")
    assert code == 0
    assert json.loads(out)["summary"]["dropped"]["source_ref_other_bucket"] == 25
    assert f"25 line(s) name images outside bucket {DRY_RUN_BUCKET}" in err
    code, out, err = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                         "--json", "--bucket", "my-real-data-bucket")
    assert json.loads(out)["summary"]["totals"]["kept"] == 25
    assert "outside bucket" not in err


def test_plan_training_reports_when_start_training_would_skip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = write_output_manifest(tmp_path / "output.manifest", per_class=1)
    code, out, _ = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["request"] is None
    assert result["summary"]["decision"] == "skipped"
    assert "min_labeled_objects is 10" in result["summary"]["reason"]


# The tutorial's labeling job: 10 images of about 300x200 px, 5 classes, 2 images each, planned with
# the default config: every class with two images puts one in validation.
TUTORIAL: tuple[str, ...] = ()


def test_plan_training_of_the_tutorial_job_clamps_mini_batch_size(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = write_output_manifest(tmp_path / "output.manifest", per_class=2)
    code, out, err = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                         "--json", *TUTORIAL)
    assert code == 0, err
    result = json.loads(out)
    assert result["summary"]["totals"]["train"] == 5
    assert result["summary"]["decision"] == "started"
    request = result["request"]
    assert_valid("CreateTrainingJob", request)
    assert request["HyperParameters"]["mini_batch_size"] == "5"  # the config's 32 would fail the job
    assert request["HyperParameters"]["resize"] == "256"  # 200 px sides become 256 before the 224 crop
    assert [(a["setting"], a["configured"], a["applied"]) for a in result["adjustments"]] == [
        ("HyperParameters.mini_batch_size", "32", "5")]
    assert result["summary"]["adjustments"] == result["adjustments"]  # as summary.json would record it
    assert result["problems"] == []

    code, out, _ = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                       *TUTORIAL)
    assert code == 0
    assert "Adjustments StartTraining would make to fit the data:" in out
    assert "  - HyperParameters.mini_batch_size: 32 -> 5 (the train split has 5 images;" in out
    assert "CreateTrainingJob request:" in out


def test_plan_training_refuses_what_the_algorithm_would_fail_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 6 instances for 5 training images: no mini_batch_size fits one batch per instance.
    manifest = write_output_manifest(tmp_path / "output.manifest", per_class=2)
    code, out, err = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                         "--json", *TUTORIAL, "-c", "workflow.training.instance_count=6")
    assert code == 1
    result = json.loads(out)
    assert result["request"] is None
    assert result["summary"]["decision"] == "refused"
    assert len(result["problems"]) == 1
    assert "HyperParameters.mini_batch_size = 32: the train split has 5 images over 6 instances" in (
        result["problems"][0])
    assert result["summary"]["reason"] == result["problems"][0]
    assert f"error: StartTraining would refuse the request: {result['problems'][0]}" in err

    code, out, _ = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE,
                       *TUTORIAL, "-c", "workflow.training.instance_count=6")
    assert code == 1
    assert "StartTraining would refuse to start a job (CreateTrainingJob); an SNS alert says why:" in out
    assert "at most 0 fits; label more images or use fewer instances" in out
    assert "CreateTrainingJob request:" not in out


def test_plan_training_needs_a_job_name_it_cannot_infer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    manifest = tmp_path / "m.manifest"
    manifest.write_text('{"source-ref": "s3://b/k.jpg", "vehicle-type": 1}\n')
    code, _, err = run(capsys, "plan-training", "--manifest", str(manifest), "--label-attribute", ATTRIBUTE)
    assert code == 2 and "pass --job-name" in err
    code, _, err = run(capsys, "plan-training", "--manifest", str(tmp_path / "nope"), "--label-attribute", ATTRIBUTE,
                       "--job-name", "gt-demo-x")
    assert code == 2 and "cannot read --manifest" in err


def test_the_job_name_is_read_from_the_output_path() -> None:
    uri = "s3://b/ground-truth-demo/labeled-data/gt-demo-7/manifests/output/output.manifest"
    assert plans.labeling_job_from_manifest(uri, [b"{}"]) == "gt-demo-7"
    assert plans.labeling_job_from_manifest("output.manifest", [b"not json"]) is None


# --- progress bar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counters", "expected"),
    [
        ({}, "[" + "." * 30 + "] no objects counted yet"),
        ({"TotalLabeled": 0, "Unlabeled": 10}, "[" + "." * 30 + "] 0/10 labeled (0%)"),
        ({"TotalLabeled": 45, "FailedNonRetryableError": 5, "Unlabeled": 50},
         "[" + "#" * 14 + "x" * 1 + "." * 15 + "] 45/100 labeled (45%)"),
        ({"TotalLabeled": 999, "Unlabeled": 1}, "[" + "#" * 30 + "] 999/1,000 labeled (99%)"),
        ({"TotalLabeled": 3, "HumanLabeled": 3}, "[" + "#" * 30 + "] 3/3 labeled (100%)"),
    ],
)
def test_progress_bar(counters: dict[str, int], expected: str) -> None:
    assert status.progress_bar(counters) == expected


def test_progress_bar_segments_always_fill_the_width() -> None:
    for labeled in range(0, 8):
        for failed in range(0, 8):
            bar = status.progress_bar({"TotalLabeled": labeled, "FailedNonRetryableError": failed, "Unlabeled": 3},
                                      width=10)
            assert len(bar[1 : bar.index("]")]) == 10


def test_counter_details() -> None:
    counters = {"HumanLabeled": 40, "MachineLabeled": 5, "FailedNonRetryableError": 2, "Unlabeled": 1053}
    assert status.counter_details(counters) == "human 40, machine 5, failed 2, unlabeled 1,053"


# --- AWS errors through botocore's Stubber -------------------------------------------------


def use_clients(monkeypatch: pytest.MonkeyPatch, **clients: Any) -> None:
    """The CLI gets these (stubbed) clients instead of creating its own."""

    def fake(service: str, region: str, *, config: Config | None = None, session: Any = None) -> Any:
        if service not in clients:
            raise AssertionError(f"unexpected {service} client")
        return clients[service]

    monkeypatch.setattr(aws, "client", fake)


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
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def stack_response(name: str, outputs: dict[str, str], status: str = "CREATE_COMPLETE") -> dict[str, Any]:
    return {"Stacks": [{
        "StackName": name, "StackStatus": status, "CreationTime": datetime(2024, 5, 6, tzinfo=UTC),
        "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
    }]}


def test_missing_stack(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                       stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    cloudformation, stubber = stubbed("cloudformation")
    stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id dev-Workflow does not exist",
                             expected_params={"StackName": "dev-Workflow"})
    use_clients(monkeypatch, cloudformation=cloudformation)
    code, out, err = run(capsys, "start-labeling")
    assert code == 1 and out == ""
    assert err == "error: stack dev-Workflow not found in us-east-1: deploy with `npx cdk deploy --all`\n"


def test_stack_without_the_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    cloudformation, stubber = stubbed("cloudformation")
    stubber.add_response("describe_stacks", stack_response("prod-Workflow", {"NotebookName": "nb"},
                                                           "UPDATE_COMPLETE"))
    use_clients(monkeypatch, cloudformation=cloudformation)
    code, _, err = run(capsys, "--env", "prod", "start-labeling")
    assert code == 1
    assert "stack prod-Workflow in us-east-1 has no output StartLabelingFunctionName" in err


def test_failed_stack(stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    cloudformation, stubber = stubbed("cloudformation")
    stubber.add_response("describe_stacks", stack_response("dev-Data", {}, "ROLLBACK_COMPLETE"))
    with pytest.raises(CliError, match="dev-Data in us-east-1 is ROLLBACK_COMPLETE"):
        outputs.stack_outputs(cloudformation, "dev-Data")


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never leaves the machine
    code, out, err = run(capsys, "status")
    assert code == 2 and out == ""
    assert err == ("error: no AWS credentials found: configure a profile or run `make demo` for the "
                   "local emulator\n")


def test_unknown_job(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                     stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    sagemaker, stubber = stubbed("sagemaker")
    for name in ("cars-9", "gt-demo-cars-9"):
        stubber.add_client_error("describe_labeling_job", "ValidationException",
                                 f"Could not find requested job with name {name}",
                                 expected_params={"LabelingJobName": name})
    use_clients(monkeypatch, sagemaker=sagemaker)
    code, out, err = run(capsys, "status", "cars-9")
    assert code == 1 and out == ""
    assert err == "error: no labeling job named cars-9 (nor gt-demo-cars-9)\n"


def test_no_labeling_jobs_yet(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                              stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    sagemaker, stubber = stubbed("sagemaker")
    stubber.add_response("list_labeling_jobs", {"LabelingJobSummaryList": []},
                         {"NameContains": "gt-demo", "SortBy": "CreationTime", "SortOrder": "Descending",
                          "MaxResults": 10})
    use_clients(monkeypatch, sagemaker=sagemaker)
    code, _, err = run(capsys, "status")
    assert code == 1 and "no labeling jobs named gt-demo-* yet" in err


def test_other_aws_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    sagemaker, stubber = stubbed("sagemaker")
    stubber.add_client_error("describe_labeling_job", "AccessDeniedException", "not authorized to perform it")
    use_clients(monkeypatch, sagemaker=sagemaker)
    code, _, err = run(capsys, "status", "gt-demo-x")
    assert code == 1
    assert err == ("error: DescribeLabelingJob failed: AccessDeniedException: not authorized to perform it "
                   "(check the permissions of your credentials)\n")


# --- status through the Stubber ------------------------------------------------------------


def labeling_job(name: str, status_: str, counters: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "LabelingJobName": name, "LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}",
        "LabelingJobStatus": status_, "LabelCounters": counters,
        "CreationTime": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), "LastModifiedTime": datetime(2024, 5, 6, tzinfo=UTC),
        "JobReferenceCode": "ref", "LabelAttributeName": ATTRIBUTE,
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/in.manifest"}}},
        "OutputConfig": {"S3OutputPath": "s3://b/out/"}, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/Exec",
        "HumanTaskConfig": {
            "WorkteamArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/t",
            "UiConfig": {"UiTemplateS3Uri": "s3://b/ui.liquid"},
            "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-ImageMultiClass",
            "TaskTitle": "t", "TaskDescription": "d", "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 300,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": ACS_ARN},
        },
        **extra,
    }


def not_found(stubber: Stubber, operation: str, params: dict[str, str]) -> None:
    stubber.add_client_error(operation, "ValidationException", "Requested resource not found.",
                             expected_params=params)


def test_status_of_the_newest_job_in_progress(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str],
                                              stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    sagemaker, stubber = stubbed("sagemaker")
    summary = {key: value for key, value in labeling_job(LABELING_JOB, "InProgress", {}).items()
               if key in ("LabelingJobName", "LabelingJobArn", "CreationTime", "LastModifiedTime",
                          "LabelingJobStatus", "LabelCounters")}
    summary["WorkteamArn"] = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/t"
    other = {**summary, "LabelingJobName": "old-gt-demo-1"}  # NameContains also matches inside names
    stubber.add_response("list_labeling_jobs", {"LabelingJobSummaryList": [other, summary]})
    counters = {"TotalLabeled": 45, "HumanLabeled": 40, "MachineLabeled": 5, "FailedNonRetryableError": 5,
                "Unlabeled": 50}
    stubber.add_response("describe_labeling_job", labeling_job(LABELING_JOB, "InProgress", counters),
                         {"LabelingJobName": LABELING_JOB})
    not_found(stubber, "describe_training_job", {"TrainingJobName": LABELING_JOB})
    not_found(stubber, "describe_hyper_parameter_tuning_job",
              {"HyperParameterTuningJobName": training_request.tuning_job_name(LABELING_JOB)})
    cloudformation, stacks = stubbed("cloudformation")
    stacks.add_response("describe_stacks", stack_response("dev-Workflow", {
        "LabelingWorkteamArn": f"arn:aws:sagemaker:{REGION}:394669845002:workteam/public-crowd/default"}))
    use_clients(monkeypatch, sagemaker=sagemaker, cloudformation=cloudformation)
    code, out, err = run(capsys, "status")
    assert code == 0, err
    assert out.splitlines()[-1] == "Team: Amazon Mechanical Turk (public crowd)"
    assert out.splitlines()[:3] == [
        f"Labeling job {LABELING_JOB}: InProgress",
        "  [" + "#" * 14 + "x" + "." * 15 + "] 45/100 labeled (45%)",
        "  human 40, machine 5, failed 5, unlabeled 50",
    ]
    assert f"Training job {LABELING_JOB}: not started yet" in out
    assert "Model: not started yet" in out
    assert f"status {LABELING_JOB}` again" in out


def test_status_with_training_and_model(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                        stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    sagemaker, stubber = stubbed("sagemaker")
    counters = {"TotalLabeled": 25, "HumanLabeled": 25, "MachineLabeled": 0, "FailedNonRetryableError": 0,
                "Unlabeled": 0}
    stubber.add_response("describe_labeling_job", labeling_job(
        LABELING_JOB, "Completed", counters,
        LabelingJobOutput={"OutputDatasetS3Uri": "s3://b/out/output.manifest"}))
    stubber.add_response("describe_training_job", {
        "TrainingJobName": LABELING_JOB, "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/x",
        "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/models/model.tar.gz"},
        "AlgorithmSpecification": {"TrainingInputMode": "Pipe"}, "ResourceConfig": {"VolumeSizeInGB": 50},
        "StoppingCondition": {}, "CreationTime": datetime(2024, 5, 6, tzinfo=UTC),
    }, {"TrainingJobName": LABELING_JOB})
    model = register_model.model_name(LABELING_JOB)
    stubber.add_response("describe_model", {
        "ModelName": model, "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{model}",
        "CreationTime": datetime(2024, 5, 6, 9, tzinfo=UTC),
        "PrimaryContainer": {"ModelDataUrl": "s3://b/models/model.tar.gz"},
    }, {"ModelName": model})
    # The model's evaluation (evaluation.enabled, the default): its transform job, named like the model.
    stubber.add_client_error("describe_transform_job", "ValidationException", f"Could not find job {model}",
                             expected_params={"TransformJobName": model})
    cloudformation, stacks = stubbed("cloudformation")
    stacks.add_response("describe_stacks", stack_response("dev-Workflow", {}, "ROLLBACK_COMPLETE"))
    use_clients(monkeypatch, sagemaker=sagemaker, cloudformation=cloudformation)
    code, out, err = run(capsys, "status", LABELING_JOB, "--json")
    assert code == 0, err
    report = json.loads(out)
    # A stack without usable outputs does not hide the jobs' status; the team says why it is unknown.
    assert report["team"]["kind"] == "unknown" and "ROLLBACK_COMPLETE" in report["team"]["notes"][0]
    assert report["labeling"]["status"] == "Completed"
    assert report["labeling"]["counters"]["TotalLabeled"] == 25
    assert report["training"] == {"kind": "training job", "name": LABELING_JOB, "status": "Completed", "details": {
        "secondary_status": "Completed", "created": "2024-05-06T00:00:00+00:00",
        "model_artifacts": "s3://b/models/model.tar.gz"}}
    assert report["model"]["name"] == model and report["model"]["status"] == "Created"
    assert report["evaluation"] == {"kind": "evaluation", "name": model, "status": None, "details": {}}


# --- start-labeling through the Stubber ----------------------------------------------------


def workflow_outputs(stubber: Stubber, **extra: str) -> None:
    stubber.add_response("describe_stacks", stack_response(
        "dev-Workflow", {"StartLabelingFunctionName": "dev-Workflow-StartLabeling", **extra}),
        {"StackName": "dev-Workflow"})


def payload(value: Any) -> StreamingBody:
    data = json.dumps(value).encode()
    return StreamingBody(io.BytesIO(data), len(data))


def deployed_start_labeling(stubber: Stubber, bucket: str = "data-bkt") -> None:
    """GetFunctionConfiguration of the deployed StartLabeling: its role and LABELING_SETTINGS (the CLI plans
    the cost estimate with them)."""
    from tests.unit.test_labeling_request import settings_dict

    stubber.add_response("get_function_configuration", {
        "FunctionName": "dev-Workflow-StartLabeling", "Role": f"arn:aws:iam::{ACCOUNT}:role/StartLabelingRole",
        "Environment": {"Variables": {"LABELING_SETTINGS": json.dumps(settings_dict(bucket=bucket))}},
    }, {"FunctionName": "dev-Workflow-StartLabeling"})


def listed_images(stubber: Stubber, keys: list[str], bucket: str = "data-bkt") -> None:
    stubber.add_response("list_objects_v2", {"Contents": [{"Key": key, "Size": 1000} for key in keys],
                                             "IsTruncated": False},
                         {"Bucket": bucket, "Prefix": "ground-truth-demo/images/", "ExpectedBucketOwner": ACCOUNT})


def test_start_labeling_invokes_the_function(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str],
                                             stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    cloudformation, cfn_stubber = stubbed("cloudformation")
    workflow_outputs(cfn_stubber, LabelingPortalUrl="https://abc.labeling.us-east-1.sagemaker.aws",
                     LabelingWorkteamArn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/t")
    lambda_client, stubber = stubbed("lambda")
    deployed_start_labeling(stubber)
    sagemaker, sagemaker_stubber = stubbed("sagemaker")
    sagemaker_stubber.add_client_error("describe_labeling_job", "ValidationException",
                                       "Could not find requested job with name gt-demo-cars",
                                       expected_params={"LabelingJobName": "gt-demo-cars"})
    s3, s3_stubber = stubbed("s3")
    listed_images(s3_stubber, [f"ground-truth-demo/images/{n}.jpg" for n in range(12)])
    result = {"job_name": "gt-demo-cars", "job_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/gt-demo-cars",
              "console_url": "https://console/x", "object_count": 12,
              "skipped": {"folder_marker": 1, "not_an_image": 2, "too_large": 0}, "status": "Initializing",
              "created": True}
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(result)}, {
        "FunctionName": "dev-Workflow-StartLabeling", "InvocationType": "RequestResponse",
        "Payload": json.dumps({"job_name": "cars", "max_objects": 3}).encode()})
    use_clients(monkeypatch, cloudformation=cloudformation, sagemaker=sagemaker, s3=s3, **{"lambda": lambda_client})
    code, out, err = run(capsys, "start-labeling", "--name", "cars", "--max-objects", "3")
    assert code == 0, err
    estimate, started = out.split("Started labeling job")
    # 12 images, at most 3 labeled (MaxHumanLabeledObjectCount): 3 x 0.08 fee + 3 x 3 workers x 0.012 = 0.348 USD
    assert estimate.splitlines()[0] == "Estimated labeling cost: at most 0.348 USD for 3 of 12 objects"
    out = "Started labeling job" + started
    assert out.splitlines() == [
        "Started labeling job gt-demo-cars (Initializing)",
        f"  ARN:      arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/gt-demo-cars",
        "  objects:  12 to label",
        "  skipped:  1 folder marker, 2 not an image",
        "  console:  https://console/x",
        f"  workteam: arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/t",
        "  workers:  https://abc.labeling.us-east-1.sagemaker.aws",
        "Follow it with: python -m workflow status gt-demo-cars",
    ]


def test_start_labeling_reports_the_function_error(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str],
                                                   stubbed: Callable[[str], tuple[Any, Stubber]]) -> None:
    cloudformation, cfn_stubber = stubbed("cloudformation")
    workflow_outputs(cfn_stubber)
    lambda_client, stubber = stubbed("lambda")
    deployed_start_labeling(stubber)
    s3, s3_stubber = stubbed("s3")
    listed_images(s3_stubber, [])  # nothing to estimate: StartLabeling says why
    error = {"errorMessage": "no images in s3://b/ground-truth-demo/images/", "errorType": "LabelingRequestError",
             "requestId": "r", "stackTrace": ["  File ..."]}
    stubber.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload(error)})
    use_clients(monkeypatch, cloudformation=cloudformation, s3=s3, **{"lambda": lambda_client})
    code, out, err = run(capsys, "start-labeling")
    assert code == 1 and out == ""
    assert err.startswith("error: StartLabeling (dev-Workflow-StartLabeling) failed: LabelingRequestError: "
                          "no images in s3://b/ground-truth-demo/images/\n")
    assert "File ..." not in err


def test_botocore_model_rejects_what_it_should() -> None:
    """The oracle itself: an invalid request does raise."""
    with pytest.raises(ParamValidationError):
        assert_valid("CreateLabelingJob", {"LabelingJobName": "x"})
