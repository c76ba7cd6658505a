"""The committed image-classification image table: well-formed, readable at synth, and the SDK's answer.

Only `test_committed_table_matches_the_sdk` imports the SageMaker SDK (sagemaker-core, from
requirements-dev.txt); everything else reads the committed JSON, as synth does.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from typing import Any

import botocore.loaders
import pytest
from aws_cdk import App, Aws, CfnMapping, CfnOutput, CfnWaitConditionHandle, Stack
from aws_cdk.assertions import Template

from lambdas import task_types
from lambdas.task_types import IMAGE_CLASSIFICATION
from stacks import algorithm_images
from stacks.algorithm_images import partition, table_path
from stacks.regions import GROUND_TRUTH_LAMBDA_ACCOUNTS, GROUND_TRUTH_REGIONS
from tools import generate_algorithm_images as generator

# The table of the built-in image-classification task type's algorithm.
IC = IMAGE_CLASSIFICATION.algorithm
ALGORITHM = IC.name
TABLE_PATH = table_path(IC)


def image_uri(region: str) -> str:
    return algorithm_images.image_uri(region, IC)


def registry_account(region: str) -> str:
    return algorithm_images.registry_account(region, IC)


def repository_arn(region: str) -> str:
    return algorithm_images.repository_arn(region, IC)


def supported_regions() -> tuple[str, ...]:
    return algorithm_images.supported_regions(IC)


def mapping_table() -> dict[str, dict[str, str]]:
    return algorithm_images.mapping_table(IC)

# ECR's DNS suffix per partition (botocore's endpoint data); anything else is a surprise to look at.
DNS_SUFFIXES = {
    "aws": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
    "aws-iso-e": "cloud.adc-e.uk",
    "aws-iso-f": "csp.hci.ic.gov",
    "aws-eusc": "amazonaws.eu",
}


def _committed() -> dict[str, object]:
    document: dict[str, object] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return document


@cache
def _botocore_partitions() -> list[dict[str, Any]]:
    partitions: list[dict[str, Any]] = botocore.loaders.create_loader().load_data("endpoints")["partitions"]
    return partitions


def _botocore_partition(region: str) -> str:
    """How botocore resolves a region's partition: listed regions first, then each regionRegex."""
    partitions = _botocore_partitions()
    for entry in partitions:
        if region in entry["regions"]:
            return str(entry["partition"])
    for entry in partitions:
        if re.match(entry["regionRegex"], region):
            return str(entry["partition"])
    raise AssertionError(f"botocore knows no partition for {region}")


def test_table_is_well_formed_and_stably_formatted() -> None:
    document = _committed()
    assert set(document) == {"algorithm", "generated_by", "images"}
    assert document["algorithm"] == ALGORITHM
    assert re.fullmatch(r"sagemaker-core \d+\.\d+\.\d+", str(document["generated_by"]))
    images = document["images"]
    assert isinstance(images, dict) and images
    for region, uri in images.items():
        suffix = re.escape(DNS_SUFFIXES[partition(region)])
        pattern = rf"\d{{12}}\.dkr\.ecr\.{re.escape(region)}\.{suffix}/image-classification:\w+"
        assert re.fullmatch(pattern, uri), f"{region}: unexpected image URI {uri!r}"
    # Byte-for-byte what the generator writes, so regenerating never produces a noisy diff.
    assert TABLE_PATH.read_text(encoding="utf-8") == generator.render(document)


@pytest.mark.parametrize("region", GROUND_TRUTH_REGIONS)
def test_every_ground_truth_region_has_an_image(region: str) -> None:
    assert re.fullmatch(rf"\d{{12}}\.dkr\.ecr\.{region}\.amazonaws\.com/image-classification:1", image_uri(region))
    # The algorithm's registry is not the Ground Truth Lambdas' account: don't mix them up.
    assert registry_account(region) != GROUND_TRUTH_LAMBDA_ACCOUNTS[region]


def test_known_values() -> None:
    # Published in the SageMaker developer guide's Docker registry paths for us-east-1.
    assert image_uri("us-east-1") == "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
    assert registry_account("us-east-1") == "811284229777"
    assert repository_arn("us-east-1") == "arn:aws:ecr:us-east-1:811284229777:repository/image-classification"
    assert image_uri("cn-north-1").endswith(".amazonaws.com.cn/image-classification:1")
    assert repository_arn("cn-north-1").startswith("arn:aws-cn:ecr:cn-north-1:")
    assert repository_arn("us-gov-west-1").startswith("arn:aws-us-gov:ecr:us-gov-west-1:")


@pytest.mark.parametrize("region", sorted(json.loads(TABLE_PATH.read_text(encoding="utf-8"))["images"]))
def test_account_and_arn_parse_from_every_uri(region: str) -> None:
    uri = image_uri(region)
    account = registry_account(region)
    assert re.fullmatch(r"\d{12}", account) and uri.startswith(f"{account}.dkr.ecr.{region}.")
    assert partition(region) == _botocore_partition(region)
    assert repository_arn(region) == f"arn:{partition(region)}:ecr:{region}:{account}:repository/image-classification"


def test_unknown_region_names_every_supported_region() -> None:
    with pytest.raises(ValueError, match="region 'xx-nowhere-1' has no built-in image-classification image") as err:
        image_uri("xx-nowhere-1")
    message = str(err.value)
    assert all(region in message for region in supported_regions())
    assert "make images" in message
    with pytest.raises(ValueError, match="xx-nowhere-1"):
        registry_account("xx-nowhere-1")


def test_unresolved_region_token_points_to_the_mapping() -> None:
    with pytest.raises(ValueError, match=r"unresolved token.*mapping_table"):
        image_uri(Stack(App(), "EnvAgnostic").region)


def test_mapping_table_covers_exactly_the_ground_truth_regions() -> None:
    table = mapping_table()
    assert tuple(sorted(table)) == GROUND_TRUTH_REGIONS
    # eu-north-1 (the tutorial's region) has the algorithm but no Ground Truth.
    assert "eu-north-1" in supported_regions() and "eu-north-1" not in table
    for region, row in table.items():
        assert row == {"uri": image_uri(region), "account": registry_account(region)}


def test_mapping_table_synthesizes_as_a_cfn_mapping() -> None:
    stack = Stack(App(), "EnvAgnostic")
    CfnWaitConditionHandle(stack, "Placeholder")  # a template needs at least one resource
    images = CfnMapping(stack, "ImageClassificationImages", mapping=mapping_table())
    CfnOutput(stack, "TrainingImage", value=images.find_in_map(Aws.REGION, "uri"))
    template = Template.from_stack(stack).to_json()
    assert template["Mappings"]["ImageClassificationImages"] == mapping_table()
    assert template["Outputs"]["TrainingImage"]["Value"] == {
        "Fn::FindInMap": ["ImageClassificationImages", {"Ref": "AWS::Region"}, "uri"]
    }


def test_generator_render_is_deterministic() -> None:
    table = {"images": {"b-2": "y", "a-1": "x"}, "generated_by": "sagemaker-core 0.0.0", "algorithm": ALGORITHM}
    shuffled = {"algorithm": ALGORITHM, "generated_by": "sagemaker-core 0.0.0", "images": {"a-1": "x", "b-2": "y"}}
    text = generator.render(table)
    assert text == generator.render(shuffled)
    assert text.endswith("}\n") and text.index('"a-1"') < text.index('"b-2"')


def test_generator_check_describes_the_drift() -> None:
    expected = {"algorithm": ALGORITHM, "generated_by": "sagemaker-core 2.0.0", "images": {"a-1": "new", "b-2": "y"}}
    committed = {"algorithm": ALGORITHM, "generated_by": "sagemaker-core 1.0.0", "images": {"a-1": "old", "c-3": "z"}}
    assert generator.describe_drift(generator.render(expected), expected) == []
    assert generator.describe_drift(generator.render(committed), expected) == [
        "generated_by: 'sagemaker-core 1.0.0' -> 'sagemaker-core 2.0.0'",
        "changed a-1: old -> new",
        "added   b-2: y",
        "removed c-3: z",
    ]
    reformatted = json.dumps(expected)  # same content, other formatting: a text diff
    assert generator.describe_drift(reformatted, expected)[0].startswith("--- committed")
    assert generator.describe_drift(None, expected) == ["algorithm_images.json does not exist"]


def test_committed_table_matches_the_sdk() -> None:
    """The only test that imports the SageMaker SDK (a few seconds): the table is its exact answer."""
    from sagemaker.core import image_uris

    expected = generator.sdk_table()
    drift = generator.describe_drift(TABLE_PATH.read_text(encoding="utf-8"), expected)
    assert not drift, f"{TABLE_PATH.name} is out of date; run `make images` and commit:\n" + "\n".join(drift)
    # Independently of the generator, the call the docs give, for the regions this workflow uses.
    for region in GROUND_TRUTH_REGIONS:
        assert image_uris.retrieve(ALGORITHM, region) == image_uri(region)
    assert algorithm_images.generated_by(IC) == expected["generated_by"]


def test_the_descriptor_names_the_table_the_generator_writes() -> None:
    # `make images` rewrites the file the image-classification descriptor reads, for its algorithm.
    assert generator.TABLE_PATH == TABLE_PATH
    assert generator.ALGORITHM == IC.name == "image-classification"


@pytest.mark.parametrize("region", sorted(json.loads(TABLE_PATH.read_text(encoding="utf-8"))["images"]))
def test_the_repository_is_named_after_the_algorithm(region: str) -> None:
    # The environment-agnostic stack builds the repository ARN from Algorithm.name (stacks/training.py).
    assert algorithm_images.repository_name(region, IC) == IC.name


def test_another_algorithm_reads_its_own_table(tmp_path: Any) -> None:
    table = tmp_path / "blazingtext_images.json"
    table.write_text(json.dumps({"algorithm": "blazingtext", "generated_by": "sagemaker-core 2.27.0", "images": {
        "us-east-1": "811284229777.dkr.ecr.us-east-1.amazonaws.com/blazingtext:1"}}), encoding="utf-8")
    other = replace(IC, name="blazingtext", image_table=str(table))  # an absolute path is used as is
    assert algorithm_images.image_uri("us-east-1", other).endswith("/blazingtext:1")
    assert algorithm_images.repository_arn("us-east-1", other) == (
        "arn:aws:ecr:us-east-1:811284229777:repository/blazingtext")
    # The image-classification table is untouched by the other algorithm's lookups.
    assert image_uri("us-east-1").endswith("/image-classification:1")
    with pytest.raises(ValueError, match=r"has no built-in blazingtext image in blazingtext_images\.json"):
        algorithm_images.image_uri("eu-west-1", other)
    with pytest.raises(ValueError, match="is for 'blazingtext', expected 'image-classification'"):
        algorithm_images.image_uri("us-east-1", replace(IC, image_table=str(table)))
    assert task_types.REGISTRY["image-classification"].algorithm is IC
