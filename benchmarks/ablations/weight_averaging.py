"""An exponential moving average of the weights: does judging and keeping the
averaged network, instead of the last weights, give better models?

``DDEDensity(sigma, random_state=seed)`` at default settings (``max_iter="auto"``),
trained as usual but with the training loop's ``ema_decay`` set (swapped in for the
fit): each epoch at the final sigma is judged, and the best one kept, with the
average of the weights (decay warmed up as ``min(decay, (1 + t) / (10 + t))``).
Seeds 0 and 1. Prints the validation log-likelihood, the normalizer's method, ESS
and k-hat, ``ok`` when the estimator calls its log Z reliable (an unreliable one
flatters), the epochs and the fit seconds.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

    python benchmarks/ablations/weight_averaging.py [--fashion-mnist DIR] [DATA ...]
"""

import functools
import warnings
from unittest.mock import patch

import smoothing_floor

import skdde._density_single
from skdde._train import train

warnings.simplefilter("ignore")
SIGMAS = {  # the best reliable sigma of smoothing_floor.py or compare.py, and a neighbour
    "wine (13-D)": (0.1, 0.3),
    "breast_cancer (30-D)": (0.05, 0.1),
    "digits (64-D)": (0.2, 0.4),
    "fashion_mnist_pca (32-D)": (0.2,),
}
DECAYS = (None, 0.99, 0.999)
SEEDS = (0, 1)


def run(name):
    variants = {
        str(decay): (functools.partial(patch.object, skdde._density_single, "train",
                                       functools.partial(train, ema_decay=decay)), {})
        for decay in DECAYS
    }
    smoothing_floor.variant_rows(name, SIGMAS[name], variants, "ema decay", SEEDS)


def main():
    smoothing_floor.ablation_main(__doc__, SIGMAS, run)


if __name__ == "__main__":
    main()
