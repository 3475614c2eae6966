"""The models in service: champions loaded from the registry with hash and feature-list checks, and a watcher
that swaps in a newly promoted champion between micro-batches. A new version that fails to load (corrupt
file, wrong features) is refused and logged; the one in service keeps serving.

Required: the XGBoost `moon_model` and `rug_model` (the cheap stage of the cascade, on every event).
Optional, used when registered: the sequence `opportunity_model` and the `agent_entry_timing` PPO agent (the
expensive stage, on the events the cheap stage passes).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from quant.features import FEATURES
from quant.registry import LoadedModel, Registry, RegistryError

log = logging.getLogger("live_runtime.models")

REQUIRED = ("moon_model", "rug_model")
OPTIONAL = ("opportunity_model", "agent_entry_timing")


@dataclass
class ModelSet:
    moon: LoadedModel
    rug: LoadedModel
    opportunity: object | None = None  # quant.models.sequence.SequenceScorer
    agent: object | None = None  # quant.agents.AgentPolicy
    lo: np.ndarray = field(default=None)  # the moon model's reference range per feature (outlier gate)
    hi: np.ndarray = field(default=None)

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
        return (self.moon.booster.inplace_predict(x, validate_features=False),
                self.rug.booster.inplace_predict(x, validate_features=False))


def _load_optional(registry: Registry, name: str, version: str):
    if name == "opportunity_model":
        from quant.models.sequence import load_sequence_model
        return load_sequence_model(registry, name, version)
    from quant.agents import load_agent
    return load_agent(registry, name, version)


class ModelWatcher:
    """Loads the champions, then `check()` between batches: a new champion pointer is loaded and, if it
    passes the checks, swapped in; if not, refused once (until the pointer changes again)."""

    def __init__(self, registry_dir: Path, check_every_s: float = 0.5):
        self.registry = Registry(registry_dir)
        self.check_every_s = check_every_s
        self.refused: dict[str, str] = {}
        self.events: list[dict] = []  # swaps and refusals, for the journal
        self._next_check = 0.0
        self.current = self._load_all()

    def _champions(self) -> dict[str, str | None]:
        return {name: self.registry.champion(name) for name in (*REQUIRED, *OPTIONAL)}

    def _load_all(self) -> ModelSet:
        champions = self._champions()
        missing = [m for m in REQUIRED if champions[m] is None]
        if missing:
            raise RegistryError(f"no champion for {missing} in {self.registry.root}: run `make materialize` "
                                "(or the retrain job) first")
        models = ModelSet(self.registry.load("moon_model", champions["moon_model"], list(FEATURES)),
                          self.registry.load("rug_model", champions["rug_model"], list(FEATURES)))
        for name in OPTIONAL:
            if champions[name] is not None:
                try:
                    setattr(models, "opportunity" if name == "opportunity_model" else "agent",
                            _load_optional(self.registry, name, champions[name]))
                except (RegistryError, ImportError, ValueError, RuntimeError, OSError) as err:
                    log.error("%s %s not served: %s", name, champions[name], err)
                    self.refused[name] = champions[name]
        return models

    def check(self, force: bool = False) -> bool:
        """Swap in new champions if any; True when the set in service changed."""
        now = time.monotonic()
        if not force and now < self._next_check:
            return False
        self._next_check = now + self.check_every_s
        serving = self.current.versions
        try:
            wanted = self._champions()
        except (OSError, ValueError) as err:  # a pointer being replaced or unreadable: try again next time
            log.warning("registry pointers unreadable: %s", err)
            return False
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
            except (RegistryError, ImportError, ValueError, RuntimeError, OSError) as err:
                self.refused[name] = version
                log.error("refused %s %s, still serving %s: %s", name, version, serving.get(name), err)
                self.events.append({"kind": "model_refused", "model": name, "version": version,
                                    "serving": serving.get(name), "error": str(err)})
        if not swapped:
            return False
        self.current = ModelSet(new.moon, new.rug, new.opportunity, new.agent)
        for name, version in swapped.items():
            log.info("serving %s %s (was %s)", name, version, serving.get(name))
            self.events.append({"kind": "model_swap", "model": name, "version": version, "was": serving.get(name)})
        return True
