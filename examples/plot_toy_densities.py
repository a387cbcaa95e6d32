"""
Densities of 2-D toys next to KernelDensity and GaussianMixture (the paper's Fig. 1)
====================================================================================

On two toy data sets, DDEDensity at sigma 0.05 and 0.2 is drawn next to
KernelDensity at bandwidth 0.05 (the same smoothing as the sharper DDE: a DDE of
unlimited capacity is that kernel estimate), a GaussianMixture with its number of
components chosen by BIC, and samples of a DDEGenerator trained against the
sigma = 0.2 DDE. Each model's held-out mean log-likelihood is printed; the DDEs' are
those of the smoothed densities, proper densities like the others'.

The two rows are fitted side by side in two processes. Run
``python examples/plot_toy_densities.py``; it writes ``toy_densities.png``.
"""

# %%
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from joblib import Parallel, delayed
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

from skdde import DDEDensity, DDEGenerator
from skdde.datasets import make_eight_gaussians, make_two_spirals

DATA = {"two spirals": make_two_spirals, "eight Gaussians": make_eight_gaussians}
N_TRAIN, N_TEST = 3000, 2000
LIM = 4.5
xs = np.linspace(-LIM, LIM, 150)
GRID = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)


def fit_row(name):
    """Fit every model of one row; return its densities on the grid and scores."""
    import torch

    torch.set_num_threads(1)  # the rows run side by side on two cores
    X = DATA[name](N_TRAIN + N_TEST, random_state=0)
    X_train, X_test = X[:N_TRAIN], X[N_TRAIN:]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "KernelDensity(0.05)": KernelDensity(bandwidth=0.05).fit(X_train),
            "DDEDensity(0.05)": DDEDensity(sigma=0.05, max_iter=300, random_state=0),
            "DDEDensity(0.2)": DDEDensity(sigma=0.2, max_iter=300, random_state=0),
        }
        for key in ("DDEDensity(0.05)", "DDEDensity(0.2)"):
            models[key].fit(X_train)
        gmms = [GaussianMixture(k, random_state=0).fit(X_train) for k in range(2, 41, 2)]
        models["GaussianMixture(BIC)"] = min(gmms, key=lambda m: m.bic(X_train))
        # batches of 256 keep the example under 2 minutes on two cores
        generator = DDEGenerator(density=models["DDEDensity(0.2)"], max_iter=2000,
                                 batch_size=256, random_state=0).fit(X_train)
    scores = {key: m.score_samples(X_test).mean() for key, m in models.items()}
    scores["DDEGenerator vs DDE(0.2)"] = generator.score(X_test)
    grids = {key: np.exp(m.score_samples(GRID)).reshape(len(xs), len(xs))
             for key, m in models.items()}
    return name, grids, generator.sample(3000, random_state=0), scores, \
        models["GaussianMixture(BIC)"].n_components, time.perf_counter() - start


start = time.perf_counter()
rows = Parallel(n_jobs=2)(delayed(fit_row)(name) for name in DATA)
print(f"fitted in {time.perf_counter() - start:.0f} s (two processes)")

# %%
# Held-out mean log-likelihood per model. KernelDensity at 0.05 and the DDE at 0.05
# estimate the same smoothed density; the generator's score is that of its own
# smoothed output under its generated-data DDE at sigma 0.2.
for name, _, _, scores, k, seconds in rows:
    print(f"{name} (GaussianMixture: {k} components; row fitted in {seconds:.0f} s)")
    for key, value in scores.items():
        print(f"    {key:28s} {value:8.3f}")

# %%
columns = ["KernelDensity(0.05)", "DDEDensity(0.05)", "DDEDensity(0.2)",
           "GaussianMixture(BIC)"]
fig, axes = plt.subplots(len(rows), len(columns) + 1, figsize=(15, 3 * len(rows)))
for row, (name, grids, samples, _, _, _) in zip(axes, rows):
    for ax, key in zip(row, columns):
        ax.imshow(grids[key], origin="lower", extent=(-LIM, LIM, -LIM, LIM), cmap="magma")
        ax.set_title(f"{name}: {key}", fontsize=8)
    row[-1].scatter(*samples.T, s=1, alpha=0.5)
    row[-1].set(xlim=(-LIM, LIM), ylim=(-LIM, LIM), aspect="equal")
    row[-1].set_title(f"{name}: DDEGenerator samples", fontsize=8)
for ax in axes.ravel():
    ax.set(xticks=[], yticks=[])
fig.tight_layout()
fig.savefig("toy_densities.png", dpi=80)
print("wrote toy_densities.png")
