"""The floor under Bernoulli Thompson sampling's speed: random bits vs the exact Beta samplers.

    python -m benchmarks.sampler_floor --members 1000 --arms 80 --repeat 15

Bernoulli TS draws one ``Beta(alpha_k, beta_k)`` per arm per round. This script times, per
member-round with ``--members`` members under ``vmap`` (the sweep's layout) and ``--arms`` arms
with OBD-like posteriors (``alpha`` log-uniform on [``--alpha-min``, 20], default 1 as with
Bernoulli TS's default Beta(1, 1) prior; ``beta`` on [100, 5000]; fixed seed; ``--shapes prior``:
every arm Beta(1, 1), the unplayed arms of a large catalog), keys of the sweep's default PRNG
(:mod:`bandits.engine.prng`):

* ``bits_4w`` / ``bits_2w``: ``jax.random.bits`` alone, 4 and 2 uint32 words per arm;
* ``words_4w``: the 4 words per arm the sampler's dense pass uses, from 2 Threefry hashes
  (``_sampling._words``): the random-word floor of the current sampler;
* ``new_sampler``: :func:`bandits.policies._sampling.beta_logit_sample` (Cheng's algorithm BB:
  two dense proposals per arm, 4 words from 2 Threefry hashes, then one-element retries);
* ``cheng_pass``: one dense Cheng proposal per arm with its acceptance test and no retries (the
  cost floor of a Cheng pass);
* ``mt_sampler``: the Marsaglia-Tsang Beta path it replaced (``log G_a - log G_b`` from
  :func:`bandits.policies._sampling.log_gamma_sample`, 6 words per arm, one-element retries);
* ``old_sampler``: Marsaglia-Tsang with its retry loop before pipelining (``_old_log_gamma_sample``);
* ``words4_sampler``: Marsaglia-Tsang with 4 words per arm (one ``random.bits`` call per pass and
  the boost uniform taken from the acceptance test), tried and not adopted;
* ``bts_select_mt`` / ``bts_select`` / ``bts_select_old`` / ``bts_select_words4``: the whole
  ``bernoulli_ts`` decision (action only, as in a sweep that does not log: ``probs`` is dead code)
  with each sampler (``bts_select``: the registered policy itself).

Every variant is compiled first; then each repeat runs all of them in turn with fresh keys
(interleaved), and ``best``/``median`` wall-clock microseconds per member-round are reported with
the process CPU time (``cpu_best``; steadier on a loaded machine). The ``ratio_*`` fields are
same-run ratios of those times (best, median, cpu_best). Prints ONE JSON line.

The sweep itself (a ``scan`` over rounds around this decision) fuses differently; the end-to-end
figure is ``python -m benchmarks.workload --policies bernoulli_ts`` (``ratio_vs_random``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from bandits.engine import prng
from bandits.policies._sampling import (
    _cheng_constants,
    _cheng_propose,
    _log_v_minus_w,
    _mt_constants,
    _propose,
    _words,
    beta_logit_sample,
    log_gamma_sample,
)
from bandits.policies.registry import make
from bandits.policies.thompson import ts_decision

# ---- reference: the previous retry loop (same proposals and words: _propose, _mt_constants) ----
_OLD_BOOST_STREAM = 0x7FFFFFFF
_OLD_SINGLE_RETRY_MAX = 2048


def _old_log_gamma_sample(key, a, shape, dtype=jnp.float32):
    shape = tuple(shape)
    a = jnp.broadcast_to(jnp.asarray(a, dtype), shape)
    boost, d, c = _mt_constants(a, dtype)
    ok, val = _propose(jax.random.fold_in(key, 0), d, c, shape, dtype)
    n = a.size
    if n > _OLD_SINGLE_RETRY_MAX:

        def body_all(carry):
            ok_, val_, i = carry
            ok2, val2 = _propose(jax.random.fold_in(key, i), d, c, shape, dtype)
            return ok_ | ok2, jnp.where(ok_, val_, val2), i + 1

        ok, val, _ = jax.lax.while_loop(lambda cr: ~jnp.all(cr[0]), body_all, (ok, val, jnp.ones((), jnp.int32)))
    elif n > 0:
        flat_ok, flat_val = ok.reshape(n), val.reshape(n)
        flat_d, flat_c = d.reshape(n), c.reshape(n)
        iota = jnp.arange(n, dtype=jnp.int32)

        def body(carry):
            ok_, val_, i = carry
            j = jnp.min(jnp.where(ok_, n, iota))
            ok2, val2 = _propose(jax.random.fold_in(key, i), jnp.take(flat_d, j, mode="clip"),
                                     jnp.take(flat_c, j, mode="clip"), (), dtype)
            hit = (iota == j) & ok2
            return ok_ | hit, jnp.where(hit, val2, val_), i + 1

        flat_ok, flat_val, _ = jax.lax.while_loop(lambda cr: ~jnp.all(cr[0]), body,
                                                  (flat_ok, flat_val, jnp.ones((), jnp.int32)))
        val = flat_val.reshape(shape)
    u = jax.random.uniform(jax.random.fold_in(key, _OLD_BOOST_STREAM), shape, dtype, minval=jnp.finfo(dtype).tiny)
    return jnp.where(boost, val + jnp.log(u) / jnp.where(boost, a, 1), val)


def _old_beta_logit_sample(key, alpha, beta, shape, dtype=jnp.float32):
    shape = tuple(shape)
    ab = jnp.stack([jnp.broadcast_to(jnp.asarray(alpha, dtype), shape), jnp.broadcast_to(jnp.asarray(beta, dtype), shape)])
    lg = _old_log_gamma_sample(key, ab, (2,) + shape, dtype)
    return lg[0] - lg[1]
# ---- end of the reference -------------------------------------------------------------------


# ---- the 4-word variant (exact; not adopted: slower than the adopted sampler) ----------------
def _words4_propose(key, a, shape, dtype):
    """Marsaglia-Tsang proposal from one ``random.bits`` call (2 words per element), with
    ``log G = log(d v) + log(u / h(x)) / a`` for ``a < 1``."""
    boost, d, c = _mt_constants(a, dtype)
    words = jax.random.bits(key, (2,) + tuple(shape), jnp.uint32)
    m = (words >> 9).astype(dtype)
    scale = jnp.asarray(2.0 ** -23, dtype)
    x = jnp.asarray(np.sqrt(2), dtype) * jax.lax.erf_inv((2 * m[0] + 1) * scale - 1)
    log_u = jnp.log((m[1] + 0.5) * scale)
    y = c * x
    ok_v = y > -1
    log_v = 3 * jnp.log1p(jnp.where(ok_v, y, 0))
    log_h = 0.5 * x * x + d * _log_v_minus_w(y, log_v)
    ok = ok_v & (log_u < log_h)
    return ok, jnp.log(d) + log_v + jnp.where(boost, (log_u - log_h) / jnp.where(boost, a, 1), 0)


def _words4_beta_logit_sample(key, alpha, beta, shape, dtype=jnp.float32):
    shape = tuple(shape)
    a = jnp.stack([jnp.broadcast_to(jnp.asarray(alpha, dtype), shape), jnp.broadcast_to(jnp.asarray(beta, dtype), shape)])
    n = a.size
    ok, val = _words4_propose(jax.random.fold_in(key, 0), a, a.shape, dtype)
    fa, iota = a.reshape(n), jnp.arange(n, dtype=jnp.int32)

    def body(carry):  # the adopted sampler's pipelined retry loop
        ok_, val_, j, ok_p, val_p, i = carry
        hit = (iota == j) & ok_p
        ok_, val_ = ok_ | hit, jnp.where(hit, val_p, val_)
        j = jnp.min(jnp.where(ok_, n, iota))
        ok_p, val_p = _words4_propose(jax.random.fold_in(key, i), jnp.take(fa, j, mode="clip"), (), dtype)
        return ok_, val_, j, ok_p, val_p, i + 1

    init = (ok.reshape(n), val.reshape(n), jnp.zeros((), jnp.int32), jnp.zeros((), bool), jnp.zeros((), dtype),
            jnp.ones((), jnp.int32))
    lg = jax.lax.while_loop(lambda cr: cr[2] < n, body, init)[1].reshape(a.shape)
    return lg[0] - lg[1]


def _mt_beta_logit_sample(key, alpha, beta, shape, dtype=jnp.float32):
    """Marsaglia-Tsang on the log scale for both shapes (the Beta path before Cheng's BB)."""
    shape = tuple(shape)
    ab = jnp.stack([jnp.broadcast_to(jnp.asarray(alpha, dtype), shape), jnp.broadcast_to(jnp.asarray(beta, dtype), shape)])
    lg = log_gamma_sample(key, ab, (2,) + shape, dtype)
    return lg[0] - lg[1]


def _cheng_one_pass(key, alpha, beta):
    """One dense Cheng BB proposal per arm with its acceptance test, no retries (a cost floor)."""
    a, b, lam, offset, flip = _cheng_constants(alpha, beta, jnp.float32)
    ok, v = _cheng_propose(jax.random.bits(key, (2,) + alpha.shape, jnp.uint32), a, b, lam, jnp.float32)
    return ok, jnp.where(flip, -(offset + v), offset + v)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=1000)
    p.add_argument("--arms", type=int, default=80)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha-min", type=float, default=1.0, help="lower end of the alpha range (log-uniform to 20)")
    p.add_argument("--shapes", choices=("obd", "prior"), default="obd",
                   help="obd: the OBD-like posteriors above; prior: every arm Beta(1, 1) (unplayed arms)")
    a = p.parse_args(argv)
    for name in ("members", "arms", "repeat"):
        if getattr(a, name) < 1:
            p.error(f"--{name}: expected a positive integer, got {getattr(a, name)}")
    if not 0 < a.alpha_min < 20:
        p.error(f"--alpha-min: expected a value in (0, 20), got {a.alpha_min}")
    return a


def _variants(K: int):
    """name -> f(keys (M,), alpha (M, K), beta (M, K)), vmapped over members and jitted."""
    f32 = jnp.float32
    pol = make("bernoulli_ts", num_actions=K)
    mask = jnp.ones((K,), bool)

    def select_with(sampler):
        def one(k, al, be):
            return ts_decision(k, lambda kk, n: sampler(kk, al, be, (n, K), f32), mask, 100, f32).action
        return one

    def bts_select(k, al, be):  # the registered policy itself (state: the Beta posteriors)
        st = pol.init(k, pol.default_hparams)._replace(alpha=al, beta=be)
        return pol.select(k, st, jnp.zeros((1,), f32), mask, pol.default_hparams).action

    fns = {
        "bits_4w": lambda k, al, be: jax.random.bits(k, (4, K), jnp.uint32),
        "bits_2w": lambda k, al, be: jax.random.bits(k, (2, K), jnp.uint32),
        "words_4w": lambda k, al, be: _words(k, 4, (K,), jnp.uint32),
        "old_sampler": lambda k, al, be: _old_beta_logit_sample(k, al, be, (K,)),
        "new_sampler": lambda k, al, be: beta_logit_sample(k, al, be, (K,)),
        "mt_sampler": lambda k, al, be: _mt_beta_logit_sample(k, al, be, (K,)),
        "cheng_pass": _cheng_one_pass,
        "words4_sampler": lambda k, al, be: _words4_beta_logit_sample(k, al, be, (K,)),
        "bts_select_old": select_with(_old_beta_logit_sample),
        "bts_select": bts_select,
        "bts_select_words4": select_with(_words4_beta_logit_sample),
        "bts_select_mt": select_with(_mt_beta_logit_sample),
    }
    return {name: jax.jit(jax.vmap(f)) for name, f in fns.items()}


def run(args) -> dict:
    M, K = args.members, args.arms
    rng = np.random.default_rng(args.seed)
    alpha = jnp.asarray(np.exp(rng.uniform(np.log(args.alpha_min), np.log(20.0), (M, K))), jnp.float32)
    beta = jnp.asarray(np.exp(rng.uniform(np.log(100.0), np.log(5000.0), (M, K))), jnp.float32)
    if args.shapes == "prior":
        alpha, beta = jnp.ones((M, K), jnp.float32), jnp.ones((M, K), jnp.float32)
    keys = jax.random.split(prng.key(args.seed), M)
    fns = _variants(K)
    for f in fns.values():
        jax.block_until_ready(f(keys, alpha, beta))
    wall = {n: [] for n in fns}
    cpu = {n: [] for n in fns}
    fold = jax.jit(jax.vmap(jax.random.fold_in, in_axes=(0, None)))
    for r in range(args.repeat):
        ks = jax.block_until_ready(fold(keys, r + 1))
        for name, f in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(f(ks, alpha, beta))
            wall[name].append((time.perf_counter() - w0) / M * 1e6)
            cpu[name].append((time.process_time() - c0) / M * 1e6)
    us = {n: {"best": min(wall[n]), "median": statistics.median(wall[n]), "cpu_best": min(cpu[n])} for n in fns}

    def ratio(a, b):
        return {k: us[a][k] / us[b][k] for k in ("best", "median", "cpu_best")}

    return {"benchmark": "sampler_floor", "members": M, "arms": K, "repeat": args.repeat, "alpha_min": args.alpha_min,
            "shapes": args.shapes,
            "devices": jax.device_count(), "us_per_member_round": us,
            "ratio_new_vs_old": ratio("new_sampler", "old_sampler"),
            "ratio_select_new_vs_old": ratio("bts_select", "bts_select_old"),
            "ratio_words4_vs_old": ratio("words4_sampler", "old_sampler"),
            "ratio_select_words4_vs_old": ratio("bts_select_words4", "bts_select_old"),
            "ratio_bits_4w_vs_new": ratio("bits_4w", "new_sampler"),
            "ratio_new_vs_mt": ratio("new_sampler", "mt_sampler"),
            "ratio_select_new_vs_mt": ratio("bts_select", "bts_select_mt"),
            "ratio_cheng_pass_vs_mt": ratio("cheng_pass", "mt_sampler")}


def main(argv=None) -> int:
    print(json.dumps(run(parse_args(argv))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
