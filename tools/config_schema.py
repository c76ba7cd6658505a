"""The JSON Schema of cdk.json, generated from the config models in stacks/config.py.

`make docs` writes it to docs/cdk-json.schema.json; tests/unit/test_config_schema.py fails when the
checked-in file differs from what the models give. Editors that know JSON Schema (VS Code's
`json.schemas`, JetBrains' schema mappings) then complete and check `context.workflow` in cdk.json,
including the per-environment blocks, which may set any subset of keys.

    python -m tools.config_schema --write docs/cdk-json.schema.json
    python -m tools.config_schema --check docs/cdk-json.schema.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from stacks.config import CONTEXT_KEY, ENVIRONMENTS_KEY, WorkflowConfig

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "cdk-json.schema.json"
_DEFS = "#/$defs/"
_OVERRIDE = "Override"


def cdk_json_schema() -> dict[str, Any]:
    """cdk.json: the CDK CLI's own keys are left open; `context.workflow` is the config's schema."""
    config = WorkflowConfig.model_json_schema(ref_template=_DEFS + "{model}")
    defs: dict[str, Any] = config.pop("$defs")
    defs["WorkflowConfig"] = config
    # An environment block (workflow.environments.<name>) is merged over the defaults: any subset of keys,
    # at any depth, none of them required; unknown keys are still errors.
    for name, schema in list(defs.items()):
        defs[name + _OVERRIDE] = _optional_everywhere(schema)
    workflow = copy.deepcopy(config)
    workflow["title"] = f"context.{CONTEXT_KEY}"
    workflow["properties"][ENVIRONMENTS_KEY] = {
        "type": "object",
        "description": "Named environments (-c env=<name>): each block is merged over the defaults above.",
        "additionalProperties": {"$ref": _DEFS + "WorkflowConfig" + _OVERRIDE},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cdk.json of the SageMaker labeling-to-training workflow",
        "description": "Generated from stacks/config.py by tools/config_schema.py (make docs); do not edit.",
        "type": "object",
        "properties": {
            "context": {
                "type": "object",
                "properties": {CONTEXT_KEY: workflow},
            },
        },
        "$defs": dict(sorted(defs.items())),
    }


def _optional_everywhere(schema: Any) -> Any:
    if isinstance(schema, dict):
        result = {k: _optional_everywhere(v) for k, v in schema.items() if k != "required"}
        ref = result.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            result["$ref"] = ref + _OVERRIDE
        return result
    if isinstance(schema, list):
        return [_optional_everywhere(item) for item in schema]
    return schema


def render() -> str:
    return json.dumps(cdk_json_schema(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="write the schema to this file")
    group.add_argument("--check", type=Path, help="fail if this file is not the generated schema")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.write.write_text(text)
        return 0
    if args.check.read_text() != text:
        print(f"{args.check} is out of date: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
