"""DDEGenerator's networks: the generator, the data's DDE ``s_p`` (its target) and
the generated data's ``s_q``; their noise levels, their log Z, the divergence check
between them, and the run of the training loop over them.

Kept out of ``_generator.py``, which it extends, as ``_density_base.py`` is kept
out of ``_density.py``: the estimator validates and stores, this side builds what
the loop of ``_train_generator.py`` is handed and runs it.
"""

import copy
import math

import numpy as np
import torch
from sklearn.base import clone

from ._base import build_module, make_generator
from ._density import DDEDensity
from ._density_levels import LEVEL_FLOOR_SHARE, LEVEL_TIME_WEIGHT, LEVEL_TOP_FACTOR
from ._levels import DualScoreObjective, InUnits, LevelGeneratorObjective
from ._nets import Generator, Shifted, evaluate
from ._normalizer import N_NORMALIZER_BATCHES, importance_sampling
from ._options import resolve_options
from ._proposals import Gaussian, Mixture
from ._train import evenly
from ._train_generator import train_generator

#: Steps of s_q on the fresh generator's output before the alternation starts (at
#: most as many as in the alternation).
N_WARMUP_STEPS = 200
#: Rows per forward pass of the generator.
GENERATE_CHUNK = 65536
#: Generator steps between checks for divergence (and divergence estimates).
CHECK_INTERVAL = 100
#: Generated points and importance samples behind each running divergence estimate.
N_MONITOR_SAMPLES = 8192
#: Generated rows the mixture proposal of s_q's final normalizer is fitted on.
N_PROPOSAL_ROWS = 20_000
#: levels="all": the generator's levels run from sigma_^2 up to the data's largest
#: variance (above it s_q's base, the data's Gaussian, leaves it no room: c(t) -> 0),
#: a share of each batch at sigma_ itself, each row weighted (t / sigma_^2)^power
#: so that the score differences, which grow as 1/t, weigh alike at every level.
GENERATOR_LEVEL_POWER = 1.0
GENERATOR_FLOOR_SHARE = 0.25


class GeneratorModelsMixin:
    """The networks of :class:`~skdde.DDEGenerator` (the generator, ``s_q`` and the
    target ``s_p``), built and handed to its training loop."""

    def _fit_density(self, X, rng):
        """The data DDE: a copy of a fitted ``density``, else one fitted here."""
        given = self.density
        if given is not None and given.noise_covariance != "isotropic":
            raise ValueError(
                f"DDEGenerator needs a density with noise_covariance='isotropic', got "
                f"{given.noise_covariance!r}: the generated density is smoothed by the "
                "same noise, which is not yet supported for a data-shaped one."
            )
        if given is not None and self.levels not in (None, given.levels):
            raise ValueError(
                f"levels={self.levels!r} needs a density with levels={self.levels!r}, got "
                f"one with levels={given.levels!r}; pass levels=None to use the density's."
            )
        if given is not None and hasattr(given, "module_"):
            if self.sigma is not None and self.sigma not in (given.sigma, given.sigma_):
                raise ValueError(
                    f"sigma={self.sigma!r} differs from the fitted density's "
                    f"sigma={given.sigma!r}; pass sigma=None to use the density's."
                )
            if given.n_features_in_ != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} features, but the fitted density has "
                    f"{given.n_features_in_}."
                )
            return copy.deepcopy(given)
        if given is None:
            given = DDEDensity(
                hidden_layer_sizes=self._options["dde_hidden_layer_sizes"],
                activation=self._options["dde_activation"],
                levels=self.levels_,
                verbose=self.verbose,
                device=self.device,
            )
        density = clone(given)
        if self.sigma is not None:
            density.set_params(sigma=self.sigma)
        if density.random_state is None:
            density.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
        return density.fit(X)

    def _initialize(self, X, loc, scale, rng, levels=None):
        """Fresh generator and ``s_q`` (over ``levels``, default ``levels_``);
        ``X`` (data) or the fresh generator's output places ``s_q``'s Gaussian base."""
        n_features = self.n_features_in_
        self.latent_dim_ = n_features if self.latent_dim is None else self.latent_dim
        seed = int(rng.randint(np.iinfo(np.int32).max))
        as_tensor = dict(dtype=torch.float32)

        def factory():
            return Generator(
                self.latent_dim_,
                n_features,
                tuple(self.hidden_layer_sizes),
                self.activation,
                self.output_activation,
                torch.as_tensor(loc, **as_tensor),
                torch.as_tensor(scale, **as_tensor),
            )

        self.generator_ = build_module(factory, seed, self.device_)
        levels = self.levels_ if levels is None else levels
        self.generated_density_ = self._new_model(X, rng, levels)
        self._train_result = None

    def _loc_tensor(self, density):
        return torch.as_tensor(density._mean, dtype=torch.float32, device=self.device_)

    def _codes(self, n, generator):
        return torch.randn(n, self.latent_dim_, generator=generator, device=self.device_)

    def _generate(self, z):
        with torch.no_grad():
            return torch.cat([self.generator_(c) for c in z.split(GENERATE_CHUNK)])

    def _new_model(self, X, rng, levels):
        """A fresh ``s_q`` over ``levels``, its Gaussian base placed on ``X`` (data)
        or, when ``X`` is None, on the fresh generator's output."""
        if X is None:
            z = self._codes(N_PROPOSAL_ROWS, make_generator(rng, self.device_))
            X = self._generate(z).double().cpu().numpy()
        model = DDEDensity(
            hidden_layer_sizes=self._options["dde_hidden_layer_sizes"],
            activation=self._options["dde_activation"],
            levels=levels,
            training_options={"n_importance_samples": self._options["n_importance_samples"]},
            device=self.device_,
        )
        model._options = resolve_options(model)  # s_q is not fitted by its own fit
        model.n_features_in_ = self.n_features_in_
        if hasattr(self, "feature_names_in_"):
            model.feature_names_in_ = self.feature_names_in_
        model._set_noise_map(X, np.ones(len(X)))  # isotropic, as the data DDE's
        model._initialize(X, np.ones(len(X)), self.sigma_, rng, self.device_)
        return model

    def _sigmas(self, levels):
        """Noise level of each generator step: the data DDE's kept annealing levels
        (each for an equal share of ``annealing_fraction`` of the steps, at least
        ``CHECK_INTERVAL``), then ``sigma_``; no annealing on a warm start."""
        n_anneal = int(self._options["annealing_fraction"] * self.max_iter)
        levels = evenly([s for s in levels if s > self.sigma_], n_anneal // CHECK_INTERVAL)
        if not levels or self._train_result is not None:
            return [self.sigma_] * self.max_iter
        per = n_anneal // len(levels)
        steps = [s for s in levels for _ in range(per)]
        return steps + [self.sigma_] * (self.max_iter - len(steps))

    def _target(self, torch_rng):
        """The data DDE as the loop's target: ``(log_target, sigmas, on_sigma,
        log_z_target)``, over its levels or down its kept annealing levels."""
        density = self.density_
        target = copy.deepcopy(density.module_).requires_grad_(False)
        if self.levels_ == "all":
            unit = density._scale
            log_target = InUnits(target, self._loc_tensor(density), unit, unit)
            top = math.sqrt(density.module_.t_max / LEVEL_TOP_FACTOR) * unit
            sigmas = [top] * self.max_iter  # the step's top level, for the objective
            log_z = density.log_normalizer_
            return log_target, sigmas, None, lambda sigma: log_z
        levels = getattr(density, "_level_states", None) or {}
        final = {k: v.clone() for k, v in density.module_.state_dict().items()}
        log_target = Shifted(target, self._loc_tensor(density))

        def on_sigma(sigma):
            target.load_state_dict(levels.get(sigma, final))
            self.generated_density_._set_sigma(sigma)

        log_z_levels = {self.sigma_: density.log_normalizer_}

        def log_z_target(sigma):
            """The data DDE's log Z at a level: fitted at ``sigma_``, else estimated
            once per level with as many samples as the fitted one."""
            if sigma not in log_z_levels:
                est = importance_sampling(
                    target.whitened,
                    density._proposal("mixture", sigma),
                    density._options["n_importance_samples"],
                    N_NORMALIZER_BATCHES,
                    torch_rng,
                )
                log_z_levels[sigma] = est.log_z - density._log_det if est.reliable else math.nan
            return log_z_levels[sigma]

        return log_target, self._sigmas(sorted(levels, reverse=True)), on_sigma, log_z_target

    def _model_objectives(self, torch_rng):
        """``s_q`` as the loop trains it: ``(log_model, objectives)``, the dual score
        objective and the generator's objective over levels, or Eq. 5 at one."""
        model = self.generated_density_
        mean = self._loc_tensor(model)
        if model.levels == "single":
            return Shifted(model.module_, mean), {}
        unit = self.density_._scale  # levels in the data DDE's units, as its target's
        energy = model.module_
        dual = DualScoreObjective(
            energy.t_min,
            energy.t_max,
            LEVEL_FLOOR_SHARE,
            torch_rng,
            time_weight=LEVEL_TIME_WEIGHT / self.n_features_in_,
        )
        objectives = dict(
            model_loss=lambda model, x, eps, sigma: model.loss(dual, x, eps),
            objective=LevelGeneratorObjective(
                self.sigma_**2, GENERATOR_FLOOR_SHARE, GENERATOR_LEVEL_POWER, torch_rng, unit
            ),
        )
        return InUnits(energy, mean, model._scale, unit), objectives

    def _divergence_monitor(self, log_model, log_target, log_z_target, torch_rng):
        """``f(sigma)``: KL(q~ || p~) at ``sigma`` (at ``sigma_`` over levels, where
        ``sigma`` is the step's top), both DDEs normalized by importance sampling."""
        model = self.generated_density_
        mean = self._loc_tensor(model)
        whitening = torch.as_tensor(model._whitening, dtype=torch.float32, device=self.device_)
        proposals = model._proposal_cache()  # one mixture per noise level, not per check
        over_levels = model.levels == "all"

        def monitor(sigma):
            sigma = self.sigma_ if over_levels else sigma
            x = self._generate(self._codes(N_MONITOR_SAMPLES, torch_rng))
            x = x + sigma * torch.randn(x.shape, generator=torch_rng, device=x.device)
            u = (x - mean) @ whitening.T
            d = u.shape[1]
            cov = 1.1 * torch.cov(u.T, correction=0).reshape(d, d)  # widened a little
            tril = torch.linalg.cholesky(cov + 1e-6 * torch.eye(d, device=u.device))
            moments = Gaussian(d, u.mean(0), tril, self.device_)
            proposal = Mixture([proposals("mixture", sigma), moments], [0.5, 0.5])
            est = importance_sampling(
                model.module_.whitened,
                proposal,
                N_MONITOR_SAMPLES,
                N_NORMALIZER_BATCHES,
                torch_rng,
            )
            log_z_p = log_z_target(sigma)
            if not est.reliable or math.isnan(log_z_p):
                return math.nan
            log_q = evaluate(log_model, x) - est.log_z + model._log_det
            return float((log_q - evaluate(log_target, x) + log_z_p).mean())

        return monitor

    def _normalize_generated(self, rng, torch_rng):
        """log Z of ``s_q``, on a mixture proposal fitted to the generated data it models."""
        model = self.generated_density_
        generated = self._generate(self._codes(N_PROPOSAL_ROWS, torch_rng))
        generated = generated.double().cpu().numpy()
        model._set_mixture(generated, np.ones(len(generated)), rng)
        estimate = model._estimate("auto", self._options["n_importance_samples"], torch_rng)
        model._store_normalizer(estimate, warn_residual=False)  # s_q is not the user's fit

    def _train(self, log_target, sigmas, on_sigma, log_z_target, rng, torch_rng):
        """Run the loop; record the curves; normalize ``s_q`` on a proposal fitted
        to the generated data."""
        log_model, objectives = self._model_objectives(torch_rng)
        monitor = self._divergence_monitor(log_model, log_target, log_z_target, torch_rng)
        result = train_generator(
            self.generator_,
            log_model,
            log_target,
            latent_dim=self.latent_dim_,
            sigmas=sigmas,
            n_inner_steps=self.n_inner_steps,
            n_warmup_steps=min(N_WARMUP_STEPS, self.n_inner_steps * self.max_iter),
            batch_size=self.batch_size,
            learning_rate_init=self.learning_rate_init,
            model_learning_rate_init=self._options["dde_learning_rate_init"],
            learning_rate=self.learning_rate,
            rng=torch_rng,
            check_interval=CHECK_INTERVAL,
            on_sigma=on_sigma,
            monitor=monitor,
            verbose=self.verbose,
            result=self._train_result,
            **objectives,
        )
        self._train_result = result
        if self.generated_density_.levels == "single":
            self.generated_density_._set_sigma(self.sigma_)
        self.n_iter_ = result.n_iter
        self.loss_curve_ = result.loss_curve
        self.dde_loss_curve_ = result.model_loss_curve
        self.divergence_steps_ = np.array(result.divergence_steps)
        self.divergence_curve_ = np.array(result.divergence_curve)
        self.n_retries_ = result.n_retries
        self.interrupted_ = result.interrupted
        self._normalize_generated(rng, torch_rng)
