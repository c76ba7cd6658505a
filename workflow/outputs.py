"""Find the deployed resources from the stacks' CloudFormation outputs (DescribeStacks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from workflow.aws import error_code, error_message
from workflow.errors import CliError

DEPLOY_HINT = "deploy with `npx cdk deploy --all`"

# Output keys (the stacks' CfnOutput ids).
BUCKET_NAME = "BucketName"
EXECUTION_ROLE_ARN = "ExecutionRoleArn"
NOTEBOOK_NAME = "NotebookName"
START_LABELING_FUNCTION = "StartLabelingFunctionName"
START_TRAINING_FUNCTION = "StartTrainingFunctionName"
REGISTER_MODEL_FUNCTION = "RegisterModelFunctionName"
EVALUATION_FUNCTION = "EvaluationFunctionName"  # only with evaluation.enabled (stacks/evaluation.py)
ALERTS_TOPIC_ARN = "AlertsTopicArn"
DEAD_LETTER_QUEUE_URL = "DeadLetterQueueUrl"
LABELING_WORKTEAM_ARN = "LabelingWorkteamArn"
LABELING_PORTAL_URL = "LabelingPortalUrl"  # private workforce only
MODEL_PACKAGE_GROUP_NAME = "ModelPackageGroupName"  # only when models are registered
ENDPOINT_NAME = "EndpointName"  # only with endpoint.enabled (stacks/endpoint.py)
DEPLOYMENT_FUNCTION = "DeploymentFunctionName"  # only with endpoint.enabled

# A stack in these states has no (or no usable) outputs.
_UNUSABLE_SUFFIXES = ("_FAILED", "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_COMPLETE")


@dataclass(frozen=True)
class StackOutputs:
    stack_name: str
    region: str
    status: str
    values: Mapping[str, str]

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def workteam_arn(self) -> str | None:
        return self.get(LABELING_WORKTEAM_ARN)

    def require(self, key: str) -> str:
        value = self.values.get(key)
        if not value:
            raise CliError(
                f"stack {self.stack_name} in {self.region} has no output {key} (status {self.status}): "
                f"it was deployed from an older version of this project; {DEPLOY_HINT}"
            )
        return value


def stack_outputs(cloudformation: Any, stack_name: str) -> StackOutputs:
    """The outputs of `stack_name`; a clear CliError if it does not exist or is not usable."""
    region = cloudformation.meta.region_name
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        # CloudFormation answers a missing stack with ValidationError "Stack with id X does not exist".
        if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
            raise CliError(f"stack {stack_name} not found in {region}: {DEPLOY_HINT}") from error
        raise
    if not stacks:
        raise CliError(f"stack {stack_name} not found in {region}: {DEPLOY_HINT}")
    stack = stacks[0]
    status = str(stack.get("StackStatus", ""))
    if status.endswith(_UNUSABLE_SUFFIXES):
        raise CliError(
            f"stack {stack_name} in {region} is {status}: fix the cause shown in the CloudFormation "
            f"console (events tab), then {DEPLOY_HINT}"
        )
    values = {item["OutputKey"]: item.get("OutputValue", "") for item in stack.get("Outputs", ())}
    if status == "CREATE_IN_PROGRESS":
        raise CliError(f"stack {stack_name} in {region} is still being created: wait until the deploy finishes")
    return StackOutputs(stack_name=stack_name, region=region, status=status, values=values)
