"""DDEGenerator over levels on digits: the generator step's level weighting and the
data DDE's sigma, judged as ``benchmarks/generator_levels.py`` judges digits.

- ``weighting``: one data ``DDEDensity(sigma=0.1, levels="all")`` is fitted once
  and given to every generator (``density=``); the generator step weighs each row
  ``(t / sigma^2) ** power`` and puts ``floor`` of each batch at sigma itself
  (the package's ``GENERATOR_LEVEL_POWER`` and ``GENERATOR_FLOOR_SHARE``, set here
  for each row; the defaults are power 1 and floor 0.25).
- ``sigma``: the data DDE at sigma 0.05 and 0.07, its own (Langevin, annealed)
  samples judged too, and a default generator against it.

The judge is a logistic regression trained on the same real training digits (80%
of scikit-learn's digits divided by 16); no held-out row is used. Issue 27 asks for
a mean top class probability ("confidence") of at least 0.8.

    python benchmarks/ablations/generator_level_weighting.py {weighting,sigma}
"""

import argparse
import time
import warnings
from unittest import mock

import _suite  # noqa: F401  (puts benchmarks/ on the path)
import numpy as np
import torch
from generator_levels import data_set

import skdde._generator_models as generator_models
from skdde import DDEDensity, DDEGenerator

WEIGHTINGS = [(1.0, 0.25), (0.5, 0.25), (1.0, 0.5), (0.0, 0.25), (2.0, 0.25)]
SIGMAS = [0.05, 0.07]


def judged_samples(model, judge):
    return judge(np.clip(model.sample(2000, random_state=1), 0, 1))


def weighting(X_train, header, judge):
    start = time.perf_counter()
    density = DDEDensity(sigma=0.1, levels="all", random_state=0).fit(X_train)
    print(f"data DDE at sigma 0.1: fit {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{'generator step':24s} {header}")
    for power, floor in WEIGHTINGS:
        start = time.perf_counter()
        with mock.patch.multiple(generator_models, GENERATOR_LEVEL_POWER=power,
                                 GENERATOR_FLOOR_SHARE=floor):
            gen = DDEGenerator(random_state=0, density=density).fit(X_train)
        seconds = time.perf_counter() - start
        print(f"{f'power {power}, floor {floor}':24s} {judged_samples(gen, judge)}"
              f"  ({seconds:.0f} s)", flush=True)


def sigma(X_train, header, judge):
    print(f"{'samples':24s} {header}")
    for s in SIGMAS:
        start = time.perf_counter()
        density = DDEDensity(sigma=s, levels="all", random_state=0).fit(X_train)
        print(f"{f'DDEDensity, sigma {s}':24s} {judged_samples(density, judge)}"
              f"  (fit {time.perf_counter() - start:.0f} s)", flush=True)
        start = time.perf_counter()
        gen = DDEGenerator(random_state=0, density=density).fit(X_train)
        print(f"{f'DDEGenerator, sigma {s}':24s} {judged_samples(gen, judge)}"
              f"  (fit {time.perf_counter() - start:.0f} s)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["weighting", "sigma"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X_train, _, (header, judge), _ = data_set("digits")
    print(f"# python benchmarks/ablations/generator_level_weighting.py {args.study}"
          f"   (torch {torch.__version__}, one thread)")
    {"weighting": weighting, "sigma": sigma}[args.study](X_train, header, judge)


if __name__ == "__main__":
    main()
