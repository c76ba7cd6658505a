"""boto3 clients for the CLI, and AWS errors turned into messages an operator can act on.

Clients honour AWS_ENDPOINT_URL (boto3 does), which is how `make demo` points the CLI at the
local emulator.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.loaders import Loader

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


_shared_loader: Loader | None = None


def new_session() -> boto3.session.Session:
    """A session of its own per CLI run, so credentials are looked up afresh (boto3's default
    session keeps the first ones it finds for the life of the process), sharing the parsed
    service models of earlier sessions in the process (SageMaker's takes ~0.2 s to load)."""
    global _shared_loader
    core = botocore.session.Session()
    if _shared_loader is None:
        _shared_loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _shared_loader)
    session = boto3.session.Session(botocore_session=core)
    # boto3 appends its data folder to the loader's search paths on every new session.
    paths = _shared_loader.search_paths
    paths[:] = list(dict.fromkeys(paths))
    return session


def client(service: str, region: str, *, config: Config | None = None,
           session: boto3.session.Session | None = None) -> Any:
    session = session or new_session()
    return session.client(service, region_name=region, config=_CONFIG.merge(config) if config else _CONFIG)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def is_not_found(error: ClientError) -> bool:
    """SageMaker's Describe* answer a missing name with ResourceNotFound or a ValidationException."""
    code, message = error_code(error), error_message(error).lower()
    return code in ("ResourceNotFound", "ResourceNotFoundException") or (
        code in ("ValidationException", "ValidationError")
        and any(words in message for words in ("not found", "does not exist", "could not find"))
    )


def describe_or_none(call: Any, **params: Any) -> dict[str, Any] | None:
    """The Describe* response, or None when the resource does not exist."""
    try:
        response: dict[str, Any] = call(**params)
    except ClientError as error:
        if is_not_found(error):
            return None
        raise
    return response
