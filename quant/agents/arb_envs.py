"""Arbitrage environments: hedged round trips that open and close within one step, in USD.

CEX-DEX: buy the token in the pool and sell it on the CEX at its reference price (or the reverse), paying
the pool's fee and impact (quant.market.amm at the reserves of the next snapshot) and a CEX taker fee.
Flash loan: the same round trip sized by the agent with borrowed capital, which costs a loan fee; the
second leg settles at the CEX reference price less the taker fee (a stand-in for a second on-chain venue:
the simulated world has one pool per token per chain).
Cross-chain: buy the token in its pool on one chain and sell it in its pool on the other, converting quote
assets at CEX prices (taker fee on each conversion) and paying a bridge fee on the tokens moved.

The reward is the step's PnL in units of the base notional. Nothing is held between steps, so equity is the
running sum of PnL. The flash-loan and cross-chain agents see the CEX-DEX agent's proposal for each pool
(`PoolPath.extra["cexdex"]`, computed beforehand by quant.agents.proposals).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from quant.agents.entry import CLIP
from quant.agents.market import PoolPath, raw
from quant.market.amm import amount_out


@dataclass(frozen=True)
class ArbConfig:
    notional_usd: float = 1_000.0
    cex_fee: float = 0.001  # taker fee per CEX conversion
    loan_fee: float = 0.0009  # flash-loan fee on the borrowed amount (Aave v3's 0.09%)
    bridge_fee: float = 0.001  # share of the tokens a bridge keeps
    max_steps: int = 240  # snapshots per episode


def dex_buy_usd(path: PoolPath, t: int, usd: float, quote_usd: float, token_usd: float, cex_fee: float) -> float:
    """PnL in USD of spending `usd` of quote on the pool at t and selling the tokens on the CEX."""
    got = amount_out(path.venue, raw(usd / quote_usd, path.quote_decimals), path.quote_raw[t], path.base_raw[t])
    return got / 10**path.base_decimals * token_usd * (1 - cex_fee) - usd


def dex_sell_usd(path: PoolPath, t: int, usd: float, quote_usd: float, token_usd: float, cex_fee: float) -> float:
    """PnL in USD of buying `usd` of tokens on the CEX and selling them into the pool at t."""
    tokens = raw(usd / token_usd * (1 - cex_fee), path.base_decimals)
    got = amount_out(path.venue, tokens, path.base_raw[t], path.quote_raw[t])
    return got / 10**path.quote_decimals * quote_usd - usd


class ArbEnv(gym.Env, ABC):
    """Base: episodes are `max_steps` chunks of the paths (a random chunk, or all in order when
    `sequential`); subclasses define the observation and the PnL of an action at a step."""

    metadata = {"render_modes": []}
    observation_names: tuple[str, ...] = ()

    def __init__(self, paths: list, cfg: ArbConfig = ArbConfig(), sequential: bool = False):
        self.cfg, self.sequential = cfg, sequential
        self.chunks = [(i, s, min(s + cfg.max_steps, len(p) - 1)) for i, p in enumerate(paths)
                       for s in range(0, len(p) - 1, cfg.max_steps)]
        if not self.chunks:
            raise ValueError(f"{type(self).__name__}: no path with two or more snapshots")
        self.paths = paths
        self.observation_space = spaces.Box(-CLIP, CLIP, (len(self.observation_names),), np.float32)
        self.action_space = spaces.Discrete(self.n_actions())

    def n_actions(self) -> int:
        return 3

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.queue = self.chunks if self.sequential else [self.chunks[int(self.np_random.integers(len(self.chunks)))]]
        self.k, self.pnl, self.trades = 0, 0.0, 0
        self._start()
        return self.observe(), {}

    def _start(self) -> None:
        i, self.t, self.end = self.queue[self.k]
        self.path = self.paths[i]

    def step(self, action):
        pnl = self.action_pnl(int(action), self.t + 1) if action else 0.0
        self.trades += int(action != 0)
        self.pnl += pnl
        self.t += 1
        terminated = False
        if self.t >= self.end:
            self.k += 1
            terminated = self.k >= len(self.queue)
            if not terminated:
                self._start()
        return self.observe(), pnl / self.cfg.notional_usd, terminated, False, {"equity": self.pnl,
                                                                                 "trades": self.trades}

    @abstractmethod
    def observe(self) -> np.ndarray: ...

    @abstractmethod
    def action_pnl(self, action: int, t: int) -> float: ...

    def baselines(self) -> dict:
        return {"no_trade": lambda env: 0, "rule_based": type(self).rule_action}

    def rule_action(self) -> int:
        """The action with the best PnL at the reserves and prices just seen, if positive: the textbook
        arbitrageur, who cannot see the next snapshot either."""
        pnl = [self.action_pnl(a, self.t) for a in range(1, self.action_space.n)]
        best = int(np.argmax(pnl))
        return best + 1 if pnl[best] > 0 else 0


def cex_gap(p: PoolPath, t: int) -> float:
    """log of the pool's USD price over the CEX's."""
    return float(np.log(p.mid(t) * p.extra["quote_usd"][t] / p.extra["token_usd"][t]))


def cex_dex_observation(p: PoolPath, t: int, cfg: ArbConfig) -> np.ndarray:
    """The CEX-DEX agent's view of pool `p` at snapshot t: the gap now and one snapshot ago (in %), the pool
    fee (in %) and the log10 of its quote depth in notionals."""
    depth = np.log10(p.quote_raw[t] / 10**p.quote_decimals * p.extra["quote_usd"][t] / cfg.notional_usd)
    obs = [100 * cex_gap(p, t), 100 * cex_gap(p, max(t - 1, 0)), 100 * p.venue.fee_fraction, depth]
    return np.clip(np.nan_to_num(obs, nan=0.0), -CLIP, CLIP).astype(np.float32)


class CexDexArbEnv(ArbEnv):
    """One pool of a CEX-listed token against the CEX reference price."""

    observation_names = ("gap", "gap_prev", "pool_fee", "depth")
    sizes: tuple[float, ...] = (1.0,)
    loan_fee = 0.0

    def n_actions(self) -> int:
        return 1 + 2 * len(self.sizes)

    def observe(self) -> np.ndarray:
        return cex_dex_observation(self.path, self.t, self.cfg)

    def action_pnl(self, action: int, t: int) -> float:
        """Actions 1..K buy in the pool with size k, K+1..2K sell into it; minus the loan fee."""
        k = (action - 1) % len(self.sizes)
        usd = self.cfg.notional_usd * self.sizes[k]
        leg = dex_buy_usd if action <= len(self.sizes) else dex_sell_usd
        p = self.path
        return leg(p, t, usd, p.extra["quote_usd"][t], p.extra["token_usd"][t], self.cfg.cex_fee) - self.loan_fee * usd


class FlashLoanArbEnv(CexDexArbEnv):
    """The round trip with borrowed capital: the agent picks direction and size (multiples of the notional);
    it also sees the CEX-DEX agent's proposal for the pool."""

    observation_names = (*CexDexArbEnv.observation_names, "cexdex_proposes_buy", "cexdex_proposes_sell")
    sizes = (1.0, 2.0, 4.0, 8.0, 16.0)

    def observe(self) -> np.ndarray:
        proposal = self.path.extra["cexdex"][self.t]
        return np.r_[cex_dex_observation(self.path, self.t, self.cfg), proposal == 1, proposal == 2].astype(np.float32)

    @property
    def loan_fee(self) -> float:
        return self.cfg.loan_fee


@dataclass
class PairPath:
    """The Solana and EVM pools of one token over their common snapshots."""

    symbol: str
    solana: PoolPath
    evm: PoolPath

    def __len__(self) -> int:
        return len(self.solana)


class CrossChainArbEnv(ArbEnv):
    """A token pooled on both chains: buy where it is cheaper in USD, bridge, sell on the other side."""

    observation_names = ("gap", "gap_prev", "fees", "depth", "solana_cexdex_buy", "solana_cexdex_sell",
                         "evm_cexdex_buy", "evm_cexdex_sell")

    def usd_price(self, p: PoolPath, t: int) -> float:
        return p.mid(t) * p.extra["quote_usd"][t]

    def gap(self, t: int) -> float:
        """log of the Solana pool's USD price over the EVM pool's."""
        return float(np.log(self.usd_price(self.path.solana, t) / self.usd_price(self.path.evm, t)))

    def observe(self) -> np.ndarray:
        s, e, t = self.path.solana, self.path.evm, self.t
        depth = min(s.quote_raw[t] / 10**s.quote_decimals * s.extra["quote_usd"][t],
                    e.quote_raw[t] / 10**e.quote_decimals * e.extra["quote_usd"][t])
        obs = [100 * self.gap(t), 100 * self.gap(max(t - 1, 0)), 100 * (s.venue.fee_fraction + e.venue.fee_fraction),
               np.log10(depth / self.cfg.notional_usd)]
        obs += [leg.extra["cexdex"][t] == a for leg in (s, e) for a in (1, 2)]  # the CEX-DEX agent, per pool
        return np.clip(np.nan_to_num(obs, nan=0.0), -CLIP, CLIP).astype(np.float32)

    def action_pnl(self, action: int, t: int) -> float:
        """1 buys on Solana and sells on EVM, 2 the reverse."""
        src, dst = (self.path.solana, self.path.evm) if action == 1 else (self.path.evm, self.path.solana)
        fee, usd = self.cfg.cex_fee, self.cfg.notional_usd
        quote_in = raw(usd * (1 - fee) / src.extra["quote_usd"][t], src.quote_decimals)
        got = amount_out(src.venue, quote_in, src.quote_raw[t], src.base_raw[t])
        tokens = raw(got / 10**src.base_decimals * (1 - self.cfg.bridge_fee), dst.base_decimals)
        back = amount_out(dst.venue, tokens, dst.base_raw[t], dst.quote_raw[t])
        return back / 10**dst.quote_decimals * dst.extra["quote_usd"][t] * (1 - fee) - usd


def buy_and_hold_usd(env: ArbEnv) -> dict:
    """Buy the notional's worth of the token in the pool at each chunk's start, sell it on the CEX at the
    chunk's end: the directional bet an arbitrageur avoids, for reference."""
    pnl, curve = 0.0, []
    for i, s, e in env.chunks:
        p = env.paths[i]
        if isinstance(p, PairPath):
            p = p.solana
        got = amount_out(p.venue, raw(env.cfg.notional_usd / p.extra["quote_usd"][s], p.quote_decimals),
                         p.quote_raw[s], p.base_raw[s])
        pnl += got / 10**p.base_decimals * p.extra["token_usd"][e] * (1 - env.cfg.cex_fee) - env.cfg.notional_usd
        curve.append(pnl)
    return {"net_pnl": pnl, "trades": 2 * len(env.chunks), "equity": curve}
