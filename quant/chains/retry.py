"""Retries with exponential backoff and full jitter, and a token-bucket rate limiter (sync and async)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from quant.chains.errors import RetriesExhausted, RetryableError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """`attempts` tries in all; the pause before try n+1 is uniform in [0, min(cap, base * 2**n)]
    (full jitter, so many clients hitting one limit spread out), or the server's Retry-After when longer."""

    attempts: int = 5
    base_s: float = 0.25
    cap_s: float = 8.0

    def pause(self, attempt: int, err: RetryableError, rng: random.Random = random._inst) -> float:
        jittered = rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(jittered, min(err.retry_after or 0.0, self.cap_s))


def retry(fn: Callable[[], T], backoff: Backoff, what: str) -> T:
    """Call `fn` until it returns, retrying only `RetryableError`s."""
    for attempt in range(backoff.attempts):
        try:
            return fn()
        except RetryableError as err:
            if attempt == backoff.attempts - 1:
                raise RetriesExhausted(f"{what}: {backoff.attempts} attempts failed, last: {err}") from err
            time.sleep(backoff.pause(attempt, err))
    raise AssertionError("unreachable")


async def aretry(fn: Callable[[], Awaitable[T]], backoff: Backoff, what: str) -> T:
    """Async `retry`."""
    for attempt in range(backoff.attempts):
        try:
            return await fn()
        except RetryableError as err:
            if attempt == backoff.attempts - 1:
                raise RetriesExhausted(f"{what}: {backoff.attempts} attempts failed, last: {err}") from err
            await asyncio.sleep(backoff.pause(attempt, err))
    raise AssertionError("unreachable")


class RateLimiter:
    """At most `rate` calls per second on average, bursts up to `burst`; `rate <= 0` disables it."""

    def __init__(self, rate: float, burst: int = 1):
        self.rate, self.burst = rate, max(burst, 1)
        self._tokens, self._at = float(self.burst), time.monotonic()
        self._lock = threading.Lock()

    def _take(self) -> float:
        """Take a token; return how long to wait before using it."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def wait(self) -> None:
        if self.rate > 0:
            time.sleep(self._take())

    async def await_(self) -> None:
        if self.rate > 0:
            await asyncio.sleep(self._take())
