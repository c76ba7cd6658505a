"""`evaluate`: a model's evaluation as a table, where its report is, and (`--open`) the report in a browser.

The evaluation is found the way `status` finds the model (a labeling job, default the newest, then
the training or tuning job StartTraining derived from it, then the model RegisterModel named after
it); the transform job and its folder `<prefix>/evaluation/<job>/` carry the model's name
(lambdas/evaluation_job.py). The numbers come from metrics.json (lambdas/evaluation.py, definitions in
docs/evaluation.md). `--open` writes the report to a local file and opens it: the page is rendered
again from metrics.json and summary.json with the same renderer as the Lambda's report.html, but
with image links signed now with your credentials (the Lambda's links end with its role session).
"""

from __future__ import annotations

import json
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from lambdas.evaluation import split_s3_uri
from lambdas.evaluation_job import INPUTS_FILE, METRICS_FILE, REPORT_FILE, EvaluationLocation, transform_job_name
from lambdas.evaluation_report import render_report
from workflow import status
from workflow.aws import describe_or_none, error_code
from workflow.errors import CliError

# SigV4 pre-signed image links for the local report: at most 7 days (SigV4's limit).
LINK_SECONDS = 7 * 24 * 3600
PRESIGN_CONFIG = Config(signature_version="s3v4")
_MISSING = ("NoSuchKey", "404", "NotFound")


@dataclass(frozen=True)
class Found:
    """The evaluation of one model: its transform job's name (= the model's) and where its files are."""

    job: str
    location: EvaluationLocation
    labeling_job: str | None = None


def find(sagemaker: Any, *, bucket: str, prefix: str, job_prefix: str, tuning_enabled: bool,
         job_name: str | None) -> Found:
    """The evaluation of `job_name`'s model: a labeling job (default the newest), else a training job's name."""
    try:
        report = status.collect(sagemaker, job_prefix=job_prefix, tuning_enabled=tuning_enabled, job_name=job_name)
    except CliError:
        if job_name is None:
            raise
        # Not a labeling job: a training job (a tuning job's best one) names its model and evaluation.
        job = transform_job_name(job_name)
        return Found(job, EvaluationLocation(bucket, prefix, job))
    if report.model.name is None or report.model.status is None:
        raise CliError(f"labeling job {report.labeling.name} has no model yet ({report.training.kind} "
                       f"{report.training.name}: {report.training.status or status.NOT_STARTED}; model "
                       f"{report.model.name or '-'}: {status.NOT_STARTED}): nothing to evaluate")
    job = transform_job_name(report.model.name)
    return Found(job, EvaluationLocation(bucket, prefix, job), labeling_job=report.labeling.name)


def read_metrics(s3: Any, sagemaker: Any, found: Found, *, account: str) -> dict[str, Any]:
    """metrics.json, or a CliError saying where the evaluation is (not started, running, failed)."""
    try:
        return _read_json(s3, found.location.uri(METRICS_FILE), account)
    except ClientError as error:
        if error_code(error) not in _MISSING and error_code(error) not in ("AccessDenied", "403"):
            raise
    job = describe_or_none(sagemaker.describe_transform_job, TransformJobName=found.job)
    if job is None:
        raise CliError(f"no evaluation {found.job}: RegisterModel starts it when the model is created "
                       "(evaluation.enabled); its alerts say why if it could not")
    state = job.get("TransformJobStatus")
    reason = f": {job['FailureReason']}" if job.get("FailureReason") else ""
    hint = ("run this again when it completes" if state == "InProgress"
            else "the Evaluation function's alert says why there are no metrics")
    raise CliError(f"evaluation {found.job} is {state}{reason}; no {found.location.uri(METRICS_FILE)} yet: {hint}")


def _read_json(s3: Any, uri: str, account: str) -> dict[str, Any]:
    bucket, key = split_s3_uri(uri)
    document = json.loads(s3.get_object(Bucket=bucket, Key=key, ExpectedBucketOwner=account)["Body"].read())
    if not isinstance(document, dict):
        raise CliError(f"{uri} is not a JSON object")
    return document


# --- the table --------------------------------------------------------------------------------------


def _fixed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def describe(metrics: Mapping[str, Any], found: Found) -> list[str]:
    """The metrics table: accuracy, the training job's own figure, per-class precision/recall/F1, locations."""
    counts = metrics["counts"]
    evaluation = metrics.get("evaluation") or {}
    model = evaluation.get("model") or found.job
    lines = [f"Evaluation {found.job} of model {model} (training job {metrics.get('training_job')})",
             f"  accuracy: {_percent(metrics['accuracy'])} ({counts['correct']}/{counts['evaluated']} validation "
             "objects)"]
    training = metrics.get("training") or {}
    if training.get("value") is not None:
        difference = training["difference"] * 100
        lines.append(f"  the training job's {training['metric']}: {_percent(training['value'])} "
                     f"(this evaluation {difference:+.1f} points)")
    else:
        lines.append("  the training job's own validation figure: not reported by the job")
    problems = {name: count for name, count in counts.items()
                if name not in ("manifest_lines", "objects", "evaluated", "correct", "predictions") and count}
    if problems:
        shown = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in problems.items())
        lines.append(f"  not evaluated: {shown} (metrics.json names them)")
    width = max([len("weighted average"), *(len(entry["label"]) for entry in metrics["classes"])])
    lines.append(f"  {'class':<{width}}  precision  recall     F1  support")
    for entry in metrics["classes"]:
        lines.append(f"  {entry['label']:<{width}}  {_fixed(entry['precision']):>9}  {_fixed(entry['recall']):>6}  "
                     f"{_fixed(entry['f1']):>5}  {entry['support']:>7}")
    for name, key in (("macro average", "macro_avg"), ("weighted average", "weighted_avg")):
        averages = metrics[key]
        lines.append(f"  {name:<{width}}  {_fixed(averages['precision']):>9}  {_fixed(averages['recall']):>6}  "
                     f"{_fixed(averages['f1']):>5}")
    lines.append(f"  report:  {found.location.uri(REPORT_FILE)}")
    lines.append(f"  metrics: {found.location.uri(METRICS_FILE)}")
    return lines


# --- --open -----------------------------------------------------------------------------------------


def write_report(s3: Any, presigner: Any, found: Found, metrics: Mapping[str, Any], target: Path, *,
                 account: str) -> Path:
    """report.html rendered again from metrics.json (and the split's summary.json for the class distribution),
    with the worst mistakes' images signed now; written to `target`."""
    class_counts = None
    try:
        inputs = _read_json(s3, found.location.uri(INPUTS_FILE), account)
        class_counts = _read_json(s3, inputs["summary"], account).get("classes")
    except (ClientError, KeyError):
        class_counts = None  # the page leaves the distribution out rather than fail
    links = {}
    for mistake in metrics.get("worst_misclassified") or ():
        bucket, key = split_s3_uri(mistake["source_ref"])
        links[mistake["source_ref"]] = presigner.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=LINK_SECONDS)
    target.write_text(render_report(metrics, class_counts=class_counts, image_urls=links), encoding="utf-8")
    return target


def default_target(found: Found, directory: Path | None = None) -> Path:
    return (directory or Path.cwd()) / f"evaluation-{found.job}.html"


def run(*, sagemaker: Any, s3: Any, presigner: Any, bucket: str, prefix: str, account: str, job_prefix: str,
        tuning_enabled: bool, job_name: str | None, open_report: bool, output: Path | None, as_json: bool,
        out: Callable[[str], None], opener: Callable[[str], Any] | None = None) -> int:
    """The command: find the evaluation, print its table (or JSON); with `open_report` write the report and open
    it with `opener` (default: webbrowser.open, looked up at call time so a test can replace it)."""
    found = find(sagemaker, bucket=bucket, prefix=prefix, job_prefix=job_prefix, tuning_enabled=tuning_enabled,
                 job_name=job_name)
    metrics = read_metrics(s3, sagemaker, found, account=account)
    opened: Path | None = None
    if open_report:
        opened = write_report(s3, presigner, found, metrics, output or default_target(found), account=account)
        (opener or webbrowser.open)(opened.resolve().as_uri())
    if as_json:
        out(json.dumps({"evaluation": found.job, "report": found.location.uri(REPORT_FILE),
                        "metrics_uri": found.location.uri(METRICS_FILE), "opened": str(opened) if opened else None,
                        "metrics": metrics}, indent=2))
        return 0
    lines: Sequence[str] = describe(metrics, found)
    out("\n".join([*lines, *([f"  opened:  {opened}"] if opened else [])]))
    return 0
