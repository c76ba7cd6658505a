"""Run a Lambda handler in this process with a deployed function's environment.

For the local emulator, which stores functions but cannot run them (`start-labeling --local`,
`make demo`): the handler's AWS calls then use the caller's credentials and endpoint, not the
function's role. `running_as` says which role the deployed function would have used, so the
permission rehearsal (tests/permissions) can evaluate each call against that role's policies.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from lambdas import aws_clients

# The IAM role ARN whose permissions the AWS calls made right now stand for (None: the caller's own).
running_as: ContextVar[str | None] = ContextVar("running_as", default=None)


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    role_arn: str
    variables: Mapping[str, str]


# The stack gives each function one settings variable (stacks/lambda_settings.py): LABELING_SETTINGS,
# TRAINING_SETTINGS, MODEL_SETTINGS. Only those are copied into this process.
SETTINGS_SUFFIX = "_SETTINGS"


def settings_variables(variables: Mapping[str, str]) -> dict[str, str]:
    """The function's settings variables only. Anything else a deployed function's environment
    holds (AWS_* endpoints or credentials, proxies, a region) would redirect or re-credential
    this process's own AWS calls and is never copied."""
    return {name: value for name, value in variables.items() if name.endswith(SETTINGS_SUFFIX)}


def deployed_function(lambda_client: Any, function: str) -> DeployedFunction:
    """The deployed function's role and settings variables (see `settings_variables`)."""
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    return DeployedFunction(
        name=function,
        role_arn=configuration["Role"],
        variables=settings_variables((configuration.get("Environment") or {}).get("Variables") or {}),
    )


@contextlib.contextmanager
def acting_as(role_arn: str | None) -> Iterator[None]:
    """Mark the calls made inside as made with `role_arn`'s permissions."""
    token = running_as.set(role_arn)
    try:
        yield
    finally:
        running_as.reset(token)


@contextlib.contextmanager
def deployed_environment(function: DeployedFunction) -> Iterator[None]:
    """The function's settings variables set for the duration, with fresh clients that honour them."""
    variables = settings_variables(function.variables)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    aws_clients.reset()
    try:
        with acting_as(function.role_arn):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        aws_clients.reset()
