"""DDEDensity with default settings against densities known in closed form.

The full cases of ``tests/test_truth.py``: 20k training points, only sigma given,
5000 test points. Prints the held-out mean log-likelihood, its gap to the exact
smoothed one (the test allows 0.15, 0.6 and 0.5 nats), its margin below the exact
clean one (Gibbs: must not be negative beyond the error bars), the normalizer and
its diagnostics, and the fit time, on one torch thread.

    python benchmarks/truth.py [N_TRAIN] [--levels] > benchmarks/truth_output.txt

``N_TRAIN`` (default 20000) changes the training set size; the output of
``python benchmarks/truth.py 3000`` is in ``benchmarks/truth_3000_output.txt``.
``--levels`` fits ``DDEDensity(levels="all")`` instead, one seed per case (no
output committed yet).
"""

import sys
import time
import warnings

import numpy as np
import torch

from skdde import DDEDensity
from skdde.datasets import eight_gaussians, random_gaussian_mixture, rotated_gaussian

torch.set_num_threads(1)
CASES = {
    "eight_gaussians_2d": (eight_gaussians(radius=2.0, std=0.1), 0.1),
    "mixture_10d": (random_gaussian_mixture(), 0.15),
    "rotated_gaussian_20d": (rotated_gaussian(), 0.05),
}


def main(n_train=20_000, levels="single"):
    print(f"torch threads: {torch.get_num_threads()}; {n_train} training points; "
          f"levels={levels!r}")
    print(f"{'case':>21s} {'seed':>4s} {'mean ll':>8s} {'+-':>6s} {'gap':>7s} "
          f"{'clean-ll':>8s} {'method':>8s} {'stderr':>6s} {'ESS':>7s} {'k-hat':>5s} "
          f"{'epochs':>6s} {'fit s':>6s}")
    for name, (g, sigma) in CASES.items():
        X, X_test = g.sample(n_train, random_state=0), g.sample(5000, random_state=1)
        for seed in (0, 1, 2) if name == "eight_gaussians_2d" and levels == "single" else (0,):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                est = DDEDensity(sigma=sigma, levels=levels, random_state=seed, device="cpu")
                est.fit(X)
                seconds = time.perf_counter() - t0
            ll = est.score_samples(X_test)
            err = ll.std() / np.sqrt(len(ll)) + est.log_normalizer_stderr_
            gap = ll.mean() - g.log_density(X_test, sigma=sigma).mean()
            margin = g.log_density(X_test).mean() - ll.mean()
            print(f"{name:>21s} {seed:4d} {ll.mean():8.3f} {err:6.3f} {gap:7.3f} "
                  f"{margin:8.3f} {est.normalizer_:>8s} {est.log_normalizer_stderr_:6.3f} "
                  f"{est.importance_ess_:7.0f} {est.log_normalizer_khat_:5.2f} "
                  f"{est.n_iter_:6d} {seconds:6.1f}", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    levels = "all" if "--levels" in args else "single"
    main(*(int(a) for a in args if a != "--levels"), levels=levels)
