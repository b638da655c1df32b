"""Thresholds from good parts only: order statistics and the tail fit, on known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibration.threshold import binom_cdf, choose_threshold, fit_gumbel, frr_upper_bound, parts_needed
from inspection.errors import ConfigError


def test_what_n_good_parts_can_guarantee():
    assert frr_upper_bound(0, 50) == pytest.approx(1 - 0.05 ** (1 / 50))  # 5.8%
    assert frr_upper_bound(0, 3000) < 0.001 < frr_upper_bound(0, 2990)
    assert parts_needed(0.001, 0.95) == 2995
    assert parts_needed(0.01, 0.95) == 299
    # Clopper-Pearson one-sided 95% upper bound of 1 in 100: 4.66% (textbook value)
    assert frr_upper_bound(1, 100) == pytest.approx(0.0466, abs=5e-4)
    assert binom_cdf(1, 100, frr_upper_bound(1, 100)) == pytest.approx(0.05, abs=1e-6)
    assert frr_upper_bound(5, 5) == 1.0


def test_gumbel_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    x = rng.gumbel(2.0, 0.3, 5000)
    fit = fit_gumbel(x)
    assert fit.mu == pytest.approx(2.0, abs=0.02) and fit.beta == pytest.approx(0.3, abs=0.015)
    assert fit.survival(fit.quantile(0.999)) == pytest.approx(0.001, rel=1e-6)


def test_threshold_extrapolates_to_the_true_quantile_of_a_gumbel():
    rng = np.random.default_rng(1)
    scores = rng.gumbel(1.0, 0.2, 200)
    c = choose_threshold(scores, 0.001)
    truth = 1.0 - 0.2 * math.log(-math.log(0.999))
    assert c.method == "extrapolated" and c.threshold == pytest.approx(truth, rel=0.12)
    assert c.exceed == 0 and c.threshold > scores.max()
    assert c.frr_guaranteed == pytest.approx(1 - 0.05 ** (1 / 200)) and c.frr_guaranteed > 0.001
    assert any("2995" in n for n in c.notes)


def test_threshold_is_empirical_when_the_data_can_show_the_target():
    rng = np.random.default_rng(2)
    scores = rng.exponential(1.0, 1000)
    c = choose_threshold(scores, 0.2)
    assert c.exceed <= 200 and c.threshold >= np.quantile(scores, 0.79)
    assert c.frr_guaranteed < 0.25


def test_parts_rejected_at_any_threshold_count_as_false_rejects():
    scores = [0.3, 0.4, 0.35, 0.5, 0.45, 0.38, math.inf, 0.41, 0.33, 0.36]
    c = choose_threshold(scores, 0.05)
    assert c.exceed >= 1 and c.frr_observed >= 0.1 and c.frr_guaranteed > 0.1


def test_threshold_is_clamped_and_says_so():
    c = choose_threshold(np.linspace(30.0, 39.0, 20), 0.001, highest=40.0)
    assert c.threshold == 40.0 and any("above the highest allowed" in n for n in c.notes)
    c = choose_threshold([0.1] * 30, 0.01, lowest=0.1)
    assert c.threshold == pytest.approx(0.1) and any("lowest" in n for n in c.notes)


def test_bad_targets_are_config_errors():
    for bad in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(ConfigError):
            choose_threshold([1.0, 2.0], bad)
    with pytest.raises(ConfigError):
        choose_threshold([], 0.01)


def test_the_guarantee_holds_over_many_sets_of_good_parts():
    """Whatever the distribution, the true FRR at the chosen threshold exceeds the guaranteed bound in
    at most about 5% of sets (95% confidence). Exponential scores: heavier-tailed than the fit."""
    rng = np.random.default_rng(3)
    misses = 0
    trials = 400
    for _ in range(trials):
        s = rng.exponential(1.0, 30)
        c = choose_threshold(s, 0.05, confidence=0.95, highest=1e9)
        true_frr = math.exp(-c.threshold)
        misses += true_frr > c.frr_guaranteed
    assert misses / trials <= 0.08
