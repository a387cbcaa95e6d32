import math

import pytest
import torch

from skdde._flow import flow_log_likelihood


def _spd(d, seed, scale=1.0):
    """Eigenvalues and eigenvectors of a random covariance, anisotropic and rotated."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    lam = scale * (0.2 + torch.rand(d, generator=g, dtype=torch.float64))
    return lam, q


def _gaussian(x, t, mean, lam, q):
    """log N(x; mean, Q diag(lam) Q^T + t I), each row at its own level t."""
    u = (x - mean.to(x.dtype)) @ q.to(x.dtype)
    var = lam.to(x.dtype) + t[:, None]
    return -0.5 * (u.square() / var + var.log()).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


def _mixture(x, t, weights, components):
    terms = [math.log(w) + _gaussian(x, t, *c) for w, c in zip(weights, components)]
    return torch.logsumexp(torch.stack(terms), 0)


def _at(fn, t):
    """``fn(x, t)`` at one level: a density over points alone."""
    return lambda x: fn(x, torch.full((x.shape[0],), t, dtype=x.dtype))


class Counted:
    """An energy that counts its evaluations (the solver's right-hand sides)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, x, t):
        self.calls += 1
        return self.fn(x, t)


def _gaussian_family(d, seed, diagonal=False):
    """p = N(m, C), so p_t = N(m, C + t I) exactly; C rotated unless ``diagonal``."""
    g = torch.Generator().manual_seed(seed + 100)
    mean = torch.randn(d, generator=g, dtype=torch.float64)
    lam, q = _spd(d, seed)
    if diagonal:
        q = torch.eye(d, dtype=torch.float64)
    return (lambda x, t: _gaussian(x, t, mean, lam, q)), mean


@pytest.mark.parametrize("dtype, solver_tol, tol", [(torch.float64, 1e-6, 1e-4),
                                                     (torch.float32, 1e-5, 1e-3)])
def test_gaussian_family_matches_closed_form_with_exact_trace(dtype, solver_tol, tol):
    f, mean = _gaussian_family(3, seed=0)
    x = (mean + torch.randn(16, 3, generator=torch.Generator().manual_seed(1),
                            dtype=torch.float64)).to(dtype)
    t0, t1 = 0.02, 5.0
    kw = dict(rtol=solver_tol, atol=solver_tol)
    out = flow_log_likelihood(f, x, t0, t1, _at(f, t1), exact_trace=True, **kw)
    exact = _at(f, t0)(x.double())
    assert out.dtype == torch.float64 and out.shape == (16,)
    assert (out - exact).abs().max() < tol
    # below 64 features the default is the exact trace: no generator needed
    default = flow_log_likelihood(f, x, t0, t1, _at(f, t1), **kw)
    assert torch.equal(default, out)


def test_rademacher_hutchinson_is_exact_on_a_diagonal_hessian():
    # v^T H v = tr H for every sign vector v when H is diagonal (not so for Gaussian probes)
    f, mean = _gaussian_family(3, seed=2, diagonal=True)
    x = mean + torch.randn(16, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = flow_log_likelihood(f, x, 0.02, 5.0, _at(f, 5.0), exact_trace=False, rtol=1e-6,
                              atol=1e-6, generator=torch.Generator().manual_seed(0))
    assert (out - _at(f, 0.02)(x)).abs().max() < 1e-4


def _mixture_family():
    weights = [0.5, 0.3, 0.2]
    means = torch.tensor([[-1.5, 0.0], [1.0, 1.0], [0.5, -1.5]], dtype=torch.float64)
    components = [(m, *_spd(2, seed=10 + k, scale=0.3)) for k, m in enumerate(means)]
    return lambda x, t: _mixture(x, t, weights, components)


def test_gaussian_mixture_family_from_low_to_top_level():
    f = Counted(_mixture_family())
    g = torch.Generator().manual_seed(0)
    # near the modes, between them and in the tails
    x = torch.cat([torch.randn(24, 2, generator=g, dtype=torch.float64),
                   3 * torch.randn(8, 2, generator=g, dtype=torch.float64)])
    t0, t1 = 0.01, 4.0
    out = flow_log_likelihood(f, x, t0, t1, _at(f.fn, t1))
    assert (out - _at(f.fn, t0)(x)).abs().max() < 1e-3
    # one energy evaluation per right-hand side with the exact trace, not thousands
    assert 0 < f.calls < 1000


def test_chunks_solved_apart_agree():
    f = _mixture_family()
    x = torch.randn(12, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    # rows share a chunk's steps, so the chunking changes results only within tolerance
    kw = dict(rtol=1e-7, atol=1e-7)
    whole = flow_log_likelihood(f, x, 0.05, 2.0, _at(f, 2.0), **kw)
    parts = flow_log_likelihood(f, x, 0.05, 2.0, _at(f, 2.0), chunk_size=5, **kw)
    assert (whole - parts).abs().max() < 1e-5


def test_normalizing_constant_of_the_energy_is_invisible():
    # c(t) changes neither grad f nor its Laplacian: the answer is still the normalized p_t0
    f, mean = _gaussian_family(3, seed=5)

    def shifted(x, t):
        return f(x, t) + 7.0 * torch.sin(3 * t) + t.square()

    x = mean + torch.randn(8, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    kw = dict(rtol=1e-6, atol=1e-6)
    out = flow_log_likelihood(shifted, x, 0.1, 3.0, _at(f, 3.0), **kw)
    assert torch.allclose(out, flow_log_likelihood(f, x, 0.1, 3.0, _at(f, 3.0), **kw), atol=1e-10)
    assert (out - _at(f, 0.1)(x)).abs().max() < 1e-4
    assert (out - _at(shifted, 0.1)(x)).abs().min() > 1.0  # the energy itself is off


def test_any_energy_gives_a_density_that_integrates_to_one():
    # a score that is no noised family's: still a change of variables of the top density
    top = torch.tensor([0.3, -0.2], dtype=torch.float64)

    def wrong(x, t):
        bump = 0.8 * torch.sin(2 * x[:, 0] + x[:, 1]) * torch.exp(-x[:, 1].square() / 4)
        return -(x - top).square().sum(-1) / (2 * (1 + t)) + bump / (1 + t)

    t0, t1 = 0.1, 3.0

    def log_prob_top(y):  # normalized, unlike exp(wrong(., t1))
        return -(y - top).square().sum(-1) / (2 * (1 + t1)) - math.log(2 * math.pi * (1 + t1))

    h = 0.2
    axis = torch.arange(-7.0, 7.0 + h / 2, h, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    out = flow_log_likelihood(wrong, grid, t0, t1, log_prob_top, rtol=1e-4, atol=1e-4)
    mass = out.exp().sum() * h**2
    assert abs(mass.item() - 1) < 0.01
    # and it is not simply the Gaussian that a bump-free energy would give
    gaussian = -(grid - top).square().sum(-1) / (2 * (1 + t0)) - math.log(2 * math.pi * (1 + t0))
    assert (out - gaussian).abs().max() > 0.1


def _mlp_energy(d, seed):
    """A float32 softplus network on (x, log t) on a Gaussian base: no closed form."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(d + 1, 16), torch.nn.Softplus(),
                              torch.nn.Linear(16, 1))

    def energy(x, t):
        h = net(torch.cat([x, t.log()[:, None]], 1)).squeeze(-1)
        return 2 * h - x.square().sum(-1) / (2 * (1 + t))

    def log_prob_top(t1):
        return _at(lambda x, t: -x.square().sum(-1) / (2 * (1 + t))
                   - d / 2 * torch.log(2 * math.pi * (1 + t)), t1)

    return energy, log_prob_top


def test_hutchinson_is_unbiased_and_its_variance_falls_with_probes():
    d = 4
    energy, log_prob_top = _mlp_energy(d, seed=0)
    top = log_prob_top(2.0)
    x = torch.randn(4, d, generator=torch.Generator().manual_seed(1))
    exact = flow_log_likelihood(energy, x, 0.05, 2.0, top, exact_trace=True)
    assert not exact.requires_grad  # the network's weights require grad, the result not
    reps = 64  # each replicate row draws its own probes
    spread = {}
    for n_probes in (1, 4):
        est = flow_log_likelihood(energy, x.repeat(reps, 1), 0.05, 2.0, top, exact_trace=False,
                                  n_probes=n_probes,
                                  generator=torch.Generator().manual_seed(n_probes))
        est = est.view(reps, -1)
        stderr = est.std(0) / math.sqrt(reps)
        assert (stderr > 1e-3).all()  # really random: the Hessians are not diagonal
        assert ((est.mean(0) - exact).abs() < 4 * stderr).all()
        spread[n_probes] = est.std(0)
    ratio = (spread[4] / spread[1]).mean().item()
    assert 0.3 < ratio < 0.75  # 1 / sqrt(4)


def test_hutchinson_probes_are_reproducible_and_chunking_free():
    energy, log_prob_top = _mlp_energy(3, seed=1)
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(2))  # float32, as the net

    def run(seed, chunk_size=512):
        return flow_log_likelihood(energy, x, 0.1, 1.0, log_prob_top(1.0), exact_trace=False,
                                   n_probes=2, generator=torch.Generator().manual_seed(seed),
                                   chunk_size=chunk_size)

    a = run(0)
    assert torch.equal(a, run(0))
    # each row keeps its probes whatever the chunking: only solver-sized differences
    assert (a - run(0, chunk_size=3)).abs().max() < 1e-3
    assert (a - run(1)).abs().max() > 1e-2


def test_equal_levels_return_the_top_density():
    f = Counted(_mixture_family())
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    top = _at(f.fn, 0.5)
    out = flow_log_likelihood(f, x, 0.5, 0.5, top)
    assert torch.equal(out, top(x)) and f.calls == 0
    assert flow_log_likelihood(f, x[:0], 0.1, 0.5, top).shape == (0,)


@pytest.mark.parametrize("t0, t1", [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0), (0.1, math.inf)])
def test_bad_levels_raise(t0, t1):
    f = _mixture_family()
    with pytest.raises(ValueError, match="t0 <= t1"):
        flow_log_likelihood(f, torch.zeros(2, 2), t0, t1, _at(f, 1.0))
