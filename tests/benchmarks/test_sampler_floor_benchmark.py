"""The sampler-floor benchmark runs end to end on tiny sizes and prints every field docs/policies.md
quotes (a smoke test of the script, not a timing: speed is never asserted in tests)."""

from __future__ import annotations

import math

import pytest

from tests.benchmarks._run import run_json

VARIANTS = ("bits_4w", "bits_2w", "words_4w", "old_sampler", "new_sampler", "mt_sampler", "cheng_pass", "words4_sampler",
            "bts_select_old", "bts_select", "bts_select_words4", "bts_select_mt")


@pytest.mark.slow
def test_sampler_floor_prints_one_json_line_with_every_variant_and_ratio():
    (out,) = run_json(["-m", "benchmarks.sampler_floor", "--members", "6", "--arms", "5", "--repeat", "2"])
    assert (out["members"], out["arms"], out["repeat"]) == (6, 5, 2)
    us = out["us_per_member_round"]
    assert set(us) == set(VARIANTS)
    for name in VARIANTS:
        assert us[name]["best"] <= us[name]["median"], name
        for stat in ("best", "median", "cpu_best"):
            assert math.isfinite(us[name][stat]) and us[name][stat] > 0, (name, stat)
    for key, (num, den) in {"ratio_new_vs_old": ("new_sampler", "old_sampler"),
                            "ratio_select_new_vs_old": ("bts_select", "bts_select_old"),
                            "ratio_words4_vs_old": ("words4_sampler", "old_sampler"),
                            "ratio_select_words4_vs_old": ("bts_select_words4", "bts_select_old"),
                            "ratio_bits_4w_vs_new": ("bits_4w", "new_sampler"),
                            "ratio_new_vs_mt": ("new_sampler", "mt_sampler"),
                            "ratio_select_new_vs_mt": ("bts_select", "bts_select_mt"),
                            "ratio_cheng_pass_vs_mt": ("cheng_pass", "mt_sampler")}.items():
        for stat in ("best", "median", "cpu_best"):
            assert out[key][stat] == pytest.approx(us[num][stat] / us[den][stat]), (key, stat)


def test_sampler_floor_refuses_a_non_positive_size(capsys):
    from benchmarks.sampler_floor import parse_args

    with pytest.raises(SystemExit) as exc:
        parse_args(["--members", "0"])
    assert exc.value.code == 2 and "--members: expected a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        parse_args(["--alpha-min", "0"])
    assert exc.value.code == 2 and "--alpha-min: expected a value in (0, 20), got 0.0" in capsys.readouterr().err
