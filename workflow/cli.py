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

from lambdas import labeling_request, start_labeling
from lambdas.settings import LABELING_SETTINGS_VAR, SettingsError
from stacks.config import CONTEXT_KEY, ConfigError
from workflow import aws, local, outputs, plans, preflight, status
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


def run_start_labeling_locally(lambda_client: Any, function: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """Run the StartLabeling handler in this process with the deployed function's settings."""
    deployed = local.deployed_function(lambda_client, function)
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
    if args.local:
        result = run_start_labeling_locally(run.client("lambda"), function, event)
    else:
        result = invoke_start_labeling(run.client("lambda", config=_INVOKE_CONFIG), function, event)
    if args.json:
        print_json(result)
        return 0
    print("\n".join(describe_start_result(result, workteam_arn=workflow_stack.workteam_arn(),
                                          portal_url=workflow_stack.get(outputs.LABELING_PORTAL_URL))))
    return 0


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
    if args.json:
        for note in notes:
            warn(note)
        print(plans.request_json(plan.request))
        return 0
    print("\n".join(describe_labeling_plan(plan, listing, notes)))
    return 0


def describe_labeling_plan(plan: Any, listing: plans.ImageListing, notes: Sequence[str]) -> list[str]:
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
    lines.append("CreateLabelingJob request (`--json` prints it alone, for `aws sagemaker create-labeling-job "
                 "--cli-input-json`):")
    lines.append(plans.request_json(plan.request))
    return lines


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
    try:
        team = status.team_status(run.client, run.stack("workflow").get(outputs.LABELING_WORKTEAM_ARN))
    except CliError as error:  # the jobs' status stands on its own; say why the team is not shown
        team = status.TeamStatus("unknown", notes=[str(error)])
    if run.args.json:
        print_json({**report.as_dict(), "team": dataclasses.asdict(team)})
    else:
        print("\n".join([*status.describe(report, prog=PROG), *team.lines()]))
    return 0


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
        description="Invoke the deployed StartLabeling Lambda synchronously and print the job it started: "
        "name, ARN, object count, skipped objects and the console link. Idempotent per --name.",
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
    start.add_argument("--json", action="store_true", help="print the Lambda's result as JSON")
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
