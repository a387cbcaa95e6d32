"""The smoothing floor: how low sigma can go on real data before training or log Z breaks.

A DDE models the smoothed density ``p~ = p * N(0, sigma^2 I)``, so its held-out
log-likelihood is capped by how much the smoothing itself costs. For each data
set and sigma this prints, on the validation split only (never the test split):

- ``GMM~``: a reference for that cap, the GaussianMixture chosen by BIC on the
  train split (as in ``compare.py``) with every covariance widened by
  ``sigma^2 I``, i.e. the exact smoothing of a good parametric fit (sigma 0 is
  the mixture itself);
- ``DDE``: ``DDEDensity(sigma=sigma, max_iter=100)`` with the default annealing,
  and ``no anneal`` with ``sigma_start=None``: validation log-likelihood, the
  normalizer's method, ESS and Pareto k-hat, and ``ok`` when its diagnostics
  call it reliable (an unreliable log Z biases the likelihood high, so those
  numbers are upper bounds at best), and the fit seconds.

With ``--auto``, each data set gets one row instead: ``DDEDensity(sigma="auto")``
with every other parameter at its default (``max_iter="auto"``), the sigma it chose
and the same columns.

Data and splits are those of ``compare.py`` (train / validation, standardized on
train). One torch thread.

    python benchmarks/ablations/smoothing_floor.py [--auto] [--fashion-mnist DIR] [DATA ...]
    python benchmarks/ablations/smoothing_floor.py --plot OUTPUT.txt FIGURE.png   # from a saved run

The user guide's figure is ``--plot benchmarks/ablations/smoothing_floor_output.txt
docs/_static/smoothing_floor.png`` (needs matplotlib, in the ``examples`` extra).
"""

import argparse
import contextlib
import copy
import math
import time
import warnings

import numpy as np
import torch
from _suite import compare

warnings.simplefilter("ignore")
SIGMAS = (0.05, 0.1, 0.2, 0.3, 0.5)
MAX_ITER = 100
DATA = ("wine (13-D)", "breast_cancer (30-D)", "digits (64-D)", "fashion_mnist_pca (32-D)")
GMM_BUDGET = 300.0


def smoothed_gmm_score(gmm, X, sigma):
    """Mean log-density of ``X`` under ``gmm`` with covariances widened by sigma^2 I."""
    smoothed = copy.deepcopy(gmm)
    smoothed.covariances_ = gmm.covariances_ + sigma**2 * np.eye(X.shape[1])
    # any square root of the precision scores alike; sklearn stores a triangular one
    smoothed.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(smoothed.covariances_))
    return smoothed.score(X)


def dde_row(train, val, sigma, epochs=False, **kw):
    """The DDE columns of a row (with ``epochs``, the epochs trained too), and the model."""
    start = time.perf_counter()
    model, reliable = compare.fit_dde(sigma, train, kw.pop("max_iter", MAX_ITER), **kw)
    seconds = time.perf_counter() - start
    ok = "ok" if reliable else "--"
    epochs = f" {model.n_iter_:6d}" if epochs else ""
    text = (f"{model.score(val):9.3f} {model.normalizer_:>8s} {model.importance_ess_:7.0f} "
            f"{model.log_normalizer_khat_:5.2f} {ok:>2s}{epochs} {seconds:5.0f}")
    return text, model


def variant_row(train, val, sigma, seed, params):
    """``dde_row`` with its epochs, at default settings but for ``params`` (which may
    set ``max_iter``)."""
    return dde_row(train, val, sigma, epochs=True,
                   **{"max_iter": "auto", "random_state": seed, **params})


def variant_rows(name, sigmas, variants, column, seeds=(0, 1)):
    """A table of ``dde_row`` at default settings (``max_iter="auto"``) per sigma,
    seed and variant: ``variants`` maps a label to ``(swap, params)``, a context
    manager factory that swaps a private hook into the fit (``nullcontext`` for
    none) and DDEDensity parameters for ``variant_row``."""
    train, val = compare.train_and_validation(name)
    width = max(len(column), *map(len, variants))
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows, default settings\n"
          f"  sigma seed {column:{width}s}    val ll log Z by     ESS k-hat    epochs fit s")
    for sigma in sigmas:
        for seed in seeds:
            for label, (swap, params) in variants.items():
                with swap():
                    row, _ = variant_row(train, val, sigma, seed, params)
                print(f"  {sigma:5.2f} {seed:4d} {label:{width}s} {row}", flush=True)


def refined_rows(name, sigmas, variants, column, n_samples=4 * 65536, seeds=(0, 1)):
    """``variant_rows`` for ``{label: DDEDensity parameters}``, each fit followed by a
    fresh AIS estimate of its log Z from ``n_samples`` importance samples (four
    times the default chains): the validation score it gives and its diagnostics."""
    train, val = compare.train_and_validation(name)
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows, default settings; "
          f"then AIS from {n_samples} samples\n  sigma seed {column:18s}"
          f"    val ll log Z by     ESS k-hat    epochs fit s |  refined     ESS k-hat")
    for sigma in sigmas:
        for seed in seeds:
            for label, params in variants.items():
                row, model = variant_row(train, val, sigma, seed, params)
                est = model.estimate_log_normalizer(
                    "ais", n_samples=n_samples, random_state=seed + 10, update=True)
                ok = "ok" if est.reliable else "--"
                print(f"  {sigma:5.2f} {seed:4d} {label:18s} {row} | {model.score(val):8.3f} "
                      f"{est.ess:7.0f} {est.khat:5.2f} {ok}", flush=True)


def parameter_variants(variants):
    """``variants`` of ``variant_rows`` from ``{label: DDEDensity parameters}``,
    with no hook swapped in."""
    return {label: (contextlib.nullcontext, params) for label, params in variants.items()}


def parameter_ablation(doc, sigmas, variants, column, refined=()):
    """The command line of a script that refits ``DDEDensity`` with ``variants``
    (``{label: parameters}``) at ``sigmas[name]`` (``variant_rows``); with
    ``refined`` labels, a ``--refine`` flag runs ``refined_rows`` for those instead."""

    def run(name):
        variant_rows(name, sigmas[name], parameter_variants(variants), column)

    def refine(name):
        refined_rows(name, sigmas[name], {label: variants[label] for label in refined}, column)

    option = None
    if refined:
        option = ("--refine", f"refit {', '.join(map(repr, refined))} and re-estimate log Z by AIS "
                  "with four times the chains", refine)
    ablation_main(doc, sigmas, run, option)


def ablation_main(doc, names, run, option=None):
    """The command line of an ablation script: data-set prefixes, ``--fashion-mnist``
    and, with ``option = (flag, help, other_run)``, a flag that runs ``other_run``
    instead of ``run``. One torch thread."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if option is not None:
        parser.add_argument(option[0], action="store_true", help=option[1])
    compare.add_fashion_mnist_argument(parser)
    parser.add_argument("data", nargs="*", help="prefixes of the data sets to run")
    args = parser.parse_args()
    if option is not None and getattr(args, option[0].lstrip("-")):
        run = option[2]
    compare.FASHION_MNIST_HOME = args.fashion_mnist
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    compare.for_each(names, args.data, run)


def run(name, auto=False):
    train, val = compare.train_and_validation(name)
    if auto:
        text, model = dde_row(train, val, "auto", max_iter="auto")
        print(f"  {name:26s} {model.sigma_:7.3f} {text}", flush=True)
        return
    gmm, choice = compare.gmm(train, val, compare.Budget(GMM_BUDGET))
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows; GMM {choice}; "
          f"DDE max_iter={MAX_ITER}")
    head = f"{'val ll':>9s} {'log Z by':>8s} {'ESS':>7s} {'k-hat':>5s} {'':>2s} {'fit s':>5s}"
    print(f"  {'sigma':>5s} {'GMM~':>9s}   DDE {head}   no anneal {head}")
    print(f"  {0:5.2f} {gmm.score(val):9.3f}")
    for sigma in SIGMAS:
        print(f"  {sigma:5.2f} {smoothed_gmm_score(gmm, val, sigma):9.3f}   "
              f"    {dde_row(train, val, sigma)[0]}   "
              f"          {dde_row(train, val, sigma, sigma_start=None)[0]}", flush=True)


def read(path):
    """``{data: rows}`` from this script's output; a row is (sigma, GMM~, DDE, DDE ok,
    no anneal, no anneal ok), NaN where absent."""
    out, name = {}, None
    for line in open(path):
        if line and not line.startswith(" ") and ":" in line and "-D)" in line:
            name = line.split(":")[0]
            out[name] = []
            continue
        tokens = line.split()
        if name is None or not tokens or not tokens[0][0].isdigit():
            continue
        if len(tokens) == 2:
            out[name].append((float(tokens[0]), float(tokens[1])) + (math.nan, False) * 2)
        else:
            out[name].append((float(tokens[0]), float(tokens[1]), float(tokens[2]),
                              tokens[6] == "ok", float(tokens[8]), tokens[12] == "ok"))
    return out


def plot(path, figure):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = read(path)
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3.2))
    for ax, (name, rows) in zip(np.atleast_1d(axes), results.items()):
        clean = [r for r in rows if r[0] == 0]
        rows = np.array([r for r in rows if r[0] > 0], dtype=float)
        sigma = rows[:, 0]
        if clean:
            ax.axhline(clean[0][1], color="0.6", lw=1, label="GMM (unsmoothed)")
        ax.plot(sigma, rows[:, 1], "k--", label="GMM~ (smoothed by sigma)")
        for col, ok, colour, label in ((2, 3, "C0", "DDE"), (4, 5, "C1", "DDE, no annealing")):
            ax.plot(sigma, rows[:, col], "-", color=colour, label=label)
            good = rows[:, ok] == 1
            ax.plot(sigma[good], rows[good, col], "o", color=colour)
            ax.plot(sigma[~good], rows[~good, col], "o", mfc="white", color=colour)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sigma, [f"{v:g}" for v in sigma])
        ax.set_xlabel("sigma (standardized units)")
        ax.set_title(name, fontsize=9)
    np.atleast_1d(axes)[0].set_ylabel("validation log-likelihood")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8,
               title="open markers: log Z unreliable (likelihood biased high)",
               title_fontsize=8)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(figure, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", help="prefixes of data set names")
    parser.add_argument("--auto", action="store_true",
                        help="one sigma='auto' fit per data set instead of the sigma rows")
    parser.add_argument("--plot", nargs=2, metavar=("OUTPUT", "FIGURE"),
                        help="draw the figure of a saved run instead of running")
    compare.add_fashion_mnist_argument(parser)
    args = parser.parse_args()
    if args.plot:
        return plot(*args.plot)
    compare.FASHION_MNIST_HOME = args.fashion_mnist
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    if args.auto:
        print("sigma='auto', default max_iter:")
        print(f"  {'data':26s} {'sigma_':>7s} {'val ll':>9s} {'log Z by':>8s} {'ESS':>7s} "
              f"{'k-hat':>5s} {'':>2s} {'fit s':>5s}")
    compare.for_each(DATA, args.data, lambda name: run(name, args.auto))


if __name__ == "__main__":
    main()
