"""Solana websocket subscriptions (`accountSubscribe`, `logsSubscribe`) as plain JSON over `websockets`, for
the live runtime. Plain JSON, like the HTTP client: real nodes send values strict parsers reject (rentEpoch)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect

from quant.chains.errors import ChainError
from quant.chains.solana.layout import AMM_V4_PROGRAM
from quant.chains.solana.ray_log import SwapLog, ray_logs


@dataclass(frozen=True)
class AccountUpdate:
    subscription: int
    slot: int
    lamports: int
    owner: str
    data: bytes


@dataclass(frozen=True)
class LogsUpdate:
    subscription: int
    slot: int
    signature: str
    err: object
    logs: list[str]

    def swaps(self, program: str = str(AMM_V4_PROGRAM)) -> list[SwapLog]:
        """The Raydium swaps this transaction's logs record (none when it failed)."""
        return [] if self.err is not None else ray_logs(self.logs, program)


class SolanaStream:
    """One websocket connection: subscribe, then iterate `updates()`. Notifications that arrive while a
    subscribe call waits for its answer are kept, not dropped."""

    def __init__(self, url: str, commitment: str = "confirmed", timeout_s: float = 10.0):
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"a websocket URL is needed, got {url.split('://')[0]}://...")
        self.url, self.commitment, self.timeout_s = url, commitment, timeout_s
        self._ids, self._queued, self.ws = itertools.count(1), [], None
        self.subscriptions: dict[int, str] = {}  # id -> what it follows

    async def __aenter__(self) -> SolanaStream:
        self.ws: ClientConnection = await connect(self.url, open_timeout=self.timeout_s, max_size=2**24)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def _recv(self) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), self.timeout_s))

    async def _request(self, method: str, params: list) -> object:
        rid = next(self._ids)
        await self.ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        while True:
            msg = await self._recv()
            if msg.get("id") == rid:
                if "error" in msg:
                    e = msg["error"]
                    raise ChainError(f"{method}: JSON-RPC error {e.get('code')}: {e.get('message')}")
                return msg.get("result")
            self._queued.append(msg)

    async def account_subscribe(self, pubkey: str) -> int:
        sub = await self._request("accountSubscribe", [pubkey, {"encoding": "base64", "commitment": self.commitment}])
        self.subscriptions[int(sub)] = f"account {pubkey}"
        return int(sub)

    async def logs_subscribe(self, mentions: str) -> int:
        """Logs of transactions that mention `mentions` (one address: the RPC accepts one)."""
        sub = await self._request("logsSubscribe", [{"mentions": [mentions]}, {"commitment": self.commitment}])
        self.subscriptions[int(sub)] = f"logs {mentions}"
        return int(sub)

    async def unsubscribe(self, sub: int) -> None:
        method = "accountUnsubscribe" if self.subscriptions.get(sub, "").startswith("account") else "logsUnsubscribe"
        if await self._request(method, [sub]) is not True:
            raise ChainError(f"{method} {sub}: not unsubscribed")
        self.subscriptions.pop(sub, None)

    async def updates(self, idle_s: float | None = None) -> AsyncIterator[AccountUpdate | LogsUpdate]:
        """Notifications in arrival order; with `idle_s`, stops after that long without one."""
        while True:
            if self._queued:
                msg = self._queued.pop(0)
            else:
                try:
                    raw = await asyncio.wait_for(self.ws.recv(), idle_s) if idle_s else await self.ws.recv()
                except TimeoutError:
                    return
                msg = json.loads(raw)
            update = parse_notification(msg)
            if update is not None:
                yield update


def parse_notification(msg: dict) -> AccountUpdate | LogsUpdate | None:
    """An update from a notification message; None for anything else (late answers, other methods)."""
    method, p = msg.get("method"), msg.get("params") or {}
    if method not in ("accountNotification", "logsNotification"):
        return None
    try:
        res, sub = p["result"], int(p["subscription"])
        slot, v = int(res["context"]["slot"]), res["value"]
        if method == "accountNotification":
            data, enc = v["data"]
            if enc != "base64":
                raise ValueError(f"encoding {enc}")
            return AccountUpdate(sub, slot, int(v["lamports"]), v["owner"], base64.b64decode(data))
        return LogsUpdate(sub, slot, v["signature"], v.get("err"), list(v.get("logs") or []))
    except (KeyError, TypeError, ValueError) as err:
        raise ChainError(f"{method}: malformed notification ({type(err).__name__}: {err})") from err
