"""Builds the CDK app from context: config, stacks, tags and cdk-nag. Shared by app.py and tests."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_sagemaker as sagemaker
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from stacks.config import WorkflowConfig, load_config
from stacks.data_stack import DataStack
from stacks.workflow_stack import WorkflowStack


def build_app(
    context: Mapping[str, Any],
    *,
    default_account: str | None = None,
    default_region: str | None = None,
    outdir: str | None = None,
) -> cdk.App:
    """The whole app. Raises `ConfigError` (naming every bad key) before creating anything."""
    config = load_config(context, default_account=default_account, default_region=default_region)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    app = cdk.App(context=dict(context), outdir=outdir)
    add_stacks(app, config)
    return app


# What a deletion or replacement of the Workflow stack must not take with it in prod: the registered
# model versions, the workers' accounts and the notebook's ML storage volume.
RETAINED_RESOURCE_TYPES: tuple[type, ...] = (
    sagemaker.CfnModelPackageGroup, cognito.CfnUserPool, sagemaker.CfnNotebookInstance,
)


def retain_stateful_resources(scope: IConstruct) -> list[cdk.CfnResource]:
    """Sets DeletionPolicy and UpdateReplacePolicy Retain on the RETAINED_RESOURCE_TYPES under scope."""
    retained = [c for c in scope.node.find_all() if isinstance(c, RETAINED_RESOURCE_TYPES)]
    for resource in retained:
        resource.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    return retained


def add_stacks(app: cdk.App, config: WorkflowConfig) -> tuple[DataStack, WorkflowStack]:
    env = None if config.is_env_agnostic else cdk.Environment(account=config.account, region=config.region)
    # The local emulator cannot update a stack that has the bootstrap-version rule; only the
    # `make demo` target (context local_emulator=true) drops it. Real deployments keep it.

    def synthesizer() -> cdk.DefaultStackSynthesizer:  # one per stack: a synthesizer binds to its stack
        return cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=not config.local_emulator)

    data = DataStack(
        app, f"{config.stack_prefix}-Data", config=config, env=env,
        synthesizer=synthesizer(),
        description="SageMaker labeling-to-training workflow: data bucket, access logs, execution role (stateful)",
    )
    workflow = WorkflowStack(
        app, f"{config.stack_prefix}-Workflow", config=config, data=data, env=env,
        synthesizer=synthesizer(),
        description="SageMaker labeling-to-training workflow: notebook, labeling, training, alerts (stateless)",
        # The Data stack always has it; the Workflow stack when its stateful resources are retained (prod).
        termination_protection=config.retain_on_delete,
    )
    if config.retain_on_delete:
        retain_stateful_resources(workflow)
    for key, value in config.tags.items():
        cdk.Tags.of(app).add(key, value)
    cdk.Tags.of(app).add("workflow-env", config.env_name)
    # cdk-nag 3.x: a validation plugin, so any unacknowledged finding fails synthesis.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
    return data, workflow
