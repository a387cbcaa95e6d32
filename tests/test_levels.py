import copy
import math

import pytest
import torch

from skdde._levels import (
    DualScoreObjective,
    InUnits,
    LevelEnergy,
    LevelGeneratorObjective,
    level_features,
    level_ladder,
    mixture_terms,
    sample_levels,
)
from skdde._loss import dual_score_loss
from skdde._nets import ResidualMLP


def _mixture(d, k=3, seed=1):
    """A random mixture's ``(log_weights, means, eigenvalues, eigenvectors)``, float64."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(k, d, d, generator=g, dtype=torch.float64)
    lam, V = torch.linalg.eigh(a @ a.transpose(1, 2) / d + 0.05 * torch.eye(d))
    log_w = torch.log_softmax(torch.randn(k, generator=g, dtype=torch.float64), 0)
    return log_w, torch.randn(k, d, generator=g, dtype=torch.float64), lam, V


def _energy(d=2, seed=0, perturb=True, mixture=False):
    """A level energy over a random covariance; with ``mixture``, its base is two
    components whose covariances sum to at most it, as a fitted mixture's do."""
    torch.manual_seed(seed)
    a = torch.randn(d, d)
    lam, V = torch.linalg.eigh(a @ a.T / d + 0.1 * torch.eye(d))
    net = ResidualMLP(d, (16, 16), resolution=0.1, n_context=9)
    if perturb:  # a trained-looking network: h is no longer zero
        torch.nn.init.normal_(net.out.weight, std=1.0)
    if mixture:
        m = 0.7 * lam[-1].sqrt() * V[:, -1]
        mixture = torch.log(torch.tensor([0.3, 0.7])), torch.stack([m, -m]), \
            torch.stack([lam, lam]) / 2, torch.stack([V, V])
    return LevelEnergy(net, lam, V, 1e-3, 4.0, torch.eye(d), mixture or None), lam, V


def _log_mixture(x, t, log_w, means, lam, V):
    t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1, 1)  # one level, or one per row
    cov = V @ torch.diag_embed(lam + t) @ V.transpose(1, 2)
    parts = torch.distributions.MultivariateNormal(means, cov).log_prob(x[:, None, :])
    return torch.logsumexp(parts + log_w, -1)


def _log_gaussian(x, lam, V, t):
    r = x @ V
    var = lam + t
    return -0.5 * ((r * r / var).sum(-1) + torch.log(var).sum() + len(lam) * math.log(2 * math.pi))


def test_fresh_energy_is_the_gaussian_at_every_level_and_any_is_exact_at_the_top():
    x = torch.randn(50, 2)
    fresh, lam, V = _energy(perturb=False)
    for t in (1e-3, 0.1, 4.0):
        torch.testing.assert_close(fresh(x, t), _log_gaussian(x, lam, V, t))
    trained, lam, V = _energy(perturb=True)
    torch.testing.assert_close(trained(x, 4.0), _log_gaussian(x, lam, V, 4.0))
    assert not torch.allclose(trained(x, 0.1), _log_gaussian(x, lam, V, 0.1))


def test_mixture_terms_are_the_smoothed_mixtures_log_density_and_its_derivatives():
    mixture = _mixture(3)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    t = (0.01 + torch.rand(40, generator=g, dtype=torch.float64)).requires_grad_(True)
    value, grad_x, d_dt = mixture_terms(x, t, *mixture)
    exact = _log_mixture(x, t[:, None], *mixture)
    torch.testing.assert_close(value, exact)
    own_x, own_t = torch.autograd.grad(exact.sum(), (x, t))
    torch.testing.assert_close(grad_x, own_x)
    torch.testing.assert_close(d_dt, own_t)
    # one level for every row, given once: the same terms
    one = mixture_terms(x, t[:1], *mixture)
    for a, b in zip(one, mixture_terms(x, t[:1].repeat(40), *mixture)):
        torch.testing.assert_close(a, b)


def test_a_mixture_base_is_the_fresh_energy_at_every_level_and_exact_at_the_top():
    x = torch.randn(50, 2)
    fresh, _, _ = _energy(perturb=False, mixture=True)
    mixture = [fresh.get_buffer(f"mixture_{n}") for n in ("log_weights", "means", "eigenvalues",
                                                          "eigenvectors")]
    for t in (1e-3, 0.1, 4.0):
        torch.testing.assert_close(fresh(x, t), _log_mixture(x, t, *mixture))
    trained, _, _ = _energy(perturb=True, mixture=True)
    torch.testing.assert_close(trained(x, 4.0), _log_mixture(x, 4.0, *mixture))
    assert not torch.allclose(trained(x, 0.1), _log_mixture(x, 0.1, *mixture))


@pytest.mark.parametrize("base", ["gaussian", "mixture"])
def test_top_level_integrates_to_one_and_lower_levels_stay_integrable(base):
    energy, _, _ = _energy(perturb=True, mixture=base == "mixture")
    grid = torch.linspace(-12, 12, 481)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    points = torch.stack([xx.ravel(), yy.ravel()], 1)
    cell = float(grid[1] - grid[0]) ** 2
    with torch.no_grad():
        top = torch.logsumexp(energy(points, 4.0).double(), 0) + math.log(cell)
        low = torch.logsumexp(energy(points, 0.05).double(), 0) + math.log(cell)
        edge = energy(points[xx.ravel().abs() > 11.5], 0.05).max()
    assert abs(top.item()) < 1e-3
    assert math.isfinite(low.item()) and edge < low - 20  # mass vanishes far out


def test_value_and_grads_match_finite_differences():
    energy, _, _ = _energy(perturb=True)
    x = torch.randn(5, 2, dtype=torch.float64)
    energy = energy.double()
    t = torch.full((5,), 0.3, dtype=torch.float64)
    f, gx, gt = energy.value_and_grads(x, t)
    h = 1e-6
    fd_t = (energy(x, t + h) - energy(x, t - h)) / (2 * h)
    fd_x = (energy(x + h * torch.eye(2)[0], t) - energy(x - h * torch.eye(2)[0], t)) / (2 * h)
    torch.testing.assert_close(gt, fd_t, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx[:, 0], fd_x, rtol=1e-5, atol=1e-6)


class _AutogradOnly(torch.nn.Module):
    """The same network without its hand-written ``value_and_grad``."""

    def __init__(self, net):
        super().__init__()
        self.inner = net

    def forward(self, u):
        return self.inner(u)


@pytest.mark.parametrize("base", ["gaussian", "mixture"])
def test_hand_written_derivatives_and_their_weight_gradients_match_autograds(base):
    energy, _, _ = _energy(d=5, perturb=True, mixture=base == "mixture")
    energy = energy.double()
    plain = copy.deepcopy(energy)
    plain.net = _AutogradOnly(plain.net)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(64, 5, generator=g, dtype=torch.float64)
    t = 1e-3 * torch.exp(torch.rand(64, generator=g, dtype=torch.float64) * math.log(4e3))
    for a, b in zip(energy.value_and_grads(x, t), plain.value_and_grads(x, t)):
        torch.testing.assert_close(a, b)
    grads = []
    for e in (energy, plain):
        e.zero_grad()
        dual_score_loss(e, x, eps, t, time_weight=0.5).backward()
        grads.append([p.grad for p in e.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    with torch.enable_grad():  # without create_graph, nothing is left to backpropagate
        assert not any(v.requires_grad for v in energy.value_and_grads(x, t))
    unwhitening = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))[0]
    energy.set_unwhitening(unwhitening)
    energy.set_level(0.05)
    for at in (energy.whitened, energy.whitened_at(0.2), energy.at(0.2)):
        z = x.clone().requires_grad_(True)
        f = at(z)
        (grad,) = torch.autograd.grad(f.sum(), z)
        value, own = at.value_and_grad(x)
        torch.testing.assert_close(value, f.detach())
        torch.testing.assert_close(own, grad)


class _Family:
    """``log N(x; 0, (v + t) I) + a * log t``: the true smoothed family of N(0, v I)
    data when ``var_scale == 1`` and ``a == 0``."""

    def __init__(self, v, var_scale=1.0, a=0.0):
        self.v, self.var_scale, self.a = v, var_scale, a

    def value_and_grads(self, x, t, create_graph=False):
        with torch.enable_grad():
            x, t = x.detach().requires_grad_(True), t.detach().requires_grad_(True)
            var = self.var_scale * (self.v + t)
            f = -0.5 * x.square().sum(-1) / var - 0.5 * x.shape[1] * torch.log(var)
            f = f + self.a * torch.log(t)
            gx, gt = torch.autograd.grad(f.sum(), (x, t))
        return f, gx, gt


def test_dual_score_loss_is_minimized_by_the_true_family_and_sees_level_constants():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100_000, 3, generator=g)
    eps = torch.randn(x.shape, generator=g)
    t = sample_levels(len(x), 1e-3, 4.0, 0.25, g, "cpu")

    def loss(**kw):
        return dual_score_loss(_Family(1.0, **kw), x, eps, t, create_graph=False).item()

    true = loss()
    assert true < min(loss(var_scale=0.8), loss(var_scale=1.25))
    # a level-dependent constant leaves grad_x alone; only the time score sees it
    assert true < loss(a=0.2) and true < loss(a=-0.2)
    in_x = dual_score_loss(_Family(1.0, a=0.2), x, eps, t, time_weight=0.0).item()
    assert in_x == pytest.approx(dual_score_loss(_Family(1.0), x, eps, t, time_weight=0.0).item())


def test_zero_weights_drop_rows_from_the_dual_loss():
    energy, _, _ = _energy()
    x, eps = torch.randn(6, 2), torch.randn(6, 2)
    t = torch.rand(6) + 0.01
    w = torch.tensor([1.0, 1, 1, 0, 0, 0])
    torch.testing.assert_close(
        dual_score_loss(energy, x, eps, t, w), dual_score_loss(energy, x[:3], eps[:3], t[:3])
    )
    assert dual_score_loss(energy, x, eps, t, torch.zeros(6)).item() == 0.0


def test_levels_and_ladder():
    g = torch.Generator().manual_seed(0)
    t = sample_levels(10_000, 1e-2, 4.0, 0.25, g, "cpu")
    assert t.min() >= 1e-2 * (1 - 1e-6) and t.max() <= 4.0
    assert 0.23 < (t == torch.tensor(1e-2)).float().mean() < 0.27
    ladder = level_ladder(1e-2, 4.0, 5)
    assert ladder[0] == 4.0 and ladder[-1] == 1e-2 and ladder == sorted(ladder, reverse=True)
    ratios = [a / b for a, b in zip(ladder, ladder[1:])]
    assert max(ratios) == pytest.approx(min(ratios))
    s = level_features(torch.tensor([1e-2, 4.0]), 1e-2, 4.0)
    assert s.shape == (2, 9) and s[0, 0] == 0 and s[1, 0] == pytest.approx(1.0)


def test_objective_trains_a_level_energy():
    g = torch.Generator().manual_seed(0)
    energy, _, _ = _energy(perturb=False)
    objective = DualScoreObjective(1e-2, 4.0, 0.25, g)
    x = torch.randn(64, 2, generator=g)
    loss = objective(energy, x, torch.randn(x.shape, generator=g), None)
    loss.backward()
    assert loss.item() > 0 and energy.net.out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="likelihood term"):
        objective(energy, x, torch.randn(x.shape, generator=g), None, return_energy=True)


def test_in_units_is_the_energy_on_raw_points_and_absolute_levels():
    energy, _, _ = _energy()
    loc, scale = torch.tensor([1.0, -2.0]), 3.0
    raw = InUnits(energy, loc, scale)
    x, t = torch.randn(5, 2), torch.rand(5) + 0.1
    torch.testing.assert_close(raw(x, t), energy((x - loc) / scale, t / scale**2))
    energy.set_level(0.3)
    torch.testing.assert_close(raw(x), energy((x - loc) / scale))
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(x.shape)
    objective = DualScoreObjective(1e-2, 4.0, 0.0, g)
    expected = DualScoreObjective(1e-2, 4.0, 0.0, torch.Generator().manual_seed(0))(
        energy, (x - loc) / scale, eps, None
    )
    torch.testing.assert_close(raw.loss(objective, x, eps), expected)


def test_the_generators_levels_span_their_range_and_weigh_by_level():
    seen = {}

    def model(y, t):
        seen["t"] = t
        return y.sum(-1) * t  # rows differ only by level

    g = torch.Generator().manual_seed(0)
    objective = LevelGeneratorObjective(0.01, 0.25, 1.0, g)
    x = torch.ones(20_000, 1)
    loss = objective(model, lambda y, t: torch.zeros_like(t), x, torch.zeros_like(x), 1.0)
    t = seen["t"]
    assert t.min() == pytest.approx(0.01) and 0.9 < t.max() <= 1.0
    assert 0.23 < (t == 0.01).float().mean() < 0.27
    # the weighted mean of t with weights t / t_low is E[t^2] / E[t]
    assert float(loss) == pytest.approx(float((t**2).mean() / t.mean()), rel=1e-4)
