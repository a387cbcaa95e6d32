"""levels="all": two training constants, measured at each data set's chosen sigma.

``floor-share``: dual score matching draws each row's level with ``log t`` uniform from
``sigma^2`` up to the top, and puts ``LEVEL_FLOOR_SHARE`` of the rows at ``sigma^2``
itself (0.25, the issue's prototype's setting). A larger share gives the scored level
more of the network's training at the cost of the levels above, which tie its
normalization to the exact top.

``time-weight``: the time-score term's weight ``LEVEL_TIME_WEIGHT / d``, at ``1 / d``
and ``1 / sqrt(d)``. ``benchmarks/levels.py --time-weight`` compared them at sigma 0.2
and 100 epochs by likelihood alone; this adds what the term is for, the family's
consistency across levels: the probability-flow ODE's likelihood minus the score's
(``flow - score``) on the first 200 validation rows, where both are exactly normalized
densities and a consistent family makes them agree.

Each variant fits every data set at the sigma the grid over levels chose on its
validation split (``benchmarks/compare_levels_output.txt``), defaults otherwise
(``random_state=0``), and is scored on ``compare.py``'s validation split (the test
split is never read): the mean log-likelihood as ``score`` reports it, whether the
estimator called its log Z reliable, the model's own normalization error
(``log_normalizer_residual_``), the epochs and the fit seconds. Variants run side by
side, one torch thread each.

    python benchmarks/ablations/level_training.py floor-share [DATA ...]
    python benchmarks/ablations/level_training.py time-weight [DATA ...]

Output: ``benchmarks/ablations/level_floor_share_output.txt`` and
``benchmarks/ablations/level_time_weight_output.txt``.
"""

import math
import sys
import time
from unittest import mock

import torch
from _suite import compare
from joblib import Parallel, delayed

import skdde._density_levels as levels

#: study -> (column title, module constant, {label: value, or value given d})
STUDIES = {
    "floor-share": ("floor share", "LEVEL_FLOOR_SHARE",
                    {"0.25 (default)": 0.25, "0.5": 0.5, "0.75": 0.75}),
    "time-weight": ("time weight", "LEVEL_TIME_WEIGHT",
                    {"1/d (default)": lambda d: 1.0, "1/sqrt(d)": math.sqrt}),
}
#: data set prefix -> the sigma the grid over levels chose on validation
SIGMAS = {"eight": 0.025, "mixture": 0.1, "two": 0.1, "digits": 0.2, "wine": 0.4,
          "breast": 0.025}
N_FLOW_ROWS = 200


def run(study, label, value, names):
    torch.set_num_threads(1)
    constant = STUDIES[study][1]
    rows = []
    for name in compare.DATA:
        prefix = next((p for p in names if name.startswith(p)), None)
        if prefix is None:
            continue
        train, val = compare.train_and_validation(name)
        setting = value(train.shape[1]) if callable(value) else value
        start = time.perf_counter()
        with mock.patch.multiple(levels, **{constant: setting}):
            model, ok = compare.fit_dde(SIGMAS[prefix], train, "auto", levels="all")
        seconds = time.perf_counter() - start
        row = (f"{name:24s} {label:15s} {model.score(val):9.3f} {'ok' if ok else '--':>5s} "
               f"{model.log_normalizer_residual_:8.3f}")
        if study == "time-weight":
            flow = model.flow_score_samples(val[:N_FLOW_ROWS]).mean()
            row += f" {flow - model.score(val[:N_FLOW_ROWS]):8.3f}"
        rows.append(row + f" {model.n_iter_:6d} {seconds:7.0f}")
    return rows


def main():
    study, names = sys.argv[1], sys.argv[2:] or list(SIGMAS)
    title, _, variants = STUDIES[study]
    print(f"torch {torch.__version__}, 1 thread per variant")
    flow = f" {'ODE gap':>8s}" if study == "time-weight" else ""
    print(f"{'data':24s} {title:15s} {'val ll':>9s} {'log Z':>5s} {'residual':>8s}{flow} "
          f"{'epochs':>6s} {'fit s':>7s}")
    results = Parallel(n_jobs=2)(
        delayed(run)(study, label, value, names) for label, value in variants.items())
    for i in range(len(results[0])):
        for rows in results:
            print(rows[i])


if __name__ == "__main__":
    main()
