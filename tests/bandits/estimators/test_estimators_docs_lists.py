"""README's concept map and docs/architecture.md name every registered estimator, and nothing else.

The lists are the backticked, comma-separated spans of README's off-policy evaluation row and of
the paragraph on policies and estimators in docs/architecture.md; the learner objectives and
the selection functions they name are checked against the code too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bandits.estimators import estimator_names, selection
from bandits.learners.opl import OBJECTIVES

ROOT = Path(__file__).resolve().parents[3]


def _readme_row() -> str:
    rows = [ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith("| Off-policy evaluation")]
    assert len(rows) == 1, f"expected one off-policy evaluation row in README's concept map, found {len(rows)}"
    return rows[0]


def _architecture_paragraph() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    paras = [p for p in text.split("\n\n") if p.startswith("**Policies and estimators**")]
    assert len(paras) == 1, f"expected one 'Policies and estimators' paragraph, found {len(paras)}"
    return paras[0]


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text.replace("\n", " "))


def _estimator_names(text: str) -> list[str]:
    """Names in the backticked comma-separated lists of lower-case names (``dm, ipw, ...``; not
    shapes such as ``(n, K, L)``), except the list of the learners' objectives (``ipw, snipw, dr``)."""
    lists = [[x.strip() for x in s.split(",")] for s in _spans(text) if "," in s and s != ", ".join(OBJECTIVES)]
    return [x for items in lists if all(re.fullmatch(r"[a-z][a-z0-9_-]*", x) for x in items) for x in items]


@pytest.mark.parametrize("where", ["README.md", "docs/architecture.md"])
def test_estimator_lists_match_the_registry(where: str) -> None:
    text = _readme_row() if where == "README.md" else _architecture_paragraph()
    names = _estimator_names(text)
    assert len(names) == len(set(names)), f"{where}: an estimator is listed twice: {sorted(names)}"
    registered = set(estimator_names())
    assert set(names) - registered == set(), f"{where} lists unregistered estimators"
    assert registered - set(names) == set(), f"{where} misses registered estimators"


@pytest.mark.parametrize("where", ["README.md", "docs/architecture.md"])
def test_learners_and_selection_are_listed(where: str) -> None:
    text = _readme_row() if where == "README.md" else _architecture_paragraph()
    spans = _spans(text)
    assert ", ".join(OBJECTIVES) in spans, f"{where}: the learner objectives {OBJECTIVES} are not listed"
    for fn in ("slope", "recommend_estimator"):
        assert fn in selection.__all__ and fn in spans, f"{where}: selection function {fn!r} is not named"
    assert "train_policy" in spans, f"{where}: the learners' entry point train_policy is not named"
