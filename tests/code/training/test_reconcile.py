"""Forecast reconciliation over the grid hierarchy (gridml.training.demand.reconcile)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from gridml.training.demand.reconcile import (
    bottom_up,
    mint,
    mint_shrink,
    shift_quantiles,
    shrinkage_covariance,
    summing_matrix,
    wls_struct,
)


def make_hierarchy(substations: int, feeders: int, transformers: int) -> pd.DataFrame:
    """zone:all > substations > feeders each > transformers each."""
    rows = [("zone:all", "zone", "")]
    t = 0
    for s in range(substations):
        sid = f"substation:S{s + 1:04d}"
        rows.append((sid, "substation", "zone:all"))
        for f in range(feeders):
            fid = f"feeder:F{s + 1:02d}{f + 1}"
            rows.append((fid, "feeder", sid))
            for _ in range(transformers):
                t += 1
                rows.append((f"transformer:T{t:05d}", "transformer", fid))
    return pd.DataFrame(rows, columns=["series_id", "level", "parent_id"])


TOY = pd.DataFrame(
    [
        ("transformer:T1", "transformer", "feeder:F1"),
        ("zone:all", "zone", ""),
        ("feeder:F2", "feeder", "zone:all"),
        ("transformer:T3", "transformer", "feeder:F2"),
        ("feeder:F1", "feeder", "zone:all"),
        ("transformer:T2", "transformer", "feeder:F1"),
    ],
    columns=["series_id", "level", "parent_id"],
)  # zone:all > F1 > T1, T2 and zone:all > F2 > T3, rows deliberately shuffled


def assert_coherent(frame: pd.DataFrame, hierarchy: pd.DataFrame) -> None:
    """Each parent equals the sum of its children (read off the hierarchy, not S)."""
    for parent, kids in hierarchy[hierarchy["parent_id"] != ""].groupby("parent_id"):
        total = frame[list(kids["series_id"])].sum(axis=1)
        np.testing.assert_allclose(frame[parent], total, rtol=1e-12, atol=1e-9)


def simulate(hierarchy: pd.DataFrame, points: int, noise: dict[str, float], rng):
    """Coherent truth and base forecasts = truth + independent noise with a per-level sd."""
    S, all_ids, bottom_ids = summing_matrix(hierarchy)
    truth = (rng.gamma(4.0, 2.5, size=(points, len(bottom_ids)))) @ S.T
    level = hierarchy.set_index("series_id").loc[all_ids, "level"]
    sd = level.map(noise).to_numpy()
    base = truth + rng.normal(size=truth.shape) * sd
    return (
        pd.DataFrame(truth, columns=all_ids),
        pd.DataFrame(base, columns=all_ids),
    )


def test_summing_matrix_of_a_two_level_tree() -> None:
    S, all_ids, bottom_ids = summing_matrix(TOY)
    assert all_ids == [
        "zone:all",
        "feeder:F1",
        "feeder:F2",
        "transformer:T1",
        "transformer:T2",
        "transformer:T3",
    ]
    assert bottom_ids == all_ids[3:]
    expected = np.array(
        [[1, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float
    )
    np.testing.assert_array_equal(S, expected)


def test_summing_matrix_rejects_bad_hierarchies() -> None:
    bad_parent = TOY.assign(parent_id=TOY["parent_id"].replace("feeder:F2", "feeder:F9"))
    with pytest.raises(ValueError, match="parent"):
        summing_matrix(bad_parent)
    with pytest.raises(ValueError, match="duplicate"):
        summing_matrix(pd.concat([TOY, TOY.iloc[:1]]))
    cycle = pd.DataFrame({"series_id": ["a", "b"], "level": ["x", "x"], "parent_id": ["b", "a"]})
    with pytest.raises(ValueError, match="cycle"):
        summing_matrix(cycle)


def test_bottom_up_sums_the_bottom_and_ignores_aggregates() -> None:
    base = pd.DataFrame(
        {"transformer:T1": [1.0, 2.0], "transformer:T2": [3.0, 4.0], "transformer:T3": [5.0, 6.0]}
        | {"zone:all": [100.0, 100.0]},
        index=pd.Index(["h1", "h2"], name="target_time"),
    )
    out = bottom_up(base, TOY)
    assert out.index.equals(base.index)
    assert list(out["zone:all"]) == [9.0, 12.0]
    assert list(out["feeder:F1"]) == [4.0, 6.0]
    assert list(out["transformer:T3"]) == [5.0, 6.0]
    assert_coherent(out, TOY)


def test_unknown_or_missing_series_raise() -> None:
    with pytest.raises(KeyError, match="lacks"):
        bottom_up(pd.DataFrame({"transformer:T1": [1.0]}), TOY)
    with pytest.raises(KeyError, match="not series"):
        wls_struct(pd.DataFrame({c: [1.0] for c in [*TOY["series_id"], "feeder:F9"]}), TOY)


def test_wls_struct_by_hand() -> None:
    tree = pd.DataFrame(
        {"series_id": ["z", "a", "b"], "level": ["zone", "t", "t"], "parent_id": ["", "z", "z"]}
    )
    # W = diag(2, 1, 1): minimize (10 - a - b)^2 / 2 + (3 - a)^2 + (4 - b)^2.
    out = wls_struct(pd.DataFrame({"z": [10.0], "a": [3.0], "b": [4.0]}), tree)
    np.testing.assert_allclose(out.iloc[0].to_numpy(), [8.5, 3.75, 4.75])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mint_is_coherent_for_any_base(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h = make_hierarchy(2, 3, 4)
    ids = list(h["series_id"])
    base = pd.DataFrame(rng.normal(scale=50.0, size=(20, len(ids))), columns=ids)
    mixing = rng.normal(size=(len(ids), len(ids)))
    residuals = pd.DataFrame(rng.normal(size=(60, len(ids))) @ mixing, columns=ids)
    for out in (
        mint_shrink(base, residuals, h),
        mint_shrink(base, residuals.iloc[:5], h, min_rows=2),  # p > n: shrinkage copes
        wls_struct(base, h),
    ):
        assert_coherent(out, h)


def test_coherent_forecasts_come_back_unchanged() -> None:
    rng = np.random.default_rng(3)
    h = make_hierarchy(2, 2, 3)
    truth, _ = simulate(h, 50, {}, rng)  # only the (coherent) truth is used
    residuals = pd.DataFrame(rng.normal(size=(100, truth.shape[1])), columns=truth.columns)
    for out in (mint_shrink(truth, residuals, h), wls_struct(truth, h), bottom_up(truth, h)):
        np.testing.assert_allclose(out[truth.columns], truth, rtol=1e-10, atol=1e-10)


def test_mint_shrink_beats_bottom_up_on_noisy_base_forecasts() -> None:
    rng = np.random.default_rng(42)
    h = make_hierarchy(2, 2, 3)  # 1 + 2 + 4 + 12 = 19 series
    noise = {"transformer": 1.0, "feeder": 0.7, "substation": 0.5, "zone": 0.4}
    # in-sample errors (history) and a separate test period from the same error process
    hist_truth, hist_base = simulate(h, 300, noise, rng)
    truth, base = simulate(h, 2000, noise, rng)
    residuals = hist_truth - hist_base

    def mse(frame: pd.DataFrame) -> float:
        return float(((frame[truth.columns] - truth) ** 2).to_numpy().mean())

    rec = mint_shrink(base, residuals, h)
    assert rec.attrs["reconciliation"]["method"] == "mint_shrink"
    assert_coherent(rec, h)
    # bottom-up: (12 * 1 + 4 * 3 + 2 * 6 + 12) / 19 = 2.5; base: about 0.77; MinT: about 0.5.
    assert mse(rec) < 0.5 * mse(bottom_up(base, h))
    assert mse(rec) < 0.9 * mse(base)
    assert mse(rec) < mse(wls_struct(base, h))


def test_nan_residuals_pairwise_and_complete() -> None:
    rng = np.random.default_rng(5)
    h = make_hierarchy(1, 2, 3)
    ids = list(h["series_id"])
    _, base = simulate(
        h, 10, dict.fromkeys(["transformer", "feeder", "substation", "zone"], 1.0), rng
    )
    r = rng.normal(size=(200, len(ids)))
    r[rng.random(r.shape) < 0.3] = np.nan  # 30 % masked: hardly a complete row is left
    residuals = pd.DataFrame(r, columns=ids)
    assert (~np.isnan(r).any(axis=1)).sum() < 24

    pairwise = mint_shrink(base, residuals, h)
    assert pairwise.attrs["reconciliation"]["method"] == "mint_shrink"
    assert not pairwise.isna().any().any()
    assert_coherent(pairwise, h)

    complete = mint_shrink(base, residuals, h, nan_policy="complete")
    assert complete.attrs["reconciliation"]["method"] == "wls_struct"
    pd.testing.assert_frame_equal(complete, wls_struct(base, h))


def test_too_few_residuals_fall_back_to_wls_struct(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(6)
    h = make_hierarchy(1, 2, 2)
    ids = list(h["series_id"])
    base = pd.DataFrame(rng.normal(size=(4, len(ids))), columns=ids)
    residuals = pd.DataFrame(rng.normal(size=(5, len(ids))), columns=ids)
    with caplog.at_level(logging.WARNING):
        out = mint_shrink(base, residuals, h)
    assert "falling back to wls_struct" in caplog.text
    assert out.attrs["reconciliation"]["method"] == "wls_struct"
    pd.testing.assert_frame_equal(out, wls_struct(base, h))
    zero = mint_shrink(base, residuals * 0.0, h, min_rows=2)
    assert zero.attrs["reconciliation"]["method"] == "wls_struct"


def test_nan_in_a_base_row_gives_a_nan_row() -> None:
    h = make_hierarchy(1, 1, 2)
    ids = list(h["series_id"])
    base = pd.DataFrame(np.ones((2, len(ids))), columns=ids)
    base.iloc[0, 0] = np.nan
    out = wls_struct(base, h)
    assert out.iloc[0].isna().all() and not out.iloc[1].isna().any()


def hts_shrink_estim(x: np.ndarray) -> np.ndarray:
    """A literal translation of R hts:::shrink.estim (tar = diag of the covariance)."""
    n = x.shape[0]
    covm = x.T @ x / n
    tar = np.diag(np.diag(covm))
    sd = np.sqrt(np.diag(covm))
    corm = covm / np.outer(sd, sd)
    xs = x / sd
    v = (1 / (n * (n - 1))) * ((xs**2).T @ (xs**2) - 1 / n * (xs.T @ xs) ** 2)
    np.fill_diagonal(v, 0.0)
    d = (corm - np.eye(len(sd))) ** 2
    lam = min(max(v.sum() / d.sum(), 0.0), 1.0)
    return lam * tar + (1 - lam) * covm


def test_shrinkage_covariance_matches_hts_on_complete_data() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    W, lam = shrinkage_covariance(x)
    np.testing.assert_allclose(W, hts_shrink_estim(x), rtol=1e-10)
    assert 0.0 <= lam <= 1.0
    W_complete, _ = shrinkage_covariance(x, nan_policy="complete")
    np.testing.assert_allclose(W_complete, W, rtol=1e-12)


def test_shrinkage_intensity_follows_the_evidence() -> None:
    rng = np.random.default_rng(8)
    independent = rng.normal(size=(50, 10))
    _, lam_indep = shrinkage_covariance(independent)
    common = rng.normal(size=(5000, 1))
    correlated = common + 0.3 * rng.normal(size=(5000, 10))
    _, lam_corr = shrinkage_covariance(correlated)
    assert lam_indep > 0.5  # correlations are noise: shrink hard towards the diagonal
    assert lam_corr < 0.01  # strong, well-estimated correlations: keep them


def test_pairwise_covariance_is_positive_definite() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(30, 12)) @ rng.normal(size=(12, 12))
    x[rng.random(x.shape) < 0.4] = np.nan
    W, lam = shrinkage_covariance(x, nan_policy="pairwise")
    assert np.allclose(W, W.T)
    assert np.linalg.eigvalsh(W).min() > 0
    assert 0.0 <= lam <= 1.0


def test_mint_with_given_covariance_equals_wls_struct_for_its_weights() -> None:
    rng = np.random.default_rng(10)
    h = make_hierarchy(1, 2, 2)
    S, all_ids, _ = summing_matrix(h)
    base = pd.DataFrame(rng.normal(size=(3, len(all_ids))), columns=all_ids)
    expected = wls_struct(base, h)
    for W in (S.sum(axis=1), np.diag(S.sum(axis=1))):
        pd.testing.assert_frame_equal(mint(base, h, W), expected, check_exact=False)


def test_shift_quantiles_moves_by_the_point_adjustment() -> None:
    h = make_hierarchy(1, 1, 2)
    ids = list(h["series_id"])
    base = pd.DataFrame([[10.0, 9.0, 9.5, 4.0, 4.0]], columns=ids)
    rec = wls_struct(base, h)
    qs = {0.1: base - 2.0, 0.9: base + 3.0}
    shifted = shift_quantiles(qs, base, rec)
    pd.testing.assert_frame_equal(shifted[0.1], rec - 2.0, check_names=False)
    pd.testing.assert_frame_equal(shifted[0.9], rec + 3.0, check_names=False)
