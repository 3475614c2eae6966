"""The recorded Solana mainnet responses in shared/realdata, loaded for the tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from solders.pubkey import Pubkey

from quant.chains.solana.layout import OFFSETS

SOL_USDC_POOL = "58oQChx4yWmvKdwLLZzBi4ChoCc2fqCUWBkwMihLYQo2"
MSOL_USDC_TX = "2BppD7ZqzcCpJ4WbvSbm6AAH7ZS1dZxAgjwNWWCPxuk7ahxSwdRHVBKRLjtb4uQYJR1BfNxcehW6qcYTGKki1TgP"
MEME_TX = "GCeRpjvfNXZB6BJFQChjpKycdKpRwQGS1BSwUvLjVpJj6NgdzzQACAWt89ZEfEXjeRSqzhDX8CHtzpMUnfJ7VMJ"


def tx_dir(realdata: Path, sig: str) -> Path:
    return realdata / "solana" / "getTransaction" / sig


def tx_response(realdata: Path, sig: str) -> dict:
    return json.loads((tx_dir(realdata, sig) / f"tx-{sig}.json").read_text())


def account_response(realdata: Path, sig: str, pubkey: str) -> dict:
    """A recorded getAccountInfo envelope, parsed with Python's float for the u64::MAX rentEpoch."""
    return json.loads((tx_dir(realdata, sig) / f"account-{pubkey}.json").read_text())


def sol_usdc_account(realdata: Path) -> tuple[bytes, dict]:
    """The recorded SOL-USDC AmmInfo bytes and the repository's JSON wrapper."""
    j = json.loads((realdata / "solana" / "raydium_amm_v4_sol_usdc_pool_slot433179580.json").read_text())
    return base64.b64decode(j["data"]), j


def as_rpc_account(data: bytes, owner: str, lamports: int = 1) -> dict:
    """An account as getMultipleAccounts/getProgramAccounts send it (rentEpoch as real nodes send it)."""
    return {"data": [base64.b64encode(data).decode(), "base64"], "executable": False, "lamports": lamports,
            "owner": owner, "rentEpoch": 18446744073709552000, "space": len(data)}


def with_keys(data: bytes, **keys: str) -> bytes:
    """AmmInfo bytes with some pubkey fields replaced (to point a real pool state at recorded vaults)."""
    out = bytearray(data)
    for name, key in keys.items():
        out[OFFSETS[name]:OFFSETS[name] + 32] = bytes(Pubkey.from_string(key))
    return bytes(out)
