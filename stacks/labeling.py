"""The StartLabeling Lambda: lists images, freezes the job's inputs in S3, creates the job.

Ground Truth labeling jobs have no CloudFormation resource; the operator starts one with
`python -m workflow start-labeling`, which invokes this function synchronously.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import WorkflowConfig
from stacks.data_key import s3_data_key_statement
from stacks.execution_role import SageMakerExecutionRole, prefix_list_condition
from stacks.functions import WorkflowFunction
from stacks.lambda_settings import LABELING_SETTINGS_VAR, Deployment, labeling_settings
from stacks.nag import skip_checkov


def sagemaker_arn(scope: Construct, resource: str, name: str) -> str:
    return Stack.of(scope).format_arn(service="sagemaker", resource=resource, resource_name=name)


class StartLabeling(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: WorkflowConfig,
        deployment: Deployment,
        bucket: s3.IBucket,
        execution: SageMakerExecutionRole,
        workteam_arn: str,
        pre_lambda_arn: str,
        acs_lambda_arn: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        prefix, job_prefix = config.prefix, config.labeling.job_prefix
        self.handler = WorkflowFunction(
            self, "StartLabeling",
            handler="lambdas.start_labeling.handler",
            description="Starts a Ground Truth image-classification labeling job from the images in S3",
            settings_var=LABELING_SETTINGS_VAR,
            settings=labeling_settings(config, deployment, workteam_arn=workteam_arn,
                                       pre_lambda_arn=pre_lambda_arn, acs_lambda_arn=acs_lambda_arn),
            # Listing 100,000 objects and streaming the manifest takes seconds; the margin
            # covers S3 throttling. Memory buys CPU for JSON encoding; the manifest is streamed.
            timeout=Duration.minutes(5),
            memory_size=512,
            log_retention=log_retention,
            # Invoked synchronously by the CLI. An async retry without a job name would start
            # a second, timestamp-named job, so never retry.
            retry_attempts=0,
        )
        skip_checkov(self.handler.function, "CKV_AWS_116", "invoked synchronously by `python -m workflow "
                     "start-labeling`, which receives the error; no asynchronous event can be lost")
        jobs = sagemaker_arn(self, "labeling-job", f"{job_prefix}-*")
        self.handler.add_to_policy(
            iam.PolicyStatement(
                sid="LabelingJobsWithOurPrefix",
                actions=["sagemaker:CreateLabelingJob", "sagemaker:DescribeLabelingJob", "sagemaker:AddTags"],
                resources=[jobs],
            ),
            iam.PolicyStatement(
                sid="ListImages",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions=prefix_list_condition(prefix),
            ),
            iam.PolicyStatement(
                sid="WriteFrozenJobInputs",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{prefix}/labeling/*")],
            ),
            # A job over a manifest the CLI uploaded (relabel): the manifest, and the earlier job's label
            # categories and relabel.json, all frozen inputs under labeling/ (lambdas/start_labeling.py).
            iam.PolicyStatement(
                sid="ReadFrozenJobInputs",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{prefix}/labeling/*")],
            ),
        )
        if config.bucket.kms_key_arn:
            # SSE-KMS bucket: the frozen inputs are uploaded (multipart for a big manifest) with it.
            self.handler.add_to_policy(s3_data_key_statement(self, config.bucket.kms_key_arn))
        execution.grant_pass_role(self.handler.role)
        if config.labeling.auto_labeling.enabled:
            # Ground Truth runs its training and inference jobs as the execution role (docs/labeling-cost.md).
            execution.grant_auto_labeling(self, volume_kms_key_arn=config.labeling.auto_labeling.volume_kms_key_arn)
        self.handler.acknowledge_wildcards({
            jobs: f"labeling jobs named with this workflow's prefix {job_prefix}-",
            bucket.arn_for_objects(f"{prefix}/labeling/*"): "one folder of frozen inputs per labeling job (written; "
                                                             "read back for a job over an uploaded manifest)",
        })
        self.function = self.handler.function
        CfnOutput(Stack.of(self), "StartLabelingFunctionName", value=self.function.function_name,
                  description="Invoked by `python -m workflow start-labeling`")
