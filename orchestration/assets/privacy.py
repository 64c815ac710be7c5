"""Privacy requests as a Dagster asset: the intake files of the landing folder taken (each
erasure or export run to its end), with what each row started as metadata."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.resources import CdpSettings

PRIVACY_KEY = AssetKey(["privacy", "requests"])


@asset(
    key=PRIVACY_KEY,
    group_name="privacy",
    description=(
        "Privacy requests from <landing>/privacy/requests*.csv (request_ref, kind, identifier, "
        "requested_by): each erasure or export started once, its identifier then replaced in "
        "the file. Receipts: `cdp privacy status`."
    ),
)
def privacy_requests(context: AssetExecutionContext, cdp: CdpSettings) -> MaterializeResult:
    from orchestration.privacy.intake import take
    from orchestration.warehouse import PROJECT_DIR

    taken = take(cdp.warehouse(), cdp.landing_path(), PROJECT_DIR / "exports" / "privacy")
    for row in taken.rows:
        context.log.info(f"{row['file']} {row['request_ref']}: {row['kind']} {row['outcome']}")
    if taken.errors:
        raise Failure(description="; ".join(taken.errors))
    return MaterializeResult(
        metadata={
            "taken": len(taken.rows),
            "requests": MetadataValue.md(
                "\n".join(
                    f"- `{r['request_ref']}`: {r['kind']} {r['request_id'] or ''} {r['outcome']}"
                    for r in taken.rows
                )
                or "none"
            ),
        }
    )
