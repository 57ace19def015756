"""Synthetic bandit environments with exact expected rewards (the :class:`bandits.contracts.Env` protocol).

Three families, all with static shapes fixed at construction and numeric knobs in a params
pytree (so a sweep can ``vmap`` over worlds):

* :func:`linear_gaussian` - contextual, ``E[r | x, a] = theta_a . x + bias_a``, reward noise
  ``N(0, noise_sd^2)``.
* :func:`logistic_bernoulli` - contextual, ``P(r = 1 | x, a) = sigmoid(theta_a . x + bias_a)``.
* :func:`bernoulli_arms` - context-free K-armed Bernoulli, ``P(r = 1 | a) = p_a``; the context is
  the constant ``[1.0]`` of shape ``(1,)`` (so linear policies with ``context_dim=1`` reduce to
  per-arm means).

Contexts are drawn i.i.d. every round, independently of everything the policy does. Two
distributions (static option ``context_dist``):

* ``"sphere"`` (default): uniform on the unit sphere in R^d (a normalised standard normal), so
  ``|theta_a . x| <= |theta_a|``.
* ``"gaussian"``: ``N(0, I_d / d)`` (``E|x|^2 = 1``).

Common random numbers. Each ``step`` draws ONE block of ``K + d`` numbers from its round key:
the reward noise of *every* action (``K`` values, whether or not the action is played) and the
next round's context (``d`` values). Rewards are therefore a fixed function of (round key, action):
two policies run on the same env key stream see the same contexts, and if they pick the same
action they get the same reward (potential outcomes). Bernoulli rewards are ``1[u_a < p_a]`` with a
per-action uniform ``u_a``, so a better arm's reward dominates a worse arm's in each round.

Parameters. Each family has a params NamedTuple; build it from given arrays with
``*_params(...)`` (validated, cast to the env dtype) or draw a random world from a key with
``sample_*_params(key, ...)`` (pure, jit/vmap-able). ``env.default_params`` is a fixed world drawn
from ``seed`` at construction.

The masks of these environments are all-True (every action available every round).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.contracts import Env, EnvStep, Observation
from envs.registry import register_env

Array = jax.Array

CONTEXT_DISTS = ("sphere", "gaussian")


class LinearGaussianParams(NamedTuple):
    """theta: ``(K, d)``; bias: ``(K,)``; noise_sd: ``()`` (all in the env dtype)."""

    theta: Array
    bias: Array
    noise_sd: Array


class LogisticBernoulliParams(NamedTuple):
    """theta: ``(K, d)``; bias: ``(K,)`` (logits are ``theta @ x + bias``)."""

    theta: Array
    bias: Array


class BernoulliArmsParams(NamedTuple):
    """probs: ``(K,)`` success probability of each arm, in [0, 1]."""

    probs: Array


class ContextState(NamedTuple):
    """Environment state: the context of the round about to be played and its index.

    context: ``(d,)`` env dtype. t: ``()`` int32, rounds already played.
    """

    context: Array
    t: Array


# --------------------------------------------------------------------------- validation helpers


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def _check_dtype(dtype):
    dt = jnp.dtype(dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"dtype: expected a floating dtype (float32 or float64), got {dt}")
    if dt == jnp.float64 and not jax.config.jax_enable_x64:  # reflects jax.enable_x64(...) contexts
        raise ValueError("dtype: float64 requested but jax_enable_x64 is off; "
                         "run jax.config.update('jax_enable_x64', True) first")
    return dt


def _check_context_dist(context_dist: str) -> str:
    if context_dist not in CONTEXT_DISTS:
        raise ValueError(f"context_dist: expected one of {CONTEXT_DISTS}, got {context_dist!r}")
    return context_dist


def _as_array(name: str, value, shape: tuple[int, ...], dtype) -> Array:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, got non-finite entries")
    return jnp.asarray(arr, dtype=dtype)


# --------------------------------------------------------------------------- shared pieces


def _uniform_block(key, n: int, dtype) -> Array:
    """``(n,)`` uniforms in the open interval (-1, 1) from one PRNG call."""
    lo = jnp.nextafter(jnp.asarray(-1.0, dtype), jnp.asarray(0.0, dtype))
    return jax.random.uniform(key, (n,), dtype, minval=lo, maxval=1.0)


def _normal_from_sym_uniform(v: Array) -> Array:
    """Map uniforms on (-1, 1) to standard normals by the inverse normal CDF, ``ndtri((v + 1) / 2)``.

    Exact in distribution like ``jax.random.normal`` 's ``sqrt(2) erfinv(v)``, but XLA:CPU's
    ``ndtri`` expansion is several times cheaper than its ``erf_inv`` (measured: the linear env's
    step went from ~620-770 to ~360 ns per member-round, 1,000 members, one core).
    """
    return jax.scipy.special.ndtri((v + 1) * jnp.asarray(0.5, v.dtype))


def _sum_squares(z: Array) -> Array:
    """``sum(z ** 2)`` over the last axis added left to right, one element at a time.

    Elementwise operations only, so the value does not depend on how XLA vectorises the
    computation (a reduction's order does): contexts are bit-identical whether drawn one round at a
    time or a block of rounds at once (:func:`bandits.engine.rollout.scan_rounds`). Measured: with
    ``jnp.sum`` contexts of dimension 64, 128 and 300 differed between one draw and vmapped blocks of
    2-32 draws (dimensions 3-37 did not); with this sum all agreed.
    """
    acc = z[..., 0] * z[..., 0]
    for i in range(1, z.shape[-1]):
        acc = acc + z[..., i] * z[..., i]
    return acc[..., None]


def _context_from_normal(z: Array, context_dist: str) -> Array:
    d = z.shape[-1]
    if context_dist == "sphere":
        nrm = jnp.sqrt(_sum_squares(z))
        return z / jnp.maximum(nrm, jnp.finfo(z.dtype).tiny)
    return z / jnp.asarray(math.sqrt(d), z.dtype)


def sample_context(key, context_dim: int, context_dist: str = "sphere", dtype=jnp.float32) -> Array:
    """One context ``(context_dim,)`` from ``context_dist`` (see the module docstring)."""
    z = _normal_from_sym_uniform(_uniform_block(key, context_dim, dtype))
    return _context_from_normal(z, context_dist)


class ContextDraws(NamedTuple):
    """Exogenous draws of one round of a contextual family (``Env.draw``).

    noise: ``(K,)`` every action's reward noise, already mapped by the family's ``noise_fn``.
    next_context: ``(d,)`` the next round's context.
    """

    noise: Array
    next_context: Array


def _contextual_env(name, num_actions, context_dim, context_dist, dtype, default_params, mean_fn,
                    noise_fn, reward_fn) -> Env:
    """Shared reset/step/draw/step_drawn for the contextual families.

    mean_fn(params, x (d,)) -> expected rewards (K,).
    noise_fn(v) -> elementwise map of uniforms on (-1, 1) to the family's noise.
    reward_fn(params, mu_a (), z_a ()) -> realised reward of action a from its mapped noise.

    The block holds one uniform per action. ``step`` maps the chosen action's uniform only (the
    inverse-normal transform dominated the step's cost when applied to all actions); ``draw`` maps
    all K at once, vectorised over a block of rounds by the rollout (same values: the map is
    elementwise).
    """
    K, d = num_actions, context_dim
    mask = jnp.ones((K,), bool)

    def reset(key, params):
        x = sample_context(key, d, context_dist, dtype)
        return Observation(x, mask), ContextState(x, jnp.zeros((), jnp.int32))

    def _finish(state, a, mu, reward, next_x):
        return EnvStep(
            obs=Observation(next_x, mask),
            state=ContextState(next_x, state.t + 1),
            reward=reward,
            expected_reward=mu[a],
            best_expected_reward=jnp.max(mu),
            expected_rewards=mu,
            info={},
        )

    def step(key, state, action, params):
        v = _uniform_block(key, K + d, dtype)
        mu = mean_fn(params, state.context)
        a = jnp.asarray(action, jnp.int32)
        reward = reward_fn(params, mu[a], noise_fn(v[a]))
        next_x = _context_from_normal(_normal_from_sym_uniform(v[K:]), context_dist)
        return _finish(state, a, mu, reward, next_x)

    def draw(key, params):
        v = _uniform_block(key, K + d, dtype)
        return ContextDraws(noise_fn(v[:K]), _context_from_normal(_normal_from_sym_uniform(v[K:]), context_dist))

    def step_drawn(draws, state, action, params):
        mu = mean_fn(params, state.context)
        a = jnp.asarray(action, jnp.int32)
        return _finish(state, a, mu, reward_fn(params, mu[a], draws.noise[a]), draws.next_context)

    return Env(name, K, d, default_params, reset, step, draw=draw, step_drawn=step_drawn)


# --------------------------------------------------------------------------- linear-Gaussian


def _theta_and_bias(theta, bias) -> tuple[np.ndarray, np.ndarray]:
    """``theta`` as a float64 ``(K, d)`` array (checked) and ``bias`` (zeros ``(K,)`` when None)."""
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim != 2 or th.shape[0] < 1 or th.shape[1] < 1:
        raise ValueError(f"theta: expected shape (num_actions >= 1, context_dim >= 1), got {th.shape}")
    return th, (np.zeros(th.shape[0]) if bias is None else bias)


def linear_gaussian_params(theta, bias=None, noise_sd=1.0, dtype=jnp.float32) -> LinearGaussianParams:
    """Params from given arrays. theta: ``(K, d)``; bias: ``(K,)`` or None (zeros); noise_sd >= 0."""
    dtype = _check_dtype(dtype)
    th, b = _theta_and_bias(theta, bias)
    K = th.shape[0]
    sd = float(noise_sd)
    if not np.isfinite(sd) or sd < 0:
        raise ValueError(f"noise_sd: expected a finite number >= 0, got {noise_sd!r}")
    return LinearGaussianParams(
        theta=_as_array("theta", th, th.shape, dtype),
        bias=_as_array("bias", b, (K,), dtype),
        noise_sd=jnp.asarray(sd, dtype),
    )


def sample_linear_gaussian_params(key, num_actions: int, context_dim: int, noise_sd=0.1,
                                  dtype=jnp.float32) -> LinearGaussianParams:
    """A random world: each ``theta_a`` uniform on the unit sphere, bias 0, the given noise_sd.

    Pure and traceable in ``key`` (vmap over keys for one world per seed). Returns
    :class:`LinearGaussianParams` with theta ``(K, d)``.
    """
    z = jax.random.normal(key, (num_actions, context_dim), dtype)
    theta = z / jnp.maximum(jnp.linalg.norm(z, axis=1, keepdims=True), jnp.finfo(dtype).tiny)
    return LinearGaussianParams(theta, jnp.zeros((num_actions,), dtype), jnp.asarray(noise_sd, dtype))


@register_env("linear_gaussian", sizes={"num_actions": "num_actions", "context_dim": "context_dim"},
              gym_id="screentest/LinearGaussian-v0", context_bounds=(-1.0, 1.0), cli="linear",
              cli_defaults={"num_actions": 10, "context_dim": 5, "noise_sd": 0.1, "context_dist": "sphere", "seed": 0})
def linear_gaussian(num_actions: int = 10, context_dim: int = 10, noise_sd: float = 0.1,
                    context_dist: str = "sphere", seed: int = 0, params: LinearGaussianParams | None = None,
                    dtype=jnp.float32) -> Env:
    """Linear-Gaussian contextual bandit.

    ``E[r | x, a] = theta_a . x + bias_a``; ``r = E[r | x, a] + noise_sd * eps_a`` with
    ``eps ~ N(0, I_K)`` drawn for all actions each round. Contexts ``(context_dim,)`` from
    ``context_dist``. ``default_params`` is ``params`` if given (validated against the sizes),
    otherwise :func:`sample_linear_gaussian_params` from ``jax.random.key(seed)``.
    Rewards are in the env dtype; actions ``()`` int32.
    """
    K = _check_size("num_actions", num_actions)
    d = _check_size("context_dim", context_dim)
    dtype = _check_dtype(dtype)
    _check_context_dist(context_dist)
    if params is None:
        if not np.isfinite(noise_sd) or noise_sd < 0:
            raise ValueError(f"noise_sd: expected a finite number >= 0, got {noise_sd!r}")
        params = sample_linear_gaussian_params(jax.random.key(int(seed)), K, d, noise_sd, dtype)
    else:
        params = linear_gaussian_params(params.theta, params.bias, params.noise_sd, dtype)
        if params.theta.shape != (K, d):
            raise ValueError(f"params.theta: expected shape ({K}, {d}) for num_actions={K}, "
                             f"context_dim={d}, got {params.theta.shape}")

    def mean_fn(p, x):
        return p.theta @ x + p.bias

    def reward_fn(p, mu, z):
        return mu + p.noise_sd * z

    return _contextual_env("linear_gaussian", K, d, context_dist, dtype, params, mean_fn,
                           _normal_from_sym_uniform, reward_fn)


# --------------------------------------------------------------------------- logistic-Bernoulli


def logistic_bernoulli_params(theta, bias=None, dtype=jnp.float32) -> LogisticBernoulliParams:
    """Params from given arrays. theta: ``(K, d)``; bias: ``(K,)`` or None (zeros)."""
    dtype = _check_dtype(dtype)
    th, b = _theta_and_bias(theta, bias)
    K = th.shape[0]
    return LogisticBernoulliParams(_as_array("theta", th, th.shape, dtype), _as_array("bias", b, (K,), dtype))


def sample_logistic_bernoulli_params(key, num_actions: int, context_dim: int, scale=2.0, base_rate=0.1,
                                     dtype=jnp.float32) -> LogisticBernoulliParams:
    """A random world: ``theta_a`` uniform on the sphere of radius ``scale``, bias ``logit(base_rate)``.

    With the default ``"sphere"`` contexts every arm's click probability then lies in
    ``sigmoid(logit(base_rate) +- scale)``.
    """
    z = jax.random.normal(key, (num_actions, context_dim), dtype)
    theta = scale * z / jnp.maximum(jnp.linalg.norm(z, axis=1, keepdims=True), jnp.finfo(dtype).tiny)
    b = jnp.full((num_actions,), math.log(base_rate / (1.0 - base_rate)), dtype)
    return LogisticBernoulliParams(theta.astype(dtype), b)


@register_env("logistic_bernoulli", sizes={"num_actions": "num_actions", "context_dim": "context_dim"},
              gym_id="screentest/LogisticBernoulli-v0", context_bounds=(-1.0, 1.0), cli="logistic",
              cli_defaults={"num_actions": 10, "context_dim": 5, "scale": 2.0, "base_rate": 0.1,
                            "context_dist": "sphere", "seed": 0})
def logistic_bernoulli(num_actions: int = 10, context_dim: int = 10, scale: float = 2.0,
                       base_rate: float = 0.1, context_dist: str = "sphere", seed: int = 0,
                       params: LogisticBernoulliParams | None = None, dtype=jnp.float32) -> Env:
    """Logistic-Bernoulli contextual bandit.

    ``P(r = 1 | x, a) = sigmoid(theta_a . x + bias_a)``; ``r = 1[u_a < P(r=1|x,a)]`` with
    ``u ~ U(0,1)^K`` drawn for all actions each round. Rewards are 0.0/1.0 in the env dtype.
    ``default_params``: ``params`` if given, else :func:`sample_logistic_bernoulli_params` from
    ``jax.random.key(seed)`` with ``scale`` and ``base_rate``.
    """
    K = _check_size("num_actions", num_actions)
    d = _check_size("context_dim", context_dim)
    dtype = _check_dtype(dtype)
    _check_context_dist(context_dist)
    if params is None:
        if not (0.0 < base_rate < 1.0):
            raise ValueError(f"base_rate: expected a probability in (0, 1), got {base_rate!r}")
        if not np.isfinite(scale) or scale < 0:
            raise ValueError(f"scale: expected a finite number >= 0, got {scale!r}")
        params = sample_logistic_bernoulli_params(jax.random.key(int(seed)), K, d, scale, base_rate, dtype)
    else:
        params = logistic_bernoulli_params(params.theta, params.bias, dtype)
        if params.theta.shape != (K, d):
            raise ValueError(f"params.theta: expected shape ({K}, {d}) for num_actions={K}, "
                             f"context_dim={d}, got {params.theta.shape}")

    def mean_fn(p, x):
        return jax.nn.sigmoid(p.theta @ x + p.bias)

    def noise_fn(v):
        return (v + 1) * jnp.asarray(0.5, v.dtype)

    def reward_fn(p, mu, u):
        return (u < mu).astype(mu.dtype)

    return _contextual_env("logistic_bernoulli", K, d, context_dist, dtype, params, mean_fn, noise_fn,
                           reward_fn)


# --------------------------------------------------------------------------- K-armed Bernoulli


def bernoulli_arms_params(probs, dtype=jnp.float32) -> BernoulliArmsParams:
    """Params from given success probabilities ``(K,)`` in [0, 1]."""
    dtype = _check_dtype(dtype)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1 or p.shape[0] < 1:
        raise ValueError(f"probs: expected shape (num_actions >= 1,), got {p.shape}")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"probs: expected values in [0, 1], got min {p.min()!r}, max {p.max()!r}")
    return BernoulliArmsParams(jnp.asarray(p, dtype))


def sample_bernoulli_arms_params(key, num_actions: int, low=0.0, high=1.0, dtype=jnp.float32):
    """A random world: ``p_a ~ U(low, high)`` i.i.d."""
    return BernoulliArmsParams(jax.random.uniform(key, (num_actions,), dtype, minval=low, maxval=high))


@register_env("bernoulli_arms", sizes={"num_actions": "num_actions"}, gym_id="screentest/BernoulliBandit-v0",
              context_bounds=(0.0, 1.0), cli="bernoulli", cli_defaults={"num_actions": 10, "seed": 0})
def bernoulli_arms(num_actions: int | None = None, probs=None, seed: int = 0, dtype=jnp.float32) -> Env:
    """Context-free K-armed Bernoulli bandit.

    ``P(r = 1 | a) = probs[a]``; ``r = 1[u_a < probs[a]]`` with ``u ~ U(0,1)^K`` per round.
    The observation's context is the constant ``[1.0]`` (shape ``(1,)``, ``context_dim = 1``).
    ``default_params``: ``probs`` if given (then ``num_actions`` must be None or match), else
    ``U(0, 1)`` probabilities drawn from ``jax.random.key(seed)`` (``num_actions`` default 10).
    """
    dtype = _check_dtype(dtype)
    if probs is not None:
        params = bernoulli_arms_params(probs, dtype)
        K = int(params.probs.shape[0])
        if num_actions is not None and _check_size("num_actions", num_actions) != K:
            raise ValueError(f"num_actions: expected {K} to match probs of shape ({K},), got {num_actions!r}")
    else:
        K = _check_size("num_actions", 10 if num_actions is None else num_actions)
        params = sample_bernoulli_arms_params(jax.random.key(int(seed)), K, dtype=dtype)
    mask = jnp.ones((K,), bool)
    one = jnp.ones((1,), dtype)

    def reset(key, params):
        return Observation(one, mask), ContextState(one, jnp.zeros((), jnp.int32))

    def draw(key, params):
        return jax.random.uniform(key, (K,), dtype)

    def step_drawn(u, state, action, params):
        mu = params.probs
        a = jnp.asarray(action, jnp.int32)
        r_all = (u < mu).astype(dtype)
        return EnvStep(
            obs=Observation(one, mask),
            state=ContextState(one, state.t + 1),
            reward=r_all[a],
            expected_reward=mu[a],
            best_expected_reward=jnp.max(mu),
            expected_rewards=mu,
            info={},
        )

    def step(key, state, action, params):
        return step_drawn(draw(key, params), state, action, params)

    return Env("bernoulli_arms", K, 1, params, reset, step, draw=draw, step_drawn=step_drawn)


def sample_params(env: Env, key, **kw):
    """Random world for one of this module's envs (dispatch on ``env.name``); traceable in ``key``."""
    if env.name == "linear_gaussian":
        kw.setdefault("noise_sd", env.default_params.noise_sd)
        return sample_linear_gaussian_params(key, env.num_actions, env.context_dim,
                                             dtype=env.default_params.theta.dtype, **kw)
    if env.name == "logistic_bernoulli":
        return sample_logistic_bernoulli_params(key, env.num_actions, env.context_dim,
                                                dtype=env.default_params.theta.dtype, **kw)
    if env.name == "bernoulli_arms":
        return sample_bernoulli_arms_params(key, env.num_actions, dtype=env.default_params.probs.dtype, **kw)
    raise ValueError(f"env: sample_params knows linear_gaussian, logistic_bernoulli, bernoulli_arms; "
                     f"got {env.name!r}")

