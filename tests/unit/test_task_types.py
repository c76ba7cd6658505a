"""Task type descriptors (lambdas/task_types.py; facts and sources in docs/task-types.md)."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lambdas import job_rules, task_types
from lambdas import labeling_request as lr
from lambdas import training_request as tr
from lambdas.settings import ModelSettings, SettingsError
from lambdas.task_types import IMAGE_CLASSIFICATION, Attribute, Computed, TaskType, UiText
from stacks import regions
from stacks.config import ConfigError, load_config
from stacks.lambda_settings import Deployment, labeling_settings, model_settings, training_settings
from tests.unit.test_labeling_request import settings_dict

PROJECT = Path(__file__).resolve().parents[2]
CONTEXT: dict[str, Any] = json.loads((PROJECT / "cdk.json").read_text())["context"]
IC = IMAGE_CLASSIFICATION
DEPLOYMENT = Deployment(account="123456789012", region="us-east-1", bucket="sagemaker-us-east-1-123456789012",
                        role_arn="arn:aws:iam::123456789012:role/Exec")


# --- registry ---------------------------------------------------------------------------------


def test_the_registry_holds_image_classification_the_default() -> None:
    assert task_types.names() == ("image-classification",)
    assert task_types.task_type("image-classification") is IC
    assert CONTEXT["workflow"]["task_type"] == "image-classification"


@pytest.mark.parametrize("name", ["text-classification", None, 3])
def test_an_unknown_name_lists_the_registered_ones(name: object) -> None:
    with pytest.raises(ValueError, match=r"is not registered; registered task types: image-classification"):
        task_types.task_type(name)


def test_registering_is_a_new_registry_and_refuses_a_second_image_classification() -> None:
    other = replace(IC, name="image-classification-2")
    registry = task_types.with_registered([other])
    assert list(registry) == ["image-classification", "image-classification-2"]
    assert task_types.names() == ("image-classification",)  # REGISTRY itself is unchanged
    with pytest.raises(ValueError, match="already registered"):
        task_types.with_registered([IC])


def test_the_registry_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    other = replace(IC, name="other")
    monkeypatch.setattr(task_types, "REGISTRY", task_types.with_registered([other]))
    assert task_types.task_type("other") is other
    assert lr.LabelingSettings.from_mapping(settings_dict(task_type="other")).task is other


@pytest.mark.parametrize(("change", "problem"), [
    ({"name": "Image_Classification"}, "lowercase letters and digits"),
    ({"ground_truth": replace(IC.ground_truth, object_suffixes=(".JPG",))}, "object_suffixes"),
    ({"ground_truth": replace(IC.ground_truth, object_suffixes=("jpg",))}, "object_suffixes"),
    ({"ground_truth": replace(IC.ground_truth, max_object_bytes=0)}, "max_object_bytes"),
    ({"ground_truth": replace(IC.ground_truth, min_labels=1)}, "2 <= min_labels <= max_labels"),
    ({"ground_truth": replace(IC.ground_truth, max_labels=1)}, "2 <= min_labels <= max_labels"),
    ({"algorithm": replace(IC.algorithm, channels=("train",))}, "channels"),
    ({"algorithm": replace(IC.algorithm, channels=("train", "train"))}, "channels"),
    ({"algorithm": replace(IC.algorithm, attribute_order=(Attribute.SOURCE_REF,))}, "attribute_order"),
    ({"algorithm": replace(IC.algorithm, computed_hyperparameters=(("n", Computed.CLASS_COUNT),) * 2)}, "repeat"),
    ({"algorithm": replace(IC.algorithm, record_wrapper="recordio")}, "record_wrapper"),
    ({"algorithm": replace(IC.algorithm, tuning_objective=task_types.TuningObjective("m", "Max"))}, "Maximize"),
    ({"algorithm": replace(IC.algorithm, inference_response_types=())}, "inference"),
])
def test_a_broken_descriptor_fails_when_defined(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TaskType(**{"name": IC.name, "ground_truth": IC.ground_truth, "algorithm": IC.algorithm, **change})


# --- the image-classification descriptor agrees with job_rules.py ---------------------------------


def test_image_classification_facts_are_what_its_rules_check() -> None:
    algorithm = IC.algorithm
    assert algorithm.rules.check_training_request is job_rules.check_training_request
    assert algorithm.computed_hyperparameter_names == job_rules.COMPUTED_HYPERPARAMETERS
    assert algorithm.tuning_objective.to_request() == job_rules.TUNING_OBJECTIVE
    channel = {
        "ChannelName": algorithm.train_channel, "InputMode": algorithm.input_mode,
        "ContentType": algorithm.content_type, "RecordWrapperType": algorithm.record_wrapper,
        "DataSource": {"S3DataSource": {"S3DataType": algorithm.s3_data_type, "S3Uri": "s3://b/k",
                                        "S3DataDistributionType": algorithm.s3_data_distribution_type,
                                        "AttributeNames": algorithm.attribute_names("vehicle")}},
    }
    assert job_rules.check_channels([channel, {**channel, "ChannelName": algorithm.validation_channel}]) == []


def test_attribute_names_and_computed_values() -> None:
    assert IC.algorithm.attribute_names("vehicle") == ["source-ref", "vehicle"]
    assert IC.algorithm.computed_values(class_count=5, training_sample_count=640) == {
        "num_classes": "5", "num_training_samples": "640"}
    assert task_types.inference_types(IC) == {
        "SupportedContentTypes": ["image/jpeg", "image/png", "application/x-image"],
        "SupportedResponseMIMETypes": ["application/json"],
    }


def test_the_image_classifier_ui_is_the_template_the_workflow_always_sent() -> None:
    rendered = IC.ground_truth.render_ui_template(UiText(
        title="Classify", description="Pick the vehicle", short_instructions="Look.",
        full_instructions="One.\n\nTwo\nlines."))
    assert rendered == (
        '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>\n'
        "\n"
        "<crowd-form>\n"
        "  <crowd-image-classifier\n"
        '    name="crowd-image-classifier"\n'
        '    src="{{ task.input.taskObject | grant_read_access }}"\n'
        '    categories="{{ task.input.labels | to_json | escape }}"\n'
        '    header="Pick the vehicle"\n'
        "  >\n"
        '    <full-instructions header="Classify">\n'
        "      <p>One.</p>\n"
        "      <p>Two<br>lines.</p>\n"
        "    </full-instructions>\n"
        "\n"
        "    <short-instructions>\n"
        "      <p>Look.</p>\n"
        "    </short-instructions>\n"
        "  </crowd-image-classifier>\n"
        "</crowd-form>\n"
    )


def test_accepted_objects() -> None:
    images = IC.ground_truth
    assert images.accepts_name("a/B.JPG") and images.accepts_name("a/c.jpeg") and not images.accepts_name("a/d.gif")
    assert images.objects_noun == "images" and images.max_object_bytes == 40_000_000


# --- no task-type fact outside the descriptor ------------------------------------------------------

# Files that may state the image-classification task type's facts: its descriptor and its rules module.
_FACT_OWNERS = {"lambdas/task_types.py", "lambdas/job_rules.py"}
_CHECKED = sorted({*PROJECT.glob("stacks/*.py"), *PROJECT.glob("lambdas/*.py"), PROJECT / "workflow/plans.py"})


def _facts(task: TaskType) -> set[str]:
    """Text no other string literal may contain."""
    gt, algorithm = task.ground_truth, task.algorithm
    return {gt.pre_lambda_name, gt.acs_lambda_name, "crowd-image-classifier", *gt.object_suffixes,
            algorithm.content_type, algorithm.s3_data_type, algorithm.tuning_objective.metric_name,
            *algorithm.inference_content_types, f"/{algorithm.name}:", f"repository/{algorithm.name}"}


def _names(task: TaskType) -> set[str]:
    """Names no other string literal may be (messages may mention them)."""
    return {*task.algorithm.computed_hyperparameter_names, task.algorithm.input_mode, task.algorithm.record_wrapper}


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """String literals of a module, docstrings excepted (prose may name a task type)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


@pytest.mark.parametrize("path", _CHECKED, ids=lambda p: str(p.relative_to(PROJECT)))
def test_image_classification_facts_live_in_its_descriptor_only(path: Path) -> None:
    if str(path.relative_to(PROJECT)) in _FACT_OWNERS:
        return
    facts, names = _facts(IC), _names(IC)
    constants = _string_constants(path)
    found = [f"line {line}: {fact!r} in {text!r}" for line, text in constants for fact in facts if fact in text]
    found += [f"line {line}: {text!r}" for line, text in constants if text in names]
    assert not found, "a task type's fact outside lambdas/task_types.py: look it up in the descriptor\n" + "\n".join(
        found)


# --- the config and the Lambda settings carry the name -----------------------------------------


def _config(**overrides: Any) -> Any:
    return load_config({**CONTEXT, **{f"workflow.{k}": v for k, v in overrides.items()}})


def test_config_reads_the_task_type() -> None:
    config = _config()
    assert config.task_type == "image-classification" and config.task is IC


def test_config_refuses_an_unknown_task_type_in_the_usual_style() -> None:
    with pytest.raises(ConfigError) as error:
        _config(task_type="video-classification")
    assert ("workflow.task_type = 'video-classification' is not allowed: choose one of image-classification"
            in error.value.problems)


def test_config_requires_the_task_type() -> None:
    context = json.loads(json.dumps(CONTEXT))
    del context["workflow"]["task_type"]
    with pytest.raises(ConfigError, match=r"workflow\.task_type is missing"):
        load_config(context)


def test_labels_follow_the_task_types_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    few = replace(IC, name="few-labels", ground_truth=replace(IC.ground_truth, max_labels=3, title="a small task"))
    monkeypatch.setattr(task_types, "REGISTRY", task_types.with_registered([few]))
    with pytest.raises(ConfigError, match=r"workflow\.labeling\.labels has 5 labels; Ground Truth allows at most 3 "
                                          r"for a small task"):
        _config(task_type="few-labels")


def test_every_lambda_settings_carries_the_task_type() -> None:
    config = _config()
    pre, acs = regions.ground_truth_lambda_arns("us-east-1", config.task.ground_truth)
    assert (pre, acs) == ("arn:aws:lambda:us-east-1:432418664414:function:PRE-ImageMultiClass",
                          "arn:aws:lambda:us-east-1:432418664414:function:ACS-ImageMultiClass")
    labeling = labeling_settings(config, DEPLOYMENT, workteam_arn="arn:aws:sagemaker:us-east-1:394669845002:"
                                 "workteam/public-crowd/default", pre_lambda_arn=pre, acs_lambda_arn=acs)
    topic = "arn:aws:sns:us-east-1:123456789012:alerts"
    training = training_settings(config, DEPLOYMENT, image_uri="i", topic_arn=topic)
    model = model_settings(config, DEPLOYMENT, image_uri="i", topic_arn=topic, package_group_name=None)
    assert labeling["task_type"] == training["task_type"] == model["task_type"] == "image-classification"
    assert lr.LabelingSettings.from_json(json.dumps(labeling)).task is IC
    assert tr.TrainingSettings.from_json(json.dumps(training)).task is IC
    assert ModelSettings.from_json(json.dumps(model)).task is IC


def test_labeling_settings_refuse_an_unknown_task_type_and_another_task_types_lambda() -> None:
    with pytest.raises(SettingsError, match=r"LABELING_SETTINGS\.task_type = 'text-classification' is invalid: "
                                            r"expected one of image-classification$"):
        lr.LabelingSettings.from_mapping(settings_dict(task_type="text-classification"))
    with pytest.raises(SettingsError, match=r"^LABELING_SETTINGS\.task_type is missing$"):
        lr.LabelingSettings.from_mapping({k: v for k, v in settings_dict().items() if k != "task_type"})
    wrong = "arn:aws:lambda:us-east-1:432418664414:function:PRE-TextMultiClass"
    with pytest.raises(SettingsError, match=r"pre_lambda_arn = .*PRE-TextMultiClass' is not the "
                                                      r"PRE-ImageMultiClass function that task type "
                                                      r"'image-classification' uses"):
        lr.LabelingSettings.from_mapping(settings_dict(pre_lambda_arn=wrong))


def test_training_settings_refuse_an_unknown_task_type() -> None:
    from tests.lambdas.test_training_request import SETTINGS

    with pytest.raises(tr.SettingsError, match=r"TRAINING_SETTINGS\.task_type = 'x' is invalid: expected one of "
                                               r"image-classification"):
        tr.TrainingSettings.from_json(json.dumps({**SETTINGS, "task_type": "x"}))
