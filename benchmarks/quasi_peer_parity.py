"""Parity fixtures for experiments.quasi from peer libraries, on California's Proposition 99 panel.

Runs in its own virtual environment, never in the project's (the peers are not dependencies):

    python3 -m venv ~/.cache/quasi-peers && . ~/.cache/quasi-peers/bin/activate
    pip install pysyncon statsmodels linearmodels csdid pandas
    python benchmarks/quasi_peer_parity.py            # writes tests/fixtures/quasi_parity.npz

It reads only the bundled CSV (experiments/quasi/data/prop99.csv.gz) and records:

- pysyncon ``Synth`` on ADH 2010's specification (seven predictors, V chosen on 1970-1988 outcomes,
  Nelder-Mead from the ``equal`` and ``ols`` starts): donor weights, V, pre-period loss, gap path;
- pysyncon ``Synth`` with a fixed ``V`` (all ones) and its ``PlaceboTest`` (every control as the
  treated unit, the treated unit excluded from placebo pools): weights, every unit's gap path,
  pysyncon's p-value;
- statsmodels OLS with state and year dummies (cluster-robust by state) for California's DiD;
- on a staggered placebo design of the same panel (California dropped, twelve states given
  adoption years 1980/1985/1990): statsmodels TWFE and event-study coefficients with cluster-robust
  errors, linearmodels ``PanelOLS`` with entity and time effects, and csdid's Callaway-Sant'Anna
  ATT(g, t) and aggregations (never-treated controls, analytic standard errors).

Prints one JSON line (versions, sizes, timings).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "experiments" / "quasi" / "data" / "prop99.csv.gz"
OUT = ROOT / "tests" / "fixtures" / "quasi_parity.npz"

ADH_FIRST = ["lnincome", "age15to24", "retprice"]  # means over 1980-1988
ADH_SPECIAL = [("beer", range(1984, 1989), "mean"), ("cigsale", [1988], "mean"), ("cigsale", [1980], "mean"),
               ("cigsale", [1975], "mean")]
STAGGER_WAVES = (1980, 1985, 1990)
LEADS, LAGS = 4, 4


def stagger_design(df: pd.DataFrame) -> pd.DataFrame:
    """California dropped; every third state (alphabetical) up to twelve gets an adoption year."""
    d = df[df.state != "California"].copy()
    states = sorted(d.state.unique())
    chosen = states[0::3][:12]
    first = {s: STAGGER_WAVES[i * len(STAGGER_WAVES) // len(chosen)] for i, s in enumerate(chosen)}
    d["first_treat"] = d.state.map(first).fillna(0).astype(int)
    d["treated"] = ((d.first_treat > 0) & (d.year >= d.first_treat)).astype(int)
    return d


def synth_fits(df: pd.DataFrame, out: dict) -> None:
    from pysyncon import Dataprep, Synth
    from pysyncon.utils import PlaceboTest

    controls = sorted(set(df.state) - {"California"})
    dp = Dataprep(foo=df, predictors=ADH_FIRST, predictors_op="mean", time_predictors_prior=range(1980, 1989),
                  special_predictors=ADH_SPECIAL, dependent="cigsale", unit_variable="state", time_variable="year",
                  treatment_identifier="California", controls_identifier=controls, time_optimize_ssr=range(1970, 1989))
    X0, X1 = dp.make_covariate_mats()
    out["synth_predictor_names"] = np.array(list(X1.index), dtype=str)
    out["synth_X1"] = X1.to_numpy(float)
    years = np.arange(1970, 2001)
    Z0, Z1 = dp.make_outcome_mats(time_period=years)
    for init in ("equal", "ols"):
        s = Synth()
        s.fit(dataprep=dp, optim_method="Nelder-Mead", optim_initial=init)
        out[f"synth_{init}_W"] = np.asarray(s.W, float)
        out[f"synth_{init}_V"] = np.asarray(s.V, float)
        out[f"synth_{init}_loss_V"] = float(s.loss_V)
        out[f"synth_{init}_gap"] = (Z1 - Z0 @ np.asarray(s.W)).to_numpy(float)
    out["synth_donors"] = np.array(controls, dtype=str)
    out["years"] = years
    s = Synth()
    s.fit(dataprep=dp, custom_V=np.ones(len(X1)))
    out["fixedv_W"] = np.asarray(s.W, float)
    pl = PlaceboTest()
    pl.fit(dataprep=dp, scm=Synth(), scm_options=dict(custom_V=np.ones(len(X1))), max_workers=2, verbose=False)
    gaps = pl.gaps.reindex(columns=controls)
    out["placebo_gaps"] = gaps.loc[years].to_numpy(float).T  # (38, 31)
    out["placebo_treated_gap"] = pl.treated_gap.loc[years].to_numpy(float)
    out["placebo_pvalue_pysyncon"] = float(pl.pvalue(treatment_time=1989))


def ols_fits(df: pd.DataFrame, out: dict) -> None:
    import statsmodels.formula.api as smf
    from linearmodels.panel import PanelOLS

    d = df.copy()
    d["treated"] = ((d.state == "California") & (d.year >= 1989)).astype(int)
    m = smf.ols("cigsale ~ C(state) + C(year) + treated", data=d).fit(
        cov_type="cluster", cov_kwds=dict(groups=pd.factorize(d.state)[0]))
    out["ca_twfe_coef"] = float(m.params["treated"])
    out["ca_twfe_se_cluster"] = float(m.bse["treated"])

    s = stagger_design(df)
    groups = pd.factorize(s.state)[0]
    m = smf.ols("cigsale ~ C(state) + C(year) + treated", data=s).fit(cov_type="cluster", cov_kwds=dict(groups=groups))
    out["stag_twfe_coef"] = float(m.params["treated"])
    out["stag_twfe_se_cluster"] = float(m.bse["treated"])
    # event study: relative-year dummies -LEADS..LAGS, ends binned, -1 omitted; never-treated all zero
    rel = np.clip(s.year - s.first_treat, -LEADS, LAGS)
    names = []
    for e in range(-LEADS, LAGS + 1):
        if e == -1:
            continue
        nm = f"ev_m{-e}" if e < 0 else f"ev_p{e}"
        s[nm] = ((s.first_treat > 0) & (rel == e)).astype(int)
        names.append(nm)
    m = smf.ols("cigsale ~ C(state) + C(year) + " + " + ".join(names), data=s).fit(
        cov_type="cluster", cov_kwds=dict(groups=groups))
    out["stag_event_e"] = np.array([e for e in range(-LEADS, LAGS + 1) if e != -1])
    out["stag_event_coef"] = m.params[names].to_numpy(float)
    out["stag_event_se"] = m.bse[names].to_numpy(float)
    lead_names = [n for n in names if n.startswith("ev_m")]
    w = m.wald_test(" = 0, ".join(lead_names) + " = 0", use_f=True, scalar=True)
    out["stag_event_pretrend_F"] = float(w.statistic)
    p = s.set_index(["state", "year"])
    lm = PanelOLS(p.cigsale, p[["treated"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True)
    out["stag_linearmodels_coef"] = float(lm.params["treated"])
    out["stag_linearmodels_se"] = float(lm.std_errors["treated"])


def cs_fits(df: pd.DataFrame, out: dict) -> None:
    from csdid.att_gt import ATTgt

    s = stagger_design(df)
    s["sid"] = pd.factorize(s.state)[0] + 1
    with contextlib.redirect_stdout(io.StringIO()):  # csdid prints its summary tables
        _cs_fits(ATTgt, s, out)


def _cs_fits(ATTgt, s: pd.DataFrame, out: dict) -> None:
    a = ATTgt(yname="cigsale", tname="year", idname="sid", gname="first_treat", data=s,
              control_group=["nevertreated"]).fit(est_method="reg", base_period="varying", bstrap=False)
    r = a.results
    out["cs_group"] = np.asarray(r["group"], float)
    out["cs_year"] = np.asarray(r["year"], float)
    out["cs_att"] = np.asarray(r["att"], float)
    out["cs_se"] = np.asarray(r["se"], float)
    for typ in ("simple", "dynamic", "group", "calendar"):
        g = a.aggte(typec=typ, bstrap=False)
        ag = a.atte if hasattr(a, "atte") else g
        out[f"cs_{typ}_att"] = float(ag["overall_att"])
        out[f"cs_{typ}_se"] = float(ag["overall_se"])
        if typ == "dynamic":
            out["cs_dynamic_e"] = np.asarray(ag["egt"], float)
            out["cs_dynamic_att_e"] = np.asarray(ag["att_egt"], float)
            out["cs_dynamic_se_e"] = np.asarray(ag["se_egt"], float).ravel()


def main() -> None:
    df = pd.read_csv(DATA)
    out: dict = {}
    t = time.time()
    synth_fits(df, out)
    t_synth = time.time() - t
    ols_fits(df, out)
    cs_fits(df, out)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, **out)
    vers = {p: version(p) for p in ("pysyncon", "statsmodels", "linearmodels", "csdid", "numpy", "scipy", "pandas")}
    print(json.dumps(dict(fixture=str(OUT.relative_to(ROOT)), versions=vers, keys=len(out), synth_seconds=round(t_synth, 1),
                          loss_v=dict(equal=out["synth_equal_loss_V"], ols=out["synth_ols_loss_V"]),
                          placebo_p_pysyncon=out["placebo_pvalue_pysyncon"])))


if __name__ == "__main__":
    main()
