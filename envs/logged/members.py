"""Generative member models: a fitted distribution of member contexts, instead of resampling the logs.

The member simulator draws its members by resampling the logged contexts: it can only ever show
members who are in the logs, and a rare kind of member is either absent or over-represented. A
generative model smooths that: :class:`LatentClassMembers` is a finite mixture ("latent class
model") fitted by EM in float64 numpy,

    p(x) = sum_c pi_c  prod_g Cat(x_g; theta_cg)  prod_j Bern(x_j; p_cj)  prod_k N(x_k; mu_ck, s2_ck)

- one-hot blocks ``x_g`` (contiguous 0/1 columns of which at most one is 1 in every row, e.g. a
  categorical member feature encoded with its first level dropped) are one categorical variable
  with ``|g| + 1`` levels (the extra level: all zeros), so every generated row is a valid one-hot row;
- other 0/1 columns are Bernoulli; every other column is Gaussian (diagonal, variance floored);
- categorical and Bernoulli probabilities are smoothed with a Dirichlet/Beta(1/2) prior, so a
  combination absent from the logs keeps a small positive probability;
- the number of classes is chosen from ``n_components`` by the log-likelihood of a held-out
  validation split of the training contexts, then the model is refitted on all of them.

:func:`member_likelihood_check` is the check against resampling: the held-out log-likelihood of
contexts under the fitted model and under the empirical distribution of the training contexts
(what resampling draws from; a held-out context never seen in training has probability 0 there).
For a mixed discrete/continuous context the two are not on the same scale (a density against a
probability), and the check says so rather than comparing them.

Use it in the simulator with ``fit_member_simulator(..., members="latent_class")``: the member pool
is then ``n_members`` contexts drawn once from the fitted model (seeded) instead of the logged rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

__all__ = ["LatentClassMembers", "fit_members", "member_likelihood_check", "MEMBER_MODELS"]

MEMBER_MODELS = ("resample", "latent_class")
_LOG2PI = float(np.log(2 * np.pi))


def _column_kinds(X: np.ndarray) -> tuple[list[list[int]], list[int], list[int]]:
    """``(groups, bernoulli, gaussian)`` column indices: contiguous exclusive 0/1 blocks, other 0/1
    columns, other columns."""
    binary = [j for j in range(X.shape[1]) if np.all((X[:, j] == 0) | (X[:, j] == 1))]
    bset = set(binary)
    groups: list[list[int]] = []
    cur: list[int] = []
    rowsum = np.zeros(X.shape[0])
    for j in range(X.shape[1]):
        if j in bset and (not cur or (cur[-1] == j - 1 and not np.any((rowsum > 0) & (X[:, j] > 0)))):
            cur.append(j)
            rowsum = rowsum + X[:, j]
            continue
        if cur:
            groups.append(cur)
        cur, rowsum = ([j], X[:, j].copy()) if j in bset else ([], np.zeros(X.shape[0]))
    if cur:
        groups.append(cur)
    bern = [g[0] for g in groups if len(g) == 1]
    groups = [g for g in groups if len(g) > 1]
    gauss = [j for j in range(X.shape[1]) if j not in bset]
    return groups, bern, gauss


@dataclass
class LatentClassMembers:
    """A fitted latent class model of member contexts (module docstring).

    weights: ``(C,)`` class probabilities. groups: one-hot column blocks; cat: per group
    ``(C, |g| + 1)`` level probabilities (last level = all zeros). bern: Bernoulli columns,
    p: ``(C, len(bern))``. gauss: Gaussian columns, mu, var: ``(C, len(gauss))``. dim: d.
    """

    weights: np.ndarray
    groups: list
    cat: list
    bern: list
    p: np.ndarray
    gauss: list
    mu: np.ndarray
    var: np.ndarray
    dim: int
    info: dict = field(default_factory=dict)

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def is_discrete(self) -> bool:
        """True when every column is 0/1 (the likelihood is a probability, not a density)."""
        return not self.gauss

    def _class_loglik(self, X: np.ndarray) -> np.ndarray:
        """``(n, C)`` log p(x | class c)."""
        X = np.asarray(X, np.float64)
        n = X.shape[0]
        ll = np.zeros((n, self.n_components))
        for g, th in zip(self.groups, self.cat, strict=True):
            lvl = _levels(X[:, g])
            ll += np.log(th[:, lvl]).T
        if self.bern:
            xb = X[:, self.bern]
            ll += xb @ np.log(self.p).T + (1 - xb) @ np.log1p(-self.p).T
        if self.gauss:
            xg = X[:, self.gauss]
            for c in range(self.n_components):
                ll[:, c] += -0.5 * np.sum(_LOG2PI + np.log(self.var[c]) + (xg - self.mu[c]) ** 2 / self.var[c], axis=1)
        return ll

    def log_likelihood(self, X: np.ndarray) -> np.ndarray:
        """``(n,)`` float64 log p(x) of each row of ``X (n, d)`` (a log-density when some columns are Gaussian)."""
        X = np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X: expected shape (n, {self.dim}), got {X.shape}")
        return logsumexp(self._class_loglik(X) + np.log(self.weights), axis=1)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``(n, d)`` float64 contexts drawn from the model (``numpy.random.default_rng(seed)``)."""
        rng = np.random.default_rng(seed)
        z = rng.choice(self.n_components, size=n, p=self.weights)
        X = np.zeros((n, self.dim))
        for g, th in zip(self.groups, self.cat, strict=True):
            cum = np.cumsum(th[z], axis=1)
            lvl = np.minimum((rng.random((n, 1)) > cum).sum(axis=1), len(g))
            rows = np.flatnonzero(lvl < len(g))
            X[rows, np.asarray(g)[lvl[rows]]] = 1.0
        if self.bern:
            X[:, self.bern] = (rng.random((n, len(self.bern))) < self.p[z]).astype(np.float64)
        if self.gauss:
            X[:, self.gauss] = self.mu[z] + np.sqrt(self.var[z]) * rng.standard_normal((n, len(self.gauss)))
        return X


def _levels(Xg: np.ndarray) -> np.ndarray:
    """Level index of one-hot rows: the column holding the 1, or ``|g|`` for all zeros."""
    has = Xg.sum(axis=1) > 0
    return np.where(has, np.argmax(Xg, axis=1), Xg.shape[1])


def _em(X, kinds, C, rng, n_iter, tol, prior=0.5, var_floor=1e-3, weights=None):
    """EM on rows ``X`` with multiplicities ``weights`` (repeated rows are fitted once, weighted)."""
    groups, bern, gauss = kinds
    n, d = X.shape
    cnt_w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    lv = [_levels(X[:, g]) for g in groups]
    xb = X[:, bern]
    xg = X[:, gauss]
    resp = rng.dirichlet(np.ones(C), size=n) * cnt_w[:, None]
    prev = -np.inf
    model = None
    it = 0
    for it in range(n_iter):  # noqa: B007  (the count is reported)
        nk = resp.sum(axis=0) + 1e-12
        w = (nk + 1e-3) / (nk.sum() + 1e-3 * C)
        cat = []
        for g, lvl in zip(groups, lv, strict=True):
            cnt = np.stack([np.bincount(lvl, weights=resp[:, c], minlength=len(g) + 1) for c in range(C)])
            cat.append((cnt + prior) / (cnt.sum(axis=1, keepdims=True) + prior * (len(g) + 1)))
        p = (resp.T @ xb + prior) / (nk[:, None] + 2 * prior) if bern else np.zeros((C, 0))
        if gauss:
            mu = (resp.T @ xg) / nk[:, None]
            var = np.maximum((resp.T @ xg**2) / nk[:, None] - mu**2, var_floor * np.maximum(xg.var(axis=0), 1e-12))
        else:
            mu = var = np.zeros((C, 0))
        model = LatentClassMembers(w, groups, cat, bern, p, gauss, mu, var, d)
        ll = model._class_loglik(X) + np.log(w)
        tot = logsumexp(ll, axis=1)
        resp = np.exp(ll - tot[:, None]) * cnt_w[:, None]
        cur = float(np.dot(cnt_w, tot) / cnt_w.sum())
        if cur - prev < tol * max(1.0, abs(cur)):
            break
        prev = cur
    model.info["iterations"] = it + 1
    return model


def _distinct(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``X`` and their counts (EM on them equals EM on the rows)."""
    Xc = np.ascontiguousarray(X)
    _, first, counts = np.unique(Xc.view(np.dtype((np.void, Xc.dtype.itemsize * Xc.shape[1]))).ravel(),
                                 return_index=True, return_counts=True)
    return Xc[first], counts.astype(np.float64)


def fit_members(contexts: np.ndarray, *, n_components=(1, 2, 4, 8, 16, 32), valid_frac: float = 0.2,
                n_iter: int = 300, tol: float = 1e-8, seed: int = 0) -> LatentClassMembers:
    """Fit a :class:`LatentClassMembers` to ``contexts (n, d)``.

    n_components: candidate numbers of classes; the one with the best mean log-likelihood on a
        random ``valid_frac`` of the rows (fitted on the rest) is refitted on all rows.
    Raises ``ValueError`` naming ``contexts`` for fewer than 10 rows or non-finite values.
    """
    X = np.asarray(contexts, np.float64)
    if X.ndim != 2 or X.shape[0] < 10 or X.shape[1] < 1:
        raise ValueError(f"contexts: expected a 2-d array with at least 10 rows and 1 column, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("contexts: expected finite values")
    cands = sorted({int(c) for c in n_components if int(c) >= 1})
    if not cands:
        raise ValueError(f"n_components: expected positive integers, got {n_components!r}")
    if not 0.0 < valid_frac < 0.5:
        raise ValueError(f"valid_frac: expected a fraction in (0, 0.5), got {valid_frac!r}")
    rng = np.random.default_rng(seed)
    kinds = _column_kinds(X)
    perm = rng.permutation(X.shape[0])
    nv = max(1, int(round(valid_frac * X.shape[0])))
    va, tr = X[perm[:nv]], X[perm[nv:]]
    scores = {}
    for C in cands:
        if C > tr.shape[0]:
            continue
        Xu, wu = _distinct(tr)
        m = _em(Xu, kinds, C, np.random.default_rng(seed + C), n_iter, tol, weights=wu)
        scores[C] = float(m.log_likelihood(va).mean())
    best = max(scores, key=scores.get)
    Xu, wu = _distinct(X)
    model = _em(Xu, kinds, best, np.random.default_rng(seed + best), n_iter, tol, weights=wu)
    model.info.update(validation_loglik=scores, chosen=best)
    return model


def member_likelihood_check(contexts: np.ndarray, *, heldout_frac: float = 0.25, seed: int = 0,
                            **fit_kwargs) -> dict:
    """Held-out log-likelihood of member contexts: the latent class model vs resampling.

    Splits ``contexts (n, d)`` at random (``heldout_frac`` held out), fits the model on the rest and
    returns a dict: ``model_loglik`` (mean per held-out row), ``resample_loglik`` (mean log of each
    held-out context's frequency among the training contexts: ``-inf`` when any held-out context
    never occurs in training), ``unseen_share`` (share of held-out rows resampling cannot produce),
    ``model_loglik_seen`` and ``resample_loglik_seen`` (the same means over the held-out rows that do
    occur in training), ``n_components``, ``comparable`` (False when some columns are continuous:
    a density is not comparable with resampling's probabilities) and ``n_train, n_heldout``.
    """
    X = np.asarray(contexts, np.float64)
    if X.ndim != 2 or X.shape[0] < 20:
        raise ValueError(f"contexts: expected a 2-d array with at least 20 rows, got shape {X.shape}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(X.shape[0])
    nh = max(1, int(round(heldout_frac * X.shape[0])))
    held, train = X[perm[:nh]], X[perm[nh:]]
    model = fit_members(train, seed=seed, **fit_kwargs)
    ll_model = model.log_likelihood(held)
    key = lambda A: np.ascontiguousarray(A).view(np.dtype((np.void, A.dtype.itemsize * A.shape[1]))).ravel()  # noqa: E731
    uniq, counts = np.unique(key(train), return_counts=True)
    pos = np.searchsorted(uniq, key(held))
    pos = np.minimum(pos, uniq.size - 1)
    seen = uniq[pos] == key(held)
    freq = np.where(seen, counts[pos] / train.shape[0], 0.0)
    with np.errstate(divide="ignore"):
        ll_res = np.log(freq)
    return {
        "model_loglik": float(ll_model.mean()),
        "resample_loglik": float(ll_res.mean()),
        "unseen_share": float(1 - seen.mean()),
        "model_loglik_seen": float(ll_model[seen].mean()) if seen.any() else float("nan"),
        "resample_loglik_seen": float(ll_res[seen].mean()) if seen.any() else float("nan"),
        "n_components": model.n_components,
        "comparable": model.is_discrete,
        "n_train": int(train.shape[0]),
        "n_heldout": int(held.shape[0]),
    }
