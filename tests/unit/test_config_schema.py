"""The published JSON Schema of cdk.json (docs/cdk-json.schema.json) is the config models' own, and agrees with them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stacks.config import LOG_RETENTION_DAYS, ConfigError, load_config
from tools import config_schema

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(json.loads(config_schema.SCHEMA_PATH.read_text()))


def test_the_checked_in_schema_is_the_one_the_models_give() -> None:
    assert config_schema.SCHEMA_PATH.read_text() == config_schema.render(), "run `make docs`"
    assert config_schema.main(["--check", str(config_schema.SCHEMA_PATH)]) == 0


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(config_schema.cdk_json_schema())


def test_cdk_json_and_every_environment_block_validate() -> None:
    assert list(VALIDATOR.iter_errors(CDK_JSON)) == []
    assert set(CDK_JSON["context"]["workflow"]["environments"]) == {"prod"}


def test_the_readme_tells_editors_where_the_schema_is() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/cdk-json.schema.json" in readme
    settings = json.loads((ROOT / ".vscode" / "settings.json").read_text())
    assert {"fileMatch": ["cdk.json", "cdk.*.json"], "url": "./docs/cdk-json.schema.json"} in settings["json.schemas"]


def _with(path: str, value: Any, *, environment: str | None = None) -> dict[str, Any]:
    document = copy.deepcopy(CDK_JSON)
    node = document["context"]["workflow"]
    if environment:
        node = node["environments"][environment]
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return document


# Values both sides must refuse: types, patterns, ranges, enums and unknown keys, each a different schema keyword.
BOTH_REJECT = [
    ("prefix", "a/../b"), ("prefix", "data/*"), ("prefix", "/lead"), ("prefix", "tail/"),
    ("account", "12345"), ("env_name", "9lives"), ("log_retention_days", 2),
    ("notebook.idle_minutes", -1), ("notebook.idle_minutes", "30"), ("notebook.enabled", 1),
    ("notebook.platform_identifier", "notebook-al1-v1"), ("notebook.idle_minuts", 5),
    ("labeling.job_prefix", "GT_demo"), ("labeling.task_title", "x" * 129),
    ("workforce.type", "crowd"), ("workforce.workers_per_object", 10), ("workforce.mfa", "MAYBE"),
    ("training.validation_fraction", 0.9), ("training.hyperparameters", {"Bad-Name": "1"}),
    ("tuning.early_stopping", "On"), ("tuning.ranges", {"momentum": {"type": "uniform", "min": 0, "max": 1}}),
    ("tuning.ranges", {"momentum": {"type": "categorical", "values": []}}),
    ("tags", {"": "x"}), ("alerts.email", "not-an-email"), ("bucket.kms_key_arn", "alias/mine"),
]


@pytest.mark.parametrize(("path", "value"), BOTH_REJECT, ids=[f"{p}={v!r}"[:40] for p, v in BOTH_REJECT])
def test_schema_and_models_refuse_the_same_bad_values(path: str, value: Any) -> None:
    document = _with(path, value)
    assert list(VALIDATOR.iter_errors(document)), f"the schema accepts {path} = {value!r}"
    with pytest.raises(ConfigError) as raised:
        load_config(document["context"])
    assert f"workflow.{path.split('.')[0]}" in str(raised.value)


def test_an_environment_block_may_set_any_subset_but_no_unknown_key() -> None:
    assert list(VALIDATOR.iter_errors(_with("notebook.idle_minutes", 15, environment="prod"))) == []
    assert list(VALIDATOR.iter_errors(_with("notebook.idle_minuts", 15, environment="prod")))
    assert list(VALIDATOR.iter_errors(_with("notebook.idle_minutes", -1, environment="prod")))


def test_the_schema_lists_the_choices_an_editor_completes() -> None:
    workflow = config_schema.cdk_json_schema()["properties"]["context"]["properties"]["workflow"]
    defs = config_schema.cdk_json_schema()["$defs"]
    assert workflow["properties"]["task_type"]["enum"] == ["image-classification"]
    assert workflow["properties"]["log_retention_days"]["enum"] == list(LOG_RETENTION_DAYS)
    assert defs["WorkforceConfig"]["properties"]["type"]["enum"] == ["public", "private", "existing"]
    assert set(defs["WorkforceConfig"]["required"]) >= {"type", "workers_per_object"}
