"""The stateless stack: wires the workflow's constructs to the data stack's bucket and role."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from stacks.config import WorkflowConfig
from stacks.data_stack import DataStack
from stacks.notebook import Notebook, notebook_name


class WorkflowStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: WorkflowConfig, data: DataStack,
                 **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.config = config
        if config.notebook.enabled:
            self.notebook = Notebook(
                self, "Notebook",
                config=config.notebook,
                role=data.execution_role,
                name=notebook_name(config.env_name, config.prefix),
                bucket_name=data.bucket.bucket_name,
                prefix=config.prefix,
            )
