"""Trading environments that replay Solana pool paths with one position at a time, in SOL.

Each step moves from snapshot t to t + 1: the trade chosen on t fills at t + 1's reserves (quant.market.amm, the
venue's fee and price impact), equity is cash plus the holding's liquidation value at t + 1, and the reward is
the change in equity over the step, in stakes. Equity counts a holding at what selling it would return, so
the fees and impact of a round trip show in the reward the moment a position opens. A path's end sells what
is held. An episode is `pools_per_episode` consecutive paths (equity carries across them), or every path in
order when `sequential` (evaluation).

Agents see each other's proposals through `PoolPath.extra`, computed beforehand for every snapshot by the
agents trained before them (quant.agents.proposals): `entry_flat` / `entry_held`, the entry agent's action
when out of / in a position, and `whale_flat`, the whale agent's action when out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from quant.agents.entry import CLIP, ENTER, EXIT, HOLD, OBSERVATION, entry_observation, squash
from quant.agents.market import Holding, PoolPath, buy, liquidation_value, raw
from quant.features import FEATURES

SOL = 9  # quote decimals of every Solana pool
AGE = FEATURES.index("pool_age_min")


@dataclass(frozen=True)
class TradingConfig:
    start_balance: float = 10.0  # SOL
    stake: float = 1.0  # SOL per entry (before the risk manager's scale)
    max_steps: int = 240  # snapshots of a pool an episode replays (its first four hours in the period)
    pools_per_episode: int = 1


class PoolTradingEnv(gym.Env, ABC):
    """Base: subclasses say what is observed (`observe`) and what an action trades (`intent`)."""

    metadata = {"render_modes": []}
    observation_names: tuple[str, ...] = ()
    n_actions = 3
    HOLD_STEPS = 10  # the rules' exit: the label horizon

    def __init__(self, paths: list[PoolPath], cfg: TradingConfig = TradingConfig(), sequential: bool = False):
        self.paths = [p for p in paths if len(p) >= 2]
        if not self.paths:
            raise ValueError(f"{type(self).__name__}: no pool path with two or more snapshots")
        self.cfg, self.sequential = cfg, sequential
        self.observation_space = spaces.Box(-CLIP, CLIP, (len(self.observation_names),), np.float32)
        self.action_space = spaces.Discrete(self.n_actions)
        self.stake_raw = raw(cfg.stake, SOL)

    # ---- episode mechanics --------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self.sequential:
            self.queue = self.paths
        else:
            start = int(self.np_random.integers(len(self.paths)))
            self.queue = [self.paths[(start + i) % len(self.paths)] for i in range(self.cfg.pools_per_episode)]
        self.k, self.cash, self.peak, self.trades = 0, raw(self.cfg.start_balance, SOL), 0, 0
        self._start_path()
        self.peak = self.equity()
        return self.observe(), {}

    def _start_path(self) -> None:
        self.path = self.queue[self.k]
        self.t, self.end = 0, min(len(self.path) - 1, self.cfg.max_steps)
        self.holding: Holding | None = None
        self.held_steps = 0

    def equity(self) -> int:
        """Raw SOL: cash plus what selling the holding at the current snapshot returns."""
        return self.cash + (liquidation_value(self.path, self.t, self.holding) if self.holding else 0)

    def step(self, action):
        before = self.equity()
        kind, scale = self.intent(int(action))
        t1 = self.t + 1
        if kind == ENTER and self.holding is None:
            amount = min(int(self.stake_raw * scale), self.cash)
            if amount > 0:
                self.holding = buy(self.path, t1, amount)
                self.cash -= amount
                self.trades += 1
        elif kind == EXIT and self.holding is not None:
            self.cash += liquidation_value(self.path, t1, self.holding)
            self.holding = None
            self.trades += 1
        self.t = t1
        self.held_steps = self.held_steps + 1 if self.holding else 0
        terminated = False
        if self.t >= self.end:  # the path ends: sell what is held, go to the next pool
            if self.holding is not None:
                self.cash += liquidation_value(self.path, self.t, self.holding)
                self.holding = None
            after = self.cash
            self.k += 1
            terminated = self.k >= len(self.queue)
            if not terminated:
                self._start_path()
        else:
            after = self.equity()
        self.peak = max(self.peak, after)
        info = {"equity": after / 10**SOL, "trades": self.trades}
        return self.observe(), (after - before) / self.stake_raw, terminated, False, info

    # ---- what subclasses define ---------------------------------------------------------------------------

    @abstractmethod
    def observe(self) -> np.ndarray: ...

    def intent(self, action: int) -> tuple[int, float]:
        """(ENTER / EXIT / HOLD, stake scale) for an action."""
        return action, 1.0

    def in_position(self) -> float:
        return 1.0 if self.holding is not None else 0.0

    def unrealised(self) -> float:
        if self.holding is None:
            return 0.0
        return liquidation_value(self.path, self.t, self.holding) / self.holding.quote_in - 1.0

    def _extra(self, name: str) -> float:
        return float(self.path.extra[name][self.t])

    def entry_proposal(self) -> int:
        """The entry agent's action for this snapshot, given whether this environment holds a position."""
        return int(self._extra("entry_held" if self.holding is not None else "entry_flat"))

    # ---- baselines, as policies over this environment --------------------------------------------------------

    def baselines(self) -> dict:
        return {"no_trade": lambda env: HOLD,
                "buy_and_hold": lambda env: ENTER if env.t == 0 else HOLD,
                "launch_flip": type(self).launch_flip_action,
                "rule_based": type(self).rule_action}

    def timed_exit(self) -> int:
        return EXIT if self.holding is not None and self.held_steps >= self.HOLD_STEPS else HOLD

    def launch_flip_action(self) -> int:
        """In at a pool's first snapshot (its path starts at the pool's opening: age under one snapshot's
        minute), out after the label horizon: the first thing a launch trader tries."""
        if self.holding is None:
            return ENTER if self.t == 0 and self.path.features[0, AGE] < 1.0 else HOLD
        return self.timed_exit()

    def random_entry_policy(self, rate: float, seed: int):
        """In at random snapshots, with probability `rate` per flat snapshot (the agent's own entry rate), out
        after the label horizon: what the agent's number of entries earns without its choices."""
        rng = np.random.default_rng(seed)

        def choose(env, _obs) -> int:
            if env.holding is None:
                return ENTER if rng.random() < rate else HOLD
            return env.timed_exit()
        return choose

    @abstractmethod
    def rule_action(self) -> int: ...


class EntryTimingEnv(PoolTradingEnv):
    """Entry/exit timing on new pools from their features and the moon, rug and opportunity scores."""

    observation_names = OBSERVATION

    def observe(self) -> np.ndarray:
        p = self.path
        t = self.t
        return entry_observation(p.features[t][None], p.extra["p_moon"][t:t + 1], p.extra["p_rug"][t:t + 1],
                                 p.extra["p_opportunity"][t:t + 1], np.array([self.in_position()]))[0]

    def rule_action(self) -> int:
        """The hand-written filter of quant.evaluation.baselines: in on the moon rule, out on the rug rule or
        after the label horizon."""
        if self.holding is None:
            return ENTER if self._extra("moon_rule") and not self._extra("rug_rule") else HOLD
        return EXIT if self._extra("rug_rule") or self.held_steps >= self.HOLD_STEPS else HOLD


WHALE_FEATURES = ("ret_1", "ret_3", "ret_10", "volatility_10", "reserve_ratio", "buy_sell_imbalance_10", "volume_spike")


class WhaleCopyEnv(PoolTradingEnv):
    """Copies (or not) buys by the scanner's TARGET wallets: sees their buys since the last snapshot."""

    observation_names = ("target_buys", "target_buy_share", "since_target_buy", *WHALE_FEATURES,
                         "in_position", "unrealised", "held_steps", "entry_proposes_enter", "entry_proposes_exit")
    feature_index = [FEATURES.index(f) for f in WHALE_FEATURES]

    def observe(self) -> np.ndarray:
        return whale_observation(self.path, self.t, self.in_position(), self.unrealised(), self.held_steps,
                                 self.entry_proposal())

    def rule_action(self) -> int:
        """In when a TARGET wallet bought since the last snapshot, out after the label horizon."""
        if self.holding is None:
            return ENTER if self._extra("target_buys") > 0 else HOLD
        return EXIT if self.held_steps >= EntryTimingEnv.HOLD_STEPS else HOLD


def whale_observation(p: PoolPath, t: int, in_position: float, unrealised: float, held_steps: int,
                      entry_proposal: int) -> np.ndarray:
    """The whale agent's view of snapshot t, given its own position and the entry agent's proposal."""
    since = p.extra["since_target_buy"][t]
    head = [np.log1p(p.extra["target_buys"][t]), 100 * p.extra["target_buy_share"][t],
            np.log1p(since) / 5 if np.isfinite(since) else CLIP]
    tail = [in_position, unrealised, np.log1p(held_steps) / 5, entry_proposal == ENTER, entry_proposal == EXIT]
    obs = np.r_[head, squash(p.features[t, WhaleCopyEnv.feature_index]), tail]
    return np.clip(np.nan_to_num(obs, nan=0.0), -CLIP, CLIP).astype(np.float32)


SCALES = (0.0, 0.5, 1.0, 2.0)  # the risk manager's actions: stake multiples applied to a proposed entry


class RiskManagerEnv(PoolTradingEnv):
    """Scales or vetoes the entry agent's proposals given equity, drawdown and exposure; sees the entry
    agent's proposal and scores, the whale agent's and the TARGET buys. Exits always go through."""

    observation_names = ("propose_hold", "propose_enter", "propose_exit", "p_moon", "p_rug", "p_opportunity",
                         "target_buys", "whale_would_enter", "equity_change", "drawdown", "exposure", "in_position")
    n_actions = len(SCALES)

    def __init__(self, paths, cfg: TradingConfig = TradingConfig(pools_per_episode=8), sequential: bool = False):
        super().__init__(paths, cfg, sequential)

    def observe(self) -> np.ndarray:
        self._proposal = self.entry_proposal()  # what `intent` scales on the next step
        eq = self.equity()
        start = raw(self.cfg.start_balance, SOL)
        exposure = (eq - self.cash) / eq if eq > 0 else 0.0
        obs = np.r_[np.eye(3)[self._proposal], [self._extra(n) for n in ("p_moon", "p_rug", "p_opportunity")],
                    np.log1p(self._extra("target_buys")), self._extra("whale_flat") == ENTER, eq / start - 1,
                    1 - eq / max(self.peak, 1), exposure, self.in_position()]
        return np.clip(np.nan_to_num(obs, nan=0.0), -CLIP, CLIP).astype(np.float32)

    def intent(self, action: int) -> tuple[int, float]:
        return self._proposal, SCALES[action]

    random_entry_policy = None  # its actions scale a proposal: random entries are the entry agent's baseline

    def baselines(self) -> dict:
        full = SCALES.index(1.0)
        return {"no_trade": lambda env: 0, "pass_through": lambda env: full, "rule_based": type(self).rule_action}

    def rule_action(self) -> int:
        """Veto in a drawdown past 10% or when P(rug) >= 0.3, else pass the proposal through at one stake."""
        drawdown = 1 - self.equity() / max(self.peak, 1)
        return 0 if drawdown > 0.10 or self._extra("p_rug") >= 0.3 else SCALES.index(1.0)
