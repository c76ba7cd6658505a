"""The SageMaker execution role: what the notebook, labeling and training jobs act as.

It replaces the tutorial's hand edits ("attach AmazonSageMakerFullAccess", "s3:* on *") with
explicit statements scoped to this workflow's bucket and prefix.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas import auto_labeling
from stacks.nag import acknowledge_wildcard_resources

# The public bucket and prefix the tutorial syncs its Caltech-101 sample images from.
SAMPLE_BUCKET = "sagemaker-sample-files"
SAMPLE_PREFIX = "datasets/image/caltech-101"

# Object actions the workflow needs under its prefix: read inputs, write manifests, models,
# checkpoints, and clean up. Never s3:* (the tutorial's fix).
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")


# Key actions the execution role needs on an SSE-KMS data bucket's key (docs/permissions-fixes.md):
# Decrypt and GenerateDataKey for S3 reads and writes (multipart uploads included), Encrypt and
# DescribeKey for the jobs' output encryption (CreateTrainingJob's OutputDataConfig.KmsKeyId needs
# kms:Encrypt; Ground Truth's output-encryption key policy lists Encrypt, Decrypt, GenerateDataKey
# and DescribeKey).
EXECUTION_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


def prefix_list_condition(prefix: str) -> dict[str, dict[str, list[str]]]:
    """ListBucket limited to keys under `prefix` (the s3:prefix request parameter)."""
    return {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}


def no_prefix_condition() -> dict[str, dict[str, str]]:
    """ListBucket for requests that carry no s3:prefix at all, such as HeadBucket.

    The SageMaker Python SDK's `Session().default_bucket()` checks the bucket with HeadBucket,
    which S3 authorizes as s3:ListBucket and which sends no prefix, so the prefix condition above
    never matches it. IAM cannot tell HeadBucket from a ListObjects call without a prefix: this
    also lets the role list the bucket's keys (names, not contents). See docs/permissions-fixes.md.
    """
    return {"Null": {"s3:prefix": "true"}}


class SageMakerExecutionRole(Construct):
    """Role trusted by SageMaker, scoped to one bucket prefix."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket: s3.IBucket,
        prefix: str,
        encryption_key: kms.IKey | None = None,
        allow_bucket_check: bool = False,
    ) -> None:
        """`allow_bucket_check`: also allow the SDK's prefix-less HeadBucket (a notebook uses it)."""
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker execution role of the labeling-to-training workflow (scoped to its data prefix)",
        )

        self.role.add_to_policy(iam.PolicyStatement(
            sid="ListDataPrefix",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions=prefix_list_condition(prefix),
        ))
        if allow_bucket_check:
            self.role.add_to_policy(iam.PolicyStatement(
                sid="SdkDefaultBucketCheck",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions=no_prefix_condition(),
            ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="BucketLocation",
            actions=["s3:GetBucketLocation"],
            resources=[bucket.bucket_arn],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadWriteDataPrefix",
            actions=list(OBJECT_ACTIONS),
            resources=[bucket.arn_for_objects(f"{prefix}/*")],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ListSampleDataset",
            actions=["s3:ListBucket"],
            resources=[f"arn:{Aws.PARTITION}:s3:::{SAMPLE_BUCKET}"],
            conditions=prefix_list_condition(SAMPLE_PREFIX),
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadSampleDataset",
            actions=["s3:GetObject"],
            resources=[f"arn:{Aws.PARTITION}:s3:::{SAMPLE_BUCKET}/{SAMPLE_PREFIX}/*"],
        ))
        stack = Stack.of(self)
        log_group_arn = stack.format_arn(
            service="logs", resource="log-group", resource_name="/aws/sagemaker/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # Log groups and log streams are different resource types (Service Authorization
        # Reference, CloudWatch Logs): one statement each, so neither grants the other's actions.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="SageMakerJobLogGroups",
            actions=["logs:CreateLogGroup", "logs:DescribeLogStreams"],
            resources=[log_group_arn],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="SageMakerJobLogStreams",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"{log_group_arn}:log-stream:*"],
        ))
        # PutMetricData has no resource-level permissions; the namespace condition scopes it.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="SageMakerJobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        ))
        if encryption_key is not None:
            # SSE-KMS object reads and writes, and the jobs' output encryption; no wildcards.
            self.role.add_to_policy(iam.PolicyStatement(
                sid="DataKeyUse",
                actions=list(EXECUTION_KEY_ACTIONS),
                resources=[encryption_key.key_arn],
            ))

        acknowledge_wildcard_resources(self.role.node.find_child("DefaultPolicy"), {
            bucket.arn_for_objects(f"{prefix}/*"):
                "object keys under this workflow's data prefix only (inputs, manifests, models)",
            f"arn:{Aws.PARTITION}:s3:::{SAMPLE_BUCKET}/{SAMPLE_PREFIX}/*":
                "read-only: the tutorial's public Caltech-101 sample images",
            log_group_arn: "SageMaker names its job log groups /aws/sagemaker/<JobType>",
            f"{log_group_arn}:log-stream:*": "log streams are named per job and instance at run time",
            "*": "cloudwatch:PutMetricData has no resource-level permissions; limited to the "
                 "/aws/sagemaker/* namespaces by condition",
        })

    def grant_auto_labeling(self, scope: Construct, *, volume_kms_key_arn: str | None) -> iam.Policy:
        """What Ground Truth's automated data labeling needs of this role, exactly as documented
        (lambdas/auto_labeling.execution_role_statements, docs/labeling-cost.md): the role may pass itself to
        SageMaker for the training and inference jobs Ground Truth runs as it, and, with a volume key, create
        grants on that key for AWS resources only. A policy of its own in `scope` (the Workflow stack, where
        the labeling step is), attached to this role; nothing at all when automated labeling is off."""
        statements = auto_labeling.execution_role_statements(role_arn=self.role.role_arn,
                                                             volume_kms_key_arn=volume_kms_key_arn)
        return iam.Policy(scope, "AutoLabeling", roles=[self.role],
                          statements=[iam.PolicyStatement.from_json(statement) for statement in statements])

    def grant_pass_role(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` pass this role to SageMaker, and to nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["iam:PassRole"],
            resource_arns=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )

