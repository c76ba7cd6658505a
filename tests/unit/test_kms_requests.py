"""The SSE-KMS variant end to end on the request side: config -> settings JSON (the stack's
builders) -> the Lambdas' parsers -> the CreateLabelingJob / CreateTrainingJob /
CreateHyperParameterTuningJob requests, each checked against botocore's model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas import labeling_request as lr
from lambdas import training_request as tr
from lambdas.settings import SettingsError
from stacks import regions
from stacks.config import load_config
from stacks.lambda_settings import Deployment, labeling_settings, training_settings
from tests.lambdas.training_shape_check import shape_problems

CONTEXT: dict[str, Any] = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
ACCOUNT, REGION = "123456789012", "us-east-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
DEPLOYMENT = Deployment(account=ACCOUNT, region=REGION, bucket=f"sagemaker-{REGION}-{ACCOUNT}",
                        role_arn=f"arn:aws:iam::{ACCOUNT}:role/Exec")
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
JOB = tr.LabelingJob(name="gt-demo-20240101-000000", label_attribute="vehicle-type",
                     categories=("Airplane", "Car", "Ferry"),
                     output_manifest_uri=f"s3://sagemaker-{REGION}-{ACCOUNT}/out/output.manifest")


def config(**overrides: Any) -> Any:
    return load_config({**CONTEXT, **{f"workflow.{k}": v for k, v in overrides.items()}},
                       default_account=ACCOUNT, default_region=REGION)


def lambda_arns(cfg: Any) -> dict[str, str]:
    pre, acs = regions.ground_truth_lambda_arns(REGION, cfg.task.ground_truth)
    return {"pre_lambda_arn": pre, "acs_lambda_arn": acs}


def labeling(cfg: Any) -> lr.LabelingSettings:
    data = labeling_settings(
        cfg, DEPLOYMENT,
        workteam_arn=f"arn:aws:sagemaker:{REGION}:394669845002:workteam/public-crowd/default",
        **lambda_arns(cfg),
    )
    return lr.LabelingSettings.from_json(json.dumps(data))


def training(cfg: Any) -> tr.TrainingSettings:
    data = training_settings(cfg, DEPLOYMENT, image_uri=IMAGE, topic_arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts")
    return tr.TrainingSettings.from_json(json.dumps(data))


# --- labeling ---------------------------------------------------------------------------------


def test_labeling_output_is_encrypted_with_the_bucket_key() -> None:
    settings = labeling(config(**{"bucket.kms_key_arn": KEY}))
    assert settings.kms_key_arn == KEY
    request = lr.build_create_labeling_job_request(settings, "gt-demo-20240101-000000")
    assert request["OutputConfig"]["KmsKeyId"] == KEY
    assert shape_problems("CreateLabelingJob", request) == []


def test_labeling_output_has_no_key_without_one() -> None:
    request = lr.build_create_labeling_job_request(labeling(config()), "gt-demo-20240101-000000")
    assert "KmsKeyId" not in request["OutputConfig"]


def test_labeling_settings_without_the_key_still_parse_and_a_bad_key_is_named() -> None:
    data = json.loads(json.dumps(labeling_settings(
        config(), DEPLOYMENT, workteam_arn=f"arn:aws:sagemaker:{REGION}:394669845002:workteam/public-crowd/default",
        **lambda_arns(config()))))
    del data["kms_key_arn"]
    assert lr.LabelingSettings.from_mapping(data).kms_key_arn is None
    with pytest.raises(SettingsError, match=r"LABELING_SETTINGS\.kms_key_arn = 'alias/mine' is invalid"):
        lr.LabelingSettings.from_mapping({**data, "kms_key_arn": "alias/mine"})


# --- training and tuning ------------------------------------------------------------------------


@pytest.mark.parametrize("tuning", [False, True])
def test_training_output_is_encrypted_and_nvme_instances_get_no_volume_key(tuning: bool) -> None:
    # ml.g4dn.xlarge (the default) has local NVMe storage: SageMaker refuses VolumeKmsKeyId there.
    settings = training(config(**{"bucket.kms_key_arn": KEY, "tuning.enabled": tuning}))
    request = _request(settings, tuning)
    definition = request["TrainingJobDefinition"] if tuning else request
    assert definition["OutputDataConfig"]["KmsKeyId"] == KEY
    assert "VolumeKmsKeyId" not in definition["ResourceConfig"]
    assert shape_problems("CreateHyperParameterTuningJob" if tuning else "CreateTrainingJob", request) == []


@pytest.mark.parametrize("tuning", [False, True])
def test_instances_without_local_storage_get_the_volume_key(tuning: bool) -> None:
    settings = training(config(**{"bucket.kms_key_arn": KEY, "tuning.enabled": tuning,
                                  "training.instance_type": "ml.p3.2xlarge"}))
    request = _request(settings, tuning)
    definition = request["TrainingJobDefinition"] if tuning else request
    assert definition["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    assert definition["OutputDataConfig"]["KmsKeyId"] == KEY


@pytest.mark.parametrize("instance_type", ["ml.g4dn.xlarge", "ml.g5.2xlarge", "ml.p3dn.24xlarge", "ml.p4d.24xlarge"])
def test_volume_key_is_left_out_on_every_nvme_family(instance_type: str) -> None:
    assert tr.volume_encryption(instance_type, KEY) == {}
    assert tr.volume_encryption("ml.p3.8xlarge", KEY) == {"VolumeKmsKeyId": KEY}


def test_training_without_a_key_sets_no_key_fields() -> None:
    request = _request(training(config()), tuning=False)
    assert "KmsKeyId" not in request["OutputDataConfig"]
    assert "VolumeKmsKeyId" not in request["ResourceConfig"]


def test_training_settings_key_is_optional_and_checked() -> None:
    data = training_settings(config(), DEPLOYMENT, image_uri=IMAGE, topic_arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:a")
    data.pop("kms_key_arn")
    assert tr.TrainingSettings.from_json(json.dumps(data)).kms_key_arn is None
    with pytest.raises(tr.SettingsError, match=r"TRAINING_SETTINGS\.kms_key_arn = 'alias/x' is invalid"):
        tr.TrainingSettings.from_json(json.dumps({**data, "kms_key_arn": "alias/x"}))


def _request(settings: tr.TrainingSettings, tuning: bool) -> dict[str, Any]:
    build = tr.build_tuning_job_request if tuning else tr.build_training_job_request
    return build(settings, JOB, train_count=40)
