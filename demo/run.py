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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from demo.cdk_local import LocalDeployment, deploy_to_emulator
from demo.emulator import Emulator, fake_aws_environment, running_emulator
from demo.events import Event, deliver, training_job_state_change
from demo.images import class_from_source_ref, generate_images, upload_images
from demo.simulated_ground_truth import SimulatedGroundTruth, simulated_ground_truth
from workflow import local

PROJECT_DIR = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"  # the emulator's account
ENV_NAME = "dev"
DEMO_JOB_NAME = "demo-1"


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
    skipped_resources: list[str] = field(default_factory=list)


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
    print(f"  model             {result.model}")
    print("  elapsed per step:")
    for name, seconds in result.timings.items():
        print(f"    {seconds:6.1f} s  {name}")
    print(f"    {total:6.1f} s  total")
    if result.skipped_resources:
        print("  declared but NOT materialized by the emulator (it is not AWS):")
        for resource in result.skipped_resources:
            print(f"    - {resource}")


def run_demo(*, image_count: int = 25, keep: bool = False,
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
    parser.add_argument("--images", type=int, default=25, help="how many tiny images to generate (default 25)")
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
