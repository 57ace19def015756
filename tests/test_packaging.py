"""Packaging: dependency floors and the CI job that installs them, licence files in the wheel,
extras with a clear message when missing, no private Hydra imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bandits", "envs", "experiments", "benchmarks", "examples", "tests")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _floors(reqs: list[str]) -> dict[str, str]:
    out = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?>=([0-9][0-9.]*)", r.strip())
        assert m, f"pyproject.toml: requirement {r!r} has no floor (name>=version)"
        out[m.group(1).lower()] = m.group(3)
    return out


def test_the_floors_file_pins_every_floor_of_pyproject():
    proj = _pyproject()["project"]
    want = _floors(proj["dependencies"]) | _floors(proj["optional-dependencies"]["gym"])
    pins = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    for name, floor in want.items():
        assert name in pins and Version(pins[name]) == Version(floor), \
            f".ci/floors.txt: expected {name}=={floor} (the floor in pyproject.toml), got {pins.get(name)}"
    assert pins["jaxlib"] == pins["jax"]  # jax and jaxlib move together
    assert Version(want["jax"]) >= Version("0.6.1")  # jax.shard_map(check_vma=) (bandits/engine/sweep.py)
    assert Version(want["gymnasium"]) >= Version("1.1")  # gymnasium.vector.AutoresetMode (envs/gym.py)


def test_ci_runs_the_floors_job_on_existing_tests_and_checks_the_wheel():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-c .ci/floors.txt" in ci and ".ci/floors-tests.txt" in ci and ".ci/check_wheel.py" in ci
    listed = [p for p in (ROOT / ".ci" / "floors-tests.txt").read_text().split() if p]
    assert listed and all((ROOT / p.split("::")[0]).is_file() for p in listed), listed  # files or node ids
    assert "tests/test_packaging.py" in listed


def test_licence_files_are_declared_for_the_wheel():
    proj = _pyproject()["project"]
    assert proj["license"] == "Apache-2.0" and proj["license-files"] == ["LICENSE", "NOTICE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    notice = (ROOT / "NOTICE").read_text()
    assert "CC BY 4.0" in notice and "bandits/datasets/obd_sample/" in notice
    assert "obd_prior_bts.json" in notice and "Apache License, Version 2.0" in notice


def test_no_private_hydra_imports():
    bad = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                bad += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("hydra._")]
    assert not bad, bad


def test_a_missing_gym_extra_says_how_to_install_it():
    code = ("import sys; sys.modules['gymnasium'] = None\n"
            "import envs\n"  # the registry and the worlds do not need gymnasium
            "from envs.synthetic import linear_gaussian; linear_gaussian(num_actions=2, context_dim=2)\n"
            "try:\n    import envs.gym\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "the Gymnasium adapter (envs.gym) needs gymnasium: pip install 'screentest[gym]'" in out.stdout
