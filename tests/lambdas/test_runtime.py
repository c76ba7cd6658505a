"""The handlers' shared runtime: JSON logging, the decision record, the AWS error classifier,
alerts, and the one botocore configuration every client is created with."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import exceptions as botocore_errors
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from lambdas import aws_clients, runtime
from lambdas import labeling_request as lr
from lambdas.runtime import (
    finish,
    get_logger,
    is_already_exists_error,
    is_not_found_error,
    is_retryable,
    log,
    publish_alert,
    sns_subject,
)
from tests.unit.test_labeling_request import settings_dict

REGION = "us-east-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:alerts"
SNAPSHOT = Path(__file__).parents[1] / "infra/__snapshots__/test_guards/test_template_snapshot[Workflow-default].json"


@pytest.fixture(autouse=True)
def _local_logging() -> Iterator[None]:
    """Every test starts and ends with the local (non-Lambda) log routing."""
    runtime.configure_logging({})
    yield
    runtime.configure_logging({})


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    aws_clients.reset()
    yield
    aws_clients.reset()


def err_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing on stdout: the CLI prints its answer there
    return [json.loads(line) for line in captured.err.splitlines()]


# --- logging -----------------------------------------------------------------------------------


def test_local_logs_are_one_json_object_per_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    logger = get_logger("unit")
    log(logger, "planned labeling job", job_name="gt-demo-1", skipped={"too_large": 0},
        note="two\nlines", when=datetime(2024, 5, 6, tzinfo=UTC))
    log(logger, "labeling job not started", level=logging.ERROR, error="bad event")

    first, second = err_lines(capsys)
    assert {"timestamp", "level", "message", "logger"} <= set(first)
    assert first["level"] == "INFO"
    assert first["message"] == "planned labeling job"
    assert first["logger"] == "lambdas.unit"
    assert first["job_name"] == "gt-demo-1"
    assert first["skipped"] == {"too_large": 0}
    assert first["note"] == "two\nlines"  # escaped inside its line, not a second line
    assert first["when"] == "2024-05-06 00:00:00+00:00"  # str() for what JSON has no type for
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    assert (second["level"], second["message"], second["error"]) == ("ERROR", "labeling job not started", "bad event")


def test_fields_named_like_log_record_attributes_are_kept_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    # StartLabeling's answer has "created"; a LogRecord has a `created` timestamp already.
    log(get_logger("unit"), "created labeling job", created=True, name="gt-demo-1", msg="m")
    (line,) = err_lines(capsys)
    assert (line["created_"], line["name_"], line["msg_"]) == (True, "gt-demo-1", "m")
    assert line["message"] == "created labeling job"


def test_exceptions_are_logged_on_the_same_line(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise ValueError("no manifest")
    except ValueError:
        get_logger("unit").exception("split failed", extra=runtime.log_fields({"job": "j"}))
    (line,) = err_lines(capsys)
    assert (line["errorType"], line["errorMessage"], line["job"]) == ("ValueError", "no manifest", "j")
    assert line["stackTrace"]


def test_finish_logs_the_decision_under_the_function_name_and_returns_it(capsys: pytest.CaptureFixture[str]) -> None:
    result = {"labeling_job": "gt-demo-1", "training_job": None}
    outcome = finish(get_logger("start_training"), result, "skipped", "too few labeled objects")

    assert outcome == {**result, "decision": "skipped", "reason": "too few labeled objects"}
    assert "decision" not in result  # the caller's dict is left alone
    (line,) = err_lines(capsys)
    assert line["message"] == "start_training"
    assert (line["labeling_job"], line["training_job"]) == ("gt-demo-1", None)
    assert (line["decision"], line["reason"]) == ("skipped", "too few labeled objects")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("level_variable", [{"AWS_LAMBDA_LOG_LEVEL": "INFO"}, {}])
def test_on_lambda_records_go_to_the_runtime_handler_with_their_fields(
    level_variable: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Stands in for the handler the Lambda Python runtime puts on the root logger for JSON logs.
    root = logging.getLogger()
    saved_level, lambda_handler = root.level, _Records()
    root.addHandler(lambda_handler)
    root.setLevel(logging.INFO if level_variable else logging.WARNING)
    try:
        runtime.configure_logging({"AWS_LAMBDA_LOG_FORMAT": "JSON", **level_variable})
        log(get_logger("register_model"), "register_model", decision="registered", created=True)
    finally:
        root.removeHandler(lambda_handler)
        root.setLevel(saved_level)

    (record,) = lambda_handler.records
    assert record.getMessage() == "register_model"
    assert record.name == "lambdas.register_model"
    # The runtime's JSON formatter writes every non-standard record attribute as a key.
    assert (record.decision, record.created_) == ("registered", True)  # type: ignore[attr-defined]
    assert capsys.readouterr().err == ""  # no second, local copy of the line


def test_handlers_log_through_the_shared_runtime() -> None:
    from lambdas import register_model, start_labeling, start_training

    for module, name in ((start_training, "start_training"), (register_model, "register_model"),
                         (start_labeling, "start_labeling")):
        assert module.LOGGER.name == f"lambdas.{name}"
        assert not hasattr(module, "_log") and not hasattr(module, "_finish") and not hasattr(module, "sns_subject")


# --- the error classifier on botocore's own error shapes ------------------------------------------


def stubbed_error(service: str, operation: str, params: dict[str, Any], code: str, status: int,
                  message: str = "x") -> ClientError:
    """The ClientError a real client raises for this error response (Stubber, model-validated params)."""
    client = boto3.client(service, region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_client_error(operation, service_error_code=code, service_message=message,
                                 http_status_code=status, expected_params=params)
        with pytest.raises(ClientError) as raised:
            getattr(client, operation)(**params)
    return raised.value


DESCRIBE = ("sagemaker", "describe_training_job", {"TrainingJobName": "gt-demo-1"})
CREATE_MODEL = ("sagemaker", "create_model", {
    "ModelName": "gt-demo-1", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
    "PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://b/k"}})
PUBLISH = ("sns", "publish", {"TopicArn": TOPIC, "Message": "m"})
GET_OBJECT = ("s3", "get_object", {"Bucket": "b", "Key": "k"})


@pytest.mark.parametrize(
    ("call", "code", "status"),
    [
        (DESCRIBE, "ThrottlingException", 400),
        (PUBLISH, "Throttled", 429),  # SNS's code is not botocore's list; the 429 is
        (GET_OBJECT, "SlowDown", 503),
        (GET_OBJECT, "RequestTimeout", 400),
        (DESCRIBE, "InternalFailure", 500),
        (DESCRIBE, "ServiceUnavailable", 503),
        (PUBLISH, "InternalError", 500),
    ],
)
def test_throttling_timeouts_and_5xx_are_retryable(call: tuple[str, str, dict[str, Any]], code: str,
                                                  status: int) -> None:
    assert is_retryable(stubbed_error(*call, code, status))


@pytest.mark.parametrize(
    ("call", "code", "status", "message"),
    [
        (DESCRIBE, "ValidationException", 400, "1 validation error detected"),
        (DESCRIBE, "AccessDeniedException", 400, "User is not authorized to perform: sagemaker:DescribeTrainingJob"),
        (GET_OBJECT, "AccessDenied", 403, "Access Denied"),
        (DESCRIBE, "ResourceNotFound", 400, "Requested resource not found"),
        (GET_OBJECT, "NoSuchKey", 404, "The specified key does not exist."),
        (CREATE_MODEL, "ValidationException", 400, "Cannot create already existing model"),
        (DESCRIBE, "ResourceLimitExceeded", 400, "The account-level service limit is 0 Instances"),
        (PUBLISH, "NotFound", 404, "Topic does not exist"),
    ],
)
def test_what_another_try_cannot_fix_is_not_retryable(call: tuple[str, str, dict[str, Any]], code: str,
                                                      status: int, message: str) -> None:
    assert not is_retryable(stubbed_error(*call, code, status, message))


@pytest.mark.parametrize(
    "error",
    [
        botocore_errors.EndpointConnectionError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com"),
        botocore_errors.ConnectTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com"),
        botocore_errors.ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        botocore_errors.ConnectionClosedError(endpoint_url="https://s3.amazonaws.com"),
        TimeoutError("timed out"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_connection_errors_and_timeouts_are_retryable(error: BaseException) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [botocore_errors.ParamValidationError(report="Missing required parameter"), ValueError("bad"), KeyError("k")],
)
def test_other_exceptions_are_not_retryable(error: BaseException) -> None:
    assert not is_retryable(error)


def test_the_handlers_already_exists_and_not_found_checks_on_real_error_shapes() -> None:
    exists = stubbed_error(*CREATE_MODEL, "ValidationException", 400,
                           'Cannot create already existing model "arn:aws:sagemaker:us-east-1:123456789012:model/m".')
    missing = stubbed_error(*DESCRIBE, "ValidationException", 400, "Requested resource not found.")
    assert is_already_exists_error(exists.response) and not is_not_found_error(exists.response)
    assert is_not_found_error(missing.response) and not is_already_exists_error(missing.response)


# --- "already exists" / "not found" (moved from naming) -----------------------------------------


def _error(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"Error": {"Code": code, "Message": message}}


@pytest.mark.parametrize(
    "response",
    [
        # CreateTrainingJob / CreateHyperParameterTuningJob on a taken name
        _error("ResourceInUse", "Training job names must be unique within an AWS account and region, "
               "and a training job with this name already exists (arn:aws:sagemaker:...)"),
        _error("ResourceInUse", "Resource Already Exists: Hyper Parameter Tuning Job with name t1 already exists."),
        # CreateModel on a taken name
        _error("ValidationException", "Cannot create already existing model "
               '"arn:aws:sagemaker:us-east-1:123456789012:model/gt-demo-1".'),
        _error("ValidationException", "Job name gt-demo-1 is in use."),
    ],
)
def test_already_exists_errors(response: dict[str, dict[str, str]]) -> None:
    assert is_already_exists_error(response)
    assert not is_not_found_error(response)


@pytest.mark.parametrize(
    "response",
    [
        _error("ValidationException", "1 validation error detected: Value 'x' at 'trainingJobName' failed"),
        _error("ThrottlingException", "Rate exceeded"),
        _error("ResourceLimitExceeded", "The account-level service limit is 0 Instances"),
        _error("AccessDeniedException", "User is not authorized; resource already exists in policy"),
        {},
    ],
)
def test_other_errors_are_not_already_exists(response: dict[str, dict[str, str]]) -> None:
    assert not is_already_exists_error(response)


@pytest.mark.parametrize(
    "response",
    [
        _error("ValidationException", "Could not find model 'arn:aws:sagemaker:us-east-1:123456789012:model/x'."),
        _error("ValidationException", "Requested resource not found."),
        _error("ResourceNotFound", "Could not find hyper parameter tuning job 'nope'."),
        _error("ResourceNotFoundException", "nope"),
    ],
)
def test_not_found_errors(response: dict[str, dict[str, str]]) -> None:
    assert is_not_found_error(response)
    assert not is_already_exists_error(response)


@pytest.mark.parametrize(
    "response",
    [_error("ValidationException", "1 validation error detected"), _error("AccessDeniedException", "not found")],
)
def test_other_errors_are_not_not_found(response: dict[str, dict[str, str]]) -> None:
    assert not is_not_found_error(response)


# --- SNS subjects and alerts ----------------------------------------------------------------------


def test_sns_subject_is_short_ascii_one_line() -> None:
    subject = sns_subject("Trainíng\nnot started " + "x" * 200)
    assert subject.isascii()
    assert "\n" not in subject
    assert len(subject) == 99  # SNS: "less than 100 characters"
    assert subject.endswith("...")
    assert subject.startswith("Train?ng not started x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Training job gt-demo-1 Failed", "Training job gt-demo-1 Failed"),
        ("  Tuning\tjob\r\n t1   Stopped ", "Tuning job t1 Stopped"),
        ("x" * 99, "x" * 99),  # the longest subject SNS accepts: kept whole
        ("x" * 100, "x" * 96 + "..."),
    ],
)
def test_sns_subject_keeps_what_fits(text: str, expected: str) -> None:
    assert sns_subject(text) == expected


def test_console_links() -> None:
    settings = lr.LabelingSettings.from_mapping(settings_dict())
    # The same page StartLabeling's answer links to.
    assert runtime.console_url(settings.region, "labeling-job", "gt-demo-1") == lr.console_url(settings, "gt-demo-1")
    assert runtime.console_url("eu-west-1", "training-job", "gt-demo-1") == (
        "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/jobs/gt-demo-1")
    assert runtime.console_url("eu-west-1", "tuning-job", "t1") == (
        "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/hyper-tuning-jobs/t1")
    with pytest.raises(ValueError, match="no console page for 'model'"):
        runtime.console_url("eu-west-1", "model", "m")


def test_publish_alert_goes_to_the_topic_with_a_clean_subject_and_the_console_link(
    fresh_clients: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sns = boto3.client("sns", region_name=REGION)
    aws_clients.use("sns", REGION, sns)
    link = runtime.console_url(REGION, "training-job", "gt-demo-1")
    with Stubber(sns) as topic:
        topic.add_response("publish", {"MessageId": "m-1"}, expected_params={
            "TopicArn": TOPIC,
            "Subject": "Training job gt-demo-1 Failed",
            "Message": f"Training job gt-demo-1 Failed: AlgorithmError\n\nConsole: {link}",
        })
        message_id = publish_alert(TOPIC, REGION, "Training job gt-demo-1\nFailed",
                                   "Training job gt-demo-1 Failed: AlgorithmError", console=link,
                                   logger=get_logger("register_model"), fields={"reason": "AlgorithmError"})
        topic.assert_no_pending_responses()

    assert message_id == "m-1"
    (line,) = err_lines(capsys)
    assert (line["message"], line["logger"]) == ("alert_published", "lambdas.register_model")
    assert (line["topic_arn"], line["message_id"], line["reason"]) == (TOPIC, "m-1", "AlgorithmError")


def test_publish_alert_without_a_job_sends_the_message_as_is(fresh_clients: None) -> None:
    sns = boto3.client("sns", region_name=REGION)
    aws_clients.use("sns", REGION, sns)
    with Stubber(sns) as topic:
        topic.add_response("publish", {"MessageId": "m-2"},
                           expected_params={"TopicArn": TOPIC, "Subject": "s", "Message": "body"})
        publish_alert(TOPIC, REGION, "s", "body")
        topic.assert_no_pending_responses()


# --- one client configuration ----------------------------------------------------------------------


def test_every_client_has_the_project_configuration(fresh_clients: None) -> None:
    for service in ("s3", "sagemaker", "sns"):
        config = aws_clients.client(service, REGION).meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert (config.connect_timeout, config.read_timeout) == (3, 10)
        assert config.user_agent_extra == "sagemaker-labeling-to-training"


def test_the_environment_cannot_change_the_retry_configuration(fresh_clients: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "10")
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    assert aws_clients.client("sns", REGION).meta.config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_the_cache_api(fresh_clients: None) -> None:
    first = aws_clients.client("sagemaker", REGION)
    assert aws_clients.client("sagemaker", REGION) is first
    assert aws_clients.client("sagemaker", "eu-west-1") is not first
    stand_in = object()
    aws_clients.use("sagemaker", REGION, stand_in)
    assert aws_clients.client("sagemaker", REGION) is stand_in
    aws_clients.reset()
    assert aws_clients.client("sagemaker", REGION) not in (first, stand_in)


def _answer_every_request_with(client: Any, status: int, body: bytes) -> list[dict[str, str]]:
    """Answer the client's requests locally (no network), recording each request's headers."""
    sent: list[dict[str, str]] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append({key: value.decode() if isinstance(value, bytes) else value
                     for key, value in request.headers.items()})
        raw = io.BytesIO(body)
        raw.stream = lambda **_: iter([body])  # type: ignore[attr-defined]
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1"}, raw)

    client.meta.events.register("before-send.sagemaker", answer)
    return sent


def test_requests_name_the_project_and_a_failing_call_is_tried_three_times(fresh_clients: None) -> None:
    sagemaker = aws_clients.client("sagemaker", REGION)
    sent = _answer_every_request_with(sagemaker, 503, b'{"__type": "ServiceUnavailable", "message": "try later"}')

    with pytest.raises(ClientError) as raised:
        sagemaker.describe_training_job(TrainingJobName="gt-demo-1")

    assert len(sent) == 3  # standard mode, total_max_attempts 3
    assert all("sagemaker-labeling-to-training" in headers["User-Agent"] for headers in sent)
    assert is_retryable(raised.value)


def test_one_call_ends_within_every_function_timeout() -> None:
    template = json.loads(SNAPSHOT.read_text())
    functions = {props["Handler"]: props for resource in template["Resources"].values()
                 if resource["Type"] == "AWS::Lambda::Function"
                 and (props := resource["Properties"]).get("Handler", "").startswith("lambdas.")}
    assert set(functions) == {"lambdas.start_labeling.handler", "lambdas.start_training.handler",
                              "lambdas.register_model.handler", "lambdas.evaluate_model.handler"}
    worst = aws_clients.worst_case_call_seconds()
    for handler, props in functions.items():
        # Every attempt timing out, every retry waiting the longest backoff: still inside the timeout.
        assert worst < props["Timeout"], f"{handler}: one call can take {worst} s, the timeout is {props['Timeout']} s"
        # What the logging relies on: the runtime renders our records as JSON.
        assert props["LoggingConfig"]["LogFormat"] == "JSON", handler
    assert aws_clients.worst_case_call_seconds(attempts=1, connect_timeout=3, read_timeout=10) == 13
    assert aws_clients.worst_case_call_seconds(attempts=3, connect_timeout=3, read_timeout=10) == 39 + (1 + 5) + (2 + 5)


# --- alerts for paths that end without a job ---------------------------------------------------


@pytest.mark.parametrize(("arn", "region"), [
    ("arn:aws:sns:eu-west-1:123456789012:alerts", "eu-west-1"),
    ("arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts", "us-gov-west-1"),
    ("arn:aws:sqs:eu-west-1:123456789012:alerts", None),
    ("alerts", None),
    ("arn:aws:sns::123456789012:alerts", None),
])
def test_sns_topic_region(arn: str, region: str | None) -> None:
    assert runtime.sns_topic_region(arn) == region


@pytest.mark.parametrize(("text", "topic"), [
    ('{"topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts", "region": 5}',
     "arn:aws:sns:us-east-1:123456789012:alerts"),
    ('{"topic_arn": "alerts"}', None),
    ('{"topic_arn": 5}', None),
    ("[1]", None),
    ("{not json", None),
    ("", None),
    (None, None),
])
def test_topic_arn_in_raw_settings(text: str | None, topic: str | None) -> None:
    assert runtime.topic_arn_in_raw_settings(text) == topic


def test_function_name_from_the_context_or_the_lambda_environment() -> None:
    class Context:
        function_name = "dev-Workflow-StartTraining"

    assert runtime.function_name(Context(), {}) == "dev-Workflow-StartTraining"
    assert runtime.function_name(None, {"AWS_LAMBDA_FUNCTION_NAME": "f"}) == "f"
    assert runtime.function_name(None, {}) is None


def test_failure_alert_says_whether_a_retry_may_help() -> None:
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "CreateModel")
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")
    subject, message = runtime.failure_alert("StartTraining", "labeling job j", throttled)
    assert subject == "StartTraining failed for labeling job j (will retry)"
    assert "Lambda retries the event" in message
    subject, message = runtime.failure_alert("StartTraining", "labeling job j", denied)
    assert subject == "StartTraining was denied access for labeling job j"
    assert "Retrying will not help until the permission is fixed." in message
    subject, message = runtime.failure_alert("StartTraining", "labeling job j", KeyError("LabelAttributeName"))
    assert subject == "StartTraining failed for labeling job j"
    assert "Error: KeyError: 'LabelAttributeName'" in message
