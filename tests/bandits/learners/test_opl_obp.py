"""screentest's learners against obp 0.5.7's IPWLearner on the same training logs, without obp: the
fixture tests/fixtures/obp_parity_ext.npz (see its .md; regenerate with
``python -m benchmarks.obp_parity_ext --write-fixture``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bandits.learners import train_policy

FIX = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "obp_parity_ext.npz"


@pytest.fixture(scope="module")
def z():
    return dict(np.load(FIX))


def test_learned_policies_against_obps_ipw_learner_on_the_same_logs(z):
    """True values (exact expected rewards on the test contexts) of screentest's learners and obp's
    IPWLearner, paired by training log: the mean difference is within 3 standard errors of the
    paired differences (the Monte-Carlo error of training on a random log), or better."""
    n_seeds = int(z["n_seeds"])
    obp = np.asarray(z["obp_opl_values"], np.float64)
    for objective in ("snipw", "dr"):
        vals = []
        for s in range(n_seeds):
            g = lambda k, s=s: np.asarray(z[f"opl_{s}_{k}"], np.float64)  # noqa: E731
            Q = g("test_expected_reward")
            data = {"context": g("train_context"), "action": g("train_action").astype(np.int64),
                    "reward": g("train_reward"), "pscore": g("train_pscore"), "n_actions": Q.shape[1]}
            p = {k: np.asarray(v, np.float64) for k, v in train_policy(data, objective=objective).params.items()}
            scores = ((g("test_context") - p["mu"]) / p["sd"]) @ p["W"] + p["b"]
            vals.append(Q[np.arange(Q.shape[0]), scores.argmax(axis=1)].mean())
            assert vals[-1] > float(z[f"opl_{s}_logging_value"]) + 0.1
        d = np.array(vals) - obp
        assert d.mean() >= -3 * d.std(ddof=1) / np.sqrt(n_seeds), (objective, d)
