"""Marginalized IPS with item embeddings (Saito & Joachims 2022): ``mips`` and ``snmips``.

With a large catalog the importance weight ``pi_e(a|x) / pi_b(a|x)`` of the logged item can be
huge, and IPW's variance with it. If the reward depends on the item only through an embedding
``e`` (a category, a cluster, a tuple of categorical features), the item can be marginalised out:

    w(x, e) = p(e | x, pi_e) / p(e | x, pi_b),   p(e | x, pi) = sum_a pi(a | x) p(e | a)

and ``mips = mean(w(x_i, e_i) r_i)`` is unbiased under that assumption (no direct effect of the
item beyond ``e``) with far smaller weights; ``snmips = sum(w r) / sum(w)``.

What a log may provide, and how the weight is then computed (chosen automatically):

1. the logger's full distribution ``pi_b`` and the embedding distribution (``p_e_a (K, C, D)``:
   ``p(e_d = c | a)`` for ``D`` independent categorical dimensions, or deterministic categories
   from ``action_context``): the weight is exact (obp's ``p_e_a`` route);
2. ``pi_b`` and per-row embeddings ``action_embed`` without ``p_e_a``: obp's route, a classifier
   ``p(a | x, e)`` (scikit-learn ``LogisticRegression(max_iter=1000, random_state=12345)`` on
   ``[context, one-hot(e)]``) and ``w(x, e) = sum_a w(x, a) p_hat(a | x, e)``;
3. no ``pi_b`` (a :class:`~bandits.data.LoggedData` logs only the pscore of the logged item): the
   numerator is exact, and the logger's embedding distribution ``p(e | x, pi_b)`` is estimated by
   a classifier of the embedding given the context (``LogisticRegression(max_iter=1000)`` on the
   standardised context; the frequencies of the embeddings for a log without context).

The embeddings: per-row ``action_embed (n, D)`` of an :class:`EmbeddedLog`, else the item's row
of ``action_context`` (equal rows are one category: items are grouped by identical features).
:func:`item_clusters` groups items with k-means on their features, and
:func:`learn_item_embedding` learns groups from the log (items with similar fitted rewards).
Hyperparameter ``n_folds``: 1 (default, as obp) fits the classifiers on all rows; ``>= 2``
cross-fits them, so no row's weight comes from a model that saw it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bandits.data import LoggedData
from bandits.estimators import _checks as ck
from bandits.estimators.core import Columns, HParam, Term, register_estimator
from bandits.estimators.intervals import one_blas_thread

__all__ = ["EmbeddedLog", "item_clusters", "learn_item_embedding", "mips_weights"]


@dataclass(frozen=True, eq=False, repr=False)
class EmbeddedLog(LoggedData):
    """A :class:`~bandits.data.LoggedData` with what MIPS can use beyond it (obp's names).

    action_embed ``(n, D)`` int >= 0 or None: the embedding observed with each logged item (one
        category per dimension; obp's ``action_embed``).
    pi_b ``(n, K)`` or ``(n, K, len_list)`` float or None: the logger's full distribution over
        items (obp's ``pi_b``); its entry at the logged item (and slot) must equal ``pscore``.
    p_e_a ``(K, C, D)`` float or None: ``p(e_d = c | a)``, each ``[a, :, d]`` summing to 1.
    """

    action_embed: np.ndarray | None = None
    pi_b: np.ndarray | None = None
    p_e_a: np.ndarray | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        n, K = self.n_rounds, self.n_actions
        emb = None
        if self.action_embed is not None:
            emb = np.asarray(self.action_embed)
            if emb.ndim == 1:
                emb = emb[:, None]
            if emb.ndim != 2 or emb.shape[0] != n or not np.issubdtype(emb.dtype, np.integer):
                raise ValueError(f"action_embed: expected integer categories of shape (n_rounds={n}, n_dims), got "
                                 f"{ck.describe(emb)}")
            if emb.min() < 0:
                raise ValueError(f"action_embed: expected categories >= 0, got {int(emb.min())}")
            emb = emb.astype(np.int64, copy=False)
        pib = None
        if self.pi_b is not None:
            pib = ck.as_action_array("pi_b", self.pi_b, n, K, None)
            with one_blas_thread():  # a matrix-vector product: more BLAS threads only add wake-ups
                ck.check_action_dist(pib)
            if pib.shape[2] < self.len_list:
                raise ValueError(f"pi_b: expected len_list={self.len_list} slots (axis 2), got shape {pib.shape}")
            pos = self.position if self.position is not None else np.zeros(n, np.int64)
            at = pib[np.arange(n), self.action, pos if pib.shape[2] > 1 else 0]
            bad = np.abs(at - self.pscore) > 1e-6 * self.pscore
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"pi_b: expected pi_b at the logged action to equal pscore, got {at[i]!r} against "
                                 f"pscore {self.pscore[i]!r} at row {i}")
        pea = None
        if self.p_e_a is not None:
            pea = np.asarray(self.p_e_a, dtype=np.float64)
            if pea.ndim != 3 or pea.shape[0] != K:
                raise ValueError(f"p_e_a: expected shape (n_actions={K}, n_categories, n_dims), got {ck.describe(pea)}")
            if emb is None:
                raise ValueError("action_embed: p_e_a describes per-row embeddings, so action_embed is needed, got None")
            if pea.shape[2] != emb.shape[1]:
                raise ValueError(f"p_e_a: expected n_dims={emb.shape[1]} (axis 2, as action_embed), got shape {pea.shape}")
            if emb.max() >= pea.shape[1]:
                raise ValueError(f"action_embed: expected categories < {pea.shape[1]} (p_e_a's axis 1), got {int(emb.max())}")
            if not (pea >= 0).all():
                raise ValueError("p_e_a: expected non-negative probabilities, got a negative or NaN entry")
            sums = pea.sum(axis=1)
            dev = np.abs(sums - 1.0)
            if not dev.max() <= ck.SUM_TOL:
                a, d = (int(v) for v in np.argwhere(~(dev <= ck.SUM_TOL))[0])
                raise ValueError(f"p_e_a: expected each item's distribution over categories (axis 1) to sum to 1, got "
                                 f"sum {float(sums[a, d])!r} for action {a}, dimension {d}")
        for k, v in (("action_embed", emb), ("pi_b", pib), ("p_e_a", pea)):
            if v is not None:
                v = v.view()
                v.flags.writeable = False
            set_(k, v)

    @classmethod
    def from_logged(cls, data: LoggedData | Mapping, action_embed: Any = None, pi_b: Any = None,
                    p_e_a: Any = None) -> EmbeddedLog:
        """``data`` with the MIPS inputs added."""
        d = LoggedData.coerce(data)
        return cls(context=d.context, action=d.action, reward=d.reward, pscore=d.pscore, position=d.position,
                   action_context=d.action_context, timestamp=d.timestamp, n_actions=d.n_actions, len_list=d.len_list,
                   action_embed=action_embed, pi_b=pi_b, p_e_a=p_e_a)

    @classmethod
    def from_obp(cls, bandit_feedback: Mapping[str, Any]) -> EmbeddedLog:
        """From obp's ``SyntheticBanditDatasetWithActionEmbeds`` feedback (``action_embed``, ``pi_b``,
        ``p_e_a`` read when present)."""
        base = LoggedData.from_obp(bandit_feedback)
        return cls.from_logged(base, bandit_feedback.get("action_embed"), bandit_feedback.get("pi_b"),
                               bandit_feedback.get("p_e_a"))

    def subset(self, idx: Any) -> EmbeddedLog:
        """Rows ``idx`` (as :meth:`LoggedData.subset`), the MIPS inputs cut alike."""
        base = LoggedData.subset(self, idx)
        sel = idx if isinstance(idx, slice) else np.asarray(idx)
        return EmbeddedLog.from_logged(base, None if self.action_embed is None else self.action_embed[sel],
                                       None if self.pi_b is None else self.pi_b[sel], self.p_e_a)

    def __repr__(self) -> str:
        extra = [k for k in ("action_embed", "pi_b", "p_e_a") if getattr(self, k) is not None]
        return LoggedData.__repr__(self).replace("LoggedData(", "EmbeddedLog(", 1)[:-1] + f", with={extra})"


# ------------------------------------------------------------------------------------------------
# the marginal weight
# ------------------------------------------------------------------------------------------------


def _categories(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer category per row of a 2-D array (equal rows share one), and the number of categories."""
    _, inv = np.unique(rows, axis=0, return_inverse=True)
    inv = inv.reshape(-1).astype(np.int64)
    return inv, int(inv.max()) + 1


def _group_mass(pi: np.ndarray, item_cat: np.ndarray, n_cat: int) -> np.ndarray:
    """``(n, C)``: each row's probability mass on each category of items."""
    order = np.argsort(item_cat, kind="stable")
    cats = item_cat[order]
    starts = np.flatnonzero(np.r_[True, cats[1:] != cats[:-1]])
    out = np.zeros((pi.shape[0], n_cat))
    out[:, cats[starts]] = np.add.reduceat(pi[:, order], starts, axis=1)
    return out


def _p_e_given_a(p_e_a: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """``(n, K)``: ``p(e_i | a) = prod_d p_e_a[a, e_id, d]`` for every item."""
    pt = np.ascontiguousarray(p_e_a.transpose(2, 1, 0))  # (D, C, K)
    P = pt[0][emb[:, 0]]
    for d in range(1, emb.shape[1]):
        P = P * pt[d][emb[:, d]]
    return P


def _embedding_mass(pis: tuple[np.ndarray, ...], p_e_a: np.ndarray, emb: np.ndarray, block: int = 256
                    ) -> tuple[np.ndarray, ...]:
    """``sum_a pi(a | x_i) p(e_i | a)`` ``(n,)`` for each ``pi (n, K)`` in ``pis``, in row blocks so
    that ``p(e_i | a)`` never leaves the cache (it is rebuilt per block from the small table)."""
    pt = np.ascontiguousarray(p_e_a.transpose(2, 1, 0))  # (D, C, K)
    n, D = emb.shape
    C = pt.shape[1]
    outs = tuple(np.empty(n) for _ in pis)
    table = None
    if C**D <= max(4 * n, 1024):
        # few possible embeddings: one row of p(e | a) per embedding that occurs, gathered per block
        code = emb @ (C ** np.arange(D, dtype=np.int64))
        seen = np.zeros(C**D, bool)
        seen[code] = True
        codes = np.flatnonzero(seen)
        remap = np.zeros(C**D, np.int64)
        remap[codes] = np.arange(codes.size)
        digits = (codes[:, None] // (C ** np.arange(D))[None, :]) % C
        table = pt[0][digits[:, 0]]
        for d in range(1, D):
            table = table * pt[d][digits[:, d]]
        row = remap[code]
    for i0 in range(0, n, block):
        if table is not None:
            P = table[row[i0:i0 + block]]
        else:
            e = emb[i0:i0 + block]
            P = pt[0][e[:, 0]]
            for d in range(1, D):
                P *= pt[d][e[:, d]]
        for pi, out in zip(pis, outs, strict=True):
            out[i0:i0 + block] = np.einsum("nk,nk->n", pi[i0:i0 + block], P)
    return outs


def _folds(n: int, n_folds: int, seed: int = 12345) -> list[tuple[np.ndarray, np.ndarray]]:
    if n_folds == 1:
        idx = np.arange(n)
        return [(idx, idx)]
    from sklearn.model_selection import KFold

    return list(KFold(n_folds, shuffle=True, random_state=seed).split(np.arange(n)))


def mips_weights(data: LoggedData, action_dist: Any, n_folds: int = 1) -> np.ndarray:
    """The marginal importance weights ``w(x_i, e_i)`` ``(n,)`` float64 of ``mips`` (see the module
    docstring for how they are computed from what ``data`` provides)."""
    cols = Columns(LoggedData.coerce(data), action_dist)
    return _w_e(cols, _n_folds(n_folds))


def _w_e(c: Columns, n_folds: int) -> np.ndarray:
    d = c.data
    n = d.n_rounds
    pi_e = c.at_position(c.action_dist)
    pib = getattr(d, "pi_b", None)
    pi_b = None if pib is None else (pib[:, :, 0] if pib.shape[2] == 1 else pib[np.arange(n), :, c.position])
    emb = getattr(d, "action_embed", None)
    p_e_a = getattr(d, "p_e_a", None)
    item_cat = None
    if emb is None:
        if d.action_context is None:
            raise ValueError("action_embed: 'mips' needs item embeddings: an EmbeddedLog with action_embed (n_rounds, "
                             "n_dims) or a log with action_context (n_actions, p), got neither")
        item_cat, n_cat = _categories(d.action_context)
        e = item_cat[d.action]
    if pi_b is not None and (p_e_a is not None or item_cat is not None):  # route 1: exact
        if item_cat is not None:
            num = _group_mass(pi_e, item_cat, n_cat)[np.arange(n), e]
            den = _group_mass(pi_b, item_cat, n_cat)[np.arange(n), e]
        else:
            num, den = _embedding_mass((pi_e, pi_b), p_e_a, emb)
        return num / den
    if pi_b is not None:  # route 2: obp's classifier of the item given context and embedding
        return _w_obp_classifier(d, emb, pi_e, pi_b, n_folds)
    # route 3: the logger's embedding distribution estimated from the context
    if item_cat is not None:
        num = _group_mass(pi_e, item_cat, n_cat)[np.arange(n), e]
        joint = e
    else:
        if p_e_a is None:
            raise ValueError("p_e_a: with per-row embeddings and no pi_b, 'mips' needs each item's embedding "
                             "distribution p_e_a (n_actions, n_categories, n_dims), got None")
        (num,) = _embedding_mass((pi_e,), p_e_a, emb)
        joint, _ = _categories(emb)
    den = _embedding_classifier(d.context, joint, n_folds)
    return num / den


def _w_obp_classifier(d: LoggedData, emb: np.ndarray, pi_e: np.ndarray, pi_b: np.ndarray, n_folds: int) -> np.ndarray:
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    n, K = pi_e.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        w_xa = pi_e / pi_b
    w_xa = np.where(w_xa < np.inf, w_xa, 0.0)
    onehot = OneHotEncoder(sparse_output=False, drop="first").fit_transform(emb)
    xe = np.c_[d.context, onehot]
    base = LogisticRegression(max_iter=1000, random_state=12345)
    p = np.zeros((n, K))
    for tr, te in _folds(n, n_folds):
        m = clone(base).fit(xe[tr], d.action[tr])
        p[np.ix_(te, m.classes_)] = m.predict_proba(xe[te])
    return (w_xa * p).sum(axis=1)


def _embedding_classifier(context: np.ndarray, cat: np.ndarray, n_folds: int) -> np.ndarray:
    """Estimated ``p(e_i | x_i, pi_b)`` ``(n,)`` (frequencies without context)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = cat.shape[0]
    out = np.empty(n)
    for tr, te in _folds(n, n_folds):
        cnt = np.bincount(cat[tr], minlength=int(cat.max()) + 1).astype(np.float64)
        if context.shape[1] == 0 or np.unique(cat[tr]).size < 2:
            out[te] = cnt[cat[te]] / tr.size
            continue
        m = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(context[tr], cat[tr])
        proba = m.predict_proba(context[te])
        col = np.searchsorted(m.classes_, cat[te])
        seen = (col < m.classes_.size) & (m.classes_[np.minimum(col, m.classes_.size - 1)] == cat[te])
        out[te] = np.where(seen, proba[np.arange(te.size), np.minimum(col, m.classes_.size - 1)], 0.0)
    if not (out > 0).all():
        i = int(np.flatnonzero(~(out > 0))[0])
        raise ValueError(f"n_folds: the embedding of row {i} never occurs in the rows its classifier was fitted on, so "
                         "its logging probability cannot be estimated; use fewer folds (n_folds=1) or coarser embeddings")
    return out


# ------------------------------------------------------------------------------------------------
# declarations
# ------------------------------------------------------------------------------------------------


def _n_folds(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise ValueError("expected an integer >= 1")
    return int(v)


def _mips_w(c: Columns, n_folds: int) -> np.ndarray:
    return _w_e(c, n_folds)


def _mips_wr(c: Columns, n_folds: int) -> np.ndarray:
    return c.col(("mips_w", n_folds)) * c.data.reward


_HP = {"n_folds": HParam(1, _n_folds, doc="folds for the weight classifiers (1: fit on all rows, as obp)")}

register_estimator(
    "mips", lambda n_folds: (Term(("mips_wr", n_folds)),), aliases=("mipw", "mips-ipw"), hparams=_HP,
    columns={"mips_w": _mips_w, "mips_wr": _mips_wr},
    summary="mean(w(x, e) r), w(x, e) = p(e|x, pi_e) / p(e|x, pi_b): IPW over item embeddings (Saito & Joachims 2022)",
)

register_estimator(
    "snmips", lambda n_folds: (Term(("mips_wr", n_folds), ("mips_w", n_folds)),), aliases=("snmipw",), hparams=_HP,
    summary="sum(w(x, e) r) / sum(w(x, e)): self-normalised mips",
)


# ------------------------------------------------------------------------------------------------
# embeddings: item clusters from features, or learned from the log
# ------------------------------------------------------------------------------------------------


def item_clusters(action_context: Any, n_clusters: int, random_state: int | None = 0) -> np.ndarray:
    """Group items by k-means on their (standardised) features.

    action_context ``(K, p)`` float; returns ``(K,)`` int64 cluster labels in ``[0, n_clusters)``,
    to be used as a one-column ``action_context`` (``data.replace(action_context=labels[:, None])``).
    """
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(action_context, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"action_context: expected shape (n_actions, p), got {ck.describe(X)}")
    if not (isinstance(n_clusters, int | np.integer) and 1 <= n_clusters <= X.shape[0]):
        raise ValueError(f"n_clusters: expected an integer in [1, n_actions={X.shape[0]}], got {n_clusters!r}")
    Z = StandardScaler().fit_transform(X)
    return KMeans(int(n_clusters), n_init=10, random_state=random_state).fit_predict(Z).astype(np.int64)


def learn_item_embedding(data: LoggedData | Mapping, n_clusters: int, n_contexts: int = 500, model: Any = None,
                         random_state: int | None = 0) -> np.ndarray:
    """Learn item groups from the log: items whose fitted rewards agree across contexts share a group.

    A reward model (:func:`bandits.estimators.fit_reward_model_on`, one-hot items unless the log
    has ``action_context``) is fitted on ``data``; each item's *profile* is its predicted reward
    on ``n_contexts`` logged contexts, and k-means on the profiles gives ``(K,)`` int64 labels
    (use them as a one-column ``action_context``). MIPS with these groups assumes that items with
    the same fitted reward profile have the same reward: a learned, checkable assumption, not a
    guarantee.
    """
    from sklearn.cluster import KMeans

    from bandits.estimators.reward_model import fit_reward_model_on

    log = LoggedData.coerce(data)
    if not (isinstance(n_clusters, int | np.integer) and 1 <= n_clusters <= log.n_actions):
        raise ValueError(f"n_clusters: expected an integer in [1, n_actions={log.n_actions}], got {n_clusters!r}")
    rng = np.random.default_rng(random_state)
    rm = fit_reward_model_on(log, model=model, len_list=1)
    idx = rng.choice(log.n_rounds, size=min(int(n_contexts), log.n_rounds), replace=False)
    prof = rm.predict(log.context[idx])[:, :, 0].T  # (K, n_contexts)
    return KMeans(int(n_clusters), n_init=10, random_state=random_state).fit_predict(prof).astype(np.int64)
