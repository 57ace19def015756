"""Policies you can ship: a portable on-disk format and a numpy-only ``select`` for serving.

A trained policy leaves the process as a directory with two files:

``manifest.json``
    ``format`` (``"screentest-policy"``) and ``format_version`` (1); ``policy`` (the registry
    name), ``num_actions``, ``context_dim``, ``len_list``, ``dtype``; ``static`` (the constructor
    options as JSON, array-valued ones listed in ``static_arrays``); ``hparams`` (name -> float);
    ``state`` (``type``, the leaf names in order, and each leaf's ``shape`` and ``dtype``);
    ``versions`` (screentest, jax, numpy that wrote it); ``servable`` (whether
    :class:`NumpyPolicy` serves it); ``metadata`` (free JSON from the caller, e.g. how it was
    trained).
``arrays.npz``
    the state leaves as ``state/<leaf name>`` and the array-valued constructor options as
    ``static/<option>``, written and read with ``allow_pickle=False``.

No pickle anywhere: the files are readable by any numpy and any JSON parser. :func:`save_policy`
writes one (it reads the policy's declaration, so it needs JAX); :func:`load_policy` reads it with
numpy only. :meth:`SavedPolicy.to_jax` rebuilds the JAX policy and its state (every registered
policy); :meth:`SavedPolicy.server` returns a :class:`NumpyPolicy` for the families listed in
:data:`SERVABLE`, whose ``select`` reproduces the JAX policy's decision and probabilities given the
same random inputs:

==================  =====================================================  =======================
policy              probabilities                                          random inputs
==================  =====================================================  =======================
``random``          uniform over available actions                         ``u``
``epsilon_greedy``  ``(1 - eps) tie_split(means) + eps uniform``           ``u``
``lin_epsilon_      the same on ridge predictions ``x . theta_a``          ``u``
greedy``
``ucb1``            ``tie_split(mean + alpha sqrt(2 ln t / n))``           ``u``
``linucb``          ``tie_split(x . theta_a + alpha sqrt(x' P_a x))``      ``u``
``lints``           Monte Carlo over ``num_samples`` posterior draws       ``normals (M, K)``, ``u``
``bernoulli_ts``    Monte Carlo over ``num_samples`` Beta draws            ``draws (M, K)``, ``u``
``bts``             Monte Carlo slot frequencies over ``n_mc`` Beta draws  ``draws (n_mc, K)``
==================  =====================================================  =======================

``u`` is the uniform in [0, 1) that picks the action from the probabilities (inverse CDF, as
:func:`bandits.core.sample_from_probs`); ``normals`` are standard normals, row 0 the draw that
decides the action (JAX: ``normal(fold_in(key, 0), (1, K))`` then ``normal(fold_in(key, 1),
(M - 1, K))``); ``draws`` are posterior Beta draws in the same order, or any increasing transform
of them (only their ranking counts; JAX ranks their logits, ``bandits.policies._sampling.
beta_logit_sample``; for ``bts`` draw 0 decides the shown slate). Without given inputs the
server draws them from a ``numpy.random.Generator``: the same distribution as JAX, other numbers.
The server computes in float64 from the stored (float32) state, so probabilities agree with
JAX's to float32 rounding and decisions agree except on exact float32 ties (tested on every
family above). Every other registered policy (hybrid LinUCB, logistic TS, the non-stationary and
slate variants, SquareCB, wrappers) is refused by :meth:`SavedPolicy.server` with one line:
serve it through :meth:`SavedPolicy.to_jax`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SERVABLE",
    "NumpyDecision",
    "NumpyPolicy",
    "SavedPolicy",
    "load_policy",
    "save_policy",
]

FORMAT = "screentest-policy"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"

#: registry names of the policies :class:`NumpyPolicy` serves
SERVABLE = ("bernoulli_ts", "bts", "epsilon_greedy", "lin_epsilon_greedy", "lints", "linucb", "random", "ucb1")

# constructor arguments that are not options (given separately or recorded as `dtype`)
_NOT_STATIC = ("num_actions", "context_dim", "dtype")


def _version(pkg: str) -> str | None:
    try:
        return _metadata.version(pkg)
    except _metadata.PackageNotFoundError:
        return None


def _json_value(name: str, v: Any) -> Any:
    """``v`` as a JSON value, or raise naming the option."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"static[{name!r}]: expected a finite number, got {f!r}")
        return f
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, float, str, bool)) or x is None for x in v):
        return [_json_value(name, x) for x in v]
    raise ValueError(f"static[{name!r}]: expected a JSON value (number, string, list) or an array, "
                     f"got {type(v).__name__}")


def _leaf_name(path: tuple) -> str:
    parts = []
    for k in path:
        for attr in ("name", "key", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts) or "value"


def _state_leaves(state: Any) -> tuple[list[str], list[np.ndarray], Any]:
    import jax

    flat, treedef = jax.tree_util.tree_flatten_with_path(state)
    names, arrays = [], []
    for path, leaf in flat:
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            raise ValueError(f"state: leaf {_leaf_name(path)!r} is a PRNG key array, which the portable "
                             "format does not store (store jax.random.key_data(...) instead)")
        names.append(_leaf_name(path))
        arrays.append(np.asarray(leaf))
    if len(set(names)) != len(names):
        raise ValueError(f"state: leaf names are not unique: {names}")
    return names, arrays, treedef


def save_policy(path: str | Path, policy: Any, state: Any, hparams: Any = None, *,
                static: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write a trained policy to the directory ``path`` (created; existing files are replaced).

    policy: the :class:`bandits.contracts.Policy` (a registered policy, ``policy.name`` in
        :data:`bandits.policies.REGISTRY`). state: its state pytree. hparams: its hyperparameter
        NamedTuple (default ``policy.default_hparams``), stored as floats.
    static: the constructor options it was built with besides ``num_actions``, ``context_dim``,
        ``dtype`` (e.g. ``{"num_samples": 200}``, ``{"len_list": 3, "campaign": "all"}``); options not
        given are recorded at the constructor's defaults, so loading rebuilds the same policy.
        Array options (item features, per-arm priors) go to ``arrays.npz``.
    metadata: JSON-serialisable notes kept in the manifest (e.g. the training data and split).

    Returns the directory. Raises ``ValueError`` naming the argument for an unregistered policy,
    a state that does not match ``policy.init``'s structure, or options that are not JSON/arrays.
    """
    import inspect

    import jax

    from bandits.contracts import Policy
    from bandits.policies import REGISTRY

    if not isinstance(policy, Policy):
        raise TypeError(f"policy: expected a bandits.contracts.Policy, got {type(policy).__name__}")
    if policy.name not in REGISTRY:
        raise ValueError(f"policy: {policy.name!r} is not a registered policy; registered: {sorted(REGISTRY)}")
    decl = REGISTRY[policy.name]
    hp = policy.default_hparams if hparams is None else hparams
    if type(hp) is not type(policy.default_hparams):
        raise TypeError(f"hparams: expected {type(policy.default_hparams).__name__}, got {type(hp).__name__}")
    hp_json = {}
    for k, v in hp._asdict().items():
        a = np.asarray(v, np.float64)
        if a.shape != ():
            raise ValueError(f"hparams.{k}: expected a scalar, got shape {a.shape} (save one grid point at a time)")
        hp_json[k] = float(a)

    names, arrays, _ = _state_leaves(state)
    ref_names, ref_arrays, _ = _state_leaves(policy.init(jax.random.key(0), hp))
    if names != ref_names or any(a.shape != r.shape for a, r in zip(arrays, ref_arrays, strict=True)):
        raise ValueError(
            f"state: expected the structure of {policy.name!r}'s init state "
            f"{[(n, r.shape) for n, r in zip(ref_names, ref_arrays, strict=True)]}, got "
            f"{[(n, a.shape) for n, a in zip(names, arrays, strict=True)]}")
    dtype = next((str(a.dtype) for a in arrays if np.issubdtype(a.dtype, np.floating)), "float32")

    opts: dict[str, Any] = {}
    params = inspect.signature(decl.build).parameters
    given = dict(static or {})
    unknown = sorted(set(given) - set(params))
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        raise ValueError(f"static: {unknown} are not options of {policy.name!r}; expected some of "
                         f"{sorted(p for p in params if p not in _NOT_STATIC)}")
    for name, p in params.items():
        if name in _NOT_STATIC or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if name in given:
            opts[name] = given.pop(name)
        elif p.default is not inspect.Parameter.empty:
            opts[name] = p.default
    opts.update(given)  # a wrapper's options for its base
    if "len_list" in opts and opts["len_list"] is not None and int(opts["len_list"]) != policy.len_list:
        raise ValueError(f"static['len_list']: {opts['len_list']!r} differs from the policy's len_list={policy.len_list}")

    static_json, static_arrays = {}, {}
    for k, v in opts.items():
        if isinstance(v, np.ndarray) or hasattr(v, "__array__") and not isinstance(v, (list, tuple)):
            static_arrays[k] = np.asarray(v)
        else:
            static_json[k] = _json_value(k, v)
    try:
        meta = json.loads(json.dumps(dict(metadata or {})))
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata: expected JSON-serialisable values ({e})") from None

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "policy": policy.name,
        "num_actions": int(policy.num_actions),
        "context_dim": int(policy.context_dim),
        "len_list": int(policy.len_list),
        "dtype": dtype,
        "static": static_json,
        "static_arrays": sorted(static_arrays),
        "hparams": hp_json,
        "state": {"type": type(state).__name__, "leaves": names,
                  "shapes": {n: list(a.shape) for n, a in zip(names, arrays, strict=True)},
                  "dtypes": {n: str(a.dtype) for n, a in zip(names, arrays, strict=True)}},
        "versions": {"screentest": _version("screentest"), "jax": jax.__version__, "numpy": np.__version__},
        "servable": policy.name in SERVABLE,
        "metadata": meta,
    }
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    payload = {f"state/{n}": a for n, a in zip(names, arrays, strict=True)}
    payload.update({f"static/{k}": a for k, a in static_arrays.items()})
    with open(out / ARRAYS, "wb") as f:
        np.savez(f, **payload)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out


class SavedPolicy(NamedTuple):
    """A policy read by :func:`load_policy` (numpy arrays only).

    name: registry name. num_actions, context_dim, len_list: its sizes. dtype: its float dtype.
    static: constructor options (array options restored as numpy arrays). hparams: name -> float.
    state: leaf name -> numpy array (e.g. ``{"cov_tri": (K, d(d+1)/2), "theta": (K, d), "counts": (K,)}``).
    manifest: the whole manifest (versions, metadata, ...).
    """

    name: str
    num_actions: int
    context_dim: int
    len_list: int
    dtype: str
    static: dict[str, Any]
    hparams: dict[str, float]
    state: dict[str, np.ndarray]
    manifest: dict[str, Any]

    def to_jax(self):
        """``(policy, state, hparams)``: the JAX policy rebuilt from the registry, its state pytree
        (structure checked against ``policy.init``) and its hyperparameter NamedTuple."""
        import jax
        import jax.numpy as jnp

        from bandits.policies import make

        policy = make(self.name, num_actions=self.num_actions, context_dim=self.context_dim,
                      dtype=jnp.dtype(self.dtype), **self.static)
        unknown = sorted(set(self.hparams) - set(policy.default_hparams._fields))
        if unknown:
            raise ValueError(f"{MANIFEST}: hparams {unknown} are not hyperparameters of {self.name!r}")
        hp = policy.default_hparams._replace(**self.hparams)
        names, ref, treedef = _state_leaves(policy.init(jax.random.key(0), hp))
        if names != self.manifest["state"]["leaves"]:
            raise ValueError(f"{MANIFEST}: state leaves {self.manifest['state']['leaves']} do not match "
                             f"{self.name!r}'s state {names} in this version of screentest")
        leaves = []
        for n, r in zip(names, ref, strict=True):
            a = self.state[n]
            if a.shape != r.shape:
                raise ValueError(f"{ARRAYS}: state/{n} has shape {a.shape}, {self.name!r} expects {r.shape}")
            leaves.append(jnp.asarray(a, dtype=r.dtype))
        return policy, jax.tree_util.tree_unflatten(treedef, leaves), hp

    def server(self) -> NumpyPolicy:
        """A :class:`NumpyPolicy` serving this policy with numpy only; ``ValueError`` (one line) for
        a policy outside :data:`SERVABLE`."""
        return NumpyPolicy(self)


def load_policy(path: str | Path) -> SavedPolicy:
    """Read a directory written by :func:`save_policy` (numpy and JSON only, no pickle).

    Raises ``FileNotFoundError``/``ValueError`` naming the file and what is wrong (missing file,
    another format, a newer format version, arrays missing or of another shape than the manifest).
    """
    root = Path(path)
    mpath, apath = root / MANIFEST, root / ARRAYS
    for p in (mpath, apath):
        if not p.is_file():
            raise FileNotFoundError(f"path: expected a saved policy directory with {MANIFEST} and {ARRAYS}, "
                                    f"got {str(root)!r} ({p.name} missing)")
    try:
        man = json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{mpath}: not valid JSON ({e})") from None
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        raise ValueError(f"{mpath}: expected format {FORMAT!r}, got {man.get('format') if isinstance(man, dict) else man!r}")
    if int(man.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{mpath}: format_version {man['format_version']} is newer than this screentest "
                         f"reads ({FORMAT_VERSION}); upgrade screentest")
    with np.load(apath, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    state = {}
    for n in man["state"]["leaves"]:
        key = f"state/{n}"
        if key not in arrays:
            raise ValueError(f"{apath}: {key} missing (listed in {MANIFEST})")
        if list(arrays[key].shape) != list(man["state"]["shapes"][n]):
            raise ValueError(f"{apath}: {key} has shape {arrays[key].shape}, {MANIFEST} says {man['state']['shapes'][n]}")
        state[n] = arrays[key]
    static = dict(man.get("static", {}))
    for k in man.get("static_arrays", []):
        if f"static/{k}" not in arrays:
            raise ValueError(f"{apath}: static/{k} missing (listed in {MANIFEST})")
        static[k] = arrays[f"static/{k}"]
    return SavedPolicy(name=man["policy"], num_actions=int(man["num_actions"]), context_dim=int(man["context_dim"]),
                       len_list=int(man["len_list"]), dtype=str(man["dtype"]), static=static,
                       hparams={k: float(v) for k, v in man["hparams"].items()}, state=state, manifest=man)


# ----------------------------------------------------------------------------- numpy serving


class NumpyDecision(NamedTuple):
    """What :meth:`NumpyPolicy.select` returns: ``action`` (int, or ``(L,)`` int64 for a slate) and
    ``probs`` ``(K,)`` float64 (``(K, L)`` for a slate: column ``l`` is slot ``l``'s distribution)."""

    action: Any
    probs: np.ndarray


def tie_split(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Uniform over the maximisers of ``scores (..., K)`` among ``mask``; 0 elsewhere (float64)."""
    s = np.where(mask, scores, -np.inf)
    best = s.max(axis=-1, keepdims=True)
    is_best = mask & (s >= best)
    return is_best / np.maximum(is_best.sum(axis=-1, keepdims=True), 1)


def sample_from_probs(probs: np.ndarray, u: float) -> int:
    """The action the inverse CDF of ``probs (K,)`` gives for the uniform ``u`` in [0, 1) (the rule
    of :func:`bandits.core.sample_from_probs`, never an action with probability 0)."""
    cdf = np.cumsum(probs)
    idx = int(np.sum(cdf <= u * cdf[-1]))
    last = probs.shape[0] - 1 - int(np.argmax((probs > 0)[::-1]))
    return min(idx, last)


class NumpyPolicy:
    """Serve a saved policy with numpy only (see the module docstring for the families and their
    random inputs).

    ``select(context, mask=None, *, rng=None, noise=None) -> NumpyDecision``: one decision.
    ``probs(context, mask=None, *, noise=None)``: its probabilities only.
    ``draw_noise(rng)``: the random inputs of one decision as a dict (``u``, ``normals``, ``draws``).
    """

    def __init__(self, saved: SavedPolicy):
        if saved.name not in SERVABLE:
            raise ValueError(f"policy {saved.name!r}: numpy serving supports {list(SERVABLE)}; serve "
                             f"{saved.name!r} with JAX through load_policy(path).to_jax()")
        self.saved = saved
        self.name = saved.name
        self.num_actions = K = saved.num_actions
        self.context_dim = saved.context_dim
        self.len_list = saved.len_list
        self.hparams = dict(saved.hparams)
        s = {k: np.asarray(v, np.float64) for k, v in saved.state.items()}
        self._s = s
        if self.name in ("linucb", "lints", "lin_epsilon_greedy"):
            d = self.context_dim
            rows, cols = np.triu_indices(d)
            P = np.zeros((K, d, d))
            P[:, rows, cols] = s["cov_tri"]
            P[:, cols, rows] = s["cov_tri"]
            self._P = P
            self._theta = s["theta"]
        self._M = int(saved.static.get("num_samples", 1) or 1)
        self._n_mc = int(saved.static.get("n_mc", 1) or 1)

    # -- inputs
    def _context(self, context: Any) -> np.ndarray:
        x = np.asarray(context, np.float64)
        if self.name in ("linucb", "lints", "lin_epsilon_greedy") and x.shape != (self.context_dim,):
            raise ValueError(f"context: policy {self.name!r} expects shape ({self.context_dim},), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("context: expected finite values")
        return x

    def _mask(self, mask: Any) -> np.ndarray:
        K = self.num_actions
        if mask is None:
            return np.ones(K, bool)
        m = np.asarray(mask)
        if m.dtype != bool or m.shape != (K,):
            raise ValueError(f"mask: expected a bool array of shape ({K},), got {m.dtype} {m.shape}")
        if m.sum() < max(1, self.len_list if self.name == "bts" else 1):
            raise ValueError(f"mask: expected at least {max(1, self.len_list)} available action(s), got {int(m.sum())}")
        return m

    def draw_noise(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        """The random inputs of one decision, drawn with ``rng`` (a Generator or a seed)."""
        g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        K = self.num_actions
        if self.name == "lints":
            return {"normals": g.standard_normal((self._M, K)), "u": float(g.random())}
        if self.name == "bernoulli_ts":
            return {"draws": g.beta(self._s["alpha"], self._s["beta"], (self._M, K)), "u": float(g.random())}
        if self.name == "bts":
            return {"draws": g.beta(self._s["alpha"], self._s["beta"], (self._n_mc, K))}
        return {"u": float(g.random())}

    def _noise_array(self, noise: Mapping[str, Any], key: str, rows: int) -> np.ndarray:
        if key not in noise:
            raise ValueError(f"noise: policy {self.name!r} needs noise[{key!r}] of shape ({rows}, {self.num_actions})")
        a = np.asarray(noise[key], np.float64)
        if a.shape != (rows, self.num_actions):
            raise ValueError(f"noise[{key!r}]: expected shape ({rows}, {self.num_actions}), got {a.shape}")
        return a

    # -- the decision
    def _probs(self, x: np.ndarray, m: np.ndarray, noise: Mapping[str, Any] | None) -> np.ndarray:
        K, hp, s = self.num_actions, self.hparams, self._s
        uniform = m / m.sum()
        if self.name == "random":
            return uniform
        if self.name == "epsilon_greedy":
            means = np.where(s["counts"] > 0, s["sums"] / np.maximum(s["counts"], 1), hp["initial_value"])
            return (1 - hp["epsilon"]) * tie_split(means, m) + hp["epsilon"] * uniform
        if self.name == "ucb1":
            n = s["counts"]
            t = n.sum()
            safe = np.maximum(n, 1)
            scores = s["sums"] / safe + hp["alpha"] * np.sqrt(2 * np.log(max(t, 1.0)) / safe)
            return tie_split(np.where(n > 0, scores, np.inf), m)
        if self.name == "lin_epsilon_greedy":
            return (1 - hp["epsilon"]) * tie_split(self._theta @ x, m) + hp["epsilon"] * uniform
        if self.name == "linucb":
            quad = np.maximum(np.einsum("i,kij,j->k", x, self._P, x), 0)
            return tie_split(self._theta @ x + hp["alpha"] * np.sqrt(quad), m)
        if noise is None:
            raise ValueError(f"noise: policy {self.name!r} draws random inputs; pass noise=... or use select(rng=...)")
        if self.name == "lints":
            z = self._noise_array(noise, "normals", self._M)
            quad = np.maximum(np.einsum("i,kij,j->k", x, self._P, x), 0)
            scores = self._theta @ x + hp["v"] * np.sqrt(quad) * z
            return tie_split(scores, m).mean(axis=0)
        if self.name == "bernoulli_ts":
            return tie_split(self._noise_array(noise, "draws", self._M), m).mean(axis=0)
        if self.name == "bts":
            draws = np.where(m, self._noise_array(noise, "draws", self._n_mc), -np.inf)
            top = _top_k(draws, self.len_list)  # (n_mc, L)
            probs = np.zeros((K, self.len_list))
            for slot in range(self.len_list):
                probs[:, slot] = np.bincount(top[:, slot], minlength=K) / draws.shape[0]
            probs = np.where(m[:, None], probs, 0)
            return probs[:, 0] if self.len_list == 1 else probs
        raise AssertionError(self.name)  # pragma: no cover - SERVABLE is checked in __init__

    def probs(self, context: Any, mask: Any = None, *, noise: Mapping[str, Any] | None = None) -> np.ndarray:
        """Action probabilities ``(K,)`` float64 (``(K, L)`` for a slate ``bts``) at ``context``."""
        return self._probs(self._context(context), self._mask(mask), noise)

    def select(self, context: Any, mask: Any = None, *, rng: np.random.Generator | int | None = None,
               noise: Mapping[str, Any] | None = None) -> NumpyDecision:
        """One decision at ``context (d,)`` (any shape for context-free policies) with ``mask (K,)``
        bool (default: every action). ``noise``: the decision's random inputs (see the module
        docstring); without it they are drawn from ``rng``."""
        x, m = self._context(context), self._mask(mask)
        if noise is None:
            noise = self.draw_noise(rng)
        probs = self._probs(x, m, noise)
        if self.name == "bts":
            draws = np.where(m, self._noise_array(noise, "draws", self._n_mc), -np.inf)
            top = _top_k(draws[:1], self.len_list)[0]
            return NumpyDecision(int(top[0]) if self.len_list == 1 else top.astype(np.int64), probs)
        if "u" not in noise:
            raise ValueError(f"noise: policy {self.name!r} needs noise['u'], a uniform in [0, 1)")
        u = float(noise["u"])
        if not 0.0 <= u < 1.0:
            raise ValueError(f"noise['u']: expected a number in [0, 1), got {u!r}")
        if self.name in ("lints", "bernoulli_ts"):
            first = self._first_draw_probs(x, m, noise)
            return NumpyDecision(sample_from_probs(first, u), probs)
        return NumpyDecision(sample_from_probs(probs, u), probs)

    def _first_draw_probs(self, x: np.ndarray, m: np.ndarray, noise: Mapping[str, Any]) -> np.ndarray:
        """Thompson sampling plays the argmax of draw 0 (ties split evenly, then picked by ``u``)."""
        if self.name == "lints":
            z = self._noise_array(noise, "normals", self._M)[0]
            quad = np.maximum(np.einsum("i,kij,j->k", x, self._P, x), 0)
            return tie_split(self._theta @ x + self.hparams["v"] * np.sqrt(quad) * z, m)
        return tie_split(self._noise_array(noise, "draws", self._M)[0], m)

    def action_dist(self, context: Any, mask: Any = None, *, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """obp's ``action_dist`` ``(n, K, L)`` float64 for contexts ``(n, d)`` (Monte Carlo families
        draw their inputs from ``rng``)."""
        X = np.asarray(context, np.float64)
        if X.ndim != 2:
            raise ValueError(f"context: expected shape (n, {self.context_dim}), got {X.shape}")
        g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        out = np.empty((X.shape[0], self.num_actions, self.len_list))
        for i, x in enumerate(X):
            noise = self.draw_noise(g) if self.name in ("lints", "bernoulli_ts", "bts") else None
            out[i] = np.asarray(self.probs(x, mask, noise=noise)).reshape(self.num_actions, self.len_list)
        return out


def _top_k(draws: np.ndarray, k: int) -> np.ndarray:
    """``(n, k)`` indices of the ``k`` largest entries of each row, largest first (lowest index
    first among equal values, as ``jax.lax.top_k``)."""
    order = np.argsort(-draws, axis=1, kind="stable")
    return order[:, :k]
