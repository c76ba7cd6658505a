"""The settings contract (lambdas/settings.py): config, stack and Lambdas agree on every settings key.

The property test mutates the default config (cdk.json's `workflow` context, loaded with
`stacks.config.load_config` as the CDK app does, `-c workflow.<key>=<value>` style; one example in four
selects the `prod` block, `-c env=prod`) in the keys that reach the Lambdas' settings. Each example changes
one to three of these groups, with values drawn from both sides of each rule:

- `prefix`: '/'-joined segments of S3-safe characters (`.` and `..` segments included), and odd ones
  (leading/trailing/double '/', '*', '?', a quote, a space, empty, non-ASCII);
- `tags`: 0-50 tags, plus keys the workflow sets itself (workflow-env, labeling-job, training-job,
  tuning-job), bad keys ('#', 129 characters) and values of 0, 256 and 257 characters;
- `labeling.labels` (valid lists, blanks, case-insensitive duplicates, too few, too many),
  `labeling.task_keywords` (the TaskKeyword pattern and length, 0-6 keywords), `labeling.job_prefix`
  (lowercase or not, up to 25 characters), `labeling.label_attribute` (127/128 characters, '-metadata'),
  `labeling.task_title`, `task_description`, `short_instructions`, `full_instructions` (lengths at
  and around their limits);
- `workforce.type` (public, private, existing, unknown) with `price_usd` (valid, not a Mechanical Turk
  price, not a number, null), `workteam_arn` (this region's, another region's, not an ARN, null) and
  `workers_per_object` (0-10);
- `training.hyperparameters` (numbers, a computed one, a bad key, an empty value, one removed);
- `tuning.enabled` and `tuning.ranges`: 1-3 ranges of continuous, integer and categorical type (and an
  unknown type), Auto/Linear/Logarithmic/ReverseLogarithmic scaling (and an unknown one), bounds below
  0, within 0..1, above 1 and fractional for integer ranges, categorical values of strings and numbers,
  computed hyperparameters (num_classes) and unknown ones;
- `model.register_package` and `model.package_group_name`; `bucket.kms_key_arn`;
- `evaluation.enabled`, `evaluation.instance_type` (an instance type, not one, empty) and
  `evaluation.accuracy_floor` (within 0..1, outside, null).

For every example: if load_config accepts the config, the settings stacks/lambda_settings.py builds
for a literal Deployment (account, region, bucket and role ARN literals) serialize (`to_json`) and
parse back with each Lambda's reader to the same object. If load_config refuses it, the values are
projected into the default settings as the builder would pass them; when a Lambda's reader refuses
those, load_config, given the values that decide the refused settings key, must refuse them with a
message naming its cdk.json key (`workflow.<path>`). Derandomized (the same examples on every run, so
CI is reproducible), no deadline; two explicit examples pin the gaps found when it was written.
"""

from __future__ import annotations

import copy
import json
import re
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lambdas import naming
from lambdas import settings as contract
from lambdas.settings import EvaluationSettings, LabelingSettings, ModelSettings, SettingsError, TrainingSettings
from stacks import algorithm_images
from stacks.config import ConfigError, WorkflowConfig, load_config
from stacks.lambda_settings import (
    MAX_ENVIRONMENT_BYTES,
    TOKEN_ALLOWANCE_BYTES,
    Deployment,
    build_evaluation_settings,
    build_labeling_settings,
    build_model_settings,
    build_training_settings,
    settings_environment,
)
from workflow import plans

CONTEXT: dict[str, Any] = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
ACCOUNT, REGION = "123456789012", "us-east-1"
DEPLOYMENT = Deployment(account=ACCOUNT, region=REGION, bucket=f"sagemaker-{REGION}-{ACCOUNT}",
                        role_arn=f"arn:aws:iam::{ACCOUNT}:role/Exec")
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
TEAM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/team"


# --- Building the settings as the stack does, with literals ------------------------------------------


def package_group_name(config: WorkflowConfig) -> str | None:
    """The group RegisterModel registers into (stacks/model.py): only when registering."""
    if not config.model.register_package:
        return None
    derived = getattr(config, "model_package_group_name", None)  # the config's own, where it has one
    return derived if isinstance(derived, str) else (
        config.model.package_group_name or f"{config.labeling.job_prefix}-{config.env_name}-models")


def build_all(config: WorkflowConfig) -> dict[str, LabelingSettings | TrainingSettings | ModelSettings
                                                | EvaluationSettings]:
    """The functions' settings for `config`, as the stack builds them (tokens replaced by literals); the Evaluation
    function's only with evaluation.enabled (stacks/evaluation.py)."""
    team, _ = plans.workteam_arn(config, DEPLOYMENT)
    pre, acs = (f"arn:aws:lambda:{REGION}:432418664414:function:{name}"
                for name in (config.task.ground_truth.pre_lambda_name, config.task.ground_truth.acs_lambda_name))
    image = algorithm_images.image_uri(REGION, config.task.algorithm)
    return {
        contract.LABELING_SETTINGS_VAR: build_labeling_settings(config, DEPLOYMENT, workteam_arn=team,
                                                                pre_lambda_arn=pre, acs_lambda_arn=acs),
        contract.TRAINING_SETTINGS_VAR: build_training_settings(config, DEPLOYMENT, image_uri=image, topic_arn=TOPIC),
        contract.MODEL_SETTINGS_VAR: build_model_settings(config, DEPLOYMENT, image_uri=image, topic_arn=TOPIC,
                                                          package_group_name=package_group_name(config)),
        **({contract.EVALUATION_SETTINGS_VAR: build_evaluation_settings(
            config, DEPLOYMENT, topic_arn=TOPIC, package_group_name=package_group_name(config))}
           if config.evaluation.enabled else {}),
    }


READERS: dict[str, type[LabelingSettings | TrainingSettings | ModelSettings]] = {
    cls.VARIABLE: cls for cls in contract.SETTINGS_CLASSES
}
# The key of `overrides` that selects an environment block (`-c env=prod`) instead of setting `workflow.<key>`.
ENV = "env"


def load(overrides: Mapping[str, Any]) -> WorkflowConfig:
    """load_config of cdk.json's context with `-c workflow.<key>=<value>` (and `-c env=<name>`) overrides."""
    context = {**CONTEXT, **{(key if key == ENV else f"workflow.{key}"): value for key, value in overrides.items()}}
    return load_config(context, default_account=ACCOUNT, default_region=REGION)


DEFAULT_CONFIG = load({})
BASE_CONFIGS = {None: DEFAULT_CONFIG, "prod": load({ENV: "prod"})}


# --- Projecting config values into the settings (for configs load_config refuses) ----------------------

_LABELING_KEYS = ("label_attribute", "labels", "task_title", "task_description", "task_keywords",
                  "short_instructions", "full_instructions")
# Settings key (path below the variable) -> (the cdk.json key its value comes from, the cdk.json keys whose
# values decide it: a rule of the config that involves several keys sees them all).
SETTING_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "prefix": ("prefix", ("prefix",)),
    "tags": ("tags", ("tags",)),
    "job_prefix": ("labeling.job_prefix", ("labeling.job_prefix",)),
    **{key: (f"labeling.{key}", (f"labeling.{key}",)) for key in _LABELING_KEYS},
    "workforce": ("workforce.type", ("workforce.type",)),
    "workteam_arn": ("workforce.workteam_arn", ("workforce.type", "workforce.workteam_arn")),
    "price_usd": ("workforce.price_usd", ("workforce.type", "workforce.price_usd")),
    "workers_per_object": ("workforce.workers_per_object", ("workforce.workers_per_object",)),
    "hyperparameters": ("training.hyperparameters", ("training.hyperparameters",)),
    "tuning.ranges": ("tuning.ranges", ("tuning.ranges", "tuning.enabled")),
    "tuning.enabled": ("tuning.enabled", ("tuning.enabled", "tuning.ranges")),
    "register_package": ("model.register_package", ("model.register_package",)),
    "package_group_name": ("model.package_group_name", ("model.register_package", "model.package_group_name")),
    "kms_key_arn": ("bucket.kms_key_arn", ("bucket.kms_key_arn",)),
    "evaluation.instance_type": ("evaluation.instance_type", ("evaluation.instance_type",)),
    "evaluation.kms_key_arn": ("bucket.kms_key_arn", ("bucket.kms_key_arn",)),
    "evaluation.prefix": ("prefix", ("prefix",)),
    "accuracy_floor": ("evaluation.accuracy_floor", ("evaluation.accuracy_floor", "evaluation.enabled")),
}



def project(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The default config's settings JSON with the overridden config values passed in as the builder
    passes them: what the Lambdas would get if the config let the values through."""
    base = BASE_CONFIGS[overrides.get(ENV)]
    data = {name: copy.deepcopy(settings.to_mapping()) for name, settings in build_all(base).items()}
    labeling, training, model = (data[contract.LABELING_SETTINGS_VAR], data[contract.TRAINING_SETTINGS_VAR],
                                 data[contract.MODEL_SETTINGS_VAR])
    # The default configs evaluate: the Evaluation function's settings and RegisterModel's evaluation object.
    evaluation, start = data[contract.EVALUATION_SETTINGS_VAR], model["evaluation"]
    def value(key: str) -> Any:
        return overrides[key]

    for key in overrides:
        section, _, leaf = key.rpartition(".")
        if key == "prefix":
            labeling["prefix"] = training["prefix"] = evaluation["prefix"] = start["prefix"] = value(key)
        elif key == "tags":
            tags = value(key)
            tagged = {**tags, contract.WORKFLOW_ENV_TAG_KEY: base.env_name} if isinstance(tags, dict) else tags
            labeling["tags"] = training["tags"] = model["tags"] = evaluation["tags"] = tagged
        elif key == "labeling.job_prefix":  # `-c` overrides apply after an environment's block, as given
            for settings_object in (labeling, training, model, evaluation):
                settings_object["job_prefix"] = value(key)
        elif section == "labeling" and leaf in _LABELING_KEYS:
            labeling[leaf] = value(key)
        elif key == "workforce.price_usd":
            price = value(key)
            is_number = isinstance(price, int | float) and not isinstance(price, bool)
            labeling["price_usd"] = str(price) if is_number else price
        elif key == "workforce.workers_per_object":
            labeling["workers_per_object"] = value(key)
        elif key == "training.hyperparameters":
            training["hyperparameters"] = value(key)
        elif key == "tuning.ranges":
            training["tuning"]["ranges"] = value(key)
        elif key == "tuning.enabled":
            training["tuning"]["enabled"] = value(key)
        elif key == "model.register_package":
            model["register_package"] = evaluation["register_package"] = value(key)
        elif key == "bucket.kms_key_arn":
            labeling["kms_key_arn"] = training["kms_key_arn"] = start["kms_key_arn"] = value(key)
        elif key == "evaluation.instance_type":
            start["instance_type"] = value(key)
        elif key == "evaluation.accuracy_floor":
            evaluation["accuracy_floor"] = value(key)
    if "workforce.type" in overrides:
        kind = labeling["workforce"] = overrides["workforce.type"]
        if kind == "private":
            labeling["workteam_arn"] = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/placeholder"
        elif kind == "existing":
            labeling["workteam_arn"] = overrides.get("workforce.workteam_arn")
    if model["register_package"] is True:
        group = overrides.get("model.package_group_name")
        model["package_group_name"] = evaluation["package_group_name"] = (
            group if group is not None else f"{labeling['job_prefix']}-models")
    if overrides.get("evaluation.enabled") is False:
        # No Evaluation function; RegisterModel's evaluation is null.
        del data[contract.EVALUATION_SETTINGS_VAR]
        model["evaluation"] = None
    return data


def sources_of(message: str) -> tuple[str, tuple[str, ...]]:
    """SETTING_SOURCES of the settings key a reader's message names (`TRAINING_SETTINGS.tuning.ranges.x.min
    = ...`: those of `tuning.ranges`)."""
    match = re.match(r"[A-Z_]+\.([^\s:=]+)", message)
    assert match, f"a settings error must start with its key path: {message}"
    parts = re.sub(r"\[\d+\]", "", match.group(1)).split(".")
    for length in range(len(parts), 0, -1):
        sources = SETTING_SOURCES.get(".".join(parts[:length]))
        if sources:
            return sources
    raise AssertionError(f"no config key for the settings key in: {message}")


# --- Strategies ------------------------------------------------------------------------------------

_SEGMENT = st.text(alphabet="ab9!_.()-", min_size=1, max_size=6)
PREFIXES = st.one_of(
    st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join),
    st.sampled_from(["/a", "a/", "a//b", "*", "a?b", "it's", "a b", "", "\u00e4", "a/./b", "../x", ".", "ok/(1)"]),
)
_TAG_VALUES = st.sampled_from(["", "v", "x" * 256, "x" * 257, "a=b"])


@st.composite
def tag_maps(draw: st.DrawFn) -> dict[str, str]:
    count = draw(st.sampled_from([0, 1, 5, 46, 47, 48, 49, 50]))
    tags = {f"team{i}": draw(_TAG_VALUES) if i == 0 else "x" for i in range(count)}
    for key in draw(st.lists(st.sampled_from([
            contract.WORKFLOW_ENV_TAG_KEY, contract.LABELING_JOB_TAG_KEY, contract.TRAINING_JOB_TAG_KEY,
            contract.TUNING_JOB_TAG_KEY, "bad#key", "k" * 129, "ok key"]), max_size=2)):
        tags[key] = draw(_TAG_VALUES)
    return tags


_WORDS = st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)
LABELS = st.one_of(
    st.lists(_WORDS, min_size=2, max_size=6, unique_by=str.casefold),
    st.lists(st.sampled_from(["Car", "car", " ", "", "x" * 257, "Ferry"]), max_size=4),
    st.lists(_WORDS, min_size=31, max_size=32, unique_by=str.casefold),
)
KEYWORDS = st.lists(st.sampled_from(["image", "two words", "a  b", "multi-class", "x" * 30, "y" * 31, "", " lead"]),
                    max_size=6)
JOB_PREFIXES = st.one_of(st.text(alphabet="ab9-_A", max_size=25), st.sampled_from(["gt", "a" * 23, "a" * 24]))
LABEL_ATTRIBUTES = st.sampled_from(["vehicle", "vehicle-metadata", "a" * 127, "a" * 128, "-x", "x--y", "x_y", ""])


def _length(*sizes: int) -> st.SearchStrategy[str]:
    return st.sampled_from(sizes).map(lambda size: "x" * size)


@st.composite
def labeling_texts(draw: st.DrawFn) -> dict[str, Any]:
    lengths = {"task_title": (0, 1, 128, 129), "task_description": (1, 255, 256),
               "short_instructions": (1, 1000, 1001), "full_instructions": (1, 2000, 2001)}
    keys = draw(st.lists(st.sampled_from(sorted(lengths)), min_size=1, max_size=2, unique=True))
    result: dict[str, Any] = {f"labeling.{key}": draw(_length(*lengths[key])) for key in keys}
    if draw(st.booleans()):
        result["labeling.task_title"] = "   "  # blank
    return result


@st.composite
def workforce_changes(draw: st.DrawFn) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if draw(st.booleans()):
        result["workforce.type"] = draw(st.sampled_from(["public", "private", "existing", "mturk"]))
    if draw(st.booleans()):
        result["workforce.price_usd"] = draw(st.sampled_from([None, "0.012", 0.036, "0.120", "0.05", "abc", 1.2, True]))
    if draw(st.booleans()):
        result["workforce.workteam_arn"] = draw(st.sampled_from(
            [None, TEAM, TEAM.replace(REGION, "eu-west-1"), "team"]))
    if draw(st.booleans()) or not result:
        result["workforce.workers_per_object"] = draw(st.sampled_from([0, 1, 3, 9, 10]))
    return result


@st.composite
def hyperparameter_maps(draw: st.DrawFn) -> dict[str, Any]:
    hyperparameters: dict[str, Any] = dict(CONTEXT["workflow"]["training"]["hyperparameters"])
    changes: list[tuple[str, Any]] = [("epochs", 10), ("learning_rate", 0.00001), ("num_classes", "5"),
                                      ("Bad-Key", "1"), ("epochs", ""), ("resize", None), ("momentum", "0.9")]
    for name, value in draw(st.lists(st.sampled_from(changes), min_size=1, max_size=2)):
        if value is None:
            hyperparameters.pop(name, None)
        else:
            hyperparameters[name] = value
    return hyperparameters


_BOUNDS = st.sampled_from([-1, 0, 0.0001, 0.5, 0.9, 1, 8, 8.5, 64])


@st.composite
def parameter_range(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["continuous", "integer", "categorical", "float"]))
    if kind == "categorical":
        return {"type": kind, "values": draw(st.sampled_from([[], ["sgd", "adam"], [1, 2], ["x"]]))}
    return {"type": kind, "min": draw(_BOUNDS), "max": draw(_BOUNDS),
            "scaling": draw(st.sampled_from(["Auto", "Linear", "Logarithmic", "ReverseLogarithmic", "Log"]))}


@st.composite
def tuning_changes(draw: st.DrawFn) -> dict[str, Any]:
    names = ["learning_rate", "momentum", "mini_batch_size", "optimizer", "num_classes", "weight_decay", "epochs"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    result: dict[str, Any] = {"tuning.ranges": {name: draw(parameter_range()) for name in chosen}}
    if draw(st.booleans()):
        result["tuning.enabled"] = True
    return result


@st.composite
def model_changes(draw: st.DrawFn) -> dict[str, Any]:
    result: dict[str, Any] = {"model.register_package": draw(st.booleans())}
    if draw(st.booleans()):
        result["model.package_group_name"] = draw(st.sampled_from([None, "my-group", "-bad"]))
    return result


KMS_KEYS = st.sampled_from([None, f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                            "alias/x"])


@st.composite
def evaluation_changes(draw: st.DrawFn) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if draw(st.booleans()):
        result["evaluation.enabled"] = draw(st.booleans())
    if draw(st.booleans()):
        result["evaluation.instance_type"] = draw(st.sampled_from(["ml.m5.large", "ml.c5.xlarge", "m5.large", ""]))
    if draw(st.booleans()) or not result:
        result["evaluation.accuracy_floor"] = draw(st.sampled_from([None, 0, 0.8, 1, 1.5, -0.1]))
    return result

GROUPS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "prefix": PREFIXES.map(lambda v: {"prefix": v}),
    "tags": tag_maps().map(lambda v: {"tags": v}),
    "labels": LABELS.map(lambda v: {"labeling.labels": v}),
    "keywords": KEYWORDS.map(lambda v: {"labeling.task_keywords": v}),
    "job_prefix": JOB_PREFIXES.map(lambda v: {"labeling.job_prefix": v}),
    "label_attribute": LABEL_ATTRIBUTES.map(lambda v: {"labeling.label_attribute": v}),
    "texts": labeling_texts(),
    "workforce": workforce_changes(),
    "hyperparameters": hyperparameter_maps().map(lambda v: {"training.hyperparameters": v}),
    "tuning": tuning_changes(),
    "model": model_changes(),
    "kms": KMS_KEYS.map(lambda v: {"bucket.kms_key_arn": v}),
    "evaluation": evaluation_changes(),
}


@st.composite
def config_overrides(draw: st.DrawFn) -> dict[str, Any]:
    overrides: dict[str, Any] = {ENV: "prod"} if draw(st.integers(0, 3)) == 0 else {}
    for group in draw(st.lists(st.sampled_from(sorted(GROUPS)), min_size=1, max_size=3, unique=True)):
        overrides.update(draw(GROUPS[group]))
    return overrides


# --- The property ----------------------------------------------------------------------------------


def refuses_naming(overrides: Mapping[str, Any], message: str) -> bool:
    """Whether load_config, given only the overrides that decide the settings key `message` (a reader's
    error) names, refuses them naming that key's cdk.json key. Only those: a config model reports its
    rules that involve several keys only once its own fields are valid, so another broken key of the same
    section could hide the rule."""
    named, deciding = sources_of(message)
    try:
        load({key: value for key, value in overrides.items() if key in deciding or key == ENV})
    except ConfigError as refused:
        return f"workflow.{named}" in str(refused)
    return False


# Configs load_config accepted when this test was written, though a Lambda refuses their settings (the
# config checks are the lead's to add: see lambdas/settings.py MAX_TAG_VALUE_LENGTH and tag_count_problem).
TAG_VALUE_OF_257 = {"tags": {"team": "x" * 257}}
FORTY_EIGHT_TAGS = {"tags": {f"team{i}": "x" for i in range(48)}}


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(config_overrides())
@example(TAG_VALUE_OF_257)
@example(FORTY_EIGHT_TAGS)
def test_every_config_load_config_accepts_makes_settings_every_lambda_accepts(overrides: dict[str, Any]) -> None:
    try:
        config = load(overrides)
    except ConfigError:
        # The same values, had the config let them through: a key a reader refuses must be one the config
        # refuses too, naming its cdk.json key.
        for variable, data in project(overrides).items():
            try:
                READERS[variable].from_json(json.dumps(data))
            except SettingsError as error:
                assert refuses_naming(overrides, str(error)), (
                    f"{variable} refuses {overrides}: {error}\nbut load_config, given the values that decide "
                    f"workflow.{sources_of(str(error))[0]}, does not refuse them naming it")
        return
    for variable, built in build_all(config).items():
        try:
            parsed = READERS[variable].from_json(built.to_json())
        except SettingsError as error:
            pytest.fail(f"load_config accepts {overrides}, but the {variable} reader refuses the settings built "
                        f"from it: {error}")
        assert parsed == built, variable


# --- Deterministic checks --------------------------------------------------------------------------


def test_the_default_configs_settings_round_trip_and_keep_the_stacks_key_order() -> None:
    built = build_all(DEFAULT_CONFIG)
    for variable, settings_object in built.items():
        text = settings_object.to_json()
        assert READERS[variable].from_json(text) == settings_object
        assert text == json.dumps(json.loads(text), separators=(",", ":"))  # compact, as stacks/functions.py wrote
    labeling_keys = list(json.loads(built[contract.LABELING_SETTINGS_VAR].to_json()))
    # The order the templates (and their snapshots) have: the shared keys first, in this order.
    assert labeling_keys[:8] == ["region", "account", "job_prefix", "role_arn", "tags", "task_type", "bucket",
                                 "prefix"]
    assert labeling_keys[-2:] == ["kms_key_arn", "auto_labeling"]
    ranges = json.loads(built[contract.TRAINING_SETTINGS_VAR].to_json())["tuning"]["ranges"]
    assert ranges["optimizer"] == {"type": "categorical", "values": ["sgd", "adam"]}
    assert list(ranges["learning_rate"]) == ["type", "min", "max", "scaling"]


def test_building_never_validates_so_tokens_pass_through() -> None:
    token = "${Token[TOKEN.123]}"
    deployment = Deployment(account=token, region=token, bucket=token, role_arn=token)
    settings_object = build_labeling_settings(DEFAULT_CONFIG, deployment, workteam_arn=token, pre_lambda_arn=token,
                                              acs_lambda_arn=token)
    assert json.loads(settings_object.to_json())["account"] == token
    with pytest.raises(SettingsError, match=r"^LABELING_SETTINGS\.region = '\$\{Token"):
        LabelingSettings.from_json(settings_object.to_json())


def test_settings_environment_is_to_json_and_keeps_room_for_tokens() -> None:
    labeling = build_all(DEFAULT_CONFIG)[contract.LABELING_SETTINGS_VAR]
    assert settings_environment(labeling) == {"LABELING_SETTINGS": labeling.to_json()}
    import dataclasses

    room = MAX_ENVIRONMENT_BYTES - TOKEN_ALLOWANCE_BYTES - len(labeling.to_json().encode())
    just_fits = dataclasses.replace(labeling, full_instructions=labeling.full_instructions + "x" * room)
    assert settings_environment(just_fits)
    with pytest.raises(ValueError, match="LABELING_SETTINGS is too large for Lambda's 4 KB environment"):
        settings_environment(dataclasses.replace(just_fits, full_instructions=just_fits.full_instructions + "x"))


def test_settings_from_env_names_the_variable() -> None:
    text = build_all(DEFAULT_CONFIG)[contract.MODEL_SETTINGS_VAR].to_json()
    assert ModelSettings.from_env({"MODEL_SETTINGS": text}).job_prefix == "gt-demo"
    with pytest.raises(SettingsError, match="environment variable MODEL_SETTINGS is not set"):
        ModelSettings.from_env({})


# --- The shared constants against botocore's SageMaker model ---------------------------------------


@pytest.fixture(scope="module")
def sagemaker_shape() -> Callable[[str], dict[str, Any]]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return lambda name: model.shape_for(name).metadata


def test_limits_match_botocores_sagemaker_model(sagemaker_shape: Callable[[str], dict[str, Any]]) -> None:
    assert sagemaker_shape("TagList")["max"] == contract.MAX_TAGS
    assert sagemaker_shape("TagValue")["max"] == contract.MAX_TAG_VALUE_LENGTH
    assert "{1,128}" in contract.TAG_KEY_PATTERN and sagemaker_shape("TagKey")["max"] == 128
    assert sagemaker_shape("TaskKeyword")["pattern"] == contract.TASK_KEYWORD_PATTERN
    assert sagemaker_shape("TaskKeyword")["max"] == contract.MAX_TASK_KEYWORD_LENGTH
    keywords = sagemaker_shape("TaskKeywords")
    assert (keywords["min"], keywords["max"]) == (contract.MIN_TASK_KEYWORDS, contract.MAX_TASK_KEYWORDS)
    assert sagemaker_shape("LabelAttributeName")["pattern"] == contract.LABEL_ATTRIBUTE_PATTERN
    assert sagemaker_shape("EntityName")["pattern"] == contract.MODEL_PACKAGE_GROUP_PATTERN
    assert sagemaker_shape("LabelingJobName")["pattern"].replace("a-zA-Z", "a-z") == contract.JOB_PREFIX_PATTERN
    assert contract.MAX_JOB_PREFIX_LENGTH == sagemaker_shape("HyperParameterTuningJobName")["max"] - 9 == 23
    assert sagemaker_shape("HyperParameterTuningJobName")["max"] == naming.TUNING_JOB_NAME_MAX


def test_every_create_call_that_tags_takes_the_same_tag_list() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    for operation in ("CreateLabelingJob", "CreateTrainingJob", "CreateHyperParameterTuningJob", "CreateModel",
                      "CreateModelPackage", "CreateTransformJob"):
        assert model.operation_model(operation).input_shape.members["Tags"].name == "TagList", operation


@pytest.mark.parametrize(("prefix", "ok"), [
    ("ground-truth-demo", True), ("a/b.c/(d)!_", True), ("a/.b", True), ("/a", False), ("a/", False),
    ("a//b", False), (".", False), ("a/../b", False), ("a/./b", False), ("a*", False), ("a?", False),
    ("it's", False), ("", False),
])
def test_prefix_pattern(prefix: str, ok: bool) -> None:
    assert (re.fullmatch(contract.PREFIX_PATTERN, prefix) is not None) is ok


def test_tag_count_counts_a_key_in_both_once() -> None:
    assert contract.tag_count_problem([f"t{i}" for i in range(49)], added=["labeling-job"]) is None
    assert contract.tag_count_problem([f"t{i}" for i in range(50)], added=["t0"]) is None
    assert "carry 51" in (contract.tag_count_problem([f"t{i}" for i in range(49)],
                                                     added=["training-job", "tuning-job"]) or "")
