"""levels="all": what share of each batch should sit at the level that is scored?

Dual score matching draws each row's level with ``log t`` uniform from ``sigma^2`` up
to the top, and puts ``LEVEL_FLOOR_SHARE`` of the rows at ``sigma^2`` itself (0.25,
the issue's prototype's setting, never measured here before). A larger share gives
the scored level more of the network's training at the cost of the levels above,
which tie its normalization to the exact top. Each variant fits every data set at
the sigma the grid over levels chose on its validation split
(``benchmarks/compare_levels_output.txt``), defaults otherwise (``random_state=0``),
and is scored on ``compare.py``'s validation split (the test split is never read):
the mean log-likelihood as ``score`` reports it, whether the estimator called its
log Z reliable, the model's own normalization error (``log_normalizer_residual_``),
the epochs and the fit seconds. Variants run side by side, one torch thread each.

    python benchmarks/ablations/level_floor_share.py [DATA ...]
"""

import sys
import time
import warnings
from unittest import mock

import torch
from _suite import compare
from joblib import Parallel, delayed

import skdde._density_levels as levels
from skdde import DDEDensity, LogNormalizerWarning

VARIANTS = {"0.25 (default)": 0.25, "0.5": 0.5, "0.75": 0.75}
#: data set prefix -> the sigma the grid over levels chose on validation
SIGMAS = {"eight": 0.025, "mixture": 0.1, "two": 0.1, "digits": 0.2, "wine": 0.4,
          "breast": 0.025}


def run(label, share, names):
    torch.set_num_threads(1)
    rows = []
    for name in compare.DATA:
        prefix = next((p for p in names if name.startswith(p)), None)
        if prefix is None:
            continue
        train, val = compare.train_and_validation(name)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught, mock.patch.multiple(
            levels, LEVEL_FLOOR_SHARE=share
        ):
            warnings.simplefilter("always")
            model = DDEDensity(sigma=SIGMAS[prefix], levels="all", random_state=0).fit(train)
        seconds = time.perf_counter() - start
        ok = not any(issubclass(w.category, LogNormalizerWarning) for w in caught)
        rows.append(f"{name:24s} {label:15s} {model.score(val):9.3f} {'ok' if ok else '--':>5s} "
                    f"{model.log_normalizer_residual_:8.3f} {model.n_iter_:6d} {seconds:7.0f}")
    return rows


def main():
    names = sys.argv[1:] or list(SIGMAS)
    print(f"torch {torch.__version__}, 1 thread per variant")
    print(f"{'data':24s} {'floor share':15s} {'val ll':>9s} {'log Z':>5s} {'residual':>8s} "
          f"{'epochs':>6s} {'fit s':>7s}")
    results = Parallel(n_jobs=2)(
        delayed(run)(label, share, names) for label, share in VARIANTS.items())
    for i in range(len(results[0])):
        for rows in results:
            print(rows[i])


if __name__ == "__main__":
    main()
