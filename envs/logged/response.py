"""Response model for logged clicks: p(click | member context x, item a, slot l), calibrated.

The model (a penalised logistic regression with member x item interactions, fitted in float64
numpy/scipy, evaluated in JAX by the simulator) is

    z(x, a, l) = b0 + beta[a] + gamma[l] + x . w + x^T M ztilde[a] + x . G[:, a]
    p(click)   = calib(z)

- ``beta (K,)`` item effects, ``gamma (L,)`` slot (position) effects, ``w (d,)`` member effects;
- ``M (d, q)`` member-feature x item-feature interactions (``ztilde (K, q)`` is the item design:
  numeric ``action_context`` columns standardised, small-integer columns one-hot encoded);
- ``G (d, K)`` member-feature x item-identity interactions;
- every block has its own Gaussian (L2) penalty: the loss is the weighted mean negative
  log-likelihood plus ``sum_k lambda_k ||theta_k||^2 / (2 n)``, i.e. MAP under a N(0, 1/lambda_k)
  prior per coefficient. Clicks are rare (OBD ~0.4%: 38 clicks in 10,000 rows), so the penalties
  matter: two strengths (main effects, interactions) are chosen by stratified K-fold
  cross-validation on the training split (weighted out-of-fold log-loss);
- ``calib``: Platt scaling ``sigmoid(a z + b)`` (default) or isotonic regression, fitted on the
  out-of-fold logits of the training split, so calibration never sees its own fitted rows;
- inverse-propensity weights ``w_i = (1/K) / pscore_i`` (normalised to mean 1, clipped) make the
  fit target the uniform-logging distribution over (x, a, l) when the logger was not uniform.

Everything the simulator needs collapses to ``item_bias (K,)``, ``member_weights (d, K)``,
``position_effect (L,)`` and the calibration map: ``z = item_bias + x @ member_weights + gamma``.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

__all__ = [
    "ResponseModel",
    "CalibrationReport",
    "fit_response_model",
    "item_design",
    "check_logs",
    "MalformedLogsError",
    "MalformedLogsWarning",
]


class MalformedLogsError(ValueError):
    """Logs that cannot support a response model (single action, no clicks, ...)."""


class MalformedLogsWarning(UserWarning):
    """Logs that can be fitted only under a stated assumption (e.g. missing pscore read as uniform)."""


# ----------------------------------------------------------------------------------- utilities
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _log1pexp(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def item_design(action_context: np.ndarray | None, n_actions: int, max_levels: int = 32) -> np.ndarray:
    """Item feature design ``ztilde (K, q)`` float64 from ``action_context (K, p)``.

    Columns holding only small non-negative integers with 3..``max_levels`` distinct values (label
    codes, as obp's OBD processing produces) are one-hot encoded; other columns are standardised
    (constant columns dropped). ``None`` gives ``(K, 0)``.
    """
    if action_context is None:
        return np.zeros((n_actions, 0))
    ac = np.asarray(action_context, np.float64)
    if ac.ndim != 2 or ac.shape[0] != n_actions:
        raise ValueError(f"action_context: expected shape ({n_actions}, p), got {ac.shape}")
    blocks = []
    for j in range(ac.shape[1]):
        col = ac[:, j]
        levels = np.unique(col)
        if levels.size <= 1:
            continue
        is_code = np.all(col == np.round(col)) and col.min() >= 0 and 3 <= levels.size <= max_levels
        if is_code:
            blocks.append((col[:, None] == levels[None, :]).astype(np.float64))
        else:
            blocks.append(((col - col.mean()) / col.std())[:, None])
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((n_actions, 0))


def _binom_ci(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (float(max(0.0, c - h)), float(min(1.0, c + h)))


def _weighted_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """Weighted ROC AUC (ties count one half); NaN when one class is absent."""
    pos, neg = y > 0.5, y <= 0.5
    if not pos.any() or not neg.any():
        return float("nan")
    order = np.argsort(s, kind="stable")
    s_sorted, w_sorted, pos_sorted = s[order], w[order], pos[order]
    # group ties
    uniq, start = np.unique(s_sorted, return_index=True)
    wn = np.add.reduceat(np.where(~pos_sorted, w_sorted, 0.0), start)
    wp = np.add.reduceat(np.where(pos_sorted, w_sorted, 0.0), start)
    neg_below = np.cumsum(wn) - wn
    num = np.sum(wp * (neg_below + 0.5 * wn))
    return float(num / (wp.sum() * wn.sum()))


# ----------------------------------------------------------------------------------- checks
def check_logs(action, reward, pscore, n_actions: int, *, assume_uniform: bool = False,
               min_clicks: int = 5) -> tuple[np.ndarray, str]:
    """Validate logs for response-model fitting; return ``(ipw_weights (n,), logger_kind)``.

    Raises :class:`MalformedLogsError` for: a single logged action, all-zero (or all-one) rewards,
    non-binary rewards, or ``pscore`` missing (None / NaN / all 1.0 placeholders) while the action
    frequencies reject a uniform logger (chi-square p < 1e-3). Warns (:class:`MalformedLogsWarning`)
    when pscore is missing but the logger looks uniform (assumed uniform), and when fewer than
    ``min_clicks`` clicks are logged. ``logger_kind``: ``"uniform"``, ``"non-uniform"`` or
    ``"assumed-uniform"``.
    """
    action = np.asarray(action)
    reward = np.asarray(reward, np.float64)
    n = action.shape[0]
    distinct = np.unique(action)
    if distinct.size < 2:
        raise MalformedLogsError(
            f"action: all {n} logged rows show the same action ({int(distinct[0]) if distinct.size else None}); "
            "a response model needs at least 2 distinct logged actions to tell items apart"
        )
    if not np.all((reward == 0) | (reward == 1)):
        bad = reward[(reward != 0) & (reward != 1)][:3]
        raise MalformedLogsError(f"reward: expected binary clicks (0/1), got values such as {bad.tolist()}")
    if reward.sum() == 0:
        raise MalformedLogsError(
            f"reward: all {n} logged rewards are zero; click probabilities cannot be calibrated "
            "(every member would be simulated with p(click) = 0)"
        )
    if reward.sum() == n:
        raise MalformedLogsError(f"reward: all {n} logged rewards are one; nothing separates clicks from non-clicks")
    if reward.sum() < min_clicks:
        warnings.warn(
            f"reward: only {int(reward.sum())} clicks in {n} rows (< {min_clicks}); the response model is "
            "mostly its prior (penalty) and the calibration report has very wide intervals",
            MalformedLogsWarning, stacklevel=3,
        )
    counts = np.bincount(action, minlength=n_actions)
    missing = pscore is None
    if not missing:
        ps = np.asarray(pscore, np.float64)
        missing = bool(np.all(~np.isfinite(ps)) or np.all(ps == 1.0))
        if not missing and np.any(~np.isfinite(ps) | (ps <= 0) | (ps > 1)):
            raise MalformedLogsError("pscore: expected propensities in (0, 1] for every row, some are missing or out of range")
    if missing:
        if assume_uniform:
            return np.ones(n), "assumed-uniform"
        chi = stats.chisquare(counts)
        if chi.pvalue < 1e-3:
            raise MalformedLogsError(
                "pscore: missing (None, NaN or all 1.0) but the logged action frequencies are far from "
                f"uniform (chi-square p = {chi.pvalue:.2g} over {n_actions} actions), so the logger was not "
                "uniform and the fit cannot be de-biased; pass the logging propensities, or "
                "assume_uniform=True to fit the naive (biased) model on purpose"
            )
        warnings.warn(
            "pscore: missing; the action frequencies are consistent with a uniform logger "
            f"(chi-square p = {chi.pvalue:.2g}), so the logs are fitted as uniformly logged (no IPW)",
            MalformedLogsWarning, stacklevel=3,
        )
        return np.ones(n), "assumed-uniform"
    ps = np.asarray(pscore, np.float64)
    if np.allclose(ps, ps[0], rtol=1e-9, atol=0):
        return np.ones(n), "uniform"
    w = (1.0 / n_actions) / ps
    return w, "non-uniform"


# ----------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class ResponseModel:
    """A fitted, calibrated click model (see the module docstring).

    item_bias: ``(K,)`` float64, ``b0 + beta``; member_weights: ``(d, K)`` float64,
    ``w[:, None] + M @ ztilde.T + G``; position_effect: ``(L,)`` float64 ``gamma``;
    calibration: ``"platt" | "isotonic" | "none"``; platt: ``(a, b)``; iso_x, iso_y: isotonic
    knots on the raw-logit scale (increasing x); base_rate: weighted mean click of the fit rows;
    penalties: chosen ``{"main": lambda, "interaction": lambda}``.
    """

    item_bias: np.ndarray
    member_weights: np.ndarray
    position_effect: np.ndarray
    calibration: str
    platt: tuple[float, float]
    iso_x: np.ndarray
    iso_y: np.ndarray
    base_rate: float
    penalties: dict

    @property
    def n_actions(self) -> int:
        return int(self.item_bias.shape[0])

    @property
    def context_dim(self) -> int:
        return int(self.member_weights.shape[0])

    @property
    def len_list(self) -> int:
        return int(self.position_effect.shape[0])

    def raw_logit(self, context: np.ndarray, action: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Uncalibrated ``z`` for rows: context ``(n, d)``, action ``(n,)``, position ``(n,)`` -> ``(n,)``."""
        context = np.asarray(context, np.float64)
        zx = np.einsum("nd,dn->n", context, self.member_weights[:, action])
        return self.item_bias[action] + zx + self.position_effect[position]

    def calibrate(self, z: np.ndarray) -> np.ndarray:
        """Calibrated probability from raw logit ``z`` (any shape), float64."""
        z = np.asarray(z, np.float64)
        if self.calibration == "platt":
            return _sigmoid(self.platt[0] * z + self.platt[1])
        if self.calibration == "isotonic":
            return np.interp(z, self.iso_x, self.iso_y)
        return _sigmoid(z)

    def predict_proba(self, context, action, position) -> np.ndarray:
        """Calibrated p(click) for rows, ``(n,)`` float64."""
        return self.calibrate(self.raw_logit(context, action, position))

    def expected_matrix(self, context: np.ndarray) -> np.ndarray:
        """Calibrated p(click) of every item in every slot: ``context (n, d)`` -> ``(n, K, L)``."""
        s = np.asarray(context, np.float64) @ self.member_weights + self.item_bias
        return self.calibrate(s[:, :, None] + self.position_effect[None, None, :])


@dataclass
class CalibrationReport:
    """Held-out quality of a :class:`ResponseModel` (all on rows the model never saw).

    n_train, n_heldout, clicks_train, clicks_heldout: split sizes.
    log_loss, log_loss_baseline: weighted mean log-loss of the calibrated model and of the
        constant training click rate (lower is better; the gap is the information gained).
    auc: weighted ROC AUC on held-out rows (0.5 = no ranking power).
    brier: weighted Brier score. ece: expected calibration error over the reliability bins.
    reliability: DataFrame-like dict of lists ``bin_lo, bin_hi, mean_pred, observed, ci_lo, ci_hi,
        weight`` (quantile bins of the predicted probability; Wilson 95% intervals).
    cv: cross-validation table ``{(main, interaction): out-of-fold log-loss}``.
    penalties, calibration, logger: choices made; warnings: stated assumptions.
    item_dispersion: ``{"chi2", "df", "p"}``: Pearson test of the per-item click counts against a
        common click rate (all rows, weighted). A large p means the logs cannot tell the items apart
        and the fitted item effects are mostly the prior.
    """

    n_train: int
    n_heldout: int
    clicks_train: int
    clicks_heldout: int
    log_loss: float
    log_loss_baseline: float
    auc: float
    brier: float
    ece: float
    reliability: dict
    cv: dict
    penalties: dict
    calibration: str
    logger: str
    oof_reliability: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    item_dispersion: dict = field(default_factory=dict)

    def to_text(self) -> str:
        r = self.reliability
        lines = [
            f"response model: logistic (member x item interactions), calibration={self.calibration}, "
            f"logger={self.logger}, penalties={self.penalties}",
            f"split: train {self.n_train} rows ({self.clicks_train} clicks), held-out {self.n_heldout} rows "
            f"({self.clicks_heldout} clicks)",
            f"held-out log-loss {self.log_loss:.5f} (constant-rate baseline {self.log_loss_baseline:.5f}), "
            f"AUC {self.auc:.3f}, Brier {self.brier:.6f}, ECE {self.ece:.5f}",
            "reliability (held-out, quantile bins): mean predicted -> observed [95% CI] (rows)",
        ]
        for i in range(len(r.get("mean_pred", []))):
            lines.append(
                f"  {r['mean_pred'][i]:.5f} -> {r['observed'][i]:.5f} [{r['ci_lo'][i]:.5f}, {r['ci_hi'][i]:.5f}] "
                f"({r['weight'][i]:.0f})"
            )
        if self.item_dispersion:
            dsp = self.item_dispersion
            lines.append(f"item heterogeneity in the logs: chi-square {dsp['chi2']:.1f} on {dsp['df']} df, "
                         f"p = {dsp['p']:.3g} (large p: the logs cannot tell the items apart)")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["cv"] = {f"{k[0]},{k[1]}": v for k, v in self.cv.items()}
        return d


def _reliability(y, p, w, n_bins: int) -> dict:
    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, n_bins)
    out = {k: [] for k in ("bin_lo", "bin_hi", "mean_pred", "observed", "ci_lo", "ci_hi", "weight")}
    for idx in chunks:
        if idx.size == 0:
            continue
        ww = w[idx]
        sw = ww.sum()
        mp = float(np.sum(ww * p[idx]) / sw)
        obs = float(np.sum(ww * y[idx]) / sw)
        # effective sample size for the interval under weights
        n_eff = sw * sw / np.sum(ww * ww)
        lo, hi = _binom_ci(obs * n_eff, n_eff)
        out["bin_lo"].append(float(p[idx].min()))
        out["bin_hi"].append(float(p[idx].max()))
        out["mean_pred"].append(mp)
        out["observed"].append(obs)
        out["ci_lo"].append(lo)
        out["ci_hi"].append(hi)
        out["weight"].append(float(idx.size))
    return out


class _Design:
    """Structured rows for the loss: context X (n,d), action a (n,), position l (n,).

    Rows that share (context, action, position) have the same logit, so the weighted likelihood
    only needs each cell's total weight and weighted clicks (a binomial count). When contexts
    repeat (one-hot member features: a few hundred distinct rows in the OBD logs) so that the
    ``m x K x L`` cells of the ``m`` distinct contexts are at most 4 per row, :meth:`fit` sums
    its rows into that cell table and evaluates the loss on it with matrix products over the
    distinct contexts: the objective is the same sum, regrouped (same optimum), and its cost no
    longer grows with the number of rows. Otherwise the loss runs over the rows.
    """

    def __init__(self, X, a, pos, Z, K, L):
        self.X, self.a, self.l, self.Z, self.K, self.L = X, a, pos, Z, K, L
        self.d, self.q = X.shape[1], Z.shape[1]
        self.Za = Z[a]  # (n, q)
        sizes = [1, K, L, self.d, self.d * self.q, self.d * K]
        self.offsets = np.cumsum([0, *sizes])
        self.size = int(self.offsets[-1])
        n = a.shape[0]
        self.cell = None  # (n,) cell of each row in the (m, K, L) table, when the table is used
        if n:
            Xc = np.ascontiguousarray(X)
            if self.d:
                _, first, ctx_id = np.unique(Xc.view(np.dtype((np.void, Xc.dtype.itemsize * self.d))).ravel(),
                                             return_index=True, return_inverse=True)
            else:
                first, ctx_id = np.zeros(1, np.int64), np.zeros(n, np.int64)
            if first.size * K * L <= 4 * n:
                self.Xu = Xc[first]  # (m, d) distinct contexts
                self.cell = (ctx_id.reshape(-1).astype(np.int64) * K + a) * L + pos

    def _onehot(self, a):
        oh = np.zeros((a.shape[0], self.K))
        oh[np.arange(a.shape[0]), a] = 1.0
        return oh

    def unpack(self, theta):
        o = self.offsets
        return (theta[o[0]], theta[o[1]:o[2]], theta[o[2]:o[3]], theta[o[3]:o[4]],
                theta[o[4]:o[5]].reshape(self.d, self.q), theta[o[5]:o[6]].reshape(self.d, self.K))

    def logit(self, theta, X=None, a=None, pos=None, Za=None):
        X = self.X if X is None else X
        a = self.a if a is None else a
        pos = self.l if pos is None else pos
        Za = self.Za if Za is None else Za
        b0, beta, gamma, w, M, G = self.unpack(theta)
        inter = np.sum((X @ M) * Za, axis=1) if self.q else 0.0
        ui = np.einsum("nd,dn->n", X, G[:, a]) if self.d else 0.0
        return b0 + beta[a] + gamma[pos] + X @ w + inter + ui

    def penalty_vector(self, lam_main, lam_int):
        o = self.offsets
        pen = np.zeros(self.size)
        pen[o[1]:o[4]] = lam_main
        pen[o[4]:o[6]] = lam_int
        return pen

    def _rows_loss(self, idx, yy, ww, n_eff):
        """Loss and gradient (without the penalty) summed over rows ``idx``."""
        X, a, pos, Za = self.X[idx], self.a[idx], self.l[idx], self.Za[idx]
        oh = self._onehot(a)
        o = self.offsets

        def f(theta):
            z = self.logit(theta, X, a, pos, Za)
            nll = np.sum(ww * (_log1pexp(z) - yy * z)) / n_eff
            r = ww * (_sigmoid(z) - yy) / n_eff
            g = np.empty_like(theta)
            g[0] = r.sum()
            g[o[1]:o[2]] = np.bincount(a, r, minlength=self.K)
            g[o[2]:o[3]] = np.bincount(pos, r, minlength=self.L)
            g[o[3]:o[4]] = X.T @ r
            Xr = X * r[:, None]
            g[o[4]:o[5]] = (Xr.T @ Za).ravel()
            g[o[5]:o[6]] = (Xr.T @ oh).ravel()
            return nll, g

        return f

    def _table_loss(self, idx, yy, ww, n_eff):
        """The same loss and gradient from the (m, K, L) table of summed weights and weighted clicks."""
        m, K, L = self.Xu.shape[0], self.K, self.L
        Wt = np.bincount(self.cell[idx], ww, minlength=m * K * L).reshape(m, K, L)
        Yt = np.bincount(self.cell[idx], ww * yy, minlength=m * K * L).reshape(m, K, L)
        Xu, Z = self.Xu, self.Z
        o = self.offsets

        def f(theta):
            b0, beta, gamma, w, M, G = self.unpack(theta)
            S = Xu @ (w[:, None] + M @ Z.T + G) if self.d else np.zeros((m, K))  # (m, K)
            z = b0 + beta[None, :, None] + gamma[None, None, :] + S[:, :, None]
            nll = np.sum(Wt * _log1pexp(z) - Yt * z) / n_eff
            R = (Wt * _sigmoid(z) - Yt) / n_eff
            Rca = R.sum(axis=2)  # (m, K)
            XR = Xu.T @ Rca  # (d, K)
            g = np.empty_like(theta)
            g[0] = R.sum()
            g[o[1]:o[2]] = Rca.sum(axis=0)
            g[o[2]:o[3]] = R.sum(axis=(0, 1))
            g[o[3]:o[4]] = XR.sum(axis=1)
            g[o[4]:o[5]] = (XR @ Z).ravel()
            g[o[5]:o[6]] = XR.ravel()
            return nll, g

        return f

    def fit(self, y, sw, lam_main, lam_int, idx=None, theta0=None, prior_mean=None):
        """Penalised weighted logistic MAP on rows ``idx``; returns theta.

        prior_mean: ``(size,)`` centre of the Gaussian penalty (None = 0)."""
        if idx is None:
            idx = np.arange(y.shape[0])
        yy, ww = y[idx], sw[idx]
        n_eff = ww.sum()
        loss = (self._rows_loss if self.cell is None else self._table_loss)(idx, yy, ww, n_eff)
        pen = self.penalty_vector(lam_main, lam_int) / n_eff
        mu = np.zeros(self.size) if prior_mean is None else prior_mean

        def fun(theta):
            nll, g = loss(theta)
            dev = theta - mu
            return nll + 0.5 * np.sum(pen * dev * dev), g + pen * dev

        if theta0 is None:
            theta0 = np.zeros(self.size)
            rate = np.clip(np.sum(ww * yy) / n_eff, 1e-6, 1 - 1e-6)
            theta0[0] = np.log(rate / (1 - rate))
            theta0 = theta0 + mu
        res = optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B",
                                options={"maxiter": 1000, "gtol": 1e-8, "ftol": 1e-12})
        return res.x


def _fit_platt(z, y, w, ridge: float = 1e-3) -> tuple[float, float]:
    """Weighted logistic regression of y on z (2 parameters, tiny ridge on the slope around 1)."""
    sw = w.sum()

    def fun(p):
        a, b = p
        t = a * z + b
        nll = np.sum(w * (_log1pexp(t) - y * t)) / sw + 0.5 * ridge * (a - 1.0) ** 2
        r = w * (_sigmoid(t) - y) / sw
        return nll, np.array([np.sum(r * z) + ridge * (a - 1.0), np.sum(r)])

    res = optimize.minimize(fun, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def _fit_isotonic(z, y, w) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
    iso.fit(z, y, sample_weight=w)
    return np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64)


def _item_dispersion(a, y, w, K) -> dict:
    """Pearson chi-square of (weighted) per-item clicks against a common rate (items with rows only);
    with unit weights the usual binomial dispersion statistic."""
    imp = np.bincount(a, weights=w, minlength=K)
    clk = np.bincount(a, weights=w * y, minlength=K)
    w2 = np.bincount(a, weights=w * w, minlength=K)  # variance of a weighted click sum: rate (1 - rate) sum w^2
    keep = imp > 0
    rate = clk.sum() / imp.sum()
    exp = imp[keep] * rate
    chi2 = float(np.sum((clk[keep] - exp) ** 2 / (w2[keep] * rate * (1 - rate))))
    df = int(keep.sum() - 1)
    return {"chi2": chi2, "df": df, "p": float(stats.chi2.sf(chi2, df))}


def _stratified_folds(y, k, rng):
    idx_pos = rng.permutation(np.flatnonzero(y > 0.5))
    idx_neg = rng.permutation(np.flatnonzero(y <= 0.5))
    folds = [[] for _ in range(k)]
    for i, j in enumerate(idx_pos):
        folds[i % k].append(j)
    for i, j in enumerate(idx_neg):
        folds[i % k].append(j)
    return [np.sort(np.asarray(f, np.int64)) for f in folds]


def fit_response_model(
    context: np.ndarray,
    action: np.ndarray,
    reward: np.ndarray,
    position: np.ndarray | None,
    pscore: np.ndarray | None,
    n_actions: int,
    len_list: int = 1,
    action_context: np.ndarray | None = None,
    *,
    heldout_frac: float = 0.25,
    n_folds: int = 4,
    penalty_grid: tuple[tuple[float, ...], tuple[float, ...]] = ((3.0, 30.0, 300.0), (30.0, 300.0, 3000.0)),
    penalties: tuple[float, float] | None = None,
    calibration: str = "platt",
    weight_clip: float = 50.0,
    refit_full: bool = True,
    n_bins: int = 5,
    assume_uniform: bool = False,
    item_prior_mean: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[ResponseModel, CalibrationReport]:
    """Fit and calibrate the click model (module docstring) with a held-out report.

    context ``(n, d)``, action ``(n,)`` int in ``[0, n_actions)``, reward ``(n,)`` 0/1, position
    ``(n,)`` int in ``[0, len_list)`` or None (single slot), pscore ``(n,)`` or None (see
    :func:`check_logs`), action_context ``(K, p)`` or None.

    heldout_frac: share of rows (stratified by click) kept out of every fitting step for the report.
    penalty_grid: candidate ``(main, interaction)`` L2 strengths searched by ``n_folds``-fold CV on the
        training split; ``penalties`` fixes them and skips the search (the Platt/isotonic map is still
        fitted on out-of-fold logits). calibration: ``"platt"``, ``"isotonic"`` or ``"none"``.
    weight_clip: inverse-propensity weights are normalised to mean 1 and clipped at this value.
    refit_full: after the report, refit the base model on all rows (train + held-out) with the chosen
        penalties for the returned model (the report then describes the train-only fit).
    item_prior_mean: ``(K,)`` logit-scale prior centre for the item effects ``beta`` (centred to mean
        0; the intercept absorbs the level), e.g. an external, site-wide click-rate table. None = 0:
        the fit shrinks items toward each other.
    """
    from threadpoolctl import threadpool_limits

    # BLAS threads fight each other on a small shared machine (100x slowdowns measured); the
    # matrices here are small, one thread is fastest.
    with threadpool_limits(limits=1):
        return _fit_response_model(
            context, action, reward, position, pscore, n_actions, len_list, action_context,
            heldout_frac=heldout_frac, n_folds=n_folds, penalty_grid=penalty_grid, penalties=penalties,
            calibration=calibration, weight_clip=weight_clip, refit_full=refit_full, n_bins=n_bins,
            assume_uniform=assume_uniform, item_prior_mean=item_prior_mean, seed=seed,
        )


def _fit_response_model(context, action, reward, position, pscore, n_actions, len_list, action_context, *,
                        heldout_frac, n_folds, penalty_grid, penalties, calibration, weight_clip, refit_full,
                        n_bins, assume_uniform, item_prior_mean, seed):
    if calibration not in ("platt", "isotonic", "none"):
        raise ValueError(f"calibration: expected 'platt', 'isotonic' or 'none', got {calibration!r}")
    if not 0.0 < heldout_frac < 0.9:
        raise ValueError(f"heldout_frac: expected a value in (0, 0.9), got {heldout_frac!r}")
    X = np.asarray(context, np.float64)
    a = np.asarray(action, np.int64)
    y = np.asarray(reward, np.float64)
    n = a.shape[0]
    if X.ndim != 2 or X.shape[0] != n:
        raise ValueError(f"context: expected shape ({n}, d), got {X.shape}")
    if a.min() < 0 or a.max() >= n_actions:
        raise ValueError(f"action: expected values in [0, {n_actions}), got range [{a.min()}, {a.max()}]")
    pos = np.zeros(n, np.int64) if position is None else np.asarray(position, np.int64)
    if pos.min() < 0 or pos.max() >= len_list:
        raise ValueError(f"position: expected values in [0, {len_list}), got range [{pos.min()}, {pos.max()}]")
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always", MalformedLogsWarning)
        w, logger = check_logs(a, y, pscore, n_actions, assume_uniform=assume_uniform)
    for wi in wlist:
        caught.append(str(wi.message))
        warnings.warn(wi.message, wi.category, stacklevel=2)
    w = w / w.mean()
    if logger == "non-uniform":
        clipped = int(np.sum(w > weight_clip))
        w = np.minimum(w, weight_clip)
        if clipped:
            caught.append(f"{clipped} inverse-propensity weights clipped at {weight_clip}")

    Z = item_design(action_context, n_actions)
    D = _Design(X, a, pos, Z, n_actions, len_list)
    mu = None
    if item_prior_mean is not None:
        ipm = np.asarray(item_prior_mean, np.float64)
        if ipm.shape != (n_actions,) or not np.all(np.isfinite(ipm)):
            raise ValueError(f"item_prior_mean: expected a finite array of shape ({n_actions},), got {ipm.shape}")
        mu = np.zeros(D.size)
        mu[D.offsets[1]:D.offsets[2]] = ipm - ipm.mean()
    rng = np.random.default_rng(seed)
    folds = _stratified_folds(y, max(2, int(round(1 / heldout_frac))), rng)
    held = folds[0]
    train = np.sort(np.concatenate(folds[1:]))
    if y[train].sum() < 2 or y[held].sum() < 1:
        raise MalformedLogsError(
            f"reward: only {int(y.sum())} clicks in all; too few to fit and hold out (need >= 3)"
        )

    # cross-validation on the training split
    cv_folds = _stratified_folds(y[train], n_folds, rng)
    grid = [penalties] if penalties is not None else [(m, i) for m in penalty_grid[0] for i in penalty_grid[1]]
    cv: dict = {}
    oof_by = {}
    for lam in grid:
        oof = np.zeros(train.size)
        theta = None
        for f in cv_folds:
            tr = np.setdiff1d(np.arange(train.size), f)
            theta = D.fit(y, w, lam[0], lam[1], idx=train[tr], prior_mean=mu)
            oof[f] = D.logit(theta, X[train[f]], a[train[f]], pos[train[f]], D.Za[train[f]])
        yt, wt = y[train], w[train]
        # score the out-of-fold logits after a Platt map (ranking and scale both count)
        pa, pb = _fit_platt(oof, yt, wt)
        pp = np.clip(_sigmoid(pa * oof + pb), 1e-12, 1 - 1e-12)
        cv[lam] = float(np.sum(wt * -(yt * np.log(pp) + (1 - yt) * np.log(1 - pp))) / wt.sum())
        oof_by[lam] = oof
    best = min(cv, key=cv.get)
    oof = oof_by[best]
    yt, wt = y[train], w[train]
    if calibration == "platt":
        platt = _fit_platt(oof, yt, wt)
        if platt[0] <= 0:
            caught.append(
                f"Platt slope {platt[0]:.3g} <= 0: the model does not rank clicks out of fold; "
                "slope set to 0 (every item gets the base rate)"
            )
            warnings.warn(caught[-1], MalformedLogsWarning, stacklevel=2)
            platt = (0.0, float(np.log(np.average(yt, weights=wt) / (1 - np.average(yt, weights=wt)))))
        iso_x, iso_y = np.zeros(2), np.zeros(2)
    elif calibration == "isotonic":
        platt = (1.0, 0.0)
        iso_x, iso_y = _fit_isotonic(oof, yt, wt)
    else:
        platt = (1.0, 0.0)
        iso_x, iso_y = np.zeros(2), np.zeros(2)

    theta_tr = D.fit(y, w, best[0], best[1], idx=train, prior_mean=mu)
    base_rate_tr = float(np.average(yt, weights=wt))

    def to_model(theta, base_rate):
        b0, beta, gamma, wv, M, G = D.unpack(theta)
        mw = wv[:, None] + M @ Z.T + G if D.d else np.zeros((0, n_actions))
        return ResponseModel(
            item_bias=b0 + beta, member_weights=np.asarray(mw, np.float64), position_effect=gamma.copy(),
            calibration=calibration, platt=platt, iso_x=iso_x, iso_y=iso_y, base_rate=base_rate,
            penalties={"main": best[0], "interaction": best[1]},
        )

    m_tr = to_model(theta_tr, base_rate_tr)
    yh, wh = y[held], w[held]
    ph = np.clip(m_tr.predict_proba(X[held], a[held], pos[held]), 1e-12, 1 - 1e-12)
    ll = float(np.sum(wh * -(yh * np.log(ph) + (1 - yh) * np.log(1 - ph))) / wh.sum())
    c = np.clip(base_rate_tr, 1e-12, 1 - 1e-12)
    ll0 = float(np.sum(wh * -(yh * np.log(c) + (1 - yh) * np.log(1 - c))) / wh.sum())
    rel = _reliability(yh, ph, wh, n_bins)
    ece = float(np.sum(np.abs(np.array(rel["mean_pred"]) - np.array(rel["observed"])) * np.array(rel["weight"]))
                / max(1.0, np.sum(rel["weight"])))
    p_oof = m_tr.calibrate(oof) if calibration != "none" else _sigmoid(oof)
    report = CalibrationReport(
        n_train=int(train.size), n_heldout=int(held.size), clicks_train=int(y[train].sum()),
        clicks_heldout=int(yh.sum()), log_loss=ll, log_loss_baseline=ll0,
        auc=_weighted_auc(yh, ph, wh), brier=float(np.sum(wh * (ph - yh) ** 2) / wh.sum()), ece=ece,
        reliability=rel, cv=cv, penalties={"main": best[0], "interaction": best[1]},
        calibration=calibration, logger=logger, oof_reliability=_reliability(yt, p_oof, wt, n_bins),
        warnings=caught, item_dispersion=_item_dispersion(a, y, w, n_actions),
    )
    if refit_full:
        theta_all = D.fit(y, w, best[0], best[1], theta0=theta_tr, prior_mean=mu)
        model = to_model(theta_all, float(np.average(y, weights=w)))
    else:
        model = m_tr
    return model, report

