"""sigma="auto" against GridSearchCV over sigma: likelihood reached and time spent.

Each data set is standardized on its training part and split 80/20 (random_state=0);
the test part is scored once, after every choice was made on the training part.
``GridSearchCV`` scores five sigmas, ``scale * (0.03, 0.06, 0.12, 0.25, 0.5)``
with ``scale = 1`` after standardization, on one 80/20 validation split of the
training part (the same kind of split ``sigma="auto"`` holds out), then refits the
best on all of it. ``grid`` takes the best ``score``; ``reliable`` the best score
of the same search among the fits whose log Z passed its checks (empty
``log_normalizer_problems_``; a flagged fit scores ``-inf``), refitted on all of
the training part when it differs. ``log Z`` says whether each final model's log Z
passed its checks. Known-density rows print the exact smoothed and clean test
log-likelihoods. Default settings otherwise, one torch thread.

    python benchmarks/sigma_auto.py [DATA ...] > benchmarks/sigma_auto_output.txt

Optional arguments keep only the data sets whose names start with them.
"""

import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import GridSearchCV, ShuffleSplit, train_test_split
from sklearn.preprocessing import StandardScaler

from skdde import DDEDensity
from skdde.datasets import GaussianMixtureDensity, eight_gaussians

torch.set_num_threads(1)
GRID = [0.03, 0.06, 0.12, 0.25, 0.5]


def known(g, n):
    X = g.sample(n, random_state=0)
    return X, g


def datasets():
    rng = np.random.default_rng(0)
    mix = GaussianMixtureDensity(
        rng.normal(0, 1.5, size=(4, 10)), np.repeat(0.25 * np.eye(10)[None], 4, 0)
    )
    yield "eight_gaussians", *known(eight_gaussians(radius=2.0, std=0.1), 2500)
    yield "mixture_10d", *known(mix, 4000)
    yield "wine", load_wine().data, None
    yield "breast_cancer", load_breast_cancer().data, None


def reliable_score(est, X, y=None):
    """``est.score(X)``, or ``-inf`` when its log Z failed its checks."""
    return -np.inf if est.log_normalizer_problems_ else est.score(X)


def mean_se(v):
    return v.mean(), v.std() / np.sqrt(len(v))


def main(prefixes=()):
    print(f"torch threads: {torch.get_num_threads()}; grid = scale * {GRID}")
    print(f"{'data':>15s} {'method':>8s} {'sigma':>7s} {'test ll':>8s} {'+-':>5s} "
          f"{'log Z':>5s} {'seconds':>7s}  reference")
    for name, X, g in datasets():
        if prefixes and not name.startswith(tuple(prefixes)):
            continue
        X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
        if g is None:  # standardize on the training part only
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            auto = DDEDensity(sigma="auto", random_state=0, device="cpu").fit(X_train)
            t_auto = time.perf_counter() - t0
            scale = np.sqrt(X_train.var(0).mean())
            t0 = time.perf_counter()
            search = GridSearchCV(
                DDEDensity(random_state=0, device="cpu"),
                {"sigma": [scale * f for f in GRID]},
                scoring={"score": lambda est, X, y=None: est.score(X),
                         "reliable": reliable_score},
                refit="score",
                cv=ShuffleSplit(1, test_size=0.2, random_state=0),
            ).fit(X_train)
            t_grid = time.perf_counter() - t0
            best = int(np.argmax(search.cv_results_["mean_test_reliable"]))
            reliable, t_reliable = search.best_estimator_, t_grid
            if best != search.best_index_:
                t0 = time.perf_counter()
                reliable = DDEDensity(random_state=0, device="cpu", **search.cv_results_[
                    "params"][best]).fit(X_train)
                t_reliable += time.perf_counter() - t0
        for label, est, seconds in (("auto", auto, t_auto), ("grid", search.best_estimator_,
                                                              t_grid),
                                    ("reliable", reliable, t_reliable)):
            ll, se = mean_se(est.score_samples(X_test))
            ref = ""
            if g is not None:
                ref = (f"exact smoothed {g.log_density(X_test, sigma=est.sigma_).mean():.3f}, "
                       f"clean {g.log_density(X_test).mean():.3f}")
            ok = "--" if est.log_normalizer_problems_ else "ok"
            print(f"{name:>15s} {label:>8s} {est.sigma_:7.4f} {ll:8.3f} {se:5.3f} {ok:>5s} "
                  f"{seconds:7.1f}  {ref}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
