"""``screentest ope``: evaluate candidate policies off-policy on a logged dataset.

    screentest ope                                   # bundled OBD sample, random logs, campaign all
    screentest ope --policies random,bts,linucb --interval bootstrap --out ope.csv --plot ope.png
    screentest ope --data logs.parquet --context-cols x0,x1,x2 --policies random,linucb

Default data: the Open Bandit Dataset small sample bundled with screentest (``--behavior-policy``
random or bts, ``--campaign`` all / men / women). ``--data`` reads a parquet or CSV log with the
columns ``action, reward, pscore`` (optional ``position``, 0-based) and context columns.

Candidate policies (``--policies``, comma separated):
  random   uniform over the items (on random logs its IPW estimate equals the logged click rate)
  bts      Bernoulli Thompson sampling; with OBD data and the site prior (obp's
           ``BernoulliTS(is_zozotown_prior=True)``), action distribution from ``--n-sim`` draws
  linucb, lints, any registered single-action policy: trained by folding ``policy.update``
           over the first ``--train-frac`` of the log (in time order), then frozen
All policies are evaluated on the remaining rows (the whole log when no learning policy is asked
for), so every row of the table refers to the same evaluation rows. A single-action policy's
distribution is used for every slot of a slate log (obp's position-wise convention).

Writes the table (rich) to stdout, ``--out`` as CSV or parquet (by suffix) and ``--plot`` as a
PNG of the estimates with their intervals.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bandits.data import LoggedData
from bandits.estimators import DEFAULT_ESTIMATORS as _DEFAULT_ESTIMATORS
from bandits.estimators import Estimator, estimator_names
from bandits.estimators.core import as_estimators

DEFAULT_POLICIES = "random,bts,linucb"
DEFAULT_ESTIMATORS = ",".join(_DEFAULT_ESTIMATORS)


class CLIError(ValueError):
    """A user error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="screentest ope", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--data", default="obd", help="'obd' (bundled sample) or a .parquet / .csv log path")
    p.add_argument("--behavior-policy", default="random", choices=("random", "bts"), help="OBD logs to use")
    p.add_argument("--campaign", default="all", choices=("all", "men", "women"), help="OBD campaign")
    p.add_argument("--obd-path", default=None, help="root of the full OBD (default: bundled sample)")
    p.add_argument("--context-cols", default=None, help="comma-separated context columns of --data "
                   "(default: columns named context_*)")
    p.add_argument("--position-col", default=None, help="slot column of --data (0-based)")
    p.add_argument("--policies", default=DEFAULT_POLICIES, help=f"comma-separated (default {DEFAULT_POLICIES})")
    p.add_argument("--estimators", default=DEFAULT_ESTIMATORS,
                   help=f"comma-separated among {','.join(estimator_names())} (the registered estimators; "
                        f"default {DEFAULT_ESTIMATORS})")
    p.add_argument("--interval", default="normal", choices=("normal", "bootstrap", "none"))
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--n-sim", type=int, default=100_000, help="Monte-Carlo draws for bts's action distribution")
    p.add_argument("--train-frac", type=float, default=0.5, help="share of the log that trains learning policies")
    p.add_argument("--n-folds", type=int, default=3, help="cross-fitting folds of the reward model (DM, DR)")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--out", type=Path, default=None, help="write the table (.csv or .parquet)")
    p.add_argument("--plot", type=Path, default=None, help="write a PNG of estimates with intervals")
    p.add_argument("--quiet", action="store_true", help="do not print the table")
    return p


def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def parse_estimators(s: str) -> list[Estimator]:
    """``--estimators``: comma-separated registered names or aliases -> :class:`Estimator` list;
    a ``CLIError`` naming the registered estimators otherwise."""
    try:
        return as_estimators(_split(s))
    except ValueError as e:
        raise CLIError(f"--estimators: {e}") from None


def load_data(args) -> tuple[LoggedData, str]:
    """The log and a short description of it."""
    if args.data == "obd":
        from bandits.datasets.obd import load_obd

        data = load_obd(args.behavior_policy, args.campaign, data_path=args.obd_path)
        return data, f"OBD {args.behavior_policy}/{args.campaign}"
    path = Path(args.data)
    if not path.exists():
        raise CLIError(f"--data: expected 'obd' or an existing .parquet/.csv file, got {args.data!r} (not found)")
    from bandits.data import ColumnMap

    cols = ColumnMap(context_cols=_split(args.context_cols) if args.context_cols else None,
                     position_col=args.position_col)
    if path.suffix == ".parquet":
        data = LoggedData.from_parquet(path, cols)
    elif path.suffix in (".csv", ".gz"):
        data = LoggedData.from_csv(path, cols)
    else:
        raise CLIError(f"--data: expected a .parquet or .csv file, got suffix {path.suffix!r}")
    return data, path.name


def _train(policy, hp, data: LoggedData, seed: int):
    """Fold ``policy.update`` over logged (context, action, reward) rows in one ``lax.scan``."""
    import jax
    import jax.numpy as jnp

    dt = jnp.result_type(float)
    state = policy.init(jax.random.key(seed), hp)
    xs = (jnp.asarray(data.context, dt), jnp.asarray(data.action, jnp.int32), jnp.asarray(data.reward, dt))

    def body(s, x):
        return policy.update(s, x[0], x[1], x[2], hp), None

    state, _ = jax.jit(lambda s, xs: jax.lax.scan(body, s, xs))(state, xs)
    return state


def action_dists(names: list[str], data: LoggedData, args) -> tuple[dict[str, np.ndarray], LoggedData, str]:
    """``{policy: action_dist (n_eval, K, L)}``, the evaluation rows, and a note on the split."""
    import jax
    import jax.numpy as jnp

    from bandits.estimators import policy_action_dist
    from bandits.policies import REGISTRY, make

    K, L, n = data.n_actions, data.len_list, data.n_rounds
    learners = [nm for nm in names if nm not in ("random", "bts")]
    for nm in learners:
        if nm not in REGISTRY:
            raise CLIError(f"--policies: unknown policy {nm!r}; expected random, bts or one of {sorted(REGISTRY)}")
    if learners:
        if not 0.0 < args.train_frac < 1.0:
            raise CLIError(f"--train-frac: expected a number in (0, 1), got {args.train_frac}")
        order = np.argsort(data.timestamp, kind="stable") if data.timestamp is not None else np.arange(n)
        cut = int(round(args.train_frac * n))
        train, evalset = data.subset(order[:cut]), data.subset(order[cut:])
        note = f"learners trained on the first {cut} rows, all policies evaluated on the last {n - cut}"
    else:
        train, evalset, note = None, data, f"all policies evaluated on all {n} rows"
    n_eval = evalset.n_rounds
    out: dict[str, np.ndarray] = {}
    for nm in names:
        if nm == "random":
            out[nm] = np.full((n_eval, K, L), 1.0 / K)
        elif nm == "bts":
            from bandits.datasets.obd import obd_site_prior
            from bandits.policies.bts import bts_action_dist

            if args.data == "obd":
                a0, b0 = obd_site_prior(args.campaign)
                label = "bts"
            else:
                a0, b0 = np.ones(K), np.ones(K)
                label = "bts"
            p = bts_action_dist(jax.random.key(args.seed), a0, b0, len_list=L, n_sim=args.n_sim)
            p = np.asarray(p, np.float64).reshape(1, K, L)
            out[label] = np.broadcast_to(p / p.sum(axis=1, keepdims=True), (n_eval, K, L))
        else:
            d = data.dim_context
            traits, needs = REGISTRY[nm].effective()
            kw: dict[str, Any] = {}
            if "slate" in traits:  # a slate policy fills the log's slots (one slot: only if it serves it)
                if not REGISTRY[nm].supports_len_list(L):
                    raise CLIError(f"--policies: {nm!r} fills a slate of len_list >= 2 slots, the log has len_list={L}")
                kw["len_list"] = L
            for need in needs:
                if need == "item_features" and getattr(data, "action_context", None) is not None:
                    kw[need] = np.asarray(data.action_context)
                else:
                    raise CLIError(f"--policies: {nm!r} needs {need}, which the logs do not have (action_context)")
            policy = make(nm, num_actions=K, context_dim=d, **kw)
            if policy.len_list != 1 and policy.len_list != L:
                raise CLIError(f"--policies: {nm!r} fills {policy.len_list} slots, the log has len_list={L}")
            hp = jax.tree.map(lambda v: jnp.asarray(v, jnp.result_type(float)), policy.default_hparams)
            state = _train(policy, hp, train, args.seed)
            ad = policy_action_dist(policy, state, hp, evalset.context, jax.random.key(args.seed))
            out[nm] = np.broadcast_to(ad, (n_eval, K, L)) if ad.shape[2] == 1 and L > 1 else ad
    return out, evalset, note


def run(args) -> Any:
    import pandas as pd

    from bandits.estimators import evaluate, fit_reward_model

    names = _split(args.policies)
    if not names:
        raise CLIError("--policies: expected at least one policy name, got none")
    est = parse_estimators(args.estimators)
    if not 0.0 < args.alpha < 1.0:
        raise CLIError(f"--alpha: expected a number in (0, 1), got {args.alpha}")
    if args.interval == "bootstrap" and args.n_bootstrap < 2:
        raise CLIError(f"--n-bootstrap: expected an integer >= 2, got {args.n_bootstrap}")
    if args.n_sim < 1:
        raise CLIError(f"--n-sim: expected an integer >= 1, got {args.n_sim}")
    data, desc = load_data(args)
    ads, evalset, note = action_dists(names, data, args)
    q = None
    if any(e.needs_reward_model for e in est):
        q = fit_reward_model(evalset, n_folds=args.n_folds, random_state=args.seed, len_list=evalset.len_list)
    frames = []
    for nm, ad in ads.items():
        df = evaluate(evalset, ad, estimators=est, estimated_rewards=q, interval=args.interval, alpha=args.alpha,
                      n_bootstrap=args.n_bootstrap, random_state=args.seed)
        df.insert(0, "policy", nm)
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    table.attrs["logged_mean_reward"] = float(np.mean(evalset.reward))
    table.attrs["description"] = f"{desc}: {note}"
    return table


def print_table(table) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"off-policy estimates ({table.attrs.get('description', '')}); "
                    f"logged mean reward {table.attrs.get('logged_mean_reward', float('nan')):.5f}")
    cols = ["policy", "estimator", "estimate", "ci_low", "ci_high", "relative", "ess_ratio", "max_iw", "unsupported_mass"]
    for c in cols:
        t.add_column(c, justify="left" if c in ("policy", "estimator") else "right")
    for r in table.itertuples(index=False):
        t.add_row(*[str(getattr(r, c)) if c in ("policy", "estimator") else f"{getattr(r, c):.4g}" for c in cols])
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    console.print(t)


def plot(table, path: Path) -> None:
    """Estimates with intervals, grouped by policy, one marker per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pols = list(dict.fromkeys(table["policy"]))
    ests = list(dict.fromkeys(table["estimator"]))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(pols) * max(1, len(ests)) / 3, 4.2))
    width = 0.8 / max(1, len(ests))
    for j, e in enumerate(ests):
        sub = table[table["estimator"] == e].set_index("policy").reindex(pols)
        x = np.arange(len(pols)) - 0.4 + width * (j + 0.5)
        lo = (sub["estimate"] - sub["ci_low"]).to_numpy()
        hi = (sub["ci_high"] - sub["estimate"]).to_numpy()
        yerr = None if np.all(np.isnan(lo)) else np.vstack([lo, hi])
        ax.errorbar(x, sub["estimate"], yerr=yerr, fmt="o", capsize=3, label=e)
    ref = table.attrs.get("logged_mean_reward")
    if ref is not None:
        ax.axhline(ref, color="grey", lw=1, ls="--", label="logged mean reward")
    ax.set_xticks(np.arange(len(pols)), pols)
    alpha = float(table["alpha"].iloc[0])
    kind = table["interval"].iloc[0]
    ax.set_ylabel("estimated policy value")
    ax.set_title(f"{table.attrs.get('description', '')}\n{100 * (1 - alpha):.0f}% {kind} intervals", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.out is not None and args.out.suffix not in (".csv", ".parquet"):
            raise CLIError(f"--out: expected a path ending in .csv or .parquet, got {str(args.out)!r}")
        if args.plot is not None and args.plot.suffix != ".png":
            raise CLIError(f"--plot: expected a path ending in .png, got {str(args.plot)!r}")
        table = run(args)
    except CLIError as e:
        print(f"screentest ope: error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print_table(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix == ".csv":
            table.to_csv(args.out, index=False)
        else:
            table.to_parquet(args.out, index=False)
        print(f"wrote {args.out}")
    if args.plot is not None:
        plot(table, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
