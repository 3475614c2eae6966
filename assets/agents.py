"""The PPO agents, one asset each: trained on a period of replayed pool paths, evaluated over three seeds on
the later unseen period beside no-trade, buy-and-hold and the rule-based strategy, and registered."""

from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.common import ML_OWNER
from quant.agents.arb_envs import ArbConfig
from quant.agents.data import model_scores, target_buys, targets_before
from quant.agents.pool_envs import TradingConfig
from quant.agents.team import (
    AGENTS,
    POOL_AGENTS,
    SCORED_AGENTS,
    UNITS,
    AgentInputs,
    agent_window,
    train_agent,
)
from quant.agents.training import PPOConfig, report_table
from quant.evaluation.plot import equity_png, png_markdown
from resources import ModelRegistry, Warehouse
from resources.queries import label_span, snapshot_cadence

DAY = pd.Timedelta(days=1)
HISTORY = pd.Timedelta(hours=1)  # feature rows before the train start: the sequence model's windows reach back
BEATS_NO_TRADE = "beats_no_trade"


class AgentConfig(dg.Config):
    train_days: int = Field(default=1, ge=1, description="Days before the test period the agent trains on.")
    test_days: int = Field(default=1, ge=1, description="Newest days held out for the evaluation.")
    timesteps: int = Field(default=20_000, ge=1_000, description="PPO environment steps per seed.")
    seeds: list[int] = Field(default=[0, 1, 2], min_length=1, description="Training seeds (the median one by test PnL is registered).")
    max_steps: int = Field(default=240, ge=10, description="Snapshots of each pool an episode replays (its first "
                           "hours in the period), and the length of an arbitrage episode.")
    stake_sol: float = 1.0
    notional_usd: float = 1_000.0


def _inputs(name: str, config: AgentConfig, warehouse: Warehouse, registry) -> AgentInputs:
    span = label_span(warehouse)
    step = snapshot_cadence(warehouse, span.end - DAY)
    window = agent_window(span.end, config.train_days, config.test_days, span.horizon * step)
    lo, hi = window.train_start, window.test_end
    inputs = AgentInputs(window, warehouse.read_window("pool_snapshots", lo, hi))
    if name in POOL_AGENTS:
        inputs.features = warehouse.read_window("pool_features", lo - HISTORY, hi)
        with warehouse.get_connection() as con:  # the scanner as of the test start: no look-ahead
            targets = targets_before(con, window.test_start)
        inputs.signals = target_buys(warehouse.read_window("swaps", lo, hi), targets, inputs.snapshots)
    if name in SCORED_AGENTS:
        inputs.scores = model_scores(registry, inputs.features, lo)
    if name not in POOL_AGENTS:
        inputs.cex = warehouse.read_window("cex_prices", lo - HISTORY, hi)
    return inputs


def agent_asset(name: str, deps: list[str]) -> dg.AssetsDefinition:
    @dg.asset(name=name, description=AGENTS[name], group_name="agents", kinds={"torch", "matplotlib"},
              owners=[ML_OWNER], deps=deps,
              check_specs=[dg.AssetCheckSpec(BEATS_NO_TRADE, asset=name,
                                             description="Net PnL on the unseen test period beats not trading, "
                                                         "on the mean over seeds and for the registered seed's "
                                                         "policy: only then does it become the champion.")])
    def _asset(context: dg.AssetExecutionContext, config: AgentConfig, warehouse: Warehouse,
               model_registry: ModelRegistry) -> dg.MaterializeResult:
        registry = model_registry.registry()
        inputs = _inputs(name, config, warehouse, registry)
        ppo = PPOConfig(timesteps=config.timesteps, seeds=tuple(config.seeds))
        out = train_agent(name, inputs, registry, ppo, TradingConfig(stake=config.stake_sol, max_steps=config.max_steps),
                          ArbConfig(notional_usd=config.notional_usd, max_steps=config.max_steps))
        report, unit = out["report"], UNITS[name]
        start = 0.0 if unit == "usd" else TradingConfig().start_balance
        png = equity_png({k: pd.Series(v) for k, v in out["curves"].items()}, start,
                         f"{name}, unseen {inputs.window.test_start:%Y-%m-%d} to {inputs.window.test_end:%Y-%m-%d}",
                         unit=unit.upper(), ylabel=f"equity, {unit.upper()} (by decision step)")
        plot_path = Path(registry.root) / "_evaluation" / f"{name}-{context.run.run_id}.png"
        plot_path.parent.mkdir(parents=True, exist_ok=True)
        plot_path.write_bytes(png)
        beats = report["beats_no_trade"] and report["registered_beats_no_trade"]
        verdict = "beats" if beats else "does NOT beat"
        return dg.MaterializeResult(
            metadata={
                "version": out["version"], "champion": str(registry.champion(name)), "decision": out["decision"],
                "verdict": f"{verdict} no-trade: mean {report['agent_pnl_mean']:+.4f} {unit} "
                           f"(std {report['agent_pnl_std']:.4f}) over seeds {list(config.seeds)}; registered seed "
                           f"{report['registered_seed']}: {report['registered_pnl']:+.4f} {unit}",
                "evaluation": dg.MetadataValue.md(report_table(report, unit).to_markdown(index=False, floatfmt=".4f")),
                "equity_curves": dg.MetadataValue.md(png_markdown(png, f"{name} equity")),
                "equity_curves_png": dg.MetadataValue.path(str(plot_path)),
                "window": dg.MetadataValue.json(inputs.window.describe()), "timesteps_per_seed": config.timesteps,
                "seconds": round(out["seconds"], 1), "report": dg.MetadataValue.json(report),
            },
            check_results=[dg.AssetCheckResult(check_name=BEATS_NO_TRADE, passed=beats,
                                               severity=dg.AssetCheckSeverity.WARN,
                                               metadata={"agent_pnl_mean": report["agent_pnl_mean"],
                                                         "seeds_beating_no_trade": report["seeds_beating_no_trade"],
                                                         "registered_pnl": report["registered_pnl"]})],
        )

    return _asset


SCORES = ["opportunity_model", "model_promotion", "pool_features", "pool_labels"]
POOLS = [*SCORES, "pool_snapshots", "swaps", "transfers"]  # TARGET wallets: the scanner rerun before the test
LISTED = ["pool_snapshots", "pool_labels", "cex_prices"]
# Each later agent observes the proposals of the ones before it (quant.agents.proposals).
agent_entry_timing = agent_asset("agent_entry_timing", POOLS)
agent_whale_copy = agent_asset("agent_whale_copy", ["agent_entry_timing", *POOLS])
agent_risk_manager = agent_asset("agent_risk_manager", ["agent_entry_timing", "agent_whale_copy", *POOLS])
agent_cex_dex_arb = agent_asset("agent_cex_dex_arb", LISTED)
agent_cross_chain_arb = agent_asset("agent_cross_chain_arb", ["agent_cex_dex_arb", *LISTED])
agent_flash_loan_arb = agent_asset("agent_flash_loan_arb", ["agent_cex_dex_arb", *LISTED])
agent_assets = [agent_entry_timing, agent_whale_copy, agent_cex_dex_arb, agent_cross_chain_arb, agent_flash_loan_arb,
                agent_risk_manager]
