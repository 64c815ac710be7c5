"""Predicted 12-month value and churn probability, fitted after each build of the orders."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from orchestration.resources import CdpSettings

PREDICTIONS_KEY = AssetKey(["marts", "customer_predictions"])


@asset(
    key=PREDICTIONS_KEY,
    deps=[AssetKey(["marts", "fct_orders"]), AssetKey(["marts", "fct_events"])],
    group_name="marts",
    description=(
        "Buy-till-you-die model per customer (MBG/NBD for orders, Gamma-Gamma for order value, "
        "pymc-marketing): expected orders and value in the next 12 months, probability alive "
        "and churn probability. Scored on a 180-day time holdout (again once the data is a "
        "week newer); the errors are in this asset's metadata. Read by customer_traits and the churn segment."
    ),
)
def customer_predictions(context: AssetExecutionContext, cdp: CdpSettings) -> MaterializeResult:
    import os

    from orchestration.predictions.clv import (
        HOLDOUT_EVERY_DAYS,
        MODEL_NAME,
        NotEnoughData,
        fit_and_store,
    )

    if os.environ.get("CDP_PREDICTIONS") == "0":
        context.log.info("predictions not refreshed: CDP_PREDICTIONS=0")
        return MaterializeResult(metadata={"skipped": "CDP_PREDICTIONS=0"})
    try:
        fit = fit_and_store(cdp.warehouse())
    except NotEnoughData as exc:
        context.log.warning(f"predictions not refreshed: {exc}")
        return MaterializeResult(metadata={"skipped": str(exc)})
    metadata: dict = {
        "model": MODEL_NAME,
        "as_of": fit.as_of.isoformat(sep=" ", timespec="seconds"),
        "customers_scored": fit.customers,
        "repeat_buyers": fit.repeat_buyers,
        "predicted_value_12m_total": fit.predicted_value_12m_total,
        "mean_churn_probability": fit.mean_churn_probability,
        "parameters": MetadataValue.json(fit.parameters),
    }
    if fit.holdout is None:
        metadata["holdout"] = "not enough history before the holdout window"
    else:
        holdout = fit.holdout.as_dict()
        metadata.update({f"holdout_{name}": value for name, value in holdout.items()})
        as_of = fit.holdout_as_of.isoformat(sep=" ", timespec="seconds")
        metadata["holdout_as_of"] = as_of
        again = f"scored again once the data is {HOLDOUT_EVERY_DAYS} days newer"
        context.log.info(
            f"predictions: holdout {holdout['holdout_days']} days, {holdout['customers']:,} "
            f"customers: orders MAE {holdout['purchases_mae']:.3f} (baseline "
            f"{holdout['baseline_purchases_mae']:.3f}), {holdout['purchases_predicted']:,.0f} "
            f"predicted vs {holdout['purchases_actual']:,} actual; revenue MAE "
            f"{holdout['revenue_mae']:,.2f} (baseline {holdout['baseline_revenue_mae']:,.2f})"
            + ("" if fit.holdout_as_of == fit.as_of else f"; as of {as_of}, {again}")
        )
    context.log.info(
        f"predictions: {fit.customers:,} customers scored, 12-month value "
        f"{fit.predicted_value_12m_total:,.0f}, mean churn probability {fit.mean_churn_probability}"
    )
    return MaterializeResult(metadata=metadata)
