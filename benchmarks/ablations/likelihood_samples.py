"""The likelihood term's importance samples: what do the 2048 samples per step of
``n_likelihood_samples`` buy over fewer, or over no likelihood term at all?

At the final sigma every training step adds ``likelihood_weight`` times the
negative log-likelihood of its noisy batch, normalized by a differentiable log Z
from ``n_likelihood_samples`` Gaussian-proposal samples. On small data sets the
batch is small (32 rows on digits), so those samples outnumber its rows 64 to 1.
``DDEDensity(sigma, n_likelihood_samples=n, random_state=seed)`` at default
settings (``max_iter="auto"``), and ``likelihood_weight=0``; seeds 0 and 1. Prints
the validation log-likelihood, the normalizer's method, ESS and k-hat, ``ok`` when
the estimator calls its log Z reliable (an unreliable one flatters), the epochs
and the fit seconds.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

    python benchmarks/ablations/likelihood_samples.py [--fashion-mnist DIR] [DATA ...]
"""

import warnings

import smoothing_floor

warnings.simplefilter("ignore")

SIGMAS = {  # a subset of weight_decay.py's, fewer where fits are slow
    "wine (13-D)": (0.3,),
    "breast_cancer (30-D)": (0.05, 0.1),
    "digits (64-D)": (0.2, 0.4),
    "fashion_mnist_pca (32-D)": (0.2,),
}
VARIANTS = {
    "2048 (default)": {},
    "512": {"n_likelihood_samples": 512},
    "128": {"n_likelihood_samples": 128},
    "no likelihood": {"likelihood_weight": 0.0},
}

def main():
    smoothing_floor.parameter_ablation(__doc__, SIGMAS, VARIANTS, "samples")


if __name__ == "__main__":
    main()
