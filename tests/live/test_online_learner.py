"""The online learner: refits on each 100 resolved outcomes, stays out while young, is blended 70/30 when it
is trusted, and falls back to the champion when it errs more than the champion did."""

from __future__ import annotations

import numpy as np
import pytest

from live_runtime.online_learner import OnlineLearner


def data(n, rng, flip=False):
    x = rng.normal(size=(n, 3))
    p = 1 / (1 + np.exp(-(2 * x[:, 0] - x[:, 1])))
    y = (rng.random(n) < p).astype(float)
    return x, (1 - y if flip else y)


def test_refits_every_100_outcomes_only_once_old_enough():
    rng = np.random.default_rng(0)
    learner = OnlineLearner(3, min_examples=300)
    x, y = data(1000, rng)
    learner.observe(x[:299], y[:299], np.full(299, 0.5))
    assert learner.fits == 0  # too young
    blended, own = learner.blend(np.full(5, 0.4), x[:5], 0.3)
    assert (blended == 0.4).all() and np.isnan(own).all()
    learner.observe(x[299:300], y[299:300], np.full(1, 0.5))  # the 300th outcome: old enough, 3rd hundred
    assert learner.fits == 1
    learner.observe(x[300:1000], y[300:1000], np.full(700, 0.5))
    assert learner.fits == 8


def test_trusted_when_it_beats_the_champion_then_blended_70_30():
    rng = np.random.default_rng(1)
    learner = OnlineLearner(3)
    x, y = data(2000, rng)
    learner.observe(x, y, np.full(len(y), y.mean()))  # a champion that knows only the base rate
    assert learner.trusted and learner.last_brier[0] < learner.last_brier[1]
    champion = np.full(4, 0.2)
    blended, own = learner.blend(champion, x[:4], 0.3)
    np.testing.assert_allclose(blended, 0.7 * champion + 0.3 * own)


def test_falls_back_to_the_champion_when_it_errs():
    rng = np.random.default_rng(2)
    learner = OnlineLearner(3)
    x, y = data(1000, rng)
    learner.observe(x, y, np.full(len(y), y.mean()))
    assert learner.trusted
    x2, y2 = data(100, rng, flip=True)  # the world turns: what it learnt is now wrong
    perfect = y2.copy()  # and the champion happens to be right
    learner.observe(x2, y2, perfect)
    assert not learner.trusted
    champion = np.full(3, 0.3)
    assert (learner.blend(champion, x2[:3], 0.3)[0] == champion).all()


def penalised_optimum(learner: OnlineLearner, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ridge-penalised logistic fit on the learner's own standardised design, by scipy to 1e-10."""
    from scipy.optimize import minimize

    d = learner._design(x)
    prior = np.zeros(d.shape[1])
    prior[0] = np.log((y.sum() + 1) / (len(y) - y.sum() + 1))

    def loss(c):
        z = d @ c
        return np.sum(np.logaddexp(0, z) - y * z) + 0.5 * learner.ridge * np.sum((c - prior) ** 2)

    def grad(c):
        return d.T @ (1 / (1 + np.exp(-(d @ c))) - y) + learner.ridge * (c - prior)

    return minimize(loss, prior, jac=grad, method="BFGS", options={"gtol": 1e-10}).x


@pytest.mark.parametrize("window", ["ordinary", "one class", "separable"])
def test_each_refit_is_the_penalised_maximum_likelihood_fit(window):
    rng = np.random.default_rng(4)
    learner = OnlineLearner(3, memory=1000)
    x, y = data(1000, rng)
    if window == "one class":
        y[:] = 0.0
    if window == "separable":
        y = (x[:, 0] > 0).astype(float)
    learner.observe(x, y, np.full(len(y), 0.5))
    fitted = learner.coef.copy()
    np.testing.assert_allclose(fitted, penalised_optimum(learner, x, y), atol=1e-3)
    assert np.abs(fitted).max() < 20


def test_stays_finite_through_windows_without_a_positive_and_recovers_when_they_come():
    """The online rug learner meets long runs with no rug at all: its fit must neither run off (the steps of
    an unpenalised intercept reached 1e8 on the default world's next day) nor stay stuck when rugs come."""
    rng = np.random.default_rng(5)
    learner = OnlineLearner(3)
    x, _ = data(3000, rng)
    learner.observe(x[:2000], np.zeros(2000), np.full(2000, 0.1))
    assert learner.fits == 18 and np.abs(learner.coef).max() < 10
    assert learner.predict(x[:50]).max() < 0.01  # nothing in the window was ever positive
    _, y = data(1000, rng)
    learner.observe(x[2000:], y, np.full(1000, 0.5))
    np.testing.assert_allclose(learner.coef, penalised_optimum(learner, x[2000:], y), atol=1e-3)
    assert abs(learner.predict(x[2000:]).mean() - y.mean()) < 0.02
