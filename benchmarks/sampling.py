"""Sampling by MALA from a DDEDensity against sampling a DDEGenerator: rows/s and quality.

The paper's 2-D eight Gaussians (sigma 0.1), 3000 training points, default settings,
one torch thread. The generator reuses the fitted DDEDensity as its data energy, so
both samplers rest on the same model of ``p~``. Each draws 20,000 samples, timed
(median of 3). They target different distributions: MALA draws from ``p~`` (the
smoothed density, its samples carry the noise), the generator from ``q`` with ``q~``
fitted to ``p~``, so from the clean data distribution at best. Each is judged
against its own target, known exactly:

- mode frequencies (nearest of the 8 means; uniform is 0.125), max/min ratio;
- the share of samples within 3 standard deviations of a mode (std 0.1 for the
  clean mixture, sqrt(0.1^2 + 0.1^2) for the smoothed one);
- MMD^2 (Gaussian kernel, bandwidth 0.1) between 2,000 samples and 2,000 exact
  draws of the target, next to that of two independent exact draws (the noise floor).

    python benchmarks/sampling.py           # about 5 minutes
"""

import time
import warnings

import numpy as np
import torch

from skdde import DDEDensity, DDEGenerator
from skdde.datasets import eight_gaussians

torch.set_num_threads(1)
warnings.simplefilter("ignore")
SIGMA, N = 0.1, 20_000


def mmd2(a, b, bandwidth=0.1):
    """Unbiased squared maximum mean discrepancy with a Gaussian kernel."""
    def k(x, y):
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * bandwidth**2))

    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    n, m = len(a), len(b)
    return ((kaa.sum() - np.trace(kaa)) / (n * (n - 1))
            + (kbb.sum() - np.trace(kbb)) / (m * (m - 1)) - 2 * kab.mean())


def timed(draw):
    times, samples = [], None
    for seed in range(3):
        start = time.perf_counter()
        samples = draw(seed)
        times.append(time.perf_counter() - start)
    return samples, len(samples) / np.median(times)


def judge(name, samples, rate, truth, target_sigma, fit_seconds):
    d = np.linalg.norm(samples[:, None, :] - truth.means[None], axis=-1)
    freq = np.bincount(d.argmin(1), minlength=len(truth.means)) / len(samples)
    std = np.hypot(0.1, target_sigma)
    exact = truth.sample(4000, random_state=11)
    if target_sigma:
        exact = exact + target_sigma * np.random.default_rng(12).normal(size=exact.shape)
    floor = mmd2(exact[:2000], exact[2000:])
    print(f"{name}: fit {fit_seconds:.0f} s, {rate:,.0f} samples/s")
    print(f"  mode frequencies {np.round(freq, 3)} (max/min {freq.max() / freq.min():.2f})")
    print(f"  within 3 std ({3 * std:.3f}) of a mode: {(d.min(1) < 3 * std).mean():.3f}")
    print(f"  MMD^2 to exact draws of its target {mmd2(samples[:2000], exact[:2000]):.5f} "
          f"(two exact draws: {floor:.5f})")


def main():
    truth = eight_gaussians()
    X = truth.sample(3000, random_state=0)
    print(f"torch threads: {torch.get_num_threads()}")
    start = time.perf_counter()
    density = DDEDensity(sigma=SIGMA, random_state=0).fit(X)
    density_seconds = time.perf_counter() - start
    samples, rate = timed(lambda seed: density.sample(N, random_state=seed))
    judge("DDEDensity.sample (MALA), target p~", samples, rate, truth, SIGMA, density_seconds)
    start = time.perf_counter()
    generator = DDEGenerator(sigma=SIGMA, density=density, random_state=0).fit(X)
    generator_seconds = time.perf_counter() - start
    samples, rate = timed(lambda seed: generator.sample(N, random_state=seed))
    judge("DDEGenerator.sample, target p (clean)", samples, rate, truth, 0.0,
          generator_seconds)
    print("(the generator's fit time comes on top of the density's it reuses)")


if __name__ == "__main__":
    main()
