"""No registered policy calls a LAPACK kernel inside a round (the cause of the sweep hang).

jaxlib's CPU LAPACK kernels (Cholesky, triangular solve, LU, ...) split a batch of matrices over
XLA's intra-op thread pool and block a pool thread until the pieces finish; with as many such
kernels running at once as the pool has threads, every thread waits for work that no thread is
free to do, and a sweep sits in ``block_until_ready`` at 0% CPU (native stacks: every pool
thread in ``jax::ParallelBatchMap`` -> ``BlockingCounter::Wait`` under ``lapack_strsm_ffi``). The
policies do their small dense algebra with plain ``jnp`` loops instead; this test lowers one
vmapped round of every registered policy (all in one program) and checks it holds no LAPACK custom call.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import pytest

from bandits.policies import REGISTRY, make

K, D, MEMBERS = 7, 4, 3
NAMES = sorted(REGISTRY)


def _vmapped_round(name):
    """One vmapped round (init, select, update) of policy ``name``, un-jitted."""
    pol = make(name, num_actions=K, context_dim=D)
    h = jax.tree.map(jnp.asarray, pol.default_hparams)

    def member(key):
        s = pol.init(key, h)
        x = jnp.linspace(-1.0, 1.0, D)
        dec = pol.select(key, s, x, jnp.ones(K, bool), h)
        r = jnp.zeros(dec.action.shape, jnp.float32)
        s = pol.update(s, x, dec.action, r, h)
        return dec.probs, jax.tree.leaves(s)

    return jax.vmap(member)


def _has_lapack(fn, keys) -> bool:
    return "lapack" in jax.jit(fn).lower(keys).as_text().lower()


@pytest.fixture(scope="module")
def offenders():
    """Policies whose round lowers to a LAPACK custom call.

    Every policy's round is lowered in ONE program (one lowering instead of one per policy); only
    when that program holds a LAPACK call is each policy lowered on its own to name the culprits.
    """
    keys = jax.random.split(jax.random.key(0), MEMBERS)
    rounds = {n: _vmapped_round(n) for n in NAMES}
    if not _has_lapack(lambda k: {n: f(k) for n, f in rounds.items()}, keys):
        return set()
    return {n for n, f in rounds.items() if _has_lapack(f, keys)}


def test_the_combined_check_can_fail():
    """The text search used by the fixture sees a LAPACK call when there is one."""
    keys = jax.random.split(jax.random.key(0), MEMBERS)
    assert _has_lapack(jax.vmap(lambda k: jnp.linalg.cholesky(jnp.eye(D) * (1 + jax.random.uniform(k)))), keys)


@pytest.mark.parametrize("name", NAMES)
def test_round_has_no_lapack_call(name, offenders):
    assert name not in offenders, f"{name}: a LAPACK custom call in the round"


def test_sweep_warns_when_a_round_calls_lapack():
    """A user policy that factorises inside its round is flagged by the sweep (it may hang)."""
    from bandits.contracts import Policy
    from bandits.engine.sweep import sweep
    from envs.synthetic import linear_gaussian

    env = linear_gaussian(num_actions=3, context_dim=2)
    base = make("linucb", num_actions=3, context_dim=2)

    def update(state, context, action, reward, hparams):
        chol = jnp.linalg.cholesky(jnp.eye(2) * (1 + jnp.sum(context**2)))  # a LAPACK call
        return base.update(state, context, action, reward * chol[0, 0] / chol[0, 0], hparams)

    pol = Policy("chol_linucb", 3, 2, base.default_hparams, base.init, base.select, update)
    with pytest.warns(RuntimeWarning, match="LAPACK kernel"):
        sweep(env, pol, 2, horizon=3, checkpoints=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweep(env, base, 2, horizon=3, checkpoints=None)  # the registered policies: no warning
