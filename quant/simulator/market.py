"""The embedded world as a `MarketSource`: simulated once per config and code version, cached as Parquet."""

from __future__ import annotations

import fcntl
import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import pandas as pd

from quant.market.source import MARKET_TABLES
from quant.simulator import WorldConfig, simulate
from quant.simulator.world import Truth


def simulator_version() -> str:
    """A hash of the simulator's source: a cached world is rebuilt when the code that made it changes."""
    digest = hashlib.sha256()
    for path in sorted(Path(simulate.__code__.co_filename).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


class SimulatedMarket:
    """The simulated world for a config, built once and cached as Parquet under `cache_dir`.

    A file lock makes parallel Dagster steps wait for one build instead of each simulating the world.
    """

    def __init__(self, config: WorldConfig, cache_dir: Path, progress: bool = False):
        self.config = config
        self.dir = Path(cache_dir) / f"world-{config.fingerprint()}-{simulator_version()}"
        self.progress = progress
        self._tables: dict[str, pd.DataFrame] = {}

    def _ensure_built(self) -> None:
        if (self.dir / "COMPLETE").exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (self.dir / "COMPLETE").exists():
                return
            world = simulate(self.config, progress=self.progress)
            for name in (*MARKET_TABLES, "liquidity_events"):
                getattr(world, name).to_parquet(self.dir / f"{name}.parquet", index=False)
            world.truth.wallets.to_parquet(self.dir / "truth_wallets.parquet", index=False)
            world.truth.pools.to_parquet(self.dir / "truth_pools.parquet", index=False)
            meta = {"config": asdict(self.config), "shift_ts": world.truth.shift_ts}
            (self.dir / "world.json").write_text(json.dumps(meta, default=str, indent=1))
            (self.dir / "COMPLETE").touch()

    def table(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            self._ensure_built()
            self._tables[name] = pd.read_parquet(self.dir / f"{name}.parquet")
        return self._tables[name]

    def fetch(self, table: str, start: datetime, end: datetime) -> pd.DataFrame:
        if table not in MARKET_TABLES:
            raise ValueError(f"unknown market table {table!r}; expected one of {MARKET_TABLES}")
        df = self.table(table)
        ts = df["ts"]
        return df[(ts >= pd.Timestamp(start).tz_localize(None)) & (ts < pd.Timestamp(end).tz_localize(None))].reset_index(drop=True)

    def truth(self) -> Truth:
        """The hidden truth of the world: for evaluation code and tests only."""
        self._ensure_built()
        meta = json.loads((self.dir / "world.json").read_text())
        return Truth(wallets=pd.read_parquet(self.dir / "truth_wallets.parquet"),
                     pools=pd.read_parquet(self.dir / "truth_pools.parquet"), shift_ts=meta["shift_ts"])

