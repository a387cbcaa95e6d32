"""DDEDensity's defaults on more rows: a 10-D mixture with a known smoothed density.

Four Gaussians (std 0.5, means ~ N(0, 1.5^2 I)) in 10-D, sigma = 0.15. Prints the
held-out mean log-likelihood next to the exact one of the smoothed mixture and the
clean mixture (no model should beat the latter), the epochs the auto budget chose
(``max_iter="auto"`` caps training at about 20,000 steps), and the fit time.

    python benchmarks/large_n.py [N ...]     # default 20000 100000; one thread
"""

import sys
import time
import warnings

import numpy as np
import torch

from skdde import DDEDensity
from skdde.datasets import GaussianMixtureDensity

torch.set_num_threads(1)


def mixture_10d():
    rng = np.random.default_rng(0)
    means = rng.normal(0, 1.5, size=(4, 10))
    return GaussianMixtureDensity(means, np.repeat(0.25 * np.eye(10)[None], 4, 0))


def main(sizes):
    g = mixture_10d()
    X_test = g.sample(10_000, random_state=1)
    exact = g.log_density(X_test, sigma=0.15).mean()
    clean = g.log_density(X_test).mean()
    print(f"torch threads: {torch.get_num_threads()}; exact smoothed {exact:.3f}, "
          f"exact clean {clean:.3f}")
    print(f"{'n_train':>8s} {'mean ll':>8s} {'+-':>6s} {'gap':>6s} {'epochs':>6s} "
          f"{'steps':>6s} {'ESS':>7s} {'fit s':>6s}")
    for n in sizes:
        est = DDEDensity(sigma=0.15, random_state=0, device="cpu")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(g.sample(n, random_state=0))
        seconds = time.perf_counter() - start
        ll = est.score_samples(X_test)
        err = ll.std() / np.sqrt(len(ll)) + est.log_normalizer_stderr_
        print(f"{n:8d} {ll.mean():8.3f} {err:6.3f} {exact - ll.mean():6.3f} "
              f"{est.n_iter_:6d} {est.n_steps_:6d} {est.importance_ess_:7.0f} "
              f"{seconds:6.1f}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20_000, 100_000])
