"""Raw market tables, one daily partition at a time: fetched from the chain source, kept raw on disk,
validated against their contract, stored in the warehouse, with bad rows quarantined and counted."""

from datetime import timedelta

import dagster as dg
from pandera.errors import SchemaErrors

from quant.market.schemas import CONTRACTS
from quant.market.source import MARKET_TABLES
from quant.market.validation import BatchRejected, split_valid
from resources import ChainSource, RawStore, Warehouse

SCHEMA_CHECK = "schema"
QUARANTINE_CHECK = "quarantine_rate"
QUARANTINE_WARN_RATE = 0.01
# Ingested daily at 00:20 UTC: a partition older than a day and an hour means a missed or stalled ingest.
INGEST_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))
OWNER = "team:market-data"
DESCRIPTIONS = {
    "pool_snapshots": "Pool state per pool per cadence step: price, reserves, 24h volume, fee, decimals, category.",
    "swaps": "Every swap: wallet, side, amounts in and out, reserves before it, execution price and fee.",
    "transfers": "Native-token transfers between wallets: funding, payments, exchange flows.",
    "cex_prices": "Reference prices on a centralised exchange, per minute, in USD.",
}


def ingest(context: dg.AssetExecutionContext, table: str, chain_source: ChainSource, warehouse: Warehouse,
           raw_store: RawStore) -> dg.MaterializeResult:
    """Fetch one partition, keep it raw, quarantine what breaks the contract, replace the window."""
    start, end = context.partition_time_window
    raw = chain_source.fetch(table, start, end)
    raw_file = raw_store.keep(table, context.partition_key, raw)
    try:
        split = split_valid(table, raw, start, end)
    except BatchRejected as err:  # the same batch fails the same way: retrying it is pointless
        raise dg.Failure(description=str(err), metadata={"raw_file": str(raw_file), "raw_rows": len(raw)},
                         allow_retries=False) from err
    warehouse.replace_window(table, split.valid, start, end)
    warehouse.quarantine(table, context.partition_key, split.quarantined)
    if len(split.quarantined):
        context.log.warning(f"{table} {context.partition_key}: quarantined {len(split.quarantined)} of "
                            f"{len(raw)} rows: {split.reasons}")
    stored = warehouse.read_window(table, start, end)
    schema, _key = CONTRACTS[table]
    try:
        schema.validate(stored, lazy=True)
        schema_ok, schema_note = True, "stored partition honours the contract"
    except SchemaErrors as err:  # reported by the blocking check, which stops everything downstream
        schema_ok, schema_note = False, str(err)[:2000]
    rate = len(split.quarantined) / max(len(raw), 1)
    return dg.MaterializeResult(
        metadata={
            "rows": len(split.valid), "raw_rows": len(raw), "quarantined": len(split.quarantined),
            "quarantine_reasons": split.reasons, "raw_file": str(raw_file),
            "preview": dg.MetadataValue.md(split.valid.head(5).to_markdown(index=False)),
        },
        check_results=[
            dg.AssetCheckResult(check_name=SCHEMA_CHECK, passed=schema_ok,
                                metadata={"rows_checked": len(stored), "note": schema_note}),
            dg.AssetCheckResult(check_name=QUARANTINE_CHECK, passed=rate <= QUARANTINE_WARN_RATE,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"quarantine_rate": rate, "limit": QUARANTINE_WARN_RATE}),
        ],
    )


def market_table_asset(table: str, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=table, description=DESCRIPTIONS[table], partitions_def=partitions, group_name="market_data",
        kinds={"duckdb"}, owners=[OWNER], freshness_policy=INGEST_FRESHNESS,
        retry_policy=dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL),
        check_specs=[
            dg.AssetCheckSpec(SCHEMA_CHECK, asset=table, blocking=True,
                              description=f"The stored partition validates against the {table} pandera contract."),
            dg.AssetCheckSpec(QUARANTINE_CHECK, asset=table,
                              description=f"At most {QUARANTINE_WARN_RATE:.0%} of raw rows quarantined."),
        ],
    )
    def _asset(context: dg.AssetExecutionContext, chain_source: ChainSource, warehouse: Warehouse,
               raw_store: RawStore) -> dg.MaterializeResult:
        return ingest(context, table, chain_source, warehouse, raw_store)

    return _asset


def market_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """One ingest asset per market table, partitioned by `partitions` (assets.partitions.daily_partitions_for)."""
    return [market_table_asset(t, partitions) for t in MARKET_TABLES]
