"""Predicted 12-month value and churn probability per customer (buy-till-you-die).

Purchase frequency: the modified BG/NBD model (Batislam, Denizel and Filiztekin 2007); spend
per order: Gamma-Gamma (Fader, Hardie and Lee 2005). Both come from pymc-marketing and are
fitted as point estimates (maximum a posteriori), which takes seconds, not a sampler's
minutes. MBG/NBD rather than BG/NBD because BG/NBD holds every one-time buyer alive with
probability 1, whatever their age, which makes churn meaningless for half the customers.

Inputs: marts.fct_orders (orders with a customer; cancelled and refunded ones left out),
purchase days per customer (same-day orders count once, their revenue summed), measured in
days up to `as_of`, the newest event in marts.fct_events (the same reference as
customer_traits, so reruns on the same data give the same numbers).

- Holdout: the models are fitted on everything before as_of - 180 days and predict the
  purchases and revenue of each of those customers in the last 180 days, compared with what
  they did (mean absolute error, root mean square error, totals), next to a naive baseline
  (each customer's own past rate); and how well the churn probability at the cutoff ranks
  the customers who then bought nothing (ROC AUC), next to days since the last purchase.
  The holdout is a second fit, so it is scored again only once the data is
  HOLDOUT_EVERY_DAYS newer than at its last scoring (kept in
  marts.customer_prediction_holdouts); a run in between reports the last one.
- Predictions: refitted on all data; per customer the expected orders in the next 365 days,
  the probability of still being a customer (churn probability = 1 - that), the expected
  order value and predicted 12-month value = expected orders x expected order value.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta

from orchestration.warehouse import Warehouse, qualified

HOLDOUT_DAYS = 180
HOLDOUT_EVERY_DAYS = 7
HORIZON_DAYS = 365
EXCLUDED_STATUSES = ("cancelled", "refunded")
MIN_REPEAT_BUYERS = 20
SCHEMA, TABLE = "marts", "customer_predictions"
HOLDOUTS_TABLE = "customer_prediction_holdouts"
MODEL_NAME = "MBG/NBD + Gamma-Gamma (pymc-marketing, MAP)"
COLUMNS = [
    ("customer_id", "varchar"),
    ("as_of_at", "timestamp"),
    ("repeat_purchase_days", "integer"),
    ("recency_days", "double"),
    ("tenure_days", "double"),
    ("predicted_orders_12m", "double"),
    ("probability_alive", "double"),
    ("churn_probability", "double"),
    ("predicted_order_value", "double"),
    ("predicted_value_12m", "double"),
]


class NotEnoughData(Exception):
    """Too few repeat buyers to fit the models."""


@dataclass(frozen=True)
class HoldoutReport:
    calibration_end: str
    holdout_days: int
    customers: int
    purchases_actual: int
    purchases_predicted: float
    purchases_mae: float
    purchases_rmse: float
    baseline_purchases_mae: float
    revenue_actual: float
    revenue_predicted: float
    revenue_mae: float
    revenue_rmse: float
    baseline_revenue_mae: float
    churn_auc: float | None
    baseline_churn_auc: float | None

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


_SQL_TYPES = {"str": "varchar", "int": "bigint", "float": "double", "float | None": "double"}
# marts.customer_prediction_holdouts: the data's as_of, when it was scored, the report
HOLDOUT_COLUMNS = [("as_of_at", "timestamp"), ("scored_at", "timestamp")] + [
    (f.name, _SQL_TYPES[f.type]) for f in fields(HoldoutReport)
]


@dataclass(frozen=True)
class Fit:
    as_of: datetime
    customers: int
    repeat_buyers: int
    parameters: dict[str, float]
    holdout: HoldoutReport | None
    holdout_as_of: datetime | None  # the data the holdout was scored on (older: reused)
    predicted_value_12m_total: float
    mean_churn_probability: float


def _quiet() -> None:
    # Library notices that say nothing about this data: arviz's refactor notice, pytensor
    # without a BLAS (these models are elementwise), and the progress bar.
    warnings.filterwarnings("ignore", message="ArviZ is undergoing a major refactor")
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")


def load_orders(target: Warehouse):
    """(orders frame: customer_id, ordered_at, revenue; as_of) from the marts."""
    import pandas as pd

    excluded = ", ".join("?" for _ in EXCLUDED_STATUSES)
    with target.read_session() as run:  # one connection for both reads
        rows = run(
            "select customer_id, ordered_at, cast(revenue as double precision) "
            "from marts.fct_orders where customer_id is not null and revenue is not null "
            f"and coalesce(order_status, '') not in ({excluded}) "
            "order by customer_id, ordered_at, order_id",
            EXCLUDED_STATUSES,
        )
        (as_of,) = run("select max(event_at) from marts.fct_events")[0]
    orders = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "revenue"])
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"])
    orders["revenue"] = orders["revenue"].astype(float)
    return orders, as_of


def _fit(summary):
    """MBG/NBD on all customers; Gamma-Gamma on repeat buyers with a positive mean spend
    (the model is defined only for those; the library does not check)."""
    _quiet()
    from pymc_marketing.clv import GammaGammaModel, ModifiedBetaGeoModel

    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(repeat) < MIN_REPEAT_BUYERS:
        raise NotEnoughData(
            f"{len(repeat)} repeat buyers, at least {MIN_REPEAT_BUYERS} are needed to fit"
        )
    frequency = ModifiedBetaGeoModel()
    frequency.fit(
        summary[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False
    )
    spend = GammaGammaModel()
    spend.fit(
        repeat[["customer_id", "frequency", "monetary_value"]], method="map", progressbar=False
    )
    return frequency, spend


def _point(values, ids):
    """A MAP fit's prediction (chain x draw x customer_id) as an array in `ids` order."""
    return values.mean(("chain", "draw")).to_series().reindex(ids).to_numpy()


def _auc(score, label) -> float | None:
    """Area under the ROC curve of `score` for `label` (None when only one class occurs)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(label, score)) if 0 < label.sum() < len(label) else None


def evaluate_holdout(orders, as_of: datetime, days: int = HOLDOUT_DAYS) -> HoldoutReport:
    """Fit on the data before as_of - days, score the customers' purchases after it."""
    import numpy as np
    from pymc_marketing.clv import rfm_train_test_split

    calibration_end = as_of - timedelta(days=days)
    split = rfm_train_test_split(
        orders,
        "customer_id",
        "ordered_at",
        train_period_end=calibration_end,
        test_period_end=as_of,
        monetary_value_col="revenue",
        time_unit="D",
    )
    frequency, spend = _fit(split)
    ids = split["customer_id"]
    data = split[["customer_id", "frequency", "recency", "T", "monetary_value"]]
    purchases = _point(frequency.expected_purchases(data=data, future_t=days), ids)
    order_value = _point(spend.expected_customer_spend(data=data), ids)
    churn = 1.0 - _point(frequency.expected_probability_alive(data=data), ids)

    actual = split["test_frequency"].to_numpy(dtype=float)
    actual_revenue = (split["test_frequency"] * split["test_monetary_value"]).to_numpy(dtype=float)
    revenue = purchases * order_value
    # baseline: the customer's own repeat rate so far, at their own (or the average) order value
    tenure = split["T"].to_numpy(dtype=float)
    rate = np.divide(
        split["frequency"].to_numpy(dtype=float),
        tenure,
        out=np.zeros_like(tenure),
        where=tenure > 0,
    )
    mean_order = orders.loc[orders["ordered_at"] <= calibration_end, "revenue"].mean()
    own_value = np.where(split["frequency"] > 0, split["monetary_value"], mean_order)
    baseline = rate * days
    bought_nothing = (actual == 0).astype(int)

    def mae(predicted, observed) -> float:
        return float(np.mean(np.abs(predicted - observed)))

    return HoldoutReport(
        calibration_end=calibration_end.isoformat(sep=" ", timespec="seconds"),
        holdout_days=days,
        customers=len(split),
        purchases_actual=int(actual.sum()),
        purchases_predicted=float(purchases.sum()),
        purchases_mae=mae(purchases, actual),
        purchases_rmse=math.sqrt(float(np.mean((purchases - actual) ** 2))),
        baseline_purchases_mae=mae(baseline, actual),
        revenue_actual=float(actual_revenue.sum()),
        revenue_predicted=float(revenue.sum()),
        revenue_mae=mae(revenue, actual_revenue),
        revenue_rmse=math.sqrt(float(np.mean((revenue - actual_revenue) ** 2))),
        baseline_revenue_mae=mae(baseline * own_value, actual_revenue),
        churn_auc=_auc(churn, bought_nothing),
        baseline_churn_auc=_auc(
            split["T"].to_numpy() - split["recency"].to_numpy(), bought_nothing
        ),
    )


def predict(orders, as_of: datetime):
    """Refit on all orders; one row per customer with COLUMNS; and the fitted parameters."""
    import numpy as np
    from pymc_marketing.clv import rfm_summary

    summary = rfm_summary(
        orders,
        "customer_id",
        "ordered_at",
        monetary_value_col="revenue",
        observation_period_end=as_of,
        time_unit="D",
    )
    frequency, spend = _fit(summary)
    ids = summary["customer_id"]
    data = summary[["customer_id", "frequency", "recency", "T", "monetary_value"]]
    purchases = _point(frequency.expected_purchases(data=data, future_t=HORIZON_DAYS), ids)
    alive = np.clip(_point(frequency.expected_probability_alive(data=data), ids), 0.0, 1.0)
    order_value = _point(spend.expected_customer_spend(data=data), ids)
    out = summary[["customer_id"]].copy()
    out["as_of_at"] = as_of
    out["repeat_purchase_days"] = summary["frequency"].astype(int)
    out["recency_days"] = summary["recency"]
    out["tenure_days"] = summary["T"]
    out["predicted_orders_12m"] = purchases
    out["probability_alive"] = alive
    out["churn_probability"] = 1.0 - alive
    out["predicted_order_value"] = order_value
    out["predicted_value_12m"] = purchases * order_value
    parameters = {
        **{f"mbgnbd_{k}": float(v) for k, v in frequency.fit_summary().items()},
        **{f"gamma_gamma_{k}": float(v) for k, v in spend.fit_summary().items()},
    }
    return out[[name for name, _ in COLUMNS]], parameters


def last_holdout(target: Warehouse) -> tuple[datetime, HoldoutReport] | None:
    """The as_of and report of the newest holdout scored, if any."""
    if HOLDOUTS_TABLE not in target.existing_tables(SCHEMA):
        return None
    names = [name for name, _ in HOLDOUT_COLUMNS]
    rows = target.fetch_all(
        f"select {', '.join(names)} from {qualified(SCHEMA, HOLDOUTS_TABLE)} "
        "order by as_of_at desc, scored_at desc limit 1"
    )
    if not rows:
        return None
    values = dict(zip(names, rows[0], strict=True))
    as_of = values.pop("as_of_at")
    values.pop("scored_at")
    return as_of, HoldoutReport(**values)


def _holdout(target: Warehouse, orders, as_of: datetime):
    """(report, the as_of it was scored on): scored now when the last one is
    HOLDOUT_EVERY_DAYS older than the data (or there is none), else the last one."""
    last = last_holdout(target)
    if last is not None and as_of - last[0] < timedelta(days=HOLDOUT_EVERY_DAYS):
        return last[1], last[0]
    try:
        report = evaluate_holdout(orders, as_of)
    except NotEnoughData:
        return None, None  # too little history before the holdout window
    row = [as_of, datetime.now(UTC).replace(tzinfo=None), *asdict(report).values()]
    target.append_rows(SCHEMA, HOLDOUTS_TABLE, HOLDOUT_COLUMNS, [row])
    return report, as_of


def fit_and_store(target: Warehouse) -> Fit:
    """Evaluate on the time holdout (when due), refit on everything, replace
    marts.customer_predictions."""
    orders, as_of = load_orders(target)
    if as_of is None or orders.empty:
        raise NotEnoughData("marts.fct_orders has no orders with a customer")
    holdout, holdout_as_of = _holdout(target, orders, as_of)
    predictions, parameters = predict(orders, as_of)
    target.replace_table(
        SCHEMA,
        TABLE,
        COLUMNS,
        predictions.itertuples(index=False, name=None),
        primary_key="customer_id",
    )
    return Fit(
        as_of=as_of,
        customers=len(predictions),
        repeat_buyers=int((predictions["repeat_purchase_days"] > 0).sum()),
        parameters={k: round(v, 6) for k, v in parameters.items()},
        holdout=holdout,
        holdout_as_of=holdout_as_of,
        predicted_value_12m_total=round(float(predictions["predicted_value_12m"].sum()), 2),
        mean_churn_probability=round(float(predictions["churn_probability"].mean()), 4),
    )
