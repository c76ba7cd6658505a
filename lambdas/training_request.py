"""Plan the training side: settings, S3 locations, and the CreateTrainingJob /
CreateHyperParameterTuningJob requests (boto3 keyword arguments). Pure: no AWS calls.

The settings arrive as one JSON environment variable (`TRAINING_SETTINGS`) written by the CDK
stack (`stacks/lambda_settings.py`); `TrainingSettings` in `settings.py` is the contract between the
two (its keys, their rules and the one reader), imported here under its old names. What depends on
the algorithm (channels and how they are read, computed hyperparameters, tuning objective, the
algorithm's rules) is the task type's descriptor (`task_types.py`), looked up by `task_type`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import job_rules
from .naming import TRAINING_JOB_NAME_MAX, TUNING_JOB_NAME_MAX, derive_name
from .settings import LABELING_JOB_TAG_KEY, TRAINING_SETTINGS_VAR, ParameterRange, TrainingSettings, number_text
from .settings import SettingsError as SettingsError  # re-exported: callers catch tr.SettingsError

# The settings (TrainingSettings, its rules and reader) are the contract in settings.py.
SETTINGS_VARIABLE = TRAINING_SETTINGS_VAR

# The files StartTraining writes for the split (manifests.split_manifest), read by the
# algorithm's first (training) and second (validation) channel. How the channels read them is
# the algorithm's (task_types.Algorithm): a wrong layout fails with opaque errors ("Record IO
# header does not start with the magic number", "Got empty batch from pipe").
SPLIT_MANIFESTS = ("train.manifest", "validation.manifest")

TUNING_STRATEGY = "Bayesian"


@dataclass(frozen=True)
class LabelingJob:
    """What the training side needs to know about a completed labeling job."""

    name: str
    label_attribute: str
    categories: tuple[str, ...]  # index order = class index
    output_manifest_uri: str


# --- names and locations ---------------------------------------------------------------------


def training_job_name(labeling_job_name: str) -> str:
    # Same name as the labeling job when it fits: one name to search for across the console.
    return derive_name(labeling_job_name, max_length=TRAINING_JOB_NAME_MAX)


def tuning_job_name(labeling_job_name: str) -> str:
    return derive_name(labeling_job_name, max_length=TUNING_JOB_NAME_MAX)


def s3_key(settings: TrainingSettings, *parts: str) -> str:
    return "/".join(part.strip("/") for part in (settings.prefix, *parts) if part.strip("/"))


def s3_uri(settings: TrainingSettings, *parts: str) -> str:
    return f"s3://{settings.bucket}/{s3_key(settings, *parts)}"


def manifest_key(settings: TrainingSettings, labeling_job_name: str, file_name: str) -> str:
    """Key of `train.manifest`, `validation.manifest` or `summary.json` for a labeling job."""
    return s3_key(settings, "training", labeling_job_name, file_name)


def channel_uri(settings: TrainingSettings, labeling_job_name: str, channel: str) -> str:
    """The split manifest a channel of the task type's algorithm reads (first: train, second: validation)."""
    channels = settings.task.algorithm.channels
    if channel not in channels:
        raise ValueError(f"{channel!r} is not a channel of {settings.task.algorithm.title} ({', '.join(channels)})")
    split_file = SPLIT_MANIFESTS[channels.index(channel)]
    return f"s3://{settings.bucket}/{manifest_key(settings, labeling_job_name, split_file)}"


# --- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRequestPlan:
    """The request StartTraining would send, what it changed to fit the data, and what is wrong."""

    operation: str  # "CreateTrainingJob" or "CreateHyperParameterTuningJob"
    request: dict[str, Any]
    adjustments: tuple[job_rules.Adjustment, ...]
    problems: tuple[str, ...]  # non-empty: StartTraining refuses to create the job

    def adjustments_json(self) -> list[dict[str, str]]:
        return [adjustment.to_json() for adjustment in self.adjustments]


def plan_job_request(
    settings: TrainingSettings,
    job: LabelingJob,
    *,
    train_count: int,
    label_ids: Iterable[int] | None = None,
) -> JobRequestPlan:
    """The training (or, with tuning enabled, tuning) request for `job`, with mini_batch_size
    clamped to the training split, checked against the algorithm's rules (task_types.AlgorithmRules)."""
    rules = settings.task.algorithm.rules
    if settings.tuning.enabled:
        request, adjustments = rules.clamp_tuning_request(
            _tuning_job_request(settings, job, train_count=train_count), train_count=train_count
        )
        problems = rules.check_tuning_request(
            request, train_count=train_count, num_categories=len(job.categories), label_ids=label_ids
        )
        operation = "CreateHyperParameterTuningJob"
    else:
        request, adjustments = rules.clamp_training_request(
            _training_job_request(settings, job, train_count=train_count), train_count=train_count
        )
        problems = rules.check_training_request(
            request, train_count=train_count, num_categories=len(job.categories), label_ids=label_ids
        )
        operation = "CreateTrainingJob"
    return JobRequestPlan(operation, request, tuple(adjustments), tuple(problems))


def build_training_job_request(
    settings: TrainingSettings, job: LabelingJob, *, train_count: int
) -> dict[str, Any]:
    """`CreateTrainingJob` arguments for the train/validation manifests of `job`, with
    mini_batch_size clamped to the training split (`plan_job_request` also says what changed)."""
    request, _ = settings.task.algorithm.rules.clamp_training_request(
        _training_job_request(settings, job, train_count=train_count), train_count=train_count
    )
    return request


def build_tuning_job_request(
    settings: TrainingSettings, job: LabelingJob, *, train_count: int
) -> dict[str, Any]:
    """`CreateHyperParameterTuningJob` arguments for the train/validation manifests of `job`,
    with mini_batch_size clamped to the training split."""
    request, _ = settings.task.algorithm.rules.clamp_tuning_request(
        _tuning_job_request(settings, job, train_count=train_count), train_count=train_count
    )
    return request


def _training_job_request(
    settings: TrainingSettings, job: LabelingJob, *, train_count: int
) -> dict[str, Any]:
    name = training_job_name(job.name)
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": _algorithm_specification(settings),
        "RoleArn": settings.role_arn,
        "HyperParameters": {
            **settings.hyperparameters,
            **_computed_hyperparameters(settings, job, train_count),
        },
        **_job_definition(settings, job),
        "Tags": _tags(settings, job),
    }
    if settings.spot:
        request["CheckpointConfig"] = {"S3Uri": s3_uri(settings, "checkpoints", name) + "/"}
    return request


def _tuning_job_request(
    settings: TrainingSettings, job: LabelingJob, *, train_count: int
) -> dict[str, Any]:
    name = tuning_job_name(job.name)
    tuning = settings.tuning
    tuned = {parameter.name for parameter in tuning.ranges}
    static = {key: value for key, value in settings.hyperparameters.items() if key not in tuned}
    definition: dict[str, Any] = {
        "StaticHyperParameters": {**static, **_computed_hyperparameters(settings, job, train_count)},
        "AlgorithmSpecification": _algorithm_specification(settings),
        "RoleArn": settings.role_arn,
        **_job_definition(settings, job),
    }
    if settings.spot:
        definition["CheckpointConfig"] = {"S3Uri": s3_uri(settings, "checkpoints", name) + "/"}
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": TUNING_STRATEGY,
            "HyperParameterTuningJobObjective": settings.task.algorithm.tuning_objective.to_request(),
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": tuning.max_jobs,
                "MaxParallelTrainingJobs": tuning.max_parallel_jobs,
            },
            "ParameterRanges": _parameter_ranges(tuning.ranges),
            "TrainingJobEarlyStoppingType": tuning.early_stopping,
        },
        "TrainingJobDefinition": definition,
        "Tags": _tags(settings, job),
    }


def skip_reason(settings: TrainingSettings, summary: Mapping[str, Any]) -> str | None:
    """Why training should not start on this split, or None. Uses `split_manifest`'s summary."""
    totals = summary["totals"]
    problems: list[str] = []
    if totals["kept"] < settings.min_labeled_objects:
        dropped = ", ".join(f"{k} {v}" for k, v in summary["dropped"].items() if v) or "none"
        problems.append(
            f"only {totals['kept']} of {totals['input_lines']} manifest lines are usable labeled "
            f"objects (dropped: {dropped}); min_labeled_objects is {settings.min_labeled_objects}"
        )
    present = [entry["label"] for entry in summary["classes"] if entry["train"]]
    if len(present) < 2:
        problems.append(
            f"the labeled objects cover {len(present)} class(es) ({', '.join(present) or 'none'}); "
            "a classifier needs examples of at least 2"
        )
    else:
        # The split gives validation one example of every class with 2 or more (see
        # manifests.validation_count). Fewer than 2 classes there and validation accuracy cannot
        # show whether the model tells classes apart (an empty channel also fails the job late).
        validated = [entry["label"] for entry in summary["classes"] if entry["validation"]]
        if len(validated) < 2:
            single = [entry["label"] for entry in summary["classes"] if entry["train"] and not entry["validation"]]
            noun = settings.task.ground_truth.object_noun
            problems.append(
                f"only {len(validated)} class(es) ({', '.join(validated) or 'none'}) have the 2 labeled objects "
                "needed to put one in training and one in validation, and validation on fewer than 2 classes "
                f"cannot show whether the model tells classes apart; label at least 2 {noun}s of each of at least "
                f"2 classes (classes with a single {noun}: {', '.join(single) or 'none'})"
            )
    return "; ".join(problems) or None


def _computed_hyperparameters(settings: TrainingSettings, job: LabelingJob, train_count: int) -> dict[str, str]:
    return settings.task.algorithm.computed_values(class_count=len(job.categories), training_sample_count=train_count)


def _algorithm_specification(settings: TrainingSettings) -> dict[str, str]:
    return {"TrainingImage": settings.image_uri, "TrainingInputMode": settings.task.algorithm.input_mode}


def _job_definition(settings: TrainingSettings, job: LabelingJob) -> dict[str, Any]:
    """The parts a training job and a tuning job's training definition share."""
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if settings.spot:
        stopping["MaxWaitTimeInSeconds"] = settings.max_wait_seconds
    output: dict[str, str] = {"S3OutputPath": s3_uri(settings, "models") + "/"}
    resources: dict[str, Any] = {
        "InstanceType": settings.instance_type,
        "InstanceCount": settings.instance_count,
        "VolumeSizeInGB": settings.volume_gb,
    }
    if settings.kms_key_arn:
        output["KmsKeyId"] = settings.kms_key_arn
        resources.update(volume_encryption(settings.instance_type, settings.kms_key_arn))
    return {
        "InputDataConfig": [_channel(settings, job, channel) for channel in settings.task.algorithm.channels],
        "OutputDataConfig": output,
        "ResourceConfig": resources,
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": settings.spot,
    }


def volume_encryption(instance_type: str, kms_key_arn: str) -> dict[str, str]:
    """`ResourceConfig.VolumeKmsKeyId`, unless the instance type has local NVMe storage: SageMaker
    refuses a volume key there (its storage is encrypted by a hardware module on the instance;
    API_ResourceConfig), so the key is left out rather than failing the job."""
    if job_rules.has_local_instance_storage(instance_type):
        return {}
    return {"VolumeKmsKeyId": kms_key_arn}


def _channel(settings: TrainingSettings, job: LabelingJob, channel: str) -> dict[str, Any]:
    algorithm = settings.task.algorithm
    return {
        "ChannelName": channel,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": algorithm.s3_data_type,
                "S3Uri": channel_uri(settings, job.name, channel),
                "S3DataDistributionType": algorithm.s3_data_distribution_type,
                # Order matters: the algorithm reads the attributes in this order.
                "AttributeNames": algorithm.attribute_names(job.label_attribute),
            }
        },
        "ContentType": algorithm.content_type,
        "RecordWrapperType": algorithm.record_wrapper,
        "InputMode": algorithm.input_mode,
    }


def _parameter_ranges(ranges: tuple[ParameterRange, ...]) -> dict[str, list[dict[str, Any]]]:
    continuous, integer, categorical = [], [], []
    for parameter in ranges:
        if parameter.type == "categorical":
            categorical.append({"Name": parameter.name, "Values": list(parameter.values)})
            continue
        low, high = parameter.min, parameter.max
        if parameter.type == "integer" and low is not None and high is not None:
            # The config writes whole-number bounds that may be floats (8.0); an integer range gets "8".
            low, high = int(low), int(high)
        entry = {
            "Name": parameter.name,
            "MinValue": number_text(low),
            "MaxValue": number_text(high),
            "ScalingType": parameter.scaling,
        }
        (continuous if parameter.type == "continuous" else integer).append(entry)
    return {
        "ContinuousParameterRanges": continuous,
        "IntegerParameterRanges": integer,
        "CategoricalParameterRanges": categorical,
    }


def _tags(settings: TrainingSettings, job: LabelingJob) -> list[dict[str, str]]:
    tags = {**settings.tags, LABELING_JOB_TAG_KEY: job.name}
    return [{"Key": key, "Value": tags[key]} for key in sorted(tags)]
