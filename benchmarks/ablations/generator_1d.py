"""DDEGenerator on the 1-D mixture of eight Gaussians: how close it gets to p~.

The data DDE (default settings, sigma 0.2, 20,000 points) is fitted once and
reused; generators are then trained against it at sigma only
(``annealing_fraction=0``) with the settings below. For each: ``KL(q~ || p~)``
by quadrature against the exact smoothed mixture (``q~`` from 200,000 generated
samples, a histogram far finer than sigma convolved with ``N(0, sigma^2)``), the
mode frequencies (uniform is 0.125), the share of samples more than 3 standard
deviations (0.75) from every mode (the exact mixture puts 0.27% there), and the
fit time on one torch thread. The first row is the data DDE itself, the floor a
generator trained against it can reach. Settings run two at a time.

    python benchmarks/ablations/generator_1d.py
"""

import time
import warnings

import numpy as np
import torch
from joblib import Parallel, delayed
from scipy.special import logsumexp

from skdde import DDEDensity, DDEGenerator
from skdde.datasets import eight_gaussians_1d

SIGMA = 0.2
GRID = np.linspace(-12, 12, 2401)
SETTINGS = [
    dict(n_inner_steps=5, learning_rate="constant", max_iter=3000),
    dict(n_inner_steps=5, max_iter=3000),
    dict(n_inner_steps=10, max_iter=3000),
    dict(n_inner_steps=5, max_iter=6000),
    dict(n_inner_steps=10, max_iter=4500),
    dict(n_inner_steps=10, max_iter=4500, random_state=1),
]


def kl(log_q, truth):
    dx = GRID[1] - GRID[0]
    log_p = truth.log_density(GRID[:, None], SIGMA)
    return float(np.sum(np.exp(log_q) * (log_q - log_p)) * dx)


def smoothed_histogram(x):
    dx = GRID[1] - GRID[0]
    counts, _ = np.histogram(x, bins=np.r_[GRID - dx / 2, GRID[-1] + dx / 2])
    kernel = -0.5 * ((GRID[:, None] - GRID[None, :]) / SIGMA) ** 2
    log_q = logsumexp(kernel, b=counts[None, :] / counts.sum(), axis=1)
    return log_q - 0.5 * np.log(2 * np.pi * SIGMA**2)


def run(density, X, truth, setting):
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    params = dict(density=density, training_options={"annealing_fraction": 0.0}, random_state=0)
    params.update(setting)
    start = time.perf_counter()
    gen = DDEGenerator(**params).fit(X)
    seconds = time.perf_counter() - start
    x = gen.sample(200_000, random_state=123)[:, 0]
    distance = np.abs(x[:, None] - truth.means[None, :, 0])
    freq = np.bincount(distance.argmin(1), minlength=8) / len(x)
    return kl(smoothed_histogram(x), truth), freq, (distance.min(1) > 0.75).mean(), seconds


def main():
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    truth = eight_gaussians_1d()
    X = truth.sample(20_000, random_state=0)
    start = time.perf_counter()
    density = DDEDensity(sigma=SIGMA, random_state=0).fit(X)
    seconds = time.perf_counter() - start
    log_model = density.score_samples(GRID[:, None])
    print(f"torch {torch.__version__}, one thread per fit; seeds: data 0, density 0")
    print(f"data DDE (defaults): KL(p_model || p~) = {kl(log_model, truth):.4f}, "
          f"fit {seconds:.0f} s")
    results = Parallel(n_jobs=2, return_as="generator")(
        delayed(run)(density, X, truth, s) for s in SETTINGS
    )
    print(f"{'setting':<58} {'KL':>6} {'modes min-max':>13} {'gaps':>6} {'fit s':>6}")
    for setting, (value, freq, gaps, seconds) in zip(SETTINGS, results):
        name = ", ".join(f"{k}={v}" for k, v in setting.items())
        print(f"{name:<58} {value:6.3f} {freq.min():6.3f}-{freq.max():.3f} {gaps:6.3f} "
              f"{seconds:6.0f}", flush=True)


if __name__ == "__main__":
    main()
