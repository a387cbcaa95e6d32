"""When the likelihood term may act: gating on each batch's ESS, or on a running mean.

``DDEDensity``'s likelihood term estimates log Z at every step from a batch of
``n_likelihood_samples`` (2048) draws of the Gaussian base, and acts only when
that estimate's effective sample size (ESS) is at least 32. Where the typical
ESS is far below 32, the rare batches that pass are those that happened to miss
the heavy tail of the importance weights: their log Z is biased low, and their
gradient moves mass to where the proposal does not look. Gating on a running
mean of the ESS (decay 0.9 from 0, over all likelihood steps of a fit) sees
the typical batch instead.

For each data set and sigma, ``DDEDensity`` at default settings (seed 0) with:

- ``batch``: the likelihood term gated on each batch's own ESS (decay 0);
- ``running``: gated on the running mean (the default);
- ``off``: ``likelihood_weight=0``.

Prints the median, 90th percentile and share >= 32 of the batches' ESS (of
2048), the steps on which the term acted, the validation log-likelihood, the
normalizer's method and ESS, ``ok`` when the estimator calls its log Z reliable,
and the fit seconds. Data and splits are those of ``compare.py`` (the test
split is never read). One torch thread.

    python benchmarks/likelihood_gate.py [--fashion-mnist DIR] [DATA ...]
"""

import argparse
import contextlib
import time
import warnings

import compare
import numpy as np
import torch

import skdde._density
import skdde._train
from skdde import DDEDensity, LogNormalizerWarning

warnings.simplefilter("ignore")
CASES = {
    "eight_gaussians (2-D)": (0.1,),
    "mixture_10d (10-D)": (0.1,),
    "wine (13-D)": (0.3,),
    "breast_cancer (30-D)": (0.1,),
    "digits (64-D)": (0.2,),
    "fashion_mnist_pca (32-D)": (0.62, 0.3),
}
GATES = {"batch": 0.0, "running": skdde._train.LIKELIHOOD_ESS_DECAY, "off": None}


@contextlib.contextmanager
def recorded_ess(decay):
    """Batches' ESS, recorded; the running mean's decay set to ``decay``."""
    saved = skdde._density.batch_log_normalizer, skdde._train.LIKELIHOOD_ESS_DECAY
    ess = []

    def spy(*args, **kwargs):
        log_z, batch_ess = saved[0](*args, **kwargs)
        ess.append(float(batch_ess))
        return log_z, batch_ess

    skdde._density.batch_log_normalizer = spy
    skdde._train.LIKELIHOOD_ESS_DECAY = saved[1] if decay is None else decay
    try:
        yield ess
    finally:
        skdde._density.batch_log_normalizer, skdde._train.LIKELIHOOD_ESS_DECAY = saved


def acted(ess, decay):
    """Steps on which the term acted, replaying the gate on the recorded ESS."""
    mean, n = 0.0, 0
    for value in ess:
        mean = decay * mean + (1 - decay) * value
        n += mean >= skdde._train.MIN_LIKELIHOOD_ESS
    return n


def run(name):
    train, val = compare.train_and_validation(name)
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows, default settings\n"
          "  sigma gate     ESS med   p90 >=32  acted    val ll log Z by     ESS ok  fit s")
    for sigma in CASES[name]:
        for gate, decay in GATES.items():
            start = time.perf_counter()
            with recorded_ess(decay) as ess, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                weight = 0.0 if decay is None else 1.0
                model = DDEDensity(sigma=sigma, likelihood_weight=weight, random_state=0)
                model.fit(train)
            seconds = time.perf_counter() - start
            ok = "--" if any(issubclass(w.category, LogNormalizerWarning) for w in caught) else "ok"
            if ess:
                e = np.array(ess)
                stats = (f"{np.median(e):7.0f} {np.percentile(e, 90):5.0f} {np.mean(e >= 32):4.2f} "
                         f"{acted(ess, decay):6d}")
            else:
                stats = f"{'':7s} {'':5s} {'':4s} {0:6d}"
            print(f"  {sigma:5.2f} {gate:8s} {stats} {model.score(val):9.3f} "
                  f"{model.normalizer_:>8s} {model.importance_ess_:7.0f} {ok} {seconds:6.0f}",
                  flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    compare.add_fashion_mnist_argument(parser)
    parser.add_argument("data", nargs="*", help="prefixes of the data sets to run")
    args = parser.parse_args()
    compare.FASHION_MNIST_HOME = args.fashion_mnist
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    compare.for_each(CASES, args.data, run)


if __name__ == "__main__":
    main()
