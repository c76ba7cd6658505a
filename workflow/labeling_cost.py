"""What a labeling job will cost, before it starts: Ground Truth's per-object fee plus the workers.

The prices come from `labeling_prices.json` next to this module: copied from AWS's pricing page, with
the page and the date in the file, so a plan never needs the network and always says how old its
prices are. Money is `Decimal` throughout (a float cannot hold 0.012 exactly); amounts are never
rounded, only formatted.

The model (facts and sources: docs/labeling-cost.md):
- Ground Truth charges a fee for every labeled object, human- or machine-labeled, tiered by how many
  objects the account has had labeled in the calendar month (`month_to_date_objects` places this job
  in the tiers; 0 assumes it is the month's first).
- Amazon Mechanical Turk (`public`): each of `workers_per_object` workers is paid the task price
  (`PublicWorkforceTaskPrice`, "the price that you pay for each task performed by an Amazon
  Mechanical Turk worker") per object, on top of the fee.
- Your own workers (`private`, or an existing private team): the fee only.
- A vendor team: the fee plus the vendor's price from its AWS Marketplace agreement, which is not in
  our table: the estimate says it is incomplete.
- Stopping conditions cap the estimate: `MaxHumanLabeledObjectCount` caps the human-labeled objects,
  `MaxPercentageOfInputDatasetLabeled` caps all labeled objects (rounded up: an upper bound).
- Automated data labeling: the fee applies to every labeled object, the workers only to the
  human-labeled ones, whose number AWS does not publish (Ground Truth first sends a random sample to
  humans; how many objects it then labels itself depends on the model's confidence). The estimate
  is a range: from no worker cost (a floor, never reached) to every object labeled by humans, plus
  the training and inference instances Ground Truth runs, which are not estimated.

Call sites: `estimate_from_request(request, object_count=..., workforce=...)` for a
CreateLabelingJob request a plan built (plan-labeling, start-labeling); `estimate(...)` for explicit
values; `.lines()` / `.text()` to print; `.exceeds(threshold)` for a confirmation prompt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from lambdas import auto_labeling as adl
from lambdas import workforces

PRICES_FILE = Path(__file__).with_name("labeling_prices.json")

# NumberOfHumanWorkersPerDataObject: min 1, max 9 (botocore's sagemaker-2017-07-24 model).
MIN_WORKERS_PER_OBJECT = 1
MAX_WORKERS_PER_OBJECT = 9


class Billing(StrEnum):
    """Who is paid per labeled object besides Ground Truth's fee."""

    MECHANICAL_TURK = "mechanical-turk"  # each worker, the task price per object
    OWN_WORKERS = "own-workers"  # nobody: your own (private) workforce
    VENDOR = "vendor"  # the vendor, at the price of its AWS Marketplace agreement (not in our table)
    PRIVATE_OR_VENDOR = "private-or-vendor"  # an existing team whose ARN does not say which


# Work team ARNs name their kind: arn:aws:sagemaker:<region>:<account>:workteam/<kind>-crowd/<name>
# (https://docs.aws.amazon.com/sagemaker/latest/dg/api-permissions-reference.html lists
# private-crowd, vendor-crowd and public-crowd).
_TEAM_KIND_BILLING: dict[str, Billing] = {
    "private-crowd": Billing.OWN_WORKERS,
    "vendor-crowd": Billing.VENDOR,
    "public-crowd": Billing.MECHANICAL_TURK,
}


def billing_for(workforce: object, workteam_arn: str | None = None) -> Billing:
    """The billing of a workforce kind (`workflow.workforce.type`), refined by its team's ARN.

    A kind paid per task is Mechanical Turk; a team the stack creates is our own; a team from the
    config (`existing`) is whatever its ARN says, or "private or vendor" when the ARN is unknown
    (a dry run's placeholder, a CloudFormation token).
    """
    policy = workforces.policy_for(workforce)
    if policy.paid_per_task:
        return Billing.MECHANICAL_TURK
    if workteam_arn:
        _, found, rest = workteam_arn.partition(":workteam/")
        kind = rest.split("/", 1)[0] if found else ""
        if kind in _TEAM_KIND_BILLING and _TEAM_KIND_BILLING[kind] is not Billing.MECHANICAL_TURK:
            return _TEAM_KIND_BILLING[kind]
    if policy.workteam_source is workforces.WorkteamSource.CREATED_BY_STACK:
        return Billing.OWN_WORKERS
    return Billing.PRIVATE_OR_VENDOR


# --- The price table -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeTier:
    """One tier of the per-object fee: objects `up to` this many in the month (inclusive; None: no end)."""

    up_to: int | None
    usd_per_object: Decimal


@dataclass(frozen=True)
class FeePart:
    """The objects of this job that fall in one tier: the month's objects `first`..`last` (1-based)."""

    first: int
    last: int
    usd_per_object: Decimal

    @property
    def objects(self) -> int:
        return self.last - self.first + 1

    @property
    def usd(self) -> Decimal:
        return self.objects * self.usd_per_object


@dataclass(frozen=True)
class PriceTable:
    """`labeling_prices.json`, validated."""

    url: str
    copied_on: date
    tiers: tuple[FeeTier, ...]
    not_included: tuple[str, ...]
    path: Path = PRICES_FILE

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[-1].up_to is not None:
            raise ValueError(f"{self.path}: the last fee tier must have no upper bound (null)")
        bounds = [tier.up_to for tier in self.tiers[:-1]]
        previous = 0
        for bound in bounds:
            if bound is None or bound <= previous:
                raise ValueError(f"{self.path}: fee tier bounds must be positive and strictly increasing, got {bounds}")
            previous = bound
        if any(tier.usd_per_object < 0 for tier in self.tiers):
            raise ValueError(f"{self.path}: a fee tier has a negative price")

    def fee(self, objects: int, *, month_to_date: int = 0) -> tuple[FeePart, ...]:
        """The fee for `objects` more labeled objects after `month_to_date` this month, per tier."""
        if objects < 0 or month_to_date < 0:
            raise ValueError(f"object counts cannot be negative (objects={objects}, month_to_date={month_to_date})")
        parts: list[FeePart] = []
        first, last = month_to_date + 1, month_to_date + objects
        lower = 0  # the tier's first object is lower + 1
        for tier in self.tiers:
            upper = last if tier.up_to is None else tier.up_to
            start, end = max(first, lower + 1), min(last, upper)
            if start <= end:
                parts.append(FeePart(start, end, tier.usd_per_object))
            if tier.up_to is None or tier.up_to >= last:
                break
            lower = tier.up_to
        return tuple(parts)

    def source_line(self) -> str:
        return (f"Prices: {self.url}, copied on {self.copied_on.isoformat()} "
                f"({_display_path(self.path)}); check the page for a large job.")


def load_prices(path: Path = PRICES_FILE) -> PriceTable:
    """Read and check the price table; ValueError names the file and the key at fault."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        source = data["source"]
        tiers = tuple(
            FeeTier(
                up_to=None if tier["objects_per_month_up_to"] is None else int(tier["objects_per_month_up_to"]),
                usd_per_object=_decimal(tier["usd_per_object"]),
            )
            for tier in data["ground_truth_fee_per_object"]["tiers"]
        )
        if source.get("currency") != "USD":
            raise ValueError(f"source.currency is {source.get('currency')!r}, expected 'USD'")
        return PriceTable(
            url=str(source["url"]),
            copied_on=date.fromisoformat(source["copied_on"]),
            tiers=tiers,
            not_included=tuple(str(item) for item in data.get("not_included", ())),
            path=path,
        )
    except (OSError, KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise ValueError(f"price table {path}: {error!r}") from None


def _decimal(value: object) -> Decimal:
    # Prices are JSON strings ("0.08"), never floats: a float has already lost the exact cents.
    if not isinstance(value, str):
        raise ValueError(f"price {value!r} must be a string such as \"0.08\"")
    return Decimal(value)


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        return str(path)


# --- Stopping conditions ----------------------------------------------------------------------


@dataclass(frozen=True)
class StoppingConditions:
    """CreateLabelingJob's `LabelingJobStoppingConditions` (both members optional, ints; botocore:
    MaxHumanLabeledObjectCount min 1, MaxPercentageOfInputDatasetLabeled 1 to 100)."""

    max_human_labeled_objects: int | None = None
    max_percentage_labeled: int | None = None

    def __post_init__(self) -> None:
        count, percent = self.max_human_labeled_objects, self.max_percentage_labeled
        if count is not None and (type(count) is not int or count < 1):
            raise ValueError(f"MaxHumanLabeledObjectCount must be an integer of at least 1, got {count!r}")
        if percent is not None and (type(percent) is not int or not 1 <= percent <= 100):
            raise ValueError(f"MaxPercentageOfInputDatasetLabeled must be an integer from 1 to 100, got {percent!r}")

    @classmethod
    def from_request(cls, value: Mapping[str, Any] | None) -> StoppingConditions:
        value = value or {}
        unknown = set(value) - {"MaxHumanLabeledObjectCount", "MaxPercentageOfInputDatasetLabeled"}
        if unknown:
            raise ValueError(f"StoppingConditions: unknown keys {sorted(unknown)}")
        return cls(value.get("MaxHumanLabeledObjectCount"), value.get("MaxPercentageOfInputDatasetLabeled"))

    @property
    def any(self) -> bool:
        return self.max_human_labeled_objects is not None or self.max_percentage_labeled is not None

    def labeled_cap(self, objects: int) -> int:
        """At most how many of `objects` the job labels (human or machine) under the percentage.

        Rounded up: AWS does not say how it rounds, and an upper bound must not be too low.
        """
        if self.max_percentage_labeled is None:
            return objects
        return min(objects, math.ceil(objects * self.max_percentage_labeled / 100))

    def describe(self) -> str:
        parts = []
        if self.max_human_labeled_objects is not None:
            parts.append(f"MaxHumanLabeledObjectCount = {self.max_human_labeled_objects:,}")
        if self.max_percentage_labeled is not None:
            parts.append(f"MaxPercentageOfInputDatasetLabeled = {self.max_percentage_labeled}")
        return ", ".join(parts)


# --- The estimate -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One bound of the estimate: how many objects are labeled and by whom, and what that costs."""

    labeled: int  # objects that pay the fee
    human_labeled_max: int  # of those, labeled by humans, at most
    fee: tuple[FeePart, ...]
    worker_usd_per_object: Decimal  # workers x task price (0 unless Mechanical Turk)

    @property
    def fee_usd(self) -> Decimal:
        return sum((part.usd for part in self.fee), Decimal(0))

    @property
    def worker_usd_max(self) -> Decimal:
        return self.human_labeled_max * self.worker_usd_per_object

    @property
    def total_usd_max(self) -> Decimal:
        return self.fee_usd + self.worker_usd_max


@dataclass(frozen=True)
class LabelingEstimate:
    """The cost of labeling `objects` objects, as an upper bound (and, with automated data labeling,
    a floor). Build it with `estimate` or `estimate_from_request`.

    `all_objects` is every object labeled (by humans unless `auto_labeling`), ignoring stopping
    conditions; `capped` applies them. Without stopping conditions the two are equal.
    """

    objects: int
    workers_per_object: int
    billing: Billing
    worker_price_usd: Decimal | None
    auto_labeling: bool
    stopping: StoppingConditions
    month_to_date_objects: int
    prices: PriceTable
    all_objects: Scenario
    capped: Scenario
    task_type: str = "image-classification"
    region: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def total_usd_max(self) -> Decimal:
        """The most this job can cost (what is known of it: see `complete`)."""
        return self.capped.total_usd_max

    @property
    def total_usd_min(self) -> Decimal:
        """Without automated labeling, the same as the maximum (the job labels every object it may;
        one stopped early or with failed objects costs less). With it, the fee alone: a floor that is
        never reached, since Ground Truth always sends a first sample to humans."""
        if self.auto_labeling:
            return self.capped.fee_usd
        return self.total_usd_max

    @property
    def complete(self) -> bool:
        """False when something is charged that the table cannot price: a vendor's price, or the
        instances of automated data labeling."""
        return self.billing in (Billing.MECHANICAL_TURK, Billing.OWN_WORKERS) and not self.auto_labeling

    def exceeds(self, threshold_usd: Decimal) -> bool:
        """Whether the upper bound is above `threshold_usd` (for a confirmation prompt)."""
        return self.total_usd_max > threshold_usd

    def lines(self) -> list[str]:
        return _render(self)

    def text(self) -> str:
        return "\n".join(self.lines())


def estimate(
    *,
    objects: int,
    workers_per_object: int,
    workforce: object,
    worker_price_usd: Decimal | None = None,
    workteam_arn: str | None = None,
    stopping: StoppingConditions | None = None,
    auto_labeling: bool = False,
    month_to_date_objects: int = 0,
    prices: PriceTable | None = None,
    task_type: str = "image-classification",
    region: str | None = None,
) -> LabelingEstimate:
    """The estimate for a job over `objects` input objects.

    `workforce` is a `workflow.workforce.type` value (or `WorkforceKind`); `worker_price_usd` is the
    Mechanical Turk task price (per worker per object) and must be given exactly for a kind paid per
    task. ValueError names the argument at fault.
    """
    if type(objects) is not int or objects < 0:
        raise ValueError(f"objects must be a non-negative integer, got {objects!r}")
    workers = workers_per_object
    if type(workers) is not int or not MIN_WORKERS_PER_OBJECT <= workers <= MAX_WORKERS_PER_OBJECT:
        raise ValueError(f"workers_per_object must be an integer from {MIN_WORKERS_PER_OBJECT} to "
                         f"{MAX_WORKERS_PER_OBJECT} (NumberOfHumanWorkersPerDataObject), got {workers_per_object!r}")
    if type(month_to_date_objects) is not int or month_to_date_objects < 0:
        raise ValueError(f"month_to_date_objects must be a non-negative integer, got {month_to_date_objects!r}")
    billing = billing_for(workforce, workteam_arn)
    kind = workforces.policy_for(workforce).label()
    if billing is Billing.MECHANICAL_TURK:
        if not isinstance(worker_price_usd, Decimal) or not worker_price_usd.is_finite() or worker_price_usd < 0:
            raise ValueError(f"worker_price_usd must be a non-negative Decimal for {kind}, got {worker_price_usd!r}")
        per_object = workers_per_object * worker_price_usd
    else:
        if worker_price_usd is not None:
            raise ValueError(f"worker_price_usd applies only to Amazon Mechanical Turk, not to {kind}")
        per_object = Decimal(0)
    stopping = stopping or StoppingConditions()
    prices = prices or load_prices()

    def scenario(labeled: int, human: int) -> Scenario:
        return Scenario(labeled, human, prices.fee(labeled, month_to_date=month_to_date_objects), per_object)

    max_human = stopping.max_human_labeled_objects
    percent_cap = stopping.labeled_cap(objects)
    if auto_labeling:
        # Machine-labeled objects are not capped by MaxHumanLabeledObjectCount, only by the percentage.
        capped = scenario(percent_cap, percent_cap if max_human is None else min(percent_cap, max_human))
    else:
        labeled = percent_cap if max_human is None else min(percent_cap, max_human)
        capped = scenario(labeled, labeled)
    notes: list[str] = []
    problem = adl.dataset_size_problem(objects) if auto_labeling else None
    if problem:
        notes.append(problem)
    return LabelingEstimate(
        objects=objects,
        workers_per_object=workers_per_object,
        billing=billing,
        worker_price_usd=worker_price_usd,
        auto_labeling=auto_labeling,
        stopping=stopping,
        month_to_date_objects=month_to_date_objects,
        prices=prices,
        all_objects=scenario(objects, objects),
        capped=capped,
        task_type=task_type,
        region=region,
        notes=tuple(notes),
    )


def usd_amount(amount_in_usd: Mapping[str, Any]) -> Decimal:
    """CreateLabelingJob's `USD` shape (Dollars, Cents, TenthFractionsOfACent) as a Decimal."""
    parts = {key: amount_in_usd.get(key, 0) or 0 for key in ("Dollars", "Cents", "TenthFractionsOfACent")}
    if any(type(value) is not int or value < 0 for value in parts.values()):
        raise ValueError(f"AmountInUsd must hold non-negative integers, got {dict(amount_in_usd)!r}")
    return Decimal(parts["Dollars"]) + Decimal(parts["Cents"]) / 100 + Decimal(parts["TenthFractionsOfACent"]) / 1000


def estimate_from_request(
    request: Mapping[str, Any],
    *,
    object_count: int,
    workforce: object,
    month_to_date_objects: int = 0,
    prices: PriceTable | None = None,
    task_type: str = "image-classification",
    region: str | None = None,
) -> LabelingEstimate:
    """The estimate of a CreateLabelingJob request as our planners build it.

    Reads HumanTaskConfig (NumberOfHumanWorkersPerDataObject, PublicWorkforceTaskPrice, WorkteamArn),
    StoppingConditions and LabelingJobAlgorithmsConfig. `object_count` is the input manifest's
    number of objects (the request only names the manifest).
    """
    human = request["HumanTaskConfig"]
    price = human.get("PublicWorkforceTaskPrice")
    return estimate(
        objects=object_count,
        workers_per_object=human["NumberOfHumanWorkersPerDataObject"],
        workforce=workforce,
        worker_price_usd=None if price is None else usd_amount(price["AmountInUsd"]),
        workteam_arn=human.get("WorkteamArn"),
        stopping=StoppingConditions.from_request(request.get("StoppingConditions")),
        auto_labeling="LabelingJobAlgorithmsConfig" in request,
        month_to_date_objects=month_to_date_objects,
        prices=prices,
        task_type=task_type,
        region=region,
    )


# --- Rendering --------------------------------------------------------------------------------


def format_usd(amount: Decimal) -> str:
    """`2.9` -> "2.90 USD", `0.012` -> "0.012 USD", `1234.5` -> "1,234.50 USD": exact, never rounded."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{amount:,.{places}f} USD"


def _fee_lines(scenario: Scenario, *, suffix: str = "") -> list[str]:
    if not scenario.fee:
        return ["  Ground Truth fee: no objects, 0.00 USD"]
    return [
        f"  Ground Truth fee: {part.objects:,} objects x {format_usd(part.usd_per_object)} "
        f"(the month's objects {part.first:,} to {part.last:,}) = {format_usd(part.usd)}{suffix}"
        for part in scenario.fee
    ]


def _worker_line(estimate: LabelingEstimate, human: int, *, up_to: bool) -> list[str]:
    if estimate.billing is Billing.MECHANICAL_TURK:
        price = estimate.worker_price_usd or Decimal(0)
        prefix = "up to " if up_to else ""
        workers = estimate.workers_per_object
        return [f"  Amazon Mechanical Turk workers: {prefix}{human:,} objects x {workers} workers "
                f"x {format_usd(price)} per worker per object = {format_usd(human * workers * price)}"]
    if estimate.billing is Billing.OWN_WORKERS:
        return ["  workers: your own workforce, no charge per object"]
    if estimate.billing is Billing.VENDOR:
        return ["  workers: the vendor's price per object (your AWS Marketplace agreement), not included"]
    return ["  workers: none if the team is private; a vendor team adds its price per object "
            "(your AWS Marketplace agreement), not included"]


def _render(estimate: LabelingEstimate) -> list[str]:
    capped, every = estimate.capped, estimate.all_objects
    lines: list[str] = []
    if estimate.auto_labeling:
        low, high = format_usd(estimate.total_usd_min), format_usd(estimate.total_usd_max)
        lines.append(f"Estimated labeling cost: {low} to {high} for {estimate.objects:,} objects with automated data "
                     "labeling, plus its instances")
        lines.append(f"  humans label up to {capped.human_labeled_max:,} of them: AWS publishes no minimum "
                     "(Ground Truth first sends a random sample to humans, then labels by machine what its model "
                     "is confident about)")
        lines.extend(_fee_lines(capped, suffix=" (human- and machine-labeled alike)"))
        lines.extend(_worker_line(estimate, capped.human_labeled_max, up_to=True))
        lines.append(f"  plus {adl.instances_note(estimate.task_type, estimate.region)}")
    else:
        total = format_usd(estimate.total_usd_max)
        if capped.labeled < estimate.objects:
            what = f"at most {total} for {capped.labeled:,} of {estimate.objects:,} objects"
        else:
            what = f"{total} for {estimate.objects:,} objects"
        lines.append(f"Estimated labeling cost: {what}")
        lines.extend(_fee_lines(capped))
        lines.extend(_worker_line(estimate, capped.human_labeled_max, up_to=False))
    if estimate.stopping.any:
        lines.append(f"  stopping conditions ({estimate.stopping.describe()}) cap the job at {capped.labeled:,} "
                     f"labeled objects, {capped.human_labeled_max:,} by humans; labeling every object would cost up "
                     f"to {format_usd(every.total_usd_max)}")
    if estimate.billing in (Billing.VENDOR, Billing.PRIVATE_OR_VENDOR):
        lines.append("  incomplete: a vendor's own price is not in the table")
    if estimate.month_to_date_objects:
        lines.append(f"  assumes {estimate.month_to_date_objects:,} objects already labeled this month in this account")
    else:
        lines.append("  assumes this job's objects are the account's first labeled this month (the fee is tiered "
                     "per month)")
    lines.extend(f"  note: {note}" for note in estimate.notes if note)
    if estimate.prices.not_included:
        lines.append("  not included: " + "; ".join(estimate.prices.not_included))
    lines.append(estimate.prices.source_line())
    return lines
