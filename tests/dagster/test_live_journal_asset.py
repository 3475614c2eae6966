"""The live journal as an observable source asset: observing it records what the runtime wrote, with a data
version that changes only when a new segment is committed."""

from __future__ import annotations

import dagster as dg
import numpy as np

from assets.live_journal import observe_live_journal
from live_runtime.broker import Fill
from live_runtime.journal import Journal
from orchestration.jobs import observe_live_journal_job
from resources import LiveJournal

T0 = 1_767_916_800_000_000  # 2026-01-09 00:00 UTC in µs


def observe(directory) -> dg.AssetObservation:
    defs = dg.Definitions(assets=[observe_live_journal], jobs=[observe_live_journal_job],
                          resources={"live_journal": LiveJournal(directory=str(directory))})
    result = defs.resolve_job_def("observe_journal").execute_in_process()
    events = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert result.success and len(events) == 1
    return events[0].event_specific_data.asset_observation


def write_segment(journal: Journal, n: int, version: str) -> None:
    ts = T0 + np.arange(n, dtype=np.int64) * 60_000_000
    journal.add_predictions({"seq": np.arange(n), "ts": ts, "pool_id": ["p"] * n, "p_moon": np.full(n, 0.5),
                             "moon_version": [version] * n, "rug_version": ["v0001"] * n})
    fill = Fill("o1-buy", "p", "buy", 1.0, 10.0, 0.01, 0.0025, int(ts[0]), 1)
    journal.add("fill", 1, int(ts[0]), "p", vars(fill))
    journal.commit({"position": n}, int(ts[-1]))


def test_observation_reports_segments_rows_fills_and_versions(tmp_path):
    empty = observe(tmp_path / "journal")
    assert empty.metadata["segments"].value == 0
    journal = Journal(tmp_path / "journal")
    write_segment(journal, 30, "v0001")
    write_segment(journal, 20, "v0002")
    (tmp_path / "journal" / "2026-01-09" / "00000009-predictions.parquet").write_bytes(b"uncommitted")
    obs = observe(tmp_path / "journal")
    assert obs.metadata["segments"].value == 2 and obs.metadata["predictions_rows"].value == 50
    assert obs.metadata["fills"].value == 2 and obs.metadata["moon_versions"].value == ["v0001", "v0002"]
    assert obs.tags["dagster/data_version"] == "2:00000001"
    assert observe(tmp_path / "journal").tags["dagster/data_version"] == "2:00000001"  # nothing new: same version
