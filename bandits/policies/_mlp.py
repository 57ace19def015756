"""A small multilayer perceptron in plain JAX, for the neural policies (:mod:`bandits.policies.neural`).

The network maps a context ``x (d,)`` to one output per arm ``(K,)``::

    h_0 = x,   h_l = relu(h_{l-1} W_l + b_l)   (l = 1 .. L, the hidden layers),   f(x) = h_L W_out + b_out

``h_L`` (the last hidden layer, ``hidden[-1]`` units) is the *representation* that the
neural-linear policies hand to their Bayesian linear head; the output layer is the multi-head
regression ``f(x)_a ~ E[r | x, a]`` it is trained with (Riquelme, Tucker & Snoek 2018, section 3).

Parameters live in ONE flat vector ``(num_params,)``: for each layer in order, ``W`` row-major
``(n_in, n_out)`` then ``b (n_out,)``; :meth:`MLP.layers` slices it back into :class:`Dense` views.
Why flat: the optimiser state, the snapshots the neural-linear policies keep and the per-parameter
statistics of NeuralUCB are then single arrays, so every per-leaf operation (Adam's moments, a
``where`` that swaps a snapshot) is one operation instead of one per layer, which keeps the
compiled program (and its compile time) small. Hidden weights use He-normal initialisation
(variance ``2 / fan_in``, suited to ReLU), the output layer LeCun-normal (``1 / fan_in``); biases
start at 0. Why plain JAX rather than a network library: the network is a few matrix products and
ReLUs, and the policies need its parameters as an ordinary array inside a ``lax.scan`` carry; a
library would add a dependency and a module system without removing any code here.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


class Dense(NamedTuple):
    """One affine layer: ``w (n_in, n_out)``, ``b (n_out,)``."""

    w: Array
    b: Array


class MLP(NamedTuple):
    """Static description of the network: layer widths ``sizes = (d, *hidden, K)``."""

    sizes: tuple[int, ...]

    @property
    def num_params(self) -> int:
        """Length of the flat parameter vector."""
        return sum(n_in * n_out + n_out for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def feature_dim(self) -> int:
        """Width of the representation ``h_L`` (``hidden[-1]``)."""
        return self.sizes[-2]

    def init(self, key, dtype) -> Array:
        """Random parameters ``(num_params,)`` in ``dtype`` (see the module docstring).

        One standard-normal draw of the whole vector, scaled entry-wise (0 for the biases).
        """
        scale = []
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            gain = 1.0 if i == len(self.sizes) - 2 else 2.0
            scale += [np.full(n_in * n_out, math.sqrt(gain / n_in)), np.zeros(n_out)]
        return jax.random.normal(key, (self.num_params,), dtype) * jnp.asarray(np.concatenate(scale), dtype)

    def layers(self, params: Array) -> tuple[Dense, ...]:
        """Slice ``params (num_params,)`` into one :class:`Dense` per layer."""
        out, at = [], 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            w = params[at:at + n_in * n_out].reshape(n_in, n_out)
            at += n_in * n_out
            out.append(Dense(w, params[at:at + n_out]))
            at += n_out
        return tuple(out)

    def features(self, params: Array, x: Array) -> Array:
        """The representation ``h_L``: ``x (..., d)`` -> ``(..., hidden[-1])``."""
        h = x
        for layer in self.layers(params)[:-1]:
            h = jax.nn.relu(h @ layer.w + layer.b)
        return h

    def apply(self, params: Array, x: Array) -> Array:
        """``f(x)``: ``x (..., d)`` -> ``(..., K)``, the predicted reward of every arm."""
        out = self.layers(params)[-1]
        return self.features(params, x) @ out.w + out.b
