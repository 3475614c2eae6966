"""The stream into state: each pool's online features (quant.features.online), its reserves, chain and quote.
A pool back after more than `idle_pool_h` without a snapshot starts its window afresh; pools idle that long
are released (their slots serve new pools), so memory follows the pools alive, not every pool ever seen."""

from __future__ import annotations

from live_runtime.broker import PoolState
from live_runtime.events import SNAPSHOT, SWAP, Event
from quant.features import OnlineFeatures
from quant.features.online import EXTRA


def within_window(events: list[Event]) -> list[list[Event]]:
    """A batch cut before any pool's snapshot that its online window could not score beside the pool's
    earlier ones in the batch (more than EXTRA + 1: a single-pool replay)."""
    parts, counts, start = [], {}, 0
    for k, e in enumerate(events):
        if e.kind == SNAPSHOT:
            c = counts.get(e.pool_id, 0) + 1
            if c > EXTRA + 1:
                parts.append(events[start:k])
                start, counts, c = k, {}, 1
            counts[e.pool_id] = c
    parts.append(events[start:])
    return parts


class MarketState:
    def __init__(self, idle_pool_h: float):
        self.features = OnlineFeatures()
        self.pools: dict[str, PoolState] = {}
        self.quote_symbol: dict[str, str] = {}
        self.idle_us = int(idle_pool_h * 3600e6)
        self.restarted: list[int] = []  # slots whose window started afresh, for the stages that follow pools

    def apply(self, e: Event) -> int:
        """An event into the features (a new pool's state on its first snapshot); returns the pool's slot.
        Reserves move separately (`move`), in event order, when the batch is decided."""
        feats, pool_id = self.features, e.pool_id
        slot = feats.slots.get(pool_id)
        if slot is None:
            slot = feats.slot(pool_id)
        if e.kind == SWAP:
            feats.add_swap(slot, e.is_buy, e.quote_amount, e.wallet)
            return slot
        if e.ts_us - feats.last_snapshot_ts(slot) > self.idle_us and feats.snapshots(slot):
            feats.forget_history(slot)
            self.restarted.append(slot)
        feats.add_snapshot(slot, e.ts_us, e.price, e.base_reserve, e.quote_reserve, e.volume_24h, e.trade_fee,
                           e.open_us)
        if pool_id not in self.pools:
            self.pools[pool_id] = PoolState(e.chain, e.base_reserve, e.quote_reserve, e.base_decimals,
                                            e.quote_decimals)
            self.quote_symbol[pool_id] = e.quote_symbol
        return slot

    def move(self, e: Event) -> None:
        """The pool's reserves as of this event (a swap before its pool's first snapshot moves nothing)."""
        pool = self.pools.get(e.pool_id)
        if pool is None:
            return
        if e.kind == SWAP:
            pool.base_reserve, pool.quote_reserve = e.base_after, e.quote_after
        else:
            pool.base_reserve, pool.quote_reserve = e.base_reserve, e.quote_reserve

    def release_idle(self, now_us: int, held) -> list[str]:
        """Release the pools idle for longer than `idle_pool_h` at `now_us`, except those in `held`; returns
        them, in the order released."""
        idle = [p for p in self.features.idle_pools(now_us - self.idle_us) if p not in held]
        self.release(idle)
        return idle

    def release(self, pool_ids: list[str]) -> None:
        """Release these pools (in this order: it decides which slots the next new pools take)."""
        for pool_id in pool_ids:
            slot = self.features.release(pool_id)
            if slot is not None:
                self.restarted.append(slot)
            self.pools.pop(pool_id, None)
            self.quote_symbol.pop(pool_id, None)

    def take_restarted(self) -> list[int]:
        slots, self.restarted = self.restarted, []
        return slots
