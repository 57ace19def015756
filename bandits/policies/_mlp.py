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

Gradients in closed form. The policies need three derivatives of this network every round: the
minibatch gradient of the regression loss on the played arms' outputs (:meth:`MLP.loss_grad`),
the gradient of one arm's output (:meth:`MLP.output_grad`) and, for NeuralUCB, the weighted
squared norm of every arm's output gradient (:meth:`MLP.apply_and_widths`). Backpropagation by
hand gives each from one forward pass: with ``delta_l = d f_a / d z_l`` (``z_l`` the
pre-activation of layer ``l``), ``d f_a / d W_l = h_{l-1} (outer) delta_l`` and
``d f_a / d b_l = delta_l``, where ``delta_L = relu'(z_L) * W_out[:, a]`` and
``delta_{l-1} = relu'(z_{l-1}) * (W_l delta_l)`` (``relu'(0) = 0``, as ``jax.nn.relu``'s). Why
not ``jax.grad`` / ``jax.jacrev``: the loss touches one output per row, so a generic reverse pass
multiplies by the whole ``(hidden[-1], K)`` output layer (a one-hot cotangent) where a gathered
column suffices; and the ``K`` output gradients of NeuralUCB, materialised by ``jacrev`` as a
``(K, num_params)`` Jacobian, only ever enter through ``sum_j g_aj^2 w_j``, which factorises per
layer into contractions of ``(n_l, K)`` matrices (no Jacobian formed). The tests check all three
against ``jax.grad`` / ``jax.jacrev`` in float64.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.policies._linalg import transposed

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

    # ------------------------------------------------------------------ closed-form derivatives

    def _forward(self, params: Array, x: Array):
        """The layers, the inputs ``h_0 = x .. h_L`` of the layers after the first, and the hidden
        pre-activations ``z_1 .. z_L``; ``x (..., d)``."""
        layers = self.layers(params)
        hs, zs = [x], []
        for layer in layers[:-1]:
            z = hs[-1] @ layer.w + layer.b
            zs.append(z)
            hs.append(jax.nn.relu(z))
        return layers, hs, zs

    def _backward(self, layers, hs, zs, delta, grad_out_w, grad_out_b) -> Array:
        """Flat gradient ``(num_params,)`` from the output layer's gradient and ``delta = d/d h_L``.

        Leading axes of ``hs`` / ``delta`` (rows of a batch) are summed over.
        """
        parts = [grad_out_w.reshape(-1), grad_out_b]
        for i in range(len(layers) - 2, -1, -1):
            delta = jnp.where(zs[i] > 0, delta, 0)  # d / d z_{i+1}
            x_in = hs[i]
            gw = transposed(x_in) @ delta if x_in.ndim == 2 else jnp.outer(x_in, delta)
            gb = jnp.sum(delta, axis=0) if delta.ndim == 2 else delta
            parts = [gw.reshape(-1), gb, *parts]
            if i > 0:
                delta = delta @ layers[i].w.T
        return jnp.concatenate(parts)

    def loss_grad(self, params: Array, x: Array, a: Array, r: Array) -> Array:
        """Gradient ``(num_params,)`` of ``0.5 mean_i (f(x_i)_{a_i} - r_i)^2`` with respect to ``params``.

        x: ``(B, d)``; a: ``(B,)`` int arms; r: ``(B,)``. Only the played column of the output
        layer is formed per row (``W_out[:, a_i]``, gathered), not the ``K`` outputs, and its
        gradient is scattered into the played columns.
        """
        layers, hs, zs = self._forward(params, x)
        out = layers[-1]
        cols = out.w.T[a]  # (B, n_L)
        pred = jnp.sum(hs[-1] * cols, axis=-1) + out.b[a]
        e = (pred - r) / x.shape[0]  # d loss / d f(x_i)_{a_i}
        # output layer: row i adds e_i h_L(x_i) to column a_i only; a scatter-add of B rows costs
        # B n_L additions where the one-hot product (n_L x B) @ (B x K) costs B n_L K
        K, n_L = self.sizes[-1], self.sizes[-2]
        gw_out = jnp.zeros((n_L, K), x.dtype).at[:, a].add((hs[-1] * e[:, None]).T)  # no transposed copy
        gb_out = jnp.zeros((K,), x.dtype).at[a].add(e)
        return self._backward(layers, hs, zs, e[:, None] * cols, gw_out, gb_out)

    def output_grad(self, params: Array, x: Array, a: Array) -> Array:
        """Gradient ``(num_params,)`` of ``f(x)_a`` with respect to ``params``; ``x (d,)``, ``a ()`` int."""
        layers, hs, zs = self._forward(params, x)
        onehot = (jnp.arange(self.sizes[-1], dtype=jnp.int32) == a).astype(x.dtype)
        col = layers[-1].w.T[a]  # (n_L,)
        return self._backward(layers, hs, zs, col, jnp.outer(hs[-1], onehot), onehot)

    def apply_and_widths(self, params: Array, weights: Array, x: Array) -> tuple[Array, Array]:
        """``f(x) (K,)`` and ``w2 (K,)`` with ``w2_a = sum_j (d f(x)_a / d params_j)^2 weights_j``.

        params, weights: ``(num_params,)`` (``weights``: e.g. the inverse diagonal of NeuralUCB's
        ``Z``); x: ``(d,)``. Per layer, ``sum_{i,j} (h_i delta_ja)^2 w_ij + delta_ja^2 wb_j =
        sum_j delta_ja^2 s_j`` with ``s = h^2 @ w + wb``: contractions of the ``(n_l, K)`` matrix of
        ``delta_ja`` (every arm at once), never the ``(K, num_params)`` Jacobian.
        """
        layers, hs, zs = self._forward(params, x)
        wl = self.layers(weights)
        out = layers[-1]
        f = hs[-1] @ out.w + out.b
        w2 = (hs[-1] ** 2) @ wl[-1].w + wl[-1].b  # output layer: d f_a / d W_out[:, a] = h_L
        delta = out.w  # (n_L, K): d f_a / d h_L
        for i in range(len(layers) - 2, -1, -1):
            delta = jnp.where(zs[i][:, None] > 0, delta, 0)  # d f_a / d z_{i+1}
            w2 = w2 + (delta ** 2).T @ ((hs[i] ** 2) @ wl[i].w + wl[i].b)
            if i > 0:
                delta = layers[i].w @ delta
        return f, w2
