"""Relabeling doubtful objects (lambdas/relabel.py) on AWS's own output-manifest examples.

The examples are in tests/fixtures/aws_examples/ (sources in its README). Each one names its own
label attribute; `as_attribute` renames it, and nothing else, so that several AWS records can form
one manifest of one job, as a real output manifest is.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lambdas import relabel as rl
from lambdas.manifests import DataLocation, split_manifest

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "aws_examples"
ATTRIBUTE = "vehicle-type"
NEW_ATTRIBUTE = "vehicle-type-relabel-1"


def example(name: str) -> bytes:
    [line] = (EXAMPLES / name).read_bytes().splitlines()
    return line


def as_attribute(line: bytes, attribute: str, new: str = ATTRIBUTE) -> bytes:
    """The AWS record with its label attribute (and metadata key) renamed, every other byte unchanged."""
    for old_key, new_key in ((attribute, new), (f"{attribute}-metadata", f"{new}-metadata")):
        token = f'"{old_key}"'.encode()
        assert line.count(token) == 1, (old_key, line)
        line = line.replace(token, f'"{new_key}"'.encode())
    assert set(json.loads(line)) >= {new, f"{new}-metadata"}
    return line


# (file, its label attribute, the confidence the docs print, human-annotated) for each AWS record.
AWS_RECORDS = [
    ("image-classification-int-label.manifest", "sport", Decimal("0.00"), True),  # sms-data-output
    ("image-classification-string-label.manifest", "species", Decimal("0.00"), True),  # sms-output-class
    ("image-classification-rekognition-echo-dot.manifest", "TestCLConsoleBucket", Decimal("0.95"), True),
    ("image-classification-rekognition-sunrise.manifest", "testdataset-classification_Sunrise", Decimal(1), True),
    ("image-classification-machine-annotated.manifest", "rekognition-custom-labels-evaluation-0", Decimal("0.95"),
     False),
]


def aws_manifest() -> list[bytes]:
    return [as_attribute(example(name), attribute) for name, attribute, _, _ in AWS_RECORDS]


def failed_line(ref: str) -> bytes:
    # No AWS page shows a failed object (see the fixtures' README): the shape docs/manifests.md describes.
    return json.dumps({"source-ref": ref, f"{ATTRIBUTE}-metadata": {
        "failure-reason": "ClientError: the task expired", "job-name": "labeling-job/gt-demo-1"}}).encode()


def unlabeled_line(ref: str) -> bytes:
    # "If the object hasn't been labeled, it is written ... identically to the manifest file" (sms-data-output).
    return json.dumps({"source-ref": ref}).encode()


def select(lines: list[bytes], **criteria: Any) -> rl.RelabelSelection:
    return rl.select_for_relabel(lines, label_attribute=ATTRIBUTE, criteria=rl.RelabelCriteria(**criteria),
                                 new_label_attribute=NEW_ATTRIBUTE)


# --- Selection ------------------------------------------------------------------------------------


def test_below_07_on_aws_records_selects_exactly_the_lines_below_07() -> None:
    lines = aws_manifest()
    expected = [line for line, (_, _, score, _) in zip(lines, AWS_RECORDS, strict=True) if score < Decimal("0.7")]
    assert len(expected) == 2  # sport and species, both 0.00 in the docs

    selection = select(lines, below_confidence=Decimal("0.7"))

    assert selection.lines == expected  # byte for byte, in manifest order
    assert selection.counts.selected == selection.counts.low_confidence == 2
    assert selection.counts.confident == 3
    assert selection.counts.zero_confidence == 2
    assert any("NumberOfHumanWorkersPerDataObject = 1" in note for note in selection.notes())


@pytest.mark.parametrize("threshold", [Decimal("0.7"), "0.7", 0.7])
def test_the_boundary_is_strict_and_exact(threshold: Any) -> None:
    # The AWS Echo Dot record with its confidence replaced, one line per value (the JSON text as written).
    template = example("image-classification-rekognition-echo-dot.manifest").decode()
    confidences = ["0", "0.5", "0.6999", "0.69999999999999996", "0.7", "0.70", "0.7000001", "0.95", "1"]
    lines = [as_attribute(template.replace('"confidence":0.95', f'"confidence":{text}')
                          .replace("IMG_1133.png", f"IMG_{index}.png").encode(), "TestCLConsoleBucket")
             for index, text in enumerate(confidences)]
    # Below 0.7 as written in the file: 0, 0.5, 0.6999 and 0.69999999999999996 (a float would round that
    # last one to 0.7 and miss it); 0.7 and 0.70 are not below.
    expected = [line for line, text in zip(lines, confidences, strict=True) if Decimal(text) < Decimal("0.7")]
    assert len(expected) == 4
    assert select(lines, below_confidence=threshold).lines == expected


def test_failed_and_unlabeled_objects_are_selected_with_failed_only() -> None:
    lines = [*aws_manifest(), failed_line("s3://b/f.png"), unlabeled_line("s3://b/u.png")]
    only_failed = select(lines, failed=True)
    assert only_failed.lines == lines[-2:]
    assert (only_failed.counts.failed, only_failed.counts.unlabeled) == (1, 1)
    assert only_failed.counts.confident == 5

    by_confidence = select(lines, below_confidence="0.7")
    assert by_confidence.lines == lines[:2]
    assert by_confidence.counts.not_selected_failed == 2

    both = select(lines, below_confidence="0.7", failed=True)
    assert both.lines == [*lines[:2], *lines[-2:]]


def test_human_and_machine_labels_are_counted_and_the_mix_is_flagged() -> None:
    selection = select(aws_manifest(), below_confidence="0.96")
    # Below 0.96: 0.00, 0.00, 0.95 (human) and 0.95 (machine); the sunrise record's 1 stays.
    assert selection.counts.selected == 4
    assert (selection.counts.human, selection.counts.machine) == (3, 1)
    assert any("not to compare" in note for note in selection.notes())


def test_unusable_and_repeated_lines_are_counted_not_sent() -> None:
    lines = [b"", b"not json", b'{"no-source": 1}', *aws_manifest()[:1], aws_manifest()[0]]
    selection = select(lines, below_confidence="0.7")
    assert selection.lines == aws_manifest()[:1]
    assert (selection.counts.unusable, selection.counts.duplicates) == (3, 1)


def test_odd_metadata_values_are_read_as_unknown_not_as_errors() -> None:
    record = json.loads(aws_manifest()[4])  # the machine-labeled AWS record
    record[f"{ATTRIBUTE}-metadata"]["human-annotated"] = ["no"]
    record[f"{ATTRIBUTE}-metadata"]["confidence"] = True
    line = json.dumps(record).encode()
    assert rl.count_label_sources([line], label_attribute=ATTRIBUTE).unknown_source == 1
    assert select([line], below_confidence="0.99").counts.without_confidence == 1


def test_a_label_without_a_numeric_confidence_is_not_selected_by_confidence() -> None:
    record = json.loads(aws_manifest()[2])
    del record[f"{ATTRIBUTE}-metadata"]["confidence"]
    selection = select([json.dumps(record).encode()], below_confidence="0.99")
    assert selection.lines == []
    assert selection.counts.without_confidence == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "nothing to select"), ({"below_confidence": "0"}, "above 0"), ({"below_confidence": "1.5"}, "at most 1"),
     ({"below_confidence": "seven"}, "not a number"), ({"below_confidence": True}, "not a number")],
)
def test_criteria_that_select_nothing_sensible_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(rl.RelabelError, match=message):
        rl.RelabelCriteria(**kwargs)


def test_the_chained_job_needs_a_new_valid_label_attribute() -> None:
    criteria = rl.RelabelCriteria(failed=True)
    with pytest.raises(rl.RelabelError, match="new label attribute"):
        rl.select_for_relabel([], label_attribute=ATTRIBUTE, criteria=criteria, new_label_attribute=ATTRIBUTE)
    with pytest.raises(rl.RelabelError, match="-metadata or -ref"):
        rl.select_for_relabel([], label_attribute=ATTRIBUTE, criteria=criteria, new_label_attribute="x-ref")
    with pytest.raises(rl.RelabelError, match="letters, digits"):
        rl.select_for_relabel([], label_attribute=ATTRIBUTE, criteria=criteria, new_label_attribute="bad_name")
    carrying = json.dumps({"source-ref": "s3://b/x.png", NEW_ATTRIBUTE: 1}).encode()
    with pytest.raises(rl.RelabelError, match="already has label attribute"):
        select([carrying], failed=True)


def test_next_label_attribute() -> None:
    assert rl.next_label_attribute("vehicle-type") == "vehicle-type-relabel-1"
    assert rl.next_label_attribute("vehicle-type-relabel-1") == "vehicle-type-relabel-2"
    assert rl.next_label_attribute("vehicle-type", taken={"vehicle-type-relabel-1"}) == "vehicle-type-relabel-2"
    with pytest.raises(rl.RelabelError, match="127"):
        rl.next_label_attribute("a" * 120)


# --- Merge ----------------------------------------------------------------------------------------


def chained_output(selected: list[bytes], labels: dict[str, tuple[int, str, float]], job: str) -> list[bytes]:
    """What Ground Truth writes for the chained job: each input line "identical to the manifest file with
    the addition of an attribute and value for the label" (sms-data-output), here `NEW_ATTRIBUTE`."""
    out = []
    for line in selected:
        record = json.loads(line)
        if record["source-ref"] in labels:
            label, name, score = labels[record["source-ref"]]
            record[NEW_ATTRIBUTE] = label
            record[f"{NEW_ATTRIBUTE}-metadata"] = {
                "class-name": name, "confidence": score, "type": "groundtruth/image-classification",
                "job-name": f"labeling-job/{job}", "human-annotated": "yes", "creation-date": "2026-12-02T10:00:00"}
        out.append(json.dumps(record).encode())
    return out


def test_merge_keeps_one_line_per_object_and_later_labels_win() -> None:
    original = [*aws_manifest(), failed_line("s3://b/f.png")]
    selection = select(original, below_confidence="0.7", failed=True)
    refs = [json.loads(line)["source-ref"] for line in selection.lines]
    sport_ref, species_ref, failed_ref = refs
    later = chained_output(selection.lines, {sport_ref: (1, "basketball", 0.91), failed_ref: (0, "football", 0.88)},
                           "gt-demo-1-relabel-1")
    # The species object came back without a label (its task expired again): its original line stays.
    extra = json.dumps({"source-ref": "s3://b/new.png", NEW_ATTRIBUTE: 2, f"{NEW_ATTRIBUTE}-metadata": {
        "class-name": "tennis", "confidence": 0.8, "human-annotated": "yes"}}).encode()

    merged = rl.merge_manifests(rl.JobOutput(original, ATTRIBUTE),
                                [rl.JobOutput([*later, extra], NEW_ATTRIBUTE, "gt-demo-1-relabel-1")])

    by_ref = {json.loads(line)["source-ref"]: line for line in merged.lines}
    assert len(merged.lines) == len(by_ref) == 7  # 6 original objects + 1 added, one line each
    sport = json.loads(by_ref[sport_ref])
    assert sport[ATTRIBUTE] == 1
    assert sport[f"{ATTRIBUTE}-metadata"]["class-name"] == "basketball"
    assert sport[f"{ATTRIBUTE}-metadata"]["job-name"] == "labeling-job/gt-demo-1-relabel-1"
    assert NEW_ATTRIBUTE not in sport and f"{NEW_ATTRIBUTE}-metadata" not in sport
    assert by_ref[species_ref] == original[1]  # its relabel came back without a label
    assert json.loads(by_ref[failed_ref])[ATTRIBUTE] == 0
    assert "failure-reason" not in json.loads(by_ref[failed_ref])[f"{ATTRIBUTE}-metadata"]
    # Objects nobody relabeled, and the one whose relabel failed, are Ground Truth's bytes.
    for line in original[1:5]:
        assert line in merged.lines
    assert json.loads(by_ref["s3://b/new.png"])[ATTRIBUTE] == 2
    counts = merged.counts
    assert (counts.kept, counts.replaced, counts.added) == (4, 2, 1)
    assert counts.later_without_label == 1
    assert counts.output_lines == 7


def test_the_last_chained_job_wins() -> None:
    original = aws_manifest()[:1]
    ref = json.loads(original[0])["source-ref"]
    first = chained_output(original, {ref: (1, "basketball", 0.6)}, "r1")
    second = [as_attribute(line, NEW_ATTRIBUTE, "vehicle-type-relabel-2")
              for line in chained_output(original, {ref: (2, "tennis", 0.9)}, "r2")]
    merged = rl.merge_manifests(rl.JobOutput(original, ATTRIBUTE), [
        rl.JobOutput(first, NEW_ATTRIBUTE), rl.JobOutput(second, "vehicle-type-relabel-2")])
    [line] = merged.lines
    assert json.loads(line)[ATTRIBUTE] == 2
    assert (merged.counts.kept, merged.counts.replaced) == (0, 1)


def test_the_merged_manifest_trains_one_line_per_object() -> None:
    original = [*aws_manifest()[:2], failed_line("s3://AWSDOC-EXAMPLE-BUCKET/f.png")]
    selection = select(original, failed=True)
    later = chained_output(selection.lines, {"s3://AWSDOC-EXAMPLE-BUCKET/f.png": (1, "basketball", 0.9)}, "r1")
    merged = rl.merge_manifests(rl.JobOutput(original, ATTRIBUTE), [rl.JobOutput(later, NEW_ATTRIBUTE)])
    split = split_manifest(merged.lines, label_attribute=ATTRIBUTE, categories=("football", "basketball"),
                           labeling_job_name="gt-demo-docs", location=DataLocation("AWSDOC-EXAMPLE-BUCKET"))
    # Before the merge the failed object would be dropped; now all three objects train, once each.
    assert split.summary["totals"]["input_lines"] == 3
    assert split.summary["totals"]["kept"] == 3
    assert split.summary["dropped"]["failed"] == 0


def test_unkeyed_original_lines_pass_through_and_repeats_are_dropped() -> None:
    line = aws_manifest()[0]
    merged = rl.merge_manifests(rl.JobOutput([b"not json", line, line], ATTRIBUTE), [])
    assert merged.lines == [b"not json", line]
    assert (merged.counts.unkeyed, merged.counts.duplicates, merged.counts.kept) == (1, 1, 1)


# --- Human vs machine labels ---------------------------------------------------------------------


def test_human_and_machine_labels_are_counted_from_the_aws_record() -> None:
    # One AWS record, two labels: the training one "human-annotated": "yes", the evaluation one "no".
    line = example("image-classification-machine-annotated.manifest")
    human = rl.count_label_sources([line], label_attribute="rekognition-custom-labels-training-0")
    machine = rl.count_label_sources([line], label_attribute="rekognition-custom-labels-evaluation-0")
    assert (human.human, human.machine) == (1, 0)
    assert (machine.human, machine.machine) == (0, 1)


def test_machine_labels_below_a_confidence_can_be_excluded() -> None:
    lines = [*aws_manifest(), failed_line("s3://b/f.png"), b"garbage"]
    keep_all = rl.count_label_sources(lines, label_attribute=ATTRIBUTE)
    assert keep_all.as_json() == {"human": 4, "machine": 1, "machine_excluded": 0, "unknown_source": 0,
                                  "unlabeled": 1, "unreadable": 1}

    source_filter = rl.LabelSourceFilter(ATTRIBUTE, exclude_machine_below="0.96")
    kept = [line for line in lines if source_filter.accept(line)]
    # The machine label's confidence is 0.95 < 0.96: dropped. Human labels stay whatever their confidence.
    assert kept == [line for index, line in enumerate(lines) if index != 4]
    assert (source_filter.counts.machine, source_filter.counts.machine_excluded) == (0, 1)

    lenient = rl.LabelSourceFilter(ATTRIBUTE, exclude_machine_below="0.95")
    assert all(lenient.accept(line) for line in lines)  # 0.95 is not below 0.95

    unscored = json.loads(lines[4])
    del unscored[f"{ATTRIBUTE}-metadata"]["confidence"]
    # A machine label without a score cannot be shown to reach the threshold: excluded; without a
    # threshold it is kept.
    assert not rl.LabelSourceFilter(ATTRIBUTE, exclude_machine_below="0.1").accept(json.dumps(unscored))
    assert rl.LabelSourceFilter(ATTRIBUTE).accept(json.dumps(unscored))


# --- Finding the chain -------------------------------------------------------------------------------


def link(job: str, source: str, attribute: str) -> rl.ChainLink:
    return rl.ChainLink(job_name=job, from_job=source, label_attribute=attribute, training_label_attribute=ATTRIBUTE,
                        criteria=rl.RelabelCriteria(below_confidence=Decimal("0.7")).as_json(), selected=2)


def test_a_chain_link_round_trips_through_json() -> None:
    original = link("gt-demo-2", "gt-demo-1", NEW_ATTRIBUTE)
    assert rl.ChainLink.from_json(original.to_json()) == original
    with pytest.raises(rl.RelabelError, match="version"):
        rl.ChainLink.from_json(b'{"job_name": "x"}')
    with pytest.raises(rl.RelabelError, match="relabel itself"):
        link("gt-demo-1", "gt-demo-1", NEW_ATTRIBUTE)


def test_the_chain_is_found_from_its_last_job_and_merged_oldest_first() -> None:
    links = {"gt-demo-3": link("gt-demo-3", "gt-demo-2", "vehicle-type-relabel-2"),
             "gt-demo-2": link("gt-demo-2", "gt-demo-1", NEW_ATTRIBUTE)}
    chain = rl.chain_to("gt-demo-3", links.get)
    assert [item.job_name for item in chain] == ["gt-demo-2", "gt-demo-3"]
    assert rl.chain_to("gt-demo-1", links.get) == []

    ref = json.loads(aws_manifest()[0])["source-ref"]
    outputs = {
        "gt-demo-1": aws_manifest()[:1],
        "gt-demo-2": chained_output(aws_manifest()[:1], {ref: (1, "basketball", 0.5)}, "gt-demo-2"),
        "gt-demo-3": [as_attribute(line, NEW_ATTRIBUTE, "vehicle-type-relabel-2") for line in
                      chained_output(aws_manifest()[:1], {ref: (2, "tennis", 0.9)}, "gt-demo-3")],
    }
    merged = rl.merge_chain(chain, outputs.__getitem__)
    assert [json.loads(line)[ATTRIBUTE] for line in merged.lines] == [2]


def test_a_looping_chain_is_refused() -> None:
    links = {"a": link("a", "b", NEW_ATTRIBUTE), "b": link("b", "a", NEW_ATTRIBUTE)}
    with pytest.raises(rl.RelabelError, match="loops"):
        rl.chain_to("a", links.get)
