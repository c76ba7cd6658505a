"""The settings contract: the one JSON object each Lambda receives in one environment variable.

StartLabeling reads `LABELING_SETTINGS` (`LabelingSettings`), StartTraining `TRAINING_SETTINGS`
(`TrainingSettings`, with `TuningSettings` and `ParameterRange`), RegisterModel `MODEL_SETTINGS`
(`ModelSettings`, with `EvaluationStart`), Evaluation `EVALUATION_SETTINGS` (`EvaluationSettings`),
Deployment `DEPLOYMENT_SETTINGS` (`DeploymentSettings`); the private workforce's portal-URL custom
resource `PORTAL_URLS_SETTINGS` (`PortalUrlSettings`: only the region, not a workflow step's keys).
Each is a frozen dataclass declared once, here: every key's rule sits next to its field
(`setting(...)`: pattern, bounds, choices, list and map item rules, whether the key may be absent
or applies only for some values of another key), and the rules that involve several
keys sit in the class's `validate` method. One generic reader parses any of them
(`from_json`, `from_mapping`, `from_env`): it rejects missing and unknown keys and bad values,
naming the full key path (`TRAINING_SETTINGS.tuning.ranges.learning_rate.min = 'x' is invalid:
expected a number`), then calls `validate`. `to_json()` writes the JSON the stack puts in the
function's environment.

Who uses it: `stacks/lambda_settings.py` builds the objects from the config and writes them (at
synth the values may be CloudFormation tokens, so constructing an object never validates); each
Lambda parses its variable (`from_env`); the CLI's dry runs parse what they built
(`from_json(settings.to_json())`), so a dry run refuses exactly what the deployed Lambda would.
The module-level constants are the rules the config (`stacks/config.py`) checks at synth too.

Standard library only: the Lambda asset imports this module relatively (`.settings`), the synth
side and the CLI as `lambdas.settings`. docs/settings-contract.md describes the contract.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from types import MappingProxyType, NoneType, UnionType
from typing import Any, ClassVar, Self

from . import auto_labeling, task_types, workforces
from .naming import HASH_LENGTH, TUNING_JOB_NAME_MAX
from .workforces import WorkforceKind

LABELING_SETTINGS_VAR = "LABELING_SETTINGS"
TRAINING_SETTINGS_VAR = "TRAINING_SETTINGS"
MODEL_SETTINGS_VAR = "MODEL_SETTINGS"
EVALUATION_SETTINGS_VAR = "EVALUATION_SETTINGS"

# --- Rules the config checks as well (stacks/config.py imports them) -----------------------------
# The patterns are unanchored: they must match the whole value (re.fullmatch, or ^...$).

# The S3 key prefix everything lives under: '/'-separated segments of S3's "safe" characters minus
# '*', no empty, '.' or '..' segments, no leading or trailing '/'. The prefix becomes part of IAM
# resource ARNs (arn:aws:s3:::<bucket>/<prefix>/*), where '*' and '?' are wildcards that would widen
# the grants to other keys ('?' is not a safe character anyway); "'" is not one either (the notebook's
# lifecycle script embeds the prefix in shell).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
PREFIX_SEGMENT_PATTERN = r"(?!\.{1,2}(?:/|$))[a-zA-Z0-9!_.()-]+"
PREFIX_PATTERN = rf"{PREFIX_SEGMENT_PATTERN}(?:/{PREFIX_SEGMENT_PATTERN})*"
PREFIX_ALLOWED = ("an S3 key prefix of '/'-separated segments of letters, digits and ! _ . ( ) -, without a "
                  "leading or trailing '/', empty, '.' or '..' segments, or the wildcards '*' and '?'")

# Labeling job names match LabelingJobName's [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} (botocore's SageMaker
# model); the prefix is lowercase because SageMaker writes names lowercased into ARNs and the training
# trigger matches the labeling job ARN by prefix. Tuning job names have at most 32 characters
# (HyperParameterTuningJobName): a name derived from a labeling job keeps its first 23 characters and
# a hash (naming.derive_name), and the prefix must survive in those 23.
JOB_PREFIX_PATTERN = r"[a-z0-9](-*[a-z0-9]){0,62}"
MAX_JOB_PREFIX_LENGTH = TUNING_JOB_NAME_MAX - HASH_LENGTH - 1
JOB_PREFIX_ALLOWED = (f"1-{MAX_JOB_PREFIX_LENGTH} lowercase letters, digits and '-', starting and ending with a "
                      "letter or digit")

# CreateLabelingJob's HumanTaskConfig.TaskKeywords: 1-5 items (TaskKeywords), each matching TaskKeyword's
# pattern and 1-30 characters long (botocore's SageMaker model; tests/unit/test_settings_contract.py
# checks these against it).
TASK_KEYWORD_PATTERN = r"[A-Za-z0-9]+( [A-Za-z0-9]+)*"
MAX_TASK_KEYWORD_LENGTH = 30
MIN_TASK_KEYWORDS = 1
MAX_TASK_KEYWORDS = 5

# LabelAttributeName (botocore's model). Ground Truth writes `<attribute>-metadata` next to
# `<attribute>` in the output manifest, so an attribute may not end in that suffix.
LABEL_ATTRIBUTE_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}"
RESERVED_LABEL_ATTRIBUTE_SUFFIX = "-metadata"

# Tags. TagKey is 1-128 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@] (botocore's model); this pattern is
# a subset Python's `re` can express. TagValue: at most 256 characters.
TAG_KEY_PATTERN = r"[\w.:/=+@ -]{1,128}"
MAX_TAG_VALUE_LENGTH = 256
# botocore's SageMaker model, shape `TagList` ("max": 50): the Tags of CreateLabelingJob,
# CreateTrainingJob, CreateHyperParameterTuningJob, CreateModel and CreateModelPackage.
MAX_TAGS = 50
# The tag stacks/lambda_settings.py adds to the config's tags, and the tags each function adds to what it
# creates (its settings' ADDED_TAG_KEYS): a job or model carries the settings' tags plus those.
WORKFLOW_ENV_TAG_KEY = "workflow-env"
LABELING_JOB_TAG_KEY = "labeling-job"
# A relabel job (lambdas/relabel.py) also carries the job it relabels: DescribeLabelingJob returns a job's Tags,
# so StartTraining finds a relabel chain from the completed job alone (lambdas/training_input.py).
RELABEL_OF_TAG_KEY = "relabel-of"
TRAINING_JOB_TAG_KEY = "training-job"
TUNING_JOB_TAG_KEY = "tuning-job"

# SageMaker instance types (TrainingInstanceType's values: ml.<family>.<size>, families such as
# m7i-flex and p6-b200 included).
INSTANCE_TYPE_PATTERN = r"ml\.[a-z0-9-]+\.[a-z0-9]+"
KMS_KEY_ARN_PATTERN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}"
# Standard topics only: CloudWatch alarms cannot notify a FIFO topic.
SNS_TOPIC_ARN_PATTERN = r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}"
# ModelPackageGroupName of CreateModelPackageGroup (EntityName in botocore's model).
MODEL_PACKAGE_GROUP_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"

RANGE_TYPES = ("continuous", "integer", "categorical")
NUMERIC_RANGE_TYPES = ("continuous", "integer")
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
EARLY_STOPPING_TYPES = ("Off", "Auto")

# Ground Truth refuses a manifest with more data objects than this in one job.
MAX_OBJECTS_PER_JOB = 100_000

# Rules of the Lambda side only (the config builds these values itself).
_REGION_PATTERN = r"[a-z]{2}(-[a-z]+)+-\d"
_ACCOUNT_PATTERN = r"\d{12}"
_BUCKET_PATTERN = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_ROLE_ARN_PATTERN = r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+"
_WORKTEAM_ARN_PATTERN = r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/.+"
_LAMBDA_ARN_PATTERN = r"arn:aws[a-z\-]*:lambda:[a-z0-9\-]*:[0-9]{12}:function:.+"
# AlgorithmImage / ContainerImage: at most 255 characters, no whitespace.
_IMAGE_URI_PATTERN = r"\S+"
MAX_IMAGE_URI_LENGTH = 255


class SettingsError(ValueError):
    """The settings are not valid JSON, miss a key or have a bad value; the message names the key path."""


def tag_count_problem(tag_keys: Iterable[str], *, added: Iterable[str]) -> str | None:
    """Why a resource tagged with `tag_keys` plus the `added` keys (a key in both counts once) would
    carry more than SageMaker's MAX_TAGS, or None.

    The config checks its tags (plus WORKFLOW_ENV_TAG_KEY) with every settings class's ADDED_TAG_KEYS;
    each settings class checks its own tags with its ADDED_TAG_KEYS."""
    keys, extra = set(tag_keys), tuple(added)
    total = len(keys | set(extra))
    if total <= MAX_TAGS:
        return None
    return (f"has {len(keys)} tags; with the {', '.join(extra)} tag(s) the workflow adds, a resource would "
            f"carry {total}, and SageMaker accepts at most {MAX_TAGS} (TagList)")


# --- Declaring the rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """How the reader checks one key; declared next to its field with `setting(...)`.

    The field's type says what the JSON value is: `str`, `int`, `float` (any JSON number, kept as
    given), `bool`, an Enum (its values are strings), `tuple[str, ...]` (a list), `Mapping[str, str]`
    (an object of strings), a nested settings dataclass (an object), a tuple of dataclasses keyed by
    `keyed_by` (an object of objects); `X | None` also accepts null.
    """

    pattern: str | None = None  # strings: must match whole
    allowed: str | None = None  # what pattern and length allow, in words, for messages
    max_length: int | None = None  # strings
    allow_empty: bool = False  # strings: "" (and blanks) allowed
    choices: Callable[[], Iterable[str]] | tuple[str, ...] | None = None  # strings, Enums: the allowed values
    convert: Callable[[str], Any] | None = None  # Enums: value -> member (default: the Enum's own lookup)
    minimum: float | None = None  # numbers: inclusive, unless `exclusive`
    maximum: float | None = None
    exclusive: bool = False
    min_items: int = 0  # lists
    max_items: int | None = None
    item: Rule | None = None  # list items, object values
    key: Rule | None = None  # object keys
    numbers_as_text: bool = False  # strings: a JSON number is taken as its plain decimal text
    may_be_absent: bool = False  # the key may be left out: the field's default
    # (key, values): the key applies only when that earlier key has one of those values; it must be
    # absent otherwise (the field keeps its default) and is written only when it applies.
    only_when: tuple[str, tuple[str, ...]] | None = None
    keyed_by: str | None = None  # tuple of dataclasses: written as one object keyed by this field
    from_key: bool = False  # this field is the enclosing object's key, not a key of its own


_RULE = "settings_rule"


def setting(rule: Rule | None = None, *, default: Any = dataclasses.MISSING,
            default_factory: Any = dataclasses.MISSING, hash: bool = True, **changes: Any) -> Any:
    """A dataclass field with its rule: `setting(pattern=..., allowed=...)`, or a shared `Rule` with changes."""
    declared = dataclasses.replace(rule or Rule(), **changes)
    return field(default=default, default_factory=default_factory, hash=hash, metadata={_RULE: declared})


def invalid(path: str, value: Any, expected: str) -> SettingsError:
    """The reader's one message shape: `<path> = <value> is invalid: expected <what>`."""
    return SettingsError(f"{path} = {value!r} is invalid: expected {expected}")


def number_text(value: int | float | None) -> str:
    """Plain decimal text: `str(0.00001)` is `1e-05`, which we'd rather not send."""
    if value is None:  # parsing guarantees numeric ranges have both bounds
        raise ValueError("numeric parameter range without a bound")
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(value)), "f")


def settings_text(variable: str, what: str, environ: Mapping[str, str] | None = None) -> str:
    """The JSON text of `variable`; `what` names the settings in the error ("model settings")."""
    text = (os.environ if environ is None else environ).get(variable)
    if text is None:
        raise SettingsError(f"environment variable {variable} is not set; the stack passes the {what} as JSON in it")
    return text


# --- The generic reader and writer -----------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    name: str
    type: Any
    rule: Rule
    field: dataclasses.Field[Any]


@functools.cache
def _keys(cls: type) -> tuple[_Key, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(_Key(f.name, hints[f.name], f.metadata.get(_RULE) or Rule(), f) for f in dataclasses.fields(cls))


def _default(key: _Key) -> Any:
    if key.field.default is not dataclasses.MISSING:
        return key.field.default
    if key.field.default_factory is not dataclasses.MISSING:
        return key.field.default_factory()
    raise TypeError(f"settings key {key.name} may be absent or not apply, so it needs a default")


def _applies(key: _Key, values: Mapping[str, Any]) -> bool:
    if key.rule.only_when is None:
        return True
    other, accepted = key.rule.only_when
    value = values[other]
    return (value.value if isinstance(value, Enum) else value) in accepted


def read(cls: type[Any], data: Any, path: str, *, key_field: tuple[str, str] | None = None) -> Any:
    """Parse one settings object of class `cls` from `data` (the JSON object at `path`), then validate it.

    `key_field`: (field, value) of a field that is the enclosing object's key (a tuning range's name)."""
    if not isinstance(data, Mapping):
        raise SettingsError(f"{path} must be a JSON object, got {type(data).__name__}")
    keys = [key for key in _keys(cls) if not key.rule.from_key]
    for key in keys:
        if key.name not in data and not key.rule.may_be_absent and key.rule.only_when is None:
            raise SettingsError(f"{path}.{key.name} is missing")
    # A renamed or misspelt key would otherwise be ignored: the stack and the Lambda disagree.
    unknown = [str(name) for name in data if name not in {key.name for key in keys}]
    if unknown:
        raise SettingsError(f"{path} has unknown key(s) {', '.join(unknown)}; expected only "
                            f"{', '.join(key.name for key in keys)}")
    values: dict[str, Any] = dict([key_field]) if key_field else {}
    for key in keys:
        where = f"{path}.{key.name}"
        if not _applies(key, values):
            if key.name in data:
                other, accepted = key.rule.only_when or ("", ())
                raise SettingsError(f"{where} applies only when {other} is {' or '.join(accepted)}, not "
                                    f"{values[other]!r}: leave it out")
            values[key.name] = _default(key)
        elif key.name not in data:
            if not key.rule.may_be_absent:
                raise SettingsError(f"{where} is missing")
            values[key.name] = _default(key)
        else:
            values[key.name] = _read_value(data[key.name], key.type, key.rule, where)
    settings = cls(**values)
    settings.validate(path)
    return settings


def _read_value(value: Any, kind: Any, rule: Rule, path: str) -> Any:
    kind, nullable = _without_none(kind)
    if value is None:
        if nullable and rule.only_when is None:
            return None
        raise invalid(path, value, _expected(kind, rule))
    origin = typing.get_origin(kind)
    if kind is bool:
        if type(value) is not bool:
            raise invalid(path, value, "true or false")
        return value
    if kind is int or kind is float:
        return _read_number(value, kind, rule, path)
    if kind is str:
        return _read_text(value, rule, path)
    if isinstance(kind, type) and issubclass(kind, Enum):
        text = _read_text(value, rule, path)
        return (rule.convert or kind)(text)
    if origin is tuple:
        item_kind = typing.get_args(kind)[0]
        if dataclasses.is_dataclass(item_kind):
            assert rule.keyed_by is not None, f"{path}: a tuple of settings objects needs keyed_by"
            if not isinstance(value, Mapping):
                raise SettingsError(f"{path} must be a JSON object, got {type(value).__name__}")
            return tuple(read(item_kind, item, f"{path}.{name}", key_field=(rule.keyed_by, name))
                         for name, item in value.items())
        if not isinstance(value, list) or len(value) < rule.min_items or (
                rule.max_items is not None and len(value) > rule.max_items):
            raise invalid(path, value, _expected(kind, rule))
        return tuple(_read_value(item, item_kind, rule.item or Rule(), f"{path}[{index}]")
                     for index, item in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise SettingsError(f"{path} must be a JSON object, got {type(value).__name__}")
        value_kind = typing.get_args(kind)[1]
        result: dict[str, Any] = {}
        for name, item in value.items():
            if rule.key is not None and not _text_ok(name, rule.key):
                raise SettingsError(f"{path} key {name!r} is invalid: expected {_expected(str, rule.key)}")
            result[name] = _read_value(item, value_kind, rule.item or Rule(), f"{path}.{name}")
        return MappingProxyType(result)
    if dataclasses.is_dataclass(kind):
        return read(kind, value, path)
    raise TypeError(f"{path}: no reader for {kind!r}")


def _without_none(kind: Any) -> tuple[Any, bool]:
    if typing.get_origin(kind) in (typing.Union, UnionType):
        args = [arg for arg in typing.get_args(kind) if arg is not NoneType]
        assert len(args) == 1, f"a settings field is one type, or one type or None: {kind}"
        return args[0], len(typing.get_args(kind)) > 1
    return kind, False


def _read_number(value: Any, kind: Any, rule: Rule, path: str) -> int | float:
    accepted = (int,) if kind is int else (int, float)
    # bool is an int in Python, not in JSON: `true` must not pass as 1.
    if type(value) not in accepted or not math.isfinite(value) or not _in_bounds(value, rule):
        raise invalid(path, value, _expected(kind, rule))
    return value


def _in_bounds(value: float, rule: Rule) -> bool:
    if rule.exclusive:
        return (rule.minimum is None or value > rule.minimum) and (rule.maximum is None or value < rule.maximum)
    return (rule.minimum is None or value >= rule.minimum) and (rule.maximum is None or value <= rule.maximum)


def _choices(rule: Rule) -> tuple[str, ...] | None:
    if rule.choices is None:
        return None
    return tuple(rule.choices() if callable(rule.choices) else rule.choices)


def _read_text(value: Any, rule: Rule, path: str) -> str:
    if rule.numbers_as_text and type(value) in (int, float) and math.isfinite(value):
        value = number_text(value)
    if not _text_ok(value, rule):
        blank = _choices(rule) is None and not rule.allow_empty and not (isinstance(value, str) and value.strip())
        raise invalid(path, value, "a non-empty string" if blank else _expected(str, rule))
    return value


def _text_ok(value: Any, rule: Rule) -> bool:
    choices = _choices(rule)
    if choices is not None:
        return value in choices
    if not isinstance(value, str) or (not rule.allow_empty and not value.strip()):
        return False
    if rule.max_length is not None and len(value) > rule.max_length:
        return False
    return rule.pattern is None or re.fullmatch(rule.pattern, value) is not None


def _expected(kind: Any, rule: Rule) -> str:
    """What the rule accepts, in words."""
    kind, _ = _without_none(kind)
    if kind is bool:
        return "true or false"
    if kind is int or kind is float:
        noun = "an integer" if kind is int else "a number"
        low, high = rule.minimum, rule.maximum
        if low is not None and high is not None:
            if rule.exclusive:
                return f"{noun} between {_number(low)} and {_number(high)} (exclusive)"
            return f"{noun} from {_number(low)} to {_number(high)}"
        if low is not None:
            return f"{noun} {'>' if rule.exclusive else '>='} {_number(low)}"
        return noun
    if typing.get_origin(kind) is tuple:
        item = _expected(typing.get_args(kind)[0], rule.item or Rule())
        if rule.max_items is not None:
            return f"a list of {rule.min_items} to {rule.max_items} items, each {item}"
        if rule.min_items:
            return f"a list of at least {rule.min_items} items, each {item}"
        return f"a list, each item {item}"
    choices = _choices(rule)
    if choices is not None:
        return "one of " + ", ".join(choices)
    if rule.allowed:
        return rule.allowed
    text = "a string" if rule.allow_empty else "a non-empty string"
    if rule.pattern:
        text += f" matching {rule.pattern}"
    if rule.max_length is not None:
        text += f" of at most {rule.max_length} characters"
    return text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def write(settings: Any) -> dict[str, Any]:
    """The JSON object of a settings dataclass: keys in declaration order, as the reader reads them."""
    keys = _keys(type(settings))
    values = {key.name: getattr(settings, key.name) for key in keys}
    result: dict[str, Any] = {}
    for key in keys:
        if key.rule.from_key or not _applies(key, values):
            continue
        result[key.name] = _write_value(getattr(settings, key.name), key.rule)
    return result


def _write_value(value: Any, rule: Rule) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return write(value)
    if isinstance(value, tuple | list):
        if rule.keyed_by is not None:
            return {getattr(item, rule.keyed_by): write(item) for item in value}
        return [_write_value(item, rule.item or Rule()) for item in value]
    if isinstance(value, Mapping):
        return {name: _write_value(item, rule.item or Rule()) for name, item in value.items()}
    return value


# --- Rules several settings share ------------------------------------------------------------------

_BUCKET = Rule(pattern=_BUCKET_PATTERN, allowed="an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')")
_PREFIX = Rule(pattern=PREFIX_PATTERN, allowed=PREFIX_ALLOWED)
_IMAGE_URI = Rule(pattern=_IMAGE_URI_PATTERN, max_length=MAX_IMAGE_URI_LENGTH,
                  allowed=f"a container image URI (at most {MAX_IMAGE_URI_LENGTH} characters, no spaces)")
_TOPIC_ARN = Rule(pattern=SNS_TOPIC_ARN_PATTERN, allowed="an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
_KMS_KEY_ARN = Rule(pattern=KMS_KEY_ARN_PATTERN, may_be_absent=True,
                    allowed="null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)")


class _Contract:
    """Reading and writing one function's settings: its variable, the one reader, `to_json`."""

    VARIABLE: ClassVar[str]  # the environment variable
    WHAT: ClassVar[str]  # how messages name the settings ("training settings")

    def validate(self, path: str) -> None:
        """Rules that involve several keys; `path` names the settings in messages. The reader calls it."""

    @classmethod
    def from_mapping(cls, data: Any, *, source: str | None = None) -> Self:
        """Parse and validate the settings object `data`; `source` names it in messages (default: VARIABLE)."""
        return typing.cast(Self, read(cls, data, source or cls.VARIABLE))

    @classmethod
    def from_json(cls, text: str, *, source: str | None = None) -> Self:
        path = source or cls.VARIABLE
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as error:
            raise SettingsError(f"{path} is not valid JSON: {error}") from None
        return cls.from_mapping(data, source=path)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The function's settings, from its environment variable."""
        return cls.from_json(settings_text(cls.VARIABLE, cls.WHAT, environ))

    def to_mapping(self) -> dict[str, Any]:
        """The JSON object (key order as declared); nothing is checked, values may be tokens."""
        return write(self)

    def to_json(self) -> str:
        """The environment variable's value: compact JSON (Lambda's 4 KB limit counts every byte)."""
        return json.dumps(self.to_mapping(), separators=(",", ":"))


@dataclass(frozen=True, kw_only=True)
class _Settings(_Contract):
    """The keys every workflow step's settings have (and the tag count rule)."""

    ADDED_TAG_KEYS: ClassVar[tuple[str, ...]]  # the tags the function adds to what it creates

    region: str = setting(pattern=_REGION_PATTERN, allowed="an AWS region name such as us-east-1")
    account: str = setting(pattern=_ACCOUNT_PATTERN, allowed="a 12-digit AWS account id")
    job_prefix: str = setting(pattern=JOB_PREFIX_PATTERN, max_length=MAX_JOB_PREFIX_LENGTH,
                              allowed=JOB_PREFIX_ALLOWED)
    role_arn: str = setting(pattern=_ROLE_ARN_PATTERN, allowed="an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    # Read-only after parsing; excluded from hashing because mappings are not hashable.
    tags: Mapping[str, str] = setting(
        key=Rule(pattern=TAG_KEY_PATTERN, allowed="1-128 letters, digits, spaces and _ . : / = + - @"),
        item=Rule(allow_empty=True, max_length=MAX_TAG_VALUE_LENGTH), hash=False)
    task_type: str = setting(choices=task_types.names)  # its descriptor: `task`

    @property
    def task(self) -> task_types.TaskType:
        """The task type's descriptor (looked up in the registry at call time)."""
        return task_types.task_type(self.task_type)

    def validate(self, path: str) -> None:
        problem = tag_count_problem(self.tags, added=self.ADDED_TAG_KEYS)
        if problem:
            raise SettingsError(f"{path}.tags {problem}")


# --- LABELING_SETTINGS -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AutoLabelingSettings:
    """LABELING_SETTINGS.auto_labeling: Ground Truth's automated data labeling (lambdas/auto_labeling.py,
    docs/labeling-cost.md). The config's `labeling.auto_labeling`."""

    enabled: bool = setting(default=False)
    # A previous job's LabelingJobOutput.FinalActiveLearningModelArn (botocore's ModelArn pattern).
    initial_model_arn: str | None = setting(pattern=auto_labeling.MODEL_ARN_PATTERN, default=None,
                                            allowed="null or a SageMaker model ARN "
                                            "(arn:aws:sagemaker:<region>:<account>:model/<name>)")
    # The storage volumes of the training and inference jobs Ground Truth runs for it.
    volume_kms_key_arn: str | None = setting(_KMS_KEY_ARN, default=None)

    def validate(self, path: str) -> None:
        """Nothing across keys; the region's rules need the enclosing settings (LabelingSettings.validate)."""

    def options(self) -> auto_labeling.AutoLabelingOptions:
        return auto_labeling.AutoLabelingOptions(initial_model_arn=self.initial_model_arn,
                                                 volume_kms_key_arn=self.volume_kms_key_arn)


@dataclass(frozen=True, kw_only=True)
class LabelingSettings(_Settings):
    """What StartLabeling needs to plan a CreateLabelingJob (lambdas/labeling_request.py)."""

    VARIABLE: ClassVar[str] = LABELING_SETTINGS_VAR
    WHAT: ClassVar[str] = "labeling settings"
    ADDED_TAG_KEYS: ClassVar[tuple[str, ...]] = (LABELING_JOB_TAG_KEY, RELABEL_OF_TAG_KEY)

    bucket: str = setting(_BUCKET)
    prefix: str = setting(_PREFIX)
    label_attribute: str = setting(pattern=LABEL_ATTRIBUTE_PATTERN,
                                   allowed="1-127 letters, digits and '-', starting and ending with a letter or "
                                   "digit")
    labels: tuple[str, ...] = setting(item=Rule())  # how many: the task type's (validate)
    task_title: str = setting(max_length=128)  # TaskTitle
    task_description: str = setting(max_length=255)  # TaskDescription
    task_keywords: tuple[str, ...] = setting(
        min_items=MIN_TASK_KEYWORDS, max_items=MAX_TASK_KEYWORDS,
        item=Rule(pattern=TASK_KEYWORD_PATTERN, max_length=MAX_TASK_KEYWORD_LENGTH,
                  allowed=f"1-{MAX_TASK_KEYWORD_LENGTH} letters or digits, words separated by single spaces"))
    short_instructions: str = setting()
    full_instructions: str = setting()
    # The kind's rules: workforces.policy_for(workforce). Read at call time: a test may register a kind.
    # (noqa RUF009: `setting` is a field specifier, like dataclasses.field.)
    workforce: WorkforceKind = setting(choices=workforces.kind_values, convert=workforces.parse_kind)  # noqa: RUF009
    workteam_arn: str = setting(pattern=_WORKTEAM_ARN_PATTERN,
                                allowed="a SageMaker workteam ARN (arn:aws:sagemaker:<region>:<account>:workteam/...)")
    pre_lambda_arn: str = setting(pattern=_LAMBDA_ARN_PATTERN, allowed="a Lambda function ARN")
    acs_lambda_arn: str = setting(pattern=_LAMBDA_ARN_PATTERN, allowed="a Lambda function ARN")
    workers_per_object: int = setting(minimum=1, maximum=9)  # NumberOfHumanWorkersPerDataObject
    price_usd: str | None = setting()  # required exactly when the kind is paid per task (validate)
    free_of_adult_content: bool = setting()
    task_time_limit_seconds: int = setting(minimum=30)  # TaskTimeLimitInSeconds
    # The kind's maximum is checked when the request is built (labeling_request).
    task_availability_seconds: int = setting(minimum=workforces.MIN_TASK_AVAILABILITY_SECONDS)
    max_concurrent_tasks: int | None = setting(minimum=1, maximum=5000)  # MaxConcurrentTaskCount
    max_objects: int | None = setting(minimum=1, maximum=MAX_OBJECTS_PER_JOB)
    # The data bucket's SSE-KMS key, or None (SSE-S3).
    kms_key_arn: str | None = setting(_KMS_KEY_ARN, default=None)
    # Absent: off (settings written before the key existed).
    auto_labeling: AutoLabelingSettings = setting(may_be_absent=True, default=AutoLabelingSettings())  # noqa: RUF009

    def validate(self, path: str) -> None:
        super().validate(path)
        self._validate_auto_labeling(f"{path}.auto_labeling")
        task = self.task.ground_truth
        if self.label_attribute.endswith(RESERVED_LABEL_ATTRIBUTE_SUFFIX):
            raise invalid(f"{path}.label_attribute", self.label_attribute,
                          f"a name not ending in {RESERVED_LABEL_ATTRIBUTE_SUFFIX!r} (Ground Truth writes "
                          f"<attribute>{RESERVED_LABEL_ATTRIBUTE_SUFFIX} next to the label)")
        if not task.min_labels <= len(self.labels) <= task.max_labels:
            raise invalid(f"{path}.labels", list(self.labels),
                          f"{task.min_labels} to {task.max_labels} labels for {task.title}")
        folded = [label.casefold() for label in self.labels]
        duplicates = sorted({label for label in self.labels if folded.count(label.casefold()) > 1})
        if duplicates:
            raise SettingsError(f"{path}.labels has duplicates (case-insensitively): {duplicates}")
        # Another task type's PRE Lambda would hand workers objects the UI template cannot show.
        for key, function in (("pre_lambda_arn", task.pre_lambda_name), ("acs_lambda_arn", task.acs_lambda_name)):
            arn = getattr(self, key)
            if arn.rpartition(":function:")[2] != function:
                raise SettingsError(f"{path}.{key} = {arn!r} is not the {function} function that task type "
                                    f"{self.task_type!r} uses")
        policy = workforces.policy_for(self.workforce)
        if policy.paid_per_task:
            if self.price_usd is None:
                raise SettingsError(f"{path}.price_usd is required for {policy.label()}")
            price_to_usd(self.price_usd, key=f"{path}.price_usd")
            if Decimal(self.price_usd) not in policy.task_prices_usd:
                raise invalid(f"{path}.price_usd", self.price_usd,
                              f"one of {', '.join(map(str, policy.task_prices_usd))} (USD per object per worker "
                              f"that {policy.title} accepts)")
        elif self.price_usd is not None:
            raise SettingsError(f"{path}.price_usd must be null for {policy.label()}: it is not paid per task "
                                f"(PublicWorkforceTaskPrice), got {self.price_usd!r}")


    def _validate_auto_labeling(self, path: str) -> None:
        """With automated labeling on: the task type and region have its algorithm, and its values fit the
        region (lambdas/auto_labeling.py). The dataset's size is checked when a job is planned."""
        auto = self.auto_labeling
        if not auto.enabled:
            return
        try:
            auto_labeling.algorithm_specification_arn(self.region, self.task_type)
        except auto_labeling.AutoLabelingError as error:
            raise SettingsError(f"{path}.enabled = true: {error}") from None
        problems = auto.options().problems(self.region, path=path)
        if problems:
            raise SettingsError("; ".join(problems))


def price_to_usd(price_usd: str, *, key: str = "price_usd") -> dict[str, int]:
    """Convert a decimal dollar string to the API's {Dollars, Cents, TenthFractionsOfACent}.

    Decimal, never float: 0.036 as a float is 0.03599999..., which would lose a tenth of a
    cent. Amounts finer than a tenth of a cent cannot be expressed and are refused.
    """
    try:
        amount = Decimal(price_usd)
    except (InvalidOperation, TypeError) as error:
        raise SettingsError(f"{key} = {price_usd!r} is not a decimal number of US dollars") from error
    if not amount.is_finite() or amount <= 0:
        raise SettingsError(f"{key} = {price_usd!r} must be a positive amount of dollars")
    tenths_of_cents = amount * 1000
    if tenths_of_cents != tenths_of_cents.to_integral_value():
        raise SettingsError(
            f"{key} = {price_usd!r} is finer than a tenth of a cent, which PublicWorkforceTaskPrice cannot express"
        )
    dollars, rest = divmod(int(tenths_of_cents), 1000)
    cents, tenths = divmod(rest, 10)
    # The API caps Dollars at 2.
    if dollars > 2:
        raise SettingsError(f"{key} = {price_usd!r} is above the API maximum of $2.999")
    return {"Dollars": dollars, "Cents": cents, "TenthFractionsOfACent": tenths}


# --- TRAINING_SETTINGS -----------------------------------------------------------------------------

_NUMERIC = ("type", NUMERIC_RANGE_TYPES)


@dataclass(frozen=True, kw_only=True)
class ParameterRange:
    """One tuned hyperparameter: `tuning.ranges.<name>` = {type, min, max, scaling} or {type, values}."""

    name: str = setting(from_key=True)
    type: str = setting(choices=RANGE_TYPES)
    min: float | None = setting(only_when=_NUMERIC, default=None)
    max: float | None = setting(only_when=_NUMERIC, default=None)
    scaling: str = setting(choices=SCALING_TYPES, only_when=_NUMERIC, may_be_absent=True, default="Auto")
    values: tuple[str, ...] = setting(only_when=("type", ("categorical",)), min_items=1,
                                      item=Rule(numbers_as_text=True), default=())

    def validate(self, path: str) -> None:
        """SageMaker's rules for the scaling types (API_ContinuousParameterRange, API_IntegerParameterRange)."""
        if self.type == "categorical":
            return
        low, high = typing.cast(float, self.min), typing.cast(float, self.max)
        if self.type == "integer" and not (float(low).is_integer() and float(high).is_integer()):
            raise SettingsError(f"{path}: an integer range needs integer min and max")
        if not low < high:
            raise SettingsError(f"{path}: min = {low} must be less than max = {high}")
        if self.scaling == "Logarithmic" and low <= 0:
            raise SettingsError(f"{path}: Logarithmic scaling needs min > 0, got {low}")
        if self.scaling == "ReverseLogarithmic" and (self.type != "continuous" or low < 0 or high >= 1):
            raise SettingsError(f"{path}: ReverseLogarithmic scaling needs a continuous range within 0 <= x < 1")


@dataclass(frozen=True, kw_only=True)
class TuningSettings:
    enabled: bool = setting()
    max_jobs: int = setting(minimum=1)
    max_parallel_jobs: int = setting(minimum=1)
    early_stopping: str = setting(choices=EARLY_STOPPING_TYPES)
    ranges: tuple[ParameterRange, ...] = setting(keyed_by="name")  # in the JSON object's order

    def validate(self, path: str) -> None:
        if self.max_parallel_jobs > self.max_jobs:
            raise SettingsError(f"{path}.max_parallel_jobs = {self.max_parallel_jobs} must be <= max_jobs = "
                                f"{self.max_jobs}")
        if self.enabled and not self.ranges:
            raise SettingsError(f"{path}.ranges is empty: tuning needs at least one range")


@dataclass(frozen=True, kw_only=True)
class TrainingSettings(_Settings):
    """What StartTraining needs to split a manifest and start a training or tuning job (training_request)."""

    VARIABLE: ClassVar[str] = TRAINING_SETTINGS_VAR
    WHAT: ClassVar[str] = "training settings"
    ADDED_TAG_KEYS: ClassVar[tuple[str, ...]] = (LABELING_JOB_TAG_KEY,)

    bucket: str = setting(_BUCKET)
    prefix: str = setting(_PREFIX)
    image_uri: str = setting(_IMAGE_URI)
    instance_type: str = setting(pattern=INSTANCE_TYPE_PATTERN, allowed="a SageMaker instance type such as "
                                 "ml.g4dn.xlarge")
    instance_count: int = setting(minimum=1)
    volume_gb: int = setting(minimum=1)
    max_runtime_seconds: int = setting(minimum=1)
    spot: bool = setting()
    max_wait_seconds: int = setting(minimum=1)
    validation_fraction: float = setting(minimum=0, maximum=1, exclusive=True)
    min_labeled_objects: int = setting(minimum=0)
    # Numbers are taken as their text (HyperParameters are strings); read-only after parsing.
    hyperparameters: Mapping[str, str] = setting(item=Rule(numbers_as_text=True), hash=False)
    tuning: TuningSettings = setting()  # noqa: RUF009 (a field specifier, like dataclasses.field)
    topic_arn: str = setting(_TOPIC_ARN)
    kms_key_arn: str | None = setting(_KMS_KEY_ARN, default=None)
    # Machine labels (automated labeling) below this confidence are left out of training; None keeps them all
    # (the config's training.exclude_machine_labels_below; lambdas/relabel.LabelSourceFilter). Absent: None.
    exclude_machine_labels_below: float | None = setting(minimum=0, maximum=1, may_be_absent=True, default=None)

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.exclude_machine_labels_below is not None and self.exclude_machine_labels_below <= 0:
            raise invalid(f"{path}.exclude_machine_labels_below", self.exclude_machine_labels_below,
                          "null or a confidence above 0 and at most 1")
        if self.spot and self.max_wait_seconds < self.max_runtime_seconds:
            raise SettingsError(f"{path}.max_wait_seconds = {self.max_wait_seconds} must be >= max_runtime_seconds = "
                                f"{self.max_runtime_seconds} with managed spot training (SageMaker rejects it "
                                "otherwise)")
        # Computed from the labeled data, so never taken from (or tuned by) the settings.
        computed = self.task.algorithm.computed_hyperparameter_names
        for name in computed:
            if name in self.hyperparameters:
                raise SettingsError(f"{path}.hyperparameters.{name} must not be set: it is computed from the "
                                    "labeled data")
        for parameter in self.tuning.ranges:
            if parameter.name in computed:
                raise SettingsError(f"{path}.tuning.ranges.{parameter.name} cannot be tuned: it is computed from "
                                    "the labeled data")


# --- MODEL_SETTINGS --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EvaluationStart:
    """MODEL_SETTINGS.evaluation: where and on what RegisterModel starts a new model's evaluation (the batch
    transform over the validation split, lambdas/evaluation_job.py)."""

    bucket: str = setting(_BUCKET)
    prefix: str = setting(_PREFIX)
    instance_type: str = setting(pattern=INSTANCE_TYPE_PATTERN,
                                 allowed="a SageMaker instance type such as ml.m5.large")
    # The data bucket's SSE-KMS key, or None (SSE-S3): the transform encrypts its output with it.
    kms_key_arn: str | None = setting(_KMS_KEY_ARN, default=None)

    def validate(self, path: str) -> None:
        """Nothing across keys (the reader calls it on every settings object)."""


@dataclass(frozen=True, kw_only=True)
class ModelSettings(_Settings):
    """What RegisterModel needs to create the model (and model package) of a finished job (register_model)."""

    VARIABLE: ClassVar[str] = MODEL_SETTINGS_VAR
    WHAT: ClassVar[str] = "model settings"
    ADDED_TAG_KEYS: ClassVar[tuple[str, ...]] = (TRAINING_JOB_TAG_KEY, TUNING_JOB_TAG_KEY)

    image_uri: str = setting(_IMAGE_URI)
    register_package: bool = setting()
    package_group_name: str | None = setting(pattern=MODEL_PACKAGE_GROUP_PATTERN,
                                             allowed="a model package group name (1-63 letters, digits and '-')")
    topic_arn: str = setting(_TOPIC_ARN)
    # null: evaluation.enabled is false, and RegisterModel registers the model package itself; otherwise the
    # Evaluation function registers it once the evaluation has run (with its metrics).
    evaluation: EvaluationStart | None = setting()  # noqa: RUF009 (a field specifier, like dataclasses.field)

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.register_package and self.package_group_name is None:
            raise SettingsError(f"{path}.package_group_name = None is invalid: registering model packages "
                                "(register_package = true) needs the model package group's name")


# --- EVALUATION_SETTINGS ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings(_Settings):
    """What the Evaluation function needs once a model's evaluation transform ended (evaluate_model): where the
    evaluation lives, whether to register the model package, and the accuracy floor."""

    VARIABLE: ClassVar[str] = EVALUATION_SETTINGS_VAR
    WHAT: ClassVar[str] = "evaluation settings"
    # The model package it registers carries the same tags as the model (register_model._tags).
    ADDED_TAG_KEYS: ClassVar[tuple[str, ...]] = (TRAINING_JOB_TAG_KEY, TUNING_JOB_TAG_KEY)

    bucket: str = setting(_BUCKET)
    prefix: str = setting(_PREFIX)
    register_package: bool = setting()
    package_group_name: str | None = setting(pattern=MODEL_PACKAGE_GROUP_PATTERN,
                                             allowed="a model package group name (1-63 letters, digits and '-')")
    # A model whose accuracy on the validation split is below this is not approvable; null: no floor.
    accuracy_floor: float | None = setting(minimum=0, maximum=1)
    topic_arn: str = setting(_TOPIC_ARN)

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.register_package and self.package_group_name is None:
            raise SettingsError(f"{path}.package_group_name = None is invalid: registering model packages "
                                "(register_package = true) needs the model package group's name")



# --- DEPLOYMENT_SETTINGS ---------------------------------------------------------------------------

DEPLOYMENT_SETTINGS_VAR = "DEPLOYMENT_SETTINGS"
# The Deployment function's rules (docs/deployment.md); stacks/config.py checks `workflow.endpoint` with them.
ENDPOINT_MODES = ("serverless", "instance")
# ProductionVariantServerlessConfig (botocore's model, API reference): MemorySizeInMB 1024-6144 in 1 GB
# steps, MaxConcurrency 1-200.
SERVERLESS_MEMORY_SIZES = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
# The idle rule reads 1-minute metrics that CloudWatch may deliver a few minutes late: a window much shorter
# than that could delete an endpoint in use. A day is plenty for "idle".
IDLE_MINUTES_MIN = 10
IDLE_MINUTES_MAX = 24 * 60
# The tag the Deployment function adds to its model, endpoint config and endpoint: the version they serve.
MODEL_PACKAGE_TAG_KEY = "model-package"


@dataclass(frozen=True, kw_only=True)
class DeploymentSettings(_Settings):
    """What the Deployment function needs to serve the approved model package version (lambdas/deployment.py).

    Every name it creates starts with `<job_prefix>-` (the environment's), which its role's policy is
    scoped to; the endpoint variant is serverless or one real-time instance (`mode`)."""

    VARIABLE: ClassVar[str] = DEPLOYMENT_SETTINGS_VAR
    WHAT: ClassVar[str] = "deployment settings"
    ADDED_TAG_KEYS: ClassVar[tuple[str, ...]] = (MODEL_PACKAGE_TAG_KEY,)

    package_group_name: str = setting(pattern=MODEL_PACKAGE_GROUP_PATTERN,
                                      allowed="a model package group name (1-63 letters, digits and '-')")
    topic_arn: str = setting(_TOPIC_ARN)
    mode: str = setting(choices=ENDPOINT_MODES)
    memory_mb: int = setting(minimum=SERVERLESS_MEMORY_SIZES[0], maximum=SERVERLESS_MEMORY_SIZES[-1])  # serverless
    max_concurrency: int = setting(minimum=1, maximum=SERVERLESS_MAX_CONCURRENCY)  # serverless
    instance_type: str = setting(pattern=INSTANCE_TYPE_PATTERN,  # instance
                                 allowed="a SageMaker hosting instance type such as ml.m5.large")
    # instance: delete the endpoint after this long without an invocation.
    idle_minutes: int = setting(minimum=IDLE_MINUTES_MIN, maximum=IDLE_MINUTES_MAX)
    # instance: the storage volume's key (the data bucket's); serverless takes no key.
    kms_key_arn: str | None = setting(_KMS_KEY_ARN, default=None)

    def validate(self, path: str) -> None:
        super().validate(path)
        if self.memory_mb not in SERVERLESS_MEMORY_SIZES:
            raise invalid(f"{path}.memory_mb", self.memory_mb,
                          "one of " + ", ".join(map(str, SERVERLESS_MEMORY_SIZES)))


# --- PORTAL_URLS_SETTINGS --------------------------------------------------------------------------

PORTAL_URLS_SETTINGS_VAR = "PORTAL_URLS_SETTINGS"


@dataclass(frozen=True, kw_only=True)
class PortalUrlSettings(_Contract):
    """The private workforce's portal-URL custom resource (lambdas/portal_urls.py): only where it runs.

    Not a workflow step: no job prefix, role, tags or task type. What to update comes with each
    CloudFormation request (its ResourceProperties)."""

    VARIABLE: ClassVar[str] = PORTAL_URLS_SETTINGS_VAR
    WHAT: ClassVar[str] = "portal URL settings"

    region: str = setting(pattern=_REGION_PATTERN, allowed="an AWS region name such as us-east-1")

SETTINGS_CLASSES: tuple[type[_Settings], ...] = (LabelingSettings, TrainingSettings, ModelSettings,
                                                 EvaluationSettings, DeploymentSettings)
