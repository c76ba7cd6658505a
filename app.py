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


DEBUG_VAR = "CDK_DEBUG"  # set it to 1 to get the traceback of a synth error


def debugging() -> bool:
    return os.environ.get(DEBUG_VAR, "").strip().lower() in ("1", "true", "yes")


def main() -> int:
    try:
        app = build_app(
            cli_context(),
            # Set by the CDK CLI from the caller's credentials; absent -> env-agnostic stacks.
            default_account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            default_region=os.environ.get("CDK_DEFAULT_REGION"),
        )
        app.synth()
    except ConfigError as error:
        print(error, file=sys.stderr)  # already lists every problem with its key
        return 1
    except Exception as error:  # one clean line for any other synth error (a construct's ValueError, ...)
        if debugging():
            raise
        message = str(error).strip() or type(error).__name__
        print(f"error: {message}\n(set {DEBUG_VAR}=1 for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
