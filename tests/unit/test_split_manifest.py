"""Parsing a Ground Truth output.manifest and the stratified, deterministic train/validation split."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from manifests import (
    DROP_REASONS,
    LabelReader,
    choose_validation_ordinals,
    iter_lines,
    parse_label_categories,
    split_manifest,
    validation_count,
    write_manifest,
)

ATTR = "gt-demo-labels"
CATEGORIES = ["Airplane", "Automobile", "Bird", "Cat", "Helicopter"]
JOB = "gt-demo-20240101"


def line(
    label: Any = 0,
    *,
    n: int = 0,
    attr: str = ATTR,
    failed: bool = False,
    with_label: bool = True,
    with_source: bool = True,
) -> bytes:
    """A line shaped like Ground Truth's image-classification output."""
    record: dict[str, Any] = {}
    if with_source:
        record["source-ref"] = f"s3://sagemaker-us-east-1-123456789012/images/img-{n:06d}.jpg"
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
    }
    options.update(overrides)
    return split_manifest(lines, **options)


def class_lines(index: int, count: int, start: int = 0) -> list[bytes]:
    return [line(index, n=start + k) for k in range(count)]


# --- classification of single lines --------------------------------------------------------

READER = LabelReader(label_attribute=ATTR, categories=CATEGORIES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (line(0), 0),
        (line(4), 4),
        (line("3"), 3),
        (line("Bird"), 2),
        (b'  {"source-ref": "s3://b/k.jpg", "gt-demo-labels": 1}', 1),
        (b'{"source-ref": "s3://b/k.jpg", "gt-demo-labels": 1}  \t', 1),
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
        (b"{", "malformed_json"),
        (b'{"source-ref": "s3://b/k.jpg", "gt-demo-labels": 1', "malformed_json"),
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
    raw = json.dumps({"source-ref": "s3://b/k.jpg", ATTR: 2, f"{ATTR}-metadata": "failure-reason"})
    assert READER.class_of(raw.encode()) == 2


def test_reader_rejects_empty_categories_and_attribute() -> None:
    with pytest.raises(ValueError, match="categories"):
        LabelReader(label_attribute=ATTR, categories=[])
    with pytest.raises(ValueError, match="label_attribute"):
        LabelReader(label_attribute="", categories=CATEGORIES)


# --- validation counts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "fraction", "expected"),
    [
        (0, 0.2, 0),
        (1, 0.2, 0),
        (1, 0.9, 0),
        (2, 0.2, 0),  # 0.4 rounds down
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
    assert 0 <= wanted <= max(size - 1, 0)
    if size >= 2:
        assert abs(wanted - size * fraction) <= 0.5 + 1e-9 or wanted == size - 1


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


def test_kept_lines_are_written_back_unchanged() -> None:
    odd = b'{"gt-demo-labels":"2",   "source-ref":"s3://b/x.jpg","z":[1,2, 3]}'
    result = split([odd, line(1, n=1)])
    assert odd in result.train + result.validation


def test_line_terminators_are_removed_and_nothing_else() -> None:
    raw = line(1)
    result = split([raw + b"\r\n", raw.replace(b"img-000000", b"img-000001") + b"\n"])
    assert sorted(result.train + result.validation) == sorted(
        [raw, raw.replace(b"img-000000", b"img-000001")]
    )


def test_str_lines_are_accepted_and_returned_as_utf8_bytes() -> None:
    text = '{"source-ref": "s3://b/é.jpg", "gt-demo-labels": 0}'
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
    ]
    summary = split(lines).summary
    assert summary["dropped"] == {
        "failed": 1,
        "missing_label": 1,
        "unknown_label": 2,
        "missing_source_ref": 1,
        "malformed_json": 1,
        "blank": 2,
    }
    assert summary["totals"]["input_lines"] == 10
    assert summary["totals"]["kept"] == 2
    assert summary["totals"]["dropped"] == 8
    assert summary["labeling_job"] == JOB
    assert summary["label_attribute"] == ATTR
    assert summary["validation_fraction"] == 0.2
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

KINDS = ("int", "str", "name", "failed", "missing", "unknown", "nosource", "malformed", "blank")
REASON_OF_KIND = {
    "failed": "failed",
    "missing": "missing_label",
    "unknown": "unknown_label",
    "nosource": "missing_source_ref",
    "malformed": "malformed_json",
    "blank": "blank",
}


@st.composite
def manifests(draw: st.DrawFn) -> tuple[list[str], list[bytes], list[bytes], dict[str, int]]:
    """Returns categories, the manifest lines, the lines expected to be kept, expected drops."""
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
        else:
            raw = b""
        lines.append(raw)
        if kind in REASON_OF_KIND:
            drops[REASON_OF_KIND[kind]] += 1
        else:
            kept.append(raw)
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
    reader = LabelReader(label_attribute=ATTR, categories=categories)
    result = split_manifest(
        lines,
        label_attribute=ATTR,
        categories=categories,
        labeling_job_name=job,
        validation_fraction=fraction,
    )
    summary = result.summary

    # kept + dropped = input, and each line counted under the reason it was built for
    assert summary["totals"]["kept"] + summary["totals"]["dropped"] == len(lines)
    assert summary["dropped"] == expected_drops
    # no line lost or duplicated; train and validation disjoint (every generated line is unique)
    assert Counter(result.train) + Counter(result.validation) == Counter(expected_kept)
    assert not set(result.train) & set(result.validation)
    # every class present is in train, with exactly the planned validation share
    present = Counter(reader.class_of(raw) for raw in expected_kept)
    in_train = Counter(reader.class_of(raw) for raw in result.train)
    in_validation = Counter(reader.class_of(raw) for raw in result.validation)
    for index, size in present.items():
        assert in_train[index] >= 1
        assert in_validation[index] == validation_count(size, fraction)
        assert summary["classes"][index]["train"] == in_train[index]
        assert summary["classes"][index]["validation"] == in_validation[index]
    assert summary["classes_present"] == len(present)
    # deterministic, whether the lines come as bytes or str
    again = split_manifest(
        [raw.decode() for raw in lines],
        label_attribute=ATTR,
        categories=categories,
        labeling_job_name=job,
        validation_fraction=fraction,
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
