"""The local AWS emulator (moto server) for tests and the demo: loopback only, fake credentials.

One place for how we start it, so every test layer talks to the same kind of endpoint.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from moto.events.exceptions import ValidationException
from moto.events.models import EventPattern, Rule
from moto.events.responses import EventsHandler
from moto.server import ThreadedMotoServer
from moto.utilities.arns import parse_arn

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Emulator:
    # `localhost`, not 127.0.0.1: the emulator reads an IP host as a bucket name when
    # CloudFormation fetches templates from S3.
    endpoint_url: str
    port: int


@contextlib.contextmanager
def running_emulator() -> Iterator[Emulator]:
    """Start a moto server on a free loopback port and stop it on exit.

    moto keeps its state per process, not per server: every emulator started in one process
    sees the same buckets, stacks and rules. The server has our `emulator_extensions`.
    """
    with emulator_extensions():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            port = server._server.server_port  # port 0: the OS picked a free one
            yield Emulator(endpoint_url=f"http://localhost:{port}", port=port)
        finally:
            server.stop()


# --- Extending the in-process emulator -------------------------------------------------------
#
# moto's server builds a fresh `<Service>Response` object per request and looks the action's
# method up on its class at call time (`SageMakerResponse.create_labeling_job` for
# `X-Amz-Target: SageMaker.CreateLabelingJob`). Adding methods to that class therefore
# extends a server that is already running, in this process only, and removing them undoes
# it. The same goes for a model's methods (`Rule.send_to_targets`). This relies on moto
# internals, checked with moto 5.2.x; the integration tests fail if they change.


@contextlib.contextmanager
def patched_attributes(owner: type, attributes: Mapping[str, Callable[..., Any]]) -> Iterator[None]:
    """Set `attributes` on a moto class; restore (or remove) them on exit."""
    missing = object()
    saved = {name: owner.__dict__.get(name, missing) for name in attributes}
    for name, value in attributes.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for name, original in saved.items():
            if original is missing:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


# 1. TestEventPattern. moto 5.2 routes put_events with a full pattern matcher, but its
# TestEventPattern API is a stub: HTTP 200 with an empty body, which boto3 turns into a
# response without `Result`. We answer it with that same matcher, so "does this rule match?"
# gets the answer moto's own event routing gives.

_REQUIRED_EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")


def _test_event_pattern(self: EventsHandler) -> str:
    raw_event = self._get_param("Event")
    try:
        event = json.loads(raw_event) if raw_event else None
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise ValidationException("Parameter Event is not valid.")
    # Real EventBridge rejects an event without the envelope fields; so do we, so that a
    # hand-built test event cannot pass here and fail against AWS.
    missing = [name for name in _REQUIRED_EVENT_FIELDS if name not in event]
    if missing:
        raise ValidationException(f"Parameter Event is not valid. Reason: missing field(s) {', '.join(missing)}")
    pattern = EventPattern.load(self._get_param("EventPattern"))  # raises InvalidEventPattern
    return json.dumps({"Result": pattern.matches_event(event)})


# 2. Rule targets moto cannot deliver to. moto delivers matched events to SQS, CloudWatch
# Logs and event buses only; for any other target (Lambda functions: all of this workflow's
# rules) it raises NotImplementedError, and PutEvents answers HTTP 500 as soon as one such
# rule matches. We hold those deliveries instead: PutEvents succeeds, the supported targets
# still get the event, and `held_deliveries()` tells the demo which function EventBridge
# would have invoked with which event (the demo then calls the handler in-process).

_MOTO_TARGET_SERVICES = ("sqs", "logs", "events")


@dataclass(frozen=True)
class HeldDelivery:
    rule_arn: str
    target_id: str
    target_arn: str
    event: dict[str, Any]


_HELD_LOCK = threading.Lock()
_held: list[HeldDelivery] = []
_moto_send_to_targets = Rule.send_to_targets


def _send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    supported = [t for t in self.targets if parse_arn(t["Arn"]).service in _MOTO_TARGET_SERVICES]
    unsupported = [t for t in self.targets if t not in supported]
    if unsupported and self.event_pattern.matches_event(original_event):
        with _HELD_LOCK:
            _held.extend(HeldDelivery(self.arn, t["Id"], t["Arn"], copy.deepcopy(original_event)) for t in unsupported)
    if supported:
        # A copy with only the targets moto handles: the rule itself is shared with requests
        # that may be changing its targets.
        rule = copy.copy(self)
        rule.targets = supported
        _moto_send_to_targets(rule, original_event, transform_input)


def held_deliveries(*, clear: bool = False) -> list[HeldDelivery]:
    """Deliveries to targets the emulator cannot run, oldest first (all emulators in the process)."""
    with _HELD_LOCK:
        held = list(_held)
        if clear:
            _held.clear()
    return held


_EXTENSIONS_LOCK = threading.Lock()
_extension_users = 0
_extension_patches: contextlib.ExitStack | None = None


@contextlib.contextmanager
def emulator_extensions() -> Iterator[None]:
    """Install TestEventPattern and held target deliveries (reference-counted, nestable)."""
    global _extension_users, _extension_patches
    with _EXTENSIONS_LOCK:
        if _extension_users == 0:
            patches = contextlib.ExitStack()
            patches.enter_context(patched_attributes(EventsHandler, {"test_event_pattern": _test_event_pattern}))
            patches.enter_context(patched_attributes(Rule, {"send_to_targets": _send_to_targets}))
            _extension_patches = patches
        _extension_users += 1
    try:
        yield
    finally:
        with _EXTENSIONS_LOCK:
            _extension_users -= 1
            if _extension_users == 0 and _extension_patches is not None:
                _extension_patches.close()
                _extension_patches = None


@contextlib.contextmanager
def fake_aws_environment(endpoint_url: str | None = None) -> Iterator[None]:
    """Fake credentials (never real ones) and, optionally, every client pointed at the emulator."""
    saved = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
