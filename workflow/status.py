"""`status`: one labeling job, the training or tuning job derived from it, and its model.

The names come from the Lambdas' own code (`training_request.training_job_name`,
`tuning_job_name`, `register_model.model_name`), so what is looked up here is exactly what
StartTraining and RegisterModel create. Anything not there yet reads "not started yet".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lambdas import evaluation_job, register_model, training_request
from workflow.aws import describe_or_none, is_not_found
from workflow.errors import CliError

BAR_WIDTH = 30
NOT_STARTED = "not started yet"
FINISHED = ("Completed", "Failed", "Stopped")


# --- progress bar ----------------------------------------------------------------------------


def progress_bar(counters: Mapping[str, Any], *, width: int = BAR_WIDTH) -> str:
    """`[#########x....] 45/100 labeled (45%)` from a labeling job's LabelCounters.

    `#` labeled (by people or machine), `x` failed, `.` not labeled yet.
    """
    labeled = int(counters.get("TotalLabeled", 0))
    failed = int(counters.get("FailedNonRetryableError", 0))
    unlabeled = int(counters.get("Unlabeled", 0))
    total = labeled + failed + unlabeled
    if total == 0:
        return f"[{'.' * width}] no objects counted yet"
    # Cumulative rounding: the segments always add up to `width`.
    labeled_cells = round(width * labeled / total)
    failed_cells = round(width * (labeled + failed) / total) - labeled_cells
    bar = "#" * labeled_cells + "x" * failed_cells + "." * (width - labeled_cells - failed_cells)
    # Floor: a job with one object left must not read 100%.
    percent = math.floor(100 * labeled / total)
    return f"[{bar}] {labeled:,}/{total:,} labeled ({percent}%)"


def counter_details(counters: Mapping[str, Any]) -> str:
    return (
        f"human {int(counters.get('HumanLabeled', 0)):,}, machine {int(counters.get('MachineLabeled', 0)):,}, "
        f"failed {int(counters.get('FailedNonRetryableError', 0)):,}, "
        f"unlabeled {int(counters.get('Unlabeled', 0)):,}"
    )


# --- the report ------------------------------------------------------------------------------


@dataclass
class StepStatus:
    """One step of the workflow: its kind, derived name and (if it exists) its state."""

    kind: str
    name: str | None
    status: str | None = None  # None: not started yet
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class StatusReport:
    labeling: StepStatus
    counters: dict[str, int]
    training: StepStatus
    model: StepStatus
    evaluation: StepStatus | None = None  # None: evaluation.enabled is false (`evaluation_step`)

    def as_dict(self) -> dict[str, Any]:
        steps = {"labeling": {**asdict(self.labeling), "counters": self.counters},
                 "training": asdict(self.training), "model": asdict(self.model)}
        if self.evaluation is not None:
            steps["evaluation"] = asdict(self.evaluation)
        return steps


def newest_labeling_job(sagemaker: Any, job_prefix: str) -> str | None:
    response = sagemaker.list_labeling_jobs(
        NameContains=job_prefix, SortBy="CreationTime", SortOrder="Descending", MaxResults=10
    )
    # NameContains matches anywhere in the name; ours start with the prefix.
    for summary in response.get("LabelingJobSummaryList", ()):
        if summary["LabelingJobName"].startswith(f"{job_prefix}-"):
            return str(summary["LabelingJobName"])
    return None


def describe_labeling_job(sagemaker: Any, name: str, job_prefix: str) -> dict[str, Any]:
    """The job by name; a name without the prefix is also tried with it, as StartLabeling names jobs."""
    candidates = [name] if name.startswith(f"{job_prefix}-") else [name, f"{job_prefix}-{name}"]
    for candidate in candidates:
        try:
            return dict(sagemaker.describe_labeling_job(LabelingJobName=candidate))
        except ClientError as error:
            if not is_not_found(error):
                raise
    raise CliError(f"no labeling job named {name}" + (f" (nor {candidates[1]})" if len(candidates) > 1 else ""))


def _time(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else None


def collect(sagemaker: Any, *, job_prefix: str, tuning_enabled: bool, job_name: str | None) -> StatusReport:
    if job_name is None:
        job_name = newest_labeling_job(sagemaker, job_prefix)
        if job_name is None:
            raise CliError(f"no labeling jobs named {job_prefix}-* yet: start one with "
                           "`python -m workflow start-labeling`")
    job = describe_labeling_job(sagemaker, job_name, job_prefix)
    name = job["LabelingJobName"]
    labeling = StepStatus("labeling job", name, job["LabelingJobStatus"], {
        key: value for key, value in {
            "arn": job.get("LabelingJobArn"),
            "created": _time(job.get("CreationTime")),
            "failure_reason": job.get("FailureReason"),
            "output_manifest": (job.get("LabelingJobOutput") or {}).get("OutputDatasetS3Uri"),
        }.items() if value
    })
    counters = {key: int(value) for key, value in (job.get("LabelCounters") or {}).items()}
    training = training_step(sagemaker, name, tuning_first=tuning_enabled)
    model = model_step(sagemaker, training)
    return StatusReport(labeling=labeling, counters=counters, training=training, model=model)


def training_step(sagemaker: Any, labeling_job: str, *, tuning_first: bool) -> StepStatus:
    """The training or tuning job StartTraining names after the labeling job, if either exists.

    Both are looked up (the config's choice first): the deployed config may differ from the
    local one.
    """
    lookups = [("training", training_request.training_job_name(labeling_job)),
               ("tuning", training_request.tuning_job_name(labeling_job))]
    if tuning_first:
        lookups.reverse()
    for kind, job_name in lookups:
        if kind == "training":
            found = describe_or_none(sagemaker.describe_training_job, TrainingJobName=job_name)
            if found is not None:
                return StepStatus("training job", job_name, found["TrainingJobStatus"], _drop_empty({
                    "secondary_status": found.get("SecondaryStatus"),
                    "failure_reason": found.get("FailureReason"),
                    "created": _time(found.get("CreationTime")),
                    "model_artifacts": (found.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
                    "billable_seconds": found.get("BillableTimeInSeconds"),
                }))
        else:
            found = describe_or_none(sagemaker.describe_hyper_parameter_tuning_job,
                                     HyperParameterTuningJobName=job_name)
            if found is not None:
                return StepStatus("tuning job", job_name, found["HyperParameterTuningJobStatus"], _drop_empty({
                    "failure_reason": found.get("FailureReason"),
                    "created": _time(found.get("CreationTime")),
                    "training_jobs": found.get("TrainingJobStatusCounters"),
                    "best_training_job": (found.get("BestTrainingJob") or {}).get("TrainingJobName"),
                }))
    kind, job_name = lookups[0]
    return StepStatus(f"{kind} job", job_name)


def model_step(sagemaker: Any, training: StepStatus) -> StepStatus:
    """The model RegisterModel creates: named after the training job (a tuning job's best one)."""
    source = training.details.get("best_training_job") if training.kind == "tuning job" else training.name
    if training.status is None or not source:
        return StepStatus("model", None)
    name = register_model.model_name(source)
    found = describe_or_none(sagemaker.describe_model, ModelName=name)
    if found is None:
        return StepStatus("model", name)
    return StepStatus("model", name, "Created", _drop_empty({
        "arn": found.get("ModelArn"),
        "created": _time(found.get("CreationTime")),
        "model_data": (found.get("PrimaryContainer") or {}).get("ModelDataUrl"),
    }))


def _drop_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value not in (None, "", {})}


# --- printing --------------------------------------------------------------------------------


def describe(report: StatusReport, *, prog: str = "python -m workflow") -> list[str]:
    labeling = report.labeling
    lines = [f"Labeling job {labeling.name}: {labeling.status}",
             f"  {progress_bar(report.counters)}",
             f"  {counter_details(report.counters)}"]
    lines.extend(_detail_lines(labeling.details))

    training = report.training
    if training.status is None:
        hint = ""
        if labeling.status == "Completed":
            hint = (" (StartTraining runs when the labeling job completes; if it skipped training, the reason is "
                    "in the alerts topic and in summary.json under <prefix>/training/<job>/)")
        elif labeling.status in ("Failed", "Stopped"):
            hint = " (the labeling job did not complete: no training will start)"
        lines.append(f"{training.kind.capitalize()} {training.name}: {NOT_STARTED}{hint}")
    else:
        lines.append(f"{training.kind.capitalize()} {training.name}: {training.status}")
        lines.extend(_detail_lines(training.details))

    model = report.model
    if model.status is None:
        lines.append(f"Model {model.name}: {NOT_STARTED}" if model.name else f"Model: {NOT_STARTED}")
    else:
        lines.append(f"Model {model.name}: {model.status}")
        lines.extend(_detail_lines(model.details))
    evaluation = report.evaluation
    if evaluation is not None:
        head = f"Evaluation {evaluation.name}" if evaluation.name else "Evaluation"
        lines.append(f"{head}: {evaluation.status or NOT_STARTED}")
        lines.extend(_detail_lines(evaluation.details))
    if labeling.status not in FINISHED:
        lines.append(f"Run `{prog} status {labeling.name}` again to follow it.")
    return lines


def _detail_lines(details: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, value in details.items():
        shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, Mapping) else value
        lines.append(f"  {key.replace('_', ' ')}: {shown}")
    return lines


# --- the labeling team -------------------------------------------------------------------------

PUBLIC_CROWD = "/public-crowd/"
VENDOR_CROWD = "/vendor-crowd/"
# Cognito's UserStatus of a worker who signed in and chose a password (accepted the invitation); an invited worker
# who has not is FORCE_CHANGE_PASSWORD (AdminCreateUser).
# https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_UserType.html
ACCEPTED = "CONFIRMED"


@dataclass
class TeamStatus:
    """Who labels: the work team, its portal and how many invited workers accepted (Cognito teams)."""

    kind: str
    name: str | None = None
    portal_url: str | None = None
    invited: int | None = None
    accepted: int | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"Team: {self.kind}" + (f" {self.name}" if self.name else "")
        lines = [head]
        if self.portal_url:
            lines.append(f"  labeling portal: {self.portal_url}")
        if self.invited is not None:
            lines.append(f"  workers: {self.accepted} of {self.invited} invited accepted "
                         "(signed in and set a password)")
        lines.extend(f"  {note}" for note in self.notes)
        return lines


def team_status(client: Callable[[str], Any], workteam_arn: str | None) -> TeamStatus:
    """The team behind `workteam_arn` (the stack's LabelingWorkteamArn output); `client(service)` makes a client,
    only for the calls a team needs (none for Mechanical Turk)."""
    if not workteam_arn:
        return TeamStatus("unknown", notes=["the Workflow stack has no LabelingWorkteamArn output"])
    if PUBLIC_CROWD in workteam_arn:
        return TeamStatus("Amazon Mechanical Turk (public crowd)")
    name = workteam_arn.rsplit("/", 1)[-1]
    kind = "vendor team" if VENDOR_CROWD in workteam_arn else "private team"
    try:
        team = client("sagemaker").describe_workteam(WorkteamName=name)["Workteam"]
    except ClientError as error:
        return TeamStatus(kind, name, notes=[f"DescribeWorkteam failed: {error.response['Error'].get('Code')}"])
    status = TeamStatus(kind, name)
    if team.get("SubDomain"):
        status.portal_url = f"https://{team['SubDomain']}"
    for member in team.get("MemberDefinitions", []):
        group = member.get("CognitoMemberDefinition")
        if group is None:
            status.notes.append("members come from an OIDC identity provider's groups: count them there")
            continue
        try:
            users = _group_users(client("cognito-idp"), group["UserPool"], group["UserGroup"])
        except ClientError as error:
            status.notes.append(f"ListUsersInGroup({group['UserGroup']}) failed: "
                                f"{error.response['Error'].get('Code')}")
            continue
        status.invited = (status.invited or 0) + len(users)
        status.accepted = (status.accepted or 0) + sum(1 for user in users if user.get("UserStatus") == ACCEPTED)
    if status.invited == 0:
        status.notes.append("nobody is in the team yet: invite workers (workflow.workforce.worker_emails or the "
                            "SageMaker console); labeling tasks wait until enough workers accept")
    return status


def _group_users(cognito: Any, pool: str, group: str) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"UserPoolId": pool, "GroupName": group}
    while True:
        page = cognito.list_users_in_group(**kwargs)
        users.extend(page.get("Users", []))
        if not page.get("NextToken"):
            return users
        kwargs["NextToken"] = page["NextToken"]


# --- the endpoint (only with endpoint.enabled) ----------------------------------------------------------


@dataclass
class EndpointStatus:
    """The endpoint an approved model package version is deployed to: name, status, mode, what it serves."""

    name: str
    status: str | None = None  # None: not deployed (nothing approved yet, rejected, or deleted when idle)
    mode: str | None = None  # "serverless 2048 MB, max concurrency 2" or "instance ml.m5.large x 1"
    config: str | None = None
    failure_reason: str | None = None

    def lines(self) -> list[str]:
        if self.status is None:
            return [f"Endpoint {self.name}: not deployed (approving a model package version deploys it; a real-time "
                    "endpoint is also deleted after its idle minutes, and approving again brings it back)"]
        lines = [f"Endpoint {self.name}: {self.status}" + (f" ({self.mode})" if self.mode else "")]
        if self.config:
            lines.append(f"  endpoint config: {self.config}")
        if self.failure_reason:
            lines.append(f"  failure reason: {self.failure_reason}")
        return lines


def endpoint_status(sagemaker: Any, name: str) -> EndpointStatus:
    """DescribeEndpoint of `name` (the Deployment function's `<job_prefix>-endpoint`), summarised; a real-time
    endpoint's instance type is its config's (DescribeEndpoint reports only the instance count)."""
    described = describe_or_none(sagemaker.describe_endpoint, EndpointName=name)
    if described is None:
        return EndpointStatus(name)
    config_name = described.get("EndpointConfigName")
    config = None
    if config_name and not _serverless(described):
        config = describe_or_none(sagemaker.describe_endpoint_config, EndpointConfigName=config_name)
    return EndpointStatus(name, status=described.get("EndpointStatus"), mode=endpoint_mode(described, config),
                          config=config_name, failure_reason=described.get("FailureReason"))


def _serverless(described: Mapping[str, Any]) -> Mapping[str, Any] | None:
    variants = described.get("ProductionVariants") or [{}]
    return variants[0].get("CurrentServerlessConfig") or variants[0].get("DesiredServerlessConfig")


def endpoint_mode(described: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> str | None:
    """Serverless (memory, concurrency) or real-time (instance type from the config, instance count)."""
    variants = described.get("ProductionVariants") or []
    configured = ((config or {}).get("ProductionVariants") or [{}])[0]
    # While the endpoint is being created it may report no variants yet: the config says what it will be.
    serverless = _serverless(described) or configured.get("ServerlessConfig")
    if serverless:
        return (f"serverless {serverless.get('MemorySizeInMB')} MB, max concurrency "
                f"{serverless.get('MaxConcurrency')}")
    instance = configured.get("InstanceType") or "real-time"
    count = variants[0].get("CurrentInstanceCount", configured.get("InitialInstanceCount", "?")) if variants else "?"
    return f"instance {instance} x {count}"


# --- the evaluation (only with evaluation.enabled) -------------------------------------------------------


def evaluation_step(sagemaker: Any, model: StepStatus, *,
                    fetch_metrics: Callable[[str], tuple[Mapping[str, Any], str]]) -> StepStatus:
    """The evaluation RegisterModel starts for the model: its transform job (named like the model) and, once
    it completed, the accuracy and the report's location from `fetch_metrics(job)` -> (metrics.json, report
    URI), called only then; what it raises (no metrics yet, an unreadable stack) becomes a detail line."""
    if model.status is None or not model.name:
        return StepStatus("evaluation", None)
    name = evaluation_job.transform_job_name(model.name)
    job = describe_or_none(sagemaker.describe_transform_job, TransformJobName=name)
    if job is None:
        return StepStatus("evaluation", name)
    details = _drop_empty({
        "failure_reason": job.get("FailureReason"),
        "instance": (job.get("TransformResources") or {}).get("InstanceType"),
        "created": _time(job.get("CreationTime")),
    })
    if job.get("TransformJobStatus") == "Completed":
        try:
            metrics, report = fetch_metrics(name)
            counts = metrics["counts"]
            details["accuracy"] = (f"{metrics['accuracy'] * 100:.1f}% ({counts['correct']}/{counts['evaluated']} "
                                   "validation objects)")
            details["report"] = report
        except (CliError, ClientError, ValueError, KeyError, TypeError) as error:
            details["metrics"] = (f"not readable ({error}): the Evaluation function writes them when the transform "
                                  "job ends; its alerts say why if not")
    return StepStatus("evaluation", name, str(job.get("TransformJobStatus")), details)
