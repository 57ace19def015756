"""Every registered policy gives probabilities that are all 0 (finite, never NaN) on a round with
no available action: inside jit nothing can raise, so the documented contract is zeros and
``bandits.validation.validate_mask`` is the eager check (the rollout and the sweep call it)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits.policies import REGISTRY, make

K, D = 4, 3


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_empty_mask_gives_all_zero_probs(name):
    pol = make(name, num_actions=K, context_dim=D)
    hp = pol.default_hparams
    state = pol.init(jax.random.key(0), hp)
    x = jnp.linspace(-0.5, 0.5, D)
    empty = jnp.zeros((K,), bool)
    dec = jax.jit(pol.select)(jax.random.key(1), state, x, empty, hp)
    probs = np.asarray(dec.probs)
    assert np.all(np.isfinite(probs)), f"{name}: non-finite probs on an empty mask: {probs}"
    np.testing.assert_array_equal(probs, 0.0, err_msg=f"{name}: probs on an empty mask")
