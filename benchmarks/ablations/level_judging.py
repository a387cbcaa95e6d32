"""levels="all": by what early stopping judges an epoch.

Each epoch of a multi-level fit was judged by its validation likelihood normalized by
importance sampling. As the model sharpens it can outgrow the Gaussian and mixture
proposals; the estimate then fails its checks and the epoch has no verified score.
Five rules, at sigma 0.1 and 0.2, 400 epochs at most, defaults otherwise
(``random_state=0``):

- "verified only" (the rule before ``_EpochJudge``): such epochs count as stalls, so
  the fit stops a quarter of its epochs after the last verified gain;
- "verified, else own": such epochs are judged by the model's own normalization
  (exact at the top level, carried down by its training), the others as before;
- "own only": every epoch by the model's own normalization;
- "shifted own" (the default): as "verified, else own", the own normalization
  shifted by its difference from the verified one at the last epoch that had both;
- "no early stopping": every epoch trained, the averaged weights kept.

Scored on ``compare.py``'s validation split (the test split is never read): the
mean log-likelihood as ``score`` reports it, whether the estimator called its final
log Z reliable, the epochs trained, the epochs whose importance sampling failed (for
the rules that run it), and the fit seconds. Two fits side by side, one torch thread
each.

    python benchmarks/ablations/level_judging.py [--fashion-mnist DIR] [--variant V ...] [DATA ...]

Output: ``benchmarks/ablations/level_judging_output.txt``.
"""

import argparse
import time
from unittest import mock

import numpy as np
import torch
from _suite import compare
from joblib import Parallel, delayed

import skdde._density_levels as levels

SIGMAS = (0.1, 0.2)
DATA = ("eight", "mixture", "two", "digits", "wine", "breast", "fashion", "mnist")
VARIANTS = {
    "verified only": ({}, lambda verify: lambda candidates, scores: verify(
        candidates[np.argmax(scores)])),
    "verified, else own": ({}, lambda verify: lambda candidates, scores: _or(
        verify(candidates[np.argmax(scores)]), float(scores.max()))),
    "own only": ({}, lambda verify: lambda candidates, scores: float(scores.max())),
    "shifted own (default)": ({}, None),
    "no early stopping": ({"early_stopping": False}, None),
}


def _or(value, default):
    return default if value is None else value


def run(name, sigma, label, fashion_mnist_home):
    torch.set_num_threads(1)
    compare.FASHION_MNIST_HOME = fashion_mnist_home
    kw, rule = VARIANTS[label]
    rule = rule or levels._EpochJudge
    failed = []

    def counted(verify):
        def verify_counted(sigma):
            value = verify(sigma)
            failed.append(value is None)
            return value
        return rule(verify_counted)

    train, val = compare.train_and_validation(name)
    start = time.perf_counter()
    with mock.patch.object(levels, "_EpochJudge", counted):
        model, ok = compare.fit_dde(sigma, train, "auto", levels="all", **kw)
    seconds = time.perf_counter() - start
    return (f"{name:24s} {sigma:5.2f} {label:22s} {model.score(val):9.3f} "
            f"{'ok' if ok else '--':>5s} {model.n_iter_:6d} {sum(failed):8d} {seconds:7.0f}")


def main():
    parser = argparse.ArgumentParser()
    compare.add_fashion_mnist_argument(parser)
    parser.add_argument("--variant", action="append", choices=list(VARIANTS),
                        help="run only these variants (default: all)")
    parser.add_argument("data", nargs="*", default=DATA)
    args = parser.parse_args()
    names = [n for n in compare.DATA if any(n.startswith(p) for p in args.data)]
    print(f"torch {torch.__version__}, 1 thread per fit")
    print(f"{'data':24s} {'sigma':>5s} {'judged by':22s} {'val ll':>9s} {'log Z':>5s} "
          f"{'epochs':>6s} {'IS fails':>8s} {'fit s':>7s}")
    jobs = [(n, s, v) for n in names for s in SIGMAS for v in args.variant or VARIANTS]
    rows = Parallel(n_jobs=2)(delayed(run)(*job, args.fashion_mnist) for job in jobs)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
