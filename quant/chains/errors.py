"""Errors of the chain clients: retryable ones (rate limits, timeouts, overloaded nodes) and the rest."""

from __future__ import annotations


class ChainError(Exception):
    """A chain answered something we cannot use: the message says what and where."""


class RetryableError(ChainError):
    """Worth another try after a pause: HTTP 429/5xx, timeouts, a node that is behind or busy."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RangeTooLarge(ChainError):
    """The node refused an eth_getLogs block range (too many results or too wide): split it."""


class BadAccount(ChainError):
    """Account data that is not what we asked for: wrong owner, wrong size, not decodable."""


class RetriesExhausted(ChainError):
    """Every attempt failed with a retryable error (the last one is the cause), or the server asked to wait
    longer than a call may block (`retry_after`, seconds)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ExecutionRefused(ChainError):
    """An execution adapter would not sign or send: live mode off, no key, a cap exceeded, a bad quote."""


class SimulationFailed(ExecutionRefused):
    """The dry run (eth_estimateGas, eth_callBundle, simulateTransaction) failed, so nothing was sent."""
