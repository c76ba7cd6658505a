"""The labeling planner's new paths: automated data labeling in the request, a job over an uploaded
manifest (relabel jobs: relabel.json, the relabel-of tag), the manifest check, and StartLabeling's event
(botocore's model as the oracle for every request)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas import auto_labeling, relabel, start_labeling
from lambdas import labeling_request as lr
from lambdas.labeling_request import LabelingRequestError
from lambdas.settings import SettingsError
from tests.unit.test_labeling_request import BUCKET, assert_valid_create_labeling_job, make_settings, settings_dict

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
MODEL = "arn:aws:sagemaker:us-east-1:123456789012:model/gt-demo-previous-model"
AUTO = {"enabled": True, "initial_model_arn": MODEL, "volume_kms_key_arn": KEY}
JOB = "gt-demo-relabel-1"
INPUTS = f"ground-truth-demo/labeling/{JOB}/"


def objects(count: int) -> list[tuple[str, int]]:
    return [(f"ground-truth-demo/images/{n}.jpg", 100) for n in range(count)]


# --- automated data labeling in the request -------------------------------------------------------


def test_auto_labeling_settings_may_be_absent_and_then_are_off() -> None:
    data = settings_dict()
    assert "auto_labeling" not in data
    assert make_settings().auto_labeling.enabled is False


@pytest.mark.parametrize(("auto", "message"), [
    ({**AUTO, "volume_kms_key_arn": KEY.replace("us-east-1", "eu-west-1")}, "a KMS key encrypts volumes in its own"),
    ({**AUTO, "initial_model_arn": MODEL.replace("us-east-1", "eu-west-1")}, "SageMaker models are regional"),
    ({**AUTO, "initial_model_arn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"},
     r"auto_labeling\.initial_model_arn = .* is invalid: expected null or a SageMaker model ARN"),
    ({**AUTO, "unknown": 1}, r"LABELING_SETTINGS\.auto_labeling has unknown key\(s\) unknown"),
])
def test_auto_labeling_settings_the_region_or_the_api_would_refuse_are_named(auto: dict[str, Any],
                                                                              message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        make_settings(auto_labeling=auto)


def test_with_auto_labeling_the_plan_sends_the_documented_fragment_and_botocore_accepts_it() -> None:
    settings = make_settings(auto_labeling=AUTO)
    plan = lr.plan_labeling(settings, objects(auto_labeling.MIN_OBJECTS), job_name="big")
    request = plan.request
    assert request["LabelingJobAlgorithmsConfig"] == {
        "LabelingJobAlgorithmSpecificationArn": "arn:aws:sagemaker:us-east-1:027400017018:"
                                                "labeling-job-algorithm-specification/image-classification",
        "InitialActiveLearningModelArn": MODEL,
        "LabelingJobResourceConfig": {"VolumeKmsKeyId": KEY},
    }
    assert_valid_create_labeling_job(request)
    # The frozen request.json is the request sent.
    assert json.loads(plan.file("request.json").read_bytes()) == request


def test_with_auto_labeling_below_the_minimum_the_plan_is_refused_with_the_documented_reason() -> None:
    settings = make_settings(auto_labeling={"enabled": True, "initial_model_arn": None, "volume_kms_key_arn": None})
    with pytest.raises(LabelingRequestError, match=r"needs at least 1,250 objects and the dataset has 1,249: \"The "
                       r"minimum number of objects allowed for automated data labeling is 1,250\""):
        lr.plan_labeling(settings, objects(auto_labeling.MIN_OBJECTS - 1), job_name="small")
    with pytest.raises(LabelingRequestError, match="needs the job's object count"):
        lr.build_create_labeling_job_request(settings, "gt-demo-x")


def test_without_auto_labeling_the_request_has_no_fragment() -> None:
    request = lr.plan_labeling(make_settings(), objects(auto_labeling.MIN_OBJECTS), job_name="big").request
    assert "LabelingJobAlgorithmsConfig" not in request


# --- a job over an uploaded manifest ----------------------------------------------------------------


def link(**changes: Any) -> relabel.ChainLink:
    values: dict[str, Any] = {"job_name": JOB, "from_job": "gt-demo-first", "label_attribute": "vehicle-relabel-1",
                              "training_label_attribute": "vehicle", "criteria": {"below_confidence": "0.7",
                                                                                  "failed": False}, "selected": 3}
    return relabel.ChainLink(**{**values, **changes})


def test_a_relabel_plan_writes_the_link_before_the_request_and_tags_the_job() -> None:
    settings = make_settings(auto_labeling=AUTO, tags={"project": "x", "relabel-of": "stale"})
    plan = lr.plan_labeling_from_manifest(settings, job_name="relabel-1", manifest_key=INPUTS + "input.manifest",
                                          object_count=3, chain_link=link())
    assert [key.rsplit("/", 1)[1] for key in plan.files] == [
        "label-categories.json", "ui-template.liquid", "relabel.json", "request.json"]  # input.manifest is there
    assert relabel.ChainLink.from_json(plan.file("relabel.json").read_bytes()) == link()
    request = plan.request
    assert request["LabelAttributeName"] == "vehicle-relabel-1"
    assert request["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"] == f"s3://{BUCKET}/{INPUTS}" \
        "input.manifest"
    assert request["Tags"] == [{"Key": "project", "Value": "x"}, {"Key": "labeling-job", "Value": JOB},
                               {"Key": "relabel-of", "Value": "gt-demo-first"}]
    # Humans only, even with automated labeling on (and 3 objects would be far below its minimum).
    assert "LabelingJobAlgorithmsConfig" not in request
    assert_valid_create_labeling_job(request)
    assert plan.object_count == 3 and plan.images_uri == f"s3://{BUCKET}/{INPUTS}input.manifest"


@pytest.mark.parametrize("key", [
    "ground-truth-demo/labeling/gt-demo-other/input.manifest",  # another job's folder
    INPUTS + "sub/input.manifest",
    INPUTS + "input.json",
    "ground-truth-demo/images/input.manifest",
])
def test_the_manifest_must_be_in_the_jobs_own_input_folder(key: str) -> None:
    with pytest.raises(LabelingRequestError, match=f"must name a .manifest file directly in the job's input folder "
                       f"'{INPUTS}'"):
        lr.plan_labeling_from_manifest(make_settings(), job_name=JOB, manifest_key=key, object_count=1)


def test_the_link_must_describe_this_job() -> None:
    with pytest.raises(LabelingRequestError, match="names job 'gt-demo-other'"):
        lr.plan_labeling_from_manifest(make_settings(), job_name=JOB, manifest_key=INPUTS + "input.manifest",
                                       object_count=1, chain_link=link(job_name="gt-demo-other"))
    with pytest.raises(LabelingRequestError, match="differs from the relabel link's"):
        lr.plan_labeling_from_manifest(make_settings(), job_name=JOB, manifest_key=INPUTS + "input.manifest",
                                       object_count=1, chain_link=link(), label_attribute="vehicle-relabel-9")


def ref(number: int, bucket: str = BUCKET, prefix: str = "ground-truth-demo/images") -> bytes:
    return json.dumps({"source-ref": f"s3://{bucket}/{prefix}/{number}.jpg", "vehicle": 1}).encode()


def test_an_uploaded_manifest_is_counted_and_checked_line_by_line() -> None:
    settings = make_settings()
    assert lr.count_manifest_objects([ref(1), ref(2), ref(3)], settings, where="m") == 3
    cases = [
        ([ref(1), b""], "m line 2 is not a JSON object"),
        ([ref(1), b"[1]"], "m line 2 is not a JSON object"),
        ([ref(1, bucket="someone-else")], "source-ref 's3://someone-else/.*' is not an object under "
                                          f"s3://{BUCKET}/ground-truth-demo/ \\(source ref other bucket\\)"),
        ([ref(1, prefix="elsewhere")], r"\(source ref outside prefix\)"),
        ([b'{"vehicle": 1}'], r"source-ref None is not an object"),
        ([ref(1), ref(1)], "m line 2: .* appears twice"),
        ([], "m is empty: nothing to label"),
    ]
    for lines, message in cases:
        with pytest.raises(LabelingRequestError, match=message):
            lr.count_manifest_objects(lines, settings, where="m")


# --- StartLabeling's event ----------------------------------------------------------------------------

RELABEL_EVENT = {"job_name": JOB, "input_manifest_key": INPUTS + "input.manifest",
                 "label_attribute": "vehicle-relabel-1", "relabel": {"from_job": "gt-demo-first",
                                                                     "below_confidence": "0.7"}}


def test_the_relabel_event_parses_into_its_criteria() -> None:
    event = start_labeling.parse_event(RELABEL_EVENT)
    assert event.input_manifest_key == INPUTS + "input.manifest"
    assert event.relabel is not None and event.relabel.from_job == "gt-demo-first"
    assert event.relabel.criteria.as_json() == {"below_confidence": "0.7", "failed": False}


@pytest.mark.parametrize(("change", "message"), [
    ({"images_prefix": "ground-truth-demo/images/"}, "give images_prefix .* or input_manifest_key .*, not both"),
    ({"job_name": None}, "input_manifest_key needs job_name"),
    ({"label_attribute": None}, "relabel needs input_manifest_key .* and label_attribute"),
    ({"input_manifest_key": None}, "relabel needs input_manifest_key"),
    ({"label_attribute": "vehicle-metadata"}, "event key label_attribute: .* cannot end with -metadata or -ref"),
    ({"relabel": "gt-demo-first"}, "event key relabel must be a JSON object"),
    ({"relabel": {"from_job": "gt-demo-first"}}, "nothing to select"),
    ({"relabel": {"from_job": "gt-demo-first", "below_confidence": "2"}}, "must be above 0 and at most 1"),
    ({"relabel": {"from_job": "gt-demo-first", "failed": "yes"}}, "relabel.failed must be true or false"),
    ({"relabel": {"from_job": "bad name", "failed": True}}, "relabel.from_job must be the name"),
    ({"relabel": {"from_job": "gt-demo-first", "failed": True, "extra": 1}}, r"unknown key\(s\) extra in event key"),
])
def test_a_relabel_event_that_cannot_work_is_refused_before_any_aws_call(change: dict[str, Any],
                                                                         message: str) -> None:
    event = {key: value for key, value in {**RELABEL_EVENT, **change}.items() if value is not None}
    with pytest.raises(LabelingRequestError, match=message):
        start_labeling.parse_event(event)


@pytest.mark.parametrize(("from_job", "message"), [
    ("other-first", "is not one of this workflow's jobs"),
    (JOB, "cannot relabel itself"),
])
def test_the_job_relabeled_must_be_another_of_ours(from_job: str, message: str) -> None:
    event = start_labeling.parse_event({**RELABEL_EVENT, "relabel": {"from_job": from_job, "failed": True}})
    from datetime import UTC, datetime

    with pytest.raises(LabelingRequestError, match=message):
        start_labeling.start_labeling(make_settings(), event, now=datetime.now(UTC), s3=None, sagemaker=None)
