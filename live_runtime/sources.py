"""Event sources and the orderer that makes any of them safe to consume.

Events are the typed tuples of live_runtime.events (built there by `table_events`), the market time first.

Sources: the simulated market run forward from where the history ends, a replay of stored Parquet history,
and a real chain read through the chain-sources' `fetch` (quant.chains.factory), woken by a websocket
subscription when one is configured and polled otherwise. Each has `poll(max_events,
timeout_s)` returning the events available now (sleeping at most `timeout_s` when none is), `history()`
for warming up pool states, and `exhausted`.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from live_runtime.events import ORDER, TIME, Event, table_events
from quant.chains.errors import ChainError
from quant.market.source import MarketSource
from quant.settings import Settings
from quant.simulator.config import world_config
from quant.simulator.market import SimulatedMarket

log = logging.getLogger("live_runtime.sources")


class TableStream:
    """Events from tables, as fast as they are asked for (speed=0) or paced: `speed` market seconds per wall
    second. `start_seq` skips events already processed (a restart resuming from its journal)."""

    def __init__(self, events: list[Event], history: list[Event] | None = None, speed: float = 0.0,
                 start_seq: int = 0, clock=time.monotonic, sleep=time.sleep):
        self.events, self._history, self.speed = events, history or [], speed
        self.position = self.start_seq = start_seq
        self.clock, self.sleep = clock, sleep
        self._clock: tuple[float, int] | None = None  # (wall start, market start)

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.events)

    def history(self) -> list[Event]:
        """The warm-up: the history before the stream, and the stream's events already processed (a restart
        rebuilds its pool states from them)."""
        return self._history + self.events[: self.start_seq]

    def poll(self, max_events: int, timeout_s: float) -> list[Event]:
        if self.exhausted:
            return []
        end = min(self.position + max_events, len(self.events))
        if self.speed > 0:
            if self._clock is None:
                self._clock = (self.clock(), self.events[self.position].ts_us)
            wall0, market0 = self._clock
            market_now = market0 + (self.clock() - wall0) * self.speed * 1e6
            due = self.position
            while due < end and self.events[due].ts_us <= market_now:
                due += 1
            if due == self.position:
                wait = (self.events[self.position].ts_us - market_now) / 1e6 / self.speed
                self.sleep(max(0.0, min(timeout_s, wait)))
                return []
            end = due
        batch = self.events[self.position:end]
        self.position = end
        return batch


def simulated_stream(settings: Settings, forward_days: int = 1, warmup_min: int = 120, speed: float = 0.0,
                     start_seq: int = 0) -> TableStream:
    """The simulated world run forward `forward_days` past the history Dagster built: the same seed and
    start, a longer window, so the history part is bit-identical to the warehouse's (tested in quant)."""
    market, history_end = forward_market(settings, forward_days)
    return _split_stream(market, history_end, history_end + pd.Timedelta(days=forward_days), warmup_min, speed,
                         start_seq)


def forward_market(settings: Settings, forward_days: int, progress: bool = True) -> tuple[SimulatedMarket, pd.Timestamp]:
    """The simulated world run `forward_days` past the history Dagster built, and where that history ends."""
    base = settings.world_config()
    market = SimulatedMarket(world_config(settings.world, settings.seed, settings.start, base.days + forward_days),
                             settings.data_dir / "worlds", progress=progress)
    return market, pd.Timestamp(base.start) + pd.Timedelta(days=base.days)


def replay_stream(directory: Path, start: datetime, end: datetime, warmup_min: int = 120, speed: float = 0.0,
                  start_seq: int = 0) -> TableStream:
    """Stored history (`pool_snapshots.parquet` and `swaps.parquet` in `directory`) replayed over a window."""
    class _Files:
        def fetch(self, table, lo, hi):
            df = pd.read_parquet(Path(directory) / f"{table}.parquet", filters=[("ts", ">=", lo), ("ts", "<", hi)])
            return df.reset_index(drop=True)
    return _split_stream(_Files(), pd.Timestamp(start), pd.Timestamp(end), warmup_min, speed, start_seq)


def _split_stream(source: MarketSource, start: pd.Timestamp, end: pd.Timestamp, warmup_min: int, speed: float,
                  start_seq: int) -> TableStream:
    warm = start - pd.Timedelta(minutes=warmup_min)
    history = table_events(source.fetch("pool_snapshots", warm, start), source.fetch("swaps", warm, start))
    events = table_events(source.fetch("pool_snapshots", start, end), source.fetch("swaps", start, end))
    return TableStream(events, history, speed, start_seq)


class ChainPollingStream:
    """A real chain through the chain-sources' `fetch`: every `interval_s` it asks for the swaps and snapshots
    since the last poll, up to `lag_s` behind now (confirmations), and hands them out in order.

    A failed fetch (any ChainError: the node down, garbage answers, retries exhausted) degrades the stream
    instead of ending the runtime: `health()` says "failing" with the error, the cursor stays where it was
    (the next fetch asks for the same span again, so nothing is skipped), and the next try waits twice as long
    each time (from `interval_s`, at most MAX_BACKOFF_S, longer when the server asked with Retry-After)."""

    MAX_BACKOFF_S = 300.0

    def __init__(self, source: MarketSource, interval_s: float = 5.0, lag_s: float = 30.0,
                 since: datetime | None = None, clock=None, until: datetime | None = None):
        self.source, self.interval_s, self.lag_s = source, interval_s, lag_s
        self.clock = clock or (lambda: datetime.now(UTC).replace(tzinfo=None))  # the chain's "now", naive UTC
        self.cursor = pd.Timestamp(since or self.clock() - timedelta(seconds=lag_s))
        self.until = None if until is None else pd.Timestamp(until)  # a window's end: the stream ends there
        self._pending: list[Event] = []
        self._next_poll = 0.0
        self.exhausted = False
        self.failures = 0  # fetches failed in a row
        self.failed_fetches = 0
        self.last_error: str | None = None

    def history(self) -> list[Event]:
        return []

    def health(self) -> dict:
        return {"state": "failing" if self.failures else "ok", "failures_in_a_row": self.failures,
                "failed_fetches": self.failed_fetches, "last_error": self.last_error, "cursor": str(self.cursor)}

    def _fetch(self, until: pd.Timestamp) -> None:
        try:
            if hasattr(self.source, "complete_until"):  # what the source has final (EVM: its safe head's time)
                until = min(until, self.source.complete_until())
            if until <= self.cursor:
                self._next_poll = time.monotonic() + self.interval_s
                return
            events = table_events(self.source.fetch("pool_snapshots", self.cursor, until),
                                  self.source.fetch("swaps", self.cursor, until))
        except ChainError as err:
            self.failures += 1
            self.failed_fetches += 1
            self.last_error = f"{type(err).__name__}: {str(err)[:300]}"
            wait = min(self.interval_s * 2 ** self.failures, self.MAX_BACKOFF_S)
            wait = max(wait, getattr(err, "retry_after", None) or 0.0)
            log.warning("chain fetch %s to %s failed (%d in a row), retrying in %.0f s, serving what it has: %s",
                        self.cursor, until, self.failures, wait, self.last_error)
            self._next_poll = time.monotonic() + wait
            return
        if self.failures:
            log.info("chain fetch recovered after %d failures; resuming from %s", self.failures, self.cursor)
        self.failures, self._pending, self.cursor = 0, events, until
        self._next_poll = time.monotonic() + self.interval_s

    def poll(self, max_events: int, timeout_s: float) -> list[Event]:
        if not self._pending and time.monotonic() >= self._next_poll:
            until = pd.Timestamp(self.clock() - timedelta(seconds=self.lag_s))
            if self.until is not None:
                until = min(until, self.until)
            if until > self.cursor:
                self._fetch(until)
            else:
                self._next_poll = time.monotonic() + self.interval_s
        if self.until is not None and not self._pending and self.cursor >= self.until:
            self.exhausted = True
        if not self._pending:
            time.sleep(timeout_s)
            return []
        batch, self._pending = self._pending[:max_events], self._pending[max_events:]
        return batch


class ChainSubscribedStream(ChainPollingStream):
    """A real chain whose new data is announced over a websocket subscription (EVM pair logs, Raydium pool
    accounts): each notification makes the next `poll` fetch what is new at once, through the same `fetch`
    as polling and backfill, so rows are decoded one way only. Without a notification for `interval_s` it
    fetches anyway, so a dropped or silent subscription delays data but loses none (fetches run from a
    cursor). The subscription runs on its own thread with its own event loop and reconnects with backoff.

    `subscribe(notify)` is a coroutine that connects, subscribes and calls `notify()` per notification
    until the connection ends (see `evm_subscription`, `solana_subscription`)."""

    def __init__(self, source: MarketSource, subscribe, interval_s: float = 30.0, lag_s: float = 30.0,
                 since: datetime | None = None, clock=None, until: datetime | None = None):
        super().__init__(source, interval_s, lag_s, since, clock, until)
        self.subscribe = subscribe
        self.wake = threading.Event()
        self.notifications = self.reconnects = 0
        self.connected = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()), name="chain-subscription",
                                        daemon=True)
        self._thread.start()

    def _notify(self) -> None:
        self.wake.set()
        self.notifications += 1

    async def _listen(self) -> None:
        backoff = 0.5
        while not self._closed:
            try:
                await self.subscribe(self._notify, self.connected)
                backoff = 0.5
            except Exception as err:  # noqa: BLE001 - any failure of the connection: reconnect, polling covers the gap
                log.warning("chain subscription lost (%s: %s); reconnecting in %.1f s, polling meanwhile",
                            type(err).__name__, err, backoff)
            self.connected.clear()
            if self._closed:
                return
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    def poll(self, max_events: int, timeout_s: float) -> list[Event]:
        if self.wake.is_set():
            self.wake.clear()
            if not self.failures:  # a failing source keeps its backoff: notifications do not hammer it
                self._next_poll = 0.0
        if not self._pending and time.monotonic() < self._next_poll:
            self.wake.wait(timeout_s)  # woken by a notification rather than sleeping out the timeout
            return []
        return super().poll(max_events, timeout_s)

    def close(self) -> None:
        self._closed = True


def evm_subscription(ws_url: str, pairs: list[str]):
    """Notifications of Sync and Swap logs of `pairs` (`eth_subscribe("logs")`, quant.chains.evm.ws)."""
    from quant.chains.evm.ws import PairLogStream

    async def subscribe(notify, connected: threading.Event) -> None:
        async with PairLogStream(ws_url, pairs) as stream:
            connected.set()
            async for _ in stream.events():
                notify()
    return subscribe


def solana_subscription(ws_url: str, pools: list[str], commitment: str = "confirmed"):
    """Notifications of changes to the Raydium pool accounts (`accountSubscribe`, quant.chains.solana.ws)."""
    from quant.chains.solana.ws import SolanaStream

    async def subscribe(notify, connected: threading.Event) -> None:
        async with SolanaStream(ws_url, commitment) as stream:
            for pool in pools:
                await stream.account_subscribe(pool)
            connected.set()
            async for _ in stream.updates():
                notify()
    return subscribe


class Orderer:
    """Turns an arrival order into market-time order. Duplicates (same id) are ignored; an event is held until
    the newest market time seen is `tolerance_s` past it, so one arriving late within the tolerance is still
    applied in order; one later than that is counted, logged and dropped (its interval has been scored)."""

    def __init__(self, tolerance_s: float):
        self.tolerance_us = int(tolerance_s * 1e6)
        self.held: list[Event] = []  # in arrival order until sorted at release
        self.seen: dict[str, int] = {}
        self.newest = -(2**62)
        self.released_until = -(2**62)
        self.duplicates = self.late = 0

    def push(self, events: list[Event]) -> None:
        seen, held = self.seen, self.held
        for e in events:
            if e.id in seen:
                self.duplicates += 1
                continue
            ts = e.ts_us
            if ts < self.released_until:
                self.late += 1
                log.warning("late event dropped: %s at %d, %.3f s behind the released stream", e.id, ts,
                            (self.released_until - ts) / 1e6)
                continue
            seen[e.id] = ts
            held.append(e)
            if ts > self.newest:
                self.newest = ts
        if len(seen) > 200_000:  # forget ids older than anything that could still arrive in time
            horizon = self.released_until - self.tolerance_us
            self.seen = {k: t for k, t in seen.items() if t >= horizon}

    def release(self, flush: bool = False) -> list[Event]:
        """Events whose time is at least the tolerance behind the newest seen (all of them when flushing),
        by (time, kind) and, within equal keys, in arrival order (a stable sort, linear on the in-order
        streams that make up nearly all traffic)."""
        if not self.held:
            return []
        watermark = 2**62 if flush else self.newest - self.tolerance_us
        self.held.sort(key=ORDER)
        cut = bisect.bisect_right(self.held, watermark, key=TIME)
        out, self.held = self.held[:cut], self.held[cut:]
        if out:
            self.released_until = max(self.released_until, out[-1].ts_us)
        return out

    def __len__(self) -> int:
        return len(self.held)
