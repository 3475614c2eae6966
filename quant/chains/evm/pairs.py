"""Uniswap-V2-style pairs on an EVM chain: discovery from PairCreated, token metadata, Sync/Swap events."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_abi import decode
from web3 import Web3

from quant.chains.errors import ChainError
from quant.chains.evm.abi import ERC20, PAIR, PAIR_CREATED, SWAP, SYNC
from quant.chains.evm.logs import LogScanner
from quant.chains.evm.rpc import EvmRpc


@dataclass(frozen=True)
class PairInfo:
    pair: str
    token0: str
    token1: str
    created_block: int


@dataclass(frozen=True)
class PairEvent:
    """A Sync (reserves after) or a Swap (amounts in and out) of one pair, in chain order."""

    kind: str  # "sync" | "swap"
    pair: str
    block: int
    log_index: int
    tx_hash: str
    values: tuple[int, ...]  # sync: (reserve0, reserve1); swap: (a0in, a1in, a0out, a1out)


def _addr(word: bytes | str) -> str:
    raw = bytes(word) if not isinstance(word, str) else bytes.fromhex(word[2:] if word.startswith("0x") else word)
    return Web3.to_checksum_address(raw[-20:])


def _hex(v) -> str:
    return v if isinstance(v, str) else "0x" + bytes(v).hex()


def decode_pair_event(log: dict) -> PairEvent | None:
    """A Sync or Swap log as a `PairEvent`; None for any other topic. Malformed data is an error."""
    t0 = _hex(log["topics"][0]) if log["topics"] else ""
    data = bytes.fromhex(_hex(log["data"])[2:])
    where = f"log {_hex(log['transactionHash'])}:{log['logIndex']}"
    common = dict(pair=Web3.to_checksum_address(log["address"]), block=int(log["blockNumber"]),
                  log_index=int(log["logIndex"]), tx_hash=_hex(log["transactionHash"]))
    if t0 == SYNC:
        if len(data) != 64:
            raise ChainError(f"{where}: Sync data must be 64 bytes, got {len(data)}")
        return PairEvent("sync", values=decode(["uint112", "uint112"], data), **common)
    if t0 == SWAP:
        if len(data) != 128:
            raise ChainError(f"{where}: Swap data must be 128 bytes, got {len(data)}")
        return PairEvent("swap", values=decode(["uint256"] * 4, data), **common)
    return None


@dataclass
class PairRegistry:
    """Pairs created by one factory, and the tokens' decimals and symbols, fetched once."""

    rpc: EvmRpc
    factory: str
    first_block: int = 0
    max_range: int = 2000
    pairs: dict[str, PairInfo] = field(default_factory=dict)
    scanned_to: int = -1
    tokens: dict[str, tuple[int, str]] = field(default_factory=dict)

    def discover(self, to_block: int) -> dict[str, PairInfo]:
        """Every PairCreated of the factory up to `to_block` (incremental across calls)."""
        lo = max(self.first_block, self.scanned_to + 1)
        if lo <= to_block:
            scanner = LogScanner(self.rpc, self.max_range)
            for log in scanner.scan(lo, to_block, Web3.to_checksum_address(self.factory), [PAIR_CREATED]):
                pair, _n = decode(["address", "uint256"], bytes.fromhex(_hex(log["data"])[2:]))
                info = PairInfo(Web3.to_checksum_address(pair), _addr(log["topics"][1]), _addr(log["topics"][2]),
                                int(log["blockNumber"]))
                self.pairs[info.pair] = info
            self.scanned_to = to_block
        return self.pairs

    def events(self, pairs: list[str], from_block: int, to_block: int) -> list[PairEvent]:
        """Sync and Swap events of `pairs` in the block span (only the factory's pairs: logs from other
        contracts with the same topics are never read)."""
        out: list[PairEvent] = []
        scanner = LogScanner(self.rpc, self.max_range)
        for i in range(0, len(pairs), 500):  # nodes cap the address list of one filter
            for log in scanner.scan(from_block, to_block, pairs[i:i + 500], [[SYNC, SWAP]]):
                ev = decode_pair_event(log)
                if ev is not None:
                    out.append(ev)
        return sorted(out, key=lambda e: (e.block, e.log_index))

    def reserves_at(self, pair: str, block: int) -> tuple[int, int]:
        c = self.rpc.w3.eth.contract(address=pair, abi=PAIR)
        r0, r1, _ = self.rpc.call(lambda: c.functions.getReserves().call(block_identifier=block), f"getReserves {pair}")
        return r0, r1

    def token(self, address: str) -> tuple[int, str]:
        """(decimals, symbol) of an ERC-20, asked once per token."""
        if address in self.tokens:
            return self.tokens[address]
        c = self.rpc.w3.eth.contract(address=address, abi=ERC20)
        decimals = self.rpc.call(lambda: c.functions.decimals().call(), f"decimals {address}")
        try:
            symbol = self.rpc.call(lambda: c.functions.symbol().call(), f"symbol {address}")
        except Exception:  # noqa: BLE001 - some tokens (MKR) return bytes32 or nothing: the symbol is cosmetic
            symbol = address[:8]
        self.tokens[address] = (int(decimals), str(symbol))
        return self.tokens[address]
