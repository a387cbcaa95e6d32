"""Learning rate, its schedule and the batch size on the comparison's data.

``DDEDensity``'s optimizer defaults (Adam at 1e-3 with cosine decay, batches of
``n_train // 32`` rows clipped to [32, 512]) were chosen in ``defaults.py`` on data
sets under 5,000 rows and of at most 30 dimensions. This script refits it on the
validation splits of ``compare.py`` with one setting changed at a time: learning
rates 3e-4 and 3e-3, the paper's step schedule (halving every quarter), and
batches of 128 rows (4 times the default on digits and breast_cancer, the whole
training split on wine, about a third of the default on Fashion-MNIST, where the
cap of 20,000 steps then cuts the epochs).
``DDEDensity(sigma, random_state=seed)`` otherwise at default settings
(``max_iter="auto"``), seeds 0 and 1, at the sigma where the grids of
``compare.py`` and ``weight_decay.py`` did best. Prints the validation
log-likelihood, the normalizer's method, ESS and k-hat, ``ok`` when the estimator
calls its log Z reliable (an unreliable one flatters), the epochs and the fit
seconds.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

With ``--refine``, the defaults and the learning rate 3e-3 are fitted again and
each fit's log Z is estimated afresh by AIS with four times the default chains,
to tell whether a flagged score was only flattered.

    python benchmarks/ablations/optimizer.py [--refine] [--fashion-mnist DIR] [DATA ...]
"""

import warnings

import smoothing_floor

warnings.simplefilter("ignore")

SIGMAS = {
    "wine (13-D)": (0.3,),
    "breast_cancer (30-D)": (0.05,),
    "digits (64-D)": (0.4,),
    "fashion_mnist_pca (32-D)": (0.2,),
}
VARIANTS = {
    "defaults": {},
    "lr 3e-4": {"learning_rate_init": 3e-4},
    "lr 3e-3": {"learning_rate_init": 3e-3},
    "step schedule": {"learning_rate": "step"},
    "batch 128": {"batch_size": 128},
}

REFINED = ("defaults", "lr 3e-3")


def main():
    smoothing_floor.parameter_ablation(__doc__, SIGMAS, VARIANTS, "optimizer", REFINED)


if __name__ == "__main__":
    main()
