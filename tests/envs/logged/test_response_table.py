"""The response model's loss on the (context, item, slot) table equals the loss over rows.

Reference: the per-row loss and gradient (``_Design._rows_loss``), float64, on logs whose contexts
repeat (as one-hot member features do), and the fitted model from rows vs from the table.
"""

from __future__ import annotations

import numpy as np

from envs.logged.response import _Design, fit_response_model, item_design


def _logs(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    ctx_pool = (rng.random((12, 4)) < 0.5).astype(float)
    X = ctx_pool[rng.integers(0, 12, n)]
    K, L = 6, 2
    a = rng.integers(0, K, n)
    pos = rng.integers(0, L, n)
    z = -2.0 + 0.5 * np.sin(a) - 0.3 * pos + X @ rng.normal(size=4) * 0.4
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    ac = np.c_[rng.normal(size=K), rng.integers(0, 3, K)]
    return X, a, pos, y, ac, K, L


def test_table_loss_equals_row_loss():
    X, a, pos, y, ac, K, L = _logs()
    D = _Design(X, a, pos, item_design(ac, K), K, L)
    assert D.cell is not None  # 12 contexts x 6 items x 2 slots = 144 cells <= 4 per row
    rng = np.random.default_rng(1)
    idx = np.sort(rng.choice(X.shape[0], 4000, replace=False))
    w = rng.uniform(0.5, 2.0, X.shape[0])
    n_eff = w[idx].sum()
    rows = D._rows_loss(idx, y[idx], w[idx], n_eff)
    table = D._table_loss(idx, y[idx], w[idx], n_eff)
    for _ in range(3):
        theta = rng.normal(size=D.size) * 0.3
        f_r, g_r = rows(theta)
        f_t, g_t = table(theta)
        assert abs(f_r - f_t) < 1e-12 * max(1.0, abs(f_r))
        np.testing.assert_allclose(g_t, g_r, rtol=1e-10, atol=1e-13)


def test_fit_from_the_table_matches_the_fit_from_rows(monkeypatch):
    X, a, pos, y, ac, K, L = _logs(seed=2)
    kw = dict(penalties=(3.0, 30.0), seed=0)
    m_table, _ = fit_response_model(X, a, y, pos, None, K, L, ac, assume_uniform=True, **kw)
    init = _Design.__init__

    def rows_only(self, *args):
        init(self, *args)
        self.cell = None

    monkeypatch.setattr(_Design, "__init__", rows_only)
    m_rows, _ = fit_response_model(X, a, y, pos, None, K, L, ac, assume_uniform=True, **kw)
    np.testing.assert_allclose(m_table.item_bias, m_rows.item_bias, atol=1e-6)
    np.testing.assert_allclose(m_table.member_weights, m_rows.member_weights, atol=1e-6)
    np.testing.assert_allclose(m_table.position_effect, m_rows.position_effect, atol=1e-6)
