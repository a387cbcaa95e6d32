"""
One model, every noise level: DDEDensity(levels="all") against the exact density
================================================================================

With ``levels="all"`` a :class:`skdde.DDEDensity` learns one network for the whole
family of smoothed densities ``p_t = p * N(0, t I)``, from ``t = sigma^2`` up to a
top level where it is exactly a Gaussian. Fitted once at ``sigma=0.05`` on the
eight-Gaussians toy, whose smoothed log-density is known exactly at every level
(:func:`skdde.datasets.eight_gaussians`), it is drawn here at four levels, from
``sigma`` up towards the data's scale, above the exact smoothed density at the same
levels. :meth:`~skdde.DDEDensity.score_samples_at` scores the other levels, each
with its own importance-sampled log Z, and the held-out mean log-likelihood at each
level is printed next to the exact one.

This is a short fit, to keep the example near a minute on two cores: 3,000 rows,
150 epochs (the default is 400) and one torch thread (on two busy cores, a second
thread made this small network's training several times slower). The lowest level
is the hardest and gains most from more rows and epochs: with 20,000 rows and the
default 400 epochs it came within 0.005 nats of the exact density
(``benchmarks/levels.py``).

Run ``python examples/plot_noise_levels.py``; it writes ``noise_levels.png``.
"""

# %%
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skdde import DDEDensity
from skdde.datasets import eight_gaussians

torch.set_num_threads(1)
truth = eight_gaussians()  # radius 2, component std 0.1
X_train = truth.sample(3000, random_state=0)
X_test = truth.sample(2000, random_state=1)

start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # a short fit, on purpose
    dde = DDEDensity(levels="all", sigma=0.05, max_iter=150, random_state=0).fit(X_train)
print(f"fitted {dde.n_iter_} epochs in {time.perf_counter() - start:.0f} s")

# %%
# Each level is scored once, on the held-out rows and the grid together, so that
# both share one estimate of log Z at that level.
LEVELS = [0.05, 0.15, 0.4, 1.0]
LIM, N_GRID = 3.5, 120
xs = np.linspace(-LIM, LIM, N_GRID)
grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
points = np.vstack([X_test, grid])

print(f"{'sigma':>6s} {'DDE held-out mean log-lik':>27s} {'exact':>8s} {'gap':>7s}")
learned, exact = {}, {}
for sigma in LEVELS:
    ll = dde.score_samples_at(points, sigma, random_state=0)
    true_ll = truth.log_density(points, sigma)
    test_ll, true_test = ll[: len(X_test)], true_ll[: len(X_test)]
    se = test_ll.std() / np.sqrt(len(test_ll))
    print(f"{sigma:6.2f} {test_ll.mean():18.3f} +- {se:.3f} {true_test.mean():8.3f} "
          f"{test_ll.mean() - true_test.mean():7.3f}")
    learned[sigma] = np.exp(ll[len(X_test):]).reshape(N_GRID, N_GRID)
    exact[sigma] = np.exp(true_ll[len(X_test):]).reshape(N_GRID, N_GRID)

# %%
# Top row: the one fitted model at each level; bottom row: the exact smoothed
# density. Each column shares one colour scale.
fig, axes = plt.subplots(2, len(LEVELS), figsize=(3.2 * len(LEVELS), 6.6))
for col, sigma in enumerate(LEVELS):
    vmax = exact[sigma].max()
    for row, (name, dens) in enumerate([("DDEDensity", learned), ("exact", exact)]):
        ax = axes[row, col]
        ax.imshow(dens[sigma], origin="lower", extent=(-LIM, LIM, -LIM, LIM),
                  cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"{name}, sigma = {sigma:g}", fontsize=9)
        ax.set(xticks=[], yticks=[])
fig.tight_layout()
fig.savefig("noise_levels.png", dpi=80)
print("wrote noise_levels.png")
