"""Bad input raises clear errors naming the argument, the expectation and what came in."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits import validation as V
from bandits.policies import make

CORE = ["epsilon_greedy", "lin_epsilon_greedy", "ucb1", "bernoulli_ts", "linucb", "lints"]
CONTEXTUAL = ["lin_epsilon_greedy", "linucb", "lints"]


@pytest.mark.parametrize("name", CORE)
@pytest.mark.parametrize("arg", ["num_actions", "context_dim"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4"])
def test_sizes_must_be_positive_integers(name, arg, bad):
    kw = dict(num_actions=3, context_dim=2)
    kw[arg] = bad
    with pytest.raises(ValueError, match=rf"{arg}: expected an integer >= 1, got {bad!r}"):
        make(name, **kw)


@pytest.mark.parametrize("name", CORE)
def test_dtype_must_be_float(name):
    with pytest.raises(ValueError, match=r"dtype: expected float32 or float64, got int32"):
        make(name, num_actions=3, context_dim=2, dtype=jnp.int32)


def test_float64_without_x64_is_refused():
    with pytest.raises(ValueError, match=r"dtype: float64 requested but jax x64 is disabled"):
        make("linucb", num_actions=3, context_dim=2, dtype=jnp.float64)


@pytest.mark.parametrize(
    "name, field, bad, expect",
    [
        ("linucb", "alpha", -0.5, r"hparams.alpha: policy 'linucb' expects a finite value in \[0.0, inf\], got -0.5"),
        ("linucb", "lam", 0.0, r"hparams.lam: policy 'linucb' expects a finite value in \(0.0, inf\], got 0.0"),
        ("lints", "v", -1.0, r"hparams.v: .* got -1.0"),
        ("ucb1", "alpha", float("nan"), r"hparams.alpha: .* got nan"),
        ("epsilon_greedy", "epsilon", 1.5, r"hparams.epsilon: policy 'epsilon_greedy' expects a finite value in \[0.0, 1.0\], got 1.5"),
        ("lin_epsilon_greedy", "epsilon", -0.1, r"hparams.epsilon: .* got -0.1"),
    ],
)
def test_validate_hparams_names_the_field(name, field, bad, expect):
    pol = make(name, num_actions=3, context_dim=2)
    V.validate_hparams(pol, pol.default_hparams)  # defaults are valid
    with pytest.raises(ValueError, match=expect):
        V.validate_hparams(pol, pol.hparams(**{field: bad}))


def test_validate_hparams_checks_every_element_of_a_grid_and_the_type():
    pol = make("linucb", num_actions=3, context_dim=2)
    V.validate_hparams(pol, pol.hparams(alpha=np.array([0.0, 0.5, 2.0])))
    with pytest.raises(ValueError, match=r"hparams.alpha: .* got -1.0 \(first offending element of an array of shape \(3,\)\)"):
        V.validate_hparams(pol, pol.hparams(alpha=np.array([0.5, -1.0, -2.0])))
    with pytest.raises(TypeError, match=r"hparams: policy 'linucb' expects a LinUCBHParams"):
        V.validate_hparams(pol, (1.0, 1.0))
    with pytest.raises(TypeError, match=r"hparams.alpha: expected a real number"):
        V.validate_hparams(pol, pol.hparams(alpha="big"))


@pytest.mark.parametrize("kw, expect", [
    (dict(alpha=-1.0), r"alpha: policy 'linucb' expects a finite value in \[0.0, inf\], got -1.0"),
    (dict(lam=0.0), r"lam: policy 'linucb' expects"),
])
def test_constructor_checks_default_hparams(kw, expect):
    with pytest.raises(ValueError, match=expect):
        make("linucb", num_actions=3, context_dim=2, **kw)


def test_constructor_checks_sample_count_and_priors():
    with pytest.raises(ValueError, match=r"num_samples: expected an integer >= 1, got 0"):
        make("lints", num_actions=3, context_dim=2, num_samples=0)
    with pytest.raises(ValueError, match=r"alpha0: expected a scalar or shape \(3,\), got shape \(2,\)"):
        make("bernoulli_ts", num_actions=3, alpha0=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"beta0: expected finite values > 0, got -1.0"):
        make("bernoulli_ts", num_actions=3, beta0=[1.0, -1.0, 2.0])
    with pytest.raises(ValueError, match=r"epsilon: policy 'epsilon_greedy' expects .* got 2.0"):
        make("epsilon_greedy", num_actions=3, epsilon=2.0)


@pytest.mark.parametrize("name", CONTEXTUAL)
def test_wrong_context_shape_raises_at_trace_time(name):
    pol = make(name, num_actions=3, context_dim=4)
    st = pol.init(jax.random.key(0), pol.default_hparams)
    mask = jnp.ones(3, bool)
    with pytest.raises(ValueError, match=rf"context: policy '{name}' expects shape \(4,\) per round .* got \(5,\)"):
        jax.jit(pol.select)(jax.random.key(1), st, jnp.zeros(5), mask, pol.default_hparams)
    with pytest.raises(ValueError, match=r"context: .* got \(2, 4\)"):
        pol.update(st, jnp.zeros((2, 4)), 0, 1.0, pol.default_hparams)


@pytest.mark.parametrize("name", CORE)
def test_wrong_mask_shape_raises_at_trace_time(name):
    pol = make(name, num_actions=3, context_dim=4)
    st = pol.init(jax.random.key(0), pol.default_hparams)
    with pytest.raises(ValueError, match=rf"mask: policy '{name}' expects shape \(3,\) bool per round, got \(4,\)"):
        pol.select(jax.random.key(1), st, jnp.zeros(4), jnp.ones(4, bool), pol.default_hparams)


def test_validate_mask():
    V.validate_mask(np.array([[True, False], [False, True]]), num_actions=2)
    with pytest.raises(ValueError, match=r"mask: expected at least one available \(True\) action per row, got none at index \(1,\)"):
        V.validate_mask(np.array([[True, False], [False, False]]), num_actions=2)
    with pytest.raises(ValueError, match=r"mask: expected at least one available \(True\) action per row, got none$"):
        V.validate_mask(np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"mask: expected last dimension num_actions=3, got shape \(2,\)"):
        V.validate_mask(np.ones(2, bool), num_actions=3)
    with pytest.raises(ValueError, match=r"mask: expected a boolean array \(or 0/1 values\), got dtype float64"):
        V.validate_mask(np.array([0.5, 1.0]))
    np.testing.assert_array_equal(V.validate_mask(np.array([0, 1])), [False, True])


def test_validate_context():
    pol = make("linucb", num_actions=3, context_dim=4)
    V.validate_context(pol, np.zeros((7, 4)))
    with pytest.raises(ValueError, match=r"context: policy 'linucb' expects shape \(4,\) or \(n, 4\), got \(7, 5\)"):
        V.validate_context(pol, np.zeros((7, 5)))
    with pytest.raises(ValueError, match=r"context: expected finite values, got NaN or inf"):
        V.validate_context(pol, np.array([0.0, np.nan, 0.0, 0.0]))


# bernoulli_ts shares the Monte Carlo/tie-split code with lints (thompson.ts_decision); it is left
# out here only because compiling its Beta sampler is slow.
@pytest.mark.parametrize("name", [n for n in CORE if n != "bernoulli_ts"])
def test_empty_mask_inside_jit_gives_zero_probs_as_documented(name):
    pol = make(name, num_actions=3, context_dim=2)
    st = pol.init(jax.random.key(0), pol.default_hparams)
    dec = jax.jit(pol.select)(jax.random.key(1), st, jnp.ones(2), jnp.zeros(3, bool), pol.default_hparams)
    np.testing.assert_array_equal(np.asarray(dec.probs), 0.0)
