"""The local AWS emulator (moto server) for tests and the demo: loopback only, fake credentials.

One place for how we start it, so every test layer talks to the same kind of endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from moto.events.exceptions import ValidationException
from moto.events.models import EventPattern
from moto.events.responses import EventsHandler
from moto.server import ThreadedMotoServer

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

    It answers EventBridge's TestEventPattern (see `emulated_test_event_pattern`).
    """
    with emulated_test_event_pattern():
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
# it. This relies on moto's request dispatch (checked with moto 5.2.x), not on its models.


@contextlib.contextmanager
def patched_response_methods(response_class: type, methods: Mapping[str, Callable[..., Any]]) -> Iterator[None]:
    """Set `methods` on a moto response class; restore (or remove) them on exit."""
    missing = object()
    saved = {name: response_class.__dict__.get(name, missing) for name in methods}
    for name, method in methods.items():
        setattr(response_class, name, method)
    try:
        yield
    finally:
        for name, original in saved.items():
            if original is missing:
                delattr(response_class, name)
            else:
                setattr(response_class, name, original)


# moto 5.2 routes put_events with a full pattern matcher, but its TestEventPattern API is a
# stub: HTTP 200 with an empty body, which boto3 turns into a response without `Result`.
# We answer it with that same matcher, so "does this rule match?" gets the answer moto's own
# event routing would give.
_TEST_EVENT_PATTERN_LOCK = threading.Lock()
_test_event_pattern_users = 0
_test_event_pattern_patch: contextlib.ExitStack | None = None


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
    missing = [field for field in _REQUIRED_EVENT_FIELDS if field not in event]
    if missing:
        raise ValidationException(f"Parameter Event is not valid. Reason: missing field(s) {', '.join(missing)}")
    pattern = EventPattern.load(self._get_param("EventPattern"))  # raises InvalidEventPattern
    return json.dumps({"Result": pattern.matches_event(event)})


_REQUIRED_EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")


@contextlib.contextmanager
def emulated_test_event_pattern() -> Iterator[None]:
    """Make the in-process emulator answer TestEventPattern (reference-counted, nestable)."""
    global _test_event_pattern_users, _test_event_pattern_patch
    with _TEST_EVENT_PATTERN_LOCK:
        if _test_event_pattern_users == 0:
            stack = contextlib.ExitStack()
            stack.enter_context(patched_response_methods(EventsHandler, {"test_event_pattern": _test_event_pattern}))
            _test_event_pattern_patch = stack
        _test_event_pattern_users += 1
    try:
        yield
    finally:
        with _TEST_EVENT_PATTERN_LOCK:
            _test_event_pattern_users -= 1
            if _test_event_pattern_users == 0 and _test_event_pattern_patch is not None:
                _test_event_pattern_patch.close()
                _test_event_pattern_patch = None


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
