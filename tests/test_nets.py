import math

import pytest
import torch

from skdde._nets import GaussianBaseEnergy, Generator, ResidualMLP, input_gradient


@pytest.mark.parametrize("activation", ["softplus", "silu", "tanh"])
def test_fresh_energy_is_its_gaussian_base(activation):
    torch.manual_seed(0)
    W = torch.tensor([[2.0, 0.0], [0.5, 1.0]])
    energy = GaussianBaseEnergy(ResidualMLP(2, (8, 8), activation), W)
    x = torch.randn(5, 2)
    expected = -0.5 * (x @ W.T).square().sum(-1)
    torch.testing.assert_close(energy(x), expected)


def test_input_gradient_matches_closed_form():
    W = torch.eye(3) * 0.5
    energy = GaussianBaseEnergy(ResidualMLP(3, (4,)), W)
    x = torch.randn(7, 3)
    s, grad = input_gradient(energy, x)
    torch.testing.assert_close(grad, -(W.T @ W @ x.T).T)
    assert s.shape == (7,)


def _autograd_value_and_grad(energy, x):
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    s = energy(x)
    (grad,) = torch.autograd.grad(s.sum(), x, create_graph=True)
    return s, grad


@pytest.mark.parametrize("activation", ["softplus", "silu", "tanh"])
@pytest.mark.parametrize("sizes", [(8, 8), (6, 9, 9, 5), (3, 3)])
def test_hand_written_gradient_equals_autograd(activation, sizes):
    # values, input gradients and the gradients in the weights and the input of a
    # loss on both (what training backpropagates) must all match autograd's;
    # (3, 3) makes the first layer residual too
    torch.manual_seed(0)
    net = ResidualMLP(3, sizes, activation).double()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.7)
    energy = GaussianBaseEnergy(net, torch.randn(3, 3, dtype=torch.float64))
    energy.set_precision(torch.tensor([[1.5, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.7]]))
    x = 2 * torch.randn(11, 3, dtype=torch.float64)
    results = []
    for value_and_grad in (energy.value_and_grad, lambda x: _autograd_value_and_grad(energy, x)):
        x_in = x.clone().requires_grad_(True)
        s, grad = value_and_grad(x_in)
        loss = (grad.sin() + s[:, None]).square().mean()
        results.append((s, grad, torch.autograd.grad(loss, [x_in, *net.parameters()])))
    (s, grad, weight_grads), (s_ref, grad_ref, weight_grads_ref) = results
    torch.testing.assert_close(s, s_ref)
    torch.testing.assert_close(grad, grad_ref)
    for got, expected in zip(weight_grads, weight_grads_ref):
        torch.testing.assert_close(got, expected)


def test_input_gradient_uses_autograd_for_networks_without_their_own():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    energy = GaussianBaseEnergy(net, torch.eye(2))
    x = torch.randn(4, 2)
    s, grad = input_gradient(energy, x, create_graph=True)
    s_ref, grad_ref = _autograd_value_and_grad(energy, x)
    torch.testing.assert_close(grad, grad_ref)
    assert grad.requires_grad
    # the whitened view offers the same
    s_w, grad_w = input_gradient(energy.whitened, x)
    torch.testing.assert_close(s_w, energy.whitened(x))
    torch.testing.assert_close(grad_w, grad_ref)
    assert not grad_w.requires_grad


def test_residual_only_where_widths_match():
    net = ResidualMLP(3, (8, 8, 4))
    assert net.residual == [False, True, False]


def test_energy_is_integrable_whatever_the_weights():
    # s(x) <= h(0) + L |x| - x^2 / 2 with L the network's Lipschitz bound, so the
    # mass beyond 2 L + 20 is negligible for any weights: check on a 1-D grid.
    torch.manual_seed(0)
    net = ResidualMLP(1, (16, 16)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.5)
    norms = [torch.linalg.matrix_norm(layer.weight, 2).item() for layer in net.layers]
    lip = norms[0] * (1 + norms[1]) * torch.linalg.matrix_norm(net.out.weight, 2).item()
    energy = GaussianBaseEnergy(net, torch.eye(1, dtype=torch.float64))
    radius = 2 * lip + 20
    with torch.no_grad():
        x = torch.linspace(-2 * radius, 2 * radius, 400_001, dtype=torch.float64)[:, None]
        s = energy(x)
    total = torch.logsumexp(s, 0)
    assert math.isfinite(total.item())
    assert torch.logsumexp(s[x[:, 0].abs() > radius], 0) < total - 50


def test_fresh_generator_is_the_moment_matched_gaussian():
    loc = torch.tensor([1.0, -2.0, 0.5])
    scale = torch.tensor([[2.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.3, 0.2]])
    torch.manual_seed(0)
    g = Generator(3, 3, (16, 16), "relu", "identity", loc, scale)
    x = g(torch.randn(200_000, 3))
    torch.testing.assert_close(x.mean(0), loc, atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), scale @ scale.T, atol=0.03, rtol=0)
    s = Generator(3, 3, (16,), "relu", "sigmoid", loc, scale)(torch.randn(1000, 3))
    assert s.min() >= 0 and s.max() <= 1
