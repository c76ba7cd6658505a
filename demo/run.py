"""`make demo`: deploy both stacks to a local emulator with the real CDK CLI, then run the
whole workflow end to end, offline.

The emulator (moto) cannot run Lambda code and has no Ground Truth: the Lambdas' handlers run
in this process with the settings of the deployed functions, events reach them only when the
deployed rule's pattern matches (EventBridge's TestEventPattern), and `SimulatedGroundTruth`
plays the workers. Nothing here is on the product's code path.

    python -m demo.run [--images N] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from demo.cdk_local import LocalDeployment, deploy_to_emulator
from demo.emulator import Emulator, fake_aws_environment, running_emulator
from demo.events import Event, deliver, training_job_state_change, transform_job_state_change
from demo.images import class_from_source_ref, generate_images, upload_images
from demo.simulated_ground_truth import SimulatedGroundTruth, simulated_ground_truth
from demo.simulated_transform import DEMO_CONFUSION_MATRIX, complete_transform_job, planned_answers
from workflow import local

PROJECT_DIR = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"  # the emulator's account
ENV_NAME = "dev"
DEMO_JOB_NAME = "demo-1"
# With every 10th object failing labeling, 80 images leave 14 or 15 labeled per class and 3 of each in the
# validation split (manifests.validation_count): DEMO_CONFUSION_MATRIX's row sums, so the report shows
# exactly that matrix. (Its labeling estimate, 9.28 USD, stays under confirm_above_usd's 10.)
DEFAULT_IMAGES = 80


class DemoError(RuntimeError):
    pass


@dataclass
class DemoResult:
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    images: int = 0
    labeling_job: str = ""
    labeled: int = 0
    failed: int = 0
    split: dict[str, Any] = field(default_factory=dict)
    training_job: str = ""
    model: str = ""
    transform_job: str = ""  # the model's evaluation (RegisterModel starts it)
    evaluation: dict[str, Any] = field(default_factory=dict)  # the Evaluation function's answer
    report_file: str = ""  # a local copy of report.html
    skipped_resources: list[str] = field(default_factory=list)
    relabel_job: str = ""  # the chained job over the failed objects (relabel_failed)
    relabel_split: dict[str, Any] = field(default_factory=dict)  # its training's summary.json


@contextlib.contextmanager
def step(result: DemoResult, name: str) -> Iterator[None]:
    started = time.perf_counter()
    print(f"==> {name}", flush=True)
    try:
        yield
    finally:
        result.timings[name] = time.perf_counter() - started


def handler_with_deployed_settings(lambda_client: Any, function_name: str, module: str) -> Callable[..., Any]:
    """The handler as the deployed function would run it: its environment, fresh clients."""
    deployed = local.deployed_function(lambda_client, function_name)
    loaded = importlib.import_module(module)

    def run(event: Event, context: Any = None) -> Any:
        with local.deployed_environment(deployed):
            return loaded.handler(event, context)

    return run


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, endpoint_url=emulator.endpoint_url, region_name=REGION)


def deploy(emulator: Emulator, result: DemoResult) -> LocalDeployment:
    with step(result, "deploy (cdk synth, bootstrap, deploy, diff)"):
        deployment = deploy_to_emulator(
            PROJECT_DIR, emulator.endpoint_url, region=REGION, account=ACCOUNT, context={"local_emulator": "true"}
        )
    result.outputs = deployment.outputs
    result.timings.update({f"  cdk {k}": v for k, v in deployment.timings.items()})
    result.skipped_resources = [f"{s.stack}/{s.logical_id} ({s.resource_type})" for s in deployment.skipped]
    return deployment


def run_workflow(
    emulator: Emulator, ground_truth: SimulatedGroundTruth, result: DemoResult, *, image_count: int
) -> None:
    data, workflow = result.outputs[f"{ENV_NAME}-Data"], result.outputs[f"{ENV_NAME}-Workflow"]
    bucket = data["BucketName"]
    images_prefix = data["ImagesS3Uri"].split(f"s3://{bucket}/", 1)[1].rstrip("/")  # <prefix>/images
    prefix = images_prefix.rsplit("/images", 1)[0]
    s3, sagemaker, lambda_client, events = (client(emulator, s) for s in ("s3", "sagemaker", "lambda", "events"))

    with step(result, "upload generated images"):
        images = generate_images(image_count, prefix=images_prefix)
        upload_images(s3, bucket, images)
        result.images = len(images)

    with step(result, "start labeling (operator CLI, --local)"):
        from workflow import cli

        code = cli.main(["--region", REGION, "start-labeling", "--local", "--name", DEMO_JOB_NAME])
        if code != 0:
            raise DemoError(f"start-labeling exited {code}")
        jobs = sagemaker.list_labeling_jobs(SortBy="CreationTime", SortOrder="Descending")["LabelingJobSummaryList"]
        result.labeling_job = jobs[0]["LabelingJobName"]

    with step(result, "simulated Ground Truth labels the images"):
        # Every 10th object fails, as real jobs have expired or skipped tasks.
        counter = iter(range(1_000_000))

        def worker(source_ref: str) -> str | None:
            return None if next(counter) % 10 == 9 else class_from_source_ref(source_ref)

        outcome = ground_truth.complete_job(result.labeling_job, worker)
        result.labeled, result.failed = outcome.labeled, outcome.failed

    with step(result, "labeling completed -> StartTraining (through the deployed rule)"):
        start_training = handler_with_deployed_settings(
            lambda_client, workflow["StartTrainingFunctionName"], "lambdas.start_training"
        )
        answers: list[Any] = []
        delivered = deliver(
            events,
            workflow["LabelingCompletedRuleName"],
            outcome.event,
            lambda event, context: answers.append(start_training(event, context)),
        )
        if not delivered:
            raise DemoError("the LabelingJobCompleted rule did not match the labeling job's event")
        decision = answers[0]
        if decision.get("decision") != "started":
            raise DemoError(f"StartTraining did not start a job: {decision}")
        result.training_job = decision.get("training_job") or decision.get("job_name") or ""
        summary_key = f"{prefix}/training/{result.labeling_job}/summary.json"
        result.split = json.loads(s3.get_object(Bucket=bucket, Key=summary_key)["Body"].read())

    with step(result, "training completed -> RegisterModel (through the deployed rule)"):
        job = sagemaker.describe_training_job(TrainingJobName=result.training_job)
        event = training_job_state_change(result.training_job, job["TrainingJobStatus"], region=REGION, account=ACCOUNT)
        register = handler_with_deployed_settings(
            lambda_client, workflow["RegisterModelFunctionName"], "lambdas.register_model")
        answers = []
        if not deliver(events, workflow["TrainingEndedRuleName"], event, lambda e, c: answers.append(register(e, c))):
            raise DemoError("the TrainingJobEnded rule did not match the training job's event")
        if answers[0].get("decision") not in ("registered", "already_registered"):
            raise DemoError(f"RegisterModel did not register a model: {answers[0]}")
        result.model = answers[0].get("model_name") or answers[0].get("model") or ""
        sagemaker.describe_model(ModelName=result.model)  # it exists in the emulator

    result.transform_job = answers[0].get("transform_job") or ""
    evaluate_model(emulator, result, bucket=bucket, prefix=prefix)
    relabel_failed(emulator, ground_truth, result, bucket=bucket, prefix=prefix)


def evaluate_model(emulator: Emulator, result: DemoResult, *, bucket: str, prefix: str) -> None:
    """RegisterModel started the model's evaluation (a batch transform of the validation split): the
    simulated transform answers from DEMO_CONFUSION_MATRIX, and its completion reaches the Evaluation
    function through the deployed rule."""
    workflow = result.outputs[f"{ENV_NAME}-Workflow"]
    s3, sagemaker, lambda_client, events = (client(emulator, s) for s in ("s3", "sagemaker", "lambda", "events"))
    if not result.transform_job:
        raise DemoError("RegisterModel started no evaluation (is workflow.evaluation.enabled false?)")
    with step(result, "simulated batch transform of the validation split"):
        label_map = json.loads(s3.get_object(
            Bucket=bucket, Key=f"{prefix}/training/{result.labeling_job}/label-map.json")["Body"].read())
        labels = label_map["labels"]
        complete_transform_job(s3, sagemaker, result.transform_job, planned_answers(DEMO_CONFUSION_MATRIX, labels),
                               class_count=len(labels))
    with step(result, "transform completed -> Evaluation (through the deployed rule)"):
        description = sagemaker.describe_transform_job(TransformJobName=result.transform_job)
        event = transform_job_state_change(description, region=REGION, account=ACCOUNT)
        evaluate = handler_with_deployed_settings(lambda_client, workflow["EvaluationFunctionName"],
                                                  "lambdas.evaluate_model")
        answers: list[Any] = []
        if not deliver(events, workflow["TransformEndedRuleName"], event, lambda e, c: answers.append(evaluate(e, c))):
            raise DemoError("the TransformJobEnded rule did not match the evaluation's event")
        if answers[0].get("decision") != "evaluated":
            raise DemoError(f"the Evaluation function did not evaluate the model: {answers[0]}")
        result.evaluation = answers[0]
        report_key = answers[0]["report"].split(f"s3://{bucket}/", 1)[1]
        local_copy = Path(tempfile.gettempdir()) / f"demo-evaluation-{result.transform_job}.html"
        local_copy.write_bytes(s3.get_object(Bucket=bucket, Key=report_key)["Body"].read())
        result.report_file = str(local_copy)


def relabel_failed(emulator: Emulator, ground_truth: SimulatedGroundTruth, result: DemoResult, *,
                   bucket: str, prefix: str) -> None:
    """The objects that failed labeling, relabeled by a chained job (`workflow relabel --failed`); its
    completion trains on the merged manifest (docs/labeling-cost.md)."""
    from workflow import cli

    workflow = result.outputs[f"{ENV_NAME}-Workflow"]
    s3, lambda_client, events = (client(emulator, s) for s in ("s3", "lambda", "events"))
    with step(result, "relabel the failed objects (operator CLI relabel --failed --local)"):
        result.relabel_job = f"gt-demo-{DEMO_JOB_NAME}-relabel"
        code = cli.main(["--region", REGION, "relabel", "--from", result.labeling_job, "--failed", "--yes",
                         "--local", "--name", result.relabel_job])
        if code != 0:
            raise DemoError(f"relabel exited {code}")
    with step(result, "simulated Ground Truth relabels them -> StartTraining on the merged manifest"):
        outcome = ground_truth.complete_job(result.relabel_job, class_from_source_ref)
        start_training = handler_with_deployed_settings(
            lambda_client, workflow["StartTrainingFunctionName"], "lambdas.start_training")
        answers: list[Any] = []
        if not deliver(events, workflow["LabelingCompletedRuleName"], outcome.event,
                       lambda event, context: answers.append(start_training(event, context))):
            raise DemoError("the LabelingJobCompleted rule did not match the relabel job's event")
        if answers[0].get("decision") != "started":
            raise DemoError(f"StartTraining did not train on the merged manifest: {answers[0]}")
        summary_key = f"{prefix}/training/{result.relabel_job}/summary.json"
        result.relabel_split = json.loads(s3.get_object(Bucket=bucket, Key=summary_key)["Body"].read())


def print_summary(result: DemoResult, total: float) -> None:
    data, workflow = result.outputs.get(f"{ENV_NAME}-Data", {}), result.outputs.get(f"{ENV_NAME}-Workflow", {})
    print("\n" + "=" * 72)
    print("Demo summary (local emulator; not AWS)")
    print(f"  bucket            {data.get('BucketName')}")
    print(f"  images            {result.images} uploaded to {data.get('ImagesS3Uri')}")
    print(f"  execution role    {data.get('ExecutionRoleArn')}")
    print(f"  notebook          {workflow.get('NotebookName')}")
    print(f"  labeling job      {result.labeling_job}: {result.labeled} labeled, {result.failed} failed")
    totals = result.split.get("totals") or {}
    if result.split:
        print(f"  split             {json.dumps(totals) if totals else json.dumps(result.split)[:200]}")
    print(f"  training job      {result.training_job}")
    if result.relabel_split:
        chain = result.relabel_split.get("relabel_chain") or {}
        print(f"  relabel job       {result.relabel_job}: trained on {chain.get('merged_manifest')} "
              f"({json.dumps(result.relabel_split.get('totals'))})")
    print(f"  model             {result.model}")
    if result.evaluation:
        metrics = result.evaluation
        print(f"  evaluation        {result.transform_job}: accuracy {metrics['accuracy'] * 100:.1f}% on the "
              f"validation split ({metrics['reason']})")
        print(f"  report            {metrics['report']}")
        print(f"                    local copy {result.report_file} (its image links work while the emulator runs)")
    print("  elapsed per step:")
    for name, seconds in result.timings.items():
        print(f"    {seconds:6.1f} s  {name}")
    print(f"    {total:6.1f} s  total")
    if result.skipped_resources:
        print("  declared but NOT materialized by the emulator (it is not AWS):")
        for resource in result.skipped_resources:
            print(f"    - {resource}")


def run_demo(*, image_count: int = DEFAULT_IMAGES, keep: bool = False,
             inspect: Callable[[Emulator, SimulatedGroundTruth, DemoResult], None] | None = None) -> DemoResult:
    """`inspect` runs before the emulator stops (the integration test reads its state there)."""
    result = DemoResult()
    started = time.perf_counter()
    with (
        running_emulator() as emulator,
        fake_aws_environment(emulator.endpoint_url),
        simulated_ground_truth(emulator.endpoint_url) as ground_truth,
    ):
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = REGION
        deploy(emulator, result)
        run_workflow(emulator, ground_truth, result, image_count=image_count)
        print_summary(result, time.perf_counter() - started)
        if inspect is not None:
            inspect(emulator, ground_truth, result)
        if keep:
            print(f"\nKEEP=1: the emulator stays up at {emulator.endpoint_url} until you press Ctrl-C.")
            print(
                f"  export AWS_ENDPOINT_URL={emulator.endpoint_url} AWS_ACCESS_KEY_ID=testing "
                f"AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={REGION}"
            )
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.run", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=DEFAULT_IMAGES,
                        help=f"how many tiny images to generate (default {DEFAULT_IMAGES})")
    parser.add_argument("--keep", action="store_true", help="leave the emulator running at the end")
    args = parser.parse_args(argv)
    try:
        run_demo(image_count=args.images, keep=args.keep or os.environ.get("KEEP") == "1")
    except Exception as error:  # the demo's last line must say what failed
        print(f"\nDEMO FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
