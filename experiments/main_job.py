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
_OUTPUT_KEYS = ("out_dir", "quiet", "report")
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
    from experiments.ope_stage import estimators_from_config

    estimators_from_config(c["estimator"])  # names and hyperparameters, through the estimator registry
    specs = instantiate_policies(cfg.policy)
    env_cfg = c["env"]
    data = c["data"]
    decl = env_declaration(env_cfg)
    if decl.fit_on_data or data.get("source") in ("parquet", "csv"):
        key = "path" if data.get("source") in ("parquet", "csv") else "data_path"
        if data.get(key) is not None and not resolve_path(data[key], base_dir).exists():
            raise ConfigError(f"data.{key}: no such file or directory: {str(resolve_path(data[key], base_dir))!r}")
    logs = _load_data(c, base_dir) if decl.fit_on_data else None
    world = world_of(env_cfg, logs)
    for s in specs:
        s.build(world)


def _load_data(c: dict[str, Any], base_dir: str | os.PathLike):
    """The ``data`` group's logs, loaded once per process (the pre-check and the job share them)."""
    from experiments import store

    return cached("data:" + store.stable_hash([c["data"], str(base_dir)], 24), lambda: load_data(c["data"], base_dir))


def precheck(overrides: list[str], base_dir: str | os.PathLike) -> str | None:
    """Compose and validate every job of the command line; the error message, or None if all good."""
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


def config_hash(c: dict[str, Any]) -> str:
    """Hash of what decides a bake-off row besides the candidate and the seed.

    Covers env, horizon, sweep (chunking, curve points) and, when the env is built from logs, the
    data; excludes ``policy`` (the candidate is in the cell id), ``seeds``/``seed_offset`` (rows are
    per seed, so growing ``seeds`` reuses finished cells), the OPE stage's settings and output
    options (``out_dir``, ``quiet``, ``report``).
    """
    from experiments.store import stable_hash

    keep = {k: c[k] for k in ("env", "horizon", "sweep") if k in c}
    if env_declaration(c["env"]).fit_on_data:
        keep["data"] = c["data"]
    return stable_hash(keep)


def ope_config_hash(c: dict[str, Any]) -> str:
    """Hash of what decides an ``ope`` row besides the candidate, estimator and logging seed:
    the simulator (env + data) and the OPE and estimator settings."""
    from experiments.store import stable_hash

    return stable_hash({k: c[k] for k in ("env", "data", "ope", "estimator")})


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
    if env_declaration(env_cfg).fit_on_data:
        data = _load_data(c, base_dir)
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
    world = world_of_env(env, c["env"], data)

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
            env_label=env_label, provenance=prov, on_cell=prog.on_cell, on_rounds=prog.on_rounds, world=world,
        )
    elapsed = time.perf_counter() - t0
    result = {"out_dir": str(root), "config_hash": chash, "job_hash": job_hash, **counts, "seconds": elapsed}

    ope_result = None
    if c["ope"]["enabled"] and simulator is not None and env.len_list > 1:
        console.print(f"off-policy evaluation: skipped (the OPE stage evaluates single-slot policies; "
                      f"env.len_list={env.len_list})")
    elif c["ope"]["enabled"] and simulator is not None:
        from experiments import ope_stage

        console.print(f"off-policy evaluation: {c['ope']['seeds']} logs of {c['ope']['rounds']:,} rounds "
                      f"by {c['ope']['behavior']!r}, estimators {list(c['estimator']['names'])} ...")
        ope_result = ope_stage.run(simulator, data, specs, c, root=str(root), config_hash=ope_config_hash(c),
                                   provenance=prov, console=console, world=world)
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
        msg = precheck(overrides, config.hydra.runtime.cwd or os.getcwd())
        if msg is not None:
            _err(msg)
            print(_HINT, file=sys.stderr)
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

def _with_quiet_logging(argv: list[str]) -> list[str]:
    """``argv`` with Hydra's logging disabled when the run is quiet (``quiet=true``, ``--quiet``/``-q``).

    The two group overrides join the command line's overrides (next to the first of them, or at
    the end), so they form one block of positional arguments, as Hydra's parser requires.
    """
    flag = any(a in ("--quiet", "-q") for a in argv)
    argv = [a for a in argv if a not in ("--quiet", "-q")]
    quiet = flag or any(a.split("=", 1)[0] == "quiet" and a.split("=", 1)[1] in _QUIET_VALUES
                        for a in argv if "=" in a and not a.startswith("-"))
    if not quiet:
        return argv
    extra = ["hydra/hydra_logging=disabled", "hydra/job_logging=disabled"] + (["quiet=true"] if flag else [])
    first = next((i for i, a in enumerate(argv) if not a.startswith("-") and ("=" in a or a.startswith("~"))),
                 len(argv))
    return argv[:first] + extra + argv[first:]


def main(argv: list[str] | None = None) -> int:
    """Entry point used by ``screentest`` (see :mod:`experiments.cli`). Returns the exit code.

    Hydra parses the command line and runs the job(s); the application's callback validates every
    job first (:class:`ScreentestCallback`). Exit codes: 0 success, 2 a command line or config
    Hydra or the pre-check refuses before any work starts, 1 a failure once work has started.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    _STATE["checked"] = False
    old_argv = sys.argv
    sys.argv = ["screentest", *_with_quiet_logging(argv)]
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
