"""Dry runs: the exact requests the deployed Lambdas would send, built by their own code.

`plan-labeling` and `plan-training` build each Lambda's settings with
`stacks.lambda_settings` (what the stack passes the deployed function), fill in what only a
deployment knows (account, bucket, role) from options or clearly marked placeholders, and call
the Lambda modules' pure planners. Nothing here writes anything or calls SageMaker.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lambdas import labeling_request as lr
from lambdas import manifests, training_input, workforces
from lambdas import training_request as tr
from lambdas.settings import LabelingSettings, SettingsError, TrainingSettings
from lambdas.workforces import WorkteamSource
from stacks import algorithm_images, regions
from stacks.config import WorkflowConfig
from stacks.lambda_settings import Deployment, build_labeling_settings, build_training_settings
from workflow.errors import UsageError

# Values only a deployment knows, used when the operator gives none. 000000000000 is a
# syntactically valid account id that no one owns, so the requests still pass botocore's model.
PLACEHOLDER_ACCOUNT = "000000000000"
PLACEHOLDER_ROLE_NAME = "PLACEHOLDER-execution-role"
PLACEHOLDER_WORKTEAM_NAME = "PLACEHOLDER-created-by-the-stack"
PLACEHOLDER_TOPIC_NAME = "PLACEHOLDER-alerts-topic"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/prefix` -> (bucket, "key/prefix")."""
    if not uri.startswith("s3://"):
        raise UsageError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"{uri!r} names no bucket; use s3://bucket/prefix")
    return bucket, key


# --- The deployment a dry run assumes -------------------------------------------------------


@dataclass(frozen=True)
class DryRunDeployment:
    """A `Deployment` with literal values, and a note for each value that is a placeholder."""

    deployment: Deployment
    placeholders: tuple[str, ...]


def dry_run_deployment(
    config: WorkflowConfig,
    region: str,
    *,
    account: str | None = None,
    bucket: str | None = None,
    role_arn: str | None = None,
) -> DryRunDeployment:
    notes: list[str] = []
    account = account or config.account
    if account is None:
        account = PLACEHOLDER_ACCOUNT
        notes.append(f"account {PLACEHOLDER_ACCOUNT} is a placeholder: pass --account")
    bucket = bucket or config.bucket.name
    if bucket is None:
        bucket = config.default_bucket_name(account, region)
        if account == PLACEHOLDER_ACCOUNT:
            notes.append(f"bucket {bucket} is a placeholder (sagemaker-<region>-<account>): pass --bucket or --account")
    if role_arn is None:
        role_arn = f"arn:aws:iam::{account}:role/{PLACEHOLDER_ROLE_NAME}"
        notes.append(
            f"role ARN {role_arn} is a placeholder: pass --role-arn (the {config.stack_prefix}-Data stack's "
            "ExecutionRoleArn output)"
        )
    return DryRunDeployment(Deployment(account=account, region=region, bucket=bucket, role_arn=role_arn), tuple(notes))


def workteam_arn(config: WorkflowConfig, deployment: Deployment) -> tuple[str, str | None]:
    """The workteam the labeling job goes to, and a note if it is a placeholder."""
    source = workforces.policy_for(config.workforce.type).workteam_source
    if source is WorkteamSource.PUBLIC_CROWD:
        return workforces.public_crowd_workteam_arn(deployment.region), None
    if source is WorkteamSource.FROM_CONFIG:
        assert config.workforce.workteam_arn is not None  # load_config guarantees it
        return config.workforce.workteam_arn, None
    # WorkteamSource.CREATED_BY_STACK: known once deployed.
    arn = (f"arn:aws:sagemaker:{deployment.region}:{deployment.account}:workteam/private-crowd/"
           f"{PLACEHOLDER_WORKTEAM_NAME}")
    return arn, (f"workteam ARN {arn} is a placeholder: the private workteam is created by the stack "
                 f"(the {config.stack_prefix}-Workflow stack's LabelingWorkteamArn output)")


# --- plan-labeling --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageListing:
    """(key, size) pairs to plan with, where they came from, and the bucket they name (if any)."""

    objects: list[tuple[str, int]]
    source: str
    bucket: str | None
    images_prefix: str | None  # None: the settings' default, <prefix>/images/
    sizes_known: bool


def list_local_directory(directory: Path, prefix: str) -> ImageListing:
    """Files under `directory`, as the keys they would get under `<prefix>/images/`."""
    base = f"{prefix.strip('/')}/images" if prefix.strip("/") else "images"
    objects: list[tuple[str, int]] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in files:
            path = Path(root, name)
            relative = path.relative_to(directory).as_posix()
            objects.append((f"{base}/{relative}", path.stat().st_size))
    # S3 lists keys in UTF-8 byte order; the manifest keeps listing order.
    objects.sort(key=lambda item: item[0].encode("utf-8"))
    return ImageListing(objects, source=f"directory {directory}", bucket=None, images_prefix=None, sizes_known=True)


def read_key_list(path: Path) -> ImageListing:
    """A text file of keys or s3:// URIs, one per line (blank lines and # comments skipped)."""
    objects: list[tuple[str, int]] = []
    buckets: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the key list {path}: {error}") from error
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("s3://"):
            bucket, key = split_s3_uri(line)
            if not key:
                raise UsageError(f"{path}:{number}: {line!r} names a bucket but no object key")
            buckets.add(bucket)
        else:
            key = line.lstrip("/")
        objects.append((key, 0))  # sizes unknown: the size check cannot apply
    if len(buckets) > 1:
        raise UsageError(f"{path} names several buckets ({', '.join(sorted(buckets))}); "
                         "a labeling job reads its images from the workflow bucket only")
    return ImageListing(objects, source=f"key list {path}", bucket=buckets.pop() if buckets else None,
                        images_prefix=_common_folder([key for key, _ in objects]), sizes_known=False)


def _common_folder(keys: list[str]) -> str | None:
    """The deepest folder that holds every key, or None if they share none."""
    if not keys:
        return None
    folders = [key.split("/")[:-1] for key in keys]
    common: list[str] = []
    for parts in zip(*folders, strict=False):
        if any(part != parts[0] for part in parts):
            break
        common.append(parts[0])
    return "/".join(common) + "/" if common else None


def list_s3_prefix(s3: Any, uri: str) -> ImageListing:
    """The objects under an s3://bucket/prefix (ListObjectsV2: read-only)."""
    bucket, prefix = split_s3_uri(uri)
    if not prefix.strip("/"):
        raise UsageError(f"{uri!r} is a whole bucket; give the folder that holds the images (s3://bucket/prefix/)")
    prefix = prefix.strip("/") + "/"  # as the Lambda lists: `images` must not match `images-old/`
    objects: list[tuple[str, int]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.extend((item["Key"], item["Size"]) for item in page.get("Contents", ()))
    return ImageListing(objects, source=f"s3://{bucket}/{prefix}", bucket=bucket, images_prefix=prefix,
                        sizes_known=True)


def plan_labeling(
    config: WorkflowConfig,
    dry_run: DryRunDeployment,
    listing: ImageListing,
    *,
    job_name: str | None,
    now: datetime,
    max_objects: int | None = None,
) -> tuple[lr.LabelingPlan, tuple[str, ...]]:
    """The StartLabeling Lambda's plan for these images; also returns the placeholder notes.

    Raises `settings.SettingsError` for settings and `labeling_request.LabelingRequestError` for inputs
    the Lambda would refuse.
    """
    deployment = dry_run.deployment
    team, team_note = workteam_arn(config, deployment)
    pre_lambda_arn, acs_lambda_arn = regions.ground_truth_lambda_arns(deployment.region, config.task.ground_truth)
    built = build_labeling_settings(
        config,
        deployment,
        workteam_arn=team,
        pre_lambda_arn=pre_lambda_arn,
        acs_lambda_arn=acs_lambda_arn,
    )
    # Through JSON, with the Lambda's own reader: what the deployed function would parse.
    settings = LabelingSettings.from_json(built.to_json(), source="LABELING_SETTINGS (built from the config)")
    plan = lr.plan_labeling(
        settings,
        listing.objects,
        job_name=job_name,
        now=now,
        max_objects=max_objects,
        images_prefix=listing.images_prefix,
    )
    notes = [*dry_run.placeholders, *([team_note] if team_note else [])]
    if not listing.sizes_known:
        task = config.task.ground_truth
        notes.append(f"object sizes are unknown (key list): the {task.max_object_bytes / 1_000_000:g} MB "
                     f"{task.object_noun} limit was not checked")
    return plan, tuple(notes)


@dataclass(frozen=True)
class FilePreview:
    uri: str
    size: int
    line_count: int
    head: tuple[str, ...]


def preview_file(planned: lr.PlannedFile, *, lines: int = 3) -> FilePreview:
    """Size, line count and first lines of a planned file, produced once, without holding it."""
    size = 0
    count = 0
    head: list[str] = []
    pending = b""
    for chunk in planned.produce():
        size += len(chunk)
        pending += chunk
        *complete, pending = pending.split(b"\n")
        count += len(complete)
        for line in complete:
            if len(head) < lines:
                head.append(line.decode("utf-8", "replace"))
    if pending:
        count += 1
        if len(head) < lines:
            head.append(pending.decode("utf-8", "replace"))
    return FilePreview(planned.uri, size, count, tuple(head))


def iter_previews(plan: lr.LabelingPlan, *, lines: int = 3) -> Iterator[FilePreview]:
    for planned in plan.files.values():
        yield preview_file(planned, lines=lines)


def request_json(request: dict[str, Any]) -> str:
    """The request as `aws sagemaker ... --cli-input-json` and boto3 take it."""
    return json.dumps(request, indent=2)


# --- plan-training --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingPlan:
    """What StartTraining would do with a labeling job's output manifest."""

    labeling_job: str
    manifest: str
    tuning: bool
    summary: dict[str, Any]  # the split summary as StartTraining writes it to summary.json
    request: dict[str, Any] | None  # None when StartTraining would not start a job
    operation: str
    files: tuple[tuple[str, int], ...]  # (S3 URI, line count) of the files StartTraining writes
    notes: tuple[str, ...]
    # What StartTraining changes in the request to fit the data (job_rules.Adjustment as JSON).
    adjustments: tuple[dict[str, str], ...] = ()
    # Why StartTraining would refuse the request (job_rules); non-empty: no job, exit non-zero.
    problems: tuple[str, ...] = ()


def read_categories(path: Path) -> tuple[str, ...]:
    """Label categories from a Ground Truth label category JSON file, in class-index order."""
    try:
        return manifests.parse_label_categories(path.read_bytes())
    except OSError as error:
        raise UsageError(f"cannot read --categories {path}: {error}") from error
    except ValueError as error:
        raise UsageError(f"--categories {path}: {error}") from error


def manifest_lines(manifest: str, s3: Any | None) -> Iterator[bytes]:
    """The manifest's lines, streamed from a local file or S3 (GetObject: read-only)."""
    if manifest.startswith("s3://"):
        bucket, key = split_s3_uri(manifest)
        if not key:
            raise UsageError(f"--manifest {manifest!r} names no object")
        assert s3 is not None
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from manifests.iter_lines(body.iter_chunks(1 << 20))
        finally:
            body.close()
        return
    path = Path(manifest)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise UsageError(f"cannot read --manifest {manifest}: {error}") from error
    with handle:
        # Read in blocks and split with the Lambda's line cap, not `for line in handle` (which
        # holds a line of any length): the dry run drops exactly the lines StartTraining drops.
        yield from manifests.iter_lines(iter(lambda: handle.read(1 << 20), b""))


_JOB_NAME_IN_METADATA = "labeling-job/"


def labeling_job_from_manifest(manifest: str, first_lines: list[bytes]) -> str | None:
    """The labeling job's name, from a line's `<attr>-metadata.job-name` or the output path.

    Ground Truth writes `"job-name": "labeling-job/<name>"` into each label's metadata and the
    manifest to `<output path>/<name>/manifests/output/output.manifest`.
    """
    for line in first_lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        for key, value in record.items():
            if key.endswith("-metadata") and isinstance(value, dict):
                job = value.get("job-name")
                if isinstance(job, str) and job.startswith(_JOB_NAME_IN_METADATA):
                    return job[len(_JOB_NAME_IN_METADATA) :]
    parts = manifest.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-3:] == ["manifests", "output", "output.manifest"]:
        return parts[-4] or None
    return None


def plan_training(
    config: WorkflowConfig,
    dry_run: DryRunDeployment,
    *,
    manifest: str,
    label_attribute: str,
    categories: tuple[str, ...] | None,
    labeling_job_name: str | None,
    s3: Any | None = None,
) -> TrainingPlan:
    """Split the manifest and build the request exactly as the StartTraining Lambda does."""
    deployment = dry_run.deployment
    notes = list(dry_run.placeholders)
    # Only alerts use the topic; it appears in no request.
    topic_arn = f"arn:aws:sns:{deployment.region}:{deployment.account}:{PLACEHOLDER_TOPIC_NAME}"
    try:
        image = algorithm_images.image_uri(deployment.region, config.task.algorithm)
    except ValueError as error:
        raise UsageError(str(error)) from error
    try:
        built = build_training_settings(config, deployment, image_uri=image, topic_arn=topic_arn)
        settings = TrainingSettings.from_json(built.to_json())
    except SettingsError as error:
        raise UsageError(f"the config makes TRAINING_SETTINGS the Lambda would refuse: {error}") from error

    if categories is None:
        categories = tuple(config.labeling.labels)
        notes.append("categories: the config's labels (pass --categories with the job's label-categories.json "
                     "to use the job's own)")

    lines = manifest_lines(manifest, s3)
    if labeling_job_name is None:
        first = list(itertools.islice(lines, 50))
        labeling_job_name = labeling_job_from_manifest(manifest, first)
        if labeling_job_name is None:
            raise UsageError("cannot tell the labeling job's name from the manifest: pass --job-name")
        notes.append(f"labeling job {labeling_job_name}: read from the manifest")
        lines = itertools.chain(first, lines)
    if not labeling_job_name.startswith(settings.job_prefix):
        notes.append(f"labeling job {labeling_job_name} lacks the job prefix {settings.job_prefix!r}: the deployed "
                     "StartTraining would ignore it")
    # As StartTraining splits: machine labels below training.exclude_machine_labels_below left out, label
    # sources counted (lambdas/training_input.py).
    split = training_input.split_with_label_sources(
        lines,
        label_attribute=label_attribute,
        categories=categories,
        labeling_job_name=labeling_job_name,
        location=manifests.DataLocation(settings.bucket, settings.prefix),
        validation_fraction=settings.validation_fraction,
        exclude_machine_below=settings.exclude_machine_labels_below,
    )
    if elsewhere := split.summary["dropped"]["source_ref_other_bucket"]:
        notes.append(f"{elsewhere} line(s) name images outside bucket {settings.bucket}, the bucket this dry run "
                     "assumes: pass --bucket (or --account) if the workflow's data bucket is another one")
    job = tr.LabelingJob(name=labeling_job_name, label_attribute=label_attribute, categories=categories,
                         output_manifest_uri=manifest)
    reason = tr.skip_reason(settings, split.summary)
    tuning = settings.tuning.enabled
    request: dict[str, Any] | None = None
    job_plan: tr.JobRequestPlan | None = None
    if reason is None:
        job_plan = tr.plan_job_request(
            settings, job, train_count=split.summary["totals"]["train"],
            label_ids=[c["index"] for c in split.summary["classes"] if c["train"] or c["validation"]],
        )
        request = None if job_plan.problems else job_plan.request
    adjustments = tuple(job_plan.adjustments_json()) if job_plan else ()
    problems = job_plan.problems if job_plan else ()
    decision = "skipped" if reason else "refused" if problems else "started"
    files = (
        (f"s3://{settings.bucket}/{tr.manifest_key(settings, job.name, 'train.manifest')}", len(split.train)),
        (f"s3://{settings.bucket}/{tr.manifest_key(settings, job.name, 'validation.manifest')}",
         len(split.validation)),
        (f"s3://{settings.bucket}/{tr.manifest_key(settings, job.name, 'label-map.json')}", 0),
        (f"s3://{settings.bucket}/{tr.manifest_key(settings, job.name, 'summary.json')}", 0),
    )
    return TrainingPlan(
        labeling_job=labeling_job_name,
        manifest=manifest,
        tuning=tuning,
        summary={**split.summary, "adjustments": list(adjustments), "problems": list(problems),
                 "decision": decision, "reason": reason or ("; ".join(problems) if problems else None)},
        request=request,
        operation="CreateHyperParameterTuningJob" if tuning else "CreateTrainingJob",
        files=files,
        notes=tuple(notes),
        adjustments=adjustments,
        problems=problems,
    )


def describe_training_plan(plan: TrainingPlan) -> list[str]:
    summary = plan.summary
    totals = summary["totals"]
    lines = [
        "Dry run of StartTraining: nothing was written and no SageMaker call was made.",
        f"  labeling job: {plan.labeling_job}",
        f"  manifest:     {plan.manifest} ({totals['input_lines']:,} lines)",
        f"  split:        {totals['train']:,} train, {totals['validation']:,} validation "
        f"(validation_fraction {summary['validation_fraction']}); {totals['dropped']:,} dropped",
    ]
    width = max([len("class"), *(len(entry["label"]) for entry in summary["classes"])])
    lines.append(f"    {'#':>2}  {'class':<{width}}  {'train':>7}  {'validation':>10}")
    lines.extend(
        f"    {entry['index']:>2}  {entry['label']:<{width}}  {entry['train']:>7,}  {entry['validation']:>10,}"
        for entry in summary["classes"]
    )
    dropped = {reason: n for reason, n in summary["dropped"].items() if n}
    lines.append("  dropped:      " + (", ".join(f"{n} {r.replace('_', ' ')}" for r, n in dropped.items()) or "none"))
    sources = summary["label_sources"]
    excluded = (f"; {sources['machine_excluded']:,} machine labels below {sources['exclude_machine_labels_below']} "
                "left out" if sources["exclude_machine_labels_below"] is not None else "")
    lines.append(f"  labels used:  {sources['human']:,} human, {sources['machine']:,} machine (automated data "
                 f"labeling), {sources['unknown_source']:,} of unknown source{excluded}")
    if plan.notes:
        lines.append("Placeholders and assumptions of this dry run:")
        lines.extend(f"  - {note}" for note in plan.notes)
    lines.append("Files it would write:")
    for uri, count in plan.files:
        lines.append(f"  {uri}" if uri.endswith(".json") else f"  {uri}  ({count:,} lines)")
    if plan.adjustments:
        lines.append("Adjustments StartTraining would make to fit the data:")
        lines.extend(f"  - {a['setting']}: {a['configured']} -> {a['applied']} ({a['reason']})"
                     for a in plan.adjustments)
    if plan.problems:
        lines.append(f"StartTraining would refuse to start a job ({plan.operation}); an SNS alert says why:")
        lines.extend(f"  - {problem}" for problem in plan.problems)
        return lines
    if plan.request is None:
        lines.append(f"StartTraining would not start a job: {summary['reason']}")
        return lines
    lines.append(f"{plan.operation} request:")
    lines.append(request_json(plan.request))
    return lines
