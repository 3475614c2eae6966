"""Which new pools a tracker still watches, decided from public data alone (trades and reserves), never from
what a pool will become: a pool is dropped once nobody has traded it for a while, once its quote liquidity has
been under a floor for a while, or at an age limit."""

from __future__ import annotations

import numpy as np

IDLE_STOP_S = 2 * 3600  # no trade for two hours
FLOOR_STOP_S = 30 * 60  # tracked 30 minutes past the floor, so a drain's horizon of snapshots exists
MAX_TRACK_S = 72 * 3600
# Quote liquidity under which a pool counts as emptied: about $150 (1 SOL, 0.05 ETH).
LIQUIDITY_FLOOR = {"solana": 1.0, "evm": 0.05}


def tracked_until(open_ts: np.ndarray, floor: np.ndarray, pool: np.ndarray, ts: np.ndarray, is_trade: np.ndarray,
                  quote_after: np.ndarray, max_track_s: float = MAX_TRACK_S) -> np.ndarray:
    """Per pool (index into `open_ts`), the moment tracking stops.

    `pool`, `ts`, `is_trade` and `quote_after` describe every public event of the pools (swaps and liquidity
    changes) with the quote reserve after it, in any order."""
    n = len(open_ts)
    t = np.asarray(ts, np.int64)
    trade = np.asarray(is_trade, bool)
    points_pool = np.r_[np.arange(n), pool[trade]]
    points_ts = np.r_[np.asarray(open_ts, np.int64), t[trade]]
    order = np.lexsort((points_ts, points_pool))
    p, pt = points_pool[order], points_ts[order]
    same = p[1:] == p[:-1]
    gap = np.where(same, pt[1:] - pt[:-1], np.iinfo(np.int64).max)
    gap = np.r_[gap, np.iinfo(np.int64).max]  # after a pool's last trade: idle for ever
    end = np.asarray(open_ts, np.int64) + int(max_track_s)
    idle = gap >= IDLE_STOP_S
    np.minimum.at(end, p[idle], pt[idle] + IDLE_STOP_S)
    low = np.asarray(quote_after) < np.asarray(floor)[pool]
    np.minimum.at(end, pool[low], t[low] + FLOOR_STOP_S)
    return end
