"""Labelled-data worlds in the fidelity study (envs.known.supervised_world, ``--world wine``).

References: scikit-learn's bundled labels (a policy's truth is its label accuracy, computed here
with a numpy loop over the raw examples) and the closed form of the uniform policy's value.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from envs.known import WORLDS, supervised_world
from experiments import cli


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_truth_is_the_label_accuracy(noise):
    from sklearn.datasets import load_iris

    w = supervised_world("iris", noise=noise)
    x, y = load_iris(return_X_y=True)
    K = 3
    assert w.n_actions == K and w.len_list == 1 and w.context_dim == x.shape[1] + 1
    # a policy that plays class 0 for contexts whose first standardised feature is below 0, else class 2
    rule = lambda ctx: np.where(ctx[:, 0] < 0, 0, 2)  # noqa: E731
    A = np.zeros((w.contexts.shape[0], K))
    A[np.arange(A.shape[0]), rule(w.contexts)] = 1.0
    xs = (x - x.mean(0)) / x.std(0)
    hits = [float(rule(xs[i:i + 1])[0] == y[i]) for i in range(len(y))]  # loop over the raw examples
    expect = noise + (1 - 2 * noise) * np.mean(hits)
    # (the environment keeps noise in float32: 0.1 is 0.1 + 1.5e-9)
    assert w.value(A, 1) == pytest.approx(expect, abs=1e-8)
    uniform = np.full_like(A, 1.0 / K)
    assert w.value(uniform, 1) == pytest.approx(noise + (1 - 2 * noise) / K, abs=1e-8)
    assert w.env_value_check() == pytest.approx(noise + (1 - 2 * noise) / K, abs=1e-8)


def test_wine_fidelity_cli_json(tmp_path, capsys):
    assert {"digits", "wine", "breast_cancer", "iris"} <= set(WORLDS)
    path = tmp_path / "f.json"
    rc = cli.main(["fidelity", "--world", "wine", "--rows", "2000", "--panel", "random,epsilon_greedy,linucb",
                   "--estimators", "ipw,dr", "--json", str(path), "--no-plot", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads(path.read_text())
    assert doc["settings"]["world"] == "supervised" and doc["settings"]["dataset"] == "wine"
    assert doc["policies"] == ["random", "epsilon_greedy", "linucb"] and doc["rows"] == [2000]
    v = doc["values"]["2000"]
    assert v["truth"][0] == pytest.approx(1 / 3, abs=1e-12)  # uniform over 3 classes, no noise
    # IPW of the uniform policy under uniform logging is the held-out mean reward: within 4 SE of 1/3
    se = np.sqrt((1 / 3) * (2 / 3) / 1000)
    assert abs(v["ipw"][0] - 1 / 3) < 4 * se
    assert set(doc["estimators"]) == {"ipw", "dr"}


def test_labelled_world_refuses_site_prior_and_slates(capsys):
    assert cli.main(["fidelity", "--world", "iris", "--item-prior", "site"]) == 2
    assert "--item-prior" in capsys.readouterr().err
    assert cli.main(["fidelity", "--world", "iris", "--panel", "random_slate@3"]) == 2
