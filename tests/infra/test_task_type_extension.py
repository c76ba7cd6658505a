"""The change test of lambdas/task_types.py: a second task type is one descriptor.

Everything a second task type needs is defined in this file and nowhere else: single-label text
classification in Ground Truth (PRE-TextMultiClass / ACS-TextMultiClass, a `<crowd-classifier>`
worker UI) trained with the built-in BlazingText algorithm in supervised mode, its rules hook and
its image table. The only change to the code under test is registering it (`REGISTRY`,
monkeypatched). With `-c workflow.task_type=text-classification` the app synthesizes, and the
dry runs plan a CreateLabelingJob and a CreateTrainingJob / CreateHyperParameterTuningJob that
pass botocore's parameter validation.

This is a test of the extension seam, not a supported task type: Ground Truth documents raw text
in the input manifest's `source` key for its text task types, and BlazingText reads the text
inline from `source` (docs/task-types.md, "A second task type"); the workflow's labeling plan
writes `source-ref` lines, so running text classification for real needs more than a descriptor.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.validate import validate_parameters

from lambdas import job_rules, task_types
from lambdas import labeling_request as lr
from lambdas import training_request as tr
from lambdas.task_types import (
    Algorithm,
    AlgorithmRules,
    Attribute,
    GroundTruthTask,
    TaskType,
    TuningObjective,
    UiText,
    html_paragraphs,
    html_text,
)
from stacks.app import build_app
from stacks.config import ConfigError, load_config
from tests.infra.synth import ACCOUNT, REGION, context_for, policy_statements, render
from tests.lambdas.training_shape_check import shape_problems
from workflow import plans

# --- The descriptor: everything text classification with BlazingText needs -----------------

TEXT = "text-classification"
_DG = "https://docs.aws.amazon.com/sagemaker/latest/dg"

# sagemaker-core 2.27.0: image_uris.retrieve("blazingtext", region) for the Ground Truth regions.
BLAZINGTEXT_IMAGES = {
    region: f"{account}.dkr.ecr.{region}.amazonaws.com/blazingtext:1" for region, account in {
        "ap-northeast-1": "501404015308", "ap-northeast-2": "306986355934", "ap-south-1": "991648021394",
        "ap-southeast-1": "475088953585", "ap-southeast-2": "544295431143", "ca-central-1": "469771592824",
        "eu-central-1": "813361260812", "eu-west-1": "685385470294", "eu-west-2": "644912444149",
        "us-east-1": "811284229777", "us-east-2": "825641698319", "us-west-2": "433757028032",
    }.items()
}

# blazingtext-tuning.html: "Tunable Hyperparameters for the Text Classification Algorithm".
_TUNABLE = ("buckets", "epochs", "learning_rate", "min_count", "mode", "vector_dim", "word_ngrams")


def _supervised(hyperparameters: Mapping[str, str], path: str) -> list[str]:
    if hyperparameters.get("mode") == "supervised":
        return []
    return [f"{path}.mode = {hyperparameters.get('mode')!r}: BlazingText classifies text in 'supervised' mode only"
            f" [source: {_DG}/blazingtext_hyperparameters.html]"]


def _check_training_config(*, instance_type: str | None, hyperparameters: Mapping[str, str], path: str) -> list[str]:
    return _supervised(hyperparameters, f"{path}.hyperparameters")


def _check_tuning_config(ranges: Mapping[str, job_rules.TunableRange], *, path: str) -> list[str]:
    return [f"{path}.{name}: not a tunable BlazingText text classification hyperparameter; tune one of "
            f"{', '.join(_TUNABLE)} [source: {_DG}/blazingtext-tuning.html]" for name in ranges if name not in _TUNABLE]


def _unchanged(request: Mapping[str, Any], *, train_count: int) -> tuple[dict[str, Any], list[job_rules.Adjustment]]:
    return copy.deepcopy(dict(request)), []


def _check_training_request(request: Mapping[str, Any], *, train_count: int, **_: Any) -> list[str]:
    return _supervised(request.get("HyperParameters") or {}, "HyperParameters")


def _check_tuning_request(request: Mapping[str, Any], *, train_count: int, **_: Any) -> list[str]:
    static = (request.get("TrainingJobDefinition") or {}).get("StaticHyperParameters") or {}
    return _supervised(static, "TrainingJobDefinition.StaticHyperParameters")


def crowd_classifier_ui(ui: UiText) -> str:
    """aws-samples/amazon-sagemaker-ground-truth-task-uis, text/text-classification.liquid.html."""
    return f"""<script src="{task_types.CROWD_HTML_ELEMENTS_URL}"></script>

<crowd-form>
  <crowd-classifier
    name="crowd-classifier"
    categories="{{{{ task.input.labels | to_json | escape }}}}"
    header="{html_text(ui.description)}"
  >
    <classification-target>{{{{ task.input.taskObject }}}}</classification-target>
    <full-instructions header="{html_text(ui.title)}">
{html_paragraphs(ui.full_instructions, "      ")}
    </full-instructions>
    <short-instructions>
{html_paragraphs(ui.short_instructions, "      ")}
    </short-instructions>
  </crowd-classifier>
</crowd-form>
"""


def text_classification(image_table: Path) -> TaskType:
    return TaskType(
        name=TEXT,
        ground_truth=GroundTruthTask(
            title="text classification",
            # HumanTaskConfig.PreHumanTaskLambdaArn / AnnotationConsolidationLambdaArn, "Text classification".
            pre_lambda_name="PRE-TextMultiClass",
            acs_lambda_name="ACS-TextMultiClass",
            render_ui_template=crowd_classifier_ui,
            object_suffixes=(".txt",),
            max_object_bytes=100_000,  # a bound of this test, not an AWS quota
            object_noun="text file",
            min_labels=2,
            max_labels=30,  # the console's quota for single-label text classification (input-data-limits)
        ),
        algorithm=Algorithm(
            name="blazingtext",
            title="the built-in BlazingText algorithm (supervised mode)",
            image_table=str(image_table),
            # blazingtext.html: "supports the augmented manifest format, which enables you to do
            # training in pipe mode without needing to create RecordIO files".
            input_mode="Pipe",
            channels=("train", "validation"),
            s3_data_type="AugmentedManifestFile",
            s3_data_distribution_type="FullyReplicated",
            content_type="application/jsonlines",
            record_wrapper="None",
            attribute_order=(Attribute.SOURCE_REF, Attribute.LABEL),
            computed_hyperparameters=(),  # BlazingText needs neither the class count nor the sample count
            tuning_objective=TuningObjective(metric_name="validation:accuracy", type="Maximize"),
            inference_content_types=("application/json", "application/jsonlines"),
            inference_response_types=("application/json", "application/jsonlines"),
            rules=AlgorithmRules(
                check_training_config=_check_training_config,
                check_tuning_config=_check_tuning_config,
                clamp_training_request=_unchanged,
                clamp_tuning_request=_unchanged,
                check_training_request=_check_training_request,
                check_tuning_request=_check_tuning_request,
            ),
        ),
    )


@pytest.fixture(scope="module")
def text_task() -> Iterator[TaskType]:
    with tempfile.TemporaryDirectory(prefix="blazingtext-") as folder:
        table = Path(folder, "blazingtext_images.json")
        table.write_text(json.dumps({"algorithm": "blazingtext", "generated_by": "sagemaker-core 2.27.0",
                                     "images": BLAZINGTEXT_IMAGES}, indent=2, sort_keys=True) + "\n")
        yield text_classification(table)


@pytest.fixture
def registered(text_task: TaskType, monkeypatch: pytest.MonkeyPatch) -> TaskType:
    """The one change: the descriptor's line in the registry."""
    monkeypatch.setattr(task_types, "REGISTRY", task_types.with_registered([text_task]))
    return text_task


# The config of a text deployment: only values in cdk.json's keys, no code.
TEXT_CONTEXT = {
    "workflow.task_type": TEXT,
    "workflow.labeling.label_attribute": "sentiment",
    "workflow.labeling.labels": ["Positive", "Negative", "Neutral"],
    "workflow.labeling.task_title": "Classify the sentiment of the text",
    "workflow.labeling.task_description": "Choose the sentiment the text expresses",
    "workflow.labeling.task_keywords": ["text", "sentiment"],
    "workflow.training.instance_type": "ml.c5.xlarge",
    "workflow.training.hyperparameters": {"mode": "supervised", "epochs": "10", "word_ngrams": "2"},
    "workflow.tuning.ranges": {"learning_rate": {"type": "continuous", "min": 0.005, "max": 0.01,
                                                 "scaling": "Auto"}},
}
LABELS = ("Positive", "Negative", "Neutral")


def text_config(**overrides: Any) -> Any:
    return load_config(context_for({**TEXT_CONTEXT, **overrides}), default_account=ACCOUNT, default_region=REGION)


# --- the registry --------------------------------------------------------------------------


def test_unregistered_the_text_task_type_is_refused_naming_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"workflow\.task_type = 'text-classification' is not allowed: choose one "
                                          r"of image-classification"):
        text_config()


def test_registered_the_config_takes_the_task_type_and_its_rules(registered: TaskType) -> None:
    config = text_config()
    assert config.task is registered
    with pytest.raises(ConfigError, match=r"workflow\.training\.hyperparameters\.mode = 'skipgram': BlazingText"):
        text_config(**{"workflow.training.hyperparameters": {"mode": "skipgram"}})
    with pytest.raises(ConfigError, match=r"workflow\.tuning\.ranges\.optimizer: not a tunable BlazingText"):
        text_config(**{"workflow.tuning.ranges": {"optimizer": {"type": "categorical", "values": ["sgd"]}}})


# --- (a) synth ------------------------------------------------------------------------------


def _synthesize(explicit_env: bool) -> dict[str, dict[str, Any]]:
    app = build_app(context_for(TEXT_CONTEXT), default_account=ACCOUNT if explicit_env else None,
                    default_region=REGION if explicit_env else None,
                    outdir=tempfile.mkdtemp(prefix="cdk-test-text-"))
    return {stack.stack_name.split("-", 1)[1]: stack.template for stack in app.synth().stacks}


def _settings(template: Mapping[str, Any], variable: str) -> dict[str, Any]:
    for resource in template["Resources"].values():
        environment = resource["Properties"].get("Environment", {}).get("Variables", {})
        if resource["Type"] == "AWS::Lambda::Function" and variable in environment:
            text = render(environment[variable])
            assert isinstance(text, str)
            settings: dict[str, Any] = json.loads(text)
            return settings
    raise AssertionError(f"no function has {variable}")


def test_synthesizes_with_the_task_types_lambdas_image_and_settings(registered: TaskType) -> None:
    workflow = _synthesize(explicit_env=True)["Workflow"]
    labeling = _settings(workflow, "LABELING_SETTINGS")
    assert labeling["task_type"] == TEXT
    assert labeling["pre_lambda_arn"] == f"arn:aws:lambda:{REGION}:432418664414:function:PRE-TextMultiClass"
    assert labeling["acs_lambda_arn"] == f"arn:aws:lambda:{REGION}:432418664414:function:ACS-TextMultiClass"
    training = _settings(workflow, "TRAINING_SETTINGS")
    assert training["task_type"] == TEXT
    assert training["image_uri"] == BLAZINGTEXT_IMAGES[REGION]
    assert _settings(workflow, "MODEL_SETTINGS")["task_type"] == TEXT
    pulls = [s for s in policy_statements(workflow) if "ecr:BatchGetImage" in s["Action"]]
    assert [s["Resource"] for s in pulls] == [f"arn:aws:ecr:{REGION}:811284229777:repository/blazingtext"]


def test_synthesizes_environment_agnostic_with_the_task_types_mappings(registered: TaskType) -> None:
    workflow = _synthesize(explicit_env=False)["Workflow"]
    images = next(m for name, m in workflow["Mappings"].items() if name.startswith("TrainingAlgorithmImages"))
    assert {region: row["uri"] for region, row in images.items()} == BLAZINGTEXT_IMAGES
    text = json.dumps(workflow)
    assert ":function:PRE-TextMultiClass" in text and ":function:ACS-TextMultiClass" in text
    # No fact of the image-classification task type is left (its name stays in prose: the
    # StartLabeling function's description).
    assert "ImageMultiClass" not in text and "/image-classification:" not in text
    pulls = [s for s in policy_statements(workflow) if "ecr:BatchGetImage" in s["Action"]]
    assert len(pulls) == 1 and str(pulls[0]["Resource"]).endswith(":repository/blazingtext")


# --- (b) the dry runs: the requests the Lambdas would send ----------------------------------


def _valid(operation: str, request: dict[str, Any]) -> None:
    from botocore.session import get_session

    validate_parameters(request, get_session().get_service_model("sagemaker").operation_model(operation).input_shape)
    assert shape_problems(operation, request) == []


def test_plans_a_labeling_request_botocore_accepts(registered: TaskType) -> None:
    config = text_config()
    dry_run = plans.dry_run_deployment(config, REGION, account=ACCOUNT)
    listing = plans.ImageListing(
        objects=[("ground-truth-demo/images/review-1.txt", 800), ("ground-truth-demo/images/review-2.TXT", 500),
                 ("ground-truth-demo/images/photo.jpg", 900), ("ground-truth-demo/images/huge.txt", 100_001)],
        source="test listing", bucket=None, images_prefix=None, sizes_known=True)
    plan, _ = plans.plan_labeling(config, dry_run, listing, job_name="reviews", now=datetime(2024, 5, 6, tzinfo=UTC))
    _valid("CreateLabelingJob", plan.request)
    human = plan.request["HumanTaskConfig"]
    assert human["PreHumanTaskLambdaArn"].endswith(":function:PRE-TextMultiClass")
    assert human["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"].endswith(
        ":function:ACS-TextMultiClass")
    assert plan.object_count == 2 and dict(plan.skipped) == {"folder_marker": 0, "not_an_image": 1, "too_large": 1}
    template = plan.file("ui-template.liquid").read_bytes().decode()
    assert "<crowd-classifier" in template and "crowd-image-classifier" not in template
    assert json.loads(plan.file("label-categories.json").read_bytes())["labels"] == [{"label": x} for x in LABELS]
    with pytest.raises(lr.LabelingRequestError, match=r"no text files in .*nothing ending in \.txt"):
        plans.plan_labeling(config, dry_run, replace(listing, objects=[("ground-truth-demo/images/a.jpg", 1)]),
                            job_name="reviews", now=datetime(2024, 5, 6, tzinfo=UTC))


def _output_manifest(path: Path, job: str, *, per_class: int = 5) -> Path:
    """An output.manifest shaped like Ground Truth's single-label classification output."""
    lines = []
    for index in range(per_class * len(LABELS)):
        label = index % len(LABELS)
        lines.append({
            "source-ref": f"s3://sagemaker-{REGION}-{ACCOUNT}/ground-truth-demo/images/review-{index}.txt",
            "sentiment": label,
            "sentiment-metadata": {"class-name": LABELS[label], "confidence": 0.9, "human-annotated": "yes",
                                   "type": "groundtruth/text-classification", "job-name": f"labeling-job/{job}",
                                   "creation-date": "2024-05-06T07:08:09.000000"},
        })
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.parametrize("tuning", [False, True])
def test_plans_a_training_request_botocore_accepts(registered: TaskType, tmp_path: Path, tuning: bool) -> None:
    config = text_config(**{"workflow.tuning.enabled": tuning})
    job = "gt-demo-20240506-000000"
    plan = plans.plan_training(
        config, plans.dry_run_deployment(config, REGION, account=ACCOUNT),
        manifest=str(_output_manifest(tmp_path / "output.manifest", job)), label_attribute="sentiment",
        categories=LABELS, labeling_job_name=job)
    assert plan.problems == () and plan.request is not None
    _valid(plan.operation, plan.request)
    definition = plan.request["TrainingJobDefinition"] if tuning else plan.request
    assert definition["AlgorithmSpecification"] == {"TrainingImage": BLAZINGTEXT_IMAGES[REGION],
                                                     "TrainingInputMode": "Pipe"}
    channels = {c["ChannelName"]: c for c in definition["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    train = channels["train"]
    assert (train["ContentType"], train["RecordWrapperType"]) == ("application/jsonlines", "None")
    assert train["DataSource"]["S3DataSource"]["AttributeNames"] == ["source-ref", "sentiment"]
    assert train["DataSource"]["S3DataSource"]["S3Uri"].endswith(f"/training/{job}/train.manifest")
    hyperparameters = definition["StaticHyperParameters" if tuning else "HyperParameters"]
    assert hyperparameters["mode"] == "supervised"
    assert "num_classes" not in hyperparameters and "num_training_samples" not in hyperparameters
    if tuning:
        assert plan.request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
            "Type": "Maximize", "MetricName": "validation:accuracy"}


def test_the_model_package_declares_the_algorithms_inference_types(registered: TaskType) -> None:
    from lambdas import register_model

    settings = register_model.ModelSettings.from_json(json.dumps({
        "region": REGION, "account": ACCOUNT, "job_prefix": "gt-demo", "task_type": TEXT,
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/Exec", "image_uri": BLAZINGTEXT_IMAGES[REGION],
        "register_package": True, "package_group_name": "gt-demo-models",
        "topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts", "tags": {}, "evaluation": None}))
    request = register_model.build_model_package_request(
        settings, training_job_name="gt-demo-1", tuning_job_name=None,
        model_data_url=f"s3://sagemaker-{REGION}-{ACCOUNT}/ground-truth-demo/models/gt-demo-1/output/model.tar.gz")
    _valid("CreateModelPackage", request)
    assert request["InferenceSpecification"]["SupportedContentTypes"] == ["application/json", "application/jsonlines"]


def test_training_settings_of_the_text_task_type_refuse_image_hyperparameters_nowhere(registered: TaskType) -> None:
    # num_classes is computed for image classification only: here it is the operator's to set or not.
    data = {"region": REGION, "account": ACCOUNT, "bucket": f"sagemaker-{REGION}-{ACCOUNT}", "prefix": "p",
            "job_prefix": "gt-demo", "task_type": TEXT, "role_arn": f"arn:aws:iam::{ACCOUNT}:role/Exec",
            "image_uri": BLAZINGTEXT_IMAGES[REGION], "instance_type": "ml.c5.xlarge",
            "instance_count": 1, "volume_gb": 30, "max_runtime_seconds": 3600, "spot": False,
            "max_wait_seconds": 3600, "validation_fraction": 0.2, "min_labeled_objects": 2,
            "hyperparameters": {"mode": "supervised", "num_classes": "3"},
            "topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts", "tags": {},
            "tuning": {"enabled": False, "max_jobs": 1, "max_parallel_jobs": 1, "early_stopping": "Off",
                       "ranges": {}}}
    assert tr.TrainingSettings.from_json(json.dumps(data)).hyperparameters["num_classes"] == "3"
    with pytest.raises(tr.SettingsError, match=r"hyperparameters\.num_classes must not be set"):
        tr.TrainingSettings.from_json(json.dumps({**data, "task_type": "image-classification"}))
