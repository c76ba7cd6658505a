"""The notebook instance's lifecycle scripts: idle auto-stop (OnStart), sample images (OnCreate).

Both are rendered from the templates in `lifecycle/` and carry everything they need inline:
no script is fetched from the internet at start, so they also work in a VPC without it.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from aws_cdk import Token

LIFECYCLE_DIR = Path(__file__).parent / "lifecycle"
IDLE_CHECK_SOURCE = LIFECYCLE_DIR / "idle_check.py"

# SageMaker's limit on each lifecycle script. CloudFormation and the API take the script
# base64-encoded and apply the limit to that string, which is a third longer than the script
# itself; we enforce it on the encoded form (and, trivially implied, on the raw text).
MAX_SCRIPT_CHARS = 16_384
# 0 disables auto-stop; a day is the longest idle time that still saves money.
MAX_IDLE_MINUTES = 1440
MAX_BUCKET_NAME_LENGTH = 63
DEFAULT_SAMPLE_SOURCE = "s3://sagemaker-sample-files/datasets/image/caltech-101/inference/"

_HEREDOC_END = "IDLE_CHECK_PY"
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9!_.*()=+-]+")
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([A-Za-z0-9!_.*()=+-]+/)*")

_ON_START_DISABLED = """#!/bin/bash
# OnStart lifecycle script (rendered by stacks/lifecycle_scripts.py) with idle_minutes = 0:
# nothing is installed, so this notebook instance runs until someone stops it.
set -euo pipefail
echo "idle auto-stop: disabled (idle_minutes = 0); stop the notebook instance yourself"
"""

_ON_CREATE_NO_SAMPLES = """#!/bin/bash
# OnCreate lifecycle script (rendered by stacks/lifecycle_scripts.py) with
# sync_sample_images = False: the tutorial's sample images are not copied.
set -euo pipefail
echo "sample images: not copied (sync_sample_images is off)"
"""


def check_script_size(script: str, *, name: str = "lifecycle script") -> None:
    """Raise ValueError unless SageMaker accepts `script` as one lifecycle script."""
    raw = len(script)
    encoded = len(base64.b64encode(script.encode("utf-8")))
    if raw > MAX_SCRIPT_CHARS or encoded > MAX_SCRIPT_CHARS:
        raise ValueError(
            f"{name} is {raw} characters ({encoded} base64-encoded); SageMaker accepts at most "
            f"{MAX_SCRIPT_CHARS} base64-encoded characters per lifecycle script. Shorten it, "
            "or move the work into a file the script copies from S3."
        )


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"@@{key}@@", value)
    leftover = re.findall(r"@@[A-Z_]+@@", template)
    if leftover:
        raise AssertionError(f"unfilled placeholders in a lifecycle template: {leftover}")
    return template


def render_on_start(*, idle_minutes: int) -> str:
    """The OnStart script: install the idle checker, or say that auto-stop is disabled."""
    if isinstance(idle_minutes, bool) or not isinstance(idle_minutes, int):
        raise ValueError(
            f"idle_minutes = {idle_minutes!r} must be a whole number of minutes, "
            f"0 (auto-stop off) to {MAX_IDLE_MINUTES}"
        )
    if not 0 <= idle_minutes <= MAX_IDLE_MINUTES:
        raise ValueError(
            f"idle_minutes = {idle_minutes} is out of range; use 0 to turn auto-stop off, "
            f"or 1 to {MAX_IDLE_MINUTES} (one day) minutes of idle time before the stop"
        )
    if idle_minutes == 0:
        script = _ON_START_DISABLED
    else:
        checker = IDLE_CHECK_SOURCE.read_text(encoding="utf-8").rstrip("\n")
        if _HEREDOC_END in checker.splitlines():
            raise AssertionError(f"{IDLE_CHECK_SOURCE} contains the heredoc end marker")
        template = (LIFECYCLE_DIR / "on_start.sh").read_text(encoding="utf-8")
        script = _fill(template, {"IDLE_MINUTES": str(idle_minutes), "IDLE_CHECK_PY": checker})
    check_script_size(script, name=f"OnStart script (idle_minutes = {idle_minutes})")
    return script


def _validate_bucket(bucket: str) -> None:
    if Token.is_unresolved(bucket):
        return  # resolved by CloudFormation at deploy time; interpolated as it is
    if not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"bucket = {bucket!r} is not a valid S3 bucket name: 3 to 63 lowercase letters, "
            "digits, dots and hyphens, starting and ending with a letter or digit"
        )


def _validate_prefix(prefix: str) -> None:
    if prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(
            f"prefix = {prefix!r} must not start or end with '/'; write it as {prefix.strip('/')!r}"
        )
    segments = prefix.split("/")
    if not prefix or not all(_PREFIX_SEGMENT.fullmatch(s) and s.strip(".") for s in segments):
        raise ValueError(
            f"prefix = {prefix!r} is not a usable S3 key prefix: non-empty folder names of "
            "letters, digits and !_.*()=+- separated by single '/' (e.g. 'ground-truth-demo')"
        )


def render_on_create(
    *,
    bucket: str,
    prefix: str,
    sync_sample_images: bool,
    sample_source: str = DEFAULT_SAMPLE_SOURCE,
) -> str:
    """The OnCreate script: copy the sample images to s3://<bucket>/<prefix>/images/ in the
    background, or do nothing when `sync_sample_images` is off.

    `bucket` may be an unresolved CDK token; it is interpolated untouched.
    """
    _validate_bucket(bucket)
    _validate_prefix(prefix)
    if not _S3_URI.fullmatch(sample_source):
        raise ValueError(
            f"sample_source = {sample_source!r} must be an s3://bucket/prefix/ URI ending in '/'"
        )
    if not sync_sample_images:
        script = _ON_CREATE_NO_SAMPLES
        check_script_size(script, name="OnCreate script")
        return script

    template = (LIFECYCLE_DIR / "on_create.sh").read_text(encoding="utf-8")
    values = {"SAMPLE_SOURCE": sample_source, "PREFIX": prefix}
    script = _fill(template, {**values, "BUCKET": bucket})
    # A token stands for a name of up to 63 characters: measure the longest case.
    longest = _fill(template, {**values, "BUCKET": "b" * MAX_BUCKET_NAME_LENGTH})
    check_script_size(longest, name="OnCreate script")
    return script
