"""The multi-level energy's core on its own, before any estimator uses it.

Trains a :class:`skdde._levels.LevelEnergy` (3 x 128 Softplus, multi-scale first
layer) by dual score matching on the eight-Gaussians toy (radius 2, std 0.03 or as
given, 20,000 points), with ``log t`` uniform on ``[sigma^2, 4 * largest variance]``
and a quarter of each batch at ``sigma^2``; Adam, cosine rate, batches of 512. Then
it checks the model's own normalization three ways at several levels: quadrature
on a grid, the ladder AIS from the exact top level, and (at ``sigma``) the
probability-flow ODE likelihood, and compares the held-out mean log-likelihood
with the exact smoothed density's.

    python benchmarks/ablations/levels_core.py [--std 0.03] [--sigma 0.01] [--steps 4000]

One thread. Output: ``benchmarks/ablations/levels_core_output.txt``.
"""

import argparse
import math
import time

import torch

from skdde._flow import flow_log_likelihood
from skdde._levels import DualScoreObjective, LevelEnergy, level_ladder
from skdde._nets import ResidualMLP
from skdde._normalizer import ladder_importance_sampling
from skdde._proposals import Gaussian
from skdde._train import learning_rate_factor
from skdde.datasets import eight_gaussians


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--std", type=float, default=0.03)
    parser.add_argument("--sigma", type=float, default=0.01)
    parser.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    truth = eight_gaussians(std=args.std)
    X = truth.sample(20_000, 0)
    X_test = truth.sample(5_000, 1)
    mean = X.mean(0)
    x = torch.tensor(X - mean, dtype=torch.float32)
    lam, V = torch.linalg.eigh(torch.cov(x.T))
    t_min, t_max = args.sigma**2, 4 * float(lam.max())
    resolution = args.sigma / math.sqrt(float(lam.mean()))
    net = ResidualMLP(2, (128, 128, 128), resolution=resolution, n_context=9)
    energy = LevelEnergy(net, lam, V, t_min, t_max, torch.eye(2))
    g = torch.Generator().manual_seed(0)
    objective = DualScoreObjective(t_min, t_max, 0.25, g)
    optimizer = torch.optim.Adam(energy.parameters(), 1e-3)
    start = time.perf_counter()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * learning_rate_factor("cosine", step / args.steps)
        xb = x[torch.randint(0, len(x), (512,), generator=g)]
        loss = objective(energy, xb, torch.randn(xb.shape, generator=g), None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    fit_s = time.perf_counter() - start
    print(f"std {args.std}, sigma {args.sigma}: {args.steps} steps in {fit_s:.0f} s")

    grid = torch.linspace(-12, 12, 2401)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    points = torch.stack([xx.ravel(), yy.ravel()], 1)
    cell = math.log(float(grid[1] - grid[0]) ** 2)
    ladder = level_ladder(t_min, t_max, 256)
    cov_top = (V * lam) @ V.T + t_max * torch.eye(2)
    top = Gaussian(2, scale_tril=torch.linalg.cholesky(cov_top.double()))  # exact at t_max
    print(f"{'level sigma':>12} {'quadrature log Z':>17} {'ladder AIS log Z':>22}")
    for t in level_ladder(t_min, t_max, 6)[1:]:
        with torch.no_grad():
            f = torch.cat([energy(c, t) for c in points.split(65536)]).double()
        quad = float(torch.logsumexp(f, 0)) + cell
        rungs = [r for r in ladder if r > t] + [t]
        est = ladder_importance_sampling([energy.at(r) for r in rungs], top, 1024, 8, g)
        print(f"{math.sqrt(t):12.4g} {quad:17.4f} {est.log_z:13.4f} +- {est.stderr:.4f}")

    xt = torch.tensor(X_test - mean, dtype=torch.float32)
    with torch.no_grad():
        self_ll = energy(xt, t_min).double()
    exact = truth.log_density(X_test, sigma=args.sigma)
    flow = flow_log_likelihood(energy, xt[:500], t_min, t_max, energy.at(t_max)).mean().item()
    self_500, exact_500 = self_ll[:500].mean().item(), exact[:500].mean()
    self_ll, exact = self_ll.mean().item(), exact.mean()
    print(f"held-out mean ll at sigma: self-normalized {self_ll:.4f}, exact {exact:.4f}")
    print(f"first 500 rows: ODE {flow:.4f}, self-normalized {self_500:.4f}, exact {exact_500:.4f}")


if __name__ == "__main__":
    main()
