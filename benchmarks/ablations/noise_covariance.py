"""Isotropic noise against noise shaped by the data's covariance, on validation data.

``DDEDensity(noise_covariance="isotropic")`` models ``p * N(0, sigma^2 I)``;
``noise_covariance="data"`` models ``p * N(0, sigma^2 C)``, with ``C`` the training
data's covariance, so that a thin direction of the data is smoothed in proportion
to its own spread. For each data set, ``DDEDensity`` at its defaults (``max_iter``
included) is fitted at each sigma of a grid with either noise, on the train split
of ``compare.py`` (standardized, 64/16/20, random_state=0), and scored on its
validation split: the test split is never read. A flagged log Z (the estimator's
``LogNormalizerWarning``) flatters its model; the summary takes the best fit whose
log Z passed its checks.

On Fashion-MNIST-PCA the standardized principal components are uncorrelated on the
train split, so ``C`` is the identity and both kinds of noise are the same model;
it is not run.

    python benchmarks/ablations/noise_covariance.py [--threads N] [DATA ...]
"""

import argparse
import time
import warnings

import torch
from _suite import compare

warnings.simplefilter("ignore")
SIGMAS = (0.05, 0.1, 0.2, 0.4, 0.8)
DATA = ("mixture_10d (10-D)", "wine (13-D)", "breast_cancer (30-D)", "digits (64-D)")
KINDS = ("isotropic", "data")


def run(name):
    train, val = compare.train_and_validation(name)
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows")
    print(f"  {'noise':9s} {'sigma':>5s} {'val ll':>9s} {'log Z by':>8s} {'ESS':>7s} "
          f"{'k-hat':>5s}    {'epochs':>6s} {'fit s':>5s}")
    best = {}
    for sigma in SIGMAS:
        for kind in KINDS:
            start = time.perf_counter()
            model, reliable = compare.fit_dde(sigma, train, "auto", noise_covariance=kind)
            seconds = time.perf_counter() - start
            score = model.score(val)
            print(f"  {kind:9s} {sigma:5.2f} {score:9.3f} {model.normalizer_:>8s} "
                  f"{model.importance_ess_:7.0f} {model.log_normalizer_khat_:5.2f} "
                  f"{'ok' if reliable else '--':>2s} {model.n_iter_:6d} {seconds:5.0f}",
                  flush=True)
            if reliable and score > best.get(kind, (-float("inf"),))[0]:
                best[kind] = (score, sigma)
    for kind in KINDS:
        score, sigma = best.get(kind, (float("nan"), None))
        print(f"  best reliable, {kind:9s}: {score:9.3f} (sigma {sigma})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", help="prefixes of data set names")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    compare.for_each(DATA, args.data, run)


if __name__ == "__main__":
    main()
