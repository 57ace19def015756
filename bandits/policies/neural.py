"""Neural contextual bandits: neural-linear TS and UCB, neural epsilon-greedy, diagonal NeuralUCB.

Every policy here learns a small multilayer perceptron ``f(x) (K,)`` (:mod:`bandits.policies._mlp`:
ReLU hidden layers ``hidden``, one output per arm) by regression of the observed reward on the
played arm's output, and explores in its own way:

* ``neural_linear_ts`` / ``neural_linear_ucb`` (Riquelme, Tucker & Snoek 2018, "Deep Bayesian
  Bandits Showdown", section 3, the *neural-linear* method): the network's last hidden layer
  ``h(x)`` is a learned representation; a disjoint Bayesian linear head per arm on the features
  ``phi(x) = [h(x), x, 1]`` (``q = hidden[-1] + d + 1``; ``[h(x), 1]`` with
  ``head_context=False``, the paper's choice) is updated every round and explores exactly like
  LinTS / LinUCB (:mod:`bandits.policies.lints`, :mod:`bandits.policies.linucb`) do on the raw
  context: scores ``phi . mu_a + v sqrt(phi^T A_a^{-1} phi) z_a`` (TS, ``z ~ N(0, 1)``) or
  ``phi . mu_a + alpha sqrt(phi^T A_a^{-1} phi)`` (UCB), with ``A_a = lam I + sum phi phi^T``.
  Why the raw context in the head by default: the head can then represent any reward linear in
  ``x`` exactly, whatever the representation has learned, so on a linear world the policy holds
  LinTS's model (it still pays for the extra features' exploration); without it, a linear reward
  must be rebuilt from ReLU features and each representation refresh leaves an approximation error.
* ``neural_epsilon_greedy``: greedy on ``f(x)`` with probability ``1 - epsilon``, uniform over the
  available arms otherwise.
* ``neural_ucb`` (Zhou, Li & Gu 2020, NeuralUCB, with the diagonal approximation of ``Z`` their
  experiments use): ``score_a = f(x)_a + alpha sqrt(sum_j g_aj^2 / Z_j)`` with
  ``g_a = grad_params f(x)_a`` and ``Z = lam + sum over played rounds of g^2`` (element-wise).
  The ``1/m`` width scaling of the paper is absorbed into ``alpha``.

Training (all four). Every round the played ``(x, a, r)`` is written into a ring replay buffer of
``buffer_size`` rows (the most recent rows; static size), then ``train_steps`` Adam steps (optax,
learning rate ``lr``) are taken on minibatches of ``batch_size`` rows drawn uniformly with
replacement from the filled part of the buffer, loss ``0.5 mean (f(x_i)_{a_i} - r_i)^2``. The
minibatch indices come from a key kept in the state, folded with the round index. The gradients
(the loss's, and NeuralUCB's per-arm output gradients) are backpropagated in closed form by
:class:`~bandits.policies._mlp.MLP` (same values as ``jax.grad`` / ``jax.jacrev``, without the
``K``-wide one-hot backward pass or the ``(K, num_params)`` Jacobian).

Representation refresh (neural-linear). The Showdown paper retrains the network every ``N`` rounds
and then refits the linear head on all the data under the new features. Inside a vmapped
``lax.scan`` a "do the expensive thing every N rounds" branch is a ``lax.cond`` whose predicate is
batched over members, which JAX turns into a ``select`` that computes BOTH branches every round: a
literal periodic refit would cost a full pass over the buffer in every round. Here the schedule is
pipelined so that every round does a constant amount of work:

* the network trains a little every round (above);
* at each refresh point ``P_k`` a snapshot of the network, ``next_rep``, is taken and a fresh
  head ``next_head`` (the prior ``A = lam I``) starts; from then on it absorbs, under
  ``next_rep``'s features, the new row of each round, and during its first ``N`` rounds also
  ``C = buffer_size / N - 1`` older rows per round from the buffer (rows
  ``P_k - buffer_size + N .. P_k - 1``, still in the buffer when read);
* at the next refresh point ``P_{k+1}`` the policy swaps ``(rep, head) <- (next_rep, next_head)``
  and a new snapshot starts.

Refresh points: ``P_0 = 0``, ``P_{k+1} = P_k + max(N, floor((g - 1) P_k))`` with
``N = refresh_every`` and ``g = refresh_growth``; ``g = 1`` refreshes every ``N`` rounds (the
paper's schedule), ``g = 2`` (default) at ``N, 2N, 4N, 8N, ...``. So at round ``t`` (rows
``0 .. t-1`` seen), with ``P' <= P <= t`` the last two refresh points, the head in use is the exact
ridge posterior, under the features of ``rep``, of rows ``max(0, P' - buffer_size + N) .. t-1``,
and ``rep`` is the network as trained up to round ``P'`` (the initial network while ``P' = 0``).
Why the growing periods: the head covers only the rows seen since the snapshot it was built on
(plus a buffer's worth before it), so with a fixed period its posterior never concentrates beyond
about ``buffer_size + 2N`` rows and exploration never stops; with ``g = 2`` it covers at least half
of the history. The head is rebuilt from the prior at every refresh, which also bounds the float32
drift of its updates (Sherman-Morrison, a round's rows in one Woodbury block). ``buffer_size``
must be a multiple of ``refresh_every``.

Probabilities. The UCB and epsilon-greedy policies have closed-form ``probs`` (ties split evenly;
the epsilon mixture). ``neural_linear_ts`` estimates them by Monte Carlo with ``num_samples``
posterior draws (:func:`bandits.policies.thompson.ts_decision`), like LinTS: the played action is
an exact Thompson draw and ``probs[action]`` is an exact propensity given the draws.

Static sizes (set at construction, never traced): ``hidden``, ``buffer_size``, ``batch_size``,
``train_steps``, ``refresh_every``, ``refresh_growth``, ``head_context``, ``num_samples``,
``dtype``. Traced hyperparameters: ``lr`` and each policy's exploration knobs, so a grid over
them is one compiled program.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from bandits import validation as V
from bandits.contracts import Decision, Policy
from bandits.core import sample_from_probs
from bandits.policies._linalg import (
    RidgeState,
    tie_split,
    tri_indices,
    uniform_over,
    unpack_sym,
)
from bandits.policies._mlp import MLP
from bandits.policies.registry import register
from bandits.policies.thompson import DEFAULT_NUM_SAMPLES, ts_decision

Array = jax.Array

DEFAULT_HIDDEN = (32, 16)
DEFAULT_BUFFER = 256
DEFAULT_BATCH = 32
DEFAULT_REFRESH = 32
DEFAULT_GROWTH = 2.0


# --------------------------------------------------------------------------- state


class Replay(NamedTuple):
    """Ring buffer of the most recent rows; row ``i`` (0-based round) sits in slot ``i % H``.

    x: ``(H, d)`` dtype. action: ``(H,)`` int32. reward: ``(H,)`` dtype.
    """

    x: Array
    action: Array
    reward: Array


class Learner(NamedTuple):
    """What every neural policy keeps: the trained network and its data.

    net: ``(P,)`` the network's flat parameters (:class:`~bandits.policies._mlp.MLP`). opt: optax Adam state.
    replay: :class:`Replay`. t: ``()`` int32, rows seen so far. key: PRNG key of the minibatch
    draws (constant; round ``t`` uses ``fold_in(key, t)``).
    """

    net: Array
    opt: Any
    replay: Replay
    t: Array
    key: Array


class NeuralLinearState(NamedTuple):
    """State of the neural-linear policies (see the module docstring for the refresh schedule).

    The two heads (the one in use and the one being built) share stacked arrays, slot ``active``
    being the one in use, so a refresh is an index flip, not a copy of a head. A slot's head is
    reset lazily: ``live[s, a] = 0`` marks arm ``a``'s stored row of slot ``s`` as stale (not
    written since the slot's head began), and every reader takes the prior ``A = lam I`` for it.

    learner: :class:`Learner`. reps: ``(2, P)`` the networks whose features each slot's head uses.
    heads: :class:`~bandits.policies._linalg.RidgeState` with a leading slot axis (``cov_tri
    (2, K, q(q+1)/2)``, ``theta (2, K, q)``, ``counts (2, K)``). live: ``(2, K)`` dtype, 1 where
    the stored row is current. prior: ``(2,)`` dtype, ``1 / lam`` of each slot's prior. active:
    ``()`` int32, the slot in use. start: ``()`` int32, the refresh point at which the other slot
    began. swap_at: ``()`` int32, the next refresh point.

    ``rep``, ``head``, ``next_rep``, ``next_head`` give one member's (unbatched state's) two heads
    with the prior filled in for stale rows.
    """

    learner: Learner
    reps: Array
    heads: RidgeState
    live: Array
    prior: Array
    active: Array
    start: Array
    swap_at: Array

    def _slot_head(self, slot) -> RidgeState:
        q = self.heads.theta.shape[-1]
        rows, cols, _, _ = tri_indices(q)
        live = self.live[slot] > 0
        eye = jnp.asarray(rows == cols, self.heads.cov_tri.dtype) * self.prior[slot]
        return RidgeState(cov_tri=jnp.where(live[:, None], self.heads.cov_tri[slot], eye),
                          theta=jnp.where(live[:, None], self.heads.theta[slot], 0),
                          counts=jnp.where(live, self.heads.counts[slot], 0))

    @property
    def rep(self) -> Array:
        """``(P,)`` the network whose features the head in use is built on."""
        return self.reps[self.active]

    @property
    def next_rep(self) -> Array:
        """``(P,)`` the snapshot the head being built uses."""
        return self.reps[1 - self.active]

    @property
    def head(self) -> RidgeState:
        """The head in use (prior filled in for stale rows)."""
        return self._slot_head(self.active)

    @property
    def next_head(self) -> RidgeState:
        """The head being built (prior filled in for stale rows)."""
        return self._slot_head(1 - self.active)


class NeuralUCBState(NamedTuple):
    """learner: :class:`Learner`. z_inv: ``(P,)`` the reciprocal of the diagonal of ``Z``, one entry
    per network parameter.

    Why the reciprocal: ``select`` weighs every parameter by ``1 / Z_j`` in every round, while an
    update changes ``Z`` by ``g^2``; keeping ``1 / Z`` and updating it by
    ``1 / (Z + g^2) = z_inv / (1 + g^2 z_inv)`` moves the per-parameter division out of ``select``
    into the one pass over the parameters the update makes anyway. ``z`` gives ``Z`` itself.
    """

    learner: Learner
    z_inv: Array

    @property
    def z(self) -> Array:
        """``(P,)`` the diagonal of ``Z`` (``1 / z_inv``)."""
        return 1 / self.z_inv


class NeuralLinearTSHParams(NamedTuple):
    """v: posterior scale of the head (>= 0; 0 = greedy); lam: head ridge prior (> 0); lr: Adam step (> 0)."""

    v: float = 1.0
    lam: float = 1.0
    lr: float = 3e-3


class NeuralLinearUCBHParams(NamedTuple):
    """alpha: width multiplier (>= 0); lam: head ridge prior (> 0); lr: Adam step (> 0)."""

    alpha: float = 1.0
    lam: float = 1.0
    lr: float = 3e-3


class NeuralEpsilonGreedyHParams(NamedTuple):
    """epsilon: exploration probability in [0, 1]; lr: Adam step (> 0)."""

    epsilon: float = 0.1
    lr: float = 3e-3


class NeuralUCBHParams(NamedTuple):
    """alpha: width multiplier (>= 0); lam: prior of the diagonal ``Z`` (> 0); lr: Adam step (> 0)."""

    alpha: float = 1.0
    lam: float = 1.0
    lr: float = 3e-3


# --------------------------------------------------------------------------- shared pieces


class _Config(NamedTuple):
    """Static configuration shared by the four constructors."""

    name: str
    K: int
    d: int
    mlp: MLP
    H: int
    B: int
    S: int
    dtype: Any


def _config(name, num_actions, context_dim, dtype, hidden, buffer_size, batch_size, train_steps) -> _Config:
    K = V.check_positive_int(num_actions, "num_actions")
    d = V.check_positive_int(context_dim, "context_dim")
    dt = V.check_dtype(dtype)
    if isinstance(hidden, (int, str)) or not hasattr(hidden, "__len__") or len(hidden) == 0:
        raise ValueError(f"hidden: expected a non-empty sequence of layer widths, got {hidden!r}")
    hid = tuple(V.check_positive_int(h, f"hidden[{i}]") for i, h in enumerate(hidden))
    H = V.check_positive_int(buffer_size, "buffer_size")
    B = V.check_positive_int(batch_size, "batch_size")
    S = V.check_positive_int(train_steps, "train_steps", minimum=0)
    return _Config(name, K, d, MLP((d, *hid, K)), H, B, S, dt)


def _adam(hparams, dt):
    return optax.adam(jnp.asarray(hparams.lr, dt))


def _learner_init(cfg: _Config, key, hparams) -> Learner:
    k_net, k_batch = jax.random.split(key)
    net = cfg.mlp.init(k_net, cfg.dtype)
    replay = Replay(x=jnp.zeros((cfg.H, cfg.d), cfg.dtype), action=jnp.zeros((cfg.H,), jnp.int32),
                    reward=jnp.zeros((cfg.H,), cfg.dtype))
    return Learner(net=net, opt=_adam(hparams, cfg.dtype).init(net), replay=replay,
                   t=jnp.zeros((), jnp.int32), key=k_batch)


def _write(replay: Replay, t: Array, x: Array, a: Array, r: Array) -> Replay:
    slot = jnp.mod(t, replay.x.shape[0])
    put = functools.partial(jax.lax.dynamic_update_index_in_dim, index=slot, axis=0)
    return Replay(x=put(replay.x, x), action=put(replay.action, a), reward=put(replay.reward, r))


def _learn(cfg: _Config, learner: Learner, x: Array, a: Array, r: Array, hparams) -> Learner:
    """Write the round's row into the buffer, then ``train_steps`` Adam steps on minibatches."""
    t = learner.t
    replay = _write(learner.replay, t, x, a, r)
    n = jnp.minimum(t + 1, cfg.H)  # filled rows
    opt = _adam(hparams, cfg.dtype)
    # minibatch rows of all steps at once: floor(u * n), u uniform on [0, 1)
    u = jax.random.uniform(jax.random.fold_in(learner.key, t), (max(cfg.S, 1), cfg.B), cfg.dtype)
    idx = jnp.minimum((u * n.astype(cfg.dtype)).astype(jnp.int32), n - 1)

    def step(carry, rows):
        net, opt_state = carry
        grads = cfg.mlp.loss_grad(net, replay.x[rows], replay.action[rows], replay.reward[rows])
        updates, opt_state = opt.update(grads, opt_state, net)
        return (optax.apply_updates(net, updates), opt_state), None

    carry = (learner.net, learner.opt)
    if cfg.S == 1:
        carry, _ = step(carry, idx[0])
    elif cfg.S > 1:
        carry, _ = jax.lax.scan(step, carry, idx)
    net, opt_state = carry
    return Learner(net=net, opt=opt_state, replay=replay, t=t + 1, key=learner.key)


def _phi(mlp: MLP, rep: Array, x: Array, with_context: bool) -> Array:
    """Head features ``[h(x), x, 1]`` (``[h(x), 1]`` without the context): ``x (..., d)`` -> ``(..., q)``."""
    parts = [mlp.features(rep, x)]
    if with_context:
        parts.append(x)
    parts.append(jnp.ones((*x.shape[:-1], 1), x.dtype))
    return jnp.concatenate(parts, axis=-1)


def _spd_solve_unrolled(T: Array, R: Array) -> Array:
    """``T^{-1} R`` for a small SPD ``T (J, J)`` and ``R (J, m)`` by Gauss-Jordan elimination
    without pivoting, unrolled over the static ``J``. Used with ``T = I +`` a positive semidefinite
    matrix, whose pivots (ratios of leading principal minors) are all at least 1, so no pivoting
    or clamping is needed.

    Why not ``jnp.linalg`` / ``_linalg.spd_solve``: the first calls LAPACK inside a round (which can
    stall a sweep, see :mod:`bandits.engine.sweep`), the second runs ``3 J`` dependent loop steps;
    here each of the ``J`` eliminations is one elementwise pass over the ``(J, J + m)`` system.
    """
    J = T.shape[-1]
    aug = jnp.concatenate([T, R], axis=-1)
    for k in range(J):
        row = aug[k] / aug[k, k]
        aug = (aug - aug[:, k, None] * row[None, :]).at[k].set(row)
    return aug[:, J:]


def _heads_add(heads: RidgeState, live: Array, prior: Array, idx: Array, f: Array, r: Array,
               w: Array) -> tuple[RidgeState, Array]:
    """All of a round's ridge updates at once: row ``j`` ``(f_j (q,), r_j)`` of weight ``w_j`` (1 or
    0) into the flat head ``idx_j`` (``slot * K + arm``); ``f (J, q)``, ``idx, r, w (J,)``.

    ``heads`` is flattened to ``(2 K, ...)`` rows and ``live`` to ``(2 K,)``; a stale row
    (``live = 0``) is read as the prior ``(I / lam, 0, 0)`` (``prior[idx // K] = 1 / lam``) and is
    live once a row of weight 1 is written (a head that only zero-weight rows touch gets the value
    it read back and keeps its mark, so every arm still at its prior is scored by one formula and
    ties stay exact). A zero-weight row has zero features here, so it changes nothing but its
    count's weight.

    Why one block update instead of ``J`` sequential rank-one steps: the rows of one head ``a``
    (``F_a``, residuals ``e_a = r_a - F_a theta_a``) enter the posterior together by Woodbury,
    ``P_a' = P_a - U_a^T T_a^{-1} U_a`` and ``theta_a' = theta_a + U_a^T T_a^{-1} e_a`` with
    ``U_a = F_a P_a`` and ``T_a = I + F_a P_a F_a^T``, the same posterior as applying them one by
    one (for one row this is the Sherman-Morrison step). Over all rows, ``T = I + S o (U F^T)``
    (``S_jk = [idx_j = idx_k]``) is block diagonal by head, so one ``J x J`` solve
    (:func:`_spd_solve_unrolled`) gives every head's ``T_a^{-1}``, and each row ``j`` computes its head's whole new value (rows of one
    head compute identical values, so the scatter is exact with repeated indices). This replaces
    ``J`` dependent gather-update-scatter steps on the packed heads by one of each, plus a ``J x J``
    solve. Returns the flat heads and live marks.
    """
    q = f.shape[-1]
    rows, cols, _, _ = tri_indices(q)
    K2 = heads.counts.shape[0]
    K = K2 // 2
    dt = f.dtype
    fresh = live[idx] > 0  # (J,)
    eye = jnp.asarray(rows == cols, dt)[None, :] * prior[idx // K][:, None]
    p = jnp.where(fresh[:, None], heads.cov_tri[idx], eye)  # (J, q(q+1)/2)
    theta = jnp.where(fresh[:, None], heads.theta[idx], 0)  # (J, q)
    count = jnp.where(fresh, heads.counts[idx], 0)
    f = f * w[:, None]
    u = jnp.einsum("jpk,jk->jp", unpack_sym(p, q), f)  # u_j = P_{idx_j} f_j
    same = (idx[:, None] == idx[None, :]).astype(dt)  # S
    gram = same * (u @ f.T)  # f_j^T P f_k for rows of one head, 0 across heads
    e = r * w - jnp.sum(theta * f, axis=-1)
    sol = _spd_solve_unrolled(jnp.eye(idx.shape[0], dtype=dt) + gram, jnp.concatenate([u, e[:, None]], axis=-1))
    v, c = sol[:, :q], sol[:, q]  # rows of T^{-1} U and T^{-1} e (block diagonal T: per head)
    new = RidgeState(cov_tri=p - same @ (v[:, rows] * u[:, cols]),
                     theta=theta + same @ (u * c[:, None]),
                     counts=count + same @ w)
    mark = jnp.maximum(live[idx], jnp.max(same * w[None, :], axis=-1))
    put = lambda arr, val: arr.at[idx].set(val)  # noqa: E731
    return jax.tree.map(put, heads, new), put(live, mark)


def _check_round(cfg: _Config, context, mask=None) -> None:
    V.check_context_shape(context, cfg.d, cfg.name)
    if mask is not None:
        V.check_mask_shape(mask, cfg.K, cfg.name)


# --------------------------------------------------------------------------- neural-linear


def _neural_linear(cfg: _Config, refresh_every: int, refresh_growth: float, head_context: bool, scores_decision):
    """init/select/update of the neural-linear policies; ``scores_decision(key, mean, quad, mask, hparams)``."""
    K, H, dt = cfg.K, cfg.H, cfg.dtype
    N = V.check_positive_int(refresh_every, "refresh_every")
    if H % N != 0:
        raise ValueError(f"buffer_size: expected a multiple of refresh_every={N}, got {H}")
    growth = float(refresh_growth)
    if not (growth >= 1.0 and growth <= 16.0):
        raise ValueError(f"refresh_growth: expected a number in [1, 16], got {refresh_growth!r}")
    C = H // N - 1  # older rows each round adds to the head being built
    q = cfg.mlp.feature_dim + 1 + (cfg.d if head_context else 0)
    phi = functools.partial(_phi, cfg.mlp, with_context=bool(head_context))

    tri_rows, tri_cols, tri_weight, _ = tri_indices(q)

    def init(key, hparams) -> NeuralLinearState:
        learner = _learner_init(cfg, key, hparams)
        zero = jnp.zeros((), jnp.int32)
        heads = RidgeState(cov_tri=jnp.zeros((2, K, len(tri_rows)), dt), theta=jnp.zeros((2, K, q), dt),
                           counts=jnp.zeros((2, K), dt))
        prior = jnp.full((2,), 1 / jnp.asarray(hparams.lam, dt), dt)
        return NeuralLinearState(learner=learner, reps=jnp.stack([learner.net, learner.net]), heads=heads,
                                 live=jnp.zeros((2, K), dt), prior=prior, active=zero, start=zero,
                                 swap_at=zero + N)

    def select(key, state, context, mask, hparams) -> Decision:
        _check_round(cfg, context, mask)
        act = state.active
        take = functools.partial(jax.lax.dynamic_index_in_dim, index=act, axis=0, keepdims=False)
        f = phi(take(state.reps), jnp.asarray(context, dt))
        live = take(state.live) > 0
        w = f[tri_rows] * f[tri_cols] * jnp.asarray(tri_weight, dt)
        # both slots' scores, then the active one's: a mat-vec over the stacked heads costs less
        # than cutting the active head out of them first
        quad = jnp.where(live, take(state.heads.cov_tri @ w), take(state.prior) * (f @ f))
        mean = jnp.where(live, take(state.heads.theta @ f), 0)
        return scores_decision(key, mean, jnp.maximum(quad, 0), mask, hparams)

    def update(state, context, action, reward, hparams) -> NeuralLinearState:
        _check_round(cfg, context)
        x, r = jnp.asarray(context, dt), jnp.asarray(reward, dt)
        a = jnp.asarray(action, jnp.int32)
        t = state.learner.t
        learner = _learn(cfg, state.learner, x, a, r, hparams)
        act, nxt = state.active, 1 - state.active
        take = functools.partial(jax.lax.dynamic_index_in_dim, axis=0, keepdims=False)
        # all of the round's updates in one block step: this round's row into the head in use,
        # then into the head being built C older rows (during its first N rounds) and this row
        s = jnp.minimum(t - state.start, N)  # rounds since the head being built began
        rows = state.start - H + N + s * C + jnp.arange(C, dtype=jnp.int32)
        slots = jnp.mod(rows, H)
        w = ((rows >= 0) & (rows < state.start)).astype(dt)
        f_act = phi(take(state.reps, act), x)
        f_next = phi(take(state.reps, nxt), jnp.concatenate([learner.replay.x[slots], x[None]]))
        one = jnp.ones((1,), dt)
        arms = jnp.concatenate([a[None], learner.replay.action[slots], a[None]])
        idx = jnp.concatenate([act[None], jnp.broadcast_to(nxt, (C + 1,))]) * K + arms
        flat = jax.tree.map(lambda v: v.reshape(2 * K, *v.shape[2:]), state.heads)
        flat, live = _heads_add(flat, state.live.reshape(-1), state.prior, idx,
                                jnp.concatenate([f_act[None], f_next]),
                                jnp.concatenate([r[None], learner.replay.reward[slots], r[None]]),
                                jnp.concatenate([one, w, one]))
        heads = jax.tree.map(lambda v: v.reshape(2, K, *v.shape[1:]), flat)
        live = live.reshape(2, K)
        # refresh: the slot being built becomes the one in use; the other restarts from the prior
        # on a snapshot of the current network
        swap = t + 1 == state.swap_at
        period = jnp.maximum(N, jnp.floor((growth - 1) * state.swap_at.astype(jnp.float32)).astype(jnp.int32))
        old = jnp.arange(2) == act  # (2,): the slot to restart on a swap
        restart = swap & old
        return NeuralLinearState(
            learner=learner,
            reps=jnp.where(restart[:, None], learner.net, state.reps),
            heads=heads,
            live=jnp.where(restart[:, None], 0, live),
            prior=jnp.where(restart, 1 / jnp.asarray(hparams.lam, dt), state.prior),
            active=jnp.where(swap, nxt, act),
            start=jnp.where(swap, state.swap_at, state.start),
            swap_at=jnp.where(swap, state.swap_at + period, state.swap_at),
        )

    return init, select, update


@register("neural_linear_ts", hparams=NeuralLinearTSHParams,
          rules={"v": V.NONNEGATIVE, "lam": V.POSITIVE, "lr": V.POSITIVE}, aliases={"alpha": "v"},
          cli_defaults={"alpha": 1.0})
def neural_linear_ts(num_actions: int, context_dim: int, dtype=jnp.float32, v: float = 1.0, lam: float = 1.0,
                     lr: float = 3e-3, hidden=DEFAULT_HIDDEN, buffer_size: int = DEFAULT_BUFFER,
                     batch_size: int = DEFAULT_BATCH, train_steps: int = 1, refresh_every: int = DEFAULT_REFRESH,
                     refresh_growth: float = DEFAULT_GROWTH, head_context: bool = True,
                     num_samples: int = DEFAULT_NUM_SAMPLES) -> Policy:
    """Neural-linear Thompson sampling (see the module docstring).

    State: :class:`NeuralLinearState`. hidden: widths of the ReLU layers (the last one is the
    representation). buffer_size: replay rows (a multiple of ``refresh_every``). batch_size,
    train_steps: Adam minibatch size and steps per round. refresh_every: rounds between
    representation refreshes. num_samples: Monte Carlo draws for ``probs`` (per-entry standard
    error ``sqrt(p (1 - p) / num_samples)``). All static.
    """
    cfg = _config("neural_linear_ts", num_actions, context_dim, dtype, hidden, buffer_size, batch_size, train_steps)
    M = V.check_positive_int(num_samples, "num_samples")
    defaults = NeuralLinearTSHParams(float(v), float(lam), float(lr))
    V.check_hparam_defaults(cfg.name, defaults)
    dt, K = cfg.dtype, cfg.K

    def decide(key, mean, quad, mask, hparams):
        sd = jnp.asarray(hparams.v, dt) * jnp.sqrt(quad)
        return ts_decision(key, lambda k, n: mean + sd * jax.random.normal(k, (n, K), dt), mask, M, dt)

    init, select, update = _neural_linear(cfg, refresh_every, refresh_growth, head_context, decide)
    return Policy(cfg.name, cfg.K, cfg.d, defaults, init, select, update)


@register("neural_linear_ucb", hparams=NeuralLinearUCBHParams,
          rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE, "lr": V.POSITIVE}, cli_defaults={"alpha": 1.0})
def neural_linear_ucb(num_actions: int, context_dim: int, dtype=jnp.float32, alpha: float = 1.0,
                      lam: float = 1.0, lr: float = 3e-3, hidden=DEFAULT_HIDDEN, buffer_size: int = DEFAULT_BUFFER,
                      batch_size: int = DEFAULT_BATCH, train_steps: int = 1,
                      refresh_every: int = DEFAULT_REFRESH, refresh_growth: float = DEFAULT_GROWTH,
                      head_context: bool = True) -> Policy:
    """Neural-linear UCB: LinUCB on the learned features ``[h(x), 1]`` (see the module docstring).

    State: :class:`NeuralLinearState`; static options as in :func:`neural_linear_ts`.
    """
    cfg = _config("neural_linear_ucb", num_actions, context_dim, dtype, hidden, buffer_size, batch_size, train_steps)
    defaults = NeuralLinearUCBHParams(float(alpha), float(lam), float(lr))
    V.check_hparam_defaults(cfg.name, defaults)
    dt = cfg.dtype

    def decide(key, mean, quad, mask, hparams):
        probs = tie_split(mean + jnp.asarray(hparams.alpha, dt) * jnp.sqrt(quad), mask)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    init, select, update = _neural_linear(cfg, refresh_every, refresh_growth, head_context, decide)
    return Policy(cfg.name, cfg.K, cfg.d, defaults, init, select, update)


# --------------------------------------------------------------------------- greedy network policies


@register("neural_epsilon_greedy", hparams=NeuralEpsilonGreedyHParams,
          rules={"epsilon": V.UNIT, "lr": V.POSITIVE}, cli_defaults={"epsilon": 0.1})
def neural_epsilon_greedy(num_actions: int, context_dim: int, dtype=jnp.float32, epsilon: float = 0.1,
                          lr: float = 3e-3, hidden=DEFAULT_HIDDEN, buffer_size: int = DEFAULT_BUFFER,
                          batch_size: int = DEFAULT_BATCH, train_steps: int = 1) -> Policy:
    """Epsilon-greedy on the network's predictions ``f(x)``.

    ``probs = (1 - epsilon) tie_split(f(x), mask) + epsilon mask / mask.sum()``. State: :class:`Learner`.
    """
    cfg = _config("neural_epsilon_greedy", num_actions, context_dim, dtype, hidden, buffer_size, batch_size,
                  train_steps)
    defaults = NeuralEpsilonGreedyHParams(float(epsilon), float(lr))
    V.check_hparam_defaults(cfg.name, defaults)
    dt = cfg.dtype

    def init(key, hparams) -> Learner:
        return _learner_init(cfg, key, hparams)

    def select(key, state, context, mask, hparams) -> Decision:
        _check_round(cfg, context, mask)
        eps = jnp.asarray(hparams.epsilon, dt)
        greedy = tie_split(cfg.mlp.apply(state.net, jnp.asarray(context, dt)), mask)
        probs = (1 - eps) * greedy + eps * uniform_over(mask, dt)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    def update(state, context, action, reward, hparams) -> Learner:
        _check_round(cfg, context)
        return _learn(cfg, state, jnp.asarray(context, dt), jnp.asarray(action, jnp.int32),
                      jnp.asarray(reward, dt), hparams)

    return Policy(cfg.name, cfg.K, cfg.d, defaults, init, select, update)


@register("neural_ucb", hparams=NeuralUCBHParams,
          rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE, "lr": V.POSITIVE}, cli_defaults={"alpha": 1.0})
def neural_ucb(num_actions: int, context_dim: int, dtype=jnp.float32, alpha: float = 1.0, lam: float = 1.0,
               lr: float = 3e-3, hidden=DEFAULT_HIDDEN, buffer_size: int = DEFAULT_BUFFER,
               batch_size: int = DEFAULT_BATCH, train_steps: int = 1) -> Policy:
    """NeuralUCB with a diagonal ``Z`` (see the module docstring). State: :class:`NeuralUCBState`."""
    cfg = _config("neural_ucb", num_actions, context_dim, dtype, hidden, buffer_size, batch_size, train_steps)
    defaults = NeuralUCBHParams(float(alpha), float(lam), float(lr))
    V.check_hparam_defaults(cfg.name, defaults)
    dt = cfg.dtype

    def init(key, hparams) -> NeuralUCBState:
        learner = _learner_init(cfg, key, hparams)
        lam = jnp.asarray(hparams.lam, dt)
        return NeuralUCBState(learner=learner, z_inv=jnp.full(learner.net.shape, 1 / lam, dt))

    def select(key, state, context, mask, hparams) -> Decision:
        _check_round(cfg, context, mask)
        x = jnp.asarray(context, dt)
        f, width2 = cfg.mlp.apply_and_widths(state.learner.net, state.z_inv, x)  # closed form, no Jacobian
        probs = tie_split(f + jnp.asarray(hparams.alpha, dt) * jnp.sqrt(width2), mask)
        return Decision(action=sample_from_probs(key, probs), probs=probs)

    def update(state, context, action, reward, hparams) -> NeuralUCBState:
        _check_round(cfg, context)
        x, a = jnp.asarray(context, dt), jnp.asarray(action, jnp.int32)
        g2z = cfg.mlp.output_grad(state.learner.net, x, a) ** 2 * state.z_inv
        learner = _learn(cfg, state.learner, x, a, jnp.asarray(reward, dt), hparams)
        return NeuralUCBState(learner=learner, z_inv=state.z_inv / (1 + g2z))  # 1 / (Z + g^2)

    return Policy(cfg.name, cfg.K, cfg.d, defaults, init, select, update)


__all__ = [
    "neural_linear_ts", "neural_linear_ucb", "neural_epsilon_greedy", "neural_ucb",
    "NeuralLinearState", "NeuralUCBState", "Learner", "Replay",
    "NeuralLinearTSHParams", "NeuralLinearUCBHParams", "NeuralEpsilonGreedyHParams", "NeuralUCBHParams",
]
