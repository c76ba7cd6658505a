"""Deterministic, valid SageMaker resource names derived from the job that triggered us.

Idempotency of the whole workflow rests on these names: SageMaker can deliver the same state
change twice and Lambda retries async invocations, and `CreateTrainingJob` has no client token,
so the only thing that stops a duplicate job is deriving the same name from the same trigger.
(Telling "already exists" and "not found" errors apart: `runtime.is_already_exists_error`,
`runtime.is_not_found_error`.)
"""

from __future__ import annotations

import hashlib
import re

# Limits from botocore's SageMaker service model (TrainingJobName, HyperParameterTuningJobName,
# ModelName shapes); the tuning limit is the one that bites.
TRAINING_JOB_NAME_MAX = 63
TUNING_JOB_NAME_MAX = 32
MODEL_NAME_MAX = 63
LABELING_JOB_NAME_MAX = 63

# 8 hex digits = 32 bits: collisions among the few thousand jobs an account ever runs are
# vanishingly unlikely, and it leaves 23 characters of a 32-character tuning name for the source.
HASH_LENGTH = 8

_VALID_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
_INVALID_RUN = re.compile(r"[^a-zA-Z0-9-]+")
_LABELING_JOB_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:labeling-job/(?P<name>[^/]+)"
)


def is_valid_name(name: str, *, max_length: int) -> bool:
    """True if `name` is accepted by SageMaker as a job/model name of at most `max_length`."""
    return 0 < len(name) <= max_length and _VALID_NAME.fullmatch(name) is not None


def short_hash(source: str) -> str:
    """A stable short digest (hashlib, not `hash()`, which is salted per process)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def derive_name(source: str, *, max_length: int, suffix: str = "") -> str:
    """Derive a valid SageMaker name from `source`, deterministically.

    The result keeps the leading part of `source` (event rules filter on our job prefix), then
    `-<suffix>` if a suffix is given. Whenever the source cannot be used as is (too long, or it
    contains characters SageMaker rejects), a short hash of the full source is inserted before
    the suffix so that different sources that share a long prefix don't collide.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    if suffix and not _VALID_NAME.fullmatch(suffix):
        raise ValueError(
            f"suffix {suffix!r} is not a valid name fragment: use letters, digits and inner hyphens"
        )
    tail = f"-{suffix}" if suffix else ""
    base = _INVALID_RUN.sub("-", source).strip("-")
    if not base:
        raise ValueError(
            f"cannot derive a SageMaker name from {source!r}: it has no letters or digits"
        )

    if base == source and len(base) + len(tail) <= max_length:
        return base + tail

    digest = f"-{short_hash(source)}"
    room = max_length - len(digest) - len(tail)
    if room < 1:
        raise ValueError(
            f"max_length={max_length} leaves no room for any of {source!r} "
            f"plus a {HASH_LENGTH}-character hash and suffix {suffix!r}"
        )
    # `--` would be valid, but a cut landing on a hyphen reads like a typo: join with one hyphen.
    # `base` starts with a letter or digit, so `head` is never empty.
    head = base[:room].rstrip("-")
    return head + digest + tail


def job_name_from_arn(arn: str) -> str:
    """The labeling job name in `arn:aws:sagemaker:<region>:<account>:labeling-job/<name>`."""
    if not isinstance(arn, str):
        raise ValueError(f"expected a labeling job ARN string, got {type(arn).__name__}: {arn!r}")
    match = _LABELING_JOB_ARN.fullmatch(arn)
    if match is None:
        raise ValueError(
            f"{arn!r} is not a labeling job ARN; expected "
            "arn:aws:sagemaker:<region>:<account>:labeling-job/<name>"
        )
    name = match.group("name")
    if not is_valid_name(name, max_length=LABELING_JOB_NAME_MAX):
        raise ValueError(
            f"{arn!r} names labeling job {name!r}, which is not a valid labeling job name "
            f"(1-{LABELING_JOB_NAME_MAX} letters, digits and inner hyphens)"
        )
    return name
