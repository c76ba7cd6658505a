"""Preflight asks IAM's simulator on the real account whether each role may make its calls
(`workflow.preflight.permission_table`). Those expectations are checked here, offline, against the
synthesized policies with the same evaluator as the rehearsal: on a correct deployment preflight
must report PASS, never a false FAIL (and a table that drifted from the templates shows here)."""

from __future__ import annotations

import pytest

from stacks.config import load_config
from stacks.notebook import notebook_name
from tests.infra.synth import ACCOUNT, CONFIGURATIONS, REGION, context_for, synthesize
from tests.permissions.policies import StackInput, load_policies, resolve
from tests.permissions.rehearsal import Call, IamRequest, evaluate
from workflow import preflight

ROLE_LABELS = {
    preflight.EXECUTION_ROLE: ("Data", "SageMakerExecutionRole"),
    preflight.START_LABELING: ("Workflow", "LabelingStartLabelingRole"),
    preflight.START_TRAINING: ("Workflow", "TrainingStartTrainingRole"),
    preflight.REGISTER_MODEL: ("Workflow", "ModelRegisterModelRole"),
    preflight.EVALUATION: ("Workflow", "EvaluationEvaluateRole"),
}
CONFIGS = ["explicit-env", "prod", "vpc-kms", "no-evaluation-package", "endpoint-instance-kms"]


def preflight_requests(configuration: str) -> tuple[list[IamRequest], object]:
    overrides, explicit = CONFIGURATIONS[configuration]
    assert explicit, "preflight runs against a deployed (explicit) account and region"
    config = load_config(context_for(overrides), default_account=ACCOUNT, default_region=REGION)
    stacks = [StackInput(f"{config.env_name}-{suffix}", template)
              for suffix, template in synthesize(configuration).items()]
    policies = load_policies(stacks)
    workflow_stack = f"{config.env_name}-Workflow"
    resources = dict(stacks[1].template)["Resources"]
    [topic] = [logical for logical, resource in resources.items() if resource["Type"] == "AWS::SNS::Topic"]
    [queue] = [logical for logical, resource in resources.items() if resource["Type"] == "AWS::SQS::Queue"]
    log_groups = {}
    for role, (_, label) in ROLE_LABELS.items():
        for resource in resources.values():
            if (resource["Type"] == "AWS::Lambda::Function"
                    and label in str(resource["Properties"]["Role"])):
                log_groups[role] = resolve(stacks, workflow_stack, resource["Properties"]["LoggingConfig"]["LogGroup"])
    deployment = preflight.Deployment(
        config=config, region=REGION, account=ACCOUNT,
        bucket=config.bucket.name or config.default_bucket_name(ACCOUNT, REGION),
        execution_role_arn=policies.role("Data", "SageMakerExecutionRole"),
        topic_arn=resolve(stacks, workflow_stack, {"Ref": topic}),
        notebook_name=notebook_name(config.env_name, config.prefix) if config.notebook.enabled else None,
        dead_letter_queue_arn=resolve(stacks, workflow_stack, {"Fn::GetAtt": [queue, "Arn"]}),
        function_log_groups=log_groups,
    )
    assert set(log_groups) == {preflight.START_LABELING, preflight.START_TRAINING, preflight.REGISTER_MODEL,
                               *((preflight.EVALUATION,) if config.evaluation.enabled else ())}
    requests = []
    for role, calls in preflight.permission_table(deployment).items():
        principal = policies.role(*ROLE_LABELS[role])
        for call in calls:
            context = {"aws:SecureTransport": "true", **{c.key: c.values[0] for c in call.context}}
            if call.action.startswith("kms:"):
                context["kms:ViaService"] = f"s3.{REGION}.amazonaws.com"  # how the roles use the bucket key
            origin = Call(principal, "preflight", call.action, {}, REGION, origin=call.why)
            requests.append(IamRequest(principal, call.action, call.resource, context, origin))
    return requests, policies


@pytest.mark.parametrize("configuration", CONFIGS)
def test_preflight_would_pass_on_a_correct_deployment(configuration: str) -> None:
    requests, policies = preflight_requests(configuration)
    assert requests
    denied = [f"{e.request.principal.rsplit('/', 1)[-1]}: {e.request.describe()} -> {e.decision} "
              f"({e.request.call.origin}) {e.errors or ''}"
              for e in evaluate(requests, policies) if not e.allowed]  # type: ignore[arg-type]
    assert not denied, "preflight would report FAIL for a correct deployment:\n" + "\n".join(denied)
