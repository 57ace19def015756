"""MemberSimulator: a JAX environment of members and click responses calibrated on logged data.

Build one with :func:`build_member_simulator` (``(Env, CalibrationReport)``) or
:func:`fit_member_simulator` (everything: env, fitted model, report). The env follows
:mod:`bandits.contracts` (gymnax style): static shapes fixed at construction, every number in a
:class:`MemberSimParams` pytree (traced, vmappable: a new temperature never recompiles).

A round:

1. a member is drawn by resampling the logged contexts: index ``i ~ softmax(member_logits +
   shift * member_score)`` over the ``n_ctx`` logged rows (uniform by default; ``shift`` tilts the
   population toward members the response model finds more (``> 0``) or less (``< 0``) engaged,
   ``member_score`` being the standardised mean calibrated logit of the member);
2. the policy sees ``Observation(context = contexts[i] (d,), mask = item_mask (K,))``;
3. it shows a slate ``action (L,)`` (item ``action[l]`` in slot ``l``) or, in single-slot mode
   (``len_list=1``), one item ``action ()`` in slot ``slot``;
4. each slot is clicked independently with probability ``q(x, a, l)`` (a position-based model
   with the slot effect learned from the logs):

       z      = item_bias[a] + x @ member_weights[:, a] + position_effect[l]       (raw logit)
       ell    = calibrated logit of z (Platt: a z + b; isotonic: logit(iso(z)))
       ell_T  = c_l + (ell - c_l) / temperature,  c_l = mean of ell over available items in slot l
       q      = (1 - noise) * sigmoid(ell_T) + noise * base_rate

   ``temperature`` < 1 sharpens the member's preferences between items, > 1 flattens them (the
   member's average logit over items stays put); ``noise`` in [0, 1] replaces that share of the
   click signal by an item-independent base-rate click (reward noise that no policy can learn).

``EnvStep.expected_rewards`` is ``(K, L)`` (``(K,)`` in single-slot mode): ``q`` for every item in
every slot; ``expected_reward`` is the slate's expected clicks ``sum_l q(x, action[l], l)``;
``best_expected_reward`` is exact: the best slate of distinct available items. Since ``q`` is
increasing in the item score ``s(x, a) = item_bias[a] + x @ member_weights[:, a]`` for every
slot, the best slate uses the top-``L`` available items by ``s``; their assignment to slots is
found by enumerating the ``L!`` orders (``L <= 5``; beyond that the items are placed in score
order into slots sorted by position effect, which is optimal when every ``q < 1/2``). A slate
that repeats an item earns nothing for the repeats (the member sees the title once: ``q = 0`` and
no click in a repeated slot), so no slate is worth more than the best slate of distinct items and
regret stays >= 0; the Gymnasium adapter refuses such a slate outright, and the slate policies in
:mod:`bandits.policies` never repeat an item. ``reward`` is ``(L,)`` float clicks (``()`` in
single-slot mode). ``info = {"member": () int32}``.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.contracts import Env, EnvStep, Observation
from envs.logged.response import CalibrationReport, ResponseModel, fit_response_model
from envs.registry import EnvSizes, register_env

__all__ = [
    "MemberSimParams",
    "MemberSimState",
    "MemberSimulator",
    "make_member_env",
    "fit_member_simulator",
    "build_member_simulator",
    "expected_reward_matrix",
    "member_distribution",
    "policy_value",
    "obd_site_item_prior",
]


class MemberSimParams(NamedTuple):
    """Numbers of a member simulator (a pytree; every leaf may be traced or vmapped).

    contexts: ``(n_ctx, d)`` float, the member pool (logged contexts).
    member_logits: ``(n_ctx,)`` float, log resampling weights (0 = uniform resampling).
    member_score: ``(n_ctx,)`` float, standardised engagement score used by ``shift``.
    shift: ``()`` float, population shift strength (0 = logged population).
    item_bias: ``(K,)`` float; member_weights: ``(d, K)`` float; position_effect: ``(L,)`` float
        (the slots this env shows; single-slot mode: ``(1,)``).
    calib_a, calib_b: ``()`` Platt slope and intercept (identity = 1, 0).
    iso_x, iso_y: ``(m,)`` isotonic knots (raw logit -> probability); unused unless the env was
        built with ``calibration="isotonic"``.
    temperature: ``()`` > 0. noise: ``()`` in [0, 1]. base_rate: ``()`` click rate used by noise.
    item_mask: ``(K,)`` bool, available items.
    member_cdf: ``(n_ctx,)`` float, cumulative resampling weights derived from ``member_logits``,
        ``member_score`` and ``shift`` (see :func:`member_cdf`). Kept in the params so a round draws
        a member in O(log n_ctx) instead of an exp + cumsum over the whole pool; build params
        with :meth:`MemberSimulator.with_knobs` (which recomputes it), not ``_replace``.
    """

    contexts: Any
    member_logits: Any
    member_score: Any
    shift: Any
    item_bias: Any
    member_weights: Any
    position_effect: Any
    calib_a: Any
    calib_b: Any
    iso_x: Any
    iso_y: Any
    temperature: Any
    noise: Any
    base_rate: Any
    item_mask: Any
    member_cdf: Any = None


def member_cdf(member_logits, member_score, shift):
    """Cumulative (unnormalised) resampling weights ``(n_ctx,)`` for ``softmax(logits + shift * score)``."""
    logits = member_logits + shift * member_score
    return jnp.cumsum(jnp.exp(logits - jnp.max(logits)))


class MemberSimState(NamedTuple):
    """member: ``()`` int32 index into ``params.contexts`` of the member being served; t: ``()`` int32."""

    member: Any
    t: Any


def _perm_table(L: int) -> np.ndarray:
    if L <= 5:
        return np.asarray(list(itertools.permutations(range(L))), np.int32)
    return np.arange(L, dtype=np.int32)[None, :]


def _top_values(s, L: int):
    """The ``L`` largest values of ``s (K,)``, descending, ties repeated (values only).

    ``L`` passes of (max, count of the max, mask the max out) and a small select: pure reductions
    over ``K`` that XLA vectorises across members, ~5x faster on CPU than ``lax.top_k`` here.
    """
    if L > 8:
        return jax.lax.top_k(s, L)[0]
    neg = jnp.asarray(-jnp.inf, s.dtype)
    vals, cums = [], []
    cum = jnp.zeros((), jnp.int32)
    for _ in range(L):
        v = jnp.max(s)
        hit = s >= v
        cum = cum + jnp.sum(hit).astype(jnp.int32)
        vals.append(v)
        cums.append(cum)
        s = jnp.where(hit, neg, s)
    out = []
    for j in range(L):
        # j-th largest = the first distinct value whose cumulative count exceeds j
        out.append(jnp.select([c > j for c in cums], vals, neg))
    return jnp.stack(out)


def _make_fns(K: int, d: int, L: int, calibration: str, dtype):
    """Pure helpers shared by the env and the exact-value utilities."""
    perms = _perm_table(L)
    # sel[(i, l), p] = 1 when permutation p puts the i-th best item into slot l
    sel = np.zeros((L * L, perms.shape[0]), np.float32)
    for pi, perm in enumerate(perms):
        for slot_l, item_i in enumerate(perm):
            sel[item_i * L + slot_l, pi] = 1.0

    def scores(x, p):
        """Item scores s(x, .) (K,)."""
        return p.item_bias + x @ p.member_weights

    def cal_logit(z, p):
        if calibration == "isotonic":
            pr = jnp.clip(jnp.interp(z, p.iso_x, p.iso_y), 1e-6, 1 - 1e-6)
            return jnp.log(pr) - jnp.log1p(-pr)
        if calibration == "none":
            return z
        return p.calib_a * z + p.calib_b

    def centre(s, p):
        """c_l (L,): mean calibrated logit over available items, per slot."""
        m = p.item_mask.astype(s.dtype)
        nm = jnp.maximum(jnp.sum(m), 1.0)
        if calibration == "isotonic":
            ell = cal_logit(s[:, None] + p.position_effect[None, :], p)
            return jnp.sum(ell * m[:, None], axis=0) / nm
        mean_s = jnp.sum(s * m) / nm
        return cal_logit(mean_s + p.position_effect, p)

    def q_from(s_vals, pos_vals, c_vals, p):
        """Click probability of items with scores ``s_vals`` shown in slots with effects ``pos_vals``
        and centres ``c_vals`` (broadcastable arrays; no gathers: they are slow on CPU under vmap)."""
        ell = cal_logit(s_vals + pos_vals, p)
        ell_t = c_vals + (ell - c_vals) / p.temperature
        return (1 - p.noise) * jax.nn.sigmoid(ell_t) + p.noise * p.base_rate

    def matrix(x, p):
        """(K, L) click probabilities for member x."""
        s = scores(x, p)
        c = centre(s, p)
        return q_from(s[:, None], p.position_effect[None, :], c[None, :], p)

    def best(s, c, p):
        """Exact best slate value (sum of q over slots) among available distinct items."""
        neg = jnp.asarray(-jnp.inf, s.dtype)
        s_m = jnp.where(p.item_mask, s, neg)
        top_s = _top_values(s_m, L)  # (L,) descending
        if perms.shape[0] == 1 and L > 1:  # large L: score order into slots by decreasing effect
            slot_order = jnp.argsort(-p.position_effect)
            vals = q_from(top_s, p.position_effect[slot_order], c[slot_order], p)
            return jnp.sum(vals)
        # Qc[i, l]: q of the i-th best item in slot l; a permutation's value is a static selection
        # of L entries of Qc, done as one small matmul (gathers are slow on CPU under vmap)
        Qc = q_from(top_s[:, None], p.position_effect[None, :], c[None, :], p)
        return jnp.max(Qc.reshape(L * L) @ jnp.asarray(sel, Qc.dtype))

    def draw_member(key, p):
        cdf = p.member_cdf if p.member_cdf is not None else member_cdf(p.member_logits, p.member_score, p.shift)
        u = jax.random.uniform(key, (), dtype=cdf.dtype) * cdf[-1]
        i = jnp.searchsorted(cdf, u, side="right")
        return jnp.minimum(i, p.contexts.shape[0] - 1).astype(jnp.int32)

    return scores, centre, q_from, matrix, best, draw_member


def make_member_env(model: ResponseModel, contexts: np.ndarray, *, len_list: int | None = None, slot: int = 0,
                    add_intercept: bool = False, item_mask: np.ndarray | None = None,
                    member_weights: np.ndarray | None = None, dtype=jnp.float32,
                    name: str = "member") -> Env:
    """The simulator :class:`bandits.contracts.Env` for a fitted ``model`` over the member pool ``contexts (n_ctx, d)``.

    len_list: slots per round, default ``model.len_list`` (1 = single-slot mode in slot ``slot``).
    add_intercept: append a constant 1 to every observed context (``context_dim = d + 1``; the
        response model gives it weight 0), for linear policies without an intercept of their own.
    item_mask: ``(K,)`` bool default availability (all True). member_weights: ``(n_ctx,)`` optional
        non-negative resampling weights (default uniform).
    """
    K, d_model = model.n_actions, model.context_dim
    contexts = np.asarray(contexts, np.float64)
    if contexts.ndim != 2 or contexts.shape[1] != d_model:
        raise ValueError(f"contexts: expected shape (n_ctx, {d_model}) to match the model, got {contexts.shape}")
    if contexts.shape[0] < 1:
        raise ValueError("contexts: expected at least one member context, got 0 rows")
    L_model = model.len_list
    L = L_model if len_list is None else int(len_list)
    if L < 1 or L > K:
        raise ValueError(f"len_list: expected an integer in [1, {K}], got {len_list!r}")
    if L > 1 and L != L_model:
        raise ValueError(f"len_list: the model was fitted with {L_model} slots; a slate env must use {L_model} (or 1)")
    if not 0 <= int(slot) < L_model:
        raise ValueError(f"slot: expected an integer in [0, {L_model}), got {slot!r}")
    pos = model.position_effect if L > 1 else model.position_effect[[int(slot)]]
    W = model.member_weights
    ctx = contexts
    if add_intercept:
        ctx = np.concatenate([contexts, np.ones((contexts.shape[0], 1))], axis=1)
        W = np.concatenate([W, np.zeros((1, K))], axis=0)
    d = ctx.shape[1]
    mask = np.ones(K, bool) if item_mask is None else np.asarray(item_mask, bool)
    if mask.shape != (K,) or mask.sum() < L:
        raise ValueError(f"item_mask: expected shape ({K},) with at least {L} True entries, got {mask.shape} / {mask.sum()}")
    if member_weights is None:
        mlog = np.zeros(ctx.shape[0])
    else:
        mw = np.asarray(member_weights, np.float64)
        if mw.shape != (ctx.shape[0],) or np.any(mw < 0) or mw.sum() <= 0:
            raise ValueError(f"member_weights: expected ({ctx.shape[0]},) non-negative weights with a positive sum")
        with np.errstate(divide="ignore"):
            mlog = np.where(mw > 0, np.log(mw), -1e30)
    # engagement score: mean calibrated logit over items and slots (numpy float64), standardised
    eng = np.empty(contexts.shape[0])
    for i0 in range(0, contexts.shape[0], 8192):  # blocks of members: (block, K, L) at a time, not (n_ctx, K, L)
        P = np.clip(model.expected_matrix(contexts[i0:i0 + 8192]), 1e-9, 1 - 1e-9)
        eng[i0:i0 + 8192] = np.mean(np.log(P) - np.log1p(-P), axis=(1, 2))
    sd = eng.std()
    score = (eng - eng.mean()) / sd if sd > 0 else np.zeros_like(eng)
    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    params = MemberSimParams(
        contexts=f(ctx), member_logits=f(mlog), member_score=f(score), shift=f(0.0),
        item_bias=f(model.item_bias), member_weights=f(W), position_effect=f(pos),
        calib_a=f(model.platt[0]), calib_b=f(model.platt[1]), iso_x=f(model.iso_x), iso_y=f(model.iso_y),
        temperature=f(1.0), noise=f(0.0), base_rate=f(model.base_rate), item_mask=jnp.asarray(mask),
    )
    params = params._replace(member_cdf=member_cdf(params.member_logits, params.member_score, params.shift))
    scores, centre, q_from, matrix, best, draw_member = _make_fns(K, d, L, model.calibration, dtype)

    def reset(key, params):
        i = draw_member(key, params)
        return Observation(params.contexts[i], params.item_mask), MemberSimState(i, jnp.zeros((), jnp.int32))

    def draw(key, params):
        """The round's exogenous draws: click uniforms ``(L,)`` and the next member's index."""
        k_click, k_next = jax.random.split(key)
        return jax.random.uniform(k_click, (L,), dtype=dtype), draw_member(k_next, params)

    def step_drawn(draws, state, action, params):
        u, nxt = draws
        x = params.contexts[state.member]
        s = scores(x, params)
        c = centre(s, params)
        act = jnp.reshape(action, (L,)).astype(jnp.int32)
        s_act = jax.nn.one_hot(act, K, dtype=s.dtype) @ s  # (L,) scores of the shown items
        q_chosen = q_from(s_act, params.position_effect, c, params)  # (L,)
        if L > 1:  # an item already shown earlier in the slate earns nothing in a later slot
            repeat = jnp.any((act[:, None] == act[None, :]) & jnp.asarray(np.tri(L, L, -1, bool)), axis=1)
            q_chosen = jnp.where(repeat, jnp.zeros_like(q_chosen), q_chosen)
        clicks = (u < q_chosen).astype(q_chosen.dtype)
        exp_all = q_from(s[:, None], params.position_effect[None, :], c[None, :], params)  # (K, L)
        best_v = best(s, c, params)
        obs = Observation(params.contexts[nxt], params.item_mask)
        if L == 1:
            reward, exp_mat = clicks[0], exp_all[:, 0]
        else:
            reward, exp_mat = clicks, exp_all
        return EnvStep(obs=obs, state=MemberSimState(nxt, state.t + 1), reward=reward,
                       expected_reward=jnp.sum(q_chosen), best_expected_reward=best_v,
                       expected_rewards=exp_mat, info={"member": state.member})

    def step(key, state, action, params):
        return step_drawn(draw(key, params), state, action, params)

    return Env(name=name, num_actions=K, context_dim=d, default_params=params, reset=reset, step=step,
               len_list=L, draw=draw, step_drawn=step_drawn)


# --------------------------------------------------------------------------- exact values
def _env_meta(env: Env) -> tuple[int, int, int, str]:
    p = env.default_params
    calibration = "platt"
    if float(np.asarray(p.iso_x).max() - np.asarray(p.iso_x).min()) > 0:
        calibration = "isotonic"
    return env.num_actions, env.context_dim, env.len_list, calibration


def expected_reward_matrix(env: Env, params: MemberSimParams | None = None, contexts=None,
                           calibration: str | None = None) -> jax.Array:
    """Exact click probabilities ``(n, K, L)`` of every item in every slot for ``contexts (n, d)``
    (default: the whole member pool ``params.contexts``)."""
    p = env.default_params if params is None else params
    K, d, L, cal = _env_meta(env)
    cal = calibration or cal
    X = p.contexts if contexts is None else jnp.asarray(contexts, p.contexts.dtype)
    return _matrix_fn(K, d, L, cal, jnp.dtype(p.contexts.dtype).name)(X, p)


@functools.lru_cache(maxsize=32)
def _matrix_fn(K, d, L, cal, dtype_name):
    """Jitted ``(contexts (n, d), params) -> (n, K, L)``, cached per static signature."""
    _, _, _, matrix, _, _ = _make_fns(K, d, L, cal, jnp.dtype(dtype_name))
    return jax.jit(jax.vmap(matrix, in_axes=(0, None)))


def member_distribution(params: MemberSimParams) -> np.ndarray:
    """Probability of each pooled member ``(n_ctx,)`` float64 under the current shift/weights."""
    logits = np.asarray(params.member_logits, np.float64) + float(params.shift) * np.asarray(params.member_score, np.float64)
    w = np.exp(logits - logits.max())
    return w / w.sum()


def policy_value(env: Env, action_dist, params: MemberSimParams | None = None) -> float:
    """Exact value (expected clicks per slot-impression, obp's per-row scale) of a policy.

    action_dist: ``(n_ctx, K, L)`` (or ``(n_ctx, K)`` single slot; or ``(K, L)`` / ``(K,)`` for a
        context-free policy) probability of each item in each slot for every pooled member.
    Returns ``sum_i P(member i) sum_{a,l} pi(a, l | x_i) q(x_i, a, l) / L``.
    """
    p = env.default_params if params is None else params
    Q = np.asarray(expected_reward_matrix(env, p), np.float64)  # (n, K, L)
    pi = np.asarray(action_dist, np.float64)
    if pi.ndim == 1 or (pi.ndim == 2 and pi.shape == Q.shape[1:]):
        pi = np.broadcast_to(pi.reshape(Q.shape[1:]), Q.shape)
    elif pi.ndim == 2:
        pi = pi[:, :, None]
    if pi.shape != Q.shape:
        raise ValueError(f"action_dist: expected shape {Q.shape} (members, items, slots), got {np.shape(action_dist)}")
    w = member_distribution(p)
    return float(np.sum(w[:, None, None] * pi * Q) / Q.shape[2])


# --------------------------------------------------------------------------- builders
@dataclass
class MemberSimulator:
    """A fitted simulator: ``env`` (the :class:`bandits.contracts.Env`), ``model`` (:class:`ResponseModel`),
    ``report`` (:class:`CalibrationReport`) and ``contexts`` (the member pool, ``(n_ctx, d)``)."""

    env: Env
    model: ResponseModel
    report: CalibrationReport
    contexts: np.ndarray
    member_model: Any = None

    @property
    def params(self) -> MemberSimParams:
        return self.env.default_params

    def with_knobs(self, params: MemberSimParams | None = None, *, temperature=None, noise=None, shift=None,
                   item_mask=None, member_logits=None) -> MemberSimParams:
        """A copy of ``params`` (default ``env.default_params``) with knobs changed (validated)."""
        p = self.params if params is None else params
        upd = {}
        dt = p.temperature.dtype
        if temperature is not None:
            if not float(temperature) > 0:
                raise ValueError(f"temperature: expected a value > 0, got {temperature!r}")
            upd["temperature"] = jnp.asarray(temperature, dt)
        if noise is not None:
            if not 0.0 <= float(noise) <= 1.0:
                raise ValueError(f"noise: expected a value in [0, 1], got {noise!r}")
            upd["noise"] = jnp.asarray(noise, dt)
        if shift is not None:
            upd["shift"] = jnp.asarray(shift, dt)
        if item_mask is not None:
            m = jnp.asarray(item_mask, bool)
            if m.shape != (self.env.num_actions,) or int(m.sum()) < self.env.len_list:
                raise ValueError(f"item_mask: expected ({self.env.num_actions},) bool with >= {self.env.len_list} True")
            upd["item_mask"] = m
        if member_logits is not None:
            ml = jnp.asarray(member_logits, dt)
            if ml.shape != p.member_logits.shape:
                raise ValueError(f"member_logits: expected shape {p.member_logits.shape}, got {ml.shape}")
            upd["member_logits"] = ml
        p = p._replace(**upd)
        return p._replace(member_cdf=member_cdf(p.member_logits, p.member_score, p.shift))


def _get(data, name, default=None):
    if isinstance(data, dict):
        return data.get(name, default)
    return getattr(data, name, default)


def member_env_sizes(data, *, len_list: int | None = None, slot: int = 0, add_intercept: bool = False,
                     **_ignored: Any) -> EnvSizes:
    """Sizes of the member env :func:`fit_member_simulator` builds on ``data``, without fitting.

    ``num_actions`` and the context dimension come from the logs (plus 1 with ``add_intercept``);
    ``len_list`` must be 1 (single slot ``slot``) or the logs' number of slots, and at most K.
    Raises ``ValueError`` naming ``env.len_list`` / ``env.slot`` otherwise.
    """
    action = np.asarray(_get(data, "action"))
    context = _get(data, "context")
    K = int(_get(data, "n_actions") or action.max() + 1)
    d = 0 if context is None else int(np.shape(context)[1])
    position = _get(data, "position")
    L_data = int(_get(data, "len_list") or (1 if position is None else int(np.max(position)) + 1))
    L = L_data if len_list is None else len_list
    if isinstance(L, bool) or not isinstance(L, int | np.integer) or not 1 <= L <= K or (L > 1 and L != L_data):
        raise ValueError(f"env.len_list: expected 1 or the logs' {L_data} slots (at most num_actions={K}), "
                         f"got {len_list!r}")
    if not 0 <= int(slot) < L_data:
        raise ValueError(f"env.slot: expected an integer in [0, {L_data}), got {slot!r}")
    return EnvSizes(K, d + bool(add_intercept), int(L))


@register_env("member_simulator", fit_on_data=True, sizes="envs.logged.simulator:member_env_sizes",
              gym_id="screentest/Member-v0", gym_entry="envs.gym:make_member", gym_vec_entry="envs.gym:make_vec_member",
              cli="simulator", cli_defaults={"len_list": 1, "slot": 0, "add_intercept": True, "item_prior": "auto",
                                             "penalties": None, "temperature": 1.0, "noise": 0.0, "seed": 0},
              cli_types={"penalties": "list[float]"}, provides=("item_features",))
def fit_member_simulator(data, *, len_list: int | None = None, slot: int = 0, add_intercept: bool = False,
                         calibration: str = "platt", penalties: tuple[float, float] | None = None,
                         item_prior_mean: np.ndarray | None = None, heldout_frac: float = 0.25,
                         assume_uniform: bool = False, dtype=jnp.float32, seed: int = 0,
                         members: str = "resample", n_members: int | None = None,
                         **fit_kwargs) -> MemberSimulator:
    """Fit a response model on logged data and build the simulator.

    data: :class:`bandits.data.LoggedData` (or an obp-style dict / object with ``context, action,
        reward, pscore, position, action_context, n_actions, len_list``); ``pscore`` may be None
        (see :func:`envs.logged.response.check_logs`).
    len_list: slots of the env (default the data's; 1 = single-slot mode showing slot ``slot``).
    members: ``"resample"`` (the member pool is the logged contexts) or ``"latent_class"`` (a
        generative model of the contexts, :func:`envs.logged.members.fit_members`, fitted on the
        logged contexts; the pool is ``n_members`` contexts drawn from it once with ``seed``;
        default ``n_members``: the number of logged rows, at least 10,000). The fitted model is
        ``MemberSimulator.member_model``.
    Other arguments: see :func:`envs.logged.response.fit_response_model` and :func:`make_member_env`.
    Raises :class:`envs.logged.response.MalformedLogsError` for logs that cannot support a model.
    """
    if members not in ("resample", "latent_class"):
        raise ValueError(f"members: expected 'resample' or 'latent_class', got {members!r}")
    if n_members is not None and (isinstance(n_members, bool) or not isinstance(n_members, int | np.integer)
                                  or n_members < 1):
        raise ValueError(f"n_members: expected an integer >= 1 or None, got {n_members!r}")
    context = _get(data, "context")
    action = np.asarray(_get(data, "action"))
    if context is None:
        context = np.zeros((action.shape[0], 0))
    n_actions = int(_get(data, "n_actions") or action.max() + 1)
    position = _get(data, "position")
    L_data = int(_get(data, "len_list") or (1 if position is None else int(np.max(position)) + 1))
    model, report = fit_response_model(
        context, action, _get(data, "reward"), position, _get(data, "pscore"), n_actions, L_data,
        _get(data, "action_context"), heldout_frac=heldout_frac, penalties=penalties, calibration=calibration,
        assume_uniform=assume_uniform, item_prior_mean=item_prior_mean, seed=seed, **fit_kwargs,
    )
    ctx = np.asarray(context, np.float64)
    member_model = None
    if members == "latent_class":
        from envs.logged.members import fit_members

        member_model = fit_members(ctx, seed=seed)
        m = max(ctx.shape[0], 10_000) if n_members is None else int(n_members)
        ctx = member_model.sample(m, seed=seed)
    env = make_member_env(model, ctx, len_list=len_list, slot=slot, add_intercept=add_intercept, dtype=dtype)
    return MemberSimulator(env=env, model=model, report=report, contexts=ctx, member_model=member_model)


def build_member_simulator(data, **kwargs) -> tuple[Env, CalibrationReport]:
    """``(Env, CalibrationReport)`` for logged ``data``; keyword arguments as :func:`fit_member_simulator`."""
    sim = fit_member_simulator(data, **kwargs)
    return sim.env, sim.report


def obd_site_item_prior(campaign: str = "all") -> np.ndarray:
    """Logit-scale item prior ``(K,)`` from ZOZOTOWN's Bernoulli-TS site prior (``log(alpha/beta)``),
    for ``item_prior_mean=``. This is external knowledge (the site's click history before the
    logs), not fitted on the logs; a simulator built with it is no longer "fitted on the uniform
    logs only" (see docs/simulator.md)."""
    from bandits.datasets.obd import obd_site_prior

    a, b = obd_site_prior(campaign)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.log(a) - np.log(b)
