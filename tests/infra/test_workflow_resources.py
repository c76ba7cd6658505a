"""The workflow stack's functions, rules, alerts and permissions; rule patterns checked by
EventBridge's own matcher (the emulator's TestEventPattern)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from demo.events import labeling_job_state_change, matches, training_job_state_change, tuning_job_state_change
from stacks.lambda_settings import LABELING_SETTINGS_VAR, MODEL_SETTINGS_VAR, TRAINING_SETTINGS_VAR
from stacks.model import MODEL_PACKAGE_GROUP_LOGICAL_ID
from tests.infra.synth import ACCOUNT, REGION, policy_statements, render, synthesize, synthesize_stacks


def resources(config: str, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in synthesize(config)["Workflow"]["Resources"].items() if v["Type"] == kind}


def function(config: str, name: str) -> dict[str, Any]:
    (props,) = [v["Properties"] for k, v in resources(config, "AWS::Lambda::Function").items() if name in k]
    return props


def rule_pattern(config: str, name: str) -> dict[str, Any]:
    (props,) = [v["Properties"] for k, v in resources(config, "AWS::Events::Rule").items() if name in k]
    return props["EventPattern"]


def role_statements(config: str, role_fragment: str) -> list[dict[str, Any]]:
    template = synthesize(config)["Workflow"]
    out: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and any(
                role_fragment in r["Ref"] for r in resource["Properties"].get("Roles", []) if "Ref" in r):
            out.extend(render(resource["Properties"]["PolicyDocument"]["Statement"]))
    return out


@pytest.mark.parametrize("name", ["StartLabeling", "StartTraining", "RegisterModel"])
def test_functions_use_the_latest_python_arm_json_logs_and_their_own_log_group(name: str) -> None:
    props = function("explicit-env", name)
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert "LogGroup" in props["LoggingConfig"]
    groups = resources("explicit-env", "AWS::Logs::LogGroup")
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())
    prod_groups = resources("prod", "AWS::Logs::LogGroup")
    assert all(g["Properties"]["RetentionInDays"] == 365 for g in prod_groups.values())


def test_settings_reach_each_function_as_resolved_json() -> None:
    labeling = function("explicit-env", "StartLabeling")["Environment"]["Variables"][LABELING_SETTINGS_VAR]
    text = render(labeling)
    settings = json.loads(text.replace('"<import:', '"import:').replace('>"', '"'))
    assert settings["workteam_arn"] == f"arn:aws:sagemaker:{REGION}:394669845002:workteam/public-crowd/default"
    assert settings["pre_lambda_arn"] == f"arn:aws:lambda:{REGION}:432418664414:function:PRE-ImageMultiClass"
    assert settings["bucket"] == f"sagemaker-{REGION}-{ACCOUNT}"
    assert settings["labels"] == ["Airplane", "Car", "Ferry", "Helicopter", "Motorbike"]
    assert settings["price_usd"] == "0.012"
    training = json.loads(render(function("explicit-env", "StartTraining")["Environment"]["Variables"][
        TRAINING_SETTINGS_VAR]).replace('"<import:', '"import:').replace('>"', '"'))
    assert training["image_uri"] == "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
    assert training["spot"] is True and training["tuning"]["enabled"] is False
    model = function("explicit-env", "RegisterModel")["Environment"]["Variables"][MODEL_SETTINGS_VAR]
    assert "register_package" in render(model)


def test_env_agnostic_templates_look_images_up_in_a_mapping() -> None:
    template = synthesize("default")["Workflow"]
    (images,) = [m for name, m in template["Mappings"].items() if "AlgorithmImages" in name]
    assert set(images) >= {"us-east-1", "eu-west-1", "ap-southeast-2"}
    assert "eu-north-1" not in images  # no Ground Truth there
    assert "AlgorithmImages" not in json.dumps(synthesize("explicit-env")["Workflow"].get("Mappings", {}))


def test_async_invocation_retries_event_age_and_dead_letters() -> None:
    configs = resources("explicit-env", "AWS::Lambda::EventInvokeConfig")
    by_function = {k: v["Properties"] for k, v in configs.items()}
    for key, props in by_function.items():
        if "StartLabeling" in key:
            assert props["MaximumRetryAttempts"] == 0  # a retry would start a second job
        else:
            assert props["MaximumRetryAttempts"] == 2
            assert props["MaximumEventAgeInSeconds"] == 6 * 3600
            assert "OnFailure" in props["DestinationConfig"]
    queue = resources("explicit-env", "AWS::SQS::Queue")
    assert len(queue) == 1
    for rule in resources("explicit-env", "AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            assert "DeadLetterConfig" in target


def test_queue_and_topic_require_tls() -> None:
    for kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        (policy,) = resources("explicit-env", kind).values()
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements)


def test_email_subscription_only_when_configured() -> None:
    assert resources("explicit-env", "AWS::SNS::Subscription") == {}


def test_start_labeling_role_is_least_privilege() -> None:
    statements = role_statements("explicit-env", "StartLabeling")
    by_sid = {s.get("Sid"): s for s in statements}
    assert by_sid["LabelingJobsWithOurPrefix"]["Resource"] == (
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/gt-demo-*")
    assert by_sid["WriteFrozenJobInputs"]["Resource"] == (
        f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}/ground-truth-demo/labeling/*")
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert pass_role["Resource"].startswith("<import:dev-Data:ExportsOutputFnGetAttSageMakerExecutionRole")


def test_training_roles_are_scoped_to_our_prefix() -> None:
    start = {s.get("Sid"): s for s in role_statements("explicit-env", "StartTraining")}
    # One resource type per statement: no CreateTrainingJob on tuning-job ARNs and vice versa.
    assert start["StartOurTrainingJobs"]["Resource"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/gt-demo-*"
    assert sorted(start["StartOurTrainingJobs"]["Action"]) == ["sagemaker:AddTags", "sagemaker:CreateTrainingJob"]
    assert start["StartOurTuningJobs"]["Resource"] == (
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/gt-demo-*")
    assert sorted(start["StartOurTuningJobs"]["Action"]) == [
        "sagemaker:AddTags", "sagemaker:CreateHyperParameterTuningJob"]
    register = {s.get("Sid"): s for s in role_statements("explicit-env", "RegisterModel")}
    assert register["CreateOurModels"]["Resource"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-*"
    assert "RegisterModelPackageVersions" not in register
    # prod registers model packages: after the evaluation, so as the Evaluation function (evaluation.enabled).
    prod = {s.get("Sid"): s for s in role_statements("prod", "RegisterModel")}
    assert "RegisterModelPackageVersions" not in prod
    assert "RegisterModelPackageVersions" in {s.get("Sid") for s in role_statements("prod", "EvaluationEvaluate")}
    assert resources("prod", "AWS::SageMaker::ModelPackageGroup")


def test_start_training_may_check_whether_its_job_already_exists() -> None:
    """start_training._job_exists describes the training or tuning job before creating it."""
    start = {s.get("Sid"): s for s in role_statements("explicit-env", "StartTraining")}
    assert start["DescribeOurTrainingJobs"]["Action"] == "sagemaker:DescribeTrainingJob"
    assert start["DescribeOurTrainingJobs"]["Resource"] == (
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/gt-demo-*")
    assert start["DescribeOurTuningJobs"]["Action"] == "sagemaker:DescribeHyperParameterTuningJob"
    assert start["DescribeOurTuningJobs"]["Resource"] == (
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/gt-demo-*")


def _granted(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def test_register_model_is_granted_exactly_the_calls_it_makes() -> None:
    register = {s.get("Sid"): s for s in role_statements("explicit-env", "RegisterModel")}
    assert register["DescribeOurModels"] == {
        "Sid": "DescribeOurModels", "Effect": "Allow", "Action": "sagemaker:DescribeModel",
        "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/gt-demo-*"}
    assert "sagemaker:Search" not in _granted(list(register.values()))  # no package group in dev

    # Whoever registers (RegisterModel with evaluation off, the Evaluation function with it on) gets the same two
    # statements, on its environment's group only.
    for config, role, group in (("no-evaluation-package", "RegisterModel", "dev-models"),
                                ("prod", "EvaluationEvaluate", "prod-models")):
        registering = {s.get("Sid"): s for s in role_statements(config, role)}
        versions = registering["RegisterModelPackageVersions"]
        assert sorted(versions["Action"]) == ["sagemaker:AddTags", "sagemaker:CreateModelPackage"]
        assert versions["Resource"] == [
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/*",
        ]
        assert registering["FindRegisteredVersion"] == {
            "Sid": "FindRegisteredVersion", "Effect": "Allow", "Action": "sagemaker:Search", "Resource": "*"}
        # O(1) registration: nothing lists or describes the group's versions any more.
        assert not _granted(list(registering.values())) & {"sagemaker:ListModelPackages",
                                                            "sagemaker:DescribeModelPackage"}


KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize("function_name", ["StartLabeling", "StartTraining", "RegisterModel", "EvaluationEvaluate"])
def test_functions_that_touch_objects_may_use_the_bucket_key_through_s3_only(function_name: str) -> None:
    by_sid = {s.get("Sid"): s for s in role_statements("vpc-kms", function_name)}
    assert by_sid["DataBucketKeyViaS3"] == {
        "Sid": "DataBucketKeyViaS3", "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY_ARN,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
    }
    assert "DataBucketKeyViaS3" not in {s.get("Sid") for s in role_statements("explicit-env", function_name)}


def test_register_model_touches_objects_only_to_start_the_evaluation() -> None:
    """With evaluation off it reads and writes nothing (CreateModel reads the artifact as the execution role)."""
    granted = _granted(role_statements("no-evaluation-package", "RegisterModel"))
    assert not any(a.startswith(("kms:", "s3:")) for a in granted)
    assert {a for a in _granted(role_statements("vpc-kms", "RegisterModel")) if a.startswith("s3:")} == {
        "s3:GetObject", "s3:PutObject"}


def test_settings_carry_the_bucket_key_to_the_requests() -> None:
    for name, variable in (("StartLabeling", LABELING_SETTINGS_VAR), ("StartTraining", TRAINING_SETTINGS_VAR)):
        text = render(function("vpc-kms", name)["Environment"]["Variables"][variable])
        assert f'"kms_key_arn":"{KEY_ARN}"' in text
        assert '"kms_key_arn":null' in render(function("explicit-env", name)["Environment"]["Variables"][variable])


def _volume_key_statements(overrides: dict[str, Any]) -> list[dict[str, Any]]:
    from aws_cdk.assertions import Template

    from stacks.app import build_app
    from tests.infra.synth import context_for

    app = build_app(context_for(overrides), default_account=ACCOUNT, default_region=REGION)
    template = Template.from_stack(app.node.find_child("dev-Workflow")).to_json()
    return [s for s in policy_statements(template) if s["Action"] == "kms:CreateGrant"]


def test_execution_role_may_create_volume_grants_only_where_a_volume_key_is_used() -> None:
    # ml.g4dn.xlarge (vpc-kms) has local NVMe storage: no VolumeKmsKeyId, so no grant.
    assert [s for s in policy_statements(synthesize("vpc-kms")["Workflow"]) if s["Action"] == "kms:CreateGrant"] == []
    (grant,) = _volume_key_statements({"workflow.bucket.kms_key_arn": KEY_ARN,
                                       "workflow.training.instance_type": "ml.p3.2xlarge"})
    assert grant == {"Action": "kms:CreateGrant", "Effect": "Allow", "Resource": KEY_ARN,
                     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
    assert _volume_key_statements({"workflow.training.instance_type": "ml.p3.2xlarge"}) == []


def test_no_statement_anywhere_grants_star_actions() -> None:
    for config in ("explicit-env", "prod", "default"):
        for statement in policy_statements(synthesize(config)["Workflow"]):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a == "*" or a.endswith(":*") for a in actions), statement


# ----------------------------------------------------------------------------- event patterns


@pytest.fixture(scope="module")
def events_client(emulator: Any) -> Any:
    return boto3.client("events", endpoint_url=emulator.endpoint_url, region_name=REGION)


def test_labeling_rule_matches_only_our_completed_jobs(events_client: Any) -> None:
    pattern = rule_pattern("explicit-env", "LabelingJobCompleted")
    assert matches(events_client, pattern, labeling_job_state_change("gt-demo-20261130-101500", "Completed"))
    assert not matches(events_client, pattern, labeling_job_state_change("gt-demo-20261130-101500", "Failed"))
    assert not matches(events_client, pattern, labeling_job_state_change("other-team-job", "Completed"))
    assert not matches(events_client, pattern,
                       labeling_job_state_change("gt-demo-1", "Completed", account="210987654321"))
    assert not matches(events_client, pattern, labeling_job_state_change("gt-demo-1", "Completed", region="eu-west-1"))


def test_labeling_failure_rule_alerts_on_failed_and_stopped_only(events_client: Any) -> None:
    (alert_rule,) = [v["Properties"] for k, v in resources("explicit-env", "AWS::Events::Rule").items()
                     if "LabelingJobFailedOrStopped" in k]
    pattern = alert_rule["EventPattern"]
    assert matches(events_client, pattern, labeling_job_state_change("gt-demo-1", "Failed"))
    assert matches(events_client, pattern, labeling_job_state_change("gt-demo-1", "Stopped"))
    assert not matches(events_client, pattern, labeling_job_state_change("gt-demo-1", "Completed"))
    assert not matches(events_client, pattern, labeling_job_state_change("someone-else", "Failed"))


def test_training_and_tuning_rules_match_our_jobs_that_ended(events_client: Any) -> None:
    training = rule_pattern("explicit-env", "TrainingJobEnded")
    for status in ("Completed", "Failed", "Stopped"):
        assert matches(events_client, training, training_job_state_change("gt-demo-20261130-101500", status))
    assert not matches(events_client, training, training_job_state_change("gt-demo-20261130-101500", "InProgress"))
    assert not matches(events_client, training, training_job_state_change("other-training", "Completed"))
    tuning = rule_pattern("explicit-env", "TuningJobEnded")
    assert matches(events_client, tuning, tuning_job_state_change("gt-demo-a1b2c3d4", "Completed"))
    assert not matches(events_client, tuning, tuning_job_state_change("other-tuning", "Completed"))


def test_every_retention_period_the_config_accepts_is_a_cdk_retention() -> None:
    from stacks.config import LOG_RETENTION_DAYS
    from stacks.functions import retention_days

    assert [retention_days(days).name for days in LOG_RETENTION_DAYS][:3] == ["ONE_DAY", "THREE_DAYS", "FIVE_DAYS"]
    assert len({retention_days(days) for days in LOG_RETENTION_DAYS}) == len(LOG_RETENTION_DAYS)


def test_settings_too_large_for_the_lambda_environment_fail_synth() -> None:
    import aws_cdk as cdk
    from aws_cdk import Duration
    from aws_cdk import aws_logs as logs

    from stacks.functions import WorkflowFunction

    def function(scope: cdk.Stack, size: int) -> None:
        WorkflowFunction(scope, f"F{size}", handler="start_labeling.handler", description="d",
                         settings_var="LABELING_SETTINGS", settings={"text": "x" * size},
                         timeout=Duration.seconds(10), memory_size=128, log_retention=logs.RetentionDays.ONE_DAY,
                         retry_attempts=0)

    stack = cdk.Stack(cdk.App())
    function(stack, 3000)  # fits, with room for tokens resolved at deploy
    with pytest.raises(ValueError, match="LABELING_SETTINGS is too large for Lambda's 4 KB environment"):
        function(stack, 3600)


def test_model_package_grants_use_the_lowercased_group_name_as_sagemaker_arns_do() -> None:
    from aws_cdk.assertions import Template

    from stacks.app import build_app
    from tests.infra.synth import context_for

    app = build_app(context_for({"workflow.env_name": "Stage", "workflow.model.register_package": True}),
                    default_account=ACCOUNT, default_region=REGION)
    template = Template.from_stack(app.node.find_child("Stage-Workflow")).to_json()
    (versions,) = [s for s in policy_statements(template) if s.get("Sid") == "RegisterModelPackageVersions"]
    assert versions["Resource"] == [
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/stage-models",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/stage-models/*",
    ]


def test_the_lambda_asset_is_the_lambdas_package_and_every_handler_imports_from_it() -> None:
    """What Lambda unpacks: the `lambdas` package alone (no .venv, tests or caches), and each
    function's handler importable from it with nothing else on the path (a fresh interpreter)."""
    stack = synthesize_stacks("explicit-env")["Workflow"]
    assembly = Path(stack.template_full_path).parent
    functions = resources("explicit-env", "AWS::Lambda::Function")
    asset_keys = {f["Properties"]["Code"]["S3Key"] for f in functions.values()}
    assert len(asset_keys) == 1, "one asset serves every function"
    [asset] = [d for d in assembly.glob("asset.*") if d.is_dir()]
    files = sorted(str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file())
    assert files and all(f.startswith("lambdas/") and f.endswith(".py") for f in files), files
    for function in functions.values():
        module, _, attribute = function["Properties"]["Handler"].rpartition(".")
        # The asset root on the path, as Lambda's /var/task; boto3 from site-packages, as the runtime's.
        probe = ("import importlib, sys; sys.path.insert(0, '.'); "
                 f"assert callable(getattr(importlib.import_module({module!r}), {attribute!r}))")
        completed = subprocess.run([sys.executable, "-I", "-c", probe], cwd=asset, capture_output=True, text=True,
                                   check=False)
        assert completed.returncode == 0, f"{module}.{attribute}: {completed.stderr[-500:]}"


def test_model_package_group_keeps_its_logical_id() -> None:
    """The group holds every registered model version: a changed logical ID would replace it."""
    groups = resources("prod", "AWS::SageMaker::ModelPackageGroup")
    assert list(groups) == [MODEL_PACKAGE_GROUP_LOGICAL_ID] == ["TrainingModelPackageGroup2A1BF969"]
