"""DDEDensity's fitted units and what works in them: the map to isotropic noise,
the whitened Gaussian base and the mixture proposal, the fresh energy on them, the
normalizer estimated with them, and the sampler.

The estimates themselves are ``_normalizer.estimate_log_normalizer``'s, the
proposals ``_proposals``' and the chains ``_mcmc``'s; this mixin holds the fitted
state they take.
"""

import functools
import math
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import build_module, check_n_samples, make_generator
from ._data import Mapped, centred_tensor, moments, whitening_map
from ._levels import N_LEVEL_FEATURES, LevelEnergy
from ._mcmc import sample_energy
from ._nets import GaussianBaseEnergy, evaluate, make_net
from ._normalizer import (
    METHODS,
    N_NORMALIZER_BATCHES,
    LogNormalizerWarning,
    batch_log_normalizer,
    estimate_log_normalizer,
)
from ._proposals import fit_mixture, moment_matched, smoothed_proposal

#: normalizer="mixture": the mixture proposal is fitted on at most this many rows.
MIXTURE_MAX_ROWS = 20_000
#: sigma below this fraction of the data's spread is refused: the network's finest
#: features would need gains beyond what float32 training resolves.
MIN_SIGMA_RATIO = 1e-5
#: Rows per forward pass when scoring.
SCORE_CHUNK = 65536
#: Chains per batch when sampling.
SAMPLE_CHUNK = 8192
#: Proposal draws per chain for the importance-resampled start of MALA.
SIR_OVERSAMPLING = 8


class GaussianBaseMixin:
    """The fitted units of :class:`~skdde.DDEDensity` and what works in them: noise
    map, Gaussian base, mixture proposal, fresh energy, log Z and its diagnostics,
    and sampling."""

    def _set_noise_map(self, X, weight):
        """noise_covariance="data": the affine map to units in which the training
        data have identity covariance; the model is fitted there, with isotropic
        noise. ``None`` for isotropic noise (the units of ``X``)."""
        self._noise_map, self._log_det_noise_map = None, 0.0
        if self.noise_covariance == "data":
            shift, A, A_inv, log_det = whitening_map(X, weight)
            self._noise_map, self._log_det_noise_map = (shift, A, A_inv), log_det

    def _check_warm_start(self):
        """A warm start continues a fit of the same kind: noise shape and levels."""
        if (self._noise_map is None) != (self.noise_covariance == "isotropic") or (
            isinstance(self.module_, LevelEnergy) != (self.levels == "all")
        ):
            raise ValueError(
                f"noise_covariance={self.noise_covariance!r} or levels={self.levels!r} "
                "differs from the fit that warm_start would continue; set "
                "warm_start=False to refit."
            )

    def _to_noise_units(self, X, lazy=False):
        """``X`` in the units where the noise is isotropic (read when indexed if ``lazy``)."""
        if self._noise_map is None:
            return X
        shift, A, _ = self._noise_map
        mapped = Mapped(X, shift, A)
        return mapped if lazy else mapped[:]

    def _batch_log_normalizer(self):
        """``f(generator, sigma)``: the likelihood term's differentiable log Z."""
        proposal = self._proposal_cache()

        def log_normalizer(generator, sigma):
            return batch_log_normalizer(
                self.module_.whitened,
                proposal("gaussian", sigma),
                self._options["n_likelihood_samples"],
                generator,
            )

        return log_normalizer

    def _proposal_cache(self):
        """``f(method, sigma)``: :meth:`_proposal`, built once per pair during a fit."""
        return functools.cache(self._proposal)

    def _set_base(self, X, weight):
        """The Gaussian base: mean and whitening matrix of ``Cov + sigma_^2 I``."""
        mean, cov = moments(X, weight)
        evals, evecs = np.linalg.eigh(cov + self.sigma_**2 * np.eye(X.shape[1]))
        # sigma over the data's spread, geometric mean over directions
        ratio = self.sigma_ / np.exp(0.5 * np.log(evals).mean())
        if ratio < MIN_SIGMA_RATIO:
            raise ValueError(
                f"sigma={self.sigma_:.3g} is {ratio:.2g} of the data's spread: a DDE "
                "trained in float32 cannot resolve it. Give sigma in the units of X "
                "(e.g. sigma='scott'), or rescale X."
            )
        self._mean, self._cov, self._base_sigma = mean, cov, self.sigma_
        self._eigh = (evals - self.sigma_**2, evecs)
        self._whitening = (evecs / np.sqrt(evals)) @ evecs.T
        self._unwhitening = (evecs * np.sqrt(evals)) @ evecs.T
        self._log_det_whitening = -0.5 * float(np.log(evals).sum())

    def _tensor(self, X):
        return centred_tensor(X, self._mean, self.device_, self._scale)

    def _set_mixture(self, X, weight, rng, validation=None):
        """Fit the mixture proposal to the whitened training data; as the
        multi-level model's base, its size is chosen on the ``validation`` rows
        and weights (by BIC without them)."""
        n = len(X)
        n_fit = min(n, MIXTURE_MAX_ROWS)
        if np.ptp(weight) == 0 and n_fit == n:
            idx = np.arange(n)
        else:  # a weighted subsample stands in for sample_weight, which GMMs lack
            p = weight / weight.sum()
            idx = rng.choice(n, size=n_fit, replace=bool(np.ptp(weight)), p=p)
        whiten = lambda A: (A - self._mean) @ self._whitening.T  # noqa: E731
        search = self.levels == "all" and self._options["level_base"] == "mixture"
        if not (search and validation is not None and validation[1].sum() > 0):
            validation = None  # by BIC; fit refuses validation weights summing to zero
        else:
            validation = whiten(validation[0]), validation[1]
        self._mixture = fit_mixture(whiten(X[idx]), rng.randint(2**31 - 1), search, validation)

    def _gaussian_part(self, sigma, power=1):
        return moment_matched(self._eigh, self._base_sigma, sigma, power)

    def _proposal(self, method, sigma=None):
        sigma = self.sigma_ if sigma is None else sigma
        return smoothed_proposal(
            method, sigma, self._eigh, self._base_sigma, self._whitening, self._mixture,
            self.device_,
        )

    def _estimate(self, method, n_samples, generator, sigma=None):
        """log Z in the units of ``X`` at ``sigma`` (default ``sigma_``; other levels
        with levels="all"): :func:`~skdde._normalizer.estimate_log_normalizer`."""
        sigma = self.sigma_ if sigma is None else sigma
        levels = self.levels == "all"
        energy = self.module_.whitened_at(self._level(sigma)) if levels else self.module_.whitened
        est = estimate_log_normalizer(
            method,
            energy,
            lambda kind: self._proposal(kind, sigma),
            n_samples,
            generator,
            ladder=(lambda: self._ladder(sigma)) if levels else None,
        )
        return est._replace(log_z=est.log_z - self._log_det)

    @property
    def _log_det(self):
        """log|det| of the map from ``X`` to whitened units."""
        return self._log_det_whitening + self._log_det_noise_map

    def _store_normalizer(self, estimate, warn_residual=True):
        if not math.isfinite(estimate.log_z):
            raise FloatingPointError(
                "The log-normalizer is not finite: the trained network outputs "
                "non-finite values. Lower learning_rate_init or rescale X."
            )
        self.log_normalizer_ = estimate.log_z
        self.log_normalizer_stderr_ = estimate.stderr
        self.importance_ess_ = estimate.ess
        self.log_normalizer_khat_ = estimate.khat
        self.normalizer_ = estimate.method
        self.log_normalizer_problems_ = estimate.problems
        if self.levels == "all":
            self._store_residual(estimate, warn_residual)
        if estimate.problems:
            warnings.warn(
                f"The {estimate.method!r} estimate of log Z may be unreliable: "
                f"{', '.join(estimate.problems)}. Log-likelihoods are then biased "
                "high; try estimate_log_normalizer with more samples or another "
                "method, or a larger sigma.",
                LogNormalizerWarning,
                stacklevel=3,
            )

    def estimate_log_normalizer(
        self, method="auto", n_samples=None, random_state=None, update=False, sigma=None
    ):
        """Estimate ``log Z`` afresh, with its diagnostics; refine the fitted one.

        Every method's ``log_z`` is a stochastic lower bound: ``E[exp(log_z)] = Z``,
        so on average ``log_z`` is below the true value and log-likelihoods that
        use it are above the model's exact ones. A larger ``n_samples``, a better
        proposal (``"mixture"``) or annealing (``"ais"``) tightens the bound;
        the diagnostics say whether it is tight.

        Parameters
        ----------
        method : {"auto", "gaussian", "mixture", "ais", "ladder"}, default="auto"
            As the ``"normalizer"`` of ``training_options``.
        n_samples : int, default=None
            Importance samples (AIS: ``n_samples / 64`` chains, ladder:
            ``n_samples / 16``); ``None`` uses the fit's ``"n_importance_samples"``.
        random_state : int, RandomState instance or None, default=None
            Seeds the samples.
        update : bool, default=False
            Also make this the estimate used by :meth:`score_samples` (and update
            ``log_normalizer_`` and its diagnostics); warns if it is unreliable.
        sigma : float, default=None
            With ``levels="all"``, the level to normalize (see
            :meth:`score_samples_at`); ``None`` is ``sigma_``, the only choice
            with ``update=True``.

        Returns
        -------
        estimate : LogNormalizerEstimate
            ``log_z`` (in the units of ``X``, as ``log_normalizer_``), ``stderr``,
            ``ess``, ``khat``, ``n_samples``, ``method`` and ``reliable``.

        Examples
        --------
        >>> from skdde import DDEDensity
        >>> from skdde.datasets import make_eight_gaussians
        >>> X = make_eight_gaussians(2000, random_state=0)
        >>> dde = DDEDensity(sigma=0.2, max_iter=20, random_state=0).fit(X)
        >>> est = dde.estimate_log_normalizer("ais", n_samples=16384, random_state=0)
        >>> est.method, est.reliable
        ('ais', True)
        """
        check_is_fitted(self)
        n_samples = self._check_estimate(method, n_samples)
        if sigma is not None:
            sigma = self._check_level(sigma)
            if update and sigma != self.sigma_:
                raise ValueError("update=True normalizes sigma_ only; pass sigma=None.")
        generator = make_generator(check_random_state(random_state), self.device_)
        estimate = self._estimate(method, n_samples, generator, sigma)
        if update:
            self._store_normalizer(estimate)
        return estimate

    def _check_estimate(self, method, n_samples):
        """Validate a normalizer ``method`` and ``n_samples``; ``n_samples`` as an int."""
        methods = tuple(m for m in METHODS if m != "ladder" or self.levels == "all")
        if method not in methods:
            raise ValueError(f"method must be one of {methods}, got {method!r}.")
        if n_samples is None:
            n_samples = self._options["n_importance_samples"]
        if not isinstance(n_samples, Integral) or n_samples < 2 * N_NORMALIZER_BATCHES:
            raise ValueError(
                f"n_samples must be an int of at least {2 * N_NORMALIZER_BATCHES}, "
                f"got {n_samples!r}."
            )
        return int(n_samples)

    def _check_X(self, X):
        """``X`` validated against the fit (feature count and names), in C order."""
        return validate_data(self, X, dtype=[np.float64, np.float32], order="C", reset=False)

    def _noise_units_tensor(self, X):
        """Validated ``X``, centred in the units the model is fitted in."""
        return self._tensor(self._to_noise_units(self._check_X(X)))

    def _energies(self, X, energy):
        """``energy`` at the rows of validated ``X``, moved to the device a chunk at a
        time so that scoring many rows does not copy them all at once."""
        out = np.empty(X.shape[0])
        for start in range(0, X.shape[0], SCORE_CHUNK):
            chunk = self._tensor(self._to_noise_units(X[start : start + SCORE_CHUNK]))
            out[start : start + SCORE_CHUNK] = evaluate(energy, chunk).cpu().numpy()
        return out

    def _initialize(self, X, weight, sigma, rng, device, validation=None):
        """A fresh model at ``sigma``: base and mixture proposal from ``X`` (its
        size chosen on the ``validation`` rows and weights where it is the
        multi-level model's base), an energy that is exactly the base. Also used
        for models of other samples than the training data (a generator's output)."""
        self.device_ = device
        self.sigma_ = sigma
        self._set_base(X, weight)
        self._scale = 1.0
        if self.levels == "all":  # mean of the eigenvalues, floored for constant data
            self._scale = math.sqrt(max(self._eigh[0].mean(), sigma**2))
        self._set_mixture(X, weight, rng, validation)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        self.module_ = build_module(self._energy_factory(X.shape[1]), seed, device)
        self._sigma_now = None
        self._level_states, self._level_keep = {}, ()

    def _energy_factory(self, n_features):
        # sigma in whitened units, averaged over directions: the finest scale of p~
        resolution = self.sigma_ * math.exp(self._log_det_whitening / n_features)
        n_context = N_LEVEL_FEATURES if self.levels == "all" else 0
        network = self._options["network"]
        net = functools.partial(
            make_net, network, n_features, tuple(self.hidden_layer_sizes), self.activation,
            resolution, n_context,
        )
        if n_context:
            return self._level_energy_factory(net)
        whitening = torch.tensor(self._whitening, dtype=torch.float32)
        return lambda: GaussianBaseEnergy(net(), whitening)

    def sample(self, n_samples=1, random_state=None, return_diagnostics=False):
        """Draw samples of ``p~`` by Metropolis-adjusted Langevin dynamics.

        Parallel chains start from the Gaussian base, importance-resampled towards
        ``exp(s)``, then run ``"mala_burn_in"`` steps (see ``training_options``) while one step size
        adapts to ``"mala_target_accept"``, and ``"mala_n_steps"`` steps at that step
        size; each chain's last state is a sample. Chains run in whitened
        coordinates (preconditioned by the data covariance). Mixing between
        well-separated modes relies on the resampled start. With
        ``levels="all"`` the chains start from the exact top level instead and
        are annealed down 256 of the learned levels (one MALA step each) to
        ``sigma_``, then resampled by their annealing weights, so that they
        cross between modes while the density is still smooth.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seeds the chains; an int makes the samples reproducible.
        return_diagnostics : bool, default=False
            Also return a dict with ``acceptance_rate`` (after burn-in),
            ``burn_in_acceptance_rate`` and ``step_size`` (in whitened units),
            averaged over batches of chains.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Samples, in the units of the training data.
        diagnostics : dict
            Only when ``return_diagnostics=True``.
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        generator = make_generator(check_random_state(random_state), self.device_)
        z, stats = sample_energy(
            self.module_.whitened,
            self._proposal("gaussian"),
            n_samples,
            generator=generator,
            chunk_size=SAMPLE_CHUNK,
            # the annealed chains' weights are nearly even (ESS 92% on eight Gaussians)
            oversampling=1 if self.levels == "all" else SIR_OVERSAMPLING,
            start=self._ladder_start() if self.levels == "all" else None,
            n_burn_in=self._options["mala_burn_in"],
            n_steps=self._options["mala_n_steps"],
            target_accept=self._options["mala_target_accept"],
        )
        X = z.double().cpu().numpy() @ self._unwhitening.T + self._mean
        if self._noise_map is not None:
            shift, _, A_inv = self._noise_map
            X = X @ A_inv.T + shift
        if not return_diagnostics:
            return X
        keys = ("acceptance_rate", "burn_in_acceptance_rate", "step_size")
        return X, dict(zip(keys, map(float, stats)))
