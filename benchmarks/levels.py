"""DDEDensity(levels="all") on eight Gaussians, whose smoothed densities are exact.

Two cases, 20,000 training and 5,000 test points: modes of std 0.1 at sigma 0.05,
and sharp modes of std 0.03 at sigma 0.01. For each fit: epochs, fit seconds, the
held-out mean log-likelihood, its gap to the exact smoothed density's, the
model's own normalization error (``log_normalizer_residual_``, with the
normalizer's standard error) and the probability-flow ODE's likelihood on the
first 500 test rows next to the score's. Besides the defaults, the two training
choices of ``skdde/_density_levels.py`` are switched off one at a time on the first
case: weight averaging (at 100 epochs, with and without it) and the patience floor
(early stopping after 10 epochs without gain).

``--time-weight`` measures instead the weight of dual score matching's time-score
term (``LEVEL_TIME_WEIGHT`` over d) at 1, 1/sqrt(d), 1/d and 1/d^2: the validation
likelihood (normalized as ``score`` does) and the model's own normalization error
on the validation splits of ``benchmarks/compare.py`` at sigma 0.2, 100 epochs.

    python benchmarks/levels.py [--sharp]
    python benchmarks/levels.py --time-weight

One thread. ``--sharp`` adds the sharp case (about 12 minutes); ``--time-weight``
takes about 12 minutes. Output: ``benchmarks/levels_output.txt`` and
``benchmarks/levels_time_weight_output.txt``.
"""

import argparse
import contextlib
import time
import warnings
from unittest import mock

import torch

import skdde._density_levels as levels
from skdde import DDEDensity
from skdde.datasets import eight_gaussians

#: (name, std of the modes, sigma, estimator parameters, module constants)
VARIANTS = [
    ("defaults", 0.1, 0.05, {}, {}),
    ("patience 10 epochs", 0.1, 0.05, {}, {"LEVEL_PATIENCE": 0.0}),
    ("100 epochs", 0.1, 0.05, {"max_iter": 100}, {}),
    ("100 epochs, no averaging", 0.1, 0.05, {"max_iter": 100}, {"LEVEL_EMA_DECAY": None}),
    ("defaults", 0.03, 0.01, {}, {}),
]


def fit(X, constants=None, **params):
    """``DDEDensity(levels="all")`` fitted to ``X`` with the module constants of
    ``skdde/_density_levels.py`` set to ``constants``, and its fit seconds."""
    patched = mock.patch.multiple(levels, **constants) if constants else contextlib.nullcontext()
    with patched, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        est = DDEDensity(levels="all", random_state=0, device="cpu", **params).fit(X)
        return est, time.perf_counter() - start


def run(name, std, sigma, params, constants):
    truth = eight_gaussians(radius=2.0, std=std)
    X, X_test = truth.sample(20_000, random_state=0), truth.sample(5000, random_state=1)
    est, seconds = fit(X, constants, sigma=sigma, **params)
    ll = est.score_samples(X_test)
    gap = ll.mean() - truth.log_density(X_test, sigma=sigma).mean()
    flow = est.flow_score_samples(X_test[:500]).mean()
    print(f"{std:5.2f} {sigma:5.2f} {name:26s} {est.n_iter_:6d} {seconds:6.0f} {ll.mean():8.4f} "
          f"{gap:7.4f} {est.log_normalizer_residual_:8.4f} {est.log_normalizer_stderr_:6.4f} "
          f"{est.normalizer_:>8s} {flow:8.4f} {ll[:500].mean():8.4f}", flush=True)


#: weight of the time-score term, as a function of d
TIME_WEIGHTS = {"1": lambda d: 1.0, "1/sqrt(d)": lambda d: d**-0.5,
                "1/d": lambda d: 1.0 / d, "1/d^2": lambda d: d**-2.0}


def time_weights():
    import compare  # benchmarks/ is on the path when this script runs

    print(f"{'data':24s} {'weight':>9s} {'epochs':>6s} {'fit s':>6s} "
          f"{'validation':>10s} {'residual':>8s}")
    for name in ("eight_gaussians (2-D)", "two_spirals (2-D)", "mixture_10d (10-D)",
                 "wine (13-D)", "breast_cancer (30-D)", "digits (64-D)"):
        train, val = compare.train_and_validation(name)
        d = train.shape[1]
        for label, weight in TIME_WEIGHTS.items():
            est, seconds = fit(train, {"LEVEL_TIME_WEIGHT": weight(d) * d}, sigma=0.2,
                               max_iter=100)
            print(f"{name:24s} {label:>9s} {est.n_iter_:6d} {seconds:6.0f} "
                  f"{est.score(val):10.3f} {est.log_normalizer_residual_:8.3f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sharp", action="store_true")
    parser.add_argument("--time-weight", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.time_weight:
        return time_weights()
    print(f"{'std':>5s} {'sigma':>5s} {'variant':26s} {'epochs':>6s} {'fit s':>6s} "
          f"{'mean ll':>8s} {'gap':>7s} {'residual':>8s} {'+-':>6s} {'method':>8s} "
          f"{'ODE 500':>8s} {'ll 500':>8s}")
    for variant in VARIANTS:
        if args.sharp or variant[1] == 0.1:
            run(*variant)


if __name__ == "__main__":
    main()
