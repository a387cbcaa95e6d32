"""The sklearn/torch seam: devices, seeding, module construction, pickling."""

import copy
import numbers
import warnings

import numpy as np
import torch

from ._options import DEPRECATED
from ._version import __version__


def check_n_samples(n_samples):
    """``n_samples`` of a ``sample`` call as an int, or a clear error."""
    if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
    return int(n_samples)


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
    # constraints (``_options``), which :func:`~skdde._options.resolve_options` applies
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
