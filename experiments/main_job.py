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
4. Print a summary table and write the report (:mod:`experiments.report`) into ``out_dir/report``.

Exit codes: 0 success; 2 usage or config error (unknown key, wrong type, missing data path,
unknown policy or hyperparameter), detected before anything runs; 1 runtime failure.
Config values are converted to plain Python (``OmegaConf.to_container`` / ``instantiate(...,
_convert_="all")``) before anything is built, so no DictConfig reaches jitted code.
"""

from __future__ import annotations

import os
import sys
import time
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
from experiments.builders import ConfigError, PolicySpec, cached, load_data, resolve_path

CONFIG_NAME = "screentest"

# Hydra flags that take a value / that stop the job from running (help, print config, ...)
_FLAGS_WITH_VALUE = {"-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name",
                     "-cd", "--config-dir", "--experimental-rerun", "--info"}
_NO_RUN_FLAGS = {"-h", "--help", "--hydra-help", "--version", "-c", "--cfg", "--info", "--shell-completion",
                 "-sc"}
_QUIET_VALUES = {"true", "True", "1", "yes"}
_OUTPUT_KEYS = ("out_dir", "quiet", "report")


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


def split_argv(argv: list[str]) -> tuple[list[str], list[str], bool]:
    """``(flags, overrides, runs)``: Hydra flags, ``key=value`` overrides, whether a job would run."""
    flags, overrides = [], []
    runs = True
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-"):
            flags.append(a)
            if a in _NO_RUN_FLAGS:
                runs = False
            if a in _FLAGS_WITH_VALUE and i + 1 < len(argv) and "=" not in argv[i + 1] and not argv[i + 1].startswith("-"):
                flags.append(argv[i + 1])
                i += 1
        else:
            overrides.append(a)
        i += 1
    return flags, overrides, runs


def expand_sweeps(overrides: list[str]) -> list[list[str]]:
    """Every job's override list of a multirun (Hydra's basic sweeper: Cartesian product)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for batch in batches for job in batch]


def compose(overrides: list[str]) -> DictConfig:
    """The composed root config for ``overrides`` (no sweep values), without Hydra's own node."""
    from hydra import compose as hydra_compose
    from hydra import initialize

    with initialize(version_base="1.3", config_path=None):
        return hydra_compose(CONFIG_NAME, overrides=[o for o in overrides if not _is_hydra_override(o)])


def _is_hydra_override(o: str) -> bool:
    key = o.lstrip("+~").split("=", 1)[0]
    return key == "hydra" or key.startswith(("hydra.", "hydra/", "override hydra"))


def plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python containers (what crosses into non-Hydra code)."""
    out = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    out.pop("hydra", None)
    return out


def instantiate_policies(policy_cfg: Any) -> list[PolicySpec]:
    """Candidates of the ``policy`` node as :class:`PolicySpec` objects (``_target_`` instantiation)."""
    from hydra.utils import instantiate

    try:
        obj = instantiate(policy_cfg, _convert_="all")
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(f"policy: {_exception_message(e)}") from e
    specs = obj if isinstance(obj, list) else [obj]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"policy: candidate labels must be distinct, got {labels}")
    return specs


def validate(cfg: DictConfig, base_dir: str | os.PathLike) -> None:
    """Cheap checks of a composed config before anything runs; raises :class:`ConfigError`."""
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
    specs = instantiate_policies(cfg.policy)
    env_cfg = c["env"]
    # sizes for the policy check: synthetic envs know them from the config without building
    if env_cfg.get("family") in ("linear_gaussian", "logistic_bernoulli"):
        for s in specs:
            s.build(env_cfg["num_actions"], env_cfg["context_dim"])
    elif env_cfg.get("family") == "bernoulli_arms":
        for s in specs:
            s.build(env_cfg["num_actions"], 1)
    else:  # sizes come from the data: check names and hyperparameter fields on a small instance
        for s in specs:
            s.build(2, 1)
    data = c["data"]
    uses_data = env_cfg.get("_target_", "").endswith("member_simulator")
    if uses_data or data.get("source") in ("parquet", "csv"):
        key = "path" if data.get("source") in ("parquet", "csv") else "data_path"
        if data.get(key) is not None and not resolve_path(data[key], base_dir).exists():
            raise ConfigError(f"data.{key}: no such file or directory: {str(resolve_path(data[key], base_dir))!r}")
    if c["ope"]["rounds"] < 1 or c["ope"]["seeds"] < 1:
        raise ConfigError(f"ope.rounds / ope.seeds: expected integers >= 1, got {c['ope']['rounds']!r} / {c['ope']['seeds']!r}")
    if not 0.0 < c["estimator"]["alpha"] < 1.0:
        raise ConfigError(f"estimator.alpha: expected a number in (0, 1), got {c['estimator']['alpha']!r}")
    from experiments.ope_stage import estimators_from_config

    estimators_from_config(c["estimator"])  # names and hyperparameters, through the estimator registry


def precheck(overrides: list[str], base_dir: str | os.PathLike, full: bool = True) -> str | None:
    """Compose (and with ``full``, validate) every job of the command line; the error message, or
    None if all good."""
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
            cfg = compose(list(key))
            if full:
                validate(cfg, base_dir)
        except ConfigError as e:
            return f"invalid config{_job_note(jobs, key)}: {e}"
        except (HydraException, OmegaConfBaseException) as e:
            return f"invalid config{_job_note(jobs, key)}: {_exception_message(e)}"
    return None


def _job_note(jobs: list[list[str]], key: tuple[str, ...]) -> str:
    return f" (job: {' '.join(key)})" if len(jobs) > 1 else ""


# ----------------------------------------------------------------------------- the job


def config_hash(c: dict[str, Any]) -> str:
    """Hash of what decides a bake-off row besides the candidate and the seed.

    Covers env, horizon, sweep (chunking, curve points) and, when the env is built from logs, the
    data; excludes ``policy`` (the candidate is in the cell id), ``seeds``/``seed_offset`` (rows are
    per seed, so growing ``seeds`` reuses finished cells), the OPE stage's settings and output
    options (``out_dir``, ``quiet``, ``report``).
    """
    from experiments.store import stable_hash

    keep = {k: c[k] for k in ("env", "horizon", "sweep") if k in c}
    if str(c["env"].get("_target_", "")).endswith("member_simulator"):
        keep["data"] = c["data"]
    return stable_hash(keep)


def ope_config_hash(c: dict[str, Any]) -> str:
    """Hash of what decides an ``ope`` row besides the candidate, estimator and logging seed:
    the simulator (env + data) and the OPE and estimator settings."""
    from experiments.store import stable_hash

    return stable_hash({k: c[k] for k in ("env", "data", "ope", "estimator")})


def _console(quiet: bool):
    from rich.console import Console

    console = Console(stderr=True, quiet=quiet)
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


def run_job(cfg: DictConfig, base_dir: str | os.PathLike | None = None, multirun: bool = False,
            overrides: list[str] | None = None) -> dict[str, Any]:
    """Run one job (see the module docstring). Returns a dict with the store dir, config hash, counts."""
    from experiments import store
    from experiments.bakeoff import plan_cells, run_bakeoff
    from experiments.progress import BakeoffProgress

    t_job = time.perf_counter()
    base_dir = Path(base_dir or os.getcwd())
    c = plain(cfg)
    quiet = bool(c["quiet"])
    console = _console(quiet)
    root = resolve_path(c["out_dir"], base_dir)
    specs = instantiate_policies(cfg.policy)

    data = None
    env_cfg = dict(c["env"])
    simulator = None
    if env_cfg.get("_target_", "").endswith("member_simulator"):
        data = cached("data:" + store.stable_hash([c["data"], str(base_dir)], 24), lambda: load_data(c["data"], base_dir))
        from experiments.builders import member_simulator

        env_cfg.pop("_target_")
        if env_cfg.get("item_prior") == "auto":
            env_cfg["item_prior"] = "site" if c["data"].get("source") == "obd" else "none"
        console.print(f"fitting the member simulator on {data.n_rounds:,} logged rows ...")
        t_fit = time.perf_counter()
        simulator = cached(
            "sim:" + store.stable_hash({"env": c["env"], "data": c["data"]}, 24),
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

    chash = config_hash(c)
    # the resolved config minus output-only keys, so the same sweep into two stores gives equal rows
    result_cfg = {k: v for k, v in c.items() if k not in _OUTPUT_KEYS}
    yaml_text = OmegaConf.to_yaml(OmegaConf.create(result_cfg))
    job_hash = store.stable_hash({"config": result_cfg}, 16)
    prov = {"config_yaml": yaml_text, "versions": store.package_versions(), "git_commit": store.git_commit()}
    store.write_run_meta(root, job_hash, {
        "config_hash": chash, "job_hash": job_hash, "config": c, "overrides": overrides or [],
        "versions": prov["versions"], "git_commit": prov["git_commit"],
    })

    t0 = time.perf_counter()
    with BakeoffProgress(console, enabled=not quiet) as prog:
        prog.start(len(plan_cells(specs, c["seeds"], c["seed_offset"], c["sweep"]["chunk_seeds"])))
        counts = run_bakeoff(
            env, specs, root=str(root), config_hash=chash, seeds=c["seeds"], seed_offset=c["seed_offset"],
            horizon=c["horizon"], chunk_seeds=c["sweep"]["chunk_seeds"], curve_points=c["sweep"]["curve_points"],
            env_label=env_label, provenance=prov, on_cell=prog.on_cell, on_rounds=prog.on_rounds,
        )
    elapsed = time.perf_counter() - t0
    result = {"out_dir": str(root), "config_hash": chash, "job_hash": job_hash, **counts, "seconds": elapsed}

    ope_result = None
    if c["ope"]["enabled"] and simulator is not None:
        from experiments import ope_stage

        console.print(f"off-policy evaluation: {c['ope']['seeds']} logs of {c['ope']['rounds']:,} rounds "
                      f"by {c['ope']['behavior']!r}, estimators {list(c['estimator']['names'])} ...")
        ope_result = ope_stage.run(simulator, data, specs, c, root=str(root), config_hash=ope_config_hash(c),
                                   provenance=prov, console=console)
        result["ope"] = ope_result
        console.print(f"OPE: {ope_result['ope_computed']} log(s) evaluated, {ope_result['ope_skipped']} already "
                      f"in the store, {ope_result['ope_seconds']:.1f} s")

    if not quiet and not multirun:
        df = store.load(root, "bakeoff")
        df = df[(df["config_hash"] == chash) & df["policy"].isin([s.label for s in specs])]
        lo, hi = c["seed_offset"], c["seed_offset"] + c["seeds"]
        df = df[(df["seed"] >= lo) & (df["seed"] < hi)]
        _summary_table(df, console)
        console.print(
            f"{counts['computed']} cell(s) computed, {counts['skipped']} already in the store; "
            f"{counts['rounds']:,} rounds in {elapsed:.1f} s -> {root}"
        )
    if c["report"] and not multirun:
        from experiments.report import write_report

        t_rep = time.perf_counter()
        path = write_report(root)
        result["report"] = str(path)
        console.print(f"report written in {time.perf_counter() - t_rep:.1f} s: {path}")
    console.print(f"job finished in {time.perf_counter() - t_job:.1f} s")
    return result


# ----------------------------------------------------------------------------- Hydra plumbing


class ReportCallback:
    """Hydra callback: after a multirun, print one summary table and write one report over the
    shared store (not one per job)."""

    def __init__(self, out_dir: str = "screentest-results", enabled: bool = True, quiet: bool = False) -> None:
        self.out_dir = out_dir
        self.enabled = enabled
        self.quiet = quiet

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from experiments.report import write_report
        from experiments.store import StoreError

        root = resolve_path(self.out_dir, HydraConfig.get().runtime.cwd if HydraConfig.initialized() else None)
        console = _console(self.quiet)
        try:
            if not self.quiet:
                from experiments.store import load

                _summary_table(load(root, "bakeoff"), console)
            if self.enabled:
                path = write_report(root)
                console.print(f"report: {path}")
        except StoreError:
            return

    # the other callback hooks are no-ops
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None: ...
    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None: ...
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None: ...
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None: ...
    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None: ...


def _task(cfg: DictConfig) -> dict[str, Any]:
    import logging

    # Hydra sets the root logger to INFO; JAX's backend probing is noise at that level
    logging.getLogger("jax").setLevel(logging.WARNING)
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        return run_job(cfg, base_dir=hc.runtime.cwd, multirun=multirun, overrides=list(hc.overrides.task))
    except ConfigError as e:
        # a config problem only visible once data/simulator are loaded: usage error, exit 2
        _err(f"invalid config: {e}")
        raise SystemExit(2) from None


_hydra_main = hydra.main(version_base="1.3", config_path=None, config_name=CONFIG_NAME)(_task)


def _hydra_defaults(overrides: list[str], quiet: bool) -> list[str]:
    """Hydra settings we default (the user's own ``hydra.*`` overrides come later and win)."""
    out = [
        "hydra.run.dir=${out_dir}/.hydra/runs/${now:%Y-%m-%d_%H-%M-%S}",
        "hydra.sweep.dir=${out_dir}/.hydra/multiruns/${now:%Y-%m-%d_%H-%M-%S}",
        "hydra.job.chdir=false",
        "hydra.help.app_name=screentest",
        "+hydra.callbacks.screentest_report._target_=experiments.main_job.ReportCallback",
        "+hydra.callbacks.screentest_report.out_dir=${out_dir}",
        "+hydra.callbacks.screentest_report.enabled=${report}",
        "+hydra.callbacks.screentest_report.quiet=${quiet}",
    ]
    if quiet:
        out += ["hydra/hydra_logging=disabled", "hydra/job_logging=disabled"]
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point used by ``screentest`` (see :mod:`experiments.cli`). Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--quiet" in argv or "-q" in argv:
        argv = [a for a in argv if a not in ("--quiet", "-q")] + ["quiet=true"]
    flags, overrides, runs = split_argv(argv)
    quiet = any(o.split("=", 1)[0] == "quiet" and o.split("=", 1)[1] in _QUIET_VALUES for o in overrides if "=" in o)
    if runs or overrides:
        msg = precheck(overrides, os.getcwd(), full=runs)
        if msg is not None:
            _err(msg)
            print("Run 'screentest --help' for the config groups, 'screentest --cfg job' to print the config.",
                  file=sys.stderr)
            return 2
    hydra_argv = [*flags, *_hydra_defaults(overrides, quiet), *overrides]
    old_argv = sys.argv
    sys.argv = ["screentest", *hydra_argv]
    try:
        _hydra_main()
    except SystemExit as e:
        code = e.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    finally:
        sys.argv = old_argv
    return 0
