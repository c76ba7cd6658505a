"""boto3 clients for the Lambda handlers: one per service and region, created on first use.

Lazily, so importing a handler needs no region or credentials, clients are reused across warm
invocations, and tests or local runs can point them at an endpoint (`AWS_ENDPOINT_URL`, read
when a client is created) or install their own with `use`.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_clients: dict[tuple[str, str], Any] = {}


def client(service: str, region: str, *, config: Config | None = None) -> Any:
    key = (service, region)
    if key not in _clients:
        _clients[key] = boto3.client(service, region_name=region, config=config)
    return _clients[key]


def use(service: str, region: str, replacement: Any) -> None:
    """Answer `client(service, region)` with `replacement` (a stubbed or wrapped client)."""
    _clients[(service, region)] = replacement


def reset() -> None:
    """Forget every client, so the next ones see the current environment."""
    _clients.clear()
