"""LoggedData: validation, readers (DataFrame, parquet, CSV, streamed parquet), obp dict round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bandits.data import LoggedData, iter_parquet_batches

N, K, D, L = 200, 6, 3, 2


def _arrays(seed=0, n=N):
    rng = np.random.default_rng(seed)
    return dict(
        context=rng.normal(size=(n, D)),
        action=rng.integers(0, K, n),
        reward=rng.binomial(1, 0.3, n).astype(float),
        pscore=rng.uniform(0.05, 1.0, n),
        position=rng.integers(0, L, n),
    )


@pytest.fixture(scope="module")
def logged():
    return LoggedData(**_arrays(), action_context=np.arange(K * 2, dtype=float).reshape(K, 2), n_actions=K)


def test_fields_dtypes_and_inferred_sizes():
    a = _arrays()
    d = LoggedData(**a)
    assert d.n_rounds == len(d) == N and d.dim_context == D
    assert d.n_actions == int(a["action"].max()) + 1 and d.len_list == L
    assert d.context.dtype == np.float64 and d.action.dtype == np.int64 and d.reward.dtype == np.float64
    assert d.pscore.dtype == np.float64 and d.position.dtype == np.int64
    np.testing.assert_array_equal(d.action, a["action"])
    # n_actions from action_context rows; len_list 1 without positions; context None -> (n, 0)
    d2 = LoggedData(context=None, action=a["action"], reward=a["reward"], pscore=a["pscore"],
                    action_context=np.zeros((K + 3, 1)))
    assert d2.n_actions == K + 3 and d2.len_list == 1 and d2.context.shape == (N, 0) and d2.position is None


def test_arrays_are_read_only_and_callers_arrays_untouched():
    a = _arrays()
    d = LoggedData(**a)
    with pytest.raises(ValueError):
        d.reward[0] = 5.0
    with pytest.raises(AttributeError):
        d.n_actions = 3  # frozen
    a["reward"][0] = 7.0  # the caller's array stays writable
    # float inputs holding integers are accepted for integer fields
    d3 = LoggedData(**{**_arrays(), "action": _arrays()["action"].astype(float)})
    assert d3.action.dtype == np.int64


@pytest.mark.parametrize(
    "change,exc,words",
    [
        (dict(pscore=np.r_[0.0, np.full(N - 1, 0.5)]), ValueError, ["pscore", "(0, 1]", "0.0", "row 0"]),
        (dict(pscore=np.r_[np.full(N - 1, 0.5), 1.5]), ValueError, ["pscore", "(0, 1]", "1.5", f"row {N - 1}"]),
        (dict(pscore=np.r_[np.nan, np.full(N - 1, 0.5)]), ValueError, ["pscore", "nan"]),
        (dict(reward=np.r_[np.zeros(3), np.nan, np.zeros(N - 4)]), ValueError, ["reward", "finite", "nan", "row 3"]),
        (dict(action=np.r_[np.zeros(N - 1, int), K]), ValueError, ["action", f"n_actions={K}", str(K)]),
        (dict(action=np.r_[-1, np.zeros(N - 1, int)]), ValueError, ["action", "-1"]),
        (dict(action=np.r_[0.5, np.zeros(N - 1)]), ValueError, ["action", "integer", "0.5"]),
        (dict(reward=np.zeros(N - 1)), ValueError, ["reward", f"({N},)", f"({N - 1},)"]),
        (dict(pscore=np.full((N, 1), 0.5)), ValueError, ["pscore", f"({N},)", f"({N}, 1)"]),
        (dict(context=np.zeros(N)), ValueError, ["context", "2-d", f"({N},)", "reshape"]),
        (dict(context=np.zeros((N - 2, D))), ValueError, ["context", f"{N} rows", f"({N - 2}, {D})"]),
        (dict(position=np.r_[np.zeros(N - 1, int), 5], len_list=L), ValueError, ["position", f"len_list={L}", "5"]),
        (dict(position=np.r_[-1, np.zeros(N - 1, int)]), ValueError, ["position", ">= 0", "-1"]),
        (dict(action_context=np.zeros((K - 1, 2))), ValueError, ["action_context", f"{K} rows", f"({K - 1}, 2)"]),
        (dict(n_actions=0), ValueError, ["n_actions", ">= 1", "0"]),
        (dict(action=np.array([], int), reward=[], pscore=[], context=np.zeros((0, D)), position=None),
         ValueError, ["action", "empty"]),
        (dict(reward=np.array(["a"] * N)), TypeError, ["reward", "numeric"]),
    ],
)
def test_bad_input_names_argument_expected_and_received(change, exc, words):
    kw = {**_arrays(), "n_actions": K, **change}
    with pytest.raises(exc) as e:
        LoggedData(**kw)
    msg = str(e.value)
    for w in words:
        assert w in msg, (w, msg)


def test_subset_and_split(logged):
    idx = np.array([5, 1, 7])
    s = logged.subset(idx)
    np.testing.assert_array_equal(s.action, logged.action[idx])
    np.testing.assert_array_equal(s.context, logged.context[idx])
    assert s.n_actions == K and s.len_list == L and np.shares_memory(s.action_context, logged.action_context)
    m = logged.reward > 0
    assert logged.subset(m).n_rounds == int(m.sum())
    with pytest.raises(ValueError, match="idx"):
        logged.subset(np.ones(3, bool))
    with pytest.raises(IndexError, match="idx"):
        logged.subset(np.array([N]))
    a, b = logged.split(0.7, seed=1)
    assert a.n_rounds == 140 and b.n_rounds == 60
    # a partition: every row exactly once (rows are distinct by their context)
    rows = np.concatenate([a.context[:, 0], b.context[:, 0]])
    np.testing.assert_array_equal(np.sort(rows), np.sort(logged.context[:, 0]))
    t1, t2 = logged.split(0.5, seed=None)  # time-series split keeps order
    np.testing.assert_array_equal(t1.action, logged.action[:100])
    np.testing.assert_array_equal(t2.action, logged.action[100:])
    with pytest.raises(ValueError, match="frac"):
        logged.split(1.0)


def test_obp_dict_round_trip(logged):
    bf = logged.to_obp()
    assert set(bf) == {"n_rounds", "n_actions", "action", "position", "reward", "pscore", "context", "action_context"}
    assert bf["n_rounds"] == N and bf["n_actions"] == K
    bf["reward"][0] = 0.0  # fresh writable copies
    back = LoggedData.from_obp(logged.to_obp())
    for k in ("context", "action", "reward", "pscore", "position", "action_context"):
        np.testing.assert_array_equal(getattr(back, k), getattr(logged, k))
    assert back.n_actions == K and back.len_list == L
    # obp's synthetic feedback: position None, extra keys ignored
    syn = dict(n_rounds=N, n_actions=K, context=logged.context, action=logged.action, position=None,
               reward=logged.reward, expected_reward=np.zeros((N, K)), pi_b=np.ones((N, K, 1)) / K,
               pscore=logged.pscore, action_context=None)
    d = LoggedData.from_obp(syn)
    assert d.position is None and d.len_list == 1
    with pytest.raises(ValueError, match="n_rounds"):
        LoggedData.from_obp({**syn, "n_rounds": N + 1})
    with pytest.raises(KeyError, match="pscore"):
        LoggedData.from_obp({k: v for k, v in syn.items() if k != "pscore"})


def test_dataframe_round_trip_and_column_errors(logged):
    df = logged.to_dataframe()
    assert list(df.columns) == ["context_0", "context_1", "context_2", "action", "reward", "pscore", "position"]
    back = LoggedData.from_dataframe(df, position_col="position", n_actions=K)
    np.testing.assert_array_equal(back.context, logged.context)
    np.testing.assert_array_equal(back.position, logged.position)
    # explicit context columns, custom names, 1-based positions
    df2 = df.rename(columns={"action": "item", "reward": "click", "pscore": "p"}).assign(slot=df.position + 1)
    d2 = LoggedData.from_dataframe(df2, context_cols=["context_2", "context_0"], action_col="item",
                                   reward_col="click", pscore_col="p", position_col="slot", position_base=1)
    np.testing.assert_array_equal(d2.context, logged.context[:, [2, 0]])
    np.testing.assert_array_equal(d2.position, logged.position)
    with pytest.raises(KeyError, match="action_col.*'action'"):
        LoggedData.from_dataframe(df2)
    with pytest.raises(KeyError, match="context_cols.*nope"):
        LoggedData.from_dataframe(df, context_cols=["nope"])
    with pytest.raises(TypeError, match="context_cols.*'context_9'.*one-hot"):
        LoggedData.from_dataframe(df.assign(context_9="x"))
    with pytest.raises(TypeError, match="df"):
        LoggedData.from_dataframe(logged.to_obp())


def test_parquet_csv_and_streamed_batches(tmp_path, logged):
    df = logged.to_dataframe()
    df.to_parquet(tmp_path / "log.parquet", row_group_size=64)
    df.to_csv(tmp_path / "log.csv", index=False)
    df.to_csv(tmp_path / "log.csv.gz", index=False)
    for d in (
        LoggedData.from_parquet(tmp_path / "log.parquet", position_col="position", n_actions=K),
        LoggedData.from_csv(tmp_path / "log.csv", position_col="position", n_actions=K),
        LoggedData.from_csv(tmp_path / "log.csv.gz", position_col="position", n_actions=K),
    ):
        np.testing.assert_array_equal(d.action, logged.action)
        np.testing.assert_allclose(d.context, logged.context, rtol=1e-15, atol=0)
        np.testing.assert_array_equal(d.position, logged.position)
        assert d.n_actions == K
    chunks = list(iter_parquet_batches(tmp_path / "log.parquet", batch_rows=70, position_col="position"))
    assert [c.n_rounds for c in chunks] == [70, 70, 60]
    # n_actions / len_list read from the file's statistics, identical for every chunk
    assert {c.n_actions for c in chunks} == {int(logged.action.max()) + 1} and {c.len_list for c in chunks} == {L}
    np.testing.assert_array_equal(np.concatenate([c.reward for c in chunks]), logged.reward)
    with pytest.raises(FileNotFoundError, match="path"):
        LoggedData.from_parquet(tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="batch_rows"):
        next(iter_parquet_batches(tmp_path / "log.parquet", batch_rows=0))


def test_pandas_nullable_and_timestamp_columns():
    a = _arrays(n=10)
    ts = pd.date_range("2024-01-01", periods=10, freq="h")
    df = pd.DataFrame({"context_0": a["context"][:, 0], "action": pd.array(a["action"], dtype="Int64"),
                       "reward": a["reward"], "pscore": a["pscore"], "t": ts})
    d = LoggedData.from_dataframe(df, timestamp_col="t")
    assert d.timestamp.shape == (10,) and d.context.shape == (10, 1)
    assert d.to_dataframe()["timestamp"].iloc[3] == ts[3]


def test_one_column_map_for_every_reader(tmp_path, logged):
    from bandits.data import ColumnMap

    df = logged.to_dataframe().rename(columns={"action": "item", "reward": "click", "pscore": "p"})
    df = df.assign(slot=df.position + 1)
    cols = ColumnMap(context_cols=["context_2", "context_0"], action_col="item", reward_col="click",
                     pscore_col="p", position_col="slot", position_base=1)
    df.to_parquet(tmp_path / "log.parquet", row_group_size=64)
    chunks = list(iter_parquet_batches(tmp_path / "log.parquet", 70, cols))
    streamed = {f: np.concatenate([getattr(c, f) for c in chunks]) for f in ("context", "action", "position")}
    for d in (LoggedData.from_dataframe(df, cols), LoggedData.from_parquet(tmp_path / "log.parquet", cols), None):
        got = streamed if d is None else {f: getattr(d, f) for f in ("context", "action", "position")}
        np.testing.assert_array_equal(got["context"], logged.context[:, [2, 0]])
        np.testing.assert_array_equal(got["action"], logged.action)
        np.testing.assert_array_equal(got["position"], logged.position)
    # keywords override the map's fields; unknown ones are refused with the field names
    d = LoggedData.from_dataframe(df, cols, context_cols=["context_1"])
    np.testing.assert_array_equal(d.context, logged.context[:, [1]])
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['action_column'\]; column fields are"):
        LoggedData.from_dataframe(df, cols, action_column="item")
    with pytest.raises(TypeError, match="context_cols: expected a list of column names, got the string 'context_0'"):
        ColumnMap(context_cols="context_0")
    with pytest.raises(TypeError, match="columns: expected a bandits.data.ColumnMap"):
        LoggedData.from_dataframe(df, ["context_0"])


def test_coerce_reads_obp_dicts_and_refuses_other_types(logged):
    assert LoggedData.coerce(logged) is logged
    back = LoggedData.coerce({**logged.to_obp(), "len_list": L + 1})
    assert back.len_list == L + 1 and back.n_actions == K
    with pytest.raises(TypeError, match=r"data: expected a bandits.data.LoggedData \(or obp's bandit_feedback dict\)"):
        LoggedData.coerce([1, 2, 3])
