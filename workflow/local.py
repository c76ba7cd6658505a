"""Run a Lambda handler in this process with a deployed function's environment.

For the local emulator, which stores functions but cannot run them (`start-labeling --local`,
`make demo`): the handler's AWS calls then use the caller's credentials and endpoint, not the
function's role.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import aws_clients


def function_environment(lambda_client: Any, function: str) -> dict[str, str]:
    """The deployed function's environment variables."""
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    return dict((configuration.get("Environment") or {}).get("Variables") or {})


@contextlib.contextmanager
def deployed_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` set for the duration, with fresh clients that honour this environment."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    aws_clients.reset()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        aws_clients.reset()
