"""The rules of the built-in image-classification algorithm and of SageMaker's training jobs
(lambdas/job_rules.py; facts and sources in docs/algorithm-rules.md)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lambdas.job_rules import (
    DOC_HYPERPARAMETERS,
    DOC_INSTANCES,
    DOC_RESOURCE_CONFIG,
    DOC_TUNING,
    TunableRange,
    check_channels,
    check_hyperparameters,
    check_label_ids,
    check_managed_spot,
    check_parameter_range,
    check_training_config,
    check_training_instance_type,
    check_training_request,
    check_tuning_request,
    check_volume_kms_key,
    clamp_training_request,
    clamp_tuning_request,
    has_local_instance_storage,
    mini_batch_size_limit,
)

GOOD_HYPERPARAMETERS = {
    "image_shape": "3,224,224",
    "resize": "256",
    "num_layers": "18",
    "use_pretrained_model": "1",
    "epochs": "10",
    "learning_rate": "0.01",
    "mini_batch_size": "32",
}


def channel(name: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "AugmentedManifestFile",
                "S3Uri": f"s3://bucket/training/job/{name}.manifest",
                "S3DataDistributionType": "FullyReplicated",
                "AttributeNames": ["source-ref", "vehicle-type"],
            }
        },
        "ContentType": "application/x-recordio",
        "RecordWrapperType": "RecordIO",
        "InputMode": "Pipe",
    }


def definition(**hyperparameters: str) -> dict[str, Any]:
    return {
        "AlgorithmSpecification": {"TrainingImage": "image", "TrainingInputMode": "Pipe"},
        "RoleArn": "arn:aws:iam::123456789012:role/Exec",
        "InputDataConfig": [channel("train"), channel("validation")],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models/"},
        "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        "EnableManagedSpotTraining": True,
        "CheckpointConfig": {"S3Uri": "s3://bucket/checkpoints/job/"},
    }


def training_request(train_count: int = 100, **hyperparameters: str) -> dict[str, Any]:
    values = {**GOOD_HYPERPARAMETERS, "num_classes": "5", "num_training_samples": str(train_count), **hyperparameters}
    return {"TrainingJobName": "gt-demo-1", **definition(), "HyperParameters": values}


def tuning_request(train_count: int = 100, *, batch_range: tuple[str, str] | None = ("8", "64")) -> dict[str, Any]:
    static = {k: v for k, v in GOOD_HYPERPARAMETERS.items() if k not in ("learning_rate", "mini_batch_size")}
    integer = [{"Name": "mini_batch_size", "MinValue": batch_range[0], "MaxValue": batch_range[1],
                "ScalingType": "Auto"}] if batch_range else []
    if batch_range is None:
        static["mini_batch_size"] = "32"
    return {
        "HyperParameterTuningJobName": "gt-demo-1",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.1",
                                               "ScalingType": "Logarithmic"}],
                "IntegerParameterRanges": integer,
                "CategoricalParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Auto",
        },
        "TrainingJobDefinition": {
            **definition(),
            "StaticHyperParameters": {**static, "num_classes": "5", "num_training_samples": str(train_count)},
        },
    }


def only(problems: list[str], *fragments: str) -> str:
    """The single problem, after checking it names every fragment."""
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0], (fragment, problems[0])
    return problems[0]


# --- instance types ---------------------------------------------------------------------------


@pytest.mark.parametrize("instance_type", ["ml.p2.xlarge", "ml.p3.2xlarge", "ml.g4dn.xlarge", "ml.g5.2xlarge"])
def test_documented_gpu_families_train(instance_type: str) -> None:
    assert check_training_instance_type(instance_type) == []


@pytest.mark.parametrize("instance_type", ["ml.m5.xlarge", "ml.c5.2xlarge", "ml.p3dn.24xlarge", "ml.p4d.24xlarge",
                                           "ml.p5.48xlarge", "ml.g6.xlarge", "ml.trn1.2xlarge", "g4dn.xlarge"])
def test_other_families_are_refused_with_the_allowed_list(instance_type: str) -> None:
    only(check_training_instance_type(instance_type, path="workflow.training.instance_type"),
         f"workflow.training.instance_type = {instance_type!r}", "ml.p2.*, ml.p3.*, ml.g4dn.*, ml.g5.*",
         DOC_INSTANCES)


@pytest.mark.parametrize(
    ("instance_type", "local"),
    [("ml.g4dn.xlarge", True), ("ml.g5.xlarge", True), ("ml.p4d.24xlarge", True), ("ml.p3dn.24xlarge", True),
     ("ml.m5d.large", True), ("ml.g6e.xlarge", True), ("ml.p2.xlarge", False), ("ml.p3.2xlarge", False),
     ("ml.c5.xlarge", False), ("ml.m5.large", False)],
)
def test_local_instance_storage(instance_type: str, local: bool) -> None:
    assert has_local_instance_storage(instance_type) is local


def test_volume_kms_key_is_refused_on_instances_with_local_storage() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    only(check_volume_kms_key("ml.g4dn.xlarge", key), "VolumeKmsKeyId", "'ml.g4dn.xlarge'", "local NVMe",
         DOC_RESOURCE_CONFIG)
    assert check_volume_kms_key("ml.p3.2xlarge", key) == []
    assert check_volume_kms_key("ml.g4dn.xlarge", None) == []


def test_a_request_with_a_volume_key_on_g5_is_refused() -> None:
    request = training_request()
    request["ResourceConfig"] = {**request["ResourceConfig"], "InstanceType": "ml.g5.xlarge", "VolumeKmsKeyId": "k"}
    only(check_training_request(request, train_count=100), "ResourceConfig.VolumeKmsKeyId = 'k'")


# --- hyperparameters --------------------------------------------------------------------------


def test_the_default_hyperparameters_pass() -> None:
    assert check_hyperparameters(GOOD_HYPERPARAMETERS) == []


def test_unknown_names_list_the_documented_ones() -> None:
    message = only(check_hyperparameters({**GOOD_HYPERPARAMETERS, "batch_size": "32"}),
                   "HyperParameters.batch_size is not a hyperparameter", DOC_HYPERPARAMETERS)
    assert "mini_batch_size" in message and "weight_decay" in message and "beta_1" in message


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("num_layers", "19", "one of 18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110"),
        ("optimizer", "adagrad", "one of sgd, adam, rmsprop, nag"),
        ("use_pretrained_model", "yes", "one of 0, 1"),
        ("epochs", "0", "a positive integer"),
        ("epochs", "10.5", "a positive integer"),
        ("mini_batch_size", "-1", "a positive integer"),
        ("learning_rate", "0", None),  # [0, 1] includes 0: allowed
        ("learning_rate", "1.5", "a number in [0, 1]"),
        ("learning_rate", "nan", "a number in [0, 1]"),
        ("momentum", "fast", "a number in [0, 1]"),
        ("image_shape", "224,224", "'num_channels,height,width'"),
        ("image_shape", "3x224x224", "'num_channels,height,width'"),
        ("augmentation_type", "flip", "one of crop, crop_color, crop_color_transform"),
        ("top_k", "1", "an integer larger than 1"),
        ("kv_store", "sync", "one of dist_sync, dist_async"),
        ("early_stopping", "true", "one of True, False"),
        ("precision_dtype", "float64", "one of float32, float16"),
        ("lr_scheduler_step", "10;20", "epochs as positive integers separated by ','"),
        ("resize", "0", "a positive integer"),
    ],
)
def test_value_domains(name: str, value: str, allowed: str | None) -> None:
    problems = check_hyperparameters({**GOOD_HYPERPARAMETERS, name: value})
    if allowed is None:
        assert problems == []
    else:
        only(problems, f"HyperParameters.{name} = {value!r} is not allowed: use {allowed}", DOC_HYPERPARAMETERS)


def test_image_shape_accepts_spaces_as_the_docs_write_it() -> None:
    assert check_hyperparameters({**GOOD_HYPERPARAMETERS, "image_shape": "3, 224, 224"}) == []


def test_resize_is_required() -> None:
    values = {k: v for k, v in GOOD_HYPERPARAMETERS.items() if k != "resize"}
    only(check_hyperparameters(values), "HyperParameters.resize is not set", "(224x224)", "at least 224",
         DOC_HYPERPARAMETERS)


@pytest.mark.parametrize(("shape", "resize", "ok"), [
    ("3,224,224", "224", True), ("3,224,224", "256", True), ("3,224,224", "200", False),
    ("3,128,320", "300", False), ("3,128,320", "320", True),
])
def test_resize_must_cover_the_crop(shape: str, resize: str, ok: bool) -> None:
    values = {**GOOD_HYPERPARAMETERS, "use_pretrained_model": "0", "image_shape": shape, "resize": resize}
    problems = check_hyperparameters(values)
    if ok:
        assert problems == []
    else:
        only(problems, f"HyperParameters.resize = {resize!r} is smaller than the crop")


def test_resize_covers_the_default_image_shape_when_none_is_set() -> None:
    values = {k: v for k, v in GOOD_HYPERPARAMETERS.items() if k != "image_shape"}
    only(check_hyperparameters({**values, "resize": "100"}), "(224x224)")


def test_a_pretrained_model_needs_224_and_a_transfer_depth() -> None:
    problems = check_hyperparameters({**GOOD_HYPERPARAMETERS, "image_shape": "3,256,256", "resize": "300",
                                      "num_layers": "20"})
    assert len(problems) == 2
    assert "224 x 224" in problems[0] and "num_layers = '20'" in problems[1]
    scratch = {**GOOD_HYPERPARAMETERS, "use_pretrained_model": "0", "image_shape": "3,256,256", "resize": "300",
               "num_layers": "20"}
    assert check_hyperparameters(scratch) == []


def test_checkpoint_frequency_at_most_epochs() -> None:
    only(check_hyperparameters({**GOOD_HYPERPARAMETERS, "checkpoint_frequency": "11"}),
         "checkpoint_frequency = '11' must be no greater than epochs (10)")
    assert check_hyperparameters({**GOOD_HYPERPARAMETERS, "checkpoint_frequency": "10"}) == []


def test_multi_label_does_not_fit_single_label_ground_truth() -> None:
    only(check_hyperparameters({**GOOD_HYPERPARAMETERS, "multi_label": "1"}), "multi_label = '1'")


def test_config_check_names_the_key_path() -> None:
    problems = check_training_config(instance_type="ml.m5.xlarge",
                                     hyperparameters={**GOOD_HYPERPARAMETERS, "optimizer": "adagrad"},
                                     path="workflow.training")
    assert [p.split(" ")[0] for p in problems] == ["workflow.training.instance_type",
                                                   "workflow.training.hyperparameters.optimizer"]


# --- tuning -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "configured", "fragment"),
    [
        ("epochs", TunableRange("integer", 5, 20), "'epochs' is not a tunable hyperparameter"),
        ("learning_rate", TunableRange("continuous", 0.0001, 0.9), "outside the documented range of learning_rate"),
        ("learning_rate", TunableRange("integer", 0, 1), "learning_rate is tuned with a range of type 'continuous'"),
        ("mini_batch_size", TunableRange("integer", 4, 64), "outside the documented range of mini_batch_size, 8 to"),
        ("mini_batch_size", TunableRange("integer", 8, 1024), "8 to 512"),
        ("optimizer", TunableRange("categorical", values=("sgd", "adagrad")), "adagrad not allowed"),
    ],
)
def test_tuning_ranges_outside_the_documented_ones(name: str, configured: TunableRange, fragment: str) -> None:
    only(check_parameter_range(name, configured, path=f"workflow.tuning.ranges.{name}"),
         f"workflow.tuning.ranges.{name}", fragment, DOC_TUNING)


@pytest.mark.parametrize(
    ("name", "configured"),
    [("learning_rate", TunableRange("continuous", 1e-6, 0.5)), ("mini_batch_size", TunableRange("integer", 8, 512)),
     ("optimizer", TunableRange("categorical", values=("sgd", "adam", "rmsprop", "nag"))),
     ("momentum", TunableRange("continuous", 0.0, 0.999))],
)
def test_documented_tuning_ranges_pass(name: str, configured: TunableRange) -> None:
    assert check_parameter_range(name, configured, path="r") == []


def test_tuning_objective_must_be_validation_accuracy() -> None:
    request = tuning_request()
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] = {
        "Type": "Minimize", "MetricName": "train:loss"}
    only(check_tuning_request(request, train_count=100), "validation:accuracy", DOC_TUNING)


def test_a_good_tuning_request_passes() -> None:
    assert check_tuning_request(tuning_request(), train_count=100, num_categories=5) == []


# --- labels and counts ------------------------------------------------------------------------


def test_label_ids_run_from_zero_to_num_classes_minus_one() -> None:
    assert check_label_ids([0, 1, 4], num_classes=5) == []
    only(check_label_ids([0, 5, -1], num_classes=5), "class ids [-1, 5] are outside 0..4")


def test_num_classes_is_the_number_of_categories() -> None:
    only(check_training_request(training_request(), train_count=100, num_categories=4),
         "num_classes = '5' must be the number of label categories, 4")
    only(check_training_request(training_request(), train_count=100, label_ids=[0, 7]), "class ids [7]")


def test_num_training_samples_is_the_train_split() -> None:
    only(check_training_request(training_request(train_count=100), train_count=90),
         "num_training_samples = '100' must be the number of training examples, 90")


def test_a_good_training_request_passes() -> None:
    assert check_training_request(training_request(), train_count=100, num_categories=5, label_ids=[0, 1, 2]) == []


# --- mini_batch_size against the train split --------------------------------------------------


def test_limit_is_one_batch_per_instance() -> None:
    assert mini_batch_size_limit(10, 1) == 10
    assert mini_batch_size_limit(10, 3) == 3
    assert mini_batch_size_limit(2, 3) == 0


def test_a_batch_larger_than_the_train_split_is_refused() -> None:
    only(check_training_request(training_request(train_count=5), train_count=5),
         "HyperParameters.mini_batch_size = 32", "the train split has 5 images", "at most 5 fits")


def test_an_unset_batch_counts_as_the_default_32() -> None:
    request = training_request(train_count=5)
    del request["HyperParameters"]["mini_batch_size"]
    only(check_training_request(request, train_count=5), "unset (default 32)")


def test_clamp_lowers_the_batch_and_says_so() -> None:
    request = training_request(train_count=5)
    clamped, adjustments = clamp_training_request(request, train_count=5)
    assert clamped["HyperParameters"]["mini_batch_size"] == "5"
    assert request["HyperParameters"]["mini_batch_size"] == "32"  # a copy: the input is unchanged
    assert [(a.setting, a.configured, a.applied) for a in adjustments] == [("HyperParameters.mini_batch_size",
                                                                           "32", "5")]
    assert "must be bigger or equal to the mini_batch_size" in adjustments[0].reason
    assert check_training_request(clamped, train_count=5) == []


def test_clamp_sets_the_default_batch_explicitly_when_it_does_not_fit() -> None:
    request = training_request(train_count=7)
    del request["HyperParameters"]["mini_batch_size"]
    clamped, adjustments = clamp_training_request(request, train_count=7)
    assert clamped["HyperParameters"]["mini_batch_size"] == "7"
    assert adjustments[0].configured == "32 (algorithm default)"


def test_clamp_divides_by_the_instances() -> None:
    request = training_request(train_count=20)
    request["ResourceConfig"]["InstanceCount"] = 3
    clamped, adjustments = clamp_training_request(request, train_count=20)
    assert clamped["HyperParameters"]["mini_batch_size"] == "6"
    assert "over 3 instances" in adjustments[0].reason


def test_clamp_leaves_a_fitting_batch_alone() -> None:
    request = training_request(train_count=640)
    assert clamp_training_request(request, train_count=640) == (request, [])


def test_fewer_images_than_instances_cannot_be_clamped() -> None:
    request = training_request(train_count=2)
    request["ResourceConfig"]["InstanceCount"] = 3
    clamped, adjustments = clamp_training_request(request, train_count=2)
    assert adjustments == []
    only(check_training_request(clamped, train_count=2), "at most 0 fits", "label more images")


def test_clamp_lowers_a_tuning_range_max() -> None:
    clamped, adjustments = clamp_tuning_request(tuning_request(train_count=20), train_count=20)
    ranges = clamped["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"]
    assert ranges == [{"Name": "mini_batch_size", "MinValue": "8", "MaxValue": "20", "ScalingType": "Auto"}]
    assert (adjustments[0].configured, adjustments[0].applied) == ("8..64", "8..20")
    assert check_tuning_request(clamped, train_count=20) == []


def test_a_tuning_range_whose_min_does_not_fit_becomes_a_static_value() -> None:
    request = tuning_request(train_count=5)
    only(check_tuning_request(request, train_count=5), "MaxValue = 64", "at most 5 fits")
    clamped, adjustments = clamp_tuning_request(request, train_count=5)
    config = clamped["HyperParameterTuningJobConfig"]
    assert config["ParameterRanges"]["IntegerParameterRanges"] == []
    assert clamped["TrainingJobDefinition"]["StaticHyperParameters"]["mini_batch_size"] == "5"
    assert adjustments[0].applied == "not tuned; static mini_batch_size = 5"
    assert check_tuning_request(clamped, train_count=5) == []  # learning_rate is still tuned


def test_a_tuning_job_left_without_ranges_is_refused() -> None:
    request = tuning_request(train_count=5)
    request["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"] = []
    request["TrainingJobDefinition"]["StaticHyperParameters"]["learning_rate"] = "0.01"
    clamped, _ = clamp_tuning_request(request, train_count=5)
    only(check_tuning_request(clamped, train_count=5), "ParameterRanges is empty")


def test_clamp_a_static_batch_of_a_tuning_job() -> None:
    clamped, adjustments = clamp_tuning_request(tuning_request(train_count=6, batch_range=None), train_count=6)
    assert clamped["TrainingJobDefinition"]["StaticHyperParameters"]["mini_batch_size"] == "6"
    assert adjustments[0].setting == "TrainingJobDefinition.StaticHyperParameters.mini_batch_size"


# --- channels, names, spot --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("ContentType", "image/jpeg", "ContentType = 'image/jpeg'"),
        ("RecordWrapperType", "None", "RecordWrapperType = 'None'"),
        ("InputMode", "File", "InputMode = 'File'"),
    ],
)
def test_channels_need_the_augmented_manifest_layout(key: str, value: str, fragment: str) -> None:
    channels = [channel("train"), channel("validation")]
    channels[0][key] = value
    only(check_channels(channels), f"InputDataConfig[train].{fragment}")


def test_attribute_names_are_the_image_then_the_label() -> None:
    channels = [channel("train"), channel("validation")]
    channels[1]["DataSource"]["S3DataSource"]["AttributeNames"] = ["vehicle-type", "source-ref"]
    only(check_channels(channels), "InputDataConfig[validation].DataSource.S3DataSource.AttributeNames")


def test_both_channels_are_needed() -> None:
    only(check_channels([channel("train")]), "has channels ['train']")


def test_training_input_mode_is_pipe() -> None:
    request = training_request()
    request["AlgorithmSpecification"]["TrainingInputMode"] = "File"
    only(check_training_request(request, train_count=100), "TrainingInputMode = 'File'")


@pytest.mark.parametrize(("tuning", "name"), [(False, "x" * 64), (False, "bad_name"), (True, "x" * 33)])
def test_job_names(tuning: bool, name: str) -> None:
    if tuning:
        request = tuning_request()
        request["HyperParameterTuningJobName"] = name
        only(check_tuning_request(request, train_count=100), "HyperParameterTuningJobName", "1-32")
    else:
        request = training_request()
        request["TrainingJobName"] = name
        only(check_training_request(request, train_count=100), "TrainingJobName", "1-63")


def test_spot_needs_wait_at_least_runtime_and_checkpoints() -> None:
    spot = definition()
    assert check_managed_spot(spot) == []
    short = copy.deepcopy(spot)
    short["StoppingCondition"]["MaxWaitTimeInSeconds"] = 1800
    only(check_managed_spot(short), "MaxWaitTimeInSeconds = 1800 must be set and >= MaxRuntimeInSeconds = 3600")
    unset = copy.deepcopy(spot)
    del unset["StoppingCondition"]["MaxWaitTimeInSeconds"]
    only(check_managed_spot(unset), "MaxWaitTimeInSeconds = None")
    no_checkpoints = copy.deepcopy(spot)
    del no_checkpoints["CheckpointConfig"]
    only(check_managed_spot(no_checkpoints), "CheckpointConfig is missing", "3600")
    on_demand = {**no_checkpoints, "EnableManagedSpotTraining": False}
    assert check_managed_spot(on_demand) == []
