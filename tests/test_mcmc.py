import torch

from skdde._mcmc import importance_resample, mala


def test_mala_samples_a_gaussian_and_hits_target_acceptance():
    g = torch.Generator().manual_seed(0)
    mean, std = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0])

    def log_prob(z):
        return -0.5 * ((z - mean) / std).square().sum(-1)

    z0 = torch.randn(4000, 2, generator=g)
    res = mala(log_prob, z0, n_burn_in=300, n_steps=200, generator=g)
    torch.testing.assert_close(res.samples.mean(0), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(res.samples.std(0), std, atol=0.1, rtol=0.05)
    assert abs(res.burn_in_acceptance_rate - 0.574) < 0.1
    assert 0.4 < res.acceptance_rate < 0.75


def test_mala_is_reproducible_with_a_generator():
    def log_prob(z):
        return -z.square().sum(-1)

    runs = [
        mala(log_prob, torch.zeros(10, 3), n_burn_in=5, n_steps=5,
             generator=torch.Generator().manual_seed(3)).samples
        for _ in range(2)
    ]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


def test_importance_resample_follows_the_weights():
    g = torch.Generator().manual_seed(0)
    log_w = torch.log(torch.tensor([0.1, 0.0, 0.9]))
    idx = importance_resample(log_w, 20_000, g)
    freq = torch.bincount(idx, minlength=3).double() / 20_000
    expected = torch.tensor([0.1, 0.0, 0.9], dtype=torch.float64)
    torch.testing.assert_close(freq, expected, atol=0.01, rtol=0)
