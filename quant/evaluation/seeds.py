"""The rug model's operating point on default worlds of other seeds: walk-forward out-of-sample recall at the
strategy's threshold with and without the in-sample weight choice (quant.models.train.positive_weight), on
worlds the procedure was not designed on.

    python -m quant.evaluation.seeds 11 23
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd

from quant.evaluation.walk_forward import out_of_sample
from quant.features import batch_features
from quant.features.labels import build_labels
from quant.models import metrics
from quant.models.datasets import Window, walk_forward
from quant.models.specs import ENTER_RUG, RUG
from quant.settings import Settings
from quant.simulator.config import default_world
from quant.simulator.market import SimulatedMarket


def check(seed: int, worlds: Path) -> list[dict]:
    market = SimulatedMarket(default_world(seed), worlds)
    snaps, swaps = market.table("pool_snapshots"), market.table("swaps")
    labels = build_labels(snaps).to_pandas()[["pool_id", "ts", RUG.target]]
    data = batch_features(snaps, swaps).to_pandas().merge(labels, on=["pool_id", "ts"])
    data = data[data[RUG.target].notna()].sort_values(["ts", "pool_id"]).reset_index(drop=True)
    start = data.ts.min().floor("D")
    # The model assets' window: the newest two days held out, one fold each, five training days, purge 10 min.
    folds = walk_forward(Window(start, start + pd.Timedelta(days=6), start + pd.Timedelta(days=8),
                                pd.Timedelta(minutes=10)), 5)
    rows = []
    for name, spec in (("class ratio only", replace(RUG, operating_point=None)), ("operating point", RUG)):
        oos = out_of_sample(spec, data, folds)
        y, p = oos[RUG.target].to_numpy(), oos.score.to_numpy()
        rows.append({"seed": seed, "rug model": name, f"recall_at_{ENTER_RUG:g}": round(metrics.recall_at(y, p, ENTER_RUG), 3),
                     "roc_auc": round(metrics.roc_auc(y, p), 3), "flagged_share": round(float((p >= ENTER_RUG).mean()), 3)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="+", type=int)
    args = parser.parse_args(argv)
    worlds = Settings.from_env().data_dir / "worlds"
    print(pd.DataFrame([r for s in args.seeds for r in check(s, worlds)]).to_markdown(index=False))


if __name__ == "__main__":
    main()
