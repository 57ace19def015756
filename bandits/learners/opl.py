"""Off-policy learning: train a softmax policy from logged data by maximising an off-policy value.

The policy is ``pi_theta(a | x) = softmax(f_theta(x))`` over the ``K`` actions, ``f`` a linear map
or a one-hidden-layer network of the standardised context. Training maximises an estimate of its
value on the log (Dudik, Langford & Li 2011; Swaminathan & Joachims 2015):

- ``objective="ipw"``: ``mean(min(pi_theta(a_i | x_i) / pscore_i, lambda) r_i)``;
- ``objective="snipw"``: its self-normalised form ``sum(w_i r_i) / sum(w_i)``, which does not
  reward putting the policy's mass where the logger's was small (propensity overfitting);
- ``objective="dr"``: ``mean(sum_a pi_theta(a | x_i) q_hat(x_i, a) + min(w_i, lambda)(r_i - q_hat(x_i, a_i)))``
  with ``q_hat`` a reward model (``estimated_rewards``, or one cross-fitted by
  :func:`bandits.estimators.fit_reward_model`),

minus ``l2 * |theta|^2``, with Adam (optax) on the full log for ``steps`` steps: one jitted
function of ``(key, hyperparameters)`` whose loop over steps is a ``lax.scan``, the learning
rate, the L2 weight and the clipping threshold traced values (a grid of them is a ``jax.vmap``
away and never recompiles).

The result is a :class:`bandits.contracts.Policy` like any other: ``select`` returns the full
probability vector (``softmax(f(x) / temperature)``, ``temperature`` a traced hyperparameter; 0
is greedy with ties split evenly), ``init`` returns the trained parameters as the state, and
``update`` leaves them unchanged (the policy is trained offline and frozen), so it runs in the
simulator (:mod:`bandits.engine`), in OPE (:func:`bandits.estimators.policy_action_dist`) and
anywhere a policy is served.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bandits.contracts import Decision, Policy
from bandits.core import sample_from_probs, tie_split
from bandits.data import LoggedData

__all__ = ["LearnerHParams", "OPLResult", "PolicyHParams", "learned_policy", "train_policies", "train_policy"]

OBJECTIVES = ("ipw", "snipw", "dr")
MODELS = ("linear", "mlp")


class LearnerHParams(NamedTuple):
    """Training hyperparameters (traced: a grid is a vmap away).

    learning_rate: Adam's step size. l2: weight of ``|theta|^2`` (biases excluded).
    lambda_: clip the importance weights at this value (``inf``: no clipping).
    """

    learning_rate: float = 0.05
    l2: float = 1e-3
    lambda_: float = math.inf


class PolicyHParams(NamedTuple):
    """The learned policy's hyperparameter: ``temperature`` of its softmax (0: greedy)."""

    temperature: float = 1.0


class OPLResult(NamedTuple):
    """What :func:`train_policy` returns.

    policy: the learned :class:`~bandits.contracts.Policy` (its ``init`` returns ``params``).
    params: the trained parameters (a dict pytree; also the policy's state).
    objective: ``(steps,)`` float, the training objective (estimated value minus the L2 term)
        at each step, for checking convergence.
    """

    policy: Policy
    params: dict
    objective: np.ndarray


def _init_params(key, d: int, K: int, model: str, hidden: int, dtype) -> dict:
    k1, k2 = jax.random.split(key)
    if model == "linear":
        return {"W": jnp.zeros((d, K), dtype), "b": jnp.zeros((K,), dtype)}
    scale1 = 1.0 / math.sqrt(max(d, 1))
    return {"W1": (jax.random.normal(k1, (d, hidden)) * scale1).astype(dtype), "b1": jnp.zeros((hidden,), dtype),
            "W2": (jax.random.normal(k2, (hidden, K)) * 0.1 / math.sqrt(hidden)).astype(dtype),
            "b2": jnp.zeros((K,), dtype)}


def _logits(params: dict, z: jax.Array) -> jax.Array:
    """Scores ``(..., K)`` for standardised contexts ``z (..., d)``."""
    if "W" in params:
        return z @ params["W"] + params["b"]
    h = jnp.tanh(z @ params["W1"] + params["b1"])
    return h @ params["W2"] + params["b2"]


def _weights_sq(params: dict) -> jax.Array:
    return sum(jnp.sum(v * v) for k, v in params.items() if k.startswith("W"))


@functools.lru_cache(maxsize=32)
def _build_trainer(objective: str, model: str, hidden: int, steps: int, d: int, K: int, dtype, grid: bool):
    """The jitted ``train(key, hp, z, action, reward, pscore, q) -> (params, objective (steps,))``,
    one per static configuration (``grid``: vmapped over the leading axis of ``hp``)."""

    def value(params, hp, z, action, reward, pscore, q):
        logp = jax.nn.log_softmax(_logits(params, z), axis=-1)
        p = jnp.exp(logp)
        pi_a = jnp.take_along_axis(p, action[:, None], axis=1)[:, 0]
        w = jnp.minimum(pi_a / pscore, hp.lambda_)
        if objective == "ipw":
            v = jnp.mean(w * reward)
        elif objective == "snipw":
            v = jnp.sum(w * reward) / jnp.sum(w)
        else:
            q_a = jnp.take_along_axis(q, action[:, None], axis=1)[:, 0]
            v = jnp.mean(jnp.sum(p * q, axis=1) + w * (reward - q_a))
        return v - hp.l2 * _weights_sq(params)

    def train(key, hp, z, action, reward, pscore, q):
        params = _init_params(key, d, K, model, hidden, dtype)
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=hp.learning_rate)
        state = opt.init(params)
        grad = jax.value_and_grad(lambda p: -value(p, hp, z, action, reward, pscore, q))

        def step(carry, _):
            params, state = carry
            loss, g = grad(params)
            upd, state = opt.update(g, state, params)
            return (optax.apply_updates(params, upd), state), -loss

        (params, _), hist = jax.lax.scan(step, (params, state), None, length=steps)
        return params, hist

    if grid:
        return jax.jit(jax.vmap(train, in_axes=(None, 0, None, None, None, None, None)))
    return jax.jit(train)


def _prepare(data, objective, model, hidden, steps, estimated_rewards, dtype):
    log = LoggedData.coerce(data)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: expected one of {OBJECTIVES}, got {objective!r}")
    if model not in MODELS:
        raise ValueError(f"model: expected one of {MODELS}, got {model!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    if not (isinstance(hidden, int) and hidden >= 1):
        raise ValueError(f"hidden: expected an integer >= 1, got {hidden!r}")
    if log.len_list > 1:
        raise ValueError(f"data: expected a single-slot log (len_list 1), got len_list={log.len_list}")
    dt = jnp.dtype(dtype)
    if dt not in (jnp.float32, jnp.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {dt}")
    if dt == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError("dtype: float64 needs jax.config.update('jax_enable_x64', True)")
    n, K, d = log.n_rounds, log.n_actions, log.dim_context
    q = np.zeros((n, K))
    if objective == "dr":
        if estimated_rewards is None:
            from bandits.estimators.reward_model import fit_reward_model

            estimated_rewards = fit_reward_model(log, len_list=1)
        q = np.asarray(estimated_rewards, dtype=np.float64)
        if q.ndim == 3 and q.shape[2] == 1:
            q = q[:, :, 0]
        if q.shape != (n, K) or not np.isfinite(q).all():
            raise ValueError(f"estimated_rewards: expected finite values of shape (n_rounds={n}, n_actions={K}) or "
                             f"({n}, {K}, 1), got shape {np.shape(estimated_rewards)}")
    mu = log.context.mean(axis=0) if d else np.zeros(0)
    sd = log.context.std(axis=0) if d else np.zeros(0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (log.context - mu) / sd
    arrays = (jnp.asarray(z, dt), jnp.asarray(log.action, jnp.int32), jnp.asarray(log.reward, dt),
              jnp.asarray(log.pscore, dt), jnp.asarray(q, dt))
    return log, dt, mu, sd, arrays


def _check_hparams(hp: Any, grid: bool) -> None:
    if not isinstance(hp, LearnerHParams):
        raise TypeError(f"hparams: expected a LearnerHParams, got {type(hp).__name__}")
    for f, v in zip(hp._fields, hp, strict=True):
        a = np.asarray(v, dtype=np.float64)
        if (a.ndim != 1) if grid else (a.ndim != 0):
            raise ValueError(f"hparams.{f}: expected {'a 1-d array of values' if grid else 'a number'}, got shape {a.shape}")
        ok = np.all(a > 0.0) if f == "learning_rate" else np.all(a >= 0.0)
        if not ok:
            raise ValueError(f"hparams.{f}: expected {'> 0' if f == 'learning_rate' else '>= 0'}, got {v!r}")


def train_policy(data: LoggedData | Mapping, objective: str = "snipw", model: str = "linear", hidden: int = 32,
                 steps: int = 300, hparams: LearnerHParams | None = None, estimated_rewards: Any = None,
                 key: jax.Array | None = None, dtype: Any = jnp.float32, name: str | None = None) -> OPLResult:
    """Learn a policy from ``data`` by maximising its value estimate (module docstring).

    data: :class:`~bandits.data.LoggedData` (or obp's dict) with ``context (n, d)``; one slot
        (rows with positions are refused: learn a slot-wise policy per position instead).
    objective: ``"snipw"`` (default: the self-normalised IPW value ``sum(w r) / sum(w)``, which
        resists propensity overfitting: Swaminathan & Joachims 2015), ``"ipw"`` (the plain
        average, which rewards moving the policy's mass to rows with small pscores) or ``"dr"``.
    model: ``"linear"`` or ``"mlp"`` (``hidden`` tanh units).
    steps: full-batch Adam steps (static). hparams: :class:`LearnerHParams` (traced).
    estimated_rewards: ``(n, K)`` or ``(n, K, 1)`` reward model for ``"dr"`` (default: cross-fitted
        by :func:`bandits.estimators.fit_reward_model`).
    key: PRNG key for the network's initial weights (default ``jax.random.key(0)``).
    dtype: float32 (default) or float64 (needs ``jax_enable_x64``).
    Returns an :class:`OPLResult` whose ``policy`` has ``num_actions = K``, ``context_dim = d``
    and :class:`PolicyHParams` (``temperature``). The compiled trainer is cached per static
    configuration, so new hyperparameter values or data of the same shape do not recompile.
    """
    hp = LearnerHParams() if hparams is None else hparams
    _check_hparams(hp, grid=False)
    log, dt, mu, sd, arrays = _prepare(data, objective, model, hidden, steps, estimated_rewards, dtype)
    train = _build_trainer(objective, model, int(hidden), int(steps), log.dim_context, log.n_actions, dt, False)
    key = jax.random.key(0) if key is None else key
    params, hist = train(key, LearnerHParams(*(jnp.asarray(float(v), dt) for v in hp)), *arrays)
    params = dict(params, mu=jnp.asarray(mu, dt), sd=jnp.asarray(sd, dt))
    pol = learned_policy(params, log.n_actions, log.dim_context, name or f"opl_{objective}_{model}", dt)
    return OPLResult(pol, params, np.asarray(hist, dtype=np.float64))


def train_policies(data: LoggedData | Mapping, hparams: LearnerHParams, objective: str = "snipw",
                   model: str = "linear", hidden: int = 32, steps: int = 300, estimated_rewards: Any = None,
                   key: jax.Array | None = None, dtype: Any = jnp.float32) -> list[OPLResult]:
    """:func:`train_policy` over a grid of hyperparameters in one compiled, vmapped call.

    hparams: a :class:`LearnerHParams` whose fields are 1-d arrays of one length ``G`` (one
    configuration per index). Returns ``G`` :class:`OPLResult` s, in order.
    """
    _check_hparams(hparams, grid=True)
    G = {np.asarray(v).shape[0] for v in hparams}
    if len(G) != 1:
        raise ValueError(f"hparams: expected fields of one length, got lengths {sorted(G)}")
    log, dt, mu, sd, arrays = _prepare(data, objective, model, hidden, steps, estimated_rewards, dtype)
    train = _build_trainer(objective, model, int(hidden), int(steps), log.dim_context, log.n_actions, dt, True)
    key = jax.random.key(0) if key is None else key
    params, hist = train(key, LearnerHParams(*(jnp.asarray(np.asarray(v, np.float64), dt) for v in hparams)), *arrays)
    out = []
    for g in range(G.pop()):
        p = {k: v[g] for k, v in params.items()}
        p.update(mu=jnp.asarray(mu, dt), sd=jnp.asarray(sd, dt))
        pol = learned_policy(p, log.n_actions, log.dim_context, f"opl_{objective}_{model}", dt)
        out.append(OPLResult(pol, p, np.asarray(hist[g], dtype=np.float64)))
    return out


def learned_policy(params: dict, num_actions: int, context_dim: int, name: str = "opl", dtype: Any = jnp.float32
                   ) -> Policy:
    """A frozen :class:`~bandits.contracts.Policy` from trained parameters (as :func:`train_policy` returns).

    params: ``{"W", "b"}`` (linear) or ``{"W1", "b1", "W2", "b2"}`` (network), plus the context
    standardisation ``mu, sd (d,)``. ``select`` gives ``softmax(f((x - mu) / sd) / temperature)``
    over the available actions (``temperature`` 0: the greedy action, ties split evenly).
    """
    K, d = int(num_actions), int(context_dim)
    frozen = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)

    def init(key, hparams):
        return frozen

    def select(key, state, context, mask, hparams):
        z = (jnp.asarray(context, dtype) - state["mu"]) / state["sd"]
        s = _logits(state, z)
        t = jnp.asarray(hparams.temperature, dtype)
        masked = jnp.where(mask, s / jnp.where(t > 0, t, 1.0), -jnp.inf)
        soft = jnp.where(mask, jax.nn.softmax(masked), 0.0)
        probs = jnp.where(t > 0, soft, tie_split(s, mask)).astype(dtype)
        return Decision(sample_from_probs(key, probs), probs)

    def update(state, context, action, reward, hparams):
        return state

    return Policy(name, K, d, PolicyHParams(), init, select, update)
