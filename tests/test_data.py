"""_data and _average alone: moments, the whitening map, the split, the sigma rules,
lazy rows, and the weight average, on small arrays and modules."""

import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KernelDensity

from skdde._average import Average
from skdde._data import (
    MOMENT_CHUNK,
    Batches,
    Mapped,
    Rows,
    data_scale,
    mean_and_root,
    moments,
    resolve_sigma,
    split_rows,
    whitening_map,
)


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    return rng.normal(size=(500, 3)) @ np.array([[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0, 0, 3.0]])


def test_moments_are_numpys_weighted_ones_also_over_chunks(X):
    w = np.random.default_rng(1).uniform(0, 2, len(X))
    mean, cov = moments(X, w)
    np.testing.assert_allclose(mean, np.average(X, axis=0, weights=w), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(X.T, aweights=w, bias=True), rtol=1e-10)
    long = np.repeat(X[:3], MOMENT_CHUNK, axis=0)  # more rows than one chunk
    np.testing.assert_allclose(moments(long, np.ones(len(long)))[1], np.cov(long.T, bias=True),
                               rtol=1e-8, atol=1e-12)


def test_a_constant_feature_centres_to_zero_however_large():
    X = np.c_[np.full(10, 1e15), np.arange(10.0)]
    mean, cov = moments(X, np.ones(10))
    assert mean[0] == 1e15 and cov[0, 0] == 0.0


def test_overflowing_covariance_is_a_clear_error_and_nothing_else(recwarn):
    with pytest.raises(ValueError, match="too large"):
        moments(np.array([[1e200], [-1e200]]), np.ones(2))
    assert not recwarn.list


def test_whitening_map_gives_identity_covariance_and_its_log_det(X):
    w = np.ones(len(X))
    shift, A, A_inv, log_det = whitening_map(X, w)
    Z = Mapped(X, shift, A)[:]
    np.testing.assert_allclose(np.cov(Z.T, bias=True), np.eye(3), atol=1e-5)
    np.testing.assert_allclose(A @ A_inv, np.eye(3), atol=1e-10)
    assert math.isclose(log_det, np.linalg.slogdet(A)[1], rel_tol=1e-10)
    # rescaling a feature leaves the whitened rows unchanged
    scaled = X * np.array([1.0, 1e4, 1.0])
    shift2, A2, _, _ = whitening_map(scaled, w)
    np.testing.assert_allclose(Mapped(scaled, shift2, A2)[:], Z, atol=1e-6)


def test_mean_and_root_squares_to_the_covariance_and_floors_a_flat_direction(X):
    mean, root = mean_and_root(X)
    np.testing.assert_allclose(mean, X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(root, root.T, atol=1e-12)
    np.testing.assert_allclose(root @ root, np.cov(X.T, bias=True), rtol=1e-10)
    flat = np.c_[X[:, :2], np.full(len(X), 7.0)]  # a constant feature: a zero variance
    _, root = mean_and_root(flat)
    evals = np.linalg.eigvalsh(root @ root)
    assert evals.min() > 0 and evals.min() == pytest.approx(1e-6 * evals.max(), rel=1e-6)


def test_rows_and_batches_read_only_the_indexed_rows(X):
    index = np.array([4, 1, 7, 2])
    rows = Rows(X, index)
    assert len(rows) == 4 and rows.shape == (4, 3)
    np.testing.assert_array_equal(rows[[0, 2]], X[[4, 7]])
    mean = X.mean(0)
    batch = Batches(rows, mean, "cpu", scale=2.0)[torch.tensor([1, 3])]
    assert batch.dtype == torch.float32
    np.testing.assert_allclose(batch.numpy(), (X[[1, 2]] - mean) / 2.0, rtol=1e-6)


def test_scott_and_silverman_equal_kernel_densitys_rules_on_standardized_data(X):
    Z = (X - X.mean(0)) / X.std(0)
    w = np.ones(len(Z))
    assert math.isclose(data_scale(Z, w), 1.0, rel_tol=1e-10)
    for rule in ("scott", "silverman"):
        kde = KernelDensity(bandwidth=rule).fit(Z)
        assert math.isclose(resolve_sigma(rule, Z, w, 0.01), kde.bandwidth_, rel_tol=1e-10)
    assert resolve_sigma("auto", 3 * Z, w, 0.01) == pytest.approx(0.03)
    assert resolve_sigma(0.2, Z, w, 0.01) == 0.2
    with pytest.raises(ValueError, match="constant"):
        resolve_sigma("scott", np.ones((5, 2)), np.ones(5), 0.01)


def test_split_drops_zero_weighted_rows_and_holds_out_the_fraction():
    rng = np.random.RandomState(0)
    w = np.ones(100)
    w[::10] = 0
    train, val = split_rows(w, 0.2, True, rng)
    assert not set(train) & set(val)
    assert (w[train] > 0).all() and (w[val] > 0).all()
    assert len(train) + len(val) == 90 and 12 <= len(val) <= 20
    train, val = split_rows(np.ones(10), 0.2, False, rng)
    assert len(train) == 10 and len(val) == 0
    with pytest.raises(ValueError, match="too few"):
        split_rows(np.ones(2), 0.5, True, rng)
    with pytest.raises(ValueError, match="sums to zero"):
        split_rows(np.zeros(10), 0.1, False, rng)


def test_average_warms_up_swaps_back_and_restores():
    module = torch.nn.Linear(2, 1)
    start = [p.detach().clone() for p in module.parameters()]
    average = Average(module, decay=0.9)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    average.update()  # t = 1: weight 1 - 2/11 on the new weights
    for s, p0 in zip(average.shadow, start):
        torch.testing.assert_close(s, p0 + 9 / 11)
    saved = average.state()
    average.swap()
    for p, p0 in zip(module.parameters(), start):
        torch.testing.assert_close(p.detach(), p0 + 9 / 11)
    average.swap()
    for p, p0 in zip(module.parameters(), start):
        torch.testing.assert_close(p.detach(), p0 + 1.0)
    average.update()
    average.restore(saved)
    assert average.t == 1
    for s, p0 in zip(average.shadow, start):
        torch.testing.assert_close(s, p0 + 9 / 11)
