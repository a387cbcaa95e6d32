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
chains (``REFINE_SAMPLES`` importance samples), to tell whether a flagged score
was only flattered.

    python benchmarks/architecture.py [--refine] [--fashion-mnist DIR] [DATA ...]
"""

import warnings

import compare
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


def run(name):
    smoothing_floor.variant_rows(
        name, SIGMAS[name], smoothing_floor.parameter_variants(VARIANTS), "network")


REFINED = ("(128,)*3 softplus", "(256,)*3", "(128,)*5")
REFINE_SAMPLES = 4 * 65536


def refine(name):
    train, val = compare.train_and_validation(name)
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows, default settings; "
          f"then AIS from {REFINE_SAMPLES} samples\n  sigma seed {'network':18s}"
          f"    val ll log Z by     ESS k-hat    epochs fit s |  refined     ESS k-hat")
    for sigma in SIGMAS[name]:
        for seed in (0, 1):
            for label in REFINED:
                row, model = smoothing_floor.dde_row(
                    train, val, sigma, epochs=True, max_iter="auto", random_state=seed,
                    **VARIANTS[label])
                est = model.estimate_log_normalizer(
                    "ais", n_samples=REFINE_SAMPLES, random_state=seed + 10, update=True)
                ok = "ok" if est.reliable else "--"
                print(f"  {sigma:5.2f} {seed:4d} {label:18s} {row} | {model.score(val):8.3f} "
                      f"{est.ess:7.0f} {est.khat:5.2f} {ok}", flush=True)


def main():
    smoothing_floor.ablation_main(
        __doc__, SIGMAS, run,
        ("--refine", "refit the larger networks and re-estimate log Z by AIS", refine))


if __name__ == "__main__":
    main()
