"""The online learner of the hybrid design: a small logistic model refitted on each `refit_every` newly
resolved outcomes, blended with the champion (champion 1 - w, learner w). It stays out (the champion alone)
while it is too young, and whenever it erred more than the champion on the outcomes that arrived since its
last fit (its Brier score on them, scored before it saw them, worse than the champion's).
"""

from __future__ import annotations

import numpy as np


class OnlineLearner:
    def __init__(self, n_features: int, refit_every: int = 100, memory: int = 1_000, min_examples: int = 300,
                 ridge: float = 1.0):
        self.refit_every, self.memory, self.min_examples, self.ridge = refit_every, memory, min_examples, ridge
        # Ring buffers of the newest `memory` outcomes: features, label, the champion's probability.
        self.x = np.zeros((memory, n_features))
        self.y = np.zeros(memory)
        self.champion_p = np.zeros(memory)
        self.seen = 0
        self.coef: np.ndarray | None = None
        self.mean = np.zeros(n_features)
        self.scale = np.ones(n_features)
        self.since_fit = 0
        self.fits = 0
        self.trusted = False
        self.last_brier: tuple[float, float] | None = None  # (learner, champion) on the latest outcomes

    def _design(self, x: np.ndarray, finite: np.ndarray | None = None) -> np.ndarray:
        z = x - self.mean  # contiguous: the same steps on a strided view of the design cost twice as much
        z /= self.scale
        np.copyto(z, 0.0, where=~(np.isfinite(x) if finite is None else finite))  # missing history reads as average
        np.clip(z, -8, 8, out=z)
        d = np.empty((len(x), x.shape[1] + 1))
        d[:, 0] = 1.0
        d[:, 1:] = z
        return d

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.coef is None:
            return np.full(len(x), np.nan)
        return 1.0 / (1.0 + np.exp(-np.clip(self._design(x) @ self.coef, -30, 30)))

    def blend(self, champion: np.ndarray, x: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
        """(blended probability, the learner's own): the champion alone unless the learner is trusted."""
        own = self.predict(x)
        if not self.trusted:
            return champion, own
        return (1 - weight) * champion + weight * own, own

    def _newest(self, n: int) -> np.ndarray:
        """Ring positions of the newest n outcomes, oldest first."""
        return (self.seen - n + np.arange(n)) % self.memory

    def observe(self, x: np.ndarray, y: np.ndarray, champion_p: np.ndarray) -> bool:
        """Add resolved outcomes, in order; refit at every `refit_every`-th. Returns whether it refitted."""
        refitted, start = False, 0
        while start < len(y):
            take = min(len(y) - start, self.refit_every - self.since_fit)
            at = (self.seen + np.arange(take)) % self.memory
            self.x[at], self.y[at], self.champion_p[at] = x[start:start + take], y[start:start + take], \
                champion_p[start:start + take]
            self.seen += take
            self.since_fit += take
            start += take
            if self.since_fit == self.refit_every:
                self._judge()
                if min(self.seen, self.memory) >= self.min_examples:
                    self._fit()
                    refitted = True
                self.since_fit = 0
        return refitted

    def _judge(self) -> None:
        """Score the fit in service on the outcomes it has not seen (the newest `since_fit`)."""
        if self.coef is None:
            return
        at = self._newest(self.since_fit)
        own = float(np.mean((self.predict(self.x[at]) - self.y[at]) ** 2))
        base = float(np.mean((self.champion_p[at] - self.y[at]) ** 2))
        self.last_brier = (own, base)
        self.trusted = own <= base

    def _fit(self, iterations: int = 6, tolerance: float = 1e-2) -> None:
        at = self._newest(min(self.seen, self.memory))
        x, y = self.x[at], self.y[at]
        finite = np.isfinite(x)
        count = finite.sum(axis=0)
        present = np.where(finite, x, 0.0)
        with np.errstate(all="ignore"):  # a feature never present: mean 0, scale 1
            mean = np.where(count > 0, present.sum(axis=0) / count, 0.0)
            deviation = present - mean
            deviation *= finite
            scale = np.where(count > 0, np.sqrt(np.einsum("ij,ij->j", deviation, deviation) / count), 1.0)
        scale[scale < 1e-12] = 1.0
        self.mean, self.scale = mean, scale
        d = self._design(x, finite)
        # Every coefficient is penalised: the slopes towards 0, the intercept towards the window's base rate
        # (Laplace-smoothed log-odds), so the fit exists for any window, one without a single rug included.
        positives = float(y.sum())
        prior = np.zeros(d.shape[1])
        prior[0] = np.log((positives + 1) / (len(y) - positives + 1))

        def loss(c: np.ndarray) -> float:  # the penalised negative log-likelihood
            z = d @ c
            return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * self.ridge * np.sum((c - prior) ** 2))

        # Newton steps from the fit in service, each halved until the loss falls, until a step moves no
        # coefficient by `tolerance` (convergence is quadratic by then). Undamped, with the intercept nearly
        # free, the steps diverged on the default world's next day: coefficients of 1e8 in both learners.
        coef = prior if self.coef is None else self.coef.copy()
        current = loss(coef)
        penalty = self.ridge * np.eye(d.shape[1])
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(d @ coef, -30, 30)))
            hessian = d.T @ (d * (p * (1 - p))[:, None]) + penalty
            try:
                step = np.linalg.solve(hessian, d.T @ (p - y) + self.ridge * (coef - prior))
            except np.linalg.LinAlgError:  # keep the fit in service; the champion serves if it errs
                return
            for _ in range(30):
                trial = loss(coef - step)
                if trial <= current:
                    break
                step = step / 2
            else:
                break  # no step lowers the loss: converged to rounding
            coef, current = coef - step, trial
            if np.abs(step).max() < tolerance:
                break
        self.coef = coef
        self.fits += 1

    def state(self) -> dict[str, np.ndarray]:
        """Everything it knows, as arrays (for the journal: a restarted runtime picks the learner up warm)."""
        return {"x": self.x, "y": self.y, "champion_p": self.champion_p, "mean": self.mean, "scale": self.scale,
                "coef": np.zeros(0) if self.coef is None else self.coef,
                "counts": np.array([self.seen, self.since_fit, self.fits, int(self.trusted)], np.int64),
                "last_brier": np.array(self.last_brier if self.last_brier else [np.nan, np.nan])}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        if state["x"].shape != self.x.shape:
            raise ValueError(f"learner state of shape {state['x'].shape}, this learner holds {self.x.shape}")
        self.x, self.y, self.champion_p = state["x"].copy(), state["y"].copy(), state["champion_p"].copy()
        self.mean, self.scale = state["mean"].copy(), state["scale"].copy()
        self.coef = state["coef"].copy() if state["coef"].size else None
        self.seen, self.since_fit, self.fits, trusted = (int(v) for v in state["counts"])
        self.trusted = bool(trusted)
        brier = state["last_brier"]
        self.last_brier = None if np.isnan(brier).all() else (float(brier[0]), float(brier[1]))

    def describe(self) -> dict:
        return {"fits": self.fits, "examples": min(self.seen, self.memory), "trusted": self.trusted,
                "last_brier": self.last_brier}
