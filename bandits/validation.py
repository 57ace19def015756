"""Eager input checks for policies: clear errors naming the argument, the expectation and the input.

Three kinds of checks live here.

* **Constructor checks** (static sizes and options), called by every policy constructor:
  :func:`check_positive_int` (``num_actions``, ``context_dim``, ``num_samples`` ...),
  :func:`check_dtype` (``float32`` or ``float64``), :func:`check_prior` (per-arm prior arrays).
* **Trace-time shape checks**, called inside ``select``/``update``: shapes are static under
  ``jit``/``vmap``, so a wrong ``context`` or ``mask`` shape raises while tracing, before any
  compilation (:func:`check_context_shape`, :func:`check_mask_shape`).
* **Eager value checks** for entry points (rollout, sweep, user code) to call on concrete inputs
  before entering ``jit``: :func:`validate_hparams`, :func:`validate_mask`, :func:`validate_context`.
  Inside ``jit`` nothing can raise on values: for a mask row with no available action the core
  policies return ``probs`` all 0 (summing to 0, an unmistakable signal) and an arbitrary action
  (the last index). Call :func:`validate_mask` first.

Hyperparameter ranges are part of each policy's declaration (``rules=`` of
:func:`bandits.policies.registry.register`); :func:`check_hparam_values` reads them from there and
applies them element-wise, so a grid of values (arrays) is checked in one call. It is the one range
check behind both :func:`validate_hparams` (library entry points) and the ``screentest`` config
boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Interval",
    "hparam_rules",
    "check_hparam_values",
    "validate_hparams",
    "validate_mask",
    "validate_context",
    "check_positive_int",
    "check_dtype",
    "check_prior",
    "check_context_shape",
    "check_mask_shape",
]


@dataclass(frozen=True)
class Interval:
    """A closed/open real interval rule for one hyperparameter, e.g. ``Interval(0, 1)`` = [0, 1]."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"a finite value in {left}{self.lo}, {self.hi}{right}"

    def ok(self, v: np.ndarray) -> np.ndarray:
        lo_ok = v > self.lo if self.lo_open else v >= self.lo
        hi_ok = v < self.hi if self.hi_open else v <= self.hi
        return np.isfinite(v) & lo_ok & hi_ok


NONNEGATIVE = Interval(0.0)
POSITIVE = Interval(0.0, lo_open=True)
UNIT = Interval(0.0, 1.0)


def hparam_rules(policy_name: str) -> dict[str, Interval]:
    """``{hyperparameter: rule}`` declared by the policy ``policy_name`` (empty if it is not registered).

    A wrapped name such as ``"batched(linucb)"`` gets the wrapper's rules and the inner policy's.
    """
    from bandits.policies.registry import REGISTRY, split_wrapped_name

    outer, inner = split_wrapped_name(policy_name)
    rules = hparam_rules(inner) if inner is not None else {}
    decl = REGISTRY.get(outer)
    if decl is not None:
        rules.update(decl.rules)
    return rules


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def validate_hparams(policy, hparams) -> None:
    """Check ``hparams`` for ``policy`` eagerly; raise ``TypeError``/``ValueError`` naming the field.

    ``hparams`` must be the policy's hyperparameter NamedTuple type (same fields as
    ``policy.default_hparams``); each leaf a real scalar or array (a grid) whose every element is
    finite and inside the range the policy declares (:func:`check_hparam_values`). Traced leaves
    (inside ``jit``) are skipped: values cannot be checked there.
    """
    expected_type = type(policy.default_hparams)
    fields = expected_type._fields
    if not (isinstance(hparams, tuple) and getattr(type(hparams), "_fields", None) == fields):
        got = getattr(type(hparams), "_fields", None)
        raise TypeError(
            f"hparams: policy {policy.name!r} expects a {expected_type.__name__} with fields {list(fields)}, "
            f"got {type(hparams).__name__}" + (f" with fields {list(got)}" if got is not None else "")
        )
    check_hparam_values(policy.name, {name: getattr(hparams, name) for name in fields}, where="hparams.")


def check_hparam_values(policy_name: str, values, rules=None, where: str = "hparams.") -> None:
    """Check hyperparameter values of ``policy_name`` against its declared rules; raise naming the key.

    values: ``{name: value}``, each a real scalar or array (a grid), checked element-wise: every
    element must be finite and inside the range declared for ``name`` (:func:`hparam_rules`, or
    ``rules`` when given). Traced values (inside ``jit``) are skipped. ``where`` prefixes the key
    in messages (``"hparams."`` for a NamedTuple, ``"policy.candidates.x."`` for a config node).
    Raises ``TypeError`` for a non-real value, ``ValueError`` for a value out of range.
    """
    rules = hparam_rules(policy_name) if rules is None else rules
    for name, value in values.items():
        if _is_tracer(value):
            continue
        try:
            arr = np.asarray(value)
        except Exception as e:  # pragma: no cover - exotic leaves
            raise TypeError(f"{where}{name}: expected a real number or array, got {type(value).__name__}") from e
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"{where}{name}: expected a real number or array, got {value!r}")
        if np.iscomplexobj(arr):
            raise TypeError(f"{where}{name}: expected a real number, got complex {value!r}")
        arr = arr.astype(np.float64)
        rule = rules.get(name, Interval())
        bad = ~rule.ok(arr)
        if np.any(bad):
            first = float(arr[bad].flat[0]) if arr.ndim else float(arr)
            at = "" if arr.ndim == 0 else f" (first offending element of an array of shape {arr.shape})"
            raise ValueError(f"{where}{name}: policy {policy_name!r} expects {rule.describe()}, got {first!r}{at}")


def validate_mask(mask, num_actions: int | None = None, name: str = "mask") -> np.ndarray:
    """Check an action mask eagerly and return it as a numpy bool array.

    ``mask``: ``(..., num_actions)`` bool (or 0/1 integers), True = available. Every row (every
    leading index) must have at least one available action. Raises ``ValueError`` naming ``name``,
    the expectation and the first offending row.
    """
    if _is_tracer(mask):
        raise TypeError(f"{name}: validate_mask is an eager check; call it outside jit (got a tracer)")
    arr = np.asarray(mask)
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{name}: expected a boolean array (or 0/1 values), got dtype {arr.dtype}")
        arr = arr.astype(bool)
    if arr.ndim < 1:
        raise ValueError(f"{name}: expected shape (..., num_actions), got a scalar")
    if num_actions is not None and arr.shape[-1] != int(num_actions):
        raise ValueError(f"{name}: expected last dimension num_actions={num_actions}, got shape {arr.shape}")
    empty = ~arr.any(axis=-1)
    if np.any(empty):
        idx = tuple(int(i) for i in np.argwhere(empty)[0])
        where = f" at index {idx}" if arr.ndim > 1 else ""
        raise ValueError(f"{name}: expected at least one available (True) action per row, got none{where}")
    return arr


def validate_context(policy, context, name: str = "context") -> np.ndarray:
    """Check a context (``(d,)``) or a batch of contexts (``(n, d)``) eagerly for ``policy``.

    Contextual policies (``context_dim`` >= 1 and using the context) require the last dimension to
    equal ``policy.context_dim`` and all values finite. Returns the numpy array.
    """
    if _is_tracer(context):
        raise TypeError(f"{name}: validate_context is an eager check; call it outside jit (got a tracer)")
    arr = np.asarray(context)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name}: expected a real array, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2) or arr.shape[-1] != policy.context_dim:
        raise ValueError(
            f"{name}: policy {policy.name!r} expects shape ({policy.context_dim},) or (n, {policy.context_dim}), "
            f"got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    return arr


# --------------------------------------------------------------------------- constructor checks


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``int(value)`` if it is an integer >= ``minimum``; else raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if int(value) < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_dtype(dtype, name: str = "dtype"):
    """Return the canonical numpy dtype for ``float32``/``float64``; anything else raises ``ValueError``."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise ValueError(f"{name}: expected float32 or float64, got {dtype!r}") from e
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name}: expected float32 or float64, got {dt}")
    if dt == np.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            f"{name}: float64 requested but jax x64 is disabled; enable it with "
            "jax.config.update('jax_enable_x64', True) or `with jax.enable_x64(True):`"
        )
    return dt


def check_prior(value, name: str, num_actions: int) -> np.ndarray:
    """A positive per-arm prior: scalar or ``(num_actions,)``; returns a float64 ``(num_actions,)`` array."""
    arr = np.asarray(value, dtype=np.float64) if not _is_tracer(value) else None
    if arr is None:
        raise TypeError(f"{name}: expected a concrete scalar or ({num_actions},) array, got a tracer")
    if arr.ndim == 0:
        arr = np.full((num_actions,), float(arr))
    if arr.shape != (num_actions,):
        raise ValueError(f"{name}: expected a scalar or shape ({num_actions},), got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(f"{name}: expected finite values > 0, got {float(arr[~(np.isfinite(arr) & (arr > 0))][0])!r}")
    return arr


def check_hparam_defaults(policy_name: str, hparams) -> None:
    """Constructor-time check of a policy's default hyperparameters against its declared rules."""
    rules = hparam_rules(policy_name)
    for name, rule in rules.items():
        v = np.asarray(getattr(hparams, name), dtype=np.float64)
        if not np.all(rule.ok(v)):
            raise ValueError(f"{name}: policy {policy_name!r} expects {rule.describe()}, got {getattr(hparams, name)!r}")


# --------------------------------------------------------------------------- trace-time checks


def check_context_shape(context, context_dim: int, policy_name: str) -> None:
    """Static check inside ``select``/``update``: ``context`` must have shape ``(context_dim,)``."""
    shape = jnp.shape(context)
    if shape != (context_dim,):
        raise ValueError(
            f"context: policy {policy_name!r} expects shape ({context_dim},) per round (vmap over rows), got {shape}"
        )


def check_mask_shape(mask, num_actions: int, policy_name: str) -> None:
    """Static check inside ``select``: ``mask`` must have shape ``(num_actions,)``."""
    shape = jnp.shape(mask)
    if shape != (num_actions,):
        raise ValueError(
            f"mask: policy {policy_name!r} expects shape ({num_actions},) bool per round, got {shape}"
        )


#: Alias kept for callers that use the ``check_`` prefix (``bandits.engine.rollout`` looks this name up).
check_hparams = validate_hparams
