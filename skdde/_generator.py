"""DDEGenerator: the scikit-learn layer over a generator trained against two DDEs.

The data's energy ``s_p`` is a :class:`DDEDensity` (``density_``); the generated
data's energy ``s_q`` is a second one (``generated_density_``) sharing its
Gaussian base, so its normalizer, scores and proposals are DDEDensity's own.
The training loop lives in ``_train_generator.py``, the objective in ``_loss.py``.

The estimator validates, converts and stores; ``_generator_models.py`` builds the
networks (the generator, ``s_q``, the target's levels and log Z, the divergence
check) and runs the loop; the options live in ``_options.py``. Past 400 lines for
its numpydoc (about 290 lines) and, until 0.3, the deprecated parameters.
"""
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import TorchStateMixin, check_n_samples, make_generator, resolve_device, to_tensor
from ._data import mean_and_root
from ._density import DDEDensity
from ._generator_models import GeneratorModelsMixin
from ._nets import GENERATOR_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ._options import (
    DEPRECATED,
    GENERATOR_CONSTRAINTS,
    GENERATOR_OPTIONS,
    deprecated_constraints,
    resolve_options,
)

#: output_activation="sigmoid": data are clipped to [EPS, 1 - EPS] for the logit
#: moments that place the fresh generator.
SIGMOID_EPS = 1e-3


class DDEGenerator(GeneratorModelsMixin, TorchStateMixin, DensityMixin, BaseEstimator):
    """One-step generator trained by reverse KL against denoising density estimators.

    Algorithm 1 of Bigdeli et al.: a network ``x = g(z)``, ``z ~ N(0, I)``, is
    trained so that its output density ``q``, smoothed by ``N(0, sigma^2 I)``,
    matches the smoothed data density ``p~``, minimizing ``KL(q~ || p~)``. The data's
    energy ``s_p`` is a :class:`DDEDensity`; a second DDE ``s_q`` follows the
    generated data. Each generator step descends ``E[s_q(g(z) + eta) - s_p(g(z) +
    eta)]`` (one noise draw ``eta`` for both terms), then ``s_q`` takes
    ``n_inner_steps`` denoising steps on fresh generator samples. Because Gaussian
    smoothing is invertible, ``q~ = p~`` implies ``q = p``: at the optimum,
    :meth:`sample` draws from the sharp data density, one forward pass per batch,
    no Markov chain.

    By default both DDEs are multi-level models (``levels="all"``) and the
    generator descends the reverse KL integrated over their noise levels: at the
    large levels the modes overlap, so every generated point is pulled toward
    every mode (``benchmarks/generator_levels.py``). With ``levels="single"`` it
    follows the data DDE's annealing snapshots down to ``sigma_``, which buys mode
    balance (``benchmarks/generator.py``).

    Parameters
    ----------
    sigma : float, {"auto", "scott", "silverman"} or None, default=None
        Noise standard deviation of both DDEs, in the units of ``X``. ``None``
        takes the density's: ``density.sigma`` (0.1 for the default
        ``DDEDensity``), or ``density.sigma_`` when it is fitted. Otherwise it
        overrides an unfitted ``density``'s sigma; a fitted density must match it.
    latent_dim : int, default=None
        Dimension of the latent code ``z``; ``None`` is ``n_features``.
    hidden_layer_sizes : tuple of int, default=(256, 256, 256)
        Widths of the generator's hidden layers (a layer as wide as its input is
        residual). The generator is a linear map of ``z`` plus this MLP, placed on
        the data's mean and covariance.
    activation : {"relu", "leaky_relu", "softplus", "silu", "tanh"}, default="relu"
        Hidden activation of the generator.
    output_activation : {"identity", "sigmoid"}, default="identity"
        Applied to the generator's output; ``"sigmoid"`` for data in [0, 1]
        (e.g. pixel intensities), checked at fit.
    n_inner_steps : int, default=5
        Steps of ``s_q`` per generator step (5 was the paper's best trade-off).
        On a 1-D mixture of eight Gaussians, 10 ended 2.5x closer to the data
        (KL 0.058 against 0.145 after 3000 steps) at 1.7x the time per step
        (``benchmarks/ablations/generator_1d.py``).
    max_iter : int, default=3000
        Generator steps.
    batch_size : int, default=512
        Generated points per step (of either network).
    learning_rate_init : float, default=1e-3
        Initial Adam learning rate of the generator.
    learning_rate : {"cosine", "constant"}, default="cosine"
        Schedule of both learning rates over the ``max_iter`` steps.
    levels : {"single", "all"} or None, default=None
        ``None`` takes the given ``density``'s ``levels``, and ``"all"`` when
        ``density`` is None. ``"single"`` is Algorithm 1, both DDEs at one noise
        level. ``"all"`` trains against a ``DDEDensity(levels="all")`` and makes
        ``s_q`` one too (dual score matching on the generated points); each
        generator step descends ``E_t[w(t) (f_q(g(z) + sqrt(t) eps, t) - f_p(g(z)
        + sqrt(t) eps, t))]``, ``log t`` uniform from ``sigma_^2`` to the data's
        largest variance with a quarter of each batch at ``sigma_``, ``w(t) = t /
        sigma_^2``: the reverse KL over the levels, as in Diff-Instruct and DMD.
    density : DDEDensity or None, default=None
        The data DDE ``s_p``. ``None`` fits a ``DDEDensity`` with the parameters
        above; an unfitted one is cloned and fitted; a fitted one is copied and
        reused as is (e.g. the best estimator of a grid search over sigma). It is
        not trained further. The generator anneals through the weights the
        density kept at up to 8 levels of its own annealing; a density fitted
        without annealing (``"sigma_start": None``) has none, and the generator
        trains at ``sigma_`` only.
    training_options : dict, default=None
        Settings few fits change, by key (default in brackets):

        - ``"dde_hidden_layer_sizes"`` ((128, 128, 128)) and ``"dde_activation"``
          (``"softplus"``): the network of ``s_q``, and of ``s_p`` when
          ``density`` is None;
        - ``"dde_learning_rate_init"`` (1e-3): Adam's initial learning rate of ``s_q``;
        - ``"annealing_fraction"`` (0.5): the share of the steps spent on the data
          DDE's annealing levels above ``sigma_``, when it has them
          (``levels="single"`` only);
        - ``"n_importance_samples"`` (65536): samples of ``s_q``'s final normalizer.
    warm_start : bool, default=False
        Continue training the fitted generator and ``s_q`` on the next ``fit``,
        against the same data DDE, with Adam's moments and the random stream
        carried over (the noise is new, not a replay of the first fit's).
    verbose : int, default=0
        Progress bars when positive.
    random_state : int, RandomState instance or None, default=None
        Seeds everything: both DDEs, the generator, the noise and the samples.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the networks live.
    dde_hidden_layer_sizes, dde_activation, dde_learning_rate_init, \
annealing_fraction, n_importance_samples : deprecated
        .. deprecated:: 0.2
           Give them in ``training_options``; as parameters they are removed in 0.3.

    Attributes
    ----------
    density_ : DDEDensity
        The fitted data DDE ``s_p``, or ``None`` after :meth:`fit_log_density`.
    generated_density_ : DDEDensity
        The DDE ``s_q`` of the smoothed generated density ``q~``, normalized at
        the end of training; :meth:`score_samples` uses it.
    generator_ : torch.nn.Module
        The generator ``g``.
    sigma_ : float
        Noise standard deviation of both DDEs (the lowest level with
        ``levels_="all"``).
    levels_ : {"single", "all"}
        The levels trained on (see ``levels``); ``"single"`` after
        :meth:`fit_log_density`.
    latent_dim_ : int
        Dimension of ``z``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : int
        Generator steps run (in total, with ``warm_start``).
    loss_curve_ : list of float
        Generator objective at each step: ``KL(q~ || p~)`` plus the unknown
        ``log Z_q - log Z_p``, so only its changes at one sigma mean something.
    dde_loss_curve_ : list of float
        Mean denoising loss of ``s_q`` over each step's inner steps.
    divergence_steps_ : ndarray of shape (n_checks,)
        Steps at which the divergence was estimated.
    divergence_curve_ : ndarray of shape (n_checks,)
        Running estimates of ``KL(q~ || p~)`` at the current noise level, in
        nats: the mean of ``log q_model - log p_model`` over 8,192 noisy
        generated points, both DDEs normalized by importance sampling; NaN where
        either normalizer was unreliable. Biased low by ``KL(q~ || q_model)``,
        the error of ``s_q`` itself, so it can be negative: a trend, not a
        value. After :meth:`fit_log_density` it is ``KL(q~ || p) - log Z_p``
        for the target's unknown ``log Z_p``.
    n_retries_ : int
        Rollbacks after divergence (each halves the learning rates).
    interrupted_ : bool
        Whether ``fit`` was stopped by ``KeyboardInterrupt``.
    device_ : str
        Device of the networks.

    See Also
    --------
    DDEDensity : The density estimator this generator is trained against.

    Notes
    -----
    ``X`` is checked, and streamed when memory-mapped, as by :class:`DDEDensity`.
    Training checks every step's losses (on the CPU at the step; on a GPU every 32
    steps) and, every 100 steps, both networks' weights and the DDE's loss. A
    failed check restores both networks to the last checked state at half the
    learning rates, at most 6 times, then ``fit`` raises ``FloatingPointError``.

    References
    ----------
    S. A. Bigdeli, G. Lin, L. A. Dunbar, T. Portenier, M. Zwicker, "Learning
    Generative Models Using Denoising Density Estimators", IEEE TNNLS, 2024.

    Examples
    --------
    >>> from skdde import DDEDensity, DDEGenerator
    >>> from skdde.datasets import make_eight_gaussians
    >>> X = make_eight_gaussians(2000, random_state=0)
    >>> density = DDEDensity(sigma=0.2, max_iter=10, random_state=0)
    >>> gen = DDEGenerator(density=density, max_iter=20, random_state=0).fit(X)
    >>> gen.sample(4, random_state=0).shape
    (4, 2)
    >>> gen.generate([[0.0, 0.0]]).shape
    (1, 2)
    """

    _parameter_constraints: dict = {
        "sigma": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto", "scott", "silverman"}),
            None,
        ],
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "hidden_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(GENERATOR_ACTIVATIONS))],
        "output_activation": [StrOptions(set(OUTPUT_ACTIVATIONS))],
        "n_inner_steps": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"cosine", "constant"})],
        "levels": [StrOptions({"single", "all"}), None],
        "density": [DDEDensity, None],
        "training_options": [dict, None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        **deprecated_constraints(GENERATOR_CONSTRAINTS),
    }
    _torch_attributes = ("generator_",)
    _training_defaults, _option_constraints = GENERATOR_OPTIONS, GENERATOR_CONSTRAINTS

    def __init__(
        self,
        *,
        sigma=None,
        latent_dim=None,
        hidden_layer_sizes=(256, 256, 256),
        activation="relu",
        output_activation="identity",
        n_inner_steps=5,
        max_iter=3000,
        batch_size=512,
        learning_rate_init=1e-3,
        learning_rate="cosine",
        levels=None,
        density=None,
        training_options=None,
        warm_start=False,
        verbose=0,
        random_state=None,
        device="auto",
        # in training_options since 0.2
        dde_hidden_layer_sizes=DEPRECATED, dde_activation=DEPRECATED,
        dde_learning_rate_init=DEPRECATED, annealing_fraction=DEPRECATED,
        n_importance_samples=DEPRECATED,
    ):
        self.sigma = sigma
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.n_inner_steps = n_inner_steps
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.levels = levels
        self.density = density
        self.training_options = training_options
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state
        self.device = device
        self.dde_hidden_layer_sizes = dde_hidden_layer_sizes
        self.dde_activation = dde_activation
        self.dde_learning_rate_init = dde_learning_rate_init
        self.annealing_fraction = annealing_fraction
        self.n_importance_samples = n_importance_samples

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit (or reuse) the data DDE, then train the generator against it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        warm = self.warm_start and getattr(self, "density_", None) is not None
        options = resolve_options(self)
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], order="C", reset=not warm
        )
        if self.output_activation == "sigmoid" and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                "output_activation='sigmoid' generates values in [0, 1], but X has "
                f"values in [{X.min():.4g}, {X.max():.4g}]; rescale X or use "
                "output_activation='identity'."
            )
        self._options = options  # a fitted model keeps its own until the input is valid
        # a warm start continues the random stream, so its noise is not a replay
        rng = getattr(self, "_fit_rng", None) if warm else None
        rng = check_random_state(self.random_state) if rng is None else rng
        if not warm:
            self.levels_ = self.levels or getattr(self.density, "levels", "all")
            self.density_ = self._fit_density(X, rng)
            self.sigma_ = self.density_.sigma_
            self.device_ = self.density_.device_
            if self.output_activation == "sigmoid":
                logits = np.log(np.clip(X, SIGMOID_EPS, 1 - SIGMOID_EPS))
                logits -= np.log1p(-np.clip(X, SIGMOID_EPS, 1 - SIGMOID_EPS))
                loc, scale = mean_and_root(logits)
            else:
                loc, scale = self.density_._mean, self.density_._unwhitening
            self._initialize(X, loc, scale, rng)
        torch_rng = make_generator(rng, self.device_)
        self._train(*self._target(torch_rng), rng, torch_rng)
        self._fit_rng = rng
        return self

    def fit_log_density(self, log_prob, n_features, *, loc=0.0, scale=1.0):
        """Train the generator against a given log-density instead of data.

        The callable takes the place of the data DDE ``s_p``: the generator
        minimizes ``KL(q~ || p)`` with ``p`` proportional to ``exp(log_prob)``, so
        its *smoothed* output ``q~ = q * N(0, sigma^2 I)`` matches ``p``. With sigma
        small against the target's features, :meth:`sample` draws from ``p`` up to
        that blur; add ``N(0, sigma^2 I)`` noise to the samples for draws of ``q~``
        itself. There is no annealing and, whatever ``levels`` is, only the one
        level: a callable has no smoothed versions, and ``generated_density_`` is
        a single-level DDE.

        Parameters
        ----------
        log_prob : callable
            Maps a float32 tensor of shape ``(n, n_features)`` (on the estimator's
            device) to ``(n,)`` unnormalized log-densities, differentiably.
        n_features : int
            Dimension of the target.
        loc : float or array-like of shape (n_features,), default=0.0
            Rough centre of the target's mass: the fresh generator is
            ``N(loc, diag(scale)^2)``.
        scale : float or array-like of shape (n_features,), default=1.0
            Rough spread of the target per feature. ``s_q``'s Gaussian part has this
            spread (plus sigma), so it should not be smaller than the target's.

        Returns
        -------
        self : object
            The fitted estimator. ``sigma`` must be a number (default 0.1 when
            None); ``density_`` is None, and ``divergence_curve_`` is
            ``KL(q~ || p) - log Z_p``.

        Examples
        --------
        >>> import torch
        >>> from skdde import DDEGenerator
        >>> def log_prob(x):  # two modes at (-2, 0) and (2, 0)
        ...     a = -((x - torch.tensor([2.0, 0.0])) ** 2).sum(-1) / 0.5
        ...     b = -((x + torch.tensor([2.0, 0.0])) ** 2).sum(-1) / 0.5
        ...     return torch.logaddexp(a, b)
        >>> gen = DDEGenerator(sigma=0.1, max_iter=20, random_state=0)
        >>> gen = gen.fit_log_density(log_prob, 2, scale=2.0)
        >>> gen.sample(3, random_state=0).shape
        (3, 2)
        """
        self._validate_params()
        options = resolve_options(self)
        if not callable(log_prob):
            raise TypeError(f"log_prob must be callable, got {type(log_prob).__name__}.")
        if not isinstance(n_features, Integral) or n_features < 1:
            raise ValueError(f"n_features must be a positive int, got {n_features!r}.")
        if isinstance(self.sigma, str):
            raise ValueError(f"sigma={self.sigma!r} needs data; fit_log_density needs a number.")
        loc = np.broadcast_to(np.asarray(loc, dtype=np.float64), (n_features,)).copy()
        spread = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n_features,))
        if not (np.isfinite(loc).all() and np.isfinite(spread).all() and (spread > 0).all()):
            raise ValueError("loc must be finite and scale finite and positive.")
        self._options = options
        rng = check_random_state(self.random_state)
        self.n_features_in_ = int(n_features)
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.density_, self.levels_ = None, "single"
        self.sigma_ = 0.1 if self.sigma is None else float(self.sigma)
        self.device_ = resolve_device(self.device)
        self._initialize(None, loc, np.diag(spread), rng, levels="single")
        probe = self._generate(self._codes(8, make_generator(rng, self.device_)))
        values = log_prob(probe)
        if not (isinstance(values, torch.Tensor) and values.shape == (8,)):
            shape = getattr(values, "shape", type(values).__name__)
            raise ValueError(
                f"log_prob must map a tensor of shape (n, {n_features}) to a tensor of "
                f"shape (n,); for n=8 it returned {shape}."
            )
        sigmas = [self.sigma_] * self.max_iter
        torch_rng = make_generator(rng, self.device_)
        self._train(log_prob, sigmas, None, lambda sigma: 0.0, rng, torch_rng)
        return self

    def sample(self, n_samples=1, random_state=None):
        """Generate samples: ``g(z)`` for ``z ~ N(0, I)``, one forward pass per batch.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seeds the latent codes; an int makes the samples reproducible.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Samples of the (sharp) generated density ``q``.
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        generator = make_generator(check_random_state(random_state), self.device_)
        return self._generate(self._codes(n_samples, generator)).double().cpu().numpy()

    def generate(self, Z):
        """Map given latent codes through the generator (e.g. to interpolate).

        Parameters
        ----------
        Z : array-like of shape (n_samples, `latent_dim_`)
            Latent codes; the generator was trained on ``z ~ N(0, I)``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim_:
            raise ValueError(f"Z must have shape (n_samples, {self.latent_dim_}), got {Z.shape}.")
        if not np.isfinite(Z).all():
            raise ValueError("Z contains NaN or infinity.")
        return self._generate(to_tensor(Z, self.device_)).double().cpu().numpy()

    def score_samples(self, X):
        """Log-density of the smoothed generated distribution ``q~`` at each sample.

        ``q~ = q * N(0, sigma_^2 I)``, through ``s_q`` normalized by importance
        sampling as :meth:`DDEDensity.score_samples` is (see
        ``generated_density_`` for the estimate and its diagnostics). Compare with
        ``density_.score_samples`` (the data's ``p~``) to see where the generator
        puts too much or too little mass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self.generated_density_.score_samples(X)

    def score(self, X, y=None):
        """Mean log-likelihood of ``X`` under the smoothed generated density ``q~``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

