"""Team-draft interleaving of two slate rankers, and rehearsals of A/B vs interleaved tests in the
member simulator (``envs.logged``).

Team-draft interleaving (Radlinski, Kurup, Joachims, CIKM 2008): to fill ``L`` slots, the team
(ranker A or B) with fewer picks so far -- a fair coin when tied -- adds its highest-ranked item not
already shown; each click is credited to the team that contributed the clicked item. A member's
outcome is ``D = clicks credited to A - clicks credited to B`` (summed over the member's
sessions); under ``H0`` (no preference) ``E[D] = 0`` by the coin's symmetry. The preference
statistic ``Delta_AB = (wins_A + ties / 2) / members - 1/2`` (Chapelle, Joachims, Radlinski, Yue,
TOIS 2012) is reported with a z-test on the mean of ``D`` over members (members, not sessions,
are the unit, so clustering within a member is respected).

Rehearsal. With the simulator's exact click probabilities ``Q (members, K, L)`` and member weights
``w``, both designs' members needed for a given power follow exactly from first and second
moments: per session, enumerate the ``2^L`` coin sequences (each equally likely) for
interleaving; a member has ``S ~ Poisson(m Lognormal(-s^2/2, s))`` sessions (heterogeneous
activity, mean ``m``). :func:`rehearse` then runs the two designs many times at those sizes to
check power, and A/A versions of both to check the false-positive rate.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from experiments.abtest.validation import check_alpha, check_positive, check_sample

__all__ = ["team_draft", "team_draft_jax", "interleaving_test", "design_moments", "members_needed", "rehearse",
           "rehearse_obd"]


def team_draft(rank_a, rank_b, len_list: int, coins) -> tuple[np.ndarray, np.ndarray]:
    """Team-draft interleaving for a batch of members (numpy).

    rank_a, rank_b: ``(n, M)`` int rankings (best first, distinct items, ``M >= len_list``).
    coins: ``(n, len_list)`` bool; ``coins[:, l]`` decides who picks at slot ``l`` when both teams
        have picked equally often (True = A). Returns ``(slate (n, L) int64, team (n, L) int8)``
        with team 0 = A, 1 = B.
    """
    ra = np.asarray(rank_a, np.int64)
    rb = np.asarray(rank_b, np.int64)
    L = int(len_list)
    if ra.ndim != 2 or ra.shape != rb.shape or ra.shape[1] < L:
        raise ValueError(f"rank_a, rank_b: expected two (n, M >= {L}) rankings, got {ra.shape} and {rb.shape}")
    c = np.asarray(coins, bool)
    if c.shape != (ra.shape[0], L):
        raise ValueError(f"coins: expected shape ({ra.shape[0]}, {L}), got {c.shape}")
    n = ra.shape[0]
    K = int(max(ra.max(), rb.max())) + 1
    used = np.zeros((n, K), bool)
    rows = np.arange(n)
    na = np.zeros(n, np.int64)
    nb = np.zeros(n, np.int64)
    slate = np.empty((n, L), np.int64)
    team = np.empty((n, L), np.int8)
    for pos in range(L):
        a_turn = (na < nb) | ((na == nb) & c[:, pos])
        r = np.where(a_turn[:, None], ra, rb)
        free = ~used[rows[:, None], r]
        item = r[rows, np.argmax(free, axis=1)]
        slate[:, pos] = item
        team[:, pos] = np.where(a_turn, 0, 1)
        used[rows, item] = True
        na += a_turn
        nb += ~a_turn
    return slate, team


def team_draft_jax(key, rank_a, rank_b, len_list: int):
    """Team-draft interleaving for one member in JAX (vmap over members): ``rank_a, rank_b``
    ``(M,)`` int rankings; returns ``(slate (L,) int32, team (L,) int32)`` (0 = A). The coin for
    slot ``l`` is ``bernoulli(fold_in(key, l))``."""
    import jax
    import jax.numpy as jnp

    ra = jnp.asarray(rank_a, jnp.int32)
    rb = jnp.asarray(rank_b, jnp.int32)
    shown = jnp.full((int(len_list),), -1, jnp.int32)
    na = jnp.zeros((), jnp.int32)
    nb = jnp.zeros((), jnp.int32)
    teams = []
    for pos in range(int(len_list)):
        coin = jax.random.bernoulli(jax.random.fold_in(key, pos))
        a_turn = (na < nb) | ((na == nb) & coin)
        r = jnp.where(a_turn, ra, rb)
        free = ~jnp.any(r[:, None] == shown[None, :], axis=1)
        item = r[jnp.argmax(free)]
        shown = shown.at[pos].set(item)
        teams.append(jnp.where(a_turn, 0, 1).astype(jnp.int32))
        na = na + a_turn.astype(jnp.int32)
        nb = nb + (~a_turn).astype(jnp.int32)
    return shown, jnp.stack(teams)


def interleaving_test(credit_a, credit_b, *, alpha: float = 0.05) -> dict:
    """Test a per-member interleaving outcome.

    credit_a, credit_b: ``(members,)`` clicks credited to A and to B. Returns ``delta_ab``
    (preference statistic), ``wins_a``, ``wins_b``, ``ties``, ``mean_d`` (mean of A - B), its
    ``std_error``, ``z`` (the statistic ``mean_d / std_error``), two-sided ``p_value`` (Student t
    with ``members - 1`` degrees of freedom: the standard error is estimated), ``reject`` and
    ``winner`` (None when not rejected). Every member tied gives ``p = 1``; every member with the
    same non-zero difference leaves no sampling error to estimate and is refused.
    """
    alpha = check_alpha(alpha)
    a = check_sample("credit_a", credit_a)
    b = check_sample("credit_b", credit_b)
    if a.shape != b.shape:
        raise ValueError(f"credit_b: expected one value per member, shape {a.shape}, got {b.shape}")
    if a.size < 2:
        raise ValueError(f"credit_a: expected at least 2 members, got {a.size}")
    d = a - b
    wa, wb = int(np.sum(d > 0)), int(np.sum(d < 0))
    ties = int(d.size - wa - wb)
    se = float(d.std(ddof=1) / np.sqrt(d.size))
    if se == 0 and d[0] != 0:
        raise ValueError(f"credit_a, credit_b: every one of the {d.size} members has the same A - B difference "
                         f"{float(d[0])!r}, so no sampling error can be estimated; collect more members")
    z = float(d.mean() / se) if se > 0 else 0.0
    p = float(2 * student_t.sf(abs(z), d.size - 1))
    rej = p <= alpha
    return dict(delta_ab=(wa + ties / 2) / d.size - 0.5, wins_a=wa, wins_b=wb, ties=ties, mean_d=float(d.mean()),
                std_error=se, z=z, p_value=p, reject=bool(rej), winner=("A" if z > 0 else "B") if rej else None)


def _coin_table(L: int) -> np.ndarray:
    return np.array(list(itertools.product([True, False], repeat=L)), bool)  # (2^L, L)


def _activity_moments(sessions: float, sigma: float) -> tuple[float, float]:
    m = float(sessions)
    return m, m + m * m * np.exp(sigma**2)  # E[S], E[S^2] of a Poisson-lognormal mixture


def design_moments(Q, w, rank_a, rank_b, *, sessions: float = 1.0, activity_sigma: float = 0.0) -> dict:
    """Exact per-member moments of both designs.

    Q: ``(n, K, L)`` click probability of item k in slot l for member n; w: ``(n,)`` member
    probabilities; rank_a, rank_b: ``(n, M)`` rankings. Returns A/B means and variances of a
    member's clicks under each ranker (``ab_mean_a``, ``ab_var_a``, ``ab_mean_b``, ``ab_var_b``)
    and the interleaving outcome's ``il_mean`` and ``il_var`` (A minus B)."""
    Q = np.asarray(Q, np.float64)
    w = np.asarray(w, np.float64)
    n, K, L = Q.shape
    rows = np.arange(n)[:, None]
    slots = np.arange(L)[None, :]
    m, ES2 = _activity_moments(sessions, activity_sigma)
    out = {}
    for name, r in (("a", rank_a), ("b", rank_b)):
        q = Q[rows, np.asarray(r)[:, :L], slots]
        mu = q.sum(1)
        v = (q * (1 - q)).sum(1)
        out[f"ab_mean_{name}"] = m * float(w @ mu)
        out[f"ab_var_{name}"] = m * float(w @ v) + ES2 * float(w @ mu**2) - (m * float(w @ mu)) ** 2
    coins = _coin_table(L)
    e = np.zeros((coins.shape[0], n))
    u = np.zeros((coins.shape[0], n))
    for p, c in enumerate(coins):
        slate, team = team_draft(rank_a, rank_b, L, np.broadcast_to(c, (n, L)))
        q = Q[rows, slate, slots]
        sign = np.where(team == 0, 1.0, -1.0)
        e[p] = (sign * q).sum(1)
        u[p] = (q * (1 - q)).sum(1)
    d = e.mean(0)
    g = u.mean(0) + (e**2).mean(0) - d**2
    out["il_mean"] = m * float(w @ d)
    out["il_var"] = m * float(w @ g) + ES2 * float(w @ d**2) - (m * float(w @ d)) ** 2
    return out


def members_needed(moments: dict, *, alpha: float = 0.05, power: float = 0.8) -> dict:
    """Members (both groups together for A/B) for a two-sided z-test at ``alpha`` to reach ``power``."""
    alpha = check_alpha(alpha)
    power = check_alpha(power, "power")
    z2 = (norm.ppf(1 - alpha / 2) + norm.ppf(power)) ** 2
    da = moments["ab_mean_b"] - moments["ab_mean_a"]
    ab_per_group = z2 * (moments["ab_var_a"] + moments["ab_var_b"]) / da**2 if da != 0 else np.inf
    il = z2 * moments["il_var"] / moments["il_mean"] ** 2 if moments["il_mean"] != 0 else np.inf
    return dict(ab_members=float(2 * np.ceil(ab_per_group)), il_members=float(np.ceil(il)),
                ratio=float(2 * np.ceil(ab_per_group) / np.ceil(il)))


def _draw_members(rng, w, n, sessions, sigma):
    i = rng.choice(w.size, size=n, p=w)
    lam = sessions * np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2)
    return i, rng.poisson(lam)


def _ab_once(rng, Q, w, r_a, r_b, n_per_group, sessions, sigma, alpha):
    L = Q.shape[2]
    means, vars_ = [], []
    for r in (r_a, r_b):
        i, S = _draw_members(rng, w, n_per_group, sessions, sigma)
        q = Q[i[:, None], r[i][:, :L], np.arange(L)[None, :]]
        clicks = rng.binomial(S[:, None], q).sum(1).astype(np.float64)
        means.append(clicks.mean())
        vars_.append(clicks.var(ddof=1) / n_per_group)
    z = (means[1] - means[0]) / np.sqrt(max(vars_[0] + vars_[1], 1e-300))
    return 2 * norm.sf(abs(z)) <= alpha, np.sign(z)


def _il_once(rng, Q, w, r_a, r_b, n, sessions, sigma, alpha, slates):
    L = Q.shape[2]
    i, S = _draw_members(rng, w, n, sessions, sigma)
    P = slates[0].shape[0]
    counts = rng.multinomial(S, np.full(P, 1.0 / P))  # (n, P) sessions per coin sequence
    d = np.zeros(n)
    for p in range(P):
        slate, team = slates[0][p][i], slates[1][p][i]
        q = Q[i[:, None], slate, np.arange(L)[None, :]]
        c = rng.binomial(counts[:, p][:, None], q)
        d += np.where(team == 0, c, -c).sum(1)
    se = d.std(ddof=1) / np.sqrt(n)
    z = d.mean() / se if se > 0 else 0.0
    return 2 * norm.sf(abs(z)) <= alpha, np.sign(z)


def rehearse(Q, w, rank_a, rank_b, *, sessions: float = 1.0, activity_sigma: float = 0.0, alpha: float = 0.05,
             power: float = 0.8, reps: int = 300, seed: int = 0, max_members: int | None = None) -> dict:
    """Plan both designs from exact moments, then rehearse each ``reps`` times at its planned size
    (power = share of tests rejecting in the direction of the true difference) and as an A/A test
    (ranker A against itself: false-positive rate). Returns members needed, rehearsed powers and
    false-positive rates with binomial standard errors. A design needing more than
    ``max_members`` members per test is planned but not rehearsed (its rates are None)."""
    alpha = check_alpha(alpha)
    check_positive("sessions", sessions)
    reps = int(check_positive("reps", reps, integer=True))
    Q = np.asarray(Q, np.float64)
    w = np.asarray(w, np.float64)
    w = w / w.sum()
    ra, rb = np.asarray(rank_a), np.asarray(rank_b)
    mom = design_moments(Q, w, ra, rb, sessions=sessions, activity_sigma=activity_sigma)
    need = members_needed(mom, alpha=alpha, power=power)
    rng = np.random.default_rng(seed)
    n_ab = int(need["ab_members"] // 2)
    n_il = int(need["il_members"])
    L = Q.shape[2]
    coins = _coin_table(L)

    def slates_for(x, y):
        s, t = zip(*(team_draft(x, y, L, np.broadcast_to(c, (x.shape[0], L))) for c in coins), strict=True)
        return np.stack(s), np.stack(t)

    sl_ab, sl_aa = slates_for(ra, rb), slates_for(ra, ra)
    true_ab = np.sign(mom["ab_mean_b"] - mom["ab_mean_a"])
    true_il = np.sign(mom["il_mean"])
    do_ab = max_members is None or 2 * n_ab <= max_members
    do_il = max_members is None or n_il <= max_members
    ab_hits = ab_fp = il_hits = il_fp = 0
    for _ in range(reps):
        if do_ab:
            rej, s = _ab_once(rng, Q, w, ra, rb, n_ab, sessions, activity_sigma, alpha)
            ab_hits += bool(rej and s == true_ab)
            ab_fp += bool(_ab_once(rng, Q, w, ra, ra, n_ab, sessions, activity_sigma, alpha)[0])
        if do_il:
            rej, s = _il_once(rng, Q, w, ra, rb, n_il, sessions, activity_sigma, alpha, sl_ab)
            il_hits += bool(rej and s == true_il)
            il_fp += bool(_il_once(rng, Q, w, ra, ra, n_il, sessions, activity_sigma, alpha, sl_aa)[0])

    def se(p):
        return float(np.sqrt(max(p * (1 - p), 1e-12) / reps))

    res = dict(moments=mom, alpha=alpha, target_power=power, reps=reps, sessions=sessions,
               activity_sigma=activity_sigma, **need)
    for k, v, done in (("ab_power", ab_hits, do_ab), ("ab_fpr", ab_fp, do_ab), ("il_power", il_hits, do_il),
                       ("il_fpr", il_fp, do_il)):
        res[k] = v / reps if done else None
        res[k + "_se"] = se(v / reps) if done else None
    return res


def rehearse_obd(campaign: str = "all", *, temperature: float = 0.1, sessions: float = 50.0,
                 activity_sigma: float = 1.5, alpha: float = 0.05, power: float = 0.8, reps: int = 100, seed: int = 0,
                 max_members: int | None = 200_000) -> dict:
    """Rehearsal in the member simulator fitted on the OBD uniform-random logs (``envs.logged``):
    ranker A = personalised (items by the simulator's click probability for the member), ranker
    B = popularity (items by the population's mean click probability, same list for everyone).

    temperature: the simulator's preference-sharpness knob (the model fitted on the 10,000-row
    sample is nearly flat across members, so the two rankers differ by ~0.2% at temperature 1;
    0.1 makes members' preferences 10x sharper). sessions / activity_sigma: members' activity
    (mean slates per member and its lognormal spread). Designs needing more than ``max_members``
    members per test are planned (exact moments) but not rehearsed."""
    from bandits.datasets import load_obd
    from envs.logged.simulator import expected_reward_matrix, fit_member_simulator, member_distribution

    sim = fit_member_simulator(load_obd("random", campaign), len_list=3, seed=seed)
    params = sim.with_knobs(temperature=temperature)
    Q = np.asarray(expected_reward_matrix(sim.env, params), np.float64)
    w = member_distribution(params)
    L = Q.shape[2]
    score = Q.mean(2)
    rank_a = np.argsort(-score, axis=1, kind="stable")[:, :L]
    pop = np.argsort(-(w @ score), kind="stable")[:L]
    rank_b = np.broadcast_to(pop, rank_a.shape).copy()
    res = rehearse(Q, w, rank_a, rank_b, sessions=sessions, activity_sigma=activity_sigma, alpha=alpha, power=power,
                   reps=reps, seed=seed, max_members=max_members)
    res.update(ranker_a="personalised (simulator click probabilities)", ranker_b="popularity", campaign=campaign,
               temperature=temperature, members_in_pool=int(Q.shape[0]), n_items=int(Q.shape[1]))
    return res
