"""Training settings and the CreateTrainingJob / CreateHyperParameterTuningJob requests.

Requests go through `botocore.stub.Stubber` on a real SageMaker client, so botocore validates
them against its service model (required members, types), and through `shape_problems` for
what botocore leaves to the server (maximum lengths, patterns, enums).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.training_request import (
    LabelingJob,
    SettingsError,
    TrainingSettings,
    build_training_job_request,
    build_tuning_job_request,
    channel_uri,
    manifest_key,
    plan_job_request,
    skip_reason,
    training_job_name,
    tuning_job_name,
)
from tests.lambdas.training_shape_check import shape_problems

# Exactly the shape the CDK stack writes (stacks/lambda_settings.py).
SETTINGS: dict[str, Any] = {
    "region": "us-east-1",
    "account": "123456789012",
    "bucket": "sagemaker-us-east-1-123456789012",
    "prefix": "ground-truth-demo",
    "job_prefix": "gt-demo",
    "task_type": "image-classification",
    "role_arn": "arn:aws:iam::123456789012:role/Exec",
    "image_uri": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
    "instance_type": "ml.p3.2xlarge",
    "instance_count": 1,
    "volume_gb": 50,
    "max_runtime_seconds": 3600,
    "spot": True,
    "max_wait_seconds": 7200,
    "validation_fraction": 0.2,
    "min_labeled_objects": 10,
    "hyperparameters": {
        "image_shape": "3,224,224",
        "resize": "256",
        "num_layers": "18",
        "use_pretrained_model": "1",
        "epochs": "10",
        "learning_rate": "0.01",
        "mini_batch_size": "32",
    },
    "tuning": {
        "enabled": False,
        "max_jobs": 10,
        "max_parallel_jobs": 2,
        "early_stopping": "Auto",
        "ranges": {
            "learning_rate": {"type": "continuous", "min": 0.0001, "max": 0.1, "scaling": "Logarithmic"},
            "mini_batch_size": {"type": "integer", "min": 8, "max": 64, "scaling": "Auto"},
            "optimizer": {"type": "categorical", "values": ["sgd", "adam"]},
        },
    },
    "topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
    "tags": {"project": "ground-truth-demo"},
}

JOB = LabelingJob(
    name="gt-demo-20240101",
    label_attribute="gt-demo-20240101",
    categories=("Airplane", "Automobile", "Bird", "Cat", "Helicopter"),
    output_manifest_uri="s3://sagemaker-us-east-1-123456789012/ground-truth-demo/output/"
    "gt-demo-20240101/manifests/output/output.manifest",
)

DATA = "s3://sagemaker-us-east-1-123456789012/ground-truth-demo/training/gt-demo-20240101"


def settings_with(**changes: Any) -> TrainingSettings:
    data = copy.deepcopy(SETTINGS)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = data
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return TrainingSettings.from_json(json.dumps(data))


def expected_channel(channel: str) -> dict[str, Any]:
    """A channel written out by hand from docs/algorithm-rules.md, not computed."""
    return {
        "ChannelName": channel,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "AugmentedManifestFile",
                "S3Uri": f"{DATA}/{channel}.manifest",
                "S3DataDistributionType": "FullyReplicated",
                "AttributeNames": ["source-ref", "gt-demo-20240101"],
            }
        },
        "ContentType": "application/x-recordio",
        "RecordWrapperType": "RecordIO",
        "InputMode": "Pipe",
    }


@pytest.fixture
def sagemaker() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


# --- settings ------------------------------------------------------------------------------


def test_settings_parse_the_stack_shape() -> None:
    settings = TrainingSettings.from_json(json.dumps(SETTINGS))
    assert settings.bucket == "sagemaker-us-east-1-123456789012"
    assert settings.spot is True
    assert settings.hyperparameters["num_layers"] == "18"
    assert settings.tuning.enabled is False
    assert [r.name for r in settings.tuning.ranges] == ["learning_rate", "mini_batch_size", "optimizer"]
    assert settings.tags == {"project": "ground-truth-demo"}
    with pytest.raises(TypeError):
        settings.hyperparameters["epochs"] = "99"  # type: ignore[index]


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_SETTINGS", json.dumps(SETTINGS))
    assert TrainingSettings.from_env().region == "us-east-1"
    monkeypatch.delenv("TRAINING_SETTINGS")
    with pytest.raises(SettingsError, match="TRAINING_SETTINGS is not set"):
        TrainingSettings.from_env()


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_every_missing_key_is_named(key: str) -> None:
    data = copy.deepcopy(SETTINGS)
    del data[key]
    with pytest.raises(SettingsError, match=rf"^TRAINING_SETTINGS\.{key} is missing$"):
        TrainingSettings.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("tuning", "max_jobs"), r"TRAINING_SETTINGS\.tuning\.max_jobs is missing"),
        (("tuning", "ranges", "learning_rate", "min"), r"tuning\.ranges\.learning_rate\.min is missing"),
        (("tuning", "ranges", "optimizer", "values"), r"tuning\.ranges\.optimizer\.values is missing"),
    ],
)
def test_missing_nested_keys_are_named(path: tuple[str, ...], expected: str) -> None:
    data = copy.deepcopy(SETTINGS)
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(SettingsError, match=expected):
        TrainingSettings.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"instance_count": 0}, r"instance_count = 0 is invalid: expected an integer >= 1"),
        ({"instance_count": "1"}, r"instance_count = '1' is invalid"),
        ({"volume_gb": True}, r"volume_gb = True is invalid"),
        ({"spot": "yes"}, r"spot = 'yes' is invalid: expected true or false"),
        ({"bucket": ""}, r"bucket = '' is invalid: expected a non-empty string"),
        ({"validation_fraction": 1.0}, r"validation_fraction = 1.0 is invalid"),
        ({"validation_fraction": 0}, r"validation_fraction = 0 is invalid"),
        ({"max_wait_seconds": 1800}, r"max_wait_seconds = 1800 must be >= max_runtime_seconds = 3600"),
        ({"hyperparameters__num_classes": "5"}, r"hyperparameters\.num_classes must not be set"),
        ({"hyperparameters__epochs": [10]}, r"hyperparameters\.epochs = \[10\] is invalid"),
        ({"tags__team": None}, r"tags\.team = None is invalid"),
        ({"tuning__early_stopping": "Sometimes"}, r"early_stopping = 'Sometimes' is invalid: expected one of Off"),
        ({"tuning__max_parallel_jobs": 11}, r"max_parallel_jobs = 11 must be <= max_jobs = 10"),
        ({"tuning__ranges__learning_rate__type": "float"}, r"learning_rate\.type = 'float' is invalid"),
        ({"tuning__ranges__learning_rate__min": 0.5}, r"learning_rate: min = 0.5 must be less than max = 0.1"),
        ({"tuning__ranges__learning_rate__min": 0}, r"Logarithmic scaling needs min > 0"),
        ({"tuning__ranges__learning_rate__scaling": "Log"}, r"learning_rate\.scaling = 'Log' is invalid"),
        ({"tuning__ranges__mini_batch_size__min": 8.5}, r"integer range needs integer min and max"),
        ({"tuning__ranges__mini_batch_size__scaling": "ReverseLogarithmic"}, r"ReverseLogarithmic"),
        ({"tuning__ranges__optimizer__values": []}, r"optimizer\.values = \[\] is invalid"),
        ({"tuning__ranges__num_classes": {"type": "integer", "min": 2, "max": 3}}, r"num_classes cannot be tuned"),
        ({"tuning__ranges": []}, r"tuning\.ranges must be a JSON object"),
        # Rules the old parser did not have; the config checks each at synth (lambdas/settings.py).
        ({"tags": {f"t{i}": "x" for i in range(50)}}, r"^TRAINING_SETTINGS\.tags has 50 tags; with the "
                                                      r"labeling-job tag\(s\) the workflow adds"),
        ({"prefix": "a/*"}, r"^TRAINING_SETTINGS\.prefix = 'a/\*' is invalid: expected an S3 key prefix"),
        ({"job_prefix": "GT"}, r"^TRAINING_SETTINGS\.job_prefix = 'GT' is invalid: expected 1-23 lowercase"),
        ({"topic_arn": "alerts"}, r"^TRAINING_SETTINGS\.topic_arn = 'alerts' is invalid"),
        ({"instance_type": "p3.2xlarge"}, r"^TRAINING_SETTINGS\.instance_type = 'p3\.2xlarge' is invalid"),
        ({"tuning__ranges__learning_rate__min": "0.1"},
         r"^TRAINING_SETTINGS\.tuning\.ranges\.learning_rate\.min = '0\.1' is invalid: expected a number$"),
        ({"tuning__ranges__optimizer__min": 1},
         r"^TRAINING_SETTINGS\.tuning\.ranges\.optimizer\.min applies only when type is continuous or integer"),
        ({"tuning__ranges__learning_rate__values": ["a"]},
         r"^TRAINING_SETTINGS\.tuning\.ranges\.learning_rate\.values applies only when type is categorical"),
        ({"tuning__ranges__learning_rate__step": 1},
         r"^TRAINING_SETTINGS\.tuning\.ranges\.learning_rate has unknown key\(s\) step;"),
        ({"extra": 1}, r"^TRAINING_SETTINGS has unknown key\(s\) extra;"),
    ],
)
def test_bad_values_are_named(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        settings_with(**changes)


def test_max_wait_may_be_short_without_spot() -> None:
    assert settings_with(spot=False, max_wait_seconds=60).max_wait_seconds == 60


def test_tuning_enabled_needs_ranges() -> None:
    with pytest.raises(SettingsError, match="tuning needs at least one range"):
        settings_with(tuning__enabled=True, tuning__ranges={})


def test_settings_round_trip_through_the_stacks_json() -> None:
    settings = TrainingSettings.from_json(json.dumps(SETTINGS))
    # to_json is what the stack writes: the same keys, read back to the same settings.
    assert set(json.loads(settings.to_json())) == {*SETTINGS, "kms_key_arn", "exclude_machine_labels_below"}
    assert TrainingSettings.from_json(settings.to_json()) == settings


def test_ranges_keep_the_settings_order_and_whole_number_float_bounds_send_integers() -> None:
    ranges = {"optimizer": SETTINGS["tuning"]["ranges"]["optimizer"],
              "mini_batch_size": {"type": "integer", "min": 8.0, "max": 64.0, "scaling": "Auto"}}
    settings = settings_with(tuning__ranges=ranges)
    assert [r.name for r in settings.tuning.ranges] == ["optimizer", "mini_batch_size"]
    request = build_tuning_job_request(settings, JOB, train_count=1000)
    assert request["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"] == [
        {"Name": "mini_batch_size", "MinValue": "8", "MaxValue": "64", "ScalingType": "Auto"}]


def test_numeric_hyperparameters_become_text() -> None:
    settings = settings_with(hyperparameters__epochs=10, hyperparameters__learning_rate=0.00001)
    assert settings.hyperparameters["epochs"] == "10"
    assert settings.hyperparameters["learning_rate"] == "0.00001"


@pytest.mark.parametrize("text", ["", "{", "[]", '"x"'])
def test_settings_that_are_not_an_object(text: str) -> None:
    with pytest.raises(SettingsError, match="TRAINING_SETTINGS"):
        TrainingSettings.from_json(text)


# --- names and locations ---------------------------------------------------------------------


def test_names_follow_the_labeling_job() -> None:
    assert training_job_name("gt-demo-20240101") == "gt-demo-20240101"
    assert tuning_job_name("gt-demo-20240101") == "gt-demo-20240101"


def test_long_labeling_job_names_fit_each_limit() -> None:
    name = "gt-demo-" + "x" * 55  # 63 characters, the labeling job maximum
    assert training_job_name(name) == name
    tuning = tuning_job_name(name)
    assert len(tuning) == 32
    assert tuning.startswith("gt-demo-")
    assert tuning_job_name(name[:-1] + "y") != tuning


@pytest.mark.parametrize(
    ("prefix", "key"),
    [
        ("ground-truth-demo", "ground-truth-demo/training/job-1/train.manifest"),
        ("a/b/", "a/b/training/job-1/train.manifest"),
        ("", "training/job-1/train.manifest"),
    ],
)
def test_manifest_keys(prefix: str, key: str) -> None:
    # The settings contract requires a clean prefix (see test_prefix_follows_the_configs_rule); the key
    # layout still copes with other ones.
    settings = dataclasses.replace(settings_with(), prefix=prefix)
    assert manifest_key(settings, "job-1", "train.manifest") == key
    assert channel_uri(settings, "job-1", "train") == f"s3://sagemaker-us-east-1-123456789012/{key}"


# --- CreateTrainingJob ------------------------------------------------------------------------


EXPECTED_TRAINING_REQUEST: dict[str, Any] = {
    "TrainingJobName": "gt-demo-20240101",
    "AlgorithmSpecification": {
        "TrainingImage": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
        "TrainingInputMode": "Pipe",
    },
    "RoleArn": "arn:aws:iam::123456789012:role/Exec",
    "HyperParameters": {
        "image_shape": "3,224,224",
        "resize": "256",
        "num_layers": "18",
        "use_pretrained_model": "1",
        "epochs": "10",
        "learning_rate": "0.01",
        "mini_batch_size": "32",
        "num_classes": "5",
        "num_training_samples": "640",
    },
    "InputDataConfig": [expected_channel("train"), expected_channel("validation")],
    "OutputDataConfig": {"S3OutputPath": "s3://sagemaker-us-east-1-123456789012/ground-truth-demo/models/"},
    "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    "EnableManagedSpotTraining": True,
    "CheckpointConfig": {
        "S3Uri": "s3://sagemaker-us-east-1-123456789012/ground-truth-demo/checkpoints/gt-demo-20240101/"
    },
    "Tags": [
        {"Key": "labeling-job", "Value": "gt-demo-20240101"},
        {"Key": "project", "Value": "ground-truth-demo"},
    ],
}


def test_training_request_with_spot(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    request = build_training_job_request(TrainingSettings.from_json(json.dumps(SETTINGS)), JOB, train_count=640)
    stubber.add_response(
        "create_training_job",
        {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/gt-demo-20240101"},
        expected_params=EXPECTED_TRAINING_REQUEST,
    )
    client.create_training_job(**request)
    assert shape_problems("CreateTrainingJob", request) == []


def test_training_request_without_spot(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    request = build_training_job_request(settings_with(spot=False), JOB, train_count=640)
    expected = copy.deepcopy(EXPECTED_TRAINING_REQUEST)
    del expected["CheckpointConfig"]
    expected["StoppingCondition"] = {"MaxRuntimeInSeconds": 3600}
    expected["EnableManagedSpotTraining"] = False
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn:x"}, expected_params=expected)
    client.create_training_job(**request)
    assert shape_problems("CreateTrainingJob", request) == []


def test_training_request_hyperparameters_are_all_strings() -> None:
    request = build_training_job_request(settings_with(hyperparameters__epochs=3), JOB, train_count=7)
    assert all(isinstance(value, str) for value in request["HyperParameters"].values())
    assert request["HyperParameters"]["num_training_samples"] == "7"


def test_training_request_for_a_63_character_labeling_job() -> None:
    job = LabelingJob(
        name="gt-demo-" + "x" * 55, label_attribute="labels", categories=("a", "b"), output_manifest_uri="s3://b/k"
    )
    request = build_training_job_request(settings_with(), job, train_count=10)
    assert shape_problems("CreateTrainingJob", request) == []
    assert request["CheckpointConfig"]["S3Uri"].endswith(f"/checkpoints/{job.name}/")


# --- CreateHyperParameterTuningJob -----------------------------------------------------------


def expected_tuning_request(spot: bool) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "StaticHyperParameters": {
            "image_shape": "3,224,224",
            "resize": "256",
            "num_layers": "18",
            "use_pretrained_model": "1",
            "epochs": "10",
            "num_classes": "5",
            "num_training_samples": "640",
        },
        "AlgorithmSpecification": EXPECTED_TRAINING_REQUEST["AlgorithmSpecification"],
        "RoleArn": "arn:aws:iam::123456789012:role/Exec",
        "InputDataConfig": [expected_channel("train"), expected_channel("validation")],
        "OutputDataConfig": EXPECTED_TRAINING_REQUEST["OutputDataConfig"],
        "ResourceConfig": EXPECTED_TRAINING_REQUEST["ResourceConfig"],
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
        if spot
        else {"MaxRuntimeInSeconds": 3600},
        "EnableManagedSpotTraining": spot,
    }
    if spot:
        definition["CheckpointConfig"] = {
            "S3Uri": "s3://sagemaker-us-east-1-123456789012/ground-truth-demo/checkpoints/gt-demo-20240101/"
        }
    return {
        "HyperParameterTuningJobName": "gt-demo-20240101",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
                ],
                "IntegerParameterRanges": [
                    {"Name": "mini_batch_size", "MinValue": "8", "MaxValue": "64", "ScalingType": "Auto"}
                ],
                "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
            },
            "TrainingJobEarlyStoppingType": "Auto",
        },
        "TrainingJobDefinition": definition,
        "Tags": EXPECTED_TRAINING_REQUEST["Tags"],
    }


@pytest.mark.parametrize("spot", [True, False])
def test_tuning_request(sagemaker: tuple[Any, Stubber], spot: bool) -> None:
    client, stubber = sagemaker
    settings = settings_with(spot=spot, tuning__enabled=True)
    request = build_tuning_job_request(settings, JOB, train_count=640)
    stubber.add_response(
        "create_hyper_parameter_tuning_job",
        {"HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/x"},
        expected_params=expected_tuning_request(spot),
    )
    client.create_hyper_parameter_tuning_job(**request)
    assert shape_problems("CreateHyperParameterTuningJob", request) == []


def test_tuning_request_name_fits_32_for_the_longest_labeling_job() -> None:
    job = LabelingJob(
        name="gt-demo-" + "x" * 55, label_attribute="labels", categories=("a", "b"), output_manifest_uri="s3://b/k"
    )
    request = build_tuning_job_request(settings_with(tuning__enabled=True), job, train_count=10)
    assert shape_problems("CreateHyperParameterTuningJob", request) == []
    assert len(request["HyperParameterTuningJobName"]) == 32


def test_tiny_range_bounds_are_plain_decimals() -> None:
    settings = settings_with(tuning__ranges__learning_rate__min=0.00001)
    ranges = build_tuning_job_request(settings, JOB, train_count=1)["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert ranges["ContinuousParameterRanges"][0]["MinValue"] == "0.00001"


def test_shape_check_catches_what_botocore_does_not() -> None:
    # The checker must be able to fail, or the `== []` assertions above prove nothing.
    request = build_tuning_job_request(settings_with(tuning__enabled=True), JOB, train_count=1)
    request["HyperParameterTuningJobName"] = "x" * 33
    request["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] = "Sometimes"
    problems = shape_problems("CreateHyperParameterTuningJob", request)
    assert any("HyperParameterTuningJobName: length 33 > max 32" in p for p in problems)
    assert any("TrainingJobEarlyStoppingType: 'Sometimes' not one of" in p for p in problems)
    # and botocore itself would have let both through
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": "arn:x"})
        client.create_hyper_parameter_tuning_job(**request)


# --- the request plan: clamped to the data, checked against job_rules -------------------------


def test_plan_of_a_big_split_changes_nothing_and_passes() -> None:
    plan = plan_job_request(settings_with(), JOB, train_count=640, label_ids=[0, 1, 2, 3, 4])
    assert plan.operation == "CreateTrainingJob"
    assert plan.request == EXPECTED_TRAINING_REQUEST
    assert plan.adjustments == () and plan.problems == ()


def test_plan_clamps_mini_batch_size_to_a_small_train_split(sagemaker: tuple[Any, Stubber]) -> None:
    plan = plan_job_request(settings_with(), JOB, train_count=5)
    assert plan.request["HyperParameters"]["mini_batch_size"] == "5"
    assert plan.problems == ()
    assert plan.adjustments_json() == [{
        "setting": "HyperParameters.mini_batch_size",
        "configured": "32",
        "applied": "5",
        "reason": plan.adjustments[0].reason,
    }]
    assert "the train split has 5 images" in plan.adjustments[0].reason
    client, stubber = sagemaker
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn:x"})
    client.create_training_job(**plan.request)  # still what botocore's model accepts


def test_build_applies_the_same_clamp() -> None:
    request = build_training_job_request(settings_with(), JOB, train_count=5)
    assert request["HyperParameters"]["mini_batch_size"] == "5"


def test_plan_clamps_the_tuning_range(sagemaker: tuple[Any, Stubber]) -> None:
    plan = plan_job_request(settings_with(tuning__enabled=True), JOB, train_count=20)
    assert plan.operation == "CreateHyperParameterTuningJob"
    ranges = plan.request["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"]
    assert ranges == [{"Name": "mini_batch_size", "MinValue": "8", "MaxValue": "20", "ScalingType": "Auto"}]
    assert [(a.configured, a.applied) for a in plan.adjustments] == [("8..64", "8..20")]
    assert plan.problems == ()
    client, stubber = sagemaker
    stubber.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": "arn:x"})
    client.create_hyper_parameter_tuning_job(**plan.request)
    assert shape_problems("CreateHyperParameterTuningJob", plan.request) == []


def test_plan_of_a_tiny_split_tunes_without_the_batch_range() -> None:
    plan = plan_job_request(settings_with(tuning__enabled=True), JOB, train_count=5)
    assert plan.request["TrainingJobDefinition"]["StaticHyperParameters"]["mini_batch_size"] == "5"
    assert plan.request["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"] == []
    assert plan.problems == ()


def test_plan_names_what_sagemaker_or_the_algorithm_would_reject() -> None:
    # Lambda settings are not re-validated by the config: a hand-edited TRAINING_SETTINGS is caught here.
    settings = settings_with(instance_type="ml.m5.xlarge", hyperparameters__resize="128")
    plan = plan_job_request(settings, JOB, train_count=640)
    assert len(plan.problems) == 2
    assert plan.problems[0].startswith("ResourceConfig.InstanceType = 'ml.m5.xlarge'")
    assert plan.problems[1].startswith("HyperParameters.resize = '128' is smaller than the crop")


def test_plan_checks_label_ids_against_num_classes() -> None:
    plan = plan_job_request(settings_with(), JOB, train_count=640, label_ids=[0, 5])
    assert plan.problems and "class ids [5] are outside 0..4" in plan.problems[0]


# --- deciding whether to train ---------------------------------------------------------------


def summary(classes: dict[str, tuple[int, int]], *, input_lines: int | None = None, **dropped: int) -> dict[str, Any]:
    train = sum(t for t, _ in classes.values())
    validation = sum(v for _, v in classes.values())
    kept = train + validation
    reasons = {"failed": 0, "missing_label": 0, "unknown_label": 0, "missing_source_ref": 0, "malformed_json": 0}
    reasons.update(dropped)
    return {
        "totals": {
            "input_lines": input_lines if input_lines is not None else kept + sum(reasons.values()),
            "kept": kept,
            "dropped": sum(reasons.values()),
            "train": train,
            "validation": validation,
        },
        "dropped": reasons,
        "classes": [{"label": name, "train": t, "validation": v} for name, (t, v) in classes.items()],
    }


def test_enough_data_trains() -> None:
    assert skip_reason(settings_with(), summary({"a": (8, 2), "b": (4, 1)})) is None


def test_too_few_objects_names_the_counts() -> None:
    reason = skip_reason(settings_with(), summary({"a": (4, 1), "b": (3, 1)}, failed=12))
    assert reason is not None
    assert "only 9 of 21 manifest lines" in reason
    assert "failed 12" in reason
    assert "min_labeled_objects is 10" in reason


def test_one_class_is_not_enough() -> None:
    reason = skip_reason(settings_with(), summary({"a": (40, 10), "b": (0, 0)}))
    assert reason is not None
    assert "cover 1 class(es) (a)" in reason


def test_both_problems_are_reported() -> None:
    reason = skip_reason(settings_with(), summary({"a": (2, 0)}))
    assert reason is not None
    assert "only 2 of 2" in reason
    assert "cover 1 class(es)" in reason


def test_empty_validation_is_not_trained() -> None:
    reason = skip_reason(settings_with(min_labeled_objects=2), summary({"a": (1, 0), "b": (1, 0)}))
    assert reason is not None
    assert "validation" in reason


def test_validation_on_a_single_class_is_not_trained() -> None:
    # Validation accuracy over one class says nothing about telling classes apart.
    reason = skip_reason(settings_with(min_labeled_objects=2), summary({"a": (4, 1), "b": (1, 0), "c": (1, 0)}))
    assert reason is not None
    assert "only 1 class(es) (a) have the 2 labeled objects needed to put one in training and one in " in reason
    assert "classes with a single image: b, c" in reason


def test_two_examples_of_two_classes_are_enough_to_train() -> None:
    assert skip_reason(settings_with(min_labeled_objects=4), summary({"a": (1, 1), "b": (1, 1), "c": (1, 0)})) is None
