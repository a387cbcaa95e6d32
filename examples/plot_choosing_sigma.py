"""
Choosing sigma: GridSearchCV in a Pipeline, and sigma="auto"
============================================================

``sigma`` is a DDE's bandwidth: the model is the data density smoothed by
``N(0, sigma^2 I)``. It is chosen as ``KernelDensity``'s bandwidth is, by the
held-out log-likelihood: here a ``GridSearchCV`` over a ``Pipeline`` of
``StandardScaler`` and ``DDEDensity`` (3-fold, two jobs), drawn as a validation
curve next to KernelDensity's, and ``sigma="auto"``, which scores a path of noise
levels on a validation split within one training run. The test split is scored
once, after every choice was made on the training split. The DDEs train for a
short budget (60 and 80 epochs instead of the default 400) to keep the example
under two minutes; at this budget they trail KernelDensity on these 2,000 points,
and the grid's best sigma was its smallest (``examples/output``): when that
happens, widen the grid downwards.

Run ``python examples/plot_choosing_sigma.py``; it writes ``choosing_sigma.png``.
"""

# %%
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdde import DDEDensity
from skdde.datasets import make_two_spirals

X = make_two_spirals(3000, noise=0.1, random_state=0)
X_train, X_test = train_test_split(X, test_size=1000, random_state=0)
grid = np.geomspace(0.015, 0.24, 5)  # in standardized units

# %%
# The grid search: every fold's model is scored on its held-out fold.
start = time.perf_counter()
pipe = make_pipeline(StandardScaler(), DDEDensity(max_iter=60, random_state=0))
search = GridSearchCV(pipe, {"ddedensity__sigma": grid}, cv=3, n_jobs=2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    search.fit(X_train)
grid_seconds = time.perf_counter() - start
kde = GridSearchCV(make_pipeline(StandardScaler(), KernelDensity()),
                   {"kerneldensity__bandwidth": np.geomspace(0.01, 0.5, 20)}, cv=3)
kde.fit(X_train)

# %%
# ``sigma="auto"``: one run, annealing down a path and scoring each stage on a 10%
# validation split (normalized at that sigma); the best stage is kept.
start = time.perf_counter()
auto = make_pipeline(StandardScaler(), DDEDensity(sigma="auto", max_iter=80, random_state=0))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    auto.fit(X_train)
auto_seconds = time.perf_counter() - start
dde_auto = auto[-1]

# %%
# KernelDensity's score is a sum over points; dividing by the fold size puts it on
# the DDE's per-sample scale. The test split is used once, here.
n_fold = len(X_train) // 3
best = search.best_params_["ddedensity__sigma"]
print(f"grid search: sigma {best:.3f}, test mean log-lik "
      f"{search.best_estimator_.score(X_test):.3f}, {grid_seconds:.0f} s")
print(f"sigma='auto': sigma {dde_auto.sigma_:.3f}, test mean log-lik "
      f"{auto.score(X_test):.3f}, {auto_seconds:.0f} s")
bw = kde.best_params_["kerneldensity__bandwidth"]
print(f"KernelDensity: bandwidth {bw:.3f}, test mean log-lik "
      f"{kde.best_estimator_.score(X_test) / len(X_test):.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
res = search.cv_results_
ax.errorbar(grid, res["mean_test_score"], res["std_test_score"], marker="o",
            label="DDEDensity, 3-fold CV")
kres = kde.cv_results_
ax.plot(kres["param_kerneldensity__bandwidth"].astype(float),
        kres["mean_test_score"] / n_fold, label="KernelDensity, 3-fold CV")
ax.plot(dde_auto.sigma_path_, dde_auto.sigma_path_scores_, ".-",
        label='sigma="auto": validation split along its path')
ax.axvline(dde_auto.sigma_, color="C2", ls=":")
ax.set(xscale="log", xlabel="sigma (bandwidth), standardized units",
       ylabel="held-out mean log-likelihood")
ax.set_ylim(bottom=max(ax.get_ylim()[0], min(res["mean_test_score"]) - 0.5))
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("choosing_sigma.png", dpi=80)
print("wrote choosing_sigma.png")
