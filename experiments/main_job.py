"""The ``screentest`` main job: a Hydra application over the structured configs of :mod:`experiments.conf`.

``screentest [overrides ...]`` runs one job; ``screentest -m a=1,2 b=x,y`` runs one job per
combination (Hydra multirun; ``hydra/launcher=joblib`` for local processes, ``hydra/launcher=ray``
for a Ray cluster, see :mod:`experiments.ray_launcher`). Every job writes into the same result store
(``out_dir``, default ``screentest-results``) and skips cells that are already there.

What one job does (:func:`run_job`):

1. Build the environment from ``env`` (a synthetic env, or ``env=simulator``: the member simulator
   calibrated on the ``data`` logs) and the candidates from ``policy`` (one, or ``policy=bakeoff``).
2. Bake-off: every candidate x ``seeds`` seeds (x its in-process hyperparameter grid, vmapped),
   ``horizon`` rounds each, on common random numbers; one parquet cell per (candidate, seed chunk).
3. If the member simulator and the OPE estimators are available and ``ope.enabled``: log
   ``ope.rounds`` rounds with the behaviour policy in the simulator, estimate every candidate's
   value off-policy with the ``estimator`` group, and store each estimate beside the simulator's
   ground truth (see :mod:`experiments.ope_stage`).
4. Print a summary table (naming the world, and for the default ``env=obd_known`` why it is used)
   and the "what your logs can tell" line (``verdict``: :func:`experiments.fidelity.what_logs_can_tell`),
   and write the report (:mod:`experiments.report`) into ``out_dir/report``.

The default ``env`` is the OBD-shaped known world (:func:`envs.known.obd_known_env`): the bundled
logs hold too few clicks for a simulator fitted on them to tell the items apart. A command line
that reads the user's own logs (``data=parquet``, ``data=csv``, ``data.data_path=...``) and names
no env runs in the simulator fitted on them (``env=simulator``).

Exit codes: 0 success; 2 usage or config error (unknown key, wrong type, missing, unreadable or
malformed logs, unknown policy or hyperparameter, an unusable ``out_dir``), detected before
anything runs and reported in one line naming the key; 1 runtime failure; 130 interrupted
(Ctrl-C, :mod:`experiments.cli`). Warnings about what the data cannot support are printed one
line each, even when quiet. Workers of a parallel (joblib) multirun end with the process that
launched them, even when it is killed with ``kill -9``.
Config values are converted to plain Python (``OmegaConf.to_container`` / ``instantiate(...,
_convert_="all")``) before anything is built, so no DictConfig reaches jitted code.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from experiments import conf as _conf  # noqa: F401  (registers the structured configs)
from experiments import ray_launcher as _ray_launcher  # noqa: F401  (plugin path, before Hydra scans plugins)
from experiments.builders import (
    ConfigError,
    PolicySpec,
    cached,
    env_declaration,
    load_data,
    resolve_path,
    world_of,
    world_of_env,
)

CONFIG_NAME = "screentest"

_QUIET_VALUES = {"true", "True", "1", "yes"}
_OUTPUT_KEYS = ("out_dir", "quiet", "report", "force")
# whether this process's command line got past the pre-check (then a failure is a runtime failure)
_STATE = {"checked": False}


# ----------------------------------------------------------------------------- config handling


def _err(msg: str) -> None:
    print(f"screentest: error: {msg}", file=sys.stderr)


def _exception_message(e: BaseException) -> str:
    """The messages of an exception and its causes, without tracebacks (Hydra-style)."""
    parts = []
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        msg = str(e).strip()
        if msg and msg not in parts:
            parts.append(msg)
        e = e.__cause__ or e.__context__
    return "\n  ".join(parts)


def expand_sweeps(overrides: list[str]) -> list[list[str]]:
    """Every job's override list of a multirun: the Cartesian product of the sweeps, in order (what
    Hydra's basic sweeper runs). Uses Hydra's public override parser; an interval sweep, which
    needs a search-based sweeper, raises ``ValueError``."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    choices = []
    for o in OverridesParser.create().parse_overrides(overrides):
        if not o.is_sweep_override():
            choices.append([o.input_line])
        elif o.is_interval_sweep():
            raise ValueError(f"{o.input_line}: interval sweeps need a search-based sweeper (e.g. Optuna)")
        else:
            key = o.get_key_element()
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
    return [list(job) for job in itertools.product(*choices)]


def compose(overrides: list[str]) -> DictConfig:
    """The composed root config for ``overrides`` (no sweep values), without Hydra's own node.

    Inside a running Hydra application (the pre-check) it uses the application's config loader;
    elsewhere it initialises Hydra for the call.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize
    from hydra.core.global_hydra import GlobalHydra

    task = [o for o in overrides if not _is_hydra_override(o)]
    if GlobalHydra.instance().is_initialized():
        return hydra_compose(CONFIG_NAME, overrides=task)
    with initialize(version_base="1.3", config_path=None):
        return hydra_compose(CONFIG_NAME, overrides=task)


def _is_hydra_override(o: str) -> bool:
    key = o.lstrip("+~").split("=", 1)[0]
    return key == "hydra" or key.startswith(("hydra.", "hydra/", "override hydra"))


def plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python containers (what crosses into non-Hydra code)."""
    out = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    out.pop("hydra", None)
    return out


def instantiate_policies(policy_cfg: Any) -> list[PolicySpec]:
    """Candidates of the ``policy`` node as :class:`PolicySpec` objects (``_target_`` instantiation),
    each checked against its declaration (:meth:`PolicySpec.validate`, messages name the config key)."""
    from hydra.utils import instantiate

    try:
        obj = instantiate(policy_cfg, _convert_="all")
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(f"policy: {_exception_message(e)}") from e
    bakeoff = isinstance(obj, list)
    specs = obj if bakeoff else [obj]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"policy: candidate labels must be distinct, got {labels}")
    for s in specs:
        s.validate(f"policy.candidates.{s.label}." if bakeoff else "policy.")
    return specs


def validate(cfg: DictConfig, base_dir: str | os.PathLike) -> None:
    """Checks of a composed config before anything runs; raises :class:`ConfigError`.

    Every candidate is checked against its declaration and built for the world the ``env`` node
    describes, at that world's real sizes, read from the world's declaration without building it
    (the member simulator's from the logs: no fit).
    """
    c = plain(cfg)
    for key in ("seeds", "horizon"):
        if c[key] < 1:
            raise ConfigError(f"{key}: expected an integer >= 1, got {c[key]!r}")
    if c["seed_offset"] < 0:
        raise ConfigError(f"seed_offset: expected an integer >= 0, got {c['seed_offset']!r}")
    if c["sweep"]["chunk_seeds"] < 1:
        raise ConfigError(f"sweep.chunk_seeds: expected an integer >= 1, got {c['sweep']['chunk_seeds']!r}")
    if c["sweep"]["curve_points"] < 1:
        raise ConfigError(f"sweep.curve_points: expected an integer >= 1, got {c['sweep']['curve_points']!r}")
    if c["ope"]["rounds"] < 1 or c["ope"]["seeds"] < 1:
        raise ConfigError(f"ope.rounds / ope.seeds: expected integers >= 1, got {c['ope']['rounds']!r} / {c['ope']['seeds']!r}")
    if not 0.0 < c["estimator"]["alpha"] < 1.0:
        raise ConfigError(f"estimator.alpha: expected a number in (0, 1), got {c['estimator']['alpha']!r}")
    from experiments.clierrors import UsageError, check_output_dir

    try:
        check_output_dir("out_dir", resolve_path(c["out_dir"], base_dir))
    except UsageError as e:
        raise ConfigError(str(e)) from None
    from experiments.ope_stage import estimators_from_config

    estimators_from_config(c["estimator"])  # names and hyperparameters, through the estimator registry
    specs = instantiate_policies(cfg.policy)
    env_cfg = c["env"]
    data = c["data"]
    decl = env_declaration(env_cfg)
    if decl.name == "obd_known" and (data.get("source") in ("parquet", "csv") or data.get("data_path") is not None):
        raise ConfigError("env: obd_known is the OBD-shaped known world built from the bundled sample and reads "
                          "no logs; use env=simulator to fit the member simulator on data.path / data.data_path")
    if decl.fit_on_data or data.get("source") in ("parquet", "csv"):
        check_data_path(data, base_dir)
    logs = _load_data(c, base_dir)[0] if decl.fit_on_data else None
    world = world_of(env_cfg, logs)
    for s in specs:
        s.build(world)


def check_data_path(data: dict[str, Any], base_dir) -> None:
    """The ``data`` node names a readable file (``data.path``) or OBD directory (``data.data_path``);
    :class:`ConfigError` naming the key otherwise."""
    source = data.get("source")
    if source in ("parquet", "csv"):
        key, want_dir = "path", False
    elif data.get("data_path") is not None:
        key, want_dir = "data_path", True
    else:
        return
    p = resolve_path(data[key], base_dir)
    if not p.exists():
        raise ConfigError(f"data.{key}: no such file or directory: {str(p)!r}")
    if want_dir and not p.is_dir():
        raise ConfigError(f"data.{key}: expected a directory in the OBD layout "
                          f"(<data_path>/<behavior_policy>/<campaign>/<campaign>.csv), got a file: {str(p)!r}")
    if not want_dir and not p.is_file():
        raise ConfigError(f"data.{key}: expected a {source} file, got a directory: {str(p)!r}")
    if not os.access(p, os.R_OK):
        raise ConfigError(f"data.{key}: not readable (permission denied): {str(p)!r}")


def _load_data(c: dict[str, Any], base_dir: str | os.PathLike):
    """``(logs, fingerprint)``: the ``data`` group's logs, loaded once per process and content
    (the pre-check and the job share them), and the content fingerprint they were read under.

    The fingerprint is taken before and after reading: a file that changes meanwhile is refused.
    Unreadable or malformed logs raise :class:`ConfigError` naming the data key.
    """
    from experiments import store

    data = c["data"]
    key = "path" if data.get("source") in ("parquet", "csv") else "data_path"
    check_data_path(data, base_dir)
    try:
        fp = data_fingerprint(c, base_dir)
    except OSError as e:
        raise ConfigError(f"data.{key}: cannot read the logs: {e}") from None

    def load():
        try:
            return load_data(data, base_dir)
        except ConfigError as e:
            if str(e).startswith(f"data.{key}"):
                raise
            raise ConfigError(f"data.{key}: cannot read the logs: {e}") from None
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:  # pyarrow's errors are among these
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"data.{key}: cannot read the logs: {msg}") from None

    logs = cached("data:" + store.stable_hash([data, str(base_dir), fp], 24), load)
    if data_fingerprint(c, base_dir) != fp:
        raise ConfigError(f"data.{key}: the logs changed while they were being read; run again")
    if data.get("source") in ("parquet", "csv"):
        from bandits.estimators.diagnostics import id_problems

        problems = id_problems(logs.action, logs.n_actions, logs.position,
                               n_actions_given=data.get("n_actions") is not None)
        if problems:
            raise ConfigError(f"data.{key}: {problems[0]} (file {str(data_source_path(data, base_dir))!r})")
    return logs, fp


def precheck(overrides: list[str], base_dir: str | os.PathLike) -> str | None:
    """Compose and validate every job of the command line; the error message, or None if all good."""
    overrides = _default_env(list(overrides))
    try:
        jobs = expand_sweeps(overrides)
    except (HydraException, OmegaConfBaseException, ValueError) as e:
        return f"bad override syntax: {_exception_message(e)}"
    seen: set[tuple[str, ...]] = set()
    for job in jobs:
        key = tuple(o for o in job if not _is_hydra_override(o))
        if key in seen:
            continue
        seen.add(key)
        try:
            validate(compose(list(key)), base_dir)
        except ConfigError as e:
            return f"invalid config{_job_note(jobs, key)}: {e}"
        except (HydraException, OmegaConfBaseException) as e:
            return f"invalid config{_job_note(jobs, key)}: {_exception_message(e)}"
    return None


def _job_note(jobs: list[list[str]], key: tuple[str, ...]) -> str:
    return f" (job: {' '.join(key)})" if len(jobs) > 1 else ""


# ----------------------------------------------------------------------------- the job


def data_source_path(data: dict[str, Any], base_dir: str | os.PathLike | None) -> Path:
    """The file or directory the ``data`` node reads: ``data.path`` (parquet/csv), or the OBD
    folder ``<data_path or the bundled sample>/<behavior_policy>/<campaign>``."""
    if data.get("source") in ("parquet", "csv"):
        return resolve_path(data["path"], base_dir)
    from bandits.datasets.obd import SAMPLE_PATH

    root = SAMPLE_PATH if data.get("data_path") is None else resolve_path(data["data_path"], base_dir)
    return root / str(data.get("behavior_policy", "random")) / str(data.get("campaign", "all"))


def data_fingerprint(c: dict[str, Any], base_dir, store_root: str | os.PathLike | None = None) -> str:
    """Content fingerprint of the logs the ``data`` node reads (:func:`experiments.store.fingerprint_path`:
    every byte, cached by file stat in ``<store>/runs/fingerprints.json``)."""
    from experiments import store

    cache = Path(store_root) / "runs" / "fingerprints.json" if store_root is not None else None
    return store.fingerprint_path(data_source_path(c["data"], base_dir), cache=cache)


def config_hash(c: dict[str, Any], data_fp: str | None = None, code_fp: str | None = None) -> str:
    """Hash of what decides a bake-off row besides its key (candidate, hyperparameters, seed).

    Covers env, horizon, sweep (chunking, curve points), the code and package versions
    (``code_fp``, default :func:`experiments.store.code_fingerprint`) and, when the env is built
    from logs, the data node and the content fingerprint of the logs (``data_fp``, required then);
    excludes ``policy`` (the candidate is in the row key), ``seeds``/``seed_offset`` (rows are per
    seed), the OPE stage's settings and output options (``out_dir``, ``quiet``, ``report``, ``force``).
    """
    from experiments.store import code_fingerprint, stable_hash

    keep = {k: c[k] for k in ("env", "horizon", "sweep") if k in c}
    keep["code"] = code_fp or code_fingerprint()
    if env_declaration(c["env"]).fit_on_data:
        if data_fp is None:
            raise ValueError("data_fp: the env is fitted on the logs, so their fingerprint is part of the identity")
        keep["data"] = c["data"]
        keep["data_fingerprint"] = data_fp
    return stable_hash(keep)


def ope_config_hash(c: dict[str, Any], data_fp: str, code_fp: str | None = None) -> str:
    """Hash of what decides an ``ope`` row besides its key (candidate, hyperparameters, estimator,
    logging seed): the simulator (env, data node and the logs' content fingerprint), the OPE and
    estimator settings, and the code and package versions."""
    from experiments.store import code_fingerprint, stable_hash

    keep = {k: c[k] for k in ("env", "data", "ope", "estimator")}
    keep.update(data_fingerprint=data_fp, code=code_fp or code_fingerprint())
    return stable_hash(keep)


def _console(quiet: bool, results: bool = False):
    """Progress and logs go to stderr; ``results=True``: the console of the results (stdout)."""
    from rich.console import Console

    console = Console(stderr=not results, quiet=quiet)
    if not console.is_terminal:
        console.width = 150  # logs and CI: do not squeeze the summary table into 80 columns
    return console


def _summary_table(df, console) -> None:
    from rich.table import Table

    from experiments.report import summarize

    s = summarize(df)
    many = s["config_hash"].nunique() > 1
    t = Table(title="bake-off: final cumulative regret over seeds (mean, 95% CI)")
    cols = (("config",) if many else ()) + ("policy", "hparams", "seeds", "regret", "95% CI", "reward/round",
                                            "vs best (paired)")
    for col in cols:
        t.add_column(col, justify="left" if col in ("config", "policy", "hparams") else "right")
    for r in s.itertuples(index=False):
        cells = [r.policy, r.hparams_short, str(r.n), f"{r.regret_mean:.2f}",
                 f"[{r.regret_lo:.2f}, {r.regret_hi:.2f}]", f"{r.reward_per_round:.4f}", r.vs_best]
        t.add_row(*([f"{r.env} {r.config_hash[:8]}"] if many else []), *cells)
    console.print(t)


def _verdict(c: dict[str, Any], data, root: Path, console) -> dict[str, Any] | None:
    """"What your logs can tell" (``verdict`` node): one line from a fidelity study at the size of
    the OBD logs (:func:`experiments.fidelity.what_logs_can_tell`, cached in ``out_dir/fidelity``),
    for the worlds made from logs (the simulator) or standing in for them (``obd_known``); None
    when disabled, for other worlds, or when the logs are not OBD-shaped (a line then says so)."""
    decl = env_declaration(c["env"])
    if not c["verdict"]["enabled"] or not (decl.fit_on_data or decl.name == "obd_known"):
        return None  # disabled, or a world that does not come from (or stand in for) logs
    if c["data"].get("source") != "obd":
        console.print("what your logs can tell: not computed for logs outside the OBD layout "
                      "(`screentest fidelity` runs the study in a known world)")
        return None
    from experiments.fidelity import VERDICT_MAX_ROWS, what_logs_can_tell

    n_user = data.n_rounds if data is not None else load_data(c["data"], None).n_rounds
    factors = [int(f) for f in c["verdict"]["factors"] if n_user * int(f) <= VERDICT_MAX_ROWS]
    if not factors:
        console.print(f"what your logs can tell: not computed in the main job for {n_user:,} rows (the study refits "
                      f"the simulator on logs of that size; `screentest fidelity --user-rows {n_user}` runs it)")
        return None
    console.print(f"what your logs can tell: fidelity study at {', '.join(f'{n_user * f:,}' for f in factors)} rows "
                  f"in the OBD-shaped world (cached in {root / 'fidelity'}; verdict.enabled=false skips it) ...")
    v = what_logs_can_tell(n_user, campaign=c["data"].get("campaign", "all"), factors=factors,
                           cache_dir=root / "fidelity")
    cost = "cached" if v["cached"] else f"computed in {v['seconds']:.0f} s"
    console.print(f"what your logs can tell: {v['verdict']} ({cost})", markup=False)
    return v


def run_job(cfg: DictConfig, base_dir: str | os.PathLike | None = None, multirun: bool = False,
            overrides: list[str] | None = None) -> dict[str, Any]:
    """Run one job (see the module docstring). Returns a dict with the store dir, config hash, counts."""
    from experiments import store
    from experiments.bakeoff import run_bakeoff
    from experiments.progress import BakeoffProgress

    t_job = time.perf_counter()
    base_dir = Path(base_dir or os.getcwd())
    c = plain(cfg)
    quiet = bool(c["quiet"])
    console = _console(quiet)
    root = resolve_path(c["out_dir"], base_dir)
    specs = instantiate_policies(cfg.policy)
    force = bool(c.get("force", False))

    data = None
    data_fp = ""
    env_cfg = dict(c["env"])
    simulator = None
    if env_declaration(env_cfg).fit_on_data:
        data, data_fp = _load_data(c, base_dir)
        data_fingerprint(c, base_dir, root)  # remember the fingerprint in the store's cache
        from experiments.builders import member_simulator

        env_cfg.pop("_target_")
        if env_cfg.get("item_prior") == "auto":
            env_cfg["item_prior"] = "site" if c["data"].get("source") == "obd" else "none"
        console.print(f"fitting the member simulator on {data.n_rounds:,} logged rows ...")
        t_fit = time.perf_counter()
        simulator = cached(
            "sim:" + store.stable_hash({"env": c["env"], "data": c["data"], "fp": data_fp}, 24),
            lambda: member_simulator(data, campaign=c["data"].get("campaign", "all"), **env_cfg),
        )
        env = simulator.env
        rep = simulator.report
        console.print(f"simulator fitted in {time.perf_counter() - t_fit:.1f} s: {env.num_actions} items, "
                      f"context dim {env.context_dim}, held-out AUC {rep.auc:.3f}, log-loss {rep.log_loss:.5f} "
                      f"(constant-rate baseline {rep.log_loss_baseline:.5f})")
    else:
        from hydra.utils import instantiate

        try:
            env = cached("env:" + store.stable_hash(c["env"], 24), lambda: instantiate(cfg.env, _convert_="all"))
        except InstantiationException as e:
            if isinstance(e.__cause__, ConfigError):
                raise e.__cause__ from None
            raise
    env_label = c["env"].get("label", env.name)
    world = world_of_env(env, c["env"], data)

    code_fp = store.code_fingerprint()
    chash = config_hash(c, data_fp or None, code_fp)
    # the resolved config minus output-only keys, so the same sweep into two stores gives equal rows
    result_cfg = {k: v for k, v in c.items() if k not in _OUTPUT_KEYS}
    yaml_text = OmegaConf.to_yaml(OmegaConf.create(result_cfg))
    job_hash = store.stable_hash({"config": result_cfg, "data": data_fp, "code": code_fp}, 16)
    prov = {"config_yaml": yaml_text, "versions": store.package_versions(), "git_commit": store.git_commit(),
            "data_fingerprint": data_fp, "code_fingerprint": code_fp}
    store.write_run_meta(root, job_hash, {
        "config_hash": chash, "job_hash": job_hash, "config": c, "overrides": overrides or [],
        "versions": prov["versions"], "git_commit": prov["git_commit"], "data_fingerprint": data_fp,
        "code_fingerprint": code_fp,
    })

    t0 = time.perf_counter()
    with BakeoffProgress(console, enabled=not quiet) as prog:
        counts = run_bakeoff(
            env, specs, root=str(root), config_hash=chash, seeds=c["seeds"], seed_offset=c["seed_offset"],
            horizon=c["horizon"], chunk_seeds=c["sweep"]["chunk_seeds"], curve_points=c["sweep"]["curve_points"],
            env_label=env_label, provenance=prov, on_cell=prog.on_cell, on_rounds=prog.on_rounds, world=world,
            force=force, on_start=prog.start,
        )
    elapsed = time.perf_counter() - t0
    result = {"out_dir": str(root), "config_hash": chash, "job_hash": job_hash, **counts, "seconds": elapsed}

    ope_result = None
    if c["ope"]["enabled"] and simulator is None and env_declaration(c["env"]).name == "obd_known":
        console.print("off-policy evaluation: runs in the simulator fitted on the logs (env=simulator), "
                      "not in the known world")
    if c["ope"]["enabled"] and simulator is not None and env.len_list > 1:
        console.print(f"off-policy evaluation: skipped (the OPE stage evaluates single-slot policies; "
                      f"env.len_list={env.len_list})")
    elif c["ope"]["enabled"] and simulator is not None:
        from experiments import ope_stage

        console.print(f"off-policy evaluation: {c['ope']['seeds']} logs of {c['ope']['rounds']:,} rounds "
                      f"by {c['ope']['behavior']!r}, estimators {list(c['estimator']['names'])} ...")
        ope_result = ope_stage.run(simulator, data, specs, c, root=str(root),
                                   config_hash=ope_config_hash(c, data_fp, code_fp), provenance=prov,
                                   console=console, world=world, force=force)
        result["ope"] = ope_result
        console.print(f"OPE: {ope_result['ope_computed']} log(s) evaluated, {ope_result['ope_skipped']} already "
                      f"in the store, {ope_result['ope_seconds']:.1f} s")

    if not quiet and not multirun:
        df = store.load(root, "bakeoff")
        df = df[(df["config_hash"] == chash) & df["policy"].isin([s.label for s in specs])]
        lo, hi = c["seed_offset"], c["seed_offset"] + c["seeds"]
        df = df[(df["seed"] >= lo) & (df["seed"] < hi)]
        _summary_table(df, _console(quiet, results=True))
        console.print(
            f"{counts['computed']} cell(s) computed, {counts['skipped']} already in the store; "
            f"{counts['rounds']:,} rounds in {elapsed:.1f} s -> {root}"
        )
        if env_declaration(c["env"]).name == "obd_known":
            from experiments.fidelity import default_world_note

            for line in default_world_note(c["env"]):
                console.print(line, markup=False)
        result["verdict"] = _verdict(c, data, root, console)
    if c["report"] and not multirun:
        from experiments.report import write_report

        t_rep = time.perf_counter()
        path = write_report(root)
        result["report"] = str(path)
        console.print(f"report written in {time.perf_counter() - t_rep:.1f} s: {path}")
    console.print(f"job finished in {time.perf_counter() - t_job:.1f} s")
    return result


# ----------------------------------------------------------------------------- Hydra plumbing


class ScreentestCallback:
    """Hydra callback of the ``screentest`` application (set in the root config's ``hydra`` node).

    Before a run or a multirun it composes and validates every job of the command line
    (:func:`precheck`): a bad config stops everything with one line and exit code 2 before any
    work starts. After a multirun it prints one summary table and writes one report over the
    shared store (not one per job).
    """

    def __init__(self, out_dir: str = "screentest-results", enabled: bool = True, quiet: bool = False) -> None:
        self.out_dir = out_dir
        self.enabled = enabled
        self.quiet = quiet

    def _check(self, config: DictConfig) -> None:
        overrides = list(config.hydra.overrides.task)
        if _STATE.get("prechecked") == _task_key(overrides):  # main() checked this command line already
            _STATE["checked"] = True
            return
        msg = precheck(overrides, config.hydra.runtime.cwd or os.getcwd())
        if msg is not None:
            _err(_one_line(msg))
            raise SystemExit(2)
        _STATE["checked"] = True

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from experiments.report import write_report
        from experiments.store import StoreError

        root = resolve_path(self.out_dir, HydraConfig.get().runtime.cwd if HydraConfig.initialized() else None)
        console = _console(self.quiet)
        try:
            if not self.quiet:
                from experiments.store import load

                _summary_table(load(root, "bakeoff"), _console(self.quiet, results=True))
            if self.enabled:
                path = write_report(root)
                console.print(f"report: {path}")
        except StoreError:
            return

    # the other callback hooks are no-ops
    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None: ...
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None: ...
    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None: ...


_HINT = "Run 'screentest --help' for the config groups, 'screentest --cfg job' to print the config."
# Hydra's detail lines that add nothing for a user (object types, the stack-trace hint)
_NOISE = ("full_key:", "reference_type", "object_type", "Set the environment variable HYDRA_FULL_ERROR")


def _one_line(msg: str) -> str:
    """A (Hydra) error message on one line: its lines joined, Hydra's internal details dropped."""
    parts = [ln.strip() for ln in str(msg).splitlines()]
    parts = [p for p in parts if p and not p.startswith(_NOISE)]
    return " ".join(parts)


def _task_key(overrides: list[str]) -> tuple[str, ...]:
    return tuple(o for o in overrides if not _is_hydra_override(o))


def _task(cfg: DictConfig) -> dict[str, Any]:
    import logging

    # Hydra sets the root logger to INFO; JAX's backend probing is noise at that level
    logging.getLogger("jax").setLevel(logging.WARNING)
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    if multirun:
        _exit_with_parent()
    in_worker = os.environ.get("SCREENTEST_MAIN_PID") not in (None, str(os.getpid()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            return run_job(cfg, base_dir=hc.runtime.cwd, multirun=multirun, overrides=list(hc.overrides.task))
        except ConfigError as e:
            # a config problem only visible once data/simulator are loaded: usage error, exit 2
            _err(f"invalid config: {e}")
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            if in_worker:  # a worker of a parallel multirun: the launching process says "interrupted"
                os._exit(130)
            raise
        finally:
            _print_warnings(caught)


def _print_warnings(caught) -> None:
    """What the data could not support, one line per distinct message, with how often it came
    (printed even when quiet: a warning is part of the answer)."""
    counts: dict[str, int] = {}
    for w in caught:
        if not issubclass(w.category, UserWarning) or issubclass(w.category, DeprecationWarning):
            continue
        text = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0]}"
        counts[text] = counts.get(text, 0) + 1
    for text, k in counts.items():
        print(f"screentest: warning: {text}" + (f" ({k} times)" if k > 1 else ""), file=sys.stderr)


def _exit_with_parent() -> None:
    """In a worker process of a parallel multirun (joblib), end this process when the process that
    launched the multirun dies (even by ``kill -9``), instead of computing on as an orphan.

    A daemon thread polls the parent pid; the main process's pid is recorded by :func:`main` in
    ``SCREENTEST_MAIN_PID``, and only its direct workers watch it.
    """
    main_pid = os.environ.get("SCREENTEST_MAIN_PID")
    if not main_pid or os.getpid() == int(main_pid) or os.getppid() != int(main_pid) or _STATE.get("watching"):
        return
    import threading

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="screentest-parent-watch", daemon=True).start()
    _STATE["watching"] = True


_hydra_main = hydra.main(version_base="1.3", config_path=None, config_name=CONFIG_NAME)(_task)

def _with_quiet_logging(argv: list[str]) -> list[str]:
    """``argv`` with the flags turned into overrides: ``--force`` into ``force=true``, and Hydra's
    logging disabled when the run is quiet (``quiet=true``, ``--quiet``/``-q``).

    The added overrides join the command line's overrides (next to the first of them, or at the
    end), so they form one block of positional arguments, as Hydra's parser requires.
    """
    flag = any(a in ("--quiet", "-q") for a in argv)
    force = "--force" in argv
    argv = [a for a in argv if a not in ("--quiet", "-q", "--force")]
    quiet = flag or any(a.split("=", 1)[0] == "quiet" and a.split("=", 1)[1] in _QUIET_VALUES
                        for a in argv if "=" in a and not a.startswith("-"))
    extra = ["force=true"] if force else []
    if quiet:
        extra += ["hydra/hydra_logging=disabled", "hydra/job_logging=disabled"] + (["quiet=true"] if flag else [])
    if not extra:
        return argv
    first = next((i for i, a in enumerate(argv) if not a.startswith("-") and ("=" in a or a.startswith("~"))),
                 len(argv))
    return argv[:first] + extra + argv[first:]


def _default_env(argv: list[str]) -> list[str]:
    """``argv`` with ``env=simulator`` added when it reads the user's own logs (``data=parquet``,
    ``data=csv`` or ``data.data_path=...``) and chooses no env: the default env, the OBD-shaped
    known world, reads no logs, so your logs mean the simulator fitted on them."""
    keys = [a.lstrip("+").split("=", 1) for a in argv if "=" in a and not a.startswith("-")]
    if any(k == "env" for k, _ in keys):
        return argv
    own = any((k == "data" and v.split(",")[0] in ("parquet", "csv")) or k == "data.data_path" for k, v in keys)
    if not own:
        return argv
    first = next((i for i, a in enumerate(argv) if not a.startswith("-") and "=" in a), len(argv))
    return argv[:first] + ["env=simulator"] + argv[first:]


def main(argv: list[str] | None = None) -> int:
    """Entry point used by ``screentest`` (see :mod:`experiments.cli`). Returns the exit code.

    Hydra parses the command line and runs the job(s); the application's callback validates every
    job first (:class:`ScreentestCallback`). Exit codes: 0 success, 2 a command line or config
    Hydra or the pre-check refuses before any work starts, 1 a failure once work has started.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    _STATE["checked"] = False
    _STATE["prechecked"] = None
    os.environ["SCREENTEST_MAIN_PID"] = str(os.getpid())  # joblib workers exit when this process dies
    full = _default_env(_with_quiet_logging(argv))
    if all(a in ("-m", "--multirun") or not a.startswith("-") for a in full):
        # a plain command line: check it here, so a refusal is one line (Hydra's own are several)
        overrides = [a for a in full if not a.startswith("-")]
        msg = precheck(overrides, os.getcwd())
        if msg is not None:
            _err(_one_line(msg))
            return 2
        _STATE["prechecked"] = _task_key(overrides)
    old_argv = sys.argv
    sys.argv = ["screentest", *full]
    try:
        _hydra_main()
    except SystemExit as e:
        code = e.code
        if code is None or code == 0:
            return 0
        if code == 1 and not _STATE["checked"]:
            # Hydra refused the command line (unknown key, bad value, missing option) before any job ran
            print(_HINT, file=sys.stderr)
            return 2
        return code if isinstance(code, int) else 1
    finally:
        sys.argv = old_argv
    return 0
