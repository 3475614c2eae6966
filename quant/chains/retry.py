"""Retries with exponential backoff and full jitter, and a token-bucket rate limiter (sync and async)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from quant.chains.errors import RetriesExhausted, RetryableError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """`attempts` tries in all; the pause before try n+1 is uniform in [0, min(cap, base * 2**n)]
    (full jitter, so many clients hitting one limit spread out), or the server's Retry-After when longer.
    A Retry-After beyond `max_wait_s` is not slept through inside one call: the call gives up at once with
    the server's figure (`RetriesExhausted.retry_after`), for its caller to back off that long."""

    attempts: int = 5
    base_s: float = 0.25
    cap_s: float = 8.0
    max_wait_s: float = 30.0

    def pause(self, attempt: int, err: RetryableError, rng: random.Random = random._inst) -> float:
        jittered = rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(jittered, err.retry_after or 0.0)

    def gives_up(self, attempt: int, err: RetryableError) -> bool:
        return attempt == self.attempts - 1 or (err.retry_after or 0.0) > self.max_wait_s


def _exhausted(what: str, backoff: Backoff, attempt: int, err: RetryableError) -> RetriesExhausted:
    if (err.retry_after or 0.0) > backoff.max_wait_s:
        return RetriesExhausted(f"{what}: the server asks to wait {err.retry_after:.0f} s (over "
                                f"{backoff.max_wait_s:g} s), after {attempt + 1} attempts: {err}", err.retry_after)
    return RetriesExhausted(f"{what}: {backoff.attempts} attempts failed, last: {err}")


def retry(fn: Callable[[], T], backoff: Backoff, what: str) -> T:
    """Call `fn` until it returns, retrying only `RetryableError`s."""
    for attempt in range(backoff.attempts):
        try:
            return fn()
        except RetryableError as err:
            if backoff.gives_up(attempt, err):
                raise _exhausted(what, backoff, attempt, err) from err
            time.sleep(backoff.pause(attempt, err))
    raise AssertionError("unreachable")


async def aretry(fn: Callable[[], Awaitable[T]], backoff: Backoff, what: str) -> T:
    """Async `retry`."""
    for attempt in range(backoff.attempts):
        try:
            return await fn()
        except RetryableError as err:
            if backoff.gives_up(attempt, err):
                raise _exhausted(what, backoff, attempt, err) from err
            await asyncio.sleep(backoff.pause(attempt, err))
    raise AssertionError("unreachable")


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds, from either of its forms (delta-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


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
