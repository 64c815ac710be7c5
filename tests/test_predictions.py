"""The buy-till-you-die predictions on purchases simulated from a known process: customers
buy at their own Poisson rate and may drop out after each purchase (the BG/NBD story), and
spend around their own mean. The holdout must beat the naive baseline, and the per-customer
outputs must line up with the right customers."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from orchestration.predictions.clv import COLUMNS, evaluate_holdout, predict

START = datetime(2024, 1, 1)
DAYS = 730


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for i in range(1500):
        rate = rng.gamma(0.9, 1 / 30)  # purchases per day while active
        dropout = rng.beta(1.0, 5.0)  # chance of leaving after each purchase
        mean_spend = rng.gamma(6.0, 15.0)
        day = rng.uniform(0, DAYS - 30)
        while day < DAYS:
            spend = max(rng.gamma(8.0, mean_spend / 8.0), 1.0)
            rows.append((f"c{i:05d}", START + timedelta(days=float(day)), round(spend, 2)))
            if rng.random() < dropout:
                break
            day += rng.exponential(1 / rate)
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "revenue"])


def test_holdout_beats_the_naive_baseline(orders):
    report = evaluate_holdout(orders, START + timedelta(days=DAYS), days=180)

    assert report.customers > 1000
    assert report.purchases_actual > 100
    assert abs(report.purchases_predicted / report.purchases_actual - 1) < 0.25, report
    assert report.purchases_mae < report.baseline_purchases_mae, report
    assert report.revenue_mae < report.baseline_revenue_mae, report
    assert report.churn_auc is not None and report.churn_auc > 0.6, report


def test_predictions_belong_to_their_customers(orders):
    as_of = START + timedelta(days=DAYS)
    predictions, parameters = predict(orders, as_of)

    assert list(predictions.columns) == [name for name, _ in COLUMNS]
    assert sorted(predictions["customer_id"]) == sorted(orders["customer_id"].unique())
    assert {"mbgnbd_r", "mbgnbd_alpha", "gamma_gamma_p"} <= set(parameters)
    assert predictions["churn_probability"].between(0, 1).all()
    assert (predictions["predicted_orders_12m"] >= 0).all()
    assert np.allclose(
        predictions["predicted_value_12m"],
        predictions["predicted_orders_12m"] * predictions["predicted_order_value"],
    )

    by_customer = predictions.set_index("customer_id")
    stats = orders.groupby("customer_id").agg(
        n=("ordered_at", "size"), last=("ordered_at", "max"), spend=("revenue", "mean")
    )
    stats["idle_days"] = (as_of - stats["last"]).dt.days
    frequent = stats[stats["n"] >= 5]
    # among frequent buyers, the long silent are likelier gone than the recently active
    silent = frequent[frequent["idle_days"] > 300].index
    active = frequent[frequent["idle_days"] < 20].index
    assert len(silent) and len(active)
    assert (
        by_customer.loc[silent, "churn_probability"].min()
        > by_customer.loc[active, "churn_probability"].max()
    )
    # order value follows each repeat buyer's own spend (shrunk towards the mean)
    repeat = stats[stats["n"] >= 3].index
    corr = np.corrcoef(by_customer.loc[repeat, "predicted_order_value"], stats.loc[repeat, "spend"])
    assert corr[0, 1] > 0.9


def test_the_holdout_is_scored_again_once_the_data_is_a_week_newer(orders, duckdb_target):
    """Runs on data less than HOLDOUT_EVERY_DAYS newer reuse the last holdout (a second fit);
    the predictions themselves are refitted every time."""
    from orchestration.predictions.clv import HOLDOUT_EVERY_DAYS, HOLDOUTS_TABLE, fit_and_store

    duckdb_target.append_rows(
        "marts",
        "fct_orders",
        [
            ("customer_id", "varchar"),
            ("ordered_at", "timestamp"),
            ("revenue", "double"),
            ("order_status", "varchar"),
            ("order_id", "varchar"),
        ],  # fmt: skip
        [(c, at, r, "completed", f"o{i}") for i, (c, at, r) in enumerate(orders.values)],
    )

    def fit_with_events_until(day: float):
        event = [("event_at", "timestamp")]
        duckdb_target.append_rows("marts", "fct_events", event, [(START + timedelta(days=day),)])
        return fit_and_store(duckdb_target)

    first = fit_with_events_until(DAYS)
    second = fit_with_events_until(DAYS + HOLDOUT_EVERY_DAYS - 1)  # less than the cadence
    third = fit_with_events_until(DAYS + HOLDOUT_EVERY_DAYS)

    assert first.holdout is not None and first.holdout_as_of == first.as_of
    assert second.as_of > first.as_of
    assert (second.holdout, second.holdout_as_of) == (first.holdout, first.as_of)
    assert third.holdout_as_of == third.as_of and third.holdout != first.holdout
    scored = duckdb_target.fetch_all(f"select as_of_at from marts.{HOLDOUTS_TABLE} order by 1")
    assert scored == [(first.as_of,), (third.as_of,)]
