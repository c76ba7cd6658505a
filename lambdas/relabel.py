"""Relabel doubtful objects with a chained Ground Truth job, and merge its labels back.

Four pure pieces (no AWS calls; facts and sources: docs/labeling-cost.md):

- `select_for_relabel`: from a completed job's output manifest, the lines whose label's
  `confidence` is below a threshold and/or that have no label (failed: `failure-reason` in the
  metadata; or never labeled: no label attribute). They are the chained job's input manifest, byte
  for byte as Ground Truth wrote them.
- `next_label_attribute`: the chained job's `LabelAttributeName`. It must be a new one: a chained
  job labels only "data objects without data connected to that label attribute name", so with the
  original attribute every low-confidence object (which has a label) would be skipped; "Using a
  label attribute name not present in the manifest causes the job to process all the objects".
- `merge_manifests`: the original output and the chained jobs' outputs, oldest first -> one line
  per object (keyed by `source-ref`), later labels win, written under the original label
  attribute, with counts (kept, replaced, added ...). Training reads it like any output manifest.
- `LabelSourceFilter` / `count_label_sources`: human- vs machine-labeled objects
  (`"human-annotated": "yes"/"no"` in the metadata), optionally dropping machine labels below a
  confidence before training.

`ChainLink` is the small JSON document (`relabel.json`, next to the chained job's frozen inputs)
that says which job a chained job relabels, so the merge can be found from the completion event of
any job in a chain (`chain_to`).

Standard library only: the Lambdas import this module (relatively), the CLI as `lambdas.relabel`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

SOURCE_ATTRIBUTE = "source-ref"
METADATA_SUFFIX = "-metadata"
FAILURE_KEY = "failure-reason"
CONFIDENCE_KEY = "confidence"
HUMAN_ANNOTATED_KEY = "human-annotated"
RELABEL_SUFFIX = "-relabel-"

# CreateLabelingJob LabelAttributeName (botocore's sagemaker-2017-07-24 model): 1 to 127 characters,
# pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}; it "can't end with -metadata" and, for image
# classification, must not end with -ref (only semantic segmentation, video frame and 3D point cloud
# attributes do); "source" and "source-ref" are reserved (sms-reusing-data).
_LABEL_ATTRIBUTE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}")
MAX_LABEL_ATTRIBUTE_LENGTH = 127
_RESERVED_ATTRIBUTES = frozenset({"source", SOURCE_ATTRIBUTE})

# How deep a chain of relabel jobs `chain_to` follows before it assumes a loop in the records.
MAX_CHAIN_LENGTH = 50


class RelabelError(ValueError):
    """A relabel request that cannot work; the message names the value and what to do."""


def label_attribute_problem(name: str) -> str | None:
    """Why `name` cannot be an image-classification job's LabelAttributeName, or None."""
    if not isinstance(name, str) or not _LABEL_ATTRIBUTE.fullmatch(name) or len(name) > MAX_LABEL_ATTRIBUTE_LENGTH:
        return (f"label attribute {name!r} must be 1 to {MAX_LABEL_ATTRIBUTE_LENGTH} letters, digits and inner "
                "hyphens (CreateLabelingJob LabelAttributeName)")
    if name in _RESERVED_ATTRIBUTES:
        return f"label attribute {name!r} is reserved by Ground Truth"
    if name.endswith(METADATA_SUFFIX) or name.endswith("-ref"):
        return f"label attribute {name!r} cannot end with -metadata or -ref (image classification)"
    return None


def next_label_attribute(label_attribute: str, taken: Iterable[str] = ()) -> str:
    """`vehicle-type` -> `vehicle-type-relabel-1` (or the first `-relabel-<n>` not in `taken`).

    A relabel of a relabel keeps the base name: `vehicle-type-relabel-1` -> `vehicle-type-relabel-2`.
    """
    base, marker, number = label_attribute.rpartition(RELABEL_SUFFIX)
    if not (marker and number.isdigit() and base):
        base = label_attribute
    taken_names = set(taken) | {label_attribute}
    count = 1
    while f"{base}{RELABEL_SUFFIX}{count}" in taken_names:
        count += 1
    name = f"{base}{RELABEL_SUFFIX}{count}"
    problem = label_attribute_problem(name)
    if problem:
        raise RelabelError(f"cannot derive a chained job's label attribute from {label_attribute!r}: {problem}")
    return name


# --- Reading one output line ------------------------------------------------------------------------


class LabelStatus(StrEnum):
    LABELED = "labeled"
    FAILED = "failed"  # `failure-reason` in the metadata
    UNLABELED = "unlabeled"  # no label (e.g. the job stopped first, or the task expired)


def _text(line: bytes | str) -> str:
    if isinstance(line, bytes):
        return line.rstrip(b"\r\n").decode("utf-8")
    return line.rstrip("\r\n")


def parse_line(line: bytes | str, *, exact_numbers: bool = True) -> dict[str, Any] | None:
    """One manifest line as a dict (numbers as Decimal when `exact_numbers`), or None if it is blank,
    not UTF-8, not JSON or not an object."""
    try:
        text = _text(line)
        if not text.strip():
            return None
        record = json.loads(text, parse_float=Decimal) if exact_numbers else json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def source_ref(record: dict[str, Any]) -> str | None:
    value = record.get(SOURCE_ATTRIBUTE)
    return value if isinstance(value, str) and value else None


def metadata(record: dict[str, Any], label_attribute: str) -> dict[str, Any]:
    value = record.get(label_attribute + METADATA_SUFFIX)
    return value if isinstance(value, dict) else {}


def label_status(record: dict[str, Any], label_attribute: str) -> LabelStatus:
    if FAILURE_KEY in metadata(record, label_attribute):
        return LabelStatus.FAILED
    if record.get(label_attribute) is None:
        return LabelStatus.UNLABELED
    return LabelStatus.LABELED


def confidence(record: dict[str, Any], label_attribute: str) -> Decimal | None:
    """The label's `confidence` (a number between 0 and 1, sms-data-output), or None if absent or not
    a number (`true` is not a number here)."""
    value = metadata(record, label_attribute).get(CONFIDENCE_KEY)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def human_annotated(record: dict[str, Any], label_attribute: str) -> bool | None:
    """`"human-annotated": "yes"` -> True, `"no"` (automated data labeling) -> False, else None."""
    value = metadata(record, label_attribute).get(HUMAN_ANNOTATED_KEY)
    if value == "yes":
        return True
    if value == "no":
        return False
    return None


def threshold(value: Decimal | str | int | float) -> Decimal:
    """A confidence threshold as a Decimal in (0, 1]. A float goes through `str` (0.7 -> "0.7") so
    the threshold is the number the user typed, not its binary neighbour."""
    if isinstance(value, bool):
        raise RelabelError(f"confidence threshold {value!r} is not a number")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise RelabelError(f"confidence threshold {value!r} is not a number") from None
    if not number.is_finite() or not Decimal(0) < number <= Decimal(1):
        raise RelabelError(f"confidence threshold {value!r} must be above 0 and at most 1 (confidence scores are "
                           "between 0 and 1)")
    return number


# --- Selection --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelabelCriteria:
    """Which objects to relabel: labels below `below_confidence`, and/or `failed` ones (a
    `failure-reason`, or no label at all)."""

    below_confidence: Decimal | None = None
    failed: bool = False

    def __post_init__(self) -> None:
        if self.below_confidence is None and not self.failed:
            raise RelabelError("nothing to select: give a confidence threshold (--below-confidence) and/or --failed")
        if self.below_confidence is not None:
            object.__setattr__(self, "below_confidence", threshold(self.below_confidence))

    def describe(self) -> str:
        parts = []
        if self.below_confidence is not None:
            parts.append(f"confidence below {self.below_confidence}")
        if self.failed:
            parts.append("failed or unlabeled")
        return " or ".join(parts)

    def as_json(self) -> dict[str, Any]:
        below = None if self.below_confidence is None else str(self.below_confidence)
        return {"below_confidence": below, "failed": self.failed}


@dataclass
class SelectionCounts:
    input_lines: int = 0
    selected: int = 0
    low_confidence: int = 0  # selected for their confidence
    failed: int = 0  # selected: failure-reason
    unlabeled: int = 0  # selected: no label
    human: int = 0  # of the selected labeled ones, human-labeled
    machine: int = 0  # ... machine-labeled
    zero_confidence: int = 0  # selected with confidence 0 (one worker per object: see notes)
    confident: int = 0  # labeled, not selected
    without_confidence: int = 0  # labeled without a numeric confidence: not selected by confidence
    not_selected_failed: int = 0  # failed or unlabeled, not selected (failed=False)
    duplicates: int = 0  # a source-ref seen before: skipped
    unusable: int = 0  # blank, not JSON, or no source-ref: no object to send


@dataclass
class RelabelSelection:
    """The chained job's input manifest (`lines`, without terminators) and how it was chosen."""

    label_attribute: str
    criteria: RelabelCriteria
    lines: list[bytes] = field(default_factory=list)
    counts: SelectionCounts = field(default_factory=SelectionCounts)

    def notes(self) -> list[str]:
        notes = []
        if self.counts.zero_confidence:
            notes.append(f"{self.counts.zero_confidence} selected labels have confidence 0: Ground Truth sets 0.00 "
                         "when one worker labels an object (NumberOfHumanWorkersPerDataObject = 1), so a threshold "
                         "selects every such label")
        if self.counts.human and self.counts.machine:
            notes.append("the selection mixes human and machine labels, whose confidence scores AWS says not to "
                         "compare (different scales)")
        if self.counts.without_confidence:
            notes.append(f"{self.counts.without_confidence} labels have no numeric confidence and were not selected")
        return notes


def select_for_relabel(
    lines: Iterable[bytes | str],
    *,
    label_attribute: str,
    criteria: RelabelCriteria,
    new_label_attribute: str,
) -> RelabelSelection:
    """The lines of an output manifest to send to a chained job with `new_label_attribute`.

    Strictly below the threshold: a label at exactly `below_confidence` stays. Each selected line is
    returned as Ground Truth wrote it (line terminator removed). A second line for the same
    `source-ref` is skipped (it would be paid twice). RelabelError if `new_label_attribute` is not a
    valid, new attribute (see the module docstring), or a selected line already carries it.
    """
    problem = label_attribute_problem(new_label_attribute)
    if problem:
        raise RelabelError(problem)
    if new_label_attribute == label_attribute:
        raise RelabelError(
            f"the chained job needs a new label attribute, not {label_attribute!r}: with the same one Ground Truth "
            "labels only objects without a label, and skips every low-confidence one")
    selection = RelabelSelection(label_attribute=label_attribute, criteria=criteria)
    counts = selection.counts
    seen: set[str] = set()
    below = criteria.below_confidence
    for line in lines:
        counts.input_lines += 1
        record = parse_line(line)
        ref = source_ref(record) if record is not None else None
        if record is None or ref is None:
            counts.unusable += 1
            continue
        if ref in seen:
            counts.duplicates += 1
            continue
        seen.add(ref)
        status = label_status(record, label_attribute)
        if status is not LabelStatus.LABELED:
            if not criteria.failed:
                counts.not_selected_failed += 1
                continue
            if status is LabelStatus.FAILED:
                counts.failed += 1
            else:
                counts.unlabeled += 1
        else:
            score = confidence(record, label_attribute)
            if below is None or score is None or score >= below:
                if below is not None and score is None:
                    counts.without_confidence += 1
                else:
                    counts.confident += 1
                continue
            counts.low_confidence += 1
            counts.zero_confidence += score == 0
            source = human_annotated(record, label_attribute)
            counts.human += source is True
            counts.machine += source is False
        if new_label_attribute in record or new_label_attribute + METADATA_SUFFIX in record:
            raise RelabelError(f"{ref} already has label attribute {new_label_attribute!r}: a chained job would skip "
                               "it; choose another attribute")
        counts.selected += 1
        selection.lines.append(line.rstrip(b"\r\n") if isinstance(line, bytes) else line.rstrip("\r\n").encode("utf-8"))
    return selection


# --- Merge ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobOutput:
    """One job's output manifest and the label attribute that job wrote."""

    lines: Iterable[bytes | str]
    label_attribute: str
    job_name: str = ""


@dataclass
class MergeCounts:
    original_lines: int = 0
    kept: int = 0  # objects whose original label stands
    replaced: int = 0  # objects whose label came from a later job
    added: int = 0  # objects only in a later job's output
    later_without_label: int = 0  # later lines with no label for an object that has a line: ignored
    duplicates: int = 0  # a source-ref seen before in the same manifest: ignored
    unkeyed: int = 0  # original lines without a readable source-ref: passed through unchanged
    unkeyed_later: int = 0  # later lines without a readable source-ref: ignored
    output_lines: int = 0


@dataclass
class MergedManifest:
    label_attribute: str
    lines: list[bytes] = field(default_factory=list)
    counts: MergeCounts = field(default_factory=MergeCounts)


def _serialize(record: dict[str, Any]) -> bytes:
    try:
        return json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8: keep it escaped
        return json.dumps(record).encode("ascii")


def _moved(record: dict[str, Any], source_attribute: str, target_attribute: str) -> dict[str, Any]:
    """`record` with `source_attribute`'s label and metadata under `target_attribute` instead."""
    if source_attribute == target_attribute:
        return record
    moved = {key: value for key, value in record.items()
             if key not in (source_attribute, source_attribute + METADATA_SUFFIX,
                            target_attribute, target_attribute + METADATA_SUFFIX)}
    if record.get(source_attribute) is not None:
        moved[target_attribute] = record[source_attribute]
    if source_attribute + METADATA_SUFFIX in record:
        moved[target_attribute + METADATA_SUFFIX] = record[source_attribute + METADATA_SUFFIX]
    return moved


def merge_manifests(original: JobOutput, later: Sequence[JobOutput]) -> MergedManifest:
    """One line per object: the original output, overridden by each later (chained) job in order.

    - Key: `source-ref`. Within one manifest the first line of an object counts; repeats are counted
      as `duplicates` and ignored.
    - An original line is written byte for byte unless a later job labeled its object.
    - A later line with a label (no `failure-reason`, a label value) replaces the object's line: the
      later record, with its job's label and metadata moved to the original label attribute (the
      label attribute training reads; the original label it carried is dropped).
    - A later line without a label leaves an existing object as it is (`later_without_label`); for an
      object no earlier manifest had, it is added (moved the same way), so training counts it.
    - Original lines without a readable `source-ref` pass through (training counts and drops them);
      later ones are ignored.
    Order: the original's lines in their order, then added objects in the order first seen.
    """
    attribute = original.label_attribute
    merged = MergedManifest(label_attribute=attribute)
    counts = merged.counts
    output: list[bytes] = []
    index_of: dict[str, int] = {}
    origin_replaced: dict[str, bool] = {}  # object -> replaced by a later job (False: original stands)
    added: set[str] = set()
    for line in original.lines:
        counts.original_lines += 1
        raw = line.rstrip(b"\r\n") if isinstance(line, bytes) else line.rstrip("\r\n").encode("utf-8")
        record = parse_line(raw, exact_numbers=False)
        ref = source_ref(record) if record is not None else None
        if ref is None:
            counts.unkeyed += 1
            output.append(raw)
        elif ref in index_of:
            counts.duplicates += 1
        else:
            index_of[ref] = len(output)
            origin_replaced[ref] = False
            output.append(raw)
    for job in later:
        seen: set[str] = set()
        for line in job.lines:
            record = parse_line(line, exact_numbers=False)
            ref = source_ref(record) if record is not None else None
            if record is None or ref is None:
                counts.unkeyed_later += 1
                continue
            if ref in seen:
                counts.duplicates += 1
                continue
            seen.add(ref)
            labeled = label_status(record, job.label_attribute) is LabelStatus.LABELED
            if ref in index_of and not labeled:
                counts.later_without_label += 1
                continue
            line_out = _serialize(_moved(record, job.label_attribute, attribute))
            if ref in index_of:
                output[index_of[ref]] = line_out
                if ref in origin_replaced:
                    origin_replaced[ref] = True
            else:
                index_of[ref] = len(output)
                added.add(ref)
                output.append(line_out)
    counts.replaced = sum(origin_replaced.values())
    counts.kept = len(origin_replaced) - counts.replaced
    counts.added = len(added)
    counts.output_lines = len(output)
    merged.lines = output
    return merged


# --- Human vs machine labels ---------------------------------------------------------------------


@dataclass
class LabelSourceCounts:
    human: int = 0  # "human-annotated": "yes"
    machine: int = 0  # "human-annotated": "no", kept
    machine_excluded: int = 0  # machine labels below the threshold (or without a confidence), dropped
    unknown_source: int = 0  # labeled, but no "yes"/"no" in human-annotated
    unlabeled: int = 0  # failed or without a label
    unreadable: int = 0  # blank or not a JSON object

    def as_json(self) -> dict[str, int]:
        return asdict(self)


class LabelSourceFilter:
    """Counts human- and machine-labeled lines as they stream past, and drops machine labels below
    `exclude_machine_below` (and machine labels without a numeric confidence, which cannot be shown
    to be above it). Every other line is accepted: `manifests.split_manifest` keeps its own drop
    accounting for failed and malformed lines.

        source_filter = LabelSourceFilter("vehicle-type", exclude_machine_below=Decimal("0.8"))
        split = split_manifest((line for line in lines if source_filter.accept(line)), ...)
        summary["label_sources"] = source_filter.counts.as_json()
    """

    def __init__(self, label_attribute: str, *, exclude_machine_below: Decimal | str | float | None = None) -> None:
        self.label_attribute = label_attribute
        self.threshold = None if exclude_machine_below is None else threshold(exclude_machine_below)
        self.counts = LabelSourceCounts()

    def accept(self, line: bytes | str) -> bool:
        record = parse_line(line)
        if record is None:
            self.counts.unreadable += 1
            return True
        if label_status(record, self.label_attribute) is not LabelStatus.LABELED:
            self.counts.unlabeled += 1
            return True
        source = human_annotated(record, self.label_attribute)
        if source is True:
            self.counts.human += 1
            return True
        if source is None:
            self.counts.unknown_source += 1
            return True
        if self.threshold is not None:
            score = confidence(record, self.label_attribute)
            if score is None or score < self.threshold:
                self.counts.machine_excluded += 1
                return False
        self.counts.machine += 1
        return True


def count_label_sources(
    lines: Iterable[bytes | str], *, label_attribute: str, exclude_machine_below: Decimal | str | float | None = None
) -> LabelSourceCounts:
    source_filter = LabelSourceFilter(label_attribute, exclude_machine_below=exclude_machine_below)
    for line in lines:
        source_filter.accept(line)
    return source_filter.counts


# --- Finding the chain --------------------------------------------------------------------------

CHAIN_LINK_FILE = "relabel.json"
CHAIN_LINK_VERSION = 1


@dataclass(frozen=True)
class ChainLink:
    """What a chained (relabel) job relabels: written as `relabel.json` with its frozen inputs
    (`s3://<bucket>/<prefix>/labeling/<job_name>/relabel.json`) when it starts.

    `from_job` is the job whose output it selected from; `label_attribute` the chained job's own
    LabelAttributeName; `training_label_attribute` the attribute the merged manifest and training use
    (the first job's).
    """

    job_name: str
    from_job: str
    label_attribute: str
    training_label_attribute: str
    criteria: dict[str, Any] = field(default_factory=dict)
    selected: int = 0

    def __post_init__(self) -> None:
        for name in ("job_name", "from_job", "label_attribute", "training_label_attribute"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise RelabelError(f"{CHAIN_LINK_FILE}: {name} must be a non-empty string")
        if self.job_name == self.from_job:
            raise RelabelError(f"{CHAIN_LINK_FILE}: job {self.job_name!r} cannot relabel itself")

    def to_json(self) -> bytes:
        return json.dumps({"version": CHAIN_LINK_VERSION, **asdict(self)}, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, document: bytes | str) -> ChainLink:
        try:
            data = json.loads(document)
        except ValueError as error:
            raise RelabelError(f"{CHAIN_LINK_FILE} is not valid JSON: {error}") from None
        if not isinstance(data, dict) or data.get("version") != CHAIN_LINK_VERSION:
            raise RelabelError(f"{CHAIN_LINK_FILE}: expected a JSON object with version {CHAIN_LINK_VERSION}")
        fields = {key: data[key] for key in ("job_name", "from_job", "label_attribute", "training_label_attribute",
                                             "criteria", "selected") if key in data}
        try:
            return cls(**fields)
        except TypeError as error:
            raise RelabelError(f"{CHAIN_LINK_FILE}: {error}") from None


def chain_to(job_name: str, read_link: Callable[[str], ChainLink | None]) -> list[ChainLink]:
    """The links from the first job of the chain to `job_name`, oldest first ([] for a job that
    relabels nothing). `read_link(job)` returns the job's `relabel.json`, or None if it has none."""
    links: list[ChainLink] = []
    current: str | None = job_name
    seen: set[str] = set()
    while current is not None:
        if current in seen or len(links) > MAX_CHAIN_LENGTH:
            raise RelabelError(f"relabel chain of {job_name!r} loops or is longer than {MAX_CHAIN_LENGTH} jobs at "
                               f"{current!r}")
        seen.add(current)
        link = read_link(current)
        if link is None:
            break
        if link.job_name != current:
            raise RelabelError(f"{CHAIN_LINK_FILE} of job {current!r} names job {link.job_name!r}")
        if links and link.training_label_attribute != links[-1].training_label_attribute:
            raise RelabelError(f"relabel chain of {job_name!r}: jobs {link.job_name!r} and {links[-1].job_name!r} "
                               "train on different label attributes")
        links.append(link)
        current = link.from_job
    links.reverse()
    return links


def merge_chain(links: Sequence[ChainLink], read_output: Callable[[str], Iterable[bytes | str]]) -> MergedManifest:
    """The merged manifest of a chain `chain_to` returned: the first job's output under the training
    label attribute, then each chained job's output under its own. `read_output(job)` streams a
    job's output manifest lines."""
    if not links:
        raise RelabelError("merge_chain needs at least one chained job")
    first = links[0]
    original = JobOutput(read_output(first.from_job), first.training_label_attribute, first.from_job)
    later = [JobOutput(read_output(link.job_name), link.label_attribute, link.job_name) for link in links]
    return merge_manifests(original, later)
