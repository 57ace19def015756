"""Panels: construction from long tables, the bundled Proposition 99 data, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.quasi import Panel, PanelError, load_prop99, panel_from_frame, prop99_panel
from experiments.quasi.synth import Predictor, _predictor_matrix

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def _long(N=4, T=5, seed=0):
    rng = np.random.default_rng(seed)
    rows = [dict(u=f"u{i}", t=2000 + t, y=rng.normal(), d=int(i == 0 and t >= 3)) for i in range(N) for t in range(T)]
    return pd.DataFrame(rows)


def test_panel_from_frame_layout_and_adoption():
    df = _long()
    p = panel_from_frame(df, unit="u", time="t", outcome="y", treatment="d")
    assert p.shape == (4, 5) and list(p.times) == [2000, 2001, 2002, 2003, 2004]
    assert p.adoption.tolist() == [3, 5, 5, 5] and p.cohorts.tolist() == [3]
    np.testing.assert_array_equal(p.y, df.pivot(index="u", columns="t", values="y").to_numpy())
    q = panel_from_frame(df, unit="u", time="t", outcome="y", treated_units=["u0"], start=2003)
    np.testing.assert_array_equal(p.treated, q.treated)


@pytest.mark.parametrize("mutate, match", [
    (lambda df: df.drop(index=7), "unbalanced panel: .* 'u1' lacks 2002"),
    (lambda df: pd.concat([df, df.iloc[[3]]]), "one row per \\(unit, period\\), got 1 duplicated"),
    (lambda df: df.assign(y=df.y.where(df.index != 4)), "y: expected finite outcomes"),
    (lambda df: df.assign(d=np.where((df.u == "u0") & (df.t == 2004), 0, df.d)), "treated: expected absorbing"),
    (lambda df: df.rename(columns={"y": "z"}), "outcome: column 'y' not found"),
])
def test_panel_refuses_malformed_tables(mutate, match):
    with pytest.raises(PanelError, match=match):
        panel_from_frame(mutate(_long()), unit="u", time="t", outcome="y", treatment="d")


def test_requirements_name_the_method_and_the_shortfall():
    y = np.zeros((5, 6))
    d = np.zeros((5, 6), bool)
    d[0, 1:] = True
    p = Panel.from_arrays(y, d)
    with pytest.raises(PanelError, match="twfe: needs at least 2 treated units, the panel has 1"):
        p.require("twfe", min_treated=2)
    with pytest.raises(PanelError, match="sc: needs at least 2 pre-treatment periods, the panel has 1 before"):
        p.require("sc", min_pre=2)
    d[1, 3:] = True
    with pytest.raises(PanelError, match="expected one adoption period .* got 2"):
        Panel.from_arrays(y, d).require("sdid", block=True)
    with pytest.raises(PanelError, match="expected at most 1 treated unit"):
        Panel.from_arrays(y, d).require("synthetic_control", max_treated=1)


def test_prop99_is_the_adh_panel():
    df = load_prop99()
    assert df.shape == (1209, 7) and df.state.nunique() == 39 and (df.year.min(), df.year.max()) == (1970, 2000)
    p = prop99_panel()
    assert p.shape == (39, 31) and p.units[p.ever_treated].tolist() == ["California"]
    assert p.times[p.cohorts[0]] == 1989
    # ADH's own predictor matrix (their MATLAB replication file) is reproduced from the long table
    ref = pd.read_csv(FIX / "adh2010_prop99_predictors.csv").set_index("state").loc[p.units]
    R = range(1980, 1989)
    preds = [Predictor("lnincome", R), Predictor("retprice", R), Predictor("age15to24", R),
             Predictor("beer", range(1984, 1989)), Predictor("outcome", [1988]), Predictor("outcome", [1980]),
             Predictor("outcome", [1975])]
    X = _predictor_matrix(p, preds, p.times < 1989)
    np.testing.assert_allclose(X, ref.to_numpy().T, rtol=1e-7)
