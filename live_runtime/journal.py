"""The journal writer: append-only Parquet segments of everything the runtime did, in the format of
`quant.journal` (which the drift sensor and Dagster's observable source asset read).

A segment is committed when its activity file appears: the other files are written first, each under a
temporary name renamed into place, and the activity file last. On start, files of an uncommitted segment are
removed, and the book is rebuilt from the committed fills: a crash loses at most the events since the last
commit, which the stream then delivers again, so no fill is repeated or lost. Fills flush at once.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from live_runtime.broker import Fill
from quant import journal as fmt

RELEASED = "pools_released"  # the activity row of idle pools released (a restart's warm-up releases them too)


@dataclass
class Resume:
    position: int  # events of the stream already processed
    fills: list[Fill]
    next_segment: int
    checkpoint: dict  # the last one: cash, equity, the risk guard's state
    releases: list[tuple[int, list[str]]] = field(default_factory=list)  # (position, pools) the engine released


def _ts(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, np.int64).astype("datetime64[us]"))


class Journal:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._predictions: list[dict[str, np.ndarray | list]] = []
        self._outcomes: list[dict[str, np.ndarray | list]] = []
        self._activity: list[dict] = []
        self.segment = 0
        self.rows_pending = 0

    # ---- writing -----------------------------------------------------------------------------------------

    def add_predictions(self, columns: dict[str, np.ndarray | list]) -> None:
        self._predictions.append(columns)
        self.rows_pending += len(columns["seq"])

    def add_outcomes(self, columns: dict[str, np.ndarray | list]) -> None:
        self._outcomes.append(columns)
        self.rows_pending += len(columns["seq"])

    def add(self, kind: str, seq: int, ts_us: int, pool_id: str | None, data: dict) -> None:
        self._activity.append({"seq": seq, "ts": ts_us, "kind": kind, "pool_id": pool_id,
                               "data": json.dumps(data, default=_json_default)})
        self.rows_pending += 1

    def commit(self, checkpoint: dict, ts_us: int) -> Path:
        """Write the pending rows as one segment under the market date of `ts_us`; the checkpoint goes last."""
        day = str(pd.Timestamp(ts_us, unit="us").date())
        folder = self.dir / day
        folder.mkdir(exist_ok=True)
        name = f"{self.segment:08d}"
        self.add("checkpoint", checkpoint["position"], ts_us, None, checkpoint)
        for kind, parts in (("predictions", self._predictions), ("outcomes", self._outcomes)):
            if parts:
                table = pa.table({k: _column(k, [p[k] for p in parts]) for k in parts[0]})
                _write(table, folder / f"{name}-{kind}.parquet", durable=False)
        act = self._activity
        table = pa.table({"seq": pa.array([a["seq"] for a in act], pa.int64()), "ts": _ts([a["ts"] for a in act]),
                          "kind": [a["kind"] for a in act], "pool_id": [a["pool_id"] for a in act],
                          "data": [a["data"] for a in act]})
        path = folder / f"{name}-activity.parquet"
        # The commit point. fsync'd when it holds fills: an order must survive a machine crash, not only a
        # process crash (which a rename alone survives).
        _write(table, path, durable=any(a["kind"] == "fill" for a in act))
        self._predictions, self._outcomes, self._activity = [], [], []
        self.segment += 1
        self.rows_pending = 0
        return path

    def save_state(self, position: int, arrays: dict[str, np.ndarray]) -> None:
        """Everything that decides and that the stream cannot rebuild (the online learners, the predictions
        waiting for their outcomes, the pools' sequences), as of event `position`: one file per position,
        written before the commit whose checkpoint names that position. A crash between the two leaves a
        file no checkpoint names; the previous one stays until the next commit is done (`prune_states`)."""
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: given a path, savez would append ".npz" to it
                np.savez(f, _position=np.array(position, np.int64), **arrays)
        _replace(self._state_path(position), write, durable=False)

    def load_state(self, position: int) -> dict[str, np.ndarray] | None:
        """The state saved at `position` (None when there is none: a journal older than the state files)."""
        path = self._state_path(position)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        return arrays if int(arrays.pop("_position")) == position else None

    def prune_states(self, keep: int) -> None:
        """Remove the state files of every position but `keep` (the last committed checkpoint's)."""
        for path in self.dir.glob("state-*.npz"):
            if path != self._state_path(keep):
                path.unlink(missing_ok=True)

    def _state_path(self, position: int) -> Path:
        return self.dir / f"state-{position:012d}.npz"

    # ---- reading -----------------------------------------------------------------------------------------

    def resume(self) -> Resume:
        """Remove uncommitted files, then read the committed fills and the last checkpoint."""
        committed = fmt.committed(self.dir)
        for kind in ("predictions", "outcomes"):
            for p in fmt.segments(self.dir, kind):
                if fmt.segment_of(p) not in committed:
                    p.unlink()
        for p in [*self.dir.glob("*/.*.tmp-*"), *self.dir.glob(".*.tmp-*")]:
            p.unlink()
        activity = self.read("activity")
        self.segment = max((int(s) for s in committed), default=-1) + 1
        if activity.empty:
            return Resume(0, [], self.segment, {})
        fills = [Fill(**json.loads(d)) for d in activity.loc[activity.kind == "fill", "data"]]
        checkpoints = activity[activity.kind == "checkpoint"]
        last = json.loads(checkpoints.data.iloc[-1]) if len(checkpoints) else {"position": 0}
        released = activity[activity.kind == RELEASED]
        releases = [(int(seq), json.loads(d)["pools"]) for seq, d in zip(released.seq, released.data, strict=True)]
        return Resume(int(last["position"]), fills, self.segment, last, releases)

    def read(self, kind: str) -> pd.DataFrame:
        return fmt.read(self.dir, kind)


def _column(name: str, parts: list) -> pa.Array:
    if name == "ts":
        return _ts(np.concatenate([np.asarray(p, np.int64) for p in parts]))
    if isinstance(parts[0], np.ndarray):
        return pa.array(np.concatenate(parts))
    return pa.array([v for p in parts for v in p])


def _write(table: pa.Table, path: Path, durable: bool) -> None:
    # Dictionaries for the text columns only and statistics for the columns readers filter on: 2.6x faster
    # than pyarrow's defaults on a predictions segment, and smaller (dictionaries of random floats only cost).
    text = [f.name for f in table.schema if pa.types.is_string(f.type)]
    _replace(path, lambda tmp: pq.write_table(table, tmp, compression="zstd", use_dictionary=text,
                                              write_statistics=[c for c in ("seq", "ts") if c in table.column_names]),
             durable)


def _replace(path: Path, write, durable: bool) -> None:
    """`write(tmp)` to a temporary name beside `path`, then renamed over it: readers see the old file or the
    new one, never half of one (and `resume` removes temporaries a crash left)."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    write(tmp)
    if durable:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
