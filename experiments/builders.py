"""``_target_`` builders: turn config nodes into plain Python objects (envs, policy specs, data).

Hydra calls these through :func:`hydra.utils.instantiate` with ``_convert_="all"``, so every
argument arrives as a plain ``int``/``float``/``str``/``list``/``dict``; what they return
(:class:`bandits.contracts.Env`, :class:`PolicySpec`, :class:`bandits.data.LoggedData`) holds no
DictConfig, so nothing from OmegaConf can reach jitted code.

Bad values raise :class:`ConfigError` naming the config key, what was expected and what came in;
the CLI prints it Hydra-style and exits with code 2.
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bandits.caching import IdentityLRU


class ConfigError(ValueError):
    """A config value is invalid (names the key, the expectation and the value received)."""


# ----------------------------------------------------------------------------- envs

_SYNTHETIC_FAMILIES = ("linear_gaussian", "logistic_bernoulli", "bernoulli_arms")


def synthetic_env(family: str, label: str | None = None, **kwargs: Any):
    """Build one of :mod:`envs.synthetic`'s environments by family name.

    family: ``linear_gaussian`` | ``logistic_bernoulli`` | ``bernoulli_arms``; kwargs: the family
    constructor's arguments (``num_actions``, ``context_dim``, ``noise_sd``, ``seed``, ...).
    """
    from envs import synthetic

    if family not in _SYNTHETIC_FAMILIES:
        raise ConfigError(f"env.family: expected one of {list(_SYNTHETIC_FAMILIES)}, got {family!r}")
    for k in ("num_actions", "context_dim"):
        if k in kwargs and (not isinstance(kwargs[k], int) or kwargs[k] < 1):
            raise ConfigError(f"env.{k}: expected an integer >= 1, got {kwargs[k]!r}")
    try:
        return getattr(synthetic, family)(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"env ({family}): {e}") from e


def member_simulator(data: Any = None, label: str | None = None, campaign: str = "all", **kwargs: Any):
    """The member simulator calibrated on logged ``data`` (:func:`build_simulator`).

    data: a :class:`bandits.data.LoggedData` (the main job passes the loaded ``data`` group).
    Returns the fitted ``envs.logged.MemberSimulator`` (``.env`` is the :class:`bandits.contracts.Env`,
    ``.report`` the held-out calibration report).
    """
    if data is None:
        raise ConfigError("env=simulator: needs logged data (the data group)")
    return build_simulator(data, campaign=campaign, **kwargs)


def build_simulator(data, *, len_list: int = 1, slot: int = 0, add_intercept: bool = True,
                    item_prior: str = "none", campaign: str = "all", penalties: list[float] | None = None,
                    temperature: float = 1.0, noise: float = 0.0, seed: int = 0, **_ignored: Any):
    """Fit the member simulator on ``data`` and apply the knobs; returns the ``MemberSimulator``
    with ``env.default_params`` set to the knobbed params (what every rollout then uses).

    item_prior: ``"none"`` (fitted on the logs only) or ``"site"`` (ZOZOTOWN's item prior for the
    OBD ``campaign``, external knowledge that spreads the items' click rates; see docs/simulator.md).
    penalties: ``[main, interaction]`` L2 strengths (skips the cross-validated search) or None.
    """
    from envs.logged import fit_member_simulator, obd_site_item_prior

    if item_prior not in ("none", "site"):
        raise ConfigError(f"env.item_prior: expected 'none' or 'site', got {item_prior!r}")
    prior = obd_site_item_prior(campaign) if item_prior == "site" else None
    if prior is not None and prior.shape[0] != data.n_actions:
        raise ConfigError(f"env.item_prior=site: the site prior of campaign {campaign!r} has {prior.shape[0]} "
                          f"items, the logs have {data.n_actions}")
    pen = None if penalties is None else (float(penalties[0]), float(penalties[1]))
    try:
        sim = fit_member_simulator(data, len_list=len_list, slot=slot, add_intercept=add_intercept,
                                   penalties=pen, item_prior_mean=prior, seed=seed)
    except ValueError as e:  # MalformedLogsError is a ValueError: the logs cannot support a model
        raise ConfigError(f"env=simulator: cannot fit a simulator on these logs: {e}") from e
    params = sim.with_knobs(temperature=temperature, noise=noise)
    sim.env = sim.env._replace(default_params=params)
    return sim


# ----------------------------------------------------------------------------- policies


# Built policies and envs are reused within a process (same static config -> the same object), so
# the compiled sweep functions, cached by object identity, are reused across the jobs of a
# multirun and across reruns: a new hyperparameter value never recompiles.
_POLICY_CACHE: IdentityLRU = IdentityLRU(maxsize=64)
_ENV_CACHE: IdentityLRU = IdentityLRU(maxsize=16)


def cached(cache_key: str, build):
    """``build()`` once per ``cache_key`` in this process (envs, fitted simulators)."""
    return _ENV_CACHE.get(build, key=cache_key)


@dataclass(frozen=True)
class PolicySpec:
    """A candidate policy as plain values.

    label: name in results. name: registry name (:func:`bandits.policies.make`).
    static: constructor options. hparams: base hyperparameters (python floats).
    grid: in-process grid ``{hparam: [values]}``; the candidate is run at every point of the
    Cartesian product (vmapped), with the other hyperparameters at their ``hparams`` values.
    """

    label: str
    name: str
    static: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, float] = field(default_factory=dict)
    grid: dict[str, list[float]] = field(default_factory=dict)

    def build(self, num_actions: int, context_dim: int, **static_overrides: Any):
        """The :class:`bandits.contracts.Policy` for an env of ``num_actions`` actions and ``context_dim``.

        Context-free families (constructors whose ``context_dim`` defaults to 1: random, UCB1,
        epsilon-greedy, Bernoulli TS) are built with ``context_dim=1``; they ignore the context.
        ``static_overrides`` replace constructor options the constructor accepts (others are dropped).
        """
        from bandits.policies import REGISTRY, make

        if self.name not in REGISTRY:
            raise ConfigError(
                f"policy.name: unknown policy {self.name!r} (candidate {self.label!r}); "
                f"registered policies: {sorted(REGISTRY)}"
            )
        params = inspect.signature(REGISTRY[self.name]).parameters
        if is_context_free(self.name):
            context_dim = 1
        static = dict(self.static)
        static.update({k: v for k, v in static_overrides.items() if k in params})
        ck = (self.name, int(num_actions), int(context_dim), repr(sorted(static.items())))
        pol = _POLICY_CACHE.get(lambda: self._make(make, num_actions, context_dim, static), key=ck)
        fields = type(pol.default_hparams)._fields
        bad = sorted((set(self.hparams) | set(self.grid)) - set(fields))
        if bad:
            raise ConfigError(
                f"policy {self.label!r} ({self.name}): unknown hyperparameter(s) {bad}; "
                f"{self.name!r} takes {list(fields)}"
            )
        return pol

    def _make(self, make, num_actions, context_dim, static):
        try:
            pol = make(self.name, num_actions=num_actions, context_dim=context_dim, **static)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"policy {self.label!r} ({self.name}).static: {e}") from e
        return pol

    def points(self) -> list[dict[str, float]]:
        """Every hyperparameter point of the grid (the base ``hparams`` if there is no grid)."""
        if not self.grid:
            return [dict(self.hparams)]
        keys = sorted(self.grid)
        out = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            p = dict(self.hparams)
            p.update(zip(keys, values, strict=True))
            out.append(p)
        return out

    def identity(self) -> dict[str, Any]:
        """What decides this candidate's numbers (hashed into the cell id)."""
        return {"name": self.name, "static": self.static, "hparams": self.hparams, "grid": self.grid}


# Config-level aliases: one name for "the exploration scale" across policy families, so one
# override (``policy.alpha=...``) sweeps them all. Results record the policy's own name.
HPARAM_ALIASES: dict[str, dict[str, str]] = {
    "lints": {"alpha": "v"},
    "discounted_lints": {"alpha": "nu"},
}


def is_context_free(name: str) -> bool:
    """True for registry constructors whose ``context_dim`` defaults to 1 (the context-free families)."""
    from bandits.policies import REGISTRY

    p = inspect.signature(REGISTRY[name]).parameters.get("context_dim")
    return p is not None and p.default == 1


def _as_float(where: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise ConfigError(f"{where}: expected a finite number, got {v!r}")
    return float(v)


def policy_spec(
    name: str,
    label: str | None = None,
    static: dict[str, Any] | None = None,
    grid: dict[str, list[float]] | None = None,
    hparams: dict[str, float] | None = None,
    **fields: Any,
) -> PolicySpec:
    """Build a :class:`PolicySpec` from a ``policy`` config node (hyperparameters as extra fields).

    Hyperparameter names go through :data:`HPARAM_ALIASES` (e.g. ``alpha`` -> ``v`` for ``lints``).
    """
    label = label or name
    alias = HPARAM_ALIASES.get(name, {})
    hp = {}
    for k, v in {**(hparams or {}), **fields}.items():
        hp[alias.get(k, k)] = _as_float(f"policy {label!r}.{k}", v)
    g = {}
    for k, values in (grid or {}).items():
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ConfigError(f"policy {label!r}.grid.{k}: expected a non-empty list of numbers, got {values!r}")
        g[alias.get(k, k)] = [_as_float(f"policy {label!r}.grid.{k}", v) for v in values]
    return PolicySpec(label=str(label), name=str(name), static=dict(static or {}), hparams=hp, grid=g)


def policy_set(candidates: dict[str, Any]) -> list[PolicySpec]:
    """The candidates of a ``policy=bakeoff`` node, labelled by their keys (sorted by label)."""
    out = []
    for key, spec in candidates.items():
        if spec is None:  # ``~policy.candidates.x`` or ``policy.candidates.x=null`` drops one
            continue
        if not isinstance(spec, PolicySpec):
            raise ConfigError(f"policy.candidates.{key}: expected a policy node, got {spec!r}")
        out.append(PolicySpec(label=key, name=spec.name, static=spec.static, hparams=spec.hparams, grid=spec.grid))
    if not out:
        raise ConfigError("policy.candidates: expected at least one candidate, got none")
    return sorted(out, key=lambda s: s.label)


# ----------------------------------------------------------------------------- data


def resolve_path(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Path:
    """``path`` made absolute against ``base`` (the directory the command was started in)."""
    p = Path(os.path.expanduser(str(path)))
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return p


def load_data(cfg: dict[str, Any], base: str | os.PathLike | None = None):
    """Load the ``data`` group as a :class:`bandits.data.LoggedData`.

    cfg: the plain ``data`` node. ``source=obd``: the bundled OBD sample
    (``bandits.datasets.obd.load_obd``); ``source=parquet|csv``: ``LoggedData.from_parquet/from_csv``.
    Missing files raise :class:`ConfigError` naming ``data.path`` / ``data.data_path``.
    """
    source = cfg.get("source")
    if source == "obd":
        try:
            from bandits.datasets.obd import load_obd
        except ImportError as e:  # pragma: no cover
            raise ConfigError("data=obd: the OBD loader (bandits.datasets.obd) is not available") from e
        data_path = cfg.get("data_path")
        if data_path is not None:
            p = resolve_path(data_path, base)
            if not p.exists():
                raise ConfigError(f"data.data_path: no such file or directory: {str(p)!r}")
            data_path = str(p)
        try:
            return load_obd(
                behavior_policy=cfg.get("behavior_policy", "random"),
                campaign=cfg.get("campaign", "all"),
                data_path=data_path,
            )
        except (ValueError, KeyError) as e:
            raise ConfigError(f"data (obd): {e}") from e
    if source in ("parquet", "csv"):
        from bandits.data import LoggedData

        p = resolve_path(cfg["path"], base)
        if not p.exists():
            raise ConfigError(f"data.path: no such file or directory: {str(p)!r}")
        kw = {
            k: cfg[k]
            for k in ("context_cols", "action_col", "reward_col", "pscore_col", "position_col", "n_actions")
            if cfg.get(k) is not None
        }
        if cfg.get("context_cols") is None and cfg.get("context_prefix"):
            kw["context_prefix"] = cfg["context_prefix"]
        reader = LoggedData.from_parquet if source == "parquet" else LoggedData.from_csv
        try:
            return reader(str(p), **kw)
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"data ({source} {str(p)!r}): {e}") from e
    raise ConfigError(f"data.source: expected one of ['obd', 'parquet', 'csv'], got {source!r}")
