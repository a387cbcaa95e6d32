import math

import pytest
import torch

from skdde._normalizer import StandardNormal, importance_sampling


def _run(log_target, d, n=2**14, seed=0):
    g = torch.Generator().manual_seed(seed)
    return importance_sampling(log_target, StandardNormal(d), n, 8, g, "cpu")


@pytest.mark.parametrize("d", [1, 5, 20])
def test_gaussian_energy_log_z_within_three_stderr(d):
    scale = 0.8  # target N(m, scale^2 I) times exp(3): log Z = 3 + d/2 log(2 pi scale^2)
    m = torch.full((d,), 0.3)

    def log_target(z):
        return 3.0 - 0.5 * ((z - m) / scale).square().sum(-1)

    est = _run(log_target, d)
    exact = 3.0 + 0.5 * d * math.log(2 * math.pi * scale**2)
    assert abs(est.log_z - exact) < 3 * est.stderr + 1e-9
    assert 0 < est.ess <= est.n_samples


def test_exact_proposal_gives_full_ess_and_zero_error():
    est = _run(lambda z: -0.5 * z.square().sum(-1) + 1.5, 4)
    assert est.ess == pytest.approx(est.n_samples)
    assert est.log_z == pytest.approx(1.5 + 2 * math.log(2 * math.pi))
    assert est.stderr < 1e-9


def test_poor_proposal_shows_in_diagnostics():
    # A narrow target far in the tail: few effective samples, a visible stderr.
    est = _run(lambda z: -0.5 * ((z - 3.0) / 0.1).square().sum(-1), 2)
    assert est.ess < 0.01 * est.n_samples


def test_batch_log_normalizer_gradient_is_that_of_log_z():
    # target exp(-c ||z||^2 / 2) in d dims: log Z = d/2 log(2 pi / c), d/dc = -d / (2c)
    from skdde._normalizer import batch_log_normalizer

    d, c = 3, torch.tensor(1.3, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    log_z, ess = batch_log_normalizer(
        lambda z: -0.5 * c * z.square().sum(-1), StandardNormal(d), 200_000, g, "cpu"
    )
    (grad,) = torch.autograd.grad(log_z, c)
    assert log_z.item() == pytest.approx(0.5 * d * math.log(2 * math.pi / 1.3), abs=0.01)
    assert grad.item() == pytest.approx(-d / 2.6, rel=0.02)
    assert not ess.requires_grad and 0 < ess.item() <= 200_000
