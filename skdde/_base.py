"""The sklearn/torch seam: devices, seeding, module construction, pickling."""

import copy
import numbers
import warnings

import numpy as np
import torch
from sklearn.utils._param_validation import Hidden, StrOptions, validate_parameter_constraints

from ._version import __version__

# default of a constructor parameter that moved into ``training_options``
DEPRECATED = "deprecated"


def check_n_samples(n_samples):
    """``n_samples`` of a ``sample`` call as an int, or a clear error."""
    if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
    return int(n_samples)


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


def resolve_device(device):
    """``'auto'`` -> ``'cuda'`` when available else ``'cpu'``; check ``'cuda'`` exists."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but CUDA is not available.")
    return device


def make_generator(rng, device):
    """A ``torch.Generator`` on ``device`` seeded from a numpy ``RandomState``.

    Torch's global RNG is never touched, so fitting does not disturb user code.
    """
    seed = int(rng.randint(np.iinfo(np.int32).max))
    return torch.Generator(device=device).manual_seed(seed)


def build_module(factory, seed, device):
    """Call ``factory()`` with torch's RNG seeded, leaving the global RNG untouched.

    ``nn.Module`` constructors initialise weights from the global CPU RNG; forking
    it makes construction reproducible without consuming the caller's random
    stream. Only the CPU generator is seeded (the module is built on the CPU):
    ``torch.manual_seed`` would also reseed every CUDA generator, which
    ``fork_rng(devices=[])`` does not restore.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        module = factory()
    return module.to(device)


def to_tensor(X, device, dtype=torch.float32):
    """Copy an array to a tensor (read-only memmaps from joblib are fine)."""
    return torch.tensor(np.asarray(X), dtype=dtype, device=device)


class TorchStateMixin:
    """Pickle torch modules as CPU copies; load on CPU when CUDA is gone.

    Subclasses list the attributes holding modules in ``_torch_attributes``.
    """

    _torch_attributes = ()
    # parameters that moved into ``training_options``: their former defaults and
    # constraints, which :func:`resolve_options` applies
    _training_defaults = {}
    _option_constraints = {}

    def __getstate__(self):
        state = dict(super().__getstate__())  # may be the live __dict__
        for name in self._torch_attributes:
            module = state.get(name)
            if module is not None and any(t.is_cuda for t in module.state_dict().values()):
                state[name] = copy.deepcopy(module).cpu()
        state["_skdde_version"] = __version__
        return state

    def _upgrade_state(self, state):
        """A pickle of skdde 0.1: the parameters that moved into ``training_options``
        become the sentinel where they held their default (so a refit does not warn),
        and a fitted model keeps the options it was fitted with."""
        if "training_options" in state:
            return
        state["training_options"] = None
        options = {}
        for key, default in self._training_defaults.items():
            value = state.get(key, default)
            options[key] = value
            if value == default:
                state[key] = DEPRECATED
        if "n_features_in_" in state:
            state["_options"] = options

    def __setstate__(self, state):
        version = state.pop("_skdde_version", None)
        if version is not None and version != __version__:
            warnings.warn(
                f"This {type(self).__name__} was pickled with skdde {version} and is "
                f"loaded with skdde {__version__}; results may differ.",
                UserWarning,
                stacklevel=2,
            )
        self._upgrade_state(state)
        super().__setstate__(state)
        device = getattr(self, "device_", None)
        if device is None:
            return
        if device.startswith("cuda") and not torch.cuda.is_available():
            warnings.warn(
                f"{type(self).__name__} was fitted on {device}, which is not available "
                "here; it is loaded on the CPU.",
                UserWarning,
                stacklevel=2,
            )
            self.device_ = device = "cpu"
        for name in self._torch_attributes:
            module = getattr(self, name, None)
            if module is not None:
                setattr(self, name, module.to(device))
