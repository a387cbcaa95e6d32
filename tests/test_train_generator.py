"""The generator's training loop on tensors, without an estimator."""

import math

import pytest
import torch

from skdde._nets import GaussianBaseEnergy, Generator, ResidualMLP
from skdde._train_generator import train_generator

KW = dict(latent_dim=1, n_inner_steps=3, n_warmup_steps=50, batch_size=256,
          learning_rate_init=3e-3, model_learning_rate_init=3e-3, learning_rate="constant")


def _nets(seed=0):
    torch.manual_seed(seed)
    generator = Generator(1, 1, (16, 16), "relu", "identity", torch.zeros(1), torch.eye(1))
    model = GaussianBaseEnergy(ResidualMLP(1, (16, 16)), torch.eye(1))
    return generator, model


def test_generator_moves_to_a_gaussian_target():
    sigma, mean, std = 0.3, 2.0, 0.5
    var = std**2 + sigma**2  # the target is smoothed as q~ is

    def target(y):
        return -0.5 * (y[:, 0] - mean) ** 2 / var

    generator, model = _nets()
    rng = torch.Generator().manual_seed(0)
    result = train_generator(generator, model, target, sigmas=[sigma] * 600, rng=rng, **KW)
    with torch.no_grad():
        x = generator(torch.randn(20000, 1, generator=rng))[:, 0]
    assert float(x.mean()) == pytest.approx(mean, abs=0.15)
    assert float(x.std()) == pytest.approx(std, abs=0.15)
    assert result.n_iter == 600 and len(result.loss_curve) == 600
    assert all(map(math.isfinite, result.model_loss_curve))


def test_noise_levels_are_announced_once_each_and_steps_follow_them():
    generator, model = _nets()
    seen = []
    sigmas = [1.0] * 30 + [0.5] * 30 + [0.2] * 40
    result = train_generator(generator, model, lambda y: -0.5 * y[:, 0] ** 2, sigmas=sigmas,
                             rng=torch.Generator().manual_seed(0), on_sigma=seen.append,
                             monitor=lambda s: s, **KW)
    assert seen == [1.0, 0.5, 0.2]
    # checkpoints never straddle two noise levels
    assert result.divergence_steps == [30, 60, 100]
    assert result.divergence_curve == [1.0, 0.5, 0.2]


def test_a_non_finite_target_is_rolled_back_then_reported():
    generator, model = _nets()

    def target(y):  # NaN values and NaN gradients
        return y[:, 0] * math.nan

    before = [p.clone() for p in generator.parameters()]
    with pytest.raises(FloatingPointError, match="diverged"):
        train_generator(generator, model, target, sigmas=[0.3] * 20,
                        rng=torch.Generator().manual_seed(0), **KW)
    # the last good state is restored before the error: the fresh generator
    assert all(torch.equal(a, b) for a, b in zip(before, generator.parameters()))


def test_a_non_finite_loss_stops_the_checkpoint_at_its_step():
    generator, model = _nets()
    calls = []

    def target(y):  # NaN from the 5th generator step on
        calls.append(1)
        return -0.5 * y[:, 0] ** 2 * (math.nan if len(calls) >= 5 else 1.0)

    with pytest.raises(FloatingPointError, match="diverged"):
        train_generator(generator, model, target, sigmas=[0.3] * 100,
                        rng=torch.Generator().manual_seed(0), **KW)
    # each of the 7 tries stops at its first NaN step, not at the 100-step checkpoint
    assert len(calls) == 4 + 7
