"""Contract tests over EVERY registered policy (bandits.policies.REGISTRY, teammates' included).

Each policy is built with ``make(name, num_actions=K, context_dim=D)`` (defaults for everything
else: a constructor that cannot be built that way fails here, nothing is skipped), then:

* one jitted function runs a short ``lax.scan`` of rounds, vmapped over a grid of 2 hyperparameter
  values and 3 seeds: jit and vmap (over seeds AND hyperparameters) work;
* calling it again with NEW hyperparameter values does not retrace (trace counter);
* every round's probs are >= 0, sum to 1 (per slot for slates), are exactly 0 on masked actions,
  and the played action is available;
* state leaves are not weak-typed and keep the policy dtype;
* float64 leg: the same in ``jax.enable_x64(True)`` with ``dtype=float64`` (probs and float state
  are float64, sums to 1 within 1e-10).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.policies import REGISTRY, make

K, D, T, SEEDS = 6, 3, 6, 3
NAMES = sorted(REGISTRY)


def _grid(default_hparams, dtype, which: int):
    """Two values per hyperparameter, stacked on a leading axis of size 2 (a vmapped grid).

    ``which`` selects a different (but valid-looking) pair so the second call passes new values.
    """
    def pair(v):
        v = float(v)
        scale = (0.5, 0.75) if which == 0 else (0.6, 0.9)
        vals = [v * s if v != 0 else s * 0.1 for s in scale]
        return jnp.asarray(vals, dtype)

    return type(default_hparams)(*[pair(v) for v in default_hparams])


def _inputs(L: int, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    ctx = rng.normal(size=(SEEDS, T, D))
    masks = rng.random((SEEDS, T, K)) < 0.6
    for s in range(SEEDS):
        for t in range(T):
            masks[s, t, rng.permutation(K)[:L]] = True  # at least L available actions
    rewards = (rng.random((SEEDS, T, K)) < 0.5).astype(np.float64)
    return jnp.asarray(ctx, dtype), jnp.asarray(masks), jnp.asarray(rewards, dtype)


def _build_runner(policy, counter):
    L = policy.len_list

    def one_member(key, hparams, ctx, masks, rewards):
        counter[0] += 1  # runs only while tracing
        state = policy.init(jax.random.fold_in(key, 999), hparams)

        def body(st, inp):
            t, x, m, r = inp
            dec = policy.select(jax.random.fold_in(key, t), st, x, m, hparams)
            rew = r[dec.action]
            st = policy.update(st, x, dec.action, rew, hparams)
            return st, (dec.action, dec.probs)

        st, (a, p) = jax.lax.scan(body, state, (jnp.arange(T), ctx, masks, rewards))
        return a, p, st

    over_seeds = jax.vmap(one_member, in_axes=(0, None, 0, 0, 0))
    over_grid = jax.vmap(over_seeds, in_axes=(None, 0, None, None, None), axis_size=2)
    del L
    return jax.jit(over_grid)


def _check_round_outputs(policy, actions, probs, masks, atol):
    L = policy.len_list
    probs = np.asarray(probs, np.float64)
    masks = np.asarray(masks)
    actions = np.asarray(actions)
    G = probs.shape[0]
    if L == 1:
        assert probs.shape == (G, SEEDS, T, K), probs.shape
        p = probs[..., None]
        a = actions[..., None]
    else:
        assert probs.shape == (G, SEEDS, T, K, L), probs.shape
        assert actions.shape == (G, SEEDS, T, L), actions.shape
        p, a = probs, actions
    assert np.all(np.isfinite(p)), f"{policy.name}: non-finite probs"
    assert np.all(p >= 0), f"{policy.name}: negative probs"
    np.testing.assert_allclose(p.sum(axis=-2), 1.0, atol=atol, err_msg=f"{policy.name}: probs do not sum to 1")
    m = np.broadcast_to(masks[None, ..., None], p.shape)
    assert np.all(p[~m] == 0), f"{policy.name}: positive probability on a masked action"
    avail = np.take_along_axis(np.broadcast_to(masks[None], (G, SEEDS, T, K)), a, axis=-1)
    assert np.all(avail), f"{policy.name}: played an unavailable action"


def _check_state(policy, state, dtype):
    for leaf in jax.tree.leaves(state):
        assert not getattr(leaf, "weak_type", False), f"{policy.name}: weak-typed state leaf {leaf}"
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == dtype, f"{policy.name}: state leaf dtype {leaf.dtype}, expected {dtype}"


@pytest.mark.parametrize("name", NAMES)
def test_contract_float32(name):
    policy = make(name, num_actions=K, context_dim=D)
    assert policy.name == name and policy.num_actions == K
    init_shape = jax.eval_shape(policy.init, jax.random.key(0), policy.default_hparams)
    _check_state(policy, init_shape, jnp.float32)
    counter = [0]
    run = _build_runner(policy, counter)
    keys = jax.random.split(jax.random.key(1), SEEDS)
    ctx, masks, rewards = _inputs(policy.len_list, jnp.float32)
    a, p, st = run(keys, _grid(policy.default_hparams, jnp.float32, 0), ctx, masks, rewards)
    _check_round_outputs(policy, a, p, masks, atol=1e-5)
    _check_state(policy, st, jnp.float32)
    a2, p2, _ = run(keys, _grid(policy.default_hparams, jnp.float32, 1), ctx, masks, rewards)
    _check_round_outputs(policy, a2, p2, masks, atol=1e-5)
    assert counter[0] == 1, f"{policy.name}: a new hyperparameter value retraced ({counter[0]} traces)"
    # determinism: same inputs, same outputs (bitwise)
    a3, p3, _ = run(keys, _grid(policy.default_hparams, jnp.float32, 0), ctx, masks, rewards)
    np.testing.assert_array_equal(np.asarray(a3), np.asarray(a))
    np.testing.assert_array_equal(np.asarray(p3), np.asarray(p))


@pytest.mark.parametrize("name", NAMES)
def test_contract_float64(name):
    with jax.enable_x64(True):
        policy = make(name, num_actions=K, context_dim=D, dtype=jnp.float64)
        counter = [0]
        run = _build_runner(policy, counter)
        keys = jax.random.split(jax.random.key(2), SEEDS)
        ctx, masks, rewards = _inputs(policy.len_list, jnp.float64, seed=1)
        a, p, st = run(keys, _grid(policy.default_hparams, jnp.float64, 0), ctx, masks, rewards)
        assert p.dtype == jnp.float64, f"{name}: probs dtype {p.dtype} in the float64 leg"
        _check_state(policy, st, jnp.float64)
        _check_round_outputs(policy, a, p, masks, atol=1e-10)
