"""Unit tests of the pure labeling planner (no AWS calls; botocore's model as the oracle)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.stub import Stubber

from lambdas import labeling_request as lr
from lambdas.labeling_request import LabelingRequestError, LabelingSettings
from lambdas.settings import SettingsError
from lambdas.task_types import IMAGE_CLASSIFICATION
from lambdas.workforces import WorkforceKind

IMAGES = IMAGE_CLASSIFICATION.ground_truth

BUCKET = "sagemaker-us-east-1-123456789012"
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

SETTINGS: dict[str, Any] = {
    "region": "us-east-1",
    "account": "123456789012",
    "bucket": BUCKET,
    "prefix": "ground-truth-demo",
    "job_prefix": "gt-demo",
    "task_type": "image-classification",
    "label_attribute": "vehicle",
    "labels": ["Airplane", "Car", "Ferry", "Helicopter", "Motorbike"],
    "task_title": "Classify the vehicle",
    "task_description": "Choose the most prominent vehicle in the image",
    "task_keywords": ["image", "classification", "vehicle"],
    "short_instructions": "Choose the vehicle that fills most of the picture.",
    "full_instructions": ("Look at the whole image.\n\nIf two vehicles are equally big, choose the nearer one."),
    "role_arn": "arn:aws:iam::123456789012:role/Exec",
    "workforce": "public",
    "workteam_arn": "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default",
    "pre_lambda_arn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-ImageMultiClass",
    "acs_lambda_arn": "arn:aws:lambda:us-east-1:432418664414:function:ACS-ImageMultiClass",
    "workers_per_object": 3,
    "price_usd": "0.012",
    "free_of_adult_content": True,
    "task_time_limit_seconds": 300,
    "task_availability_seconds": 21600,
    "max_concurrent_tasks": None,
    "max_objects": None,
    "tags": {"project": "ground-truth-demo"},
}
PRIVATE_TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/team"
EXISTING_TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/adopted"


def settings_dict(workforce: str = "public", **overrides: Any) -> dict[str, Any]:
    """The stack's settings for one workforce kind, with overrides."""
    data = copy.deepcopy(SETTINGS)
    if workforce != "public":
        data.update(
            workforce=workforce,
            workteam_arn=PRIVATE_TEAM if workforce == "private" else EXISTING_TEAM,
            price_usd=None,
            task_availability_seconds=86_400,  # above the MTurk cap: legal for own workers
        )
    data.update(overrides)
    return data


def make_settings(workforce: str = "public", **overrides: Any) -> LabelingSettings:
    return LabelingSettings.from_mapping(settings_dict(workforce, **overrides))


# --- Settings ------------------------------------------------------------------------------


def test_settings_parse_the_stack_contract() -> None:
    settings = LabelingSettings.from_json(json.dumps(SETTINGS))
    assert settings.labels == ("Airplane", "Car", "Ferry", "Helicopter", "Motorbike")
    assert settings.task_keywords == ("image", "classification", "vehicle")
    assert settings.price_usd == "0.012"
    assert settings.max_objects is None
    assert dict(settings.tags) == {"project": "ground-truth-demo"}
    with pytest.raises(TypeError):
        settings.tags["new"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        settings.bucket = "other"  # type: ignore[misc]


@pytest.mark.parametrize("prefix", ["/ground-truth-demo/", "ground-truth-demo/", "a//b", "a/./b", "", "a*", "a?"])
def test_settings_prefix_follows_the_configs_rule(prefix: str) -> None:
    # The config's prefix rule (lambdas/settings.PREFIX_PATTERN): no surrounding slashes to strip.
    expected = r"^LABELING_SETTINGS\.prefix = .* is invalid: expected (an S3 key prefix|a non-empty string)"
    with pytest.raises(SettingsError, match=expected):
        make_settings(prefix=prefix)


@pytest.mark.parametrize("key", ["bucket", "labels", "price_usd", "max_objects"])
def test_settings_missing_key_is_named(key: str) -> None:
    data = settings_dict()
    del data[key]
    with pytest.raises(SettingsError, match=rf"^LABELING_SETTINGS\.{key} is missing$"):
        LabelingSettings.from_mapping(data)


def test_settings_unknown_key_is_named() -> None:
    with pytest.raises(SettingsError, match=r"^LABELING_SETTINGS has unknown key\(s\) price;"):
        LabelingSettings.from_mapping(settings_dict(price="0.012"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("workers_per_object", 10),
        ("workers_per_object", True),  # bool is an int in Python, not in JSON
        ("workers_per_object", "3"),
        ("labels", ["Car"]),  # Ground Truth needs at least two
        ("labels", ["Car", "Car"]),
        ("task_keywords", ["image-classification"]),  # the API allows letters, digits, spaces
        ("task_keywords", ["a", "b", "c", "d", "e", "f"]),
        ("workforce", "mturk"),
        ("free_of_adult_content", "yes"),
        ("role_arn", "Exec"),
        ("account", "1234"),
        ("label_attribute", "vehicle-metadata"),
        ("job_prefix", "gt_demo"),
        ("job_prefix", "g" * 24),  # a tuning job name keeps only 23 characters of it
        ("job_prefix", "GT-demo"),  # SageMaker lowercases names in ARNs; the trigger matches the prefix
        ("max_concurrent_tasks", 0),
        ("max_objects", 0),
        ("tags", {"project": 1}),
        ("tags", {"": "x"}),
        ("tags", {"project": "x" * 257}),  # TagValue: at most 256 characters
        ("tags", {f"team{i}": "x" for i in range(50)}),  # + labeling-job: 51 tags on the job
        ("prefix", "a/../b"),
        ("price_usd", "0.0125"),
        ("price_usd", "0.05"),  # representable, but not a price Mechanical Turk accepts
        ("price_usd", None),  # public workforce must be paid
        ("kms_key_arn", "alias/mine"),
    ],
)
def test_settings_bad_value_is_named(key: str, value: Any) -> None:
    with pytest.raises(SettingsError, match=rf"^LABELING_SETTINGS\.{key}\b"):
        LabelingSettings.from_mapping(settings_dict(**{key: value}))


def test_settings_bad_list_item_is_named_with_its_index() -> None:
    with pytest.raises(SettingsError, match=r"^LABELING_SETTINGS\.task_keywords\[1\] = 'multi-class' is invalid: "
                                            r"expected 1-30 letters or digits"):
        make_settings(task_keywords=["image", "multi-class"])


def test_settings_tags_up_to_the_limit_with_the_job_tag_parse() -> None:
    # A job carries the settings' tags plus labeling-job and, for a relabel job, relabel-of: 48 + 2 = 50.
    forty_eight = {f"team{i}": "x" for i in range(48)}
    assert len(make_settings(tags=forty_eight).tags) == 48
    # A settings tag named like the job's own tags is replaced on the job, not added: 50 in all.
    assert len(make_settings(tags={**forty_eight, "labeling-job": "stale", "relabel-of": "stale"}).tags) == 50
    with pytest.raises(SettingsError, match=r"has 49 tags; with the labeling-job, relabel-of tag\(s\)"):
        make_settings(tags={**forty_eight, "team48": "x"})


@pytest.mark.parametrize("workforce", ["private", "existing"])
def test_settings_price_is_refused_for_own_workforces(workforce: str) -> None:
    with pytest.raises(SettingsError, match=r"price_usd must be null"):
        make_settings(workforce, price_usd="0.012")


def test_settings_from_json_reports_bad_json() -> None:
    with pytest.raises(SettingsError, match="LABELING_SETTINGS is not valid JSON"):
        LabelingSettings.from_json("{not json")
    with pytest.raises(SettingsError, match="must be a JSON object"):
        LabelingSettings.from_json("[]")


def test_settings_kms_key_may_be_absent_and_round_trip() -> None:
    data = settings_dict()
    assert "kms_key_arn" not in data
    settings = LabelingSettings.from_mapping(data)
    assert settings.kms_key_arn is None
    # What the stack writes (to_json) reads back to the same settings.
    assert LabelingSettings.from_json(settings.to_json()) == settings


# --- Prices --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("0.012", (0, 1, 2)),
        ("0.036", (0, 3, 6)),
        ("0.060", (0, 6, 0)),
        ("0.12", (0, 12, 0)),
        ("0.840", (0, 84, 0)),
        ("1.2", (1, 20, 0)),
        ("1.200", (1, 20, 0)),
        ("2.999", (2, 99, 9)),
    ],
)
def test_price_is_split_exactly(price: str, expected: tuple[int, int, int]) -> None:
    dollars, cents, tenths = expected
    assert lr.price_to_usd(price) == {
        "Dollars": dollars,
        "Cents": cents,
        "TenthFractionsOfACent": tenths,
    }


@pytest.mark.parametrize("price", ["0.0125", "0.0001", "abc", "", "0", "-0.012", "3.000", "NaN", "Infinity"])
def test_price_not_representable_is_refused(price: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(repr(price))):
        lr.price_to_usd(price)


# --- Image selection -----------------------------------------------------------------------


def test_select_images_keeps_images_in_order_and_counts_the_rest() -> None:
    objects = [
        ("p/images/", 0),
        ("p/images/b.JPG", 10),
        ("p/images/a.png", 10),
        ("p/images/cars/", 0),
        ("p/images/cars/c.jpeg", 10),
        ("p/images/notes.txt", 10),
        ("p/images/photo.jpg.bak", 10),
        ("p/images/scan.tiff", 10),
        ("p/images/huge.jpg", IMAGES.max_object_bytes + 1),
        ("p/images/just-fits.jpg", IMAGES.max_object_bytes),
    ]
    selection = lr.select_images(objects, task=IMAGES)
    assert selection.keys == (
        "p/images/b.JPG",
        "p/images/a.png",
        "p/images/cars/c.jpeg",
        "p/images/just-fits.jpg",
    )
    assert dict(selection.skipped) == {"folder_marker": 2, "not_an_image": 3, "too_large": 1}


def test_select_images_without_images_says_where_and_what_was_skipped() -> None:
    with pytest.raises(LabelingRequestError) as error:
        lr.select_images([("p/images/", 0), ("p/images/readme.md", 5)], task=IMAGES, where="s3://b/p/images/")
    message = str(error.value)
    assert "no images in s3://b/p/images/" in message
    assert "1 folder_marker, 1 not_an_image" in message


def test_select_images_of_nothing_fails() -> None:
    with pytest.raises(LabelingRequestError, match="no images"):
        lr.select_images([], task=IMAGES)


def _listing(count: int, consumed: list[int]) -> Iterator[tuple[str, int]]:
    for index in range(count):
        consumed[0] += 1
        yield f"images/{index:06d}.jpg", 1000


def test_select_images_accepts_exactly_the_job_limit() -> None:
    consumed = [0]
    selection = lr.select_images(_listing(lr.MAX_OBJECTS_PER_JOB, consumed), task=IMAGES)
    assert len(selection.keys) == 100_000
    assert selection.keys[-1] == "images/099999.jpg"


def test_select_images_over_the_job_limit_fails_fast_naming_the_limit() -> None:
    consumed = [0]
    with pytest.raises(LabelingRequestError, match=r"more than 100,000 images .* at most 100,000"):
        lr.select_images(_listing(250_000, consumed), task=IMAGES)
    # It stopped at the first image too many instead of reading the whole listing.
    assert consumed[0] == 100_001


# --- Job names -----------------------------------------------------------------------------


def test_job_name_from_time_is_utc() -> None:
    settings = make_settings()
    paris_summer = timezone(timedelta(hours=2))
    now = datetime(2024, 5, 6, 9, 8, 9, tzinfo=paris_summer)
    assert lr.resolve_job_name(settings, now=now) == "gt-demo-20240506-070809"


def test_job_name_needs_an_aware_time() -> None:
    with pytest.raises(LabelingRequestError, match="timezone-aware"):
        lr.resolve_job_name(make_settings(), now=datetime(2024, 5, 6, 7, 8, 9))
    with pytest.raises(LabelingRequestError, match="job name or the time"):
        lr.resolve_job_name(make_settings())


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("gt-demo-cars", "gt-demo-cars"),
        ("cars-2", "gt-demo-cars-2"),
        ("gt-demo", "gt-demo-gt-demo"),  # the prefix must be followed by a hyphen
        ("gt-demo2", "gt-demo-gt-demo2"),
        ("Cars--Batch1", "gt-demo-Cars--Batch1"),
    ],
)
def test_explicit_job_name_gets_the_prefix(given: str, expected: str) -> None:
    settings = make_settings()
    assert lr.resolve_job_name(settings, given) == expected
    # Resolving twice changes nothing: the handler and the planner may both resolve.
    assert lr.resolve_job_name(settings, expected) == expected


@pytest.mark.parametrize("bad", ["", "-cars", "cars-", "cars_2", "cars 2", "çars", "a" * 64])
def test_invalid_job_name_is_refused(bad: str) -> None:
    with pytest.raises(LabelingRequestError, match="not a valid labeling job name"):
        lr.resolve_job_name(make_settings(), bad)


def test_job_name_too_long_once_prefixed_is_refused() -> None:
    with pytest.raises(LabelingRequestError, match=r"\(71 characters\).* at most 63"):
        lr.resolve_job_name(make_settings(), "a" * 63)
    assert len(lr.resolve_job_name(make_settings(), "a" * 55)) == 63


def test_job_arn_and_console_url() -> None:
    settings = make_settings()
    assert lr.job_arn(settings, "gt-demo-Cars") == "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/gt-demo-cars"
    assert lr.console_url(settings, "gt-demo-x") == (
        "https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1"
        "#/labeling-jobs/details/gt-demo-x"
    )


# --- Images prefix -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "ground-truth-demo/images/"),
        ("ground-truth-demo/images/cars", "ground-truth-demo/images/cars/"),
        ("/other/photos/", "other/photos/"),
        (f"s3://{BUCKET}/ground-truth-demo/batch-2", "ground-truth-demo/batch-2/"),
    ],
)
def test_images_prefix_is_normalised(given: str | None, expected: str) -> None:
    assert lr.resolve_images_prefix(make_settings(), given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("ground-truth-demo/../secrets", r"'\.\.' segments"),
        ("../other", r"'\.\.' segments"),
        ("", "whole bucket"),
        ("/", "whole bucket"),
        (f"s3://{BUCKET}", "whole bucket"),
        ("s3://someone-elses-bucket/images/", "names bucket 'someone-elses-bucket'"),
    ],
)
def test_images_prefix_must_stay_inside_the_bucket(given: str, message: str) -> None:
    with pytest.raises(LabelingRequestError, match=message):
        lr.resolve_images_prefix(make_settings(), given)


# --- Frozen inputs -------------------------------------------------------------------------


def test_manifest_lines_are_json_lines_in_order() -> None:
    lines = lr.manifest_lines(BUCKET, ["a/1.jpg", "a/2.png"])
    assert isinstance(lines, Iterator)  # produced lazily, never one big string
    assert list(lines) == [
        b'{"source-ref": "s3://sagemaker-us-east-1-123456789012/a/1.jpg"}\n',
        b'{"source-ref": "s3://sagemaker-us-east-1-123456789012/a/2.png"}\n',
    ]


def test_manifest_lines_survive_awkward_keys() -> None:
    keys = ['a/quote".jpg', "a/back\\slash.jpg", "a/space and ünïcode.jpg", "a/new\nline.jpg"]
    lines = list(lr.manifest_lines(BUCKET, keys))
    assert len(lines) == len(keys)  # no key may split a line
    assert [json.loads(line)["source-ref"] for line in lines] == [f"s3://{BUCKET}/{key}" for key in keys]


def test_label_categories_document() -> None:
    document = json.loads(lr.label_categories_document(["Airplane", "Car"], task=IMAGES))
    assert document == {
        "document-version": "2018-11-28",
        "labels": [{"label": "Airplane"}, {"label": "Car"}],
    }


def test_ui_template_uses_the_classifier_and_the_instructions() -> None:
    template = lr.ui_template(make_settings())
    assert '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>' in template
    assert "<crowd-form>" in template and "</crowd-form>" in template
    assert (
        '<crowd-image-classifier\n    name="crowd-image-classifier"\n'
        '    src="{{ task.input.taskObject | grant_read_access }}"\n'
        '    categories="{{ task.input.labels | to_json | escape }}"\n'
        '    header="Choose the most prominent vehicle in the image"\n'
    ) in template
    assert '<full-instructions header="Classify the vehicle">' in template
    assert "<p>Look at the whole image.</p>" in template
    assert "<p>If two vehicles are equally big, choose the nearer one.</p>" in template
    short = template.split("<short-instructions>")[1].split("</short-instructions>")[0]
    assert "Choose the vehicle that fills most of the picture." in short


def test_ui_template_escapes_html_and_liquid_in_instructions() -> None:
    settings = make_settings(
        short_instructions='Pick <b>one</b> & "only" one\nreally',
        full_instructions="Never {{ task.input.taskObject }} or {% raw %}",
        task_title='Say "hi" <now>',
    )
    template = lr.ui_template(settings)
    assert "<p>Pick &lt;b&gt;one&lt;/b&gt; &amp; &quot;only&quot; one<br>really</p>" in template
    assert "<b>" not in template
    escaped = "Never &#123;&#123; task.input.taskObject &#125;&#125; or &#123;% raw %&#125;"
    assert escaped in template
    # The only Liquid left is ours: the two expressions on the classifier.
    assert re.findall(r"\{[{%].*?[}%]\}", template) == [
        "{{ task.input.taskObject | grant_read_access }}",
        "{{ task.input.labels | to_json | escape }}",
    ]
    assert '<full-instructions header="Say &quot;hi&quot; &lt;now&gt;">' in template


# --- The CreateLabelingJob request against botocore's SageMaker model ----------------------


def _check_against_model(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    """What botocore's client-side validation skips: patterns, max lengths, enums, int maxima."""
    meta = shape.metadata
    if shape.type_name == "structure":
        for name, member_value in value.items():
            _check_against_model(member_value, shape.members[name], f"{path}.{name}", problems)
    elif shape.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} items > {meta['max']}")
        for index, item in enumerate(value):
            _check_against_model(item, shape.member, f"{path}[{index}]", problems)
    elif shape.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: longer than {meta['max']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in {shape.enum}")
        pattern = meta.get("pattern")
        if pattern and "\\p{" not in pattern and not re.fullmatch(pattern, value):
            problems.append(f"{path}: {value!r} does not match {pattern}")
        if pattern and "\\p{" in pattern and not re.fullmatch(r"[\w .:/=+\-@]*", value):
            problems.append(f"{path}: {value!r} has characters a tag cannot hold")
    elif shape.type_name == "integer" and "max" in meta and value > meta["max"]:
        problems.append(f"{path}: {value} > {meta['max']}")


def assert_valid_create_labeling_job(request: Mapping[str, Any]) -> None:
    """Send the request through a real SageMaker client, answered by a Stubber.

    The client validates required members, types and minima (ParamValidationError) and the
    Stubber compares the sent parameters with `expected_params`; `_check_against_model`
    covers the constraints botocore leaves to the service.
    """
    client = boto3.client("sagemaker", region_name="us-east-1")
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{request['LabelingJobName']}"
    with Stubber(client) as stubber:
        stubber.add_response("create_labeling_job", {"LabelingJobArn": arn}, expected_params=dict(request))
        assert client.create_labeling_job(**request)["LabelingJobArn"] == arn
        stubber.assert_no_pending_responses()
    problems: list[str] = []
    input_shape = client.meta.service_model.operation_model("CreateLabelingJob").input_shape
    _check_against_model(request, input_shape, "CreateLabelingJob", problems)
    assert problems == []


def test_model_check_catches_what_botocore_lets_through() -> None:
    """The validator above is not a rubber stamp: it fails on a broken request."""
    request = lr.build_create_labeling_job_request(make_settings(), "gt-demo-x")
    request["HumanTaskConfig"]["TaskKeywords"] = ["image-classification"]
    with pytest.raises(AssertionError, match="TaskKeywords"):
        assert_valid_create_labeling_job(request)
    del request["RoleArn"]
    with pytest.raises(ParamValidationError, match="RoleArn"):
        assert_valid_create_labeling_job(request)


WORKFORCE_CASES = [
    pytest.param("public", None, id="public"),
    pytest.param("public", 250, id="public-max-objects"),
    pytest.param("private", None, id="private"),
    pytest.param("private", 10, id="private-max-objects"),
    pytest.param("existing", None, id="existing"),
    pytest.param("existing", 1, id="existing-max-objects"),
]


@pytest.mark.parametrize(("workforce", "max_objects"), WORKFORCE_CASES)
def test_request_is_valid_for_every_workforce(workforce: str, max_objects: int | None) -> None:
    settings = make_settings(workforce)
    request = lr.build_create_labeling_job_request(settings, "gt-demo-20240506-070809", max_objects=max_objects)
    assert_valid_create_labeling_job(request)

    job_inputs = f"s3://{BUCKET}/ground-truth-demo/labeling/gt-demo-20240506-070809"
    assert request["LabelingJobName"] == "gt-demo-20240506-070809"
    assert request["LabelAttributeName"] == "vehicle"
    assert request["InputConfig"]["DataSource"] == {"S3DataSource": {"ManifestS3Uri": f"{job_inputs}/input.manifest"}}
    assert request["OutputConfig"] == {"S3OutputPath": f"s3://{BUCKET}/ground-truth-demo/labeled-data/"}
    assert request["RoleArn"] == "arn:aws:iam::123456789012:role/Exec"
    assert request["LabelCategoryConfigS3Uri"] == f"{job_inputs}/label-categories.json"
    if max_objects is None:
        assert "StoppingConditions" not in request
    else:
        assert request["StoppingConditions"] == {"MaxHumanLabeledObjectCount": max_objects}
    assert request["Tags"] == [
        {"Key": "project", "Value": "ground-truth-demo"},
        {"Key": "labeling-job", "Value": "gt-demo-20240506-070809"},
    ]

    human = request["HumanTaskConfig"]
    assert human["WorkteamArn"] == settings.workteam_arn
    assert human["UiConfig"] == {"UiTemplateS3Uri": f"{job_inputs}/ui-template.liquid"}
    assert human["PreHumanTaskLambdaArn"].endswith(":function:PRE-ImageMultiClass")
    assert human["AnnotationConsolidationConfig"] == {"AnnotationConsolidationLambdaArn": settings.acs_lambda_arn}
    assert human["TaskKeywords"] == ["image", "classification", "vehicle"]
    assert human["TaskTitle"] == "Classify the vehicle"
    assert human["TaskDescription"] == "Choose the most prominent vehicle in the image"
    assert human["NumberOfHumanWorkersPerDataObject"] == 3
    assert human["TaskTimeLimitInSeconds"] == 300
    assert "MaxConcurrentTaskCount" not in human
    if workforce == "public":
        assert human["TaskAvailabilityLifetimeInSeconds"] == 21600
        assert human["PublicWorkforceTaskPrice"] == {
            "AmountInUsd": {"Dollars": 0, "Cents": 1, "TenthFractionsOfACent": 2}
        }
        assert request["InputConfig"]["DataAttributes"] == {
            "ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent"]
        }
    else:
        assert human["TaskAvailabilityLifetimeInSeconds"] == 86_400
        assert "PublicWorkforceTaskPrice" not in human
        assert "DataAttributes" not in request["InputConfig"]


def test_public_request_without_adult_content_declaration() -> None:
    settings = make_settings(free_of_adult_content=False, price_usd="0.036")
    request = lr.build_create_labeling_job_request(settings, "gt-demo-x")
    assert_valid_create_labeling_job(request)
    assert request["InputConfig"]["DataAttributes"] == {
        "ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]
    }
    assert request["HumanTaskConfig"]["PublicWorkforceTaskPrice"] == {
        "AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}
    }


def test_request_optional_limits_from_settings() -> None:
    settings = make_settings("private", max_objects=40, max_concurrent_tasks=500)
    request = lr.build_create_labeling_job_request(settings, "gt-demo-x")
    assert_valid_create_labeling_job(request)
    assert request["StoppingConditions"] == {"MaxHumanLabeledObjectCount": 40}
    assert request["HumanTaskConfig"]["MaxConcurrentTaskCount"] == 500
    # The per-call option wins over the settings.
    override = lr.build_create_labeling_job_request(settings, "gt-demo-x", max_objects=7)
    assert override["StoppingConditions"] == {"MaxHumanLabeledObjectCount": 7}


@pytest.mark.parametrize("bad", [0, -1, True, "5", 2.5])
def test_request_refuses_bad_max_objects(bad: Any) -> None:
    with pytest.raises(LabelingRequestError, match="max_objects must be a positive integer"):
        lr.build_create_labeling_job_request(make_settings(), "gt-demo-x", max_objects=bad)


def test_public_task_availability_is_capped_at_12_hours() -> None:
    at_cap = make_settings(task_availability_seconds=43_200)
    lr.build_create_labeling_job_request(at_cap, "gt-demo-x")
    over = make_settings(task_availability_seconds=43_201)
    with pytest.raises(LabelingRequestError, match=r"43201 is above 43200 \(12 hours\)"):
        lr.build_create_labeling_job_request(over, "gt-demo-x")


@pytest.mark.parametrize("workforce", ["private", "existing"])
def test_own_and_vendor_team_task_availability_is_capped_at_30_days(workforce: str) -> None:
    at_cap = make_settings(workforce, task_availability_seconds=2_592_000)
    assert_valid_create_labeling_job(lr.build_create_labeling_job_request(at_cap, "gt-demo-x"))
    over = make_settings(workforce, task_availability_seconds=2_592_001)
    with pytest.raises(LabelingRequestError, match=rf"2592001 is above 2592000 \(30 days\), the maximum of .*"
                                                   rf"\(workforce.type = '{workforce}'\)"):
        lr.build_create_labeling_job_request(over, "gt-demo-x")


@pytest.mark.parametrize("workforce", ["public", "private", "existing"])
def test_settings_workforce_is_the_registered_kind(workforce: str) -> None:
    assert make_settings(workforce).workforce is WorkforceKind(workforce)


def test_request_needs_a_resolved_name() -> None:
    with pytest.raises(LabelingRequestError, match="resolve_job_name"):
        lr.build_create_labeling_job_request(make_settings(), "cars")


def test_our_job_tag_replaces_a_settings_tag_of_the_same_key() -> None:
    settings = make_settings(tags={"labeling-job": "stale", "team": "vision"})
    request = lr.build_create_labeling_job_request(settings, "gt-demo-x")
    assert request["Tags"] == [
        {"Key": "team", "Value": "vision"},
        {"Key": "labeling-job", "Value": "gt-demo-x"},
    ]


def test_prefix_less_layout() -> None:
    # The settings contract requires a prefix; the layout code still joins keys without one.
    settings = dataclasses.replace(make_settings(), prefix="")
    request = lr.build_create_labeling_job_request(settings, "gt-demo-x")
    assert request["OutputConfig"]["S3OutputPath"] == f"s3://{BUCKET}/labeled-data/"
    assert request["LabelCategoryConfigS3Uri"] == (f"s3://{BUCKET}/labeling/gt-demo-x/label-categories.json")
    assert lr.default_images_prefix(settings) == "images/"


# --- The plan ------------------------------------------------------------------------------


def test_plan_gathers_files_counts_and_request() -> None:
    settings = make_settings()
    objects = [
        ("ground-truth-demo/images/", 0),
        ("ground-truth-demo/images/car.jpg", 100),
        ("ground-truth-demo/images/ferry.png", 100),
        ("ground-truth-demo/images/list.csv", 100),
    ]
    plan = lr.plan_labeling(settings, objects, now=NOW, max_objects=2)

    assert plan.job_name == "gt-demo-20240506-070809"
    assert plan.job_arn == ("arn:aws:sagemaker:us-east-1:123456789012:labeling-job/gt-demo-20240506-070809")
    assert plan.console_url.endswith("#/labeling-jobs/details/gt-demo-20240506-070809")
    assert plan.object_count == 2
    assert dict(plan.skipped) == {"folder_marker": 1, "not_an_image": 1, "too_large": 0}
    assert plan.images_uri == f"s3://{BUCKET}/ground-truth-demo/images/"
    assert plan.request == lr.build_create_labeling_job_request(settings, plan.job_name, max_objects=2)

    base = "ground-truth-demo/labeling/gt-demo-20240506-070809/"
    assert list(plan.files) == [
        base + "input.manifest",
        base + "label-categories.json",
        base + "ui-template.liquid",
        base + "request.json",
    ]
    # The request points at exactly the files the plan writes.
    written = {planned.uri for planned in plan.files.values()}
    assert {
        plan.request["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"],
        plan.request["LabelCategoryConfigS3Uri"],
        plan.request["HumanTaskConfig"]["UiConfig"]["UiTemplateS3Uri"],
    } < written

    manifest = plan.file("input.manifest")
    assert manifest.content_type == "application/x-ndjson"
    expected_manifest = (
        f'{{"source-ref": "s3://{BUCKET}/ground-truth-demo/images/car.jpg"}}\n'
        f'{{"source-ref": "s3://{BUCKET}/ground-truth-demo/images/ferry.png"}}\n'
    ).encode()
    assert manifest.read_bytes() == expected_manifest
    assert manifest.read_bytes() == expected_manifest  # producers can run twice (dry run, upload)
    assert json.loads(plan.file("request.json").read_bytes()) == plan.request
    assert plan.file("label-categories.json").read_bytes() == lr.label_categories_document(settings.labels, task=IMAGES)
    assert plan.file("ui-template.liquid").read_bytes() == lr.ui_template(settings).encode()
    with pytest.raises(KeyError):
        plan.file("output.manifest")

    summary = json.loads(json.dumps(plan.summary()))  # a dry run can print it as JSON
    assert summary["object_count"] == 2
    assert summary["files"][-1] == f"s3://{BUCKET}/{base}request.json"
    assert summary["request"] == plan.request


def test_plan_with_explicit_name_and_prefix() -> None:
    plan = lr.plan_labeling(
        make_settings("private"),
        [("ground-truth-demo/batch-2/x.jpg", 1)],
        job_name="batch-2",
        images_prefix="ground-truth-demo/batch-2",
    )
    assert plan.job_name == "gt-demo-batch-2"
    assert plan.images_uri == f"s3://{BUCKET}/ground-truth-demo/batch-2/"
    assert_valid_create_labeling_job(plan.request)


def test_plan_errors_name_the_listed_prefix() -> None:
    with pytest.raises(LabelingRequestError, match=f"no images in s3://{BUCKET}/elsewhere/"):
        lr.plan_labeling(make_settings(), [], now=NOW, images_prefix="elsewhere")
