"""`python -m live_runtime [run|bench|kill|unkill]`: the live runtime, on paper by default.

    run     trade a stream (default: the simulated market run forward from where the history ends, at
            `--speed` market seconds per wall second) and serve the API and status page
    bench   replay N events through the whole path as fast as possible and print the figures as JSON
    kill    engage the kill switch (the runtime halts and flattens); `unkill` removes it
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from live_runtime.config import TOKEN_ENV, ConfigError, DecisionConfig, RuntimeConfig
from live_runtime.engine import Engine
from live_runtime.journal import Journal
from live_runtime.sources import (
    ChainPollingStream,
    ChainSubscribedStream,
    evm_subscription,
    forward_market,
    replay_stream,
    simulated_stream,
    solana_subscription,
)
from quant.settings import ChainSettings, LiveSettings, Settings

log = logging.getLogger("live_runtime")


def build_source(args, settings: Settings, start_seq: int):
    if args.source == "simulated":
        return simulated_stream(settings, args.forward_days, speed=args.speed, start_seq=start_seq), 0.0
    if args.source == "replay":
        if not args.replay_dir:
            raise SystemExit("--source replay needs --replay-dir (a folder with pool_snapshots/swaps .parquet)")
        start, end = pd.Timestamp(args.replay_start), pd.Timestamp(args.replay_end)
        return replay_stream(Path(args.replay_dir), start, end, speed=args.speed, start_seq=start_seq), 0.0
    window = {"since": _utc(args.since), "until": _utc(args.until)}
    return chain_stream(args.source, ChainSettings.from_env(), **window), args.reorder_tolerance_s


def _utc(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    ts = pd.Timestamp(text)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts


def chain_stream(kind: str, chain: ChainSettings, since=None, until=None) -> ChainPollingStream:
    """The chain's market source from the environment; woken by a websocket subscription when EVM_WS_URL or
    SOLANA_WS_URL is set (EVM: the factory's pairs known at start; new pairs arrive with the fallback
    polls), polled otherwise. From `since` (default: now) to `until` (default: for ever)."""
    from quant.chains.factory import market_source
    source = market_source(kind, chain)
    ws_url = chain.evm_ws_url if kind == "evm" else chain.solana_ws_url
    if not ws_url:
        return ChainPollingStream(source, since=since, until=until)
    if kind == "evm":
        subscribe = evm_subscription(ws_url, list(source.tracked(source.safe_head())))
    else:
        subscribe = solana_subscription(ws_url, source.pools)
    return ChainSubscribedStream(source, subscribe, since=since, until=until)


def live_executor(args, cfg: RuntimeConfig, chain: ChainSettings):
    """The EVM executor for `--live`: every condition checked before the first event, each refusal naming
    what is missing. Needs QUANT_LIVE=1, `--source evm`, a key (EVM_PRIVATE_KEY or EVM_KEYFILE), EVM_ROUTER,
    EVM_CHAIN_ID (the node must be on it), and an account holding the `--balance` it may trade."""
    from quant.chains.live import LIVE_ENV
    if not chain.live:
        raise SystemExit(f"--live needs {LIVE_ENV}=1 in the environment as well; the runtime trades on paper otherwise")
    if args.source != "evm":
        raise SystemExit(f"live execution is wired for --source evm (Uniswap V2 routers); --source {args.source} "
                         "trades on paper")
    missing = [name for name, value in (("EVM_RPC_URL", chain.evm_rpc_url), ("EVM_ROUTER", chain.evm_router),
                                        ("EVM_CHAIN_ID", chain.evm_chain_id)) if not value]
    if missing:
        raise SystemExit(f"--live needs {', '.join(missing)} in the environment")
    from live_runtime.execution import EvmExecutor
    from quant.chains.evm.swap import GasCap, RouterSwapper
    from quant.chains.factory import web3_for
    from quant.chains.keys import KeyLoadError, load_evm_key
    try:
        key = load_evm_key(chain.keys)
    except KeyLoadError as err:
        raise SystemExit(f"--live: {err}") from None
    w3 = web3_for(chain.evm_rpc_url)
    cap = GasCap(max_fee_per_gas=int(chain.evm_max_fee_gwei * 10**9))
    swapper = RouterSwapper(w3, chain.evm_router, chain.evm_chain_id, cap, key, live=True)
    if w3.eth.chain_id != swapper.chain_id:
        raise SystemExit(f"the node at EVM_RPC_URL is on chain {w3.eth.chain_id}, EVM_CHAIN_ID says {swapper.chain_id}")
    held = w3.eth.get_balance(key.address) / 10**18
    if held < cfg.starting_balance:
        raise SystemExit(f"--balance {cfg.starting_balance} ETH is more than the account holds ({held:.6f} ETH)")
    log.warning("LIVE execution: account %s on chain %s through router %s, budget %s %s", key.address,
                swapper.chain_id, swapper.router.address, cfg.starting_balance, cfg.quote_symbol)
    return EvmExecutor(swapper, cfg.journal_dir / "orders.jsonl", cfg.starting_balance,
                       receipt_timeout_s=chain.evm_receipt_timeout_s)


def cmd_run(args, settings: Settings) -> None:
    chain = ChainSettings.from_env()
    decision = replace(DecisionConfig(), moon_threshold=args.moon_threshold, rug_threshold=args.rug_threshold,
                       online_weight=args.online_weight)
    cfg = RuntimeConfig.from_env(settings.data_dir, starting_balance=args.balance, decision=decision, quote_symbol=args.quote_symbol,
                                 live=args.live)
    broker = live_executor(args, cfg, chain) if args.live else None
    if args.fresh and cfg.journal_dir.exists():
        if broker is not None and broker.unsettled():
            raise SystemExit(f"--fresh refused: {cfg.journal_dir / 'orders.jsonl'} holds orders not yet settled "
                             f"({', '.join(broker.unsettled())}); start without --fresh to settle them first")
        kept = cfg.journal_dir.with_name(f"journal-{time.strftime('%Y%m%dT%H%M%S')}")
        cfg.journal_dir.rename(kept)
        log.info("previous journal kept at %s; starting a fresh one", kept)
        if broker is not None:  # its order log went with the old journal: order ids start again with it
            broker = live_executor(args, cfg, chain)
    journal = Journal(cfg.journal_dir)
    resume = journal.resume()
    source, tolerance = build_source(args, settings, resume.position)
    engine = Engine(cfg, source, journal=journal, resume=resume, reorder_tolerance_s=tolerance, broker=broker)
    warmed = engine.warm_up()
    log.info("warmed up on %d events; resuming at event %d with %d fills from the journal", warmed,
             resume.position, len(resume.fills))
    stop = threading.Event()
    server = None
    if not args.no_api:
        from live_runtime.api import serve
        server = serve(engine, args.host, args.port, stop)
        mode = "LIVE trading" if args.live else "paper trading"
        print(f"live runtime: http://{args.host}:{args.port}/  ({mode}; Ctrl-C stops)", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        engine.run(stop)
        engine.publish()
        if server is not None and not stop.is_set():
            print("stream finished; the API stays up until Ctrl-C", flush=True)
            stop.wait()
    except KeyboardInterrupt:
        stop.set()
        engine.commit()
    if server is not None:
        server.should_exit = True


def cmd_bench(args, settings: Settings) -> dict:
    import psutil
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RuntimeConfig.from_env(journal_dir=Path(tmp) / "journal", data_dir=Path(tmp),
                                     registry_dir=settings.data_dir / "registry",
                                     **({"max_batch": args.max_batch} if args.max_batch else {}))
        source = simulated_stream(settings, args.forward_days)
        engine = Engine(cfg, source)
        if engine.watcher.current is None:
            raise SystemExit(f"the bench needs champions: {engine.watcher.waiting}")
        engine.warm_up()
        compiled = engine.watcher.wait_compiled()
        n = min(args.events, len(source.events))
        t0, cpu0 = time.perf_counter(), time.thread_time()
        engine.run(max_events=n)
        seconds, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
        lat, expensive, batch_end = (engine.status.latencies(rows) for rows in ("all", "expensive", "batch_end"))
        return {"events": engine.processed, "seconds": round(seconds, 2),
                "events_per_s": round(engine.processed / seconds),
                # the decision thread's own CPU time: what one core gives when nothing else takes it
                "events_per_cpu_s": round(engine.processed / cpu), "snapshots": engine.stats["snapshots"],
                "p50_ms": round(float(np.percentile(lat, 50)), 3), "p99_ms": round(float(np.percentile(lat, 99)), 3),
                "max_ms": round(float(lat.max()), 3),
                "p99_batch_ms": round(float(np.percentile(batch_end, 99)), 3),
                "p99_expensive_ms": round(float(np.percentile(expensive, 99)), 3) if len(expensive) else None,
                "expensive_share": round(engine.stats["expensive"] / max(engine.stats["snapshots"], 1), 4),
                "rss_mb": round(psutil.Process().memory_info().rss / 2**20),
                "models": engine.watcher.current.versions, "compiled_trees": compiled, "decisions": engine.stats["decisions"],
                "entries": engine.stats["entries"], "exits": engine.stats["exits"],
                "outcomes": engine.stats["outcomes"], "equity": round(engine.broker.equity(engine.pools), 4),
                "journal_segments": engine.journal.segment,
                **_bench_baselines(settings, args.forward_days, engine)}


def _bench_baselines(settings: Settings, forward_days: int, engine: Engine) -> dict:
    """The runtime's PnL over the stretch of market it traded beside the baselines a trader tries first, traded
    over the same Solana snapshots with the runtime's balance, position limit and per-order notional (exact
    AMM fills, quant.evaluation.backtest): no trade, the launch flip, the runtime's number of entries at random
    snapshots (median of 20 draws) and buy-and-hold of the pools opened in it."""
    from quant.evaluation.backtest import (
        BacktestConfig,
        buy_and_hold_new_pools,
        launch_flip,
        no_trade,
        random_entries,
    )

    market, lo = forward_market(settings, forward_days, progress=False)
    hi = pd.Timestamp(engine.last_ts, unit="us") + pd.Timedelta(microseconds=1)
    snaps = market.fetch("pool_snapshots", lo, hi)
    sol = snaps[(snaps.chain == "solana") & (snaps.quote_symbol == "SOL")]
    start, limits = engine.broker.starting_balance, engine.cfg.risk
    cfg = BacktestConfig(start_balance=start, max_positions=limits.max_open_positions, stake_sol=limits.max_order_notional)
    new = set(sol.pool_id[sol.pool_open_time >= lo])
    runs = {"no_trade": no_trade(start), "launch_flip": launch_flip(sol, new, cfg),
            "random_entry": random_entries(sol[["pool_id", "ts"]], engine.stats["entries"], sol, cfg),
            "buy_and_hold_new_pools": buy_and_hold_new_pools(sol, new, start)}
    return {"runtime_pnl": round(engine.broker.equity(engine.pools) - start, 4),
            "baseline_pnl": {k: round(v["net_pnl"], 4) for k, v in runs.items()},
            "baseline_trades": {k: v["n_trades"] for k, v in runs.items()},
            "market_window": f"{lo} to {hi.floor('s')}"}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m live_runtime", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="trade a stream on paper and serve the API and page")
    run.add_argument("--source", choices=["simulated", "replay", "evm", "solana"], default="simulated")
    run.add_argument("--speed", type=float, default=60.0, help="market seconds per wall second (0: fast)")
    run.add_argument("--forward-days", type=int, default=1)
    run.add_argument("--replay-dir")
    run.add_argument("--replay-start")
    run.add_argument("--replay-end")
    run.add_argument("--reorder-tolerance-s", type=float, default=2.0)
    run.add_argument("--since", help="chain sources: follow the chain from this time (ISO, UTC; default now)")
    run.add_argument("--until", help="chain sources: stop once every row before this time is read (ISO, UTC)")
    run.add_argument("--balance", type=float, default=10.0, help="the account's starting cash (live: its budget)")
    run.add_argument("--quote-symbol", default="SOL",
                     help="the account's currency: only pools quoted in it are traded (ETH for EVM WETH pairs)")
    run.add_argument("--fresh", action="store_true",
                     help="start a new journal (the old one is kept beside it) instead of resuming from it")
    run.add_argument("--moon-threshold", type=float, default=DecisionConfig.moon_threshold)
    run.add_argument("--rug-threshold", type=float, default=DecisionConfig.rug_threshold)
    run.add_argument("--online-weight", type=float, default=DecisionConfig.online_weight,
                     help="the online learner's share of the blend (0: the champions alone)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8765)
    run.add_argument("--no-api", action="store_true")
    run.add_argument("--live", action="store_true",
                     help="real execution on --source evm (needs QUANT_LIVE=1, a key, EVM_ROUTER, EVM_CHAIN_ID)")
    bench = sub.add_parser("bench", help="the whole path, as fast as possible; prints JSON")
    bench.add_argument("--events", type=int, default=200_000)
    bench.add_argument("--forward-days", type=int, default=1)
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--max-batch", type=int, help="events per micro-batch (default: the runtime's)")
    sub.add_parser("kill", help="engage the kill switch")
    sub.add_parser("unkill", help="remove the kill switch")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    try:
        if args.command in (None, "run"):
            if args.command is None:
                args = p.parse_args(["run", *(argv or sys.argv[1:])])
            if not LiveSettings.from_env().api_token:
                log.warning("%s is not set: POST /kill and /retrain will refuse every request", TOKEN_ENV)
            if not args.no_api:
                from live_runtime.api import check_bind
                check_bind(args.host)
            cmd_run(args, Settings.from_env())
        elif args.command == "bench":
            print(json.dumps(cmd_bench(args, Settings.from_env())))
        elif args.command in ("kill", "unkill"):
            kill = RuntimeConfig.from_env().kill_file
            if args.command == "kill":
                kill.parent.mkdir(parents=True, exist_ok=True)
                kill.write_text(f"killed from the CLI at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
                print(f"kill switch engaged: {kill}")
            else:
                kill.unlink(missing_ok=True)
                print(f"kill switch removed: {kill}")
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
