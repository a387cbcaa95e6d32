"""DDEDensity: the scikit-learn layer over the energy network, trainer and normalizer.

The estimator validates, converts and stores; its two models' training lives in
``_density_single.py`` (levels="single") and ``_density_levels.py`` (levels="all"),
its fitted units, log Z and sampler in ``_density_base.py``, its options in
``_options.py``, and the torch work in pure functions below them. Past 400 lines
for its numpydoc (280 lines) and, until 0.3, the deprecated parameters.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._base import TorchStateMixin, make_generator, resolve_device, to_tensor
from ._data import Batches, Rows, is_memory_mapped, resolve_sigma, split_rows
from ._density_base import GaussianBaseMixin
from ._density_levels import MultiLevelMixin
from ._density_single import SingleLevelMixin
from ._nets import ACTIVATIONS
from ._normalizer import validation_score
from ._options import (
    DENSITY_CONSTRAINTS,
    DENSITY_OPTIONS,
    DEPRECATED,
    deprecated_constraints,
    resolve_options,
)
from ._train import training_budget

#: Training data larger than this as float32 (or memory-mapped) is streamed to the
#: device one mini-batch at a time instead of copied to it whole.
STREAM_BYTES = 2**30
#: sigma="auto": the floor of its levels as a fraction of the data's scale.
SIGMA_AUTO_MIN_FRACTION = 0.01
#: Importance samples behind each validation log-likelihood (early stopping, stages).
N_VALIDATION_SAMPLES = 16384
#: Constructor parameters that the trainer takes as they are.
TRAINER_PARAMETERS = (
    "learning_rate_init", "learning_rate", "weight_decay", "n_iter_no_change", "tol",
    "compile", "verbose",
)


class DDEDensity(
    SingleLevelMixin, MultiLevelMixin, GaussianBaseMixin, TorchStateMixin, DensityMixin,
    BaseEstimator,
):
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
    under that Gaussian have finite variance. The user guide gives the evidence
    behind each parameter and default.

    Parameters
    ----------
    sigma : float or {"auto", "scott", "silverman"}, default=0.1
        Standard deviation of the smoothing noise, in the units of ``X``, as
        ``KernelDensity``'s bandwidth. ``"scott"`` and ``"silverman"``: the rule's
        factor (Scott's ``n ** (-1 / (d + 4))``) times the root mean square of the
        feature standard deviations, as ``KernelDensity``'s rules on standardized
        data. ``"auto"`` chooses sigma by validation likelihood in one training
        run (``sigma_path_``, ``sigma_path_scores_``): with ``levels="single"``
        along a path annealed from the data's scale down to 1% of it, dividing by
        1.1 per stage; with ``levels="all"`` among the trained levels. In 30 and
        more dimensions its choices are poor: prefer a grid search.
    noise_covariance : {"isotropic", "data"}, default="isotropic"
        Shape of the smoothing noise. ``"isotropic"``: ``p~ = p * N(0, sigma^2 I)``.
        ``"data"``: ``p~ = p * N(0, sigma^2 C)``, ``C`` the training split's
        covariance (ridged by ``1e-6`` of each feature's variance), as
        ``scipy.stats.gaussian_kde`` smooths; ``sigma`` and every other setting act
        in units where the training data have identity covariance (not for
        :class:`DDEGenerator`).
    levels : {"single", "all"}, default="single"
        What the network models. ``"single"``: ``log p~`` at ``sigma_`` alone, the
        paper's DDE. ``"all"``: one network for the family ``log p_t``, ``p_t = p *
        N(0, t I)``, from ``t = sigma^2`` up to 4 times the data's largest variance,
        where it is exactly the moment-matched Gaussian; trained by dual score
        matching (the scores in ``x`` and in ``t``, Guth et al., 2025), which
        carries that normalization down the levels (``log_normalizer_`` is still
        verified; ``log_normalizer_residual_`` is the difference).
        :meth:`score_samples_at` scores another level, :meth:`flow_score_samples`
        by the probability-flow ODE. A custom ``network`` gets ``n_features + 9``
        inputs, the whitened point then the level's features.
    hidden_layer_sizes : tuple of int, default=(128, 128, 128)
        Widths of the hidden layers of ``h``; a layer as wide as its input is residual.
    activation : {"softplus", "silu", "tanh"}, default="softplus"
        Hidden activation; twice differentiable, as the loss differentiates ``h``.
    max_iter : int or "auto", default="auto"
        Maximum number of epochs (passes over the training split). ``"auto"`` is
        400 epochs, or fewer so that training takes at most about 20,000
        optimizer steps (binding above about 25,000 rows).
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``n_train // 32`` clipped to [32, 512].
    learning_rate_init : float, default=1e-3
        Initial Adam learning rate.
    learning_rate : {"cosine", "step", "constant"}, default="cosine"
        Learning-rate schedule over ``max_iter`` epochs: cosine decay to zero,
        halving every quarter (the paper's), or constant.
    weight_decay : float, default=0.0
        Decoupled weight decay of every network weight (AdamW; 0 is Adam), a
        regularizer for few rows in many dimensions.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the data and stop when its mean
        log-likelihood (normalized every epoch by 16,384 importance samples) stops
        improving, keeping the best weights; the held-out denoising loss decides
        while no epoch is normalized reliably. ``False``: stop on the training loss.
    validation_fraction : float, default=0.1
        Fraction of the data held out for early stopping and ``sigma="auto"``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float, default=1e-4
        Minimum improvement of the (dimensionless) loss that counts.
    training_options : dict, default=None
        Settings few fits change, by key (default in brackets):

        - ``"sigma_start"`` (``"auto"``, the data's scale): anneal from it down to
          ``sigma_``, dividing by 1.1 at even intervals over
          ``"annealing_fraction"`` (0.8) of ``max_iter``; ``None`` trains at
          ``sigma_`` throughout. Early stopping acts once ``sigma_`` is reached.
        - ``"likelihood_weight"`` (1.0): weight of a maximum-likelihood term at
          ``sigma_``, log Z estimated every step from ``"n_likelihood_samples"``
          (2048) draws of the Gaussian base; it shares mass between far-apart
          modes. ``levels="all"`` uses neither this nor the annealing.
        - ``"normalizer"`` (``"auto"``): how ``log Z`` is estimated after
          training, from ``"n_importance_samples"`` (65536) samples: importance
          sampling from the ``"gaussian"`` base or a ``"mixture"`` (a
          ``GaussianMixture`` of the data widened by ``sigma^2 I``, with the base
          at weight 0.1), ``"ais"`` from that mixture (1024 MALA temperatures),
          ``"ladder"`` (``levels="all"``: AIS down the model's own levels from its
          exact top), or ``"auto"``: the larger reliable one of ``"gaussian"`` and
          ``"mixture"``, then the ladder and AIS while none is, else the least bad
          with a :class:`LogNormalizerWarning`. Each is a stochastic lower bound,
          so log-likelihoods are upper bounds in expectation.
        - ``"mala_burn_in"`` (200), ``"mala_n_steps"`` (100),
          ``"mala_target_accept"`` (0.574): the chains of :meth:`sample`.
        - ``"network"`` (``None``): ``network(n_features) -> torch.nn.Module``
          mapping ``(n, d)`` whitened points to ``(n,)`` values ``h`` in place of
          the MLP; twice differentiable, growing at most linearly, and a named
          function or class so the estimator pickles.
        - ``"level_base"`` (``"gaussian"``): with ``levels="all"``, the density
          the network corrects, smoothed to every level and exact at the top: the
          data's moment-matched Gaussian, or a ``"mixture"`` of 1, 2, 4, ... 64
          components, sized on the validation split (also the mixture proposal).
    compile : bool, default=False
        Compile the training step with :func:`torch.compile`: seconds per fit and
        process; on a CPU it needs a C++ compiler (without one, a warning, and
        training goes on uncompiled).
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
    network, sigma_start, annealing_fraction, likelihood_weight, \
n_likelihood_samples, normalizer, n_importance_samples, mala_burn_in, \
mala_n_steps, mala_target_accept : deprecated
        .. deprecated:: 0.2
           Give them in ``training_options``; as parameters they are removed in 0.3.

    Attributes
    ----------
    sigma_ : float
        Noise standard deviation used, in the units of ``X`` (with
        ``noise_covariance="data"``, in those of the whitened data).
    sigma_path_ : ndarray of shape (n_stages,)
        Only with ``sigma="auto"``: the noise levels visited, in order.
    sigma_path_scores_ : ndarray of shape (n_stages,)
        Only with ``sigma="auto"``: mean validation log-likelihood of each stage's
        model (NaN where its normalizer was unreliable); ``sigma_`` is the best.
        With ``levels="all"``, the final model's validation log-likelihood at each
        candidate level, normalized there by importance sampling (NaN where that
        is unreliable); ``sigma_`` is the best.
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
        Mean validation log-likelihood of each epoch's model at its sigma; NaN for
        epochs not judged (annealing) or not reliably normalized. ``None``
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
        model normalizes itself (0 if exactly self-normalized), with the error bar
        ``log_normalizer_stderr_``; a ``UserWarning`` fires beyond 3 of them and
        0.1 nats (``log_normalizer_`` corrects it).
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
    :meth:`score` is a **mean** log-likelihood, as ``GaussianMixture.score``.

    Input: any real dtype is fitted as float64; sparse, complex, NaN, infinite,
    1-D and 3-D input is refused with an error naming the problem, as are values
    whose covariance overflows float64 and a ``sigma`` below ``1e-5`` of the data's
    spread. Constant features and duplicated rows are valid. Rescaling ``X`` and
    ``sigma`` by ``c`` shifts every log-density by ``-n_features * log(c)``, up to
    rounding. A memmap, or training data over 1 GiB as float32, is read one
    mini-batch at a time, never copied whole (``benchmarks/memory.py``).

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
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"cosine", "step", "constant"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "training_options": [dict, None],
        "compile": ["boolean"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        **deprecated_constraints(DENSITY_CONSTRAINTS),
    }
    _torch_attributes = ("module_",)
    _training_defaults, _option_constraints = DENSITY_OPTIONS, DENSITY_CONSTRAINTS

    def __init__(
        self,
        *,
        sigma=0.1,
        noise_covariance="isotropic",
        levels="single",
        hidden_layer_sizes=(128, 128, 128),
        activation="softplus",
        max_iter="auto",
        batch_size="auto",
        learning_rate_init=1e-3,
        learning_rate="cosine",
        weight_decay=0.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        training_options=None,
        compile=False,
        warm_start=False,
        verbose=0,
        random_state=None,
        device="auto",
        # in training_options since 0.2
        network=DEPRECATED, sigma_start=DEPRECATED, annealing_fraction=DEPRECATED,
        likelihood_weight=DEPRECATED, n_likelihood_samples=DEPRECATED,
        normalizer=DEPRECATED, n_importance_samples=DEPRECATED,
        mala_burn_in=DEPRECATED, mala_n_steps=DEPRECATED, mala_target_accept=DEPRECATED,
    ):
        self.sigma = sigma
        self.noise_covariance = noise_covariance
        self.levels = levels
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.training_options = training_options
        self.compile = compile
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state
        self.device = device
        self.network = network
        self.sigma_start = sigma_start
        self.annealing_fraction = annealing_fraction
        self.likelihood_weight = likelihood_weight
        self.n_likelihood_samples = n_likelihood_samples
        self.normalizer = normalizer
        self.n_importance_samples = n_importance_samples
        self.mala_burn_in = mala_burn_in
        self.mala_n_steps = mala_n_steps
        self.mala_target_accept = mala_target_accept

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
        options = resolve_options(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", reset=not warm)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        self._options = options  # a fitted model keeps its own until the input is valid
        rng = check_random_state(self.random_state)
        device = self.device_ if warm else resolve_device(self.device)
        held_out = self.early_stopping or self.sigma == "auto"
        train_idx, val_idx = split_rows(sample_weight, self.validation_fraction, held_out, rng)
        # a memmap, or data too large to copy, is read one mini-batch at a time
        stream = is_memory_mapped(X) or 4 * len(train_idx) * X.shape[1] > STREAM_BYTES
        w_train = sample_weight[train_idx]
        if not warm:
            self._set_noise_map(Rows(X, train_idx), w_train)
        else:
            self._check_warm_start()
        for key, value in (("normalizer", "ladder"), ("level_base", "mixture")):
            if options[key] == value and self.levels != "all":
                raise ValueError(f"{key}={value!r} needs levels='all'.")
        X = self._to_noise_units(X, lazy=stream)
        X_train = Rows(X, train_idx) if stream else X[train_idx]

        if not warm:
            # sigma="auto": the base and the network's resolution suit the path's floor
            sigma = resolve_sigma(self.sigma, X, sample_weight, SIGMA_AUTO_MIN_FRACTION)
            validation = (X[val_idx], sample_weight[val_idx]) if held_out else None
            self._initialize(X_train, w_train, sigma, rng, device, validation)
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
            generator=generator,
            log_normalizer=self._batch_log_normalizer(),
            likelihood_weight=options["likelihood_weight"],
            validation_score=validation_score(
                self.module_, self._proposal_cache(), *data[2:], self._log_det,
                N_VALIDATION_SAMPLES, generator,
            ),
            on_sigma=self._set_sigma,
            **{name: getattr(self, name) for name in TRAINER_PARAMETERS},
        )

        if self.levels == "all":
            result = self._train_levels(data, max_iter, train_kw, warm)
        else:
            result = self._train_single(data, max_iter, train_kw, X_train, w_train, warm)
        self._train_result = result
        self._trim_kept_levels()
        for name in ("n_iter", "n_steps", "loss_curve", "best_loss", "converged", "interrupted"):
            setattr(self, f"{name}_", getattr(result, name))
        self.validation_scores_ = result.validation_scores if held_out else None
        self.best_validation_score_ = result.best_validation_score if held_out else None
        if not (result.converged or result.interrupted):
            warnings.warn(
                f"DDEDensity stopped after {result.n_iter} epochs (max_iter) "
                "without converging; consider raising max_iter.",
                ConvergenceWarning,
            )
        method, n_samples = options["normalizer"], options["n_importance_samples"]
        self._store_normalizer(self._estimate(method, n_samples, make_generator(rng, device)))
        return self

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
        return self._energies(self._check_X(X), self.module_) - self.log_normalizer_

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
