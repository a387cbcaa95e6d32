"""The README demo's data: which DDEDensity settings reach KernelDensity and
GaussianMixture there, and at what cost?

``examples/demo.py`` fits ``DDEDensity(sigma=0.05)`` to two spirals (6,000 points,
noise 0.1, 75/25 split, standardized) and trails both baselines on the test split.
Here its training split is split again (80/20, seed 1); every fit sees the first
part and is scored on the second, so the demo's test split is never read. The
baselines are chosen as the demo chooses them (KernelDensity's bandwidth by 5-fold
cross-validation over 12 values, GaussianMixture's components by BIC). Each variant
changes the demo's fit as its label says; ``patience off`` is ``n_iter_no_change``
equal to ``max_iter`` (early stopping still keeps the best epoch). Prints the
validation mean log-likelihood, the normalizer's ESS, the epochs run and the fit
seconds (two fits at a time, one torch thread each, on a 2-core machine).

    python benchmarks/ablations/demo_settings.py
"""

import time
import warnings

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import StandardScaler

from skdde import DDEDensity
from skdde.datasets import make_two_spirals

DEEP = {"hidden_layer_sizes": (64,) * 6}
LONG = {"max_iter": 800, "n_iter_no_change": 800}
FEW = {"training_options": {"n_likelihood_samples": 512}}
VARIANTS = {
    "demo: sigma 0.05": {"sigma": 0.05},
    "sigma 0.05, levels='all'": {"sigma": 0.05, "levels": "all"},
    "sigma 0.05, 1000 epochs, patience off": {
        "sigma": 0.05, "max_iter": 1000, "n_iter_no_change": 1000},
    "sigma 0.05, (256,)*3": {"sigma": 0.05, "hidden_layer_sizes": (256,) * 3},
    "sigma 0.05, no likelihood term": {
        "sigma": 0.05, "training_options": {"likelihood_weight": 0.0}},
    "sigma 0.03": {"sigma": 0.03},
    "sigma 0.02": {"sigma": 0.02},
    "sigma 0.03, (64,)*4": {"sigma": 0.03, "hidden_layer_sizes": (64,) * 4},
    "sigma 0.03, 800 epochs, patience off": {"sigma": 0.03, **LONG},
    "sigma 0.03, 800 epochs, patience off, lr 3e-3": {
        "sigma": 0.03, **LONG, "learning_rate_init": 3e-3},
    "sigma 0.03, 800 epochs, patience off, (64,)*4": {
        "sigma": 0.03, **LONG, "hidden_layer_sizes": (64,) * 4},
    "sigma 0.03, 800 epochs, patience off, (64,)*6": {"sigma": 0.03, **LONG, **DEEP},
    "  same, 512 likelihood samples": {"sigma": 0.03, **LONG, **DEEP, **FEW},
    "  same, batch 256 (2048 samples)": {"sigma": 0.03, **LONG, **DEEP, "batch_size": 256},
    "  same, 512 samples, sigma 0.02": {"sigma": 0.02, **LONG, **DEEP, **FEW},
    "  same, 512 samples, 1600 epochs": {
        "sigma": 0.03, **DEEP, **FEW, "max_iter": 1600, "n_iter_no_change": 1600},
}


def splits():
    X = make_two_spirals(6000, noise=0.1, random_state=0)
    X_train, _ = train_test_split(X, test_size=0.25, random_state=0)  # the demo's
    X_train = StandardScaler().fit(X_train).transform(X_train)
    return train_test_split(X_train, test_size=0.2, random_state=1)


def fit(label, params):
    torch.set_num_threads(1)
    X_fit, X_val = splits()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DDEDensity(random_state=0, **params).fit(X_fit)
    seconds = time.perf_counter() - start
    return (f"{label:48s} {model.score(X_val):8.3f} {model.importance_ess_:7.0f} "
            f"{model.n_iter_:6d} {seconds:6.0f}")


def main():
    X_fit, X_val = splits()
    print(f"torch {torch.__version__}; {len(X_fit)} fit / {len(X_val)} validation rows")
    kde = GridSearchCV(KernelDensity(), {"bandwidth": np.geomspace(0.02, 0.5, 12)}, cv=5)
    kde.fit(X_fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmms = [GaussianMixture(k, random_state=0).fit(X_fit) for k in range(1, 41, 3)]
    gmm = min(gmms, key=lambda m: m.bic(X_fit))
    print(f"KernelDensity(bandwidth={kde.best_params_['bandwidth']:.3f}): "
          f"{kde.best_estimator_.score_samples(X_val).mean():.3f}")
    print(f"GaussianMixture(n_components={gmm.n_components}): {gmm.score(X_val):.3f}")
    print(f"\n{'DDEDensity variant':48s} {'val ll':>8s} {'ESS':>7s} {'epochs':>6s} {'fit s':>6s}")
    rows = Parallel(n_jobs=2)(delayed(fit)(label, p) for label, p in VARIANTS.items())
    print("\n".join(rows))


if __name__ == "__main__":
    main()
