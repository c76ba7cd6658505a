"""The workflow config as the CLI sees it: cdk.json's context, `--env` and `-c KEY=VALUE`.

The same `stacks.config.load_config` reads it as `cdk synth` does, so the CLI finds the stacks
and builds dry-run settings from exactly the config that was (or will be) deployed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks import regions
from stacks.config import CONTEXT_KEY, ENV_SELECTOR_KEY, ENVIRONMENTS_KEY, WorkflowConfig, load_config
from workflow.errors import UsageError

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def read_cdk_context(path: Path = CDK_JSON) -> dict[str, Any]:
    try:
        context = json.loads(path.read_text(encoding="utf-8"))["context"]
    except FileNotFoundError as error:
        raise UsageError(f"{path} not found: run the CLI from a checkout of this project") from error
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path} has no readable \"context\" object: {error}") from error
    if not isinstance(context, dict):
        raise UsageError(f"{path}: \"context\" must be an object")
    return context


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """`-c KEY=VALUE` as the CDK CLI takes it: one key each, the value a string.

    `load_config` parses `workflow.*` values as JSON when they parse (`true`, `30`, `null`).
    """
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"-c expects KEY=VALUE (e.g. -c {CONTEXT_KEY}.tuning.enabled=true), got {item!r}")
        overrides[key.strip()] = value
    return overrides


def build_context(base: Mapping[str, Any], *, env: str | None, overrides: Mapping[str, str]) -> dict[str, Any]:
    """cdk.json's context with the CLI's selections applied, as `cdk -c ...` would see it.

    `--env NAME` means `-c env=NAME` when NAME has a block in `workflow.environments`; any other
    name (not the default) means `-c workflow.env_name=NAME`: the default config deployed
    under other stack names.
    """
    context = {**base, **overrides}
    if env is None:
        return context
    selected = overrides.get(ENV_SELECTOR_KEY)
    if selected is not None and selected != env:
        raise UsageError(f"--env {env} contradicts -c {ENV_SELECTOR_KEY}={selected}; give one of them")
    workflow = base.get(CONTEXT_KEY)
    environments = workflow.get(ENVIRONMENTS_KEY, {}) if isinstance(workflow, Mapping) else {}
    if isinstance(environments, Mapping) and env in environments:
        context[ENV_SELECTOR_KEY] = env
    elif not isinstance(workflow, Mapping) or env != workflow.get("env_name"):
        context.setdefault(f"{CONTEXT_KEY}.env_name", env)
    return context


def region_from_environment() -> str | None:
    for name in REGION_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True)
class Project:
    """The loaded config and the region the command works in."""

    config: WorkflowConfig
    region: str
    notes: tuple[str, ...] = ()

    @property
    def data_stack(self) -> str:
        return f"{self.config.stack_prefix}-Data"

    @property
    def workflow_stack(self) -> str:
        return f"{self.config.stack_prefix}-Workflow"


def load_project(
    context: Mapping[str, Any],
    *,
    region: str | None,
    account: str | None = None,
    require_ground_truth_region: bool = True,
) -> Project:
    """Config plus region: `--region`, else AWS_REGION/AWS_DEFAULT_REGION, else the config's region.

    Raises `stacks.config.ConfigError` for an invalid config (the CLI exits 2 with its message).
    """
    chosen = region or region_from_environment()
    config = load_config(context, default_account=account, default_region=chosen)
    chosen = chosen or config.region
    if chosen is None:
        raise UsageError(
            "no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or set "
            f"{CONTEXT_KEY}.region in cdk.json"
        )
    if require_ground_truth_region and chosen not in regions.GROUND_TRUTH_REGIONS:
        raise UsageError(regions.unsupported_region_message("region", chosen))
    notes: tuple[str, ...] = ()
    if config.region is not None and config.region != chosen:
        notes = (f"the config pins region {config.region}, but this command uses {chosen}",)
    return Project(config=config, region=chosen, notes=notes)
