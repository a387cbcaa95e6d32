"""AIS at equal cost: many chains through few temperatures, or few through many?

DDEDensity's AIS normalizer runs ``n_importance_samples * AIS_CHAIN_FRACTION``
chains from the mixture proposal to ``exp(s)`` through ``AIS_TEMPERATURES``
temperatures, one MALA step each. Each schedule below costs the same 2^20 MALA
steps (65,536 importance samples' worth) and runs through the estimator's own
``estimate_log_normalizer("ais")``. Printed per target: the log Z error (or the
difference from a reference), the reported standard error, the ESS (of the
chains), the Pareto k-hat, whether the estimator calls it reliable, and seconds.

Targets:

- known: ``normalizers.py``'s 4-Gaussian mixture and skewed Gumbel product, and
  a sharper mixture of 16 Gaussians of std 0.3, in d = 16, 32, 64, with the
  error against the exact log Z;
- trained: ``DDEDensity(max_iter=100)`` fitted on the train splits of
  ``compare.py``'s breast_cancer, digits and Fashion-MNIST PCA-32 at several
  sigma; no exact value, so the column is the difference from a reference run
  of 8 times the cost (2,048 chains through 4,096 temperatures), whose own
  diagnostics are printed first.

All estimates are stochastic lower bounds of log Z: on the known targets the
least negative error is the best; on trained models a larger log Z is the
tighter one. One torch thread.

    python benchmarks/ablations/ais_schedule.py [--fashion-mnist DIR] [known] [trained]
    python benchmarks/ablations/ais_schedule.py --summary OUTPUT.txt  # per schedule, saved run

The summary pools, per schedule, the targets with a trustworthy truth: every known
target, and the trained models whose reference run is itself reliable.
"""

import argparse
import collections
import re
import time
import warnings

import normalizers
import numpy as np
import torch
from _suite import compare

import skdde._normalizer as normalizer
from skdde import DDEDensity

warnings.simplefilter("ignore")
N_SAMPLES = 65536
SCHEDULES = ((4096, 256), (2048, 512), (1024, 1024), (512, 2048))
REFERENCE = (2048, 4096)
#: data set -> the sigmas of the models trained on it
TRAINED = {
    "breast_cancer (30-D)": (0.1, 0.2),
    "digits (64-D)": (0.2, 0.4),
    "fashion_mnist_pca (32-D)": (0.1, 0.2, 0.3),
}


def ais(est, chains, temperatures):
    """``estimate_log_normalizer("ais")`` with the given schedule, and its seconds."""
    saved = normalizer.AIS_TEMPERATURES, normalizer.AIS_CHAIN_FRACTION
    normalizer.AIS_TEMPERATURES, normalizer.AIS_CHAIN_FRACTION = temperatures, chains / N_SAMPLES
    try:
        start = time.perf_counter()
        r = est.estimate_log_normalizer("ais", n_samples=N_SAMPLES, random_state=0)
        return r, time.perf_counter() - start
    finally:
        normalizer.AIS_TEMPERATURES, normalizer.AIS_CHAIN_FRACTION = saved


def report(label, schedule, r, seconds, truth):
    ok = "ok" if r.reliable else "--"
    print(f"  {label:28s} {schedule[0]:5d} x {schedule[1]:4d} {r.log_z - truth:8.3f} "
          f"{r.stderr:7.3f} {r.ess:8.1f} {r.khat:6.2f} {ok:>3s} {seconds:7.1f}", flush=True)


def header(what):
    print(f"  {'target':28s} {'chains x temps':>14s} {what:>8s} {'stderr':>7s} "
          f"{'ESS':>8s} {'k-hat':>6s} {'':>3s} {'seconds':>7s}")


def known():
    print(f"\nknown targets (true log Z = {normalizers.C}), sigma {normalizers.SIGMA}")
    header("error")
    targets = (
        ("mixture", normalizers.mixture_target, {}),
        ("skewed", normalizers.skewed_target, {}),
        ("16 sharp", normalizers.mixture_target, {"n_components": 16, "std": 0.3}),
    )
    for name, make, kw in targets:
        for d in (16, 32, 64):
            log_density, sample = make(d, np.random.default_rng(d), **kw)
            est = normalizers.known_estimator(log_density, sample)
            for schedule in SCHEDULES:
                report(f"{name}, d={d}", schedule, *ais(est, *schedule), normalizers.C)


def trained():
    compare.for_each(TRAINED, (), trained_one)


def trained_one(name):
    train, _ = compare.train_and_validation(name)
    print(f"\n{name}: DDEDensity(max_iter=100) on {len(train)} rows; "
          "difference from the reference run")
    header("diff")
    for sigma in TRAINED[name]:
        est = DDEDensity(sigma=sigma, max_iter=100, random_state=0).fit(train)
        ref, seconds = ais(est, *REFERENCE)
        label = f"sigma={sigma}"
        report(f"{label} (reference)", REFERENCE, ref, seconds, ref.log_z)
        for schedule in SCHEDULES:
            report(label, schedule, *ais(est, *schedule), ref.log_z)


def summary(path):
    rows, section = collections.defaultdict(list), None
    pattern = r"\s+(.+?)\s+(\d+) x\s+(\d+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s+(ok|--)"
    for line in open(path):
        if line[:1].isalpha():
            section = line.split(":")[0]
        match = re.match(pattern, line)
        if match:
            target, chains, temps, error, ok = match.groups()
            key = (section, target.removesuffix(" (reference)"))
            rows[key].append(((int(chains), int(temps)), float(error), ok == "ok"))
    pooled = collections.defaultdict(list)
    for (section, _), results in rows.items():
        reference = [r for r in results if r[0] == REFERENCE]
        if reference and not reference[0][2]:
            continue  # no trustworthy truth
        for schedule, error, ok in results:
            if schedule != REFERENCE:
                pooled[schedule].append((abs(error), ok))
    print(f"{'chains x temps':>14s} {'targets':>7s} {'mean |error|':>12s} {'max':>6s} "
          f"{'flagged':>7s} {'passed, off > 0.1':>17s}")
    for (chains, temps), results in pooled.items():
        errors = np.array([e for e, _ in results])
        flagged = sum(not ok for _, ok in results)
        wrong = sum(ok and e > 0.1 for e, ok in results)
        print(f"{chains:5d} x {temps:6d} {len(results):7d} {errors.mean():12.3f} "
              f"{errors.max():6.3f} {flagged:7d} {wrong:17d}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="known, trained or both (default)")
    parser.add_argument("--summary", metavar="OUTPUT", help="summarize a saved run")
    compare.add_fashion_mnist_argument(parser)
    args = parser.parse_args()
    if args.summary:
        return summary(args.summary)
    parts = {"known": known, "trained": trained}
    if set(args.parts) - set(parts):
        parser.error(f"unknown parts {sorted(set(args.parts) - set(parts))}: known or trained")
    compare.FASHION_MNIST_HOME = args.fashion_mnist
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"each schedule costs {np.prod(SCHEDULES[0]):,} MALA steps")
    for part in args.parts or parts:
        parts[part]()


if __name__ == "__main__":
    main()
