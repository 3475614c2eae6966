"""A trade-by-trade backtest on pool snapshots with exact AMM fills (quant.market.amm, the venue's fee and integer
rounding), for Solana pools with a SOL balance.

Fills: a signal seen at snapshot t is filled against the reserves of the pool's next snapshot (the trader
cannot act on a state before seeing it), and the position is sold `hold` snapshots later, or at the pool's
last snapshot in the data if it ends sooner. Our own buy stays in the pool until we sell: its reserve change
is scaled by how much of the pool's liquidity (sqrt k) is still there, so a rug that pulls 95% of the
liquidity takes 95% of the quote we added with it. Equity counts realised PnL at each exit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.market.amm import round_trip


@dataclass(frozen=True)
class BacktestConfig:
    start_balance: float = 10.0  # SOL
    max_positions: int = 3
    hold: int = 10  # snapshots, the label horizon
    stake_sol: float | None = None  # per trade; default: the balance split over the positions

    @property
    def stake(self) -> float:
        return self.stake_sol if self.stake_sol is not None else self.start_balance / self.max_positions


def _exit_rows(snaps: pd.DataFrame, hold: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `snaps` (sorted by pool, ts): the next row of its pool (-1 if none) and the row
    `hold` after that (or the pool's last)."""
    pool = snaps.pool_id.to_numpy()
    n = len(snaps)
    start = np.r_[True, pool[1:] != pool[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    size = np.bincount(np.cumsum(start) - 1)
    last = first + np.repeat(size, size) - 1
    nxt = np.where(np.arange(n) < last, np.arange(n) + 1, -1)
    ext = np.minimum(np.arange(n) + 1 + hold, last)
    return nxt, ext


def backtest(candidates: pd.DataFrame, snapshots: pd.DataFrame, cfg: BacktestConfig = BacktestConfig()) -> dict:
    """Trade the `candidates` (pool_id, ts, priority: rows where the strategy wants in; the highest
    priority first when several arrive together) over `snapshots` of Solana pools."""
    snaps = snapshots.sort_values(["pool_id", "ts"]).reset_index(drop=True)
    nxt, ext = _exit_rows(snaps, cfg.hold)
    row = pd.Series(np.arange(len(snaps)), index=pd.MultiIndex.from_frame(snaps[["pool_id", "ts"]]))
    cand = candidates.sort_values(["ts", "priority"], ascending=[True, False], kind="stable")
    cand = cand[cand.set_index(["pool_id", "ts"]).index.isin(row.index)]
    cash, open_pos, trades = cfg.start_balance, [], []
    for pool_id, ts in zip(cand.pool_id.to_numpy(), cand.ts.to_numpy(), strict=True):
        for pos in [p for p in open_pos if p["exit_ts"] <= ts]:
            cash += pos["received"]
            open_pos.remove(pos)
        if len(open_pos) >= cfg.max_positions or any(p["pool_id"] == pool_id for p in open_pos):
            continue
        i = row[(pool_id, ts)]
        if nxt[i] < 0:
            continue
        stake = min(cfg.stake, cash)
        if stake < 0.01 * cfg.stake:
            continue
        entry, exit_ = snaps.iloc[nxt[i]], snaps.iloc[ext[i]]
        spent, received = round_trip(entry, exit_, stake)
        cash -= spent
        pos = {"pool_id": pool_id, "signal_ts": ts, "entry_ts": entry.ts, "exit_ts": exit_.ts, "spent": spent,
               "received": received, "pnl": received - spent}
        open_pos.append(pos)
        trades.append(pos)
    return summarise(pd.DataFrame(trades, columns=TRADE_COLUMNS), cfg.start_balance)


def buy_and_hold_new_pools(snapshots: pd.DataFrame, new_pools: set[str], start_balance: float = 10.0) -> dict:
    """Split the balance evenly over every new pool; buy at its second snapshot, sell at its last."""
    snaps = snapshots[snapshots.pool_id.isin(new_pools)].sort_values(["pool_id", "ts"])
    groups = [g for _, g in snaps.groupby("pool_id", sort=True) if len(g) >= 2]
    trades = []
    for g in groups:
        stake = start_balance / len(groups)
        spent, received = round_trip(g.iloc[1], g.iloc[-1], stake)
        trades.append({"pool_id": g.pool_id.iloc[0], "signal_ts": g.ts.iloc[0], "entry_ts": g.ts.iloc[1],
                       "exit_ts": g.ts.iloc[-1], "spent": spent, "received": received, "pnl": received - spent})
    return summarise(pd.DataFrame(trades, columns=TRADE_COLUMNS), start_balance)


TRADE_COLUMNS = ["pool_id", "signal_ts", "entry_ts", "exit_ts", "spent", "received", "pnl"]
RANDOM_DRAWS = 20


def no_trade(start_balance: float = BacktestConfig.start_balance) -> dict:
    return summarise(pd.DataFrame(columns=TRADE_COLUMNS), start_balance)


def launch_flip(snapshots: pd.DataFrame, new_pools: set[str], cfg: BacktestConfig = BacktestConfig()) -> dict:
    """Buy every new pool on its first snapshot (filled at the next) and sell `cfg.hold` snapshots later,
    under the same balance and position limits as the strategy: the first thing a launch trader tries."""
    first = snapshots[snapshots.pool_id.isin(new_pools)].sort_values("ts").groupby("pool_id", sort=False).head(1)
    return backtest(first[["pool_id", "ts"]].assign(priority=0.0), snapshots, cfg)


def random_entries(rows: pd.DataFrame, n: int, snapshots: pd.DataFrame, cfg: BacktestConfig = BacktestConfig(),
                   draws: int = RANDOM_DRAWS, seed: int = 0) -> dict:
    """`n` signals at rows drawn at random from `rows` (the strategy's candidate rows), traded like the
    strategy's; `draws` draws, the median one by net PnL returned with every draw's PnL beside it."""
    rng = np.random.default_rng(seed)
    n = min(max(n, 1), len(rows))
    results = [backtest(rows.iloc[np.sort(rng.choice(len(rows), n, replace=False))][["pool_id", "ts"]]
                        .assign(priority=0.0), snapshots, cfg) for _ in range(draws)]
    results.sort(key=lambda r: r["net_pnl"])
    median = results[len(results) // 2]
    return {**median, "net_pnl_draws": [r["net_pnl"] for r in results]}


def summarise(trades: pd.DataFrame, start_balance: float) -> dict:
    t = trades.sort_values("exit_ts")
    equity = pd.Series(start_balance + t.pnl.cumsum().to_numpy(), index=t.exit_ts.to_numpy())
    return {"trades": trades, "equity": equity, "net_pnl": float(trades.pnl.sum()), "n_trades": len(trades),
            "win_rate": float((trades.pnl > 0).mean()) if len(trades) else float("nan"),
            "worst_trade": float(trades.pnl.min()) if len(trades) else float("nan")}
