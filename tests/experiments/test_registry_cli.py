"""The command line reads the registries: every registered policy and world is reachable from it,
slates included, and a new policy or world needs one module and no other edit.

The two worked examples of docs/architecture.md ("Adding a policy", "Adding an environment") are
the modules used here: they are copied from the doc into temporary directories searched by the
packages, so the doc's example is what is tested.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import cli, store

ROOT = Path(__file__).resolve().parents[2]
OUT = ["quiet=true", "report=false", "sweep.curve_points=4"]


def _doc_example(section: str) -> tuple[str, str, str]:
    """``(file name, module source, test source)``: the two python blocks of a section of
    docs/architecture.md (the file to add, then its test)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"The one file to add, `([a-z_/]+\.py)`.*?\n```python\n(.*?)```.*?\n```python\n(.*?)```", body, re.S)
    assert m, f"no python example (module and test) under '## {section}'"
    return Path(m.group(1)).name, m.group(2), m.group(3)


def _run_doc_test(source: str) -> int:
    """Run every ``test_*`` function of a test module's source; returns how many ran."""
    namespace: dict = {}
    exec(compile(source, "<docs/architecture.md example test>", "exec"), namespace)
    tests = [f for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    for f in tests:
        f()
    return len(tests)


@pytest.fixture
def doc_modules(tmp_path):
    """The doc's example policy and world, as modules of ``bandits.policies`` and ``envs`` (found by
    the packages' own discovery); everything they registered is removed afterwards."""
    from hydra.core.config_store import ConfigStore

    import bandits.policies as P
    import envs
    from envs import registry as ER

    pol_dir, env_dir = tmp_path / "policies", tmp_path / "envs"
    pol_dir.mkdir()
    env_dir.mkdir()
    pol_file, pol_src, pol_test = _doc_example("Adding a policy")
    env_file, env_src, env_test = _doc_example("Adding an environment")
    (pol_dir / pol_file).write_text(pol_src)
    (env_dir / env_file).write_text(env_src)
    before_p, before_e = set(P.REGISTRY), set(ER.declarations())
    P.__path__.append(str(pol_dir))
    envs.__path__.append(str(env_dir))
    try:
        yield {"policy": pol_file[:-3], "env": env_file[:-3], "policy_test": pol_test, "env_test": env_test}
    finally:
        import gymnasium

        P.__path__.remove(str(pol_dir))
        envs.__path__.remove(str(env_dir))
        repo = ConfigStore.instance().repo
        for name in set(P.REGISTRY) - before_p:
            P.REGISTRY.pop(name)
            repo["policy"].pop(f"{name}.yaml", None)
        for name, decl in list(ER.declarations().items()):
            if name not in before_e:
                ER._RUNTIME.pop(name, None)
                repo["env"].pop(f"{decl.cli}.yaml", None)
                gymnasium.registry.pop(decl.gym_id, None)
        ER._SCAN_CACHE.clear()
        for m in (f"bandits.policies.{pol_file[:-3]}", f"envs.{env_file[:-3]}"):
            sys.modules.pop(m, None)


def test_a_new_policy_module_is_picked_up_by_registry_validation_and_cli(doc_modules, tmp_path, capsys):
    import bandits.policies as P
    from bandits import validation as V
    from experiments import conf
    from experiments.main_job import compose, precheck

    assert "softmax" not in P.REGISTRY
    P.discover()  # what importing the package does: every module of its directories registers itself
    decl = P.REGISTRY["softmax"]
    assert decl.module == f"bandits.policies.{doc_modules['policy']}"
    assert decl.context_free and decl.hparam_names() == ("tau",)
    # validation reads the declared rule
    assert V.hparam_rules("softmax") == {"tau": V.POSITIVE}
    assert _run_doc_test(doc_modules["policy_test"]) == 1  # the example's own test passes
    pol = P.make("softmax", num_actions=3)
    with pytest.raises(ValueError, match=r"hparams.tau: policy 'softmax' expects a finite value in \(0.0, inf\]"):
        V.validate_hparams(pol, pol.hparams(tau=0.0))
    # the CLI config group gets a node with the declared preset
    conf.register_configs()
    cfg = compose(["env=bernoulli", "policy=softmax"])
    assert cfg.policy.name == "softmax" and cfg.policy.tau == 0.1
    msg = precheck(["env=bernoulli", "policy=softmax", "policy.tau=-1"], tmp_path)
    assert msg == "invalid config: policy.tau: policy 'softmax' expects a finite value in (0.0, inf], got -1.0"
    # and it runs end to end
    root = tmp_path / "s"
    assert cli.main(["env=bernoulli", "env.num_actions=3", "policy=softmax", "policy.tau=0.05", "seeds=3",
                     "horizon=20", *OUT, f"out_dir={root}"]) == 0, capsys.readouterr().err
    df = store.load(root)
    assert len(df) == 3 and (df["hp_tau"] == 0.05).all() and (df["policy_name"] == "softmax").all()


def test_a_new_world_module_is_picked_up_by_registry_gym_and_cli(doc_modules, tmp_path, capsys):
    import gymnasium

    import envs
    from envs import registry as ER
    from experiments import conf
    from experiments.main_job import precheck

    decl = ER.declaration("two_level")  # read from the new module's source, not imported
    assert f"envs.{doc_modules['env']}" not in sys.modules
    assert decl.env_sizes({"num_actions": 5}) == (5, 1, 1)
    envs.register_gymnasium_envs()  # what importing envs does
    assert _run_doc_test(doc_modules["env_test"]) == 1  # the example's own test passes
    env = gymnasium.make(decl.gym_id, num_actions=3, episode_length=4)
    obs, _ = env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert reward == pytest.approx(0.7) and info["regret"] == pytest.approx(0.0)
    conf.register_configs()
    assert precheck(["env=two_level", "env.num_actions=0", "policy=random"], tmp_path) == (
        "invalid config: env.num_actions: expected an integer >= 1, got 0")
    # uniform random play: per-round regret is gap with probability (K-1)/K, independently
    K, T, n, gap = 4, 30, 200, 0.3
    root = tmp_path / "s"
    assert cli.main(["env=two_level", f"env.num_actions={K}", f"env.gap={gap}", "policy=random", f"seeds={n}",
                     f"horizon={T}", f"sweep.chunk_seeds={n}", *OUT, f"out_dir={root}"]) == 0, capsys.readouterr().err
    df = store.load(root)
    p = (K - 1) / K
    expected, se = T * gap * p, gap * np.sqrt(T * p * (1 - p) / n)
    assert len(df) == n and (df["env"] == "two_level").all()
    assert abs(df["cum_regret"].mean() - expected) < 4 * se, (df["cum_regret"].mean(), expected, se)


def test_slate_policy_runs_from_the_cli(tmp_path, capsys):
    """A registered slate policy in the member simulator with three slots: the env's len_list
    reaches the policy; the regret is exact (non-negative, non-decreasing) and at most one click
    per slot per round."""
    root = tmp_path / "s"
    T = 100
    rc = cli.main(["env=simulator", "env.len_list=3", "env.penalties=[300,3000]", "policy=generic",
                   "policy.name=slate_linucb", "seeds=2", f"horizon={T}", *OUT, f"out_dir={root}"])
    assert rc == 0, capsys.readouterr().err
    df = store.load(root)
    assert len(df) == 2 and set(df["policy_name"]) == {"slate_linucb"} and (df["hp_alpha"] == 1.0).all()
    curves = np.stack(df["regret_curve"].to_numpy())
    assert (curves >= -1e-5).all() and (np.diff(curves, axis=1) >= -1e-5).all()
    assert (df["cum_regret"] <= 3 * T).all()
    assert store.tables(root) == ["bakeoff"]  # the single-slot OPE stage is skipped for slates


WORLD = {  # a world each kind of policy can run in (sizes from the declarations: nothing is fitted)
    "slate": ["env=simulator", "env.len_list=3"],
    "item_features": ["env=simulator"],
    "plain": ["env=linear", "env.num_actions=4", "env.context_dim=2"],
}


def _world_for(decl):
    traits, needs = decl.effective()
    if "slate" in traits and "single_slot" not in traits:
        return WORLD["slate"]
    return WORLD["item_features"] if needs else WORLD["plain"]


def test_every_registered_policy_passes_the_precheck_in_a_suitable_world(tmp_path):
    """Every registered policy is built by the pre-check at a real world's sizes (no made-up
    sizes), and the wrong world is refused with one line naming the reason."""
    from bandits.policies import REGISTRY
    from experiments.main_job import precheck

    for name, decl in sorted(REGISTRY.items()):
        msg = precheck([*_world_for(decl), "policy=generic", f"policy.name={name}"], tmp_path)
        assert msg is None, (name, msg)
    msg = precheck([*WORLD["plain"], "policy=slate_lints"], tmp_path)
    assert "fills a slate of len_list >= 2 slots; env 'linear_gaussian' has len_list=1" in msg
    msg = precheck([*WORLD["slate"], "policy=linucb"], tmp_path)
    assert "fills one slot per round; env 'member_simulator' has len_list=3" in msg
    msg = precheck([*WORLD["plain"], "policy=hybrid_linucb"], tmp_path)
    assert "needs item_features, which env 'linear_gaussian' does not provide" in msg
