"""Sync and Swap logs of Uniswap-V2 pairs as they are mined: `eth_subscribe("logs")` through web3's async
websocket provider, decoded with the same `decode_pair_event` the backfill uses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from web3 import AsyncWeb3, Web3, WebSocketProvider

from quant.chains.evm.abi import SWAP, SYNC
from quant.chains.evm.pairs import PairEvent, decode_pair_event


@dataclass(frozen=True)
class LiveEvent:
    """A pair event as the node announced it. `removed` is True when a reorg dropped a log announced
    before: the consumer must undo it (the node sends the same log again with removed=True)."""

    event: PairEvent
    removed: bool


class PairLogStream:
    """`async with PairLogStream(url, pairs) as s: async for e in s.events(): ...`"""

    def __init__(self, url: str, pairs: list[str], timeout_s: float = 10.0):
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"a websocket URL is needed, got {url.split('://')[0]}://...")
        self.url, self.timeout_s = url, timeout_s
        self.pairs = [Web3.to_checksum_address(p) for p in pairs]
        self.w3: AsyncWeb3 | None = None
        self.subscription: str | None = None

    async def __aenter__(self) -> PairLogStream:
        # Connected by hand, not `await AsyncWeb3(...)`: that form installs SIGINT/SIGTERM handlers, which
        # only the main thread may do and which would take the live runtime's own shutdown handling over.
        self.w3 = AsyncWeb3(WebSocketProvider(self.url, request_timeout=self.timeout_s))
        await self.w3.provider.connect()
        # One filter for all pairs: the node matches address OR-list and topic0 in {Sync, Swap}.
        self.subscription = await self.w3.eth.subscribe("logs", {"address": self.pairs, "topics": [[SYNC, SWAP]]})
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            if self.subscription:
                await self.w3.eth.unsubscribe(self.subscription)
        finally:
            await self.w3.provider.disconnect()

    async def events(self, idle_s: float | None = None) -> AsyncIterator[LiveEvent]:
        """Decoded events in the node's order; with `idle_s`, stops after that long without one."""
        it = self.w3.socket.process_subscriptions().__aiter__()
        while True:
            try:
                msg = await asyncio.wait_for(it.__anext__(), idle_s) if idle_s else await it.__anext__()
            except (TimeoutError, StopAsyncIteration):
                return
            log = msg["result"]
            event = decode_pair_event(log)
            if event is not None:
                yield LiveEvent(event, bool(log.get("removed", False)))
