"""Weight decay: does shrinking the weights close the gap between the training and
the validation likelihood of a DDE fitted to a few hundred or thousand rows?

``DDEDensity(sigma, weight_decay, random_state=seed)`` at default settings
(``max_iter="auto"``); ``weight_decay`` is AdamW's decoupled decay of every weight
(0 is Adam). Seeds 0 and 1. Prints the validation log-likelihood, the normalizer's
method, ESS and k-hat, ``ok`` when the estimator calls its log Z reliable (an
unreliable one flatters), the epochs and the fit seconds. ``--gap`` prints instead,
for seed 0 and decays 0 and 0.1, the log-likelihood of the training split next to
the validation one's.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

    python benchmarks/ablations/weight_decay.py [--gap] [--fashion-mnist DIR] [DATA ...]
"""

import warnings

import smoothing_floor
from _suite import compare

warnings.simplefilter("ignore")
SIGMAS = {  # around the best reliable sigma of smoothing_floor.py and compare.py
    "wine (13-D)": (0.1, 0.3),
    "breast_cancer (30-D)": (0.05, 0.1),
    "digits (64-D)": (0.2, 0.3, 0.4),
    "fashion_mnist_pca (32-D)": (0.2,),
}
DECAYS = (0.0, 0.01, 0.1)
GAP_DECAYS = (0.0, 0.1)
SEEDS = (0, 1)


def run(name):
    variants = smoothing_floor.parameter_variants(
        {str(decay): {"weight_decay": decay} for decay in DECAYS})
    smoothing_floor.variant_rows(name, SIGMAS[name], variants, "decay", SEEDS)


def gap(name):
    train, val = compare.train_and_validation(name)
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows, default settings, "
          "seed 0\n  sigma decay  train ll    val ll  gap")
    for sigma in SIGMAS[name]:
        for decay in GAP_DECAYS:
            model, _ = compare.fit_dde(sigma, train, "auto", weight_decay=decay)
            fit, held_out = model.score(train), model.score(val)
            print(f"  {sigma:5.2f} {decay:5.2f} {fit:9.3f} {held_out:9.3f} {fit - held_out:5.1f}",
                  flush=True)


def main():
    smoothing_floor.ablation_main(
        __doc__, SIGMAS, run, ("--gap", "training against validation log-likelihood", gap))


if __name__ == "__main__":
    main()
