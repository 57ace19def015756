"""Supervised-to-bandit worlds: a labelled dataset becomes a contextual bandit with exact regret.

The classic reduction (Dudik, Langford & Li 2011; obp's ``MultiClassToBanditReduction``; coba's
classification environments; the real-data problems of Riquelme, Tucker & Snoek 2018): every
round draws one labelled example ``(x_i, y_i)`` uniformly at random (with replacement) from the
dataset, the policy sees the example's standardised features as the context, the arms are the
classes, and playing class ``a`` earns

    r ~ Bernoulli(noise + (1 - 2 noise) 1[a = y_i]),     E[r | i, a] = noise + (1 - 2 noise) 1[a = y_i],

so ``noise = 0`` (the default) is the deterministic reward ``1[a = y_i]`` and ``noise > 0`` flips
it with probability ``noise`` (``0 <= noise < 0.5``, a traced knob in the params). The expected
rewards of every arm are known exactly, so the regret ``(1 - noise) - E[r | i, a]`` is exact, and
the value of any stationary policy ``pi(a | x)`` is the finite sum :func:`policy_value` (the
ground truth for off-policy evaluation on real outcomes).

Datasets: ``supervised_env(name)`` for the datasets bundled with scikit-learn (:data:`DATASETS`:
``digits``, ``wine``, ``breast_cancer``, ``iris``; ``covtype`` only if it is already in the
scikit-learn data cache, never downloaded), or :func:`supervised_env_from_arrays` for any
``(features, labels)``. Features are standardised over the whole dataset (mean 0, standard
deviation 1 per column; constant columns become 0); ``intercept=True`` appends a constant-1
column (so linear policies without a bias term can still learn class frequencies).

Common random numbers. Each round draws one uniform (the reward's Bernoulli draw, shared by all
arms: with ``noise = 0`` it is irrelevant, otherwise a correct arm's reward dominates a wrong
arm's) and the next example's index, from the round key alone: two policies run on the same key
stream see the same examples. The environment splits its step (``draw`` / ``step_drawn``); masks
are all-True.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.contracts import Env, EnvStep, Observation

Array = jax.Array


def _sklearn_loader(fn_name: str, cached_only: bool = False) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load():
        import sklearn.datasets as skd

        fn = getattr(skd, fn_name)
        if cached_only:
            try:
                bunch = fn(download_if_missing=False)
            except OSError as e:
                raise ValueError(
                    f"name: {fn_name.removeprefix('fetch_')!r} is used only when already in the scikit-learn data "
                    f"cache (no download); it is not cached here ({e}). Run sklearn.datasets.{fn_name}() once "
                    "with network access, or pick a bundled dataset"
                ) from e
        else:
            bunch = fn()
        return np.asarray(bunch.data, np.float64), np.asarray(bunch.target)

    return load


DATASETS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "digits": _sklearn_loader("load_digits"),
    "wine": _sklearn_loader("load_wine"),
    "breast_cancer": _sklearn_loader("load_breast_cancer"),
    "iris": _sklearn_loader("load_iris"),
    "covtype": _sklearn_loader("fetch_covtype", cached_only=True),
}
"""Dataset name -> loader returning ``(features (n, p) float64, labels (n,))`` from scikit-learn."""


class SupervisedParams(NamedTuple):
    """contexts: ``(n, d)`` standardised features (env dtype). labels: ``(n,)`` int32 in ``0..K-1``.
    noise: ``()`` env dtype, the reward flip probability in ``[0, 0.5)``."""

    contexts: Array
    labels: Array
    noise: Array


class SupervisedState(NamedTuple):
    """index: ``()`` int32, the example of the round about to be played. t: ``()`` int32, rounds played."""

    index: Array
    t: Array


class SupervisedDraws(NamedTuple):
    """Exogenous draws of one round: ``u ()`` the reward uniform, ``next_index ()`` int32."""

    u: Array
    next_index: Array


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw ``(features (n, p) float64, labels (n,))`` of a dataset in :data:`DATASETS`."""
    if name not in DATASETS:
        raise ValueError(f"name: expected one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name]()


def standardize(features) -> np.ndarray:
    """Column-wise ``(x - mean) / sd`` in float64; constant columns (sd 0) become 0. ``(n, p) -> (n, p)``."""
    x = np.asarray(features, np.float64)
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _check_noise(noise) -> float:
    v = float(noise)
    if not (np.isfinite(v) and 0.0 <= v < 0.5):
        raise ValueError(f"noise: expected a reward flip probability in [0, 0.5), got {noise!r}")
    return v


def _encode_labels(labels) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels: expected a non-empty 1-d array, got shape {y.shape}")
    classes, codes = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"labels: expected at least 2 classes (arms), got {classes.size}")
    return classes, codes.astype(np.int32)


def supervised_params(features, labels, *, noise: float = 0.0, intercept: bool = False, standardized: bool = True,
                      dtype=jnp.float32) -> SupervisedParams:
    """Params from ``features (n, p)`` and ``labels (n,)`` (any hashable values; classes sorted -> arms 0..K-1).

    standardized: standardise the columns (:func:`standardize`); intercept: append a 1 column.
    """
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"features: expected a non-empty (n, p) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features: expected finite values, got NaN or inf")
    _, codes = _encode_labels(labels)
    if codes.shape[0] != x.shape[0]:
        raise ValueError(f"labels: expected {x.shape[0]} labels (one per row of features), got {codes.shape[0]}")
    if standardized:
        x = standardize(x)
    if intercept:
        x = np.column_stack([x, np.ones(x.shape[0])])
    return SupervisedParams(jnp.asarray(x, dtype), jnp.asarray(codes), jnp.asarray(_check_noise(noise), dtype))


def _expected(params: SupervisedParams, label: Array, num_actions: int) -> Array:
    noise = params.noise
    hit = (jnp.arange(num_actions, dtype=jnp.int32) == label).astype(noise.dtype)
    return noise + (1 - 2 * noise) * hit


def supervised_env_from_arrays(features, labels, *, name: str = "supervised", noise: float = 0.0,
                               intercept: bool = False, standardized: bool = True, dtype=jnp.float32) -> Env:
    """A bandit world from a labelled dataset (see the module docstring).

    features: ``(n, p)`` real. labels: ``(n,)``; the K distinct values, sorted, are the arms.
    Returns an :class:`~bandits.contracts.Env` with ``num_actions = K``, ``context_dim = p (+1)``,
    ``default_params`` a :class:`SupervisedParams`, and ``draw`` / ``step_drawn``.
    """
    params = supervised_params(features, labels, noise=noise, intercept=intercept, standardized=standardized,
                               dtype=dtype)
    n, d = params.contexts.shape
    K = int(np.max(np.asarray(params.labels))) + 1
    mask = jnp.ones((K,), bool)

    def reset(key, params):
        i = jax.random.randint(key, (), 0, n, jnp.int32)
        return Observation(params.contexts[i], mask), SupervisedState(i, jnp.zeros((), jnp.int32))

    def draw(key, params):
        k_u, k_i = jax.random.split(key)
        return SupervisedDraws(jax.random.uniform(k_u, (), params.noise.dtype),
                               jax.random.randint(k_i, (), 0, n, jnp.int32))

    def step_drawn(draws, state, action, params):
        mu = _expected(params, params.labels[state.index], K)
        a = jnp.asarray(action, jnp.int32)
        j = draws.next_index
        return EnvStep(
            obs=Observation(params.contexts[j], mask),
            state=SupervisedState(j, state.t + 1),
            reward=(draws.u < mu[a]).astype(mu.dtype),
            expected_reward=mu[a],
            best_expected_reward=jnp.max(mu),
            expected_rewards=mu,
            info={"label": params.labels[state.index]},
        )

    def step(key, state, action, params):
        return step_drawn(draw(key, params), state, action, params)

    return Env(name, K, d, params, reset, step, draw=draw, step_drawn=step_drawn)


def supervised_env(name: str, *, noise: float = 0.0, intercept: bool = False, max_rows: int | None = None,
                   seed: int = 0, dtype=jnp.float32) -> Env:
    """A bandit world from a scikit-learn dataset in :data:`DATASETS` (``Env.name = "supervised/<name>"``).

    noise: reward flip probability in ``[0, 0.5)``. intercept: append a constant-1 context column.
    max_rows: keep a uniformly random subset of this many rows (drawn with ``seed``; None keeps
    all), e.g. to bound the params of ``covtype`` (581,012 rows). Standardisation uses the kept rows.
    """
    x, y = load_dataset(name)
    if max_rows is not None:
        if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 2:
            raise ValueError(f"max_rows: expected an integer >= 2 or None, got {max_rows!r}")
        if max_rows < x.shape[0]:
            keep = np.sort(np.random.default_rng(seed).choice(x.shape[0], int(max_rows), replace=False))
            x, y = x[keep], y[keep]
    return supervised_env_from_arrays(x, y, name=f"supervised/{name}", noise=noise, intercept=intercept, dtype=dtype)


def expected_reward_table(params: SupervisedParams) -> np.ndarray:
    """``(n, K)`` float64: ``E[r | example i, arm a] = noise + (1 - 2 noise) 1[a = y_i]``."""
    labels = np.asarray(params.labels)
    K = int(labels.max()) + 1
    noise = float(params.noise)
    return noise + (1 - 2 * noise) * (np.arange(K)[None, :] == labels[:, None])


def policy_value(params: SupervisedParams, action_dist) -> float:
    """Exact expected reward per round of a stationary policy: ``(1/n) sum_i sum_a pi(a | x_i) E[r | i, a]``.

    action_dist: ``(n, K)`` (or obp's ``(n, K, 1)``) probabilities of each arm at each example's
    context, rows summing to 1. Every round draws an example uniformly, so this is the policy's
    value in the world (the ground truth for off-policy evaluation).
    """
    q = expected_reward_table(params)
    p = np.asarray(action_dist, np.float64)
    if p.ndim == 3 and p.shape[2] == 1:
        p = p[..., 0]
    if p.shape != q.shape:
        raise ValueError(f"action_dist: expected shape {q.shape} (examples, arms), got {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("action_dist: expected non-negative rows summing to 1")
    return float(np.mean(np.sum(p * q, axis=1)))


__all__ = [
    "DATASETS", "SupervisedParams", "SupervisedState", "SupervisedDraws", "load_dataset", "standardize",
    "supervised_params", "supervised_env_from_arrays", "supervised_env", "expected_reward_table", "policy_value",
]
