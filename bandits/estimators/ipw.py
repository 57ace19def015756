"""Inverse propensity weighting: ``ipw`` (optionally clipped) and self-normalised ``snipw``.

With ``w_i = pi_e(a_i | x_i, k_i) / pscore_i``:

- ``ipw`` (alias ``ips``): ``mean(min(w, lambda) r)``; unbiased with true propensities when
  ``lambda = inf`` (the default), clipping trades bias for variance (Ionides 2008).
- ``snipw`` (alias ``snips``): ``sum(w r) / sum(w)``, a ratio of means (Swaminathan & Joachims
  2015): bounded by the rewards' range, consistent, slightly biased.
"""

from __future__ import annotations

import math

import numpy as np

from bandits.estimators.core import Columns, HParam, Term, register_estimator


def _wr(c: Columns) -> np.ndarray:
    return c.col("w") * c.data.reward


def _wr_clip(c: Columns, lam: float) -> np.ndarray:
    return np.minimum(c.col("w"), lam) * c.data.reward


def _ipw_terms(lambda_: float) -> tuple[Term, ...]:
    return (Term("wr") if lambda_ == math.inf else Term(("wr_clip", lambda_)),)


register_estimator(
    "ipw", _ipw_terms, aliases=("ips",),
    hparams={"lambda_": HParam(math.inf, doc="clip the importance weights at lambda_ (inf: no clipping)")},
    columns={"wr": _wr, "wr_clip": _wr_clip},
    summary="mean(min(w, lambda) r): unbiased with true propensities (lambda = inf)",
)

register_estimator(
    "snipw", lambda: (Term("wr", "w"),), aliases=("snips",),
    summary="sum(w r) / sum(w): self-normalised, bounded by the rewards' range",
)
