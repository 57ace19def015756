"""Synthetic control (Abadie & Gardeazabal 2003; Abadie, Diamond & Hainmueller 2010) with in-space
placebo inference.

The treated unit's untreated path is imputed by a convex combination of donor units,
``synthetic_t = sum_j w_j y_jt`` with ``w >= 0, sum w = 1``. The weights match predictors
``X`` (pre-period averages of covariates or outcomes, each row scaled by its standard deviation
across the units of the fit):

    W(V) = argmin_{w in simplex} (x_1 - X_0 w)' V (x_1 - X_0 w)          (a simplex-constrained QP)
    V    = argmin_{V diagonal, trace 1} mean_{t in pre} (y_1t - Y_0t W(V))^2

The inner QP is solved with ``scipy.optimize.nnls`` (see :func:`simplex_weights`); the outer
problem, which is not smooth in ``V`` and has local minima, by screening many starting points
(equal weights, the regression start of the ``Synth`` packages, each predictor alone, seeded random
draws) and polishing the best three with restarted Nelder-Mead.
Without predictors the weights match every pre-period outcome with ``V = I`` (no outer problem).

Inference (ADH 2010, section 2.4; Abadie 2021): every unit in turn is treated as if it were the
treated one and fitted from the others; the statistic is the ratio of post- to pre-period RMSPE;
the p-value is the treated unit's rank among the ``N`` ratios divided by ``N``. The default
``placebo_pool="controls"`` (ADH's and pysyncon's practice) leaves the treated unit out of the
placebo donor pools. With ``"all"`` (the treated unit is a donor for the placebos too) each unit's
fit depends on nothing that the label changes, so the test is an exact permutation test when the
treated unit was chosen at random (``"controls"`` is close to exact, not exactly so). The interval inverts the test for a constant effect ``tau``: predictors and
weights use pre-period data only, so under ``tau`` the treated gap becomes ``g - tau`` and a
placebo's gap ``g_i + tau w_i,treated``; every ratio is then a quadratic in ``tau``, and the set of
``tau`` the test accepts is found exactly from the crossing points.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, nnls

from experiments.abtest.validation import check_alpha
from experiments.quasi.inference import Estimate
from experiments.quasi.panel import Panel, PanelError

__all__ = ["simplex_weights", "synthetic_control", "SynthResult", "Predictor", "rank_invert"]


def simplex_weights(x1, X0, v=None, *, penalty: float = 1e4, exact: bool = True) -> tuple[np.ndarray, float]:
    """``argmin_{w >= 0, sum w = 1} sum_k v_k (x1_k - X0_k w)^2``.

    x1: ``(k,)`` treated predictors; X0: ``(k, J)`` donor predictors; v: ``(k,)`` nonnegative
    predictor weights (default ones). exact: finish on the active set (below); False skips it
    (used inside the search over ``V``). Returns ``(w (J,) float64, loss)``.

    The sum-to-one constraint is appended to the least-squares system as a heavily weighted row
    and the nonnegative problem solved by ``scipy.optimize.nnls`` (Lawson-Hanson active set: far
    cheaper than a general-purpose SQP, which matters inside the search over ``V``); the equality is
    then made exact on the active set by the KKT system of the equality-constrained problem, kept
    when it stays nonnegative and satisfies the optimality conditions, otherwise the NNLS weights
    are rescaled.
    """
    x1 = np.asarray(x1, np.float64)
    X0 = np.asarray(X0, np.float64)
    k, J = X0.shape
    v = np.ones(k) if v is None else np.asarray(v, np.float64)
    sv = np.sqrt(v)
    A = X0 * sv[:, None]
    b = x1 * sv
    if J == 1:
        r = b - A[:, 0]
        return np.ones(1), float(r @ r)
    s = penalty * max(1.0, float(np.abs(A).max()), float(np.abs(b).max()))
    w, _ = nnls(np.vstack([A, np.full((1, J), s)]), np.append(b, s), maxiter=50 * J)
    w = w / w.sum()
    S = np.flatnonzero(w > 0)
    if not exact:  # the rescaled NNLS weights: within ~1/penalty^2 of the optimum (for searches)
        r = b - A @ w
        return w, float(r @ r)
    # exact finish on the support: [2 A_S'A_S 1; 1' 0] [u; mu] = [2 A_S'b; 1]
    AS = A[:, S]
    K = np.zeros((S.size + 1, S.size + 1))
    K[:-1, :-1] = 2 * AS.T @ AS
    K[:-1, -1] = K[-1, :-1] = 1.0
    rhs = np.append(2 * AS.T @ b, 1.0)
    sol = np.linalg.lstsq(K, rhs, rcond=None)[0]
    u, mu = sol[:-1], sol[-1]
    if np.all(u >= -1e-12) and abs(u.sum() - 1) < 1e-9:
        cand = np.zeros(J)
        cand[S] = np.clip(u, 0, None)
        cand /= cand.sum()
        grad = 2 * A.T @ (A @ cand - b)
        scale_g = 1e-8 * (1.0 + np.abs(grad).max())
        r_old, r_new = b - A @ w, b - A @ cand
        if np.all(grad + mu >= -scale_g) and r_new @ r_new <= r_old @ r_old + 1e-12 * (1 + r_old @ r_old):
            w = cand
    r = b - A @ w
    return w, float(r @ r)


class Predictor(tuple):
    """``(variable, times)``: the unit's mean of ``variable`` (``"outcome"`` or a covariate name)
    over the period labels ``times`` (None = every pre-treatment period), NaNs skipped."""

    def __new__(cls, variable: str, times=None):
        return super().__new__(cls, (variable, None if times is None else tuple(np.atleast_1d(times).tolist())))

    @property
    def name(self) -> str:
        v, t = self
        if t is None:
            return v
        return f"{v}({t[0]})" if len(t) == 1 else f"{v}({t[0]}-{t[-1]})"


def _predictor_matrix(panel: Panel, predictors, pre_mask) -> np.ndarray:
    rows = []
    for p in predictors:
        var, times = p
        M = panel.y if var in ("outcome",) else panel.covariates.get(var)
        if M is None:
            raise PanelError(f"predictors: {var!r} is neither 'outcome' nor a covariate ({list(panel.covariates)})")
        if times is None:
            cols = pre_mask
        else:
            cols = np.isin(panel.times, np.asarray(times, dtype=panel.times.dtype))
            if cols.sum() != len(times):
                raise PanelError(f"predictors: {p.name} asks for periods not in the panel")
            if (cols & ~pre_mask).any():
                raise PanelError(f"predictors: {p.name} uses treated periods; predictors must be pre-treatment")
        with np.errstate(invalid="ignore"):
            vals = np.nanmean(np.where(np.isfinite(M[:, cols]), M[:, cols], np.nan), axis=1)
        if not np.isfinite(vals).all():
            bad = panel.units[~np.isfinite(vals)]
            raise PanelError(f"predictors: {p.name} is not observed for {list(bad[:3])}")
        rows.append(vals)
    return np.stack(rows)


def _fit(X, Z, j, donors, v_mode, v_draws: int, seed: int):
    """Fit unit ``j`` from ``donors``: returns ``(w (len(donors),), v (k,), loss_v)``."""
    cols = np.concatenate([[j], donors])
    Xs = X[:, cols]
    sd = Xs.std(1, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    Xs = Xs / sd[:, None]
    x1, X0 = Xs[:, 0], Xs[:, 1:]
    z1, Z0 = Z[j], Z[donors]  # (T_opt,), (J, T_opt)
    k = X.shape[0]

    def loss_of(w):
        r = z1 - w @ Z0
        return float(r @ r / r.size)

    if isinstance(v_mode, np.ndarray) or v_mode == "equal" or k == 1:
        v = np.full(k, 1.0 / k) if isinstance(v_mode, str) else v_mode / v_mode.sum()
        w, _ = simplex_weights(x1, X0, v)
        return w, v, loss_of(w)

    def obj(x):
        a = np.abs(x)
        v = a / a.sum() if a.sum() > 0 else np.full(k, 1.0 / k)
        return loss_of(simplex_weights(x1, X0, v, exact=False)[0])

    # screening: equal weights, the Synth packages' regression start (squared coefficients of the
    # outcomes on the scaled predictors), each predictor alone, and seeded Dirichlet(1/2) draws;
    # the three best are polished by Nelder-Mead on |x| / sum|x| (the Synth parametrisation),
    # restarted while it improves (a stalled simplex is common on this non-smooth loss).
    cands = [np.full(k, 1.0 / k)]
    Xa = np.column_stack([np.ones(len(cols)), Xs.T])
    Za = np.concatenate([z1[None], Z0])
    beta = np.linalg.lstsq(Xa, Za, rcond=None)[0]
    reg = np.sum(beta[1:] ** 2, axis=1)
    if reg.sum() > 0:
        cands.append(reg / reg.sum())
    cands += list(np.eye(k) * 0.9 + 0.1 / k)
    cands += list(np.random.default_rng(seed).dirichlet(np.full(k, 0.5), int(v_draws)))
    scores = np.array([obj(c) for c in cands])
    best_x, best_f = None, np.inf
    for i in np.argsort(scores)[:3]:
        x, f = cands[i], scores[i]
        for _ in range(4):  # restart Nelder-Mead from its own end point while it still improves
            r = minimize(obj, x, method="Nelder-Mead", options=dict(maxiter=300 * k, xatol=1e-7, fatol=1e-10))
            improved = r.fun < f - 1e-9 * (1 + abs(f))
            x, f = (r.x, r.fun) if r.fun < f else (x, f)
            if not improved:
                break
        if f < best_f:
            best_x, best_f = x, f
    v = np.abs(best_x) / np.abs(best_x).sum()
    w, _ = simplex_weights(x1, X0, v)
    return w, v, loss_of(w)


def rank_invert(gaps_post, pre_ms, coef, j: int, alpha: float) -> dict:
    """Exact inversion of the RMSPE-ratio rank test for a constant effect ``tau``.

    gaps_post: ``(N, T1)`` post-period gaps at ``tau = 0``; pre_ms: ``(N,)`` pre-period mean
    squared gaps; coef: ``(N,)`` how each gap moves with ``tau`` (``-1`` for the treated unit ``j``,
    its donor weight for each placebo). The p-value of ``tau`` is the share of units whose ratio
    is at least the treated unit's. Returns ``p_value`` (at ``tau = 0``), ``ci_low``, ``ci_high``
    (hull of the accepted set, ``-inf/inf`` if unbounded, NaN if empty), ``connected``, ``min_p``
    (= 1/N) and ``empty`` (the test rejects every constant effect: the treated unit's post-period
    gaps vary too much around their mean for any single effect to fit).
    """
    alpha = check_alpha(alpha)
    G = np.asarray(gaps_post, np.float64)
    P = np.maximum(np.asarray(pre_ms, np.float64), 1e-300)
    c = np.asarray(coef, np.float64)
    N = G.shape[0]
    m1, m2 = G.mean(1), (G * G).mean(1)
    # r_i(tau)^2 = (m2_i + 2 tau c_i m1_i + tau^2 c_i^2) / P_i
    qa, qb, qc = c * c / P, 2 * c * m1 / P, m2 / P

    def pvals(tau):
        tau = np.atleast_1d(tau)[:, None]
        r = qa[None] * tau**2 + qb[None] * tau + qc[None]
        rj = r[:, j][:, None]
        return ((r >= rj - 1e-12 * np.abs(rj)).sum(1)) / N

    roots = []
    for i in range(N):
        if i == j:
            continue
        A, B, C = qa[i] - qa[j], qb[i] - qb[j], qc[i] - qc[j]
        if abs(A) > 1e-14 * (abs(qa[i]) + abs(qa[j])):
            disc = B * B - 4 * A * C
            if disc >= 0:
                s = np.sqrt(disc)
                roots += [(-B - s) / (2 * A), (-B + s) / (2 * A)]
        elif abs(B) > 0:
            roots.append(-C / B)
    g_hat = -m1[j] / c[j]  # tau at which the treated ratio is smallest (the ATT)
    br = np.unique(np.array(roots + [g_hat]))
    br = br[np.isfinite(br)]
    span = 1.0 + np.ptp(br) + np.abs(br).max()
    pts = np.sort(np.concatenate([[br[0] - span], br, (br[1:] + br[:-1]) / 2, [br[-1] + span]]))
    p = pvals(pts)
    acc = p > alpha
    if not acc.any():  # every constant effect is rejected: no interval (the effect is not constant)
        return dict(p_value=float(pvals(0.0)[0]), ci_low=np.nan, ci_high=np.nan, connected=False, min_p=1 / N,
                    empty=True)
    lo = -np.inf if acc[0] else float(pts[acc].min())
    hi = np.inf if acc[-1] else float(pts[acc].max())
    inside = (pts >= pts[acc].min()) & (pts <= pts[acc].max())
    return dict(p_value=float(pvals(0.0)[0]), ci_low=lo, ci_high=hi, connected=bool(acc[inside].all()), min_p=1 / N,
                empty=False)


class SynthResult(dict):
    """Synthetic-control fit. Keys (also attributes): ``estimate`` (:class:`Estimate`: mean post
    gap, permutation p-value and inverted interval), ``weights`` (pandas Series over donors),
    ``v`` (Series over predictors), ``predictors`` (DataFrame: treated, synthetic, donor mean),
    ``synthetic`` and ``gap`` (Series over periods), ``pre_rmspe``, ``post_rmspe``, ``ratio``,
    ``loss_v`` (pre-period MSPE of the fit), ``placebo`` (DataFrame per unit: pre/post RMSPE, ratio)
    and ``placebo_gaps`` (DataFrame units x periods)."""

    __getattr__ = dict.__getitem__


def synthetic_control(panel: Panel, *, predictors=None, v="optimize", optimize_times=None, alpha: float = 0.05,
                      placebo: bool = True, placebo_pool: str = "controls", placebo_v: str = "refit",
                      v_draws: int = 1000, seed: int = 0) -> SynthResult:
    """Synthetic control for a panel with exactly one treated unit.

    predictors: list of :class:`Predictor` or ``(variable, times)`` tuples (``variable`` is
        ``"outcome"`` or a covariate); None = every pre-treatment outcome with ``V = I``.
    v: ``"optimize"`` (nested, see module doc), ``"equal"``, or an array of predictor weights.
    optimize_times: period labels whose outcome MSPE chooses ``V`` (default: all pre periods).
    placebo: run in-space placebos (every other unit) for the p-value and the interval.
    placebo_pool: ``"controls"`` (the treated unit is not a donor for the placebos: ADH's practice,
        bounded intervals) or ``"all"`` (every other unit is a donor: an exact permutation test,
        but a placebo leaning on the treated unit moves with ``tau`` and can leave the interval
        unbounded).
    placebo_v: ``"refit"`` (each placebo chooses its own ``V``, as ADH) or ``"same"`` (reuse the
        treated fit's ``V``; faster).
    v_draws, seed: random starting points screened in the search over ``V`` (seeded: reproducible).
    """
    alpha = check_alpha(alpha)
    if placebo_pool not in ("all", "controls"):
        raise ValueError(f"placebo_pool: expected 'all' or 'controls', got {placebo_pool!r}")
    if placebo_v not in ("refit", "same"):
        raise ValueError(f"placebo_v: expected 'refit' or 'same', got {placebo_v!r}")
    panel.require("synthetic_control", min_pre=2, min_post=1, min_treated=1, max_treated=1, min_control=2)
    N, T = panel.shape
    j = int(np.flatnonzero(panel.ever_treated)[0])
    t0 = int(panel.adoption[j])
    pre = np.arange(T) < t0
    if predictors is None:
        preds = [Predictor("outcome", (t,)) for t in panel.times[pre]]
        v_mode = "equal"
    else:
        preds = [p if isinstance(p, Predictor) else Predictor(*p) for p in predictors]
        if not preds:
            raise ValueError("predictors: expected at least one predictor, got an empty list")
        if isinstance(v, str):
            if v not in ("optimize", "equal"):
                raise ValueError(f"v: expected 'optimize', 'equal' or an array, got {v!r}")
            v_mode = v
        else:
            v_mode = np.asarray(v, np.float64)
            if v_mode.shape != (len(preds),) or (v_mode < 0).any() or v_mode.sum() <= 0:
                raise ValueError(f"v: expected {len(preds)} nonnegative weights, got {np.asarray(v).tolist()}")
    X = _predictor_matrix(panel, preds, pre)
    if optimize_times is None:
        opt = pre
    else:
        opt = np.isin(panel.times, np.asarray(optimize_times, dtype=panel.times.dtype))
        if (opt & ~pre).any() or not opt.any():
            raise ValueError("optimize_times: expected pre-treatment period labels of the panel")
    Z = panel.y[:, opt]
    others = np.array([i for i in range(N) if i != j])
    w, vv, loss_v = _fit(X, Z, j, others, v_mode, v_draws, seed)
    y = panel.y

    def gap_of(i, donors, wi):
        return y[i] - wi @ y[donors]

    gap = gap_of(j, others, w)
    pre_ms = float(np.mean(gap[pre] ** 2))
    post_ms = float(np.mean(gap[~pre] ** 2))
    att = float(gap[~pre].mean())
    import pandas as pd

    names = [p.name for p in preds]
    Xn = X
    tab = pd.DataFrame(dict(treated=Xn[:, j], synthetic=Xn[:, others] @ w, donor_mean=Xn[:, others].mean(1)),
                       index=pd.Index(names, name="predictor"))
    res = SynthResult(weights=pd.Series(w, index=panel.units[others], name="weight"),
                      v=pd.Series(vv, index=names, name="v"), predictors=tab,
                      synthetic=pd.Series(y[j] - gap, index=panel.times), gap=pd.Series(gap, index=panel.times),
                      pre_rmspe=float(np.sqrt(pre_ms)), post_rmspe=float(np.sqrt(post_ms)),
                      ratio=float(np.sqrt(post_ms / max(pre_ms, 1e-300))), loss_v=loss_v)
    notes = []
    if not placebo:
        est = Estimate("synthetic_control", att, np.nan, np.nan, np.nan, np.nan, alpha, "none", N, 1, T,
                       dict(pre_rmspe=res["pre_rmspe"]), ["no placebo inference requested"])
        res["estimate"] = est
        return res
    gaps = np.empty((N, T))
    coef = np.zeros(N)
    gaps[j] = gap
    coef[j] = -1.0
    pv = vv if placebo_v == "same" else None
    for i in others:
        donors = np.array([u for u in range(N) if u != i and (placebo_pool == "all" or u != j)])
        mode = pv if pv is not None else v_mode
        wi, _, _ = _fit(X, Z, i, donors, mode, v_draws, seed)
        gaps[i] = gap_of(i, donors, wi)
        hit = np.flatnonzero(donors == j)
        coef[i] = wi[hit[0]] if hit.size else 0.0
    pre_all = np.mean(gaps[:, pre] ** 2, 1)
    post_all = np.mean(gaps[:, ~pre] ** 2, 1)
    inv = rank_invert(gaps[:, ~pre], pre_all, coef, j, alpha)
    if inv["min_p"] >= alpha:
        notes.append(f"{N} units give p-values no smaller than 1/{N} = {inv['min_p']:.3g}: the "
                     f"{100 * (1 - alpha):.0f}% interval is unbounded; more donor units are needed")
    if inv["empty"]:
        notes.append("the permutation test rejects every constant effect (the post-period gaps vary more than "
                     "any placebo's): no interval")
    elif not inv["connected"]:
        notes.append("the accepted set is not one interval; ci is its hull")
    res["placebo"] = pd.DataFrame(dict(pre_rmspe=np.sqrt(pre_all), post_rmspe=np.sqrt(post_all),
                                       ratio=np.sqrt(post_all / np.maximum(pre_all, 1e-300)), treated=np.arange(N) == j),
                                  index=pd.Index(panel.units, name="unit"))
    res["placebo_gaps"] = pd.DataFrame(gaps, index=pd.Index(panel.units, name="unit"), columns=panel.times)
    res["estimate"] = Estimate("synthetic_control", att, np.nan, inv["ci_low"], inv["ci_high"], inv["p_value"], alpha,
                               "in-space placebos (placebo donors: " + ("other controls" if placebo_pool == "controls"
                                                                        else "all other units")
                               + "), rank of the RMSPE ratio", N, 1, T,
                               dict(pre_rmspe=res["pre_rmspe"], ratio=res["ratio"]), notes)
    return res
