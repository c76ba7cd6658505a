"""Task types: a Ground Truth built-in labeling task and the built-in algorithm trained on its output.

`workflow.task_type` names a task type; `REGISTRY` maps each name to a frozen `TaskType`, made of
a `GroundTruthTask` (what the labeling job needs: the built-in PRE/ACS Lambda function names, the
worker UI, which objects can be labeled, how many labels) and an `Algorithm` (what the training
job needs: the image's name, the channels and how they are read, the hyperparameters computed
from the data, the tuning objective, what the model answers, and the algorithm's rules). Every
fact that used to be a literal in the stack, the Lambdas or the CLI is read from the descriptor:
`stacks/config.py` (labels, hyperparameter and tuning checks), `stacks/workforce.py` (the
Lambda ARNs), `stacks/algorithm_images.py` and `stacks/training.py` (the image),
`lambdas/labeling_request.py` (UI template, accepted objects, label category file),
`lambdas/training_request.py` (channels, computed hyperparameters, tuning objective),
`lambdas/register_model.py` (inference content types) and `workflow/plans.py` (dry runs).

Adding a task type: a `TaskType` value (its `GroundTruthTask`, its `Algorithm` with an
`AlgorithmRules` hook, usually a new rules module like `job_rules.py`) and its line in
`REGISTRY`, plus the algorithm's image table next to `stacks/algorithm_images.json`. Nothing else
names a task type. Ground Truth's per-region account of the built-in Lambdas is the same for all
built-in task types and stays in `stacks/regions.py`.

Standard library only: the Lambda asset imports this module (relatively, as `.task_types`), and
so do the synth side and the CLI (as `lambdas.task_types`). The registry is read at call time
(never copied at import), so a test can register a task type by replacing `REGISTRY`.

The AWS facts, with their sources, are in docs/task-types.md.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import job_rules

# --- Shared Ground Truth facts (docs/task-types.md) --------------------------------------------

# The input manifest key whose value is the S3 URI of the object to label (LabelingJobS3DataSource:
# "source-ref: The source of the object is the Amazon S3 object specified in the value"). The
# labeling plan writes one such line per listed object; training reads the same key back.
SOURCE_REF = "source-ref"
# The label category configuration file's document version (API_CreateLabelingJob,
# LabelCategoryConfigS3Uri: {"document-version": "2018-11-28", "labels": [{"label": ...}, ...]}).
LABEL_CATEGORIES_DOCUMENT_VERSION = "2018-11-28"
# Crowd HTML Elements, loaded by every worker UI template (sms-ui-template-reference).
CROWD_HTML_ELEMENTS_URL = "https://assets.crowd.aws/crowd-html-elements.js"

# CreateTrainingJob's Channel.RecordWrapperType values (API_Channel).
RECORD_WRAPPERS = ("None", "RecordIO")
# HyperParameterTuningJobObjective.Type values (API_HyperParameterTuningJobObjective).
OBJECTIVE_TYPES = ("Maximize", "Minimize")


class Attribute(StrEnum):
    """What an entry of an augmented manifest channel's AttributeNames stands for."""

    SOURCE_REF = "source-ref"  # the labeled object (SOURCE_REF): SageMaker streams the object itself
    LABEL = "label"  # the label Ground Truth wrote, under workflow.labeling.label_attribute


class Computed(StrEnum):
    """A hyperparameter whose value comes from the labeled data, never from the config."""

    CLASS_COUNT = "class-count"  # the number of label categories
    TRAINING_SAMPLE_COUNT = "training-sample-count"  # the lines of train.manifest


@dataclass(frozen=True)
class UiText:
    """What the operator wrote for workers (workflow.labeling), as the UI renderer receives it."""

    title: str
    description: str
    short_instructions: str
    full_instructions: str


@dataclass(frozen=True)
class TuningObjective:
    metric_name: str
    type: str  # one of OBJECTIVE_TYPES

    def to_request(self) -> dict[str, str]:
        """HyperParameterTuningJobConfig.HyperParameterTuningJobObjective."""
        return {"Type": self.type, "MetricName": self.metric_name}


# --- The descriptor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GroundTruthTask:
    """What a built-in Ground Truth task type needs, for CreateLabelingJob and its frozen inputs.

    Attributes:
        title: how messages name the task ("image classification").
        pre_lambda_name / acs_lambda_name: the built-in pre-annotation and annotation-consolidation
            Lambda functions (HumanTaskConfig.PreHumanTaskLambdaArn, AnnotationConsolidationLambdaArn);
            their account per region is Ground Truth's (stacks/regions.py).
        render_ui_template: the worker UI (a Liquid template) from the operator's texts.
        object_suffixes: the accepted object name endings, lowercase (matched case-insensitively).
        max_object_bytes: the largest object accepted (decimal bytes; the strict reading of "MB").
        object_noun: how messages name one object ("image"; plural: + "s").
        min_labels / max_labels: how many label categories a job takes.
        label_categories_document_version: the label category file's "document-version".
    """

    title: str
    pre_lambda_name: str
    acs_lambda_name: str
    render_ui_template: Callable[[UiText], str]
    object_suffixes: tuple[str, ...]
    max_object_bytes: int
    object_noun: str
    min_labels: int
    max_labels: int
    label_categories_document_version: str = LABEL_CATEGORIES_DOCUMENT_VERSION

    @property
    def objects_noun(self) -> str:
        return f"{self.object_noun}s"

    def accepts_name(self, key: str) -> bool:
        return key.lower().endswith(self.object_suffixes)


@dataclass(frozen=True)
class AlgorithmRules:
    """The algorithm's own rules, beyond botocore's model: the hook `job_rules.py` fills for the
    built-in image-classification algorithm. Each check returns problems (empty: all is well), one
    sentence each naming the setting; each clamp returns a copy of the request made to fit the
    training split and what it changed."""

    # (*, instance_type, hyperparameters, path): the config's instance type and static hyperparameters
    check_training_config: Callable[..., list[str]]
    # (ranges: {name: job_rules.TunableRange}, *, path): the config's tuning ranges
    check_tuning_config: Callable[..., list[str]]
    # (request, *, train_count): CreateTrainingJob / CreateHyperParameterTuningJob fitted to the split
    clamp_training_request: Callable[..., tuple[dict[str, Any], list[job_rules.Adjustment]]]
    clamp_tuning_request: Callable[..., tuple[dict[str, Any], list[job_rules.Adjustment]]]
    # (request, *, train_count, num_categories, label_ids): the computed request, before it is sent
    check_training_request: Callable[..., list[str]]
    check_tuning_request: Callable[..., list[str]]


@dataclass(frozen=True)
class Algorithm:
    """What a built-in SageMaker algorithm needs to train on Ground Truth's output manifest.

    Attributes:
        name: the SageMaker Python SDK's `image_uris` key, which is also the image's ECR
            repository name (`<account>.dkr.ecr.<region>.<suffix>/<name>:<tag>`).
        title: how messages name the algorithm.
        image_table: synth side only: the SDK-generated region -> image URI table, a file name
            next to stacks/algorithm_images.py (or an absolute path).
        input_mode: AlgorithmSpecification.TrainingInputMode and each Channel.InputMode.
        channels: Channel.ChannelName of each channel; the first is the training split, the
            second the validation split (manifests.split_manifest writes `<channel>.manifest`).
        s3_data_type / s3_data_distribution_type: each channel's S3DataSource.
        content_type / record_wrapper: each channel's ContentType and RecordWrapperType.
        attribute_order: each channel's AttributeNames, in the order the algorithm reads them.
        computed_hyperparameters: (name, what it is computed from), in request order.
        tuning_objective: the metric a tuning job optimizes.
        inference_content_types / inference_response_types: what the model's container accepts
            and answers (a model package's InferenceSpecification).
        rules: the algorithm's rules (`AlgorithmRules`).
    """

    name: str
    title: str
    image_table: str
    input_mode: str
    channels: tuple[str, ...]
    s3_data_type: str
    s3_data_distribution_type: str
    content_type: str
    record_wrapper: str
    attribute_order: tuple[Attribute, ...]
    computed_hyperparameters: tuple[tuple[str, Computed], ...]
    tuning_objective: TuningObjective
    inference_content_types: tuple[str, ...]
    inference_response_types: tuple[str, ...]
    rules: AlgorithmRules

    @property
    def computed_hyperparameter_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.computed_hyperparameters)

    @property
    def train_channel(self) -> str:
        return self.channels[0]

    @property
    def validation_channel(self) -> str:
        return self.channels[1]

    def attribute_names(self, label_attribute: str) -> list[str]:
        """A channel's AttributeNames for labels written under `label_attribute`."""
        return [label_attribute if attribute is Attribute.LABEL else SOURCE_REF for attribute in self.attribute_order]

    def computed_values(self, *, class_count: int, training_sample_count: int) -> dict[str, str]:
        """The computed hyperparameters' values (SageMaker hyperparameters are strings on the wire)."""
        counts = {Computed.CLASS_COUNT: class_count, Computed.TRAINING_SAMPLE_COUNT: training_sample_count}
        return {name: str(counts[source]) for name, source in self.computed_hyperparameters}


@dataclass(frozen=True)
class TaskType:
    """One task type: a Ground Truth built-in task and the built-in algorithm trained on its output."""

    name: str  # the workflow.task_type value
    ground_truth: GroundTruthTask
    algorithm: Algorithm

    def __post_init__(self) -> None:
        problems = _descriptor_problems(self)
        if problems:
            raise ValueError(f"task type {self.name!r}: " + "; ".join(problems))

    @property
    def title(self) -> str:
        """`<Ground Truth task> with <algorithm>`, how messages name the task type."""
        return f"{self.ground_truth.title} with {self.algorithm.title}"


_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _descriptor_problems(task: TaskType) -> list[str]:
    """What makes a descriptor unusable, found when it is defined rather than at the first job."""
    gt, algorithm = task.ground_truth, task.algorithm
    problems: list[str] = []
    if not _NAME.match(task.name):
        problems.append("the name must be lowercase letters and digits separated by '-'")
    if not gt.object_suffixes or any(not s.startswith(".") or s != s.lower() for s in gt.object_suffixes):
        problems.append("object_suffixes must be lowercase name endings starting with '.'")
    if gt.max_object_bytes < 1:
        problems.append("max_object_bytes must be positive")
    if not 2 <= gt.min_labels <= gt.max_labels:
        problems.append("labels: a classifier needs 2 <= min_labels <= max_labels")
    if len(algorithm.channels) != 2 or len(set(algorithm.channels)) != 2:
        problems.append("channels must name the training channel, then the validation channel")
    if sorted(algorithm.attribute_order) != sorted(Attribute):
        problems.append(f"attribute_order must list each of {', '.join(a.value for a in Attribute)} once")
    names = algorithm.computed_hyperparameter_names
    if len(set(names)) != len(names):
        problems.append("computed_hyperparameters repeat a name")
    if algorithm.record_wrapper not in RECORD_WRAPPERS:
        problems.append(f"record_wrapper must be one of {', '.join(RECORD_WRAPPERS)}")
    if algorithm.tuning_objective.type not in OBJECTIVE_TYPES:
        problems.append(f"tuning_objective.type must be one of {', '.join(OBJECTIVE_TYPES)}")
    if not algorithm.inference_content_types or not algorithm.inference_response_types:
        problems.append("inference content and response types must not be empty")
    return problems


# --- Worker UI helpers --------------------------------------------------------------------------


def html_text(text: str) -> str:
    """Escape text for HTML and keep it out of Liquid's reach.

    The template is rendered by Liquid before the browser sees it, so `{{ ... }}` or `{% %}`
    in instructions would be evaluated; HTML character references for the braces display
    the same but are inert to Liquid.
    """
    return html.escape(text, quote=True).replace("{", "&#123;").replace("}", "&#125;")


def html_paragraphs(text: str, indent: str) -> str:
    """Blank-line separated paragraphs as `<p>`, single line breaks as `<br>`."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join(
        f"{indent}<p>{'<br>'.join(html_text(line.strip()) for line in p.splitlines())}</p>" for p in paragraphs
    )


def image_classifier_ui(ui: UiText) -> str:
    """The worker UI: the built-in crowd-image-classifier, categories come from the PRE Lambda."""
    return f"""<script src="{CROWD_HTML_ELEMENTS_URL}"></script>

<crowd-form>
  <crowd-image-classifier
    name="crowd-image-classifier"
    src="{{{{ task.input.taskObject | grant_read_access }}}}"
    categories="{{{{ task.input.labels | to_json | escape }}}}"
    header="{html_text(ui.description)}"
  >
    <full-instructions header="{html_text(ui.title)}">
{html_paragraphs(ui.full_instructions, "      ")}
    </full-instructions>

    <short-instructions>
{html_paragraphs(ui.short_instructions, "      ")}
    </short-instructions>
  </crowd-image-classifier>
</crowd-form>
"""


# --- The registered task types ------------------------------------------------------------------

# job_rules.py is the built-in image-classification algorithm's rules module.
IMAGE_CLASSIFICATION_RULES = AlgorithmRules(
    check_training_config=job_rules.check_training_config,
    check_tuning_config=job_rules.check_tuning_config,
    clamp_training_request=job_rules.clamp_training_request,
    clamp_tuning_request=job_rules.clamp_tuning_request,
    check_training_request=job_rules.check_training_request,
    check_tuning_request=job_rules.check_tuning_request,
)

IMAGE_CLASSIFICATION = TaskType(
    name="image-classification",
    ground_truth=GroundTruthTask(
        title="image classification",
        # Image classification (single label): HumanTaskConfig.PreHumanTaskLambdaArn and
        # AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn (API reference).
        pre_lambda_name="PRE-ImageMultiClass",
        acs_lambda_name="ACS-ImageMultiClass",
        render_ui_template=image_classifier_ui,
        # Image classification input data: .jpg, .jpeg, .png (sms-supported-data-formats).
        object_suffixes=(".jpg", ".jpeg", ".png"),
        # "Image classification | 40 MB" (input-data-limits), read as decimal megabytes: the
        # stricter reading, so no image we keep can be over the limit whichever unit AWS means.
        max_object_bytes=40 * 1000 * 1000,
        object_noun="image",
        # "For image classification and text classification (single and multi-label) you must
        # specify at least two label categories" (API_CreateLabelingJob, LabelCategoryConfigS3Uri);
        # 30 is the console's category quota for single-label image classification
        # (input-data-limits; the API's is unlimited), kept as the workflow's bound.
        min_labels=2,
        max_labels=30,
    ),
    algorithm=Algorithm(
        name="image-classification",
        title="the built-in image-classification algorithm",
        image_table="algorithm_images.json",
        # Augmented manifests are read in Pipe mode, as RecordIO-wrapped records: the image, then
        # its class id (image-classification.html#IC-augmented-manifest-training, augmented-manifest).
        input_mode="Pipe",
        channels=("train", "validation"),
        s3_data_type="AugmentedManifestFile",
        s3_data_distribution_type="FullyReplicated",
        content_type="application/x-recordio",
        record_wrapper="RecordIO",
        attribute_order=(Attribute.SOURCE_REF, Attribute.LABEL),
        # num_classes and num_training_samples are required (IC-Hyperparameter).
        computed_hyperparameters=(
            ("num_classes", Computed.CLASS_COUNT),
            ("num_training_samples", Computed.TRAINING_SAMPLE_COUNT),
        ),
        # The algorithm's one tuning metric (IC-tuning).
        tuning_objective=TuningObjective(metric_name="validation:accuracy", type="Maximize"),
        # Inference: image/jpeg, image/png, application/x-image in; probabilities in JSON out
        # (image-classification.html#IC-inference; JSON Lines only for batch transform).
        inference_content_types=("image/jpeg", "image/png", "application/x-image"),
        inference_response_types=("application/json",),
        rules=IMAGE_CLASSIFICATION_RULES,
    ),
)

# The registry: name -> descriptor. The default is cdk.json's workflow.task_type.
REGISTRY: dict[str, TaskType] = {
    IMAGE_CLASSIFICATION.name: IMAGE_CLASSIFICATION,
}


# --- Lookups (read REGISTRY at call time) --------------------------------------------------------


def names() -> tuple[str, ...]:
    """The accepted `workflow.task_type` values, in registry order."""
    return tuple(REGISTRY)


def task_type(name: object) -> TaskType:
    """The registered task type called `name`; ValueError names the registered ones."""
    found = REGISTRY.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"task type {name!r} is not registered; registered task types: {', '.join(names())} "
                         "(lambdas/task_types.py REGISTRY)")
    return found


def with_registered(extra: Iterable[TaskType]) -> dict[str, TaskType]:
    """REGISTRY plus `extra` (a new dict; REGISTRY is unchanged): what a test swaps in."""
    registry = dict(REGISTRY)
    for task in extra:
        if task.name in registry:
            raise ValueError(f"task type {task.name!r} is already registered")
        registry[task.name] = task
    return registry


def computed_hyperparameter_problems(names_in_config: Collection[str], task: TaskType, *, path: str) -> list[str]:
    """Config keys that name a hyperparameter the workflow computes from the labeled data."""
    return [f"{path}.{name} is computed from the labeled data; remove it from the config"
            for name in task.algorithm.computed_hyperparameter_names if name in names_in_config]


def inference_types(task: TaskType) -> Mapping[str, list[str]]:
    """A model package's InferenceSpecification content types (API_InferenceSpecification)."""
    return {
        "SupportedContentTypes": list(task.algorithm.inference_content_types),
        "SupportedResponseMIMETypes": list(task.algorithm.inference_response_types),
    }
