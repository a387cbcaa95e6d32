"""The epoch budget: do fewer or more epochs than ``max_iter="auto"`` give better
models?

``max_iter="auto"`` trains for 400 epochs (fewer when they would exceed 20,000
steps), annealing sigma over the first 80% of them; early stopping then ends the
fit once ``n_iter_no_change`` final-sigma epochs bring no gain. The annealing's
levels are fixed by sigma and the data, so ``max_iter`` sets how long each level
lasts. ``DDEDensity(sigma, max_iter=m, random_state=seed)`` for m = 100, 200,
"auto" (400 here) and 800, seeds 0 and 1; every other parameter at its default.
Prints the validation log-likelihood, the normalizer's method, ESS and k-hat,
``ok`` when the estimator calls its log Z reliable (an unreliable one flatters),
the epochs and the fit seconds.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

    python benchmarks/ablations/epochs.py [--fashion-mnist DIR] [DATA ...]
"""

import warnings

import smoothing_floor
from optimizer import SIGMAS  # one sigma per data set, as for the optimizer

warnings.simplefilter("ignore")

VARIANTS = {f"max_iter={m}": {"max_iter": m} for m in (100, 200, "auto", 800)}


def main():
    smoothing_floor.parameter_ablation(__doc__, SIGMAS, VARIANTS, "epochs")


if __name__ == "__main__":
    main()
