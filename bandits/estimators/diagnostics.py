"""What a log and a target policy can and cannot support: warnings and one-line refusals.

Off-policy estimates are silent about two things unless asked:

* **Support.** Importance weighting sees a target policy's mass only on (slot, item) pairs the
  logger actually took. Mass on never-logged items is invisible to IPW, SNIPW, DR and their kin:
  IPW counts it as reward 0 (an estimate of 0.0 with a ``[0, 0]`` interval when there is no
  support at all), SNIPW renormalises it away (NaN when there is none). :func:`support_report`
  measures the share of the target's mass without support; :func:`bandits.estimators.evaluate`
  warns with it (:class:`SupportWarning`) or refuses (``on_unsupported="raise"``).
* **Item ids.** A log whose actions are raw catalogue ids (``100000, 100001, ...``) or 1-based ids
  or slots is not wrong to numpy, but every estimate on it is: :func:`id_problems` names the
  symptom and how to map the ids to ``0 .. K-1``.

Small samples are the third: :class:`SmallSampleWarning` marks intervals that the sample cannot
support (fewer than 2 rows, zero variance, undefined bootstrap replicates); they are reported as
infinite rather than as a confident point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class EstimatorWarning(UserWarning):
    """Base of the warnings the estimators give about what the data can support."""


class SupportWarning(EstimatorWarning):
    """The target policy puts probability on (slot, item) pairs the log never shows."""


class SmallSampleWarning(EstimatorWarning):
    """An interval the sample cannot support (reported as infinite, not as a point)."""


#: smallest raw id that, when no smaller id is logged, marks the ids as raw catalogue ids
RAW_ID_FLOOR = 1000


@dataclass(frozen=True)
class SupportReport:
    """unsupported_mass: share of the target's probability (averaged over rows) on (slot, item)
    pairs never logged; pairs: how many such pairs carry target mass; never_logged: items
    ``(m,)`` int64 that no row of the log shows."""

    unsupported_mass: float
    pairs: int
    never_logged: np.ndarray

    def message(self, n_actions: int) -> str:
        """One line describing the missing support (empty when there is none)."""
        if self.unsupported_mass <= 0:
            return ""
        items = ", ".join(map(str, self.never_logged[:8])) + (" ..." if self.never_logged.size > 8 else "")
        return (f"action_dist: {self.unsupported_mass:.1%} of the target policy's probability is on {self.pairs} "
                f"(slot, item) pair(s) the log never shows (items never logged: {self.never_logged.size} of "
                f"{n_actions}: {items}); importance-weighted estimates cannot see that mass and may be off by up "
                f"to that share of the reward range")


def support_report(logged_counts: np.ndarray, target_mass: np.ndarray, n_rounds: int) -> SupportReport:
    """From ``logged_counts (L, K)`` (rows logged per slot and item) and ``target_mass (L, K)``
    (target probability summed over rows, on the pairs never logged; 0 elsewhere)."""
    unsupported = target_mass * (logged_counts == 0)
    mass = float(unsupported.sum() / max(n_rounds, 1))
    never = np.flatnonzero(logged_counts.sum(axis=0) == 0).astype(np.int64)
    return SupportReport(mass, int(np.count_nonzero(unsupported > 0)), never)


def id_problems(action: np.ndarray, n_actions: int, position: np.ndarray | None = None,
                n_actions_given: bool = True) -> list[str]:
    """One-line descriptions of item ids or slots that look unmapped (empty list when fine).

    action: ``(n,)`` int logged items; n_actions: the catalogue size K; position: ``(n,)`` int
    slots or None; n_actions_given: whether K was stated (``data.n_actions``) rather than inferred
    as ``max(action) + 1`` (a 1-based log is only suspected when K was inferred).
    """
    out = []
    a = np.asarray(action)
    if a.size == 0:
        return out
    lo, hi = int(a.min()), int(a.max())
    if lo >= RAW_ID_FLOOR:
        n_distinct = int(np.unique(a).size)
        out.append(f"action: the logged ids run from {lo} to {hi} ({n_distinct} distinct) and no id below {lo} "
                   f"appears: these look like raw catalogue ids, but actions must be 0-based item indices "
                   f"0..K-1; map them first, e.g. df['action'] = pandas.factorize(df['item_id'], sort=True)[0], "
                   f"and state the catalogue size with n_actions")
    elif lo == 1 and not n_actions_given and hi == n_actions - 1:
        out.append(f"action: item 0 never appears and the ids run from 1 to {hi}: 1-based item ids? subtract 1 "
                   f"(df['action'] -= 1); if item 0 exists but was never logged, state the catalogue size "
                   f"with n_actions")
    if position is not None:
        p = np.asarray(position)
        if p.size and int(p.min()) >= 1:
            out.append(f"position: slot 0 never appears and the slots run from {int(p.min())} to {int(p.max())}: "
                       f"1-based positions? subtract 1 (df['position'] -= 1)")
    return out
