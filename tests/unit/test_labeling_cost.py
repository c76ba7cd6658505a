"""The labeling cost estimate (workflow/labeling_cost.py) against figures computed by hand.

Every expected amount below is written as the arithmetic a reader can redo from the price table
(0.08 / 0.04 / 0.02 USD per object: up to 50,000, up to 1,000,000, beyond, per month) and the
Mechanical Turk rule (workers x task price per object), never copied from the code's output.
"""

from __future__ import annotations

import inspect
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from lambdas import labeling_request as lr
from tests.unit.test_labeling_request import make_settings
from workflow import labeling_cost as lc

ROOT = Path(__file__).resolve().parents[2]
TIER_1, TIER_2, TIER_3 = Decimal("0.08"), Decimal("0.04"), Decimal("0.02")
PRIVATE_TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/team"
VENDOR_TEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/vendor-crowd/acme"


def mturk(objects: int, *, workers: int = 3, price: str = "0.012", **kwargs: object) -> lc.LabelingEstimate:
    return lc.estimate(objects=objects, workers_per_object=workers, workforce="public",
                       worker_price_usd=Decimal(price), **kwargs)  # type: ignore[arg-type]


# --- The price table ----------------------------------------------------------------------------


def test_the_price_table_in_the_repository_loads_with_its_source_and_date() -> None:
    table = lc.load_prices()
    assert table.url.startswith("https://aws.amazon.com/")
    assert table.copied_on <= date.today()
    assert [tier.usd_per_object for tier in table.tiers] == [TIER_1, TIER_2, TIER_3]
    assert [tier.up_to for tier in table.tiers] == [50_000, 1_000_000, None]
    raw = json.loads((ROOT / "workflow" / "labeling_prices.json").read_text())
    # Prices are strings in the file: a JSON float would already have lost exact cents.
    assert all(isinstance(tier["usd_per_object"], str) for tier in raw["ground_truth_fee_per_object"]["tiers"])


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([{"objects_per_month_up_to": 10, "usd_per_object": 0.08},
          {"objects_per_month_up_to": None, "usd_per_object": "0.02"}], "must be a string"),
        ([{"objects_per_month_up_to": 10, "usd_per_object": "0.08"},
          {"objects_per_month_up_to": 20, "usd_per_object": "0.02"}], "no upper bound"),
        ([{"objects_per_month_up_to": 20, "usd_per_object": "0.08"},
          {"objects_per_month_up_to": 10, "usd_per_object": "0.04"},
          {"objects_per_month_up_to": None, "usd_per_object": "0.02"}], "strictly increasing"),
        ([{"objects_per_month_up_to": None, "usd_per_object": "-0.01"}], "negative"),
    ],
)
def test_a_broken_price_table_is_refused_with_the_file_named(tmp_path: Path, tiers: list, message: str) -> None:
    document = json.loads((ROOT / "workflow" / "labeling_prices.json").read_text())
    document["ground_truth_fee_per_object"]["tiers"] = tiers
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=message) as caught:
        lc.load_prices(path)
    assert str(path) in str(caught.value)


# --- The demo, with the default config ----------------------------------------------------------


def test_25_images_with_cdk_json_defaults_cost_the_hand_computed_amount() -> None:
    from demo import run

    workflow = json.loads((ROOT / "cdk.json").read_text())["context"]["workflow"]
    workforce = workflow["workforce"]
    assert (workforce["type"], workforce["price_usd"], workforce["workers_per_object"]) == ("public", "0.012", 3)
    assert inspect.signature(run.run_demo).parameters["image_count"].default == 80  # the demo now: 9.28 USD
    images = 25  # the case: the tutorial-sized 25 images

    result = lc.estimate(objects=images, workers_per_object=workforce["workers_per_object"],
                         workforce=workforce["type"], worker_price_usd=Decimal(workforce["price_usd"]))

    # 25 images x 3 workers x 0.012 USD = 0.900 USD for Mechanical Turk, plus Ground Truth's fee of
    # 0.08 USD per object for the month's first 50,000 objects: 25 x 0.08 = 2.00 USD. Total 2.90 USD.
    assert result.total_usd_max == Decimal("2.90")
    assert result.total_usd_min == result.total_usd_max
    assert result.complete
    text = result.text()
    assert "Estimated labeling cost: 2.90 USD for 25 objects" in text
    assert "25 objects x 3 workers x 0.012 USD per worker per object = 0.90 USD" in text
    assert "25 objects x 0.08 USD" in text
    assert "https://aws.amazon.com/sagemaker/groundtruth/pricing/" in text
    assert f"copied on {lc.load_prices().copied_on.isoformat()}" in text


# --- Each workforce type ------------------------------------------------------------------------


def test_mechanical_turk_pays_every_worker_for_every_object() -> None:
    result = mturk(1_000, workers=5, price="0.036")
    # 1,000 objects x 5 workers x 0.036 USD = 180 USD; fee 1,000 x 0.08 = 80 USD.
    assert result.capped.worker_usd_max == Decimal(180)
    assert result.capped.fee_usd == Decimal(80)
    assert result.total_usd_max == Decimal(260)
    assert result.billing is lc.Billing.MECHANICAL_TURK


def test_a_private_team_pays_the_fee_only() -> None:
    result = lc.estimate(objects=1_000, workers_per_object=5, workforce="private")
    # Own workers: no charge per object; 1,000 x 0.08 = 80 USD, whatever the number of workers.
    assert result.total_usd_max == Decimal(80)
    assert result.billing is lc.Billing.OWN_WORKERS
    assert result.complete
    assert "your own workforce, no charge per object" in result.text()


def test_an_existing_private_team_pays_the_fee_only() -> None:
    result = lc.estimate(objects=300, workers_per_object=2, workforce="existing", workteam_arn=PRIVATE_TEAM)
    assert result.total_usd_max == 300 * TIER_1  # = 24 USD
    assert result.billing is lc.Billing.OWN_WORKERS
    assert result.complete


def test_a_vendor_team_pays_the_fee_and_says_the_vendor_price_is_missing() -> None:
    result = lc.estimate(objects=300, workers_per_object=2, workforce="existing", workteam_arn=VENDOR_TEAM)
    assert result.total_usd_max == 300 * TIER_1  # the known part: 24 USD
    assert result.billing is lc.Billing.VENDOR
    assert not result.complete
    assert "AWS Marketplace" in result.text()
    assert "incomplete" in result.text()


def test_an_existing_team_whose_arn_is_unknown_may_be_either() -> None:
    result = lc.estimate(objects=10, workers_per_object=1, workforce="existing")
    assert result.billing is lc.Billing.PRIVATE_OR_VENDOR
    assert not result.complete


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workforce": "public", "worker_price_usd": None}, "non-negative Decimal"),
        ({"workforce": "public", "worker_price_usd": 0.012}, "non-negative Decimal"),  # a float is refused
        ({"workforce": "private", "worker_price_usd": Decimal("0.012")}, "only to Amazon Mechanical Turk"),
        ({"workforce": "public", "worker_price_usd": Decimal("0.012"), "workers_per_object": 10}, "1 to 9"),
        ({"workforce": "public", "worker_price_usd": Decimal("0.012"), "workers_per_object": 0}, "1 to 9"),
        ({"workforce": "public", "worker_price_usd": Decimal("0.012"), "objects": -1}, "non-negative"),
        ({"workforce": "crowd"}, "not one of public, private, existing"),
    ],
)
def test_impossible_inputs_are_refused_naming_the_argument(kwargs: dict, message: str) -> None:
    arguments = {"objects": 10, "workers_per_object": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        lc.estimate(**arguments)


# --- Tier boundaries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month_to_date", "objects", "expected_fee"),
    [
        (0, 50_000, 50_000 * TIER_1),  # exactly the first tier: 4,000 USD
        (0, 50_001, 50_000 * TIER_1 + 1 * TIER_2),  # one object into the second tier
        (49_999, 2, TIER_1 + TIER_2),  # the 50,000th object of the month, then the 50,001st
        (50_000, 1, TIER_2),  # starts in the second tier
        (999_999, 3, TIER_2 + 2 * TIER_3),  # the 1,000,000th object, then two beyond
        (0, 1_000_001, 50_000 * TIER_1 + 950_000 * TIER_2 + 1 * TIER_3),  # all three: 4,000 + 38,000 + 0.02
        (2_000_000, 10, 10 * TIER_3),
        (0, 0, Decimal(0)),
    ],
)
def test_the_fee_follows_the_monthly_tiers(month_to_date: int, objects: int, expected_fee: Decimal) -> None:
    result = lc.estimate(objects=objects, workers_per_object=1, workforce="private",
                         month_to_date_objects=month_to_date)
    assert result.capped.fee_usd == expected_fee
    parts = result.capped.fee
    assert sum(part.objects for part in parts) == objects
    if parts:
        assert parts[0].first == month_to_date + 1
        assert parts[-1].last == month_to_date + objects


def test_each_tier_is_shown_with_the_objects_of_the_month_it_covers() -> None:
    text = lc.estimate(objects=3, workers_per_object=1, workforce="private", month_to_date_objects=49_999).text()
    assert "1 objects x 0.08 USD (the month's objects 50,000 to 50,000) = 0.08 USD" in text
    assert "2 objects x 0.04 USD (the month's objects 50,001 to 50,002) = 0.08 USD" in text
    assert "49,999 objects already labeled this month" in text


# --- Stopping conditions: the upper bound --------------------------------------------------------


def test_max_human_labeled_objects_caps_the_estimate() -> None:
    result = mturk(25, stopping=lc.StoppingConditions(max_human_labeled_objects=10))
    # At most 10 objects: 10 x 3 x 0.012 = 0.36 USD plus 10 x 0.08 = 0.80 USD.
    assert result.total_usd_max == Decimal("1.16")
    # Without the cap the 25 objects would cost 25 x 3 x 0.012 + 25 x 0.08 = 2.90 USD.
    assert result.all_objects.total_usd_max == Decimal("2.90")
    text = result.text()
    assert "at most 1.16 USD for 10 of 25 objects" in text
    assert "MaxHumanLabeledObjectCount = 10" in text
    assert "would cost up to 2.90 USD" in text


def test_max_percentage_caps_labeled_objects_rounding_up() -> None:
    result = mturk(25, stopping=lc.StoppingConditions(max_percentage_labeled=10))
    # 10 % of 25 is 2.5 objects: an upper bound counts 3. 3 x 3 x 0.012 + 3 x 0.08 = 0.348 USD.
    assert result.capped.labeled == 3
    assert result.total_usd_max == Decimal("0.348")


def test_the_tighter_stopping_condition_wins() -> None:
    both = lc.StoppingConditions(max_human_labeled_objects=50, max_percentage_labeled=20)
    result = mturk(1_000, stopping=both)
    # 20 % of 1,000 = 200 objects, but at most 50 by humans: 50 x (3 x 0.012 + 0.08) = 5.80 USD.
    assert result.capped.labeled == 50
    assert result.total_usd_max == Decimal("5.80")


@pytest.mark.parametrize(
    "value",
    [{"MaxHumanLabeledObjectCount": 0}, {"MaxPercentageOfInputDatasetLabeled": 101},
     {"MaxPercentageOfInputDatasetLabeled": True}, {"MaxObjects": 3}],
)
def test_stopping_conditions_outside_the_model_are_refused(value: dict) -> None:
    with pytest.raises(ValueError):
        lc.StoppingConditions.from_request(value)


# --- Automated data labeling: a range ------------------------------------------------------------


def test_auto_labeling_makes_the_human_part_a_range() -> None:
    result = mturk(2_000, auto_labeling=True, stopping=lc.StoppingConditions(max_human_labeled_objects=500))
    # Every labeled object pays the fee, machine-labeled ones too: 2,000 x 0.08 = 160 USD.
    # Humans label at most 500 objects: 500 x 3 x 0.012 = 18 USD; AWS publishes no minimum, so the
    # floor is the fee alone.
    assert result.total_usd_max == Decimal(160) + Decimal(18)
    assert result.total_usd_min == Decimal(160)
    assert not result.complete  # the training and inference instances are not estimated
    text = result.text()
    assert "160.00 USD to 178.00 USD" in text
    assert "humans label up to 500 of them" in text
    assert "ml.p3.2xlarge" in text and "ml.c5.xlarge" in text


def test_auto_labeling_with_a_percentage_caps_machine_labels_too() -> None:
    result = mturk(4_000, auto_labeling=True, stopping=lc.StoppingConditions(max_percentage_labeled=50))
    # 50 % of 4,000 = 2,000 objects labeled in all, any of them possibly by humans:
    # 2,000 x 0.08 = 160 USD fee, up to 2,000 x 3 x 0.012 = 72 USD of workers.
    assert result.capped.labeled == 2_000
    assert (result.total_usd_min, result.total_usd_max) == (Decimal(160), Decimal(232))


def test_auto_labeling_below_the_documented_minimum_is_noted() -> None:
    result = mturk(25, auto_labeling=True)
    assert any("1,250" in note for note in result.notes)


# --- From a CreateLabelingJob request our planner built -------------------------------------------


def test_the_estimate_of_a_planned_request_reads_its_workers_price_and_stopping_conditions() -> None:
    request = lr.build_create_labeling_job_request(make_settings(), "gt-demo-x", max_objects=10)
    assert request["StoppingConditions"] == {"MaxHumanLabeledObjectCount": 10}
    result = lc.estimate_from_request(request, object_count=25, workforce="public")
    # The request says 3 workers at 0 dollars 1 cent 2 tenths = 0.012 USD, and stops after 10
    # human-labeled objects: 10 x 3 x 0.012 + 10 x 0.08 = 1.16 USD.
    assert result.worker_price_usd == Decimal("0.012")
    assert result.total_usd_max == Decimal("1.16")


def test_a_private_request_estimates_the_fee_only() -> None:
    request = lr.build_create_labeling_job_request(make_settings("private"), "gt-demo-x")
    result = lc.estimate_from_request(request, object_count=25, workforce="private")
    assert result.total_usd_max == 25 * TIER_1


def test_a_request_with_auto_labeling_is_estimated_as_a_range() -> None:
    request = lr.build_create_labeling_job_request(make_settings(), "gt-demo-x")
    request["LabelingJobAlgorithmsConfig"] = {"LabelingJobAlgorithmSpecificationArn": "arn:aws:sagemaker:x"}
    result = lc.estimate_from_request(request, object_count=5_000, workforce="public")
    assert result.auto_labeling
    assert result.total_usd_min == 5_000 * TIER_1
    assert result.total_usd_max == 5_000 * TIER_1 + 5_000 * 3 * Decimal("0.012")


@pytest.mark.parametrize(
    ("amount", "expected"),
    [({"Dollars": 0, "Cents": 1, "TenthFractionsOfACent": 2}, "0.012"),
     ({"Dollars": 1, "Cents": 20, "TenthFractionsOfACent": 0}, "1.20"),
     ({"Cents": 3, "TenthFractionsOfACent": 6}, "0.036")],
)
def test_amount_in_usd_is_read_exactly(amount: dict, expected: str) -> None:
    assert lc.usd_amount(amount) == Decimal(expected)


# --- Rendering and the confirmation threshold -------------------------------------------------------


def test_the_output_names_the_price_source_and_its_date(tmp_path: Path) -> None:
    table = lc.PriceTable(url="https://example.invalid/prices", copied_on=date(2020, 1, 2),
                          tiers=(lc.FeeTier(None, Decimal("0.5")),), not_included=("taxes",), path=tmp_path / "p.json")
    result = lc.estimate(objects=4, workers_per_object=1, workforce="private", prices=table)
    assert result.total_usd_max == 4 * Decimal("0.5")
    last = result.lines()[-1]
    assert "https://example.invalid/prices" in last and "2020-01-02" in last
    assert "not included: taxes" in result.text()


@pytest.mark.parametrize(
    ("amount", "text"),
    [(Decimal("2.9"), "2.90 USD"), (Decimal("0.012"), "0.012 USD"), (Decimal("1234.5"), "1,234.50 USD"),
     (Decimal(80), "80.00 USD"), (Decimal("0.348"), "0.348 USD")],
)
def test_amounts_are_printed_exactly(amount: Decimal, text: str) -> None:
    assert lc.format_usd(amount) == text


def test_exceeds_compares_the_upper_bound() -> None:
    result = mturk(25)  # 2.90 USD
    assert result.exceeds(Decimal("2.89"))
    assert not result.exceeds(Decimal("2.90"))
