"""Ground Truth automated data labeling: the CreateLabelingJob fragment, its rules and its permissions.

With `LabelingJobAlgorithmsConfig` in CreateLabelingJob, Ground Truth labels part of the dataset by
machine: it sends a random sample to humans, trains a model on their labels (SageMaker training
jobs), runs batch inference on the rest (SageMaker batch transform jobs) and keeps the machine
labels it is confident about, sending the others to humans, until every object is labeled or a
stopping condition is met. Those jobs run in our account, as the labeling job's execution role.

This module holds what the request and the stack need:
- `request_fragment(...)`: `{"LabelingJobAlgorithmsConfig": {...}}` to merge into a CreateLabelingJob
  request, after checking the dataset size, the region and every value against botocore's model;
- `dataset_size_problem(n)`: why `n` objects are too few (the documented minimum, 1,250);
- `execution_role_statements(...)`: the IAM statements the execution role needs, exactly as
  documented, scoped to resource ARNs where the Service Authorization Reference allows it;
- `instances_note(...)`: the instance types Ground Truth runs, for the cost estimate.

Standard library only: the StartLabeling Lambda imports this module (relatively), and so do the
synth side and the CLI (as `lambdas.auto_labeling`). The AWS facts, with their sources, are in
docs/labeling-cost.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# --- AWS facts (docs/labeling-cost.md) --------------------------------------------------------

# "The minimum number of objects allowed for automated data labeling is 1,250, but we strongly
# suggest providing a minimum of 5,000 objects."
# https://docs.aws.amazon.com/sagemaker/latest/dg/sms-automated-labeling.html
MIN_OBJECTS = 1_250
RECOMMENDED_MIN_OBJECTS = 5_000
AUTOMATED_LABELING_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sms-automated-labeling.html"

# LabelingJobAlgorithmSpecificationArn: "You must select one of the following ARNs: Image
# classification arn:aws:sagemaker:region:027400017018:labeling-job-algorithm-specification/
# image-classification" (and text-classification, object-detection, semantic-segmentation), the
# same account in every region: botocore's sagemaker-2017-07-24 model and
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_LabelingJobAlgorithmsConfig.html
ALGORITHM_ACCOUNT = "027400017018"

# Our task type (lambdas/task_types.py REGISTRY key) -> the algorithm specification's name.
# Automated labeling exists for single-label image classification, semantic segmentation,
# bounding box and text classification only (sms-automated-labeling).
ALGORITHMS: dict[str, str] = {
    "image-classification": "image-classification",
}

# The regions where a job with automated labeling can be created: those where Ground Truth's
# built-in task types run (stacks/regions.py GROUND_TRUTH_REGIONS; the Lambda cannot import the
# synth side, and tests/unit/test_auto_labeling.py keeps the two in step). The algorithm ARN has
# the same form in each. A region AWS documents as not offering automated labeling would go in
# REFUSED_REGIONS with the reason; none is documented.
REGIONS: tuple[str, ...] = (
    "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ca-central-1",
    "eu-central-1", "eu-west-1", "eu-west-2", "us-east-1", "us-east-2", "us-west-2",
)
REFUSED_REGIONS: dict[str, str] = {}

# "Amazon EC2 Instances Required for Automated Data Labeling" (sms-automated-labeling): training
# and inference instance types per task type; "In the Asia Pacific (Mumbai) Region (ap-south-1)
# use ml.p2.8xlarge instead" of ml.p3.2xlarge. Ground Truth chooses and manages them ("These
# instances don't appear in your Amazon EC2 instance dashboard"); we only report them.
INSTANCE_TYPES: dict[str, tuple[str, str]] = {
    "image-classification": ("ml.p3.2xlarge", "ml.c5.xlarge"),
}
INSTANCE_REGION_OVERRIDES: dict[str, dict[str, str]] = {"ap-south-1": {"ml.p3.2xlarge": "ml.p2.8xlarge"}}

# Input image resolution for active learning (automated labeling) jobs: image classification
# 3840 x 2160 pixels (4K), instead of 100 million pixels without it.
# https://docs.aws.amazon.com/sagemaker/latest/dg/input-data-limits.html
MAX_IMAGE_PIXELS = (3840, 2160)

# botocore's sagemaker-2017-07-24 model: ModelArn, KmsKeyId, VpcConfig (SecurityGroupIds 0..5 and
# Subnets 1..16, both required in VpcConfig; each id [-0-9a-zA-Z]+, at most 32 characters).
MODEL_ARN_PATTERN = r"arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]*):[0-9]{12}:model/.*"
_MODEL_ARN = re.compile(MODEL_ARN_PATTERN)
_MODEL_ARN_LENGTH = (20, 2048)
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z\-]*:kms:([a-z0-9\-]+):[0-9]{12}:key/[a-zA-Z0-9-]+")
_VPC_ID = re.compile(r"[-0-9a-zA-Z]{1,32}")
MAX_SECURITY_GROUPS = 5
MAX_SUBNETS = 16


class AutoLabelingError(ValueError):
    """A value automated labeling cannot run with; the message names it and what to do."""


# --- The request fragment -----------------------------------------------------------------------


def algorithm_specification_arn(region: str, task_type: str = "image-classification") -> str:
    """The documented LabelingJobAlgorithmSpecificationArn of `task_type` in `region`."""
    if task_type not in ALGORITHMS:
        raise AutoLabelingError(
            f"task type {task_type!r}: automated data labeling is documented for "
            f"{', '.join(sorted(ALGORITHMS))} here ({AUTOMATED_LABELING_DOC})")
    if region in REFUSED_REGIONS:
        raise AutoLabelingError(f"region {region!r}: {REFUSED_REGIONS[region]}")
    if region not in REGIONS:
        raise AutoLabelingError(
            f"region {region!r}: automated data labeling runs where Ground Truth's built-in task types "
            f"do: {', '.join(REGIONS)}")
    name = ALGORITHMS[task_type]
    return f"arn:aws:sagemaker:{region}:{ALGORITHM_ACCOUNT}:labeling-job-algorithm-specification/{name}"


def dataset_size_problem(object_count: int) -> str | None:
    """Why automated labeling cannot run on `object_count` objects, or None."""
    if object_count >= MIN_OBJECTS:
        return None
    return (f"automated data labeling needs at least {MIN_OBJECTS:,} objects and the dataset has {object_count:,}: "
            "\"The minimum number of objects allowed for automated data labeling is 1,250\" "
            f"({AUTOMATED_LABELING_DOC}); label these with humans only (switch labeling.auto_labeling off) "
            "or add objects")


def dataset_size_advice(object_count: int) -> str | None:
    """A warning for a dataset above the minimum but below AWS's recommendation, or None."""
    if object_count < MIN_OBJECTS or object_count >= RECOMMENDED_MIN_OBJECTS:
        return None
    return (f"{object_count:,} objects: AWS \"strongly suggest[s] providing a minimum of 5,000 objects\" for automated "
            "data labeling; with fewer, its model may rarely be confident enough to label anything, and its training "
            "and inference instances are paid all the same")


@dataclass(frozen=True)
class AutoLabelingOptions:
    """What the config says about automated labeling (besides switching it on).

    `initial_model_arn`: a previous job's `LabelingJobOutput.FinalActiveLearningModelArn`, to start
    from its model. `volume_kms_key_arn`: the KMS key for the training and inference instances'
    storage volumes (an ARN, not a key id, so the execution role's kms:CreateGrant can name it).
    `subnets` / `security_group_ids`: run those jobs in a VPC (both or neither).
    """

    initial_model_arn: str | None = None
    volume_kms_key_arn: str | None = None
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, path: str = "labeling.auto_labeling") -> AutoLabelingOptions:
        """From settings/config keys `initial_model_arn`, `volume_kms_key_arn`, `subnets`, `security_group_ids`."""
        unknown = set(values) - {"initial_model_arn", "volume_kms_key_arn", "subnets", "security_group_ids"}
        if unknown:
            raise AutoLabelingError(f"{path}: unknown keys {sorted(unknown)}")
        for key in ("subnets", "security_group_ids"):
            value = values.get(key) or ()
            if isinstance(value, str) or not all(isinstance(item, str) for item in value):
                raise AutoLabelingError(f"{path}.{key} must be a list of strings, got {value!r}")
        for key in ("initial_model_arn", "volume_kms_key_arn"):
            if values.get(key) is not None and not isinstance(values[key], str):
                raise AutoLabelingError(f"{path}.{key} must be a string or null, got {values[key]!r}")
        return cls(
            initial_model_arn=values.get("initial_model_arn"),
            volume_kms_key_arn=values.get("volume_kms_key_arn"),
            subnets=tuple(values.get("subnets") or ()),
            security_group_ids=tuple(values.get("security_group_ids") or ()),
        )

    def problems(self, region: str, *, path: str = "labeling.auto_labeling") -> list[str]:
        """Every value botocore's model or the job's region would refuse, one sentence each."""
        problems: list[str] = []
        arn = self.initial_model_arn
        if arn is not None:
            match = _MODEL_ARN.fullmatch(arn)
            if not match or not _MODEL_ARN_LENGTH[0] <= len(arn) <= _MODEL_ARN_LENGTH[1]:
                problems.append(f"{path}.initial_model_arn = {arn!r} is not a SageMaker model ARN "
                                "(arn:aws:sagemaker:<region>:<account>:model/<name>, a previous job's "
                                "LabelingJobOutput.FinalActiveLearningModelArn)")
            elif match.group(1) != region:
                problems.append(f"{path}.initial_model_arn is a model in {match.group(1)!r}, but the job runs in "
                                f"{region!r}: SageMaker models are regional, use one trained in {region!r}")
        key = self.volume_kms_key_arn
        if key is not None:
            match = _KMS_KEY_ARN.fullmatch(key)
            if not match:
                problems.append(f"{path}.volume_kms_key_arn = {key!r} is not a KMS key ARN "
                                "(arn:aws:kms:<region>:<account>:key/<id>); a key ARN lets the execution role's "
                                "kms:CreateGrant name the key")
            elif match.group(1) != region:
                problems.append(f"{path}.volume_kms_key_arn is a key in {match.group(1)!r}, but the job runs in "
                                f"{region!r}: a KMS key encrypts volumes in its own region only")
        if bool(self.subnets) != bool(self.security_group_ids):
            problems.append(f"{path}: subnets and security_group_ids go together (VpcConfig requires both); "
                            f"got {len(self.subnets)} subnets and {len(self.security_group_ids)} security groups")
        if len(self.subnets) > MAX_SUBNETS:
            problems.append(f"{path}.subnets: {len(self.subnets)} subnets, VpcConfig takes at most {MAX_SUBNETS}")
        if len(self.security_group_ids) > MAX_SECURITY_GROUPS:
            problems.append(f"{path}.security_group_ids: {len(self.security_group_ids)} groups, VpcConfig takes at "
                            f"most {MAX_SECURITY_GROUPS}")
        for key_name, ids in (("subnets", self.subnets), ("security_group_ids", self.security_group_ids)):
            problems.extend(f"{path}.{key_name}: {value!r} is not an id (letters, digits and '-', at most 32)"
                            for value in ids if not _VPC_ID.fullmatch(value))
        if any(len(set(ids)) != len(ids) for ids in (self.subnets, self.security_group_ids)):
            problems.append(f"{path}: subnets and security_group_ids must not repeat an id")
        return problems


def request_fragment(
    *,
    region: str,
    object_count: int,
    options: AutoLabelingOptions = AutoLabelingOptions(),
    task_type: str = "image-classification",
) -> dict[str, Any]:
    """`{"LabelingJobAlgorithmsConfig": {...}}` to merge into a CreateLabelingJob request.

    Refuses (AutoLabelingError, every reason at once) a dataset below the documented minimum, a task
    type or region without automated labeling, and option values botocore's model or the region
    would refuse.
    """
    problems: list[str] = []
    try:
        arn = algorithm_specification_arn(region, task_type)
    except AutoLabelingError as error:
        problems.append(str(error))
        arn = ""
    size = dataset_size_problem(object_count)
    if size:
        problems.append(size)
    problems.extend(options.problems(region))
    if problems:
        raise AutoLabelingError("; ".join(problems))
    config: dict[str, Any] = {"LabelingJobAlgorithmSpecificationArn": arn}
    if options.initial_model_arn:
        config["InitialActiveLearningModelArn"] = options.initial_model_arn
    resources: dict[str, Any] = {}
    if options.volume_kms_key_arn:
        resources["VolumeKmsKeyId"] = options.volume_kms_key_arn
    if options.subnets:
        resources["VpcConfig"] = {
            "SecurityGroupIds": list(options.security_group_ids),
            "Subnets": list(options.subnets),
        }
    if resources:
        config["LabelingJobResourceConfig"] = resources
    return {"LabelingJobAlgorithmsConfig": config}


# --- Permissions ----------------------------------------------------------------------------------

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"


def execution_role_statements(*, role_arn: str, volume_kms_key_arn: str | None = None) -> list[dict[str, Any]]:
    """The IAM policy statements the labeling job's execution role needs for automated labeling.

    As documented (sms-security-permission-execution-role, "Automated Data Labeling Permission
    Requirements"): iam:PassRole of the execution role itself to SageMaker, "so that it can be used
    to run the training and inference jobs used for active learning and automated data labeling".
    The documented Resource is the role's ARN and the Service Authorization Reference makes
    iam:PassRole resource-level (resource type `role`, condition key iam:PassedToService), so it is
    scoped to exactly that.

    With a volume key (sms-security-kms-permissions, "Encrypt Automated Data Labeling ML Compute
    Instance Storage Volume"): kms:CreateGrant, documented with Resource "*"; the Service
    Authorization Reference makes it resource-level (resource type `key`), so it names the key, and
    kms:GrantIsForAWSResource limits it to grants AWS services create for us.

    The trust policy must let sagemaker.amazonaws.com sts:AssumeRole (the project's execution role
    already does: stacks/execution_role.py). `role_arn` and the key ARN may be CloudFormation tokens.
    """
    statements: list[dict[str, Any]] = [{
        "Sid": "AutoLabelingPassRole",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": role_arn,
        "Condition": {"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}},
    }]
    if volume_kms_key_arn:
        statements.append({
            "Sid": "AutoLabelingVolumeKey",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": volume_kms_key_arn,
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        })
    return statements


# The key policy of a volume key must let the execution role use it as for output encryption
# (sms-security-kms-permissions, "Encrypt Output Data using KMS").
VOLUME_KEY_POLICY_ACTIONS: tuple[str, ...] = (
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
)


def instance_types(task_type: str = "image-classification", region: str | None = None) -> tuple[str, str]:
    """(training, inference) instance types Ground Truth runs for automated labeling of `task_type`."""
    training, inference = INSTANCE_TYPES[task_type]
    overrides = INSTANCE_REGION_OVERRIDES.get(region or "", {})
    return overrides.get(training, training), overrides.get(inference, inference)


def instances_note(task_type: str = "image-classification", region: str | None = None) -> str:
    """One sentence for the cost estimate: the instances automated labeling adds, not estimated."""
    if task_type not in INSTANCE_TYPES:
        return "the training and inference instances automated data labeling runs (not estimated)"
    training, inference = instance_types(task_type, region)
    where = f" in {region}" if region else ""
    return (f"the training ({training}) and batch inference ({inference}) instances Ground Truth runs{where} for "
            "automated data labeling, billed at SageMaker instance prices (not estimated)")
