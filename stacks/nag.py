"""cdk-nag acknowledgements, each with a reason a reviewer can check.

cdk-nag 3.x runs as a validation plugin: an unacknowledged finding fails synthesis. Findings
are acknowledged per construct and, for wildcard IAM findings, per exact resource, so a new
wildcard is never covered by an old reason.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(construct: IConstruct, rule: str, reason: str, *, applies_to: str | None = None) -> None:
    """`rule` like "IAM5"; `applies_to` like "Resource::*" for a finding on one resource."""
    finding = f"{PACK}::{PACK}-{rule}" + (f"[{applies_to}]" if applies_to else "")
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge_wildcard_resources(construct: IConstruct, reasons: dict[str, str]) -> None:
    """IAM5 on the listed resource ARNs (tokens allowed), each with its own reason."""
    for resource, reason in reasons.items():
        acknowledge(construct, "IAM5", reason, applies_to=f"Resource::{nag_text(construct, resource)}")


def nag_text(scope: IConstruct, value: str) -> str:
    """A value as cdk-nag prints it in finding ids: intrinsics become <Ref> / <Id.Attr>."""
    return _render(Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(p) for p in parts)
    raise ValueError(f"cannot render {value!r} as cdk-nag text")
