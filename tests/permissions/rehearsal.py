"""Permission rehearsal: every AWS call the workflow makes, evaluated against the synthesized policies.

1. `CallRecorder` records each API call made in this process (botocore's `before-parameter-build`
   event on every client created while it records) with the role it stands for
   (`workflow.local.running_as`: the deployed function's role while a handler runs locally, the
   execution role for the notebook's SDK calls; None for the operator's own calls).
2. `tests.permissions.on_behalf` adds the calls AWS services make with the execution role on
   the workflow's behalf (Ground Truth and training read inputs, write outputs, pull images, log).
3. `iam_requests` maps each call to IAM requests (action, resource ARN, context) with the data in
   call_map.json, one row per operation, each citing its AWS page.
4. `evaluate` runs every request through @cloud-copilot/iam-simulate (simulate.mjs) with the
   principal's identity policies and the bucket policy, conditions included.
5. `unused_grants` lists each (statement, action, resource) that no allowed request used.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.session

from tests.permissions.policies import ACCOUNT, PARTITION, Policies
from workflow import local

HERE = Path(__file__).resolve().parent
CALL_MAP_FILE = HERE / "call_map.json"
SIMULATOR = HERE / "simulate.mjs"
SIMULATOR_TIMEOUT_SECONDS = 120

_PLACEHOLDER = re.compile(r"\{(\?)?([A-Za-z0-9_.]+)(\|lower)?\}")
_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")


class MappingError(ValueError):
    """A call the rehearsal cannot map to IAM: add or fix its row in call_map.json."""


@dataclass(frozen=True)
class Call:
    principal: str | None  # role ARN whose permissions apply; None = the operator's own credentials
    service: str  # botocore service name: s3, sagemaker, ...
    operation: str  # API operation: PutObject, CreateTrainingJob, ...
    params: Mapping[str, Any]
    region: str
    origin: str = "recorded"  # or who makes it on our behalf, and why

    @property
    def key(self) -> str:
        return f"{self.service}.{self.operation}"


@dataclass(frozen=True)
class IamRequest:
    principal: str
    action: str
    resource: str
    context: Mapping[str, str]
    call: Call

    def identity(self) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
        return (self.principal, self.action, self.resource, tuple(sorted(self.context.items())))

    def describe(self) -> str:
        context = "".join(f" {k}={v}" for k, v in sorted(self.context.items()))
        return f"{self.action} on {self.resource}{context}"


@dataclass(frozen=True)
class Evaluation:
    request: IamRequest
    decision: str  # Allowed | ImplicitlyDenied | ExplicitlyDenied | Error
    errors: Any
    used: tuple[tuple[str, str, str, str], ...]  # (policy name, sid, action pattern, resource pattern)

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"


# --- 1. recording ------------------------------------------------------------------------------


class CallRecorder:
    """Records the API calls of every botocore client created while `recording()` is active."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    @contextmanager
    def recording(self) -> Iterator[CallRecorder]:
        original = botocore.session.Session.create_client
        recorder = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            region = client.meta.region_name
            # A client stands for the principal it was created for: s3transfer's upload_fileobj
            # makes its calls in worker threads, where the context variable is not set.
            created_for = local.running_as.get()

            def record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
                recorder.calls.append(Call(
                    principal=local.running_as.get() or created_for,
                    service=model.service_model.service_name,
                    operation=model.name,
                    params=_plain(params),
                    region=region,
                ))

            client.meta.events.register("before-parameter-build", record)
            client.meta.events.register("before-send", refuse_off_loopback)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
        try:
            yield self
        finally:
            botocore.session.Session.create_client = original  # type: ignore[method-assign]

    def ours(self) -> list[Call]:
        """The calls made with one of the workflow's roles (not the operator's)."""
        return [call for call in self.calls if call.principal is not None]


class OffLoopbackError(RuntimeError):
    """A recorded client tried to reach a host other than this machine's loopback."""


def refuse_off_loopback(request: Any, **_: Any) -> None:
    """Tests talk to the local emulator only: a request for any other host is a bug, stopped here."""
    host = urlsplit(request.url).hostname or ""
    if host not in ("localhost", "::1") and not host.startswith("127."):
        raise OffLoopbackError(f"refused to send {request.method} {request.url}: not the local emulator")


def _plain(value: Any) -> Any:
    """A JSON-able copy of request parameters (bodies and streams become a marker)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return f"<{type(value).__name__}>"


# --- 3. mapping ----------------------------------------------------------------------------------


def load_call_map() -> dict[str, Any]:
    return json.loads(CALL_MAP_FILE.read_text())["operations"]


def iam_requests(call: Call, policies: Policies, *, call_map: Mapping[str, Any] | None = None,
                 account: str = ACCOUNT) -> list[IamRequest]:
    """The IAM requests one call is authorized by (an operation without a row is an error)."""
    if call.principal is None:
        raise MappingError(f"{call.key}: made with the operator's credentials, not a workflow role")
    rows = load_call_map() if call_map is None else call_map
    if call.key not in rows:
        raise MappingError(f"{call.key} has no row in {CALL_MAP_FILE.name}: add one, citing the AWS page")
    row = rows[call.key]
    params = _normalized(call)
    values = {"region": call.region, "account": account, "partition": PARTITION}
    requests: list[IamRequest] = []
    for entry in row["requests"]:
        if "when" in entry and not _lookup(params, entry["when"]):
            continue
        resource = _expand(entry["resource"], params, values, call)
        assert resource is not None
        context = {"aws:SecureTransport": "true"}  # every SDK and service call here uses HTTPS
        for key, template in entry.get("context", {}).items():
            value = _expand(template, params, values, call)
            if value is not None:
                context[key] = value
        requests.append(IamRequest(call.principal, entry["action"], resource, context, call))
    mode = row.get("kms")
    if mode:
        bucket = params.get("Bucket")
        key_arn = policies.bucket_kms_keys.get(bucket) if isinstance(bucket, str) else None
        if key_arn:
            action = "kms:GenerateDataKey" if mode == "encrypt" else "kms:Decrypt"
            requests.append(IamRequest(call.principal, action, key_arn, {
                "aws:SecureTransport": "true", "kms:ViaService": f"s3.{call.region}.amazonaws.com"}, call))
    return requests


def _normalized(call: Call) -> Mapping[str, Any]:
    params = dict(call.params)
    source = params.get("CopySource")
    if isinstance(source, str):  # "bucket/key" form
        bucket, _, key = source.lstrip("/").partition("/")
        params["CopySource"] = {"Bucket": bucket, "Key": key}
    return params


def _lookup(params: Mapping[str, Any], path: str) -> Any:
    value: Any = params
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _expand(template: str, params: Mapping[str, Any], values: Mapping[str, str], call: Call) -> str | None:
    missing_optional = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing_optional
        optional, name, lower = match.groups()
        value = values.get(name) if name in values else _lookup(params, name)
        if value is None or value == "":
            if optional:
                missing_optional = True
                return ""
            raise MappingError(f"{call.key}: parameter {name} is missing for template {template!r}")
        text = str(value)
        return text.lower() if lower else text

    result = _PLACEHOLDER.sub(substitute, template)
    return None if missing_optional else result


# --- 4. evaluation -------------------------------------------------------------------------------


def evaluate(requests: Iterable[IamRequest], policies: Policies, *, account: str = ACCOUNT) -> list[Evaluation]:
    """Each distinct request evaluated once against its principal's identity policies and, for
    S3, the bucket's policy (same account: either may allow, an explicit deny in any wins)."""
    unique = list({request.identity(): request for request in reversed(list(requests))}.values())[::-1]
    simulations = []
    resource_policy_names: list[str | None] = []
    for request in unique:
        identity = policies.identity.get(request.principal, ())
        bucket = _bucket_of(request.resource)
        resource_policy = policies.buckets.get(bucket) if bucket else None
        resource_policy_names.append(f"bucket-policy:{bucket}" if resource_policy else None)
        if request.resource.startswith(f"arn:{PARTITION}:kms:"):
            # A key's policy must allow its use; for a key the stack does not own we assume the
            # default key policy, which delegates to IAM (preflight checks the real one).
            resource_policy = default_key_policy(account)
        simulations.append({
            "request": {
                "action": request.action,
                "principal": request.principal,
                # Buckets we do not own (the public sample bucket) are evaluated on our side only:
                # whether *our* policies allow the call; their owner's policy is theirs.
                "resource": {"accountId": account, "resource": request.resource},
                "contextVariables": dict(request.context),
            },
            "identityPolicies": [{"name": p.name, "policy": p.document} for p in identity],
            "resourcePolicy": resource_policy,
        })
    results = run_simulator(simulations)
    evaluations = []
    for request, result, resource_name in zip(unique, results, resource_policy_names, strict=True):
        used = tuple(
            (resource_name if entry["policy"] == "resource-policy" else entry["policy"], entry["sid"], action, resource)
            for entry in result["used"] for action in entry["actions"] for resource in entry["resources"]
        )
        evaluations.append(Evaluation(request, result["decision"], result.get("errors"), used))
    return evaluations


def default_key_policy(account: str) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "EnableIAMUserPermissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:{PARTITION}:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}]}


def run_simulator(simulations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed = subprocess.run(
        ["node", str(SIMULATOR)], input=json.dumps({"simulations": simulations}), capture_output=True, text=True,
        timeout=SIMULATOR_TIMEOUT_SECONDS, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"simulate.mjs failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return json.loads(completed.stdout)["results"]


def _bucket_of(arn: str) -> str | None:
    prefix = f"arn:{PARTITION}:s3:::"
    return arn[len(prefix):].split("/", 1)[0] if arn.startswith(prefix) else None


# --- 5. grants no call used ----------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    policy: str
    sid: str
    action: str
    resource: str
    condition: str
    principal: str  # the role (identity policy) or the principals named (bucket policy)


def grants(policies: Policies) -> list[Grant]:
    """Every (Allow statement, action, resource) of every identity and bucket policy."""
    found: list[Grant] = []
    seen_policies: set[str] = set()
    for role, identity in policies.identity.items():
        for policy in identity:
            if policy.name in seen_policies:  # one policy attached to several roles: its grants once
                continue
            seen_policies.add(policy.name)
            found.extend(_statement_grants(policy.name, policy.document, role))
    for bucket, document in policies.buckets.items():
        found.extend(_statement_grants(f"bucket-policy:{bucket}", document, None))
    return found


def _statement_grants(policy: str, document: Mapping[str, Any], role: str | None) -> Iterator[Grant]:
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        principal = role or json.dumps(statement.get("Principal"), sort_keys=True)
        condition = json.dumps(statement["Condition"], sort_keys=True) if "Condition" in statement else ""
        for action in _as_list(statement.get("Action")):
            for resource in _as_list(statement.get("Resource")):
                yield Grant(policy, statement["Sid"], action, resource, condition, principal)


def unused_grants(policies: Policies, evaluations: Iterable[Evaluation]) -> list[Grant]:
    used = {entry for evaluation in evaluations if evaluation.allowed for entry in evaluation.used}
    return [g for g in grants(policies) if (g.policy, g.sid, g.action, g.resource) not in used]


def grant_key(grant: Grant, names: Callable[[str], str]) -> str:
    """A stable, readable key for the allow-list: role label, action, resource, condition."""
    who = names(grant.principal)
    condition = f" if {names(grant.condition)}" if grant.condition else ""
    return f"{who}: {grant.action} on {names(grant.resource)}{condition}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def label_names(policies: Policies, *, bucket: str | None = None,
                physical_ids: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """Replace role ARNs and physical resource names by construct labels (logical id without
    hash), the account id and bucket by placeholders: keys that survive a redeploy."""
    replacements: list[tuple[str, str]] = []
    for key, arn in policies.roles.items():
        logical_id = key.split("/", 1)[1]
        replacements.append((arn, f"role/{_HASH_SUFFIX.sub('', logical_id)}"))
    if bucket:
        replacements.append((bucket, "{bucket}"))
    for logical_id, physical in (physical_ids or {}).items():
        if len(physical) > 8 and physical != bucket:  # short ids could match inside other text
            replacements.append((physical.rsplit("/", 1)[-1], f"<{_HASH_SUFFIX.sub('', logical_id)}>"))
    replacements.append((ACCOUNT, "{account}"))
    replacements.sort(key=lambda pair: -len(pair[0]))

    def names(text: str) -> str:
        for old, new in replacements:
            text = text.replace(old, new)
        return text

    return names
