"""``screentest ope``: compare candidate policies off-policy on logged data, yours or the bundled OBD.

    screentest ope                                           # bundled OBD sample, policy=bakeoff
    screentest ope data=parquet data.path=logs.parquet data.n_actions=40 policy=bakeoff_linear \\
        '+policy.candidates.linucb.grid.alpha=[0.1,0.3,1]' '+policy.candidates.lints.grid.alpha=[0.1,0.3,1]'
    screentest ope --data logs.parquet --policies random,linucb,lints --interval bootstrap --plot ope.png

A Hydra command sharing the main job's config groups (``screentest --help`` lists them): ``data``
(``obd``, ``parquet``, ``csv`` with the column mapping ``data.context_cols``, ``action_col``,
``reward_col``, ``pscore_col``, ``position_col``, ``timestamp_col`` and the catalogue size
``data.n_actions``), ``policy`` (one candidate or a set, hyperparameters, in-process grids),
``estimator`` (``names``, ``interval`` (``normal``, ``bootstrap``, ``bca``, ``none``), ``alpha``, ``n_bootstrap``, ``reward_model_folds``), plus
the ``reward_model`` group of this command: ``auto`` (default: the candidates of
:mod:`experiments.reward_models` compared by cross-validated log-loss, the choice printed),
``logistic``, ``logistic_interactions``, ``gbm``, ``ridge``, ``ridge_interactions``, or
``sklearn`` with any scikit-learn estimator by ``_target_``
(``reward_model=sklearn reward_model._target_=sklearn.ensemble.RandomForestClassifier
+reward_model.n_estimators=300``).

What it does (:mod:`experiments.offline`): every candidate is built for the log's sizes, trained
by folding ``policy.update`` over the first ``train_frac`` of the log (time order when the log has
a ``timestamp``), vmapped over its grid, frozen, and evaluated on the remaining rows with every
estimator; one reward model, cross-fitted on the evaluation rows, serves DM and DR for all; a
warning names each policy whose DM and DR intervals do not overlap. Progress goes to stderr,
the table to stdout; the rows go to the result store (``out_dir``, table ``ope_logs``) and the
report (``out_dir/report``) like the main job's; ``save_policies=DIR`` writes every trained
candidate in the portable format of :mod:`bandits.serving`.

Options of this command (``key=value``): ``train_frac`` (0.5; 0 = evaluate initial states),
``seed``, ``mc_samples`` (Monte Carlo draws of context-free Thompson candidates), ``rank_by``
(the estimator that picks each candidate's best grid point: ``dr`` when it runs, else the first), ``out`` (.csv/.parquet),
``plot`` (.png), ``save_policies`` (a directory), ``out_dir``, ``store``, ``report``, ``quiet``, ``force``
(recompute although the store holds the config; the config's identity covers the logs' content
and the code, as the main job's does).
The flags below are shorthands for them. ``-m`` runs a sweep of overrides one job after another.

Exit codes: 0 success; 2 a bad flag, override, value or file, one line naming it, before any work;
1 a failure once work has started; 130 interrupted (Ctrl-C), without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from bandits.estimators import DEFAULT_ESTIMATORS as _DEFAULT_ESTIMATORS
from bandits.estimators import Estimator, estimator_names
from bandits.estimators.core import as_estimators
from experiments import conf as _conf
from experiments.builders import ConfigError
from experiments.clierrors import UsageError, fail

CONFIG_NAME = "screentest_ope"
TABLE = "ope_logs"
#: the interval kinds of ``estimator.interval`` (those of :func:`bandits.estimators.evaluate`)
INTERVALS = ("normal", "bootstrap", "bca", "none")
DEFAULT_ESTIMATORS = ",".join(_DEFAULT_ESTIMATORS)
_OUTPUT_KEYS = ("out_dir", "store", "report", "out", "plot", "save_policies", "quiet", "force")
#: the modules of this command that compute its rows (with store.code_fingerprint's, part of the identity)
_OPE_MODULES = ("offline.py", "reward_models.py", "ope_cli.py", "builders.py")


class CLIError(UsageError):
    """A user error: printed as one line (:func:`experiments.clierrors.fail`), exit status 2."""


# ----------------------------------------------------------------------------- configs


@dataclass
class AutoRewardModelConf:
    """``reward_model=auto``: compare ``choose`` (default: logistic, logistic_interactions, gbm for
    0/1 rewards; ridge, ridge_interactions, gbm otherwise) by ``folds``-fold cross-validated
    log-loss (squared error) on the evaluation rows and keep the best."""

    choose: list[str] = field(default_factory=list)
    folds: int = 3


@dataclass
class NamedRewardModelConf:
    """``reward_model=<name>``: one of :data:`experiments.reward_models.NAMED`, no choice."""

    name: str = MISSING


@dataclass
class CandidatesConf(_conf.BakeoffConf):
    """``policy=candidates``: an empty set to fill with ``+policy.candidates.<label>={name: ...}``."""

    candidates: dict[str, Any] = field(default_factory=dict)


@dataclass
class OPECommandConf:
    """Root config of ``screentest ope`` (see the module docstring for the keys)."""

    defaults: list[Any] = field(default_factory=lambda: [
        {"policy": "bakeoff"}, {"estimator": "standard"}, {"data": "obd"}, {"reward_model": "auto"}, "_self_"])
    policy: Any = MISSING
    estimator: _conf.EstimatorConf = MISSING
    data: Any = MISSING
    reward_model: Any = MISSING
    train_frac: float = 0.5
    seed: int = 0
    mc_samples: int = 10000
    rank_by: str | None = None
    out_dir: str = "screentest-results"
    store: bool = True
    report: bool = True
    out: str | None = None
    plot: str | None = None
    save_policies: str | None = None
    quiet: bool = False
    force: bool = False


def register_configs(cs: ConfigStore | None = None) -> ConfigStore:
    """Register the command's root config and its ``reward_model`` group (the other groups are the
    main job's, :func:`experiments.conf.register_configs`)."""
    from experiments.reward_models import NAMED

    cs = cs or ConfigStore.instance()
    _conf.register_configs(cs)
    cs.store(name=CONFIG_NAME, node=OPECommandConf)
    cs.store(group="policy", name="candidates", node=CandidatesConf)
    cs.store(group="reward_model", name="auto", node=AutoRewardModelConf)
    for name in NAMED:
        cs.store(group="reward_model", name=name, node=NamedRewardModelConf(name=name))
    cs.store(group="reward_model", name="sklearn", node={"_target_": "sklearn.linear_model.LogisticRegression"})
    return cs


register_configs()


# ----------------------------------------------------------------------------- flags -> overrides


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage and exits otherwise)
        raise CLIError(message)


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``screentest ope`` (shorthands for config keys) and its positional overrides."""
    p = _Parser(prog="screentest ope", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("overrides", nargs="*", help="Hydra overrides (key=value), e.g. data=parquet data.path=logs.parquet")
    p.add_argument("-m", "--multirun", action="store_true", help="run every combination of comma-separated sweeps")
    p.add_argument("--cfg", action="store_true", help="print the composed config and exit")
    p.add_argument("--data", default=None, help="'obd' (bundled sample) or a .parquet / .csv log: data=... data.path=...")
    p.add_argument("--behavior-policy", default=None, choices=("random", "bts"), help="OBD logs: data.behavior_policy")
    p.add_argument("--campaign", default=None, choices=("all", "men", "women"), help="OBD campaign: data.campaign")
    p.add_argument("--obd-path", default=None, help="root of the full OBD: data.data_path")
    p.add_argument("--context-cols", default=None, help="comma-separated context columns: data.context_cols")
    p.add_argument("--position-col", default=None, help="slot column (0-based): data.position_col")
    p.add_argument("--timestamp-col", default=None, help="time column (orders the train/evaluation split)")
    p.add_argument("--n-actions", default=None, help="items in the catalogue: data.n_actions")
    p.add_argument("--policies", default=None, help="comma-separated registered policies, each at its defaults")
    p.add_argument("--estimators", default=None,
                   help=f"comma-separated among {','.join(estimator_names())} (the registered estimators; "
                        f"default {DEFAULT_ESTIMATORS}): estimator.names")
    p.add_argument("--interval", default=None, choices=INTERVALS,
                   help="estimator.interval: normal (delta method), bootstrap (percentile), bca (bias-corrected and accelerated bootstrap), none")
    p.add_argument("--alpha", default=None, help="1 - confidence level: estimator.alpha")
    p.add_argument("--n-bootstrap", default=None, help="estimator.n_bootstrap")
    p.add_argument("--n-folds", default=None, help="cross-fitting folds of the reward model: estimator.reward_model_folds")
    p.add_argument("--reward-model", default=None,
                   help="auto, a name (logistic, logistic_interactions, gbm, ridge, ridge_interactions) or a "
                        "scikit-learn class path (sklearn.ensemble.RandomForestClassifier)")
    p.add_argument("--n-sim", default=None, help="Monte Carlo draws of context-free Thompson candidates: mc_samples")
    p.add_argument("--train-frac", default=None, help="share of the log that trains the candidates: train_frac")
    p.add_argument("--seed", default=None, help="seed")
    p.add_argument("--out", default=None, help="write the table (.csv or .parquet): out")
    p.add_argument("--plot", default=None, help="write a PNG of the estimates: plot")
    p.add_argument("--save-policies", default=None, help="write every trained candidate here: save_policies")
    p.add_argument("--out-dir", default=None, help="the result store: out_dir")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress, no table: quiet=true")
    p.add_argument("--force", action="store_true", help="recompute even when the store holds this config: force=true")
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


def _number(flag: str, value: str, kind=float) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise CLIError(f"{flag}: expected {'an integer' if kind is int else 'a number'}, got {value!r}") from None


def _q(value: str) -> str:
    """A string value as a quoted Hydra override value (paths with ``=``, ``,`` or spaces)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """The overrides the shorthand flags stand for (before the positional overrides)."""
    o: list[str] = []
    if args.data is not None:
        if args.data == "obd":
            o.append("data=obd")
        else:
            suffix = "".join(Path(args.data).suffixes[-2:])
            kind = "parquet" if suffix.endswith(".parquet") else "csv" if suffix in (".csv", ".csv.gz", ".gz") else None
            if kind is None:
                raise CLIError(f"--data: expected 'obd' or a .parquet/.csv file, got {args.data!r}")
            o += [f"data={kind}", f"data.path={_q(args.data)}"]
    for flag, key in (("behavior_policy", "behavior_policy"), ("campaign", "campaign"), ("obd_path", "data_path"),
                      ("position_col", "position_col"), ("timestamp_col", "timestamp_col")):
        v = getattr(args, flag)
        if v is not None:
            o.append(f"data.{key}={_q(v)}")
    if args.context_cols is not None:
        o.append("data.context_cols=[" + ",".join(_q(c) for c in _split(args.context_cols)) + "]")
    if args.n_actions is not None:
        o.append(f"data.n_actions={_number('--n-actions', args.n_actions, int)}")
    if args.policies is not None:
        names = _split(args.policies)
        if not names:
            raise CLIError("--policies: expected at least one policy name, got none")
        from bandits.policies import REGISTRY

        for nm in names:
            if nm not in REGISTRY:
                raise CLIError(f"--policies: unknown policy {nm!r}; expected some of {sorted(REGISTRY)}")
        o.append("policy=candidates")
        o += [f"+policy.candidates.{nm}={{name: {nm}}}" for nm in dict.fromkeys(names)]
    if args.estimators is not None:
        o.append("estimator.names=[" + ",".join(e.label for e in parse_estimators(args.estimators)) + "]")
    if args.interval is not None:
        o.append(f"estimator.interval={args.interval}")
    if args.alpha is not None:
        a = _number("--alpha", args.alpha)
        if not 0.0 < a < 1.0:
            raise CLIError(f"--alpha: expected a number in (0, 1), got {a}")
        o.append(f"estimator.alpha={a}")
    if args.n_bootstrap is not None:
        o.append(f"estimator.n_bootstrap={_number('--n-bootstrap', args.n_bootstrap, int)}")
    if args.n_folds is not None:
        o.append(f"estimator.reward_model_folds={_number('--n-folds', args.n_folds, int)}")
    if args.reward_model is not None:
        from experiments.reward_models import NAMED

        rm = args.reward_model
        if rm == "auto" or rm in NAMED:
            o.append(f"reward_model={rm}")
        elif "." in rm:
            o += ["reward_model=sklearn", f"reward_model._target_={rm}"]
        else:
            raise CLIError(f"--reward-model: expected auto, one of {list(NAMED)} or a scikit-learn class path, got {rm!r}")
    if args.n_sim is not None:
        o.append(f"mc_samples={_number('--n-sim', args.n_sim, int)}")
    if args.train_frac is not None:
        f = _number("--train-frac", args.train_frac)
        if not 0.0 <= f < 1.0:
            raise CLIError(f"--train-frac: expected a number in [0, 1), got {f}")
        o.append(f"train_frac={f}")
    if args.seed is not None:
        o.append(f"seed={_number('--seed', args.seed, int)}")
    for flag in ("out", "plot", "save_policies", "out_dir"):
        v = getattr(args, flag)
        if v is not None:
            o.append(f"{flag}={_q(v)}")
    if args.quiet:
        o.append("quiet=true")
    if args.force:
        o.append("force=true")
    return o


# ----------------------------------------------------------------------------- compose and check


def compose(overrides: list[str]):
    """The composed ``screentest_ope`` config (Hydra's compose API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(CONFIG_NAME, overrides=overrides)
    with initialize(version_base="1.3", config_path=None):
        return hydra_compose(CONFIG_NAME, overrides=overrides)


@dataclass
class Job:
    """One checked job: the plain config and everything built from it before any work."""

    config: dict[str, Any]
    data: Any
    description: str
    specs: list
    estimators: list
    reward_model: Any
    warnings: list[str]


def _resolve(path: str, base: Path) -> Path:
    from experiments.builders import resolve_path

    return resolve_path(path, base)


def check(cfg, base_dir: Path) -> Job:
    """Every check of a composed config, before any work: values, files, the log and its
    catalogue, the candidates built at the log's sizes, the reward model. Raises
    :class:`ConfigError` naming the key."""
    from omegaconf import OmegaConf

    from experiments.builders import load_data
    from experiments.main_job import instantiate_policies
    from experiments.offline import build_for_logs, check_catalog, logs_world
    from experiments.ope_stage import estimators_from_config
    from experiments.reward_models import NAMED, sklearn_model

    c = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    if not 0.0 <= float(c["train_frac"]) < 1.0:
        raise ConfigError(f"train_frac: expected a number in [0, 1), got {c['train_frac']!r}")
    if int(c["mc_samples"]) < 1:
        raise ConfigError(f"mc_samples: expected an integer >= 1, got {c['mc_samples']!r}")
    if int(c["seed"]) < 0:
        raise ConfigError(f"seed: expected an integer >= 0, got {c['seed']!r}")
    e = c["estimator"]
    if not 0.0 < float(e["alpha"]) < 1.0:
        raise ConfigError(f"estimator.alpha: expected a number in (0, 1), got {e['alpha']!r}")
    if e["interval"] not in INTERVALS:
        raise ConfigError(f"estimator.interval: expected one of {list(INTERVALS)}, got {e['interval']!r}")
    if e["interval"] in ("bootstrap", "bca") and int(e["n_bootstrap"]) < 2:
        raise ConfigError(f"estimator.n_bootstrap: expected an integer >= 2, got {e['n_bootstrap']!r}")
    if int(e["reward_model_folds"]) < 1:
        raise ConfigError(f"estimator.reward_model_folds: expected an integer >= 1, got {e['reward_model_folds']!r}")
    estimators = estimators_from_config(e)
    labels = [x.label for x in estimators]
    if c["rank_by"] is not None and c["rank_by"] not in labels:
        raise ConfigError(f"rank_by: expected one of the estimators {labels}, got {c['rank_by']!r}")
    for key, suffixes in (("out", (".csv", ".parquet")), ("plot", (".png",))):
        if c[key] is not None and Path(c[key]).suffix not in suffixes:
            raise ConfigError(f"{key}: expected a path ending in {' or '.join(suffixes)}, got {c[key]!r}")
    for key in ("out_dir", "save_policies"):
        if c[key] is not None and _resolve(c[key], base_dir).is_file():
            raise ConfigError(f"{key}: expected a directory, got the file {str(_resolve(c[key], base_dir))!r}")
    rm = c["reward_model"]
    model = rm
    if isinstance(rm, dict) and "_target_" in rm:
        try:
            sklearn_model(rm)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    elif isinstance(rm, dict) and rm.get("name") is None:
        bad = [x for x in rm.get("choose") or [] if x not in NAMED]
        if bad:
            raise ConfigError(f"reward_model.choose: expected names among {list(NAMED)}, got {bad}")
        if int(rm.get("folds", 3)) < 2:
            raise ConfigError(f"reward_model.folds: expected an integer >= 2, got {rm.get('folds')!r}")
        model = {"choose": list(rm.get("choose") or []), "folds": int(rm.get("folds", 3))}
    elif isinstance(rm, dict):
        model = rm["name"]

    specs = instantiate_policies(cfg.policy)
    d = dict(c["data"])
    n_actions = d.pop("n_actions", None)
    data = load_data(d, base_dir)
    try:
        data, warnings = check_catalog(data, n_actions)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if any(x.needs_reward_model for x in estimators) and data.dim_context == 0:
        raise ConfigError("estimator.names: dm/dr need a reward model, which needs context columns; the log has none "
                          "(choose ipw,snipw, or name data.context_cols)")
    if d.get("source") == "obd":
        # the OBD site's own policy: bts starts from ZOZOTOWN's prior unless given another
        specs = [s if s.name != "bts" or {"alpha", "beta", "campaign"} & set(s.static)
                 else type(s)(s.label, s.name, {**s.static, "campaign": d.get("campaign", "all")}, s.hparams, s.grid,
                              s.keys) for s in specs]
        desc = f"OBD {d.get('behavior_policy', 'random')}/{d.get('campaign', 'all')}"
    else:
        desc = Path(str(d.get("path"))).name
    world = logs_world(data)
    for s in specs:
        try:
            build_for_logs(s, world, int(c["mc_samples"]))
        except ValueError as err:
            raise ConfigError(str(err)) from None
    return Job(c, data, desc, specs, estimators, model, warnings)


def config_hash(c: dict[str, Any], data_fp: str, code_fp: str | None = None) -> str:
    """Hash of what decides the rows: the config minus output options, the content fingerprint of
    the logs (``data_fp``, :func:`experiments.main_job.data_fingerprint`) and the code and package
    versions (``code_fp``, default :func:`code_fingerprint`), so a changed log or library gives a
    new config instead of stale rows."""
    from experiments.store import stable_hash

    return stable_hash({"config": {k: v for k, v in c.items() if k not in _OUTPUT_KEYS}, "data": data_fp,
                        "code": code_fp or code_fingerprint()})


def code_fingerprint() -> str:
    """:func:`experiments.store.code_fingerprint` extended by the bytes of this command's modules."""
    import hashlib

    from experiments import store

    h = hashlib.sha256(store.code_fingerprint().encode())
    here = Path(__file__).resolve().parent
    for m in _OPE_MODULES:
        h.update(m.encode() + b"\0" + (here / m).read_bytes() + b"\0")
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- run


def _console(quiet: bool, stderr: bool):
    from rich.console import Console

    console = Console(stderr=stderr, quiet=quiet)
    if not console.is_terminal:
        console.width = 150
    return console


def run(job: Job, base_dir: Path, console) -> dict[str, Any]:
    """Train, evaluate, store, report (see the module docstring). Returns the table and notes."""
    import pandas as pd

    from experiments import store
    from experiments.offline import evaluate_logs

    c = job.config
    t0 = time.perf_counter()
    say = console.print
    for w in job.warnings:
        _warn(w)
    root = _resolve(c["out_dir"], base_dir)
    from experiments.main_job import data_fingerprint

    data_fp = data_fingerprint(c, base_dir, root if c["store"] else None)
    code_fp = code_fingerprint()
    chash = config_hash(c, data_fp, code_fp)
    cell = "ope-logs"
    if (c["store"] and c["save_policies"] is None and not c["force"]
            and store.cell_done(root, TABLE, chash, cell)):
        say(f"already in the store ({root}, table {TABLE}, config {chash}): shown from there")
        table = store.load(root, TABLE)
        table = table[table["config_hash"] == chash].reset_index(drop=True)
        meta = next((m for m in store.read_run_meta(root) if m.get("config_hash") == chash), {})
        return {"table": table, "notes": meta.get("notes", []), "warnings": meta.get("warnings", []),
                "best": pd.DataFrame(meta.get("best", [])), "description": meta.get("description", job.description),
                "root": root}
    say(f"off-policy evaluation on {job.description}: {job.data.n_rounds:,} rows, {job.data.n_actions} items, "
        f"{job.data.len_list} slot(s), context dim {job.data.dim_context}; {len(job.specs)} candidate(s)")
    e = c["estimator"]
    res = evaluate_logs(job.data, job.specs, estimators=job.estimators, train_frac=float(c["train_frac"]),
                        reward_model=job.reward_model, reward_model_folds=int(e["reward_model_folds"]),
                        interval=e["interval"], alpha=float(e["alpha"]), n_bootstrap=int(e["n_bootstrap"]),
                        seed=int(c["seed"]), mc_samples=int(c["mc_samples"]),
                        rank_by=c["rank_by"] or "dr", progress=say)
    table = res.table.copy()
    table["reward_model"] = res.reward_model.name if res.reward_model is not None else ""
    table["n_train"] = res.n_train
    table["logged_mean_reward"] = res.logged_mean_reward
    table["data"] = job.description
    notes = list(res.notes)
    if c["save_policies"] is not None:
        out = _resolve(c["save_policies"], base_dir)
        for cand in res.candidates:
            sfx = "-".join(f"{k}{v:g}" for k, v in sorted(cand.point.items()))
            path = cand.save(out / (cand.label + (f"-{sfx}" if sfx else "")), metadata={"data": job.description})
            say(f"  saved {path}")
    if c["store"]:
        from omegaconf import OmegaConf

        result_cfg = {k: v for k, v in c.items() if k not in _OUTPUT_KEYS}
        prov = {"config_yaml": OmegaConf.to_yaml(OmegaConf.create(result_cfg)),
                "versions": store.package_versions(), "git_commit": store.git_commit(),
                "data_fingerprint": data_fp, "code_fingerprint": code_fp}
        store.write_cell(root, TABLE, chash, cell, table, prov)
        rm_scores = res.reward_model.scores.to_dict("records") if res.reward_model is not None else []
        store.write_run_meta(root, f"ope-{chash}", {
            "config_hash": chash, "command": "ope", "config": c, "versions": prov["versions"],
            "git_commit": prov["git_commit"], "notes": notes, "warnings": res.warnings,
            "reward_model_scores": rm_scores, "best": res.best.to_dict("records"), "description": job.description})
        say(f"rows written to {root} (table {TABLE}, config {chash})")
    say(f"done in {time.perf_counter() - t0:.1f} s")
    return {"table": table, "notes": notes, "warnings": res.warnings, "best": res.best,
            "description": job.description, "root": root}


def print_results(out: dict[str, Any], console) -> None:
    """The estimates and each candidate's best grid point, as tables (stdout)."""
    from rich.table import Table

    table = out["table"]
    t = Table(title=f"off-policy estimates ({out['description']}); logged mean reward "
                    f"{float(table['logged_mean_reward'].iloc[0]):.5f}")
    multi = table.groupby("policy")["hparams"].nunique()
    cols = ["policy", "estimator", "estimate", "ci_low", "ci_high", "relative", "ess_ratio", "unsupported_mass"]
    for col in cols:
        t.add_column(col, justify="left" if col in ("policy", "estimator") else "right")
    for r in table.itertuples(index=False):
        label = r.policy + (f" {_short_hp(r.hparams)}" if multi[r.policy] > 1 else "")
        t.add_row(label, r.estimator, *[f"{getattr(r, col):.4g}" for col in cols[2:]])
    console.print(t)
    best = out["best"]
    if len(best):
        b = Table(title=f"best grid point of each candidate by {best['estimator'].iloc[0]}; vs best: paired "
                        "difference on the same rows")
        paired = "vs_best" in best
        for col in ("policy", "hparams", "estimate", "ci_low", "ci_high") + (("vs best (paired)",) if paired else ()):
            b.add_column(col, justify="left" if col in ("policy", "hparams") else "right")
        for r in best.itertuples(index=False):
            cells = [r.policy, _short_hp(r.hparams), f"{r.estimate:.4g}", f"{r.ci_low:.4g}", f"{r.ci_high:.4g}"]
            if paired:
                cells.append("best" if r.vs_best == 0 else f"{r.vs_best:+.4g} [{r.vs_best_low:+.4g}, {r.vs_best_high:+.4g}]")
            b.add_row(*cells)
        console.print(b)
    for n in out["notes"]:
        console.print(f"note: {n}")


def _short_hp(hp_json: str) -> str:
    d = json.loads(hp_json) if hp_json else {}
    return "(" + ", ".join(f"{k}={v:g}" for k, v in sorted(d.items())) + ")" if d else "-"


def write_outputs(out: dict[str, Any], c: dict[str, Any], base_dir: Path, console) -> None:
    table = out["table"]
    if c["out"] is not None:
        p = _resolve(c["out"], base_dir)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix == ".csv":
            table.to_csv(p, index=False)
        else:
            table.to_parquet(p, index=False)
        console.print(f"wrote {p}")
    if c["plot"] is not None:
        from experiments.report import plot_ope_logs

        p = _resolve(c["plot"], base_dir)
        p.parent.mkdir(parents=True, exist_ok=True)
        plot_ope_logs(table, p, title=out["description"])
        console.print(f"wrote {p}")
    if c["store"] and c["report"]:
        from experiments.report import write_report

        console.print(f"report: {write_report(out['root'])}")


# ----------------------------------------------------------------------------- entry point


PROG = "screentest ope"


def _warn(msg: str) -> None:
    """One line ``screentest ope: warning: ...`` on stderr (the subcommands' error contract)."""
    print(f"{PROG}: warning: {str(msg).strip().splitlines()[0]}", file=sys.stderr)


def _help_text(parser: argparse.ArgumentParser) -> str:
    from experiments.cli import config_groups

    return parser.format_help() + "\nconfig groups (group=option):\n" + config_groups(("data", "policy", "estimator",
                                                                                          "reward_model"))


def main(argv: list[str] | None = None) -> int:
    """``screentest ope [flags] [overrides]``; returns the exit code (see the module docstring)."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from experiments.main_job import _exception_message, expand_sweeps

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if any(a in ("-h", "--help") for a in argv):
        print(_help_text(parser))
        return 0
    base_dir = Path(os.getcwd())
    try:
        args = parser.parse_intermixed_args(argv)
        overrides = flag_overrides(args) + list(args.overrides)
        jobs = expand_sweeps(overrides) if args.multirun else [overrides]
        checked = []
        for job in jobs:
            try:
                cfg = compose(job)
            except (HydraException, OmegaConfBaseException) as e:
                raise CLIError(_exception_message(e).splitlines()[0]) from None
            if args.cfg:
                print(OmegaConf.to_yaml(cfg))
                continue
            checked.append(check(cfg, base_dir))
        if args.cfg:
            return 0
    except (CLIError, ConfigError, ValueError) as e:
        return fail(PROG, str(e) or type(e).__name__)
    try:
        for job in checked:
            quiet = bool(job.config["quiet"])
            log, results = _console(quiet, stderr=True), _console(quiet, stderr=False)
            out = run(job, base_dir, log)
            for w in out["warnings"]:
                _warn(w)
            print_results(out, results)
            write_outputs(out, job.config, base_dir, log)
    except ConfigError as e:
        return fail(PROG, str(e))
    except Exception as e:  # a failure once work has started: one line, exit 1 (Ctrl-C: experiments.cli)
        print(f"{PROG}: failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        if os.environ.get("SCREENTEST_DEBUG"):
            raise
        return 1
    return 0


if __name__ == "__main__":
    from experiments import cli

    sys.exit(cli.main(["ope", *sys.argv[1:]]))
