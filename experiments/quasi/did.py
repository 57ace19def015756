"""Difference-in-differences on a balanced panel: two-way fixed effects, the event study, and
Callaway & Sant'Anna's group-time effects for staggered adoption.

- :func:`twfe`: ``y_it = a_i + b_t + beta D_it + e_it`` by OLS. On a balanced panel the two-way
  within transform (subtract unit and period means, add the grand mean) is exact (Frisch-Waugh-
  Lovell), so ``beta = sum(D~ y~) / sum(D~^2)`` and the cluster-robust (by unit) variance is
  ``c * sum_i (sum_t D~_it e_it)^2 / sum(D~^2)^2`` with Stata's and statsmodels' small-sample
  factor ``c = G/(G-1) (NT-1)/(NT-K)``, ``K = N + T`` regressors; intervals use ``t(G-1)``.
  Cluster-robust standard errors need several treated and several control clusters: with one
  treated unit they are meaningless (Conley & Taber 2011), so the function refuses and points to
  the permutation test.
- :func:`event_study`: the same regression with relative-period dummies ``1{t - A_i = e}``
  (``e = -leads..lags``, ends binned, ``reference`` omitted) and a joint F-test of the leads
  (the pre-trend check).
- :func:`callaway_santanna`: ``ATT(g, t)`` for each adoption cohort ``g`` and period ``t`` as a
  2x2 comparison of the cohort with never-treated (or not-yet-treated) units against the period
  before adoption (Callaway & Sant'Anna 2021, unconditional parallel trends), aggregated to an
  overall effect, by event time, by cohort or by calendar period with influence-function standard
  errors (including the estimated cohort shares) and a multiplier-bootstrap uniform band for the
  event-time curve. Unlike TWFE under staggered adoption and heterogeneous effects, no group-time
  effect enters with a negative weight (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020).

With ``inference="permutation"`` the interval inverts a randomisation test (the adoption
periods permuted across units; :mod:`experiments.quasi.inference`), exact when the assignment
was random, whatever the number of treated units.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from experiments.abtest.validation import check_alpha
from experiments.quasi.inference import Estimate, ri_invert, ri_linear, t_interval
from experiments.quasi.panel import Panel, PanelError

__all__ = ["within", "twfe_arrays", "twfe", "event_study", "callaway_santanna", "EventStudy", "GroupTime"]

_INFERENCE = ("cluster", "permutation")


def within(a: np.ndarray) -> np.ndarray:
    """Two-way within transform of ``(..., N, T)`` arrays (balanced panels): ``a - row mean - column
    mean + grand mean`` over the last two axes."""
    a = np.asarray(a, np.float64)
    return a - a.mean(-1, keepdims=True) - a.mean(-2, keepdims=True) + a.mean((-2, -1), keepdims=True)


def twfe_arrays(y, d) -> tuple[np.ndarray, np.ndarray]:
    """TWFE coefficient and cluster-robust (by unit, CR1) standard error, batched.

    y, d: ``(..., N, T)`` outcome and 0/1 treatment (broadcast against each other).
    Returns ``(beta (...), se (...))`` float64; NaN where ``d`` has no within variation.
    """
    dd = within(d)
    yy = within(y)
    N, T = dd.shape[-2:]
    sxx = (dd * dd).sum((-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = (dd * yy).sum((-2, -1)) / sxx
        e = yy - beta[..., None, None] * dd
        s = (dd * e).sum(-1)
        n, k = N * T, N + T
        c = N / (N - 1) * (n - 1) / (n - k)
        se = np.sqrt(c * (s * s).sum(-1)) / sxx
    return beta, se


def _twfe_beta(y, D):
    dd = within(D)
    yy = within(y)
    return (dd * yy).sum((-2, -1)) / (dd * dd).sum((-2, -1))


def _check_inference(inference: str):
    if inference not in _INFERENCE:
        raise ValueError(f"inference: expected one of {list(_INFERENCE)}, got {inference!r}")


def _ri_estimate(method, stat, panel: Panel, alpha, permutations, seed, extra=None, notes=None) -> Estimate:
    r = ri_linear(stat, panel.y, panel.treated, panel.adoption, permutations=permutations, seed=seed)
    inv = ri_invert(r["est"], r["a"], r["b"], r["exact"], alpha)
    notes = list(notes or [])
    if inv["min_p"] >= alpha:
        notes.append(f"the design allows only {r['M']} distinct assignments: no p-value below {inv['min_p']:.3g}, "
                     f"so the {100 * (1 - alpha):.0f}% interval is unbounded")
    if not inv["connected"]:
        notes.append("the accepted set is not one interval; ci is its hull")
    N, T = panel.shape
    return Estimate(method, r["est"], np.nan, inv["ci_low"], inv["ci_high"], inv["p_value"], alpha,
                    "permutation (exact)" if r["exact"] else f"permutation ({r['M']} draws)", N,
                    int(panel.ever_treated.sum()), T, dict(extra or {}, assignments=r["M"]), notes)


def twfe(panel: Panel, *, inference: str = "cluster", alpha: float = 0.05, permutations: int = 999,
         seed: int = 0) -> Estimate:
    """Two-way fixed-effects DiD coefficient of ``panel.treated`` on ``panel.y``.

    inference: ``"cluster"`` (cluster-robust by unit, ``t(G-1)`` interval; needs at least 2 treated
    and 2 never-treated units) or ``"permutation"`` (randomisation inference, any number of treated
    units; ``permutations`` random reassignments, or all of them when there are fewer).
    Under staggered adoption with effects that vary over time the coefficient mixes group-time
    effects with weights that can be negative: prefer :func:`callaway_santanna` there. With fewer
    than 10 treated units the estimate carries a note that cluster-robust intervals over-reject.
    """
    alpha = check_alpha(alpha)
    _check_inference(inference)
    need_ctl = 2 if inference == "cluster" else 1
    panel.require("twfe", min_treated=2 if inference == "cluster" else 1, min_control=need_ctl)
    N, T = panel.shape
    notes = []
    if panel.cohorts.size > 1:
        notes.append("staggered adoption: TWFE weights some group-time effects negatively when effects vary; "
                     "compare with callaway_santanna")
    if inference == "permutation":
        return _ri_estimate("twfe", _twfe_beta, panel, alpha, permutations, seed, notes=notes)
    n1 = int(panel.ever_treated.sum())
    if n1 < 10:
        notes.append(f"{n1} treated units: cluster-robust intervals over-reject with few treated clusters "
                     "(docs/quasi.md); inference='permutation' is exact if the assignment was random")
    beta, se = twfe_arrays(panel.y, panel.treated)
    lo, hi, p = t_interval(beta, se, alpha, N - 1)
    return Estimate("twfe", float(beta), float(se), float(lo), float(hi), float(p), alpha, "cluster-robust (unit)",
                    N, int(panel.ever_treated.sum()), T, dict(df=N - 1), notes)


# ----------------------------------------------------------------------------- event study
class EventStudy(dict):
    """Event-study result: ``table`` (pandas DataFrame indexed by relative period ``e`` with
    ``estimate, std_error, ci_low, ci_high, p_value``; the reference period has estimate 0),
    ``pretrend_F``, ``pretrend_df``, ``pretrend_p`` (joint test that every lead is 0), ``post_mean``
    (:class:`Estimate` of the average of the lag coefficients), ``reference``, ``leads``, ``lags``."""

    __getattr__ = dict.__getitem__


def _sandwich(X, e, groups_n, T, k_total):
    """Cluster-robust covariance of OLS on within-transformed ``X (N*T, k)`` with residuals ``e``."""
    XtX_inv = np.linalg.inv(X.T @ X)
    k = X.shape[1]
    s = (X * e[:, None]).reshape(groups_n, T, k).sum(1)
    n = groups_n * T
    c = groups_n / (groups_n - 1) * (n - 1) / (n - k_total)
    return c * XtX_inv @ (s.T @ s) @ XtX_inv


def event_study(panel: Panel, *, leads: int = 4, lags: int = 4, reference: int = -1, alpha: float = 0.05) -> EventStudy:
    """Event-study regression with unit and period fixed effects, cluster-robust by unit.

    leads, lags: relative periods ``-leads .. lags`` get a dummy (periods beyond the ends are
    binned into the end dummies); ``reference`` (default -1) is omitted and normalised to 0.
    Needs never-treated units (2+) and 2+ treated units; refuses designs whose dummies are collinear
    with the fixed effects.
    """
    alpha = check_alpha(alpha)
    if not (isinstance(leads, int | np.integer) and leads >= 1 and isinstance(lags, int | np.integer) and lags >= 0):
        raise ValueError(f"leads, lags: expected integers leads >= 1 and lags >= 0, got {leads!r}, {lags!r}")
    if not (-leads <= reference < 0):
        raise ValueError(f"reference: expected a lead in [-{leads}, -1], got {reference!r}")
    panel.require("event_study", min_treated=2, min_control=2, min_pre=max(1, -reference))
    N, T = panel.shape
    A = panel.adoption
    ever = panel.ever_treated
    rel = np.arange(T)[None, :] - A[:, None]
    rel = np.clip(rel, -leads, lags)
    es = [e for e in range(-leads, lags + 1) if e != reference]
    X = np.stack([((rel == e) & ever[:, None]).astype(np.float64) for e in es], -1)  # (N, T, k)
    Xw = within(np.moveaxis(X, -1, 0))  # (k, N, T)
    Xm = Xw.reshape(len(es), -1).T
    keep = np.abs(Xm).sum(0) > 1e-12
    if not keep.all():
        raise PanelError(f"event_study: relative periods {[es[i] for i in np.flatnonzero(~keep)]} never occur in this "
                         f"panel; choose leads <= {int(np.max(-(rel.min(1))))} and lags that the panel covers")
    if np.linalg.matrix_rank(Xm) < Xm.shape[1]:
        raise PanelError("event_study: the relative-period dummies are collinear with the fixed effects; "
                         "reduce leads/lags or add never-treated units")
    yw = within(panel.y).ravel()
    beta = np.linalg.solve(Xm.T @ Xm, Xm.T @ yw)
    e = yw - Xm @ beta
    V = _sandwich(Xm, e, N, T, N + T - 1 + Xm.shape[1])
    se = np.sqrt(np.diag(V))
    lo, hi, p = t_interval(beta, se, alpha, N - 1)
    import pandas as pd

    tab = pd.DataFrame(dict(estimate=beta, std_error=se, ci_low=lo, ci_high=hi, p_value=p), index=pd.Index(es, name="e"))
    tab.loc[reference] = [0.0, 0.0, 0.0, 0.0, np.nan]
    tab = tab.sort_index()
    lead_idx = [i for i, x in enumerate(es) if x < 0]
    if lead_idx:
        b = beta[lead_idx]
        Vl = V[np.ix_(lead_idx, lead_idx)]
        q = len(lead_idx)
        F = float(b @ np.linalg.solve(Vl, b) / q)
        pre_p = float(stats.f.sf(F, q, N - 1))
    else:
        F, q, pre_p = np.nan, 0, np.nan
    lag_idx = [i for i, x in enumerate(es) if x >= 0]
    w = np.zeros(len(es))
    w[lag_idx] = 1 / len(lag_idx)
    pm, pse = float(w @ beta), float(np.sqrt(w @ V @ w))
    plo, phi, pp = t_interval(pm, pse, alpha, N - 1)
    post = Estimate("event_study_post_mean", pm, pse, float(plo), float(phi), float(pp), alpha, "cluster-robust (unit)",
                    N, int(ever.sum()), T, dict(df=N - 1))
    return EventStudy(table=tab, pretrend_F=F, pretrend_df=(q, N - 1), pretrend_p=pre_p, post_mean=post,
                      reference=reference, leads=leads, lags=lags, covariance=V, labels=es)


# ----------------------------------------------------------------------------- Callaway & Sant'Anna
class GroupTime(dict):
    """Callaway & Sant'Anna result. ``att_gt``: pandas DataFrame (one row per cohort ``group`` and
    ``period`` with ``att, std_error, post``); ``overall``: :class:`Estimate` of the aggregation
    chosen; ``dynamic``: DataFrame by event time ``e`` (``att, std_error, ci_low, ci_high`` pointwise
    and ``band_low, band_high`` uniform); ``group``, ``calendar``: DataFrames; ``influence``: the
    ``(N, cells)`` influence functions; ``dropped``: units treated in the first period (no
    pre-period, excluded)."""

    __getattr__ = dict.__getitem__


def _cs_cells(A, T, control, anticipation):
    """(g, t, base, treated mask, control mask) for every estimable cell."""
    cells = []
    for g in np.unique(A[A < T]):
        for t in range(1, T):
            base = g - 1 - anticipation if t >= g - anticipation else t - 1
            if base < 0:
                continue
            tr = A == g
            if control == "never":
                ct = A == T
            else:
                ct = (A > max(t, base) + anticipation) & (A != g)
            cells.append((int(g), int(t), int(base), tr, ct))
    return cells


def _cs_att(y, cells):
    """ATT per cell for ``y (..., N, T)``: mean change of the cohort minus mean change of its controls."""
    out = []
    for _g, t, b, tr, ct in cells:
        dy = y[..., t] - y[..., b]
        out.append(dy[..., tr].mean(-1) - dy[..., ct].mean(-1))
    return np.stack(out, -1)


def _cs_if(y, cells, N):
    """Influence functions ``(N, cells)`` of each ATT(g, t) (scaled so that var = sum(psi^2) / N^2)."""
    psi = np.zeros((N, len(cells)))
    for k, (_g, t, b, tr, ct) in enumerate(cells):
        dy = y[:, t] - y[:, b]
        psi[tr, k] = N / tr.sum() * (dy[tr] - dy[tr].mean())
        psi[ct, k] -= N / ct.sum() * (dy[ct] - dy[ct].mean())
    return psi


def _cs_simple_weights(A, T, control, anticipation) -> np.ndarray:
    """``W (N, T)`` with ``simple ATT = sum(W * y)`` for the adoption vector ``A`` (NaN if no post
    cell has controls): each post cell adds its cohort-share weight to the 2x2 contrast."""
    cells = [c for c in _cs_cells(A, T, control, anticipation) if c[4].sum() >= 1 and c[1] >= c[0] - anticipation]
    W = np.zeros((A.size, T))
    if not cells:
        return W * np.nan
    pg = np.array([np.mean(A == c[0]) for c in cells])
    for om, (_g, t, b, tr, ct) in zip(pg / pg.sum(), cells, strict=True):
        W[tr, t] += om / tr.sum()
        W[tr, b] -= om / tr.sum()
        W[ct, t] -= om / ct.sum()
        W[ct, b] += om / ct.sum()
    return W


def _aggregate(att, psi, idx, gs, A, N):
    """Cohort-share weighted average of cells ``idx`` and its influence function, including the
    estimated-weight term (the shares ``p_g = n_g / N`` are estimates)."""
    pg = np.array([np.mean(A == g) for g in gs[idx]])
    S = pg.sum()
    w = pg / S
    est = float(w @ att[idx])
    ind = np.stack([(A == g).astype(np.float64) - p for g, p in zip(gs[idx], pg, strict=True)], 1)  # (N, k)
    wif = ind / S - np.outer(ind.sum(1), pg) / S**2
    inf = psi[:, idx] @ w + wif @ att[idx]
    return est, inf


def callaway_santanna(panel: Panel, *, control: str = "never", aggregation: str = "simple", anticipation: int = 0,
                      alpha: float = 0.05, inference: str = "analytic", permutations: int = 999, band_draws: int = 999,
                      seed: int = 0) -> GroupTime:
    """Group-time average treatment effects and their aggregations (Callaway & Sant'Anna 2021).

    control: ``"never"`` (never-treated units; needs 2+) or ``"notyet"`` (plus units not yet treated).
    aggregation: the ``overall`` estimate: ``"simple"`` (cohort-share weighted mean of post-adoption
        cells), ``"dynamic"`` (mean over event times e >= 0), ``"group"`` or ``"calendar"``.
    inference: ``"analytic"`` (influence functions, clustered by unit, normal interval; needs 2+
        units in every cohort) or ``"permutation"`` (randomisation inference on the simple
        aggregation, any number of treated units).
    band_draws: multiplier-bootstrap draws for the uniform event-time band (Rademacher weights).
    Units treated in the first period have no pre-period and are dropped (listed in ``dropped``).
    """
    alpha = check_alpha(alpha)
    if control not in ("never", "notyet"):
        raise ValueError(f"control: expected 'never' or 'notyet', got {control!r}")
    if aggregation not in ("simple", "dynamic", "group", "calendar"):
        raise ValueError(f"aggregation: expected 'simple', 'dynamic', 'group' or 'calendar', got {aggregation!r}")
    if inference not in ("analytic", "permutation"):
        raise ValueError(f"inference: expected 'analytic' or 'permutation', got {inference!r}")
    if not (isinstance(anticipation, int | np.integer) and anticipation >= 0):
        raise ValueError(f"anticipation: expected an integer >= 0, got {anticipation!r}")
    N0, T = panel.shape
    A0 = panel.adoption
    first = A0 == 0
    dropped = list(panel.units[first])
    if first.any():
        panel = Panel(panel.y[~first], panel.treated[~first], panel.units[~first], panel.times, {})
    N = panel.shape[0]
    panel.require("callaway_santanna", min_pre=1 + anticipation, min_control=2 if control == "never" else 0,
                  min_treated=1)
    A = panel.adoption
    if control == "notyet" and not (A == T).any() and (A == A.max()).all():
        raise PanelError("callaway_santanna: control='notyet' needs units adopting later than others or never")
    if inference == "analytic":
        small = [panel.times[g].item() if hasattr(panel.times[g], "item") else panel.times[g]
                 for g in panel.cohorts if (A == g).sum() < 2]
        if small:
            raise PanelError(f"callaway_santanna: analytic standard errors need 2+ units per cohort, cohorts starting "
                             f"{small} have 1; use inference='permutation'")
    cells = _cs_cells(A, T, control, anticipation)
    cells = [c for c in cells if c[4].sum() >= 1]
    if control == "never" and any(c[4].sum() < 2 for c in cells):
        raise PanelError("callaway_santanna: needs 2+ control units in every group-time cell")
    post_cells = [k for k, c in enumerate(cells) if c[1] >= c[0] - anticipation]
    if not post_cells:
        raise PanelError("callaway_santanna: no post-adoption cell has control units; use control='never' or a "
                         "longer panel")
    att = _cs_att(panel.y, cells)
    psi = _cs_if(panel.y, cells, N)
    gs = np.array([c[0] for c in cells])
    ts = np.array([c[1] for c in cells])
    se_cells = np.sqrt((psi**2).sum(0)) / N
    import pandas as pd

    att_gt = pd.DataFrame(dict(group=panel.times[gs], period=panel.times[ts], att=att, std_error=se_cells,
                               post=np.isin(np.arange(len(cells)), post_cells)))
    # --- aggregations
    post = np.array(post_cells)
    simple = _aggregate(att, psi, post, gs, A, N)
    ev = ts - gs
    dyn_rows, dyn_if = [], []
    for e in np.unique(ev):
        idx = np.flatnonzero(ev == e)
        est, inf = _aggregate(att, psi, idx, gs, A, N)
        dyn_rows.append((int(e), est))
        dyn_if.append(inf)
    dyn_if = np.stack(dyn_if, 1)
    dyn_e = np.array([r[0] for r in dyn_rows])
    dyn_est = np.array([r[1] for r in dyn_rows])
    dyn_se = np.sqrt((dyn_if**2).sum(0)) / N
    rng = np.random.default_rng(seed)
    xi = rng.choice([-1.0, 1.0], size=(int(band_draws), N))
    with np.errstate(divide="ignore", invalid="ignore"):
        tmax = np.nanmax(np.abs(xi @ dyn_if / N) / dyn_se, axis=1)
    crit = float(np.quantile(tmax, 1 - alpha))
    z = stats.norm.ppf(1 - alpha / 2)
    dynamic = pd.DataFrame(dict(att=dyn_est, std_error=dyn_se, ci_low=dyn_est - z * dyn_se, ci_high=dyn_est + z * dyn_se,
                                band_low=dyn_est - crit * dyn_se, band_high=dyn_est + crit * dyn_se),
                           index=pd.Index(dyn_e, name="e"))
    pos = dyn_e >= 0
    dyn_overall = (float(dyn_est[pos].mean()), dyn_if[:, pos].mean(1))
    grp_rows, grp_if = [], []
    for g in np.unique(gs):
        idx = np.intersect1d(np.flatnonzero(gs == g), post)
        grp_rows.append((g, float(att[idx].mean())))
        grp_if.append(psi[:, idx].mean(1))
    grp_if = np.stack(grp_if, 1)
    ggs = np.array([r[0] for r in grp_rows])
    gest = np.array([r[1] for r in grp_rows])
    group = pd.DataFrame(dict(att=gest, std_error=np.sqrt((grp_if**2).sum(0)) / N), index=pd.Index(panel.times[ggs],
                                                                                                  name="group"))
    grp_overall = _aggregate(gest, grp_if, np.arange(ggs.size), ggs, A, N)
    cal_rows, cal_if = [], []
    for t in np.unique(ts[post]):
        idx = np.intersect1d(np.flatnonzero(ts == t), post)
        est, inf = _aggregate(att, psi, idx, gs, A, N)
        cal_rows.append((t, est))
        cal_if.append(inf)
    cal_if = np.stack(cal_if, 1)
    cest = np.array([r[1] for r in cal_rows])
    calendar = pd.DataFrame(dict(att=cest, std_error=np.sqrt((cal_if**2).sum(0)) / N),
                            index=pd.Index(panel.times[[r[0] for r in cal_rows]], name="period"))
    cal_overall = (float(cest.mean()), cal_if.mean(1))
    chosen = dict(simple=simple, dynamic=dyn_overall, group=grp_overall, calendar=cal_overall)[aggregation]
    notes = [f"dropped {len(dropped)} unit(s) treated in the first period: {dropped[:5]}"] if dropped else []
    if any((A == g).sum() < 2 for g in panel.cohorts):  # a one-unit cohort has no within-cohort variance
        for tab in (att_gt, dynamic, group, calendar):
            for col in ("std_error", "ci_low", "ci_high", "band_low", "band_high"):
                if col in tab:
                    tab[col] = np.nan
        notes.append("a cohort has a single unit: cell, event-time, group and calendar standard errors are not "
                     "reported")
    extra = dict(aggregation=aggregation, control=control, cells=len(cells))
    if inference == "analytic":
        est, inf = chosen
        se = float(np.sqrt((inf**2).sum()) / N)
        lo, hi, p = t_interval(est, se, alpha, None)
        overall = Estimate(f"callaway_santanna_{aggregation}", est, se, float(lo), float(hi), float(p), alpha,
                           "influence function (unit-clustered)", N, int(panel.ever_treated.sum()), T, extra, notes)
    else:
        if aggregation != "simple":
            raise ValueError(f"aggregation: permutation inference is implemented for 'simple', got {aggregation!r}")

        cache: dict = {}

        def stat(y, D):  # the simple aggregation is sum(W * y) for an assignment's weight matrix W
            if id(D) not in cache:
                Ab = np.where(D.any(-1), np.argmax(D, -1), T)  # (M, N)
                cache.clear()
                cache[id(D)] = np.stack([_cs_simple_weights(a, T, control, anticipation) for a in Ab])
            return np.einsum("mnt,nt->m", cache[id(D)], y)

        overall = _ri_estimate(f"callaway_santanna_{aggregation}", stat, panel, alpha, permutations, seed, extra, notes)
    return GroupTime(att_gt=att_gt, overall=overall, dynamic=dynamic, group=group, calendar=calendar,
                     influence=psi, dropped=dropped, uniform_crit=crit)
