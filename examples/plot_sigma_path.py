"""
Choosing sigma among the levels of one model: ``sigma_path_`` on digits
=======================================================================

With ``levels="all"`` and ``sigma="auto"``, :class:`skdde.DDEDensity` trains one
network for every noise level and then picks ``sigma_`` without retraining: it
scores its validation split (``validation_fraction`` of the training rows) at
levels spaced by 1.1 in sigma, from the floor up to the top level, each normalized
by importance sampling as ``score_samples`` will be, and keeps the best.
``sigma_path_`` holds those levels and ``sigma_path_scores_`` their validation
log-likelihoods (NaN where importance sampling is unreliable): a validation curve
over sigma from a single fit, drawn here with the chosen ``sigma_`` marked.

The data are scikit-learn's 8x8 digits (64-D), dequantized with ``U(0, 1)`` noise
and standardized on the training split, as in ``benchmarks/compare.py``; sigma is
in those standardized units. The model's own normalization, which dual score
matching carries down the levels, is off at ``sigma_`` by
``log_normalizer_residual_``. This is a short fit, to keep the example near a
minute on two cores: 100 epochs (the default is 400) on one torch thread.

Run ``python examples/plot_sigma_path.py``; it writes ``sigma_path.png``.
"""

# %%
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdde import DDEDensity

torch.set_num_threads(1)
X = load_digits().data
X = X + np.random.default_rng(0).uniform(size=X.shape)  # dequantize the 17 grey levels
X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # a short fit, on purpose
    dde = DDEDensity(levels="all", sigma="auto", max_iter=100, random_state=0).fit(X_train)
print(f"fitted {dde.n_iter_} epochs in {time.perf_counter() - start:.0f} s")

# %%
# The test split is scored once, at the chosen level.
best = np.argmax(dde.sigma_path_ == dde.sigma_)
print(f"{len(dde.sigma_path_)} levels from {dde.sigma_path_[0]:.3f} to "
      f"{dde.sigma_path_[-1]:.2f}; sigma_ = {dde.sigma_:.4f}")
print(f"validation mean log-lik at sigma_: "
      f"{dde.sigma_path_scores_[best]:.3f}")
print(f"log Z at sigma_: {dde.log_normalizer_:.3f} +- {dde.log_normalizer_stderr_:.3f} "
      f"(own normalization off by {dde.log_normalizer_residual_:.3f})")
test_score = dde.score(X_test)
print(f"test mean log-lik at sigma_: {test_score:.3f}")

# %%
# Left: the whole path, up to the exact top level; right: the levels within one nat
# of the best, where the choice is made, with the test split's score at ``sigma_``.
near = dde.sigma_path_scores_ > np.nanmax(dde.sigma_path_scores_) - 1
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, keep in zip(axes, [slice(None), near]):
    ax.plot(dde.sigma_path_[keep], dde.sigma_path_scores_[keep], ".-",
            label="validation split")
    ax.axvline(dde.sigma_, color="C1", ls=":", label=f"sigma_ = {dde.sigma_:.3f}")
    ax.set(xscale="log", xlabel="sigma (level), standardized units",
           ylabel="mean log-likelihood")
axes[1].plot(dde.sigma_, test_score, "s", color="C2", label="test split at sigma_")
axes[1].legend(fontsize=8)
fig.suptitle("DDEDensity(levels='all', sigma='auto') on digits: one fit, every level")
fig.tight_layout()
fig.savefig("sigma_path.png", dpi=80)
print("wrote sigma_path.png")
