"""The labeling cost the CLI shows before a job starts, and the confirmation it asks above a threshold.

`plan-labeling`, `start-labeling` and `relabel` print `labeling_cost.estimate_from_request` of the very
request the StartLabeling code plans (prices, their source and date: workflow/labeling_prices.json,
docs/labeling-cost.md). `start-labeling` and `relabel` plan with the deployed function's own settings
(its LABELING_SETTINGS, read with lambda:GetFunctionConfiguration) over the images listed now, so the
estimate is the one of the job about to start. Above `workflow.labeling.confirm_above_usd` they ask
before starting (`confirm`); `--yes` skips the question, and without a terminal to ask on they refuse
rather than spend.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from lambdas import labeling_request as lr
from lambdas import start_labeling
from lambdas.settings import LABELING_SETTINGS_VAR, LabelingSettings, SettingsError
from stacks.config import CONTEXT_KEY, WorkflowConfig
from workflow import labeling_cost, local, outputs
from workflow.aws import describe_or_none
from workflow.errors import CliError, UsageError

CONFIRM_KEY = f"{CONTEXT_KEY}.labeling.confirm_above_usd"
YES_ANSWERS = ("y", "yes")


def estimate_plan(plan: lr.LabelingPlan, *, workforce: object, region: str, task_type: str,
                  ) -> labeling_cost.LabelingEstimate:
    """The estimate of a planned job: its request (workers, price, team, stopping conditions, automated
    labeling) over its object count."""
    return labeling_cost.estimate_from_request(plan.request, object_count=plan.object_count, workforce=workforce,
                                               task_type=task_type, region=region)


def threshold(config: WorkflowConfig) -> Decimal | None:
    """`labeling.confirm_above_usd` as an exact amount (None: never ask)."""
    value = config.labeling.confirm_above_usd
    return None if value is None else Decimal(str(value))


def confirm(estimate: labeling_cost.LabelingEstimate, above: Decimal | None, *, yes: bool, what: str,
            stdin: TextIO | None = None, prompt: TextIO | None = None) -> bool:
    """Whether the job may start: at or below `above`, with `--yes`, or when the operator answers y.

    Returns True if it asked and was told yes, False if it did not need to ask. CliError (exit 1) when
    the operator says no; UsageError (exit 2) when it must ask but stdin is not a terminal (a script or
    a pipe: nobody can answer, and silence must not spend money)."""
    if above is None or yes or not estimate.exceeds(above):
        return False
    stdin = sys.stdin if stdin is None else stdin
    prompt = sys.stderr if prompt is None else prompt
    why = (f"the estimate, up to {labeling_cost.format_usd(estimate.total_usd_max)}, is above {CONFIRM_KEY} = "
           f"{labeling_cost.format_usd(above)}")
    if not stdin.isatty():
        raise UsageError(f"{why}, and stdin is not a terminal to ask on: pass --yes to {what} anyway, or raise "
                         f"{CONFIRM_KEY} (-c {CONFIRM_KEY}=<USD>)")
    print(f"{why}. {what[:1].upper()}{what[1:]}? [y/N] ", end="", file=prompt, flush=True)
    if stdin.readline().strip().lower() not in YES_ANSWERS:
        raise CliError(f"not confirmed: nothing was started ({what} needs a 'y')")
    return True


# --- the deployed function's settings and plan --------------------------------------------------


def deployed_settings(deployed: local.DeployedFunction) -> LabelingSettings:
    """The deployed StartLabeling function's LABELING_SETTINGS, parsed with its own reader."""
    text = deployed.variables.get(LABELING_SETTINGS_VAR)
    if not text:
        raise CliError(f"function {deployed.name} has no {LABELING_SETTINGS_VAR} environment variable: "
                       f"{outputs.DEPLOY_HINT}")
    try:
        return LabelingSettings.from_json(text, source=f"{LABELING_SETTINGS_VAR} of {deployed.name}")
    except SettingsError as error:
        raise CliError(f"{error}: the function was deployed from another version of this project; "
                       f"{outputs.DEPLOY_HINT}") from error


def plan_start(settings: LabelingSettings, *, s3: Any, sagemaker: Any | None, job_name: str | None,
               images_prefix: str | None, max_objects: int | None, now: datetime) -> lr.LabelingPlan | None:
    """What StartLabeling will plan for these options (listing the images now, read-only), or None when
    there is nothing new to estimate: a job of that name exists (StartLabeling then starts nothing), or
    StartLabeling will refuse the request (it says why itself, so the reason has one wording).
    `sagemaker` looks the named job up (DescribeLabelingJob); it is only needed with a `job_name`."""
    try:
        name = lr.resolve_job_name(settings, job_name, now=now)
        prefix = lr.resolve_images_prefix(settings, images_prefix)
    except lr.LabelingRequestError:
        return None
    if job_name is not None and sagemaker is not None and describe_or_none(sagemaker.describe_labeling_job,
                                                                           LabelingJobName=name):
        return None
    objects: Iterable[tuple[str, int]] = start_labeling.list_objects(s3, settings.bucket, prefix, settings.account)
    try:
        return lr.plan_labeling(settings, objects, job_name=name, max_objects=max_objects, images_prefix=prefix)
    except lr.LabelingRequestError:
        return None


def estimate_lines(plan: lr.LabelingPlan, settings: LabelingSettings) -> list[str]:
    return estimate_plan(plan, workforce=settings.workforce, region=settings.region,
                         task_type=settings.task_type).lines()
