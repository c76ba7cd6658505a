"""The operator CLI: `python -m workflow <command>` (see `--help` of each command).

Expected problems (usage, config, credentials, missing stacks or jobs, a failed Lambda) end
with one clear message on stderr and exit code 2 (fix the call or the setup) or 1 (AWS or the
Lambda said no); never with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from lambdas import deployment, evaluation_job, labeling_request, start_labeling
from lambdas.relabel import threshold as relabel_threshold
from lambdas.settings import LABELING_SETTINGS_VAR, SettingsError
from stacks.config import CONTEXT_KEY, ConfigError
from workflow import aws, estimates, local, outputs, plans, predict, predict_command, preflight, relabeling, status
from workflow import evaluate as evaluation_cli
from workflow.context import Project, build_context, load_project, parse_overrides, read_cdk_context
from workflow.errors import EXIT_RUNTIME, EXIT_USAGE, CliError, UsageError

PROG = "python -m workflow"
NO_CREDENTIALS = "no AWS credentials found: configure a profile or run `make demo` for the local emulator"

# A synchronous invoke waits for the function (StartLabeling may run 5 minutes). No automatic
# retry: a retried invocation without --name would start a second, differently named job.
_INVOKE_CONFIG = Config(read_timeout=330, retries={"mode": "standard", "max_attempts": 1})


# --- plumbing shared by the commands ---------------------------------------------------------


class Invocation:
    """The parsed arguments and, loaded on first use, the config and region."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._project: Project | None = None
        self._session: boto3.session.Session | None = None

    def context(self) -> dict[str, Any]:
        return build_context(read_cdk_context(), env=self.args.env, overrides=parse_overrides(self.args.context))

    def project(self, *, account: str | None = None) -> Project:
        if self._project is None:
            self._project = load_project(self.context(), region=self.args.region, account=account)
            for note in self._project.notes:
                warn(note)
        return self._project

    def client(self, service: str, *, config: Config | None = None) -> Any:
        if self._session is None:
            self._session = aws.new_session()
        return aws.client(service, self.project().region, config=config, session=self._session)

    def stack(self, which: str) -> outputs.StackOutputs:
        project = self.project()
        name = project.data_stack if which == "data" else project.workflow_stack
        return outputs.stack_outputs(self.client("cloudformation"), name)


def warn(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


# --- start-labeling --------------------------------------------------------------------------


def start_labeling_event(args: argparse.Namespace) -> dict[str, Any]:
    event = {"job_name": args.name, "images_prefix": args.prefix, "max_objects": args.max_objects}
    return {key: value for key, value in event.items() if value is not None}


def invoke_start_labeling(lambda_client: Any, function: str, event: Mapping[str, Any]) -> dict[str, Any]:
    response = lambda_client.invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
    )
    raw = response["Payload"].read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    if response.get("FunctionError"):
        if isinstance(payload, dict) and payload.get("errorMessage"):
            kind = payload.get("errorType") or response["FunctionError"]
            detail = f"{kind}: {payload['errorMessage']}"
        else:
            detail = raw.decode("utf-8", "replace") or response["FunctionError"]
        raise CliError(f"StartLabeling ({function}) failed: {detail}\n(logs: CloudWatch log group of {function})")
    if not isinstance(payload, dict):
        raise CliError(f"StartLabeling ({function}) returned an unexpected answer: {raw[:200]!r}")
    return payload


def run_start_labeling_locally(lambda_client: Any, function: str, event: Mapping[str, Any], *,
                               deployed: local.DeployedFunction | None = None) -> dict[str, Any]:
    """Run the StartLabeling handler in this process with the deployed function's settings."""
    deployed = deployed or local.deployed_function(lambda_client, function)
    if not deployed.variables.get(LABELING_SETTINGS_VAR):
        raise CliError(
            f"function {function} has no {LABELING_SETTINGS_VAR} environment variable: "
            f"{outputs.DEPLOY_HINT}"
        )
    try:
        # The handler logs JSON lines to stdout; stdout is for our result.
        with local.deployed_environment(deployed), contextlib.redirect_stdout(sys.stderr):
            return start_labeling.handler(dict(event), None)
    except (labeling_request.LabelingRequestError, SettingsError) as error:
        raise CliError(f"StartLabeling (run locally with the settings of {function}) failed: {error}") from error


def cmd_start_labeling(run: Invocation) -> int:
    args = run.args
    workflow_stack = run.stack("workflow")
    function = workflow_stack.require(outputs.START_LABELING_FUNCTION)
    event = start_labeling_event(args)
    deployed = local.deployed_function(run.client("lambda"), function)
    # The cost of the job about to start, planned with the deployed function's settings over the images
    # listed now; a job StartLabeling would refuse or that exists already has none (StartLabeling says why).
    settings = estimates.deployed_settings(deployed)
    plan = estimates.plan_start(settings, s3=run.client("s3"),
                                sagemaker=run.client("sagemaker") if args.name else None,
                                job_name=args.name, images_prefix=args.prefix, max_objects=args.max_objects,
                                now=datetime.now(UTC))
    if plan is not None:
        estimate = estimates.estimate_plan(plan, workforce=settings.workforce, region=settings.region,
                                           task_type=settings.task_type)
        print("\n".join(estimate.lines()), file=sys.stderr if args.json else sys.stdout, flush=True)
        estimates.confirm(estimate, estimates.threshold(run.project().config), yes=args.yes,
                          what="start the labeling job")
    result = start_labeling_result(run, function, event, deployed=deployed)
    if args.json:
        print_json(result)
        return 0
    print("\n".join(describe_start_result(result, workteam_arn=workflow_stack.workteam_arn(),
                                          portal_url=workflow_stack.get(outputs.LABELING_PORTAL_URL))))
    return 0


def start_labeling_result(run: Invocation, function: str, event: Mapping[str, Any], *,
                          deployed: local.DeployedFunction) -> dict[str, Any]:
    """StartLabeling's answer: invoked, or (`--local`) run in this process with the deployed settings."""
    if run.args.local:
        return run_start_labeling_locally(run.client("lambda"), function, event, deployed=deployed)
    return invoke_start_labeling(run.client("lambda", config=_INVOKE_CONFIG), function, event)


def describe_start_result(result: Mapping[str, Any], *, workteam_arn: str | None = None,
                          portal_url: str | None = None) -> list[str]:
    name = result.get("job_name", "?")
    state = result.get("status", "?")
    if result.get("created", True):
        lines = [f"Started labeling job {name} ({state})"]
    else:
        lines = [f"Labeling job {name} already exists ({state}): nothing was written or started"]
    lines.append(f"  ARN:      {result.get('job_arn', '?')}")
    count = result.get("object_count")
    lines.append(f"  objects:  {count} to label" if count is not None else "  objects:  (counted when it was created)")
    skipped = {reason: n for reason, n in (result.get("skipped") or {}).items() if n}
    if result.get("created", True):
        shown = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in skipped.items()) or "none"
        lines.append(f"  skipped:  {shown}")
    if result.get("relabel_of"):
        lines.append(f"  relabels: {result['relabel_of']} (labels under {result.get('label_attribute', '?')}; when it "
                     "completes, training uses the merged manifest)")
    lines.append(f"  console:  {result.get('console_url', '?')}")
    if workteam_arn:
        lines.append(f"  workteam: {workteam_arn}")
    if portal_url:
        lines.append(f"  workers:  {portal_url}")
    lines.append(f"Follow it with: {PROG} status {name}")
    return lines


# --- plan-labeling ---------------------------------------------------------------------------


def image_listing(run: Invocation, source: str, prefix: str) -> plans.ImageListing:
    if source.startswith("s3://"):
        return plans.list_s3_prefix(run.client("s3"), source)
    path = Path(source)
    if path.is_dir():
        return plans.list_local_directory(path, prefix)
    if path.is_file():
        return plans.read_key_list(path)
    raise UsageError(f"--images {source}: no such file or directory (give a directory, a key list or s3://bucket/prefix)")


def cmd_plan_labeling(run: Invocation) -> int:
    args = run.args
    project = run.project(account=args.account)
    listing = image_listing(run, args.images, project.config.prefix)
    bucket = args.bucket
    if listing.bucket is not None:
        if bucket is not None and bucket != listing.bucket:
            raise UsageError(f"--bucket {bucket} but the images are in bucket {listing.bucket}; "
                             "a labeling job reads its images from the workflow bucket")
        bucket = listing.bucket
    dry_run = plans.dry_run_deployment(project.config, project.region, account=args.account, bucket=bucket,
                                       role_arn=args.role_arn)
    try:
        plan, notes = plans.plan_labeling(project.config, dry_run, listing, job_name=args.name,
                                          now=datetime.now(UTC), max_objects=args.max_objects)
    except (labeling_request.LabelingRequestError, SettingsError) as error:
        raise UsageError(f"StartLabeling would refuse this: {error}") from error
    estimate = estimates.estimate_plan(plan, workforce=project.config.workforce.type, region=project.region,
                                       task_type=project.config.task_type)
    if args.json:
        for note in notes:
            warn(note)
        print("\n".join(estimate.lines()), file=sys.stderr)
        print(plans.request_json(plan.request))
        return 0
    print("\n".join(describe_labeling_plan(plan, listing, notes, estimate_lines=estimate.lines())))
    return 0


def describe_labeling_plan(plan: Any, listing: plans.ImageListing, notes: Sequence[str], *,
                           estimate_lines: Sequence[str] = ()) -> list[str]:
    lines = [
        "Dry run of StartLabeling: nothing was written and no SageMaker call was made.",
        f"  job name:  {plan.job_name}",
        f"  job ARN:   {plan.job_arn}",
        f"  images:    {plan.object_count} from {listing.source} (as {plan.images_uri})",
    ]
    skipped = {reason: n for reason, n in plan.skipped.items() if n}
    shown = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in skipped.items()) or "none"
    lines.append(f"  skipped:   {shown}")
    lines.append(f"  console:   {plan.console_url}")
    if notes:
        lines.append("Placeholders and limits of this dry run:")
        lines.extend(f"  - {note}" for note in notes)
    lines.append("Files it would write:")
    for preview in plans.iter_previews(plan):
        lines.append(f"  {preview.uri}  ({preview.size:,} bytes, {preview.line_count:,} lines)")
        if preview.uri.endswith(".manifest"):
            lines.extend(f"      {line}" for line in preview.head)
            if preview.line_count > len(preview.head):
                lines.append(f"      ... {preview.line_count - len(preview.head):,} more")
    lines.extend(estimate_lines)
    lines.append("CreateLabelingJob request (`--json` prints it alone, for `aws sagemaker create-labeling-job "
                 "--cli-input-json`):")
    lines.append(plans.request_json(plan.request))
    return lines


# --- relabel -----------------------------------------------------------------------------------


def cmd_relabel(run: Invocation) -> int:
    args = run.args
    criteria = relabeling.criteria_from_options(args.below_confidence, args.failed)
    workflow_stack = run.stack("workflow")
    function = workflow_stack.require(outputs.START_LABELING_FUNCTION)
    deployed = local.deployed_function(run.client("lambda"), function)
    settings = estimates.deployed_settings(deployed)
    s3 = run.client("s3")
    plan = relabeling.plan_relabel(settings, sagemaker=run.client("sagemaker"), s3=s3, from_job=args.from_job,
                                   criteria=criteria, job_name=args.name, max_objects=args.max_objects,
                                   now=datetime.now(UTC))
    out = sys.stderr if args.json else sys.stdout
    print("\n".join(relabeling.describe_plan(plan, settings)), file=out, flush=True)
    if plan.plan is None or args.dry_run or plan.estimate is None:
        if args.json:
            print_json({"started": False, "selected": plan.selection.counts.selected})
        return 0
    estimates.confirm(plan.estimate, estimates.threshold(run.project().config), yes=args.yes,
                      what=f"start relabel job {plan.link.job_name}")
    uri = relabeling.upload_manifest(s3, settings, plan)
    print(f"Wrote {uri}", file=out, flush=True)
    result = start_labeling_result(run, function, plan.event(max_objects=args.max_objects), deployed=deployed)
    if args.json:
        print_json(result)
        return 0
    print("\n".join(describe_start_result(result, workteam_arn=workflow_stack.workteam_arn(),
                                          portal_url=workflow_stack.get(outputs.LABELING_PORTAL_URL))))
    return 0


def _confidence(text: str) -> str:
    try:
        return str(relabel_threshold(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_relabel_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "relabel",
        help="relabel a completed job's doubtful objects with a chained job (low confidence, failed)",
        description="Select the objects of a completed labeling job whose label's confidence is below a threshold "
        "and/or that failed, show the plan and its cost, and start a chained job over them with a new label "
        "attribute through the StartLabeling function. For a job that is itself a relabel job, the selection "
        "reads its chain's merged manifest. When the new job completes, StartTraining trains on the merged "
        "manifest (later labels win, one line per object). Reads with DescribeLabelingJob and GetObject, "
        "writes the new job's input.manifest with PutObject, then invokes StartLabeling.",
    )
    _global_options(parser, suppress=True)
    parser.add_argument("--from", dest="from_job", required=True, metavar="JOB",
                        help="the completed labeling job (the job prefix is prepended if missing)")
    parser.add_argument("--below-confidence", type=_confidence, metavar="T",
                        help="select labels whose confidence is below T (0 < T <= 1), e.g. 0.7")
    parser.add_argument("--failed", action="store_true", help="select objects that failed or have no label")
    parser.add_argument("--name", help="the relabel job's name; the job prefix is prepended if missing (default: "
                        "<job_prefix>-relabel-YYYYMMDD-HHMMSS)")
    parser.add_argument("--max-objects", type=_positive_int, help="stop after this many objects are labeled")
    parser.add_argument("--yes", action="store_true",
                        help="start without asking, even above workflow.labeling.confirm_above_usd (for scripts)")
    parser.add_argument("--dry-run", action="store_true", help="show the plan and its cost; write and start nothing")
    parser.add_argument("--local", action="store_true",
                        help="run the StartLabeling code in this process with the deployed function's settings "
                        "(the local emulator), as start-labeling --local does")
    parser.add_argument("--json", action="store_true",
                        help="print StartLabeling's result as JSON; the plan and the estimate go to stderr")
    parser.set_defaults(handler=cmd_relabel)


# --- plan-training ---------------------------------------------------------------------------


def cmd_plan_training(run: Invocation) -> int:
    args = run.args
    project = run.project(account=args.account)
    s3 = run.client("s3") if args.manifest.startswith("s3://") else None
    categories = plans.read_categories(Path(args.categories)) if args.categories else None
    plan = plans.plan_training(
        project.config,
        plans.dry_run_deployment(project.config, project.region, account=args.account, bucket=args.bucket,
                                 role_arn=args.role_arn),
        manifest=args.manifest,
        label_attribute=args.label_attribute,
        categories=categories,
        labeling_job_name=args.job_name,
        s3=s3,
    )
    # Exit 1 when StartTraining would refuse the request: the problems name what to change.
    code = 1 if plan.problems else 0
    if args.json:
        for note in plan.notes:
            warn(note)
        for problem in plan.problems:
            print(f"error: StartTraining would refuse the request: {problem}", file=sys.stderr)
        print_json({"summary": plan.summary, "request": plan.request, "adjustments": list(plan.adjustments),
                    "problems": list(plan.problems)})
        return code
    print("\n".join(plans.describe_training_plan(plan)))
    return code


# --- status ----------------------------------------------------------------------------------


def cmd_status(run: Invocation) -> int:
    project = run.project()
    report = status.collect(
        run.client("sagemaker"),
        job_prefix=project.config.labeling.job_prefix,
        tuning_enabled=project.config.tuning.enabled,
        job_name=run.args.job,
    )
    report.evaluation = evaluation_status(run, report)
    try:
        team = status.team_status(run.client, run.stack("workflow").get(outputs.LABELING_WORKTEAM_ARN))
    except CliError as error:  # the jobs' status stands on its own; say why the team is not shown
        team = status.TeamStatus("unknown", notes=[str(error)])
    endpoint = endpoint_status(run)
    if run.args.json:
        print_json({**report.as_dict(), "team": dataclasses.asdict(team),
                    **({"endpoint": dataclasses.asdict(endpoint)} if endpoint else {})})
    else:
        print("\n".join([*status.describe(report, prog=PROG), *team.lines(), *(endpoint.lines() if endpoint else [])]))
    return 0


def evaluation_status(run: Invocation, report: status.StatusReport) -> status.StepStatus | None:
    """The evaluation step of `status`, only when the config evaluates models (evaluation.enabled). The data
    stack and the metrics are read only once the evaluation completed."""
    project = run.project()
    if not project.config.evaluation.enabled:
        return None

    def fetch_metrics(job: str) -> tuple[dict[str, Any], str]:
        location = evaluation_job.EvaluationLocation(run.stack("data").require(outputs.BUCKET_NAME),
                                                     project.config.prefix, job)
        found = evaluation_cli.Found(job, location)
        metrics = evaluation_cli.read_metrics(run.client("s3"), run.client("sagemaker"), found,
                                              account=evaluation_account(run))
        return metrics, location.uri(evaluation_job.REPORT_FILE)

    return status.evaluation_step(run.client("sagemaker"), report.model, fetch_metrics=fetch_metrics)


def evaluation_account(run: Invocation) -> str:
    """The account the data bucket must belong to (ExpectedBucketOwner on its reads): the caller's."""
    return str(run.client("sts").get_caller_identity()["Account"])


# --- evaluate --------------------------------------------------------------------------------


def cmd_evaluate(run: Invocation) -> int:
    args, project = run.args, run.project()
    bucket = run.stack("data").require(outputs.BUCKET_NAME)
    return evaluation_cli.run(
        sagemaker=run.client("sagemaker"), s3=run.client("s3"),
        presigner=run.client("s3", config=evaluation_cli.PRESIGN_CONFIG), bucket=bucket,
        prefix=project.config.prefix, account=evaluation_account(run),
        job_prefix=project.config.labeling.job_prefix, tuning_enabled=project.config.tuning.enabled,
        job_name=args.job, open_report=args.open, output=Path(args.output) if args.output else None,
        as_json=args.json, out=print)


def _add_evaluate_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="a model's evaluation: accuracy, per-class precision/recall/F1, and the report (--open)",
        description="Print the evaluation of the model trained from a labeling job (default: the newest): its "
        "accuracy on the validation split, the training job's own validation figure, precision, recall and F1 "
        "per class, and where report.html and metrics.json are in S3. With --open, write the report to a local "
        "file (its image links signed now with your credentials) and open it in the browser. Read-only: "
        "DescribeLabelingJob/TrainingJob/Model/TransformJob and GetObject.",
    )
    _global_options(parser, suppress=True)
    parser.add_argument("--job", metavar="NAME",
                        help="a labeling job (default: the newest with the job prefix), or a training job's name")
    parser.add_argument("--open", action="store_true", help="write the report to a local file and open it")
    parser.add_argument("--output", metavar="FILE",
                        help="--open: where to write the report (default: ./evaluation-<job>.html)")
    parser.add_argument("--json", action="store_true", help="print metrics.json and the locations as JSON")
    parser.set_defaults(handler=cmd_evaluate)


def endpoint_status(run: Invocation) -> status.EndpointStatus | None:
    """The endpoint's line in `status`, only when the config deploys on approval (its name is derived from the
    job prefix, like the Deployment function's)."""
    config = run.project().config
    if not config.endpoint.enabled:
        return None
    return status.endpoint_status(run.client("sagemaker"), deployment.endpoint_name_for(config.labeling.job_prefix))


# --- predict ---------------------------------------------------------------------------------


def cmd_predict(run: Invocation) -> int:
    project = run.project()
    return predict_command.run(predict_command.request_from_args(run.args), config=project.config,
                               region=project.region, client=run.client, stack=run.stack, out=sys.stdout,
                               err=sys.stderr)


def _add_predict_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "predict",
        help="classify images with the deployed endpoint (or a one-off batch transform)",
        description="Check each image (JPEG or PNG by its bytes, within the payload limit) before anything is "
        "sent, then print the top classes with names and probabilities: from the endpoint an approved model "
        "package was deployed to (the Workflow stack's EndpointName output, or --endpoint), or with --batch "
        "from a one-off batch transform job with the newest model (planned first; it starts only when "
        "confirmed). Class names: the training job's label-map.json, or --labels.",
    )
    _global_options(parser, suppress=True)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="local .jpg/.jpeg/.png files")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--endpoint", metavar="NAME", help="the endpoint to invoke (default: the stack's)")
    where.add_argument("--batch", action="store_true",
                       help="no endpoint: plan a one-off batch transform with the newest model and, when confirmed, "
                       "upload the images and start it (billed while it runs)")
    parser.add_argument("--top-k", type=_positive_int, default=predict.DEFAULT_TOP_K, metavar="K",
                        help=f"how many classes to print per image (default {predict.DEFAULT_TOP_K})")
    parser.add_argument("--labels", metavar="FILE", help="a label map (label-map.json) to name the classes with")
    parser.add_argument("--yes", action="store_true", help="--batch: start the job without asking")
    parser.add_argument("--wait", action="store_true",
                        help="--batch: follow the job until it ends and print the answers")
    parser.add_argument("--json", action="store_true", help="print the results as JSON (the rest goes to stderr)")
    parser.set_defaults(handler=cmd_predict)


# --- preflight -------------------------------------------------------------------------------


def cmd_preflight(run: Invocation) -> int:
    # An unsupported region is the first check's FAIL line, not a usage error; nothing else can
    # be ready there (the config refuses it), so the run stops at it.
    region = preflight.requested_region(run.args.region)
    if region is not None and preflight.region_result(region).status != preflight.PASS:
        results = [preflight.region_result(region)]
    else:
        results = preflight.run_preflight(run.project(), run.client)
    print("\n".join(preflight.report(results)))
    return preflight.exit_code(results)


# --- the parser ------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Accepted before and after the command: the subcommand copies must not overwrite a value
    # given before it with their defaults, hence SUPPRESS there.
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--env", metavar="NAME", default=default,
                        help="config environment: a block of workflow.environments in cdk.json (like "
                        "`cdk -c env=NAME`), else the default config under stack names NAME-*; "
                        "default: cdk.json's workflow.env_name")
    parser.add_argument("--region", default=default,
                        help="AWS region; default: AWS_REGION, AWS_DEFAULT_REGION, then the config's region")
    parser.add_argument("-c", "--context", metavar="KEY=VALUE", action="append",
                        default=default if suppress else [],
                        help=f"override one config key as `cdk -c` does, e.g. -c {CONTEXT_KEY}.tuning.enabled=true "
                        "(repeatable; values are parsed as JSON when they parse)")


def _dry_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("deployment values for the dry run (placeholders if not given)")
    group.add_argument("--account", help="AWS account id; default: the config's, else the placeholder 000000000000")
    group.add_argument("--bucket", help="data bucket; default: the config's, else sagemaker-<region>-<account>")
    group.add_argument("--role-arn", help="SageMaker execution role (the Data stack's ExecutionRoleArn output)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operate the SageMaker Ground Truth labeling -> training -> model workflow.",
        epilog="Stacks are <env>-Data and <env>-Workflow; resources are found from their outputs. "
        "Clients honour AWS_ENDPOINT_URL (the local emulator). Exit codes: 0 ok, 1 AWS or the Lambda "
        "refused, 2 usage, config or credentials.",
    )
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    start = commands.add_parser(
        "start-labeling",
        help="start a labeling job (invokes the deployed StartLabeling Lambda)",
        description="Print the job's cost estimate (planned with the deployed function's settings over the images "
        "listed now; above workflow.labeling.confirm_above_usd it asks first), then invoke the deployed "
        "StartLabeling Lambda synchronously and print the job it started: name, ARN, object count, skipped "
        "objects and the console link. Idempotent per --name.",
    )
    _global_options(start, suppress=True)
    start.add_argument("--name", help="job name; the job prefix is prepended if missing (default: "
                       "<job_prefix>-YYYYMMDD-HHMMSS)")
    start.add_argument("--prefix", help="images to label: key prefix or s3:// URI in the data bucket "
                       "(default: <prefix>/images/)")
    start.add_argument("--max-objects", type=_positive_int, help="stop after this many objects are labeled")
    start.add_argument("--local", action="store_true",
                       help="run the StartLabeling code in this process instead of invoking the function, with "
                       "the deployed function's LABELING_SETTINGS (read with lambda:GetFunctionConfiguration). "
                       "For the local emulator (`make demo`), which stores functions but cannot run them; S3 and "
                       "SageMaker calls then use your credentials, not the function's role")
    start.add_argument("--yes", action="store_true",
                       help="start without asking, even when the cost estimate is above "
                       "workflow.labeling.confirm_above_usd (for scripts; without a terminal and without --yes, "
                       "such a job is refused)")
    start.add_argument("--json", action="store_true",
                       help="print the Lambda's result as JSON; the cost estimate goes to stderr")
    start.set_defaults(handler=cmd_start_labeling)

    plan_labeling = commands.add_parser(
        "plan-labeling",
        help="dry run: the CreateLabelingJob request and files StartLabeling would produce",
        description="Build the StartLabeling Lambda's settings from the config and plan a labeling job for "
        "the given images with the Lambda's own planner. No SageMaker or Lambda call; the only AWS call "
        "is a read-only ListObjectsV2 when --images is an s3:// URI.",
    )
    _global_options(plan_labeling, suppress=True)
    plan_labeling.add_argument("--images", required=True, metavar="FILE_OR_DIR_OR_S3",
                               help="a directory (walked; keys <prefix>/images/<relative path>), a text file of keys "
                               "or s3:// URIs (one per line; sizes unknown), or s3://bucket/prefix (listed)")
    plan_labeling.add_argument("--name", help="job name (default: <job_prefix>-YYYYMMDD-HHMMSS, now)")
    plan_labeling.add_argument("--max-objects", type=_positive_int, help="stop after this many objects are labeled")
    plan_labeling.add_argument("--json", action="store_true",
                               help="print only the CreateLabelingJob request as JSON (for "
                               "`aws sagemaker create-labeling-job --cli-input-json`); notes go to stderr")
    _dry_run_options(plan_labeling)
    plan_labeling.set_defaults(handler=cmd_plan_labeling)

    plan_training = commands.add_parser(
        "plan-training",
        help="dry run: the split and the CreateTrainingJob (or tuning) request StartTraining would produce",
        description="Parse and split a Ground Truth output manifest with the StartTraining Lambda's code and "
        "print the split summary and the CreateTrainingJob request (CreateHyperParameterTuningJob when "
        "tuning.enabled). No AWS call for a local file; a read-only GetObject for an s3:// URI.",
    )
    _global_options(plan_training, suppress=True)
    plan_training.add_argument("--manifest", required=True, metavar="FILE_OR_S3",
                               help="output.manifest of a labeling job (local file or s3:// URI)")
    plan_training.add_argument("--label-attribute", required=True, metavar="ATTR",
                               help="the job's LabelAttributeName")
    plan_training.add_argument("--categories", metavar="FILE",
                               help="the job's label category JSON (default: the config's labels)")
    plan_training.add_argument("--job-name", metavar="LABELING_JOB",
                               help="the labeling job's name (seeds the split, names the training job); default: "
                               "read from the manifest's metadata or path")
    plan_training.add_argument("--json", action="store_true",
                               help='print {"summary": ..., "request": ...} as JSON; notes go to stderr')
    _dry_run_options(plan_training)
    plan_training.set_defaults(handler=cmd_plan_training)

    status_parser = commands.add_parser(
        "status",
        help="labeling progress, then the training (or tuning) job and the model",
        description="Show a labeling job (default: the newest with the job prefix) with a progress bar, the "
        "training or tuning job StartTraining derives from it, and the model RegisterModel creates.",
    )
    _global_options(status_parser, suppress=True)
    status_parser.add_argument("job", nargs="?", metavar="JOB", help="labeling job name (default: the newest)")
    status_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    status_parser.set_defaults(handler=cmd_status)

    preflight_parser = commands.add_parser(
        "preflight",
        help="check a real account before the first labeling job (read-only)",
        description="Check the deployed stacks, the data bucket and key, the roles' permissions (IAM policy "
        "simulator), the EventBridge rules, the work team and the SageMaker training quotas with read-only "
        "Describe/Get/List/Simulate calls. One line per check (PASS, WARN, FAIL and what to do); exit code 1 "
        "if any check FAILs. A check your credentials may not read is a WARN.",
    )
    _global_options(preflight_parser, suppress=True)
    preflight_parser.set_defaults(handler=cmd_preflight)
    _add_predict_parser(commands)
    _add_relabel_parser(commands)
    _add_evaluate_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 with usage on bad arguments
    try:
        return int(args.handler(Invocation(args)))
    except CliError as error:
        message, code = str(error), error.exit_code
    except ConfigError as error:
        message, code = str(error), EXIT_USAGE
    except (NoCredentialsError, PartialCredentialsError):
        message, code = NO_CREDENTIALS, EXIT_USAGE
    except ProfileNotFound as error:
        message, code = f"{error}: check AWS_PROFILE", EXIT_USAGE
    except EndpointConnectionError as error:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        hint = f" (AWS_ENDPOINT_URL={endpoint}: is the emulator running?)" if endpoint else ""
        message, code = f"{error}{hint}", EXIT_RUNTIME
    except ClientError as error:
        operation = getattr(error, "operation_name", "") or "AWS call"
        message = f"{operation} failed: {aws.error_code(error)}: {aws.error_message(error)}"
        if aws.error_code(error) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            message += " (check the permissions of your credentials)"
        elif aws.error_code(error) in ("UnrecognizedClientException", "InvalidClientTokenId",
                                       "ExpiredToken", "ExpiredTokenException"):
            message += " (your AWS credentials are invalid or expired)"
        code = EXIT_RUNTIME
    except BotoCoreError as error:
        message, code = str(error), EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
    print(f"error: {message}", file=sys.stderr)
    return code
