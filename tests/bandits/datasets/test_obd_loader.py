"""Open Bandit Dataset loader: equality with obp 0.5.7's processed arrays (committed fixture)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from bandits.datasets import load_obd, load_obd_raw
from bandits.datasets.obd import N_ITEMS, SAMPLE_PATH

FIXTURE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "obd_processed_head.npz"
CASES = [(p, c) for p in ("random", "bts") for c in ("all", "men", "women")]


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(FIXTURE))


@pytest.mark.parametrize("policy,campaign", CASES)
def test_matches_obp_processing(ref, policy, campaign):
    d = load_obd(policy, campaign)
    k = f"{policy}/{campaign}"
    assert d.n_rounds == 10_000 and d.n_actions == N_ITEMS[campaign] and d.len_list == 3
    assert d.context.shape == tuple(ref[f"{k}/context_shape"])
    h = 50
    np.testing.assert_array_equal(d.context[:h], ref[f"{k}/context_head"])
    np.testing.assert_array_equal(d.action[:h], ref[f"{k}/action_head"])
    np.testing.assert_array_equal(d.position[:h], ref[f"{k}/position_head"])
    np.testing.assert_array_equal(d.reward[:h], ref[f"{k}/reward_head"])
    np.testing.assert_allclose(d.pscore[:h], ref[f"{k}/pscore_head"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(d.action_context, ref[f"{k}/action_context"], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(d.context.sum(0), ref[f"{k}/context_colsum"])
    assert d.reward.sum() == ref[f"{k}/reward_sum"]
    np.testing.assert_allclose(d.pscore.sum(), ref[f"{k}/pscore_sum"], rtol=1e-12)
    np.testing.assert_array_equal(np.bincount(d.position, minlength=3), ref[f"{k}/position_counts"])


def test_published_click_rates_and_one_hot_structure():
    # figures from the shared README (Saito et al.): on-policy CTR of campaign "all"
    r, b = load_obd("random", "all"), load_obd("bts", "all")
    assert r.reward.mean() == pytest.approx(0.0038, abs=5e-5)
    assert b.reward.mean() == pytest.approx(0.0042, abs=5e-5)
    # uniform logger: every (item, slot) has probability 1/80
    np.testing.assert_allclose(r.pscore, 1 / 80, rtol=1e-12)
    raw, items = load_obd_raw("random", "all")
    # context = one-hot of the 4 user features with the first category dropped: each feature's
    # block has (categories - 1) columns and at most one 1 per row
    ncat = [raw[f"user_feature_{j}"].nunique() for j in range(4)]
    assert r.dim_context == sum(n - 1 for n in ncat)
    start = 0
    for n in ncat:
        assert set(np.unique(r.context[:, start:start + n - 1].sum(1))) <= {0.0, 1.0}
        start += n - 1
    assert np.all(r.timestamp[1:] >= r.timestamp[:-1])
    assert list(items.columns) == ["item_id", "item_feature_0", "item_feature_1", "item_feature_2", "item_feature_3"]
    np.testing.assert_array_equal(r.action_context[:, 3], items["item_feature_0"].to_numpy())


def test_affinity_columns_and_full_dataset_layout(tmp_path):
    d = load_obd("bts", "men", include_affinity=True)
    raw, _ = load_obd_raw("bts", "men")
    aff = raw[[f"user-item_affinity_{j}" for j in range(34)]].to_numpy(float)
    np.testing.assert_array_equal(d.context[:, -34:], aff)
    # a data_path in the full dataset's layout, uncompressed CSV, gives the same arrays
    folder = tmp_path / "obd" / "bts" / "men"
    folder.mkdir(parents=True)
    for stem in ("men", "item_context"):
        with gzip.open(SAMPLE_PATH / "bts" / "men" / f"{stem}.csv.gz", "rb") as src, open(folder / f"{stem}.csv", "wb") as dst:
            shutil.copyfileobj(src, dst)
    e = load_obd("bts", "men", data_path=tmp_path / "obd", include_affinity=True)
    np.testing.assert_array_equal(e.context, d.context)
    np.testing.assert_array_equal(e.pscore, d.pscore)


def test_bad_arguments():
    with pytest.raises(ValueError, match="behavior_policy.*'ucb'"):
        load_obd("ucb")
    with pytest.raises(ValueError, match="campaign.*'kids'"):
        load_obd("random", "kids")
    with pytest.raises(FileNotFoundError, match="data_path"):
        load_obd(data_path="/nonexistent/obd")
