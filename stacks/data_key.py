"""What a Lambda role needs on the data bucket's SSE-KMS key: only what its S3 calls use.

S3 calls KMS on the caller's behalf: PutObject needs kms:GenerateDataKey, GetObject needs
kms:Decrypt, and a multipart upload needs both. The kms:ViaService condition limits the grant
to requests S3 makes for the role, so the key cannot be used directly (docs/permissions-fixes.md).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

S3_DATA_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def s3_data_key_statement(scope: Construct, key_arn: str) -> iam.PolicyStatement:
    """Decrypt and GenerateDataKey on `key_arn`, through S3 in this stack's region only."""
    return iam.PolicyStatement(
        sid="DataBucketKeyViaS3",
        actions=list(S3_DATA_KEY_ACTIONS),
        resources=[key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(scope).region}.amazonaws.com"}},
    )
