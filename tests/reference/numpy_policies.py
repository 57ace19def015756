"""Float64 numpy per-round references of the core policies (independent of the JAX code).

The linear references keep the raw design matrices ``A_a = lam I + sum x x^T`` and ``b_a`` and
SOLVE them every round (``numpy.linalg.solve``): no Sherman-Morrison, no recursion shared with
the JAX implementation. Thompson-sampling references return the EXACT probability that each arm's
posterior draw is the largest, by numerical quadrature of ``P(argmax = a) = int f_a(y)
prod_{b != a} F_b(y) dy`` (scipy distributions), not by sampling.

Every reference exposes ``probs(context, mask) -> (K,)`` and ``update(context, action, reward)``.
Ties are split evenly among exact maximisers, masked actions get 0.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def tie_split(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    s = np.where(mask, scores, -np.inf)
    best = s.max()
    is_best = mask & (s >= best)
    return is_best / is_best.sum()


def uniform(mask: np.ndarray) -> np.ndarray:
    return mask / mask.sum()


class EpsilonGreedyRef:
    def __init__(self, K: int, epsilon: float, initial_value: float = 0.0):
        self.n = np.zeros(K)
        self.s = np.zeros(K)
        self.eps, self.iv = epsilon, initial_value

    def probs(self, x, mask):
        means = np.array([self.s[a] / self.n[a] if self.n[a] > 0 else self.iv for a in range(len(self.n))])
        return (1 - self.eps) * tie_split(means, mask) + self.eps * uniform(mask)

    def update(self, x, a, r):
        self.n[a] += 1
        self.s[a] += r


class UCB1Ref:
    def __init__(self, K: int, alpha: float = 1.0):
        self.n = np.zeros(K)
        self.s = np.zeros(K)
        self.alpha = alpha

    def probs(self, x, mask):
        untried = mask & (self.n == 0)
        if untried.any():
            return untried / untried.sum()
        n = np.where(self.n > 0, self.n, 1.0)  # unavailable never-pulled arms: masked anyway
        scores = self.s / n + self.alpha * np.sqrt(2 * np.log(self.n.sum()) / n)
        return tie_split(scores, mask)

    def update(self, x, a, r):
        self.n[a] += 1
        self.s[a] += r


class RidgeRef:
    """Per-arm ridge regression by direct solves (float64)."""

    def __init__(self, K: int, d: int, lam: float):
        self.A = np.stack([lam * np.eye(d) for _ in range(K)])
        self.b = np.zeros((K, d))

    def mean_and_quad(self, x):
        theta = np.stack([np.linalg.solve(A, b) for A, b in zip(self.A, self.b, strict=True)])
        quad = np.array([x @ np.linalg.solve(A, x) for A in self.A])
        return theta @ x, quad

    def update(self, x, a, r):
        self.A[a] += np.outer(x, x)
        self.b[a] += r * x


class LinUCBRef(RidgeRef):
    def __init__(self, K, d, alpha=1.0, lam=1.0):
        super().__init__(K, d, lam)
        self.alpha = alpha

    def scores(self, x):
        mean, quad = self.mean_and_quad(x)
        return mean + self.alpha * np.sqrt(quad)

    def probs(self, x, mask):
        return tie_split(self.scores(x), mask)


class LinEpsilonGreedyRef(RidgeRef):
    def __init__(self, K, d, epsilon=0.1, lam=1.0):
        super().__init__(K, d, lam)
        self.eps = epsilon

    def scores(self, x):
        return self.mean_and_quad(x)[0]

    def probs(self, x, mask):
        return (1 - self.eps) * tie_split(self.scores(x), mask) + self.eps * uniform(mask)


def argmax_probs_quadrature(dists, mask: np.ndarray, lo: float, hi: float, n: int = 20001) -> np.ndarray:
    """Exact ``P(arm a has the largest independent draw)`` among available arms, by Simpson's rule.

    dists: list of frozen scipy continuous distributions (one per arm); the integrand is
    ``pdf_a(y) prod_{b != a, available} cdf_b(y)`` on ``[lo, hi]`` (which must hold all the mass).
    """
    y = np.linspace(lo, hi, n)
    K = len(dists)
    pdf = np.stack([d.pdf(y) for d in dists])
    cdf = np.stack([d.cdf(y) for d in dists])
    out = np.zeros(K)
    for a in range(K):
        if not mask[a]:
            continue
        others = [b for b in range(K) if b != a and mask[b]]
        integrand = pdf[a] * (np.prod(cdf[others], axis=0) if others else 1.0)
        w = np.ones(n)
        w[1:-1:2], w[2:-1:2] = 4, 2
        out[a] = (y[1] - y[0]) / 3 * np.sum(w * integrand)
    return out


class LinTSRef(RidgeRef):
    """Exact Thompson probabilities of disjoint LinTS: score_a ~ N(x.mu_a, v^2 x^T A_a^{-1} x)."""

    def __init__(self, K, d, v=1.0, lam=1.0):
        super().__init__(K, d, lam)
        self.v = v

    def probs(self, x, mask):
        mean, quad = self.mean_and_quad(x)
        sd = self.v * np.sqrt(quad)
        lo = np.min(mean[mask] - 9 * sd[mask])
        hi = np.max(mean[mask] + 9 * sd[mask])
        # grid step at most a 20th of the narrowest available posterior (odd point count for Simpson)
        n = int(min(2_000_001, max(2001, 20 * (hi - lo) / np.min(sd[mask])))) | 1
        dists = [stats.norm(m, s) for m, s in zip(mean, sd, strict=True)]
        return argmax_probs_quadrature(dists, mask, lo, hi, n=n)


class BernoulliTSRef:
    """Exact Thompson probabilities of Beta-Bernoulli TS."""

    def __init__(self, alpha0: np.ndarray, beta0: np.ndarray):
        self.a = np.array(alpha0, dtype=np.float64)
        self.b = np.array(beta0, dtype=np.float64)

    def probs(self, x, mask):
        dists = [stats.beta(a, b) for a, b in zip(self.a, self.b, strict=True)]
        return argmax_probs_quadrature(dists, mask, 0.0, 1.0, n=4001)

    def update(self, x, a, r):
        self.a[a] += r
        self.b[a] += 1 - r
