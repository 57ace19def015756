"""Exact Gamma and Beta draws that stay fast and finite under ``vmap``: every Gamma/Beta draw of
the policies goes through this module.

Beta draws (:func:`beta_logit_sample`, what every Thompson-sampling policy ranks): Cheng (1978),
"Generating beta variates with nonintegral shape parameters", algorithm BB, on the logit scale.
With ``a = min(alpha, beta)``, ``b = max``, ``lam = sqrt((a + b - 2) / (2ab - a - b))`` (1 at
``a = b = 1``) and two uniforms, the proposal is ``W = a e^V``, ``V = lam logit(u1)`` (a
log-logistic ``W``), accepted iff ``log(u1^2 u2) <= (a + 1/lam) V - log 4 + (a + b) log((a + b) /
(b + W))``; an accepted ``W / b`` is an exact Beta-prime draw, so ``log(a / b) + V`` is the logit
of an exact ``Beta(a, b)`` draw (negated when ``alpha > beta``). Why exact: the test is
``log u2 <= h(V)`` with ``h(V) = a V - (a + b) log((b + a e^V) / (a + b)) + 2 log cosh(V / (2
lam))`` equal to ``log(f(W) / (M g(W)))``, ``f`` the target density of ``W``, ``g`` the
proposal's, ``M`` the envelope constant; standard rejection sampling is exact when ``h <= 0``
everywhere. Cheng's ``lam`` makes it so for ``min(a, b) >= 1``, and so does every larger ``lam``
(only the ``log cosh`` term depends on ``lam``, and it decreases as ``lam`` grows), so ``lam`` is
enlarged by a few ulps and float rounding cannot make it smaller. A shape below 1 is raised by 1
first (``G(s) = G(s + 1) U^(1/s)``, so in distribution ``logit Beta(alpha, beta) = logit
Beta(alpha + 1, beta) + log(U) / alpha`` with an independent uniform, likewise
``- log(U') / beta``): every draw is finite from shape ``1e-3`` (logit around
``-1e4``) to ``1e6`` and beyond, never NaN, and keeps the order of draws that would round to 0 or
1 as floats. Cheng's two squeeze tests are not used: in a vectorised pass every element computes
the full test anyway.

Why it is fast under ``vmap``. One Cheng proposal costs two random words, two logarithms, an
``expm1`` and a ``log1p``, far less than two Marsaglia-Tsang Gamma proposals (below). It is
rejected more often at OBD-like posteriors (between 12% and 32% of proposals at ``alpha`` 1-20,
``beta`` 100-5,000) and never at Beta(1, 1), where the envelope is exact (Marsaglia-Tsang rejects
about 5% at shape 1: the unplayed arms of a large catalog). So the first pass makes two dense
proposals per element (each element keeps its first accepted one), and the rare element rejected
twice is retried one element per iteration of a ``while_loop``, in index order. That loop keeps
only per-member scalars (the element being retried, its pending proposal) and a small buffer of
accepted ``(index, value)`` pairs, written into the draws by one scatter when it is full or when
no element is left; the next element to retry is one reduction over the loop-invariant
rejection mask. Under ``vmap`` a loop runs until the unluckiest member is done and pays a select
per carried value per iteration, so carrying the ``(n,)`` draws through every iteration (as a
loop that updates them in place would) costs several passes over all elements per retry. Each
proposal is applied in the iteration after it is drawn, so that nothing per element reads it
inside the iteration that computes it. Random words: for Threefry keys (JAX's default and
:mod:`bandits.engine.prng`'s) and 32-bit words, one proposal's two words are the two output words
of one Threefry-2x32 hash of its own counter under the key's data (:mod:`bandits.threefry`):
half the hashes of ``jax.random.bits``, which spends one hash per 32-bit word; other keys and
64-bit words use ``jax.random.bits``. The boost uniforms are drawn inside a ``while_loop`` that
runs at most once and only when some element has a shape below 1 (under ``vmap``: when some
member has), so a Bernoulli TS with a prior >= 1 never pays for them; their key depends on the
loop counter so that XLA cannot hoist them out of the loop. Arrays of more than 2,048 draws
(offline Monte Carlo, not the per-member rounds) make one dense pass and then redraw all their
rejected elements in each iteration instead. Each
element's value is its first accepted proposal from a sequence of independent proposals (whether
a proposal is used depends on earlier proposals only), so the draws are exact.

Tried for the Beta draws and not adopted (exact, but slower in same-process interleaved timings;
figures in docs/policies.md): Marsaglia-Tsang in the linear domain with only the squeeze
``u < 1 - 0.0331 x^4`` in the first pass (it accepts only about 92% of proposals, and that pass,
``erfinv`` normal included, costs more than a Cheng pass); Box-Muller normals (``sin``/``cos``
cost more than ``erfinv`` under XLA); one dense Cheng pass (the retry loop then runs for dozens of
iterations per round at 1,000 members) and three (the third pass costs more than the iterations
it saves); retry words drawn in each iteration by ``fold_in`` and ``bits`` (two hashes per
iteration); four proposals per retry iteration (fewer iterations, but no faster); retrying the
rejected elements in buckets gathered with ``nonzero`` and scattered back, in slots ranked by a
cumulative sum or ``top_k``, or several elements per iteration with one-hot gathers (gathers,
scatters, cumulative sums and ``top_k`` under ``vmap`` cost more on CPU than the iterations they
save: at 80 elements a cumulative sum costs about as much as five retry iterations, ``top_k``
more than the whole sampler).

Gamma draws (:func:`log_gamma_sample`, :func:`gamma_sample`). Marsaglia and Tsang (2000), "A
simple method for generating gamma variables": for a shape ``a >= 1`` propose ``d v`` with
``d = a - 1/3``, ``v = (1 + c x)^3``, ``c = 1 / sqrt(9 d)``, ``x ~ N(0, 1)``, and accept when
``log u < x^2 / 2 + d (1 - v + log v)`` (``u ~ U(0, 1)``); an accepted proposal is an exact
Gamma(a) draw. A shape ``a < 1`` uses ``G(a) = G(a + 1) U^(1/a)``. Everything is computed as
``log G = log d + 3 log1p(c x) + log(U) / a``, finite for every shape from ``1e-3`` (``log G``
around ``-1e3``) to ``1e6`` and beyond (at ``a = 0.02`` a float32 ``U^50`` is 0 for ``U < 0.17``).
Rejections are rare (below 5% at every shape, below 0.2% from shape 20); the first pass proposes
once for every element and the retries follow the same one-element, pipelined loop as above.
The ``a < 1`` uniform could be taken from the acceptance test (given acceptance, ``u / h(x)``,
``h(x) = exp(x^2 / 2 + d (1 - v + log v))``, is an exact U(0, 1) independent of ``x``), saving
random words; it is not, because XLA's CPU fusion then recomputes the random words for each of the
pass's outputs, which costs as much as the words saved or more.

Key use. Beta: the dense pass from ``fold_in(key, 0)``, retry ``i`` from counter ``(0, i)`` of
``fold_in(key, 1)`` (``i >= 0``; ``fold_in(fold_in(key, 1), i)`` for other keys; large arrays:
``fold_in(key, i)``, ``i >= 3``), boost uniforms from ``fold_in(key, 2)``. Gamma: proposal ``i`` (``i = 0`` the full pass, ``i >= 1`` the retries) from
``fold_in(key, i)``, the ``a < 1`` uniforms from ``fold_in(key, 2**31 - 1)``. The Beta path's uniforms are
``(m + 1/2) 2^-p`` from the top ``p`` bits of a word (``p`` the float's mantissa bits; 32-bit
words for float32, 64-bit for float64). Draws are float ``dtype`` (float32 default; float64 under
x64, float32 otherwise, as JAX's own samplers). A shape that is NaN, infinite or not positive
gives NaN for that element (its proposals could never be accepted, so a retry would never end).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bandits.threefry import threefry2x32

__all__ = ["log_gamma_sample", "gamma_sample", "beta_logit_sample", "beta_sample"]

_BOOST_STREAM = 0x7FFFFFFF
_SINGLE_RETRY_MAX = 2048  # arrays up to this size retry one rejected element per iteration
_CHENG_PASSES = 2  # dense Cheng proposals per element in the first pass
_RETRY_BUFFER = 16  # accepted retries written into the draws at once


def _mt_constants(a, dtype):
    boost = a < 1
    d = jnp.where(boost, a + 1, a) - jnp.asarray(1 / 3, dtype)
    return boost, d, jax.lax.rsqrt(9 * d)


def _propose(key, d, c, shape, dtype):
    """One Marsaglia-Tsang proposal per element: ``(accepted (shape) bool, log(d v) (shape))``."""
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, shape, dtype)
    u = jax.random.uniform(k2, shape, dtype, minval=jnp.finfo(dtype).tiny)
    y = c * x
    ok_v = y > -1
    log_v = 3 * jnp.log1p(jnp.where(ok_v, y, 0))
    ok = ok_v & (jnp.log(u) < 0.5 * x * x + d * _log_v_minus_w(y, log_v))
    return ok, jnp.log(d) + log_v


def _log_v_minus_w(y, log_v):
    """``1 - v + log v`` with ``v = (1 + y)^3``, accurate in float32 when ``|y|`` is small (large shapes).

    Directly it is ``log v - w`` with ``w = v - 1 = y (3 + y (3 + y))``: two nearly equal terms
    when ``|y| << 1``. Below ``|y| = 0.1`` the series ``-9/2 y^2 + sum_{k>=4} 3 (-1)^(k+1) y^k / k``
    (to ``k = 11``, truncation below float64 round-off) is used instead.
    """
    small = jnp.abs(y) < 0.1
    ys = jnp.where(small, y, 0)
    tail = 0.0
    for k in range(11, 3, -1):  # Horner on the k >= 4 terms
        tail = ys * tail + 3 * (-1) ** (k + 1) / k
    series = ys * ys * (-4.5 + ys * ys * tail)
    direct = log_v - y * (3 + y * (3 + y))
    return jnp.where(small, series, direct)


def _retry(key, d, c, ok, val, dtype):
    """Replace each rejected element of ``val`` (n,) by its first accepted retry (module docstring).

    Iteration ``i`` applies the proposal drawn in iteration ``i - 1`` to its element (if accepted),
    finds the first element still rejected and proposes for it from ``fold_in(key, i)``; it stops
    when none is left. Applying a proposal one iteration after it is drawn makes it a loop variable
    of the per-element select, so it is computed once per member, not once per element.
    """
    n = d.size
    iota = jnp.arange(n, dtype=jnp.int32)

    def body(carry):
        ok_, val_, j, ok_p, val_p, i = carry
        hit = (iota == j) & ok_p
        ok_, val_ = ok_ | hit, jnp.where(hit, val_p, val_)
        j = jnp.min(jnp.where(ok_, n, iota))  # n: none left
        ok_p, val_p = _propose(jax.random.fold_in(key, i), jnp.take(d, j, mode="clip"),
                               jnp.take(c, j, mode="clip"), (), dtype)
        return ok_, val_, j, ok_p, val_p, i + 1

    init = (ok, val, jnp.zeros((), jnp.int32), jnp.zeros((), bool), jnp.zeros((), dtype), jnp.ones((), jnp.int32))
    return jax.lax.while_loop(lambda cr: cr[2] < n, body, init)[1]


def log_gamma_sample(key, a, shape, dtype=jnp.float32):
    """``log G`` for exact ``G ~ Gamma(a, 1)`` draws; see the module docstring.

    key: PRNG key. a: shape parameter(s) > 0, broadcastable to ``shape``. shape: static output
    shape. dtype: float32 (default) or float64 (under x64). Returns ``shape`` ``dtype``
    log-draws, finite for every ``a > 0``.
    """
    shape = tuple(shape)
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    a = jnp.broadcast_to(jnp.asarray(a, dtype), shape)
    boost, d, c = _mt_constants(a, dtype)
    ok, val = _propose(jax.random.fold_in(key, 0), d, c, shape, dtype)
    bad = ~(jnp.isfinite(a) & (a > 0))  # NaN out, never retried (a retry loop would never end)
    ok = ok | bad
    n = a.size
    if n > _SINGLE_RETRY_MAX:  # large arrays (offline Monte Carlo): redraw every rejected element at once

        def body_all(carry):
            ok_, val_, i = carry
            ok2, val2 = _propose(jax.random.fold_in(key, i), d, c, shape, dtype)
            return ok_ | ok2, jnp.where(ok_, val_, val2), i + 1

        ok, val, _ = jax.lax.while_loop(lambda cr: ~jnp.all(cr[0]), body_all, (ok, val, jnp.ones((), jnp.int32)))
    elif n > 0:
        val = _retry(key, d.reshape(n), c.reshape(n), ok.reshape(n), val.reshape(n), dtype).reshape(shape)
    u = jax.random.uniform(jax.random.fold_in(key, _BOOST_STREAM), shape, dtype, minval=jnp.finfo(dtype).tiny)
    return jnp.where(bad, jnp.nan, jnp.where(boost, val + jnp.log(u) / jnp.where(boost, a, 1), val))


def gamma_sample(key, a, shape, dtype=jnp.float32):
    """Exact ``Gamma(a, 1)`` draws of ``shape`` (``a > 0`` broadcastable); ``exp`` of
    :func:`log_gamma_sample` (a draw below the smallest positive float rounds to 0)."""
    return jnp.exp(log_gamma_sample(key, a, shape, dtype))


_THREEFRY_KEYS = ("threefry2x32", "fty")  # JAX's default key impl and bandits.engine.prng's (same hash)


def _threefry_data(key, uint):
    """The key's two data words when one Threefry hash can serve as two 32-bit words (a Threefry
    key and ``uint32``), else None."""
    if uint == jnp.uint32 and str(jax.random.key_impl(key)) in _THREEFRY_KEYS:
        return jax.random.key_data(key)
    return None


def _words(key, count, shape, uint):
    """``(count,) + shape`` independent random words of type ``uint`` (``count`` even).

    For 32-bit words and Threefry keys, words ``2i`` and ``2i + 1`` are the two output words of one
    Threefry-2x32 hash of the counter ``(0, m)`` (``m`` the flat index of ``(i,) + shape``) under
    the key's data: half the hashes of ``jax.random.bits``, which spends one hash per 32-bit word.
    Other keys and 64-bit words use ``jax.random.bits``. Call it only on a key that is used for
    nothing else (a ``fold_in`` of the caller's key), since ``jax.random.bits`` hashes the same
    counters.
    """
    shape = tuple(shape)
    kd = _threefry_data(key, uint)
    if kd is not None:
        n = (count // 2) * int(np.prod(shape, dtype=np.int64))
        c = jax.lax.iota(jnp.uint32, n).reshape((count // 2,) + shape)
        w1, w2 = threefry2x32(kd[0], kd[1], jnp.zeros((), jnp.uint32), c)
        return jnp.stack([w1, w2], axis=1).reshape((count,) + shape)
    return jax.random.bits(key, (count,) + shape, uint)


def _open_uniform_parts(words, dtype):
    """``(m + 1/2, 2^p - m - 1/2)`` from unsigned words: ``m`` the top ``p`` bits (``p`` the float's
    mantissa bits), so ``u = (m + 1/2) 2^-p`` lies in the open ``(0, 1)``, symmetric about 1/2, and
    ``1 - u`` is exact."""
    p = jnp.finfo(dtype).nmant
    width = jnp.iinfo(words.dtype).bits
    m = (words >> (width - p)).astype(dtype) + jnp.asarray(0.5, dtype)
    return m, jnp.asarray(2.0 ** p, dtype) - m


def _cheng_constants(alpha, beta, dtype):
    """Per-element constants of Cheng's algorithm BB for ``min(alpha, beta) >= 1``.

    Returns ``(a, b, lam, offset, flip)``: ``a = min``, ``b = max``; ``lam`` the logistic scale
    ``sqrt((a + b - 2) / (2ab - a - b))`` (1 at ``a = b = 1``), written as sums of non-negative
    terms (no cancellation near 1) and enlarged by a few ulps, which keeps the envelope valid
    (module docstring); ``offset = log(a / b)``; ``flip``: ``alpha`` is the larger shape.
    """
    a, b = jnp.minimum(alpha, beta), jnp.maximum(alpha, beta)
    num = (a - 1) + (b - 1)
    den = a * (b - 1) + b * (a - 1)
    pos = den > 0
    lam = jnp.sqrt(jnp.where(pos, num / jnp.where(pos, den, 1), 1)) * jnp.asarray(1 + 8 * jnp.finfo(dtype).eps, dtype)
    return a, b, lam, jnp.log(a / b), alpha > beta


def _cheng_propose(words, a, b, lam, dtype):
    """One Cheng BB proposal per element from ``words`` ``(2, ...)`` unsigned: ``(accepted, V)``.

    ``V = lam logit(u1)``; the proposal is ``W = a e^V`` and, if accepted, ``log(W / b) = offset + V``
    is the logit of an exact ``Beta(a, b)`` draw. Accepted iff
    ``log(u1^2 u2) <= a V + logit(u1) - log 4 + (a + b) log(1 + (a - W) / (b + W))`` (Cheng's test
    ``log z <= r + (a + b) log((a + b) / (b + W))``, with ``a - W = -a expm1(V)`` kept accurate at
    large shapes).
    """
    m1, n1 = _open_uniform_parts(words[0], dtype)
    m2, n2 = _open_uniform_parts(words[1], dtype)
    scale = jnp.asarray(2.0 ** -jnp.finfo(dtype).nmant, dtype)
    logit_u = jnp.log(m1 / n1)
    v = lam * logit_u
    e = jnp.expm1(v)
    w = a + a * e
    u1 = m1 * scale
    log_z = jnp.log(u1 * u1 * (m2 * scale))
    rhs = a * v + logit_u - jnp.asarray(np.log(4.0), dtype) + (a + b) * jnp.log1p(-a * e / (b + w))
    return log_z <= rhs, v


def _retry_words(key, uint):
    """``i -> (2,)`` random words for retry proposal ``i`` (a traced int32 counter): the two output
    words of one Threefry hash of the counter ``(0, i)`` under the key's data for Threefry keys and
    32-bit words (one hash per proposal), ``jax.random.bits(fold_in(key, i), (2,))`` otherwise."""
    kd = _threefry_data(key, uint)
    if kd is not None:
        return lambda i: jnp.stack(threefry2x32(kd[0], kd[1], jnp.zeros((), jnp.uint32), i.astype(jnp.uint32)))
    return lambda i: jax.random.bits(jax.random.fold_in(key, i), (2,), uint)


def _cheng_retry(key, a, b, lam, ok, val, uint, dtype):
    """Replace each rejected element of ``val`` (n,) by its first accepted Cheng proposal.

    The rejected elements are retried one at a time in index order: an inner ``while_loop`` keeps
    only per-member scalars (the current element ``j``, the pending proposal, a counter) and a
    buffer of ``_RETRY_BUFFER`` accepted ``(index, value)`` pairs; each iteration records the
    pending proposal if it was accepted (then ``j`` moves to the next rejected element, found by
    one reduction over the loop-invariant rejection mask) and proposes for ``j`` from the words of
    proposal ``i`` (:func:`_retry_words`). An outer loop writes the buffer into ``val`` with one
    scatter when it is full or when no element is left. Under ``vmap`` a loop carries a select
    per carried value per iteration, so keeping the ``(n,)`` arrays out of the inner loop is what
    makes an iteration cost a few scalar operations per member instead of several passes over
    the ``n`` elements.
    """
    n = a.size
    iota = jnp.arange(n, dtype=jnp.int32)
    rej = ~ok
    slots = jnp.arange(_RETRY_BUFFER, dtype=jnp.int32)
    words = _retry_words(key, uint)

    def inner(c):
        j, ok_p, v_p, cnt, ib, vb, i = c
        rec = ok_p & (slots == cnt)
        ib, vb = jnp.where(rec, j, ib), jnp.where(rec, v_p, vb)
        cnt = cnt + ok_p.astype(jnp.int32)
        j = jnp.where(ok_p, jnp.min(jnp.where(rej & (iota > j), iota, n)), j)  # n: none left
        ok_p, v_p = _cheng_propose(words(i), jnp.take(a, j, mode="clip"), jnp.take(b, j, mode="clip"),
                                   jnp.take(lam, j, mode="clip"), dtype)
        return j, ok_p, v_p, cnt, ib, vb, i + 1

    def outer(c):
        val_, j, ok_p, v_p, i = c
        init = (j, ok_p, v_p, jnp.zeros((), jnp.int32), jnp.full((_RETRY_BUFFER,), n, jnp.int32),
                jnp.zeros((_RETRY_BUFFER,), dtype), i)
        j, ok_p, v_p, _, ib, vb, i = jax.lax.while_loop(lambda c: (c[0] < n) & (c[3] < _RETRY_BUFFER), inner, init)
        return val_.at[ib].set(vb, mode="drop"), j, ok_p, v_p, i

    j0 = jnp.min(jnp.where(rej, iota, n))
    init = (val, j0, jnp.zeros((), bool), jnp.zeros((), dtype), jnp.zeros((), jnp.int32))
    return jax.lax.while_loop(lambda c: c[1] < n, outer, init)[0]


def beta_logit_sample(key, alpha, beta, shape, dtype=jnp.float32):
    """``log(X / (1 - X))`` for exact ``X ~ Beta(alpha, beta)`` draws (module docstring).

    key: PRNG key. alpha, beta: > 0, broadcastable to ``shape``. shape: static output shape.
    dtype: float32 (default) or float64 (under x64). Monotone in ``X`` and finite for every shape:
    what Thompson sampling ranks. Returns ``shape`` ``dtype``.
    """
    shape = tuple(shape)
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    al = jnp.broadcast_to(jnp.asarray(alpha, dtype), shape)
    be = jnp.broadcast_to(jnp.asarray(beta, dtype), shape)
    boost_a, boost_b = al < 1, be < 1
    a, b, lam, offset, flip = _cheng_constants(jnp.where(boost_a, al + 1, al), jnp.where(boost_b, be + 1, be), dtype)
    uint = jnp.uint64 if jnp.finfo(dtype).nmant > 32 else jnp.uint32
    n = a.size
    passes = _CHENG_PASSES if n <= _SINGLE_RETRY_MAX else 1  # large arrays: the redraw loop below does the rest
    words = _words(jax.random.fold_in(key, 0), 2 * passes, shape, uint).reshape((passes, 2) + shape)
    ok, v = _cheng_propose(words[0], a, b, lam, dtype)
    bad = ~(jnp.isfinite(al) & jnp.isfinite(be) & (al > 0) & (be > 0))  # NaN out, never retried
    ok = ok | bad
    for p in range(1, passes):  # further dense proposals: each element keeps its first accepted one
        ok_p, v_p = _cheng_propose(words[p], a, b, lam, dtype)
        v = jnp.where(ok, v, v_p)
        ok = ok | ok_p
    if n > _SINGLE_RETRY_MAX:  # large arrays (offline Monte Carlo): redraw every rejected element at once

        def body_all(carry):
            ok_, v_, i = carry
            ok2, v2 = _cheng_propose(_words(jax.random.fold_in(key, i), 2, shape, uint), a, b, lam, dtype)
            return ok_ | ok2, jnp.where(ok_, v_, v2), i + 1

        ok, v, _ = jax.lax.while_loop(lambda cr: ~jnp.all(cr[0]), body_all, (ok, v, jnp.full((), 3, jnp.int32)))
    elif n > 0:
        v = _cheng_retry(jax.random.fold_in(key, 1), a.reshape(n), b.reshape(n), lam.reshape(n), ok.reshape(n),
                         v.reshape(n), uint, dtype).reshape(shape)
    y = jnp.where(bad, jnp.nan, offset + v)
    y = jnp.where(flip, -y, y)  # logit of Beta(a', b') with a' = alpha (+ 1 if alpha < 1), b' likewise

    def boost(carry):  # runs (for the whole batch) only when some shape is below 1
        i, y_ = carry
        # the key depends on the loop counter so that XLA cannot hoist the draws out of the loop
        w = _words(jax.random.fold_in(key, 2 + i), 2, shape, uint)
        scale = jnp.asarray(2.0 ** -jnp.finfo(dtype).nmant, dtype)
        log_u = [jnp.log(_open_uniform_parts(w[k], dtype)[0] * scale) for k in range(2)]
        y_ = y_ + jnp.where(boost_a, log_u[0] / jnp.where(boost_a, al, 1), 0)
        y_ = y_ - jnp.where(boost_b, log_u[1] / jnp.where(boost_b, be, 1), 0)
        return i + 1, y_

    return jax.lax.while_loop(lambda cr: (cr[0] == 0) & jnp.any(boost_a | boost_b), boost,
                              (jnp.zeros((), jnp.int32), y))[1]


def beta_sample(key, alpha, beta, shape, dtype=jnp.float32):
    """Exact ``Beta(alpha, beta)`` draws of ``shape``: ``sigmoid`` of :func:`beta_logit_sample`
    (never NaN; values within float32 rounding of 0 or 1 round to 0 or 1)."""
    return jax.nn.sigmoid(beta_logit_sample(key, alpha, beta, shape, dtype))
