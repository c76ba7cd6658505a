"""`python -m workflow relabel --from JOB`: relabel a completed job's doubtful objects with a chained job.

1. Read what the job labeled: its output manifest, or, when the job is itself a relabel job, its
   chain's merged manifest (the first job's output with every relabel job's labels merged in, under the
   first job's label attribute: `relabel_chain.ChainReader`, `relabel.merge_chain`), so every object
   still in doubt is a candidate.
2. Select the lines below `--below-confidence` and/or `--failed` (`relabel.select_for_relabel`), under
   a new label attribute (`relabel.next_label_attribute`: with the old one Ground Truth would skip every
   object that has a label), after checking the job used the deployed label categories.
3. Plan the chained job with StartLabeling's own planner and the deployed function's settings, and
   estimate its cost (`estimates`). Nothing is written before the operator confirms.
4. Upload the selection as the new job's `input.manifest`, then start it through StartLabeling with
   `input_manifest_key`, `label_attribute` and `relabel` in the event: it checks the chain again, writes
   `relabel.json` and tags the job `relabel-of`, which is how StartTraining finds the merge when the job
   completes (docs/labeling-cost.md).

Reads and the upload use the operator's credentials: DescribeLabelingJob, GetObject of the chain's
outputs, categories and relabel.json, PutObject of the one manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lambdas import labeling_request as lr
from lambdas import manifests, relabel
from lambdas.relabel_chain import ChainReader
from lambdas.settings import LabelingSettings
from workflow import labeling_cost, status
from workflow.aws import error_code, error_message
from workflow.errors import CliError, UsageError

READ_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class RelabelPlan:
    """Everything `relabel` decided before asking: what was read and selected, and the job to start."""

    from_job: str
    source: str  # what was read, in words
    links: tuple[relabel.ChainLink, ...]  # the chain the source job ends (empty: a plain job)
    selection: relabel.RelabelSelection
    link: relabel.ChainLink
    manifest_key: str  # where the selection goes: the new job's input.manifest
    plan: lr.LabelingPlan | None  # None when nothing was selected
    estimate: labeling_cost.LabelingEstimate | None

    def event(self, *, max_objects: int | None) -> dict[str, Any]:
        """StartLabeling's event for this relabel job."""
        criteria = self.selection.criteria.as_json()  # the threshold as the text it was given
        event: dict[str, Any] = {
            "job_name": self.link.job_name,
            "input_manifest_key": self.manifest_key,
            "label_attribute": self.link.label_attribute,
            "relabel": {"from_job": self.from_job, "below_confidence": criteria["below_confidence"],
                        "failed": criteria["failed"]},
        }
        if max_objects is not None:
            event["max_objects"] = max_objects
        return event

    def manifest_body(self) -> bytes:
        return b"".join(line + b"\n" for line in self.selection.lines)


def criteria_from_options(below_confidence: str | None, failed: bool) -> relabel.RelabelCriteria:
    try:
        return relabel.RelabelCriteria(below_confidence=below_confidence, failed=failed)  # type: ignore[arg-type]
    except relabel.RelabelError as error:
        raise UsageError(f"relabel: {error}") from None


def plan_relabel(
    settings: LabelingSettings,
    *,
    sagemaker: Any,
    s3: Any,
    from_job: str,
    criteria: relabel.RelabelCriteria,
    job_name: str | None,
    max_objects: int | None,
    now: datetime,
) -> RelabelPlan:
    """Read, select, plan and estimate (read-only: DescribeLabelingJob and GetObject)."""
    try:
        # One of this workflow's jobs: its name starts with the job prefix (prepended if missing).
        from_job = lr.resolve_job_name(settings, from_job)
    except lr.LabelingRequestError as error:
        raise UsageError(f"--from {from_job}: {error}") from None
    described = status.describe_labeling_job(sagemaker, from_job, settings.job_prefix)
    from_job = str(described["LabelingJobName"])
    if described["LabelingJobStatus"] != "Completed":
        raise CliError(f"labeling job {from_job} is {described['LabelingJobStatus']}: only a completed job's labels "
                       "can be relabeled")
    reader = ChainReader(settings.prefix, describe=lambda name: status.describe_labeling_job(
        sagemaker, name, settings.job_prefix), read_object=lambda key: _read_object(s3, settings, key))
    reader.remember(described)
    try:
        links = reader.chain(from_job)
        _check_categories(settings, described, s3)
        training_attribute = reader.training_label_attribute(from_job, links)
        if links:
            merged = relabel.merge_chain(links, lambda name: list(_read_lines(s3, settings, reader.output_uri(name))))
            lines: Iterable[bytes] = merged.lines
            jobs = " -> ".join([links[0].from_job, *(link.job_name for link in links)])
            source = (f"the merged manifest of the relabel chain {jobs} ({merged.counts.output_lines:,} objects, "
                      f"labels under {training_attribute})")
        else:
            uri = reader.output_uri(from_job)
            lines = list(_read_lines(s3, settings, uri))
            source = f"the job's output manifest {uri}"
        taken = {described["LabelAttributeName"], training_attribute, *(link.label_attribute for link in links)}
        new_attribute = relabel.next_label_attribute(str(described["LabelAttributeName"]), taken)
        selection = relabel.select_for_relabel(lines, label_attribute=training_attribute, criteria=criteria,
                                               new_label_attribute=new_attribute)
    except relabel.RelabelError as error:
        raise CliError(f"relabel of {from_job}: {error}") from None
    name = lr.resolve_job_name(settings, job_name or f"relabel-{now.astimezone(UTC):%Y%m%d-%H%M%S}")
    if name == from_job:
        raise UsageError(f"--name {job_name}: the relabel job needs a name of its own, not {from_job}'s")
    link = relabel.ChainLink(job_name=name, from_job=from_job, label_attribute=new_attribute,
                             training_label_attribute=training_attribute, criteria=criteria.as_json(),
                             selected=selection.counts.selected)
    manifest_key = lr.input_key(settings.prefix, name, lr.MANIFEST_FILE)
    plan = estimate = None
    if selection.counts.selected:
        try:
            plan = lr.plan_labeling_from_manifest(
                settings, job_name=name, manifest_key=manifest_key, object_count=selection.counts.selected,
                chain_link=link, max_objects=max_objects)
        except lr.LabelingRequestError as error:
            raise UsageError(f"StartLabeling would refuse this relabel job: {error}") from None
        estimate = labeling_cost.estimate_from_request(plan.request, object_count=plan.object_count,
                                                       workforce=settings.workforce, task_type=settings.task_type,
                                                       region=settings.region)
    return RelabelPlan(from_job=from_job, source=source, links=tuple(links), selection=selection, link=link,
                       manifest_key=manifest_key, plan=plan, estimate=estimate)


def describe_plan(plan: RelabelPlan, settings: LabelingSettings) -> list[str]:
    counts, link = plan.selection.counts, plan.link
    lines = [
        f"Relabel plan for labeling job {plan.from_job}: nothing is written until the job starts.",
        f"  reads:        {plan.source}",
        f"  selects:      {plan.selection.criteria.describe()}: {counts.selected:,} of {counts.input_lines:,} lines "
        f"({counts.low_confidence:,} below the threshold: {counts.human:,} human-, {counts.machine:,} "
        f"machine-labeled; {counts.failed:,} failed; {counts.unlabeled:,} unlabeled)",
        f"  keeps:        {counts.confident:,} labels at or above the threshold, {counts.without_confidence:,} "
        f"without a confidence, {counts.not_selected_failed:,} failed or unlabeled not asked for; "
        f"{counts.duplicates:,} repeated and {counts.unusable:,} unusable lines skipped",
    ]
    lines.extend(f"  note:         {note}" for note in plan.selection.notes())
    if plan.plan is None:
        lines.append("Nothing to relabel: no line matches; no job is started.")
        return lines
    chain = " -> ".join([plan.links[0].from_job, *(earlier.job_name for earlier in plan.links)]) if plan.links \
        else plan.from_job
    lines += [
        f"  new job:      {link.job_name} (tagged relabel-of={plan.from_job}), labeled by humans only",
        f"  label:        {link.label_attribute} (a new attribute: with {link.training_label_attribute} Ground Truth "
        "would skip every object that has a label)",
        f"  manifest:     s3://{settings.bucket}/{plan.manifest_key} ({counts.selected:,} objects, the selected "
        "lines as the job wrote them)",
        f"  then:         when it completes, StartTraining trains on the merged manifest of {chain} and this job "
        f"(its labels win, one line per object, under {link.training_label_attribute})",
    ]
    if plan.estimate is not None:
        lines.extend(plan.estimate.lines())
    return lines


def upload_manifest(s3: Any, settings: LabelingSettings, plan: RelabelPlan) -> str:
    """Write the selection where the new job's frozen inputs go; returns its URI."""
    s3.put_object(Bucket=settings.bucket, Key=plan.manifest_key, Body=plan.manifest_body(),
                  ContentType="application/x-ndjson", ExpectedBucketOwner=settings.account)
    return f"s3://{settings.bucket}/{plan.manifest_key}"


# --- reading with the operator's credentials -------------------------------------------------------


def _check_categories(settings: LabelingSettings, described: Mapping[str, Any], s3: Any) -> None:
    uri = str(described.get("LabelCategoryConfigS3Uri") or "")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or bucket != settings.bucket:
        raise CliError(f"labeling job {described['LabelingJobName']} has its label categories at {uri!r}, outside the "
                       f"data bucket {settings.bucket}: it is not a job of this workflow")
    try:
        categories = manifests.parse_label_categories(_read_object(s3, settings, key))
    except ValueError as error:
        raise CliError(f"{uri}: {error}") from None
    if categories != tuple(settings.labels):
        raise CliError(f"labeling job {described['LabelingJobName']} used the label categories {list(categories)}, "
                       f"the deployed StartLabeling uses {list(settings.labels)}: a relabel job must use the same "
                       "ones (the merge keeps class ids); redeploy with the job's labels to relabel it")


def _read_object(s3: Any, settings: LabelingSettings, key: str) -> bytes:
    try:
        body = s3.get_object(Bucket=settings.bucket, Key=key, ExpectedBucketOwner=settings.account)["Body"]
    except ClientError as error:
        raise CliError(f"cannot read s3://{settings.bucket}/{key}: {error_code(error)}: "
                       f"{error_message(error)}") from None
    return bytes(body.read())


def _read_lines(s3: Any, settings: LabelingSettings, uri: str) -> Iterator[bytes]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    owner = {"ExpectedBucketOwner": settings.account} if bucket == settings.bucket else {}
    try:
        body = s3.get_object(Bucket=bucket, Key=key, **owner)["Body"]
    except ClientError as error:
        raise CliError(f"cannot read {uri}: {error_code(error)}: {error_message(error)}") from None
    try:
        yield from manifests.iter_lines(body.iter_chunks(READ_CHUNK_BYTES))
    finally:
        body.close()
