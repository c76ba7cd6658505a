"""Names derived for SageMaker resources: valid per botocore's model, stable, collision-free."""

from __future__ import annotations

import re

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.naming import (
    HASH_LENGTH,
    MODEL_NAME_MAX,
    TRAINING_JOB_NAME_MAX,
    TUNING_JOB_NAME_MAX,
    derive_name,
    is_valid_name,
    job_name_from_arn,
    short_hash,
)

_MODEL = botocore.session.get_session().get_service_model("sagemaker")


def _shape_rule(shape: str) -> tuple[int, re.Pattern[str]]:
    meta = _MODEL.shape_for(shape).metadata
    return meta["max"], re.compile(meta["pattern"])


# The rules as the service model states them, not as we restate them in naming.py.
TRAINING_RULE = _shape_rule("TrainingJobName")
TUNING_RULE = _shape_rule("HyperParameterTuningJobName")
MODEL_RULE = _shape_rule("ModelName")


def _accepted(name: str, rule: tuple[int, re.Pattern[str]]) -> bool:
    max_length, pattern = rule
    return 1 <= len(name) <= max_length and pattern.fullmatch(name) is not None


def test_our_limits_match_the_service_model() -> None:
    assert TRAINING_RULE[0] == TRAINING_JOB_NAME_MAX == 63
    assert TUNING_RULE[0] == TUNING_JOB_NAME_MAX == 32
    assert MODEL_RULE[0] == MODEL_NAME_MAX == 63


def test_short_valid_source_is_kept_verbatim() -> None:
    assert derive_name("gt-demo-20240101", max_length=63) == "gt-demo-20240101"


def test_suffix_is_appended_with_a_hyphen() -> None:
    assert derive_name("gt-demo-1", max_length=63, suffix="model") == "gt-demo-1-model"


def test_source_exactly_at_the_limit_is_not_hashed() -> None:
    source = "a" * 32
    assert derive_name(source, max_length=32) == source


def test_long_source_is_truncated_with_a_hash_and_keeps_its_prefix() -> None:
    source = "gt-demo-" + "x" * 60
    name = derive_name(source, max_length=32)
    assert len(name) == 32
    assert name.startswith("gt-demo-")
    assert name.endswith("-" + short_hash(source))
    assert _accepted(name, TUNING_RULE)


def test_one_character_over_the_limit_is_hashed() -> None:
    source = "a" * 33
    name = derive_name(source, max_length=32)
    assert name == "a" * (32 - HASH_LENGTH - 1) + "-" + short_hash(source)


def test_long_sources_sharing_a_prefix_do_not_collide() -> None:
    prefix = "gt-demo-" + "p" * 40
    assert derive_name(prefix + "-a", max_length=32) != derive_name(prefix + "-b", max_length=32)


def test_truncation_landing_on_a_hyphen_does_not_double_it() -> None:
    # room for the head is 32 - 9 = 23 characters; put a hyphen at position 23
    source = "a" * 22 + "-" + "b" * 20
    name = derive_name(source, max_length=32)
    assert "--" not in name
    assert name == "a" * 22 + "-" + short_hash(source)


def test_invalid_characters_are_replaced_and_the_name_hashed() -> None:
    name = derive_name("gt_demo.job 1", max_length=63)
    assert name == "gt-demo-job-1-" + short_hash("gt_demo.job 1")
    # two sources that sanitize to the same text still get different names
    assert derive_name("gt_demo", max_length=63) != derive_name("gt.demo", max_length=63)


def test_leading_and_trailing_junk_is_stripped() -> None:
    name = derive_name("--_job_--", max_length=63)
    assert name.startswith("job-")
    assert is_valid_name(name, max_length=63)


def test_non_ascii_letters_are_not_kept() -> None:
    name = derive_name("jöb", max_length=63)
    assert name.isascii()
    assert name.startswith("j-b-")


def test_suffix_survives_truncation() -> None:
    source = "gt-demo-" + "y" * 80
    name = derive_name(source, max_length=63, suffix="model")
    assert len(name) == 63
    assert name.endswith(f"-{short_hash(source)}-model")
    assert name.startswith("gt-demo-")


def test_deterministic_across_calls() -> None:
    source = "gt-demo-" + "z" * 70
    assert derive_name(source, max_length=32) == derive_name(source, max_length=32)
    # Pinned: changing the algorithm would rename jobs for already-processed triggers, so a
    # replayed event after a deploy would start a second training job.
    assert derive_name(source, max_length=32) == "gt-demo-zzzzzzzzzzzzzzz-09aee692"


@pytest.mark.parametrize("source", ["", "-", "___", "..", "ééé"])
def test_source_without_letters_or_digits_is_rejected(source: str) -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        derive_name(source, max_length=63)


@pytest.mark.parametrize("suffix", ["-x", "x-", "a_b", "é"])
def test_invalid_suffix_is_rejected(suffix: str) -> None:
    with pytest.raises(ValueError, match="suffix"):
        derive_name("job", max_length=63, suffix=suffix)


def test_limit_too_small_for_hash_is_rejected() -> None:
    with pytest.raises(ValueError, match="no room"):
        derive_name("a" * 20, max_length=9)


def test_non_positive_limit_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_length"):
        derive_name("a", max_length=0)


# --- property tests -----------------------------------------------------------------------

_sources = st.text(min_size=1, max_size=120).filter(
    lambda s: any(c.isascii() and c.isalnum() for c in s)
)
_suffixes = st.sampled_from(["", "model", "m", "tune-1"])
_limits = st.sampled_from(
    [
        (TRAINING_JOB_NAME_MAX, TRAINING_RULE),
        (TUNING_JOB_NAME_MAX, TUNING_RULE),
        (MODEL_NAME_MAX, MODEL_RULE),
    ]
)


@given(source=_sources, suffix=_suffixes, limit=_limits)
@settings(max_examples=400)
def test_derived_names_are_accepted_by_the_service_model(
    source: str, suffix: str, limit: tuple[int, tuple[int, re.Pattern[str]]]
) -> None:
    max_length, rule = limit
    name = derive_name(source, max_length=max_length, suffix=suffix)
    assert _accepted(name, rule), name
    assert name.endswith(f"-{suffix}" if suffix else "")


@given(source=st.from_regex(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,100}", fullmatch=True))
@settings(max_examples=300)
def test_valid_sources_keep_their_leading_part(source: str) -> None:
    name = derive_name(source, max_length=32)
    if len(source) <= 32:
        assert name == source
    else:
        head = name[: -(HASH_LENGTH + 1)]
        # as much of the source as fits, minus only hyphens where the cut landed
        assert head == source[: 32 - HASH_LENGTH - 1].rstrip("-")


@given(a=_sources, b=_sources)
@settings(max_examples=400)
def test_different_sources_give_different_names(a: str, b: str) -> None:
    if a != b:
        assert derive_name(a, max_length=32) != derive_name(b, max_length=32)


# --- ARNs ---------------------------------------------------------------------------------


def test_job_name_from_arn() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/gt-demo-20240101"
    assert job_name_from_arn(arn) == "gt-demo-20240101"


def test_job_name_from_arn_in_other_partitions() -> None:
    arn = "arn:aws-cn:sagemaker:cn-north-1:123456789012:labeling-job/job-1"
    assert job_name_from_arn(arn) == "job-1"


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "gt-demo-20240101",
        "arn:aws:sagemaker:us-east-1:123456789012:training-job/gt-demo",
        "arn:aws:sagemaker:us-east-1:1234:labeling-job/gt-demo",
        "arn:aws:s3:us-east-1:123456789012:labeling-job/gt-demo",
        "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/",
        "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/a/b",
        "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/bad_name",
        "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + "a" * 64,
        " arn:aws:sagemaker:us-east-1:123456789012:labeling-job/gt-demo",
    ],
)
def test_job_name_from_arn_rejects_anything_else(arn: str) -> None:
    with pytest.raises(ValueError, match="labeling job"):
        job_name_from_arn(arn)


def test_job_name_from_arn_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="ARN string"):
        job_name_from_arn(None)  # type: ignore[arg-type]
