"""Config: defaults, environments, overrides, and a clear error for every bad value."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lambdas import labeling_request as lr
from lambdas import training_request as tr
from lambdas.settings import ModelSettings, SettingsError
from lambdas.workforces import WorkforceKind
from stacks import regions
from stacks.config import CategoricalRange, ConfigError, ContinuousRange, IntegerRange, WorkflowConfig, load_config
from stacks.lambda_settings import Deployment, labeling_settings, model_settings, training_settings

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


HYPERPARAMETERS: dict[str, str] = CONTEXT["workflow"]["training"]["hyperparameters"]


def hyperparameters(**changes: str | None) -> dict[str, str]:
    """The default training.hyperparameters with some changed (None removes one)."""
    merged = {**HYPERPARAMETERS, **changes}
    return {k: v for k, v in merged.items() if v is not None}


EXISTING_TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/ours"

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
    ({"notebook.platform_identifier": "notebook-al1-v1"}, "workflow.notebook.platform_identifier = "
                                                         "'notebook-al1-v1' is deprecated by SageMaker; choose "
                                                         "one of notebook-al2-v3, notebook-al2023-v1"),
    ({"notebook.platform_identifier": "notebook-al9-v1"}, "'notebook-al9-v1' is not allowed: choose one of "
                                                         "notebook-al2-v3, notebook-al2023-v1"),
    ({"notebook.platform_identifier": "notebook-al2023-v2"}, "'notebook-al2023-v2' is accepted by the SageMaker API "
                                                            "but not yet by CloudFormation's "
                                                            "AWS::SageMaker::NotebookInstance"),
    ({"notebook.subnet_id": "subnet-0123456789abcdef0"}, "needs at least one security group"),
    ({"training.instance_type": "ml.m5.xlarge"}, "trains on GPU instances only"),
    ({"training.max_wait_seconds": 60}, "workflow.training.max_wait_seconds = 60 must be >= max_runtime_seconds"),
    ({"training.validation_fraction": 0.9}, "workflow.training.validation_fraction = 0.9 is out of range"),
    ({"training.hyperparameters": {"num_classes": "5"}}, "num_classes is computed from the labeled data"),
    # The algorithm's rules (lambdas/job_rules.py, docs/algorithm-rules.md).
    ({"training.instance_type": "ml.p5.48xlarge"}, "workflow.training.instance_type = 'ml.p5.48xlarge': the built-in "
     "image-classification algorithm trains on GPU instances only, of the families P2, P3, G4dn and G5 "
     "(ml.p2.*, ml.p3.*, ml.g4dn.*, ml.g5.*)"),
    ({"training.instance_type": "ml.g6.xlarge"}, "(ml.p2.*, ml.p3.*, ml.g4dn.*, ml.g5.*)"),
    ({"training.hyperparameters": hyperparameters(resize=None)},
     "workflow.training.hyperparameters.resize is not set"),
    ({"training.hyperparameters": hyperparameters(resize="200")},
     "workflow.training.hyperparameters.resize = '200' is smaller than the crop image_shape asks for (224x224)"),
    ({"training.hyperparameters": hyperparameters(num_layers="19")},
     "workflow.training.hyperparameters.num_layers = '19' is not allowed: use one of 18, 34, 50, 101, 152, 200"),
    ({"training.hyperparameters": hyperparameters(optimizer="adagrad")},
     "workflow.training.hyperparameters.optimizer = 'adagrad' is not allowed: use one of sgd, adam, rmsprop, nag"),
    ({"training.hyperparameters": hyperparameters(use_pretrained_model="2")},
     "workflow.training.hyperparameters.use_pretrained_model = '2' is not allowed: use one of 0, 1"),
    ({"training.hyperparameters": hyperparameters(epochs="0")},
     "workflow.training.hyperparameters.epochs = '0' is not allowed: use a positive integer"),
    ({"training.hyperparameters": hyperparameters(image_shape="224,224")},
     "workflow.training.hyperparameters.image_shape = '224,224' is not allowed"),
    ({"training.hyperparameters": hyperparameters(image_shape="3,299,299", resize="320")},
     "does not fit use_pretrained_model = 1: pretrained models can use only a fixed 224 x 224 image size"),
    ({"training.hyperparameters": hyperparameters(batch_size="32")},
     "workflow.training.hyperparameters.batch_size is not a hyperparameter of the built-in image-classification "
     "algorithm; the documented ones are augmentation_type, beta_1"),
    ({"training.hyperparameters": hyperparameters(augmentation_type="flip")},
     "augmentation_type = 'flip' is not allowed: use one of crop, crop_color, crop_color_transform"),
    ({"tuning.ranges.learning_rate": {"type": "continuous", "min": 0.0001, "max": 0.9, "scaling": "Logarithmic"}},
     "workflow.tuning.ranges.learning_rate: min = 0.0001, max = 0.9 is outside the documented range of "
     "learning_rate, 1e-06 to 0.5"),
    ({"tuning.ranges.mini_batch_size": {"type": "integer", "min": 1, "max": 64}},
     "outside the documented range of mini_batch_size, 8 to 512"),
    ({"tuning.ranges.mini_batch_size": {"type": "continuous", "min": 8, "max": 64}},
     "workflow.tuning.ranges.mini_batch_size.type = 'continuous': mini_batch_size is tuned with a range of type "
     "'integer'"),
    ({"tuning.ranges.epochs": {"type": "integer", "min": 5, "max": 20}},
     "workflow.tuning.ranges.epochs: 'epochs' is not a tunable hyperparameter"),
    ({"tuning.ranges.optimizer": {"type": "categorical", "values": ["sgd", "adagrad"]}},
     "workflow.tuning.ranges.optimizer.values = ['sgd', 'adagrad']: adagrad not allowed"),
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
    # Per kind, from its policy (lambdas/workforces.py): required keys, keys of other kinds, lifetimes.
    ({"workforce.price_usd": None}, "workflow.workforce.price_usd is required when workflow.workforce.type = "
                                    "'public' (Amazon Mechanical Turk): choose one of 0.012, 0.024"),
    ({"workforce.type": "private", "workforce.price_usd": 0.012},
     "workflow.workforce.price_usd = 0.012 applies only when workflow.workforce.type is 'public', not 'private': "
     "set it to null"),
    ({"workforce.workteam_arn": EXISTING_TEAM}, f"workflow.workforce.workteam_arn = '{EXISTING_TEAM}' applies only "
                                                "when workflow.workforce.type is 'existing', not 'public'"),
    ({"workforce.type": "existing", "workforce.price_usd": None, "workforce.workteam_arn": EXISTING_TEAM,
      "workforce.worker_emails": ["a@x.org"]},
     "workflow.workforce.worker_emails = ['a@x.org'] applies only when workflow.workforce.type is 'private', "
     "not 'existing': set it to []"),
    ({"workforce.existing_user_pool_id": "us-east-1_AbCdEf123"},
     "workflow.workforce.existing_user_pool_id = 'us-east-1_AbCdEf123' applies only when workflow.workforce.type "
     "is 'private', not 'public'"),
    ({"workforce.type": "private", "workforce.price_usd": None, "labeling.task_availability_seconds": 2_592_001},
     "workflow.labeling.task_availability_seconds = 2592001 is out of range: allowed 60..2592000"),
    ({"alerts.email": "not-an-email"}, "workflow.alerts.email = 'not-an-email' is not allowed"),
    ({"notebook.volume_size_gb": "big"}, "workflow.notebook.volume_size_gb = 'big' must be an integer"),
    ({"account": "12345"}, "workflow.account = '12345' is not allowed: use a 12-digit AWS account id"),
    # Evaluation, deployment, labeling cost (issues 12 and 14).
    ({"endpoint.enabled": True}, "workflow.endpoint.enabled = true needs workflow.model.register_package = true"),
    ({"endpoint.memory_mb": 1000}, "workflow.endpoint.memory_mb = 1000 is not allowed: choose one of 1024, 2048"),
    ({"endpoint.mode": "realtime"}, "workflow.endpoint.mode = 'realtime' is not allowed: choose one of serverless, "
                                    "instance"),
    ({"endpoint.idle_minutes": 5}, "workflow.endpoint.idle_minutes = 5 is out of range: allowed 10..1440"),
    ({"evaluation.enabled": False, "evaluation.accuracy_floor": 0.8},
     "workflow.evaluation.accuracy_floor = 0.8 needs workflow.evaluation.enabled = true"),
    ({"evaluation.accuracy_floor": 1.5}, "workflow.evaluation.accuracy_floor = 1.5 is out of range: allowed 0..1"),
    ({"training.exclude_machine_labels_below": 0},
     "workflow.training.exclude_machine_labels_below = 0 is out of range: allowed above 0 up to 1"),
    ({"labeling.confirm_above_usd": "ten"}, "workflow.labeling.confirm_above_usd = 'ten' must be a number"),
    ({"region": "us-east-1", "labeling.auto_labeling": {
        "enabled": True, "initial_model_arn": "arn:aws:sagemaker:eu-west-1:123456789012:model/previous"}},
     "workflow.labeling.auto_labeling.initial_model_arn is a model in 'eu-west-1', but the job runs in 'us-east-1'"),
    ({"labeling.auto_labeling": {"enabled": "yes"}}, "workflow.labeling.auto_labeling.enabled = 'yes' must be true "
                                                     "or false"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS, ids=[next(iter(o)) for o, _ in BAD_INPUTS])
def test_bad_values_fail_with_a_message_naming_key_value_and_allowed(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(**overrides)
    assert message in str(error.value)


@pytest.mark.parametrize(("kind", "extra"), [
    ("private", {}),
    ("existing", {"workforce.workteam_arn": EXISTING_TEAM}),
])
def test_own_and_vendor_teams_take_tasks_for_up_to_30_days(kind: str, extra: dict[str, Any]) -> None:
    # HumanTaskConfig.TaskAvailabilityLifetimeInSeconds: private or vendor workforces up to 30 days
    # (docs/workforces.md), not Mechanical Turk's 12 hours nor the 10 days once assumed here.
    for seconds in (20 * 86_400, 30 * 86_400):
        config = load(**{"workforce.type": kind, "workforce.price_usd": None,
                         "labeling.task_availability_seconds": seconds, **extra})
        assert config.labeling.task_availability_seconds == seconds
        assert config.workforce.type is WorkforceKind(kind)


def test_the_workforce_type_is_the_enum_member_equal_to_its_string() -> None:
    config = load_config(CONTEXT)
    assert config.workforce.type is WorkforceKind.PUBLIC and config.workforce.type == "public"


def test_default_hyperparameters_resize_tutorial_images_before_the_crop() -> None:
    # The tutorial's images are about 300x200 px: without resize, 200 < 224 fails training.
    assert load_config(CONTEXT).training.hyperparameters["resize"] == "256"


def test_documented_hyperparameter_names_with_digits_are_accepted() -> None:
    config = load(**{"training.hyperparameters": hyperparameters(optimizer="adam", beta_1="0.9", beta_2="0.999")})
    assert config.training.hyperparameters["beta_1"] == "0.9"


def test_the_documented_gpu_families_synthesize() -> None:
    for instance_type in ("ml.p2.xlarge", "ml.p3.2xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge"):
        assert load(**{"training.instance_type": instance_type}).training.instance_type == instance_type


def test_tuning_ranges_are_checked_even_when_tuning_is_off() -> None:
    with pytest.raises(ConfigError, match="'epochs' is not a tunable hyperparameter"):
        load(**{"tuning.enabled": False, "tuning.ranges.epochs": {"type": "integer", "min": 5, "max": 20}})


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


# --- notebook platform identifiers ----------------------------------------------------------------


def test_platform_identifiers_are_the_apis_and_cloudformations_minus_the_deprecated_ones() -> None:
    import re

    import botocore.session

    from stacks import notebook_platforms
    from stacks.config import PLATFORM_IDENTIFIERS

    pattern = botocore.session.get_session().get_service_model("sagemaker").shape_for(
        "PlatformIdentifier").metadata["pattern"]
    api = set(re.findall(r"notebook-al\d+-v\d+", pattern))
    cloudformation = set(notebook_platforms.CLOUDFORMATION_PLATFORM_IDENTIFIERS)
    assert set(PLATFORM_IDENTIFIERS) == (api & cloudformation) - set(notebook_platforms.DEPRECATED_PLATFORM_IDENTIFIERS)
    assert PLATFORM_IDENTIFIERS == ("notebook-al2-v3", "notebook-al2023-v1")
    assert "notebook-al2023-v2" in api  # the API has it; CloudFormation (and CDK's synth validation) do not yet


def test_cloudformation_platforms_match_the_resource_schema_cfn_lint_ships() -> None:
    """When a cfn-lint (schema) upgrade adds a platform, this fails: add it to the tuple."""
    import json as json_
    from importlib import resources

    from stacks import notebook_platforms

    schemas = resources.files("cfnlint") / "data" / "schemas" / "resources"
    (schema,) = [json_.loads(f.read_text()) for f in schemas.iterdir()
                 if f.name.endswith(".json") and '"AWS::SageMaker::NotebookInstance"' in f.read_text()]
    pattern = schema["properties"]["PlatformIdentifier"]["pattern"]
    assert notebook_platforms.identifiers_in_pattern(pattern) == notebook_platforms.CLOUDFORMATION_PLATFORM_IDENTIFIERS


def test_default_platform_is_the_newest_supported_one() -> None:
    from stacks import notebook_platforms

    assert load_config(CONTEXT).notebook.platform_identifier == notebook_platforms.newest_platform_identifier()
    assert notebook_platforms.newest_platform_identifier() == "notebook-al2023-v1"


@pytest.mark.parametrize("deprecated", ["notebook-al2-v2", "notebook-al2-v1"])
def test_a_deprecated_platform_fails_synth_naming_the_supported_ones(deprecated: str) -> None:
    from stacks.app import build_app

    with pytest.raises(ConfigError) as error:
        build_app({**CONTEXT, "workflow.notebook.platform_identifier": deprecated})
    assert (f"workflow.notebook.platform_identifier = '{deprecated}' is deprecated by SageMaker; choose one of "
            "notebook-al2-v3, notebook-al2023-v1 (newest: notebook-al2023-v1)") in str(error.value)


def test_alerts_take_an_existing_topic_and_prod_requires_a_subscriber() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:team-alerts"
    config = load(**{"alerts.topic_arn": topic})
    assert config.alerts.topic_arn == topic and config.alerts.has_subscriber
    assert not load_config(CONTEXT).alerts.require_subscriber
    prod = load_config({**CONTEXT, "env": "prod"})  # loads (the CLI reads it); synth refuses it (test_alerts)
    assert prod.alerts.require_subscriber and not prod.alerts.has_subscriber


@pytest.mark.parametrize("value", ["team-alerts", "arn:aws:sns:us-east-1:123456789012:a.fifo",
                                   "arn:aws:sqs:us-east-1:123456789012:queue"])
def test_alerts_topic_arn_must_be_a_standard_sns_topic_arn(value: str) -> None:
    with pytest.raises(ConfigError, match=f"workflow.alerts.topic_arn = '{value}' is not allowed: use an SNS topic"):
        load(**{"alerts.topic_arn": value})


@pytest.mark.parametrize("prefix", [
    "*", "a*", "data/*", "a?b", "..", ".", "a/../b", "a/./b", "a/..", "a//b", "/a", "a/", "/", "it's",
])
def test_prefix_rejects_wildcards_dot_segments_empty_segments_and_outer_slashes(prefix: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(prefix=prefix)
    assert f"workflow.prefix = {prefix!r} is not allowed" in str(raised.value)
    assert "IAM resource ARNs" in str(raised.value)


@pytest.mark.parametrize("prefix", ["ground-truth-demo", "team.a/run_1", "a..b/c.d", "x(1)!"])
def test_prefix_accepts_plain_segments(prefix: str) -> None:
    assert load(prefix=prefix).prefix == prefix


# --- values the Lambdas' own parsers reject are rejected at synth -------------------------------
# Each case: the config override, the key its error names, and how to put the same value into an
# accepted config (model_copy, which does not validate) so the Lambda's parser can show it would have
# failed at run time.

_ACCOUNT, _REGION = "123456789012", "us-east-1"
_DEPLOYMENT = Deployment(account=_ACCOUNT, region=_REGION, bucket=f"sagemaker-{_REGION}-{_ACCOUNT}",
                         role_arn=f"arn:aws:iam::{_ACCOUNT}:role/Exec")
_TOO_MANY_TAGS = {f"team{i}": "x" for i in range(48)}  # a model: + workflow-env, training-job, tuning-job = 51 > 50


_REVERSE_LOG = "workflow.tuning.ranges.momentum: ReverseLogarithmic scaling needs a continuous range within 0 <= x < 1"


def _range(name: str, **fields: Any) -> dict[str, Any]:
    return {name: {"scaling": "Auto", **fields}}


def _lambda_parses(config: WorkflowConfig) -> None:
    """Builds the functions' settings from the config and parses them as the deployed functions do."""
    pre, acs = regions.ground_truth_lambda_arns(_REGION, config.task.ground_truth)
    labeling = labeling_settings(config, _DEPLOYMENT, pre_lambda_arn=pre, acs_lambda_arn=acs,
                                 workteam_arn=f"arn:aws:sagemaker:{_REGION}:394669845002:workteam/public-crowd/default")
    lr.LabelingSettings.from_json(json.dumps(labeling))
    training = training_settings(config, _DEPLOYMENT, topic_arn=f"arn:aws:sns:{_REGION}:{_ACCOUNT}:alerts",
                                 image_uri="811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1")
    tr.TrainingSettings.from_json(json.dumps(training))
    model = model_settings(config, _DEPLOYMENT, topic_arn=f"arn:aws:sns:{_REGION}:{_ACCOUNT}:alerts",
                           image_uri="811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
                           package_group_name=None)
    ModelSettings.from_json(json.dumps(model))


def _replace(model: Any, **changes: Any) -> Any:
    """A copy with `changes`, not validated: puts a value the config now rejects into an accepted config."""
    return model.model_copy(update=changes)


_RANGE_MODELS = {"continuous": ContinuousRange, "integer": IntegerRange, "categorical": CategoricalRange}


def _with_ranges(config: WorkflowConfig, ranges: dict[str, Any]) -> WorkflowConfig:
    parsed = {name: _RANGE_MODELS[fields["type"]].model_construct(**fields) for name, fields in ranges.items()}
    return _replace(config, tuning=_replace(config.tuning, ranges=parsed))


LAMBDA_REJECTS = [
    pytest.param({"labeling.task_keywords": ["images", "multi-class"]}, "workflow.labeling.task_keywords entry "
                 "'multi-class' is not allowed",
                 lambda c: _replace(c, labeling=_replace(
                     c.labeling, task_keywords=("images", "multi-class"))), id="keyword-pattern"),
    pytest.param({"labeling.task_keywords": ["a" * 31]}, "workflow.labeling.task_keywords entry 'aaaa",
                 lambda c: _replace(c, labeling=_replace(c.labeling, task_keywords=("a" * 31,))),
                 id="keyword-length"),
    pytest.param({"tags": _TOO_MANY_TAGS}, "workflow.tags has 48 tags; at most 47 allowed",
                 lambda c: _replace(c, tags=_TOO_MANY_TAGS), id="tags"),
    pytest.param({"tuning.ranges": _range("momentum", type="continuous", min=0.5, max=1.5,
                                          scaling="ReverseLogarithmic")},
                 _REVERSE_LOG,
                 lambda c: _with_ranges(c, {"momentum": {"type": "continuous", "min": 0.5, "max": 1.5,
                                                         "scaling": "ReverseLogarithmic"}}), id="reverse-log-max"),
    pytest.param({"tuning.ranges": _range("momentum", type="continuous", min=-0.5, max=0.5,
                                          scaling="ReverseLogarithmic")},
                 _REVERSE_LOG,
                 lambda c: _with_ranges(c, {"momentum": {"type": "continuous", "min": -0.5, "max": 0.5,
                                                         "scaling": "ReverseLogarithmic"}}), id="reverse-log-min"),
    pytest.param({"tuning.ranges": _range("mini_batch_size", type="integer", min=8.5, max=32)},
                 "workflow.tuning.ranges.mini_batch_size: an integer range needs whole-number min and max",
                 lambda c: _with_ranges(c, {"mini_batch_size": {"type": "integer", "min": 8.5, "max": 32.0}}),
                 id="integer-fraction"),
    pytest.param({"tuning.ranges": _range("num_classes", type="integer", min=2, max=5)},
                 "workflow.tuning.ranges.num_classes cannot be tuned: num_classes is computed from the labeled data",
                 lambda c: _with_ranges(c, {"num_classes": {"type": "integer", "min": 2.0, "max": 5.0}}),
                 id="computed-num_classes"),
    pytest.param({"tuning.ranges": _range("num_training_samples", type="integer", min=2, max=5)},
                 "workflow.tuning.ranges.num_training_samples cannot be tuned: num_training_samples is computed",
                 lambda c: _with_ranges(c, {"num_training_samples": {"type": "integer", "min": 2.0, "max": 5.0}}),
                 id="computed-num_training_samples"),
]


@pytest.mark.parametrize(("overrides", "message", "inject"), LAMBDA_REJECTS)
def test_config_rejects_at_synth_what_the_lambdas_reject_at_run_time(
        overrides: dict[str, Any], message: str, inject: Callable[[WorkflowConfig], WorkflowConfig]) -> None:
    with pytest.raises(ConfigError) as raised:
        load(**overrides)
    assert message in str(raised.value)
    # The same value in a config (as the config accepted before): the Lambda's parser refuses its settings.
    accepted = load_config(CONTEXT, default_account=_ACCOUNT, default_region=_REGION)
    _lambda_parses(accepted)  # the defaults parse
    with pytest.raises((lr.LabelingRequestError, SettingsError)):
        _lambda_parses(inject(accepted))


def test_tags_up_to_the_job_limit_minus_the_workflows_own_are_accepted() -> None:
    tags = {f"team{i}": "x" for i in range(47)}
    config = load_config({**CONTEXT, "workflow.tags": tags}, default_account=_ACCOUNT, default_region=_REGION)
    _lambda_parses(config)
    # A user tag with a key the workflow sets itself does not add a tag to the job.
    assert load(tags={**tags, "workflow-env": "mine"}).tags["workflow-env"] == "mine"


def test_reverse_logarithmic_accepts_a_range_from_zero_below_one() -> None:
    ranges = _range("momentum", type="continuous", min=0, max=0.9, scaling="ReverseLogarithmic")
    assert load(**{"tuning.ranges": ranges}).tuning.ranges["momentum"].scaling == "ReverseLogarithmic"


def test_tag_values_and_reserved_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"workflow.tags.team is 257 characters; at most 256 allowed"):
        load(tags={"team": "x" * 257})
    with pytest.raises(ConfigError, match=r"workflow.tags key 'aws:cost' is reserved"):
        load(tags={"aws:cost": "x"})


def test_instructions_that_overflow_the_functions_4_kb_environment_are_refused_at_synth() -> None:
    with pytest.raises(ConfigError) as raised:
        load(**{"labeling.short_instructions": "s" * 1000, "labeling.full_instructions": "f" * 2000})
    assert "workflow.labeling.short_instructions, full_instructions, labels and task texts take" in str(raised.value)
    assert "over the 3584 that Lambda's 4 KB environment leaves them" in str(raised.value)


def test_retain_on_delete_is_off_by_default_and_on_in_prod() -> None:
    assert load_config(CONTEXT).retain_on_delete is False
    assert load_config({**CONTEXT, "env": "prod", "workflow.alerts.email": "ml@example.com"}).retain_on_delete is True
    with pytest.raises(ConfigError, match=r"workflow.retain_on_delete = 'yes' must be true or false"):
        load(retain_on_delete="yes")
