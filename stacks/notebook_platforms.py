"""Which notebook instance platform identifiers the config accepts, and which one it defaults to.

A platform must be:
* accepted by the SageMaker API: botocore's SageMaker model, the `PlatformIdentifier` shape's
  pattern, an alternation such as `(notebook-al1-v1|...|notebook-al2023-v2)`;
* accepted by CloudFormation, which creates the notebook: the AWS::SageMaker::NotebookInstance
  resource schema has its own pattern, and it can lag the API (botocore 1.44.8 has
  notebook-al2023-v2, the schema does not, and CDK's synth-time validation refuses it);
* not deprecated in the SageMaker developer guide.
docs/permissions-fixes.md cites each source.
"""

from __future__ import annotations

import functools
import re

import botocore.session

# Deprecated: "notebook-al1-v1 (deprecated), notebook-al2-v1 (deprecated), notebook-al2-v2
# (deprecated)" (the PlatformIdentifier reference; see docs/permissions-fixes.md).
DEPRECATED_PLATFORM_IDENTIFIERS = ("notebook-al1-v1", "notebook-al2-v1", "notebook-al2-v2")

# The AWS::SageMaker::NotebookInstance resource schema's PlatformIdentifier pattern,
# ^(notebook-al1-v1|notebook-al2-v1|notebook-al2-v2|notebook-al2-v3|notebook-al2023-v1)$:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sagemaker-notebookinstance.html
# A test compares it with the schema cfn-lint ships; when CloudFormation adds a platform, add it here.
CLOUDFORMATION_PLATFORM_IDENTIFIERS = (
    "notebook-al1-v1", "notebook-al2-v1", "notebook-al2-v2", "notebook-al2-v3", "notebook-al2023-v1",
)

_ALTERNATION = re.compile(r"^\^?\((?P<body>[a-z0-9|-]+)\)\$?$")
_IDENTIFIER = re.compile(r"^notebook-al(?P<os>\d+)-v(?P<version>\d+)$")


def identifiers_in_pattern(pattern: str) -> tuple[str, ...]:
    """`(a|b|c)` or `^(a|b|c)$` -> (a, b, c); RuntimeError for anything else."""
    match = _ALTERNATION.match(pattern)
    if match is None:
        raise RuntimeError(f"platform identifier pattern {pattern!r} is not a plain alternation; "
                           "update stacks/notebook_platforms.py to read it")
    identifiers = tuple(match.group("body").split("|"))
    unexpected = [i for i in identifiers if not _IDENTIFIER.match(i)]
    if unexpected:
        raise RuntimeError(f"unexpected notebook platform identifiers {unexpected} in {pattern!r}")
    return identifiers


@functools.cache
def api_platform_identifiers() -> tuple[str, ...]:
    """Every value CreateNotebookInstance accepts, in botocore's order."""
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("PlatformIdentifier")
    return identifiers_in_pattern(shape.metadata.get("pattern", ""))


def supported_platform_identifiers() -> tuple[str, ...]:
    """Accepted by the API and by CloudFormation, not deprecated; oldest first."""
    return tuple(sorted(
        (i for i in api_platform_identifiers()
         if i in CLOUDFORMATION_PLATFORM_IDENTIFIERS and i not in DEPRECATED_PLATFORM_IDENTIFIERS),
        key=_age,
    ))


def newest_platform_identifier() -> str:
    return supported_platform_identifiers()[-1]


def platform_problem(key: str, value: object) -> str | None:
    """Why `value` cannot be the notebook's platform, naming `key` and the supported values; None if it can."""
    supported = supported_platform_identifiers()
    if value in supported:
        return None
    choose = f"choose one of {', '.join(supported)} (newest: {supported[-1]})"
    if value in DEPRECATED_PLATFORM_IDENTIFIERS:
        return f"{key} = {value!r} is deprecated by SageMaker; {choose}"
    if value in api_platform_identifiers():
        return (f"{key} = {value!r} is accepted by the SageMaker API but not yet by CloudFormation's "
                f"AWS::SageMaker::NotebookInstance, which creates the notebook; {choose}")
    return f"{key} = {value!r} is not allowed: {choose}"


def _age(identifier: str) -> tuple[int, int]:
    match = _IDENTIFIER.match(identifier)
    assert match is not None  # identifiers_in_pattern checked every identifier
    return int(match.group("os")), int(match.group("version"))
