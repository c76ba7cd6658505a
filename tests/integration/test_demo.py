"""`make demo` as a test: the real CDK CLI deploys both stacks to the emulator, then the whole
workflow runs; every outcome is read back from the emulator's state, not from the printout."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlparse

import boto3
import pytest

from demo.emulator import Emulator
from demo.events import deliver, labeling_job_state_change, training_job_state_change
from demo.run import ACCOUNT, DEFAULT_IMAGES, ENV_NAME, REGION, DemoResult, handler_with_deployed_settings, run_demo
from demo.simulated_ground_truth import SimulatedGroundTruth
from stacks.config import load_config
from tests.infra.synth import CDK_JSON_CONTEXT, synthesize
from tests.integration.test_evaluation_report_browser import assert_report_shows, assert_screenshot, chromium
from tests.permissions import rehearsal_checks, rehearsal_run
from tests.permissions.rehearsal import CallRecorder
from workflow import cli, preflight

pytestmark = pytest.mark.integration

# `make demo`'s count: the evaluation's fixed confusion matrix is written for its validation split.
IMAGES = DEFAULT_IMAGES


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    folder = tmp_path_factory.mktemp("evaluation")

    def inspect(emulator: Emulator, ground_truth: SimulatedGroundTruth, result: DemoResult) -> None:
        def client(service: str) -> Any:
            return boto3.client(service, endpoint_url=emulator.endpoint_url, region_name=REGION)

        s3, sagemaker, events, lambda_client = client("s3"), client("sagemaker"), client("events"), client("lambda")
        data, workflow = result.outputs[f"{ENV_NAME}-Data"], result.outputs[f"{ENV_NAME}-Workflow"]
        bucket = data["BucketName"]
        seen["result"] = result
        seen["keys"] = sorted(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                              for o in page.get("Contents", []))
        def training_jobs() -> list[str]:
            pages = sagemaker.get_paginator("list_training_jobs").paginate()
            return [job["TrainingJobName"] for page in pages for job in page["TrainingJobSummaries"]]

        seen["training_jobs"] = training_jobs()
        seen["training"] = sagemaker.describe_training_job(TrainingJobName=result.training_job)
        seen["model"] = sagemaker.describe_model(ModelName=result.model)
        seen["labeling"] = sagemaker.describe_labeling_job(LabelingJobName=result.labeling_job)
        summary_key = f"ground-truth-demo/training/{result.labeling_job}/summary.json"
        seen["summary"] = json.loads(s3.get_object(Bucket=bucket, Key=summary_key)["Body"].read())
        seen["stacks"] = {s["StackName"]: s["StackStatus"] for s in
                          boto3.client("cloudformation", endpoint_url=emulator.endpoint_url,
                                       region_name=REGION).describe_stacks()["Stacks"]}

        # Second scenario: the completion event delivered three more times, and another
        # team's event once, through the deployed rule: still exactly one training job.
        start_training = handler_with_deployed_settings(lambda_client, workflow["StartTrainingFunctionName"],
                                                        "lambdas.start_training")
        rule = workflow["LabelingCompletedRuleName"]
        event = labeling_job_state_change(result.labeling_job, "Completed", region=REGION, account=ACCOUNT)
        seen["redeliveries"] = [deliver(events, rule, event, lambda e, c: start_training(e, c)) for _ in range(3)]
        other = labeling_job_state_change("other-team-job", "Completed", region=REGION, account=ACCOUNT)
        seen["other_delivered"] = deliver(events, rule, other, lambda e, c: start_training(e, c))
        seen["training_jobs_after"] = training_jobs()
        # Third scenario: a training job of ours failed -> RegisterModel alerts through the topic.
        register = handler_with_deployed_settings(
            lambda_client, workflow["RegisterModelFunctionName"], "lambdas.register_model")
        failed = training_job_state_change("gt-demo-failed-1", "Failed", failure_reason="AlgorithmError: simulated",
                                           region=REGION, account=ACCOUNT)
        seen["failure_answers"] = []
        seen["failure_delivered"] = deliver(events, workflow["TrainingEndedRuleName"], failed,
                                            lambda e, c: seen["failure_answers"].append(register(e, c)))
        # The evaluation: metrics.json and report.html as written, the report in Chromium while the emulator
        # serves its image links, and the operator CLI's `evaluate` and `status`.
        observe_evaluation(seen, s3, bucket, result, folder)
        # The permission rehearsal reads what it needs while the emulator is up (tests/permissions).
        seen["rehearsal"] = rehearsal_run.collect(emulator.endpoint_url, result.outputs, recorder,
                                                  region=REGION, env_name=ENV_NAME)

    recorder = CallRecorder()
    with recorder.recording():
        run_demo(image_count=IMAGES, inspect=inspect)
    return seen


def observe_evaluation(seen: dict[str, Any], s3: Any, bucket: str, result: DemoResult, folder: Path) -> None:
    evaluation = f"ground-truth-demo/evaluation/{result.transform_job}"
    seen["metrics"] = json.loads(s3.get_object(Bucket=bucket, Key=f"{evaluation}/metrics.json")["Body"].read())
    report = folder / "report.html"
    report.write_bytes(s3.get_object(Bucket=bucket, Key=f"{evaluation}/report.html")["Body"].read())
    seen["report_dom"] = chromium(folder, "--dump-dom", report.as_uri())
    seen["screenshot"] = Path(os.environ.get("EVALUATION_SCREENSHOT") or folder / "report.png")
    assert_screenshot(folder, report.as_uri(), seen["screenshot"])
    opened: list[str] = []
    with contextlib.redirect_stdout(io.StringIO()) as table, mock.patch("webbrowser.open", opened.append), \
            contextlib.chdir(folder):
        seen["evaluate_code"] = cli.main(["--region", REGION, "evaluate", "--job", result.labeling_job, "--open"])
    seen["evaluate_table"], seen["evaluate_opened"] = table.getvalue(), opened
    with contextlib.redirect_stdout(io.StringIO()) as status_json:
        seen["status_code"] = cli.main(["--region", REGION, "status", result.labeling_job, "--json"])
    seen["status"] = json.loads(status_json.getvalue())


def test_both_stacks_deployed_and_diff_clean(observed: dict[str, Any]) -> None:
    assert observed["stacks"] == {"CDKToolkit": "CREATE_COMPLETE", "dev-Data": "CREATE_COMPLETE",
                                  "dev-Workflow": "CREATE_COMPLETE"}
    assert observed["result"].timings  # diff ran inside deploy_to_emulator with --fail


def test_images_and_frozen_labeling_inputs_are_in_the_bucket(observed: dict[str, Any]) -> None:
    keys = observed["keys"]
    job = observed["result"].labeling_job
    assert len([k for k in keys if k.startswith("ground-truth-demo/images/")]) == IMAGES
    for name in ("input.manifest", "label-categories.json", "ui-template.liquid", "request.json"):
        assert f"ground-truth-demo/labeling/{job}/{name}" in keys


def test_labeling_completed_with_some_failed_objects(observed: dict[str, Any]) -> None:
    labeling = observed["labeling"]
    assert labeling["LabelingJobStatus"] == "Completed"
    assert labeling["LabelingJobName"].startswith("gt-demo-")
    assert observed["result"].failed >= 1
    assert observed["result"].labeled + observed["result"].failed == IMAGES


def test_split_manifests_and_training_job(observed: dict[str, Any]) -> None:
    job = observed["result"].labeling_job
    for name in ("train.manifest", "validation.manifest", "summary.json"):
        assert f"ground-truth-demo/training/{job}/{name}" in observed["keys"]
    totals = observed["summary"]["totals"]
    assert totals["kept"] == observed["result"].labeled
    assert totals["train"] + totals["validation"] == totals["kept"]
    training = observed["training"]
    channels = {c["ChannelName"]: c for c in training["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    assert channels["train"]["DataSource"]["S3DataSource"]["S3DataType"] == "AugmentedManifestFile"
    assert training["HyperParameters"]["num_training_samples"] == str(totals["train"])
    assert training["HyperParameters"]["num_classes"] == "5"


def test_model_registered_from_the_training_artifacts(observed: dict[str, Any]) -> None:
    model = observed["model"]
    assert model["PrimaryContainer"]["ModelDataUrl"] == observed["training"]["ModelArtifacts"]["S3ModelArtifacts"]
    assert model["PrimaryContainer"]["Image"].endswith("/image-classification:1")


def test_duplicate_deliveries_start_exactly_one_training_job(observed: dict[str, Any]) -> None:
    assert observed["redeliveries"] == [True, True, True]
    assert observed["other_delivered"] is False
    # The emulator's state is per process: other tests in this worker may own training jobs
    # too, so compare before and after, and count ours.
    assert observed["training_jobs_after"] == observed["training_jobs"]
    assert observed["training_jobs"].count(observed["result"].training_job) == 1


def test_a_failed_training_job_of_ours_is_alerted(observed: dict[str, Any]) -> None:
    assert observed["failure_delivered"] is True
    [answer] = observed["failure_answers"]
    assert answer["decision"] == "alerted"
    assert "AlgorithmError: simulated" in answer["reason"]


# --- The evaluation: the fixed confusion matrix of the simulated transform, computed by hand ----------

CLASSES = ["Airplane", "Car", "Ferry", "Helicopter", "Motorbike"]
# 80 images, every 10th failing labeling: 14 or 15 labeled per class, round(14 x 0.2) = round(15 x 0.2) = 3
# of each in the validation split (asserted below). The simulated model answers, per class in manifest order,
# Airplane: Airplane, Airplane, Helicopter; Car: 3 x Car; Ferry: 3 x Ferry; Helicopter: Airplane, Helicopter,
# Helicopter; Motorbike: Car, Motorbike, Motorbike. Rows: true class, columns: predicted class.
EXPECTED_MATRIX = [
    [2, 0, 0, 1, 0],
    [0, 3, 0, 0, 0],
    [0, 0, 3, 0, 0],
    [1, 0, 0, 2, 0],
    [0, 1, 0, 0, 2],
]
# accuracy = diagonal / total = (2 + 3 + 3 + 2 + 2) / 15 = 12/15 = 0.8
EXPECTED_ACCURACY = 12 / 15
# precision = diagonal / column sum; columns: Airplane 2+1 = 3, Car 3+1 = 4, Ferry 3, Helicopter 1+2 = 3, Motorbike 2
EXPECTED_PRECISION = [2 / 3, 3 / 4, 3 / 3, 2 / 3, 2 / 2]
# recall = diagonal / row sum (3 each)
EXPECTED_RECALL = [2 / 3, 3 / 3, 3 / 3, 2 / 3, 2 / 3]
# F1 = 2TP / (2TP + FP + FN): Airplane 4/(4+1+1), Car 6/(6+1+0), Ferry 6/(6+0+0), Helicopter 4/(4+1+1),
# Motorbike 4/(4+0+1)
EXPECTED_F1 = [4 / 6, 6 / 7, 6 / 6, 4 / 6, 4 / 5]


def test_the_validation_split_is_the_one_the_matrix_was_computed_for(observed: dict[str, Any]) -> None:
    assert [entry["validation"] for entry in observed["summary"]["classes"]] == [3, 3, 3, 3, 3]


def test_the_evaluation_equals_the_hand_computed_confusion_matrix(observed: dict[str, Any]) -> None:
    metrics = observed["metrics"]
    assert [metrics["labels"][str(i)] for i in range(len(CLASSES))] == CLASSES
    assert metrics["confusion_matrix"] == EXPECTED_MATRIX
    assert metrics["accuracy"] == pytest.approx(EXPECTED_ACCURACY)
    assert (metrics["counts"]["evaluated"], metrics["counts"]["correct"]) == (15, 12)
    assert [c["precision"] for c in metrics["classes"]] == pytest.approx(EXPECTED_PRECISION)
    assert [c["recall"] for c in metrics["classes"]] == pytest.approx(EXPECTED_RECALL)
    assert [c["f1"] for c in metrics["classes"]] == pytest.approx(EXPECTED_F1)
    assert [c["support"] for c in metrics["classes"]] == [3] * 5
    # Nothing was dropped: every validation object has its prediction and every prediction its object.
    problems = {k: v for k, v in metrics["counts"].items()
                if k not in ("manifest_lines", "objects", "evaluated", "correct", "predictions")}
    assert set(problems.values()) == {0}
    assert observed["result"].evaluation["decision"] == "evaluated"


def test_the_report_in_chromium_shows_the_numbers_of_metrics_json(observed: dict[str, Any]) -> None:
    assert_report_shows(observed["report_dom"], observed["metrics"])
    assert observed["screenshot"].stat().st_size > 40_000


def test_workflow_evaluate_prints_the_table_and_opens_the_report(observed: dict[str, Any]) -> None:
    job = observed["result"].transform_job
    table = observed["evaluate_table"]
    assert observed["evaluate_code"] == 0
    assert f"Evaluation {job} of model {job}" in table
    assert "  accuracy: 80.0% (12/15 validation objects)" in table
    assert "  Car                   0.750   1.000  0.857        3" in table  # class, precision, recall, F1, support
    assert f"  report:  s3://sagemaker-{REGION}-{ACCOUNT}/ground-truth-demo/evaluation/{job}/report.html" in table
    [opened] = observed["evaluate_opened"]  # webbrowser.open's argument; nothing was opened
    path = Path(urlparse(opened).path)
    assert opened.startswith("file://") and path.name == f"evaluation-{job}.html"
    assert f"  opened:  {path}" in table
    assert f'data-metric="accuracy" data-value="{EXPECTED_ACCURACY!r}"' in path.read_text()


def test_workflow_status_shows_the_evaluation_step(observed: dict[str, Any]) -> None:
    assert observed["status_code"] == 0
    evaluation = observed["status"]["evaluation"]
    assert (evaluation["kind"], evaluation["name"], evaluation["status"]) == (
        "evaluation", observed["result"].transform_job, "Completed")
    assert evaluation["details"]["accuracy"] == "80.0% (12/15 validation objects)"


# --- Permission rehearsal: every call of the run above against the deployed policies ------------


@pytest.fixture(scope="module")
def rehearsal(observed: dict[str, Any]) -> rehearsal_checks.Outcome:
    return rehearsal_checks.rehearse(observed["rehearsal"])


def test_rehearsal_saw_every_principal_and_service(rehearsal: rehearsal_checks.Outcome) -> None:
    seen = {(call.principal_label, call.origin_kind) for call in rehearsal.calls}
    for role in ("StartLabeling", "StartTraining", "RegisterModel", "Evaluation"):
        assert (role, "recorded") in seen, f"no recorded call made as {role}: {sorted(seen)}"
    for origin in ("notebook SDK", "Ground Truth", "SageMaker training", "SageMaker hosting", "notebook lifecycle",
                   "SageMaker batch transform"):
        assert ("SageMakerExecution", origin) in seen, f"no {origin} call as the execution role: {sorted(seen)}"


def test_rehearsal_every_call_is_allowed(rehearsal: rehearsal_checks.Outcome) -> None:
    print("\n" + rehearsal.summary())
    assert not rehearsal.unexpected_denials, "denied:\n" + "\n".join(rehearsal.unexpected_denials)
    assert not rehearsal.stale_denials, (
        "expected_denials.json lists denials that no longer happen; remove them:\n"
        + "\n".join(rehearsal.stale_denials))


def test_rehearsal_every_unused_grant_is_justified(rehearsal: rehearsal_checks.Outcome) -> None:
    print("\n" + rehearsal.unused_table())
    assert not rehearsal.unjustified_unused, (
        "grants no recorded call used, without a reason in unused_grants.json:\n"
        + "\n".join(rehearsal.unjustified_unused))
    assert not rehearsal.stale_justifications, (
        "unused_grants.json justifies grants that are now used or gone; remove them:\n"
        + "\n".join(rehearsal.stale_justifications))


@pytest.mark.parametrize(("fault", "expected"), [
    # Issue 9, point 1: StartTraining's duplicate-delivery check.
    (lambda stacks: rehearsal_checks.without_action(stacks, "StartTraining", "sagemaker:DescribeTrainingJob"),
     "StartTraining: sagemaker:DescribeTrainingJob on arn:aws:sagemaker:"),
    # Point 2: RegisterModel's look-up before CreateModel.
    (lambda stacks: rehearsal_checks.without_action(stacks, "RegisterModel", "sagemaker:DescribeModel"),
     "RegisterModel: sagemaker:DescribeModel on arn:aws:sagemaker:"),
    # Point 3: the notebook SDK's HeadBucket sends no s3:prefix.
    (rehearsal_checks.list_bucket_only_under_prefix, "SageMakerExecution: s3:ListBucket on arn:aws:s3:::{bucket}"),
    # The evaluation: RegisterModel starts the transform, the Evaluation function lists its outputs.
    (lambda stacks: rehearsal_checks.without_action(stacks, "RegisterModel", "sagemaker:CreateTransformJob"),
     "RegisterModel: sagemaker:CreateTransformJob on arn:aws:sagemaker:"),
    (lambda stacks: rehearsal_checks.without_action(stacks, "Evaluation", "s3:ListBucket"),
     "Evaluation: s3:ListBucket on arn:aws:s3:::{bucket}"),
], ids=["describe-training-job", "describe-model", "head-bucket", "create-transform-job", "list-predictions"])
def test_rehearsal_catches_a_reintroduced_fault(observed: dict[str, Any], fault: Any, expected: str) -> None:
    run = observed["rehearsal"]
    outcome = rehearsal_checks.rehearse(run, stacks=fault(list(run.stacks)))
    assert any(denial.strip().startswith(expected) for denial in outcome.unexpected_denials), (
        f"expected a denial starting with {expected!r}; got:\n" + "\n".join(outcome.unexpected_denials))


def test_rehearsal_kms_variant_allows_every_call_and_catches_a_missing_key_grant(observed: dict[str, Any]) -> None:
    """Point 9: with a customer key on the bucket every object read and write needs the key too."""
    run = observed["rehearsal"]
    stacks = rehearsal_checks.with_physical_ids(
        {f"{ENV_NAME}-{suffix}": template for suffix, template in synthesize("vpc-kms").items()}, run)
    outcome = rehearsal_checks.rehearse(run, stacks=stacks)
    key_requests = [e for e in outcome.evaluations if e.request.action.startswith("kms:")]
    assert {e.request.action for e in key_requests} >= {"kms:Decrypt", "kms:GenerateDataKey"}
    assert not outcome.unexpected_denials, "denied with the KMS key:\n" + "\n".join(outcome.unexpected_denials)

    faulty = rehearsal_checks.rehearse(
        run, stacks=rehearsal_checks.without_action(stacks, "StartTraining", "kms:GenerateDataKey"))
    assert any(d.strip().startswith("StartTraining: kms:GenerateDataKey") for d in faulty.unexpected_denials)


def test_preflight_checks_every_action_the_run_needed(observed: dict[str, Any],
                                                      rehearsal: rehearsal_checks.Outcome) -> None:
    """What the run needed (allowed requests, per role) is what preflight asks IAM about on a real
    account, so a real account's SCP, boundary or missing grant shows before the first job."""
    run = observed["rehearsal"]
    needed = {(labeled_role(e.request.principal, rehearsal), e.request.action)
              for e in rehearsal.evaluations if e.allowed}
    workflow = observed["result"].outputs[f"{ENV_NAME}-Workflow"]
    functions = {c.principal_label: c.call.params for c in rehearsal.calls if c.call.key == "logs.CreateLogStream"
                 and c.origin_kind.startswith("Lambda service")}
    table = preflight.permission_table(preflight.Deployment(
        config=load_config(CDK_JSON_CONTEXT, default_account=ACCOUNT, default_region=REGION),
        region=REGION, account=ACCOUNT, bucket=run.bucket, execution_role_arn=run.execution_role,
        topic_arn=workflow["AlertsTopicArn"], notebook_name=workflow["NotebookName"],
        dead_letter_queue_arn=preflight.queue_arn(workflow["DeadLetterQueueUrl"]),
        function_log_groups={role: functions[label]["logGroupName"] for role, label in PREFLIGHT_ROLES.items()
                             if label in functions}))
    checked = {(PREFLIGHT_ROLES[role], call.action) for role, calls in table.items() for call in calls}
    missing = sorted(needed - checked - NOT_IN_PREFLIGHT)
    assert not missing, "preflight does not ask IAM about:\n" + "\n".join(map(str, missing))


PREFLIGHT_ROLES = {preflight.EXECUTION_ROLE: "SageMakerExecution", preflight.START_LABELING: "StartLabeling",
                   preflight.START_TRAINING: "StartTraining", preflight.REGISTER_MODEL: "RegisterModel",
                   preflight.EVALUATION: "Evaluation"}
NOT_IN_PREFLIGHT: set[tuple[str, str]] = set()


def labeled_role(principal: str, outcome: rehearsal_checks.Outcome) -> str:
    return next(c.principal_label for c in outcome.calls if c.call.principal == principal)
