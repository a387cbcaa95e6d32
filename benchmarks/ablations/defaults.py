"""Measurements behind DDEDensity's defaults.

Fits DDEDensity on several data sets that no test uses, with the defaults and with
one setting changed at a time, and prints the mean log-likelihood on a held-out
validation split (20%, never used to fit), its standard error, the fit time and the
normalizer's effective sample size. All data are standardized on the fitting split.

    python benchmarks/ablations/defaults.py [--defaults-only] [DATA ...]   # an hour on one core

Optional arguments keep only the data sets whose names start with them;
``--defaults-only`` keeps only the first row of each (a few minutes).

Its output is committed as benchmarks/ablations/defaults_output.txt, from two halves run side
by side on the two cores (`... two_spirals wine` and `... checkerboard breast`).
"""

import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdde import DDEDensity
from skdde.datasets import make_checkerboard, make_two_spirals

torch.set_num_threads(1)

DATA = {
    "two_spirals (2-D, 5000)": lambda: make_two_spirals(5000, random_state=0),
    "checkerboard (2-D, 5000)": lambda: make_checkerboard(5000, random_state=0),
    "wine (13-D, 178)": lambda: load_wine().data,
    "breast_cancer (30-D, 569)": lambda: load_breast_cancer().data,
}
VARIANTS = {
    "defaults (sigma=0.1)": {},
    "sigma=0.3": {"sigma": 0.3},
    "sigma='scott'": {"sigma": "scott"},
    "no annealing": {"training_options": {"sigma_start": None}},
    "likelihood_weight=0": {"training_options": {"likelihood_weight": 0.0}},
    "likelihood_weight=0.1": {"training_options": {"likelihood_weight": 0.1}},
    "batch_size=512": {"batch_size": 512},
    "batch_size=128": {"batch_size": 128},
    "hidden=(64, 64)": {"hidden_layer_sizes": (64, 64)},
    "hidden=(256,)*3": {"hidden_layer_sizes": (256, 256, 256)},
    "hidden=(128,)*4": {"hidden_layer_sizes": (128, 128, 128, 128)},
    "lr=3e-4": {"learning_rate_init": 3e-4},
    "lr=3e-3": {"learning_rate_init": 3e-3},
    "max_iter=100": {"max_iter": 100},
    "max_iter=200": {"max_iter": 200},
}


def main(prefixes=(), defaults_only=False):
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'data':28s} {'variant':22s} {'val ll':>9s} {'+-':>6s} {'sigma_':>7s} "
          f"{'epochs':>6s} {'ESS':>7s} {'fit s':>6s}")
    for name, load in DATA.items():
        if prefixes and not name.startswith(tuple(prefixes)):
            continue
        X = load().astype(np.float64)
        X_fit, X_val = train_test_split(X, test_size=0.2, random_state=0)
        scaler = StandardScaler().fit(X_fit)
        X_fit, X_val = scaler.transform(X_fit), scaler.transform(X_val)
        for variant, params in list(VARIANTS.items())[: 1 if defaults_only else None]:
            est = DDEDensity(random_state=0, device="cpu", **params)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(X_fit)
            seconds = time.perf_counter() - start
            ll = est.score_samples(X_val)
            se = ll.std() / np.sqrt(len(ll))
            print(f"{name:28s} {variant:22s} {ll.mean():9.3f} {se:6.3f} {est.sigma_:7.3f} "
                  f"{est.n_iter_:6d} {est.importance_ess_:7.0f} {seconds:6.1f}", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main([a for a in args if a != "--defaults-only"], "--defaults-only" in args)
