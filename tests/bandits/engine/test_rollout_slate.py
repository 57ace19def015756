"""rollout with a slate policy (len_list = L): per-slot logged feedback and obp's flattened layout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bandits.contracts import Env, EnvStep, Observation
from bandits.engine.rollout import rollout, to_logged_data
from bandits.policies import make

K, L, D, T = 5, 2, 2, 120
P_ITEM = np.array([0.1, 0.5, 0.3, 0.8, 0.2])
W_SLOT = np.array([1.0, 0.5])


def _slate_env() -> Env:
    """Tiny position-based click model: P(click | item a in slot l) = p_a w_l; constant context."""
    p = jnp.asarray(P_ITEM, jnp.float32)
    w = jnp.asarray(W_SLOT, jnp.float32)
    mask = jnp.ones((K,), bool)
    x = jnp.ones((D,), jnp.float32)
    best = float(np.sort(P_ITEM)[::-1][:L] @ W_SLOT)  # best distinct items in the best slots

    def reset(key, params):
        return Observation(x, mask), jnp.zeros((), jnp.int32)

    def step(key, state, action, params):
        mu = p[:, None] * w[None, :]  # (K, L)
        u = jax.random.uniform(key, (K, L))
        r_all = (u < mu).astype(jnp.float32)
        slots = jnp.arange(L)
        return EnvStep(Observation(x, mask), state + 1, r_all[action, slots], jnp.sum(mu[action, slots]),
                       jnp.asarray(best, jnp.float32), mu, {})

    return Env("toy_slate", K, D, None, reset, step, len_list=L)


def test_slate_rollout_logs_per_slot_pscores_and_flattens_like_obp():
    env = _slate_env()
    pol = make("slate_epsilon_greedy", num_actions=K, context_dim=D, len_list=L)
    tr = rollout(env, pol, 0, hparams={"epsilon": 0.2}, horizon=T, log=True)
    assert tr.action.shape == (T, L) and tr.probs.shape == (T, K, L) and tr.pscore.shape == (T, L)
    probs, act = np.asarray(tr.probs), np.asarray(tr.action)
    np.testing.assert_array_equal(tr.pscore, probs[np.arange(T)[:, None], act, np.arange(L)[None, :]])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    # round reward = sum of slot rewards; regret exact from the closed form
    np.testing.assert_array_equal(tr.reward, np.asarray(tr.slot_reward).sum(1))
    mu = P_ITEM[act] * W_SLOT[None, :]
    np.testing.assert_allclose(tr.regret, np.sort(P_ITEM)[::-1][:L] @ W_SLOT - mu.sum(1), atol=1e-6)
    ld = to_logged_data(tr)
    if isinstance(ld, dict):
        return
    assert ld.n_rounds == T * L and ld.len_list == L and ld.n_actions == K
    np.testing.assert_array_equal(ld.position, np.tile(np.arange(L), T))
    np.testing.assert_array_equal(ld.action, act.reshape(-1))
    np.testing.assert_allclose(ld.pscore, np.asarray(tr.pscore, np.float64).reshape(-1))
    np.testing.assert_allclose(ld.reward, np.asarray(tr.slot_reward, np.float64).reshape(-1))


def test_slate_sweep_runs_with_params_free_env():
    from bandits.engine.sweep import sweep

    env = _slate_env()
    pol = make("slate_epsilon_greedy", num_actions=K, context_dim=D, len_list=L)
    df = sweep(env, [pol], 3, horizon=T, checkpoints=None, chunk_size=4)
    assert len(df) == 3 and (df["cum_regret"] >= 0).all()
    worst = np.sort(P_ITEM)[:L][::-1] @ W_SLOT  # worst slate of distinct items
    best = np.sort(P_ITEM)[::-1][:L] @ W_SLOT
    assert (df["cum_regret"] <= T * (best - worst) + 1e-3).all()
    assert df["cum_regret"].nunique() == 3  # different members per seed
