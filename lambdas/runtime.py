"""What the three Lambda handlers share: structured logging, the decision record, AWS error
classification and alerts. Clients and their botocore configuration: `aws_clients`.

Facts this module relies on, with their AWS sources: docs/lambda-runtime.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore import exceptions as botocore_errors
from botocore.exceptions import ClientError

from . import aws_clients

# --- logging ---------------------------------------------------------------------------------

PACKAGE_LOGGER = "lambdas"
_LOCAL_HANDLER_NAME = "lambdas-json-lines"
# Attributes every LogRecord has (plus what Formatter.format adds): an `extra` key with one of
# these names makes `Logger.makeRecord` raise KeyError. The last three are set by the Lambda
# Python runtime, whose JSON formatter leaves them out of the output.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "aws_request_id", "tenant_id", "_frame_type",
}
_configured = False


def uses_lambda_json_logs(environ: Mapping[str, str]) -> bool:
    """True inside a Lambda function whose log format is JSON.

    The Lambda Python runtime reads AWS_LAMBDA_LOG_FORMAT and, for JSON, puts a handler on the
    root logger that renders each record as one JSON object, `extra` fields included."""
    return environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def configure_logging(environ: Mapping[str, str] | None = None) -> None:
    """Route the handlers' log records; safe to call again (tests do, to re-read the environment).

    On Lambda with JSON logs, records propagate to the runtime's handler on the root logger.
    Anywhere else (tests, `workflow start-labeling --local`, the demo), one JSON object per line
    on stderr: never on stdout, which the CLI keeps for its own answer."""
    global _configured
    env = os.environ if environ is None else environ
    package = logging.getLogger(PACKAGE_LOGGER)
    for handler in list(package.handlers):
        if handler.get_name() == _LOCAL_HANDLER_NAME:
            package.removeHandler(handler)
    if uses_lambda_json_logs(env):
        package.propagate = True
        # The runtime sets the root logger's level from AWS_LAMBDA_LOG_LEVEL (the function's
        # application log level); without one the root stays at WARNING and would drop INFO.
        package.setLevel(logging.NOTSET if env.get("AWS_LAMBDA_LOG_LEVEL") else logging.INFO)
    else:
        local = _StderrHandler()
        local.set_name(_LOCAL_HANDLER_NAME)
        local.setFormatter(JsonLinesFormatter())
        package.addHandler(local)
        package.setLevel(logging.INFO)
        package.propagate = False  # one line per record, whatever the host process configured
    _configured = True


def get_logger(function: str) -> logging.Logger:
    """The logger of one function (`lambdas.<function>`), with output configured on first use."""
    if not _configured:
        configure_logging()
    return logging.getLogger(f"{PACKAGE_LOGGER}.{function}")


def log(logger: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """One structured record: `message` plus `fields` as top-level JSON keys."""
    logger.log(level, message, extra=log_fields(fields))


def log_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` as `extra=` accepts and any JSON formatter renders.

    Values become JSON types (str() for the rest: the Lambda runtime's formatter has no fallback
    and would drop the whole line). A key that is a LogRecord attribute (`created`, `name`, ...)
    gets a trailing underscore instead of making `logging` raise."""
    safe = json.loads(json.dumps(dict(fields), default=str))
    return {(f"{key}_" if key in _RECORD_ATTRIBUTES else key): value for key, value in safe.items()}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record, with the Lambda runtime's JSON field names (timestamp, level,
    message, logger, errorType, errorMessage, stackTrace) and the `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry.update(
                errorType=record.exc_info[0].__name__,
                errorMessage=str(record.exc_info[1]),
                stackTrace=traceback.format_tb(record.exc_info[2]),
            )
        entry.update((key, value) for key, value in vars(record).items()
                     if key not in _RECORD_ATTRIBUTES and key not in entry)
        # json.dumps escapes line breaks inside values: a record is always exactly one line.
        return json.dumps(entry, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (pytest's capture, a redirect), as
    logging's own last-resort handler does, not to the stream current at import."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def finish(logger: logging.Logger, result: Mapping[str, Any], decision: str, reason: str) -> dict[str, Any]:
    """The handler's outcome: `result` with `decision` and `reason`, logged as one record whose
    message is the function's name (the logger's last part), and returned."""
    outcome = {**result, "decision": decision, "reason": reason}
    log(logger, logger.name.rsplit(".", 1)[-1], **outcome)
    return outcome


# --- AWS errors ------------------------------------------------------------------------------

# What botocore's standard retry mode retries (botocore/retries/standard.py; boto3 "Retries"
# guide): throttling codes, transient codes, HTTP 429 and 500/502/503/504, connection errors.
THROTTLING_ERROR_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
    "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
})
TRANSIENT_ERROR_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
RETRYABLE_STATUS_CODES = frozenset({429, 500, 502, 503, 504})


def error_code(error: ClientError) -> str:
    return str((error.response.get("Error") or {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str((error.response.get("Error") or {}).get("Message", ""))


def is_retryable(error: BaseException) -> bool:
    """True if trying the same call later may succeed: throttling, a timeout, a 5xx, a broken
    connection. False for what another try cannot fix: validation, access denied, not found,
    already exists, and anything this module does not recognise."""
    if isinstance(error, ClientError):
        if error_code(error) in THROTTLING_ERROR_CODES | TRANSIENT_ERROR_CODES:
            return True
        status = (error.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return status in RETRYABLE_STATUS_CODES
    # botocore's ConnectionError covers connect timeouts and unreachable endpoints,
    # HTTPClientError read timeouts and connections closed mid-response.
    return isinstance(error, botocore_errors.ConnectionError | botocore_errors.HTTPClientError
                      | TimeoutError | ConnectionError)


# SageMaker does not say "already exists" one way: CreateTrainingJob and tuning jobs answer
# ResourceInUse, CreateModel a ValidationException "Cannot create already existing model".
_ALREADY_EXISTS_PHRASES = ("already exists", "already existing", "is in use", "must be unique")


def is_already_exists_error(response: Mapping[str, Any]) -> bool:
    """True if a botocore error response says a resource with the requested name exists."""
    code, message = _code_and_message(response)
    if code in ("ResourceInUse", "ResourceInUseException"):
        return True
    return code == "ValidationException" and any(p in message for p in _ALREADY_EXISTS_PHRASES)


def is_not_found_error(response: Mapping[str, Any]) -> bool:
    """True if a botocore error response says there is no resource with the requested name.

    Describe calls answer ResourceNotFound for some resources and a ValidationException
    ("Could not find ...", "Requested resource not found") for others.
    """
    code, message = _code_and_message(response)
    if code in ("ResourceNotFound", "ResourceNotFoundException"):
        return True
    return code == "ValidationException" and ("could not find" in message or "not found" in message)


def _code_and_message(response: Mapping[str, Any]) -> tuple[str, str]:
    error = response.get("Error") or {}
    return str(error.get("Code", "")), str(error.get("Message", "")).lower()


# --- alerts ----------------------------------------------------------------------------------

# SNS Publish: a Subject is "less than 100 characters long", so 99 is the longest that is accepted.
SNS_SUBJECT_MAX = 99
_ELLIPSIS = "..."
# Console pages per job kind. Not an API: the console's own links, stable for years.
_CONSOLE_PAGES = {
    "labeling-job": "sagemaker/groundtruth?region={region}#/labeling-jobs/details/{name}",
    "training-job": "sagemaker/home?region={region}#/jobs/{name}",
    "tuning-job": "sagemaker/home?region={region}#/hyper-tuning-jobs/{name}",
    "transform-job": "sagemaker/home?region={region}#/transform-jobs/{name}",
}


def console_url(region: str, kind: str, name: str) -> str:
    """The AWS console page of a SageMaker job (`kind`: labeling-job, training-job, tuning-job, transform-job)."""
    if kind not in _CONSOLE_PAGES:
        raise ValueError(f"no console page for {kind!r}; known: {', '.join(_CONSOLE_PAGES)}")
    return f"https://{region}.console.aws.amazon.com/" + _CONSOLE_PAGES[kind].format(region=region, name=name)


def sns_subject(text: str) -> str:
    """`text` as SNS accepts a Subject: ASCII, one line, fewer than 100 characters (SNS Publish).

    Non-ASCII characters become `?`, runs of whitespace (line breaks included) one space, and a
    longer text is cut to 96 characters plus `...`."""
    cleaned = " ".join(text.encode("ascii", "replace").decode().split())
    if len(cleaned) <= SNS_SUBJECT_MAX:
        return cleaned
    return cleaned[: SNS_SUBJECT_MAX - len(_ELLIPSIS)] + _ELLIPSIS


def alert_message(message: str, console: str | None = None) -> str:
    """The alert body: `message`, then the job's console link when there is one."""
    return f"{message}\n\nConsole: {console}" if console else message


def publish_alert(
    topic_arn: str,
    region: str,
    subject: str,
    message: str,
    *,
    console: str | None = None,
    logger: logging.Logger | None = None,
    fields: Mapping[str, Any] | None = None,
) -> str:
    """Publish an alert to the SNS topic and log it (`alert_published`, with `fields`).

    `console` is the console link of the job the alert is about, added under the message.
    Returns SNS's MessageId."""
    answer = aws_clients.client("sns", region).publish(
        TopicArn=topic_arn, Subject=sns_subject(subject), Message=alert_message(message, console)
    )
    message_id = str(answer.get("MessageId", ""))
    log(logger or get_logger("runtime"), "alert_published",
        subject=subject, topic_arn=topic_arn, message_id=message_id, **(fields or {}))
    return message_id


# --- alerts for paths that end without a job --------------------------------------------------

# Error codes that mean "AWS refused the call": the role lacks a permission, or a resource policy
# (bucket, key, topic) or an ExpectedBucketOwner mismatch denies it.
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_SNS_TOPIC_ARN_PARTS = 6  # arn:<partition>:sns:<region>:<account>:<topic>


def sns_topic_region(topic_arn: str) -> str | None:
    """The region of an SNS topic ARN, or None if `topic_arn` is not one."""
    parts = topic_arn.split(":") if isinstance(topic_arn, str) else []
    if len(parts) != _SNS_TOPIC_ARN_PARTS or parts[0] != "arn" or parts[2] != "sns" or not parts[3] or not parts[5]:
        return None
    return parts[3]


def topic_arn_in_raw_settings(text: str | None) -> str | None:
    """The `topic_arn` of a settings JSON that did not validate, if it is there and is an SNS topic ARN.

    Settings that fail validation may still name the topic: then the failure is told to people
    and not only to a log nobody reads."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    topic = data.get("topic_arn") if isinstance(data, dict) else None
    return topic if isinstance(topic, str) and sns_topic_region(topic) else None


def function_name(context: Any, environ: Mapping[str, str] | None = None) -> str | None:
    """The Lambda function's name: the invocation context's, else AWS_LAMBDA_FUNCTION_NAME (set by Lambda)."""
    name = getattr(context, "function_name", None)
    if isinstance(name, str) and name:
        return name
    return (os.environ if environ is None else environ).get("AWS_LAMBDA_FUNCTION_NAME") or None


def function_console_url(region: str, name: str) -> str:
    """The AWS console page of a Lambda function (its configuration, monitoring and logs)."""
    return f"https://{region}.console.aws.amazon.com/lambda/home?region={region}#/functions/{name}"


def settings_error_alert(function: str, variable: str, error: BaseException) -> tuple[str, str]:
    """(subject, message) of the alert for settings that cannot be read."""
    subject = f"{function} cannot read its settings: nothing was started"
    message = "\n".join([
        f"{function} stopped before doing anything: its settings ({variable}) cannot be read.",
        f"Reason: {error}",
        "",
        f"What to do: the stack writes {variable}; fix the config (cdk.json) and redeploy, or correct the "
        "function's environment variable. The event is retried by Lambda and then kept in the "
        "dead-letter queue: redrive it once the settings are fixed.",
    ])
    return subject, message


def failure_alert(function: str, what: str, error: BaseException) -> tuple[str, str]:
    """(subject, message) of the alert for an unexpected error after an event was accepted.

    `what` names the job the event is about ("labeling job gt-demo-1"). Says whether Lambda's
    retry may help (`is_retryable`) and, for AccessDenied, where to look."""
    retryable = is_retryable(error)
    code = error_code(error) if isinstance(error, ClientError) else ""
    if code in ACCESS_DENIED_CODES:
        subject = f"{function} was denied access for {what}"
        hint = ("AWS refused the call (AccessDenied): the function's role lacks a permission, a bucket or key "
                "policy denies it, or the bucket belongs to another account (ExpectedBucketOwner). "
                "Retrying will not help until the permission is fixed.")
    elif retryable:
        subject = f"{function} failed for {what} (will retry)"
        hint = ("The error is transient (throttling, a timeout, a 5xx or a broken connection): Lambda retries "
                "the event, and another alert follows if the retry fails too.")
    else:
        subject = f"{function} failed for {what}"
        hint = "Retrying will not fix this: fix the cause named above, then redrive the event."
    message = "\n".join([
        f"{function} stopped without starting anything for {what}.",
        f"Error: {type(error).__name__}: {error}",
        "",
        hint,
        "After Lambda's retries the event is kept in the dead-letter queue.",
    ])
    return subject, message


def try_publish_alert(
    topic_arn: str,
    region: str,
    subject: str,
    message: str,
    *,
    console: str | None = None,
    logger: logging.Logger | None = None,
    fields: Mapping[str, Any] | None = None,
) -> bool:
    """`publish_alert` that never raises: used on the way out of a failed invocation, where the
    original error must still propagate (Lambda's retry, then the dead-letter queue). A failed
    publish is logged at CRITICAL with the alert's text. True if the alert was published."""
    try:
        publish_alert(topic_arn, region, subject, message, console=console, logger=logger, fields=fields)
    except Exception as error:  # the alert must not replace the original error
        log(logger or get_logger("runtime"), "alert_not_published", level=logging.CRITICAL,
            subject=subject, alert=alert_message(message, console), topic_arn=topic_arn,
            error=f"{type(error).__name__}: {error}")
        return False
    return True


@contextlib.contextmanager
def alerting_failures(
    logger: logging.Logger, function: str, what: str, *, topic_arn: str, region: str, console: str | None
) -> Iterator[None]:
    """Around the part of a handler that runs once an event is accepted: any exception is alerted
    (`failure_alert`, naming `what`) and re-raised, retryable or not, so Lambda retries and the
    dead-letter queue keeps the event."""
    try:
        yield
    except Exception as error:
        subject, message = failure_alert(function, what, error)
        try_publish_alert(topic_arn, region, subject, message, console=console, logger=logger,
                          fields={"error": str(error), "retryable": is_retryable(error)})
        raise


def alert_settings_error(
    logger: logging.Logger,
    function: str,
    variable: str,
    error: BaseException,
    *,
    context: Any = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Tell people that `function`'s settings cannot be read: to the topic named in the raw settings
    JSON if there is one, else (and always) a CRITICAL log record. The caller re-raises."""
    env = os.environ if environ is None else environ
    subject, message = settings_error_alert(function, variable, error)
    log(logger, "settings_unreadable", level=logging.CRITICAL, variable=variable, error=str(error),
        alert_subject=subject)
    topic = topic_arn_in_raw_settings(env.get(variable))
    if topic is None:
        log(logger, "alert_not_published", level=logging.CRITICAL, subject=subject, alert=message,
            reason=f"no SNS topic ARN in {variable}: nobody is told but this log")
        return False
    region = sns_topic_region(topic) or ""
    name = function_name(context, env)
    console = function_console_url(region, name) if name else None
    return try_publish_alert(topic, region, subject, message, console=console, logger=logger,
                             fields={"reason": str(error)})
