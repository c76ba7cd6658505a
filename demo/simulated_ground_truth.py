"""A simulated SageMaker Ground Truth inside the local emulator (moto has no labeling jobs).

moto 5.2 answers `CreateLabelingJob`, `DescribeLabelingJob` and `ListLabelingJobs` with
"not implemented". `simulated_ground_truth(endpoint_url)` adds the three operations to the
in-process moto server for as long as the context is open:

- CreateLabelingJob checks the request against botocore's SageMaker model (what the SDK
  checks, plus the length/pattern/enum constraints only the service enforces, plus a few
  Ground Truth rules from the CreateLabelingJob API reference) and answers `ValidationException` like SageMaker;
  a name used before in the account and region gets `ResourceInUse`.
- DescribeLabelingJob answers in botocore's response shape: `InProgress` until the demo
  "labels" the job, then `Completed` with counters and the output manifest's URI. An
  unknown name gets `ValidationException` "Could not find requested job with name <name>".
- ListLabelingJobs supports StatusEquals, NameContains, SortBy/SortOrder and paging.

There are no workers. `SimulatedGroundTruth.complete_job(name, labeler)` plays them: it
reads the job's input manifest and label categories from the emulator's S3, asks `labeler`
for each object's class (None = the object failed labeling), writes a real-format
`output.manifest` where Ground Truth writes it, marks the job Completed and emits the
`aws.sagemaker` state-change event to the emulator's default event bus.

About that event: real PutEvents refuses sources starting with `aws.` (only AWS services may
send them); moto accepts them, and the simulator plays the AWS service here. The emulator
cannot run the Lambda targets of a rule (it holds those deliveries, see
`demo.emulator.held_deliveries`), so `complete_job` also returns the event envelope for
in-process delivery with `demo.events.deliver`.

How it hooks in: methods on `moto.sagemaker.responses.SageMakerResponse` (see
`demo.emulator.patched_attributes`); works with a server that is already running
and is removed on exit. Only one simulator can be installed at a time in a process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import ListShape, Shape, StructureShape
from botocore.session import get_session
from botocore.validate import validate_parameters
from moto.core.responses import ActionResult, BaseResponse
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.responses import SageMakerResponse

from demo.emulator import FAKE_CREDENTIALS, patched_attributes
from demo.events import Event, labeling_job_state_change, put_event_entry, sagemaker_arn

# Given an object's `source-ref`, the class a worker picks, or None if labeling it fails.
Labeler = Callable[[str], str | None]

IMAGE_CLASSIFICATION_TYPE = "groundtruth/image-classification"
DEFAULT_FAILURE_REASON = (
    "ClientError: Annotation tasks expired. No worker annotated this data object within the task availability lifetime."
)
# Ground Truth's public (Mechanical Turk) workforce, owned by this AWS account in every region.
PUBLIC_WORKTEAM_ACCOUNT = "394669845002"
STATUSES = ("Initializing", "InProgress", "Completed", "Failed", "Stopping", "Stopped")

_SAGEMAKER_MODEL = get_session().get_service_model("sagemaker")


class SimulatorError(RuntimeError):
    """The demo asked the simulator for something Ground Truth would never do."""


# --- Request validation --------------------------------------------------------------------


def request_errors(operation: str, params: Mapping[str, Any]) -> list[str]:
    """Everything SageMaker would reject in `params`, as AWS-style messages (empty: valid).

    botocore's own validator checks types, required members, unknown keys and minimums
    (what the SDK checks before sending); `_constraint_errors` adds the maximum lengths,
    patterns and enums that only the service checks.
    """
    input_shape = _SAGEMAKER_MODEL.operation_model(operation).input_shape
    errors: list[str] = []
    try:
        validate_parameters(dict(params), input_shape)
    except ParamValidationError as error:
        report = str(error.kwargs.get("report", error))
        errors.extend(line.strip() for line in report.splitlines() if line.strip())
    errors.extend(_constraint_errors(params, input_shape, ""))
    return errors


def _aws_path(path: str, member: str) -> str:
    camel = member[:1].lower() + member[1:]
    return f"{path}.{camel}" if path else camel


def _constraint_errors(value: Any, shape: Shape, path: str) -> list[str]:
    metadata = shape.metadata
    errors: list[str] = []

    def violated(constraint: str) -> None:
        shown = "null" if value is None else f"'{value}'"
        errors.append(f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}")

    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        for name, member_shape in shape.members.items():
            if name in value:
                errors.extend(_constraint_errors(value[name], member_shape, _aws_path(path, name)))
    elif isinstance(shape, ListShape) and isinstance(value, list):
        if "max" in metadata and len(value) > metadata["max"]:
            violated(f"Member must have length less than or equal to {metadata['max']}")
        for index, item in enumerate(value, start=1):
            errors.extend(_constraint_errors(item, shape.member, f"{path}.{index}.member"))
    elif shape.type_name == "string" and isinstance(value, str):
        if "max" in metadata and len(value) > metadata["max"]:
            violated(f"Member must have length less than or equal to {metadata['max']}")
        if shape.enum and value not in shape.enum:
            violated(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        pattern = metadata.get("pattern")
        if pattern and not _full_match(pattern, value):
            violated(f"Member must satisfy regular expression pattern: {pattern}")
    elif (
        shape.type_name in ("integer", "long")
        and isinstance(value, int)
        and "max" in metadata
        and value > metadata["max"]
    ):
        violated(f"Member must have value less than or equal to {metadata['max']}")
    return errors


def _full_match(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        # Java-only syntax (`\p{L}` in tag patterns): leave that check to AWS.
        return True


def _ground_truth_errors(params: Mapping[str, Any]) -> list[str]:
    """Rules of CreateLabelingJob that the model's shapes cannot express (its API reference)."""
    errors: list[str] = []
    attribute = params.get("LabelAttributeName")
    if isinstance(attribute, str) and attribute.endswith("-metadata"):
        errors.append(
            f"LabelAttributeName '{attribute}' must not end with '-metadata': Ground Truth "
            "writes '<LabelAttributeName>-metadata' next to each label"
        )
    human = params.get("HumanTaskConfig")
    workteam = human.get("WorkteamArn", "") if isinstance(human, Mapping) else ""
    if isinstance(workteam, str) and f":{PUBLIC_WORKTEAM_ACCOUNT}:workteam/public-crowd/" in workteam:
        if "PublicWorkforceTaskPrice" not in human:
            errors.append("PublicWorkforceTaskPrice is required for the public workforce")
        input_config = params.get("InputConfig")
        attributes = input_config.get("DataAttributes", {}) if isinstance(input_config, Mapping) else {}
        classifiers = attributes.get("ContentClassifiers", []) if isinstance(attributes, Mapping) else []
        if "FreeOfPersonallyIdentifiableInformation" not in classifiers:
            errors.append(
                "InputConfig.DataAttributes.ContentClassifiers must contain "
                "FreeOfPersonallyIdentifiableInformation for the public workforce"
            )
    return errors


def _raise_if_invalid(errors: list[str]) -> None:
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(errors))


# --- Jobs ----------------------------------------------------------------------------------


@dataclass
class SimulatedLabelingJob:
    """One labeling job as the simulator holds it (the request plus what SageMaker adds)."""

    request: dict[str, Any]
    account: str
    region: str
    created: datetime
    status: str = "InProgress"
    modified: datetime | None = None
    failure_reason: str | None = None
    output_manifest_uri: str | None = None
    counters: dict[str, int] = field(
        default_factory=lambda: {
            "TotalLabeled": 0,
            "HumanLabeled": 0,
            "MachineLabeled": 0,
            "FailedNonRetryableError": 0,
            "Unlabeled": 0,
        }
    )

    @property
    def name(self) -> str:
        return str(self.request["LabelingJobName"])

    @property
    def arn(self) -> str:
        return sagemaker_arn("labeling-job", self.name, region=self.region, account=self.account)

    def describe(self) -> dict[str, Any]:
        """The DescribeLabelingJob response (botocore's DescribeLabelingJobResponse shape)."""
        passthrough = (
            "LabelingJobName",
            "LabelAttributeName",
            "InputConfig",
            "OutputConfig",
            "RoleArn",
            "LabelCategoryConfigS3Uri",
            "StoppingConditions",
            "LabelingJobAlgorithmsConfig",
            "HumanTaskConfig",
            "Tags",
        )
        response: dict[str, Any] = {k: self.request[k] for k in passthrough if k in self.request}
        response.update(
            LabelingJobStatus=self.status,
            LabelCounters=dict(self.counters),
            CreationTime=self.created,
            LastModifiedTime=self.modified or self.created,
            JobReferenceCode=self.account + _reference_suffix(self.name),
            LabelingJobArn=self.arn,
        )
        if self.failure_reason is not None:
            response["FailureReason"] = self.failure_reason
        if self.output_manifest_uri is not None:
            response["LabelingJobOutput"] = {"OutputDatasetS3Uri": self.output_manifest_uri}
        return response

    def summary(self) -> dict[str, Any]:
        """One entry of ListLabelingJobs (botocore's LabelingJobSummary shape)."""
        human = self.request["HumanTaskConfig"]
        summary: dict[str, Any] = {
            "LabelingJobName": self.name,
            "LabelingJobArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified or self.created,
            "LabelingJobStatus": self.status,
            "LabelCounters": dict(self.counters),
            "WorkteamArn": human["WorkteamArn"],
            "InputConfig": self.request["InputConfig"],
        }
        if "PreHumanTaskLambdaArn" in human:
            summary["PreHumanTaskLambdaArn"] = human["PreHumanTaskLambdaArn"]
        consolidation = human.get("AnnotationConsolidationConfig", {})
        if "AnnotationConsolidationLambdaArn" in consolidation:
            summary["AnnotationConsolidationLambdaArn"] = consolidation["AnnotationConsolidationLambdaArn"]
        if self.failure_reason is not None:
            summary["FailureReason"] = self.failure_reason
        if self.output_manifest_uri is not None:
            summary["LabelingJobOutput"] = {"OutputDatasetS3Uri": self.output_manifest_uri}
        return summary


def _reference_suffix(name: str) -> str:
    # Real codes look like '<account><16 letters/digits>'; derived from the name here so that
    # runs are reproducible.
    return hashlib.sha256(name.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LabelingOutcome:
    """What `complete_job` did: where the output is, the counts, and the event it emitted."""

    job_name: str
    job_arn: str
    output_manifest_uri: str
    labeled: int
    failed: int
    event: Event


def output_manifest_uri(s3_output_path: str, job_name: str) -> str:
    """Where Ground Truth writes a job's output manifest."""
    return f"{s3_output_path.rstrip('/')}/{job_name}/manifests/output/output.manifest"


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if not match:
        raise SimulatorError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


class SimulatedGroundTruth:
    """Labeling jobs held in this process, served through the emulator's SageMaker API."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.endpoint_url = endpoint_url
        self._clock = clock
        self._jobs: dict[tuple[str, str, str], SimulatedLabelingJob] = {}
        self._lock = threading.Lock()

    # -- the three API operations (called from the emulator's request threads) --------------

    def create_labeling_job(self, account: str, region: str, params: dict[str, Any]) -> dict[str, str]:
        _raise_if_invalid(request_errors("CreateLabelingJob", params) or _ground_truth_errors(params))
        key = (account, region, params["LabelingJobName"])
        with self._lock:
            if key in self._jobs:
                existing = self._jobs[key]
                # Modelled on SageMaker's wording for training jobs; the code is what matters.
                raise ResourceInUseException(
                    "Labeling job names must be unique within an AWS account and region, and "
                    f"a labeling job with this name already exists ({existing.arn})"
                )
            job = SimulatedLabelingJob(
                request=json.loads(json.dumps(params)),
                account=account,
                region=region,
                created=self._clock(),
            )
            self._jobs[key] = job
        return {"LabelingJobArn": job.arn}

    def describe_labeling_job(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        _raise_if_invalid(request_errors("DescribeLabelingJob", params))
        return self._job(account, region, params["LabelingJobName"]).describe()

    def list_labeling_jobs(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        _raise_if_invalid(request_errors("ListLabelingJobs", params))
        with self._lock:
            jobs = [j for (a, r, _), j in self._jobs.items() if (a, r) == (account, region)]
        if "StatusEquals" in params:
            jobs = [j for j in jobs if j.status == params["StatusEquals"]]
        if "NameContains" in params:
            jobs = [j for j in jobs if params["NameContains"].lower() in j.name.lower()]
        sort_keys: dict[str, Callable[[SimulatedLabelingJob], Any]] = {
            "Name": lambda j: j.name,
            "CreationTime": lambda j: j.created,
            "Status": lambda j: j.status,
        }
        jobs.sort(
            key=sort_keys[params.get("SortBy", "CreationTime")],
            reverse=params.get("SortOrder", "Ascending") == "Descending",
        )
        start = int(params.get("NextToken", "0"))
        size = int(params.get("MaxResults", 10))
        page = jobs[start : start + size]
        response: dict[str, Any] = {"LabelingJobSummaryList": [j.summary() for j in page]}
        if start + size < len(jobs):
            response["NextToken"] = str(start + size)
        return response

    def _job(self, account: str, region: str, name: str) -> SimulatedLabelingJob:
        with self._lock:
            job = self._jobs.get((account, region, name))
        if job is None:
            raise ValidationError(f"Could not find requested job with name {name}")
        return job

    # -- the workers ------------------------------------------------------------------------

    def job(self, name: str, *, region: str | None = None) -> SimulatedLabelingJob:
        """The simulated job called `name` (in `region`, if jobs of that name exist in several)."""
        with self._lock:
            found = [j for (_, r, n), j in self._jobs.items() if n == name and region in (None, r)]
        if len(found) != 1:
            where = f" in {region}" if region else ""
            raise SimulatorError(
                f"expected one labeling job named {name!r}{where}, found {len(found)}; "
                "was CreateLabelingJob called against this emulator?"
            )
        return found[0]

    def complete_job(
        self,
        name: str,
        labeler: Labeler,
        *,
        region: str | None = None,
        confidence: float | Callable[[str], float] = 0.95,
        failure_reason: str = DEFAULT_FAILURE_REASON,
    ) -> LabelingOutcome:
        """Label every object as workers would, write output.manifest, complete, emit the event.

        `confidence`: the consolidated label's score, one for all or per `source-ref` (a relabel
        test needs some below a threshold)."""
        job = self.job(name, region=region)
        if job.status != "InProgress":
            raise SimulatorError(f"labeling job {name!r} is {job.status}, not InProgress")
        s3 = self._client("s3", job)
        categories = self._read_categories(s3, job)
        attribute = job.request["LabelAttributeName"]
        now = self._clock()
        lines: list[str] = []
        labeled = failed = 0
        for record in self._read_manifest(s3, job):
            source_ref = record.get("source-ref")
            if not isinstance(source_ref, str):
                raise SimulatorError(
                    f"input manifest line {record!r} has no 'source-ref'; image classification needs one per object"
                )
            label = labeler(source_ref)
            metadata: dict[str, Any]
            if label is None:
                metadata = {
                    "failure-reason": failure_reason,
                    "type": IMAGE_CLASSIFICATION_TYPE,
                    "job-name": f"labeling-job/{name}",
                    "creation-date": _creation_date(now),
                }
                failed += 1
            else:
                if label not in categories:
                    raise SimulatorError(
                        f"labeler returned {label!r} for {source_ref}; the job's label categories are {categories}"
                    )
                record[attribute] = categories.index(label)
                metadata = {
                    "class-name": label,
                    "confidence": confidence(source_ref) if callable(confidence) else confidence,
                    "type": IMAGE_CLASSIFICATION_TYPE,
                    "job-name": f"labeling-job/{name}",
                    "human-annotated": "yes",
                    "creation-date": _creation_date(now),
                }
                labeled += 1
            record[f"{attribute}-metadata"] = metadata
            lines.append(json.dumps(record))
        output_uri = output_manifest_uri(job.request["OutputConfig"]["S3OutputPath"], name)
        bucket, key = split_s3_uri(output_uri)
        s3.put_object(Bucket=bucket, Key=key, Body="".join(f"{line}\n" for line in lines).encode())
        with self._lock:
            job.status = "Completed"
            job.modified = now
            job.output_manifest_uri = output_uri
            job.counters.update(
                TotalLabeled=labeled,
                HumanLabeled=labeled,
                MachineLabeled=0,
                FailedNonRetryableError=failed,
                Unlabeled=0,
            )
        event = self.emit_state_change(name, region=job.region)
        return LabelingOutcome(name, job.arn, output_uri, labeled, failed, event)

    def fail_job(self, name: str, reason: str, *, region: str | None = None) -> Event:
        """Mark the job Failed with `reason` (no output) and emit the state-change event."""
        job = self.job(name, region=region)
        if job.status != "InProgress":
            raise SimulatorError(f"labeling job {name!r} is {job.status}, not InProgress")
        with self._lock:
            job.status = "Failed"
            job.failure_reason = reason
            job.modified = self._clock()
        return self.emit_state_change(name, region=job.region)

    def emit_state_change(self, name: str, *, region: str | None = None) -> Event:
        """Send the job's current state to the default event bus; return the envelope.

        Calling it again re-sends the same state change, as SageMaker sometimes does.
        """
        job = self.job(name, region=region)
        event = labeling_job_state_change(
            job.name,
            job.status,
            region=job.region,
            account=job.account,
            time=job.modified or job.created,
        )
        try:
            response = self._client("events", job).put_events(Entries=[put_event_entry(event)])
        except ClientError as error:
            # Emulator quirk: moto's PutEvents fails (HTTP 500) when a matching rule targets a
            # Lambda function, which it cannot invoke. The caller delivers the returned event
            # in-process through the rule's pattern (demo.events.deliver), as designed.
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500:
                raise
            return event
        entry = response["Entries"][0]
        if "EventId" not in entry:
            raise SimulatorError(f"the emulator refused the labeling event: {entry}")
        event["id"] = entry["EventId"]
        return event

    # -- helpers ----------------------------------------------------------------------------

    def _client(self, service: str, job: SimulatedLabelingJob) -> Any:
        client = boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=job.region,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        )

        # The fake credentials map to moto's default account; name the job's account
        # explicitly so a job created in another (emulated) account is served from it.
        def add_account_header(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = job.account

        client.meta.events.register("before-sign.*.*", add_account_header)
        return client

    def _read_categories(self, s3: Any, job: SimulatedLabelingJob) -> list[str]:
        uri = job.request.get("LabelCategoryConfigS3Uri")
        if not uri:
            raise SimulatorError(
                f"labeling job {job.name!r} has no LabelCategoryConfigS3Uri; built-in image "
                "classification needs the label categories file"
            )
        bucket, key = split_s3_uri(uri)
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        labels = [entry["label"] for entry in document.get("labels", [])]
        if len(labels) < 2:
            raise SimulatorError(f"{uri} lists {len(labels)} label(s); Ground Truth needs at least 2")
        return labels

    def _read_manifest(self, s3: Any, job: SimulatedLabelingJob) -> Iterator[dict[str, Any]]:
        uri = job.request["InputConfig"]["DataSource"].get("S3DataSource", {}).get("ManifestS3Uri")
        if not uri:
            raise SimulatorError(f"labeling job {job.name!r} has no S3 input manifest")
        bucket, key = split_s3_uri(uri)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        for raw in body.iter_lines():
            if raw.strip():
                yield json.loads(raw)


def _creation_date(moment: datetime) -> str:
    # Ground Truth writes e.g. "2018-10-18T22:18:13.527256" (UTC, no zone suffix).
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


# --- Installing into moto ------------------------------------------------------------------

_INSTALL_LOCK = threading.Lock()
_active: SimulatedGroundTruth | None = None


def _simulator() -> SimulatedGroundTruth:
    if _active is None:  # a request raced the uninstall
        raise ValidationError("The simulated Ground Truth is not installed")
    return _active


def _params(response: SageMakerResponse) -> dict[str, Any]:
    # The raw JSON body, not moto's parsed parameters: validation must see what was sent.
    try:
        params = json.loads(response.body or "{}")
    except ValueError as error:
        raise ValidationError(f"Request body is not valid JSON: {error}") from error
    if not isinstance(params, dict):
        raise ValidationError("Request body must be a JSON object")
    return params


def _parse_parameters(self: SageMakerResponse, request: Any) -> None:
    # moto parses every SageMaker request against the model before dispatching, and a
    # wrongly typed value ("three" for an integer) crashes that parser with HTTP 500. For
    # our operations, skip it: `_params` reads the raw body and validation answers 400.
    if self._get_action() in _LABELING_ACTIONS:
        self.params = {}
        return
    BaseResponse.parse_parameters(self, request)


_LABELING_ACTIONS = ("CreateLabelingJob", "DescribeLabelingJob", "ListLabelingJobs")


def _create_labeling_job(self: SageMakerResponse) -> ActionResult:
    return ActionResult(_simulator().create_labeling_job(self.current_account, self.region, _params(self)))


def _describe_labeling_job(self: SageMakerResponse) -> ActionResult:
    return ActionResult(_simulator().describe_labeling_job(self.current_account, self.region, _params(self)))


def _list_labeling_jobs(self: SageMakerResponse) -> ActionResult:
    return ActionResult(_simulator().list_labeling_jobs(self.current_account, self.region, _params(self)))


@contextlib.contextmanager
def simulated_ground_truth(
    endpoint_url: str,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[SimulatedGroundTruth]:
    """Install the simulated Ground Truth in this process's moto server(s); remove it on exit."""
    global _active
    with _INSTALL_LOCK:
        if _active is not None:
            raise SimulatorError("a simulated Ground Truth is already installed in this process")
        simulator = SimulatedGroundTruth(endpoint_url, clock=clock)
        _active = simulator
    try:
        with patched_attributes(
            SageMakerResponse,
            {
                "create_labeling_job": _create_labeling_job,
                "describe_labeling_job": _describe_labeling_job,
                "list_labeling_jobs": _list_labeling_jobs,
                "parse_parameters": _parse_parameters,
            },
        ):
            yield simulator
    finally:
        with _INSTALL_LOCK:
            _active = None
