"""The agents' environments and registry format: gymnasium's checker, fills and rewards against AMM math
worked by hand, baselines, periods that never overlap, and deterministic policies from the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from quant.agents import ENTER, EXIT, HOLD, entry_observation, load_agent
from quant.agents.arb_envs import ArbConfig, CexDexArbEnv, CrossChainArbEnv, FlashLoanArbEnv, PairPath
from quant.agents.data import steps_since
from quant.agents.market import PoolPath
from quant.agents.pool_envs import SCALES, EntryTimingEnv, RiskManagerEnv, TradingConfig, WhaleCopyEnv
from quant.agents.proposals import attach_cex_dex, attach_entry, attach_whale
from quant.agents.team import agent_window
from quant.agents.training import PPOConfig, register_agent, train_ppo
from quant.features import FEATURES
from quant.models.registry import Registry

F = len(FEATURES)
SOL, TOKEN = 10**9, 10**6


def solana_path(n: int = 30, seed: int = 0) -> PoolPath:
    """A Solana pool with 40 SOL against 1e9 tokens, its price drifting up and then rugged at the end."""
    rng = np.random.default_rng(seed)
    quote = (40 * SOL * np.exp(np.cumsum(rng.normal(0.01, 0.02, n)))).astype(np.int64)
    quote[-3:] = quote[-3:] // 20  # liquidity pulled: 95% gone
    base = np.full(n, 10**9 * TOKEN, np.int64)
    ts = pd.date_range("2026-01-01", periods=n, freq="1min").to_numpy()
    feats = rng.normal(size=(n, F)).astype(np.float32)
    feats[0, :5] = np.nan
    extra = {k: rng.random(n) for k in ("p_moon", "p_rug", "p_opportunity")}
    extra |= {"moon_rule": (np.arange(n) % 7 == 1).astype(float), "rug_rule": np.zeros(n),
              "target_buys": (np.arange(n) % 9 == 2).astype(float), "target_buy_share": np.full(n, 0.001)}
    extra["since_target_buy"] = steps_since(extra["target_buys"] > 0)
    # Earlier agents' proposals (quant.agents.proposals): the entry agent always wants in, the whale never.
    extra |= {"entry_flat": np.full(n, float(ENTER)), "entry_held": np.full(n, float(HOLD)), "whale_flat": np.zeros(n)}
    return PoolPath("pool", "solana", ts, [int(b) for b in base], [int(q) for q in quote], 6, 9, feats, extra)


def raydium_out(a: int, r_in: int, r_out: int) -> int:
    """Raydium v4 written out again here: fee = ceil(25a / 10000), out = floor(R_out (a - fee) / (R_in + a - fee))."""
    fee = -(-a * 25 // 10_000)
    return r_out * (a - fee) // (r_in + a - fee)


def test_entry_observation_shape_nan_and_one_definition():
    feats = np.full((2, F), np.nan)
    feats[1] = 1e3
    obs = entry_observation(feats, np.array([0.9, np.nan]), np.array([0.1, 0.2]), np.array([0.5, 0.4]), np.array([0, 1]))
    assert obs.shape == (2, F + 4) and obs.dtype == np.float32 and np.isfinite(obs).all()
    assert (obs[0, :F] == 0).all() and obs[1, F] == 0 and obs[1, -1] == 1  # missing reads as neutral
    assert obs[1, 0] == pytest.approx(np.log1p(1e3), rel=1e-6)
    with pytest.raises(ValueError, match="FEATURES order"):
        entry_observation(feats[:, :-1], *[np.zeros(2)] * 4)
    env = EntryTimingEnv([solana_path()])
    env.reset(seed=0)
    p = env.path
    np.testing.assert_array_equal(env.observe(), entry_observation(p.features[:1], p.extra["p_moon"][:1],
                                                                   p.extra["p_rug"][:1], p.extra["p_opportunity"][:1],
                                                                   np.zeros(1))[0])


@pytest.mark.parametrize("make", [
    lambda: EntryTimingEnv([solana_path(), solana_path(seed=1)]),
    lambda: WhaleCopyEnv([solana_path()]),
    lambda: RiskManagerEnv([solana_path(), solana_path(seed=1)]),
    lambda: CexDexArbEnv([listed_path()]),
    lambda: FlashLoanArbEnv([listed_path()]),
    lambda: CrossChainArbEnv([PairPath("EST0", listed_path(), listed_path("evm"))]),
])
def test_environments_pass_gymnasium_checker(make):
    check_env(make(), skip_render_check=True)


def test_entry_env_fills_and_rewards_match_hand_computed_amm():
    path = solana_path()
    env = EntryTimingEnv([path], TradingConfig(start_balance=10.0, stake=1.0), sequential=True)
    env.reset(seed=0)
    stake = 1 * SOL
    # Decided on snapshot 0, filled at snapshot 1's reserves.
    _, r_enter, *_ = env.step(ENTER)
    rb1, rq1 = path.base_raw[1], path.quote_raw[1]
    tokens = raydium_out(stake, rq1, rb1)
    back_now = raydium_out(tokens, rb1 - tokens, rq1 + stake)  # selling straight back, our buy in the pool
    assert env.holding.tokens == tokens and env.cash == 10 * SOL - stake
    assert r_enter == pytest.approx((back_now - stake) / stake, abs=1e-12)
    assert -0.0055 < r_enter < -0.0045  # two 0.25% fees; selling back into our own impact returns it
    _, r_hold, *_ = env.step(HOLD)
    rb2, rq2 = path.base_raw[2], path.quote_raw[2]
    share = np.sqrt((rb2 / rb1) * (rq2 / rq1))
    value2 = raydium_out(tokens, rb2 - int(tokens * share), rq2 + int(stake * share))
    assert r_hold == pytest.approx((value2 - back_now) / stake, abs=1e-12)
    _, r_exit, *_ = env.step(EXIT)
    rb3, rq3 = path.base_raw[3], path.quote_raw[3]
    share = np.sqrt((rb3 / rb1) * (rq3 / rq1))
    sold = raydium_out(tokens, rb3 - int(tokens * share), rq3 + int(stake * share))
    assert env.cash == 10 * SOL - stake + sold and env.holding is None
    assert r_enter + r_hold + r_exit == pytest.approx((sold - stake) / stake, abs=1e-9)


def test_position_limit_and_a_rug_takes_the_stake():
    path = solana_path()
    env = EntryTimingEnv([path], sequential=True)
    env.reset(seed=0)
    env.step(ENTER)
    held = env.holding
    env.step(ENTER)  # one position per pool: a second entry is ignored
    assert env.holding is held and env.trades == 1
    total, done, info = 0.0, False, {}
    while not done:
        _, r, done, _, info = env.step(HOLD)
        total += r
    assert env.holding is None and info["equity"] < 10.0 - 0.9  # the last snapshots pulled 95% of the liquidity


def test_risk_manager_scales_and_vetoes_proposals():
    for action, scale in enumerate(SCALES):
        env = RiskManagerEnv([solana_path()], sequential=True)
        env.reset(seed=0)
        env.step(action)
        expected = int(SOL * scale)
        assert (env.holding.quote_in if env.holding else 0) == expected


def listed_path(chain: str = "solana", n: int = 20) -> PoolPath:
    """A CEX-listed token pool whose price sits 2% above the CEX's at even snapshots."""
    bd, qd = (6, 9) if chain == "solana" else (18, 18)
    quote_usd = 150.0 if chain == "solana" else 3000.0
    quote_tokens = 6000.0 if chain == "solana" else 300.0
    token_usd = 2.0
    base_tokens = quote_tokens * quote_usd / token_usd
    bump = np.where(np.arange(n) % 2 == 0, 1.02, 1.0)
    quote = [int(quote_tokens * b * 10**qd) for b in bump]
    base = [int(base_tokens * 10**bd)] * n
    ts = pd.date_range("2026-01-01", periods=n, freq="1min").to_numpy()
    extra = {"token_usd": np.full(n, token_usd), "quote_usd": np.full(n, quote_usd), "symbol": "EST0",
             "cexdex": np.zeros(n)}
    return PoolPath(f"{chain}-pool", chain, ts, base, quote, bd, qd, np.full((n, F), np.nan, np.float32), extra)


def test_launch_flip_and_random_entry_baselines_of_the_pool_agents():
    from quant.agents.pool_envs import AGE
    from quant.agents.training import run_policy

    young, old = solana_path(seed=0), solana_path(seed=1)
    young.features[0, AGE], old.features[0, AGE] = 0.5, 600.0  # opened at its first snapshot / ten hours earlier
    env = EntryTimingEnv([young, old], sequential=True)
    flip = run_policy(env, lambda e, _obs: e.baselines()["launch_flip"](e))
    assert flip["trades"] == 2  # in at the young pool's first snapshot, out 10 snapshots later; the old one skipped
    held = np.flatnonzero(np.diff(flip["equity"]) != 0)
    assert held.max() <= 11  # flat again after the horizon: the equity moves no more
    never = run_policy(EntryTimingEnv([young, old], sequential=True),
                       EntryTimingEnv([young]).random_entry_policy(0.0, seed=0))
    always = run_policy(EntryTimingEnv([young, old], sequential=True),
                        EntryTimingEnv([young]).random_entry_policy(1.0, seed=0))
    assert never["trades"] == 0 and never["net_pnl"] == 0
    # Every flat snapshot enters and every entry is held 10 snapshots: on 29 steps per path, entries at 0, 11
    # and 22, exits at 10 and 21, the third sold at the path's end (not an action): 5 trades a path.
    assert always["trades"] == 2 * 5


def test_cex_dex_pnl_matches_hand_computed_fill():
    path = listed_path()
    cfg = ArbConfig(notional_usd=1000.0, cex_fee=0.001)
    env = CexDexArbEnv([path], cfg, sequential=True)
    env.reset(seed=0)
    # Action 2 sells into the pool (its price is 2% rich at snapshot 0, and the fill is at snapshot 1).
    t = 1
    tokens = int(np.floor(1000.0 / 2.0 * (1 - 0.001) * 10**6))
    got = raydium_out(tokens, path.base_raw[t], path.quote_raw[t])
    expected = got / 10**9 * 150.0 - 1000.0
    _, reward, *_ = env.step(2)
    assert reward == pytest.approx(expected / 1000.0, abs=1e-12) and env.pnl == pytest.approx(expected)
    assert env.rule_action() == 0  # snapshot 1 is fair: fees make either direction lose
    env.step(0)
    assert env.rule_action() == 2  # snapshot 2 is 2% rich: sell into the pool


def test_flash_loan_pays_its_fee_on_the_borrowed_size():
    path = listed_path()
    plain = CexDexArbEnv([path], ArbConfig(), sequential=True)
    flash = FlashLoanArbEnv([path], ArbConfig(loan_fee=0.0009), sequential=True)
    plain.reset(seed=0)
    flash.reset(seed=0)
    sell_16x = 1 + len(flash.sizes) + flash.sizes.index(16.0)
    loan_free = CexDexArbEnv([path], ArbConfig(notional_usd=16_000.0), sequential=True)
    loan_free.reset(seed=0)
    assert flash.action_pnl(sell_16x, 0) == pytest.approx(loan_free.action_pnl(2, 0) - 0.0009 * 16_000.0)
    assert flash.action_pnl(1 + len(flash.sizes), 0) == pytest.approx(plain.action_pnl(2, 0) - 0.0009 * 1000.0)


def test_train_and_test_periods_never_overlap():
    w = agent_window(pd.Timestamp("2026-01-09"), train_days=2, test_days=1, purge=pd.Timedelta(minutes=10))
    assert w.train_end <= w.test_start and w.test_start == pd.Timestamp("2026-01-08")
    assert w.train_start == pd.Timestamp("2026-01-06") and w.test_end == pd.Timestamp("2026-01-09")


TINY = PPOConfig(timesteps=256, n_steps=128, batch_size=64, n_epochs=2, seeds=(3,))


def test_agents_are_deterministic_for_a_seed_and_round_trip_the_registry(tmp_path):
    make = lambda: EntryTimingEnv([solana_path(), solana_path(seed=1)])  # noqa: E731
    a, b = train_ppo(make(), TINY, seed=3), train_ppo(make(), TINY, seed=3)
    obs = np.random.default_rng(0).normal(size=(64, F + 4)).astype(np.float32)
    actions = a.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(actions, b.predict(obs, deterministic=True)[0])
    reg = Registry(tmp_path / "registry")
    loser, winner = {"beats_no_trade": False, "agent_pnl_mean": -0.1}, {"beats_no_trade": True, "agent_pnl_mean": 0.1}
    first, reason = register_agent(reg, "agent_entry_timing", train_ppo(make(), TINY, seed=5), make(), TINY, loser)
    assert reason.startswith("no champion") and reg.champion("agent_entry_timing") is None  # never served
    version, reason = register_agent(reg, "agent_entry_timing", a, make(), TINY, winner)
    assert reason.startswith("beat no-trade") and reg.champion("agent_entry_timing") == version != first
    policy = load_agent(reg, "agent_entry_timing")
    assert policy.version == version and policy.observation_size == F + 4
    assert policy.manifest["kind"] == "sb3" and policy.manifest["evaluation"] == winner
    np.testing.assert_array_equal(policy.act(obs), actions)
    np.testing.assert_array_equal(policy.act(obs[0]), actions[:1])  # a single decision
    assert set(np.unique(policy.act(obs))) <= {HOLD, ENTER, EXIT}
    _, reason = register_agent(reg, "agent_entry_timing", b, make(), TINY, loser)
    assert reason.startswith(f"kept {version}")  # a loser does not replace the champion
    # A mean over seeds that beats no-trade does not crown a registered policy that itself lost.
    _, reason = register_agent(reg, "agent_entry_timing", b, make(), TINY, {**winner, "registered_beats_no_trade": False})
    assert reason.startswith(f"kept {version}") and reg.champion("agent_entry_timing") == version
    whale = WhaleCopyEnv([solana_path()])
    newer, reason = register_agent(reg, "agent_entry_timing", train_ppo(whale, TINY, seed=3), whale, TINY, winner)
    assert "observes another layout" in reason and reg.champion("agent_entry_timing") == newer


def test_later_agents_observe_earlier_agents_proposals():
    paths = [solana_path(), solana_path(seed=1)]
    # A stand-in entry agent: enter when P(moon) (obs column F) is above 0.5, exit when in a position.
    act = lambda obs: np.where(obs[:, -1] == 1, EXIT, np.where(obs[:, F] > 0.5, ENTER, HOLD))  # noqa: E731
    attach_entry(paths, act)
    p = paths[0]
    np.testing.assert_array_equal(p.extra["entry_flat"], np.where(p.extra["p_moon"] > 0.5, ENTER, HOLD))
    assert (p.extra["entry_held"] == EXIT).all()
    env = WhaleCopyEnv(paths, sequential=True)
    obs = env.reset(seed=0)[0]
    names = env.observation_names
    assert obs[names.index("entry_proposes_enter")] == (p.extra["p_moon"][0] > 0.5)
    attach_whale(paths, lambda obs: np.where(obs[:, 0] > 0, ENTER, HOLD))  # copies when a TARGET bought
    np.testing.assert_array_equal(p.extra["whale_flat"], np.where(p.extra["target_buys"] > 0, ENTER, HOLD))
    listed = [listed_path()]
    attach_cex_dex(listed, lambda obs: np.where(obs[:, 0] > 1.0, 2, 0), ArbConfig())  # sell when 1% rich
    np.testing.assert_array_equal(listed[0].extra["cexdex"], np.where(np.arange(20) % 2 == 0, 2, 0))
    flash = FlashLoanArbEnv(listed, sequential=True)
    assert flash.reset(seed=0)[0][-1] == 1.0  # it sees the CEX-DEX agent proposing to sell
