"""The models in service: champions loaded from the registry with hash and feature-list checks, and a watcher
that swaps in a newly promoted champion between micro-batches. A new version that fails to load (corrupt
file, wrong features) is refused and logged; the one in service keeps serving.

Required: the XGBoost `moon_model` and `rug_model` (the cheap stage of the cascade, on every event).
Optional, used when registered: the sequence `opportunity_model` and the `agent_entry_timing` PPO agent (the
expensive stage, on the events the cheap stage passes).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from live_runtime.compiled import CompiledTrees, compiled_or_none, probe_rows
from quant.features import FEATURES
from quant.models.promotion import read_strategy
from quant.models.registry import LoadedModel, Registry, RegistryError

log = logging.getLogger("live_runtime.models")

REQUIRED = ("moon_model", "rug_model")
OPTIONAL = ("opportunity_model", "agent_entry_timing")
# What a registry entry that cannot be served raises; each is a refusal with its reason, never a crash.
LOAD_ERRORS = (RegistryError, ImportError, ValueError, RuntimeError, OSError, KeyError, TypeError)


@dataclass
class ModelSet:
    moon: LoadedModel
    rug: LoadedModel
    opportunity: object | None = None  # quant.models.sequence.SequenceScorer
    agent: object | None = None  # quant.agents.AgentPolicy
    lo: np.ndarray = field(default=None)  # the moon model's reference range per feature (outlier gate)
    hi: np.ndarray = field(default=None)
    compiled: dict[str, CompiledTrees] = field(default_factory=dict)  # "moon"/"rug" once built (compiled.py)
    strategy: dict | None = None  # model_evaluation's verdict on this moon/rug pair (quant.models.promotion)

    def no_edge(self) -> str | None:
        """Why no position may be opened on this pair, or None: its strategy, out of sample, did not beat not
        trading. A pair never evaluated (a registry filled by hand) is not refused; the page says so."""
        v = self.strategy
        if v is None or v["beats_no_trade"]:
            return None
        return (f"no edge: the strategy of moon_model {v['moon_model']} and rug_model {v['rug_model']} made "
                f"{v['model_pnl']:+.4f} SOL on {v['held_out']}, not more than not trading")

    def entries(self) -> dict:
        """Whether this pair may open positions and why, with the verdict behind it: what the page shows."""
        why = self.no_edge() or ("out of sample, the strategy beat not trading" if self.strategy
                                 else "this moon/rug pair was never evaluated")
        return {"entries": "off" if self.no_edge() else "on", "why": why, "verdict": self.strategy}

    def __post_init__(self):
        for m in (self.moon, self.rug):
            m.booster.set_param({"nthread": 1})  # a decision path on one core; threads only add jitter
        ref = self.moon.manifest.get("reference", {}).get("features", {})
        edges = [ref.get(f, {}).get("edges") or [np.nan, np.nan] for f in FEATURES]
        self.lo = np.array([e[0] for e in edges], np.float64)
        self.hi = np.array([e[-1] for e in edges], np.float64)

    @property
    def versions(self) -> dict[str, str]:
        out = {"moon_model": self.moon.version, "rug_model": self.rug.version}
        if self.opportunity is not None:
            out["opportunity_model"] = self.opportunity.version
        if self.agent is not None:
            out["agent_entry_timing"] = self.agent.version
        return out

    def oldest_age_h(self) -> float:
        now = datetime.now(UTC)
        ages = [(now - datetime.fromisoformat(m.manifest["created_at"])).total_seconds() / 3600
                for m in (self.moon, self.rug)]
        return max(ages)

    def outlier_distance(self, x: np.ndarray) -> np.ndarray:
        """How far each row lies outside the training data's range, in widths of that range (the largest
        over features; 0 inside; missing values count as inside)."""
        width = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        outside = np.maximum(self.lo - x, 0) + np.maximum(x - self.hi, 0)
        return np.nan_to_num(outside / width, nan=0.0).max(axis=1)

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        moon, rug = self.compiled.get("moon"), self.compiled.get("rug")
        return (moon.predict(x) if moon else self.moon.booster.inplace_predict(x, validate_features=False),
                rug.predict(x) if rug else self.rug.booster.inplace_predict(x, validate_features=False))


def _load_optional(registry: Registry, name: str, version: str):
    if name == "opportunity_model":
        from quant.models.sequence import load_sequence_model
        return load_sequence_model(registry, name, version)
    from quant.agents import load_agent
    return load_agent(registry, name, version)


class ModelWatcher:
    """Loads the champions, then `check()` between batches: a new champion pointer is loaded and, if it
    passes the checks, swapped in; if not, refused once (until the pointer changes again).

    With `wait`, a registry without the required champions is not an error: `current` stays None and
    `waiting` says what is missing, until a `check()` finds them all (the first retrain promoted them)."""

    def __init__(self, registry_dir: Path, check_every_s: float = 0.5, compile_trees: bool = True,
                 wait: bool = False):
        self.registry = Registry(registry_dir)
        self.check_every_s = check_every_s
        self.compile_trees = compile_trees
        self.refused: dict[str, str] = {}
        self.events: list[dict] = []  # swaps and refusals, for the journal
        self._bad_pointers: dict[str, str] = {}  # model -> the error last said about its pointer
        self._next_check = 0.0
        self._compiling: threading.Thread | None = None
        self.waiting: str | None = None
        try:
            self.current: ModelSet | None = self._load_all()
        except RegistryError as err:
            if not wait:
                raise
            self.current, self.waiting = None, str(err)
            log.warning("waiting for champions, trading nothing until they appear: %s", err)
        else:
            self._compile(self.current, background=False)

    def _compile(self, models: ModelSet, background: bool = True) -> None:
        """Put this set's XGBoost models on the compiled kernel (a second of gcc the first time, then cached).
        At start-up before the first event, so that a run is served by one implementation throughout; for a
        champion swapped in mid-stream on a background thread, so the decision loop never waits: XGBoost
        serves the new champion until its compiled form is ready."""
        todo = [k for k in ("moon", "rug") if k not in models.compiled]
        if not self.compile_trees or not todo:
            return

        def build():
            probe = probe_rows(models.lo, models.hi)
            for key in todo:
                loaded = getattr(models, key)
                compiled = compiled_or_none(loaded.booster, f"{key} {loaded.version}",
                                            self.registry.root / "_compiled", probe)
                if compiled is not None:
                    models.compiled[key] = compiled

        if not background:
            build()
            return
        self._compiling = threading.Thread(target=build, name="compile-trees", daemon=True)
        self._compiling.start()

    def wait_compiled(self, timeout_s: float | None = None) -> bool:
        """Block until the compile thread is done (benchmarks measure the path that serves); True if all
        XGBoost models in service are compiled."""
        if self._compiling is not None:
            self._compiling.join(timeout_s)
        return {"moon", "rug"} <= set(self.current.compiled)

    def _champions(self) -> dict[str, str | None]:
        """Each model's champion version; None where there is none or its pointer is unreadable (said once per
        distinct error, and kept serving what is served)."""
        out = {}
        for name in (*REQUIRED, *OPTIONAL):
            try:
                out[name] = self.registry.champion(name)
                self._bad_pointers.pop(name, None)
            except LOAD_ERRORS as err:
                out[name] = None
                if self._bad_pointers.get(name) != str(err):
                    self._bad_pointers[name] = str(err)
                    log.error("%s: champion pointer refused, still serving what was served: %s", name, err)
                    self.events.append({"kind": "pointer_refused", "model": name, "error": str(err)})
        return out

    def _load_verified(self, name: str, version: str | None) -> LoadedModel:
        """The champion `version`; where it cannot be verified (or its pointer cannot be read), the newest
        version that can, said loudly: a corrupt champion at start is a fallback, not a traceback."""
        tried = []
        if version is not None:
            try:
                return self.registry.load(name, version, list(FEATURES))
            except LOAD_ERRORS as err:
                tried.append(f"{version}: {err}")
        for candidate in reversed(self.registry.versions(name)):
            if candidate == version:
                continue
            try:
                loaded = self.registry.load(name, candidate, list(FEATURES))
            except LOAD_ERRORS as err:
                tried.append(f"{candidate}: {err}")
                continue
            reason = "; ".join(tried) or self._bad_pointers.get(name, "no champion")
            log.error("%s: champion %s cannot be served (%s); serving %s, the newest version that verifies",
                      name, version, reason, candidate)
            self.refused[name] = version or "?"
            self.events.append({"kind": "model_fallback", "model": name, "version": candidate,
                                "refused": version, "error": reason})
            return loaded
        raise RegistryError(f"{name}: no version in {self.registry.root / name} can be served: {tried}")

    def _load_all(self) -> ModelSet:
        champions = self._champions()
        missing = [m for m in REQUIRED if champions[m] is None and m not in self._bad_pointers]
        if missing:
            raise RegistryError(f"no champion for {', '.join(missing)} yet in {self.registry.root}: the first "
                                "retrain (`make materialize`, or the retrain job) promotes them")
        models = ModelSet(self._load_verified("moon_model", champions["moon_model"]),
                          self._load_verified("rug_model", champions["rug_model"]))
        for name in OPTIONAL:
            if champions[name] is not None:
                try:
                    setattr(models, "opportunity" if name == "opportunity_model" else "agent",
                            _load_optional(self.registry, name, champions[name]))
                except LOAD_ERRORS as err:
                    log.error("%s %s not served: %s", name, champions[name], err)
                    self.refused[name] = champions[name]
        models.strategy = self._strategy(models)
        return models

    def _first_champions(self) -> bool:
        """While waiting: the champions, once every required one is there."""
        try:
            models = self._load_all()
        except RegistryError as err:
            self.waiting = str(err)
            return False
        self.current, self.waiting = models, None
        self._compile(models)
        log.info("champions appeared, trading begins: %s", models.versions)
        self.events.append({"kind": "models_ready", "versions": models.versions})
        return True

    def _strategy(self, models: ModelSet) -> dict | None:
        try:
            return read_strategy(self.registry.root, models.moon.version, models.rug.version)
        except (OSError, ValueError) as err:  # unreadable: treated as never evaluated, and said
            log.warning("strategy verdict unreadable: %s", err)
            return None

    def check(self, force: bool = False) -> bool:
        """Swap in new champions if any; True when the set in service changed."""
        now = time.monotonic()
        if not force and now < self._next_check:
            return False
        self._next_check = now + self.check_every_s
        if self.current is None:
            return self._first_champions()
        serving = self.current.versions
        wanted = self._champions()
        changes = {m: v for m, v in wanted.items() if v is not None and v != serving.get(m) and self.refused.get(m) != v}
        if not changes:
            return False
        new = ModelSet(self.current.moon, self.current.rug, self.current.opportunity, self.current.agent)
        swapped = {}
        for name, version in changes.items():
            try:
                if name in REQUIRED:
                    loaded = self.registry.load(name, version, list(FEATURES))
                    setattr(new, name.removesuffix("_model"), loaded)
                else:
                    setattr(new, "opportunity" if name == "opportunity_model" else "agent",
                            _load_optional(self.registry, name, version))
                swapped[name] = version
            except LOAD_ERRORS as err:
                self.refused[name] = version
                log.error("refused %s %s, still serving %s: %s", name, version, serving.get(name), err)
                self.events.append({"kind": "model_refused", "model": name, "version": version,
                                    "serving": serving.get(name), "error": str(err)})
        if not swapped:
            return False
        old = self.current
        self.current = ModelSet(new.moon, new.rug, new.opportunity, new.agent,
                                compiled={k: c for k, c in old.compiled.items() if getattr(new, k) is getattr(old, k)})
        self.current.strategy = self._strategy(self.current)
        self._compile(self.current)
        for name, version in swapped.items():
            log.info("serving %s %s (was %s)", name, version, serving.get(name))
            self.events.append({"kind": "model_swap", "model": name, "version": version, "was": serving.get(name)})
        return True
