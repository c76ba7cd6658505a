"""`make demo` as a test: the real CDK CLI deploys both stacks to the emulator, then the whole
workflow runs; every outcome is read back from the emulator's state, not from the printout."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from demo.emulator import Emulator
from demo.events import deliver, labeling_job_state_change, training_job_state_change
from demo.run import ACCOUNT, ENV_NAME, REGION, DemoResult, handler_with_deployed_settings, run_demo
from demo.simulated_ground_truth import SimulatedGroundTruth
from stacks.config import load_config
from tests.infra.synth import CDK_JSON_CONTEXT, synthesize
from tests.permissions import rehearsal_checks, rehearsal_run
from tests.permissions.rehearsal import CallRecorder
from workflow import preflight

pytestmark = pytest.mark.integration

IMAGES = 15


@pytest.fixture(scope="module")
def observed() -> dict[str, Any]:
    seen: dict[str, Any] = {}

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
        # The permission rehearsal reads what it needs while the emulator is up (tests/permissions).
        seen["rehearsal"] = rehearsal_run.collect(emulator.endpoint_url, result.outputs, recorder,
                                                  region=REGION, env_name=ENV_NAME)

    recorder = CallRecorder()
    with recorder.recording():
        run_demo(image_count=IMAGES, inspect=inspect)
    return seen


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


# --- Permission rehearsal: every call of the run above against the deployed policies ------------


@pytest.fixture(scope="module")
def rehearsal(observed: dict[str, Any]) -> rehearsal_checks.Outcome:
    return rehearsal_checks.rehearse(observed["rehearsal"])


def test_rehearsal_saw_every_principal_and_service(rehearsal: rehearsal_checks.Outcome) -> None:
    seen = {(call.principal_label, call.origin_kind) for call in rehearsal.calls}
    for role in ("StartLabeling", "StartTraining", "RegisterModel"):
        assert (role, "recorded") in seen, f"no recorded call made as {role}: {sorted(seen)}"
    for origin in ("notebook SDK", "Ground Truth", "SageMaker training", "SageMaker hosting", "notebook lifecycle"):
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
], ids=["describe-training-job", "describe-model", "head-bucket"])
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
                   preflight.START_TRAINING: "StartTraining", preflight.REGISTER_MODEL: "RegisterModel"}
NOT_IN_PREFLIGHT: set[tuple[str, str]] = set()


def labeled_role(principal: str, outcome: rehearsal_checks.Outcome) -> str:
    return next(c.principal_label for c in outcome.calls if c.call.principal == principal)
