"""The online learner: refits on each 100 resolved outcomes, stays out while young, is blended 70/30 when it
is trusted, and falls back to the champion when it errs more than the champion did."""

from __future__ import annotations

import numpy as np

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
