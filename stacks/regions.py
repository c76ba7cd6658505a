"""Regional facts about Ground Truth and SageMaker, in one place (see AWS_FACTS.md).

Ground Truth's built-in pre-annotation and consolidation Lambdas are owned by a
per-region AWS account and exist in these 12 regions only; nowhere else can a built-in
image-classification labeling job run.
"""

from __future__ import annotations

from lambdas import workforces

GROUND_TRUTH_LAMBDA_ACCOUNTS: dict[str, str] = {
    "us-east-1": "432418664414",
    "us-east-2": "266458841044",
    "us-west-2": "081040173940",
    "ca-central-1": "918755190332",
    "eu-west-1": "568282634449",
    "eu-west-2": "487402164563",
    "eu-central-1": "203001061592",
    "ap-northeast-1": "477331159723",
    "ap-northeast-2": "845288260483",
    "ap-south-1": "565803892007",
    "ap-southeast-1": "377565633583",
    "ap-southeast-2": "454466003867",
}
GROUND_TRUTH_REGIONS: tuple[str, ...] = tuple(sorted(GROUND_TRUTH_LAMBDA_ACCOUNTS))

# Built-in single-label image classification.
PRE_LAMBDA_NAME = "PRE-ImageMultiClass"
ACS_LAMBDA_NAME = "ACS-ImageMultiClass"


def ground_truth_lambda_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{GROUND_TRUTH_LAMBDA_ACCOUNTS[region]}:function:{name}"


def public_workteam_arn(region: str) -> str:
    """Mechanical Turk's work team in `region`. The workforce facts (this ARN, MTurk prices, task
    lifetimes per kind) live with the kinds' policies in lambdas/workforces.py."""
    return workforces.public_crowd_workteam_arn(region)


def unsupported_region_message(key: str, region: str) -> str:
    return (
        f"{key} = {region!r}: SageMaker Ground Truth's built-in image classification is not "
        f"available there; choose one of {', '.join(GROUND_TRUTH_REGIONS)}"
    )
