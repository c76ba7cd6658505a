"""The rehearsal's verdicts over one run: denials, and grants nothing used, against the allow-lists.

`expected_denials.json`: calls that are denied on purpose and that the caller tolerates, each with
the reason. `unused_grants.json`: grants no call of the run used, each with why it stays.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.permissions.policies import Policies, StackInput, load_policies
from tests.permissions.rehearsal import (
    Call,
    Evaluation,
    Grant,
    grant_key,
    iam_requests,
    label_names,
    load_call_map,
    unused_grants,
)
from tests.permissions.rehearsal import evaluate as simulate
from tests.permissions.rehearsal_run import RehearsalRun

HERE = Path(__file__).resolve().parent
EXPECTED_DENIALS_FILE = HERE / "expected_denials.json"
UNUSED_GRANTS_FILE = HERE / "unused_grants.json"
ROLE_LABELS = ("StartLabeling", "StartTraining", "RegisterModel", "Evaluation", "SageMakerExecution")


@dataclass(frozen=True)
class LabeledCall:
    call: Call
    principal_label: str
    origin_kind: str


@dataclass
class Outcome:
    calls: list[LabeledCall]
    evaluations: list[Evaluation]
    unused: list[Grant]
    unused_keys: dict[str, Grant]
    unexpected_denials: list[str] = field(default_factory=list)
    stale_denials: list[str] = field(default_factory=list)
    unjustified_unused: list[str] = field(default_factory=list)
    stale_justifications: list[str] = field(default_factory=list)
    justifications: dict[str, str] = field(default_factory=dict)

    def denied(self) -> list[Evaluation]:
        return [e for e in self.evaluations if not e.allowed]

    def summary(self) -> str:
        by_origin: dict[str, int] = {}
        for labeled in self.calls:
            key = f"{labeled.principal_label} ({labeled.origin_kind})"
            by_origin[key] = by_origin.get(key, 0) + 1
        allowed = sum(1 for e in self.evaluations if e.allowed)
        lines = [f"{len(self.calls)} calls -> {len(self.evaluations)} distinct IAM requests, {allowed} allowed:"]
        lines += [f"  {count:4d}  {key}" for key, count in sorted(by_origin.items())]
        return "\n".join(lines)

    def unused_table(self) -> str:
        lines = [f"{len(self.unused_keys)} grant(s) no call of the run used:"]
        for key in sorted(self.unused_keys):
            lines.append(f"  {key}\n      why it stays: {self.justifications.get(key, '(no reason given)')}")
        return "\n".join(lines)


def role_label(arn: str | None, policies: Policies) -> str:
    for key, role_arn in policies.roles.items():
        if role_arn == arn:
            logical_id = key.split("/", 1)[1]
            return next((label for label in ROLE_LABELS if label in logical_id), logical_id)
    return str(arn)


def rehearse(run: RehearsalRun, *, stacks: Sequence[StackInput] | None = None) -> Outcome:
    """Evaluate the run's calls against `stacks` (default: the deployed templates)."""
    policies = load_policies(list(stacks or run.stacks))
    call_map = load_call_map()
    requests = [request for call in run.calls for request in iam_requests(call, policies, call_map=call_map)]
    evaluations = simulate(requests, policies)
    names = label_names(policies, bucket=run.bucket,
                        physical_ids={k: v for stack in run.stacks for k, v in stack.physical_ids.items()})
    labeled = [LabeledCall(call, role_label(call.principal, policies), _origin_kind(call.origin))
               for call in run.calls]
    unused = unused_grants(policies, evaluations)
    outcome = Outcome(calls=labeled, evaluations=evaluations, unused=unused,
                      unused_keys={grant_key(grant, names): grant for grant in unused})

    expected = json.loads(EXPECTED_DENIALS_FILE.read_text())["denials"]
    seen_denials = set()
    for evaluation in outcome.denied():
        request = evaluation.request
        key = f"{role_label(request.principal, policies)}: {names(request.action)} on {names(request.resource)}"
        seen_denials.add(key)
        if key not in expected:
            errors = f" errors={evaluation.errors}" if evaluation.errors else ""
            outcome.unexpected_denials.append(
                f"  {key} -> {evaluation.decision}{errors}\n      by {request.call.key} ({request.call.origin}) "
                f"context {dict(request.context)}")
    outcome.stale_denials = sorted(set(expected) - seen_denials)

    outcome.justifications = json.loads(UNUSED_GRANTS_FILE.read_text())["grants"]
    outcome.unjustified_unused = sorted(set(outcome.unused_keys) - set(outcome.justifications))
    outcome.stale_justifications = sorted(set(outcome.justifications) - set(outcome.unused_keys))
    return outcome


def _origin_kind(origin: str) -> str:
    if origin == "recorded":
        return origin
    for kind in ("notebook SDK", "notebook lifecycle", "Ground Truth", "SageMaker training", "SageMaker hosting",
                 "SageMaker batch transform"):
        if origin.startswith(kind):
            return kind
    return origin


# --- Faults, reintroduced on purpose: the rehearsal must catch each ------------------------------


def without_action(stacks: Sequence[StackInput], label: str, action: str) -> list[StackInput]:
    """`stacks` with `action` (or a wildcard covering it) removed from every IAM policy whose
    logical id contains `label`: a grant someone forgot."""

    def edit(logical_id: str, resource: dict[str, Any]) -> None:
        if resource["Type"] != "AWS::IAM::Policy" or label not in logical_id:
            return
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            kept = [a for a in actions if not fnmatch.fnmatchcase(action, a)]
            statement["Action"] = kept or ["sts:GetCallerIdentity"]  # a statement needs an action

    return _edited(stacks, edit)


def list_bucket_only_under_prefix(stacks: Sequence[StackInput]) -> list[StackInput]:
    """`stacks` with every s3:ListBucket grant that does not require an s3:prefix removed, in the
    role policies and the bucket policy: the notebook's HeadBucket problem (issue point 3)."""

    def edit(logical_id: str, resource: dict[str, Any]) -> None:
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::S3::BucketPolicy"):
            return
        statements = resource["Properties"]["PolicyDocument"]["Statement"]
        resource["Properties"]["PolicyDocument"]["Statement"] = [
            s for s in statements
            if not (s["Effect"] == "Allow" and "s3:ListBucket" in json.dumps(s["Action"])
                    and "StringLike" not in s.get("Condition", {}))
        ]

    return _edited(stacks, edit)


def _edited(stacks: Sequence[StackInput], edit: Callable[[str, dict[str, Any]], None]) -> list[StackInput]:
    edited = []
    for stack in stacks:
        template = copy.deepcopy(dict(stack.template))
        for logical_id, resource in template["Resources"].items():
            edit(logical_id, resource)
        edited.append(StackInput(stack.name, template, stack.physical_ids))
    return edited


def with_physical_ids(templates: Mapping[str, Mapping[str, Any]], run: RehearsalRun) -> list[StackInput]:
    """Synthesized templates (keyed by stack name) with the deployed run's physical ids, so a
    variant's policies name the same roles and bucket as the recorded calls."""
    ids = run.physical_ids()
    return [StackInput(name, template, ids.get(name, {})) for name, template in templates.items()]
