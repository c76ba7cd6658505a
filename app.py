#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth|diff|deploy` runs this (see cdk.json)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from stacks.app import build_app
from stacks.config import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent


def cli_context() -> dict:
    """The context the CDK CLI passes (cdk.json + `-c` flags); cdk.json alone when run as `python app.py`."""
    passed = os.environ.get("CDK_CONTEXT_JSON")
    if passed:
        return json.loads(passed)
    return json.loads((PROJECT_DIR / "cdk.json").read_text())["context"]


def main() -> int:
    try:
        app = build_app(
            cli_context(),
            # Set by the CDK CLI from the caller's credentials; absent -> env-agnostic stacks.
            default_account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            default_region=os.environ.get("CDK_DEFAULT_REGION"),
        )
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
