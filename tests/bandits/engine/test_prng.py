"""The fused Threefry key implementation gives JAX's default threefry2x32 streams bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.engine import prng


@pytest.mark.parametrize("seed", [0, 1, 123456789, 2**40 + 7])
def test_streams_equal_jax_default_threefry(seed):
    fused = prng.key(seed)
    ref = jax.random.key(seed, impl="threefry2x32")
    np.testing.assert_array_equal(jax.random.key_data(fused), jax.random.key_data(ref))
    for f, r in zip(jax.random.split(fused, 5), jax.random.split(ref, 5), strict=True):
        np.testing.assert_array_equal(jax.random.key_data(f), jax.random.key_data(r))
    fk, rk = jax.random.fold_in(fused, 17), jax.random.fold_in(ref, 17)
    np.testing.assert_array_equal(jax.random.key_data(fk), jax.random.key_data(rk))
    np.testing.assert_array_equal(jax.random.bits(fk, (7, 3)), jax.random.bits(rk, (7, 3)))
    np.testing.assert_array_equal(jax.random.uniform(fk, (64,)), jax.random.uniform(rk, (64,)))
    np.testing.assert_array_equal(jax.random.normal(fk, (64,)), jax.random.normal(rk, (64,)))
    np.testing.assert_array_equal(
        jax.random.randint(fk, (32,), 0, 80, dtype=jnp.int32), jax.random.randint(rk, (32,), 0, 80, dtype=jnp.int32)
    )


def test_bad_seed_and_unknown_impl_pass_through():
    with pytest.raises(TypeError, match="seed"):
        prng.key(jnp.zeros((2,), jnp.int32))
    assert prng.resolve_impl("threefry2x32") == "threefry2x32"
