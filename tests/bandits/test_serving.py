"""Saved policies (bandits.serving): the portable format round trip, and the numpy server against
the JAX policy on every servable family: same probabilities (float32 rounding) and same decisions
given the same random inputs, extracted from the very keys the JAX ``select`` uses."""

from __future__ import annotations

import json
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits import serving
from bandits.policies import REGISTRY, make
from bandits.policies._sampling import beta_logit_sample

K, D, N_TRAIN, N_CHECK = 5, 3, 60, 100


def _build(name: str):
    static = {"lints": {"num_samples": 64}, "bernoulli_ts": {"num_samples": 64}, "bts": {"n_mc": 128}}.get(name, {})
    hp = {"linucb": {"alpha": 0.7}, "lints": {"v": 0.5}, "ucb1": {"alpha": 0.4}, "epsilon_greedy": {"epsilon": 0.2},
          "lin_epsilon_greedy": {"epsilon": 0.3}}.get(name, {})
    pol = make(name, num_actions=K, context_dim=D, **static)
    return pol, pol.hparams(**hp), static


def _trained(name: str, seed: int = 0):
    """A policy state after N_TRAIN logged rounds of a random logger (an independent data stream)."""
    pol, hp, static = _build(name)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_TRAIN, D))
    A = rng.integers(0, K, N_TRAIN)
    R = (rng.random(N_TRAIN) < 0.2 + 0.15 * A / K + 0.2 * (X[:, 0] > 0)).astype(np.float64)
    def fold(state, row):
        return pol.update(state, row[0], row[1], row[2], hp), None

    rows = (jnp.asarray(X, jnp.float32), jnp.asarray(A, jnp.int32), jnp.asarray(R, jnp.float32))
    state, _ = jax.jit(lambda s: jax.lax.scan(fold, s, rows))(pol.init(jax.random.key(1), hp))
    return pol, hp, static, state


def _jax_noise(name: str):
    """``(key, state) -> inputs``: the random inputs JAX's select draws from ``key``
    (bandits.policies.thompson, bandits.policies.bts, bandits.core)."""
    f32 = jnp.float32
    fold = jax.random.fold_in

    def u(key):
        return jax.random.uniform(key, (), f32)

    if name == "lints":
        return (lambda key, state: {
            "normals": jnp.concatenate([jax.random.normal(fold(key, 0), (1, K), f32),
                                        jax.random.normal(fold(key, 1), (63, K), f32)]),
            "u": u(fold(key, 2))})
    if name == "bernoulli_ts":  # JAX ranks the draws' logits (monotone in the Beta draws)
        return (lambda key, s: {
            "draws": jnp.concatenate([beta_logit_sample(fold(key, 0), s.alpha, s.beta, (1, K), f32),
                                      beta_logit_sample(fold(key, 1), s.alpha, s.beta, (63, K), f32)]),
            "u": u(fold(key, 2))})
    if name == "bts":  # draw 0 (the shown slate) from fold_in(key, 0), the other n_mc - 1 from fold_in(key, 1)
        return (lambda key, s: {
            "draws": jnp.concatenate([beta_logit_sample(fold(key, 0), s.alpha, s.beta, (1, K), f32),
                                      beta_logit_sample(fold(key, 1), s.alpha, s.beta, (127, K), f32)])})
    return lambda key, s: {"u": u(key)}


@pytest.mark.parametrize("name", serving.SERVABLE)
def test_numpy_server_reproduces_jax_decisions_and_probabilities(name, tmp_path):
    pol, hp, static, state = _trained(name)
    path = serving.save_policy(tmp_path / name, pol, state, hp, static=static, metadata={"trained_rows": N_TRAIN})
    server = serving.load_policy(path).server()
    # one compiled call gives the JAX decision and the random inputs it used
    step = jax.jit(lambda key, x, m: (pol.select(key, state, x, m, hp), noise_of(key, state)))
    rng = np.random.default_rng(7)
    noise_of = _jax_noise(name)
    same_action = 0
    worst = 0.0
    for i in range(N_CHECK):
        x = rng.normal(size=D)
        mask = rng.random(K) < 0.7
        mask[rng.integers(K)] = True
        key = jax.random.key(1000 + i)
        dec, noise = step(key, jnp.asarray(x, jnp.float32), jnp.asarray(mask))
        noise = {k: np.asarray(v, np.float64) if k != "u" else float(v) for k, v in noise.items()}
        got = server.select(x, mask, noise=noise)
        worst = max(worst, float(np.max(np.abs(got.probs - np.asarray(dec.probs, np.float64)))))
        same_action += int(got.action == int(dec.action))
        assert got.probs[~mask].sum() == 0.0
    assert worst < 2e-6, worst  # float32 rounding of the JAX probabilities
    assert same_action == N_CHECK


def test_round_trip_restores_the_jax_policy_bit_for_bit(tmp_path):
    pol, hp, static, state = _trained("lints")
    path = serving.save_policy(tmp_path / "p", pol, state, hp, static=static)
    saved = serving.load_policy(path)
    pol2, state2, hp2 = saved.to_jax()
    assert pol2.name == "lints" and hp2 == pol.hparams(v=0.5)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(state2), strict=True):
        assert a.dtype == b.dtype and np.array_equal(np.asarray(a), np.asarray(b))
    x = jnp.asarray([0.3, -1.0, 0.5], jnp.float32)
    key = jax.random.key(3)
    d1 = pol.select(key, state, x, jnp.ones(K, bool), hp)
    d2 = pol2.select(key, state2, x, jnp.ones(K, bool), hp2)
    assert int(d1.action) == int(d2.action) and np.array_equal(np.asarray(d1.probs), np.asarray(d2.probs))


def test_the_format_is_json_and_plain_npz(tmp_path):
    pol, hp, static, state = _trained("linucb")
    path = serving.save_policy(tmp_path / "p", pol, state, hp, metadata={"data": "synthetic"})
    man = json.loads((path / "manifest.json").read_text())
    assert man["format"] == "screentest-policy" and man["format_version"] == 1
    assert man["policy"] == "linucb" and man["hparams"] == {"alpha": 0.7, "lam": 1.0}
    assert man["state"]["leaves"] == ["cov_tri", "theta", "counts"]
    assert man["state"]["shapes"]["cov_tri"] == [K, D * (D + 1) // 2]
    assert set(man["versions"]) == {"screentest", "jax", "numpy"} and man["servable"] is True
    assert man["metadata"] == {"data": "synthetic"}
    with zipfile.ZipFile(path / "arrays.npz") as z:
        assert sorted(z.namelist()) == ["state/counts.npy", "state/cov_tri.npy", "state/theta.npy"]
    with np.load(path / "arrays.npz", allow_pickle=False) as z:  # readable without pickle
        np.testing.assert_array_equal(z["state/theta"], np.asarray(state.theta))


def _x64():
    """float64 on, as a context (``jax.enable_x64`` in recent JAX, ``jax.experimental`` before)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64(True)


def test_array_options_and_float64(tmp_path):
    with _x64():
        prior_a = np.linspace(1.0, 3.0, K)
        pol = make("bernoulli_ts", num_actions=K, dtype=jnp.float64, alpha0=prior_a, beta0=2.0, num_samples=16)
        state = pol.init(jax.random.key(0), pol.default_hparams)
        state = pol.update(state, jnp.zeros(1), jnp.int32(2), 1.0, pol.default_hparams)
        path = serving.save_policy(tmp_path / "p", pol, state, static={"alpha0": prior_a, "beta0": 2.0, "num_samples": 16})
        saved = serving.load_policy(path)
        assert saved.dtype == "float64" and saved.manifest["static_arrays"] == ["alpha0"]
        np.testing.assert_array_equal(saved.static["alpha0"], prior_a)
        pol2, state2, _ = saved.to_jax()
        assert state2.alpha.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(state2.alpha), prior_a + np.eye(K)[2])


def test_unservable_policies_are_refused_in_one_line(tmp_path):
    refused = sorted(set(REGISTRY) - set(serving.SERVABLE))
    assert "squarecb" in refused and "hybrid_linucb" in refused
    pol = make("squarecb", num_actions=K, context_dim=D)
    path = serving.save_policy(tmp_path / "p", pol, pol.init(jax.random.key(0), pol.default_hparams))
    saved = serving.load_policy(path)
    assert saved.manifest["servable"] is False
    with pytest.raises(ValueError, match=r"^policy 'squarecb': numpy serving supports \[.*\]; serve 'squarecb' "
                                         r"with JAX through load_policy\(path\).to_jax\(\)$"):
        saved.server()
    pol2, state2, _ = saved.to_jax()  # still loadable for JAX serving
    assert pol2.name == "squarecb"


def test_bad_inputs_name_the_argument(tmp_path):
    pol, hp, static, state = _trained("linucb")
    with pytest.raises(ValueError, match=r"^state: expected the structure of 'linucb'"):
        serving.save_policy(tmp_path / "p", pol, state._replace(theta=state.theta[:2]), hp)
    with pytest.raises(ValueError, match=r"^static: \['nope'\] are not options of 'linucb'"):
        serving.save_policy(tmp_path / "p", pol, state, hp, static={"nope": 1})
    path = serving.save_policy(tmp_path / "p", pol, state, hp)
    server = serving.load_policy(path).server()
    with pytest.raises(ValueError, match=r"^context: policy 'linucb' expects shape \(3,\), got \(2,\)"):
        server.select(np.zeros(2))
    with pytest.raises(ValueError, match=r"^mask: expected a bool array of shape \(5,\)"):
        server.select(np.zeros(3), np.ones(4, bool))
    man = json.loads((path / "manifest.json").read_text())
    man["format_version"] = 2
    (path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match=r"format_version 2 is newer than this screentest reads \(1\)"):
        serving.load_policy(path)
    with pytest.raises(FileNotFoundError, match=r"^path: expected a saved policy directory"):
        serving.load_policy(tmp_path / "nowhere")


def test_numpy_server_draws_its_own_inputs_from_the_same_distribution(tmp_path):
    """Without given inputs, LinTS's served probabilities estimate the same Thompson probabilities:
    the mean over 400 served decisions is within 4 standard errors of JAX's 20,000-draw estimate."""
    pol, hp, _, state = _trained("lints")
    big = make("lints", num_actions=K, context_dim=D, num_samples=20_000)
    x = np.array([0.5, -0.2, 1.0])
    ref = np.asarray(big.select(jax.random.key(0), state, jnp.asarray(x, jnp.float32), jnp.ones(K, bool), hp).probs)
    server = serving.load_policy(serving.save_policy(tmp_path / "p", pol, state, hp, static={"num_samples": 64})).server()
    g = np.random.default_rng(0)
    actions = np.array([server.select(x, rng=g).action for _ in range(400)])
    freq = np.bincount(actions, minlength=K) / actions.size
    se = np.sqrt(ref * (1 - ref) / actions.size) + 1e-3
    assert np.all(np.abs(freq - ref) < 4 * se), (freq, ref)
