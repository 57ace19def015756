"""Doubly robust estimators: the direct method plus an importance-weighted correction.

With ``w`` the importance weight, ``q_hat(x, pi_e)`` the reward model's value of the target and
``r - q_hat`` the residual at the logged action:

- ``dr``: ``mean(q_hat(x, pi_e) + min(w, lambda)(r - q_hat))`` (Dudik et al. 2011; clipped
  when ``lambda_`` is finite);
- ``sndr``: ``mean(q_hat(x, pi_e)) + sum(w (r - q_hat)) / sum(w)``, the correction
  self-normalised;
- ``switch-dr``: ``mean(q_hat(x, pi_e) + w 1{w <= lambda} (r - q_hat))`` (Wang et al. 2017): DM
  where the weight exceeds ``lambda_``;
- ``dr-os``: ``mean(q_hat(x, pi_e) + lambda w / (w^2 + lambda) (r - q_hat))`` (Su et al. 2020,
  optimistic shrinkage; the shrunk weight is obp's code, obp's docstring shows an extra ``w``).

obp's defaults for the last two (switch-dr: inf, dr-os: 0) make them identical to DR and DM;
ours default to a weight threshold / shrinkage of 100, the range where DR's variance usually
blows up. Pass ``lambda_`` to change it.
"""

from __future__ import annotations

import math

import numpy as np

from bandits.estimators.core import Columns, HParam, Term, register_estimator


def _w_res(c: Columns) -> np.ndarray:
    return c.col("w") * c.col("res")


def _w_res_clip(c: Columns, lam: float) -> np.ndarray:
    return np.minimum(c.col("w"), lam) * c.col("res")


def _w_res_switch(c: Columns, lam: float) -> np.ndarray:
    w = c.col("w")
    return np.where(w <= lam, w, 0.0) * c.col("res")


def _w_res_os(c: Columns, lam: float) -> np.ndarray:
    if lam == math.inf:
        return c.col("w_res")
    w = c.col("w")
    with np.errstate(invalid="ignore", divide="ignore"):
        shrunk = np.where(w > 0, lam * w / (w * w + lam), 0.0) if lam > 0 else np.zeros_like(w)
    return shrunk * c.col("res")


register_estimator(
    "dr", lambda lambda_: (Term("q_pi"), Term("w_res" if lambda_ == math.inf else ("w_res_clip", lambda_))),
    needs_reward_model=True,
    hparams={"lambda_": HParam(math.inf, doc="clip the importance weights at lambda_ (inf: no clipping)")},
    columns={"w_res": _w_res, "w_res_clip": _w_res_clip},
    summary="mean(q_hat(x, pi_e) + min(w, lambda)(r - q_hat)): unbiased if either w or q_hat is right",
)

register_estimator(
    "sndr", lambda: (Term("q_pi"), Term("w_res", "w")), needs_reward_model=True,
    summary="mean(q_hat(x, pi_e)) + sum(w (r - q_hat)) / sum(w): DR with a self-normalised correction",
)

# DR with the weight of large-weight rows changed: switched to DM, or shrunk
for _name, _col, _fn, _aliases, _doc, _summary in (
    ("switch-dr", "w_res_switch", _w_res_switch, ("switch_dr", "switchdr"),
     "switch to DM on rows whose weight exceeds lambda_", "DR where w <= lambda, DM elsewhere"),
    ("dr-os", "w_res_os", _w_res_os, ("dr_os", "dros"),
     "shrinkage: weights become lambda w / (w^2 + lambda)", "DR with weights shrunk to lambda w / (w^2 + lambda)"),
):
    register_estimator(
        _name, lambda lambda_, col=_col: (Term("q_pi"), Term((col, lambda_))), aliases=_aliases,
        needs_reward_model=True, hparams={"lambda_": HParam(100.0, doc=_doc)}, columns={_col: _fn}, summary=_summary,
    )
