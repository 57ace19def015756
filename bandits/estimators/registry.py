"""The estimator registry: each off-policy estimator declares itself once, here.

An estimator in this package is a sum of *terms*, each the mean of one per-row column or a ratio
of two column means (``V = sum_t mean(num_t) / mean(den_t)``, see :mod:`bandits.estimators.core`).
That form is all :func:`bandits.estimators.evaluate` needs: point estimates, delta-method and
bootstrap intervals and streamed evaluation follow from it, for every estimator alike.

A declaration (:class:`EstimatorSpec`, made by :func:`register_estimator`) states

- ``name`` and ``aliases`` (what users type; case-insensitive);
- ``terms(**hparams)``: the estimate as :class:`Term` s over column keys;
- ``columns``: the per-row columns it introduces, ``fn(cols, *args) -> (n_rounds,) float64``
  (see :class:`bandits.estimators.core.Columns` for the columns every estimator can use);
- ``needs_reward_model``: whether it reads ``estimated_rewards`` (then ``evaluate`` fits one);
- ``uniform_logs``: whether it is only valid on uniformly logged data (checked eagerly);
- ``hparams``: its hyperparameters, each an :class:`HParam` with a default and a check.

The CLI (``screentest ope --estimators``), the main job's ``estimator.names`` and ``evaluate``
read this table; adding an estimator is one module that calls :func:`register_estimator` (see
docs/architecture.md, "Adding an estimator").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "COLUMNS",
    "HParam",
    "EstimatorSpec",
    "Term",
    "estimator_names",
    "get_spec",
    "non_negative",
    "register_column",
    "register_estimator",
]

ColumnKey = Hashable  # "w", or ("wr_clip", 5.0): a column name plus its arguments


class Term(NamedTuple):
    """One term of an estimate: ``mean(num)`` when ``den`` is None, else ``mean(num) / mean(den)``.

    num, den: column keys, a registered column name (``"w"``) or a tuple of a name and its
    arguments (``("wr_clip", 5.0)``).
    """

    num: ColumnKey
    den: ColumnKey | None = None


def non_negative(value: Any) -> float:
    """Check for thresholds and shrinkage: a number >= 0 (``inf`` allowed) as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError("expected a number >= 0")
    v = float(value)
    if not v >= 0.0:  # also NaN
        raise ValueError("expected a number >= 0")
    return v


@dataclass(frozen=True)
class HParam:
    """A hyperparameter: its ``default`` and ``check(value) -> value`` (raises ``ValueError`` with
    an ``expected ...`` message, converts on success); ``doc`` says what it does."""

    default: Any
    check: Callable[[Any], Any] = non_negative
    doc: str = ""


@dataclass(frozen=True)
class EstimatorSpec:
    """The declaration of one estimator (see the module docstring)."""

    name: str
    terms: Callable[..., Sequence[Term]]
    aliases: tuple[str, ...] = ()
    needs_reward_model: bool = False
    uniform_logs: bool = False
    hparams: Mapping[str, HParam] = field(default_factory=dict)
    columns: Mapping[str, Callable[..., np.ndarray]] = field(default_factory=dict)
    summary: str = ""

    @property
    def defaults(self) -> dict[str, Any]:
        """The default hyperparameters ``{name: value}``."""
        return {k: h.default for k, h in self.hparams.items()}

    def check_hparams(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """All hyperparameters, ``given`` ones checked (None means the default); raises
        ``ValueError`` naming the hyperparameter and this estimator."""
        unknown = sorted(set(given) - set(self.hparams))
        if unknown:
            k = unknown[0]
            takes = f"takes {list(self.hparams)}" if self.hparams else "takes no hyperparameters"
            raise ValueError(f"{k}: estimator {self.name!r} takes no {k} ({takes}), got {given[k]!r}")
        out = {}
        for k, h in self.hparams.items():
            v = given.get(k)
            if v is None:
                out[k] = h.default
                continue
            try:
                out[k] = h.check(v)
            except ValueError as e:
                raise ValueError(f"{k}: {e} for {self.name!r}, got {v!r}") from None
        return out

    def term_list(self, hparams: Mapping[str, Any]) -> tuple[Term, ...]:
        """``terms(**hparams)`` as a tuple of :class:`Term`."""
        return tuple(Term(*t) for t in self.terms(**hparams))


_ESTIMATORS: dict[str, EstimatorSpec] = {}
_ALIASES: dict[str, str] = {}
COLUMNS: dict[str, Callable[..., np.ndarray]] = {}


def register_column(name: str, fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Register the per-row column ``name``: ``fn(cols, *args) -> (n_rounds,) float64`` where
    ``cols`` is a :class:`bandits.estimators.core.Columns` and ``args`` come from the column key
    (``("wr_clip", 5.0)`` calls ``fn(cols, 5.0)``). A name is registered once."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"column name: expected a non-empty str, got {name!r}")
    if not callable(fn):
        raise TypeError(f"column {name!r}: expected a callable (cols, *args) -> (n,) array, got {type(fn).__name__}")
    old = COLUMNS.get(name)
    if old is not None and _origin(old) != _origin(fn):
        raise ValueError(f"column {name!r} is already registered (by {'.'.join(_origin(old))})")
    COLUMNS[name] = fn
    return fn


def _origin(fn: Any) -> tuple[str, str]:
    """Where a function was defined: a module re-declaring its own column or estimator (a reload)
    replaces it; another module reusing the name is an error."""
    return (str(getattr(fn, "__module__", "?")), str(getattr(fn, "__qualname__", repr(fn))))


def _key_name(key: ColumnKey) -> str:
    return key if isinstance(key, str) else key[0]


def register_estimator(
    name: str,
    terms: Callable[..., Sequence[Term]],
    *,
    aliases: Sequence[str] = (),
    needs_reward_model: bool = False,
    uniform_logs: bool = False,
    hparams: Mapping[str, HParam] | None = None,
    columns: Mapping[str, Callable[..., np.ndarray]] | None = None,
    summary: str = "",
) -> EstimatorSpec:
    """Declare an estimator (see the module docstring); returns its :class:`EstimatorSpec`.

    The declaration is checked at once: names and aliases are new (re-registering the same
    module's declaration, e.g. on reload, replaces it), ``terms`` at the default hyperparameters
    gives at least one :class:`Term` whose columns are registered (here in ``columns`` or
    before), and every default passes its check.
    """
    if not isinstance(name, str) or not name or name != name.lower():
        raise ValueError(f"name: expected a non-empty lower-case str, got {name!r}")
    if not callable(terms):
        raise TypeError(f"terms: expected a callable (**hparams) -> Terms for {name!r}, got {type(terms).__name__}")
    hps = dict(hparams or {})
    for k, h in hps.items():
        if not isinstance(h, HParam):
            raise TypeError(f"hparams[{k!r}]: expected a bandits.estimators.registry.HParam, got {type(h).__name__}")
        if h.default is not None:
            h.check(h.default)
    spec = EstimatorSpec(name=name, terms=terms, aliases=tuple(a.lower() for a in aliases),
                         needs_reward_model=bool(needs_reward_model), uniform_logs=bool(uniform_logs),
                         hparams=hps, columns=dict(columns or {}), summary=summary)
    old = _ESTIMATORS.get(name)
    if old is not None and _origin(old.terms)[0] != _origin(terms)[0]:
        raise ValueError(f"estimator {name!r} is already registered (by {_origin(old.terms)[0]})")
    for a in (name, *spec.aliases):
        owner = _ALIASES.get(a, a if a in _ESTIMATORS else None)
        if owner is not None and owner != name:
            raise ValueError(f"estimator name or alias {a!r} of {name!r} is already taken by {owner!r}")
    for cname, fn in spec.columns.items():
        register_column(cname, fn)
    keys = [k for t in spec.term_list(spec.defaults) for k in t if k is not None]
    if not keys:
        raise ValueError(f"terms: {name!r} gives no terms at its default hyperparameters")
    missing = sorted({_key_name(k) for k in keys} - set(COLUMNS))
    if missing:
        raise ValueError(f"terms: {name!r} uses unregistered column(s) {missing}; pass them in columns=")
    _ESTIMATORS[name] = spec
    for a in spec.aliases:
        _ALIASES[a] = name
    return spec


def estimator_names() -> tuple[str, ...]:
    """The registered estimators' names, in registration order (aliases not included)."""
    return tuple(_ESTIMATORS)


def get_spec(name: str) -> EstimatorSpec:
    """The declaration of ``name`` (or one of its aliases, any case); ``ValueError`` listing the
    registered names otherwise."""
    if isinstance(name, str):
        nm = name.lower()
        nm = _ALIASES.get(nm, nm)
        spec = _ESTIMATORS.get(nm)
        if spec is not None:
            return spec
    raise ValueError(f"estimators: unknown estimator {name!r}; expected one of {list(_ESTIMATORS)}")


def label_for(spec: EstimatorSpec, hparams: Mapping[str, Any]) -> str:
    """Row label: the name, plus the hyperparameters that differ from their defaults
    (``switch-dr(lambda=7)``)."""
    diff = [(k.rstrip("_"), v) for k, v in hparams.items() if not _same(v, spec.hparams[k].default)]
    if not diff:
        return spec.name
    return f"{spec.name}({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in diff)})"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
