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

from stacks.nag import acknowledge_wildcard_resources

# The public bucket and prefix the tutorial syncs its Caltech-101 sample images from.
SAMPLE_BUCKET = "sagemaker-sample-files"
SAMPLE_PREFIX = "datasets/image/caltech-101"

# Object actions the workflow needs under its prefix: read inputs, write manifests, models,
# checkpoints, and clean up. Never s3:* (the tutorial's fix).
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")


def prefix_list_condition(prefix: str) -> dict[str, dict[str, list[str]]]:
    """ListBucket limited to keys under `prefix` (the s3:prefix request parameter)."""
    return {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}


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
    ) -> None:
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
        self.role.add_to_policy(iam.PolicyStatement(
            sid="SageMakerJobLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                     "logs:DescribeLogStreams"],
            resources=[log_group_arn, f"{log_group_arn}:log-stream:*"],
        ))
        # PutMetricData has no resource-level permissions; the namespace condition scopes it.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="SageMakerJobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        ))
        if encryption_key is not None:
            # What SSE-KMS object reads and writes (incl. multipart uploads) need; no wildcards.
            self.role.add_to_policy(iam.PolicyStatement(
                sid="DataKeyUse",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
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

    def grant_pass_role(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` pass this role to SageMaker, and to nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["iam:PassRole"],
            resource_arns=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )

