"""The OBD-calibrated simulator: sim-to-real check, calibration report, `screentest calibrate`.

The simulator is fitted once per module on the bundled uniform-random logs with the L2 strengths
fixed to (300, 3000), the values the default cross-validated search picks on this sample (the
search itself is exercised by `screentest calibrate` without --penalties; it is skipped here to keep
the suite fast).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from bandits.datasets import load_obd
from envs.logged import fit_member_simulator, policy_value
from experiments.sim2real import sim_to_real

PEN = (300.0, 3000.0)


@pytest.fixture(scope="module")
def data():
    return load_obd("random", "all"), load_obd("bts", "all")


@pytest.fixture(scope="module")
def sim(data):
    return fit_member_simulator(data[0], penalties=PEN)


@pytest.fixture(scope="module")
def result(sim, data):
    # BTS runs as long as the logs (3334 slate rounds) so the check is the real one; fewer MC draws
    # for the frozen-prior marginals (SE <= 0.0035 per entry, reported only)
    res, _ = sim_to_real("all", sim=sim, n_members=64, horizon=400, n_bts_seeds=4, n_bts_sim=20_000,
                         data_random=data[0], data_bts=data[1])
    return res


def test_sim_to_real_check_passes_on_the_bundled_sample(result):
    lg = result.logged
    # the logged figures published for this sample (README of the data): 0.0038 and 0.0042
    assert lg["random"][0] == pytest.approx(0.0038) and lg["bts"][0] == pytest.approx(0.0042)
    # the intervals are Wilson 95% intervals of 38/10000 and 42/10000 (scipy as the reference)
    for name, k in (("random", 38), ("bts", 42)):
        ci = stats.binomtest(k, 10_000).proportion_ci(method="wilson")
        assert lg[name][1:3] == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert result.passed == {"random": True, "bts": True}, result.to_text()
    assert result.ok
    assert "PASS" in result.to_text()


def test_simulated_random_rate_agrees_with_the_exact_value(result):
    """The Monte Carlo rate of uniform random (64 x 400 slate rounds) matches the exact value."""
    sm = result.simulated
    n = 64 * 400 * 3
    se = np.sqrt(sm["random_exact"] * (1 - sm["random_exact"]) / n)
    assert abs(sm["random_realised"] - sm["random_exact"]) < 4 * se
    assert abs(sm["random"] - sm["random_exact"]) < 4 * se  # expected-reward average: far tighter


def test_calibration_report_on_held_out_rows(sim):
    r = sim.report
    assert r.n_train + r.n_heldout == 10_000 and r.clicks_train + r.clicks_heldout == 38
    assert np.isfinite(r.log_loss) and np.isfinite(r.log_loss_baseline) and 0.0 <= r.auc <= 1.0
    assert sum(r.reliability["weight"]) == r.n_heldout
    # calibrated in the large: the pooled predicted rate is inside each bin's Wilson interval range
    assert min(r.reliability["ci_lo"]) < np.mean(r.reliability["mean_pred"]) < max(r.reliability["ci_hi"])
    assert r.logger == "uniform" and r.penalties == {"main": PEN[0], "interaction": PEN[1]}


def test_exact_uniform_value_equals_mean_click_probability(sim, data):
    Q = sim.model.expected_matrix(sim.contexts)  # float64 numpy path
    np.testing.assert_allclose(policy_value(sim.env, np.full((80, 3), 1 / 80)), Q.mean(), rtol=1e-5)
    d = data[0]
    # the MAP fit has an unpenalised intercept, so its score equation holds: mean raw prediction on
    # the fitted rows = mean click (to optimiser tolerance)
    z = sim.model.raw_logit(d.context, d.action, d.position)
    assert np.mean(1 / (1 + np.exp(-z))) == pytest.approx(d.reward.mean(), rel=1e-3)
    # after Platt scaling the pooled prediction stays inside the logged mean's 95% interval
    p = sim.model.predict_proba(d.context, d.action, d.position).mean()
    ci = stats.binomtest(38, 10_000).proportion_ci(method="wilson")
    assert ci.low < p < ci.high


def test_calibrate_cli_writes_text_png_json(tmp_path, capsys):
    from experiments.calibrate_cli import main

    rc = main(["--penalties", "300,3000", "--members", "16", "--horizon", "100", "--bts-seeds", "2",
               "--bts-rounds", "200", "--bts-sim", "20000", "--no-verdict", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "sim-to-real check" in out and "held-out log-loss" in out
    assert (tmp_path / "calibrate.png").stat().st_size > 10_000
    payload = json.loads((tmp_path / "calibrate.json").read_text())
    assert payload["sim_to_real"]["ok"] is True


def test_calibrate_cli_rejects_bad_arguments(capsys):
    from experiments.calibrate_cli import main

    assert main(["--penalties", "abc"]) == 2
    assert main(["--members", "0"]) == 2
    assert "--members" in capsys.readouterr().err
