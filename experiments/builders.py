"""``_target_`` builders: turn config nodes into plain Python objects (envs, policy specs, data).

Hydra calls these through :func:`hydra.utils.instantiate` with ``_convert_="all"``, so every
argument arrives as a plain ``int``/``float``/``str``/``list``/``dict``; what they return
(:class:`bandits.contracts.Env`, :class:`PolicySpec`, :class:`bandits.data.LoggedData`) holds no
DictConfig, so nothing from OmegaConf can reach jitted code.

Bad values raise :class:`ConfigError` naming the config key, what was expected and what came in;
the CLI prints it Hydra-style and exits with code 2.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bandits.caching import IdentityLRU


class ConfigError(ValueError):
    """A config value is invalid (names the key, the expectation and the value received)."""


# ----------------------------------------------------------------------------- envs


@dataclass(frozen=True)
class World:
    """What a policy is built against: the world's static sizes and the inputs it provides.

    name: the world's registry name (for messages). provides: ``{need: value}`` for the policies'
    ``needs`` (e.g. ``item_features (K, p)``).
    """

    name: str
    num_actions: int
    context_dim: int
    len_list: int = 1
    provides: dict[str, Any] = field(default_factory=dict)


def env_declaration(env_cfg: dict[str, Any]):
    """The :class:`envs.registry.EnvDecl` an ``env`` config node describes.

    Worlds built from arguments name theirs in ``family``; the member simulator's node (fitted on
    the ``data`` group) is recognised by its builder.
    """
    from envs.registry import declaration, declarations

    family = env_cfg.get("family")
    if family is None and str(env_cfg.get("_target_", "")).endswith("member_simulator"):
        family = "member_simulator"
    try:
        return declaration(str(family))
    except KeyError:
        raise ConfigError(f"env.family: expected one of {sorted(declarations())}, got {family!r}") from None


def env_kwargs(env_cfg: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments of an ``env`` node (its fields minus ``_target_``, ``label``, ``family``)."""
    return {k: v for k, v in env_cfg.items() if k not in ("_target_", "label", "family")}


def world_of(env_cfg: dict[str, Any], data: Any = None) -> World:
    """The :class:`World` an ``env`` node describes, from its declaration, without building it
    (worlds fitted on logs take their sizes from ``data``: no fit)."""
    decl = env_declaration(env_cfg)
    try:
        sizes = decl.env_sizes(env_kwargs(env_cfg), data)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return World(decl.name, *sizes, provides=_provided(decl, data))


def world_of_env(env, env_cfg: dict[str, Any], data: Any = None) -> World:
    """The :class:`World` of a built env (sizes from the env itself)."""
    decl = env_declaration(env_cfg)
    return World(decl.name, env.num_actions, env.context_dim, env.len_list, provides=_provided(decl, data))


def _provided(decl, data) -> dict[str, Any]:
    out = {}
    if "item_features" in decl.provides and data is not None and getattr(data, "action_context", None) is not None:
        out["item_features"] = data.action_context
    return out


def synthetic_env(family: str, label: str | None = None, **kwargs: Any):
    """Build a registered world (:mod:`envs.registry`) from its constructor arguments.

    family: the world's registry name (``linear_gaussian``, ``logistic_bernoulli``,
    ``bernoulli_arms`` or any world declared with a ``cli`` option); kwargs: the constructor's
    arguments (``num_actions``, ``context_dim``, ``noise_sd``, ``seed``, ...). Sizes are checked
    against the declaration first, so a bad size names its key.
    """
    decl = env_declaration({"family": family})
    if decl.fit_on_data:
        raise ConfigError(f"env.family: {family!r} is fitted on logged data; use its own env option")
    try:
        decl.env_sizes(kwargs)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    try:
        return decl.load()(**kwargs)
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


def _static_key(value: Any) -> Any:
    """A hashable, exact key for a constructor option (arrays by content, not by their repr)."""
    import hashlib

    import numpy as np

    if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and len(value) > 16):
        arr = np.ascontiguousarray(np.asarray(value))
        return ("array", arr.shape, str(arr.dtype), hashlib.sha1(arr.tobytes()).hexdigest())
    if isinstance(value, dict):
        return tuple(sorted((k, _static_key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_static_key(v) for v in value)
    return value


@dataclass(frozen=True)
class PolicySpec:
    """A candidate policy as plain values.

    label: name in results. name: registry name (:func:`bandits.policies.make`).
    static: constructor options. hparams: base hyperparameters (python floats), by the policy's
    own field names (configuration aliases already applied).
    grid: in-process grid ``{hparam: [values]}``; the candidate is run at every point of the
    Cartesian product (vmapped), with the other hyperparameters at their ``hparams`` values.
    """

    label: str
    name: str
    static: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, float] = field(default_factory=dict)
    grid: dict[str, list[float]] = field(default_factory=dict)
    #: hyperparameter -> the config key that set it, relative to the node (``alpha``, ``hparams.alpha``)
    keys: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def declaration(self, where: str = "policy."):
        """The policy's declaration; an unknown name raises :class:`ConfigError`."""
        from bandits.policies import REGISTRY

        if self.name not in REGISTRY:
            raise ConfigError(f"{where}name: unknown policy {self.name!r} (candidate {self.label!r}); "
                              f"registered policies: {sorted(REGISTRY)}")
        return REGISTRY[self.name]

    def validate(self, where: str = "policy.") -> None:
        """Check the name and every hyperparameter (base values and grid) against the policy's
        declaration: known names, real values inside the declared ranges. ``where`` is the config
        path of the node (``policy.`` or ``policy.candidates.<label>.``), used in messages.

        This is the one hyperparameter check of the command line; it runs before anything is built.
        """
        from bandits.validation import check_hparam_values

        decl = self.declaration(where)
        names = decl.config_names(self.static)  # config name -> field
        config_name = {h: c for c, h in names.items()}
        unknown = sorted((set(self.hparams) | set(self.grid)) - set(config_name))
        if unknown:
            raise ConfigError(f"policy {self.label!r} ({self.name}): unknown hyperparameter(s) {unknown}; "
                              f"{self.name!r} takes {sorted(names)}")
        rules = decl.hparam_rules(self.static)
        for grid, values in ((False, self.hparams), (True, self.grid)):
            for h, v in values.items():
                key = f"grid.{config_name[h]}" if grid else self.keys.get(h, config_name[h])
                for x in (v if isinstance(v, list) else [v]):
                    if isinstance(x, bool) or not isinstance(x, (int, float)):
                        raise ConfigError(f"{where}{key}: expected a real number, got {x!r}")
                try:
                    check_hparam_values(self.name, {key: v}, rules={key: rules[h]} if h in rules else {}, where=where)
                except (TypeError, ValueError) as e:
                    raise ConfigError(str(e) + (f" (hyperparameter {h!r})" if not key.endswith(h) else "")) from None

    def check(self, world: World) -> tuple[dict[str, Any], int]:
        """Constructor options and context dimension for ``world``; raises :class:`ConfigError`
        (one line) when the policy cannot run there (slots, missing item features).

        Slate policies get the world's ``len_list``, context-free ones ``context_dim=1``, and what
        the policy ``needs`` comes from what the world provides unless given in ``static``.
        """
        decl = self.declaration()
        traits, needs = decl.effective(self.static)
        who = f"policy {self.label!r} ({self.name})"
        if not decl.supports_len_list(world.len_list, self.static):
            if "slate" in traits:
                raise ConfigError(f"{who} fills a slate of len_list >= 2 slots; env {world.name!r} has "
                                  f"len_list={world.len_list} (choose a world with env.len_list > 1, e.g. "
                                  f"env=simulator env.len_list=3)")
            slate = sorted(n for n, d in _registry().items() if d.supports_len_list(world.len_list))
            raise ConfigError(f"{who} fills one slot per round; env {world.name!r} has len_list={world.len_list} "
                              f"(choose a slate policy, one of {slate}, or env.len_list=1)")
        static = {}
        if "slate" in traits:
            given = self.static.get("len_list", world.len_list)
            if given != world.len_list:
                raise ConfigError(f"{who}.static.len_list: expected the env's len_list={world.len_list}, got {given!r}")
            static["len_list"] = world.len_list
        for need in needs:
            if need in self.static:
                continue
            if need not in world.provides:
                raise ConfigError(f"{who} needs {need}, which env {world.name!r} does not provide (give them in "
                                  f"policy.static.{need}, or use a world that has them, e.g. env=simulator)")
            static[need] = world.provides[need]
        static.update(self.static)
        return static, (1 if "context_free" in traits else int(world.context_dim))

    def build(self, world: World, **static_overrides: Any):
        """The :class:`bandits.contracts.Policy` for ``world`` (see :meth:`check`).

        ``static_overrides`` replace constructor options the constructor names (others are dropped).
        Raises :class:`ConfigError` naming the candidate for options the constructor rejects.
        """
        from bandits.policies import make

        static, context_dim = self.check(world)
        decl = self.declaration()
        static.update({k: v for k, v in static_overrides.items() if decl.takes(k)})
        ck = (self.name, int(world.num_actions), int(context_dim), _static_key(static))
        def _make():
            try:
                return make(self.name, num_actions=int(world.num_actions), context_dim=context_dim, **static)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"policy {self.label!r} ({self.name}).static: {e}") from e

        return _POLICY_CACHE.get(_make, key=ck)

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


def _registry():
    from bandits.policies import REGISTRY

    return REGISTRY


def traits_of(name: str, static: dict[str, Any] | None = None) -> frozenset[str]:
    """The traits of the registered policy ``name`` as built with ``static`` (a wrapper adds its base's)."""
    return _registry()[name].effective(static)[0]


def policy_spec(
    name: str,
    label: str | None = None,
    static: dict[str, Any] | None = None,
    grid: dict[str, list[float]] | None = None,
    hparams: dict[str, float] | None = None,
    **fields: Any,
) -> PolicySpec:
    """Build a :class:`PolicySpec` from a ``policy`` config node (hyperparameters as extra fields).

    Fields left at None keep the constructor's default. Configuration aliases of the policy's
    declaration apply (``alpha`` sets ``lints``' ``v``); the values are checked by
    :meth:`PolicySpec.validate`, once every candidate is known.
    """
    label = str(label or name)
    decl = _registry().get(name)
    alias = dict(decl.aliases) if decl is not None else {}
    hp: dict[str, Any] = {}
    keys: dict[str, str] = {}
    items = [(f"hparams.{k}", k, v) for k, v in (hparams or {}).items()] + [(k, k, v) for k, v in fields.items()]
    for key, k, v in items:
        if v is None:
            continue
        h = alias.get(k, k)
        if h in keys:
            raise ConfigError(f"policy {label!r}: {keys[h]!r} and {key!r} set the same hyperparameter {h!r}")
        keys[h] = key
        hp[h] = float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    g = {}
    for k, values in (grid or {}).items():
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ConfigError(f"policy {label!r}.grid.{k}: expected a non-empty list of numbers, got {values!r}")
        g[alias.get(k, k)] = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
    return PolicySpec(label=label, name=str(name), static=dict(static or {}), hparams=hp, grid=g, keys=keys)


def policy_set(candidates: dict[str, Any]) -> list[PolicySpec]:
    """The candidates of a ``policy=bakeoff`` node, labelled by their keys (sorted by label)."""
    out = []
    for key, spec in candidates.items():
        if spec is None:  # ``~policy.candidates.x`` or ``policy.candidates.x=null`` drops one
            continue
        if isinstance(spec, dict) and "name" in spec:  # a plain ``{name: ..., static: ...}`` node
            spec = policy_spec(**{k: v for k, v in spec.items() if k != "_target_"})
        if not isinstance(spec, PolicySpec):
            raise ConfigError(f"policy.candidates.{key}: expected a policy node, got {spec!r}")
        out.append(PolicySpec(label=key, name=spec.name, static=spec.static, hparams=spec.hparams, grid=spec.grid,
                              keys=spec.keys))
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
            for k in ("context_cols", "action_col", "reward_col", "pscore_col", "position_col", "timestamp_col",
                      "n_actions")
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
