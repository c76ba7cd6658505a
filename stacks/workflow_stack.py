"""The stateless stack: wires the workflow's steps (labeling, training, model) to the data stack's bucket and role."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.alerts import Alerts
from stacks.config import WorkflowConfig
from stacks.data_stack import DataStack, data_bucket_name
from stacks.endpoint import EndpointDeployment
from stacks.evaluation import ModelEvaluation
from stacks.functions import retention_days
from stacks.labeling import StartLabeling
from stacks.lambda_settings import Deployment
from stacks.model import ModelRegistration
from stacks.notebook import Notebook, notebook_name
from stacks.training import Training
from stacks.workforce import Workforce


class WorkflowStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: WorkflowConfig, data: DataStack,
                 **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        region = None if config.is_env_agnostic else config.region
        log_retention = retention_days(config.log_retention_days)
        # By name, not by reference: see data_bucket_name.
        bucket = s3.Bucket.from_bucket_name(self, "DataBucket", data_bucket_name(config, self))
        deployment = Deployment(account=self.account, region=self.region, bucket=bucket.bucket_name,
                                role_arn=data.execution_role.role_arn)

        if config.notebook.enabled:
            self.notebook = Notebook(
                self, "Notebook",
                config=config.notebook,
                role=data.execution_role,
                name=notebook_name(config.env_name, config.prefix),
                bucket_name=bucket.bucket_name,
                prefix=config.prefix,
            )
        self.workforce = Workforce(self, "Workforce", config=config.workforce, task=config.task.ground_truth,
                                   name_prefix=config.workforce_name_prefix, region=region,
                                   existing_user_pool_id=config.workforce.existing_user_pool_id,
                                   existing_app_client_id=config.workforce.existing_app_client_id,
                                   log_retention=log_retention)
        self.alerts = Alerts(self, "Alerts", config=config)
        self.labeling = StartLabeling(
            self, "Labeling",
            config=config, deployment=deployment, bucket=bucket, execution=data.execution,
            workteam_arn=self.workforce.workteam_arn,
            pre_lambda_arn=self.workforce.pre_lambda_arn, acs_lambda_arn=self.workforce.acs_lambda_arn,
            log_retention=log_retention,
        )
        self.training = Training(
            self, "Training",
            config=config, deployment=deployment, region=region, bucket=bucket,
            execution=data.execution, alerts=self.alerts, log_retention=log_retention,
        )
        self.model = ModelRegistration(
            self, "Model",
            config=config, deployment=deployment, bucket=bucket, image=self.training.image,
            execution=data.execution, alerts=self.alerts, log_retention=log_retention,
        )
        for label, function in (("StartLabeling", self.labeling.function),
                                ("StartTraining", self.training.start_training.function),
                                ("RegisterModel", self.model.register_model.function)):
            self.alerts.alarm_on_errors(label, function)
        # Evaluate each new model (a batch transform of its validation split), unless evaluation.enabled is false.
        self.evaluation: ModelEvaluation | None = None
        if config.evaluation.enabled:
            self.evaluation = ModelEvaluation(
                self, "Evaluation",
                config=config, deployment=deployment, bucket=bucket, alerts=self.alerts, log_retention=log_retention,
                package_group_name=self.model.package_group_name,
            )
            self.alerts.alarm_on_errors("Evaluation", self.evaluation.function.function)
        # Deploy on approval: nothing at all unless endpoint.enabled (the default is false).
        self.endpoint: EndpointDeployment | None = None
        if config.endpoint.enabled:
            self.endpoint = EndpointDeployment(
                self, "Endpoint",
                config=config, deployment_values=deployment, execution=data.execution, alerts=self.alerts,
                log_retention=log_retention,
            )
            self.alerts.alarm_on_errors("Deployment", self.endpoint.function.function)
