"""The OBD-shaped known world (envs/known.py).

References: the stated construction recomputed in float64 numpy from the bundled data and the site
prior (level, interaction strength, centring on the site prior), and the JAX environment's own
expected rewards compared with the float64 truth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.datasets import load_obd, obd_site_prior
from envs.known import WORLDS, make_world, obd_world, toy_world, unique_rows


@pytest.fixture(scope="module")
def world():
    return obd_world(interaction=0.5, item_noise=0.3, member_effect=0.3, seed=3)


def _logits(w):
    Q = w.click_matrix()
    return np.log(Q) - np.log1p(-Q)


def test_members_are_the_bundled_contexts(world):
    data = load_obd("random", "all")
    rows, counts, inv = unique_rows(data.context)
    np.testing.assert_array_equal(rows[inv], data.context)
    assert world.contexts.shape == (rows.shape[0], 20) and world.n_actions == 80 and world.len_list == 3
    np.testing.assert_allclose(world.weights, counts / counts.sum(), rtol=0, atol=0)
    np.testing.assert_array_equal(world.action_context, data.action_context)
    assert world.context_dim == 21  # intercept appended for policies


def test_level_is_the_stated_click_rate(world):
    Q = world.click_matrix()
    assert abs(np.einsum("i,ikl->", world.weights, Q) / (80 * 3) - 0.0038) < 1e-12
    uniform = np.full((world.contexts.shape[0], 80, 3), 1 / 80)
    assert abs(world.value(uniform) - 0.0038) < 1e-12
    # the JAX environment (float32) agrees with the float64 truth
    assert abs(world.env_value_check() - 0.0038) < 1e-8


def test_interaction_strength_and_centring_on_the_site_prior(world):
    z = _logits(world)[:, :, 0]  # top slot
    w = world.weights
    member_mean = z.mean(axis=1, keepdims=True)
    item_mean = np.einsum("i,ik->k", w, z)[None, :]
    resid = z - member_mean - item_mean + np.einsum("i,i->", w, member_mean[:, 0])
    sd = np.sqrt(np.einsum("i,ik->", w, resid**2) / 80)
    assert abs(sd - 0.5) < 1e-9
    # with no item noise the items' mean logits are the site prior's, up to a constant
    w0 = obd_world(item_noise=0.0, seed=3)
    a, b = obd_site_prior("all")
    prior = np.log(a / (a + b)) - np.log1p(-a / (a + b))
    im = np.einsum("i,ik->k", w0.weights, _logits(w0)[:, :, 0])
    np.testing.assert_allclose(im - im.mean(), prior - prior.mean(), atol=1e-9)
    # item noise moves them by about the stated sd
    dev = (item_mean[0] - item_mean[0].mean()) - (prior - prior.mean())
    assert 0.2 < dev.std() < 0.4


def test_no_interaction_means_every_member_ranks_items_alike():
    w = obd_world(interaction=0.0, seed=1)
    z = _logits(w)[:, :, 0]
    order = np.argsort(-z, axis=1)
    assert np.all(order == order[0])
    # position effects are the stated logit offsets
    zz = _logits(w)
    np.testing.assert_allclose(zz[:, :, 1] - zz[:, :, 0], -0.2, atol=1e-9)
    np.testing.assert_allclose(zz[:, :, 2] - zz[:, :, 0], -0.4, atol=1e-9)


@pytest.mark.parametrize("L", [1, 3])
def test_env_step_matches_the_truth(world, L):
    env = world.env(L)
    assert env.len_list == L and env.context_dim == 21
    key = jax.random.key(0)
    obs, st = env.reset(key, env.default_params)
    action = jnp.asarray(5 if L == 1 else [5, 7, 9], jnp.int32)
    out = jax.jit(env.step)(jax.random.key(1), st, action, env.default_params)
    x = np.asarray(obs.context, np.float64)[:20]
    i = int(np.flatnonzero(np.all(world.contexts == x, axis=1))[0])
    Q = world.click_matrix()[i]  # (K, 3)
    exp = np.asarray(out.expected_rewards, np.float64)
    np.testing.assert_allclose(exp, Q[:, 0] if L == 1 else Q, rtol=2e-5)
    if L == 1:
        assert abs(float(out.best_expected_reward) - Q[:, 0].max()) < 1e-7
    else:
        # best slate: brute force over ordered triples of the top items
        top = np.argsort(-Q[:, 0])[:6]
        best = max(Q[a, 0] + Q[b, 1] + Q[c, 2] for a in top for b in top for c in top if len({a, b, c}) == 3)
        assert abs(float(out.best_expected_reward) - best) < 1e-7


def test_catalog_dynamics_compose():
    from envs.catalog import random_catalog

    cat = random_catalog(jax.random.key(0), num_movies=5, num_series=2, num_games=2, num_live_events=1,
                         horizon=100, initial_fraction=0.6)
    wc = toy_world(seed=0, catalog=cat, catalog_kwargs={"horizon": 100})
    env = wc.env(1)
    obs, st = env.reset(jax.random.key(0), env.default_params)
    a = jnp.asarray(int(np.flatnonzero(np.asarray(obs.mask))[0]), jnp.int32)
    out = jax.jit(env.step)(jax.random.key(1), st, a, env.default_params)
    assert np.isfinite(float(out.expected_reward))
    assert np.asarray(obs.mask).sum() < 10  # some titles have not arrived yet
    with pytest.raises(ValueError, match="catalog"):
        wc.env_value_check(1)
    assert toy_world(seed=0).catalog is None


@pytest.mark.parametrize("kw, arg", [
    ({"interaction": -1.0}, "interaction"), ({"item_noise": float("nan")}, "item_noise"),
    ({"click_rate": 0.7}, "click_rate"), ({"position_effect": ()}, "position_effect"),
    ({"member_effect": "x"}, "member_effect"),
])
def test_bad_settings_name_the_argument(kw, arg):
    with pytest.raises(ValueError, match=arg):
        obd_world(**kw)


def test_registry_and_bad_names(world):
    assert "obd" in WORLDS
    with pytest.raises(KeyError, match="world"):
        make_world("nope")
    with pytest.raises(ValueError, match="len_list"):
        world.env(2)
    with pytest.raises(ValueError, match="action_dist"):
        world.value(np.zeros((3, 80, 3)))
