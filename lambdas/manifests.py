"""Read a Ground Truth `output.manifest` and split it into train and validation manifests.

Pure functions, no AWS calls. The manifest is consumed as a stream of lines (S3's
`Body.iter_lines()` or an open file): Ground Truth jobs hold up to 100,000 objects, and a Lambda
should not hold the file twice. What we keep is the raw bytes of each usable line plus one small
integer per line for its class; the lines are written out unchanged, so the training job reads
exactly what Ground Truth wrote.

The split is stratified per class and deterministic: which lines go to validation depends only
on the labeling job name and on how many lines of each class precede it (seeded through
hashlib, never Python's per-process salted `hash()`), so a replayed event writes
byte-identical manifests.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

# Why a line is not used for training. `missing_source_ref` is ours on top of the usual four:
# the training channel names `source-ref` as its first attribute, and a record without it makes
# the whole job fail, so it is dropped (and counted) here instead.
DROP_REASONS: tuple[str, ...] = (
    "failed",
    "missing_label",
    "unknown_label",
    "missing_source_ref",
    "malformed_json",
    "blank",
)

SOURCE_ATTRIBUTE = "source-ref"
DEFAULT_VALIDATION_FRACTION = 0.2
_WRITE_BATCH = 1024

# A JSON-decodable line yields one of these; anything else is a category index (int >= 0).
_FAILED, _MISSING_LABEL, _UNKNOWN_LABEL, _MISSING_SOURCE, _MALFORMED, _BLANK = range(-6, 0)
_REASON_BY_CODE = dict(zip(range(-6, 0), DROP_REASONS, strict=True))

# Parsing dominates the cost of a split, so we skip what `json.loads(bytes)` does per call on
# top of parsing: sniffing the encoding (JSON Lines are UTF-8 by definition) and two regex
# whitespace scans. `raw_decode` parses one value and says where it ended; the full `decode`
# is the fallback for the rare line with leading whitespace.
_JSON_DECODER = json.JSONDecoder()
_raw_decode = _JSON_DECODER.raw_decode
_decode_json = _JSON_DECODER.decode
_JSON_WHITESPACE = " \t\n\r"


@dataclass(frozen=True)
class ManifestSplit:
    """Train and validation lines (original bytes, no line terminator) and a JSON-able summary."""

    train: list[bytes]
    validation: list[bytes]
    summary: dict[str, Any]


class LabelReader:
    """Classifies manifest lines for one labeling job: a category index or a drop reason."""

    def __init__(self, *, label_attribute: str, categories: Sequence[str]) -> None:
        if not label_attribute:
            raise ValueError("label_attribute must be a non-empty string")
        if not categories:
            raise ValueError("categories must list at least one label (index order = class index)")
        self.label_attribute = label_attribute
        self.metadata_attribute = f"{label_attribute}-metadata"
        self.categories = tuple(categories)
        self._index_by_name = {name: index for index, name in enumerate(self.categories)}
        self._category_count = len(self.categories)

    def class_of(self, line: bytes) -> int:
        """The category index of `line`, or a negative code (see `reason`) if it is unusable."""
        try:
            text = line.decode("utf-8")
            try:
                record, end = _raw_decode(text)
            except ValueError:
                # `raw_decode` refuses leading whitespace, which JSON allows: let the full
                # decoder decide (it raises when the line really is malformed).
                record, end = _decode_json(text), len(text)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both derive from it
            return _MALFORMED if line.strip() else _BLANK
        if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
            return _MALFORMED  # `{...} trailing junk`, or two objects on one line
        if type(record) is not dict:
            return _MALFORMED
        metadata = record.get(self.metadata_attribute)
        if type(metadata) is dict and "failure-reason" in metadata:
            return _FAILED
        label = record.get(self.label_attribute)
        if label is None:
            return _MISSING_LABEL
        # Ground Truth writes the class index as an int; some writers emit it as a string ("3").
        # A class name is accepted too when it is one of the categories. `bool` is an int
        # subclass in Python, hence `type(...) is int`.
        if type(label) is int:
            index = label
        elif type(label) is str and label.isascii() and label.isdigit():
            index = int(label)
        elif type(label) is str:
            index = self._index_by_name.get(label, -1)
        else:
            index = -1
        if not 0 <= index < self._category_count:
            return _UNKNOWN_LABEL
        if SOURCE_ATTRIBUTE not in record:
            return _MISSING_SOURCE
        return index

    @staticmethod
    def reason(code: int) -> str:
        return _REASON_BY_CODE[code]


def validation_count(class_size: int, fraction: float) -> int:
    """How many of a class's `class_size` examples go to validation.

    Rounded half up (small classes get a validation example sooner than with floor), and never
    the last one: every class present must stay present in train, so a single example stays
    in train.
    """
    if class_size < 2:
        return 0
    return min(math.floor(class_size * fraction + 0.5), class_size - 1)


def split_manifest(
    lines: Iterable[bytes | str],
    *,
    label_attribute: str,
    categories: Sequence[str],
    labeling_job_name: str,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
) -> ManifestSplit:
    """Parse `lines` of an output manifest and split the usable ones per class.

    `lines` may carry their line terminators or not (`iter_lines()` strips them, a file keeps
    them). Both outputs keep the input order. `labeling_job_name` seeds the split.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(
            f"validation_fraction must be between 0 and 1 (exclusive), got {validation_fraction}"
        )
    reader = LabelReader(label_attribute=label_attribute, categories=categories)
    class_of = reader.class_of
    class_count = len(reader.categories)

    kept: list[bytes] = []
    # One machine int per kept line instead of a per-line object: 100k lines cost 800 KB here.
    kept_class: array[int] = array("l")
    class_sizes = [0] * class_count
    drops = [0] * len(DROP_REASONS)
    input_lines = 0
    for raw in lines:
        input_lines += 1
        line = raw.encode("utf-8") if type(raw) is str else raw
        if line[-1:] in (b"\n", b"\r"):
            line = line.rstrip(b"\r\n")
        code = class_of(line)
        if code >= 0:
            kept.append(line)
            kept_class.append(code)
            class_sizes[code] += 1
        else:
            drops[code] += 1  # codes -6..-1 index `drops` from the end, in DROP_REASONS order

    # Which members of each class (by their ordinal within the class) go to validation.
    chosen = [
        choose_validation_ordinals(
            size,
            validation_count(size, validation_fraction),
            seed=_class_seed(labeling_job_name, index),
        )
        for index, size in enumerate(class_sizes)
    ]
    train: list[bytes] = []
    validation: list[bytes] = []
    ordinals = [0] * class_count
    for line, index in zip(kept, kept_class, strict=True):
        ordinal = ordinals[index]
        ordinals[index] = ordinal + 1
        (validation if ordinal in chosen[index] else train).append(line)

    summary = _summary(
        reader,
        labeling_job_name=labeling_job_name,
        validation_fraction=validation_fraction,
        input_lines=input_lines,
        train_counts=[size - len(picked) for size, picked in zip(class_sizes, chosen, strict=True)],
        validation_counts=[len(picked) for picked in chosen],
        drops=drops,
    )
    return ManifestSplit(train=train, validation=validation, summary=summary)


def choose_validation_ordinals(size: int, wanted: int, *, seed: int) -> set[int]:
    """`wanted` distinct ordinals out of `range(size)`, uniformly, reproducibly from `seed`.

    Robert Floyd's sampling algorithm driven only by `random()`: Python guarantees that
    `random()` after seeding with an int yields the same sequence in every version, unlike
    `sample`/`shuffle`, whose algorithms may change (and with them a replayed split). It also
    draws only `wanted` numbers instead of one per member.
    """
    if not 0 <= wanted <= size:
        raise ValueError(f"cannot choose {wanted} of {size}")
    draw = random.Random(seed).random
    picked: set[int] = set()
    for upper in range(size - wanted, size):
        candidate = int(draw() * (upper + 1))  # uniform in [0, upper]
        picked.add(upper if candidate in picked else candidate)
    return picked


def _class_seed(labeling_job_name: str, class_index: int) -> int:
    # One seed per class, so a class's split does not shift when another class gains or loses
    # examples. hashlib, not `hash()`: Python salts str hashes per process.
    material = f"{labeling_job_name}\x00{class_index}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def _summary(
    reader: LabelReader,
    *,
    labeling_job_name: str,
    validation_fraction: float,
    input_lines: int,
    train_counts: list[int],
    validation_counts: list[int],
    drops: list[int],
) -> dict[str, Any]:
    classes = [
        {
            "index": index,
            "label": name,
            "train": train_counts[index],
            "validation": validation_counts[index],
        }
        for index, name in enumerate(reader.categories)
    ]
    return {
        "labeling_job": labeling_job_name,
        "label_attribute": reader.label_attribute,
        "validation_fraction": validation_fraction,
        "totals": {
            "input_lines": input_lines,
            "kept": sum(train_counts) + sum(validation_counts),
            "dropped": sum(drops),
            "train": sum(train_counts),
            "validation": sum(validation_counts),
        },
        "dropped": dict(zip(DROP_REASONS, drops, strict=True)),
        "classes": classes,
        "classes_present": sum(1 for count in train_counts if count),
    }


def write_manifest(lines: Iterable[bytes], out: BinaryIO) -> int:
    """Write JSON Lines to a binary file object; returns the number of bytes written.

    In batches: one `join` over the whole manifest would copy it all once more, one `write`
    per line costs a call per line.
    """
    written = 0
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) == _WRITE_BATCH:
            written += out.write(b"\n".join(batch) + b"\n")
            batch.clear()
    if batch:
        written += out.write(b"\n".join(batch) + b"\n")
    return written


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a stream of byte chunks (`Body.iter_chunks()`, a file read in blocks) into lines.

    On `\\n` only, as JSON Lines defines them; a `\\r` before it is left for `split_manifest`
    to strip. Memory: one chunk plus one partial line.
    """
    pending = b""
    for chunk in chunks:
        if not chunk:
            continue
        lines = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def parse_label_categories(document: bytes | str) -> tuple[str, ...]:
    """Category names from a label category config file, in class-index order.

    `{"document-version": "2018-11-28", "labels": [{"label": "Airplane"}, ...]}`
    """
    try:
        data = json.loads(document)
    except ValueError as error:
        raise ValueError(f"label category file is not valid JSON: {error}") from None
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, list) or not labels:
        raise ValueError(
            'label category file has no "labels" list; expected {"document-version": ..., '
            '"labels": [{"label": "..."}, ...]}'
        )
    names: list[str] = []
    for position, entry in enumerate(labels):
        name = entry.get("label") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f'label category file: labels[{position}] has no "label" string')
        if name in names:
            raise ValueError(f"label category file: label {name!r} appears twice")
        names.append(name)
    return tuple(names)
