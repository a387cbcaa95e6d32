"""DDEDensity: the scikit-learn layer over the energy network, trainer and normalizer.

The estimator validates, converts and stores; its two models' training lives in
``_density_single.py`` (levels="single") and ``_density_levels.py`` (levels="all"),
and the torch work in pure functions below them. It keeps the fitted state those
functions take: the whitened Gaussian base and the data's mixture proposal. About
390 of the module's lines document its 29 parameters.
"""

import functools
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._base import (
    TorchStateMixin,
    build_module,
    check_n_samples,
    make_generator,
    resolve_device,
    to_tensor,
)
from ._data import (
    Batches,
    Mapped,
    Rows,
    centred_tensor,
    is_memory_mapped,
    moments,
    resolve_sigma,
    split_rows,
    whitening_map,
)
from ._density_levels import LEVEL_TOP_FACTOR, MultiLevelMixin
from ._density_single import SingleLevelMixin
from ._levels import N_LEVEL_FEATURES, LevelEnergy
from ._mcmc import sample_energy
from ._nets import ACTIVATIONS, GaussianBaseEnergy, evaluate, make_net
from ._normalizer import (
    METHODS,
    N_NORMALIZER_BATCHES,
    LogNormalizerWarning,
    batch_log_normalizer,
    estimate_log_normalizer,
    validation_score,
)
from ._proposals import fit_mixture, moment_matched, smoothed_proposal
from ._train import training_budget

#: normalizer="mixture": the mixture proposal is fitted on at most this many rows.
MIXTURE_MAX_ROWS = 20_000
#: sigma below this fraction of the data's spread is refused: the network's finest
#: features would need gains beyond what float32 training resolves.
MIN_SIGMA_RATIO = 1e-5
#: Training data larger than this as float32 (or memory-mapped) is streamed to the
#: device one mini-batch at a time instead of copied to it whole.
STREAM_BYTES = 2**30
#: Rows per forward pass when scoring, and chains per batch when sampling.
SCORE_CHUNK = 65536
SAMPLE_CHUNK = 8192
#: sigma="auto": the floor of its levels as a fraction of the data's scale.
SIGMA_AUTO_MIN_FRACTION = 0.01
#: Importance samples behind each validation log-likelihood (early stopping, stages).
N_VALIDATION_SAMPLES = 16384
#: Proposal draws per chain for the importance-resampled start of MALA.
SIR_OVERSAMPLING = 8


class DDEDensity(SingleLevelMixin, MultiLevelMixin, TorchStateMixin, DensityMixin, BaseEstimator):
    """Denoising density estimator: a neural density of the data smoothed by noise.

    A scalar network ``s(x)`` is trained by denoising score matching (Eq. 5 of
    Bigdeli et al.) so that ``s(x) = log p~(x) + C``, where ``p~ = p * N(0, sigma^2 I)``
    is the data density convolved with isotropic Gaussian noise of standard
    deviation ``sigma`` in the units of ``X``. ``C`` is estimated by importance
    sampling, so :meth:`score_samples` returns normalized log-densities of ``p~``,
    comparable with ``KernelDensity(bandwidth=sigma)`` and any other density model.

    The energy is ``s(x) = h(u) - ||u||^2 / 2`` with ``u = W (x - mean)``, where
    ``mean`` and ``W = (Cov + sigma^2 I)^(-1/2)`` are the training data's moments
    and ``h`` is the network: a fresh model is the moment-matched Gaussian of ``p~``,
    ``exp(s)`` is integrable for every weight value, and the importance weights
    under that Gaussian have finite variance.

    Parameters
    ----------
    sigma : float or {"auto", "scott", "silverman"}, default=0.1
        Standard deviation of the smoothing noise, in the units of ``X``. A rule
        name sets ``sigma_ = factor * scale`` with ``scale`` the root mean square of
        the feature standard deviations and ``factor`` Scott's ``n ** (-1 / (d + 4))``
        or Silverman's ``(n * (d + 2) / 4) ** (-1 / (d + 4))``. On standardized data
        ``scale = 1`` and the value equals ``KernelDensity``'s rule.

        ``"auto"`` chooses sigma by held-out likelihood in one training run: sigma
        is annealed from ``sigma_start`` (the data's scale when ``"auto"`` or
        ``None``) down to ``0.01 * scale``, dividing by 1.1 at even intervals over
        ``annealing_fraction * max_iter`` epochs. After each stage the model is
        normalized (16,384 importance samples from the stage's moment-matched
        Gaussian, or from the mixture proposal when that is not reliable) and
        scored on the validation split (``validation_fraction`` of ``X``, held
        out even when ``early_stopping=False``); stages whose normalizer is
        unreliable are not eligible. The search stops 5 stages after the best one
        and restores its weights; the remaining epochs train at that sigma, from
        that stage's learning rate, as for a fixed sigma. See ``sigma_path_`` and
        ``sigma_path_scores_``; ``benchmarks/sigma_auto.py`` compares it with
        ``GridSearchCV``. In 30 and more dimensions its stages at small sigma often
        cannot be normalized, and its choices on digits and Fashion-MNIST scored 5
        and 18 nats below a fixed sigma of 100 epochs
        (``benchmarks/ablations/smoothing_floor.py --auto``): prefer a grid there. With
        ``levels="all"`` there is no path: see ``levels``.
    noise_covariance : {"isotropic", "data"}, default="isotropic"
        Shape of the smoothing noise. ``"isotropic"``: ``p~ = p * N(0, sigma^2 I)``,
        with ``sigma`` in the units of ``X``, as ``KernelDensity``'s bandwidth.
        ``"data"``: ``p~ = p * N(0, sigma^2 C)``, with ``C`` the covariance of the
        training split (ridged by ``1e-6`` of each feature's variance): each
        direction is smoothed in proportion to the data's own spread along it, as
        ``scipy.stats.gaussian_kde`` does. ``sigma`` and every other setting then
        act in units where the training data have identity covariance, so
        rescaling or shifting features changes the log-densities by the Jacobian
        alone. Where features are strongly correlated it smooths away far less
        (``benchmarks/ablations/noise_covariance.py``); on standardized, uncorrelated
        features the two are the same model. :class:`DDEGenerator` needs
        ``"isotropic"``.
    levels : {"single", "all"}, default="single"
        What the network models. ``"single"``: ``log p~`` at ``sigma_`` alone,
        trained by Eq. 5 and normalized by importance sampling: the paper's DDE.
        ``"all"``: one network for the whole family ``log p_t``, ``p_t = p * N(0,
        t I)``, from ``t = sigma^2`` up to a top level of 4 times the data's
        largest variance, where it is exactly the moment-matched Gaussian; trained
        by dual score matching (the denoising score in ``x`` and the time score in
        ``t``, Guth et al., 2025), which carries the exact normalization of the top
        level down to every level. A quarter of each batch is at ``sigma^2``, the
        rest has ``log t`` uniform up to the top. ``log_normalizer_`` is still
        verified (see ``normalizer``, whose candidates then include ``"ladder"``),
        and ``log_normalizer_residual_`` says how far the model's own
        normalization was from it. With ``sigma="auto"`` the levels are trained
        from ``0.01 * scale`` up for half the epochs, then from half the level
        with the best validation likelihood up; ``sigma_`` is the best of the
        levels spaced by 1.1 in sigma, by the model's own validation likelihood
        at the end (one forward pass per level, no retraining), among those that
        importance sampling can also normalize; that likelihood is biased by how
        far its own normalization is off at each level (see the user guide). Epochs are judged, and
        kept, with weights averaged at decay 0.999, by the validation likelihood
        at the best level of that curve, normalized by importance sampling as
        for ``"single"`` (the network's own normalization drifts by more than an
        epoch's gain), and early stopping waits at least a quarter of
        ``max_iter`` epochs. ``likelihood_weight``, ``sigma_start`` and
        ``annealing_fraction`` do not apply. :meth:`score_samples_at` scores
        another level and :meth:`flow_score_samples` the probability-flow ODE's
        exactly normalized likelihood. A custom ``network`` is called with
        ``n_features + 9`` inputs: the whitened point, then features of the
        level. :class:`DDEGenerator` trains over the same levels. The default stays
        ``"single"`` until the comparison of ``benchmarks/compare.py`` says
        otherwise (see the user guide).
    hidden_layer_sizes : tuple of int, default=(128, 128, 128)
        Widths of the hidden layers of ``h``; a layer as wide as its input is
        residual.
    activation : {"softplus", "silu", "tanh"}, default="softplus"
        Hidden activation; twice differentiable, as the loss differentiates ``h``.
    network : callable, default=None
        ``network(n_features) -> torch.nn.Module`` mapping ``(n, d)`` whitened
        points to ``(n,)`` or ``(n, 1)`` values ``h``; replaces the MLP. It must be
        twice differentiable and grow at most linearly (true of MLPs with the
        activations above) for ``exp(s)`` to stay integrable. Use a named
        function or class so the estimator can be pickled.
    max_iter : int or "auto", default="auto"
        Maximum number of epochs (passes over the training split). ``"auto"`` is
        400 epochs, or fewer so that training takes at most about 20,000 optimizer
        steps. The step cap binds above about 25,000 rows; on a 10-D mixture with
        100,000 rows it gave 101 epochs in 135 s on one thread, 0.037 nats from
        the exact smoothed likelihood (``benchmarks/large_n.py``). Worth
        searching with ``sigma`` on small data: on breast_cancer (365 rows, 30-D)
        at sigma 0.05, 100 epochs gave validation log-likelihoods of -7.5 for two
        seeds against the default's -8.3 and -22.2; on digits and Fashion-MNIST,
        800 epochs gained 0.35 to 0.44 nats and 100 lost 3 to 9
        (``benchmarks/ablations/epochs.py``).
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``n_train // 32`` clipped to [32, 512]: at
        least 32 steps per epoch on small data (batch 128 beat 512 on every data
        set of ``benchmarks/ablations/defaults.py``, all under 5000 rows), and 512 rows per
        step on large data for throughput.
    learning_rate_init : float, default=1e-3
        Initial Adam learning rate. Worth searching with ``sigma`` on small data:
        on breast_cancer (365 rows, 30-D) at sigma 0.05, 3e-4 gave validation
        log-likelihoods of -6.0 and -6.5 for two seeds against the default's -8.3
        and -22.2, but it lost 3 to 6 nats on Fashion-MNIST and digits
        (``benchmarks/ablations/optimizer.py``).
    learning_rate : {"cosine", "step", "constant"}, default="cosine"
        Learning-rate schedule over ``max_iter`` epochs: cosine decay to zero,
        halving every quarter (the paper's), or constant.
    weight_decay : float, default=0.0
        Decoupled weight decay of every network weight (AdamW; 0 is Adam). A
        regularizer for few rows in many dimensions, to tune with ``sigma``: on
        sklearn's digits (1,151 rows, 64-D) 0.1 gained up to 1.5 nats of held-out
        likelihood between fits whose log Z passed its checks, but it lost 2.9
        on breast_cancer at sigma 0.05 (``benchmarks/ablations/weight_decay.py``).
    sigma_start : float, "auto" or None, default="auto"
        If larger than ``sigma_``, anneal as published: start at ``sigma_start``
        and divide by 1.1 at even intervals, reaching ``sigma_`` after
        ``annealing_fraction * max_iter`` epochs. Early stopping only acts once
        ``sigma_`` is reached. ``"auto"`` starts at the data's scale (root mean
        square of the feature standard deviations); ``None`` trains at ``sigma_``
        throughout. Annealing matters when modes are far apart relative to
        ``sigma_``: the loss at small sigma barely sees the space between modes,
        so only the early, smoother stages fix their relative masses.
    annealing_fraction : float, default=0.8
        Fraction of ``max_iter`` spent annealing when ``sigma_start`` is set.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the data, stop when its mean
        log-likelihood under the model (normalized after every epoch at the final
        sigma by 16,384 importance samples) stops improving, and keep the best
        weights. The held-out denoising loss, used before, kept improving while
        the likelihood fell on small data (3000 points in 10-D); it decides only
        while no epoch's likelihood could be normalized reliably. With ``False``,
        stop when the training loss stops improving.
    validation_fraction : float, default=0.1
        Fraction of the data held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float, default=1e-4
        Minimum improvement of the (dimensionless) loss that counts.
    likelihood_weight : float, default=1.0
        Weight of a maximum-likelihood term added to the loss once ``sigma_`` is
        reached (with ``sigma="auto"``, in the last epoch of every stage of the
        search): the negative log-likelihood of the noisy training points (samples
        of ``p~``, so both terms are minimized by ``p~``), with log Z estimated
        afresh at every step by importance sampling from the Gaussian base. It
        fixes what the denoising loss cannot see: how mass is shared between modes
        that are far apart relative to sigma. Steps whose importance batch has an
        effective sample size below 32 skip it. ``0`` trains on Eq. 5 alone. In
        ``benchmarks/ablations/defaults.py`` the term helped on checkerboard and
        breast_cancer and tied elsewhere; 1.0 tied with 0.1 except on
        breast_cancer, where it was better.
    n_likelihood_samples : int, default=2048
        Proposal samples per step for the log Z of the likelihood term.
    normalizer : {"auto", "gaussian", "mixture", "ais", "ladder"}, default="auto"
        How ``log Z`` is estimated at the end of ``fit``:

        - ``"gaussian"``: importance sampling from the Gaussian base
          ``N(mean, Cov + sigma^2 I)``;
        - ``"mixture"``: importance sampling from a ``GaussianMixture`` (up to 10
          components) fitted to the training data, its covariances widened by
          ``sigma^2 I``, mixed with the Gaussian base at weight 0.1 so that the
          weights keep a finite variance;
        - ``"ais"``: annealed importance sampling from that mixture to ``exp(s)``,
          one MALA step on the network's gradients at each of 1024 temperatures,
          with ``n_importance_samples / 64`` chains;
        - ``"ladder"`` (``levels="all"`` only): annealed importance sampling down
          the model's own levels, from its exact top level to ``sigma_``, one MALA
          step at each of 256 levels evenly spaced in ``log t``, with
          ``n_importance_samples / 16`` chains;
        - ``"auto"``: the larger of the ``"gaussian"`` and ``"mixture"``
          estimates whose diagnostics say they are reliable (effective sample
          size at least 1% of the samples, standard error at most 0.1 nats,
          Pareto k-hat at most 0.7); when neither is, ``"ladder"`` (with
          ``levels="all"``), then ``"ais"``, each only while no estimate so far
          is reliable (the ladder costs 50 times the Gaussian proposal on eight
          Gaussians, 10 s against 0.2 s); when none is, the one with the
          smallest k-hat, with a :class:`LogNormalizerWarning`. On the targets of
          ``benchmarks/ablations/normalizers.py`` (d = 2 to 50) its error was at most
          0.011 nats.

        Every method gives a stochastic **lower bound** of log Z (the mean of the
        estimated Z is exact, the log of it is not), so the log-likelihoods are,
        in expectation, **upper bounds** of the model's exact ones; the bias is
        small when the diagnostics are good. :meth:`estimate_log_normalizer`
        refines the estimate after fitting.
    n_importance_samples : int, default=65536
        Proposal samples for the estimate of log Z made at the end of ``fit``.
    mala_burn_in : int, default=200
        MALA steps of :meth:`sample` during which the step size adapts.
    mala_n_steps : int, default=100
        MALA steps at the adapted step size after burn-in.
    mala_target_accept : float, default=0.574
        Acceptance rate targeted during burn-in.
    compile : bool, default=False
        Run the training loss and its backward pass through
        :func:`torch.compile`. On one and two CPU threads a training step ran
        1.2x faster than without (``benchmarks/speed.py``); compiling costs
        seconds per fit and process, and on a CPU needs a C++ compiler (without
        one, a warning, and training goes on uncompiled). Worth it for long fits.
    warm_start : bool, default=False
        Continue training the fitted network (and keep its ``sigma_`` and data
        moments) on the next call to ``fit``.
    verbose : int, default=0
        Show a progress bar of the epochs when positive.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, the validation split, mini-batches, noise and
        the importance samples. An int gives identical fits on the same CPU setup.
        Torch's global RNG is never used.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the network lives; ``"auto"`` picks CUDA when available.

    Attributes
    ----------
    sigma_ : float
        Noise standard deviation used, in the units of ``X`` (with
        ``noise_covariance="data"``, in those of the whitened data).
    sigma_path_ : ndarray of shape (n_stages,)
        Only with ``sigma="auto"``: the noise levels visited, in order.
    sigma_path_scores_ : ndarray of shape (n_stages,)
        Only with ``sigma="auto"``: mean validation log-likelihood of each stage's
        model of its own smoothed density; NaN where the stage's normalizer was
        unreliable. ``sigma_`` is the level of the largest. With
        ``levels="all"``, the candidate levels and the final model's own
        (self-normalized) validation log-likelihood at each; ``sigma_`` is the
        best of them that importance sampling can also normalize.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    module_ : torch.nn.Module
        The trained energy ``s`` on centred input ``x - mean`` (with
        ``noise_covariance="data"``, ``x`` whitened first).
    n_iter_ : int
        Epochs run (in total, with ``warm_start``).
    n_steps_ : int
        Optimizer steps run.
    loss_curve_ : list of float
        Mean training loss of each epoch (weighted by ``sample_weight``).
    best_loss_ : float
        Lowest training loss of an epoch.
    validation_scores_ : list of float or None
        Mean log-likelihood of the validation split under the model normalized at
        that epoch's sigma (higher is better), one entry per epoch; NaN for
        epochs not judged (annealing) or whose normalizer was unreliable. ``None``
        without early stopping (unless ``sigma="auto"``).
    best_validation_score_ : float or None
        Best of ``validation_scores_`` at the final sigma, whose weights are kept.
    converged_ : bool
        Whether training stopped by the ``n_iter_no_change`` criterion.
    interrupted_ : bool
        Whether ``fit`` was stopped by ``KeyboardInterrupt`` (Ctrl-C); the model is
        then the best one reached so far, normalized as usual.
    device_ : str
        Device the network is on.
    log_normalizer_ : float
        Estimate of ``log integral exp(s(x)) dx`` in the units of ``X``.
    log_normalizer_stderr_ : float
        Its standard error, from 8 independent batches of samples (or chains).
        Importance sampling biases log Z low (and likelihoods high); a small
        standard error with a small ``importance_ess_`` is not a small error.
    importance_ess_ : float
        Effective sample size of the pooled importance weights.
    log_normalizer_khat_ : float
        Pareto k-hat of the weights' tail: above 0.7 the estimate is unreliable
        whatever its standard error says.
    normalizer_ : str
        Method that produced ``log_normalizer_``.
    log_normalizer_residual_ : float
        Only with ``levels="all"``: ``log_normalizer_`` in the units where the
        model normalizes itself, so 0 for an exactly self-normalized network; its
        error bar is ``log_normalizer_stderr_``. A ``UserWarning`` fires when it
        is beyond 3 of them and 0.1 nats (not a :class:`LogNormalizerWarning`:
        ``log_normalizer_`` corrects it).
    log_normalizer_problems_ : list of str
        The checks that ``log_normalizer_`` failed (effective sample size,
        standard error, k-hat), as the ``LogNormalizerWarning`` names them; empty
        when it passed them all.

    See Also
    --------
    sklearn.neighbors.KernelDensity : The limit of a DDE of unlimited capacity.
    sklearn.mixture.GaussianMixture : A parametric density with exact likelihood.

    Notes
    -----
    :meth:`score` returns the **mean** log-likelihood per sample, as
    ``GaussianMixture.score`` does; ``KernelDensity.score`` returns the sum.

    Input: any real dtype is fitted as float64 (float16 included); sparse,
    complex, NaN, infinite, 1-D and 3-D input is refused with an error naming the
    problem, as are values whose covariance overflows float64 and a ``sigma``
    below ``1e-5`` of the data's spread (float32 training cannot resolve it).
    Constant features and duplicated rows are valid. Everything is computed in
    whitened units, so rescaling ``X`` and ``sigma`` by ``c`` shifts every
    log-density by ``-n_features * log(c)``, up to rounding. A numpy memmap, or training
    data larger than 1 GiB as float32, is read one mini-batch at a time, never
    copied whole (``benchmarks/memory.py``).

    Training checks every step's loss (on the CPU before its update; on a GPU
    every 32 steps, to spare host syncs) and each epoch's mean loss and weights.
    A non-finite or exploding epoch is undone and retried at half the learning
    rate, at most 6 times, then ``fit`` raises ``FloatingPointError`` with the
    last good weights in place. ``KeyboardInterrupt`` ends ``fit`` early with a
    warning and a usable model (``interrupted_``).

    References
    ----------
    S. A. Bigdeli, G. Lin, L. A. Dunbar, T. Portenier, M. Zwicker, "Learning
    Generative Models Using Denoising Density Estimators", IEEE TNNLS, 2024.

    Examples
    --------
    >>> from skdde import DDEDensity
    >>> from skdde.datasets import make_eight_gaussians
    >>> X = make_eight_gaussians(2000, random_state=0)
    >>> dde = DDEDensity(sigma=0.2, max_iter=20, random_state=0).fit(X)
    >>> dde.score_samples(X[:3]).shape
    (3,)
    >>> dde.sample(5, random_state=0).shape
    (5, 2)
    """

    _parameter_constraints: dict = {
        "sigma": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto", "scott", "silverman"}),
        ],
        "noise_covariance": [StrOptions({"isotropic", "data"})],
        "levels": [StrOptions({"single", "all"})],
        "hidden_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "network": [callable, None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [StrOptions({"cosine", "step", "constant"})],
        "sigma_start": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
            None,
        ],
        "annealing_fraction": [Interval(Real, 0, 1, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "likelihood_weight": [Interval(Real, 0, None, closed="left")],
        "n_likelihood_samples": [Interval(Integral, 1, None, closed="left")],
        "normalizer": [StrOptions({"auto", "gaussian", "mixture", "ais", "ladder"})],
        "n_importance_samples": [Interval(Integral, 2 * N_NORMALIZER_BATCHES, None, closed="left")],
        "mala_burn_in": [Interval(Integral, 0, None, closed="left")],
        "mala_n_steps": [Interval(Integral, 0, None, closed="left")],
        "mala_target_accept": [Interval(Real, 0, 1, closed="neither")],
        "compile": ["boolean"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
    }
    _torch_attributes = ("module_",)

    def __init__(
        self,
        *,
        sigma=0.1,
        noise_covariance="isotropic",
        levels="single",
        hidden_layer_sizes=(128, 128, 128),
        activation="softplus",
        network=None,
        max_iter="auto",
        batch_size="auto",
        learning_rate_init=1e-3,
        learning_rate="cosine",
        weight_decay=0.0,
        sigma_start="auto",
        annealing_fraction=0.8,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        likelihood_weight=1.0,
        n_likelihood_samples=2048,
        normalizer="auto",
        n_importance_samples=65536,
        mala_burn_in=200,
        mala_n_steps=100,
        mala_target_accept=0.574,
        compile=False,
        warm_start=False,
        verbose=0,
        random_state=None,
        device="auto",
    ):
        self.sigma = sigma
        self.noise_covariance = noise_covariance
        self.levels = levels
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.network = network
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.sigma_start = sigma_start
        self.annealing_fraction = annealing_fraction
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.likelihood_weight = likelihood_weight
        self.n_likelihood_samples = n_likelihood_samples
        self.normalizer = normalizer
        self.n_importance_samples = n_importance_samples
        self.mala_burn_in = mala_burn_in
        self.mala_n_steps = mala_n_steps
        self.mala_target_accept = mala_target_accept
        self.compile = compile
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the network on ``X`` and estimate its log-normalizer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples in the loss and the data moments.
            A zero weight drops the sample, from the validation split too.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        warm = self.warm_start and hasattr(self, "module_")
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], order="C", reset=not warm
        )
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        n_samples, n_features = X.shape
        rng = check_random_state(self.random_state)
        device = self.device_ if warm else resolve_device(self.device)
        held_out = self.early_stopping or self.sigma == "auto"
        train_idx, val_idx = split_rows(sample_weight, self.validation_fraction, held_out, rng)
        # a memmap, or data too large to copy, is read one mini-batch at a time
        stream = is_memory_mapped(X) or 4 * len(train_idx) * n_features > STREAM_BYTES
        w_train = sample_weight[train_idx]
        if not warm:
            self._set_noise_map(Rows(X, train_idx), w_train)
        elif (self._noise_map is None) != (self.noise_covariance == "isotropic") or (
            isinstance(self.module_, LevelEnergy) != (self.levels == "all")
        ):
            raise ValueError(
                f"noise_covariance={self.noise_covariance!r} or levels={self.levels!r} "
                "differs from the fit that warm_start would continue; set "
                "warm_start=False to refit."
            )
        if self.normalizer == "ladder" and self.levels != "all":
            raise ValueError("normalizer='ladder' needs levels='all'.")
        X = self._to_noise_units(X, lazy=stream)
        X_train = Rows(X, train_idx) if stream else X[train_idx]

        if not warm:
            # sigma="auto": the base and the network's resolution suit the path's floor
            sigma = resolve_sigma(self.sigma, X, sample_weight, SIGMA_AUTO_MIN_FRACTION)
            self._initialize(X_train, w_train, sigma, rng, device)
            self._train_result = None
        generator = make_generator(rng, device)
        data = (
            Batches(X_train, self._mean, device, self._scale) if stream else self._tensor(X_train),
            to_tensor(w_train, device),
            self._tensor(X[val_idx]),
            to_tensor(sample_weight[val_idx], device),
        )
        batch_size, max_iter = training_budget(len(train_idx), self.batch_size, self.max_iter)
        train_kw = dict(
            batch_size=batch_size,
            learning_rate_init=self.learning_rate_init,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            generator=generator,
            log_normalizer=self._batch_log_normalizer(),
            likelihood_weight=self.likelihood_weight,
            validation_score=validation_score(
                self.module_,
                self._proposal_cache(),
                data[2],
                data[3],
                self._log_det,
                N_VALIDATION_SAMPLES,
                generator,
            ),
            on_sigma=self._set_sigma,
            compile=self.compile,
            verbose=self.verbose,
        )

        if self.levels == "all":
            result = self._train_levels(data, max_iter, train_kw, warm)
        else:
            result = self._train_single(data, max_iter, train_kw, X_train, w_train, warm)
        self._train_result = result
        self._trim_kept_levels()
        self.n_iter_ = result.n_iter
        self.n_steps_ = result.n_steps
        self.loss_curve_ = result.loss_curve
        self.best_loss_ = result.best_loss
        self.converged_ = result.converged
        self.interrupted_ = result.interrupted
        if self.early_stopping or self.sigma == "auto":
            self.validation_scores_ = result.validation_scores
            self.best_validation_score_ = result.best_validation_score
        else:
            self.validation_scores_ = self.best_validation_score_ = None
        if not (result.converged or result.interrupted):
            warnings.warn(
                f"DDEDensity stopped after {result.n_iter} epochs (max_iter) "
                "without converging; consider raising max_iter.",
                ConvergenceWarning,
            )
        self._store_normalizer(
            self._estimate(self.normalizer, self.n_importance_samples, make_generator(rng, device))
        )
        return self

    def _set_noise_map(self, X, weight):
        """noise_covariance="data": the affine map to units in which the training
        data have identity covariance; the model is fitted there, with isotropic
        noise. ``None`` for isotropic noise (the units of ``X``)."""
        self._noise_map, self._log_det_noise_map = None, 0.0
        if self.noise_covariance == "data":
            shift, A, A_inv, log_det = whitening_map(X, weight)
            self._noise_map, self._log_det_noise_map = (shift, A, A_inv), log_det

    def _to_noise_units(self, X, lazy=False):
        """``X`` in the units where the noise is isotropic (read when indexed if ``lazy``)."""
        if self._noise_map is None:
            return X
        shift, A, _ = self._noise_map
        mapped = Mapped(X, shift, A)
        return mapped if lazy else mapped[:]

    def _initialize(self, X, weight, sigma, rng, device):
        """A fresh model at ``sigma``: base and mixture proposal from ``X``, an
        energy that is exactly the base. Also used for models of other samples
        than the training data (a generator's output)."""
        self.device_ = device
        self.sigma_ = sigma
        self._set_base(X, weight)
        self._scale = 1.0
        if self.levels == "all":  # mean of the eigenvalues, floored for constant data
            self._scale = math.sqrt(max(self._eigh[0].mean(), sigma**2))
        self._set_mixture(X, weight, rng)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        self.module_ = build_module(self._energy_factory(X.shape[1]), seed, device)
        self._sigma_now = None
        self._level_states, self._level_keep = {}, ()

    def _batch_log_normalizer(self):
        """``f(generator, sigma)``: the likelihood term's differentiable log Z."""
        proposal = self._proposal_cache()

        def log_normalizer(generator, sigma):
            return batch_log_normalizer(
                self.module_.whitened,
                proposal("gaussian", sigma),
                self.n_likelihood_samples,
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

    def _energy_factory(self, n_features):
        as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        # sigma in whitened units, averaged over directions: the finest scale of p~
        resolution = self.sigma_ * math.exp(self._log_det_whitening / n_features)
        n_context = N_LEVEL_FEATURES if self.levels == "all" else 0
        sizes = tuple(self.hidden_layer_sizes)
        net = functools.partial(
            make_net, self.network, n_features, sizes, self.activation, resolution, n_context
        )
        if not n_context:
            whitening = as_tensor(self._whitening)
            return lambda: GaussianBaseEnergy(net(), whitening)
        # levels="all" works on (x - mean) / scale, levels and all, so that
        # variances and their time derivatives stay within float32 at any scale
        evals, evecs = np.maximum(self._eigh[0], 0) / self._scale**2, self._eigh[1]
        unwhitening = as_tensor(self._unwhitening / self._scale)
        t_min = self._level(self.sigma_)
        t_max = LEVEL_TOP_FACTOR * max(evals.max(), t_min)
        return lambda: LevelEnergy(
            net(), as_tensor(evals), as_tensor(evecs), t_min, t_max, unwhitening
        )

    def _tensor(self, X):
        return centred_tensor(X, self._mean, self.device_, self._scale)

    def _set_mixture(self, X, weight, rng):
        """Fit the mixture proposal to the whitened training data."""
        n = len(X)
        n_fit = min(n, MIXTURE_MAX_ROWS)
        if np.ptp(weight) == 0 and n_fit == n:
            idx = np.arange(n)
        else:  # a weighted subsample stands in for sample_weight, which GMMs lack
            p = weight / weight.sum()
            idx = rng.choice(n, size=n_fit, replace=bool(np.ptp(weight)), p=p)
        u = (X[idx] - self._mean) @ self._whitening.T
        self._mixture = fit_mixture(u, rng.randint(2**31 - 1))

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
            As the ``normalizer`` parameter.
        n_samples : int, default=None
            Importance samples (AIS: ``n_samples / 64`` chains, ladder:
            ``n_samples / 16``); ``None`` uses ``n_importance_samples``.
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
            n_samples = self.n_importance_samples
        if not isinstance(n_samples, Integral) or n_samples < 2 * N_NORMALIZER_BATCHES:
            raise ValueError(
                f"n_samples must be an int of at least {2 * N_NORMALIZER_BATCHES}, "
                f"got {n_samples!r}."
            )
        return int(n_samples)

    def _noise_units_tensor(self, X):
        """Validated ``X``, centred in the units the model is fitted in."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", reset=False)
        return self._tensor(self._to_noise_units(X))

    def score_samples(self, X):
        """Log-density of the smoothed model ``p~`` at each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to evaluate.

        Returns
        -------
        log_density : ndarray of shape (n_samples,), dtype float64
            ``s(x) - log_normalizer_``, in the units of ``X``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", reset=False)
        out = np.empty(X.shape[0])
        for start in range(0, X.shape[0], SCORE_CHUNK):
            chunk = self._tensor(self._to_noise_units(X[start : start + SCORE_CHUNK]))
            out[start : start + SCORE_CHUNK] = evaluate(self.module_, chunk).cpu().numpy()
        return out - self.log_normalizer_

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` under the smoothed model ``p~``.

        Unlike ``KernelDensity.score`` (a sum), this is a mean, so scores of
        cross-validation folds of unequal size are comparable.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to evaluate.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Mean of :meth:`score_samples`.
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples=1, random_state=None, return_diagnostics=False):
        """Draw samples of ``p~`` by Metropolis-adjusted Langevin dynamics.

        Parallel chains start from the Gaussian base, importance-resampled towards
        ``exp(s)``, then run ``mala_burn_in`` steps while one shared step size
        adapts to ``mala_target_accept``, and ``mala_n_steps`` steps at that step
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
            n_burn_in=self.mala_burn_in,
            n_steps=self.mala_n_steps,
            target_accept=self.mala_target_accept,
        )
        X = z.double().cpu().numpy() @ self._unwhitening.T + self._mean
        if self._noise_map is not None:
            shift, _, A_inv = self._noise_map
            X = X @ A_inv.T + shift
        if not return_diagnostics:
            return X
        keys = ("acceptance_rate", "burn_in_acceptance_rate", "step_size")
        return X, dict(zip(keys, map(float, stats)))
