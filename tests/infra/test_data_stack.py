"""The data stack: bucket security, naming, adoption, the scoped bucket policy, pinned IDs."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from stacks.data_stack import ACCESS_LOG_BUCKET_LOGICAL_ID, DATA_BUCKET_LOGICAL_ID
from tests.infra.synth import ACCOUNT, REGION, policy_statements, synthesize, synthesize_stacks

CREATED = ["default", "explicit-env", "prod", "vpc-kms"]


def data(config: str) -> Template:
    return Template.from_json(synthesize(config)["Data"])


def test_stateful_logical_ids_are_pinned() -> None:
    # Changing these replaces the bucket (and with it every labeled image): never do it.
    assert DATA_BUCKET_LOGICAL_ID == "DataBucket"
    assert ACCESS_LOG_BUCKET_LOGICAL_ID == "AccessLogBucket"
    resources = synthesize("default")["Data"]["Resources"]
    assert resources["DataBucket"]["Type"] == "AWS::S3::Bucket"
    assert resources["AccessLogBucket"]["Type"] == "AWS::S3::Bucket"


@pytest.mark.parametrize("config", CREATED)
def test_buckets_are_retained_and_stack_is_termination_protected(config: str) -> None:
    assert synthesize_stacks(config)["Data"].termination_protection is True
    resources = synthesize(config)["Data"]["Resources"]
    for logical_id in (DATA_BUCKET_LOGICAL_ID, ACCESS_LOG_BUCKET_LOGICAL_ID):
        assert resources[logical_id]["DeletionPolicy"] == "Retain"
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("config", CREATED)
def test_every_bucket_blocks_public_access_and_requires_tls(config: str) -> None:
    template = data(config)
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
        }
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        assert {
            "Action": "s3:*", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }.items() <= policy["Properties"]["PolicyDocument"]["Statement"][0].items()


@pytest.mark.parametrize("config", CREATED)
def test_data_bucket_versioning_lifecycle_logs_and_ground_truth_cors(config: str) -> None:
    data(config).has_resource_properties("AWS::S3::Bucket", {
        "VersioningConfiguration": {"Status": "Enabled"},
        "LoggingConfiguration": {"DestinationBucketName": {"Ref": ACCESS_LOG_BUCKET_LOGICAL_ID},
                                 "LogFilePrefix": "data-bucket/"},
        "LifecycleConfiguration": {"Rules": Match.array_with([
            Match.object_like({"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}, "Status": "Enabled"}),
            Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 30}, "Status": "Enabled"}),
        ])},
        # Exactly the rule Ground Truth's worker UI needs (docs/preflight.md).
        "CorsConfiguration": {"CorsRules": [{
            "AllowedHeaders": [], "AllowedMethods": ["GET"], "AllowedOrigins": ["*"],
            "ExposedHeaders": ["Access-Control-Allow-Origin"],
        }]},
    })


def test_sse_is_s3_managed_by_default_and_kms_when_configured() -> None:
    default = synthesize("default")["Data"]["Resources"][DATA_BUCKET_LOGICAL_ID]["Properties"]
    assert default["BucketEncryption"]["ServerSideEncryptionConfiguration"][0] == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    kms = synthesize("vpc-kms")["Data"]["Resources"][DATA_BUCKET_LOGICAL_ID]["Properties"]
    rule = kms["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"].endswith(
        "key/11111111-2222-3333-4444-555555555555")
    assert rule["BucketKeyEnabled"] is True


def test_default_bucket_name_is_the_notebooks_default_bucket() -> None:
    agnostic = synthesize("default")["Data"]["Resources"][DATA_BUCKET_LOGICAL_ID]["Properties"]
    assert agnostic["BucketName"] == {"Fn::Join": ["", [
        "sagemaker-", {"Ref": "AWS::Region"}, "-", {"Ref": "AWS::AccountId"}]]}
    explicit = synthesize("explicit-env")["Data"]["Resources"][DATA_BUCKET_LOGICAL_ID]["Properties"]
    assert explicit["BucketName"] == f"sagemaker-{REGION}-{ACCOUNT}"


def test_adopted_bucket_is_referenced_not_created() -> None:
    template = data("adopt-bucket")
    template.resource_count_is("AWS::S3::Bucket", 0)
    template.resource_count_is("AWS::S3::BucketPolicy", 0)
    resources = [s["Resource"] for s in policy_statements(synthesize("adopt-bucket")["Data"])]
    assert "arn:aws:s3:::team-ml-data/ground-truth-demo/*" in resources
    assert "arn:aws:s3:::team-ml-data" in resources
    outputs = synthesize("adopt-bucket")["Data"]["Outputs"]
    assert outputs["BucketName"]["Value"] == "team-ml-data"


@pytest.mark.parametrize("config", CREATED)
def test_bucket_policy_grants_execution_role_the_prefix_only(config: str) -> None:
    template = data(config)
    policy = template.find_resources("AWS::S3::BucketPolicy", {
        "Properties": {"Bucket": {"Ref": DATA_BUCKET_LOGICAL_ID}}})
    (document,) = [p["Properties"]["PolicyDocument"] for p in policy.values()]
    by_sid = {s.get("Sid"): s for s in document["Statement"]}
    role_arn = {"Fn::GetAtt": [Match.string_like_regexp("SageMakerExecutionRole"), "Arn"]}
    listing = by_sid["ExecutionRoleListDataPrefix"]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["ground-truth-demo", "ground-truth-demo/*"]}}
    objects = by_sid["ExecutionRoleReadWriteDataPrefix"]
    assert sorted(objects["Action"]) == ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert objects["Resource"]["Fn::Join"][1][-1] == "/ground-truth-demo/*"
    Template.from_json({"Resources": {"P": {"Type": "T", "Properties": {"Principal": listing["Principal"]}}}}
                       ).has_resource_properties("T", {"Principal": {"AWS": role_arn}})
    # Never the tutorial's s3:* grant.
    for statement in document["Statement"]:
        if statement["Effect"] == "Allow":
            assert "s3:*" not in str(statement["Action"])


@pytest.mark.parametrize("config", ["default", "explicit-env"])
def test_outputs_name_bucket_the_articles_uris_and_role(config: str) -> None:
    outputs = synthesize(config)["Data"]["Outputs"]
    assert outputs["BucketName"]["Value"] == {"Ref": DATA_BUCKET_LOGICAL_ID}
    assert outputs["ImagesS3Uri"]["Value"] == {"Fn::Join": ["", [
        "s3://", {"Ref": DATA_BUCKET_LOGICAL_ID}, "/ground-truth-demo/images/"]]}
    assert outputs["LabeledDataS3Uri"]["Value"] == {"Fn::Join": ["", [
        "s3://", {"Ref": DATA_BUCKET_LOGICAL_ID}, "/ground-truth-demo/labeled-data/"]]}
    assert outputs["ExecutionRoleArn"]["Value"]["Fn::GetAtt"][1] == "Arn"


@pytest.mark.parametrize("config", CREATED)
def test_bucket_policy_admits_the_notebook_sdks_bucket_check(config: str) -> None:
    """`sagemaker.Session().default_bucket()` sends HeadBucket (s3:ListBucket, no s3:prefix)."""
    policy = data(config).find_resources("AWS::S3::BucketPolicy", {
        "Properties": {"Bucket": {"Ref": DATA_BUCKET_LOGICAL_ID}}})
    (document,) = [p["Properties"]["PolicyDocument"] for p in policy.values()]
    by_sid = {s.get("Sid"): s for s in document["Statement"]}
    check = by_sid["ExecutionRoleSdkDefaultBucketCheck"]
    assert check["Action"] == "s3:ListBucket"
    assert check["Resource"] == {"Fn::GetAtt": [DATA_BUCKET_LOGICAL_ID, "Arn"]}
    assert check["Condition"] == {"Null": {"s3:prefix": "true"}}
    assert check["Principal"] == by_sid["ExecutionRoleListDataPrefix"]["Principal"]
