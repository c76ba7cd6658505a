"""Plan a Ground Truth labeling job of the configured task type, without calling AWS.

Everything here is pure: given the settings the stack passes to the StartLabeling Lambda,
the listed S3 objects and a few options, `plan_labeling` returns a `LabelingPlan` that says
exactly which files the Lambda writes and which `CreateLabelingJob` request it sends. The
Lambda (`start_labeling.py`) carries the plan out; the operator CLI's `plan-labeling` dry
run prints it. Both therefore share one definition of "what starting a job means".

What depends on the task type (the worker UI, which objects can be labeled, the built-in
Lambdas' names) is the task type's descriptor (`task_types.py`), looked up by the settings'
`task_type`. The settings themselves (`LabelingSettings`, LABELING_SETTINGS) are part of the
settings contract in `settings.py`, imported here under their old names.

Two kinds of plan: `plan_labeling` labels the images listed under a prefix (it writes the input
manifest); `plan_labeling_from_manifest` labels the objects of a manifest already in the job's input
folder, optionally under another label attribute and as a relabel job chained to an earlier one
(`relabel.ChainLink`: written as `relabel.json`, and the job tagged `relabel-of`; docs/labeling-cost.md).
With `auto_labeling.enabled` in the settings, the request gets Ground Truth's automated data labeling
(`auto_labeling.request_fragment`), refused below its documented minimum; a relabel job is labeled by
humans only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from . import auto_labeling, relabel, task_types, workforces
from .manifests import DataLocation, source_ref_problem
from .settings import (
    LABELING_JOB_TAG_KEY,
    LABELING_SETTINGS_VAR,
    MAX_OBJECTS_PER_JOB,
    RELABEL_OF_TAG_KEY,
    LabelingSettings,
    price_to_usd,
)
from .task_types import GroundTruthTask, UiText

# --- Ground Truth and API limits (docs/task-types.md and botocore's SageMaker model) -------

# The accepted objects (name endings, matched case-insensitively because cameras and phones
# write `.JPG`, and largest size) are the task type's: GroundTruthTask.object_suffixes and
# max_object_bytes. At most MAX_OBJECTS_PER_JOB (lambdas/settings.py) go into one job.
# LabelingJobName: 1-63 characters, unique per account and region forever.
JOB_NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
MAX_JOB_NAME_LENGTH = 63
# Every job carries its own name as a tag, so cost reports can be split per job.
JOB_TAG_KEY = LABELING_JOB_TAG_KEY

# Reasons an object under the images prefix is not sent to labeling.
SKIP_FOLDER_MARKER = "folder_marker"
SKIP_NOT_AN_IMAGE = "not_an_image"
SKIP_TOO_LARGE = "too_large"
SKIP_REASONS = (SKIP_FOLDER_MARKER, SKIP_NOT_AN_IMAGE, SKIP_TOO_LARGE)

# Names of the frozen inputs written under s3://<bucket>/<prefix>/labeling/<job-name>/.
MANIFEST_FILE = "input.manifest"
CATEGORIES_FILE = "label-categories.json"
UI_TEMPLATE_FILE = "ui-template.liquid"
REQUEST_FILE = "request.json"
# A relabel job's link to the job it relabels (relabel.ChainLink), next to its other inputs.
CHAIN_LINK_FILE = relabel.CHAIN_LINK_FILE
# The tags this function adds to a job; a settings tag of the same key is replaced, not repeated.
JOB_TAG_KEYS = (LABELING_JOB_TAG_KEY, RELABEL_OF_TAG_KEY)

# The settings (LabelingSettings, its rules and reader) are the contract in lambdas/settings.py.
SETTINGS_ENV_VAR = LABELING_SETTINGS_VAR


class LabelingRequestError(ValueError):
    """Options or input data that cannot make a valid labeling job (bad settings: SettingsError)."""


def _clean_prefix(value: str, where: str) -> str:
    """A key prefix without leading/trailing slashes; `..` segments are refused."""
    cleaned = value.strip("/")
    if ".." in cleaned.split("/"):
        raise LabelingRequestError(f"{where} must not contain '..' segments, got {value!r}")
    return cleaned


# --- Where things go -----------------------------------------------------------------------


def _join_key(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


def inputs_prefix(prefix: str, job_name: str) -> str:
    """`<prefix>/labeling/<job>/`: where a job's frozen inputs (and a relabel job's relabel.json) live."""
    return _join_key(prefix, "labeling", job_name) + "/"


def input_key(prefix: str, job_name: str, file_name: str) -> str:
    """The key of one frozen input of a job (`input.manifest`, `relabel.json`, ...)."""
    return inputs_prefix(prefix, job_name) + file_name


def default_images_prefix(settings: LabelingSettings) -> str:
    return _join_key(settings.prefix, "images") + "/"


def resolve_images_prefix(settings: LabelingSettings, images_prefix: str | None) -> str:
    """The key prefix to list, always ending in `/` and always inside the settings bucket.

    Accepts a key prefix (`ground-truth-demo/images/cars`) or an `s3://` URI of the settings
    bucket. The trailing `/` matters: listing `images` would also pick up `images-old/`.
    """
    if images_prefix is None:
        return default_images_prefix(settings)
    where = "images_prefix"
    value = images_prefix
    if value.startswith("s3://"):
        bucket, _, value = value[len("s3://") :].partition("/")
        if bucket != settings.bucket:
            raise LabelingRequestError(
                f"{where} {images_prefix!r} names bucket {bucket!r}; images must be in the "
                f"workflow bucket {settings.bucket!r}, whose policies and CORS rule Ground "
                "Truth relies on"
            )
    cleaned = _clean_prefix(value, where)
    if not cleaned:
        raise LabelingRequestError(
            f"{where} {images_prefix!r} is the whole bucket; give the folder that holds the "
            f"images, e.g. {default_images_prefix(settings)!r}"
        )
    return cleaned + "/"


@dataclass(frozen=True)
class LabelingLocations:
    """The S3 layout of one job: frozen inputs under labeling/<job>/, output under labeled-data/."""

    bucket: str
    inputs_prefix: str  # `<prefix>/labeling/<job-name>/`
    output_prefix: str  # `<prefix>/labeled-data/`

    @classmethod
    def for_job(cls, settings: LabelingSettings, job_name: str) -> LabelingLocations:
        return cls(
            bucket=settings.bucket,
            inputs_prefix=inputs_prefix(settings.prefix, job_name),
            output_prefix=_join_key(settings.prefix, "labeled-data") + "/",
        )

    def key(self, file_name: str) -> str:
        return self.inputs_prefix + file_name

    def uri(self, file_name: str) -> str:
        return f"s3://{self.bucket}/{self.key(file_name)}"

    @property
    def output_path(self) -> str:
        return f"s3://{self.bucket}/{self.output_prefix}"


# --- Job names -----------------------------------------------------------------------------


def resolve_job_name(settings: LabelingSettings, job_name: str | None = None, *, now: datetime | None = None) -> str:
    """The labeling job's name: an explicit one, or `<job_prefix>-YYYYMMDD-HHMMSS` (UTC).

    Every name starts with `<job_prefix>-`, because the execution role may create and
    describe only jobs matching that prefix. An explicit name that does not start with it
    gets it prepended (`cars-2` becomes `gt-demo-cars-2`). Resolving an already resolved
    name returns it unchanged, so callers may resolve twice.
    """
    if job_name is None:
        if now is None:
            raise LabelingRequestError("give either a job name or the time (`now`) to name it by")
        if now.tzinfo is None:
            # A naive time would be read as the machine's local zone: names would then
            # depend on where the planner runs.
            raise LabelingRequestError("`now` must be timezone-aware")
        return f"{settings.job_prefix}-{now.astimezone(UTC):%Y%m%d-%H%M%S}"

    if not isinstance(job_name, str) or not JOB_NAME_PATTERN.fullmatch(job_name):
        raise LabelingRequestError(
            f"job_name {job_name!r} is not a valid labeling job name: use 1-63 letters, digits "
            "and hyphens, starting and ending with a letter or digit"
        )
    required = f"{settings.job_prefix}-"
    name = job_name if job_name.startswith(required) else required + job_name
    if len(name) > MAX_JOB_NAME_LENGTH:
        raise LabelingRequestError(
            f"job_name {job_name!r} becomes {name!r} ({len(name)} characters) with the required "
            f"{required!r} prefix; labeling job names are at most {MAX_JOB_NAME_LENGTH} characters"
        )
    return name


def job_arn(settings: LabelingSettings, job_name: str) -> str:
    # SageMaker puts resource names into ARNs in lower case.
    return f"arn:aws:sagemaker:{settings.region}:{settings.account}:labeling-job/{job_name.lower()}"


def console_url(settings: LabelingSettings, job_name: str) -> str:
    region = settings.region
    return (
        f"https://{region}.console.aws.amazon.com/sagemaker/groundtruth?region={region}"
        f"#/labeling-jobs/details/{job_name}"
    )


# --- Image selection -----------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSelection:
    keys: tuple[str, ...]
    skipped: Mapping[str, int]  # every reason in SKIP_REASONS, zero included


def select_images(
    objects: Iterable[tuple[str, int]], *, task: GroundTruthTask, where: str = "the listed objects"
) -> ImageSelection:
    """Keep the keys of (key, size) pairs the task type accepts (its name endings, at most its
    size), in the order given.

    Stops reading as soon as there is one object too many for a job, so a huge prefix fails
    fast instead of being listed to the end. `where` only appears in error messages.
    """
    keys: list[str] = []
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    for key, size in objects:
        if key.endswith("/"):
            # Zero-byte "folder" markers the console creates.
            skipped[SKIP_FOLDER_MARKER] += 1
        elif not task.accepts_name(key):
            skipped[SKIP_NOT_AN_IMAGE] += 1
        elif size > task.max_object_bytes:
            skipped[SKIP_TOO_LARGE] += 1
        else:
            keys.append(key)
            if len(keys) > MAX_OBJECTS_PER_JOB:
                raise LabelingRequestError(
                    f"more than {MAX_OBJECTS_PER_JOB:,} {task.objects_noun} in {where}: Ground Truth accepts "
                    f"at most {MAX_OBJECTS_PER_JOB:,} data objects per labeling job; split the "
                    f"{task.objects_noun} into several prefixes and start one job per prefix"
                )
    if not keys:
        counted = ", ".join(f"{count} {reason}" for reason, count in skipped.items() if count)
        raise LabelingRequestError(
            f"no {task.objects_noun} in {where}: nothing ending in {', '.join(task.object_suffixes)} of at most "
            f"{task.max_object_bytes:,} bytes" + (f" (skipped: {counted})" if counted else "")
        )
    return ImageSelection(keys=tuple(keys), skipped=MappingProxyType(skipped))


# --- The frozen inputs ---------------------------------------------------------------------


def manifest_lines(bucket: str, keys: Iterable[str]) -> Iterator[bytes]:
    """The input manifest as JSON Lines, one encoded line per object, produced lazily.

    A 100,000-object manifest is megabytes; yielding it line by line lets the caller stream
    it to a file or an upload without ever holding it as one string.
    """
    for key in keys:
        yield (json.dumps({task_types.SOURCE_REF: f"s3://{bucket}/{key}"}) + "\n").encode()


def label_categories_document(labels: Iterable[str], *, task: GroundTruthTask) -> bytes:
    # The order of labels is the class index (0, 1, 2, ...) the training job will see.
    document = {
        "document-version": task.label_categories_document_version,
        "labels": [{"label": label} for label in labels],
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def ui_template(settings: LabelingSettings) -> str:
    """The worker UI of the settings' task type (GroundTruthTask.render_ui_template)."""
    return settings.task.ground_truth.render_ui_template(UiText(
        title=settings.task_title,
        description=settings.task_description,
        short_instructions=settings.short_instructions,
        full_instructions=settings.full_instructions,
    ))


# --- The API request -----------------------------------------------------------------------


def auto_labeling_fragment(settings: LabelingSettings, object_count: int | None) -> dict[str, Any]:
    """`{"LabelingJobAlgorithmsConfig": ...}` when the settings switch automated labeling on, else `{}`.

    LabelingRequestError with the documented reason for a dataset below its minimum (1,250 objects),
    before any job exists (auto_labeling.request_fragment)."""
    if not settings.auto_labeling.enabled:
        return {}
    if object_count is None:
        raise LabelingRequestError("automated data labeling is on: the request needs the job's object count to "
                                   "check its documented minimum")
    try:
        return auto_labeling.request_fragment(region=settings.region, object_count=object_count,
                                              options=settings.auto_labeling.options(), task_type=settings.task_type)
    except auto_labeling.AutoLabelingError as error:
        raise LabelingRequestError(f"labeling.auto_labeling is on, but {error}") from None


def build_create_labeling_job_request(
    settings: LabelingSettings,
    job_name: str,
    *,
    max_objects: int | None = None,
    object_count: int | None = None,
    label_attribute: str | None = None,
    manifest_key: str | None = None,
    relabel_of: str | None = None,
) -> dict[str, Any]:
    """The exact `CreateLabelingJob` request for `job_name` (already resolved).

    `max_objects` overrides `settings.max_objects`; either caps how many objects humans label.
    `object_count` (the input manifest's objects) is needed when automated labeling is on.
    `label_attribute` overrides the settings' LabelAttributeName; `manifest_key` names the input
    manifest (default: the job's `input.manifest`); `relabel_of` makes it a relabel job of that job:
    tagged `relabel-of`, labeled by humans only (its objects are the ones an earlier labeling was
    unsure of).
    """
    if not JOB_NAME_PATTERN.fullmatch(job_name) or not job_name.startswith(f"{settings.job_prefix}-"):
        raise LabelingRequestError(f"job name {job_name!r} is not resolved; pass it through resolve_job_name first")
    attribute = settings.label_attribute if label_attribute is None else label_attribute
    problem = relabel.label_attribute_problem(attribute)
    if problem:
        raise LabelingRequestError(problem)
    limit = settings.max_objects if max_objects is None else max_objects
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise LabelingRequestError(f"max_objects must be a positive integer, got {limit!r}")
    policy = workforces.policy_for(settings.workforce)
    if policy.task_availability_problem(settings.task_availability_seconds):
        longest = policy.max_task_availability_seconds
        raise LabelingRequestError(
            f"task_availability_seconds = {settings.task_availability_seconds} is above {longest} "
            f"({workforces.describe_seconds(longest)}), the maximum of {policy.label()}"
        )

    locations = LabelingLocations.for_job(settings, job_name)
    manifest_uri = locations.uri(MANIFEST_FILE) if manifest_key is None else f"s3://{settings.bucket}/{manifest_key}"
    input_config: dict[str, Any] = {"DataSource": {"S3DataSource": {"ManifestS3Uri": manifest_uri}}}
    # Mechanical Turk fails a job whose data is not declared free of personal information;
    # adult content is declared only when the operator said so (docs/workforces.md).
    classifiers = policy.declared_content_classifiers(free_of_adult_content=settings.free_of_adult_content)
    if classifiers:
        input_config["DataAttributes"] = {"ContentClassifiers": list(classifiers)}

    human_task: dict[str, Any] = {
        "WorkteamArn": settings.workteam_arn,
        "UiConfig": {"UiTemplateS3Uri": locations.uri(UI_TEMPLATE_FILE)},
        "PreHumanTaskLambdaArn": settings.pre_lambda_arn,
        "TaskKeywords": list(settings.task_keywords),
        "TaskTitle": settings.task_title,
        "TaskDescription": settings.task_description,
        "NumberOfHumanWorkersPerDataObject": settings.workers_per_object,
        "TaskTimeLimitInSeconds": settings.task_time_limit_seconds,
        "TaskAvailabilityLifetimeInSeconds": settings.task_availability_seconds,
    }
    if settings.max_concurrent_tasks is not None:
        human_task["MaxConcurrentTaskCount"] = settings.max_concurrent_tasks
    human_task["AnnotationConsolidationConfig"] = {"AnnotationConsolidationLambdaArn": settings.acs_lambda_arn}
    if policy.paid_per_task:
        assert settings.price_usd is not None  # LabelingSettings guarantees it
        human_task["PublicWorkforceTaskPrice"] = {"AmountInUsd": price_to_usd(settings.price_usd)}

    output_config: dict[str, Any] = {"S3OutputPath": locations.output_path}
    if settings.kms_key_arn:
        # SSE-KMS data bucket: Ground Truth encrypts its output with the bucket's key (the
        # execution role holds the key actions Ground Truth's docs list; docs/permissions-fixes.md).
        output_config["KmsKeyId"] = settings.kms_key_arn
    request: dict[str, Any] = {
        "LabelingJobName": job_name,
        "LabelAttributeName": attribute,
        "InputConfig": input_config,
        "OutputConfig": output_config,
        "RoleArn": settings.role_arn,
        "LabelCategoryConfigS3Uri": locations.uri(CATEGORIES_FILE),
    }
    if limit is not None:
        request["StoppingConditions"] = {"MaxHumanLabeledObjectCount": limit}
    if relabel_of is None:
        request.update(auto_labeling_fragment(settings, object_count))
    request["HumanTaskConfig"] = human_task
    added = {JOB_TAG_KEY: job_name, **({RELABEL_OF_TAG_KEY: relabel_of} if relabel_of is not None else {})}
    request["Tags"] = [{"Key": key, "Value": value} for key, value in settings.tags.items()
                       if key not in JOB_TAG_KEYS] + [{"Key": key, "Value": value} for key, value in added.items()]
    return request


# --- The plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFile:
    """One object to write. `produce()` may be called more than once (dry run, then upload)."""

    bucket: str
    key: str
    content_type: str
    produce: Callable[[], Iterator[bytes]]

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read_bytes(self) -> bytes:
        """The whole content at once: for the small files, tests and printing only."""
        return b"".join(self.produce())


@dataclass(frozen=True)
class LabelingPlan:
    job_name: str
    job_arn: str
    console_url: str
    request: dict[str, Any]
    # S3 key -> file, in upload order: the request goes last, so its presence means every
    # file it points to was written.
    files: Mapping[str, PlannedFile]
    object_count: int
    skipped: Mapping[str, int]
    images_uri: str

    def file(self, file_name: str) -> PlannedFile:
        """The planned file by its name (`input.manifest`, `request.json`, ...)."""
        for planned in self.files.values():
            if planned.key.rsplit("/", 1)[-1] == file_name:
                return planned
        raise KeyError(file_name)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description of the plan, what a dry run prints."""
        return {
            "job_name": self.job_name,
            "job_arn": self.job_arn,
            "console_url": self.console_url,
            "images": self.images_uri,
            "object_count": self.object_count,
            "skipped": dict(self.skipped),
            "files": [planned.uri for planned in self.files.values()],
            "request": self.request,
        }


def plan_labeling(
    settings: LabelingSettings,
    objects: Iterable[tuple[str, int]],
    *,
    job_name: str | None = None,
    now: datetime | None = None,
    max_objects: int | None = None,
    images_prefix: str | None = None,
) -> LabelingPlan:
    """Everything starting a labeling job does, decided without calling AWS.

    `objects` are the (key, size) pairs listed under the images prefix, in listing order;
    the manifest keeps that order. `job_name` (prefixed as `resolve_job_name` explains) or
    `now` names the job. `images_prefix` is the prefix that was listed, used for the
    plan's description and error messages; it defaults to `<prefix>/images/`.
    """
    name = resolve_job_name(settings, job_name, now=now)
    listed = resolve_images_prefix(settings, images_prefix)
    images_uri = f"s3://{settings.bucket}/{listed}"
    ground_truth = settings.task.ground_truth
    selection = select_images(objects, task=ground_truth, where=images_uri)
    request = build_create_labeling_job_request(settings, name, max_objects=max_objects,
                                                object_count=len(selection.keys))
    manifest = _planned_file(settings, name, MANIFEST_FILE, "application/x-ndjson",
                             lambda: manifest_lines(settings.bucket, selection.keys))
    return LabelingPlan(
        job_name=name,
        job_arn=job_arn(settings, name),
        console_url=console_url(settings, name),
        request=request,
        files=_frozen_inputs(settings, name, request, first=(manifest,)),
        object_count=len(selection.keys),
        skipped=selection.skipped,
        images_uri=images_uri,
    )


def _planned_file(settings: LabelingSettings, job_name: str, file_name: str, content_type: str,
                  produce: Callable[[], Iterator[bytes]]) -> PlannedFile:
    return PlannedFile(settings.bucket, input_key(settings.prefix, job_name, file_name), content_type, produce)


def _frozen_inputs(settings: LabelingSettings, job_name: str, request: Mapping[str, Any], *,
                   first: Iterable[PlannedFile] = (), chain_link: relabel.ChainLink | None = None,
                   ) -> Mapping[str, PlannedFile]:
    """The files a job writes, in upload order: request.json last, so its presence means every file it
    names was written (and relabel.json, which StartTraining reads, before it)."""
    ground_truth = settings.task.ground_truth
    categories = label_categories_document(settings.labels, task=ground_truth)
    template = ui_template(settings).encode()
    request_document = (json.dumps(request, indent=2) + "\n").encode()
    files = [
        *first,
        _planned_file(settings, job_name, CATEGORIES_FILE, "application/json", lambda: iter((categories,))),
        _planned_file(settings, job_name, UI_TEMPLATE_FILE, "text/html; charset=utf-8", lambda: iter((template,))),
    ]
    if chain_link is not None:
        link = chain_link.to_json()
        files.append(_planned_file(settings, job_name, CHAIN_LINK_FILE, "application/json", lambda: iter((link,))))
    files.append(_planned_file(settings, job_name, REQUEST_FILE, "application/json",
                               lambda: iter((request_document,))))
    return MappingProxyType({f.key: f for f in files})


# --- A job from a manifest already in S3 (relabel jobs) ----------------------------------------


def check_input_manifest_key(settings: LabelingSettings, job_name: str, manifest_key: str) -> None:
    """A given input manifest must be in the job's own input folder, `<prefix>/labeling/<job>/`: the
    frozen inputs of every job stay together, and StartLabeling may read only under `<prefix>/labeling/`."""
    folder = inputs_prefix(settings.prefix, job_name)
    name = manifest_key[len(folder):] if manifest_key.startswith(folder) else ""
    if not name or "/" in name or not name.endswith(".manifest") or name == CHAIN_LINK_FILE:
        raise LabelingRequestError(
            f"input_manifest_key {manifest_key!r} must name a .manifest file directly in the job's input folder "
            f"{folder!r} (upload it there first; that folder holds every frozen input of job {job_name})")


def count_manifest_objects(lines: Iterable[bytes | str], settings: LabelingSettings, *, where: str) -> int:
    """The objects of an input manifest, checked as Ground Truth and the execution role need them: one
    JSON object per line, each with a `source-ref` under `s3://<bucket>/<prefix>/` (the only images the
    execution role may read), no object twice, at most MAX_OBJECTS_PER_JOB. LabelingRequestError names
    the first bad line."""
    location = DataLocation(settings.bucket, settings.prefix)
    seen: set[str] = set()
    number = 0
    for number, line in enumerate(lines, start=1):
        record = relabel.parse_line(line, exact_numbers=False)
        if record is None:
            raise LabelingRequestError(f"{where} line {number} is not a JSON object (blank or malformed)")
        source = record.get(task_types.SOURCE_REF)
        problem = source_ref_problem(source, location)
        if problem:
            raise LabelingRequestError(f"{where} line {number}: source-ref {source!r} is not an object under "
                                       f"{location.uri} ({problem.replace('_', ' ')})")
        assert isinstance(source, str)
        if source in seen:
            raise LabelingRequestError(f"{where} line {number}: {source} appears twice (it would be labeled and "
                                       "paid twice)")
        seen.add(source)
        if len(seen) > MAX_OBJECTS_PER_JOB:
            raise LabelingRequestError(f"{where} has more than {MAX_OBJECTS_PER_JOB:,} objects, Ground Truth's "
                                       "limit per labeling job")
    if not seen:
        raise LabelingRequestError(f"{where} is empty: nothing to label")
    return len(seen)


def plan_labeling_from_manifest(
    settings: LabelingSettings,
    *,
    job_name: str,
    manifest_key: str,
    object_count: int,
    label_attribute: str | None = None,
    chain_link: relabel.ChainLink | None = None,
    max_objects: int | None = None,
) -> LabelingPlan:
    """A job over the `object_count` objects of a manifest already at `manifest_key` (checked by
    `check_input_manifest_key`; counted by `count_manifest_objects`). With `chain_link` it is a relabel
    job: its label attribute is the link's, the link is written as relabel.json and the job is tagged
    `relabel-of`. Nothing is listed; the manifest is not rewritten."""
    name = resolve_job_name(settings, job_name)
    check_input_manifest_key(settings, name, manifest_key)
    if chain_link is not None:
        if chain_link.job_name != name:
            raise LabelingRequestError(f"the relabel link names job {chain_link.job_name!r}, not {name!r}")
        if label_attribute not in (None, chain_link.label_attribute):
            raise LabelingRequestError(f"label attribute {label_attribute!r} differs from the relabel link's "
                                       f"{chain_link.label_attribute!r}")
        label_attribute = chain_link.label_attribute
    request = build_create_labeling_job_request(
        settings, name, max_objects=max_objects, object_count=object_count, label_attribute=label_attribute,
        manifest_key=manifest_key, relabel_of=None if chain_link is None else chain_link.from_job)
    return LabelingPlan(
        job_name=name,
        job_arn=job_arn(settings, name),
        console_url=console_url(settings, name),
        request=request,
        files=_frozen_inputs(settings, name, request, chain_link=chain_link),
        object_count=object_count,
        skipped=MappingProxyType(dict.fromkeys(SKIP_REASONS, 0)),
        images_uri=f"s3://{settings.bucket}/{manifest_key}",
    )
