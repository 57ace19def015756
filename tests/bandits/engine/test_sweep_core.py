"""sweep: tidy rows, determinism (alone vs a batch of 1,000, run to run), chunking, bounded memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bandits.engine import sweep as SW
from bandits.engine.rollout import rollout
from bandits.policies import make
from envs import synthetic as S

K, D = 4, 3
T = 40  # short horizon: these tests are about structure, not learning
CHUNK = 250


@pytest.fixture(scope="module")
def env():
    return S.linear_gaussian(K, D, noise_sd=0.2, seed=3)


@pytest.fixture(scope="module")
def pol():
    return make("linucb", num_actions=K, context_dim=D)


@pytest.fixture(scope="module")
def batch(env, pol):
    """1,000 seeds in 4 chunks of 250 (one compile, reused by the tests below)."""
    return SW.sweep(env, {"lin": pol}, 1000, horizon=T, checkpoints=[10, 20], chunk_size=CHUNK)


def _rows(df, seeds):
    return df.set_index("seed").loc[list(seeds)]


def test_columns_rows_and_checkpoints(batch):
    assert list(batch.columns) == ["policy", "alpha", "lam", "seed", "cum_reward", "cum_regret",
                                   "regret@10", "regret@20", "horizon", "env"]
    assert len(batch) == 1000 and batch["seed"].tolist() == list(range(1000))
    assert (batch["policy"] == "lin").all() and (batch["alpha"] == 1.0).all()
    assert batch["seed"].dtype == np.int64 and batch["cum_regret"].dtype == np.float64
    assert (batch["regret@10"] <= batch["regret@20"] + 1e-6).all()
    assert (batch["regret@20"] <= batch["cum_regret"] + 1e-6).all()
    assert (batch["cum_regret"] >= 0).all()


def test_a_seed_alone_is_bit_identical_to_the_seed_inside_a_batch_of_1000(env, pol, batch):
    for s in (0, 417, 999):
        alone = SW.sweep(env, {"lin": pol}, [s], horizon=T, checkpoints=[10, 20], chunk_size=CHUNK)
        cols = ["cum_reward", "cum_regret", "regret@10", "regret@20"]
        np.testing.assert_array_equal(alone[cols].to_numpy(), _rows(batch, [s])[cols].to_numpy())


def test_run_to_run_identical_after_recompiling(env, pol, batch):
    SW._CHUNK_CACHE.clear()
    SW._EXEC_CACHE.clear()
    again = SW.sweep(env, {"lin": pol}, 1000, horizon=T, checkpoints=[10, 20], chunk_size=CHUNK)
    pd.testing.assert_frame_equal(again, batch)


def test_chunking_gives_identical_rows_to_one_chunk(env, pol, batch):
    one = SW.sweep(env, {"lin": pol}, 1000, horizon=T, checkpoints=[10, 20], chunk_size=1000)
    pd.testing.assert_frame_equal(one, batch)


def test_block_of_precomputed_rounds_does_not_change_rows(env, pol, batch):
    # T = 40: block 16 (two blocks and a partial one) vs the default (one whole block and a partial
    # one); block 1 may round one multiply-add differently (tests/bandits/engine/test_rollout_core.py)
    for block in (16,):
        other = SW.sweep(env, {"lin": pol}, list(range(64)), horizon=T, checkpoints=[10, 20],
                         chunk_size=CHUNK, block=block)
        pd.testing.assert_frame_equal(other, batch.iloc[:64].reset_index(drop=True))


def test_sweep_agrees_with_rollout(env, pol, batch):
    # rollout is the same round body without the in-scan reduction (float sums in another order)
    for s in (3, 500):
        tr = rollout(env, pol, s, horizon=T)
        row = _rows(batch, [s]).iloc[0]
        assert row["cum_regret"] == pytest.approx(float(np.sum(np.asarray(tr.regret, np.float64))), rel=1e-5,
                                                  abs=1e-5)
        assert row["regret@10"] == pytest.approx(float(np.sum(np.asarray(tr.regret[:10], np.float64))),
                                                 rel=1e-5, abs=1e-5)


def test_grid_expands_to_one_row_per_policy_hparams_seed(env, pol):
    rnd = make("random", num_actions=K, context_dim=D)
    calls = []
    df = SW.sweep(env, {"lin": pol, "rnd": rnd}, [5, 6, 7], grid={"lin": {"alpha": [0.0, 0.5], "lam": [1.0, 2.0]}},
                  horizon=T, checkpoints=None, chunk_size=8, progress=lambda r, s: calls.append((r, s)))
    assert len(df) == (4 + 1) * 3
    lin = df[df.policy == "lin"]
    assert sorted({(a, lam) for a, lam in zip(lin.alpha, lin.lam, strict=True)}) == [
        (0.0, 1.0), (0.0, 2.0), (0.5, 1.0), (0.5, 2.0)]
    assert df[df.policy == "rnd"]["alpha"].isna().all()
    # grid points of one policy meet the same members (CRN): the random policy's rows are the same
    # as in a sweep of the random policy alone
    alone = SW.sweep(env, [rnd], [5, 6, 7], horizon=T, checkpoints=None, chunk_size=8)
    np.testing.assert_array_equal(df[df.policy == "rnd"]["cum_regret"], alone["cum_regret"])
    assert sum(r for r, _ in calls) == SW.count_rounds({"lin": pol, "rnd": rnd}, [5, 6, 7],
                                                       {"lin": {"alpha": [0.0, 0.5], "lam": [1.0, 2.0]}}, T)
    assert all(s >= 0 for _, s in calls)
    assert df.attrs["compile_s"] >= 0


def test_random_world_per_seed(env):
    rnd = make("random", num_actions=K, context_dim=D)
    fn = lambda k: S.sample_params(env, k)  # noqa: E731
    df = SW.sweep(env, [rnd], [1, 2], horizon=T, env_params=fn, checkpoints=None, chunk_size=2)
    for s in (1, 2):
        tr = rollout(env, rnd, s, env_params=fn, horizon=T)
        assert _rows(df, [s]).iloc[0]["cum_regret"] == pytest.approx(float(tr.regret.sum()), rel=1e-5)


def test_memory_does_not_grow_with_horizon_or_seeds(env):
    """The compiled chunk's buffers depend on the chunk size (and the block of rounds whose inputs are
    made at once) only: nothing per round is stored."""
    from jax.sharding import NamedSharding, PartitionSpec

    from bandits.engine.rollout import DEFAULT_BLOCK

    pol = make("random", num_actions=K, context_dim=D)
    sizes = {}
    short, long = 2 * DEFAULT_BLOCK, 400 * DEFAULT_BLOCK  # whole blocks (a leftover block adds its own)
    for horizon in (short, long):
        jf, mesh = SW._compiled_chunk(env, pol, horizon, (horizon,), 16, SW.jax.local_devices(), 1,
                                      "threefry_fused", None)
        sh = NamedSharding(mesh, PartitionSpec(SW.AXIS))
        hp = SW._stack_hparams([pol.default_hparams] * 16)
        env_arg = SW.jax.device_put(env.default_params, NamedSharding(mesh, PartitionSpec()))
        exe, _ = SW._executable(jf, 16 * len(SW.jax.local_devices()), hp, env_arg, sh)
        m = exe.memory_analysis()
        sizes[horizon] = (m.temp_size_in_bytes, m.output_size_in_bytes)
    assert sizes[short] == sizes[long]
    # outputs: cum_reward, cum_regret and one checkpoint per member, float32, and the NaN-state flag
    n_out = 16 * len(SW.jax.local_devices()) * (3 * 4 + 1)
    assert n_out <= sizes[short][1] <= n_out + 64  # (+ the output tuple's pointer table)
    # per-member state plus one block of round inputs (keys, noise, contexts: about 25-30 words per
    # round) times the chunk: far below the 16 x 400 blocks x 4 bytes of one per-round float array
    assert sizes[short][0] < 16 * (DEFAULT_BLOCK * 32 + 1024) * 4 < 16 * long * 4 / 4


def test_log_checkpoints():
    assert SW.log_checkpoints(10_000) == [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    assert SW.log_checkpoints(300) == [10, 20, 50, 100, 200, 300]
    assert SW.log_checkpoints(5) == [5]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(seeds=[1, 1]), ValueError, "seeds: expected distinct seeds"),
        (dict(seeds=[-1]), ValueError, r"seeds: expected integers in \[0, 2\*\*32\)"),
        (dict(seeds=[]), ValueError, "seeds: expected a non-empty 1-D sequence"),
        (dict(seeds=0), ValueError, "seeds: expected a count >= 1"),
        (dict(grid={"nope": {}}), ValueError, r"grid: keys \['nope'\] are not policy labels"),
        (dict(grid={"lin": {"beta": [1.0]}}), TypeError, "unknown hyperparameter"),
        (dict(grid={"lin": {"alpha": [1.0, -2.0]}}), ValueError, "hparams.alpha"),
        (dict(grid={"lin": {"alpha": []}}), ValueError, "expected at least one value"),
        (dict(checkpoints=[0, 5]), ValueError, r"checkpoints: expected round counts in \[1, horizon=40\]"),
        (dict(checkpoints="linear"), ValueError, "checkpoints: expected 'log'"),
        (dict(chunk_size=0), ValueError, "chunk_size: expected an integer >= 1"),
        (dict(horizon=0), ValueError, "horizon: expected an integer >= 1"),
        (dict(policies=[]), ValueError, "policies: expected at least one policy"),
        (dict(policies="linucb"), TypeError, "policies: expected a Policy"),
        (dict(progress=3), TypeError, "progress: expected a callable"),
    ],
)
def test_bad_input_raises_clear_errors(env, pol, kwargs, exc, match):
    args = dict(policies={"lin": pol}, seeds=[1], horizon=T, chunk_size=4)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        SW.sweep(env, args.pop("policies"), args.pop("seeds"), **args)


def test_compile_time_is_reported_once_per_configuration(env):
    # a fresh policy object compiles (wall and CPU time > 0); the same objects again hit the cache
    rnd = make("random", num_actions=K, context_dim=D)
    first = SW.sweep(env, [rnd], [0, 1], horizon=8, checkpoints=None, chunk_size=2)
    again = SW.sweep(env, [rnd], [0, 1], horizon=8, checkpoints=None, chunk_size=2)
    assert first.attrs["compile_s"] > 0 and first.attrs["compile_cpu_s"] > 0
    assert again.attrs["compile_s"] == 0.0 and again.attrs["compile_cpu_s"] == 0.0
    pd.testing.assert_frame_equal(first, again, check_like=False)


def _diverging(pol):
    """LinUCB whose update writes a NaN into its state when ``alpha > 5`` (a stand-in for a policy
    that diverges at some hyperparameters); otherwise exactly LinUCB (it adds 0 to theta)."""

    def update(state, context, action, reward, hparams):
        state = pol.update(state, context, action, reward, hparams)
        return state._replace(theta=state.theta + SW.jnp.where(hparams.alpha > 5, SW.jnp.nan, 0.0))

    return pol._replace(update=update)


def test_a_member_whose_state_becomes_nan_reports_nan_and_a_warning(env, pol, batch):
    with pytest.warns(RuntimeWarning) as caught:
        df = SW.sweep(env, {"lin": _diverging(pol)}, [0, 417, 999], grid={"lin": {"alpha": [1.0, 10.0]}},
                      horizon=T, checkpoints=[10, 20], chunk_size=CHUNK)
    msgs = [str(w.message) for w in caught if "became NaN" in str(w.message)]
    assert len(msgs) == 1
    assert "policy 'lin'" in msgs[0] and "3 of 6 members" in msgs[0] and "alpha=10" in msgs[0]
    assert "alpha=1," not in msgs[0]
    cols = ["cum_reward", "cum_regret", "regret@10", "regret@20"]
    bad, good = df[df["alpha"] == 10.0], df[df["alpha"] == 1.0]
    assert bad[cols].isna().all().all()
    # the members that did not diverge are untouched: bit for bit the plain LinUCB sweep
    np.testing.assert_array_equal(good[cols].to_numpy(), _rows(batch, [0, 417, 999])[cols].to_numpy())


def test_no_divergence_warning_when_every_state_stays_finite(env, pol):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        df = SW.sweep(env, {"lin": _diverging(pol)}, 3, horizon=T, checkpoints=[10, 20], chunk_size=CHUNK)
    assert np.isfinite(df[["cum_reward", "cum_regret"]].to_numpy()).all()
