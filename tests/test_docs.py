"""Docs that run: every fenced command and Python snippet of README.md and docs/*.md is executed.

Blocks: ```` ```python ```` is executed (one namespace per page, blocks in order); ```` ```bash ````
and bare blocks whose first line is a command (``screentest``, ``python``, ``$ ...``) run each
command; a ``$ command`` line followed by output is a transcript: the command must fail with exit
code 2 and print that first output line (up to its first quoted path). Other bare blocks are
output or layout and are not run.

A marker on the line before a block adjusts it (directives separated by ``;``)::

    <!-- smoke: sub "seeds=200" "seeds=2"; append "horizon=50" -->   text substitution; extra overrides
    <!-- smoke: check "why" -->   main-job commands are composed and validated (every job of a
                                   multirun, data loaded, candidates built at the world's sizes), not run
    <!-- smoke: check-m "why" -->  the same for the multirun (``-m``) commands only
    <!-- smoke: skip "why" -->    not run; the reason is required and printed in the test id

Each page runs in its own temporary directory holding small logs under the names the docs use
(``my_logs.parquet``, ``my_logs.csv``, ``logs.parquet``) and a small result store
(``screentest-results``) for the commands that read one. Everything runs in ONE subprocess
(``python -m tests.test_docs OUT.json``), so registrations, Hydra state and compiled functions
of the snippets never leak into the other tests; the tests below read its report.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# run by .ci/run after the suite (`python -m pytest -m "slow or docs"`): about 2.5 CPU-minutes
pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
COMMANDS = ("screentest", "python", "python3", ".venv/bin/python", "time")  # first words of a command line


def _is_command(line: str) -> bool:
    words = line.strip().split()
    return bool(words) and (words[0] in COMMANDS or words[0] == "$")
_MARK = re.compile(r"^<!--\s*smoke:(.*?)-->\s*$")


@dataclass
class Block:
    page: str
    line: int
    lang: str
    body: str
    directives: list[list[str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    def directive(self, verb: str) -> list[list[str]]:
        return [d[1:] for d in self.directives if d[0] == verb]

    @property
    def kind(self) -> str:
        """``python``, ``commands`` or ``text`` (not run)."""
        if self.lang == "python":
            return "python"
        first = next((ln.strip() for ln in self.body.splitlines() if ln.strip()), "")
        if self.lang in ("bash", "sh", "console") or (self.lang == "" and _is_command(first)):
            return "commands"
        return "text"


def blocks(page: str) -> list[Block]:
    """The fenced blocks of a page with their markers (a marker must be on the line before)."""
    lines = (ROOT / page).read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        directives = []
        prev = lines[i - 1] if i else ""
        mark = _MARK.match(prev.strip())
        if mark:
            lex = shlex.shlex(mark.group(1), posix=True, punctuation_chars=";")
            lex.whitespace_split = True
            parts, cur = [], []
            for tok in lex:
                if tok == ";":
                    parts.append(cur)
                    cur = []
                else:
                    cur.append(tok)
            for words in [*parts, cur]:
                if words:
                    if words[0] not in ("sub", "append", "check", "check-m", "skip"):
                        raise ValueError(f"{page}:{i}: unknown smoke directive {words[0]!r}")
                    if words[0] in ("check", "check-m", "skip") and len(words) < 2:
                        raise ValueError(f"{page}:{i}: 'smoke: {words[0]}' needs a reason")
                    directives.append(words)
        out.append(Block(page, i + 1, m.group(1), "\n".join(lines[i + 1:j]), directives))
        i = j + 1
    return out


def all_blocks() -> list[Block]:
    return [b for p in PAGES for b in blocks(p) if b.kind != "text"]


# ----------------------------------------------------------------------------- the runner (subprocess)


def _fixture_logs(where: Path) -> None:
    """Small logs under the names the docs use (uniform logger, clicks that depend on the context)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n, k = 3000, 5
    x = rng.normal(size=(n, 3))
    a = rng.integers(0, k, n)
    theta = rng.normal(size=(k, 3))
    r = (rng.random(n) < 1 / (1 + np.exp(-(x @ theta.T - 1.0)))[np.arange(n), a]).astype(float)
    base = pd.DataFrame({"action": a, "reward": r, "pscore": 1.0 / k, "timestamp": np.arange(n)})
    ctx = pd.DataFrame(x, columns=["context_0", "context_1", "context_2"])
    pd.concat([ctx, base], axis=1).assign(position=0).to_parquet(where / "my_logs.parquet")
    pd.concat([ctx.set_axis(["age", "tenure", "visits"], axis=1), base], axis=1).to_csv(where / "my_logs.csv", index=False)
    pd.concat([ctx.set_axis(["x0", "x1", "x2"], axis=1), base], axis=1).to_parquet(where / "logs.parquet")


def _fixture_store(where: Path) -> None:
    """A small result store (``screentest-results``) with the three tables of the main job, so the
    commands that read a store (``results``, ``report``, ``experiments.store.load``) run without a
    main-job run. Its numbers are fixtures (random, seeded), not results."""
    import json as _json

    import numpy as np
    import pandas as pd

    from experiments import store

    rng = np.random.default_rng(0)
    root = where / "screentest-results"
    rounds = [10, 50, 100]

    def cand(pol: str) -> dict:
        hp = {"alpha": 0.1} if pol == "ucb1" else {}
        return {"policy": pol, "policy_name": pol, "candidate": store.stable_hash([pol, {}]), "static": "{}",
                "hparams": _json.dumps(hp, sort_keys=True), "hp_names": list(hp), "hp_values": list(hp.values())}

    rows = []
    for pol, slope in (("random", 0.3), ("ucb1", 0.2)):
        for seed in range(4):
            curve = np.cumsum(rng.uniform(0, 2 * slope, 100))[np.array(rounds) - 1]
            rows.append({"env": "member_simulator", "horizon": 100, **cand(pol), "seed": seed,
                         "cum_regret": float(curve[-1]), "cum_reward": float(100 * 0.5 - curve[-1]),
                         "regret_curve": list(map(float, curve)), "curve_rounds": rounds})
    store.write_cell(root, "bakeoff", "fixture", "bakeoff", pd.DataFrame(rows))
    ope = [{"env": "member_simulator", **cand(pol), "estimator": est, "seed": seed, "rounds": 300,
            "behavior": "random", "estimate": 0.5 + 0.02 * rng.normal(), "ci_lo": 0.45, "ci_hi": 0.55,
            "std_err": 0.025, "ess_ratio": 1.0, "unsupported_mass": 0.0, "truth": 0.5, "logged_mean_reward": 0.5}
           for pol in ("random", "ucb1") for est in ("ipw", "dr") for seed in range(2)]
    store.write_cell(root, "ope", "fixture", "ope", pd.DataFrame(ope))
    p = np.linspace(0.1, 0.9, 5)
    cal = pd.DataFrame({"bin": np.arange(5), "predicted": p, "observed": p, "ci_lo": p - 0.05, "ci_hi": p + 0.05,
                        "count": 100.0, "label": "member_simulator", "auc": 0.7, "log_loss": 0.6,
                        "log_loss_baseline": 0.69, "ece": 0.01})
    store.write_cell(root, "calibration", "fixture", "calibration", cal)


def _commands(text: str) -> list[tuple[str, list[str]]]:
    """``(kind, argv)`` per command of a shell block: ``run`` or ``expect`` (a ``$`` transcript,
    whose expected first output line follows as a third element in argv[-1:] handled by the caller)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    lines = joined.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("$ "):
            expected = next((ln.strip() for ln in lines[i + 1:] if ln.strip()), "")
            out.append(("expect", shlex.split(s[2:], comments=True) + [expected]))
            continue
        if not _is_command(s):
            continue  # output lines of a transcript, or prose
        for part in s.split(" && "):
            argv = shlex.split(part, comments=True)
            if argv and argv[0] == "time":
                argv = argv[1:]
            if argv:
                out.append(("run", argv))
    return out


def _run_command(block: Block, argv: list[str], cwd: Path, expect: str | None) -> None:
    from experiments import cli

    extra = [a for d in block.directive("append") for a in shlex.split(" ".join(d))]
    if argv[0] == "screentest":
        args = argv[1:] + extra
        sub = args[0] if args and args[0] in cli.SUBCOMMANDS else None
        multirun = "-m" in args or "--multirun" in args
        if (block.directive("check") or (block.directive("check-m") and multirun)) and sub is None and expect is None:
            from experiments.main_job import precheck

            overrides = [a for a in args if a not in ("-m", "--multirun", "--quiet", "-q")]
            msg = precheck(overrides, cwd)
            assert msg is None, f"{' '.join(argv)}: {msg}"
            return
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = cli.main(args)
        if expect is None:
            assert rc == 0, f"{' '.join(argv)}: exit {rc}\n{err.getvalue()[-2000:]}"
        else:
            want = expect.split("'")[0]
            assert rc == 2 and want in err.getvalue(), f"{' '.join(argv)}: exit {rc}, expected {want!r}, got {err.getvalue()!r}"
        return
    if argv[0] in ("python", "python3", ".venv/bin/python"):
        args = [str(ROOT / a) if a.endswith(".py") and (ROOT / a).is_file() else a for a in argv[1:]]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        p = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"{' '.join(argv)}: exit {p.returncode}\n{p.stderr[-2000:]}"
        return
    raise AssertionError(f"don't know how to run {argv[0]!r}")


def _substituted(block: Block) -> str:
    text = block.body
    for old, new in block.directive("sub"):
        assert old in text, f"smoke sub: {old!r} not in the block"
        text = text.replace(old, new)
    return text


def run_all(out_json: str) -> None:
    import tempfile
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    warnings.simplefilter("ignore")
    results: dict[str, dict] = {}
    base = Path(tempfile.mkdtemp(prefix="screentest-docs-"))
    only = [p for p in os.environ.get("SCREENTEST_DOCS_PAGES", "").split(",") if p]  # a subset, when editing docs
    for page in [p for p in PAGES if not only or p in only]:
        cwd = base / page.replace("/", "_")
        cwd.mkdir()
        (cwd / "docs" / "figures").mkdir(parents=True)  # commands that regenerate a figure write here
        _fixture_logs(cwd)
        _fixture_store(cwd)
        os.chdir(cwd)
        ns: dict = {"__name__": "__doc__"}
        for b in blocks(page):
            if b.kind == "text":
                continue
            skip = b.directive("skip")
            if skip:
                results[b.id] = {"status": "skip", "reason": " ".join(skip[0])}
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                text = _substituted(b)
                if b.kind == "python":
                    with contextlib.redirect_stdout(io.StringIO()):
                        exec(compile(text, f"{b.id}", "exec"), ns)
                else:
                    for kind, argv in _commands(text):
                        t1 = time.process_time()
                        if kind == "expect":
                            _run_command(b, argv[:-1], cwd, argv[-1])
                        else:
                            _run_command(b, argv, cwd, None)
                        print(f"    {' '.join(argv)[:90]}: {time.process_time() - t1:.1f} s CPU", file=sys.stderr)
                results[b.id] = {"status": "ok", "seconds": time.perf_counter() - t0}
                print(f"{b.id}: ok in {time.perf_counter() - t0:.1f} s ({time.process_time() - c0:.1f} s CPU)",
                      file=sys.stderr)
            except BaseException as e:  # noqa: BLE001 - report every failure, keep going
                tb = traceback.format_exc(limit=-3)
                results[b.id] = {"status": "fail", "error": f"{type(e).__name__}: {e}\n{tb[-3000:]}",
                                 "seconds": time.perf_counter() - t0}
                print(f"{b.id}: FAILED in {time.perf_counter() - t0:.1f} s: {type(e).__name__}: {str(e)[:300]}",
                      file=sys.stderr)
            os.chdir(cwd)
        import matplotlib.pyplot as plt

        plt.close("all")
    Path(out_json).write_text(json.dumps(results, indent=1))


# ----------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "report.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "tests.test_docs", str(out)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 0 and out.is_file(), p.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("block", all_blocks(), ids=lambda b: b.id + (" (skipped)" if b.directive("skip") else ""))
def test_doc_block_runs(block, report):
    r = report[block.id]
    if r["status"] == "skip":
        pytest.skip(r["reason"])
    assert r["status"] == "ok", f"{block.id}: {r['error']}"


def test_markers_are_well_formed_and_every_skip_has_a_reason():
    for page in PAGES:
        for b in blocks(page):  # raises on an unknown directive or a reason-less skip/check
            if b.kind == "text":
                assert not b.directives, f"{b.id}: a smoke marker on a block that is not run"


def test_readme_points_to_the_api_page_and_every_local_link_resolves():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/api.md)" in readme and "](CHANGELOG.md)" in readme
    for page in PAGES:
        text = re.sub(r"```.*?```", "", (ROOT / page).read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http:", "https:", "mailto:", "#")):
                continue
            path = (ROOT / page).parent / target.split("#")[0]
            assert path.exists(), f"{page}: the link {target!r} points to nothing"


if __name__ == "__main__":
    run_all(sys.argv[1])
