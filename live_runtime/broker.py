"""The paper broker: fills through the constant-product pool at the reserves of that moment (quant.market.amm's exact
integer math, with the venue's fee and the trade's own price impact), cash, positions, PnL and equity.

Paper fills never move the simulated pool: the order is hypothetical, so the market the runtime sees next is
the one that happened. Equity marks each position at what selling it now would fetch (fee and impact
included), not at the mid price: an honest, slightly pessimistic mark.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from quant.market.amm import RAYDIUM_V4, UNISWAP_V2, amount_out, price_impact


class OrderFailed(Exception):
    """An order that was not filled (refused before sending, reverted, or placed before and failed); the
    message says why. The book is unchanged."""


@dataclass
class PoolState:
    chain: str
    base_reserve: float
    quote_reserve: float
    base_decimals: int
    quote_decimals: int

    @property
    def venue(self):
        return RAYDIUM_V4 if self.chain == "solana" else UNISWAP_V2

    def raw(self) -> tuple[int, int]:
        return int(self.base_reserve * 10**self.base_decimals), int(self.quote_reserve * 10**self.quote_decimals)


@dataclass
class Fill:
    order_id: str  # the event that caused it and the side: one order per event, the same after a restart
    pool_id: str
    side: str  # "buy" spends quote for base, "sell" the reverse
    amount_in: float
    amount_out: float
    price_impact: float
    fee: float
    ts_us: int
    seq: int
    gas: float = 0.0  # quote currency paid for the transaction (live fills; paper fills pay none)
    tx_hash: str = ""  # the chain transaction (live fills)


@dataclass
class Position:
    pool_id: str
    base_amount: float
    cost: float  # quote spent, fee and gas included
    entry_ts_us: int
    entry_seq: int
    snapshots_held: int = 0


class PaperBroker:
    def __init__(self, starting_balance: float):
        self.cash = starting_balance
        self.starting_balance = starting_balance
        self.positions: dict[str, Position] = {}
        self.realised_pnl = 0.0

    def quote_buy(self, pool: PoolState, quote_in: float) -> tuple[float, float]:
        """Base received for `quote_in` and the price impact, at these reserves."""
        base_raw, quote_raw = pool.raw()
        raw_in = int(quote_in * 10**pool.quote_decimals)
        out = amount_out(pool.venue, raw_in, quote_raw, base_raw)
        return out / 10**pool.base_decimals, price_impact(pool.venue, raw_in, quote_raw, base_raw)

    def quote_sell(self, pool: PoolState, base_in: float) -> tuple[float, float]:
        base_raw, quote_raw = pool.raw()
        raw_in = int(base_in * 10**pool.base_decimals)
        if raw_in == 0:
            return 0.0, 0.0
        out = amount_out(pool.venue, raw_in, base_raw, quote_raw)
        return out / 10**pool.quote_decimals, price_impact(pool.venue, raw_in, base_raw, quote_raw)

    # An order's fill, at these reserves; the caller books it (`apply`), as it books every fill.
    def buy(self, pool_id: str, pool: PoolState, quote_in: float, ts_us: int, seq: int) -> Fill:
        if quote_in > self.cash + 1e-12:
            raise ValueError(f"order notional {quote_in} exceeds cash {self.cash}")
        base, impact = self.quote_buy(pool, quote_in)
        return Fill(f"o{seq}-buy", pool_id, "buy", quote_in, base, impact, quote_in * pool.venue.fee_fraction,
                    ts_us, seq)

    def sell_all(self, pool_id: str, pool: PoolState, ts_us: int, seq: int) -> Fill:
        pos = self.positions[pool_id]
        quote, impact = self.quote_sell(pool, pos.base_amount)
        return Fill(f"o{seq}-sell", pool_id, "sell", pos.base_amount, quote, impact,
                    quote * pool.venue.fee_fraction, ts_us, seq)

    # A paper order fills at once: nothing is ever in flight (live_runtime.execution's orders are).
    def in_flight(self, pool_id: str) -> bool:
        return False

    def open_count(self) -> int:
        return len(self.positions)

    def available_cash(self) -> float:
        return self.cash

    def poll(self, wait_s: float = 0.0) -> tuple[list[Fill], list[OrderFailed]]:
        return [], []

    def settle(self, booked: set[str]) -> list[Fill]:
        """Fills of orders placed before a restart that the journal does not hold: none on paper (a paper
        order never leaves the process; the replayed stream makes it again). See live_runtime.execution."""
        return []

    def apply(self, fill: Fill) -> float:
        """Book a fill (also how a restart rebuilds the book from the journal); returns the realised PnL."""
        self.cash -= fill.gas
        if fill.side == "buy":
            self.cash -= fill.amount_in
            self.positions[fill.pool_id] = Position(fill.pool_id, fill.amount_out, fill.amount_in + fill.gas,
                                                    fill.ts_us, fill.seq)
            return 0.0
        pos = self.positions.pop(fill.pool_id)
        self.cash += fill.amount_out
        pnl = fill.amount_out - fill.gas - pos.cost
        self.realised_pnl += pnl
        return pnl

    def position_value(self, pool_id: str, pool: PoolState) -> float:
        return self.quote_sell(pool, self.positions[pool_id].base_amount)[0]

    def equity(self, pools: dict[str, PoolState]) -> float:
        return self.cash + sum(self.position_value(p, pools[p]) for p in self.positions)

    def snapshot(self, pools: dict[str, PoolState]) -> dict:
        return {"cash": self.cash, "equity": self.equity(pools), "realised_pnl": self.realised_pnl,
                "positions": [{**asdict(p), "value": self.position_value(p.pool_id, pools[p.pool_id]),
                               "return": self.position_value(p.pool_id, pools[p.pool_id]) / p.cost - 1}
                              for p in self.positions.values()]}
