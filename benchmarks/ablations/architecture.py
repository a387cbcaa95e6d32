"""Width, depth and activation of the energy network on the comparison's data.

``DDEDensity``'s default network, three residual layers of 128 Softplus units, was
chosen in ``defaults.py`` on 2-D toys, wine and breast_cancer. This script refits
it on the validation splits of ``compare.py``, up to 64-D, with one architecture
setting changed at a time: narrower (64) and wider (256) layers, five layers
instead of three, and the SiLU and tanh activations. ``DDEDensity(sigma,
random_state=seed)`` otherwise at default settings (``max_iter="auto"``), seeds 0
and 1, at the sigmas where the sigma grids of ``compare.py`` and ``weight_decay.py``
did best. Prints the validation log-likelihood, the normalizer's method, ESS and
k-hat, ``ok`` when the estimator calls its log Z reliable (an unreliable one
flatters), the epochs and the fit seconds.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

With ``--refine``, the default network and the two larger ones are fitted again
and each fit's log Z is estimated afresh by AIS with four times the default
chains, to tell whether a flagged score was only flattered.

    python benchmarks/ablations/architecture.py [--refine] [--fashion-mnist DIR] [DATA ...]
"""

import warnings

import smoothing_floor

warnings.simplefilter("ignore")

SIGMAS = {
    "wine (13-D)": (0.3,),
    "breast_cancer (30-D)": (0.05,),
    "digits (64-D)": (0.3, 0.4),
    "fashion_mnist_pca (32-D)": (0.2,),
}
VARIANTS = {
    "(128,)*3 softplus": {},
    "(64,)*3": {"hidden_layer_sizes": (64,) * 3},
    "(256,)*3": {"hidden_layer_sizes": (256,) * 3},
    "(128,)*5": {"hidden_layer_sizes": (128,) * 5},
    "silu": {"activation": "silu"},
    "tanh": {"activation": "tanh"},
}

REFINED = ("(128,)*3 softplus", "(256,)*3", "(128,)*5")


def main():
    smoothing_floor.parameter_ablation(__doc__, SIGMAS, VARIANTS, "network", REFINED)


if __name__ == "__main__":
    main()
