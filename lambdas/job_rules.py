"""What the built-in image-classification algorithm and SageMaker's job APIs accept, stated once.

botocore's service model checks types and required members; it does not know that the
algorithm fails a job whose `mini_batch_size` exceeds the training images, that a 200 px image
cannot be cropped to 224 px, or that `VolumeKmsKeyId` is refused on instances with local NVMe
storage. Those rules live here, as pure functions that return a list of problems (empty when
all is well). Each problem is one sentence naming the setting, its value, the rule and the AWS
page it comes from (docs/algorithm-rules.md lists every rule with its source).

Used at synth (stacks/config.py: the config), in the dry run (`python -m workflow
plan-training`) and by the StartTraining Lambda before it calls SageMaker (the computed
request). Stdlib only: this module ships in the Lambda asset.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .naming import TRAINING_JOB_NAME_MAX, TUNING_JOB_NAME_MAX, is_valid_name

# --- sources ---------------------------------------------------------------------------------

_DG = "https://docs.aws.amazon.com/sagemaker/latest/dg"
_API = "https://docs.aws.amazon.com/sagemaker/latest/APIReference"
DOC_HYPERPARAMETERS = f"{_DG}/IC-Hyperparameter.html"
DOC_TUNING = f"{_DG}/IC-tuning.html"
DOC_INSTANCES = f"{_DG}/image-classification.html#IC-instances"
DOC_AUGMENTED_TRAINING = f"{_DG}/image-classification.html#IC-augmented-manifest-training"
DOC_AUGMENTED_MANIFEST = f"{_DG}/augmented-manifest.html"
DOC_CHECKPOINTS = f"{_DG}/model-checkpoints.html"
DOC_CREATE_TRAINING_JOB = f"{_API}/API_CreateTrainingJob.html"
DOC_CREATE_TUNING_JOB = f"{_API}/API_CreateHyperParameterTuningJob.html"
DOC_RESOURCE_CONFIG = f"{_API}/API_ResourceConfig.html"
DOC_STOPPING_CONDITION = f"{_API}/API_StoppingCondition.html"


def _source(url: str) -> str:
    return f" [source: {url}]"


# --- instance types ---------------------------------------------------------------------------

# "For image classification, we support P2, P3, G4dn, and G5 instances" (training). The page
# names families, and SageMaker's instance types keep them as the middle part of the name:
# ml.p3.2xlarge is P3, ml.p3dn.24xlarge is P3dn, which the page does not list.
TRAINING_INSTANCE_FAMILIES = ("p2", "p3", "g4dn", "g5")

# Instance families whose instances have local NVMe instance storage, where SageMaker refuses a
# ResourceConfig.VolumeKmsKeyId. SageMaker's docs name ml.p4d, ml.g4dn and ml.g5; EC2's
# instance-store table adds the rest. Families with a "d" in their attribute letters (m5d,
# c6id, r5dn, p3dn, p4de, g4dn) have instance storage by EC2's naming convention; these do
# without the letter.
_LOCAL_STORAGE_FAMILIES = frozenset({"g5", "g6", "g6e", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2"})

_INSTANCE_TYPE = re.compile(r"^ml\.(?P<family>[a-z0-9-]+)\.(?P<size>[a-z0-9]+)$")
_FAMILY = re.compile(r"^[a-z]+\d+(?P<attributes>[a-z-]*)$")


def instance_family(instance_type: str) -> str | None:
    """`ml.g4dn.xlarge` -> `g4dn`; None when `instance_type` is not an `ml.<family>.<size>` name."""
    match = _INSTANCE_TYPE.match(instance_type) if isinstance(instance_type, str) else None
    return match.group("family") if match else None


def check_training_instance_type(instance_type: str, *, path: str = "InstanceType") -> list[str]:
    """The algorithm trains on the GPU families its EC2 recommendation lists, and nothing else."""
    if instance_family(instance_type) in TRAINING_INSTANCE_FAMILIES:
        return []
    allowed = ", ".join(f"ml.{family}.*" for family in TRAINING_INSTANCE_FAMILIES)
    return [
        f"{path} = {instance_type!r}: the built-in image-classification algorithm trains on GPU instances "
        f"only, of the families P2, P3, G4dn and G5 ({allowed}); choose one of those"
        + _source(DOC_INSTANCES)
    ]


def has_local_instance_storage(instance_type: str) -> bool:
    """True for instance types with local NVMe instance storage (see _LOCAL_STORAGE_FAMILIES)."""
    family = instance_family(instance_type)
    if family is None:
        return False
    if family in _LOCAL_STORAGE_FAMILIES:
        return True
    match = _FAMILY.match(family)
    return bool(match and "d" in match.group("attributes"))


def check_volume_kms_key(instance_type: str, volume_kms_key_id: str | None, *,
                         path: str = "ResourceConfig") -> list[str]:
    """SageMaker refuses VolumeKmsKeyId on instance types with local (NVMe) storage: those volumes
    are encrypted by a hardware module on the instance instead."""
    if not volume_kms_key_id or not has_local_instance_storage(instance_type):
        return []
    return [
        f"{path}.VolumeKmsKeyId = {volume_kms_key_id!r} cannot be used with {path}.InstanceType = "
        f"{instance_type!r}: it has local NVMe instance storage, which SageMaker encrypts with a hardware module, "
        "and SageMaker refuses a volume KMS key for it; drop the key or use an instance type without "
        "instance storage (ml.p2.*, ml.p3.*)" + _source(DOC_RESOURCE_CONFIG)
    ]


# --- hyperparameters --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Domain:
    kind: str  # "positive_int", "int_above_1", "unit_float", "choice", "image_shape", "epoch_list"
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        return {
            "positive_int": "a positive integer",
            "int_above_1": "an integer larger than 1",
            "unit_float": "a number in [0, 1]",
            "image_shape": "'num_channels,height,width', three positive integers such as '3,224,224'",
            "epoch_list": "epochs as positive integers separated by ',' such as '10,20'",
        }.get(self.kind) or "one of " + ", ".join(self.choices)


_POSITIVE = _Domain("positive_int")
_UNIT = _Domain("unit_float")
NUM_LAYERS_LARGE_IMAGES = ("18", "34", "50", "101", "152", "200")
NUM_LAYERS_SMALL_IMAGES = ("20", "32", "44", "56", "110")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nag")

# Every hyperparameter IC-Hyperparameter.html documents, with the values it gives for each.
HYPERPARAMETERS: Mapping[str, _Domain] = {
    "num_classes": _POSITIVE,
    "num_training_samples": _POSITIVE,
    "augmentation_type": _Domain("choice", ("crop", "crop_color", "crop_color_transform")),
    "beta_1": _UNIT,
    "beta_2": _UNIT,
    "checkpoint_frequency": _POSITIVE,
    "early_stopping": _Domain("choice", ("True", "False")),
    "early_stopping_min_epochs": _POSITIVE,
    "early_stopping_patience": _POSITIVE,
    "early_stopping_tolerance": _UNIT,
    "epochs": _POSITIVE,
    "eps": _UNIT,
    "gamma": _UNIT,
    "image_shape": _Domain("image_shape"),
    "kv_store": _Domain("choice", ("dist_sync", "dist_async")),
    "learning_rate": _UNIT,
    "lr_scheduler_factor": _UNIT,
    "lr_scheduler_step": _Domain("epoch_list"),
    "mini_batch_size": _POSITIVE,
    "momentum": _UNIT,
    "multi_label": _Domain("choice", ("0", "1")),
    "num_layers": _Domain("choice", NUM_LAYERS_LARGE_IMAGES + NUM_LAYERS_SMALL_IMAGES),
    "optimizer": _Domain("choice", OPTIMIZERS),
    "precision_dtype": _Domain("choice", ("float32", "float16")),
    "resize": _POSITIVE,
    "top_k": _Domain("int_above_1"),
    "use_pretrained_model": _Domain("choice", ("0", "1")),
    "use_weighted_loss": _Domain("choice", ("0", "1")),
    "weight_decay": _UNIT,
}
DEFAULT_MINI_BATCH_SIZE = 32  # IC-Hyperparameter.html: mini_batch_size default
DEFAULT_IMAGE_SHAPE = "3,224,224"  # IC-Hyperparameter.html: image_shape default
PRETRAINED_IMAGE_SIDE = 224  # "Pretrained models can use only a fixed 224 x 224 image size."
COMPUTED_HYPERPARAMETERS = ("num_classes", "num_training_samples")

_DIGITS = re.compile(r"^[0-9]+$")


def _positive_int(value: str) -> int | None:
    text = value.strip()
    return int(text) if _DIGITS.match(text) and int(text) > 0 else None


def _unit_float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


def parse_image_shape(value: str) -> tuple[int, int, int] | None:
    """'3,224,224' (spaces allowed) -> (3, 224, 224); None if it is not three positive integers."""
    parts = [_positive_int(part) for part in value.split(",")]
    if len(parts) != 3 or any(part is None for part in parts):
        return None
    channels, height, width = parts
    assert channels is not None and height is not None and width is not None
    return channels, height, width


def _value_ok(domain: _Domain, value: str) -> bool:
    if domain.kind == "positive_int":
        return _positive_int(value) is not None
    if domain.kind == "int_above_1":
        number = _positive_int(value)
        return number is not None and number > 1
    if domain.kind == "unit_float":
        return _unit_float(value) is not None
    if domain.kind == "image_shape":
        return parse_image_shape(value) is not None
    if domain.kind == "epoch_list":
        return all(_positive_int(part) is not None for part in value.split(","))
    return value in domain.choices


def check_hyperparameters(
    hyperparameters: Mapping[str, str],
    *,
    path: str = "HyperParameters",
    tuned: Collection[str] = (),
) -> list[str]:
    """Names and values of static hyperparameters against IC-Hyperparameter.html, plus the rules
    that tie them together (resize vs image_shape, pretrained model vs image size and depth).

    `tuned` names hyperparameters a tuning job sets: their static values are absent and the
    rules that need them are skipped (the ranges are checked by `check_parameter_range`).
    """
    problems: list[str] = []
    for name, value in hyperparameters.items():
        domain = HYPERPARAMETERS.get(name)
        if domain is None:
            problems.append(
                f"{path}.{name} is not a hyperparameter of the built-in image-classification algorithm; "
                f"the documented ones are {', '.join(sorted(HYPERPARAMETERS))}" + _source(DOC_HYPERPARAMETERS)
            )
        elif not isinstance(value, str) or not _value_ok(domain, value):
            problems.append(
                f"{path}.{name} = {value!r} is not allowed: use {domain.allowed()}" + _source(DOC_HYPERPARAMETERS)
            )
    if problems:
        return problems  # the rules below assume well-formed values
    problems += _check_resize(hyperparameters, path=path)
    problems += _check_pretrained(hyperparameters, path=path, tuned=tuned)
    problems += _check_checkpoint_frequency(hyperparameters, path=path)
    if hyperparameters.get("multi_label") == "1":
        problems.append(
            f"{path}.multi_label = '1' does not fit this workflow: Ground Truth's single-label image "
            "classification writes one class id per image, and multi-label training needs label arrays "
            "and a 'label-format' in the channel ContentType; set it to 0 or remove it"
            + _source(DOC_AUGMENTED_TRAINING)
        )
    return problems


def crop_size(hyperparameters: Mapping[str, str]) -> tuple[int, int] | None:
    """(height, width) the algorithm crops to: image_shape, or its documented default."""
    shape = parse_image_shape(hyperparameters.get("image_shape", DEFAULT_IMAGE_SHAPE))
    return (shape[1], shape[2]) if shape else None


def _check_resize(hyperparameters: Mapping[str, str], *, path: str) -> list[str]:
    # "For training, if any input image is smaller than this parameter [image_shape] in any
    # dimension, training fails." Ground Truth images have any size (the tutorial's are about
    # 300x200, smaller than 224 in height), and neither the config nor the manifest says how big
    # they are, so resize is required: it sets the shorter side before the crop.
    crop = crop_size(hyperparameters)
    assert crop is not None  # check_hyperparameters validated image_shape first
    height, width = crop
    resize = hyperparameters.get("resize")
    if resize is None:
        return [
            f"{path}.resize is not set: without it, any image smaller than image_shape "
            f"({height}x{width}) in either dimension fails the training job, and Ground Truth images can have "
            f"any size; set resize to at least {max(height, width)} (e.g. 256), the length the shorter side "
            "is scaled to before the crop" + _source(DOC_HYPERPARAMETERS)
        ]
    value = _positive_int(resize)
    assert value is not None
    if value < max(height, width):
        return [
            f"{path}.resize = {resize!r} is smaller than the crop image_shape asks for ({height}x{width}): "
            "resize scales an image's shorter side to this length before the crop, so it must be at least "
            f"{max(height, width)}, or training fails" + _source(DOC_HYPERPARAMETERS)
        ]
    return []


def _check_pretrained(hyperparameters: Mapping[str, str], *, path: str, tuned: Collection[str]) -> list[str]:
    if hyperparameters.get("use_pretrained_model") != "1":
        return []
    problems: list[str] = []
    crop = crop_size(hyperparameters)
    if crop != (PRETRAINED_IMAGE_SIDE, PRETRAINED_IMAGE_SIDE) and "image_shape" not in tuned:
        problems.append(
            f"{path}.image_shape = {hyperparameters.get('image_shape', DEFAULT_IMAGE_SHAPE)!r} does not fit "
            f"use_pretrained_model = 1: pretrained models can use only a fixed {PRETRAINED_IMAGE_SIDE} x "
            f"{PRETRAINED_IMAGE_SIDE} image size; use '3,{PRETRAINED_IMAGE_SIDE},{PRETRAINED_IMAGE_SIDE}'"
            + _source(DOC_HYPERPARAMETERS)
        )
    layers = hyperparameters.get("num_layers")
    if layers is not None and layers not in NUM_LAYERS_LARGE_IMAGES:
        problems.append(
            f"{path}.num_layers = {layers!r} does not fit use_pretrained_model = 1: for transfer learning "
            f"the number of layers can only be one of {', '.join(NUM_LAYERS_LARGE_IMAGES)}"
            + _source(DOC_HYPERPARAMETERS)
        )
    return problems


def _check_checkpoint_frequency(hyperparameters: Mapping[str, str], *, path: str) -> list[str]:
    frequency, epochs = hyperparameters.get("checkpoint_frequency"), hyperparameters.get("epochs", "30")
    if frequency is None or int(frequency) <= int(epochs):
        return []
    return [
        f"{path}.checkpoint_frequency = {frequency!r} must be no greater than epochs ({epochs})"
        + _source(DOC_HYPERPARAMETERS)
    ]


# --- tuning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TunableRange:
    type: str  # "continuous", "integer" or "categorical", as the config and settings name them
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()


# IC-tuning.html, "Tunable Image Classification Hyperparameters": type and recommended range.
TUNABLE_HYPERPARAMETERS: Mapping[str, TunableRange] = {
    "beta_1": TunableRange("continuous", 1e-6, 0.999),
    "beta_2": TunableRange("continuous", 1e-6, 0.999),
    "eps": TunableRange("continuous", 1e-8, 1.0),
    "gamma": TunableRange("continuous", 1e-8, 0.999),
    "learning_rate": TunableRange("continuous", 1e-6, 0.5),
    "mini_batch_size": TunableRange("integer", 8, 512),
    "momentum": TunableRange("continuous", 0.0, 0.999),
    "optimizer": TunableRange("categorical", values=OPTIMIZERS),
    "weight_decay": TunableRange("continuous", 0.0, 0.999),
}
TUNING_OBJECTIVE = {"Type": "Maximize", "MetricName": "validation:accuracy"}
_RANGE_LISTS = {
    "continuous": "ContinuousParameterRanges",
    "integer": "IntegerParameterRanges",
    "categorical": "CategoricalParameterRanges",
}


def _number(value: float | None) -> str:
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def check_parameter_range(name: str, configured: TunableRange, *, path: str) -> list[str]:
    """One tuning range against IC-tuning.html: a tunable hyperparameter, of its documented
    type, within its recommended range (or among its values)."""
    documented = TUNABLE_HYPERPARAMETERS.get(name)
    if documented is None:
        return [
            f"{path}: {name!r} is not a tunable hyperparameter of the built-in image-classification algorithm; "
            f"tune one of {', '.join(TUNABLE_HYPERPARAMETERS)}" + _source(DOC_TUNING)
        ]
    if configured.type != documented.type:
        return [
            f"{path}.type = {configured.type!r}: {name} is tuned with a range of type {documented.type!r}"
            + _source(DOC_TUNING)
        ]
    if documented.type == "categorical":
        unknown = [value for value in configured.values if value not in documented.values]
        if unknown:
            return [
                f"{path}.values = {list(configured.values)!r}: {', '.join(unknown)} not allowed; "
                f"{name} takes {', '.join(documented.values)}" + _source(DOC_TUNING)
            ]
        return []
    assert documented.min is not None and documented.max is not None
    low, high = configured.min, configured.max
    if low is None or high is None or low < documented.min or high > documented.max:
        return [
            f"{path}: min = {_number(low)}, max = {_number(high)} is outside the documented range of {name}, "
            f"{_number(documented.min)} to {_number(documented.max)}" + _source(DOC_TUNING)
        ]
    return []


def check_tuning_ranges(ranges: Mapping[str, TunableRange], *, path: str) -> list[str]:
    problems: list[str] = []
    for name, configured in ranges.items():
        problems += check_parameter_range(name, configured, path=f"{path}.{name}")
    return problems


def ranges_from_request(parameter_ranges: Mapping[str, Any]) -> dict[str, TunableRange]:
    """`ParameterRanges` of a tuning request as {name: TunableRange}."""
    ranges: dict[str, TunableRange] = {}
    for kind, key in _RANGE_LISTS.items():
        for entry in parameter_ranges.get(key) or ():
            if kind == "categorical":
                ranges[entry["Name"]] = TunableRange(kind, values=tuple(entry.get("Values") or ()))
            else:
                ranges[entry["Name"]] = TunableRange(kind, _float(entry.get("MinValue")), _float(entry.get("MaxValue")))
    return ranges


def _float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


# --- synth-time entry points ------------------------------------------------------------------


def check_training_config(*, instance_type: str | None, hyperparameters: Mapping[str, str], path: str) -> list[str]:
    """What the config can get wrong about training: instance family and static hyperparameters.
    `num_classes` and `num_training_samples` are computed at run time and not expected here;
    `instance_type` None skips the family check (the caller reported a malformed name)."""
    static = {k: v for k, v in hyperparameters.items() if k not in COMPUTED_HYPERPARAMETERS}
    problems = [] if instance_type is None else check_training_instance_type(instance_type,
                                                                              path=f"{path}.instance_type")
    return problems + check_hyperparameters(static, path=f"{path}.hyperparameters")


def check_tuning_config(ranges: Mapping[str, TunableRange], *, path: str) -> list[str]:
    """The configured tuning ranges (checked whether or not tuning is enabled: enabling it later
    must not be the moment they fail)."""
    return check_tuning_ranges(ranges, path=path)


# --- labels -----------------------------------------------------------------------------------


def check_label_ids(label_ids: Iterable[int], *, num_classes: int, path: str = "labels") -> list[str]:
    """num_classes is the number of label categories, and the labels are the class ids
    0..num_classes-1 (as in the image-format .lst files: "numbered successively ... start with 0")."""
    outside = sorted({i for i in label_ids if not (isinstance(i, int) and 0 <= i < num_classes)})
    if not outside:
        return []
    return [
        f"{path}: class ids {outside} are outside 0..{num_classes - 1}; num_classes = {num_classes} is the number "
        "of label categories and every label must be a class id below it" + _source(DOC_HYPERPARAMETERS)
    ]


# --- mini_batch_size against the training split -----------------------------------------------


@dataclass(frozen=True)
class Adjustment:
    """A change made to a computed request so that the algorithm accepts it."""

    setting: str
    configured: str
    applied: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def mini_batch_size_limit(train_count: int, instance_count: int) -> int:
    """The largest mini_batch_size the training split supports.

    The algorithm fails with "The number of input images must be bigger or equal to the
    mini_batch_size". In multi-machine (dist_sync) training "the actual batch size is
    mini_batch_size*number of machines", so the split must hold one batch per instance.
    """
    return train_count // max(instance_count, 1)


def _batch_reason(train_count: int, instance_count: int, limit: int) -> str:
    per = f" over {instance_count} instances" if instance_count > 1 else ""
    return (
        f"the train split has {train_count} images{per}; the algorithm fails when mini_batch_size exceeds the "
        f"images it gets (\"The number of input images must be bigger or equal to the mini_batch_size\"), so at "
        f"most {limit} fits"
    )


def clamp_training_request(request: Mapping[str, Any], *, train_count: int) -> tuple[dict[str, Any], list[Adjustment]]:
    """A copy of a CreateTrainingJob request whose mini_batch_size fits the training split."""
    clamped = copy.deepcopy(dict(request))
    instance_count = int(clamped.get("ResourceConfig", {}).get("InstanceCount", 1))
    adjustment = _clamp_static(clamped.setdefault("HyperParameters", {}), "HyperParameters",
                               train_count=train_count, instance_count=instance_count)
    return clamped, [adjustment] if adjustment else []


def clamp_tuning_request(request: Mapping[str, Any], *, train_count: int) -> tuple[dict[str, Any], list[Adjustment]]:
    """A copy of a CreateHyperParameterTuningJob request whose mini_batch_size (static value or
    range) fits the training split: the range's max comes down to what fits; a range whose min no
    longer fits (or that would hold a single value) becomes the static value that fits."""
    clamped = copy.deepcopy(dict(request))
    definition = clamped.setdefault("TrainingJobDefinition", {})
    instance_count = int(definition.get("ResourceConfig", {}).get("InstanceCount", 1))
    limit = mini_batch_size_limit(train_count, instance_count)
    static = definition.setdefault("StaticHyperParameters", {})
    ranges = clamped.get("HyperParameterTuningJobConfig", {}).get("ParameterRanges", {})
    integer_ranges = ranges.get("IntegerParameterRanges") or []
    tuned = next((entry for entry in integer_ranges if entry.get("Name") == "mini_batch_size"), None)
    if tuned is None:
        adjustment = _clamp_static(static, "TrainingJobDefinition.StaticHyperParameters",
                                   train_count=train_count, instance_count=instance_count)
        return clamped, [adjustment] if adjustment else []
    low, high = _positive_int(str(tuned.get("MinValue", ""))), _positive_int(str(tuned.get("MaxValue", "")))
    if low is None or high is None or limit < 1 or high <= limit:
        return clamped, []  # fits, or cannot be fixed here: check_tuning_request says why
    setting = "HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[mini_batch_size]"
    configured = f"{low}..{high}"
    reason = _batch_reason(train_count, instance_count, limit)
    if low < limit:
        tuned["MaxValue"] = str(limit)
        return clamped, [Adjustment(setting, configured, f"{low}..{limit}", reason)]
    integer_ranges.remove(tuned)
    static["mini_batch_size"] = str(limit)
    return clamped, [Adjustment(setting, configured, f"not tuned; static mini_batch_size = {limit}",
                                reason + f"; the range's min ({low}) leaves nothing to tune")]


def _clamp_static(hyperparameters: dict[str, str], where: str, *, train_count: int,
                  instance_count: int) -> Adjustment | None:
    limit = mini_batch_size_limit(train_count, instance_count)
    configured = hyperparameters.get("mini_batch_size")
    # Unset means the algorithm's default of 32, which fails just the same.
    size = DEFAULT_MINI_BATCH_SIZE if configured is None else _positive_int(configured)
    if size is None or limit < 1 or size <= limit:
        return None  # fits, or cannot be fixed here: the checks say why
    hyperparameters["mini_batch_size"] = str(limit)
    shown = configured if configured is not None else f"{DEFAULT_MINI_BATCH_SIZE} (algorithm default)"
    return Adjustment(f"{where}.mini_batch_size", shown, str(limit),
                      _batch_reason(train_count, instance_count, limit))


def _check_batch_fits(size_text: str | None, where: str, *, train_count: int, instance_count: int) -> list[str]:
    size = DEFAULT_MINI_BATCH_SIZE if size_text is None else _positive_int(size_text)
    limit = mini_batch_size_limit(train_count, instance_count)
    if size is None or size <= limit:
        return []
    shown = size_text if size_text is not None else f"unset (default {DEFAULT_MINI_BATCH_SIZE})"
    return [
        f"{where} = {shown!s}: {_batch_reason(train_count, instance_count, limit)}"
        + ("" if limit else "; label more images or use fewer instances")
        + _source(DOC_HYPERPARAMETERS)
    ]


# --- computed requests ------------------------------------------------------------------------


def check_training_request(
    request: Mapping[str, Any],
    *,
    train_count: int,
    num_categories: int | None = None,
    label_ids: Iterable[int] | None = None,
) -> list[str]:
    """A CreateTrainingJob request for the built-in algorithm on augmented manifests."""
    problems: list[str] = []
    name = request.get("TrainingJobName", "")
    if not is_valid_name(str(name), max_length=TRAINING_JOB_NAME_MAX):
        problems.append(_name_problem("TrainingJobName", name, TRAINING_JOB_NAME_MAX, DOC_CREATE_TRAINING_JOB))
    problems += _check_definition(request, "", train_count=train_count, num_categories=num_categories,
                                  label_ids=label_ids, hyperparameters_key="HyperParameters", tuned=())
    return problems


def check_tuning_request(
    request: Mapping[str, Any],
    *,
    train_count: int,
    num_categories: int | None = None,
    label_ids: Iterable[int] | None = None,
) -> list[str]:
    """A CreateHyperParameterTuningJob request for the built-in algorithm on augmented manifests."""
    problems: list[str] = []
    name = request.get("HyperParameterTuningJobName", "")
    if not is_valid_name(str(name), max_length=TUNING_JOB_NAME_MAX):
        problems.append(_name_problem("HyperParameterTuningJobName", name, TUNING_JOB_NAME_MAX,
                                      DOC_CREATE_TUNING_JOB))
    config = request.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective")
    if objective != TUNING_OBJECTIVE:
        problems.append(
            f"HyperParameterTuningJobConfig.HyperParameterTuningJobObjective = {objective!r}: the algorithm "
            f"reports one metric to tune on, {TUNING_OBJECTIVE['MetricName']} ({TUNING_OBJECTIVE['Type']})"
            + _source(DOC_TUNING)
        )
    ranges = ranges_from_request(config.get("ParameterRanges") or {})
    if not ranges:
        problems.append(
            "HyperParameterTuningJobConfig.ParameterRanges is empty: a tuning job needs at least one "
            "hyperparameter range" + _source(DOC_CREATE_TUNING_JOB)
        )
    problems += check_tuning_ranges(ranges, path="HyperParameterTuningJobConfig.ParameterRanges")
    definition = request.get("TrainingJobDefinition") or {}
    instance_count = int((definition.get("ResourceConfig") or {}).get("InstanceCount", 1))
    batch = ranges.get("mini_batch_size")
    if batch is not None and batch.max is not None:
        problems += _check_batch_fits(
            _number(batch.max),
            "HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[mini_batch_size].MaxValue",
            train_count=train_count, instance_count=instance_count)
    problems += _check_definition(definition, "TrainingJobDefinition.", train_count=train_count,
                                  num_categories=num_categories, label_ids=label_ids,
                                  hyperparameters_key="StaticHyperParameters", tuned=tuple(ranges))
    return problems


def _name_problem(key: str, name: Any, limit: int, doc: str) -> str:
    return (
        f"{key} = {name!r} is not a valid name: 1-{limit} letters, digits and inner hyphens "
        "(pattern [a-zA-Z0-9](-*[a-zA-Z0-9])*)" + _source(doc)
    )


def _check_definition(
    definition: Mapping[str, Any],
    prefix: str,
    *,
    train_count: int,
    num_categories: int | None,
    label_ids: Iterable[int] | None,
    hyperparameters_key: str,
    tuned: tuple[str, ...],
) -> list[str]:
    """What a training job and a tuning job's training definition share."""
    problems: list[str] = []
    resources = definition.get("ResourceConfig") or {}
    instance_type = str(resources.get("InstanceType", ""))
    instance_count = int(resources.get("InstanceCount", 1))
    problems += check_training_instance_type(instance_type, path=f"{prefix}ResourceConfig.InstanceType")
    problems += check_volume_kms_key(instance_type, resources.get("VolumeKmsKeyId"),
                                     path=f"{prefix}ResourceConfig")

    where = f"{prefix}{hyperparameters_key}"
    hyperparameters = dict(definition.get(hyperparameters_key) or {})
    problems += check_hyperparameters(hyperparameters, path=where, tuned=tuned)
    for computed in COMPUTED_HYPERPARAMETERS:
        if computed not in hyperparameters:
            problems.append(f"{where}.{computed} is missing: the algorithm requires it" + _source(DOC_HYPERPARAMETERS))
    samples = hyperparameters.get("num_training_samples")
    if samples is not None and samples != str(train_count):
        problems.append(
            f"{where}.num_training_samples = {samples!r} must be the number of training examples, {train_count} "
            "(a mismatch leaves lr_scheduler_step undefined)" + _source(DOC_HYPERPARAMETERS)
        )
    classes = hyperparameters.get("num_classes")
    if num_categories is not None and classes is not None and classes != str(num_categories):
        problems.append(
            f"{where}.num_classes = {classes!r} must be the number of label categories, {num_categories}"
            + _source(DOC_HYPERPARAMETERS)
        )
    if label_ids is not None and _positive_int(str(classes)) is not None:
        problems += check_label_ids(label_ids, num_classes=int(str(classes)), path=f"{where}.num_classes")
    if "mini_batch_size" not in tuned:
        problems += _check_batch_fits(hyperparameters.get("mini_batch_size"), f"{where}.mini_batch_size",
                                      train_count=train_count, instance_count=instance_count)

    algorithm = definition.get("AlgorithmSpecification") or {}
    if algorithm.get("TrainingInputMode") != "Pipe":
        problems.append(
            f"{prefix}AlgorithmSpecification.TrainingInputMode = {algorithm.get('TrainingInputMode')!r}: augmented "
            "manifests are read in Pipe mode only" + _source(DOC_AUGMENTED_MANIFEST)
        )
    problems += check_channels(definition.get("InputDataConfig") or [], path=f"{prefix}InputDataConfig")
    problems += check_managed_spot(definition, path=prefix)
    return problems


def check_channels(channels: list[Mapping[str, Any]], *, path: str = "InputDataConfig") -> list[str]:
    """train and validation channels of augmented manifests as the algorithm reads them."""
    problems: list[str] = []
    names = [channel.get("ChannelName") for channel in channels]
    if sorted(str(n) for n in names) != ["train", "validation"]:
        problems.append(
            f"{path} has channels {names!r}: the algorithm needs exactly a 'train' and a 'validation' channel"
            + _source(DOC_AUGMENTED_TRAINING)
        )
    expected = {
        "ContentType": "application/x-recordio",
        "RecordWrapperType": "RecordIO",
        "InputMode": "Pipe",
    }
    for channel in channels:
        where = f"{path}[{channel.get('ChannelName')}]"
        for key, value in expected.items():
            if channel.get(key) != value:
                problems.append(
                    f"{where}.{key} = {channel.get(key)!r}: an augmented manifest for image classification "
                    f"needs {value!r}" + _source(DOC_AUGMENTED_TRAINING)
                )
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        if source.get("S3DataType") != "AugmentedManifestFile":
            problems.append(f"{where}.DataSource.S3DataSource.S3DataType = {source.get('S3DataType')!r}: "
                            "the channels are augmented manifests ('AugmentedManifestFile')"
                            + _source(DOC_AUGMENTED_MANIFEST))
        if source.get("S3DataDistributionType") != "FullyReplicated":
            problems.append(f"{where}.DataSource.S3DataSource.S3DataDistributionType = "
                            f"{source.get('S3DataDistributionType')!r}: RecordIO in Pipe mode must be "
                            "'FullyReplicated'" + _source(DOC_AUGMENTED_TRAINING))
        attributes = list(source.get("AttributeNames") or [])
        if len(attributes) != 2 or attributes[0] != "source-ref":
            problems.append(
                f"{where}.DataSource.S3DataSource.AttributeNames = {attributes!r}: the algorithm takes the image "
                "first, then the label: ['source-ref', '<label attribute>']" + _source(DOC_AUGMENTED_TRAINING)
            )
    return problems


def check_managed_spot(definition: Mapping[str, Any], *, path: str = "") -> list[str]:
    """With managed spot training: MaxWaitTimeInSeconds >= MaxRuntimeInSeconds, and a
    CheckpointConfig (without checkpoints an interruption restarts training from scratch, and
    SageMaker caps MaxWaitTimeInSeconds at 3600 for built-in algorithms that do not checkpoint)."""
    if definition.get("EnableManagedSpotTraining") is not True:
        return []
    problems: list[str] = []
    stopping = definition.get("StoppingCondition") or {}
    runtime, wait = stopping.get("MaxRuntimeInSeconds"), stopping.get("MaxWaitTimeInSeconds")
    if not isinstance(wait, int) or not isinstance(runtime, int) or wait < runtime:
        problems.append(
            f"{path}StoppingCondition.MaxWaitTimeInSeconds = {wait!r} must be set and >= MaxRuntimeInSeconds = "
            f"{runtime!r} with managed spot training" + _source(DOC_STOPPING_CONDITION)
        )
    if not (definition.get("CheckpointConfig") or {}).get("S3Uri"):
        problems.append(
            f"{path}CheckpointConfig is missing with EnableManagedSpotTraining = True: without checkpoints a spot "
            "interruption restarts training from scratch and SageMaker allows at most 3600 s of "
            "MaxWaitTimeInSeconds" + _source(DOC_CHECKPOINTS)
        )
    return problems
