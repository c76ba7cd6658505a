"""A built-in algorithm's training image, per region, read at synth time.

Each task type's algorithm (`lambdas/task_types.py`, `Algorithm`) names its image table: for the
built-in image-classification algorithm, `algorithm_images.json`, generated from the SageMaker
Python SDK by `tools/generate_algorithm_images.py` (`make images`) and checked against it by a
unit test. Synth and the Lambdas never import the SDK: it is large and slow to import.

The image lives in an AWS-owned ECR repository, named after the algorithm, whose account differs
per region (and from the Ground Truth Lambda accounts in `regions.py`), so a scoped pull
permission needs the account.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from lambdas.task_types import Algorithm
from stacks.regions import GROUND_TRUTH_REGIONS

TABLE_DIR = Path(__file__).parent

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


def table_path(algorithm: Algorithm) -> Path:
    """The algorithm's image table: `Algorithm.image_table`, next to this module unless absolute."""
    return TABLE_DIR / algorithm.image_table


@cache
def _read_document(path: Path, algorithm_name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if document.get("algorithm") != algorithm_name:
        raise ValueError(f"{path} is for {document.get('algorithm')!r}, expected {algorithm_name!r}")
    return document


def _document(algorithm: Algorithm) -> dict[str, Any]:
    return _read_document(table_path(algorithm), algorithm.name)


def _table(algorithm: Algorithm) -> dict[str, str]:
    images: dict[str, str] = _document(algorithm)["images"]
    return images


def generated_by(algorithm: Algorithm) -> str:
    """The SDK release the table came from, e.g. "sagemaker-core 2.27.0"."""
    return str(_document(algorithm)["generated_by"])


def supported_regions(algorithm: Algorithm) -> tuple[str, ...]:
    """Every region with an image of the algorithm (usually more than Ground Truth has)."""
    return tuple(sorted(_table(algorithm)))


def image_uri(region: str, algorithm: Algorithm) -> str:
    """The training image URI, e.g. `811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1`."""
    try:
        return _table(algorithm)[region]
    except KeyError:
        pass
    if "${Token[" in region:
        raise ValueError(
            f"region {region!r} is an unresolved token (an environment-agnostic stack): look the image up "
            "at deploy time with a CfnMapping built from mapping_table(), or give the stack an explicit region"
        )
    path = table_path(algorithm)
    raise ValueError(
        f"region {region!r} has no built-in {algorithm.name} image in {path.name} ({generated_by(algorithm)}); "
        f"supported regions: {', '.join(supported_regions(algorithm))}. If AWS has added it since, bump "
        "sagemaker-core in requirements-dev.txt and run `make images`."
    )


def _parts(region: str, algorithm: Algorithm) -> re.Match[str]:
    uri = image_uri(region, algorithm)
    match = _URI.match(uri)
    if match is None or match["region"] != region:
        raise ValueError(f"{table_path(algorithm).name}: {region} has a malformed image URI {uri!r}")
    return match


def registry_account(region: str, algorithm: Algorithm) -> str:
    """The AWS account that owns the image's ECR repository in `region`."""
    return _parts(region, algorithm)["account"]


def repository_name(region: str, algorithm: Algorithm) -> str:
    return _parts(region, algorithm)["repository"]


def partition(region: str) -> str:
    return next((name for prefix, name in _PARTITION_PREFIXES if region.startswith(prefix)), "aws")


def repository_arn(region: str, algorithm: Algorithm) -> str:
    """The ECR repository ARN, for an `ecr:BatchGetImage`/`ecr:GetDownloadUrlForLayer` grant."""
    parts = _parts(region, algorithm)
    return f"arn:{partition(region)}:ecr:{region}:{parts['account']}:repository/{parts['repository']}"


def mapping_table(algorithm: Algorithm) -> dict[str, dict[str, str]]:
    """Region -> {"uri", "account"} for a CfnMapping in an environment-agnostic stack.

    Only the Ground Truth regions: the workflow starts with a labeling job, which cannot run
    anywhere else, so a deployment elsewhere should fail rather than half work.
    """
    return {region: {"uri": image_uri(region, algorithm), "account": registry_account(region, algorithm)}
            for region in GROUND_TRUTH_REGIONS}
