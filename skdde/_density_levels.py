"""DDEDensity(levels="all"): the estimator's side of the multi-level model.

The torch work lives below (the energy over levels and its objective in
``_levels.py``, the ladder AIS in ``_normalizer.py``, the probability-flow ODE in
``_flow.py``); this mixin trains it through ``_train.train``, picks sigma among its
levels, and scores other levels. Kept out of ``_density.py``, which it extends.
"""

import math
import warnings
from numbers import Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._base import make_generator
from ._flow import flow_log_likelihood
from ._levels import DualScoreObjective, LevelEnergy, level_ladder, level_scores
from ._mcmc import ladder_chains
from ._normalizer import LogNormalizerWarning
from ._train import train

#: levels="all": the top level's variance over the data's largest, and the share
#: of each batch at the lowest trained level (the prototype's settings; shares of
#: 0.5 and 0.75 did no better on the whole: benchmarks/ablations/level_training.py).
LEVEL_TOP_FACTOR = 4.0
LEVEL_FLOOR_SHARE = 0.25
#: levels="all": the time-score term's weight in dual score matching, over the
#: number of features. On the validation splits of benchmarks/compare.py at
#: sigma 0.2, 100 epochs, weight 1/d against 1: digits -65.9 against -71.9,
#: breast_cancer -11.2 against -15.5, wine -15.50 against -15.57, and within 0.05
#: on the 2-D toys and mixture_10d; 1/d^2 and 1/sqrt(d) did no better
#: (python benchmarks/levels.py --time-weight). It leaves the family less consistent
#: across levels (probability-flow ODE against score on digits: 1.11 nats apart, 0.61
#: at 1/sqrt(d); benchmarks/ablations/level_training.py time-weight).
LEVEL_TIME_WEIGHT = 1.0
#: levels="all": epochs are judged and kept with weights averaged at this decay, and
#: early stopping waits at least this share of the epochs. On eight Gaussians (std
#: 0.1, sigma 0.05, 20k rows; benchmarks/levels.py) a patience of 10 epochs stopped
#: at 60, 0.076 nats from the exact density, against 0.005 after all 400; the
#: validation likelihood still improved at epochs 179 to 324. The average cut the
#: model's own normalization error from 0.89 to 0.003 nats when epochs were judged
#: by that normalization; judged as now, it changed the fit by 0.002 nats.
LEVEL_EMA_DECAY = 0.999
LEVEL_PATIENCE = 0.25
#: levels="all", sigma="auto": the share of the epochs that trains every level
#: from the floor up, before training focuses from this fraction of the best
#: validation level up; the candidate levels, spaced by this factor in sigma.
LEVEL_SEARCH_FRACTION = 0.5
LEVEL_FOCUS = 0.5
LEVEL_SPACING = 1.1
#: Levels of the ladder AIS (normalizer="ladder") and of the annealed start of
#: sample(), evenly spaced in log t from the exact top level down.
LADDER_LEVELS = 256
#: A verified log Z this far from 0 (the model's own normalization), and beyond 3
#: of its standard errors, is reported with a warning.
SELF_NORMALIZATION_TOL = 0.1


class _EpochJudge:
    """An epoch's validation likelihood for early stopping, at the best of the
    eligible ``levels`` by the model's own normalization (``scores``): normalized by
    importance sampling (``verify(sigma)``) where that is reliable, else the own
    likelihood shifted by the two's difference at the last epoch that had both.
    A sharpening model can outgrow the proposals: counted as stalls,
    such epochs stopped Fashion-MNIST PCA-32 at sigma 0.1 at its 112th epoch, 15
    nats short; unshifted, the own scale's offset stopped it at sigma 0.2 as early;
    the own scale alone, noisy on few rows, stopped wine at its 115th
    (``benchmarks/ablations/level_judging.py``)."""

    def __init__(self, verify):
        self.verify, self.offset = verify, 0.0

    def __call__(self, levels, scores):
        own = float(scores.max())
        verified = self.verify(levels[np.argmax(scores)])
        if verified is None:
            return own + self.offset
        self.offset = verified - own
        return verified


class MultiLevelMixin:
    """``levels="all"`` for :class:`~skdde.DDEDensity`: training, the choice of
    sigma among the levels, and the public methods on other levels."""

    def _train_levels(self, data, max_iter, train_kw, warm):
        """levels="all": dual score matching from the lowest level up to the top.

        With sigma="auto" (not warm), every level from the floor up trains for
        ``LEVEL_SEARCH_FRACTION`` of the epochs, then the levels from
        ``LEVEL_FOCUS`` times the best validation level up; ``sigma_`` is the level
        with the best validation likelihood normalized by importance sampling, as
        score_samples reports it. Epochs are judged, with averaged weights, by
        the validation likelihood at the curve's best level, normalized as with
        levels="single" or, where that fails, by the model's own normalization
        (``_EpochJudge``). Over a mixture base, the untrained model (the smoothed
        mixture) is judged first and kept if no epoch beats it.
        """
        energy, (x_val, w_val) = self.module_, data[2:]
        objective = DualScoreObjective(
            self._t_low if warm else energy.t_min,
            energy.t_max,
            LEVEL_FLOOR_SHARE,
            train_kw["generator"],
            time_weight=LEVEL_TIME_WEIGHT / self.n_features_in_,
        )
        candidates = self._candidate_levels() if self.sigma == "auto" else np.array([self.sigma_])
        verified = train_kw["validation_score"]  # normalized as for levels="single"

        def eligible():
            return candidates[self._level(candidates) >= objective.t_low * (1 - 1e-9)]

        def curve():
            levels = eligible()
            scores = level_scores(energy, x_val, w_val, self._level(levels)).cpu().numpy()
            return levels, scores + self._log_det_levels

        def verify_at(sigma):
            """The validation likelihood at level ``sigma``, normalized as for
            levels="single" (``None`` where that fails)."""
            energy.set_level(self._level(sigma))
            value = verified(float(sigma))
            energy.set_level(self._level(self.sigma_))  # where the trainer's fallback judges
            return value

        judge = _EpochJudge(verify_at)

        def score(_):
            return judge(*curve())

        kw = dict(
            train_kw,
            objective=objective,
            log_normalizer=None,
            likelihood_weight=0.0,
            on_sigma=None,
            validation_score=score,
            ema_decay=LEVEL_EMA_DECAY,
            early_stopping=self.early_stopping,
            judge_start=energy.has_mixture,  # the fresh model, the base itself, competes
        )

        def run(n_epochs, result):
            patience = max(self.n_iter_no_change, math.ceil(LEVEL_PATIENCE * n_epochs))
            return train(
                energy,
                *data,
                sigmas=[self.sigma_] * n_epochs,
                result=result,
                **dict(kw, n_iter_no_change=patience),
            )

        def choose():
            """The eligible levels, their validation likelihoods normalized as with
            levels="single" (NaN where that fails), and the best of them: the
            likelihood that score_samples will report. Ranking by the model's
            own curve instead chose, on breast_cancer, a level whose final log Z
            had an ESS of 1 (benchmarks/compare_levels_output.txt); the own curve
            decides only where no level can be normalized."""
            levels = eligible()
            scores = np.array([verify_at(s) for s in levels], dtype=float)  # None: NaN
            best = np.nanargmax(scores) if np.isfinite(scores).any() else np.argmax(curve()[1])
            return levels, scores, float(levels[best])

        result = self._train_result
        if self.sigma == "auto" and not warm:
            n_search = max(1, int(LEVEL_SEARCH_FRACTION * max_iter))
            result = run(n_search, result)
            objective.t_low = max(energy.t_min, self._level(LEVEL_FOCUS * choose()[2]))
            max_iter = max(1, max_iter - n_search)
        if not (result is not None and result.interrupted):  # Ctrl-C ends the fit
            result = run(max_iter, result)
        if self.sigma == "auto":
            self.sigma_path_, self.sigma_path_scores_, self.sigma_ = choose()
        self._t_low = objective.t_low
        energy.set_level(self._level(self.sigma_))
        return result

    def _store_residual(self, estimate, warn=True):
        """``log_normalizer_residual_``: the model's own normalization error, by the
        verified ``estimate``; a warning beyond its error bar."""
        residual = self.log_normalizer_residual_ = estimate.log_z + self._log_det_levels
        if warn and abs(residual) > max(3 * estimate.stderr, SELF_NORMALIZATION_TOL):
            warnings.warn(
                f"The multi-level model's own normalization is off by {residual:.3g} "
                f"nats at sigma={self.sigma_:.4g} (the {estimate.method!r} estimate of "
                f"log Z, +- {estimate.stderr:.2g}), which score_samples corrects; "
                "training longer usually shrinks it.",
                UserWarning,  # log_normalizer_ itself is fine: not a LogNormalizerWarning
                stacklevel=4,
            )

    def _level_energy_factory(self, net):
        """The fresh :class:`~skdde._levels.LevelEnergy` over ``net``: it works on
        ``(x - mean) / scale``, levels and all, so that variances and their time
        derivatives stay within float32 at any scale."""
        as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        evals, evecs = np.maximum(self._eigh[0], 0) / self._scale**2, self._eigh[1]
        unwhitening = as_tensor(self._unwhitening / self._scale)
        t_min = self._level(self.sigma_)
        t_max = LEVEL_TOP_FACTOR * max(evals.max(), t_min)
        mixture = None
        if self._options["level_base"] == "mixture":
            mixture = tuple(map(as_tensor, self._mixture_in_level_units()))
        return lambda: LevelEnergy(
            net(), as_tensor(evals), as_tensor(evecs), t_min, t_max, unwhitening, mixture
        )

    def _mixture_in_level_units(self):
        """The data's mixture (fitted to whitened rows ``u``) on the multi-level
        module's points ``x = U u / scale``: log weights, means and each
        covariance's eigenvalues and eigenvectors."""
        U, mixture = self._unwhitening / self._scale, self._mixture
        evals, evecs = np.linalg.eigh(U @ mixture["covariances"] @ U.T)
        return np.log(mixture["weights"]), mixture["means"] @ U.T, np.maximum(evals, 0), evecs

    def _candidate_levels(self):
        """sigma="auto" with levels="all": the levels, spaced by ``LEVEL_SPACING``
        from the floor up to the top."""
        n = math.log(self.module_.t_max / self.module_.t_min) / (2 * math.log(LEVEL_SPACING))
        floor = math.sqrt(self.module_.t_min) * self._scale  # sigma_ until one is chosen
        return floor * LEVEL_SPACING ** np.arange(int(n) + 1)

    def _level(self, sigma):
        """levels="all": the module's level ``t`` of the noise std ``sigma``."""
        return (sigma / self._scale) ** 2

    def _ladder_start(self):
        """sample()'s starting points: chains annealed down the levels from the exact
        top one to ``sigma_``, with their weights."""
        targets, top = self._ladder(self.sigma_)
        return lambda n, generator: ladder_chains(targets, top, n, generator)

    def _ladder(self, sigma):
        """levels="all": the energies at ``LADDER_LEVELS`` levels from the top down to
        ``sigma``, in whitened units, and a proposal for the exact top level (its
        base: the Gaussian, or the mixture with its defensive Gaussian)."""
        t_max = self.module_.t_max
        levels = level_ladder(self._level(sigma), t_max, LADDER_LEVELS)
        targets = [self.module_.whitened_at(t) for t in levels]
        top = "mixture" if self.module_.has_mixture else "gaussian"  # the exact top's base
        return targets, self._proposal(top, math.sqrt(t_max) * self._scale)

    @property
    def _log_det_levels(self):
        """log|det| of the map from ``X`` to the units of the multi-level module."""
        return self._log_det_noise_map - self.n_features_in_ * math.log(self._scale)

    def _check_level(self, sigma):
        """A level of the fitted multi-level model, as a float (default ``sigma_``)."""
        if self.levels != "all":
            raise ValueError("Only a model fitted with levels='all' has other levels.")
        if sigma is None:
            return self.sigma_
        low, high = (math.sqrt(t) * self._scale for t in (self.module_.t_min, self.module_.t_max))
        if not (isinstance(sigma, Real) and low * (1 - 1e-9) <= sigma <= high * (1 + 1e-9)):
            raise ValueError(
                f"sigma must be a level of the fitted model, between {low:.4g} and "
                f"{high:.4g} (in the units it was trained in), got {sigma!r}."
            )
        return float(sigma)

    def score_samples_at(self, X, sigma, *, normalizer="auto", n_samples=None, random_state=None):
        """Log-density of the multi-level model at another level ``sigma``.

        ``score_samples`` at a level ``sigma`` of a model fitted with
        ``levels="all"``: ``f(x, sigma^2)`` minus a log Z estimated afresh at that
        level (as :meth:`estimate_log_normalizer` with ``sigma``; warns if it is
        unreliable). ``score_samples_at(X, sigma_)`` equals :meth:`score_samples`
        up to the noise of the two estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to evaluate.
        sigma : float
            The level, between the lowest trained one and the top (``sigma_`` and
            the levels of ``sigma_path_`` among them).
        normalizer : {"auto", "gaussian", "mixture", "ais", "ladder"}, default="auto"
            As the ``"normalizer"`` of ``training_options``.
        n_samples : int, default=None
            As in :meth:`estimate_log_normalizer`.
        random_state : int, RandomState instance or None, default=None
            Seeds the normalizer's samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples,), dtype float64
            ``log p_sigma(x)`` in the units of ``X``.

        Examples
        --------
        >>> from skdde import DDEDensity
        >>> from skdde.datasets import make_eight_gaussians
        >>> X = make_eight_gaussians(2000, random_state=0)
        >>> dde = DDEDensity(sigma=0.2, levels="all", max_iter=10, random_state=0).fit(X)
        >>> dde.score_samples_at(X[:3], sigma=0.4, random_state=0).shape
        (3,)
        """
        check_is_fitted(self)
        sigma = self._check_level(sigma)
        X = self._check_X(X)
        estimate = self.estimate_log_normalizer(normalizer, n_samples, random_state, sigma=sigma)
        if estimate.problems:
            warnings.warn(
                f"The {estimate.method!r} estimate of log Z at sigma={sigma:.4g} may be "
                f"unreliable: {', '.join(estimate.problems)}.",
                LogNormalizerWarning,
                stacklevel=2,
            )
        return self._energies(X, self.module_.at(self._level(sigma))) - estimate.log_z

    def flow_score_samples(
        self, X, sigma=None, *, rtol=1e-5, atol=1e-5, exact_trace=None, random_state=None
    ):
        """Log-density by the probability-flow ODE of the multi-level model.

        Integrates ``dx/dt = -grad_x f(x, t) / 2`` from ``x`` at level ``t =
        sigma^2`` up to the exact top level, and returns its normalized base's
        log-density at the end point minus half the integral of ``laplacian_x f``
        along the path (torchdiffeq's ``dopri5``, in ``log t``). The result is an
        exactly normalized density for any network, up to the solver's
        tolerance, and reads ``f`` only through its gradient: an independent
        check of :meth:`score_samples` that no importance sampling enters. It
        costs one ODE solve per chunk of 512 rows (the Laplacian exactly up to 64
        features, one backward pass per feature; Hutchinson's estimator beyond).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to evaluate.
        sigma : float, default=None
            The level; ``None`` is ``sigma_``.
        rtol, atol : float, default=1e-5
            The solver's tolerances, per row.
        exact_trace : bool, default=None
            Exact Laplacian, or Hutchinson's with one Rademacher probe; ``None``
            is exact up to 64 features.
        random_state : int, RandomState instance or None, default=None
            Seeds Hutchinson's probes.

        Returns
        -------
        log_density : ndarray of shape (n_samples,), dtype float64
            ``log p_sigma(x)`` in the units of ``X``.

        Examples
        --------
        >>> from skdde import DDEDensity
        >>> from skdde.datasets import make_eight_gaussians
        >>> X = make_eight_gaussians(2000, random_state=0)
        >>> dde = DDEDensity(sigma=0.2, levels="all", max_iter=10, random_state=0).fit(X)
        >>> dde.flow_score_samples(X[:3]).shape
        (3,)
        """
        check_is_fitted(self)
        sigma = self._check_level(sigma)
        x = self._noise_units_tensor(X)
        energy = self.module_
        ll = flow_log_likelihood(
            energy,
            x,
            self._level(sigma),
            energy.t_max,
            energy.at(energy.t_max),
            rtol=rtol,
            atol=atol,
            exact_trace=exact_trace,
            generator=make_generator(check_random_state(random_state), self.device_),
        )
        return ll.double().cpu().numpy() + self._log_det_levels
