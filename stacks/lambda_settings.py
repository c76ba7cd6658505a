"""The settings each Lambda receives (one JSON environment variable each), built from config.

One builder serves both the CDK constructs (values may be CloudFormation tokens, resolved
at deploy time) and the operator CLI's dry runs (literal values), so a plan printed by
`python -m workflow plan-labeling` is built from exactly what the deployed Lambda gets.
The keys are the contract with `lambdas/labeling_request.py` (LABELING_SETTINGS),
`lambdas/training_request.py` (TRAINING_SETTINGS) and `lambdas/register_model.py`
(MODEL_SETTINGS); tests check both sides agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks.config import WorkflowConfig

LABELING_SETTINGS_VAR = "LABELING_SETTINGS"
TRAINING_SETTINGS_VAR = "TRAINING_SETTINGS"
MODEL_SETTINGS_VAR = "MODEL_SETTINGS"

# Lambda allows 4 KB for all environment variables of a function together.
MAX_ENVIRONMENT_BYTES = 4096


@dataclass(frozen=True)
class Deployment:
    """Values only known once deployed (tokens in a stack, literals in a dry run)."""

    account: str
    region: str
    bucket: str
    role_arn: str


def labeling_settings(config: WorkflowConfig, deployment: Deployment, *, workteam_arn: str,
                      pre_lambda_arn: str, acs_lambda_arn: str) -> dict[str, Any]:
    labeling, workforce = config.labeling, config.workforce
    return {
        **_common(config, deployment),
        "bucket": deployment.bucket,
        "prefix": config.prefix,
        "label_attribute": labeling.label_attribute,
        "labels": list(labeling.labels),
        "task_title": labeling.task_title,
        "task_description": labeling.task_description,
        "task_keywords": list(labeling.task_keywords),
        "short_instructions": labeling.short_instructions,
        "full_instructions": labeling.full_instructions,
        "workforce": workforce.type.value,  # the kind's string; the Lambda looks its policy up again
        "workteam_arn": workteam_arn,
        "pre_lambda_arn": pre_lambda_arn,
        "acs_lambda_arn": acs_lambda_arn,
        "workers_per_object": workforce.workers_per_object,
        "price_usd": str(workforce.price_usd) if workforce.price_usd is not None else None,
        "free_of_adult_content": workforce.free_of_adult_content,
        "task_time_limit_seconds": labeling.task_time_limit_seconds,
        "task_availability_seconds": labeling.task_availability_seconds,
        "max_concurrent_tasks": labeling.max_concurrent_tasks,
        "max_objects": labeling.max_objects,
        # SSE-KMS data bucket: Ground Truth encrypts its output with this key (OutputConfig.KmsKeyId).
        "kms_key_arn": config.bucket.kms_key_arn,
    }


def training_settings(config: WorkflowConfig, deployment: Deployment, *, image_uri: str,
                      topic_arn: str) -> dict[str, Any]:
    training, tuning = config.training, config.tuning
    return {
        **_common(config, deployment),
        "bucket": deployment.bucket,
        "prefix": config.prefix,
        "image_uri": image_uri,
        "instance_type": training.instance_type,
        "instance_count": training.instance_count,
        "volume_gb": training.volume_size_gb,
        "max_runtime_seconds": training.max_runtime_seconds,
        "spot": training.spot,
        "max_wait_seconds": training.max_wait_seconds,
        "validation_fraction": training.validation_fraction,
        "min_labeled_objects": training.min_labeled_objects,
        "hyperparameters": dict(training.hyperparameters),
        "tuning": {
            "enabled": tuning.enabled,
            "max_jobs": tuning.max_jobs,
            "max_parallel_jobs": tuning.max_parallel_jobs,
            "early_stopping": tuning.early_stopping,
            "ranges": {name: r.to_settings() for name, r in tuning.ranges.items()},
        },
        "topic_arn": topic_arn,
        # SSE-KMS data bucket: training encrypts its output (and, where allowed, its volume) with it.
        "kms_key_arn": config.bucket.kms_key_arn,
    }


def model_settings(config: WorkflowConfig, deployment: Deployment, *, image_uri: str, topic_arn: str,
                   package_group_name: str | None) -> dict[str, Any]:
    return {
        **_common(config, deployment),
        "image_uri": image_uri,
        "register_package": config.model.register_package,
        "package_group_name": package_group_name,
        "topic_arn": topic_arn,
    }


def _common(config: WorkflowConfig, deployment: Deployment) -> dict[str, Any]:
    return {
        "region": deployment.region,
        "account": deployment.account,
        "job_prefix": config.labeling.job_prefix,
        "role_arn": deployment.role_arn,
        "tags": {**config.tags, "workflow-env": config.env_name},
        # The task type's name; each Lambda looks its descriptor up (lambdas/task_types.py).
        "task_type": config.task_type,
    }
