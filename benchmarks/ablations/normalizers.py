"""Each log-normalizer of DDEDensity against targets whose log Z is known exactly.

A DDEDensity is fitted briefly (which sets its Gaussian base and its mixture
proposal from the data), then its network is replaced by an exactly normalized
log-density plus a constant c, so the true log Z is c and every method runs
through the estimator's own code path (``estimate_log_normalizer``). Targets, in
d = 2, 5, 10, 20, 50:

- ``mixture``: four Gaussians, std 0.5, means ~ N(0, 1.5^2 I), smoothed by sigma 0.15
  (the shape of the 10-D truth test);
- ``skewed``: a randomly rotated product of Gumbel densities with scales
  log-uniform in [0.1, 10], shifted (unimodal, skewed, badly conditioned).

Prints the error of log Z, the reported standard error, the ESS (of 65,536 draws,
or of 1,024 AIS chains), the Pareto k-hat and the seconds, on one torch thread.

    python benchmarks/ablations/normalizers.py > benchmarks/ablations/normalizers_output.txt
"""

import math
import sys
import time
import warnings

import numpy as np
import torch
from scipy.stats import special_ortho_group

from skdde import DDEDensity

torch.set_num_threads(1)
SIGMA = 0.15
C = 3.0  # the known log Z


class KnownEnergy(torch.nn.Module):
    """``log_density(x) + C`` on centred input, with the estimator's whitened view."""

    def __init__(self, log_density, mean, unwhitening):
        super().__init__()
        self.log_density = log_density
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.register_buffer("unwhitening", torch.as_tensor(unwhitening, dtype=torch.float64))

    def forward(self, xc):
        return self.log_density(xc.double() + self.mean) + C

    def whitened(self, u):
        return self(u.double() @ self.unwhitening.T)


def mixture_target(d, rng, n_components=4, std=0.5):
    means = torch.as_tensor(rng.normal(0, 1.5, size=(n_components, d)))
    var = std**2 + SIGMA**2

    def log_density(x):
        sq = (x[:, None, :] - means).square().sum(-1)
        log_n = -0.5 * sq / var - 0.5 * d * math.log(2 * math.pi * var)
        return torch.logsumexp(log_n, 1) - math.log(n_components)

    def sample(n):
        k = rng.integers(n_components, size=n)
        return means.numpy()[k] + rng.normal(0, math.sqrt(var), size=(n, d))

    return log_density, sample


def skewed_target(d, rng):
    rot = torch.as_tensor(special_ortho_group.rvs(d, random_state=rng) if d > 1 else [[1.0]])
    scales = torch.as_tensor(np.exp(rng.uniform(np.log(0.1), np.log(10), d)))
    shift = torch.as_tensor(rng.normal(0, 3, d))

    def log_density(x):
        z = ((x - shift) @ rot) / scales  # standard Gumbel coordinates
        return (-z - torch.exp(-z)).sum(-1) - torch.log(scales).sum()

    def sample(n):
        z = rng.gumbel(size=(n, d))
        return (z * scales.numpy()) @ rot.numpy().T + shift.numpy()

    return log_density, sample


def known_estimator(log_density, sample):
    """A DDEDensity whose base and proposals come from ``sample(20_000)`` and whose
    energy is ``log_density + C``: its true log Z is ``C``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = DDEDensity(
            sigma=SIGMA, max_iter=1, training_options={"normalizer": "gaussian"},
            random_state=0, device="cpu",
        ).fit(sample(20_000))
    est.module_ = KnownEnergy(log_density, est._mean, est._unwhitening)
    return est


def main(dims):
    print(f"torch threads: {torch.get_num_threads()}; true log Z = {C}; sigma = {SIGMA}")
    print(f"{'target':>8s} {'d':>3s} {'method':>12s} {'error':>8s} {'stderr':>7s} "
          f"{'ESS':>8s} {'k-hat':>6s} {'seconds':>7s}")
    for name, make in (("mixture", mixture_target), ("skewed", skewed_target)):
        for d in dims:
            rng = np.random.default_rng(d)
            log_density, sample = make(d, rng)
            est = known_estimator(log_density, sample)
            for method in ("gaussian", "mixture", "ais", "auto"):
                t0 = time.perf_counter()
                r = est.estimate_log_normalizer(method, random_state=0)
                seconds = time.perf_counter() - t0
                label = method if method != "auto" else f"auto:{r.method}"
                print(f"{name:>8s} {d:3d} {label:>12s} {r.log_z - C:8.3f} {r.stderr:7.3f} "
                      f"{r.ess:8.1f} {r.khat:6.2f} {seconds:7.1f}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2, 5, 10, 20, 50])
