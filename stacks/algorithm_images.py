"""The built-in image-classification algorithm's training image, per region, read at synth time.

The table `algorithm_images.json` is generated from the SageMaker Python SDK by
`tools/generate_algorithm_images.py` (`make images`) and checked against it by a unit test.
Synth and the Lambdas never import the SDK: it is large and slow to import.

The image lives in an AWS-owned ECR repository whose account differs per region (and from the
Ground Truth Lambda accounts in `regions.py`), so a scoped pull permission needs the account.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from stacks.regions import GROUND_TRUTH_REGIONS

ALGORITHM = "image-classification"
TABLE_PATH = Path(__file__).parent / "algorithm_images.json"

# <account>.dkr.ecr.<region>.<dns suffix>/<repository>:<tag>
_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.-]+)"
    r"/(?P<repository>[a-z0-9._/-]+):(?P<tag>\w+)$"
)

# Region prefixes of the non-commercial partitions, most specific first (botocore's endpoint
# data has the same rules; a unit test checks this against it).
_PARTITION_PREFIXES: tuple[tuple[str, str], ...] = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
)


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    if document.get("algorithm") != ALGORITHM:
        raise ValueError(f"{TABLE_PATH} is for {document.get('algorithm')!r}, expected {ALGORITHM!r}")
    return document


def _table() -> dict[str, str]:
    images: dict[str, str] = _document()["images"]
    return images


def generated_by() -> str:
    """The SDK release the table came from, e.g. "sagemaker-core 2.27.0"."""
    return str(_document()["generated_by"])


def supported_regions() -> tuple[str, ...]:
    """Every region with a built-in image-classification image (more than Ground Truth has)."""
    return tuple(sorted(_table()))


def image_uri(region: str) -> str:
    """The training image URI, e.g. `811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1`."""
    try:
        return _table()[region]
    except KeyError:
        pass
    if "${Token[" in region:
        raise ValueError(
            f"region {region!r} is an unresolved token (an environment-agnostic stack): look the image up "
            "at deploy time with a CfnMapping built from mapping_table(), or give the stack an explicit region"
        )
    raise ValueError(
        f"region {region!r} has no built-in {ALGORITHM} image in {TABLE_PATH.name} ({generated_by()}); "
        f"supported regions: {', '.join(supported_regions())}. If AWS has added it since, bump sagemaker-core "
        "in requirements-dev.txt and run `make images`."
    )


def _parts(region: str) -> re.Match[str]:
    uri = image_uri(region)
    match = _URI.match(uri)
    if match is None or match["region"] != region:
        raise ValueError(f"{TABLE_PATH.name}: {region} has a malformed image URI {uri!r}")
    return match


def registry_account(region: str) -> str:
    """The AWS account that owns the image's ECR repository in `region`."""
    return _parts(region)["account"]


def repository_name(region: str) -> str:
    return _parts(region)["repository"]


def partition(region: str) -> str:
    return next((name for prefix, name in _PARTITION_PREFIXES if region.startswith(prefix)), "aws")


def repository_arn(region: str) -> str:
    """The ECR repository ARN, for an `ecr:BatchGetImage`/`ecr:GetDownloadUrlForLayer` grant."""
    parts = _parts(region)
    return f"arn:{partition(region)}:ecr:{region}:{parts['account']}:repository/{parts['repository']}"


def mapping_table() -> dict[str, dict[str, str]]:
    """Region -> {"uri", "account"} for a CfnMapping in an environment-agnostic stack.

    Only the Ground Truth regions: the workflow starts with a labeling job, which cannot run
    anywhere else, so a deployment elsewhere should fail rather than half work.
    """
    return {region: {"uri": image_uri(region), "account": registry_account(region)} for region in GROUND_TRUTH_REGIONS}
