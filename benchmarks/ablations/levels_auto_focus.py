"""sigma="auto" over levels: how much of the fit should train every level?

``DDEDensity(sigma="auto", levels="all")`` trains every level from the floor up for
``LEVEL_SEARCH_FRACTION`` of its epochs, then the levels from ``LEVEL_FOCUS`` times
the best validation level up. Training the whole range costs each level quality
(the "auto" fits trail a grid of fixed sigmas, ``benchmarks/compare_levels_output.txt``),
so this asks whether a shorter search or a narrower focus does better. Each variant
fits every data set with its other settings at their defaults (``max_iter="auto"``,
``random_state=0``) and is scored on the validation split of ``compare.py``'s data
sets (the test split is never read): the mean log-likelihood at ``sigma_``, the
chosen ``sigma_``, whether the estimator called its log Z reliable, and the fit
seconds. The variants run side by side, one torch thread each.

    python benchmarks/ablations/levels_auto_focus.py [DATA ...]
"""

import sys
import time
from unittest import mock

import torch
from _suite import compare
from joblib import Parallel, delayed

import skdde._density_levels as levels

VARIANTS = {
    "search 0.5, focus 0.5 (default)": (0.5, 0.5),
    "search 0.25, focus 0.8": (0.25, 0.8),
}
DATA = ["eight", "mixture", "two", "digits", "wine", "breast"]


def run(label, search, focus, names):
    torch.set_num_threads(1)
    rows = []
    for name in compare.DATA:
        if not any(name.startswith(p) for p in names):
            continue
        train, val = compare.train_and_validation(name)
        start = time.perf_counter()
        with mock.patch.multiple(levels, LEVEL_SEARCH_FRACTION=search, LEVEL_FOCUS=focus):
            model, ok = compare.fit_dde("auto", train, "auto", levels="all")
        seconds = time.perf_counter() - start
        rows.append(f"{name:24s} {label:32s} {model.score(val):9.3f} {model.sigma_:8.4f} "
                    f"{'ok' if ok else '--':>5s} {seconds:7.0f}")
    return rows


def main():
    names = sys.argv[1:] or DATA
    print(f"torch {torch.__version__}, 1 thread per variant")
    print(f"{'data':24s} {'variant':32s} {'val ll':>9s} {'sigma_':>8s} {'log Z':>5s} "
          f"{'fit s':>7s}")
    results = Parallel(n_jobs=len(VARIANTS))(
        delayed(run)(label, *v, names) for label, v in VARIANTS.items())
    for i in range(len(results[0])):
        for rows in results:
            print(rows[i])


if __name__ == "__main__":
    main()
