"""Mass between far-apart modes: the single level against all levels, over seeds.

Denoising score matching sees each mode's shape but not its mass; the single-level
DDE's likelihood term is what shares mass between modes, and the multi-level model's
exact top level and time score carry it down the levels. This measures both where
the paper's Fig. 1 toy needs it: eight Gaussians (radius 2, std 0.1), 3,000 training
and 2,000 held-out points as in ``examples/plot_toy_densities.py``, sigma 0.05,
every other setting at its default, seeds 0, 1 and 2.

Prints the held-out mean log-likelihood next to the exact smoothed density's and
``KernelDensity(bandwidth=0.05)``'s, the worst mode's mean gap to the exact density
(held-out points assigned to their nearest mode), the normalizer's ESS, the epochs
and the fit seconds (two fits at a time, one torch thread each).

    python benchmarks/ablations/mode_mass.py
"""

import time
import warnings

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.neighbors import KernelDensity

from skdde import DDEDensity
from skdde.datasets import eight_gaussians

SIGMA = 0.05
SEEDS = (0, 1, 2)
LEVELS = ("single", "all")


def data():
    truth = eight_gaussians(radius=2.0, std=0.1)
    X = truth.sample(5000, random_state=0)
    return truth, X[:3000], X[3000:]


def fit(levels, seed):
    torch.set_num_threads(1)
    truth, X_train, X_test = data()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DDEDensity(sigma=SIGMA, levels=levels, random_state=seed).fit(X_train)
    seconds = time.perf_counter() - start
    gap = model.score_samples(X_test) - truth.log_density(X_test, SIGMA)
    mode = np.linalg.norm(X_test[:, None] - truth.means[None], axis=-1).argmin(1)
    worst = min(gap[mode == k].mean() for k in range(len(truth.means)))
    return (f"{levels:>7s} {seed:4d} {model.score(X_test):9.3f} {gap.mean():8.3f} "
            f"{worst:10.3f} {model.importance_ess_:7.0f} {model.n_iter_:6d} {seconds:6.0f}")


def main():
    truth, X_train, X_test = data()
    exact = truth.log_density(X_test, SIGMA).mean()
    kde = KernelDensity(bandwidth=SIGMA).fit(X_train).score_samples(X_test).mean()
    print(f"torch {torch.__version__}; exact smoothed density {exact:.3f}, "
          f"KernelDensity({SIGMA}) {kde:.3f}")
    print(f"{'levels':>7s} {'seed':>4s} {'held out':>9s} {'gap':>8s} {'worst mode':>10s} "
          f"{'ESS':>7s} {'epochs':>6s} {'fit s':>6s}")
    jobs = [(levels, seed) for levels in LEVELS for seed in SEEDS]
    print("\n".join(Parallel(n_jobs=2)(delayed(fit)(*job) for job in jobs)))


if __name__ == "__main__":
    main()
