"""The stateful stack: the data bucket, its access-log bucket and the SageMaker execution role.

Everything here outlives the workflow's code: RETAIN on the buckets, termination
protection on the stack, and logical IDs pinned (by `override_logical_id` and a test) so a
refactor can never replace the bucket. The execution role lives here, not in the workflow
stack, because the bucket policy names it: a role in the other stack would make the data
stack depend on the stateless one.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import WorkflowConfig
from stacks.execution_role import (
    OBJECT_ACTIONS,
    SageMakerExecutionRole,
    no_prefix_condition,
    prefix_list_condition,
)
from stacks.nag import skip_checkov

# Pinned logical IDs of the stateful resources (a change here replaces data: never do it).
DATA_BUCKET_LOGICAL_ID = "DataBucket"
ACCESS_LOG_BUCKET_LOGICAL_ID = "AccessLogBucket"

# The Ground Truth worker UI loads images straight from S3 in the browser (pre-signed URLs);
# without this rule labeling tasks fail to show images. The console adds it, the API does not.
GROUND_TRUTH_CORS_RULE = s3.CorsRule(
    allowed_methods=[s3.HttpMethods.GET],
    allowed_origins=["*"],
    allowed_headers=[],
    exposed_headers=["Access-Control-Allow-Origin"],
)


def data_bucket_name(config: WorkflowConfig, stack: Stack) -> str:
    """The data bucket's name, computable in any stack of the same environment.

    The workflow stack derives it itself instead of importing it from the data stack, so the
    stateless stack holds no reference that could pin or block the stateful one.
    """
    return config.bucket.name or config.default_bucket_name(stack.account, stack.region)


class DataStack(Stack):
    """Data bucket (created, named, or adopted), access logs and the execution role."""

    def __init__(self, scope: Construct, id_: str, *, config: WorkflowConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, termination_protection=True, **kwargs)
        prefix = config.prefix
        self.encryption_key: kms.IKey | None = (
            kms.Key.from_key_arn(self, "DataKey", config.bucket.kms_key_arn)
            if config.bucket.kms_key_arn
            else None
        )
        bucket_name = data_bucket_name(config, self)
        if config.bucket.adopt_existing:
            # Adopted: nothing is created or changed; README lists what the owner must ensure
            # (CORS rule, TLS-only policy, Block Public Access).
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(self, "AdoptedDataBucket", bucket_name)
        else:
            self.bucket = self._data_bucket(config, bucket_name, self._access_log_bucket(config))

        self.execution = SageMakerExecutionRole(
            self, "SageMakerExecution", bucket=self.bucket, prefix=prefix,
            encryption_key=self.encryption_key,
            # The notebook's `sagemaker.Session().default_bucket()` sends a prefix-less HeadBucket.
            allow_bucket_check=config.notebook.enabled,
        )
        self.execution_role = self.execution.role
        if not config.bucket.adopt_existing:
            self._grant_role_in_bucket_policy(self.execution_role, prefix,
                                              allow_bucket_check=config.notebook.enabled)

        CfnOutput(self, "BucketName", value=self.bucket.bucket_name,
                  description="Data bucket (the notebook's default bucket)")
        CfnOutput(self, "ImagesS3Uri", value=f"s3://{self.bucket.bucket_name}/{prefix}/images/",
                  description="Upload images to label here (the tutorial's input location)")
        CfnOutput(self, "LabeledDataS3Uri", value=f"s3://{self.bucket.bucket_name}/{prefix}/labeled-data/",
                  description="Ground Truth writes labeling output here")
        CfnOutput(self, "ExecutionRoleArn", value=self.execution_role.role_arn,
                  description="SageMaker execution role (notebook, labeling and training jobs)")

    def _access_log_bucket(self, config: WorkflowConfig) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # Server access log delivery supports SSE-S3 only, not SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(
                id="ExpireAccessLogs",
                expiration=Duration.days(config.bucket.access_log_expiration_days),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )],
        )
        _pin(bucket, ACCESS_LOG_BUCKET_LOGICAL_ID)
        skip_checkov(bucket, "CKV_AWS_18", "this is the access-log destination itself; logging it would need a "
                     "second log bucket (and that one a third); it holds only logs, read by the account's operators")
        skip_checkov(bucket, "CKV_AWS_21", "write-once access logs that expire after "
                     "workflow.bucket.access_log_expiration_days; versions would only keep expired logs")
        return bucket

    def _data_bucket(self, config: WorkflowConfig, name: str, logs: s3.IBucket) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Data",
            bucket_name=name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            encryption=s3.BucketEncryption.KMS if self.encryption_key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self.encryption_key,
            bucket_key_enabled=True if self.encryption_key else None,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=logs,
            server_access_logs_prefix="data-bucket/",
            cors=[GROUND_TRUTH_CORS_RULE],
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="AbortIncompleteMultipartUploads",
                                 abort_incomplete_multipart_upload_after=Duration.days(7)),
                s3.LifecycleRule(id="ExpireNoncurrentVersions",
                                 noncurrent_version_expiration=Duration.days(
                                     config.bucket.noncurrent_version_expiration_days)),
            ],
        )
        _pin(bucket, DATA_BUCKET_LOGICAL_ID)
        return bucket

    def _grant_role_in_bucket_policy(self, role: iam.IRole, prefix: str, *, allow_bucket_check: bool) -> None:
        """The tutorial's bucket-policy fix, scoped: the role's rights on the prefix, no s3:*."""
        principal = iam.ArnPrincipal(role.role_arn)
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="ExecutionRoleListDataPrefix",
            principals=[principal],
            actions=["s3:ListBucket"],
            resources=[self.bucket.bucket_arn],
            conditions=prefix_list_condition(prefix),
        ))
        if allow_bucket_check:
            # Mirrors the role's SdkDefaultBucketCheck statement (see no_prefix_condition).
            self.bucket.add_to_resource_policy(iam.PolicyStatement(
                sid="ExecutionRoleSdkDefaultBucketCheck",
                principals=[principal],
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions=no_prefix_condition(),
            ))
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="ExecutionRoleReadWriteDataPrefix",
            principals=[principal],
            actions=list(OBJECT_ACTIONS),
            resources=[self.bucket.arn_for_objects(f"{prefix}/*")],
        ))


def _pin(bucket: s3.Bucket, logical_id: str) -> None:
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    cfn.override_logical_id(logical_id)
