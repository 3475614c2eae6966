"""How agents share signals: the proposals of agents trained earlier, computed for every snapshot of the
paths a later agent replays and attached to them (`PoolPath.extra`), so the later agent observes them.
The chains: entry timing -> whale copy -> risk manager, and CEX-DEX -> flash loan, cross-chain."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from quant.agents.arb_envs import ArbConfig, cex_dex_observation
from quant.agents.entry import entry_observation
from quant.agents.market import PoolPath
from quant.agents.pool_envs import whale_observation

Act = Callable[[np.ndarray], np.ndarray]  # AgentPolicy.act: observations [B, d] -> actions [B]


def attach_entry(paths: list[PoolPath], act: Act) -> None:
    """`entry_flat` / `entry_held`: the entry agent's action at each snapshot when out / in a position."""
    for p in paths:
        scores = [p.extra[k] for k in ("p_moon", "p_rug", "p_opportunity")]
        for key, held in (("entry_flat", 0.0), ("entry_held", 1.0)):
            p.extra[key] = act(entry_observation(p.features, *scores, np.full(len(p), held))).astype(np.float64)


def attach_whale(paths: list[PoolPath], act: Act) -> None:
    """`whale_flat`: the whale agent's action at each snapshot when out of a position (would it copy now?);
    needs the entry proposals attached first."""
    for p in paths:
        obs = np.stack([whale_observation(p, t, 0.0, 0.0, 0, int(p.extra["entry_flat"][t])) for t in range(len(p))])
        p.extra["whale_flat"] = act(obs).astype(np.float64)


def attach_cex_dex(paths: list[PoolPath], act: Act, cfg: ArbConfig) -> None:
    """`cexdex`: the CEX-DEX agent's action at each snapshot of each listed pool."""
    for p in paths:
        obs = np.stack([cex_dex_observation(p, t, cfg) for t in range(len(p))])
        p.extra["cexdex"] = act(obs).astype(np.float64)

