"""Every environment variable the project reads, parsed here and only here into typed, frozen settings.

Each `from_env(env=None)` reads the process environment (or the mapping a test passes) when it is called,
never at import. Secrets are kept out of every repr. Bad values raise ValueError naming the variable and value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from quant.simulator.config import PRESETS, WorldConfig, world_config

SOURCES = ("simulated", "evm", "solana")
SCANNER_PREFIX = "RISK_"  # RISK_<FIELD> overrides a threshold of quant.wallets.scanner.config.ScannerConfig
# The signing-key variables (quant.chains.keys loads keys from them and names them in its errors).
KEY_VARIABLES = ("EVM_PRIVATE_KEY", "EVM_KEYFILE", "EVM_KEYFILE_PASSWORD", "FLASHBOTS_SIGNER_KEY",
                 "SOLANA_PRIVATE_KEY", "SOLANA_KEYPAIR_PATH")


def _environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """The one place that touches the process environment."""
    return os.environ if env is None else env


def _int(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _json(name: str, value: str) -> dict:
    try:
        return json.loads(value)
    except ValueError:
        raise ValueError(f"{name} must be a JSON object, got {value!r}") from None


@dataclass(frozen=True)
class Settings:
    """The world and its data: QUANT_DATA_DIR, QUANT_WORLD, QUANT_SEED, QUANT_START, QUANT_DAYS, QUANT_SOURCE."""

    data_dir: Path
    world: str
    seed: int
    start: str | None
    days: int | None
    source: str = "simulated"

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        """QUANT_DATA_DIR (default ./.data), QUANT_WORLD (small|default|large), QUANT_SEED, QUANT_START,
        QUANT_DAYS, QUANT_SOURCE (simulated|evm|solana)."""
        env = _environ(env)
        world = env.get("QUANT_WORLD", "default")
        if world not in PRESETS:
            raise ValueError(f"QUANT_WORLD must be one of {sorted(PRESETS)}, got {world!r}")
        source = env.get("QUANT_SOURCE", "simulated")
        if source not in SOURCES:
            raise ValueError(f"QUANT_SOURCE must be simulated, evm or solana, got {source!r}")
        return Settings(data_dir=data_dir(env), world=world, seed=_int("QUANT_SEED", env.get("QUANT_SEED") or "7"),
                        start=env.get("QUANT_START") or None, days=_int("QUANT_DAYS", env.get("QUANT_DAYS")),
                        source=source)

    def world_config(self) -> WorldConfig:
        return world_config(self.world, self.seed, self.start, self.days)


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """QUANT_DATA_DIR (default ./.data), resolved: for readers that need no world (the live runtime's config)."""
    return Path(_environ(env).get("QUANT_DATA_DIR", ".data")).resolve()


@dataclass(frozen=True)
class ServiceSettings:
    """The Dagster profile and its services: QUANT_ENV, QUANT_AUTOMATION, QUANT_WAREHOUSE_DIR, QUANT_EMBEDDER,
    QUANT_EMBED_DEVICE, QUANT_CHROMA_PREFIX, CHROMA_HOST, CHROMA_PORT."""

    profile: str = "LOCAL"  # upper-cased; orchestration.environment checks it against its profiles
    automation: str | None = None  # "on" / "off": schedules and sensors running from the start (None: the profile's)
    warehouse_dir: str | None = None
    embedder: str = "minilm"
    embed_device: str | None = None
    chroma_prefix: str = ""
    chroma_host: str | None = None
    chroma_port: int | None = None  # None: unset (Chroma's 8000)

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> ServiceSettings:
        env = _environ(env)
        automation = env.get("QUANT_AUTOMATION") or None
        if automation is not None and automation.lower() not in ("on", "off"):
            raise ValueError(f"QUANT_AUTOMATION must be 'on' or 'off', got {automation!r}")
        return ServiceSettings(profile=env.get("QUANT_ENV", "LOCAL").upper(),
                               automation=automation.lower() if automation else None,
                               warehouse_dir=env.get("QUANT_WAREHOUSE_DIR") or None,
                               embedder=env.get("QUANT_EMBEDDER", "minilm"),
                               embed_device=env.get("QUANT_EMBED_DEVICE") or None,
                               chroma_prefix=env.get("QUANT_CHROMA_PREFIX", ""),
                               chroma_host=env.get("CHROMA_HOST") or None,
                               chroma_port=_int("CHROMA_PORT", env.get("CHROMA_PORT")))


@dataclass(frozen=True)
class ChainSettings:
    """A real chain's endpoints and pools (docs/chain_sources.md) and live execution's variables. URLs that
    carry a provider's key, the aggregator key and the signing-key variables stay out of the repr."""

    evm_rpc_url: str | None = field(default=None, repr=False)
    evm_ws_url: str | None = field(default=None, repr=False)
    evm_factory: str | None = None
    evm_quote_tokens: dict = field(default_factory=dict)
    evm_usd_pairs: dict = field(default_factory=dict)
    evm_first_block: int = 0
    evm_confirmations: int = 12  # blocks below the head before the market source reads one (reorgs above it)
    evm_timeout_s: float = 10.0  # one RPC request's limit
    solana_rpc_url: str | None = field(default=None, repr=False)
    solana_ws_url: str | None = field(default=None, repr=False)
    solana_pools: tuple[str, ...] = ()
    zerox_api_key: str | None = field(default=None, repr=False)
    live: bool = False  # QUANT_LIVE is exactly "1"
    evm_router: str | None = None
    evm_chain_id: int | None = None
    evm_max_fee_gwei: float = 100.0
    evm_receipt_timeout_s: float = 120.0
    keys: Mapping[str, str] = field(default_factory=dict, repr=False)  # the KEY_VARIABLES that are set

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> ChainSettings:
        env = _environ(env)
        return ChainSettings(
            evm_rpc_url=env.get("EVM_RPC_URL") or None, evm_ws_url=env.get("EVM_WS_URL") or None,
            evm_factory=env.get("EVM_FACTORY") or None,
            evm_quote_tokens=_json("EVM_QUOTE_TOKENS", env.get("EVM_QUOTE_TOKENS", "{}")),
            evm_usd_pairs=_json("EVM_USD_PAIRS", env.get("EVM_USD_PAIRS", "{}")),
            evm_first_block=_int("EVM_FIRST_BLOCK", env.get("EVM_FIRST_BLOCK", "0")),
            evm_confirmations=_int("EVM_CONFIRMATIONS", env.get("EVM_CONFIRMATIONS", "12")),
            evm_timeout_s=_float("EVM_RPC_TIMEOUT_S", env.get("EVM_RPC_TIMEOUT_S", "10")),
            solana_rpc_url=env.get("SOLANA_RPC_URL") or None, solana_ws_url=env.get("SOLANA_WS_URL") or None,
            solana_pools=tuple(p for p in env.get("SOLANA_POOLS", "").split(",") if p),
            zerox_api_key=env.get("ZEROX_API_KEY") or None,
            live=env.get("QUANT_LIVE", "") == "1",
            evm_router=env.get("EVM_ROUTER") or None,
            evm_chain_id=_int("EVM_CHAIN_ID", env.get("EVM_CHAIN_ID")),
            evm_max_fee_gwei=_float("EVM_MAX_FEE_GWEI", env.get("EVM_MAX_FEE_GWEI", "100")),
            evm_receipt_timeout_s=_float("EVM_RECEIPT_TIMEOUT_S", env.get("EVM_RECEIPT_TIMEOUT_S", "120")),
            keys={name: env[name] for name in KEY_VARIABLES if env.get(name)},
        )


@dataclass(frozen=True)
class LiveSettings:
    """The live runtime's API and kernel build: LIVE_API_TOKEN, DAGSTER_GRAPHQL_URL, CC."""

    api_token: str | None = field(default=None, repr=False)
    graphql_url: str = "http://127.0.0.1:3000/graphql"
    cc: str = "gcc"

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> LiveSettings:
        env = _environ(env)
        return LiveSettings(api_token=env.get("LIVE_API_TOKEN") or None,
                            graphql_url=env.get("DAGSTER_GRAPHQL_URL", "http://127.0.0.1:3000/graphql"),
                            cc=env.get("CC", "gcc"))


def scanner_overrides(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The RISK_<FIELD> variables that are set (ScannerConfig casts and checks them)."""
    return {k: v for k, v in _environ(env).items() if k.startswith(SCANNER_PREFIX)}
