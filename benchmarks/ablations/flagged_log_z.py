"""Which log Z a fit reports when no estimate passes its checks.

``estimate_log_normalizer("auto")`` tries the Gaussian and mixture proposals, then
(only while neither passes) the ladder AIS of a multi-level model and AIS. When none
passes it used to return the "least unreliable" estimate (smallest Pareto k-hat, then
standard error); it now returns the largest. Each method estimates ``Z`` without bias,
so by Markov's inequality an estimate exceeds the true ``log Z`` by ``k`` nats with
probability at most ``exp(-k)``, whatever its diagnostics.

For each data set and sigma this fits ``DDEDensity(levels=...)`` as ``compare.py``
does (its train split, defaults, ``random_state=0``) and prints the fit's own
estimate (its method, log Z, diagnostics and the validation mean log-likelihood it
gives), then a fresh estimate by each method (seed 0) with the validation score it
would give, and the probability-flow ODE's likelihood on the first 200 validation rows
(levels="all" only): an exactly normalized density of the same network, which does
not use log Z at all. The test split is never read.

    python benchmarks/ablations/flagged_log_z.py [--levels all|single] DATA:SIGMA ...

Output: ``benchmarks/ablations/flagged_log_z_output.txt``.
"""

import argparse
import warnings

import numpy as np
import torch
from _suite import compare

METHODS = ("gaussian", "mixture", "ladder", "ais")
N_FLOW_ROWS = 200


def _row(label, est, f_val):
    verdict = "ok" if est.reliable else "flagged"
    return (f"  {label:22s} {est.log_z:10.3f} {est.stderr:8.3f} {est.ess:9.1f} "
            f"{est.khat:7.2f} {verdict:>8s} {f_val - est.log_z:10.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="all")
    parser.add_argument("cases", nargs="+", help="DATA:SIGMA, e.g. breast:0.025")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# python benchmarks/ablations/flagged_log_z.py --levels {args.levels} "
          f"{' '.join(args.cases)}   (torch {torch.__version__}, 1 thread)")
    for case in args.cases:
        prefix, sigma = case.split(":")
        name = next(n for n in compare.DATA if n.startswith(prefix))
        train, val = compare.train_and_validation(name)
        model, ok = compare.fit_dde(float(sigma), train, "auto", levels=args.levels)
        # the validation mean of f minus the log-det, so that a log Z gives its score
        f_val = model.score(val) + model.log_normalizer_
        print(f"\n## {name}, sigma {sigma}, levels={args.levels!r}: {model.n_iter_} epochs")
        print(f"  {'estimate':22s} {'log Z':>10s} {'stderr':>8s} {'ESS':>9s} {'k-hat':>7s} "
              f"{'checks':>8s} {'val score':>10s}")
        print(f"  {'fit: ' + model.normalizer_:22s} {model.log_normalizer_:10.3f} "
              f"{model.log_normalizer_stderr_:8.3f} {model.importance_ess_:9.1f} "
              f"{model.log_normalizer_khat_:7.2f} {'ok' if ok else 'flagged':>8s} "
              f"{model.score(val):10.3f}")
        fresh = []
        for method in METHODS if args.levels == "all" else ("gaussian", "mixture", "ais"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fresh.append(model.estimate_log_normalizer(method, random_state=0))
            print(_row(f"fresh: {method}", fresh[-1], f_val))
        if not any(est.reliable for est in fresh):
            old = min(fresh, key=lambda e: (e.khat, e.stderr))
            new = max(fresh, key=lambda e: e.log_z)
            print(f"  none of them passes: the old rule takes {old.method!r} "
                  f"({f_val - old.log_z:.3f}), the largest is {new.method!r} "
                  f"({f_val - new.log_z:.3f})")
        if args.levels == "all":
            rows = val[:N_FLOW_ROWS]
            flow = float(np.mean(model.flow_score_samples(rows)))
            print(f"  probability-flow ODE on {len(rows)} rows: {flow:.3f} "
                  f"(the fit's score on them: {model.score(rows):.3f})")


if __name__ == "__main__":
    main()
