import pytest
import torch

from skdde._loss import denoising_loss, generator_loss, level_generator_loss, likelihood_loss


def _gaussian_energy(var):
    return lambda x: -0.5 * x.square().sum(-1) / var


def test_true_smoothed_score_minimizes_the_loss():
    # Data N(0, 1) smoothed by sigma: the true energy has variance 1 + sigma^2.
    g = torch.Generator().manual_seed(0)
    sigma = 0.5
    x = torch.randn(200_000, 2, generator=g)
    eps = torch.randn(x.shape, generator=g)
    losses = {
        var: denoising_loss(_gaussian_energy(var), x, eps, sigma, create_graph=False).item()
        for var in (0.8, 1.0, 1 + sigma**2, 1.6, 2.0)
    }
    assert min(losses, key=losses.get) == 1 + sigma**2


def test_loss_is_dimensionless_across_sigma():
    # With the exact smoothed energy, the loss is 1 - sigma^2 / (1 + sigma^2) per dim.
    g = torch.Generator().manual_seed(1)
    for sigma in (0.05, 0.5, 5.0):
        x = torch.randn(100_000, 3, generator=g)
        eps = torch.randn(x.shape, generator=g)
        loss = denoising_loss(_gaussian_energy(1 + sigma**2), x, eps, sigma).item()
        expected = 1 - sigma**2 / (1 + sigma**2)
        assert abs(loss - expected) < 0.02


def test_weights_select_samples():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(10, 2, generator=g)
    eps = torch.randn(x.shape, generator=g)
    energy = _gaussian_energy(1.0)
    w = torch.zeros(10)
    w[:4] = 1.0
    weighted = denoising_loss(energy, x, eps, 0.3, w)
    torch.testing.assert_close(weighted, denoising_loss(energy, x[:4], eps[:4], 0.3))


def test_loss_backpropagates_into_weights():
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Softplus(), torch.nn.Linear(4, 1))
    energy = lambda x: net(x).squeeze(-1)  # noqa: E731
    x = torch.randn(8, 2)
    loss = denoising_loss(energy, x, torch.randn(8, 2), 0.2)
    loss.backward()
    # every weight but the output bias (which does not move the gradient) learns
    grads = [p.grad for p in list(net.parameters())[:-1]]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    assert net[2].bias.grad is None


def test_likelihood_loss_on_noisy_points_is_minimized_by_the_smoothed_density():
    # Noisy samples of N(0, 1) smoothed by sigma; Gaussian energies of variance v
    # with their exact log Z: the negative log-likelihood is lowest at 1 + sigma^2.
    import math

    from skdde._loss import likelihood_loss

    g = torch.Generator().manual_seed(3)
    sigma = 0.5
    noisy = torch.randn(200_000, 2, generator=g) + sigma * torch.randn(200_000, 2, generator=g)
    nll = {}
    for var in (0.8, 1.0, 1 + sigma**2, 1.6, 2.0):
        log_z = torch.tensor(math.log(2 * math.pi * var), dtype=torch.float64)
        nll[var] = likelihood_loss(_gaussian_energy(var)(noisy), log_z).item()
    assert min(nll, key=nll.get) == 1 + sigma**2


def test_denoising_loss_can_return_the_noisy_energies():
    x, eps = torch.randn(6, 2), torch.randn(6, 2)
    energy = _gaussian_energy(1.0)
    loss, s = denoising_loss(energy, x, eps, 0.3, return_energy=True)
    torch.testing.assert_close(s, energy(x + 0.3 * eps))
    torch.testing.assert_close(loss, denoising_loss(energy, x, eps, 0.3))


def test_generator_loss_gradient_is_the_reverse_kl_gradient():
    # q = N(m, 1), p = N(0, 1), smoothed by sigma: KL(q~ || p~) = m^2 / (2 (1 + sigma^2)),
    # so d/dm of the objective with exact energies is m / (1 + sigma^2).
    sigma, m = 0.5, torch.tensor(1.5, requires_grad=True)
    v = 1 + sigma**2

    def model(y):
        return -0.5 * (y[:, 0] - m.detach()) ** 2 / v

    def target(y):
        return -0.5 * y[:, 0] ** 2 / v

    g = torch.Generator().manual_seed(0)
    z = torch.randn(200_000, 1, generator=g)
    eps = torch.randn(200_000, 1, generator=g)
    loss = generator_loss(model, target, z + m, eps, sigma)
    (grad,) = torch.autograd.grad(loss, m)
    assert float(grad) == pytest.approx(m.item() / v, rel=0.02)
    assert float(generator_loss(target, target, z + m, eps, sigma).detach()) == 0.0


def test_level_generator_loss_gradient_is_the_weighted_reverse_kl_gradient():
    # q = N(m, 1), p = N(0, 1) at level t: d/dm KL(q_t || p_t) = m / (1 + t); rows at
    # two levels with weights w give the weighted mean of the two gradients
    m = torch.tensor(1.5, requires_grad=True)

    def model(y, t):
        return -0.5 * (y[:, 0] - m.detach()) ** 2 / (1 + t)

    def target(y, t):
        return -0.5 * y[:, 0] ** 2 / (1 + t)

    g = torch.Generator().manual_seed(0)
    n = 200_000
    z, eps = torch.randn(n, 1, generator=g), torch.randn(n, 1, generator=g)
    t = torch.where(torch.arange(n) % 2 == 0, 0.25, 3.0)
    w = torch.where(t == 0.25, 1.0, 3.0)
    (grad,) = torch.autograd.grad(level_generator_loss(model, target, z + m, eps, t, w), m)
    expected = m.item() * (1 / 1.25 + 3 / 4.0) / 4
    assert float(grad) == pytest.approx(expected, rel=0.02)
    # one level, unit weights: the single-level objective of Algorithm 1
    t = torch.full((n,), 0.25)
    with torch.no_grad():
        one = level_generator_loss(model, target, z + m, eps, t)
        paper = generator_loss(lambda y: model(y, 0.25), lambda y: target(y, 0.25), z + m, eps, 0.5)
    assert float(one) == pytest.approx(float(paper), rel=1e-5)


def test_a_batch_of_zero_weights_contributes_nothing():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 2, generator=g)
    eps = torch.randn(x.shape, generator=g)
    scale = torch.ones((), requires_grad=True)

    def energy(y):
        return -0.5 * scale * y.square().sum(-1)

    log_z = 2 * scale.double()  # carries a gradient, as a batch's log Z does
    w = torch.zeros(4)
    loss = denoising_loss(energy, x, eps, 0.3, w) + likelihood_loss(energy(x + eps), log_z, w)
    assert loss.item() == 0.0
    (grad,) = torch.autograd.grad(loss, scale)
    assert grad.item() == 0.0
