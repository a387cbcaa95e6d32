"""``training_options``: the settings few fits change, given to an estimator as one dict.

Each estimator's defaults and constraints by key, the resolution of a given dict
over them, and the deprecation of the constructor parameters they replaced (0.2;
removed in 0.3).
"""

import warnings
from numbers import Integral, Real

from sklearn.utils._param_validation import (
    Hidden,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

from ._nets import ACTIVATIONS
from ._normalizer import METHODS, N_NORMALIZER_BATCHES

# default of a constructor parameter that moved into ``training_options``
DEPRECATED = "deprecated"

#: DDEDensity's options, documented with its ``training_options`` parameter.
DENSITY_OPTIONS = {
    "sigma_start": "auto",
    "annealing_fraction": 0.8,
    "likelihood_weight": 1.0,
    "n_likelihood_samples": 2048,
    "normalizer": "auto",
    "n_importance_samples": 65536,
    "mala_burn_in": 200,
    "mala_n_steps": 100,
    "mala_target_accept": 0.574,
    "network": None,
    "level_base": "gaussian",
}
DENSITY_CONSTRAINTS = {
    "sigma_start": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"}), None],
    "annealing_fraction": [Interval(Real, 0, 1, closed="neither")],
    "likelihood_weight": [Interval(Real, 0, None, closed="left")],
    "n_likelihood_samples": [Interval(Integral, 1, None, closed="left")],
    "normalizer": [StrOptions(set(METHODS))],
    "n_importance_samples": [Interval(Integral, 2 * N_NORMALIZER_BATCHES, None, closed="left")],
    "mala_burn_in": [Interval(Integral, 0, None, closed="left")],
    "mala_n_steps": [Interval(Integral, 0, None, closed="left")],
    "mala_target_accept": [Interval(Real, 0, 1, closed="neither")],
    "network": [callable, None],
    "level_base": [StrOptions({"gaussian", "mixture"})],
}

#: DDEGenerator's options, documented with its ``training_options`` parameter.
GENERATOR_OPTIONS = {
    "dde_hidden_layer_sizes": (128, 128, 128),
    "dde_activation": "softplus",
    "dde_learning_rate_init": 1e-3,
    "annealing_fraction": 0.5,
    "n_importance_samples": 65536,
}
GENERATOR_CONSTRAINTS = {
    "dde_hidden_layer_sizes": [tuple, list],
    "dde_activation": [StrOptions(set(ACTIVATIONS))],
    "dde_learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "annealing_fraction": [Interval(Real, 0, 1, closed="left")],
    "n_importance_samples": [Interval(Integral, 16, None, closed="left")],
}


def resolve_options(estimator):
    """The estimator's ``training_options`` over its class's defaults, validated.

    A deprecated constructor parameter given a value still counts, with a
    ``FutureWarning``; giving it both ways is an error.
    """
    name = type(estimator).__name__
    defaults, constraints = estimator._training_defaults, estimator._option_constraints
    given = dict(estimator.training_options or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"training_options of {name} has unknown keys {unknown}; "
            f"the known keys are {sorted(defaults)}."
        )
    for key in defaults:
        value = getattr(estimator, key, DEPRECATED)
        if isinstance(value, str) and value == DEPRECATED:
            continue
        if key in given:
            raise ValueError(
                f"{key} is given both as a parameter of {name} and in training_options; "
                "give it in training_options only."
            )
        warnings.warn(
            f"The {key} parameter of {name} is deprecated since skdde 0.2 and will be "
            f"removed in 0.3: pass training_options={{{key!r}: ...}} instead.",
            FutureWarning,
            stacklevel=3,
        )
        given[key] = value
    options = {**defaults, **given}
    validate_parameter_constraints(constraints, options, caller_name=f"{name} training_options")
    return options


def deprecated_constraints(constraints):
    """Constructor constraints of the parameters that moved into ``training_options``."""
    return {k: [*v, Hidden(StrOptions({DEPRECATED}))] for k, v in constraints.items()}
