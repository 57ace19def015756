"""``screentest report DIR``: a markdown (and optionally HTML) report with PNG plots from a result store.

What it contains (each part only when its table is in the store):

* **Bake-off summary** (table ``bakeoff``): per configuration and candidate (and hyperparameter
  point), the final cumulative regret over seeds, its mean with a 95% t-interval, the reward per
  round, and the paired difference to the best candidate of the same configuration. Candidates run
  on common random numbers (seed ``s`` is the same member for all), so the difference is computed
  seed by seed (paired) and its interval is a t-interval of the per-seed differences, much tighter
  than comparing two independent means.
* ``regret.png`` (``regret_<config>.png`` when the store holds several configurations): mean cumulative regret against rounds with a 95% confidence band of the
  mean over seeds (t-interval at every stored curve point).
* ``paired.png`` (``paired_<config>.png``): the paired final-regret differences to the best candidate with 95% CIs.
* ``ope.png`` (table ``ope``): each estimator's estimate of each candidate's value with its
  interval, against the member simulator's ground truth.
* ``calibration.png`` (table ``calibration``): the simulator's predicted click rate against the
  observed rate per bin of the logs (a calibration curve), with the diagonal.
* **Off-policy evaluation on logs** (table ``ope_logs``, written by ``screentest ope``): every
  candidate's (and grid point's) estimates with their intervals, each candidate's best grid point,
  the reward model and how it was chosen, the DM/DR disagreements, and ``ope_logs.png``.

``report.html`` is the markdown rendered by markdown-it-py (CommonMark with tables: real ``<th>``
headers, code spans), one self-contained file with every figure inlined as a ``data:`` URI.

Usage: ``screentest report DIR [--out OUTDIR] [--html]``. ``OUTDIR`` defaults to ``DIR/report``.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from experiments import store


def _t_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: Student-t interval of the mean of ``x`` (``lo = hi = NaN`` for n < 2:
    one seed says nothing about the spread)."""
    x = np.asarray(x, np.float64)
    m = float(np.mean(x))
    if x.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


def _short_hparams(hp_json: str) -> str:
    d = json.loads(hp_json) if hp_json else {}
    return ", ".join(f"{k}={v:g}" for k, v in sorted(d.items())) or "-"


def group_label(policy: str, hp_json: str, multi: bool, candidate: str | None = None) -> str:
    """``policy`` or ``policy (alpha=0.1)`` when a candidate has several hyperparameter points;
    ``policy [<candidate id>]`` when one label names several policies (constructor options)."""
    name = f"{policy} [{candidate[:6]}]" if candidate else policy
    return f"{name} ({_short_hparams(hp_json)})" if multi else name


def _group_keys(df: pd.DataFrame) -> list[str]:
    """The columns that identify a candidate's hyperparameter point (``candidate`` when stored)."""
    return ["policy", "candidate", "hparams"] if "candidate" in df else ["policy", "hparams"]


def _labels(g: pd.DataFrame) -> dict[tuple, str]:
    """Display label of every (policy, [candidate,] hparams) group of one config's rows."""
    keys = _group_keys(g)
    combos = g[keys].drop_duplicates()
    n_points = combos.groupby(keys[:-1]).size()
    n_cands = combos.drop_duplicates(keys[:-1]).groupby("policy").size() if len(keys) == 3 else None
    out = {}
    for r in combos.itertuples(index=False):
        k = tuple(r)
        cand = k[1] if n_cands is not None and n_cands[k[0]] > 1 else None
        out[k] = group_label(k[0], k[-1], n_points[k[:-1] if len(keys) == 3 else k[0]] > 1, cand)
    return out


def summarize(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (config_hash, policy, candidate, hparams): seeds, mean final regret with CI, reward per
    round, and the paired difference to the best group of the same config (on the seeds both have).

    df: rows of the ``bakeoff`` table (one per key; :func:`experiments.store.load` guarantees it).
    Returns one row per group, sorted by config then regret. Columns: ``config_hash, env, horizon,
    policy, hparams, hparams_short, label, n, regret_mean, regret_lo, regret_hi, reward_per_round,
    diff_mean, diff_lo, diff_hi, vs_best`` (text). Intervals are NaN for a single seed. A group with
    NaN regrets (members whose policy diverged: :func:`bandits.engine.sweep.sweep`) has NaN figures,
    ``vs_best`` says on how many seeds it diverged, and it is never the best.
    """
    if df.empty:
        raise store.StoreError("no bake-off rows to summarise")
    keys = _group_keys(df)
    dup = df.duplicated(["config_hash", *keys, "seed"])
    if dup.any():
        raise store.StoreError(f"{int(dup.sum())} bake-off rows repeat a (config, candidate, hyperparameters, seed) "
                               f"key; refusing to count them twice")
    out = []
    for chash, g in df.groupby("config_hash", sort=True):
        labels = _labels(g)
        rows = []
        for k, gg in g.groupby(keys, sort=True):
            pol, hp = k[0], k[-1]
            n_nan = int(gg["cum_regret"].isna().sum())
            m, lo, hi = _t_interval(gg["cum_regret"].to_numpy(), level)
            horizon = int(gg["horizon"].iloc[0])
            rows.append({
                "config_hash": chash, "env": str(gg["env"].iloc[0]), "horizon": horizon, "policy": pol,
                "hparams": hp, "hparams_short": _short_hparams(hp), "label": labels[tuple(k)],
                "n": len(gg), "regret_mean": m, "regret_lo": lo, "regret_hi": hi,
                "reward_per_round": float(gg["cum_reward"].mean() / horizon),
                "_by_seed": gg.set_index("seed")["cum_regret"], "_nan": n_nan,
            })
        finite = [r for r in rows if not r["_nan"]]
        best = min(finite, key=lambda r: r["regret_mean"]) if finite else None
        for r in rows:
            if r["_nan"]:
                r.update(reward_per_round=np.nan, diff_mean=np.nan, diff_lo=np.nan, diff_hi=np.nan,
                         vs_best=f"diverged on {r['_nan']} of {r['n']} seeds: no result")
                continue
            if r is best:
                r.update(diff_mean=0.0, diff_lo=0.0, diff_hi=0.0, vs_best="best")
                continue
            a, b = r["_by_seed"].align(best["_by_seed"], join="inner")
            d = (a - b).to_numpy()
            if d.size == 0:
                r.update(diff_mean=np.nan, diff_lo=np.nan, diff_hi=np.nan, vs_best="no common seeds")
                continue
            m, lo, hi = _t_interval(d, level)
            text = f"+{m:.2f} [{lo:.2f}, {hi:.2f}]" if d.size > 1 else f"+{m:.2f} (one common seed: no interval)"
            r.update(diff_mean=m, diff_lo=lo, diff_hi=hi, vs_best=text)
        out.extend(rows)
    res = pd.DataFrame(out).drop(columns=["_by_seed", "_nan"])
    return res.sort_values(["config_hash", "regret_mean"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt



def _save(plt, fig, ax, path: Path, grid_axis: str | None = "both", legend: bool = False) -> Path:
    """The plots' common ending: a light grid (``grid_axis`` "both", "x", "y" or None), the legend
    when asked, a tight layout, the file written and the figure closed. Returns ``path``."""
    if grid_axis is not None:
        ax.grid(alpha=0.3, axis=grid_axis)
    if legend:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path

def plot_regret_curves(g: pd.DataFrame, path: Path, level: float = 0.95) -> Path:
    """Mean cumulative regret vs rounds per candidate (one config), 95% band of the mean over seeds."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    labels = _labels(g)
    for k, gg in g.groupby(_group_keys(g), sort=True):
        # every curve starts at (0, 0): no regret before the first round
        rounds = np.concatenate([[0.0], np.asarray(gg["curve_rounds"].iloc[0], np.float64)])
        curves = np.stack([np.concatenate([[0.0], np.asarray(c, np.float64)]) for c in gg["regret_curve"]])
        n = curves.shape[0]
        mean = curves.mean(axis=0)
        if n > 1:
            half = stats.t.ppf(0.5 + level / 2, n - 1) * curves.std(axis=0, ddof=1) / np.sqrt(n)
        else:
            half = np.full_like(mean, np.nan)  # one seed: no band
        line, = ax.plot(rounds, mean, label=f"{labels[tuple(k)]} (n={n})")
        ax.fill_between(rounds, mean - half, mean + half, color=line.get_color(), alpha=0.25, linewidth=0)
    ax.set_xlabel("round")
    ax.set_ylabel("cumulative regret")
    ax.set_title(f"{g['env'].iloc[0]}: cumulative regret, mean and {int(level * 100)}% CI over seeds", fontsize=10)
    return _save(plt, fig, ax, path, legend=True)


def plot_paired(s: pd.DataFrame, path: Path) -> Path:
    """Paired final-regret differences to the best candidate (one config), with 95% CIs."""
    plt = _plt()
    s = s.sort_values("diff_mean", kind="stable")
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.45 * len(s)), dpi=110)
    y = np.arange(len(s))
    err = np.vstack([s["diff_mean"] - s["diff_lo"], s["diff_hi"] - s["diff_mean"]])
    ax.errorbar(s["diff_mean"], y, xerr=err, fmt="o", capsize=4, color="tab:blue")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, s["label"])
    best = s.loc[s["vs_best"] == "best", "label"]
    ax.set_xlabel(f"final regret minus best ({best.iloc[0] if len(best) else '?'}), paired by seed")
    ax.set_title("final regret minus the best candidate's, 95% CI\n(paired by seed: common random numbers)",
                 fontsize=10)
    return _save(plt, fig, ax, path, grid_axis="x")


def plot_ope(o: pd.DataFrame, path: Path) -> Path:
    """OPE estimates with intervals against the simulator's truth, per candidate and estimator.

    o: ``ope`` rows with ``policy, estimator, estimate, ci_lo, ci_hi, truth`` (one row per seed)
    and optionally ``label`` (a candidate's hyperparameter point; default ``policy``): the plot
    shows the mean estimate over logging seeds and the mean interval.
    """
    plt = _plt()
    if "label" in o:
        o = o.drop(columns="policy").rename(columns={"label": "policy"})
    agg = (o.groupby(["policy", "estimator"], sort=True)
           .agg(estimate=("estimate", "mean"), lo=("ci_lo", "mean"), hi=("ci_hi", "mean"), truth=("truth", "mean"))
           .reset_index())
    pols = sorted(agg["policy"].unique())
    ests = sorted(agg["estimator"].unique())
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(pols)), 4.2), dpi=110)
    width = 0.8 / max(len(ests), 1)
    for j, est in enumerate(ests):
        a = agg[agg["estimator"] == est].set_index("policy").reindex(pols)
        x = np.arange(len(pols)) - 0.4 + width * (j + 0.5)
        err = np.vstack([a["estimate"] - a["lo"], a["hi"] - a["estimate"]])
        ax.errorbar(x, a["estimate"], yerr=err, fmt="o", capsize=3, label=est)
    truth = agg.groupby("policy")["truth"].mean().reindex(pols)
    for i, t in enumerate(truth):
        ax.hlines(t, i - 0.45, i + 0.45, colors="black", linewidth=2, label="simulator truth" if i == 0 else None)
    ax.set_xticks(np.arange(len(pols)), pols)
    ax.set_ylabel("policy value (expected reward per round)")
    ax.set_title("off-policy estimates (mean over logging seeds, mean interval)\nvs the simulator's truth", fontsize=10)
    return _save(plt, fig, ax, path, grid_axis="y", legend=True)


def plot_ope_logs(t: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Estimates with intervals of ``screentest ope`` rows (table ``ope_logs`` or its ``--out``),
    grouped by candidate and grid point, one marker per estimator; the logged mean reward dashed."""
    plt = _plt()
    multi = t.groupby("policy")["hparams"].nunique()
    labels = [group_label(p, h, multi[p] > 1) for p, h in zip(t["policy"], t["hparams"], strict=True)]
    t = t.assign(label=labels)
    groups = list(dict.fromkeys(labels))
    ests = list(dict.fromkeys(t["estimator"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 + 0.55 * len(groups) * max(1, len(ests)) / 2), 4.4), dpi=110)
    width = 0.8 / max(1, len(ests))
    for j, e in enumerate(ests):
        sub = t[t["estimator"] == e].set_index("label").reindex(groups)
        x = np.arange(len(groups)) - 0.4 + width * (j + 0.5)
        lo = (sub["estimate"] - sub["ci_low"]).to_numpy()
        hi = (sub["ci_high"] - sub["estimate"]).to_numpy()
        yerr = None if np.all(np.isnan(lo)) else np.vstack([lo, hi])
        ax.errorbar(x, sub["estimate"], yerr=yerr, fmt="o", capsize=3, label=e)
    if "logged_mean_reward" in t:
        ax.axhline(float(t["logged_mean_reward"].iloc[0]), color="grey", lw=1, ls="--", label="logged mean reward")
    ax.set_xticks(np.arange(len(groups)), groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center",
                  fontsize=8)
    alpha = float(t["alpha"].iloc[0])
    ax.set_ylabel("estimated policy value")
    ax.set_title(f"{title}\noff-policy estimates, {100 * (1 - alpha):.0f}% {t['interval'].iloc[0]} intervals", fontsize=9)
    return _save(plt, fig, ax, path, grid_axis="y", legend=True)


def plot_calibration(cal: pd.DataFrame, path: Path) -> Path:
    """Calibration curve: mean predicted vs observed rate per bin (with the observed rate's 95%
    interval when the rows carry ``ci_lo``/``ci_hi``), point size ~ rows in the bin."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    groups = cal.groupby("config_hash") if "config_hash" in cal else [("", cal)]
    for _key, g in groups:
        g = g.sort_values("predicted")
        size = 20 + 180 * g["count"] / max(float(g["count"].max()), 1.0) if "count" in g else 30
        label = str(g["label"].iloc[0]) if "label" in g else "simulator"
        ax.plot(g["predicted"], g["observed"], "-", alpha=0.6)
        ax.scatter(g["predicted"], g["observed"], s=size, label=label, zorder=3)
        if "ci_lo" in g and "ci_hi" in g:
            err = np.vstack([g["observed"] - g["ci_lo"], g["ci_hi"] - g["observed"]])
            ax.errorbar(g["predicted"], g["observed"], yerr=err, fmt="none", ecolor="gray", capsize=3,
                        label="95% interval of the observed rate")
    top = cal["ci_hi"].max() if "ci_hi" in cal else cal["observed"].max()
    hi = float(max(cal["predicted"].max(), top)) * 1.05 or 1.0
    ax.plot([0, hi], [0, hi], "k--", linewidth=0.8, label="perfect calibration")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("predicted click rate (simulator)")
    ax.set_ylabel("observed click rate (logs)")
    ax.set_title("member simulator calibration")
    return _save(plt, fig, ax, path, grid_axis=None, legend=True)


# ----------------------------------------------------------------------------- report


def _fingerprints(g: pd.DataFrame) -> str:
    """``, data <fp>, code <fp>`` for the rows of one config (what their identity covers)."""
    parts = []
    for col, name in (("data_fingerprint", "data"), ("code_fingerprint", "code")):
        if col in g:
            vals = sorted({str(v) for v in g[col] if v})
            if vals:
                parts.append(f"{name} `{', '.join(v[:12] for v in vals)}`")
    return "".join(f", {p}" for p in parts)


def _md_table(df: pd.DataFrame, cols: list[str], headers: list[str] | None = None) -> str:
    headers = headers or cols
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in df[cols].itertuples(index=False):
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in r]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _ope_logs_section(root: Path, out: Path, figures: list) -> list[str]:
    """The ``ope_logs`` part of the report: one subsection per configuration."""
    t_all = store.load(root, "ope_logs")
    metas = {m.get("config_hash"): m for m in store.read_run_meta(root) if m.get("command") == "ope"}
    md = ["## Off-policy evaluation on logs (`screentest ope`)", "",
          "Each candidate trained on the first part of the log and evaluated off-policy on the rest. "
          "`covered` does not apply here: logs carry no ground truth.", ""]
    many = t_all["config_hash"].nunique() > 1
    for chash, t in t_all.groupby("config_hash", sort=True):
        meta = metas.get(chash, {})
        multi = t.groupby("policy")["hparams"].nunique()
        t = t.assign(candidate=[group_label(p, h, multi[p] > 1) for p, h in zip(t["policy"], t["hparams"], strict=True)],
                     _est=t["estimator"].map({e: i for i, e in enumerate(dict.fromkeys(t["estimator"]))}))
        t = t.sort_values(["policy", "hparams", "_est"], kind="stable")
        md += [f"### {t['data'].iloc[0] if 'data' in t else ''} (config `{chash}`)", ""]
        md += [f"- {n}" for n in meta.get("notes", [])]
        md += [f"- **warning**: {w}" for w in meta.get("warnings", [])]
        md.append("")
        md.append(_md_table(t, ["candidate", "estimator", "estimate", "ci_low", "ci_high", "ess_ratio", "unsupported_mass"],
                            ["candidate", "estimator", "estimate", "CI low", "CI high", "ESS ratio", "unsupported mass"]))
        md.append("")
        best = pd.DataFrame(meta.get("best", []))
        if len(best):
            best = best.assign(hparams=[_short_hparams(h) for h in best["hparams"]])
            cols, heads = ["policy", "hparams", "estimate", "ci_low", "ci_high"], ["candidate", "hyperparameters",
                                                                                   "estimate", "CI low", "CI high"]
            if "vs_best" in best:
                best = best.assign(paired=["best" if d == 0 else f"{d:+.4g} [{lo:+.4g}, {hi:+.4g}]" for d, lo, hi in
                                           zip(best["vs_best"], best["vs_best_low"], best["vs_best_high"], strict=True)])
                cols, heads = cols + ["paired"], heads + ["vs best (paired)"]
            md += [f"Best grid point of each candidate by `{best['estimator'].iloc[0]}` (vs best: the paired difference "
                   "to the best point on the same rows, with its interval):", "", _md_table(best, cols, heads), ""]
        scores = pd.DataFrame(meta.get("reward_model_scores", []))
        if len(scores):
            md += ["Reward model candidates (out-of-fold loss per row, lower is better):", "",
                   _md_table(scores, ["model", "metric", "cv_mean", "cv_se", "chosen"],
                             ["model", "metric", "mean", "std. error", "chosen"]), ""]
        p = plot_ope_logs(t, out / (f"ope_logs_{store.safe_name(chash)}.png" if many else "ope_logs.png"),
                          title=str(t["data"].iloc[0]) if "data" in t else "")
        figures.append(("OPE on logs", p))
        md += [f"![off-policy estimates on logs]({p.name})", ""]
    return md


def render_html(markdown_text: str, image_dir: Path, title: str = "screentest report") -> str:
    """The report as one self-contained HTML page: markdown-it-py (CommonMark + tables) and every
    local image (``src="x.png"`` relative to ``image_dir``) inlined as a base64 ``data:`` URI."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)

    def inline(m: re.Match) -> str:
        src = html.unescape(m.group(1))
        p = Path(image_dir) / src
        if src.startswith(("data:", "http:", "https:")) or not p.is_file():
            return m.group(0)
        kind = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg+xml"}.get(p.suffix.lower(), "png")
        return f'src="data:image/{kind};base64,{base64.b64encode(p.read_bytes()).decode()}"'

    body = re.sub(r'src="([^"]+)"', inline, body)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}"
             "table{border-collapse:collapse;margin:0.5em 0 1.2em}th,td{border:1px solid #bbb;padding:3px 8px}"
             "th{background:#eee}td{text-align:right}td:first-child,td:nth-child(2){text-align:left}"
             "img{max-width:100%}code{background:#f4f4f4;padding:0 3px}")
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head>\n<body>\n{body}</body></html>\n")


def write_report(root: str | os.PathLike, out: str | os.PathLike | None = None, html_too: bool = False) -> Path:
    """Write ``report.md`` (and ``report.html`` if ``html_too``) with PNG plots; returns the md path.

    root: the result store. out: output directory (default ``root/report``). Raises
    :class:`experiments.store.StoreError` if the store has no results at all.
    """
    root = store.check_store_dir(root)
    out = Path(out) if out is not None else root / "report"
    have = store.tables(root)
    if not have:
        raise store.StoreError(f"results directory {str(root)!r} has no finished results")
    out.mkdir(parents=True, exist_ok=True)
    md: list[str] = ["# screentest report", "", f"Results store: `{root}`", ""]
    figures: list[tuple[str, Path]] = []

    if "bakeoff" in have:
        df = store.load(root, "bakeoff")
        s = summarize(df)
        md += ["## Policy bake-off", "",
               "Final cumulative regret over seeds (mean and 95% t-interval). `vs best`: paired difference "
               "to the best candidate of the same configuration, seed by seed (common random numbers), "
               "with its 95% t-interval.", ""]
        for chash, g in df.groupby("config_hash", sort=True):
            sg = s[s["config_hash"] == chash]
            env, horizon = sg["env"].iloc[0], int(sg["horizon"].iloc[0])
            md += [f"### `{env}`, horizon {horizon} (config `{chash}`{_fingerprints(g)})", ""]
            md.append(_md_table(sg, ["label", "n", "regret_mean", "regret_lo", "regret_hi", "reward_per_round", "vs_best"],
                                ["candidate", "seeds", "regret", "CI low", "CI high", "reward/round", "vs best (paired)"]))
            md.append("")
            # one configuration: stable names (regret.png, paired.png); several: suffixed by config hash
            sfx = "" if df["config_hash"].nunique() == 1 else f"_{store.safe_name(chash)}"
            p1 = plot_regret_curves(g, out / f"regret{sfx}.png")
            p2 = plot_paired(sg, out / f"paired{sfx}.png")
            figures += [(f"regret curves ({env})", p1), (f"paired final regret ({env})", p2)]
            md += [f"![regret curves]({p1.name})", "", f"![paired differences]({p2.name})", ""]

    if "ope" in have:
        o_all = store.load(root, "ope")
        md += ["## Off-policy evaluation against the simulator's truth", "",
               "Each candidate's value estimated from the behaviour policy's logs in the member "
               "simulator, by each estimator; truth = the candidate's value in the simulator. Mean over "
               "logging seeds; `covered` = share of seeds whose interval contains the truth.", ""]
        many = o_all["config_hash"].nunique() > 1
        for chash, o in o_all.groupby("config_hash", sort=True):
            labels = _labels(o)
            keys = _group_keys(o)
            o = o.assign(err=o["estimate"] - o["truth"],
                         covered=(o["ci_lo"] <= o["truth"]) & (o["truth"] <= o["ci_hi"]),
                         label=[labels[tuple(k)] for k in o[keys].itertuples(index=False)])
            r0 = o.iloc[0]
            md += [f"### {int(r0['rounds']):,} logged rounds per seed by `{r0['behavior']}` (config `{chash}`)", ""]
            agg = (o.groupby(["label", "estimator"], sort=True)
                   .agg(seeds=("seed", "nunique"), truth=("truth", "mean"), estimate=("estimate", "mean"),
                        bias=("err", "mean"), rmse=("err", lambda e: float(np.sqrt(np.mean(np.square(e))))),
                        covered=("covered", "mean"))
                   .reset_index())
            md.append(_md_table(agg, ["label", "estimator", "seeds", "truth", "estimate", "bias", "rmse", "covered"],
                                ["policy", "estimator", "seeds", "truth", "estimate", "bias", "rmse", "covered"]))
            md.append("")
            p = plot_ope(o, out / (f"ope_{store.safe_name(chash)}.png" if many else "ope.png"))
            figures.append(("OPE vs truth", p))
            md += [f"![OPE estimates vs truth]({p.name})", ""]

    if "ope_logs" in have:
        md += _ope_logs_section(root, out, figures)

    if "calibration" in have:
        cal = store.load(root, "calibration")
        p = plot_calibration(cal, out / "calibration.png")
        figures.append(("simulator calibration", p))
        md += ["## Member simulator calibration", "",
               "Predicted click rate of the calibrated simulator against the observed rate in the logs, "
               "per bin of predicted rate (point size: rows in the bin).", "", f"![calibration]({p.name})", ""]

    runs = store.read_run_meta(root)
    if runs:
        md += ["## Provenance", ""]
        seen = set()
        for r in runs:
            key = (r.get("config_hash"), r.get("git_commit"))
            if key in seen:
                continue
            seen.add(key)
            md.append(f"- config `{r.get('config_hash')}`: git `{r.get('git_commit')}`, versions `{r.get('versions')}`")
        md.append("")

    md_path = out / "report.md"
    store.atomic_write_bytes(md_path, "\n".join(md).encode())
    if html_too:
        store.atomic_write_bytes(out / "report.html", render_html("\n".join(md), out).encode())
    return md_path


def main(argv: list[str]) -> int:
    """``screentest report DIR [--out OUT] [--html]``; exit 0 ok, 2 bad usage / no results."""
    from experiments.clierrors import OneLineParser, UsageError, check_output_dir, fail, print_warnings

    ap = OneLineParser(prog="screentest report", description="Write a markdown/HTML report with PNG plots from a result store.")
    ap.add_argument("dir", help="result store directory (the main job's out_dir, default screentest-results)")
    ap.add_argument("--out", default=None, help="output directory (default DIR/report)")
    ap.add_argument("--html", action="store_true", help="also write report.html")
    args = ap.parse_or_exit_code(argv)
    if isinstance(args, int):
        return args
    prog = "screentest report"
    try:
        root = store.check_store_dir(args.dir)
        out = Path(args.out) if args.out is not None else root / "report"
        check_output_dir("--out", out)
    except (store.StoreError, UsageError) as e:
        return fail(prog, str(e))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", store.StoreWarning)
        try:
            path = write_report(root, out, args.html)
        except store.StoreError as e:
            err = e
        else:
            err = None
    print_warnings(prog, caught)
    if err is not None:
        return fail(prog, str(err))
    print(path)
    return 0
