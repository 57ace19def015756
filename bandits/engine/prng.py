"""A fused Threefry-2x32 PRNG implementation: same bits as JAX's default, much faster on CPU.

Why. On CPU, JAX lowers its ``threefry2x32`` primitive with *rolled* loops (a ``while`` over the
five 4-round blocks). Inside a simulation scan that draws a handful of numbers per member per
round, each draw becomes a small loop that XLA cannot fuse or vectorise across members. Written
as plain integer ops, the same hash fuses into the surrounding computation instead; the gain is
largest where drawing is a large part of the round (measured figures: docs/simulation.md).

What. :data:`THREEFRY_FUSED` is a PRNG implementation registered through the public
``jax.extend.random.define_prng_impl``. It is the same Threefry-2x32 hash (Salmon et al. 2011,
20 rounds, the same key schedule and rotation constants) with the same seeding, ``split``,
``fold_in`` and ``random_bits`` constructions as JAX's default ``threefry2x32`` implementation
under ``jax_threefry_partitionable=True`` (the default), written as plain ``jnp`` integer ops so
XLA fuses them into the surrounding computation. Its streams are therefore bit-identical to the
default implementation (tested in ``tests/bandits/engine/test_prng.py``); only the speed differs.

Use::

    key = jax.random.key(seed, impl=bandits.engine.prng.THREEFRY_FUSED)   # or impl="threefry_fused"
    jax.random.normal(key, (10,))       # every jax.random function works with such keys

:func:`bandits.engine.sweep.sweep` and :func:`bandits.engine.rollout.rollout` use it by default
(``prng_impl="threefry_fused"``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import define_prng_impl

from bandits.threefry import threefry2x32


def _seed(seed):
    if seed.shape:
        raise TypeError(f"seed: expected a scalar integer, got shape {seed.shape}")
    if not jnp.issubdtype(seed.dtype, jnp.integer):
        raise TypeError(f"seed: expected an integer, got dtype {seed.dtype}")
    if jnp.iinfo(seed.dtype).bits > 32:
        hi = lax.convert_element_type(lax.shift_right_logical(seed, jnp.asarray(32, seed.dtype)), jnp.uint32)
    else:
        hi = jnp.zeros((), jnp.uint32)
    lo = lax.convert_element_type(seed, jnp.uint32) if jnp.iinfo(seed.dtype).bits <= 32 else \
        lax.convert_element_type(seed & jnp.asarray(0xFFFFFFFF, seed.dtype), jnp.uint32)
    return jnp.stack([hi, lo])


def _iota_2x32(shape):
    """Row-major flat index of ``shape`` as (hi, lo) uint32 words."""
    n = int(np.prod(shape)) if shape else 1
    if n >= 2**32:
        raise NotImplementedError("threefry_fused: more than 2**32 values in one draw")
    lo = lax.iota(jnp.uint32, n).reshape(shape)
    return jnp.zeros(shape, jnp.uint32), lo


def _split(key, shape):
    c1, c2 = _iota_2x32(tuple(shape))
    b1, b2 = threefry2x32(key[0], key[1], c1, c2)
    return jnp.stack([b1, b2], axis=-1)


def _fold_in(key, data):
    d = jnp.asarray(data, jnp.uint32)
    b1, b2 = threefry2x32(key[0], key[1], jnp.zeros((), jnp.uint32), d)
    return jnp.stack([b1, b2])


def _random_bits(key, bit_width, shape):
    shape = tuple(shape)
    if bit_width not in (8, 16, 32, 64):
        raise TypeError(f"bit_width: expected 8, 16, 32 or 64, got {bit_width}")
    c1, c2 = _iota_2x32(shape)
    b1, b2 = threefry2x32(key[0], key[1], c1, c2)
    if bit_width == 64:
        return (b1.astype(jnp.uint64) << np.uint64(32)) | b2.astype(jnp.uint64)
    bits = b1 ^ b2
    if bit_width == 32:
        return bits
    return bits.astype(jnp.uint8 if bit_width == 8 else jnp.uint16)


THREEFRY_FUSED = define_prng_impl(
    key_shape=(2,),
    seed=_seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=_fold_in,
    name="threefry_fused",
    tag="fty",
)

_IMPLS = {"threefry_fused": THREEFRY_FUSED}


def resolve_impl(impl):
    """``"threefry_fused"`` -> :data:`THREEFRY_FUSED`; any other value is passed to JAX unchanged
    (None = JAX's default, ``"threefry2x32"``, ``"rbg"``, ``"unsafe_rbg"``, an impl object)."""
    if isinstance(impl, str) and impl in _IMPLS:
        return _IMPLS[impl]
    return impl


def key(seed, impl="threefry_fused"):
    """``jax.random.key(seed)`` with the given impl (default :data:`THREEFRY_FUSED`)."""
    return jax.random.key(seed, impl=resolve_impl(impl))
