"""
Novelty detection with held-out log-likelihoods: digits against corrupted digits
================================================================================

A density model flags an input as novel when its log-likelihood is low. Models are
fitted on 75% of scikit-learn's 8x8 digits (dequantized with uniform noise, scaled
to [0, 1]); the other 25% are scored as they are and corrupted three ways: Gaussian
pixel noise, mirrored left to right, and a blanked 3x3 patch. Each corruption's ROC
AUC of the score ``-log p(x)`` (real held-out digits negative, corrupted ones
positive) is printed for DDEDensity (sigma chosen on a validation split of the
training digits), KernelDensity (bandwidth by 3-fold cross-validation) and
GaussianMixture (components by BIC).

Run ``python examples/plot_novelty_detection.py``; it writes
``novelty_detection.png``.
"""

# %%
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KernelDensity

from skdde import DDEDensity

rng = np.random.default_rng(0)
digits = load_digits().data
X = (digits + rng.uniform(size=digits.shape)) / 17.0  # dequantized, in [0, 1]
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

images = X_test.reshape(-1, 8, 8)
blanked = images.copy()
for image, (r, c) in zip(blanked, rng.integers(1, 5, size=(len(images), 2))):
    image[r : r + 3, c : c + 3] = rng.uniform(size=(3, 3)) / 17.0
corrupted = {
    "pixel noise (std 0.15)": np.clip(X_test + rng.normal(0, 0.15, X_test.shape), 0, 1),
    "mirrored": images[:, :, ::-1].reshape(len(images), -1),
    "3x3 patch blanked": blanked.reshape(len(images), -1),
}

# %%
# Every choice is made on the training digits: DDEDensity's sigma on a validation
# split, KernelDensity's bandwidth by cross-validation, the mixture's size by BIC.
models, times = {}, {}
start = time.perf_counter()
X_fit, X_val = train_test_split(X_train, test_size=0.2, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    candidates = [DDEDensity(sigma=s, max_iter=150, random_state=0).fit(X_fit)
                  for s in (0.0075, 0.015, 0.03, 0.06)]
    sigma = max(candidates, key=lambda m: m.score(X_val)).sigma
    models[f"DDEDensity(sigma={sigma})"] = DDEDensity(sigma=sigma, max_iter=150,
                                                      random_state=0).fit(X_train)
times[f"DDEDensity(sigma={sigma})"] = time.perf_counter() - start

start = time.perf_counter()
kde = GridSearchCV(KernelDensity(), {"bandwidth": np.geomspace(0.02, 0.3, 12)}, cv=3)
kde.fit(X_train)
name = f"KernelDensity(bandwidth={kde.best_params_['bandwidth']:.3f})"
models[name], times[name] = kde.best_estimator_, time.perf_counter() - start

start = time.perf_counter()
gmms = [GaussianMixture(k, random_state=0).fit(X_train) for k in (1, 2, 4, 8, 16)]
gmm = min(gmms, key=lambda m: m.bic(X_train))
name = f"GaussianMixture(n_components={gmm.n_components})"
models[name], times[name] = gmm, time.perf_counter() - start

# %%
print(f"{'model':36s} {'test ll':>8s} " + " ".join(f"{c:>24s}" for c in corrupted)
      + f" {'fit s':>6s}")
aucs = {}
for name, model in models.items():
    real = model.score_samples(X_test)
    row = []
    for corruption, X_bad in corrupted.items():
        bad = model.score_samples(X_bad)
        y = np.r_[np.zeros(len(real)), np.ones(len(bad))]
        aucs[name, corruption] = (y, -np.r_[real, bad])
        row.append(roc_auc_score(y, -np.r_[real, bad]))
    print(f"{name:36s} {real.mean():8.2f} " + " ".join(f"{a:24.3f}" for a in row)
          + f" {times[name]:6.1f}")

# %%
fig, axes = plt.subplots(1, len(corrupted), figsize=(13, 4))
for ax, corruption in zip(axes, corrupted):
    for name in models:
        y, score = aucs[name, corruption]
        fpr, tpr, _ = roc_curve(y, score)
        ax.plot(fpr, tpr, label=f"{name.split('(')[0]} (AUC {roc_auc_score(y, score):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.5)
    ax.set(title=corruption, xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()
fig.savefig("novelty_detection.png", dpi=80)
print("wrote novelty_detection.png")
