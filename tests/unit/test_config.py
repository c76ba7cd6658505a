"""Config: defaults, environments, overrides, and a clear error for every bad value."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError, load_config

CONTEXT: dict[str, Any] = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def load(**overrides: Any) -> Any:
    return load_config({**CONTEXT, **{f"workflow.{k}": v for k, v in overrides.items()}})


def test_defaults_reproduce_the_article() -> None:
    config = load_config(CONTEXT)
    assert config.prefix == "ground-truth-demo"
    assert config.labeling.labels == ("Airplane", "Car", "Ferry", "Helicopter", "Motorbike")
    assert "most prominent vehicle" in config.labeling.full_instructions
    assert "most prominent vehicle" in config.labeling.short_instructions
    assert config.notebook.instance_type == "ml.t3.medium"
    assert config.workforce.type == "public" and config.workforce.workers_per_object == 3
    assert config.workforce.price_usd == Decimal("0.012")
    assert config.bucket.name is None and not config.bucket.adopt_existing
    assert config.is_env_agnostic and config.env_name == "dev"


def test_named_environment_overrides_only_its_keys() -> None:
    config = load_config({**CONTEXT, "env": "prod"})
    assert config.env_name == "prod"
    assert config.notebook.idle_minutes == 30
    assert config.workforce.type == "private" and config.workforce.price_usd is None
    assert config.notebook.instance_type == "ml.t3.medium"  # inherited


def test_single_key_overrides_parse_cli_strings() -> None:
    config = load(**{"notebook.idle_minutes": "15", "bucket.name": "my-data-bucket", "tuning.enabled": "true",
                     "workforce.price_usd": "0.036"})
    assert config.notebook.idle_minutes == 15
    assert config.bucket.name == "my-data-bucket"
    assert config.tuning.enabled is True
    assert config.workforce.price_usd == Decimal("0.036")


def test_account_and_region_from_config_or_cli_defaults() -> None:
    assert load_config(CONTEXT, default_account="123456789012", default_region="eu-west-1").account == "123456789012"
    config = load_config({**CONTEXT, "workflow.account": "210987654321", "workflow.region": "us-west-2"},
                         default_account="123456789012", default_region="eu-west-1")
    assert (config.account, config.region) == ("210987654321", "us-west-2")


BAD_INPUTS = [
    ({"notebook.idle_minutes": -5}, "workflow.notebook.idle_minutes = -5 is out of range: allowed 0..1440"),
    ({"bucket.name": "My_Bucket"}, "workflow.bucket.name = 'My_Bucket' is not a valid S3 bucket name"),
    ({"bucket.name": "ab"}, "workflow.bucket.name = 'ab' is not a valid S3 bucket name"),
    ({"bucket.name": "192.168.1.1"}, "is not a valid S3 bucket name"),
    ({"region": "eu-north-1"}, "workflow.region = 'eu-north-1': SageMaker Ground Truth's built-in image "
                               "classification is not available there; choose one of ap-northeast-1"),
    ({"workforce.price_usd": 0.05}, "workflow.workforce.price_usd = 0.05 is not a valid Mechanical Turk price "
                                    "for image classification; choose one of 0.012, 0.024"),
    ({"workforce.workers_per_object": 10}, "workflow.workforce.workers_per_object = 10 is out of range: allowed 1..9"),
    ({"labeling.labels": ["Car"]}, "workflow.labeling.labels = ['Car']: image classification needs at least 2 labels"),
    ({"labeling.labels": ["Car", "Ferry", "car"]}, "workflow.labeling.labels contains duplicates"),
    ({"labeling.label_attribute": "vehicle-metadata"}, "must not end in '-metadata'"),
    ({"labeling.job_prefix": "GT_demo"}, "workflow.labeling.job_prefix = 'GT_demo' is not allowed"),
    ({"labeling.job_prefix": "a" * 30}, "leave room for the timestamp"),
    ({"notebook.platform_identifier": "notebook-al1-v1"}, "choose one of notebook-al2-v2, notebook-al2-v3, "
                                                         "notebook-al2023-v1"),
    ({"notebook.subnet_id": "subnet-0123456789abcdef0"}, "needs at least one security group"),
    ({"training.instance_type": "ml.m5.xlarge"}, "trains on GPU instances only"),
    ({"training.max_wait_seconds": 60}, "workflow.training.max_wait_seconds = 60 must be >= max_runtime_seconds"),
    ({"training.validation_fraction": 0.9}, "workflow.training.validation_fraction = 0.9 is out of range"),
    ({"training.hyperparameters": {"num_classes": "5"}}, "num_classes is computed from the labeled data"),
    ({"tuning.max_parallel_jobs": 20}, "max_parallel_jobs = 20 must be <= max_jobs = 10"),
    ({"tuning.ranges": {"learning_rate": {"type": "continuous", "min": 0, "max": 1, "scaling": "Logarithmic"}}},
     "Logarithmic scaling needs min > 0"),
    ({"workforce.type": "crowd"}, "workflow.workforce.type = 'crowd' is not allowed: choose one of public, private, "
                                  "existing"),
    ({"workforce.type": "existing", "workforce.price_usd": None}, "workflow.workforce.workteam_arn is required"),
    ({"workforce.type": "existing", "workforce.price_usd": None, "workforce.workteam_arn": "arn:aws:iam::1:role/x"},
     "is not allowed: use a SageMaker workteam ARN"),
    ({"labeling.task_availability_seconds": 86400}, "Mechanical Turk (workforce.type = 'public') allows at most "
                                                    "43200"),
    ({"workforce.type": "private", "workforce.price_usd": None, "workforce.worker_emails": ["a@x.org", "A@x.org"]},
     "workflow.workforce.worker_emails lists ['A@x.org', 'a@x.org'] more than once"),
    ({"workforce.type": "private", "workforce.price_usd": None, "workforce.existing_workforce_name": "team"},
     "existing_workforce_name needs existing_user_pool_id and existing_app_client_id"),
    ({"alerts.email": "not-an-email"}, "workflow.alerts.email = 'not-an-email' is not allowed"),
    ({"notebook.volume_size_gb": "big"}, "workflow.notebook.volume_size_gb = 'big' must be an integer"),
    ({"account": "12345"}, "workflow.account = '12345' is not allowed: use a 12-digit AWS account id"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS, ids=[next(iter(o)) for o, _ in BAD_INPUTS])
def test_bad_values_fail_with_a_message_naming_key_value_and_allowed(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(**overrides)
    assert message in str(error.value)


def test_unknown_keys_are_typos_and_suggest_the_known_key() -> None:
    bad = json.loads(json.dumps(CONTEXT))
    bad["workflow"]["notebook"]["idle_minuts"] = 30
    with pytest.raises(ConfigError, match=r"workflow.notebook.idle_minuts is not a known setting; "
                                          r"did you mean 'idle_minutes'\?"):
        load_config(bad)


def test_override_of_an_unknown_section_fails() -> None:
    with pytest.raises(ConfigError, match=r"workflow.notebok is not a config section"):
        load_config({**CONTEXT, "workflow.notebok.idle_minutes": "5"})


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"env = 'staging' selects no block.*known environments: prod"):
        load_config({**CONTEXT, "env": "staging"})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        load(**{"notebook.idle_minutes": -1, "bucket.name": "BAD", "workforce.workers_per_object": 0})
    assert len(error.value.problems) == 3


def test_missing_workflow_context_is_explained() -> None:
    with pytest.raises(ConfigError, match="context key 'workflow' is missing"):
        load_config({})


def test_app_py_prints_config_errors_without_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    context = {**CONTEXT, "workflow.notebook.idle_minutes": "-1"}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "app.py"], cwd=Path(__file__).resolve().parents[2], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "workflow.notebook.idle_minutes = -1 is out of range" in result.stderr
    assert "Traceback" not in result.stderr
