"""Slate (ranking) off-policy estimators on obp's slate conventions.

A slate log is long-format, as in obp: one row per (slate, slot), with ``slate_id`` saying which
rows belong to one impression, ``position`` the 0-based slot, and up to three kinds of logging
probability per row (obp's names):

==========================  ======================================================================
``pscore``                  the whole slate's probability ``pi_b(a_1..a_L | x)`` (same on each row)
``pscore_cascade``          the probability of the top ``k+1`` items ``pi_b(a_1..a_{k+1} | x)``
``pscore_item_position``    the marginal probability that the row's item is in the row's slot
==========================  ======================================================================

The evaluation policy's counterparts go in a :class:`SlateTarget` (obp's
``evaluation_policy_pscore``, ``..._cascade``, ``..._item_position`` and, for cascade DR,
``evaluation_policy_action_dist``: the target's distribution over items at each row's slot given
the logged items above it). With ``w`` the ratio of the target's to the logger's probability of
each kind, ``r_k`` the reward in slot ``k`` and ``S`` the number of slates, the estimators are
(each a sum over slots of a mean over slates, so the value is the expected *total* reward of a
slate, obp's unit):

- ``sips`` (standard IPS): ``sum_k mean_s(w_slate r_k)``; unbiased whatever the reward structure;
- ``iips`` (independent IPS, Li et al. 2018): ``sum_k mean_s(w_item,k r_k)``; unbiased when a
  slot's reward depends only on the item in it (the position-based model);
- ``rips`` (reward-interaction IPS, McInerney et al. 2020): ``sum_k mean_s(w_cascade,k r_k)``;
  unbiased under the cascade model (a slot's reward depends on the items at and above it);
- ``cascade-dr`` (Kiyohara et al. 2022): ``sum_k mean_s(w_k (r_k - q_k(a_k)) + w_{k-1} q_k(pi_e))``
  with the cascade weights (``w_{-1} = 1``) and a slate reward model ``q_k(x, a_{<k}, a)`` of the
  reward from slot ``k`` down (:func:`fit_slate_reward_model`); unbiased under the cascade model
  whatever the reward model;
- self-normalised ``snsips``, ``sniips``, ``snrips`` (obp's: each slot's weights divided by their
  mean, ``sum_k sum_s(w r_k) / sum_s(w)``) and ``sn-cascade-dr`` (each of the two weight sequences
  of cascade DR divided by its mean, which is 1 in expectation).

All eight are registered estimators whose columns are per *slate*: ``evaluate(slate_log, target,
estimators=("sips", "iips", "rips"))`` gives the usual table, the intervals treating slates (not
rows) as the independent units. A slot missing from a slate counts as absent: each slot's mean is
over the slates that show it (``sum_s c_sk / sum_s 1{slot k shown}``), so a log without
``slate_id`` (every row its own impression, like the Open Bandit Dataset sample, whose rows were
drawn one by one) gives ``sum_k`` of per-slot means over the rows of that slot.

Which estimator a log supports depends on what was logged: ``iips`` needs only the marginal
``pscore_item_position`` (a :class:`~bandits.data.LoggedData`'s ``pscore``), ``sips`` the slate's
probability, ``rips`` the cascade probabilities, ``cascade-dr`` the cascade probabilities and
``slate_id`` (the logged items above each slot). :func:`plackett_luce_pscores` computes all of
them for softmax-without-replacement (Plackett-Luce) policies, the logging and evaluation policies
of obp's ``SyntheticSlateBanditDataset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

import numpy as np

from bandits.data import LoggedData
from bandits.estimators import _checks as ck
from bandits.estimators.registry import COLUMNS, ColumnKey, HParam, Term, register_estimator

__all__ = [
    "SLATE_ESTIMATORS",
    "SlateColumns",
    "SlateLog",
    "SlateTarget",
    "fit_slate_reward_model",
    "is_slate_estimator",
    "plackett_luce_pscores",
]

SLATE_ESTIMATORS: set[str] = set()
_KINDS = {"slate": "pscore", "item": "pscore_item_position", "cascade": "pscore_cascade"}
_REL_TOL = 1e-6  # consistency of slate probabilities (products of float64 factors)


def is_slate_estimator(name: str) -> bool:
    """Whether the registered estimator ``name`` works on slates (a :class:`SlateLog`)."""
    return name in SLATE_ESTIMATORS


# ------------------------------------------------------------------------------------------------
# validation helpers
# ------------------------------------------------------------------------------------------------


def _ints(name: str, x: Any, n: int | None = None) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name}: expected integer values, got {ck.describe(a)}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            i = int(np.flatnonzero(~(np.isfinite(a.ravel()) & (a.ravel() == np.round(a.ravel()))))[0])
            raise ValueError(f"{name}: expected integer values, got {a.ravel()[i]!r} at index {i}")
    a = a.astype(np.int64, copy=False)
    if a.ndim != 1 or (n is not None and a.shape != (n,)):
        want = "(n_rows,)" if n is None else f"({n},) to match action"
        raise ValueError(f"{name}: expected shape {want}, got {ck.describe(a)}")
    return a


def _floats(name: str, x: Any, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise TypeError(f"{name}: expected numeric values, got {ck.describe(a)}")
    a = a.astype(np.float64, copy=False)
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {ck.describe(a)}")
    return a


def _probs(name: str, x: Any, n: int, behaviour: bool) -> np.ndarray | None:
    """A per-row probability: in (0, 1] for the logger (it took the row), [0, 1] for a target."""
    if x is None:
        return None
    a = _floats(name, x, (n,))
    lo, hi = a.min(), a.max()  # reductions first (NaN propagates); locate the bad row only on failure
    if (lo > 0.0 if behaviour else lo >= 0.0) and hi <= 1.0:
        return a
    ok = (a > 0.0) & (a <= 1.0) if behaviour else (a >= 0.0) & (a <= 1.0)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        rng = "(0, 1]" if behaviour else "[0, 1]"
        raise ValueError(f"{name}: expected every value in {rng}, got {float(a[i])!r} at row {i} "
                         f"({int((~ok).sum())} bad rows in all)")
    return a


def _check_dist(name: str, a: np.ndarray) -> None:
    """:func:`bandits.estimators._checks.check_action_dist`, its message naming ``name``."""
    try:
        ck.check_action_dist(a)
    except ValueError as e:
        raise ValueError(str(e).replace("action_dist:", f"{name}:", 1)) from None


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    v = a.view()
    v.flags.writeable = False
    return v


# ------------------------------------------------------------------------------------------------
# the log
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class SlateLog:
    """A validated long-format slate log (see the module docstring for the probabilities).

    action ``(n,)`` int: item shown in the row's slot, in ``[0, n_actions)``.
    reward ``(n,)`` float: the slot's reward.
    position ``(n,)`` int: 0-based slot, in ``[0, len_list)``.
    slate_id ``(n,)`` int or None: which rows form one slate (any integer labels). None: each row
        is its own impression (only the slot-wise estimators apply, with rows as the units).
    pscore, pscore_cascade, pscore_item_position ``(n,)`` float in (0, 1], each optional: the
        logger's probabilities (obp's names; ``pscore`` is the *slate's* probability here).
    context ``(n_slates, d)`` (one row per slate, in the order of the sorted slate ids) or
        ``(n, d)`` (one per row, equal within a slate) or None: used by slate reward models.
    n_actions, len_list: default ``action.max() + 1`` and ``position.max() + 1``.

    Derived: ``unit (n,)`` the slate index of each row in ``[0, n_slates)``, ``n_slates``,
    ``present (n_slates, len_list)`` bool (which slots each slate shows), ``first (n_slates,)``
    the first row of each slate, ``flat (n,)`` each row's cell ``unit * len_list + position`` in an
    ``(n_slates, len_list)`` array, ``dense`` whether the rows are complete slates in slot order.
    """

    action: np.ndarray
    reward: np.ndarray
    position: np.ndarray
    slate_id: np.ndarray | None = None
    pscore: np.ndarray | None = None
    pscore_cascade: np.ndarray | None = None
    pscore_item_position: np.ndarray | None = None
    context: np.ndarray | None = None
    n_actions: int | None = None
    len_list: int | None = None
    unit: np.ndarray = field(init=False)
    n_slates: int = field(init=False)
    present: np.ndarray = field(init=False)
    first: np.ndarray = field(init=False)
    flat: np.ndarray = field(init=False)
    dense: bool = field(init=False)

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen dataclass)
        action = _ints("action", self.action)
        n = action.shape[0]
        if n == 0:
            raise ValueError("action: expected at least one logged row, got an empty array")
        reward = _floats("reward", self.reward, (n,))
        if not np.isfinite(np.add.reduce(reward)) and not np.isfinite(reward).all():
            i = int(np.flatnonzero(~np.isfinite(reward))[0])
            raise ValueError(f"reward: expected finite values, got {float(reward[i])!r} at row {i}")
        position = _ints("position", self.position, n)
        if position.min() < 0:
            i = int(np.flatnonzero(position < 0)[0])
            raise ValueError(f"position: expected 0-based slots >= 0, got {position[i]} at row {i}")
        K = int(action.max()) + 1 if self.n_actions is None else _size("n_actions", self.n_actions)
        if action.min() < 0 or action.max() >= K:
            i = int(np.flatnonzero((action < 0) | (action >= K))[0])
            raise ValueError(f"action: expected integers in [0, n_actions={K}), got {action[i]} at row {i}")
        L = int(position.max()) + 1 if self.len_list is None else _size("len_list", self.len_list)
        if position.max() >= L:
            i = int(np.flatnonzero(position >= L)[0])
            raise ValueError(f"position: expected integers in [0, len_list={L}), got {position[i]} at row {i}")
        if self.slate_id is None:
            sid, unit, first = None, np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
        else:
            sid = _ints("slate_id", self.slate_id, n)
            unit, first = _units(sid)
        S = first.shape[0]
        flat = unit * L + position
        counts = np.bincount(flat, minlength=S * L)
        if counts.max() > 1:
            j = int(np.flatnonzero(counts > 1)[0])
            lab = sid[unit == j // L][0] if sid is not None else j // L
            raise ValueError(f"position: expected each slot at most once per slate, got slot {j % L} "
                             f"{int(counts[j])} times in slate_id {lab}")
        present = (counts > 0).reshape(S, L)
        # complete slates whose rows come slot by slot: per-slate arrays are reshapes of per-row ones
        dense = bool(n == S * L and (n == 1 or np.diff(flat).min() > 0))  # flat is then 0, 1, ..., n - 1
        ps = _probs("pscore", self.pscore, n, True)
        pc = _probs("pscore_cascade", self.pscore_cascade, n, True)
        pi = _probs("pscore_item_position", self.pscore_item_position, n, True)
        if sid is not None:
            _check_slate_probs("pscore", "pscore_cascade", ps, pc, unit, first, position, present, L)
        context = None
        if self.context is not None:
            c = np.asarray(self.context, dtype=np.float64)
            if c.ndim != 2 or c.shape[0] not in (S, n):
                raise ValueError(f"context: expected shape (n_slates={S}, d) or (n_rows={n}, d), got {ck.describe(c)}")
            if not np.isfinite(c).all():
                raise ValueError("context: expected finite values, got a non-finite entry")
            if c.shape[0] == n and n != S:
                bad = np.abs(c - c[first[unit]]).max(axis=1) > 0
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise ValueError(f"context: expected one context per slate (equal on its rows), got a different "
                                     f"row {i} in slate_id {sid[i]}")
                c = c[first]
            context = c
        for k, v in (("action", action), ("reward", reward), ("position", position), ("slate_id", sid),
                     ("pscore", ps), ("pscore_cascade", pc), ("pscore_item_position", pi), ("context", context),
                     ("unit", unit), ("present", present), ("first", first), ("flat", flat)):
            set_(k, _readonly(v))
        set_("n_actions", K)
        set_("len_list", L)
        set_("n_slates", S)
        set_("dense", dense)

    # ---- constructors ---------------------------------------------------------------------------
    @classmethod
    def from_obp(cls, bandit_feedback: Mapping[str, Any]) -> SlateLog:
        """From obp's slate ``bandit_feedback`` (``SyntheticSlateBanditDataset.obtain_batch_bandit_feedback``):
        keys ``slate_id, action, reward, position, pscore, pscore_cascade, pscore_item_position``
        (the last three optional), ``context``, ``n_unique_action``, ``len_list``."""
        bf = bandit_feedback
        if not isinstance(bf, Mapping):
            raise TypeError(f"bandit_feedback: expected obp's dict, got {ck.describe(bf)}")
        missing = [k for k in ("action", "reward", "position") if bf.get(k) is None]
        if missing:
            raise KeyError(f"bandit_feedback: missing required key(s) {missing}; got keys {sorted(bf)}")
        K = bf.get("n_unique_action", bf.get("n_actions"))
        return cls(action=bf["action"], reward=bf["reward"], position=bf["position"], slate_id=bf.get("slate_id"),
                   pscore=bf.get("pscore"), pscore_cascade=bf.get("pscore_cascade"),
                   pscore_item_position=bf.get("pscore_item_position"), context=bf.get("context"),
                   n_actions=None if K is None else int(K),
                   len_list=None if bf.get("len_list") is None else int(bf["len_list"]))

    @classmethod
    def from_logged(cls, data: LoggedData | Mapping, slate_id: Any = None, pscore: Any = None,
                    pscore_cascade: Any = None) -> SlateLog:
        """From a :class:`~bandits.data.LoggedData` with positions: its ``pscore`` (the logger's
        probability of the row's item in the row's slot) is ``pscore_item_position``; the slate
        and cascade probabilities and ``slate_id`` are added when known (without ``slate_id`` every
        row is its own impression: the Open Bandit Dataset sample's case)."""
        d = LoggedData.coerce(data)
        pos = d.position if d.position is not None else np.zeros(d.n_rounds, np.int64)
        ctx = d.context if d.dim_context > 0 else None
        return cls(action=d.action, reward=d.reward, position=pos, slate_id=slate_id, pscore=pscore,
                   pscore_cascade=pscore_cascade, pscore_item_position=d.pscore, context=ctx,
                   n_actions=d.n_actions, len_list=d.len_list)

    # ---- basics -----------------------------------------------------------------------------------
    @property
    def n_rounds(self) -> int:
        """Number of rows (slate, slot pairs)."""
        return int(self.action.shape[0])

    def wide(self, x: np.ndarray) -> np.ndarray:
        """Per-row values ``(n,)`` as ``(n_slates, len_list)`` float64, 0 where a slot is absent (a
        reshaped view when the rows are already complete slates in slot order)."""
        if self.dense:
            return np.asarray(x, dtype=np.float64).reshape(self.n_slates, self.len_list)
        out = np.zeros(self.n_slates * self.len_list)
        out[self.flat] = x
        return out.reshape(self.n_slates, self.len_list)

    def slates(self) -> np.ndarray:
        """The logged slates ``(n_slates, len_list)`` int64 (every slate must show every slot)."""
        if not self.present.all():
            raise ValueError("slate_id: expected every slate to fill all len_list slots, got incomplete slates")
        out = np.empty(self.n_slates * self.len_list, np.int64)
        out[self.flat] = self.action
        return out.reshape(self.n_slates, self.len_list)

    def take_slates(self, units: Any) -> tuple[SlateLog, np.ndarray]:
        """The slates ``units`` (indices into ``[0, n_slates)``) as a new SlateLog, and the rows
        ``(m,)`` they came from (to cut a :class:`SlateTarget` or ``estimated_rewards`` alike)."""
        keep = np.zeros(self.n_slates, bool)
        keep[np.asarray(units)] = True
        rows = np.flatnonzero(keep[self.unit])
        take = lambda a: None if a is None else a[rows]  # noqa: E731
        ctx = None if self.context is None else self.context[keep]
        sid = self.slate_id[rows] if self.slate_id is not None else None
        return SlateLog(action=take(self.action), reward=take(self.reward), position=take(self.position),
                        slate_id=sid, pscore=take(self.pscore), pscore_cascade=take(self.pscore_cascade),
                        pscore_item_position=take(self.pscore_item_position), context=ctx,
                        n_actions=self.n_actions, len_list=self.len_list), rows

    def __len__(self) -> int:
        return self.n_rounds

    def __repr__(self) -> str:
        got = [k for k in _KINDS.values() if getattr(self, k) is not None]
        return (f"SlateLog(n_rows={self.n_rounds}, n_slates={self.n_slates}, n_actions={self.n_actions}, "
                f"len_list={self.len_list}, slate_id={'yes' if self.slate_id is not None else 'None'}, "
                f"probabilities={got})")


def _units(sid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slate index of each row ``(n,)`` (slates in the order of their sorted ids) and the first row
    of each slate ``(S,)``; a linear pass when the ids are already sorted."""
    n = sid.shape[0]
    d = np.diff(sid)
    if n == 1 or d.min() >= 0:
        new = np.empty(n, bool)
        new[0] = True
        np.not_equal(d, 0, out=new[1:])
        unit = np.cumsum(new, dtype=np.int64)
        unit -= 1
        return unit, np.flatnonzero(new)
    _, first, unit = np.unique(sid, return_index=True, return_inverse=True)
    return unit.astype(np.int64).reshape(-1), first.astype(np.int64)


def _size(name: str, x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer) or x < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {x!r}")
    return int(x)


def _check_slate_probs(name_slate: str, name_cascade: str, ps: np.ndarray | None, pc: np.ndarray | None,
                       unit: np.ndarray, first: np.ndarray, position: np.ndarray, present: np.ndarray, L: int) -> None:
    """Within each slate: the slate probability is one number, the cascade probabilities do not
    increase down the slots, and (complete slates) the last cascade probability is the slate's."""
    S = present.shape[0]
    if ps is not None:
        ref = ps[first][unit]
        bad = np.abs(ps - ref) > _REL_TOL * np.maximum(ps, ref)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name_slate}: expected one slate probability per slate (equal on its rows), got "
                             f"{ref[i]!r} and {ps[i]!r} in slate {int(unit[i])}")
    if pc is not None:
        W = np.full((S, L), np.inf)
        W[unit, position] = pc
        run = W[:, 0].copy()
        for k in range(1, L):
            bad = W[:, k] > run * (1 + _REL_TOL)
            bad &= np.isfinite(W[:, k])
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{name_cascade}: expected probabilities of the top-k items that do not increase down "
                                 f"the slots, got {W[j, k]!r} at slot {k} after {run[j]!r} in slate {j}")
            np.minimum(run, W[:, k], out=run)
        if ps is not None:
            full = present.all(axis=1)
            lastp = ps[first]
            bad = full & (np.abs(W[:, L - 1] - lastp) > _REL_TOL * lastp)
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{name_slate}: expected the slate probability to equal {name_cascade} at the last "
                                 f"slot (the product of the slot-wise probabilities), got {lastp[j]!r} and "
                                 f"{W[j, L - 1]!r} in slate {j}")


# ------------------------------------------------------------------------------------------------
# the evaluation policy
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class SlateTarget:
    """The evaluation policy's probabilities of the logged rows (obp's ``evaluation_policy_*``).

    pscore, pscore_cascade, pscore_item_position ``(n,)`` float in [0, 1], each optional: the
        target's slate, top-k and item-in-slot probabilities of each logged row.
    action_dist ``(n, n_actions)`` float or None: the target's distribution over items in the
        row's slot given the logged items above it (cascade DR's ``evaluation_policy_action_dist``;
        obp's flat ``(n * n_actions,)`` is accepted).
    marginal ``(n, n_actions, len_list)`` float or None: the target's item-in-slot distribution
        (obp's ``action_dist`` layout), used for ``pscore_item_position`` and the support diagnostic.

    Checked against the log by :class:`SlateColumns`, each field when an estimator first reads it
    (shapes, ranges, sums, and consistency: the
    cascade probabilities are products of ``action_dist`` entries, the last one is ``pscore``).
    """

    pscore: Any = None
    pscore_cascade: Any = None
    pscore_item_position: Any = None
    action_dist: Any = None
    marginal: Any = None

    @classmethod
    def from_action_dist(cls, log: SlateLog, action_dist: Any, **others: Any) -> SlateTarget:
        """From an item-in-slot distribution ``(n, n_actions, len_list)`` (e.g. a screentest slate
        policy through :func:`bandits.estimators.policy_action_dist`): ``pscore_item_position`` is
        its entry at each row's item and slot. ``others``: the other fields, when known."""
        ad = ck.as_action_array("action_dist", action_dist, log.n_rounds, log.n_actions, None)
        if ad.shape[2] != log.len_list:
            if ad.shape[2] == 1:
                ad = np.broadcast_to(ad, (log.n_rounds, log.n_actions, log.len_list))
            else:
                raise ValueError(f"action_dist: expected len_list={log.len_list} slots (axis 2), got shape {ad.shape}")
        ck.check_action_dist(ad)
        pip = ad[np.arange(log.n_rounds), log.action, log.position]
        return cls(pscore_item_position=pip, marginal=ad, **others)

    @classmethod
    def from_obp(cls, **kw: Any) -> SlateTarget:
        """From obp's keyword names: ``evaluation_policy_pscore``, ``evaluation_policy_pscore_cascade``,
        ``evaluation_policy_pscore_item_position``, ``evaluation_policy_action_dist``."""
        names = {"evaluation_policy_pscore": "pscore", "evaluation_policy_pscore_cascade": "pscore_cascade",
                 "evaluation_policy_pscore_item_position": "pscore_item_position",
                 "evaluation_policy_action_dist": "action_dist"}
        unknown = sorted(set(kw) - set(names))
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}; expected some of {sorted(names)}")
        return cls(**{names[k]: v for k, v in kw.items()})

    def take(self, rows: np.ndarray) -> SlateTarget:
        """The same target on rows ``rows`` (see :meth:`SlateLog.take_slates`)."""
        f = lambda a: None if a is None else np.asarray(a)[rows]  # noqa: E731
        ad = self.action_dist
        if ad is not None and np.ndim(ad) == 1:
            raise ValueError("action_dist: reshape obp's flat array to (n, n_actions) before take()")
        return SlateTarget(f(self.pscore), f(self.pscore_cascade), f(self.pscore_item_position), f(ad),
                           f(self.marginal))


# ------------------------------------------------------------------------------------------------
# the column store over slates
# ------------------------------------------------------------------------------------------------


class SlateColumns:
    """Validated slate inputs and the per-*slate* columns ``(n_slates,)`` float64 the slate
    estimators are built from (the slate counterpart of :class:`bandits.estimators.Columns`).

    log: :class:`SlateLog`. target: :class:`SlateTarget`, or an item-in-slot ``action_dist``
    ``(n, n_actions, len_list)`` (read through :meth:`SlateTarget.from_action_dist`).
    estimated_rewards: ``(n, n_actions)`` slate reward model ``q_k(x, a_{<k}, a)`` at each row's
    slot (obp's flat ``q_hat (n * n_actions,)`` is accepted), needed by the cascade DR estimators.
    """

    is_slate = True

    def __init__(self, log: SlateLog, target: Any, estimated_rewards: Any = None):
        if not isinstance(log, SlateLog):
            raise TypeError(f"data: expected a bandits.estimators.slate.SlateLog, got {type(log).__name__}")
        if not isinstance(target, SlateTarget):
            if target is None:
                raise ValueError("action_dist: a slate log needs the evaluation policy's probabilities (a SlateTarget, "
                                 "or an item-in-slot action_dist of shape (n, n_actions, len_list)), got None")
            target = SlateTarget.from_action_dist(log, target)
        n, K, L = log.n_rounds, log.n_actions, log.len_list
        self.data = log
        self.target = target
        self.len_list = L
        self.n_actions = K
        self.n_units = log.n_slates
        self._valid: dict[str, Any] = {}
        self.estimated_rewards = None
        if estimated_rewards is not None:
            q = np.asarray(estimated_rewards, dtype=np.float64)
            if q.ndim == 1 and q.shape[0] == n * K:
                q = q.reshape(n, K)
            if q.ndim == 3 and q.shape[2] == 1:
                q = q[:, :, 0]
            if q.shape != (n, K):
                raise ValueError(f"estimated_rewards: expected a slate reward model of shape (n_rows={n}, n_actions={K}) "
                                 f"(q_k(x, a_<k, a) at each row's slot), got {ck.describe(q)}")
            if not np.isfinite(q).all():
                i = int(np.flatnonzero(~np.isfinite(q).all(axis=1))[0])
                raise ValueError(f"estimated_rewards: expected finite values, got a non-finite value in row {i}")
            self.estimated_rewards = q
        self._cache: dict[ColumnKey, np.ndarray] = {}
        self._rows: dict[str, np.ndarray] = {}

    # ---- the target's probabilities, each checked when first read (with its consistency checks) --
    def _field(self, name: str) -> Any:
        if name in self._valid:
            return self._valid[name]
        log, n, K, L = self.data, self.data.n_rounds, self.n_actions, self.len_list
        raw = getattr(self.target, name)
        if name in _KINDS.values():
            v = _probs(name, raw, n, False)
            self._valid[name] = v
            if v is not None and log.slate_id is not None and name in ("pscore", "pscore_cascade"):
                ps, pc = self._field("pscore"), self._field("pscore_cascade")
                if "slate_pair" not in self._valid:
                    self._valid["slate_pair"] = True
                    _check_slate_probs("pscore (target)", "pscore_cascade (target)", ps, pc, log.unit, log.first,
                                       log.position, log.present, L)
                if name == "pscore_cascade":
                    self._field("action_dist")  # checks the products when both are given
            return v
        if name == "action_dist":
            ad = None
            if raw is not None:
                ad = np.asarray(raw, dtype=np.float64)
                if ad.ndim == 1 and ad.shape[0] == n * K:
                    ad = ad.reshape(n, K)
                ad = ck.as_action_array("action_dist", ad, n, K, 1)[:, :, 0]
                ck.check_action_dist(ad[:, :, None])
            self._valid[name] = ad
            pc = self._field("pscore_cascade")
            if ad is not None and pc is not None and log.slate_id is not None:
                _check_cascade_vs_dist(log, pc, ad)
            return ad
        mg = None
        if raw is not None:
            mg = ck.as_action_array("marginal", raw, n, K, L)
            _check_dist("marginal", mg)
        self._valid[name] = mg
        return mg

    pscore = property(lambda self: self._field("pscore"), doc="the target's slate probabilities ``(n,)`` or None")
    pscore_cascade = property(lambda self: self._field("pscore_cascade"), doc="top-k probabilities ``(n,)`` or None")
    pscore_item_position = property(lambda self: self._field("pscore_item_position"),
                                    doc="item-in-slot probabilities ``(n,)`` or None")
    action_dist = property(lambda self: self._field("action_dist"), doc="slot distributions ``(n, K)`` or None")
    marginal = property(lambda self: self._field("marginal"), doc="item-in-slot distribution ``(n, K, L)`` or None")

    # ---- per-row quantities ---------------------------------------------------------------------
    def weight(self, kind: str, estimator: str) -> np.ndarray:
        """Per-row importance weight ``(n,)`` of ``kind`` ("slate", "item", "cascade"); a
        ``ValueError`` names the missing probability and ``estimator``."""
        key = "w_" + kind
        w = self._rows.get(key)
        if w is None:
            name = _KINDS[kind]
            b = getattr(self.data, name)
            t = getattr(self, name)
            for who, arr in (("the logger's", b), ("the target's", t)):
                if arr is None:
                    where = "data (SlateLog)" if who == "the logger's" else "action_dist (SlateTarget)"
                    raise ValueError(f"{name}: estimator {estimator!r} needs {who} {name} in {where}, got None")
            w = t / b
            self._rows[key] = w
        return w

    def cascade_prev(self, estimator: str) -> np.ndarray:
        """Per-row cascade weight of the slot above (1 in the top slot) ``(n,)``."""
        w = self._rows.get("w_prev")
        if w is None:
            self.require_prefixes(estimator)
            W = self.data.wide(self.weight("cascade", estimator))
            P = np.concatenate([np.ones((W.shape[0], 1)), W[:, :-1]], axis=1)
            w = P.reshape(-1)[self.data.flat]
            self._rows["w_prev"] = w
        return w

    def require_prefixes(self, estimator: str) -> None:
        """Cascade estimators read the slots above each row: slates must be known and fill slots 0..m-1."""
        log = self.data
        if log.slate_id is None and self.len_list > 1:
            raise ValueError(f"slate_id: estimator {estimator!r} needs the slates (the logged items above each slot), "
                             "got None")
        pres = log.present
        if (pres[:, 1:] & ~pres[:, :-1]).any():
            j = int(np.flatnonzero((pres[:, 1:] & ~pres[:, :-1]).any(axis=1))[0])
            raise ValueError(f"position: estimator {estimator!r} needs each slate to fill slots 0, 1, ... without gaps, "
                             f"got slots {np.flatnonzero(pres[j]).tolist()} in slate {j}")

    def q(self, estimator: str) -> np.ndarray:
        """The slate reward model ``(n, K)``, or a ``ValueError`` naming ``estimated_rewards``."""
        if self.estimated_rewards is None:
            raise ValueError(f"estimated_rewards: estimator {estimator!r} needs a slate reward model of shape "
                             f"(n_rows, n_actions), got None (evaluate() fits one when the log has a context)")
        return self.estimated_rewards

    def q_parts(self, estimator: str) -> tuple[np.ndarray, np.ndarray]:
        """``q_k(a_k)`` and ``q_k(pi_e) = sum_a pi_e(a | x, a_<k) q_k(a)``, each ``(n,)``."""
        if "q_f" not in self._rows:
            q = self.q(estimator)
            if self.action_dist is None:
                raise ValueError(f"action_dist: estimator {estimator!r} needs the target's distribution over items at "
                                 "each row's slot given the logged items above (SlateTarget.action_dist), got None")
            n = self.data.n_rounds
            self._rows["q_f"] = q[np.arange(n), self.data.action]
            self._rows["q_pi"] = np.einsum("nk,nk->n", q, self.action_dist)
        return self._rows["q_f"], self._rows["q_pi"]

    def wide_col(self, key: str, fn) -> np.ndarray:
        """``(n_slates, len_list)`` array of a per-row quantity, computed once."""
        w = self._rows.get("wide_" + key)
        if w is None:
            w = self.data.wide(fn())
            self._rows["wide_" + key] = w
        return w

    # ---- columns (the Columns interface used by the estimators and evaluate) ---------------------
    def col(self, key: ColumnKey) -> np.ndarray:
        """Per-slate column ``(n_slates,)`` float64 by key (see :meth:`bandits.estimators.Columns.col`)."""
        c = self._cache.get(key)
        if c is None:
            name, args = (key, ()) if isinstance(key, str) else (key[0], tuple(key[1:]))
            if not str(name).startswith("sl_"):
                raise ValueError(f"estimators: column {name!r} belongs to a row estimator; a SlateLog takes the slate "
                                 f"estimators {sorted(SLATE_ESTIMATORS)}")
            c = np.ascontiguousarray(COLUMNS[name](self, *args))
            self._cache[key] = c
        return c

    def matrix(self, keys: list[ColumnKey], ones_row: bool = False) -> np.ndarray:
        """Stack columns into ``(len(keys) [+ 1], n_slates)`` float64 (``ones_row`` appends ones)."""
        m = len(keys)
        out = np.empty((m + int(ones_row), self.n_units))
        for j, k in enumerate(keys):
            out[j] = self.col(k)
        if ones_row:
            out[m] = 1.0
        return out

    def diagnostics(self) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """What :func:`bandits.estimators.evaluate` reports for a slate log: a per-slate weight
        ``(n_slates,)`` for the effective sample size and the largest weight (of the weights the
        evaluated estimators used: the slate weight, else the cascade weight at the slate's last
        slot, else the mean item-in-slot weight over its slots), the summed reward, and the logged and target
        (slot, item) masses ``(L, K)`` for the support diagnostic (target NaN without ``marginal``),
        the target's scaled so that dividing by ``n_slates`` gives a share of its slot probability."""
        log, L, K = self.data, self.len_list, self.n_actions
        S = self.n_units
        rows = self._rows
        if "w_slate" in rows:
            w = rows["w_slate"][log.first]
        elif "w_cascade" in rows:
            W = self.wide_col("w_cascade", lambda: rows["w_cascade"])
            last = L - 1 - np.argmax(log.present[:, ::-1], axis=1)
            w = W[np.arange(S), last]
        elif "w_item" in rows:
            W = self.wide_col("w_item", lambda: rows["w_item"])
            w = W @ np.full(L, 1.0 / L) if log.dense else W.sum(axis=1) / log.present.sum(axis=1)
        else:
            w = np.ones(S)
        if self.marginal is None:  # no item-in-slot distribution: the support diagnostic is unknown
            return w, float(log.reward.sum()), np.zeros((L, K), np.int64), np.full((L, K), np.nan)
        logged = np.bincount(log.position * K + log.action, minlength=L * K).reshape(L, K)
        target = np.zeros((L, K))
        for p, a in zip(*np.nonzero(logged == 0), strict=True):
            target[p, a] = self.marginal[log.position == p, a, p].sum()
        target *= S / log.n_rounds
        return w, float(log.reward.sum()), logged, target


def _check_cascade_vs_dist(log: SlateLog, pc: np.ndarray, ad: np.ndarray) -> None:
    """``pscore_cascade`` of slot k = that of slot k-1 times ``action_dist`` at the logged item."""
    S, L = log.n_slates, log.len_list
    W = np.full((S, L), np.nan)
    W[log.unit, log.position] = pc
    prev = np.concatenate([np.ones((S, 1)), W[:, :-1]], axis=1).reshape(-1)[log.flat]
    step = ad[np.arange(log.n_rounds), log.action]
    want = prev * step
    bad = np.abs(pc - want) > _REL_TOL * np.maximum(np.abs(pc), 1e-300) + 1e-300
    bad &= np.isfinite(prev)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"action_dist: expected pscore_cascade at a slot to be the one above times action_dist at the "
                         f"logged item (the slot's conditional probabilities), got {pc[i]!r} against {prev[i]!r} * "
                         f"{step[i]!r} at row {i}")


# ------------------------------------------------------------------------------------------------
# columns and declarations
# ------------------------------------------------------------------------------------------------


def _slate(c: Any) -> SlateColumns:
    if not isinstance(c, SlateColumns):
        raise ValueError(f"data: the slate estimators ({', '.join(sorted(SLATE_ESTIMATORS))}) are evaluated on a "
                         "bandits.estimators.slate.SlateLog (SlateLog.from_logged(data) for a LoggedData with positions, "
                         "SlateLog.from_obp for obp's slate feedback), got a row log")
    return c


_ESTIMATOR_OF_KIND = {"slate": "sips", "item": "iips", "cascade": "rips"}  # for error messages


def _sl_n(c: Any, k: int) -> np.ndarray:
    return _slate(c).data.present[:, k].astype(np.float64)


def _sl_w(c: Any, kind: str, k: int) -> np.ndarray:
    c = _slate(c)
    est = _ESTIMATOR_OF_KIND[kind]
    return c.wide_col("w_" + kind, lambda: c.weight(kind, est))[:, k]


def _sl_wr(c: Any, kind: str, k: int) -> np.ndarray:
    c = _slate(c)
    est = _ESTIMATOR_OF_KIND[kind]
    return c.wide_col("wr_" + kind, lambda: c.weight(kind, est) * c.data.reward)[:, k]


def _sl_cres(c: Any, k: int) -> np.ndarray:
    c = _slate(c)

    def f():
        qf, _ = c.q_parts("cascade-dr")
        return c.weight("cascade", "cascade-dr") * (c.data.reward - qf)

    return c.wide_col("cres", f)[:, k]


def _sl_cq(c: Any, k: int) -> np.ndarray:
    c = _slate(c)

    def f():
        _, qp = c.q_parts("cascade-dr")
        return c.cascade_prev("cascade-dr") * qp

    return c.wide_col("cq", f)[:, k]


def _sl_cdr(c: Any, k: int) -> np.ndarray:
    return _sl_cres(c, k) + _sl_cq(c, k)


def _sl_wprev(c: Any, k: int) -> np.ndarray:
    c = _slate(c)
    return c.wide_col("wprev", lambda: c.cascade_prev("sn-cascade-dr"))[:, k]


def _len_list(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
        raise ValueError("expected an integer >= 0 (0: the log's len_list)")
    return int(v)


_LEN = {"len_list": HParam(0, _len_list, doc="slots per slate; 0 (default) takes the log's len_list")}
_COLS = {"sl_n": _sl_n, "sl_w": _sl_w, "sl_wr": _sl_wr, "sl_cres": _sl_cres, "sl_cq": _sl_cq, "sl_cdr": _sl_cdr,
         "sl_wprev": _sl_wprev}


def _slots(len_list: int) -> range:
    return range(max(int(len_list), 1))


def _register(name: str, terms, summary: str, aliases: Sequence[str] = (), needs_model: bool = False) -> None:
    register_estimator(name, terms, aliases=aliases, hparams=_LEN, columns=_COLS, summary=summary,
                       needs_reward_model=needs_model)
    SLATE_ESTIMATORS.add(name)


for _est, _kind, _who in (("sips", "slate", "McInerney et al. 2020"), ("iips", "item", "Li et al. 2018"),
                          ("rips", "cascade", "McInerney et al. 2020")):
    _register(_est, lambda len_list, kind=_kind: tuple(Term(("sl_wr", kind, k), ("sl_n", k)) for k in _slots(len_list)),
              f"sum_k mean_s(w_{_kind} r_k) over slates ({_who}; pscore kind '{_KINDS[_kind]}')")
    _register("sn" + _est, lambda len_list, kind=_kind: tuple(Term(("sl_wr", kind, k), ("sl_w", kind, k))
                                                             for k in _slots(len_list)),
              f"sum_k sum_s(w_{_kind} r_k) / sum_s(w_{_kind}): {_est} self-normalised slot by slot")

_register("cascade-dr", lambda len_list: tuple(Term(("sl_cdr", k), ("sl_n", k)) for k in _slots(len_list)),
          "sum_k mean_s(w_k (r_k - q_k) + w_{k-1} q_k(pi_e)) (Kiyohara et al. 2022), cascade weights",
          aliases=("cascade_dr", "cdr"), needs_model=True)
_register("sn-cascade-dr", lambda len_list: tuple(t for k in _slots(len_list)
                                                  for t in (Term(("sl_cres", k), ("sl_w", "cascade", k)),
                                                            Term(("sl_cq", k), ("sl_wprev", k)))),
          "cascade-dr with each weight sequence divided by its mean", aliases=("sn_cascade_dr", "sncdr"),
          needs_model=True)


def bind_len_list(estimators: list, len_list: int) -> list:
    """The slate estimators with their ``len_list`` set to the log's (labels unchanged)."""
    from bandits.estimators.core import Estimator

    out = []
    for e in estimators:
        L = e.hparams.get("len_list", 0)
        if L not in (0, len_list):
            raise ValueError(f"len_list: estimator {e.label!r} was given len_list={L}, but the log has len_list={len_list}")
        hp = {**dict(e.hparams), "len_list": len_list}
        out.append(Estimator(e.name, label=e.label, **hp))
    return out


# ------------------------------------------------------------------------------------------------
# Plackett-Luce (softmax without replacement) probabilities
# ------------------------------------------------------------------------------------------------


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def plackett_luce_pscores(logits: Any, slates: Any, item_position: str | None = "exact", n_mc: int = 10_000,
                          random_state: int | None = 0, max_prefixes: int = 200_000) -> dict[str, np.ndarray]:
    """Probabilities of logged slates under a Plackett-Luce policy (items drawn one slot at a time
    from ``softmax(logits)`` over the items not yet shown: obp's slate policies).

    logits ``(n_slates, K)`` float; slates ``(n_slates, L)`` int, distinct items per slate.
    item_position: ``"exact"`` (sum over every ordered prefix above the slot: ``K!/(K-k)!``
        terms per slot, refused above ``max_prefixes``), ``"mc"`` (``n_mc`` sampled slates per
        context, Gumbel top-L; a Monte-Carlo estimate with standard error ``<= 0.5/sqrt(n_mc)``),
        or None (not computed).
    Returns long-format arrays (row ``s * L + k`` is slot ``k`` of slate ``s``): ``pscore`` ``(n,)``
    the slate's probability, ``pscore_cascade`` ``(n,)``, ``pscore_item_position`` ``(n,)`` (or
    None), ``action_dist`` ``(n, K)`` the distribution over items at each slot given the items
    above, and ``marginal`` ``(n, K, L)`` the item-in-slot distribution (None without
    ``item_position``).
    """
    z = np.asarray(logits, dtype=np.float64)
    a = np.asarray(slates)
    if z.ndim != 2:
        raise ValueError(f"logits: expected shape (n_slates, n_actions), got {ck.describe(z)}")
    if a.ndim != 2 or a.shape[0] != z.shape[0] or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"slates: expected integer items of shape (n_slates={z.shape[0]}, len_list), got {ck.describe(a)}")
    S, K = z.shape
    L = a.shape[1]
    if L > K or a.min() < 0 or a.max() >= K:
        raise ValueError(f"slates: expected items in [0, n_actions={K}) and len_list <= n_actions, got {ck.describe(a)}")
    if (np.sort(a, axis=1)[:, 1:] == np.sort(a, axis=1)[:, :-1]).any():
        raise ValueError("slates: expected distinct items within a slate (a Plackett-Luce slate has no repeats)")
    if item_position not in ("exact", "mc", None):
        raise ValueError(f"item_position: expected 'exact', 'mc' or None, got {item_position!r}")
    p = _softmax_rows(z)
    rows = np.arange(S)
    avail = np.ones((S, K))
    dist = np.empty((S, L, K))
    casc = np.empty((S, L))
    run = np.ones(S)
    for k in range(L):
        m = p * avail
        d = m / m.sum(axis=1, keepdims=True)
        dist[:, k] = d
        run = run * d[rows, a[:, k]]
        casc[:, k] = run
        avail[rows, a[:, k]] = 0.0
    out = {"pscore": np.repeat(casc[:, -1], L), "pscore_cascade": casc.reshape(-1), "action_dist": dist.reshape(S * L, K),
           "pscore_item_position": None, "marginal": None}
    if item_position is None:
        return out
    if item_position == "exact":
        marg = _pl_marginal_exact(p, L, max_prefixes)
    else:
        if not (isinstance(n_mc, int | np.integer) and n_mc >= 1):
            raise ValueError(f"n_mc: expected an integer >= 1, got {n_mc!r}")
        marg = _pl_marginal_mc(z, L, int(n_mc), np.random.default_rng(random_state))
    out["pscore_item_position"] = marg[np.repeat(rows, L), a.reshape(-1), np.tile(np.arange(L), S)]
    out["marginal"] = np.repeat(marg, L, axis=0)
    return out


def _pl_marginal_exact(p: np.ndarray, L: int, max_prefixes: int) -> np.ndarray:
    """Item-in-slot probabilities ``(S, K, L)`` of a Plackett-Luce policy, by enumerating prefixes."""
    S, K = p.shape
    marg = np.empty((S, K, L))
    marg[:, :, 0] = p
    for k in range(1, L):
        n_pref = int(np.prod(np.arange(K - k + 1, K + 1, dtype=np.float64)))
        if n_pref > max_prefixes:
            raise ValueError(f"item_position: 'exact' needs {n_pref} ordered prefixes for slot {k} with n_actions={K} "
                             f"(limit max_prefixes={max_prefixes}); use item_position='mc'")
        pref = np.array(list(permutations(range(K), k)), dtype=np.int64)  # (P, k)
        prob = np.ones((S, pref.shape[0]))
        left = np.ones((S, pref.shape[0]))
        for j in range(k):
            pj = p[:, pref[:, j]]
            prob *= pj / left
            left = left - pj
        M = prob / left  # P(prefix) / remaining mass
        contains = np.zeros((pref.shape[0], K))
        np.put_along_axis(contains, pref, 1.0, axis=1)
        marg[:, :, k] = p * (M.sum(axis=1, keepdims=True) - M @ contains)
    return marg


def _pl_marginal_mc(z: np.ndarray, L: int, n_mc: int, rng: np.random.Generator, block: int = 1 << 22) -> np.ndarray:
    """Monte-Carlo item-in-slot frequencies ``(S, K, L)`` from Gumbel top-L draws."""
    S, K = z.shape
    marg = np.zeros((S, K, L))
    per = max(1, block // (n_mc * K))
    for s0 in range(0, S, per):
        s1 = min(S, s0 + per)
        g = z[s0:s1, None, :] + rng.gumbel(size=(s1 - s0, n_mc, K))
        top = np.argsort(-g, axis=2)[:, :, :L]  # (b, n_mc, L)
        for k in range(L):
            idx = top[:, :, k]
            cnt = np.zeros((s1 - s0, K))
            np.add.at(cnt, (np.repeat(np.arange(s1 - s0), n_mc), idx.reshape(-1)), 1.0)
            marg[s0:s1, :, k] = cnt / n_mc
    return marg


# ------------------------------------------------------------------------------------------------
# slate reward model for cascade DR
# ------------------------------------------------------------------------------------------------


def fit_slate_reward_model(log: SlateLog, target: SlateTarget, model: Any = None, n_folds: int = 2,
                           random_state: int | None = 0) -> np.ndarray:
    """Cross-fitted slate reward model ``q_hat (n, n_actions)`` for cascade DR.

    ``q_hat[i, a]`` estimates ``Q_k(x, a_<k, a)``, the expected reward from the row's slot ``k``
    down when item ``a`` is put there under the logged items above and the target fills the slots
    below (Kiyohara et al. 2022, as obp's ``SlateRegressionModel``): fitted slot by slot from the
    bottom, each slot's regression target the slot's reward plus the target's expectation of the
    next slot's fitted ``Q``. Features: ``[context, one-hot(item), sum of one-hots of the items
    above]``. model: a scikit-learn regressor (default ``Ridge(alpha=1.0)``), cloned per slot and
    fold; slates are split into ``n_folds`` folds, each predicted by models fitted on the others.
    Needs complete slates with ``slate_id``, ``context`` and ``target.action_dist``.
    """
    from sklearn.base import clone
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold

    if not isinstance(log, SlateLog):
        raise TypeError(f"log: expected a SlateLog, got {type(log).__name__}")
    cols = SlateColumns(log, target)
    if log.context is None:
        raise ValueError("context: a slate reward model needs the slates' contexts, got None (pass estimated_rewards)")
    if cols.action_dist is None:
        raise ValueError("action_dist: a slate reward model needs SlateTarget.action_dist (the target's distribution "
                         "over items at each slot given the items above), got None")
    slates = log.slates()
    if log.slate_id is None and log.len_list > 1:
        raise ValueError("slate_id: a slate reward model needs the slates, got None")
    if not (isinstance(n_folds, int | np.integer) and 1 <= n_folds <= log.n_slates):
        raise ValueError(f"n_folds: expected an integer in [1, n_slates={log.n_slates}], got {n_folds!r}")
    S, L, K = log.n_slates, log.len_list, log.n_actions
    X0 = log.context
    R = log.wide(log.reward)
    row = np.empty(S * L, np.int64)
    row[log.flat] = np.arange(log.n_rounds)
    row = row.reshape(S, L)  # row[s, k]: the log row of slot k of slate s
    base = model if model is not None else Ridge(alpha=1.0)
    q = np.empty((log.n_rounds, K))
    splits = [(np.arange(S), np.arange(S))] if n_folds == 1 else list(
        KFold(int(n_folds), shuffle=True, random_state=random_state).split(np.arange(S)))
    eye = np.eye(K)
    above = np.zeros((S, K))  # sum of one-hots of the items above slot k
    bags = []
    for k in range(L):
        bags.append(above.copy())
        above[np.arange(S), slates[:, k]] += 1.0
    y_next = np.zeros(S)
    for k in range(L - 1, -1, -1):
        y = R[:, k] + y_next
        X = np.concatenate([X0, eye[slates[:, k]], bags[k]], axis=1)
        pred = np.empty((S, K))
        for tr, te in splits:
            m = clone(base).fit(X[tr], y[tr])
            pred[te] = _predict_all_items(m, X0[te], bags[k][te], K)
        q[row[:, k]] = pred
        y_next = np.einsum("sk,sk->s", pred, cols.action_dist[row[:, k]]) if k > 0 else y_next
    return q


def _predict_all_items(m: Any, X0: np.ndarray, bag: np.ndarray, K: int, block: int = 4096) -> np.ndarray:
    """``(S, K)`` predictions with each item in the slot (a linear model is evaluated in closed form)."""
    S, d = X0.shape
    coef = getattr(m, "coef_", None)
    if coef is not None and np.ndim(coef) == 1 and coef.shape[0] == d + 2 * K:
        base = X0 @ coef[:d] + bag @ coef[d + K:] + float(getattr(m, "intercept_", 0.0))
        return base[:, None] + coef[d:d + K][None, :]
    out = np.empty((S, K))
    eye = np.eye(K)
    for s0 in range(0, S, block):
        s1 = min(S, s0 + block)
        b = s1 - s0
        Xa = np.concatenate([np.repeat(X0[s0:s1], K, axis=0), np.tile(eye, (b, 1)), np.repeat(bag[s0:s1], K, axis=0)],
                            axis=1)
        out[s0:s1] = np.asarray(m.predict(Xa), dtype=np.float64).reshape(b, K)
    return out
