"""The DDE paper's tabular protocol: POWER, GAS, HEPMASS, MINIBOONE and BSDS300.

Reads the preprocessed files of Papamakarios et al. (2017) from a folder you give
(``skdde.datasets.load_tabular``; nothing is downloaded), with the published
train/validation/test splits and preprocessing, so the test log-likelihoods compare
with published tables. For each data set, DDEDensity is fitted on the train split
at every sigma of ``--sigmas`` (in the standardized units of the data); the sigma
with the best validation log-likelihood is scored on test. Reported: test mean
log-likelihood, its standard error plus the normalizer's, the chosen sigma, the
normalizer's effective sample size, and fit seconds.

    python benchmarks/tabular.py DATA_HOME [NAME ...] [--sigmas 0.05 0.1 0.2]
                                 [--max-iter auto] [--max-rows N] [--device cpu]
                                 [--threads 1]

``DATA_HOME`` is the archive's ``data`` folder (https://zenodo.org/record/1161203,
``data.tar.gz``); ``NAME`` keeps only some data sets. ``--max-rows`` subsamples the
train split (POWER has 1.6 million rows) for a quicker, weaker run; say so when
reporting its numbers. The published figures come from hours of GPU training per
data set; a CPU laptop run will trail them.

This cannot be run on the development machine (the files cannot be downloaded
there); its loading is tested in ``tests/test_datasets.py`` on generated files of
the same formats.
"""

import argparse
import math
import time
import warnings

import numpy as np
import torch

from skdde import DDEDensity
from skdde.datasets import TABULAR_FILES, load_tabular


def run(name, home, sigmas, max_iter, max_rows, device):
    try:
        train, val, test = load_tabular(name, home)
    except (FileNotFoundError, ImportError) as error:
        print(f"{name}: skipped ({error})")
        return
    if max_rows and len(train) > max_rows:
        keep = np.random.default_rng(0).choice(len(train), max_rows, replace=False)
        train = train[np.sort(keep)]
    best = None
    start = time.perf_counter()
    for sigma in sigmas:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = DDEDensity(sigma=sigma, max_iter=max_iter, random_state=0,
                               device=device).fit(train)
        score = model.score(val)
        print(f"  {name} sigma={sigma}: validation {score:.3f} "
              f"(ESS {model.importance_ess_:.0f})", flush=True)
        if best is None or score > best[0]:
            best = (score, sigma, model)
    seconds = time.perf_counter() - start
    _, sigma, model = best
    ll = model.score_samples(test)
    err = ll.std() / math.sqrt(len(ll)) + model.log_normalizer_stderr_
    print(f"{name} ({train.shape[1]}-D, {len(train)} train rows): test {ll.mean():.3f} "
          f"+- {err:.3f} at sigma={sigma}, ESS {model.importance_ess_:.0f}, "
          f"{seconds:.0f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_home")
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(TABULAR_FILES)}")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--max-iter", default="auto")
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on a CPU")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    unknown = sorted(set(args.names) - set(TABULAR_FILES))
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose from {list(TABULAR_FILES)}")
    max_iter = args.max_iter if args.max_iter == "auto" else int(args.max_iter)
    for name in args.names or TABULAR_FILES:
        run(name, args.data_home, args.sigmas, max_iter, args.max_rows, args.device)


if __name__ == "__main__":
    main()
