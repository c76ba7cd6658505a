"""The local AWS emulator (moto server) for tests and the demo: loopback only, fake credentials.

One place for how we start it, so every test layer talks to the same kind of endpoint.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

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
    """Start a moto server on a free loopback port and stop it on exit."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        port = server._server.server_port  # port 0: the OS picked a free one
        yield Emulator(endpoint_url=f"http://localhost:{port}", port=port)
    finally:
        server.stop()


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
