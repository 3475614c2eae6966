"""The online learner of the hybrid design: a small logistic model refitted on each `refit_every` newly
resolved outcomes, blended with the champion (champion 1 - w, learner w). It stays out (the champion alone)
while it is too young, and whenever it erred more than the champion on the outcomes that arrived since its
last fit (its Brier score on them, scored before it saw them, worse than the champion's).
"""

from __future__ import annotations

from collections import deque

import numpy as np


class OnlineLearner:
    def __init__(self, n_features: int, refit_every: int = 100, memory: int = 1_000, min_examples: int = 300,
                 ridge: float = 1.0):
        self.refit_every, self.min_examples, self.ridge = refit_every, min_examples, ridge
        self.x: deque[np.ndarray] = deque(maxlen=memory)
        self.y: deque[float] = deque(maxlen=memory)
        self.champion_p: deque[float] = deque(maxlen=memory)
        self.coef: np.ndarray | None = None
        self.mean = np.zeros(n_features)
        self.scale = np.ones(n_features)
        self.since_fit = 0
        self.fits = 0
        self.trusted = False
        self.last_brier: tuple[float, float] | None = None  # (learner, champion) on the latest outcomes

    def _design(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.scale
        z = np.where(np.isfinite(z), z, 0.0)  # missing history reads as average
        return np.hstack([np.ones((len(z), 1)), np.clip(z, -8, 8)])

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

    def observe(self, x: np.ndarray, y: np.ndarray, champion_p: np.ndarray) -> bool:
        """Add resolved outcomes; refit when enough have arrived. Returns whether it refitted."""
        refitted = False
        for i in range(len(y)):
            self.x.append(x[i])
            self.y.append(float(y[i]))
            self.champion_p.append(float(champion_p[i]))
            self.since_fit += 1
            if self.since_fit >= self.refit_every:
                self._judge()
                if len(self.y) >= self.min_examples:
                    self._fit()
                    refitted = True
                self.since_fit = 0
        return refitted

    def _judge(self) -> None:
        """Score the fit in service on the outcomes it has not seen (the newest `since_fit`)."""
        if self.coef is None:
            return
        n = self.since_fit
        x, y = np.array(list(self.x)[-n:]), np.array(list(self.y)[-n:])
        champ = np.array(list(self.champion_p)[-n:])
        own = np.mean((self.predict(x) - y) ** 2)
        base = np.mean((champ - y) ** 2)
        self.last_brier = (float(own), float(base))
        self.trusted = bool(own <= base)

    def _fit(self, iterations: int = 3) -> None:
        x, y = np.array(self.x), np.array(self.y)
        finite = np.where(np.isfinite(x), x, np.nan)
        self.mean = np.nan_to_num(np.nanmean(finite, axis=0))
        self.scale = np.nan_to_num(np.nanstd(finite, axis=0), nan=1.0)
        self.scale[self.scale < 1e-12] = 1.0
        d = self._design(x)
        # Warm-started from the fit in service: a few Newton steps from there converge.
        coef = np.zeros(d.shape[1]) if self.coef is None or len(self.coef) != d.shape[1] else self.coef.copy()
        penalty = self.ridge * np.eye(d.shape[1])
        penalty[0, 0] = 1e-6  # the intercept almost free; a one-class window would leave it unbounded
        for _ in range(iterations):  # Newton steps on the ridge-penalised log-likelihood
            p = 1.0 / (1.0 + np.exp(-np.clip(d @ coef, -30, 30)))
            w = np.maximum(p * (1 - p), 1e-9)
            hessian = d.T @ (d * w[:, None]) + penalty
            try:
                coef -= np.linalg.solve(hessian, d.T @ (p - y) + penalty @ coef)
            except np.linalg.LinAlgError:  # keep the fit in service; the champion serves if it errs
                return
        self.coef = coef
        self.fits += 1

    def describe(self) -> dict:
        return {"fits": self.fits, "examples": len(self.y), "trusted": self.trusted, "last_brier": self.last_brier}
