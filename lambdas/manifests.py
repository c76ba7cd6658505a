"""Read a Ground Truth `output.manifest` and split it into train and validation manifests.

Pure functions, no AWS calls. The manifest is consumed as a stream of lines (`iter_lines` over
S3's `Body.iter_chunks()`, or an open file): Ground Truth jobs hold up to 100,000 objects, and a
Lambda should not hold the file twice. What we keep is the bytes of each usable line plus one
small integer per line for its class.

What the training job gets (facts and sources: docs/manifests.md):
- Label ids: the built-in image-classification algorithm reads class ids `0..num_classes-1` in
  label-category order. A line whose label already is such an int is written byte for byte as
  Ground Truth wrote it; a line whose label is a digit string ("3") or a category name ("Car")
  is re-serialized with the int id. `ManifestSplit.labels` maps the ids back to names.
- Only images in the project's data location: a `source-ref` outside `s3://<bucket>/<prefix>/`,
  or with a path that a consumer could resolve elsewhere (`..`, `.`, empty segments,
  backslashes, percent escapes, control characters), drops its line with a counted reason.
- Bounded lines: a line longer than `MAX_LINE_BYTES` is dropped (`line_too_long`), and
  `iter_lines` drops it without ever holding more than the cap of it.

The split is stratified per class and deterministic: which lines go to validation depends only
on the labeling job name and on how many lines of each class precede it (seeded through
hashlib, never Python's per-process salted `hash()`), so a replayed event writes
byte-identical manifests. Every class with two or more examples puts at least one in
validation and keeps at least one in train.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import unicodedata
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

# Why a line is not used for training, in the order summary.json reports them.
# `missing_source_ref`: the training channel names `source-ref` as its first attribute, and a
# record without it makes the whole job fail, so it is dropped (and counted) here instead.
# `source_ref_*`: the image is not in the project's data location (see `source_ref_problem`).
# `line_too_long`: longer than MAX_LINE_BYTES (see `iter_lines`).
DROP_REASONS: tuple[str, ...] = (
    "failed",
    "missing_label",
    "unknown_label",
    "missing_source_ref",
    "malformed_json",
    "blank",
    "source_ref_not_s3",
    "source_ref_other_bucket",
    "source_ref_outside_prefix",
    "source_ref_unsafe_path",
    "line_too_long",
)

SOURCE_ATTRIBUTE = "source-ref"
DEFAULT_VALIDATION_FRACTION = 0.2
_WRITE_BATCH = 1024

# Longest manifest line we read, in bytes, without its line terminator. An image-classification
# output line is a few hundred bytes (a `source-ref`, the label, ~200 bytes of metadata), but
# Ground Truth passes every input attribute through, and it accepts input objects of up to
# 100,000 characters (sms-input-data-input-manifest): up to 600,000 bytes once non-ASCII is
# JSON-escaped (6 bytes per character), plus the label and metadata it adds. 1 MiB never drops
# a line Ground Truth can write, and bounds what one line costs the Lambda to 1 MiB plus one
# read chunk, instead of the whole object for a file without line breaks.
MAX_LINE_BYTES = 1 << 20

# What `iter_lines` yields in place of a line longer than the cap. Identity marks it (`is`);
# it starts with 0xFF, which is never valid UTF-8, so any other consumer that parses it as JSON
# sees a malformed line instead of data.
OVERLONG_LINE = b"\xff<manifest line longer than the cap; dropped unread>"

# A JSON-decodable line yields one of these; anything else is a category index (int >= 0).
_CODES = range(-len(DROP_REASONS), 0)
(
    _FAILED,
    _MISSING_LABEL,
    _UNKNOWN_LABEL,
    _MISSING_SOURCE,
    _MALFORMED,
    _BLANK,
    _SOURCE_NOT_S3,
    _SOURCE_OTHER_BUCKET,
    _SOURCE_OUTSIDE_PREFIX,
    _SOURCE_UNSAFE_PATH,
    _LINE_TOO_LONG,
) = _CODES
_REASON_BY_CODE = dict(zip(_CODES, DROP_REASONS, strict=True))
_CODE_BY_REASON = {reason: code for code, reason in _REASON_BY_CODE.items()}

# Parsing dominates the cost of a split, so we skip what `json.loads(bytes)` does per call on
# top of parsing: sniffing the encoding (JSON Lines are UTF-8 by definition), two regex
# whitespace scans and the Python frame of `raw_decode`. `scan_once` (the C scanner that
# `raw_decode` wraps) parses one value and says where it ended; it raises StopIteration where
# `raw_decode` would raise "Expecting value", and then the full `decode` decides (it accepts
# leading whitespace, which JSON allows, and raises for a really malformed line).
_JSON_DECODER = json.JSONDecoder()
_scan_once = _JSON_DECODER.scan_once
_decode_json = _JSON_DECODER.decode
_JSON_WHITESPACE = " \t\n\r"

# An S3 key is a flat string: S3 itself resolves no `..`, `.` or `//` (there are no folders,
# only key prefixes), but tools between the manifest and the bytes may (URL normalization,
# file-system mirrors, percent-decoding), and then the image read is not the one the prefix
# check saw. So a key is refused when any of its `/`-separated segments is empty, `.` or `..`,
# or it holds a backslash (a separator elsewhere), a percent escape (`%2e%2e`, `%2f`: S3 lists
# `%` among characters to avoid) or an ASCII control character.
_UNSAFE_KEY = re.compile(r"(?:^|/)(?:\.\.?)?(?:/|$)|\\|%[0-9A-Fa-f]{2}|[\x00-\x1f\x7f]")
# The fast path, one regex per line (the split's budget is tight): printable ASCII segments
# that start with no `.` and hold no `%`, `\\` or `/`. A `source-ref` it refuses is not
# necessarily wrong: `source_ref_problem` then decides (dotfiles, non-ASCII keys, lone `%`).
# (Possessive quantifiers: a segment never contains `/`, so there is nothing to backtrack into.)
_PLAIN_SEGMENT = r"[\x20-\x24\x26-\x2d\x30-\x5b\x5d-\x7e][\x20-\x24\x26-\x2e\x30-\x5b\x5d-\x7e]*+"


def _plain_source_pattern(location: DataLocation) -> re.Pattern[str]:
    return re.compile(re.escape(location.uri) + f"{_PLAIN_SEGMENT}(?:/{_PLAIN_SEGMENT})*+")


@dataclass(frozen=True)
class DataLocation:
    """Where training images may live: `s3://<bucket>/<prefix>/...` (`prefix` "" = whole bucket)."""

    bucket: str
    prefix: str = ""

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket or self.bucket != self.bucket.strip():
            raise ValueError(f"DataLocation.bucket must be a bucket name, got {self.bucket!r}")
        object.__setattr__(self, "prefix", self.prefix.strip("/"))

    @property
    def uri(self) -> str:
        """`s3://bucket/prefix/`: every accepted `source-ref` starts with it."""
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"


def source_ref_problem(source: object, location: DataLocation) -> str | None:
    """The drop reason for a `source-ref` value, or None if it names an object in `location`."""
    if type(source) is not str or not source.startswith("s3://"):
        return "source_ref_not_s3"
    bucket, slash, key = source[len("s3://") :].partition("/")
    if not bucket or not slash or not key:
        return "source_ref_not_s3"
    if bucket != location.bucket:
        return "source_ref_other_bucket"
    if _is_unsafe_key(key):
        return "source_ref_unsafe_path"
    if location.prefix and not key.startswith(location.prefix + "/"):
        return "source_ref_outside_prefix"
    return None


def _is_unsafe_key(key: str) -> bool:
    if _UNSAFE_KEY.search(key):
        return True
    if key.isascii():
        return False
    # Compatibility forms spell the same tricks in other code points (fullwidth U+FF0E U+FF0E
    # U+FF0F is "../" after NFKC); a consumer that normalizes Unicode would see them.
    folded = unicodedata.normalize("NFKC", key)
    return folded != key and _UNSAFE_KEY.search(folded) is not None


@dataclass(frozen=True)
class ManifestSplit:
    """Train and validation lines (no line terminator) and a JSON-able summary.

    `labels[i]` is the category name of class id `i` in both manifests.
    """

    train: list[bytes]
    validation: list[bytes]
    summary: dict[str, Any]
    labels: tuple[str, ...]

    @property
    def label_map(self) -> dict[str, Any]:
        """The `label-map.json` document: what the model's class ids mean at inference time."""
        return {
            "labels": list(self.labels),
            "label_attribute": self.summary["label_attribute"],
            "labeling_job": self.summary["labeling_job"],
        }


class LabelReader:
    """Classifies manifest lines for one labeling job: a category index or a drop reason."""

    def __init__(self, *, label_attribute: str, categories: Sequence[str], location: DataLocation) -> None:
        if not label_attribute:
            raise ValueError("label_attribute must be a non-empty string")
        if not categories:
            raise ValueError("categories must list at least one label (index order = class index)")
        self.label_attribute = label_attribute
        self.metadata_attribute = f"{label_attribute}-metadata"
        self.categories = tuple(categories)
        self.location = location
        self._index_by_name = {name: index for index, name in enumerate(self.categories)}
        self._category_count = len(self.categories)
        self._plain_source = _plain_source_pattern(location).fullmatch
        self.normalized_line = b""

    def class_of(self, line: bytes) -> int:
        """The category index of `line`, or a negative code (see `reason`) if it is unusable."""
        code = self._classify(line)
        return code - self._category_count if code >= self._category_count else code

    def read(self, line: bytes) -> tuple[int, bytes]:
        """(category index or negative drop code, the line to write for training).

        The line to write is `line` itself unless its label is not yet an int id; then it is
        the record re-serialized with the id.
        """
        code = self._classify(line)
        if code >= self._category_count:
            return code - self._category_count, self.normalized_line
        return code, line

    def _classify(self, line: bytes) -> int:
        """`read` for the hot loop, without a tuple per line: a negative drop code; a category
        index for a line to write as it is; or `category count + index` for a line whose
        re-serialized form (int label) is left in `self.normalized_line`."""
        try:
            text = line.decode("utf-8")
            try:
                record, end = _scan_once(text, 0)
            except StopIteration:
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
        # Ground Truth writes the class index as an int; its docs also show it as a string
        # ("0"). A class name is accepted too when it is one of the categories. `bool` is an
        # int subclass in Python, hence `type(...) is int`.
        rewrite = type(label) is not int
        if not rewrite:
            index = label
        elif type(label) is str and label.isascii() and label.isdigit():
            index = int(label)
        elif type(label) is str:
            index = self._index_by_name.get(label, -1)
        else:
            index = -1
        if not 0 <= index < self._category_count:
            return _UNKNOWN_LABEL
        try:
            plain = self._plain_source(record[SOURCE_ATTRIBUTE]) is not None
        except KeyError:
            return _MISSING_SOURCE
        except TypeError:  # not a string: null, a number, a list ...
            plain = False
        if not plain:
            source = record[SOURCE_ATTRIBUTE]
            if source is None:
                return _MISSING_SOURCE
            problem = source_ref_problem(source, self.location)
            if problem is not None:
                return _CODE_BY_REASON[problem]
        if not rewrite:
            return index
        record[self.label_attribute] = index
        self.normalized_line = _serialize(record)
        return self._category_count + index

    @staticmethod
    def reason(code: int) -> str:
        return _REASON_BY_CODE[code]


def _serialize(record: dict[str, Any]) -> bytes:
    """One JSON line, UTF-8 kept as is (keys and order as parsed)."""
    try:
        return json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (`"\\ud800"`) decodes but cannot be UTF-8: keep it escaped.
        return json.dumps(record).encode("ascii")


def validation_count(class_size: int, fraction: float) -> int:
    """How many of a class's `class_size` examples go to validation.

    `class_size * fraction` rounded half up, but at least one as soon as the class has two
    examples, so every class the model learns is also measured (the tutorial's 5 classes x 2
    images: 2 x 0.2 rounds to 0, which left every class out of validation), and never the last
    one (every class present stays present in train; a single example stays in train).
    """
    if class_size < 2:
        return 0
    return max(1, min(math.floor(class_size * fraction + 0.5), class_size - 1))


def split_manifest(
    lines: Iterable[bytes | str],
    *,
    label_attribute: str,
    categories: Sequence[str],
    labeling_job_name: str,
    location: DataLocation,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ManifestSplit:
    """Parse `lines` of an output manifest and split the usable ones per class.

    `lines` may carry their line terminators or not (`iter_lines()` strips them, a file keeps
    them). `location` is where images may live (the settings' bucket and prefix). Both outputs
    keep the input order. `labeling_job_name` seeds the split.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(
            f"validation_fraction must be between 0 and 1 (exclusive), got {validation_fraction}"
        )
    reader = LabelReader(label_attribute=label_attribute, categories=categories, location=location)
    classify = reader._classify
    class_count = len(reader.categories)

    kept: list[bytes] = []
    # One machine int per kept line instead of a per-line object: 100k lines cost 800 KB here.
    kept_class: array[int] = array("l")
    class_sizes = [0] * class_count
    drops = [0] * len(DROP_REASONS)
    input_lines = 0
    for raw in lines:
        input_lines += 1
        # (`rstrip` returns the same object when there is nothing to strip.)
        line = (raw.encode("utf-8") if type(raw) is str else raw).rstrip(b"\r\n")
        if len(line) > max_line_bytes:
            drops[_LINE_TOO_LONG] += 1
            continue
        code = classify(line)
        if code >= 0:
            if code >= class_count:  # the label was a string: write the int id instead
                code -= class_count
                line = reader.normalized_line
            kept.append(line)
            kept_class.append(code)
            class_sizes[code] += 1
        elif raw is OVERLONG_LINE:  # (parses as malformed: checked here, off the common path)
            drops[_LINE_TOO_LONG] += 1
        else:
            drops[code] += 1  # negative codes index `drops` from the end, in DROP_REASONS order

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
        max_line_bytes=max_line_bytes,
        input_lines=input_lines,
        train_counts=[size - len(picked) for size, picked in zip(class_sizes, chosen, strict=True)],
        validation_counts=[len(picked) for picked in chosen],
        drops=drops,
    )
    return ManifestSplit(train=train, validation=validation, summary=summary, labels=reader.categories)


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
    max_line_bytes: int,
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
        # Class id -> name: the label written in both manifests is the index into this list.
        "labels": list(reader.categories),
        "source_location": reader.location.uri,
        "max_line_bytes": max_line_bytes,
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
        "classes_in_validation": sum(1 for count in validation_counts if count),
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


def iter_lines(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """Split a stream of byte chunks (`Body.iter_chunks()`, a file read in blocks) into lines.

    On `\\n` only, as JSON Lines defines them (botocore's `iter_lines` splits on `\\r` too,
    `bytes.splitlines`, and buffers a line of any length); a `\\r` before it is left for
    `split_manifest` to strip. A line longer than `max_line_bytes` (plus one byte for a `\\r`)
    is yielded as `OVERLONG_LINE`, once, and the rest of it is skipped as it streams past.
    Memory: one chunk plus at most `max_line_bytes + 1` bytes of a partial line.
    """
    limit = max_line_bytes + 1
    pending = b""
    skipping = False  # inside an over-long line: discard up to the next \n
    for chunk in chunks:
        if not chunk:
            continue
        if skipping:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            skipping = False
            chunk = chunk[end + 1 :]
            if not chunk:
                continue
        lines = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
        pending = lines.pop()
        if max(map(len, lines), default=0) <= limit:  # one C-level pass instead of a test per line
            yield from lines
        else:
            yield from (line if len(line) <= limit else OVERLONG_LINE for line in lines)
        if len(pending) > limit:
            yield OVERLONG_LINE
            pending = b""
            skipping = True
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
