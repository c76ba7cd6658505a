"""boto3 clients for the Lambda handlers: one per service and region, created on first use, all
with the same botocore configuration (`CLIENT_CONFIG`).

Lazily, so importing a handler needs no region or credentials, clients are reused across warm
invocations, and tests or local runs can point them at an endpoint (`AWS_ENDPOINT_URL`, read
when a client is created) or install their own with `use`.

Facts behind the configuration, with their sources: docs/lambda-runtime.md.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Named in every request's User-Agent, so CloudTrail (userAgent) tells this project's calls apart.
USER_AGENT_EXTRA = "sagemaker-labeling-to-training"

# Standard retry mode: throttling, transient errors, 5xx and connection errors are retried with
# exponential backoff and jitter, capped at 20 s per wait, behind a client-side retry quota
# (boto3 "Retries" guide). `total_max_attempts` counts the first attempt too (botocore Config).
RETRY_MODE = "standard"
MAX_ATTEMPTS = 3
# Every call the functions make answers in well under a second (Describe/Create/Publish/List, and
# the S3 reads and writes, whose read timeout applies per socket read, not to a whole transfer).
# Bounded so that one call, retries and backoff included, ends within the shortest function timeout
# (1 minute: the Deployment function's; RegisterModel has 2, StartTraining and StartLabeling 5, Evaluation 10): see
# `worst_case_call_seconds`, and the test that checks it against the synthesized templates.
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
# botocore's standard mode: a throttled retry waits rand(0, 1) * min(2 ** i, 20) s (the base
# for other errors is 50 ms), raised to an `x-amz-retry-after` header of at most that + 5 s.
_MAX_BACKOFF_SECONDS = 20
_RETRY_AFTER_EXTRA_SECONDS = 5

CLIENT_CONFIG = Config(
    retries={"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    user_agent_extra=USER_AGENT_EXTRA,
)

_clients: dict[tuple[str, str], Any] = {}


def client(service: str, region: str) -> Any:
    """The client for `service` in `region`, created with `CLIENT_CONFIG` on first use."""
    key = (service, region)
    if key not in _clients:
        _clients[key] = boto3.client(service, region_name=region, config=CLIENT_CONFIG)
    return _clients[key]


def use(service: str, region: str, replacement: Any) -> None:
    """Answer `client(service, region)` with `replacement` (a stubbed or wrapped client)."""
    _clients[(service, region)] = replacement


def reset() -> None:
    """Forget every client, so the next ones see the current environment."""
    _clients.clear()


def worst_case_call_seconds(
    *,
    attempts: int = MAX_ATTEMPTS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> float:
    """The longest one API call can take before botocore gives up: every attempt times out
    connecting and then reading, and every retry waits the longest throttling backoff."""
    waits = sum(min(2**i, _MAX_BACKOFF_SECONDS) + _RETRY_AFTER_EXTRA_SECONDS for i in range(attempts - 1))
    return attempts * (connect_timeout + read_timeout) + waits
