"""The `ray_log: <base64>` program-log line that Raydium AMM v4 writes on every swap (`program/src/log.rs`)."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

from quant.chains.errors import ChainError

SWAP_BASE_IN, SWAP_BASE_OUT = 3, 4
PC_TO_COIN, COIN_TO_PC = 1, 2
PREFIX = "Program log: ray_log: "


@dataclass(frozen=True)
class SwapLog:
    """A decoded swap log. For SwapBaseIn `amount_in` is exact and `amount_out` is out_amount; for
    SwapBaseOut `amount_out` is exact and `amount_in` the deducted input. `pool_coin`/`pool_pc` are the
    vault balances before the swap."""

    log_type: int
    amount_in: int
    amount_out: int
    limit: int  # minimum_out (base in) or max_in (base out)
    direction: int
    user_source: int
    pool_coin: int
    pool_pc: int

    @property
    def coin_to_pc(self) -> bool:
        return self.direction == COIN_TO_PC


def decode_ray_log(b64: str) -> SwapLog | None:
    """A swap log from its base64 payload; None for the other log types (init, deposit, withdraw)."""
    raw = base64.b64decode(b64)
    if not raw or raw[0] not in (SWAP_BASE_IN, SWAP_BASE_OUT):
        return None
    if len(raw) != 57:
        raise ChainError(f"ray_log swap payload must be 57 bytes, got {len(raw)}")
    kind, a, b, direction, user_source, coin, pc, c = struct.unpack("<B7Q", raw)
    if direction not in (PC_TO_COIN, COIN_TO_PC):
        raise ChainError(f"ray_log direction must be 1 or 2, got {direction}")
    if kind == SWAP_BASE_IN:  # amount_in, minimum_out, ..., out_amount
        return SwapLog(kind, a, c, b, direction, user_source, coin, pc)
    return SwapLog(kind, c, b, a, direction, user_source, coin, pc)  # max_in, amount_out, ..., deduct_in


def ray_logs(log_messages: list[str], program: str) -> list[SwapLog]:
    """Swap logs written inside `program`'s frames, in execution order (a CPI'd router's logs are skipped)."""
    stack: list[str] = []
    out = []
    for line in log_messages:
        parts = line.split(" ")
        if len(parts) >= 3 and parts[0] == "Program" and parts[2] == "invoke":
            stack.append(parts[1])
        elif len(parts) >= 3 and parts[0] == "Program" and parts[2] in ("success", "failed:"):
            if stack:
                stack.pop()
        elif line.startswith(PREFIX) and stack and stack[-1] == program:
            log = decode_ray_log(line[len(PREFIX):])
            if log is not None:
                out.append(log)
    return out
