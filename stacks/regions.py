"""Regional facts about Ground Truth and SageMaker, in one place (see docs/task-types.md).

Ground Truth's built-in pre-annotation and consolidation Lambdas are owned by a per-region AWS
account and exist in these 12 regions only; nowhere else can a labeling job of a built-in task
type run. The account is Ground Truth's, the same for every built-in task type (the API
reference lists PRE-ImageMultiClass, PRE-TextMultiClass, ... under the same account per region);
the function names are the task type's (`lambdas/task_types.py`).
"""

from __future__ import annotations

from lambdas import workforces
from lambdas.task_types import GroundTruthTask

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


def ground_truth_lambda_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{GROUND_TRUTH_LAMBDA_ACCOUNTS[region]}:function:{name}"


def ground_truth_lambda_arns(region: str, task: GroundTruthTask) -> tuple[str, str]:
    """The task type's built-in (PRE, ACS) Lambda ARNs in `region` (a Ground Truth region)."""
    return ground_truth_lambda_arn(region, task.pre_lambda_name), ground_truth_lambda_arn(region, task.acs_lambda_name)


def public_workteam_arn(region: str) -> str:
    """Mechanical Turk's work team in `region`. The workforce facts (this ARN, MTurk prices, task
    lifetimes per kind) live with the kinds' policies in lambdas/workforces.py."""
    return workforces.public_crowd_workteam_arn(region)


def unsupported_region_message(key: str, region: str) -> str:
    return (
        f"{key} = {region!r}: SageMaker Ground Truth's built-in image classification is not "
        f"available there; choose one of {', '.join(GROUND_TRUTH_REGIONS)}"
    )
