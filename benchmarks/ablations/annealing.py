"""The annealing's share of the epochs: does a longer or shorter descent of sigma,
in the same ``max_iter``, give better models?

Each fit anneals sigma from the data's scale down to ``sigma`` over
``annealing_fraction * max_iter`` epochs (default 0.8 of 400), and early stopping
then ends it once ``n_iter_no_change`` final-sigma epochs bring no gain.
``DDEDensity(sigma, annealing_fraction=f, random_state=seed)`` for f = 0.5, 0.8
and 0.95, seeds 0 and 1; every other parameter at its default. Prints the
validation log-likelihood, the normalizer's method, ESS and k-hat, ``ok`` when the
estimator calls its log Z reliable (an unreliable one flatters), the epochs and
the fit seconds.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

    python benchmarks/ablations/annealing.py [--fashion-mnist DIR] [DATA ...]
"""

import warnings

import smoothing_floor
from optimizer import SIGMAS

warnings.simplefilter("ignore")

VARIANTS = {f"annealing {f}": {"annealing_fraction": f} for f in (0.5, 0.8, 0.95)}


def main():
    smoothing_floor.parameter_ablation(__doc__, SIGMAS, VARIANTS, "annealing")


if __name__ == "__main__":
    main()
