#!/usr/bin/env python3
"""Stop this SageMaker notebook instance after --idle-minutes without Jupyter activity.

Run every 5 minutes by the OnStart lifecycle script's timer. Standard library only (no
internet needed) and Python 3.7 compatible (/usr/bin/python3 on Amazon Linux 2).

Activity: a busy kernel, or any kernel or terminal whose last_activity is within the idle
window. Terminals count: a long job run from a terminal shows no kernel activity at all.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, NamedTuple

METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
# /run is emptied at boot: every start of the instance begins with a fresh idle clock.
STATE_FILE = "/run/notebook-idle-stop/state.json"
# The AWS CLI by absolute path in root-owned system directories: never a PATH lookup, and never
# ec2-user's anaconda3/bin, which the notebook's user can write to (a planted `aws` would run as root).
AWS_CLI_PATHS = ("/usr/local/bin/aws", "/usr/bin/aws")
ACTIVE_KERNEL_STATES = ("busy", "starting", "restarting", "autorestarting")
# Jupyter's certificate is self-signed, so it is not verified: acceptable only because
# requests never leave the instance.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_TIMESTAMP = re.compile(r"(\d+)-(\d+)-(\d+)[T ](\d+):(\d+):(\d+)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$")


class Decision(NamedTuple):
    idle: bool
    reason: str
    state: dict  # saved for the next run


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds of a Jupyter time such as 2024-05-01T12:00:00.123456Z.

    Not datetime.fromisoformat: before Python 3.11 it rejects the Z suffix.
    """
    match = _TIMESTAMP.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    fields = tuple(int(group) for group in match.groups()[:6])
    epoch = calendar.timegm((*fields, 0, 0, 0)) + float(match.group(7) or 0)
    offset = (match.group(8) or "Z").replace(":", "")
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        epoch -= sign * (int(offset[1:3]) * 3600 + int(offset[3:]) * 60)
    return epoch


def is_idle(
    kernels: list[dict], terminals: list[dict], now: float, idle_seconds: float, state: dict
) -> Decision:
    """Whether the instance has been idle for idle_seconds (pure: no I/O).

    The idle clock starts at the latest last_activity of any kernel or terminal; when none
    reports one, at the first run that saw that (state["idle_since"]).
    """
    for kernel in kernels:
        if kernel.get("execution_state") in ACTIVE_KERNEL_STATES:
            return Decision(False, f"a kernel is {kernel['execution_state']}", {})
    stamps = [parse_timestamp(item.get("last_activity")) for item in [*kernels, *terminals]]
    known = [stamp for stamp in stamps if stamp is not None]
    if known:
        since, new_state = max(known), {}
    else:
        since = state.get("idle_since")
        if not isinstance(since, (int, float)) or since > now:
            since = now
        new_state = {"idle_since": since}
    reason = (
        f"{len(kernels)} kernel(s), {len(terminals)} terminal(s), "
        f"idle {(now - since) / 60:.1f} of {idle_seconds / 60:g} min"
    )
    return Decision(now - since >= idle_seconds, reason, new_state)


def get_list(base_url: str, path: str) -> list[dict]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(base_url.rstrip("/") + path, timeout=10, context=context) as r:
        value = json.loads(r.read().decode("utf-8"))
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{path} returned no JSON list of objects")
    return value


def fetch_activity(base_url: str) -> tuple[list[dict], list[dict]]:
    kernels = get_list(base_url, "/api/kernels")
    try:
        return kernels, get_list(base_url, "/api/terminals")
    except urllib.error.HTTPError as error:
        if error.code == 404:  # terminals are turned off
            return kernels, []
        raise


def load_state(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def save_state(path: str, state: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(path + ".tmp", path)


def stop_instance(metadata_file: str, stop_command: str | None) -> int:
    """Stop with the preinstalled AWS CLI (AL2 and AL2023 notebook instances have one)."""
    with open(metadata_file, encoding="utf-8") as handle:
        metadata = json.load(handle)
    name = metadata["ResourceName"]
    # arn:aws:sagemaker:<region>:<account>:notebook-instance/<name>; root has no region set.
    arn = str(metadata.get("ResourceArn", "")).split(":")
    if stop_command:
        command = shlex.split(stop_command)
    else:
        aws = next((path for path in AWS_CLI_PATHS if os.access(path, os.X_OK)), None)
        if aws is None:
            print(f"error: no aws CLI in {AWS_CLI_PATHS} to stop the instance", file=sys.stderr)
            return 1
        command = [aws, "sagemaker", "stop-notebook-instance", "--notebook-instance-name", name]
        command += ["--region", arn[3]] if len(arn) > 3 and arn[3] else []
    env = dict(os.environ, NOTEBOOK_INSTANCE_NAME=name)
    return subprocess.run(command, env=env, timeout=120, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-minutes", type=int, required=True)
    parser.add_argument("--jupyter-url", default="https://localhost:8443")
    parser.add_argument("--state-file", default=STATE_FILE)
    parser.add_argument("--metadata-file", default=METADATA_FILE)
    parser.add_argument(
        "--stop-command", help="instead of the AWS CLI; gets $NOTEBOOK_INSTANCE_NAME"
    )
    parser.add_argument("--dry-run", action="store_true", help="decide, but never stop")
    args = parser.parse_args(argv)
    if args.idle_minutes < 1:
        parser.error("--idle-minutes must be at least 1")
    if urllib.parse.urlsplit(args.jupyter_url).hostname not in LOOPBACK_HOSTS:
        parser.error("--jupyter-url must point at this machine")

    note = ""
    try:
        kernels, terminals = fetch_activity(args.jupyter_url)
    except (urllib.error.HTTPError, ValueError, TimeoutError) as error:
        # Jupyter answered, but not with activity (or too slowly): someone may be working. Busy.
        print(f"keep: Jupyter API error, counted as busy ({error})", flush=True)
        return 0
    except OSError as error:  # URLError: refused, no route
        if isinstance(getattr(error, "reason", None), TimeoutError):
            print(f"keep: Jupyter API error, counted as busy ({error})", flush=True)
            return 0
        # A Jupyter that stays down for the whole idle window is nobody's work in progress.
        kernels, terminals, note = [], [], f"Jupyter unreachable ({error}); "
    now, idle_seconds = time.time(), args.idle_minutes * 60
    decision = is_idle(kernels, terminals, now, idle_seconds, load_state(args.state_file))
    save_state(args.state_file, decision.state)
    print(f"{'stop' if decision.idle else 'keep'}: {note}{decision.reason}", flush=True)
    if not decision.idle or args.dry_run:
        return 0
    return stop_instance(args.metadata_file, args.stop_command)


if __name__ == "__main__":
    sys.exit(main())
