"""Identity accuracy and graph health after each build, as Dagster metadata."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from orchestration.resources import CdpSettings

IDENTITY_QUALITY_KEY = AssetKey(["marts", "identity_quality"])


@asset(
    key=IDENTITY_QUALITY_KEY,
    deps=[
        AssetKey(["marts", "bdg_customer_source_records"]),
        AssetKey(["marts", "bdg_customer_identifiers"]),
    ],
    group_name="marts",
    description=(
        "Pairwise precision, recall and F1 of the record-to-customer mapping against the "
        "generator's truth file when the landing folder has one; identity graph health "
        "(customer sizes, largest customer, identifiers per customer) always."
    ),
)
def identity_quality(context: AssetExecutionContext, cdp: CdpSettings) -> MaterializeResult:
    from orchestration.identity.metrics import compute, truth_file
    from orchestration.quality.identity_health import stored_metrics

    truth = truth_file(cdp.landing_path())
    # measured once per run, by the identity health check that runs before (else here)
    metrics = stored_metrics(cdp.warehouse(), context.run.run_id) or compute(cdp.warehouse(), truth)
    values = metrics.as_dict()
    buckets = values.pop("records_per_customer")
    metadata: dict = {name: value for name, value in values.items()}
    metadata["records_per_customer"] = MetadataValue.json(buckets)
    metadata["truth_file"] = MetadataValue.path(str(truth)) if truth else "none"
    if metrics.precision is not None:
        context.log.info(
            f"identity: precision {metrics.precision:.4f}, recall {metrics.recall:.4f}, "
            f"F1 {metrics.f1:.4f} over {metrics.truth_records:,} truth records"
        )
    context.log.info(
        f"identity: {metrics.customers:,} customers, largest {metrics.largest_customer_records:,} records"
    )
    return MaterializeResult(metadata=metadata)
