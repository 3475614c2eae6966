"""The headline figures on default worlds of seeds 101, 102 and 103, which took no part in designing the
models, the scanner or the simulator (seed 7 is the development world): each figure's mean ± sample standard
deviation over the three seeds, with [min, max]. Out of sample as model_evaluation and wallet_evaluation
compute them, embedding precision@10 as embedding_evaluation does on collections built with MiniLM
(quant.evaluation.seeds --embeddings, which prints each seed's figures too). PnL in SOL on the two held-out
days from 10 SOL; `best_baseline` is the best of no trade, launch flip, random entry, the rule and
buy-and-hold on each seed. Size `drift`: the drift sensor's trial on the small worlds of the same seeds
(quant.evaluation.drift_trial: false alarms on the stationary world's days 4-6, firing under the hype wave)."""

from __future__ import annotations

from quant.evaluation.drift_trial import drift_figures
from quant.evaluation.seeds import seed_figures, summarise
from quant.settings import data_dir

SIZES = ("default", "drift")
SEEDS = (101, 102, 103)


def run(size: str) -> dict:
    if size == "drift":
        return _spread({"seeds": ", ".join(map(str, SEEDS))},
                       [{"seed": seed, "seconds": 0.0, **drift_figures(seed)} for seed in SEEDS])
    rows = [seed_figures(seed, size, data_dir() / "worlds", embeddings=True) for seed in SEEDS]
    out = _spread({"seeds": ", ".join(map(str, SEEDS)),
                   "best_baseline_per_seed": ", ".join(r["best_baseline"] for r in rows)}, rows)
    out["seconds_per_seed"] = [r["seconds"] for r in rows]
    return out


def _spread(out: dict, rows: list[dict]) -> dict:
    """`out` with each figure's "mean ± std [min, max]" over the seeds' rows."""
    for name, s in summarise(rows).items():
        out[name] = f"{s['mean']:.3f} ± {s['std']:.3f} [{s['min']:.3f}, {s['max']:.3f}]"
    return out
