"""Drive the real CDK CLI against the local emulator: the one place for the emulator's quirks.

`deploy_to_emulator(app_dir, endpoint_url)` bootstraps the environment, synthesizes once,
deploys every stack and checks that `cdk diff` then finds nothing, returning each step's
duration, the stacks' outputs and the resources the emulator skipped without saying so.

What the emulator (moto 5.2) needs, measured with the pinned CLI:

- `AWS_ENDPOINT_URL=http://localhost:<port>`: with an IP host, CloudFormation reads the
  template URL's host as a bucket name.
- `deploy --method=direct`: change sets fail ("Deserialization error", after ~45 s of retries).
- Context `local_emulator=true`, on which the app must synthesize with
  `DefaultStackSynthesizer(generate_bootstrap_version_rule=False)`. With the rule, the
  template has a `BootstrapVersion` SSM parameter, and moto's UpdateStack crashes
  (KeyError 'BootstrapVersion' resolving `UsePreviousValue`), so every update after the
  first deploy fails. The first deploy works either way.
- `diff --method=template` (the default creates a change set).
- moto replaces some unchanged resources on every update (an SNS topic gets a new ARN):
  read outputs after each deploy, never cache them.

Offline and loopback-only: fake credentials, no profile or config file, no instance
metadata, no proxy, no notices (`--no-notices`), no telemetry
(`CDK_DISABLE_CLI_TELEMETRY=true`; `--no-version-reporting` also drops the
`AWS::CDK::Metadata` resource moto does not know), no version check.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

from demo.emulator import FAKE_CREDENTIALS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The CLI pinned in package.json. Never `npx cdk` from another directory: npx would look
# for (and try to download) a CLI there.
CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
LOCAL_CONTEXT_KEY = "local_emulator"
# moto's default account: what STS answers for the fake credentials.
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
STEP_TIMEOUT_SECONDS = 300
# Inherited variables that could point the CLI at a real account or off the loopback.
_DROPPED_PREFIXES = ("AWS_", "CDK_", "JSII_")
_DROPPED_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


class CdkLocalError(RuntimeError):
    """A CDK CLI step failed against the emulator; the message ends with the CLI's output."""


@dataclass(frozen=True)
class CdkStep:
    name: str
    command: tuple[str, ...]
    seconds: float
    output: str


@dataclass(frozen=True)
class SkippedResource:
    """In the deployed template, but the emulator created nothing (stack still COMPLETE)."""

    stack: str
    logical_id: str
    resource_type: str


@dataclass(frozen=True)
class LocalDeployment:
    steps: tuple[CdkStep, ...]
    # {stack name: {output key: value}}, from `--outputs-file`.
    outputs: dict[str, dict[str, str]]
    stacks: tuple[str, ...]
    skipped: tuple[SkippedResource, ...] = field(default=())

    @property
    def timings(self) -> dict[str, float]:
        return {step.name: step.seconds for step in self.steps}


def cli_environment(
    endpoint_url: str,
    *,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The CLI's environment: `base` (default os.environ) without AWS/CDK/proxy settings, plus ours."""
    source = os.environ if base is None else base
    env = {
        name: value
        for name, value in source.items()
        if not name.startswith(_DROPPED_PREFIXES) and name not in _DROPPED_NAMES
    }
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "CDK_DEFAULT_ACCOUNT": account,
            "CDK_DEFAULT_REGION": region,
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "NO_PROXY": "localhost,127.0.0.1",
            "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true",
        }
    )
    return env


def default_app_command() -> str:
    python = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)
    return f"{shlex.quote(str(python))} app.py"


def run_cdk(
    name: str,
    arguments: Sequence[str],
    *,
    app_dir: Path,
    env: Mapping[str, str],
    timeout: float = STEP_TIMEOUT_SECONDS,
) -> CdkStep:
    """Run `cdk <arguments> --no-notices --no-color` in `app_dir`; raise CdkLocalError on failure."""
    if not CDK_CLI.exists():
        raise CdkLocalError(f"{CDK_CLI} not found: run `npm ci` in {PROJECT_ROOT} to install the pinned CDK CLI")
    command = (str(CDK_CLI), *arguments, "--no-notices", "--no-color")
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            cwd=app_dir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        output = error.output if isinstance(error.output, str) else (error.output or b"").decode()
        raise CdkLocalError(f"cdk {name} timed out after {timeout:.0f} s\n{_tail(output)}") from error
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise CdkLocalError(
            f"cdk {name} failed (exit {completed.returncode}) after {seconds:.1f} s: "
            f"{shlex.join(command)}\n{_tail(completed.stdout)}"
        )
    return CdkStep(name, command, seconds, completed.stdout)


def _tail(output: str, lines: int = 40) -> str:
    return "\n".join(output.splitlines()[-lines:])


def _context_arguments(context: Mapping[str, str]) -> list[str]:
    arguments: list[str] = []
    for key, value in {LOCAL_CONTEXT_KEY: "true", **context}.items():
        arguments += ["--context", f"{key}={value}"]
    return arguments


def assembly_stacks(assembly_dir: Path) -> list[str]:
    """Stack names in a cloud assembly, in the manifest's (dependency) order."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    return [
        artifact.get("properties", {}).get("stackName", artifact_id)
        for artifact_id, artifact in manifest.get("artifacts", {}).items()
        if artifact.get("type") == "aws:cloudformation:stack"
    ]


def skipped_resources(
    endpoint_url: str, stacks: Sequence[str], *, region: str = DEFAULT_REGION
) -> list[SkippedResource]:
    """Resources of the deployed templates that the emulator did not create.

    moto logs "No Moto CloudFormation support for <type>" and still reports the stack as
    COMPLETE; comparing the template with ListStackResources finds those resources from
    outside the emulator's process. It cannot see properties moto ignores (for example
    `ManagedPolicyArns` on an IAM role, `PublicAccessBlockConfiguration` on a bucket).
    """
    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    skipped: list[SkippedResource] = []
    for stack in stacks:
        body: Any = cloudformation.get_template(StackName=stack)["TemplateBody"]
        template = json.loads(body) if isinstance(body, str) else body
        created: set[str] = set()
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
            created.update(r["LogicalResourceId"] for r in page["StackResourceSummaries"])
        skipped.extend(
            SkippedResource(stack, logical_id, resource["Type"])
            for logical_id, resource in template.get("Resources", {}).items()
            if logical_id not in created
        )
    return skipped


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def deploy_to_emulator(
    app_dir: Path | str,
    endpoint_url: str,
    *,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    app_command: str | None = None,
    context: Mapping[str, str] | None = None,
    bootstrap: bool = True,
    check_diff: bool = True,
    timeout: float = STEP_TIMEOUT_SECONDS,
) -> LocalDeployment:
    """Synth once, bootstrap (optional), deploy all stacks, and check `cdk diff` is empty.

    Run `bootstrap` once per emulator: the CDKToolkit stack then exists for later deploys.
    The app is synthesized once into a temporary cloud assembly that deploy and diff reuse,
    which saves the CLI's own synth (most of each command's time) twice.
    """
    if _is_ip_address(urlparse(endpoint_url).hostname or ""):
        raise CdkLocalError(
            f"endpoint {endpoint_url} has an IP host: CloudFormation in the emulator would read the "
            "template URL's host as a bucket name (NoSuchBucket). Use http://localhost:<port>."
        )
    app_dir = Path(app_dir)
    env = cli_environment(endpoint_url, region=region, account=account)
    context_arguments = _context_arguments(context or {})
    steps: list[CdkStep] = []
    with tempfile.TemporaryDirectory(prefix="cdk.out.local-") as scratch:
        assembly = Path(scratch) / "assembly"
        outputs_file = Path(scratch) / "outputs.json"
        steps.append(
            run_cdk(
                "synth",
                [
                    "synth",
                    "--app",
                    app_command or default_app_command(),
                    "--output",
                    str(assembly),
                    "--quiet",
                    "--no-version-reporting",
                    *context_arguments,
                ],
                app_dir=app_dir,
                env=env,
                timeout=timeout,
            )
        )
        if bootstrap:
            # After synth, so that `--app` names the assembly: otherwise the CLI would read
            # the app from cdk.json and synthesize it once more.
            steps.append(
                run_cdk(
                    "bootstrap",
                    ["bootstrap", f"aws://{account}/{region}", "--app", str(assembly)],
                    app_dir=app_dir,
                    env=env,
                    timeout=timeout,
                )
            )
        steps.append(
            run_cdk(
                "deploy",
                [
                    "deploy",
                    "--all",
                    "--app",
                    str(assembly),
                    "--require-approval",
                    "never",
                    "--method=direct",
                    "--outputs-file",
                    str(outputs_file),
                ],
                app_dir=app_dir,
                env=env,
                timeout=timeout,
            )
        )
        if check_diff:
            steps.append(
                run_cdk(
                    "diff",
                    ["diff", "--app", str(assembly), "--method=template", "--fail"],
                    app_dir=app_dir,
                    env=env,
                    timeout=timeout,
                )
            )
        stacks = tuple(assembly_stacks(assembly))
        outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else {}
    return LocalDeployment(
        steps=tuple(steps),
        outputs=outputs,
        stacks=stacks,
        skipped=tuple(skipped_resources(endpoint_url, stacks, region=region)),
    )
