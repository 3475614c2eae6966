"""eth_getLogs over a block span in ranges that halve when the node refuses one and grow back after."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from quant.chains.errors import ChainError, RangeTooLarge
from quant.chains.evm.rpc import EvmRpc


@dataclass
class LogScanner:
    rpc: EvmRpc
    max_range: int = 2000
    min_range: int = 1
    grow_after: int = 3  # successes in a row before the range doubles again
    ranges: list[tuple[int, int]] | None = None  # every range asked, for inspection

    def scan(self, from_block: int, to_block: int, address: list[str] | str | None,
             topics: list) -> Iterator[dict]:
        """Logs in [from_block, to_block], in order."""
        step, ok, lo = self.max_range, 0, from_block
        self.ranges = [] if self.ranges is None else self.ranges
        while lo <= to_block:
            hi = min(lo + step - 1, to_block)
            params = {"fromBlock": lo, "toBlock": hi, "topics": topics}
            if address is not None:
                params["address"] = address
            try:
                self.ranges.append((lo, hi))
                logs = self.rpc.call(lambda p=params: self.rpc.w3.eth.get_logs(p), f"eth_getLogs {lo}-{hi}")
            except RangeTooLarge as err:
                if hi - lo + 1 <= self.min_range:
                    raise ChainError(f"eth_getLogs refused {lo}-{hi}, cannot split further: {err}") from err
                step, ok = max((hi - lo + 1) // 2, self.min_range), 0
                continue
            # A log the node marks `removed` was undone by a reorg: it never happened on the chain kept.
            kept = [x for x in logs if not x.get("removed", False)]
            yield from sorted(kept, key=lambda x: (x["blockNumber"], x["logIndex"]))
            lo, ok = hi + 1, ok + 1
            if ok >= self.grow_after and step < self.max_range:
                step, ok = min(step * 2, self.max_range), 0
