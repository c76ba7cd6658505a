"""Automated data labeling (lambdas/auto_labeling.py): the documented ARN table, the minimum dataset
size, the request fragment against botocore's SageMaker model, and the execution role's grants."""

from __future__ import annotations

import copy
import re
from typing import Any

import boto3
import pytest

from lambdas import auto_labeling as adl
from lambdas import labeling_request as lr
from stacks.regions import GROUND_TRUTH_REGIONS
from tests.unit.test_labeling_request import assert_valid_create_labeling_job, make_settings

REGION = "us-east-1"
MODEL = "arn:aws:sagemaker:us-east-1:123456789012:model/gt-demo-1-final-model"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def algorithms_config_documentation() -> str:
    """botocore's own documentation of LabelingJobAlgorithmSpecificationArn, tags removed."""
    model = boto3.client("sagemaker", region_name=REGION).meta.service_model
    shape = model.shape_for("LabelingJobAlgorithmsConfig")
    return re.sub(r"<[^>]+>", "", shape.members["LabelingJobAlgorithmSpecificationArn"].documentation)


def with_fragment(fragment: dict[str, Any]) -> dict[str, Any]:
    request = lr.build_create_labeling_job_request(make_settings(), "gt-demo-20240506-070809")
    return {**copy.deepcopy(request), **fragment}


# --- The documented ARN, in every Ground Truth region -----------------------------------------------


def test_the_algorithm_account_is_the_one_botocore_documents() -> None:
    # "Image classification arn:aws:sagemaker:region:027400017018:labeling-job-algorithm-specification/
    # image-classification" (the model's documentation, the same account for every region).
    documented = algorithms_config_documentation()
    assert (f"arn:aws:sagemaker:region:{adl.ALGORITHM_ACCOUNT}:labeling-job-algorithm-specification/"
            "image-classification") in documented


def test_every_ground_truth_region_has_an_arn_or_is_refused_with_a_reason() -> None:
    for region in GROUND_TRUTH_REGIONS:
        if region in adl.REFUSED_REGIONS:
            with pytest.raises(adl.AutoLabelingError, match=re.escape(adl.REFUSED_REGIONS[region])):
                adl.algorithm_specification_arn(region)
        else:
            assert adl.algorithm_specification_arn(region) == (
                f"arn:aws:sagemaker:{region}:027400017018:labeling-job-algorithm-specification/image-classification")


def test_the_region_table_names_no_region_ground_truth_lacks() -> None:
    # The Lambda keeps its own copy (it cannot import stacks/): it must not drift from the synth side.
    assert set(adl.REGIONS) | set(adl.REFUSED_REGIONS) == set(GROUND_TRUTH_REGIONS)
    assert not set(adl.REGIONS) & set(adl.REFUSED_REGIONS)


@pytest.mark.parametrize("region", ["eu-north-1", "us-gov-west-1", "cn-north-1", ""])
def test_a_region_without_ground_truth_is_refused_naming_the_regions_that_have_it(region: str) -> None:
    with pytest.raises(adl.AutoLabelingError, match="us-east-1") as caught:
        adl.algorithm_specification_arn(region)
    assert repr(region) in str(caught.value)


def test_a_task_type_without_automated_labeling_here_is_refused() -> None:
    with pytest.raises(adl.AutoLabelingError, match="task type 'named-entity-recognition'"):
        adl.algorithm_specification_arn(REGION, "named-entity-recognition")


# --- The documented minimum dataset size ---------------------------------------------------------------


def test_fewer_than_1250_objects_are_refused_with_the_reason() -> None:
    # "The minimum number of objects allowed for automated data labeling is 1,250" (sms-automated-labeling).
    problem = adl.dataset_size_problem(1_249)
    assert problem is not None
    assert "at least 1,250 objects and the dataset has 1,249" in problem
    assert adl.AUTOMATED_LABELING_DOC in problem
    assert adl.dataset_size_problem(1_250) is None
    with pytest.raises(adl.AutoLabelingError, match="1,250"):
        adl.request_fragment(region=REGION, object_count=25)


def test_the_demo_25_images_are_too_few() -> None:
    assert adl.dataset_size_problem(25) is not None


def test_between_the_minimum_and_the_recommendation_only_warns() -> None:
    # "... but we strongly suggest providing a minimum of 5,000 objects."
    assert adl.dataset_size_advice(1_250) is not None
    assert adl.dataset_size_advice(4_999) is not None
    assert adl.dataset_size_advice(5_000) is None
    assert adl.dataset_size_advice(1_249) is None  # refused, not warned


# --- The request fragment against botocore's model ------------------------------------------------------


def test_the_minimal_fragment_is_the_documented_arn_only() -> None:
    fragment = adl.request_fragment(region=REGION, object_count=1_250)
    assert fragment == {"LabelingJobAlgorithmsConfig": {
        "LabelingJobAlgorithmSpecificationArn": adl.algorithm_specification_arn(REGION)}}
    assert_valid_create_labeling_job(with_fragment(fragment))


def test_the_full_fragment_passes_botocores_validation() -> None:
    options = adl.AutoLabelingOptions(initial_model_arn=MODEL, volume_kms_key_arn=KEY,
                                      subnets=("subnet-0abc", "subnet-0def"), security_group_ids=("sg-0123",))
    fragment = adl.request_fragment(region=REGION, object_count=5_000, options=options)
    config = fragment["LabelingJobAlgorithmsConfig"]
    assert config["InitialActiveLearningModelArn"] == MODEL
    assert config["LabelingJobResourceConfig"] == {
        "VolumeKmsKeyId": KEY,
        "VpcConfig": {"SecurityGroupIds": ["sg-0123"], "Subnets": ["subnet-0abc", "subnet-0def"]},
    }
    assert_valid_create_labeling_job(with_fragment(fragment))


def test_the_model_check_fails_on_a_fragment_botocore_would_refuse() -> None:
    """The validator is not a rubber stamp for the fragment's shapes either."""
    fragment = adl.request_fragment(region=REGION, object_count=5_000)
    fragment["LabelingJobAlgorithmsConfig"]["InitialActiveLearningModelArn"] = "arn:aws:s3:::not-a-model"
    with pytest.raises(AssertionError, match="InitialActiveLearningModelArn"):
        assert_valid_create_labeling_job(with_fragment(fragment))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (adl.AutoLabelingOptions(initial_model_arn="gt-demo-1-final-model"), "initial_model_arn .* is not a SageMaker"),
        (adl.AutoLabelingOptions(initial_model_arn=MODEL.replace("us-east-1", "eu-west-1")), "models are regional"),
        (adl.AutoLabelingOptions(volume_kms_key_arn="1234abcd-12ab-34cd-56ef-1234567890ab"), "not a KMS key ARN"),
        (adl.AutoLabelingOptions(volume_kms_key_arn=KEY.replace("us-east-1", "eu-west-1")), "in its own region"),
        (adl.AutoLabelingOptions(subnets=("subnet-1",)), "go together"),
        (adl.AutoLabelingOptions(security_group_ids=("sg-1",)), "go together"),
        (adl.AutoLabelingOptions(subnets=("subnet-1",), security_group_ids=tuple(f"sg-{n}" for n in range(6))),
         "at most 5"),
        (adl.AutoLabelingOptions(subnets=tuple(f"subnet-{n}" for n in range(17)), security_group_ids=("sg-1",)),
         "at most 16"),
        (adl.AutoLabelingOptions(subnets=("subnet_1",), security_group_ids=("sg-1",)), "is not an id"),
        (adl.AutoLabelingOptions(subnets=("subnet-1", "subnet-1"), security_group_ids=("sg-1",)), "repeat"),
    ],
)
def test_option_values_the_api_or_region_would_refuse_are_named(options: adl.AutoLabelingOptions, message: str) -> None:
    with pytest.raises(adl.AutoLabelingError, match=message) as caught:
        adl.request_fragment(region=REGION, object_count=5_000, options=options)
    assert "labeling.auto_labeling" in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    options = adl.AutoLabelingOptions(subnets=("subnet-1",))
    with pytest.raises(adl.AutoLabelingError) as caught:
        adl.request_fragment(region="eu-north-1", object_count=10, options=options)
    message = str(caught.value)
    assert "eu-north-1" in message and "1,250" in message and "go together" in message


def test_options_from_config_keys() -> None:
    options = adl.AutoLabelingOptions.from_mapping({
        "initial_model_arn": MODEL, "volume_kms_key_arn": None, "subnets": ["subnet-1"], "security_group_ids": ["sg-1"],
    })
    assert options == adl.AutoLabelingOptions(
        initial_model_arn=MODEL, subnets=("subnet-1",), security_group_ids=("sg-1",))
    with pytest.raises(adl.AutoLabelingError, match="unknown keys"):
        adl.AutoLabelingOptions.from_mapping({"volume_key": KEY})
    with pytest.raises(adl.AutoLabelingError, match="list of strings"):
        adl.AutoLabelingOptions.from_mapping({"subnets": "subnet-1"})


# --- Permissions ----------------------------------------------------------------------------------------


def test_the_execution_role_may_pass_itself_to_sagemaker_only() -> None:
    role = "arn:aws:iam::123456789012:role/dev-Data-SageMakerExecutionRole"
    [statement] = adl.execution_role_statements(role_arn=role)
    assert statement["Action"] == "iam:PassRole"
    assert statement["Resource"] == role  # the role itself, not "*"
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_a_volume_key_adds_create_grant_on_that_key_for_aws_resources_only() -> None:
    role = "arn:aws:iam::123456789012:role/exec"
    statements = adl.execution_role_statements(role_arn=role, volume_kms_key_arn=KEY)
    grant = next(statement for statement in statements if statement["Action"] == "kms:CreateGrant")
    assert grant["Resource"] == KEY  # documented as "*"; scoped to the key (resource type `key`)
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert len({statement["Sid"] for statement in statements}) == len(statements)


def test_the_instances_note_follows_the_documented_table() -> None:
    assert adl.instance_types() == ("ml.p3.2xlarge", "ml.c5.xlarge")
    # "In the Asia Pacific (Mumbai) Region (ap-south-1) use ml.p2.8xlarge instead."
    assert adl.instance_types(region="ap-south-1") == ("ml.p2.8xlarge", "ml.c5.xlarge")
    assert "ml.p2.8xlarge" in adl.instances_note(region="ap-south-1")
