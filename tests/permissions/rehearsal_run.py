"""Collect what the rehearsal needs from one end-to-end run on the emulator (tests/integration/test_demo.py),
while the emulator is still up: the recorded calls, the notebook's SDK calls (run for real, as the
execution role), the calls services make on our behalf, and the deployed templates with the
physical ids of their resources."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3

from stacks.notebook import NOTEBOOK_LOGICAL_ID
from tests.permissions import on_behalf
from tests.permissions.policies import StackInput, lambda_functions
from tests.permissions.rehearsal import Call, CallRecorder
from workflow import local


@dataclass(frozen=True)
class RehearsalRun:
    calls: tuple[Call, ...]  # recorded (ours) + the notebook's + on our behalf
    stacks: tuple[StackInput, ...]  # as deployed
    bucket: str
    prefix: str
    execution_role: str
    operator_calls: int

    def physical_ids(self) -> dict[str, Mapping[str, str]]:
        return {stack.name: stack.physical_ids for stack in self.stacks}


def collect(endpoint_url: str, outputs: Mapping[str, Mapping[str, str]], recorder: CallRecorder, *,
            region: str, env_name: str) -> RehearsalRun:
    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint_url, region_name=region)

    data, workflow = outputs[f"{env_name}-Data"], outputs[f"{env_name}-Workflow"]
    bucket, role = data["BucketName"], data["ExecutionRoleArn"]
    prefix = data["ImagesS3Uri"].split(f"s3://{bucket}/", 1)[1].rstrip("/").rsplit("/images", 1)[0]
    notebook = workflow["NotebookName"]

    recorded = recorder.ours()  # before the notebook's calls below, which it would see too
    cloudformation = client("cloudformation")
    physical_ids = {name: _physical_ids(cloudformation, name) for name in (f"{env_name}-Data", f"{env_name}-Workflow")}
    # The emulator ignores NotebookInstanceName and makes up its own; the SDK must find the
    # instance, so it runs with the emulator's name, and the calls are recorded with the name
    # AWS would have used (the stack's NotebookName output).
    emulated_notebook = physical_ids[f"{env_name}-Workflow"][NOTEBOOK_LOGICAL_ID].rsplit("notebook-instance/", 1)[-1]
    notebook_sdk = CallRecorder()
    with notebook_sdk.recording(), local.acting_as(role):
        run_notebook_sdk(region, emulated_notebook, endpoint_url)
    s3 = client("s3")

    def read_object(bucket_name: str, key: str) -> bytes:
        return s3.get_object(Bucket=bucket_name, Key=key)["Body"].read()

    sdk_calls = [dataclasses.replace(call, origin="notebook SDK: get_execution_role, default_bucket",
                                     params=_renamed(call.params, emulated_notebook, notebook))
                 for call in notebook_sdk.ours()]
    ours = [*recorded, *sdk_calls]
    derived = on_behalf.service_calls(ours, read_object)
    lifecycle = on_behalf.notebook_calls(role=role, region=region, notebook_name=notebook,
                                         sample_source=_sample_source(), bucket=bucket, prefix=prefix)
    stacks = []
    for name, physical in physical_ids.items():
        body = cloudformation.get_template(StackName=name)["TemplateBody"]
        template = json.loads(body) if isinstance(body, str) else body
        stacks.append(StackInput(name, template, physical))
    invoked = {call.principal for call in recorded if call.principal is not None}
    runtime = on_behalf.lambda_service_calls(lambda_functions(stacks), invoked, region)
    return RehearsalRun(
        calls=(*ours, *derived, *lifecycle, *runtime),
        stacks=tuple(stacks),
        bucket=bucket,
        prefix=prefix,
        execution_role=role,
        operator_calls=sum(1 for call in recorder.calls if call.principal is None),
    )


def _physical_ids(cloudformation: Any, stack: str) -> dict[str, str]:
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
    return {r["LogicalResourceId"]: r["PhysicalResourceId"]
            for page in pages for r in page["StackResourceSummaries"] if r.get("PhysicalResourceId")}


def _renamed(params: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    return {key: new if value == old else value for key, value in params.items()}


def run_notebook_sdk(region: str, notebook_name: str, endpoint_url: str) -> None:
    """The SageMaker Python SDK's first calls in the tutorial's notebook, for real (sagemaker-core's
    Session): `get_execution_role()` and `Session().default_bucket()`. On a notebook instance the SDK
    learns its name from /opt/ml/metadata/resource-metadata.json; a temporary file stands in. The SDK
    names STS's regional endpoint explicitly, so that is pointed at the emulator too."""
    from sagemaker.core.helper import session_helper

    with tempfile.TemporaryDirectory() as directory:
        metadata = Path(directory) / "resource-metadata.json"
        metadata.write_text(json.dumps({"ResourceName": notebook_name}))
        with (mock.patch.object(session_helper, "NOTEBOOK_METADATA_FILE", str(metadata)),
              mock.patch.object(session_helper, "sts_regional_endpoint", lambda _region: endpoint_url)):
            session = session_helper.Session(boto_session=boto3.Session(region_name=region))
            session.get_caller_identity_arn()
            session.default_bucket()


def _sample_source() -> str:
    from stacks.lifecycle_scripts import DEFAULT_SAMPLE_SOURCE

    return DEFAULT_SAMPLE_SOURCE
