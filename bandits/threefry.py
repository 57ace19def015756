"""The Threefry-2x32 hash (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3") as
plain ``jnp`` integer ops, so that XLA fuses it into the computation around it.

Used by :mod:`bandits.engine.prng` (a key implementation with the same streams as JAX's default
``threefry2x32``) and by the Beta sampler (:mod:`bandits.policies._sampling`), which takes both
output words of one hash per proposal.
"""

from __future__ import annotations

import numpy as np

_ROT = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k1, k2, x1, x2):
    """Threefry-2x32 (20 rounds) of the counter pair ``(x1, x2)`` under key ``(k1, k2)``.

    All arguments uint32 and broadcastable; returns the two uint32 output words. Unrolled
    elementwise ops (fusible); the same function as JAX's ``threefry2x32`` primitive.
    """
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1 = x1 + ks[0]
    x2 = x2 + ks[1]
    for i in range(5):
        for r in _ROT[i % 2]:
            x1 = x1 + x2
            x2 = _rotl(x2, r)
            x2 = x1 ^ x2
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2
