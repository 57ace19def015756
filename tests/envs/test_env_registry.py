"""Every world's declaration (envs.registry) says the truth about the world it builds.

The declarations are read from the modules' sources (so importing ``envs`` stays free of JAX);
importing the modules runs the same decorators, and both readings must agree. Declared sizes must
be the built world's sizes, and the Gymnasium ids are exactly the declared ones.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import envs
from envs import registry as R


def test_source_reading_matches_the_decorators():
    static = R._scan()
    for decl in static.values():
        importlib.import_module(decl.module)  # runs the @register_env decorators
    assert set(static) == {"linear_gaussian", "logistic_bernoulli", "bernoulli_arms", "member_simulator", "catalog",
                           "obd_known"}
    for name, decl in static.items():
        assert R._RUNTIME[name] == decl, name
        assert callable(decl.load())


def test_gym_ids_come_from_the_declarations():
    assert envs.GYM_IDS == {d.gym_id: (d.gym_entry, d.gym_vec_entry) for d in R.declarations().values() if d.gym_id}
    assert R.gym_ids()["screentest/LinearGaussian-v0"].name == "linear_gaussian"


@pytest.mark.parametrize("name, kwargs", [
    ("linear_gaussian", dict(num_actions=4, context_dim=3)),
    ("logistic_bernoulli", dict(num_actions=3, context_dim=2)),
    ("bernoulli_arms", dict(num_actions=6)),
])
def test_declared_sizes_are_the_built_sizes(name, kwargs):
    decl = R.declaration(name)
    env = R.build(name, **kwargs)
    assert env.name == name
    assert decl.env_sizes(kwargs) == (env.num_actions, env.context_dim, env.len_list)
    # the CLI presets build a world of the sizes the declaration predicts for them
    preset = {k: v for k, v in decl.cli_defaults.items()}
    env = R.build(name, **preset)
    assert decl.env_sizes(preset) == (env.num_actions, env.context_dim, env.len_list)


def test_sizes_refuse_bad_values_naming_the_key():
    decl = R.declaration("linear_gaussian")
    with pytest.raises(ValueError, match=r"env.num_actions: expected an integer >= 1, got 0"):
        decl.env_sizes({"num_actions": 0, "context_dim": 2})
    with pytest.raises(ValueError, match=r"env.context_dim: expected an integer >= 1, got 2.5"):
        decl.env_sizes({"num_actions": 3, "context_dim": 2.5})
    with pytest.raises(ValueError, match=r"declares no sizes"):
        R.declaration("catalog").env_sizes({})
    with pytest.raises(KeyError, match=r"unknown env 'nope'; registered envs"):
        R.declaration("nope")


def test_member_sizes_from_the_logs_match_the_fitted_simulator():
    """The simulator's sizes are read from the logs without a fit; they equal the fitted env's,
    and the same len_list values are refused."""
    from bandits.datasets.obd import load_obd
    from envs.logged import fit_member_simulator
    from envs.logged.simulator import member_env_sizes

    data = load_obd()
    decl = R.declaration("member_simulator")
    assert decl.fit_on_data and decl.provides == ("item_features",)
    for L, intercept in ((1, True), (3, False)):
        sim = fit_member_simulator(data, len_list=L, add_intercept=intercept, penalties=(300.0, 3000.0),
                                   refit_full=False)
        sizes = decl.env_sizes({"len_list": L, "add_intercept": intercept}, data)
        assert sizes == (sim.env.num_actions, sim.env.context_dim, sim.env.len_list)
    for bad in (2, 81, 0):
        with pytest.raises(ValueError, match=rf"env.len_list: expected 1 or the logs' 3 slots .* got {bad}"):
            member_env_sizes(data, len_list=bad)
    with pytest.raises(ValueError, match=r"env.slot: expected an integer in \[0, 3\), got 3"):
        member_env_sizes(data, len_list=1, slot=3)


def test_register_env_refuses_unknown_fields_and_twins():
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['gym'\]"):
        R.register_env("tmp_world", gym="x")(lambda: None)
    with pytest.raises(ValueError, match=r"sizes: expected keys among"):
        R.register_env("tmp_world", sizes={"actions": 3})(lambda: None)
    with pytest.raises(ValueError, match=r"provides: expected some of \['item_features'\]"):
        R.register_env("tmp_world", provides=("titles",))(lambda: None)
    assert "tmp_world" not in R.declarations()


def test_make_registered_builds_the_declared_world():
    import gymnasium

    env = gymnasium.make("screentest/BernoulliBandit-v0", num_actions=4, episode_length=5)
    assert env.unwrapped.env.name == "bernoulli_arms"
    obs, _ = env.reset(seed=0)
    assert obs["context"].shape == (1,) and env.observation_space["context"].high[0] == 1.0
    assert np.asarray(obs["action_mask"]).sum() == 4
