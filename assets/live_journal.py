"""The live runtime's journal as an observable source asset: written by the runtime, not by Dagster, and
observed here, so the lineage runs from the market data through the models to the decisions made with them
(and back: the drift sensor compares its recent window with the champion's reference)."""

import dagster as dg

from assets.common import ML_OWNER
from resources import LiveJournal


@dg.multi_observable_source_asset(
    specs=[dg.AssetSpec("live_journal", deps=["moon_model", "rug_model"], group_name="live",
                        description="Predictions (with model versions), outcomes, decisions and fills of the live "
                                    "runtime: append-only Parquet segments (quant.journal).",
                        owners=[ML_OWNER], kinds={"parquet"})],
    name="observe_live_journal",
)
def observe_live_journal(live_journal: LiveJournal):
    s = live_journal.summary()
    # A new committed segment is new data; the version changes with nothing else.
    version = dg.DataVersion(f"{s['segments']}:{s['last_segment']}")
    metadata = {k: dg.MetadataValue.json(v) if isinstance(v, list) else v for k, v in s.items() if v is not None}
    yield dg.ObserveResult(asset_key="live_journal", data_version=version, metadata=metadata)
