"""Living catalog (envs/catalog.py) and two-stage feedback (envs/feedback.py).

References are independent: numpy float64 closed forms of the trend curve and of the expected
rewards, brute-force enumeration of slates, Monte Carlo means checked within 4 standard errors.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.contracts import Env, EnvStep, Observation
from bandits.policies import REGISTRY, make
from envs.catalog import (
    LIVE_EVENT,
    NEVER,
    Catalog,
    appeal_offset,
    available,
    best_slate_value,
    make_catalog,
    random_catalog,
    trend_curve,
    validate_catalog,
    with_catalog,
)
from envs.feedback import completion_by_type, with_two_stage
from envs.synthetic import bernoulli_arms, linear_gaussian, logistic_bernoulli

K, D, T = 6, 3, 48


def slate_env(probs, slot_factor) -> Env:
    """Minimal slate base env: item k in slot l clicked with prob probs[k] * slot_factor[l]; the
    context is the constant ones (D,)."""
    probs = jnp.asarray(probs, jnp.float32)
    g = jnp.asarray(slot_factor, jnp.float32)
    k, L = probs.shape[0], g.shape[0]
    one, mask = jnp.ones((D,), jnp.float32), jnp.ones((k,), bool)

    def reset(key, params):
        return Observation(one, mask), jnp.zeros((), jnp.int32)

    def step(key, state, action, params):
        mu = params[:, None] * g[None, :]
        mu_a = mu[action, jnp.arange(L)]
        r = (jax.random.uniform(key, (L,)) < mu_a).astype(jnp.float32)
        best = jnp.sum(jnp.sort(params)[::-1][:L] * jnp.sort(g)[::-1])
        return EnvStep(Observation(one, mask), state + 1, r, jnp.sum(mu_a), best, mu, {})

    return Env("slate_toy", k, D, probs, reset, step, len_list=L)


# a hand-made catalog: 2 evergreen titles, a series leaving at 30, a game arriving at 10, a live
# event in [12, 28) and a movie arriving at 20 (cold start)
TYPES = ["movie", "movie", "series", "game", "live_event", "movie"]
ARRIVE = [0, 0, 0, 10, 12, 20]
DEPART = [NEVER, NEVER, 30, NEVER, 28, NEVER]


@pytest.fixture(scope="module")
def hand_catalog() -> Catalog:
    return make_catalog(TYPES, ARRIVE, DEPART, peak=[1, 1, 1, 1, 5.0, 1], sharpness=[2, 2, 2, 2, 3.0, 2],
                        amplitude=[0, 0, 0, 0, 2.0, 0])


def np_available(t):
    t = np.asarray(t)[..., None]
    return (np.asarray(ARRIVE) <= t) & (t < np.asarray(DEPART))


# ------------------------------------------------------------------------------ trend curve


def test_trend_curve_matches_numpy_closed_form():
    s = np.linspace(-3.0, 60.0, 127)
    for p, a in [(5.0, 3.0), (12.5, 1.0), (2.0, 0.5)]:
        ref = np.array([(x / p) ** a * np.exp(a * (1 - x / p)) if x > 0 else 0.0 for x in s])
        got = np.asarray(trend_curve(jnp.asarray(s, jnp.float32), p, a))
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)
        assert float(trend_curve(jnp.float32(p), p, a)) == pytest.approx(1.0, abs=1e-6)
        # rises before the peak, decays after it
        assert np.all(np.diff(ref[(s > 0) & (s <= p)]) > 0) and np.all(np.diff(ref[s >= p]) < 0)


def test_appeal_offset_closed_form(hand_catalog):
    cat = hand_catalog._replace(drift_slope=jnp.asarray([0.01, 0, 0, -0.02, 0, 0], jnp.float32))
    walk = jnp.asarray([0.1, -0.2, 0, 0, 0.3, 0], jnp.float32)
    for t in [0, 13, 17, 27, 40]:
        s = t - 12.0
        live = 2.0 * (s / 5.0) ** 3 * np.exp(3 * (1 - s / 5.0)) if s > 0 else 0.0
        ref = np.array([0.01 * t + 0.1, -0.2, 0, -0.02 * t, live + 0.3, 0])
        np.testing.assert_allclose(np.asarray(appeal_offset(cat, t, walk)), ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(available(cat, t)), np_available(t))


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(item_type=["movie", "film"]), r"item_type\[1\].*'film'"),
        (dict(item_type=[0, 7]), r"item_type\[1\]"),
        (dict(item_type=["movie", "movie"], arrive=[0, 5], depart=[10, 5]), r"depart\[1\].*arrive=5, depart=5"),
        (dict(item_type=["movie", "live_event"], depart=[NEVER, NEVER]), r"depart\[1\].*live event"),
        (dict(item_type=["movie", "live_event"], depart=[NEVER, 9], peak=[1, 0]), r"peak\[1\]"),
        (dict(item_type=["movie", "series"], amplitude=[0, 1.0]), r"amplitude\[1\].*series"),
        (dict(item_type=["movie", "movie"], arrive=[0, 1, 2]), r"arrive: expected shape \(2,\)"),
        (dict(item_type=["movie"], features=np.ones((2, 3))), r"features: expected shape \(1, p\)"),
        (dict(item_type=["movie"], arrive=[-1]), r"arrive: expected rounds"),
    ],
)
def test_make_catalog_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_catalog(**kwargs)


def test_validate_catalog_horizon_and_size(hand_catalog):
    validate_catalog(hand_catalog, num_actions=K, horizon=100)
    with pytest.raises(ValueError, match="expected size 7"):
        validate_catalog(hand_catalog, num_actions=7)
    gap = make_catalog(["movie", "movie"], [0, 8], [5, NEVER])
    with pytest.raises(ValueError, match="no title is available in round 5"):
        validate_catalog(gap, horizon=20)
    with pytest.raises(ValueError, match=r"catalog: expected size 6 .* got a catalog of 2"):
        with_catalog(logistic_bernoulli(K, D), gap)
    with pytest.raises(ValueError, match="link"):
        with_catalog(logistic_bernoulli(K, D), hand_catalog, link="probit")


def test_random_catalog_layout_and_windows():
    horizon = 500
    cat = random_catalog(jax.random.key(3), num_movies=7, num_series=4, num_games=3, num_live_events=5,
                         horizon=horizon, max_size=22, feature_dim=2)
    c = jax.tree.map(np.asarray, cat)
    np.testing.assert_array_equal(c.item_type[:19], [0] * 7 + [1] * 4 + [2] * 3 + [3] * 5)
    np.testing.assert_array_equal(c.present, np.arange(22) < 19)
    assert c.features.shape == (22, 6) and np.all(c.features[19:] == 0)
    np.testing.assert_array_equal(c.features[:19, :4], np.eye(4)[c.item_type[:19]])
    assert c.arrive[0] == 0 and c.depart[0] == NEVER
    live = c.item_type == LIVE_EVENT
    dur = c.depart[live] - c.arrive[live]
    assert np.all(dur >= 25) and np.all(dur <= 100) and np.all(c.depart[live] <= horizon)
    assert np.all((c.peak[live] >= 0.2 * dur - 1e-4) & (c.peak[live] <= 0.5 * dur + 1e-4))
    assert np.all((c.amplitude[live] >= 1) & (c.amplitude[live] <= 3)) and np.all(c.amplitude[~live] == 0)
    reg = ~live & c.present
    assert np.all((c.arrive[reg] >= 0) & (c.arrive[reg] < horizon))
    with pytest.raises(ValueError, match="max_size"):
        random_catalog(jax.random.key(0), num_movies=3, num_series=0, num_games=0, num_live_events=0, max_size=2)
    with pytest.raises(ValueError, match="evergreen"):
        random_catalog(jax.random.key(0), num_movies=0, num_series=0, num_games=0, num_live_events=2)


# ------------------------------------------------------------------------------ expected rewards


def test_best_slate_value_matches_brute_force():
    rng = np.random.default_rng(0)
    f = jax.jit(best_slate_value)
    for L in (1, 2, 3):
        for _ in range(6):
            vals = rng.normal(size=(7, L)).astype(np.float32)
            mask = rng.random(7) < 0.7
            mask[:L] = True
            ref = max(
                sum(vals[s[j], j] for j in range(L))
                for s in itertools.permutations(np.flatnonzero(mask), L)
            )
            assert float(f(jnp.asarray(vals), jnp.asarray(mask))) == pytest.approx(ref, abs=1e-5)


@pytest.mark.parametrize("link", ["logit", "additive"])
def test_expected_rewards_closed_form_and_mask(hand_catalog, link):
    base = logistic_bernoulli(K, D, seed=1) if link == "logit" else linear_gaussian(K, D, seed=1)
    env = with_catalog(base, hand_catalog, link=link, drift_sigma=0.05, horizon=T)
    th = np.asarray(base.default_params.theta, np.float64)
    b = np.asarray(base.default_params.bias, np.float64)
    # replay the env by hand to get the offsets it used, and compare with the numpy closed form
    keys = jax.random.split(jax.random.key(5), T)
    obs, st = env.reset(jax.random.key(4), env.default_params)
    step = jax.jit(env.step)
    for t in range(T):
        x = np.asarray(obs.context, np.float64)
        np.testing.assert_array_equal(np.asarray(obs.mask), np_available(t))
        a = int(np.flatnonzero(np_available(t))[t % int(np_available(t).sum())])
        out = step(keys[t], st, jnp.int32(a), env.default_params)
        z = np.asarray(out.info["catalog_offset"], np.float64)
        s = t - 12.0
        live = 2.0 * (s / 5.0) ** 3 * np.exp(3 * (1 - s / 5.0)) if s > 0 else 0.0
        np.testing.assert_allclose(z - np.asarray(st.drift), [0, 0, 0, 0, live, 0], atol=1e-5)
        lin = th @ x + b
        mu = 1 / (1 + np.exp(-(lin + z))) if link == "logit" else lin + z
        mu = np.where(np_available(t), mu, 0.0)
        np.testing.assert_allclose(np.asarray(out.expected_rewards), mu, rtol=2e-5, atol=2e-6)
        assert float(out.expected_reward) == pytest.approx(mu[a], abs=2e-6)
        assert float(out.best_expected_reward) == pytest.approx(mu[np_available(t)].max(), abs=2e-6)
        obs, st = out.obs, out.state


def test_logit_coupling_reward_mean_and_unavailable_action(hand_catalog):
    """P(r' = 1) equals the shifted probability, for shifts up and down (vmap over 40k keys)."""
    probs = jnp.asarray([0.3, 0.6, 0.2, 0.5, 0.4, 0.1], jnp.float32)
    env = with_catalog(bernoulli_arms(probs=probs), hand_catalog, link="logit")
    slope = jnp.asarray([0.08, -0.1, 0, 0, 0, 0], jnp.float32)  # at t=15: +1.2 and -1.5 on the logit
    params = env.default_params._replace(catalog=hand_catalog._replace(drift_slope=slope))
    _, st = env.reset(jax.random.key(0), params)
    st = st._replace(t=jnp.int32(15))
    n = 40_000
    keys = jax.random.split(jax.random.key(1), n)
    f = jax.jit(jax.vmap(env.step, in_axes=(0, None, None, None)))
    for a in (0, 1, 4):
        out = f(keys, st, jnp.int32(a), params)
        mu = float(out.expected_reward[0])
        p0 = float(probs[a])
        z = float(np.asarray(out.info["catalog_offset"][0])[a])
        assert mu == pytest.approx(1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + z))), rel=1e-5)
        r = np.asarray(out.reward)
        assert set(np.unique(r)) <= {0.0, 1.0}
        assert abs(r.mean() - mu) < 4 * np.sqrt(mu * (1 - mu) / n)
    out = f(keys, st._replace(t=jnp.int32(40)), jnp.int32(4), params)  # live event gone
    assert np.all(np.asarray(out.reward) == 0) and np.all(np.asarray(out.expected_reward) == 0)


def test_drift_random_walk_variance(hand_catalog):
    env = with_catalog(bernoulli_arms(probs=[0.5] * K), hand_catalog, drift_sigma=0.1, drift_rho=1.0)
    t_end, n = 25, 4000

    def run(key):
        obs, st = env.reset(key, env.default_params)

        def body(st, k):
            out = env.step(k, st, jnp.int32(0), env.default_params)
            return out.state, None

        st, _ = jax.lax.scan(body, st, jax.random.split(key, t_end))
        return st.drift

    w = np.asarray(jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(2), n)), np.float64)
    var = w.var(axis=0)
    ref = t_end * 0.1**2
    # sample variance of n normals: relative SE sqrt(2 / n); 4 SE over K titles
    assert np.all(np.abs(var / ref - 1) < 4 * np.sqrt(2 / n))
    assert np.abs(w.mean(axis=0)).max() < 4 * np.sqrt(ref / n)


# ------------------------------------------------------------------------------ every policy


@pytest.fixture(scope="module")
def catalog_envs(hand_catalog):
    single = with_catalog(logistic_bernoulli(K, D, seed=2), hand_catalog, horizon=T)
    slate = with_catalog(slate_env([0.3, 0.6, 0.2, 0.5, 0.4, 0.1], [1.0, 0.7, 0.4]), hand_catalog, horizon=T)
    return single, slate


@pytest.fixture(scope="module")
def catalog_observations(catalog_envs):
    """Contexts (T, D) and masks (T, K) the catalog env shows over T rounds (one compiled scan)."""
    env = catalog_envs[0]

    def run(key):
        obs, st = env.reset(key, env.default_params)

        def body(carry, t):
            obs, st = carry
            a = jnp.argmax(obs.mask).astype(jnp.int32)
            out = env.step(jax.random.fold_in(key, t), st, a, env.default_params)
            return (out.obs, out.state), obs

        _, seen = jax.lax.scan(body, (obs, st), jnp.arange(T))
        return seen

    seen = jax.jit(run)(jax.random.key(11))
    np.testing.assert_array_equal(np.asarray(seen.mask), np_available(np.arange(T)))
    return seen


def _first_and_last(rounds_shown: np.ndarray) -> tuple[int, int]:
    return int(rounds_shown.min()), int(rounds_shown.max())


# rounds on both sides of every window edge (arrivals 10, 12, 20; departures 28, 30)
EDGE_ROUNDS = np.array([0, 9, 10, 11, 12, 19, 20, 27, 28, 29, 30, T - 1])


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_window_mask_honoured_by_every_policy(name, catalog_observations):
    """Every registered policy, given the catalog's observation of the rounds around each window
    edge, puts probability exactly 0 on titles outside their window (live event 4: [12, 28);
    cold-start movie 5: from round 20; series 2 leaves at 30; game 3 from round 10), and its
    sampled actions are available."""
    pol = make(name, num_actions=K, context_dim=D)
    state = pol.init(jax.random.key(0), pol.default_hparams)
    n = EDGE_ROUNDS.size
    keys = jax.random.split(jax.random.key(1), n)
    sel = jax.jit(jax.vmap(pol.select, in_axes=(0, None, 0, 0, None)))
    ctx = catalog_observations.context[EDGE_ROUNDS]
    mask = catalog_observations.mask[EDGE_ROUNDS]
    dec = sel(keys, state, ctx, mask, pol.default_hparams)
    probs, act = np.asarray(dec.probs), np.asarray(dec.action)
    avail = np_available(EDGE_ROUNDS)
    if pol.len_list == 1:
        assert probs.shape == (n, K)
        assert np.all(probs[~avail] == 0), name
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert np.all(avail[np.arange(n), act]), name
    else:
        L = pol.len_list
        assert probs.shape == (n, K, L)
        assert np.all(probs[~avail] == 0), name
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert np.all(avail[np.arange(n)[:, None], act]), name


@pytest.mark.parametrize("name", ["random", "linucb", "slate_linucb"])
def test_first_impressions_after_arrival_in_rollout(name, catalog_envs):
    """Through H2's rollout (learning on): a title's impressions all fall inside its window."""
    from bandits.engine.rollout import rollout

    if name not in REGISTRY:
        pytest.skip(f"policy {name!r} not registered")
    pol = make(name, num_actions=K, context_dim=D)
    env = catalog_envs[0] if pol.len_list == 1 else catalog_envs[1]
    tr = rollout(env, pol, jax.random.key(7), horizon=T, log=True)
    probs = np.asarray(tr.probs)
    avail = np_available(np.arange(T))
    assert np.all(probs[~avail] == 0)
    act = np.asarray(tr.action).reshape(T, -1)
    for k in (2, 3, 4, 5):
        rounds = np.flatnonzero((act == k).any(axis=1))
        if rounds.size:
            first, last = _first_and_last(rounds)
            assert first >= ARRIVE[k] and last < DEPART[k], (name, k, first, last)
    # the cold-start movie does get shown once it arrives (uniform/optimistic exploration)
    if name in ("random", "linucb"):
        assert np.any(act[ARRIVE[5]:] == 5)


def test_slate_catalog_best_is_exact(catalog_envs, hand_catalog):
    env = catalog_envs[1]
    p = np.array([0.3, 0.6, 0.2, 0.5, 0.4, 0.1])
    g = np.array([1.0, 0.7, 0.4])
    obs, st = env.reset(jax.random.key(0), env.default_params)
    st = st._replace(t=jnp.int32(14), mask=available(hand_catalog, 14))
    out = jax.jit(env.step)(jax.random.key(1), st, jnp.asarray([1, 4, 0], jnp.int32), env.default_params)
    s = 14 - 12.0
    z = np.zeros(K)
    z[4] = 2.0 * (s / 5) ** 3 * np.exp(3 * (1 - s / 5))
    mu = p[:, None] * g[None, :]
    new = 1 / (1 + np.exp(-(np.log(mu / (1 - mu)) + z[:, None])))
    new[~np_available(14)] = 0
    ref_best = max(sum(new[s_[j], j] for j in range(3)) for s_ in itertools.permutations(range(K), 3))
    assert float(out.best_expected_reward) == pytest.approx(ref_best, abs=1e-5)
    assert float(out.expected_reward) == pytest.approx(new[1, 0] + new[4, 1] + new[0, 2], abs=1e-5)


# ------------------------------------------------------------------------------ two-stage feedback


def test_two_stage_expectations_closed_form(hand_catalog):
    probs = np.array([0.3, 0.6, 0.2, 0.5, 0.4, 0.1])
    c = np.asarray(completion_by_type(hand_catalog, movie=0.6, series=0.3, game=0.5, live_event=0.8))
    np.testing.assert_allclose(c, [0.6, 0.6, 0.3, 0.5, 0.8, 0.6], rtol=1e-6)
    env = with_two_stage(bernoulli_arms(probs=probs), c, reward="weighted", play_weight=0.25, complete_weight=1.0)
    obs, st = env.reset(jax.random.key(0), env.default_params)
    n = 40_000
    f = jax.jit(jax.vmap(env.step, in_axes=(0, None, None, None)))
    keys = jax.random.split(jax.random.key(3), n)
    for a in (1, 4):
        out = f(keys, st, jnp.int32(a), env.default_params)
        play, comp = np.asarray(out.info["play"]), np.asarray(out.info["complete"])
        assert np.all(comp <= play)
        ep, ec = probs[a], probs[a] * c[a]
        assert float(out.info["expected_play"][0]) == pytest.approx(ep, rel=1e-6)
        assert float(out.info["expected_complete"][0]) == pytest.approx(ec, rel=1e-6)
        assert abs(play.mean() - ep) < 4 * np.sqrt(ep * (1 - ep) / n)
        assert abs(comp.mean() - ec) < 4 * np.sqrt(ec * (1 - ec) / n)
        vals = probs * (0.25 + c)
        np.testing.assert_allclose(np.asarray(out.expected_rewards[0]), vals, rtol=1e-6)
        assert float(out.expected_reward[0]) == pytest.approx(vals[a], rel=1e-6)
        assert float(out.best_expected_reward[0]) == pytest.approx(vals.max(), rel=1e-6)
        r = np.asarray(out.reward)
        np.testing.assert_allclose(r, 0.25 * play + comp)
        assert abs(r.mean() - vals[a]) < 4 * r.std() / np.sqrt(n)


def test_two_stage_modes_and_errors(hand_catalog):
    base = bernoulli_arms(probs=[0.5] * K)
    e_play = with_two_stage(base, 0.5, reward="play")
    e_comp = with_two_stage(base, 0.5)
    assert (float(e_play.default_params.play_weight), float(e_play.default_params.complete_weight)) == (1, 0)
    assert (float(e_comp.default_params.play_weight), float(e_comp.default_params.complete_weight)) == (0, 1)
    with pytest.raises(ValueError, match="reward"):
        with_two_stage(base, 0.5, reward="watch")
    with pytest.raises(ValueError, match="both required"):
        with_two_stage(base, 0.5, reward="weighted", play_weight=1.0)
    with pytest.raises(ValueError, match=r"completion_prob: expected shape \(6,\)"):
        with_two_stage(base, [0.5, 0.5])
    with pytest.raises(ValueError, match=r"completion_prob: expected probabilities in \[0, 1\]"):
        with_two_stage(base, 1.5)
    with pytest.raises(ValueError, match="live_event"):
        completion_by_type(hand_catalog, live_event=2.0)


def test_two_stage_over_catalog_mask(hand_catalog):
    env = with_two_stage(with_catalog(bernoulli_arms(probs=[0.5] * K), hand_catalog), 0.5)
    from bandits.engine.rollout import rollout

    tr = rollout(env, make("random", num_actions=K, context_dim=1), jax.random.key(0), horizon=T, log=True)
    assert np.all(np.asarray(tr.probs)[~np_available(np.arange(T))] == 0)
    assert np.all(np.asarray(tr.regret) >= -1e-6)


def test_float64_leg(hand_catalog):
    with jax.enable_x64(True):
        cat = make_catalog(TYPES, ARRIVE, DEPART, peak=[1, 1, 1, 1, 5.0, 1], sharpness=[2, 2, 2, 2, 3.0, 2],
                           amplitude=[0, 0, 0, 0, 2.0, 0], dtype=jnp.float64)
        base = logistic_bernoulli(K, D, seed=1, dtype=jnp.float64)
        env = with_catalog(base, cat)
        obs, st = jax.jit(env.reset)(jax.random.key(0), env.default_params)
        out = jax.jit(env.step)(jax.random.key(1), st._replace(t=jnp.int32(15)), jnp.int32(4), env.default_params)
        assert out.expected_rewards.dtype == jnp.float64 and out.reward.dtype == jnp.float64
        x = np.asarray(obs.context)
        s = 3.0
        z = 2.0 * (s / 5) ** 3 * np.exp(3 * (1 - s / 5))
        lin = np.asarray(base.default_params.theta) @ x + np.asarray(base.default_params.bias)
        assert float(out.expected_reward) == pytest.approx(1 / (1 + np.exp(-(lin[4] + z))), rel=1e-12)


def test_new_catalog_or_drift_does_not_retrace(hand_catalog):
    """Catalog arrays and drift knobs are traced params: a different catalog of the same size (or
    a new drift_sigma) reuses the compiled step."""
    env = with_catalog(bernoulli_arms(probs=[0.5] * K), hand_catalog, drift_sigma=0.1)
    f = jax.jit(env.step)
    _, st = env.reset(jax.random.key(0), env.default_params)
    f(jax.random.key(1), st, jnp.int32(0), env.default_params)
    other = make_catalog(["movie"] * 5 + ["live_event"], [0, 0, 3, 4, 5, 6], [NEVER] * 5 + [9],
                         amplitude=[0, 0, 0, 0, 0, 1.5], peak=[1, 1, 1, 1, 1, 2.0])
    p2 = env.default_params._replace(catalog=other, drift_sigma=jnp.float32(0.3))
    out = f(jax.random.key(1), st, jnp.int32(5), p2)
    assert f._cache_size() == 1
    assert float(out.expected_reward) == 0.0  # title 5 of the other catalog arrives at round 6
