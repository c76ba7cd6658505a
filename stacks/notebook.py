"""The tutorial's notebook instance, declared: pinned platform, IMDSv2, no root by default,
and our own inline lifecycle scripts (idle auto-stop, background sample sync)."""

from __future__ import annotations

import re

from aws_cdk import Aws, CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import NotebookConfig
from stacks.lifecycle_scripts import render_on_create, render_on_start
from stacks.nag import acknowledge, skip_checkov

# Pinned logical ID: replacing a notebook instance loses its EBS volume (the user's work).
NOTEBOOK_LOGICAL_ID = "NotebookInstance"


def notebook_console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/notebook-instances/{name}"


def notebook_name(env_name: str, prefix: str) -> str:
    """Deterministic, lowercase (as in SageMaker ARNs), at most 63 characters."""
    raw = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-{env_name}".lower()).strip("-")
    return raw[:63].rstrip("-")


class Notebook(Construct):
    """`AWS::SageMaker::NotebookInstance` plus its lifecycle config."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: NotebookConfig,
        role: iam.IRole,
        name: str,
        bucket_name: str,
        prefix: str,
    ) -> None:
        super().__init__(scope, id_)
        lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            on_create=[sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                content=Fn.base64(render_on_create(
                    bucket=bucket_name, prefix=prefix, sync_sample_images=config.sync_sample_images,
                )),
            )],
            on_start=[sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                content=Fn.base64(render_on_start(idle_minutes=config.idle_minutes)),
            )],
        )
        in_vpc = config.subnet_id is not None
        self.instance = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            notebook_instance_name=name,
            role_arn=role.role_arn,
            instance_type=config.instance_type,
            volume_size_in_gb=config.volume_size_gb,
            platform_identifier=config.platform_identifier,
            # Root off by default: lifecycle scripts still run as root, users cannot sudo.
            root_access="Enabled" if config.root_access else "Disabled",
            direct_internet_access="Disabled" if in_vpc else "Enabled",
            subnet_id=config.subnet_id,
            security_group_ids=list(config.security_group_ids) or None,
            kms_key_id=config.kms_key_arn,
            lifecycle_config_name=lifecycle.attr_notebook_instance_lifecycle_config_name,
            instance_metadata_service_configuration=sagemaker.CfnNotebookInstance.InstanceMetadataServiceConfigurationProperty(
                minimum_instance_metadata_service_version="2",
            ),
        )
        self.instance.override_logical_id(NOTEBOOK_LOGICAL_ID)
        self.name = name

        # The idle checker stops its own instance, and the SageMaker Python SDK's
        # get_execution_role() describes it to read its RoleArn (docs/permissions-fixes.md).
        # SageMaker ARNs carry the lowercased name,
        # hence an explicit lowercase name. A policy of this stack (not the role's default
        # policy, which lives in the data stack) keeps the data stack unchanged.
        notebook_arn = Stack.of(self).format_arn(
            service="sagemaker", resource="notebook-instance", resource_name=name,
        )
        iam.Policy(
            self,
            "StopSelf",
            roles=[role],
            statements=[iam.PolicyStatement(
                actions=["sagemaker:StopNotebookInstance", "sagemaker:DescribeNotebookInstance"],
                resources=[notebook_arn],
            )],
        )

        CfnOutput(Stack.of(self), "NotebookName", value=self.name, description="SageMaker notebook instance")
        CfnOutput(Stack.of(self), "NotebookConsoleUrl", value=notebook_console_url(Aws.REGION, self.name),
                  description="Open Jupyter from here")

        # Through stacks.nag (namespaced ids), so the validation report lists what each one suppresses.
        if not in_vpc:
            acknowledge(self.instance, "SM1", reason=(
                "workflow.notebook.subnet_id is not set: the notebook uses SageMaker-managed "
                "networking; set a subnet to place it in your VPC"))
            acknowledge(self.instance, "SM3", reason=(
                "workflow.notebook.subnet_id is not set: direct internet access is required "
                "without a VPC (pip, git); with a subnet it is disabled"))
        # The role comes from the Data stack (Fn::ImportValue): checkov's graph cannot connect it.
        skip_checkov(self.instance, "CKV2_AWS_68", "false positive: the role is imported from the Data stack; "
                     "its trust policy allows only sts:AssumeRole by sagemaker.amazonaws.com")
        if config.kms_key_arn is None:
            skip_checkov(self.instance, "CKV_AWS_187", "workflow.notebook.kms_key_arn is not set: the volume is "
                         "encrypted with the AWS-managed key; set a customer-managed key to pass")
            acknowledge(self.instance, "SM2", reason=(
                "workflow.notebook.kms_key_arn is not set: the volume is encrypted with the "
                "AWS-managed key; set a customer-managed key to control it"))
