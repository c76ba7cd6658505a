"""Parsing a Ground Truth output.manifest and the stratified, deterministic train/validation split."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.manifests import (
    DROP_REASONS,
    MAX_LINE_BYTES,
    OVERLONG_LINE,
    DataLocation,
    LabelReader,
    choose_validation_ordinals,
    iter_lines,
    parse_label_categories,
    source_ref_problem,
    split_manifest,
    validation_count,
    write_manifest,
)

ATTR = "gt-demo-labels"
CATEGORIES = ["Airplane", "Automobile", "Bird", "Cat", "Helicopter"]
JOB = "gt-demo-20240101"
BUCKET = "sagemaker-us-east-1-123456789012"
PREFIX = "ground-truth-demo"
LOCATION = DataLocation(BUCKET, PREFIX)
SRC = f"s3://{BUCKET}/{PREFIX}/images/k.jpg"


def line(
    label: Any = 0,
    *,
    n: int = 0,
    attr: str = ATTR,
    failed: bool = False,
    with_label: bool = True,
    with_source: bool = True,
    source: str | None = None,
) -> bytes:
    """A line shaped like Ground Truth's image-classification output."""
    record: dict[str, Any] = {}
    if with_source:
        record["source-ref"] = source or f"s3://{BUCKET}/{PREFIX}/images/img-{n:06d}.jpg"
    metadata: dict[str, Any] = {
        "type": "groundtruth/image-classification",
        "job-name": f"labeling-job/{JOB}",
        "human-annotated": "yes",
        "creation-date": "2024-01-01T00:00:00.000000",
    }
    if failed:
        metadata["failure-reason"] = "ClientError: The task timed out for all workers."
    elif with_label:
        record[attr] = label
        metadata["confidence"] = 0.91
        metadata["class-name"] = "whatever"
    record[f"{attr}-metadata"] = metadata
    return json.dumps(record).encode()


def split(lines: list[bytes] | list[str], **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "label_attribute": ATTR,
        "categories": CATEGORIES,
        "labeling_job_name": JOB,
        "location": LOCATION,
    }
    options.update(overrides)
    return split_manifest(lines, **options)


def class_lines(index: int, count: int, start: int = 0) -> list[bytes]:
    return [line(index, n=start + k) for k in range(count)]


# --- classification of single lines --------------------------------------------------------

READER = LabelReader(label_attribute=ATTR, categories=CATEGORIES, location=LOCATION)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (line(0), 0),
        (line(4), 4),
        (line("3"), 3),
        (line("Bird"), 2),
        (b'  {"source-ref": "%s", "gt-demo-labels": 1}' % SRC.encode(), 1),
        (b'{"source-ref": "%s", "gt-demo-labels": 1}  \t' % SRC.encode(), 1),
    ],
)
def test_usable_lines_give_their_class_index(raw: bytes, expected: int) -> None:
    assert READER.class_of(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (line(failed=True), "failed"),
        # failed wins even when a label is (oddly) present
        (line(1).replace(b'"confidence"', b'"failure-reason": "x", "confidence"'), "failed"),
        (line(with_label=False), "missing_label"),
        (line(None), "missing_label"),
        (line(5), "unknown_label"),
        (line(-1), "unknown_label"),
        (line("7"), "unknown_label"),
        (line("-1"), "unknown_label"),
        (line(" 3"), "unknown_label"),
        (line("Dog"), "unknown_label"),
        (line("bird"), "unknown_label"),
        (line(True), "unknown_label"),
        (line(1.0), "unknown_label"),
        (line([1]), "unknown_label"),
        (line({"class": 1}), "unknown_label"),
        (line("٣"), "unknown_label"),  # Arabic-Indic digit three: isdigit() but not our index
        (line(1, with_source=False), "missing_source_ref"),
        (b'{"source-ref": null, "gt-demo-labels": 1}', "missing_source_ref"),
        (b'{"source-ref": 7, "gt-demo-labels": 1}', "source_ref_not_s3"),
        (b"{", "malformed_json"),
        (b'{"source-ref": "%s", "gt-demo-labels": 1' % SRC.encode(), "malformed_json"),
        (b"[1, 2]", "malformed_json"),
        (b'"just a string"', "malformed_json"),
        (b"3", "malformed_json"),
        (b'{"gt-demo-labels": 1} {"gt-demo-labels": 2}', "malformed_json"),
        (b'{"gt-demo-labels": 1} x', "malformed_json"),
        (b'{"source-ref": "\xff\xfe", "gt-demo-labels": 1}', "malformed_json"),
        (b"", "blank"),
        (b"   ", "blank"),
        (b"\t\r", "blank"),
    ],
)
def test_unusable_lines_give_their_drop_reason(raw: bytes, reason: str) -> None:
    code = READER.class_of(raw)
    assert code < 0
    assert READER.reason(code) == reason


def test_metadata_that_is_not_an_object_is_not_a_failure() -> None:
    raw = json.dumps({"source-ref": SRC, ATTR: 2, f"{ATTR}-metadata": "failure-reason"})
    assert READER.class_of(raw.encode()) == 2


def test_reader_rejects_empty_categories_and_attribute() -> None:
    with pytest.raises(ValueError, match="categories"):
        LabelReader(label_attribute=ATTR, categories=[], location=LOCATION)
    with pytest.raises(ValueError, match="label_attribute"):
        LabelReader(label_attribute="", categories=CATEGORIES, location=LOCATION)


# --- validation counts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "fraction", "expected"),
    [
        (0, 0.2, 0),
        (1, 0.2, 0),
        (1, 0.9, 0),
        (2, 0.2, 1),  # 0.4 rounds down to 0, but a class of 2 spares one for validation
        (2, 0.05, 1),
        (9, 0.05, 1),  # 0.45
        (40, 0.01, 1),  # 0.4
        (3, 0.2, 1),  # 0.6 rounds up
        (5, 0.2, 1),
        (10, 0.2, 2),
        (12, 0.2, 2),  # 2.4
        (13, 0.2, 3),  # 2.6
        (2, 0.25, 1),  # 0.5 rounds half up
        (2, 0.5, 1),
        (2, 0.9, 1),  # never the last train example
        (100, 0.99, 99),
        (100_000, 0.2, 20_000),
    ],
)
def test_validation_count(size: int, fraction: float, expected: int) -> None:
    assert validation_count(size, fraction) == expected


@given(size=st.integers(0, 10_000), fraction=st.floats(0.001, 0.999))
def test_validation_count_bounds(size: int, fraction: float) -> None:
    wanted = validation_count(size, fraction)
    if size < 2:
        assert wanted == 0
    else:
        # at least one to validate, at least one to train
        assert 1 <= wanted <= size - 1
        assert abs(wanted - size * fraction) <= 0.5 + 1e-9 or wanted in (1, size - 1)


# --- choosing validation members -------------------------------------------------------------


def test_choose_ordinals_is_distinct_in_range_and_reproducible() -> None:
    picked = choose_validation_ordinals(100, 20, seed=42)
    assert len(picked) == 20
    assert all(0 <= ordinal < 100 for ordinal in picked)
    assert picked == choose_validation_ordinals(100, 20, seed=42)
    assert picked != choose_validation_ordinals(100, 20, seed=43)


@pytest.mark.parametrize(
    ("size", "wanted", "expected"),
    [(0, 0, set()), (5, 0, set()), (5, 5, {0, 1, 2, 3, 4}), (1, 1, {0})],
)
def test_choose_ordinals_edges(size: int, wanted: int, expected: set[int]) -> None:
    assert choose_validation_ordinals(size, wanted, seed=1) == expected


@pytest.mark.parametrize(("size", "wanted"), [(3, 4), (3, -1)])
def test_choose_ordinals_rejects_impossible_requests(size: int, wanted: int) -> None:
    with pytest.raises(ValueError, match="cannot choose"):
        choose_validation_ordinals(size, wanted, seed=1)


def test_choose_ordinals_is_uniform_enough() -> None:
    # 3 of 10 over 3000 fixed seeds: each ordinal expected 900 times (sd ~25).
    hits: Counter[int] = Counter()
    for seed in range(3000):
        hits.update(choose_validation_ordinals(10, 3, seed=seed))
    assert set(hits) == set(range(10))
    assert all(780 <= count <= 1020 for count in hits.values()), hits


# --- the split ---------------------------------------------------------------------------


def test_lines_with_an_int_label_are_written_back_unchanged() -> None:
    odd = b'{"gt-demo-labels":2,   "source-ref":"%s","z":[1,2, 3.50], "u": "\\u00e9"}' % SRC.encode()
    result = split([odd, line(1, n=1)])
    assert odd in result.train + result.validation


@pytest.mark.parametrize("label", ["2", "Bird", "02"])
def test_string_labels_are_written_as_the_int_id(label: str) -> None:
    # The built-in algorithm reads class ids 0..num_classes-1; "Bird" would reach it as is.
    raw = line(label, n=7)
    result = split([raw, line(0, n=8)])
    written = next(out for out in result.train + result.validation if b"img-000007" in out)
    record = json.loads(written)
    assert record[ATTR] == 2
    assert type(record[ATTR]) is int
    # nothing else changed, and the order of the attributes is kept
    assert record == {**json.loads(raw), ATTR: 2}
    assert list(record) == list(json.loads(raw))


def test_rewritten_lines_keep_utf8_and_survive_a_lone_surrogate() -> None:
    utf8 = f'{{"source-ref": "s3://{BUCKET}/{PREFIX}/images/é.jpg", "{ATTR}": "Cat"}}'.encode()
    surrogate = f'{{"source-ref": "{SRC}", "{ATTR}": "Cat", "note": "\\ud800"}}'.encode()
    result = split([utf8, surrogate])
    assert sorted(result.train + result.validation) == sorted(
        [
            f'{{"source-ref": "s3://{BUCKET}/{PREFIX}/images/é.jpg", "{ATTR}": 3}}'.encode(),
            f'{{"source-ref": "{SRC}", "{ATTR}": 3, "note": "\\ud800"}}'.encode(),
        ]
    )


def test_the_label_map_lists_class_names_by_id() -> None:
    result = split([line(0), line("Cat", n=1)])
    assert result.labels == tuple(CATEGORIES)
    assert result.summary["labels"] == CATEGORIES
    assert result.label_map == {"labels": CATEGORIES, "label_attribute": ATTR, "labeling_job": JOB}
    json.dumps(result.label_map)


def test_line_terminators_are_removed_and_nothing_else() -> None:
    raw = line(1)
    result = split([raw + b"\r\n", raw.replace(b"img-000000", b"img-000001") + b"\n"])
    assert sorted(result.train + result.validation) == sorted(
        [raw, raw.replace(b"img-000000", b"img-000001")]
    )


def test_str_lines_are_accepted_and_returned_as_utf8_bytes() -> None:
    text = f'{{"source-ref": "s3://{BUCKET}/{PREFIX}/é.jpg", "gt-demo-labels": 0}}'
    result = split([text + "\n"])
    assert result.train == [text.encode("utf-8")]


def test_stratified_per_class() -> None:
    lines = class_lines(0, 100) + class_lines(1, 50, start=1000) + class_lines(2, 10, start=2000)
    result = split(lines)
    by_class = {entry["index"]: entry for entry in result.summary["classes"]}
    assert (by_class[0]["train"], by_class[0]["validation"]) == (80, 20)
    assert (by_class[1]["train"], by_class[1]["validation"]) == (40, 10)
    assert (by_class[2]["train"], by_class[2]["validation"]) == (8, 2)
    assert (by_class[3]["train"], by_class[3]["validation"]) == (0, 0)
    # and the lines really are where the summary says
    validation_classes = Counter(READER.class_of(raw) for raw in result.validation)
    assert validation_classes == {0: 20, 1: 10, 2: 2}
    assert Counter(READER.class_of(raw) for raw in result.train) == {0: 80, 1: 40, 2: 8}


def test_mixed_int_and_string_labels_are_one_class() -> None:
    lines = [line(3, n=k) for k in range(5)] + [line("3", n=10 + k) for k in range(5)]
    result = split(lines)
    entry = result.summary["classes"][3]
    assert (entry["train"], entry["validation"]) == (8, 2)


def test_class_with_one_example_goes_to_train() -> None:
    lines = [*class_lines(0, 20), line(4, n=99)]
    result = split(lines)
    assert line(4, n=99) in result.train
    assert result.summary["classes"][4] == {
        "index": 4,
        "label": "Helicopter",
        "train": 1,
        "validation": 0,
    }


def test_single_class_manifest() -> None:
    result = split(class_lines(2, 10))
    assert result.summary["classes_present"] == 1
    assert len(result.train) == 8
    assert len(result.validation) == 2


def test_the_tutorials_ten_images_validate_every_class() -> None:
    # 5 classes x 2 images: 0.2 x 2 rounds to 0 per class, which used to leave 4 of the 5
    # classes out of validation entirely (a 9/1 split).
    lines = [line(index, n=10 * index + k) for index in range(5) for k in range(2)]
    result = split(lines)
    assert [(c["train"], c["validation"]) for c in result.summary["classes"]] == [(1, 1)] * 5
    assert result.summary["classes_in_validation"] == 5
    assert Counter(READER.class_of(raw) for raw in result.validation) == dict.fromkeys(range(5), 1)


def test_all_failed() -> None:
    result = split([line(failed=True, n=k) for k in range(7)])
    assert result.train == []
    assert result.validation == []
    assert result.summary["totals"] == {
        "input_lines": 7,
        "kept": 0,
        "dropped": 7,
        "train": 0,
        "validation": 0,
    }
    assert result.summary["dropped"]["failed"] == 7
    assert result.summary["classes_present"] == 0


def test_empty_manifest() -> None:
    result = split([])
    assert result.summary["totals"]["input_lines"] == 0
    assert result.summary["dropped"] == dict.fromkeys(DROP_REASONS, 0)


def test_summary_counts_every_reason() -> None:
    lines = [
        line(0, n=1),
        line(1, n=2),
        line(failed=True, n=3),
        line(with_label=False, n=4),
        line(9, n=5),
        line("Dog", n=6),
        line(1, n=7, with_source=False),
        b"{not json",
        b"",
        b"   ",
        line(1, n=8, source="images/img-8.jpg"),
        line(1, n=9, source="s3://someone-elses-bucket/ground-truth-demo/images/x.jpg"),
        line(1, n=10, source=f"s3://{BUCKET}/other-project/x.jpg"),
        line(1, n=11, source=f"s3://{BUCKET}/{PREFIX}/../other-project/x.jpg"),
        line(1, n=12, source=f"s3://{BUCKET}/{PREFIX}/images/{'x' * MAX_LINE_BYTES}.jpg"),
    ]
    summary = split(lines).summary
    assert summary["dropped"] == {
        "failed": 1,
        "missing_label": 1,
        "unknown_label": 2,
        "missing_source_ref": 1,
        "malformed_json": 1,
        "blank": 2,
        "source_ref_not_s3": 1,
        "source_ref_other_bucket": 1,
        "source_ref_outside_prefix": 1,
        "source_ref_unsafe_path": 1,
        "line_too_long": 1,
    }
    assert list(summary["dropped"]) == list(DROP_REASONS)
    assert summary["totals"]["input_lines"] == 15
    assert summary["totals"]["kept"] == 2
    assert summary["totals"]["dropped"] == 13
    assert summary["labeling_job"] == JOB
    assert summary["label_attribute"] == ATTR
    assert summary["validation_fraction"] == 0.2
    assert summary["source_location"] == f"s3://{BUCKET}/{PREFIX}/"
    assert summary["max_line_bytes"] == MAX_LINE_BYTES
    json.dumps(summary)  # stored as summary.json


def test_outputs_keep_input_order() -> None:
    lines = [line(k % 3, n=k) for k in range(60)]
    result = split(lines)
    position = {raw: k for k, raw in enumerate(lines)}
    assert [position[raw] for raw in result.train] == sorted(position[raw] for raw in result.train)
    assert [position[raw] for raw in result.validation] == sorted(
        position[raw] for raw in result.validation
    )


def test_deterministic_for_the_same_job_and_different_for_another() -> None:
    lines = class_lines(0, 100) + class_lines(1, 100, start=100)
    first, second = split(lines), split(list(lines))
    assert first.train == second.train
    assert first.validation == second.validation
    other = split(lines, labeling_job_name="gt-demo-20240102")
    assert set(other.validation) != set(first.validation)
    assert len(other.validation) == len(first.validation)


def test_a_class_split_does_not_move_when_another_class_changes() -> None:
    airplanes = class_lines(0, 50)
    base = split(airplanes + class_lines(1, 30, start=100))
    more_cars = split(airplanes + class_lines(1, 45, start=100))
    assert [raw for raw in base.validation if READER.class_of(raw) == 0] == [
        raw for raw in more_cars.validation if READER.class_of(raw) == 0
    ]


def test_split_is_pinned() -> None:
    # A change here means a replayed event after a deploy would write different manifests
    # than the ones a running training job reads: change it deliberately or not at all.
    result = split(class_lines(0, 10) + class_lines(1, 5, start=10))
    picked = sorted(json.loads(raw)["source-ref"][-10:-4] for raw in result.validation)
    assert picked == PINNED_VALIDATION


PINNED_VALIDATION = ["000003", "000008", "000014"]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_out_of_range_is_rejected(fraction: float) -> None:
    with pytest.raises(ValueError, match="validation_fraction"):
        split([line(0)], validation_fraction=fraction)


def test_other_label_attribute_is_not_read() -> None:
    result = split([line(0, attr="other-job")])
    assert result.summary["dropped"]["missing_label"] == 1


def test_lines_are_consumed_lazily_once() -> None:
    consumed: list[int] = []

    def stream() -> Any:
        for k in range(5):
            consumed.append(k)
            yield line(0, n=k)

    result = split(stream())
    assert consumed == [0, 1, 2, 3, 4]
    assert result.summary["totals"]["kept"] == 5


# --- writing -------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 1023, 1024, 1025, 3000])
def test_write_manifest_round_trips(count: int) -> None:
    lines = [line(k % 5, n=k) for k in range(count)]
    out = io.BytesIO()
    written = write_manifest(lines, out)
    data = out.getvalue()
    assert written == len(data)
    assert data == b"".join(raw + b"\n" for raw in lines)
    assert data.splitlines() == lines


# --- properties ------------------------------------------------------------------------------

KINDS = (
    "int", "str", "name", "failed", "missing", "unknown", "nosource", "malformed", "blank",
    "elsewhere", "outside", "escape", "toolong",
)
REASON_OF_KIND = {
    "failed": "failed",
    "missing": "missing_label",
    "unknown": "unknown_label",
    "nosource": "missing_source_ref",
    "malformed": "malformed_json",
    "blank": "blank",
    "elsewhere": "source_ref_other_bucket",
    "outside": "source_ref_outside_prefix",
    "escape": "source_ref_unsafe_path",
    "toolong": "line_too_long",
}
PROPERTY_MAX_LINE = 2_000  # small, so generated lines can exceed it cheaply


@st.composite
def manifests(draw: st.DrawFn) -> tuple[list[str], list[bytes], list[bytes], dict[str, int]]:
    """Returns categories, the manifest lines, the lines expected to be written, expected drops."""
    categories = draw(
        st.lists(st.sampled_from([*CATEGORIES, "Dog", "Ship"]), min_size=1, max_size=6, unique=True)
    )
    specs = draw(
        st.lists(
            st.tuples(st.sampled_from(KINDS), st.integers(0, len(categories) - 1)), max_size=120
        )
    )
    lines: list[bytes] = []
    kept: list[bytes] = []
    drops = dict.fromkeys(DROP_REASONS, 0)
    for n, (kind, index) in enumerate(specs):
        if kind == "int":
            raw = line(index, n=n)
        elif kind == "str":
            raw = line(str(index), n=n)
        elif kind == "name":
            raw = line(categories[index], n=n)
        elif kind == "failed":
            raw = line(failed=True, n=n)
        elif kind == "missing":
            raw = line(with_label=False, n=n)
        elif kind == "unknown":
            raw = line(len(categories) + index, n=n)
        elif kind == "nosource":
            raw = line(index, n=n, with_source=False)
        elif kind == "malformed":
            raw = line(index, n=n)[:-1]  # cut the closing brace
        elif kind == "elsewhere":
            raw = line(index, n=n, source=f"s3://other-bucket/{PREFIX}/images/{n}.jpg")
        elif kind == "outside":
            raw = line(index, n=n, source=f"s3://{BUCKET}/{PREFIX}-old/images/{n}.jpg")
        elif kind == "escape":
            raw = line(index, n=n, source=f"s3://{BUCKET}/{PREFIX}/images/../../{n}.jpg")
        elif kind == "toolong":
            raw = line(index, n=n, source=f"s3://{BUCKET}/{PREFIX}/images/{n}-{'x' * PROPERTY_MAX_LINE}.jpg")
        else:
            raw = b""
        lines.append(raw)
        if kind in REASON_OF_KIND:
            drops[REASON_OF_KIND[kind]] += 1
        elif kind == "int":
            kept.append(raw)  # byte for byte
        else:
            kept.append(json.dumps({**json.loads(raw), ATTR: index}).encode())  # the int id instead
    return categories, lines, kept, drops


@given(
    manifest=manifests(),
    fraction=st.floats(0.05, 0.95),
    job=st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
)
@settings(max_examples=300, deadline=None)
def test_split_properties(
    manifest: tuple[list[str], list[bytes], list[bytes], dict[str, int]], fraction: float, job: str
) -> None:
    categories, lines, expected_kept, expected_drops = manifest
    reader = LabelReader(label_attribute=ATTR, categories=categories, location=LOCATION)
    result = split_manifest(
        lines,
        label_attribute=ATTR,
        categories=categories,
        labeling_job_name=job,
        location=LOCATION,
        validation_fraction=fraction,
        max_line_bytes=PROPERTY_MAX_LINE,
    )
    summary = result.summary

    # kept + dropped = input, and each line counted under the reason it was built for
    assert summary["totals"]["kept"] + summary["totals"]["dropped"] == len(lines)
    assert summary["dropped"] == expected_drops
    # no line lost or duplicated; train and validation disjoint (every generated line is unique)
    assert Counter(result.train) + Counter(result.validation) == Counter(expected_kept)
    assert not set(result.train) & set(result.validation)
    # every written label is the class id, an int, whatever form the manifest gave it in
    for raw in result.train + result.validation:
        label = json.loads(raw)[ATTR]
        assert type(label) is int
        assert label == reader.class_of(raw)
    # every class present is in train, with exactly the planned validation share; a class with
    # 2 or more examples has at least one in validation and at least one in train
    present = Counter(reader.class_of(raw) for raw in expected_kept)
    in_train = Counter(reader.class_of(raw) for raw in result.train)
    in_validation = Counter(reader.class_of(raw) for raw in result.validation)
    for index, size in present.items():
        assert in_train[index] >= 1
        assert in_validation[index] == validation_count(size, fraction)
        if size >= 2:
            assert in_validation[index] >= 1
        assert summary["classes"][index]["train"] == in_train[index]
        assert summary["classes"][index]["validation"] == in_validation[index]
    assert summary["classes_present"] == len(present)
    assert summary["classes_in_validation"] == sum(1 for size in present.values() if size >= 2)
    # deterministic, whether the lines come as bytes or str
    again = split_manifest(
        [raw.decode() for raw in lines],
        label_attribute=ATTR,
        categories=categories,
        labeling_job_name=job,
        location=LOCATION,
        validation_fraction=fraction,
        max_line_bytes=PROPERTY_MAX_LINE,
    )
    assert again.train == result.train
    assert again.validation == result.validation
    assert again.summary == summary


# --- reading a stream of chunks -------------------------------------------------------------


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[k : k + size] for k in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_iter_lines_reassembles_lines_across_chunks(size: int) -> None:
    lines = [line(k % 5, n=k) for k in range(20)]
    data = b"\n".join(lines) + b"\n"
    assert list(iter_lines(chunked(data, size))) == lines


@pytest.mark.parametrize("size", [1, 2, 5, 64])
def test_iter_lines_keeps_blank_lines_and_a_last_line_without_newline(size: int) -> None:
    data = b"a\n\nb\n  \nc"
    assert list(iter_lines(chunked(data, size))) == [b"a", b"", b"b", b"  ", b"c"]


def test_iter_lines_of_nothing() -> None:
    assert list(iter_lines([])) == []
    assert list(iter_lines([b"", b""])) == []


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_crlf_manifest_in_chunks_splits_cleanly(size: int) -> None:
    lines = [line(k % 2, n=k) for k in range(12)]
    data = b"\r\n".join(lines) + b"\r\n"
    result = split(iter_lines(chunked(data, size)))
    assert result.summary["totals"]["input_lines"] == 12
    assert result.summary["dropped"]["blank"] == 0
    assert sorted(result.train + result.validation) == sorted(lines)


@pytest.mark.parametrize("size", [1, 3, 7, 64, 10_000])
def test_iter_lines_replaces_an_overlong_line_and_keeps_its_neighbours(size: int) -> None:
    long_line = b'{"source-ref": "' + b"x" * 100 + b'"}'
    data = b"a\n" + long_line + b"\nb\n" + long_line
    assert list(iter_lines(chunked(data, size), max_line_bytes=50)) == [b"a", OVERLONG_LINE, b"b", OVERLONG_LINE]


def test_iter_lines_never_holds_an_overlong_line() -> None:
    # A 16 MiB line in 256 KiB chunks: botocore's iter_lines (and our splitter before the cap)
    # held all of it, and copied it once per chunk while it grew.
    chunk = b"x" * (256 * 1024)

    def stream() -> Iterator[bytes]:
        yield b"a\n"
        for _ in range(64):
            yield chunk
        yield b"\nb\n"

    tracemalloc.start()
    try:
        out = list(iter_lines(stream()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out == [b"a", OVERLONG_LINE, b"b"]
    assert peak < 4 * (MAX_LINE_BYTES + len(chunk)), peak


@pytest.mark.parametrize("size", [1, 2, 5, 64, 100_000])
def test_a_line_at_the_cap_is_kept_and_one_byte_more_is_dropped(size: int) -> None:
    at_cap = line(0, n=1)
    over = line(0, n=2)[:-1] + b" }"  # same record shape, one byte longer
    data = at_cap + b"\r\n" + over + b"\r\n" + at_cap.replace(b"img-000001", b"img-000003") + b"\n"
    cap = len(at_cap)  # the terminator does not count
    result = split(iter_lines(chunked(data, size), max_line_bytes=cap), max_line_bytes=cap)
    assert result.summary["totals"]["input_lines"] == 3
    assert result.summary["dropped"]["line_too_long"] == 1
    assert result.summary["totals"]["kept"] == 2


def test_split_counts_the_overlong_marker_and_long_lines_from_files() -> None:
    long_line = line(1, n=5, source=f"s3://{BUCKET}/{PREFIX}/images/{'x' * MAX_LINE_BYTES}.jpg")
    result = split([line(0, n=1) + b"\n", OVERLONG_LINE, long_line + b"\n"])
    assert result.summary["dropped"]["line_too_long"] == 2
    assert result.summary["totals"]["kept"] == 1


# --- where the images are ------------------------------------------------------------------

NOT_S3, OTHER_BUCKET, OUTSIDE, UNSAFE = (
    "source_ref_not_s3",
    "source_ref_other_bucket",
    "source_ref_outside_prefix",
    "source_ref_unsafe_path",
)
IN = f"s3://{BUCKET}/{PREFIX}"
SOURCE_CASES = [
    (f"{IN}/images/a.jpg", None),
    (f"{IN}/a.jpg", None),
    (f"{IN}/images/.hidden.jpg", None),  # a dot file is no path trick
    (f"{IN}/images/a..b.jpg", None),
    (f"{IN}/images/100%.jpg", None),  # a lone % escapes nothing
    (f"{IN}/images/Screenshot 2024-01-01 at 10.00.00\u202fAM.png", None),  # macOS names
    (f"{IN}/imágenes/a.jpg", None),
    ("images/a.jpg", NOT_S3),
    (f"https://{BUCKET}.s3.amazonaws.com/{PREFIX}/a.jpg", NOT_S3),
    (f"S3://{BUCKET}/{PREFIX}/a.jpg", NOT_S3),
    (f"s3://{BUCKET}", NOT_S3),
    (f"s3://{BUCKET}/", NOT_S3),
    (f"s3:///{PREFIX}/a.jpg", NOT_S3),
    (3, NOT_S3),
    (["s3://x"], NOT_S3),
    ({"uri": f"{IN}/a.jpg"}, NOT_S3),
    (f"s3://someone-elses-bucket/{PREFIX}/a.jpg", OTHER_BUCKET),
    (f"s3://{BUCKET}-x/{PREFIX}/a.jpg", OTHER_BUCKET),
    (f"s3://{BUCKET.upper()}/{PREFIX}/a.jpg", OTHER_BUCKET),
    (f"s3://{BUCKET}/{PREFIX}-old/a.jpg", OUTSIDE),
    (f"s3://{BUCKET}/{PREFIX}", OUTSIDE),
    (f"s3://{BUCKET}/other-project/a.jpg", OUTSIDE),
    (f"{IN}/../secret.jpg", UNSAFE),
    (f"{IN}/../{PREFIX}/a.jpg", UNSAFE),  # inside the prefix only as written
    (f"{IN}/images/..", UNSAFE),
    (f"{IN}/./a.jpg", UNSAFE),
    (f"{IN}//a.jpg", UNSAFE),
    (f"s3://{BUCKET}//{PREFIX}/a.jpg", UNSAFE),
    (f"{IN}/images/", UNSAFE),  # a folder marker, not an image
    (f"{IN}/%2e%2e/secret.jpg", UNSAFE),
    (f"{IN}/%2E%2E%2Fsecret.jpg", UNSAFE),
    (f"{IN}/images%2f..%2fa.jpg", UNSAFE),
    (f"{IN}/%252e%252e/a.jpg", UNSAFE),  # double-encoded
    (f"{IN}/..\\secret.jpg", UNSAFE),
    (f"{IN}/a\x00.jpg", UNSAFE),
    (f"{IN}/a\n.jpg", UNSAFE),
    (f"{IN}/\uff0e\uff0e/secret.jpg", UNSAFE),  # fullwidth dots: ".." after NFKC
    (f"{IN}/images\uff0f\uff0e\uff0e\uff0fa.jpg", UNSAFE),
]


@pytest.mark.parametrize(("source", "reason"), SOURCE_CASES)
def test_source_ref_problem(source: object, reason: str | None) -> None:
    assert source_ref_problem(source, LOCATION) == reason


@pytest.mark.parametrize(("source", "reason"), SOURCE_CASES)
def test_lines_outside_the_data_location_are_dropped_with_their_reason(source: object, reason: str | None) -> None:
    # Through the reader's fast path too: it must never accept what the precise check refuses.
    raw = json.dumps({"source-ref": source, ATTR: 1}).encode()
    code = READER.class_of(raw)
    assert (None if code >= 0 else READER.reason(code)) == reason


def test_a_location_without_prefix_is_the_whole_bucket() -> None:
    whole = DataLocation(BUCKET, "")
    assert whole.uri == f"s3://{BUCKET}/"
    assert source_ref_problem(f"s3://{BUCKET}/anything/a.jpg", whole) is None
    assert source_ref_problem(f"s3://{BUCKET}/../a.jpg", whole) == UNSAFE
    assert DataLocation(BUCKET, f"/{PREFIX}/") == LOCATION


@pytest.mark.parametrize("bucket", ["", "a/b", " b"])
def test_a_location_needs_a_bucket_name(bucket: str) -> None:
    with pytest.raises(ValueError, match="bucket name"):
        DataLocation(bucket, PREFIX)


# --- label categories -------------------------------------------------------------------------


def test_parse_label_categories_in_index_order() -> None:
    document = {"document-version": "2018-11-28", "labels": [{"label": "Airplane"}, {"label": "Bird"}]}
    assert parse_label_categories(json.dumps(document).encode()) == ("Airplane", "Bird")
    assert parse_label_categories(json.dumps(document)) == ("Airplane", "Bird")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{", "not valid JSON"),
        ("[]", 'no "labels" list'),
        ('{"labels": []}', 'no "labels" list'),
        ('{"labels": {"label": "a"}}', 'no "labels" list'),
        ('{"labels": [{"label": "a"}, {"name": "b"}]}', r'labels\[1\] has no "label" string'),
        ('{"labels": [{"label": ""}]}', r'labels\[0\] has no "label" string'),
        ('{"labels": ["a"]}', r'labels\[0\] has no "label" string'),
        ('{"labels": [{"label": "a"}, {"label": "a"}]}', "label 'a' appears twice"),
    ],
)
def test_parse_label_categories_rejects_bad_files(document: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_label_categories(document)
