"""Drift statistics against hand-worked values and independent implementations (scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from quant.drift import (
    PSI_EPS,
    PageHinkley,
    bin_shares,
    kolmogorov_sf,
    ks_2samp,
    psi,
    psi_table,
    quality_drift,
    rolling_brier,
)
from quant.models.train import histogram


def test_psi_by_hand_on_a_known_case():
    # Reference: 4 bins of 25% each on edges 0, 1, 2, 3, 4. Sample of 10: 1, 2, 3, 4 in the bins.
    reference = {"edges": [0, 1, 2, 3, 4], "counts": [25, 25, 25, 25], "nulls": 0}
    sample = [0.5, 1.5, 1.5, 2.5, 2.5, 2.5, 3.5, 3.5, 3.5, 3.5]
    expected = sum((a - 0.25) * math.log(a / 0.25) for a in (0.1, 0.2, 0.3, 0.4))
    assert psi(reference, sample) == pytest.approx(expected, abs=1e-15)
    # by hand: 0.15 ln 2.5 + 0.05 ln 1.25 + 0.05 ln 1.2 + 0.15 ln 1.6 = 0.137444 + 0.011157 + 0.009116 + 0.070501
    assert psi(reference, sample) == pytest.approx(0.228217, abs=1e-6)


def test_psi_empty_bin_is_floored_at_epsilon():
    reference = {"edges": [0, 1, 2], "counts": [50, 50]}
    value = psi(reference, [1.5, 1.7, 1.9, 1.2])  # nothing in the first bin
    expected = (PSI_EPS - 0.5) * math.log(PSI_EPS / 0.5) + 0.5 * math.log(1.0 / 0.5)
    assert value == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(value)


def test_values_beyond_the_reference_range_fall_in_the_outer_bins():
    edges = [0.0, 1.0, 2.0, 3.0]
    shares = bin_shares(edges, [-5.0, 0.0, 1.0, 3.0, 99.0])  # 3.0 is the closed end of the last bin
    assert shares.tolist() == [0.4, 0.2, 0.4]


def test_psi_of_the_reference_sample_itself_is_zero_and_a_shift_is_large():
    rng = np.random.default_rng(1)
    x = rng.normal(size=20_000)
    ref = histogram(x)
    assert psi(ref, x) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, rng.normal(size=20_000)) < 0.01
    assert psi(ref, rng.normal(0.5, 1, size=20_000)) > 0.2
    table = psi_table({"a": ref, "b": ref}, {"a": x, "b": x + 1.0})
    assert list(table) == ["b", "a"]
    assert math.isnan(psi(ref, [np.nan, np.inf]))


@pytest.mark.parametrize("seed,n,m,shift,scale", [(0, 50, 70, 0.0, 1.0), (1, 200, 200, 0.3, 1.0),
                                                  (2, 1000, 333, 0.0, 2.0), (3, 5000, 4000, 0.05, 1.0),
                                                  (4, 30, 3000, 1.0, 0.5)])
def test_ks_matches_scipy(seed, n, m, shift, scale):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(shift, scale, size=m)
    ours, ref = ks_2samp(a, b), stats.ks_2samp(a, b, method="asymp")
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-12)
    en = n * m / (n + m)
    assert ours.pvalue == pytest.approx(stats.kstwobign.sf(math.sqrt(en) * ours.statistic), abs=1e-9)
    # scipy's asymp p-value uses the finite-n distribution at round(en); the limit agrees closely
    assert abs(ours.pvalue - ref.pvalue) < (0.01 if en >= 100 else 0.05)


def test_ks_with_ties_matches_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 5, 300).astype(float), rng.integers(0, 6, 250).astype(float)
    assert ks_2samp(a, b).statistic == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("z", [0.05, 0.3, 0.7, 0.99, 1.0, 1.36, 2.5])
def test_kolmogorov_sf_matches_scipy(z):
    assert kolmogorov_sf(z) == pytest.approx(stats.kstwobign.sf(z), abs=1e-12)


def test_quality_drift_against_reference_metrics():
    y = np.array([0, 0, 1, 1, 0, 1], float)
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    q = quality_drift(y, p, {"brier": 0.05, "roc_auc": 0.95})
    brier = float(np.mean((p - y) ** 2))
    assert q["brier"] == pytest.approx(brier) and q["brier_delta"] == pytest.approx(brier - 0.05)
    assert q["roc_auc"] == pytest.approx(8 / 9) and q["auc_delta"] == pytest.approx(8 / 9 - 0.95)
    assert math.isnan(quality_drift([0, 0], [0.1, 0.2], {"brier": 0.1, "roc_auc": 0.9})["roc_auc"])
    rb = rolling_brier(y, p, 3)
    assert np.isnan(rb[:2]).all() and rb[2] == pytest.approx(np.mean((p[:3] - y[:3]) ** 2))
    assert rb[5] == pytest.approx(np.mean((p[3:] - y[3:]) ** 2))


def test_page_hinkley_fires_after_a_mean_shift():
    delays = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        series = np.r_[rng.normal(0.1, 0.05, 500), rng.normal(0.2, 0.05, 300)]
        alarms = PageHinkley(delta=0.005, threshold=2.0).alarms(series)
        after = [i for i in alarms if i >= 500]
        assert after, f"seed {seed}: no alarm after the shift"
        delays.append(after[0] - 500)
    assert np.median(delays) < 40  # a 2-sigma shift costs ~0.095 a step: lambda 2 in ~21 steps


def test_page_hinkley_false_alarm_rate_on_stationary_series():
    """Over 200 seeds of 1,000 stationary values, the share of series with any alarm."""
    runs = [PageHinkley(delta=0.005, threshold=2.0).alarms(np.random.default_rng(s).normal(0.1, 0.05, 1000))
            for s in range(200)]
    false_alarm_rate = np.mean([bool(a) for a in runs])
    print(f"Page-Hinkley false-alarm rate: {false_alarm_rate:.3f} of 200 series of 1000")
    assert false_alarm_rate <= 0.02


def test_page_hinkley_alarms_equal_one_update_per_value():
    """The vectorised `alarms` and the streaming `update` are the same detector: same alarms, same state."""
    rng = np.random.default_rng(3)
    series = np.concatenate([rng.normal(level, 0.05, 300) for level in (0.1, 0.3, 0.5, 0.7, 0.9)])
    streaming, vectorised = PageHinkley(delta=0.005, threshold=2.0), PageHinkley(delta=0.005, threshold=2.0)
    one_by_one = [i for i, x in enumerate(series) if streaming.update(float(x))]
    in_chunks = [400 * k + i for k, chunk in enumerate(np.array_split(series, [400, 800, 1200]))
                 for i in vectorised.alarms(chunk)]
    assert len(one_by_one) >= 4 and in_chunks == one_by_one
    assert vectorised.n == streaming.n
    assert vectorised.cum == pytest.approx(streaming.cum, abs=1e-9)
    assert vectorised.min_cum == pytest.approx(streaming.min_cum, abs=1e-9)
