"""Shared fixtures. Everything here is offline: fake credentials, loopback emulator only."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tools.toolchain import project_path

# Before anything starts node (jsii on the first aws_cdk import, the CDK CLI, simulate.mjs): the
# project's Node.js 22 when `make install` put one in .tools/node, and the venv's tools (shellcheck).
os.environ["PATH"] = project_path(os.environ.get("PATH", ""))

from demo.emulator import Emulator, fake_aws_environment, running_emulator


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find real credentials: fake ones, and no profile or config file."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One moto server on a free loopback port for the whole session."""
    with fake_aws_environment(), running_emulator() as emu:
        yield emu
