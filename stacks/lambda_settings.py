"""The settings each Lambda receives (one JSON environment variable each), built from config.

The contract (keys, rules, the reader, `to_json`) is `lambdas/settings.py`: this module only fills
its dataclasses from the config and a `Deployment`. Building never validates: in a stack the values
may be CloudFormation tokens (resolved at deploy time), so the rules run where the settings are
read (`from_json`), by the Lambdas and by the operator CLI's dry runs (literal values), which parse
exactly what the deployed Lambda gets. The config (`stacks/config.py`) checks the same rules at
synth, naming the cdk.json key; tests/unit/test_settings_contract.py checks that every config it
accepts makes settings every Lambda accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdas.settings import (
    EVALUATION_SETTINGS_VAR,
    LABELING_SETTINGS_VAR,
    MODEL_SETTINGS_VAR,
    TRAINING_SETTINGS_VAR,
    WORKFLOW_ENV_TAG_KEY,
    AutoLabelingSettings,
    DeploymentSettings,
    EvaluationSettings,
    EvaluationStart,
    LabelingSettings,
    ModelSettings,
    ParameterRange,
    PortalUrlSettings,
    TrainingSettings,
    TuningSettings,
)
from stacks.config import WorkflowConfig

__all__ = [
    "EVALUATION_SETTINGS_VAR", "LABELING_SETTINGS_VAR", "MAX_ENVIRONMENT_BYTES", "MODEL_SETTINGS_VAR",
    "TOKEN_ALLOWANCE_BYTES", "TRAINING_SETTINGS_VAR", "Deployment", "build_deployment_settings",
    "build_evaluation_settings", "build_labeling_settings", "build_model_settings", "build_portal_url_settings",
    "build_training_settings", "evaluation_settings", "labeling_settings", "model_settings", "settings_environment",
    "training_settings",
]

# "The total size of the set [of environment variables] does not exceed 4 KB" (Lambda quotas:
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_ENVIRONMENT_BYTES = 4096
# Tokens resolve at deploy time to ARNs and names longer than their placeholders: the literal
# part must leave this much room for them.
TOKEN_ALLOWANCE_BYTES = 512

Settings = LabelingSettings | TrainingSettings | ModelSettings | DeploymentSettings | EvaluationSettings


@dataclass(frozen=True)
class Deployment:
    """Values only known once deployed (tokens in a stack, literals in a dry run)."""

    account: str
    region: str
    bucket: str
    role_arn: str


def build_labeling_settings(config: WorkflowConfig, deployment: Deployment, *, workteam_arn: str,
                            pre_lambda_arn: str, acs_lambda_arn: str) -> LabelingSettings:
    """StartLabeling's LABELING_SETTINGS."""
    labeling, workforce = config.labeling, config.workforce
    return LabelingSettings(
        **_common(config, deployment),
        bucket=deployment.bucket,
        prefix=config.prefix,
        label_attribute=labeling.label_attribute,
        labels=tuple(labeling.labels),
        task_title=labeling.task_title,
        task_description=labeling.task_description,
        task_keywords=tuple(labeling.task_keywords),
        short_instructions=labeling.short_instructions,
        full_instructions=labeling.full_instructions,
        workforce=workforce.type,  # written as the kind's string; the Lambda looks its policy up again
        workteam_arn=workteam_arn,
        pre_lambda_arn=pre_lambda_arn,
        acs_lambda_arn=acs_lambda_arn,
        workers_per_object=workforce.workers_per_object,
        price_usd=str(workforce.price_usd) if workforce.price_usd is not None else None,
        free_of_adult_content=workforce.free_of_adult_content,
        task_time_limit_seconds=labeling.task_time_limit_seconds,
        task_availability_seconds=labeling.task_availability_seconds,
        max_concurrent_tasks=labeling.max_concurrent_tasks,
        max_objects=labeling.max_objects,
        # SSE-KMS data bucket: Ground Truth encrypts its output with this key (OutputConfig.KmsKeyId).
        kms_key_arn=config.bucket.kms_key_arn,
        auto_labeling=AutoLabelingSettings(
            enabled=labeling.auto_labeling.enabled,
            initial_model_arn=labeling.auto_labeling.initial_model_arn,
            volume_kms_key_arn=labeling.auto_labeling.volume_kms_key_arn,
        ),
    )


def build_training_settings(config: WorkflowConfig, deployment: Deployment, *, image_uri: str,
                            topic_arn: str) -> TrainingSettings:
    """StartTraining's TRAINING_SETTINGS."""
    training, tuning = config.training, config.tuning
    return TrainingSettings(
        **_common(config, deployment),
        bucket=deployment.bucket,
        prefix=config.prefix,
        image_uri=image_uri,
        instance_type=training.instance_type,
        instance_count=training.instance_count,
        volume_gb=training.volume_size_gb,
        max_runtime_seconds=training.max_runtime_seconds,
        spot=training.spot,
        max_wait_seconds=training.max_wait_seconds,
        validation_fraction=training.validation_fraction,
        min_labeled_objects=training.min_labeled_objects,
        hyperparameters=dict(training.hyperparameters),
        tuning=TuningSettings(
            enabled=tuning.enabled,
            max_jobs=tuning.max_jobs,
            max_parallel_jobs=tuning.max_parallel_jobs,
            early_stopping=tuning.early_stopping,
            # In the config's order; the bounds as the config holds them (a categorical range has none).
            ranges=tuple(ParameterRange(name=name, type=r.type, min=r.min, max=r.max, scaling=r.scaling,
                                        values=tuple(r.values)) for name, r in tuning.ranges.items()),
        ),
        topic_arn=topic_arn,
        # SSE-KMS data bucket: training encrypts its output (and, where allowed, its volume) with it.
        kms_key_arn=config.bucket.kms_key_arn,
        exclude_machine_labels_below=training.exclude_machine_labels_below,
    )


def build_model_settings(config: WorkflowConfig, deployment: Deployment, *, image_uri: str, topic_arn: str,
                         package_group_name: str | None) -> ModelSettings:
    """RegisterModel's MODEL_SETTINGS."""
    return ModelSettings(
        **_common(config, deployment),
        image_uri=image_uri,
        register_package=config.model.register_package,
        package_group_name=package_group_name,
        topic_arn=topic_arn,
        evaluation=_evaluation_start(config, deployment),
    )


def _evaluation_start(config: WorkflowConfig, deployment: Deployment) -> EvaluationStart | None:
    """MODEL_SETTINGS.evaluation: null when evaluation.enabled is false (RegisterModel then registers the package)."""
    if not config.evaluation.enabled:
        return None
    return EvaluationStart(bucket=deployment.bucket, prefix=config.prefix,
                           instance_type=config.evaluation.instance_type, kms_key_arn=config.bucket.kms_key_arn)


def build_evaluation_settings(config: WorkflowConfig, deployment: Deployment, *, topic_arn: str,
                              package_group_name: str | None) -> EvaluationSettings:
    """The Evaluation function's EVALUATION_SETTINGS (stacks/evaluation.py; only with evaluation.enabled)."""
    return EvaluationSettings(
        **_common(config, deployment),
        bucket=deployment.bucket,
        prefix=config.prefix,
        register_package=config.model.register_package,
        package_group_name=package_group_name,
        accuracy_floor=config.evaluation.accuracy_floor,
        topic_arn=topic_arn,
    )


def evaluation_settings(config: WorkflowConfig, deployment: Deployment, *, topic_arn: str,
                        package_group_name: str | None) -> dict[str, Any]:
    return build_evaluation_settings(config, deployment, topic_arn=topic_arn,
                                     package_group_name=package_group_name).to_mapping()


def _common(config: WorkflowConfig, deployment: Deployment) -> dict[str, Any]:
    return {
        "region": deployment.region,
        "account": deployment.account,
        "job_prefix": config.labeling.job_prefix,
        "role_arn": deployment.role_arn,
        "tags": {**config.tags, WORKFLOW_ENV_TAG_KEY: config.env_name},
        # The task type's name; each Lambda looks its descriptor up (lambdas/task_types.py).
        "task_type": config.task_type,
    }


def settings_environment(settings: Settings) -> dict[str, str]:
    """The function's environment: {<its settings variable>: settings.to_json()}.

    ValueError when the literal part leaves less than TOKEN_ALLOWANCE_BYTES of Lambda's 4 KB for the
    tokens to resolve into."""
    text = settings.to_json()
    if len(text.encode()) > MAX_ENVIRONMENT_BYTES - TOKEN_ALLOWANCE_BYTES:
        raise ValueError(f"{settings.VARIABLE} is too large for Lambda's 4 KB environment ({len(text.encode())} "
                         "bytes before tokens resolve); shorten the instructions or labels in the workflow config")
    return {settings.VARIABLE: text}


# The JSON objects, for stacks/functions.py's WorkflowFunction (which json.dumps them with to_json's
# separators, so its text is `to_json()`'s) and the tests that read keys.


def labeling_settings(config: WorkflowConfig, deployment: Deployment, *, workteam_arn: str,
                      pre_lambda_arn: str, acs_lambda_arn: str) -> dict[str, Any]:
    return build_labeling_settings(config, deployment, workteam_arn=workteam_arn, pre_lambda_arn=pre_lambda_arn,
                                   acs_lambda_arn=acs_lambda_arn).to_mapping()


def training_settings(config: WorkflowConfig, deployment: Deployment, *, image_uri: str,
                      topic_arn: str) -> dict[str, Any]:
    return build_training_settings(config, deployment, image_uri=image_uri, topic_arn=topic_arn).to_mapping()


def model_settings(config: WorkflowConfig, deployment: Deployment, *, image_uri: str, topic_arn: str,
                   package_group_name: str | None) -> dict[str, Any]:
    return build_model_settings(config, deployment, image_uri=image_uri, topic_arn=topic_arn,
                                package_group_name=package_group_name).to_mapping()


# --- The Deployment function and the portal-URL custom resource ---------------------------------------


def build_deployment_settings(config: WorkflowConfig, deployment: Deployment, *, package_group_name: str,
                              topic_arn: str) -> DeploymentSettings:
    """The Deployment function's DEPLOYMENT_SETTINGS (stacks/endpoint.py; only when `endpoint.enabled`).

    Names start with the environment's job prefix, so dev's and prod's endpoints never collide and each role
    is scoped to its own. `role_arn` is the execution role SageMaker assumes to run the model."""
    endpoint = config.endpoint
    return DeploymentSettings(
        **_common(config, deployment),
        package_group_name=package_group_name,
        topic_arn=topic_arn,
        mode=endpoint.mode,
        memory_mb=endpoint.memory_mb,
        max_concurrency=endpoint.max_concurrency,
        instance_type=endpoint.instance_type,
        idle_minutes=endpoint.idle_minutes,
        # SSE-KMS data bucket: a real-time instance's storage volume is encrypted with the same key.
        kms_key_arn=config.bucket.kms_key_arn,
    )


def build_portal_url_settings(*, region: str) -> PortalUrlSettings:
    """The portal-URL custom resource's PORTAL_URLS_SETTINGS (stacks/portal_urls.py)."""
    return PortalUrlSettings(region=region)
