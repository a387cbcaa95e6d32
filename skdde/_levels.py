"""The energy over noise levels: one network for ``log p_t`` at every ``t = sigma^2``.

On centred input ``x``, with ``C = V diag(lambda) V^T`` the data's covariance::

    f(x, t) = log B_t(x) + c(t) * h(W_t x, tau(t)),   W_t = (C + t I)^(-1/2)

The base ``B_t`` is a normalized density at every level: the moment-matched
Gaussian ``N(0, C + t I)``, or a Gaussian mixture fitted to the data and smoothed
by ``t`` (:func:`mixture_terms`). ``c(t) = 1 - t / t_max`` vanishes at the top
level, so ``f(., t_max) = log B_(t_max)`` is exactly normalized. ``h`` is an MLP
with Lipschitz activations, so it grows at most linearly in ``u = W_t x`` and
``exp(f(., t))`` is integrable at every level for every weight value. ``tau`` are
Fourier features of ``log t`` on the trained range. Nothing in the form normalizes
the lower levels: training does, by matching both ``grad_x f`` and ``df/dt`` to those
of ``log p_t`` (:func:`skdde._loss.dual_score_loss`), which fixes ``f = log p_t`` up
to one constant for all ``t``, and the exact top level makes that constant zero.
"""

import math

import torch
from torch import nn

from ._loss import dual_score_loss, level_generator_loss

#: Sine and cosine pairs of ``log t`` fed to the network (plus ``log t`` itself).
N_FREQUENCIES = 4
N_LEVEL_FEATURES = 1 + 2 * N_FREQUENCIES


def level_features(t, t_min, t_max, n_frequencies=N_FREQUENCIES, derivative=False):
    """``(n, 1 + 2 * n_frequencies)`` features of levels ``t``: the position ``s`` of
    ``log t`` in ``[log t_min, log t_max]`` (0 to 1) and ``sin, cos(pi k s)``; with
    ``derivative``, also their derivatives in ``t``."""
    span = math.log(t_max / t_min)
    s = torch.log(t / t_min) / span
    k = math.pi * torch.arange(1, n_frequencies + 1, dtype=t.dtype, device=t.device)
    angles = s[:, None] * k
    sin, cos = torch.sin(angles), torch.cos(angles)
    features = torch.cat([s[:, None], sin, cos], -1)
    if not derivative:
        return features
    ds = (1 / (t * span))[:, None]
    return features, torch.cat([torch.ones_like(s)[:, None], k * cos, -k * sin], -1) * ds


def mixture_terms(x, t, log_weights, means, eigenvalues, eigenvectors, derivatives=True):
    """``(log B_t(x), grad_x log B_t(x), d/dt log B_t(x))`` of the Gaussian mixture
    ``B_t = sum_k w_k N(m_k, C_k + t I)``, ``C_k = V_k diag(lambda_k) V_k^T``; without
    ``derivatives``, ``log B_t(x)`` alone.

    ``x`` is ``(n, d)``; ``t`` is ``(n,)``, or ``(1,)`` for one level of every row (then
    the variances are ``(K, d)``, not ``(K, n, d)``); ``log_weights`` ``(K,)``, ``means``
    and ``eigenvalues`` ``(K, d)``, ``eigenvectors`` ``(K, d, d)``. Each component
    contributes its own score weighted by its responsibility.
    """
    r = torch.bmm(x[None] - means[:, None], eigenvectors)  # (K, n, d)
    var = eigenvalues[:, None, :] + t[None, :, None]
    w = r / var
    log_parts = log_weights[:, None] - 0.5 * ((r * w).sum(-1) + torch.log(var).sum(-1))
    log_b = torch.logsumexp(log_parts, 0) - 0.5 * x.shape[1] * math.log(2 * math.pi)
    if not derivatives:
        return (log_b,)
    resp = torch.softmax(log_parts, 0)
    grad_x = -torch.bmm(resp[..., None] * w, eigenvectors.transpose(1, 2)).sum(0)
    d_dt = 0.5 * (resp * ((w * w).sum(-1) - (1 / var).sum(-1))).sum(0)
    return log_b, grad_x, d_dt


class LevelEnergy(nn.Module):
    """``f(x, t)`` on centred ``x`` (see the module docstring).

    Parameters
    ----------
    net : nn.Module
        Maps ``(n, d + 1 + 2 * N_FREQUENCIES)`` inputs, the whitened point then the
        level's features, to ``(n,)`` or ``(n, 1)`` values ``h``; zero at
        initialization, so a fresh energy is the base at every level.
    eigenvalues, eigenvectors : Tensor of shape (d,) and (d, d)
        ``lambda`` and ``V`` of the data's covariance.
    t_min, t_max : float
        The range of levels ``tau`` is scaled to; ``t_max`` is the exact top.
    unwhitening : Tensor of shape (d, d)
        ``U`` of the whitened coordinates ``x = U z`` that the normalizers and
        samplers work in (:meth:`whitened`).
    mixture : tuple of Tensor, default=None
        The base's mixture ``(log_weights, means, eigenvalues, eigenvectors)`` on
        centred points, as :func:`mixture_terms` takes it; ``None``: the
        moment-matched Gaussian.

    Calling the module evaluates it at its current :attr:`level` (set by
    :meth:`set_level`): at a fixed level it is an energy like any other.
    """

    def __init__(self, net, eigenvalues, eigenvectors, t_min, t_max, unwhitening, mixture=None):
        super().__init__()
        if not 0 < t_min < t_max:
            raise ValueError(f"need 0 < t_min < t_max, got {t_min} and {t_max}.")
        self.net = net
        self.t_min, self.t_max = float(t_min), float(t_max)
        self.register_buffer("eigenvalues", eigenvalues)
        self.register_buffer("eigenvectors", eigenvectors)
        self.register_buffer("unwhitening", unwhitening)
        self.register_buffer("level", torch.tensor(self.t_min, dtype=eigenvalues.dtype))
        for name, value in zip(("log_weights", "means", "eigenvalues", "eigenvectors"),
                               mixture or ()):
            self.register_buffer(f"mixture_{name}", value)

    @property
    def has_mixture(self):
        return "mixture_means" in self._buffers  # a property: older pickles lack the buffers

    def set_level(self, t):
        self.level.fill_(float(t))

    def set_unwhitening(self, unwhitening):
        self.unwhitening.copy_(torch.as_tensor(unwhitening, dtype=self.unwhitening.dtype))

    def _rows(self, x, t):
        """Each row's level: ``t`` (or the current level) broadcast over ``x``."""
        t = self.level if t is None else torch.as_tensor(t, dtype=x.dtype, device=x.device)
        return t.to(x.device).expand(x.shape[0])

    def _eigen(self, x, t):
        """``r = V^T x`` and ``v = lambda + t``."""
        return x @ self.eigenvectors, self.eigenvalues + t[:, None]

    def _base(self, x, t, r, var, derivatives=True):
        """``(log B_t, grad_x log B_t, d/dt log B_t)`` (without ``derivatives``, the
        first alone); the Gaussian's from :meth:`_eigen`'s terms."""
        if self.has_mixture:
            level = t[:1] if t.stride(0) == 0 else t  # one level, expanded by _rows
            return mixture_terms(
                x, level, self.mixture_log_weights, self.mixture_means,
                self.mixture_eigenvalues, self.mixture_eigenvectors, derivatives,
            )
        inv = 1 / var
        log_b = -0.5 * ((r * r * inv).sum(-1) + torch.log(var).sum(-1)
                        + x.shape[1] * math.log(2 * math.pi))
        if not derivatives:
            return (log_b,)
        return log_b, (-r * inv) @ self.eigenvectors.T, 0.5 * (r * r * inv * inv - inv).sum(-1)

    def forward(self, x, t=None):
        t = self._rows(x, t)
        r, var = self._eigen(x, t)
        log_b = self._base(x, t, r, var, derivatives=False)[0]
        tau = level_features(t, self.t_min, self.t_max)
        u = (r * torch.rsqrt(var)) @ self.eigenvectors.T
        h = self.net(torch.cat([u, tau], -1)).reshape(x.shape[0])
        return log_b + (1 - t / self.t_max) * h

    def value_and_grads(self, x, t, create_graph=False):
        """``(f, grad_x f, df/dt)`` at points ``x`` and levels ``t`` (shape ``(n,)``);
        with ``create_graph`` all three are differentiable in the weights.

        A network with ``value_and_grad`` (the default :class:`~skdde._nets.ResidualMLP`)
        gives ``h``'s input gradient by its own backward pass, and the chain rule
        through ``W_t`` and ``tau(t)`` is written out here: training then takes one
        backward pass instead of autograd's double backward.
        """
        if hasattr(self.net, "value_and_grad"):
            with torch.set_grad_enabled(create_graph):
                return self._value_and_grads(x, t)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            t = t.detach().requires_grad_(True)
            f = self(x, t)
            grad_x, grad_t = torch.autograd.grad(f.sum(), (x, t), create_graph=create_graph)
        return f, grad_x, grad_t

    def _value_and_grads(self, x, t):
        """:meth:`value_and_grads` by the chain rule, with ``r = V^T x`` and
        ``v = lambda + t``: ``u = V (r / sqrt(v))``, ``du/dt = -V (r / v^(3/2)) / 2``."""
        d = x.shape[1]
        r, var = self._eigen(x, t)
        inv, root = 1 / var, torch.rsqrt(var)
        tau, dtau = level_features(t, self.t_min, self.t_max, derivative=True)
        h, grad = self.net.value_and_grad(torch.cat([(r * root) @ self.eigenvectors.T, tau], -1))
        h = h.reshape(x.shape[0])
        g = grad[:, :d] @ self.eigenvectors  # dh/du in the eigenbasis
        c = 1 - t / self.t_max
        log_b, base_grad, base_dt = self._base(x, t, r, var)
        grad_x = (c[:, None] * g * root) @ self.eigenvectors.T + base_grad
        dh_dt = -0.5 * (g * r * inv * root).sum(-1) + (grad[:, d:] * dtau).sum(-1)
        df_dt = base_dt - h / self.t_max + c * dh_dt
        return log_b + c * h, grad_x, df_dt

    def at(self, t):
        """The energy at level ``t`` as a function of centred points."""
        return _AtLevel(self, t)

    def whitened_at(self, t=None):
        """The energy at level ``t`` (default: the current one) as a function of the
        whitened point ``z``, ``x = U z``: what the normalizers and samplers take."""
        return _AtLevel(self, t, self.unwhitening)

    @property
    def whitened(self):
        return self.whitened_at()


class _AtLevel:
    """:meth:`LevelEnergy.at` and :meth:`LevelEnergy.whitened_at`: ``f(U z, t)``."""

    def __init__(self, energy, t, unwhitening=None):
        self.energy, self.t, self.unwhitening = energy, t, unwhitening

    def __call__(self, z):
        x = z if self.unwhitening is None else z @ self.unwhitening.T
        return self.energy(x, self.t)

    def value_and_grad(self, z):
        energy, unwhitening = self.energy, self.unwhitening
        x = z if unwhitening is None else z @ unwhitening.T
        t = energy._rows(x, self.t)
        f, grad, _ = energy.value_and_grads(x, t, create_graph=torch.is_grad_enabled())
        return f, grad if unwhitening is None else grad @ unwhitening


def level_scores(energy, x, weight, levels, chunk_size=8192):
    """``(len(levels),)`` weighted means of ``energy(x, t)`` over the rows of ``x``, one
    per level ``t`` of ``levels``: one forward pass per level, without gradients."""
    scores = []
    with torch.no_grad():
        for t in levels:
            f = torch.cat([energy(c, t) for c in x.split(chunk_size)]).double()
            scores.append((f * weight).sum() / weight.sum())
    return torch.stack(scores)


def level_ladder(t_min, t_max, n_levels):
    """``n_levels`` levels from ``t_max`` down to ``t_min``, evenly spaced in ``log t``."""
    if n_levels < 2:
        raise ValueError(f"a ladder needs at least 2 levels, got {n_levels}.")
    step = math.log(t_max / t_min) / (n_levels - 1)
    return [t_max * math.exp(-k * step) for k in range(n_levels - 1)] + [t_min]


def sample_levels(n, t_low, t_max, floor_share, generator, device):
    """Training levels: ``log t`` uniform on ``[log t_low, log t_max]``, and a
    ``floor_share`` of the rows at ``t_low`` itself (the level that is scored)."""
    r = torch.rand(n, generator=generator, device=device)
    t = t_low * torch.exp(r * math.log(t_max / t_low))
    at_floor = torch.rand(n, generator=generator, device=device) < floor_share
    return torch.where(at_floor, torch.full_like(t, t_low), t)


class DualScoreObjective:
    """The trainer's loss for a :class:`LevelEnergy`: :func:`dual_score_loss` at
    levels drawn by :func:`sample_levels` from ``generator``.

    Called as the trainer calls :func:`skdde._loss.denoising_loss`; its ``sigma``
    argument is ignored (the levels are drawn per row). ``t_low`` may be raised
    during a fit to focus training above it.
    """

    def __init__(self, t_low, t_max, floor_share, generator, time_weight=1.0):
        self.t_low, self.t_max, self.floor_share = t_low, t_max, floor_share
        self.generator, self.time_weight = generator, time_weight

    def __call__(self, energy, x, eps, sigma, weight=None, create_graph=True, return_energy=False):
        if return_energy:
            raise ValueError("the likelihood term does not apply to a multi-level energy.")
        t = sample_levels(
            x.shape[0], self.t_low, self.t_max, self.floor_share, self.generator, x.device
        )
        return dual_score_loss(energy, x, eps, t, weight, self.time_weight, create_graph)


class InUnits(nn.Module):
    """A :class:`LevelEnergy` on raw points, with levels in units of ``level_unit ** 2``
    (the variance of the noise in the units of the points when ``level_unit`` is 1):
    ``f((x - loc) / scale, t * (level_unit / scale) ** 2)``, at its current level when
    ``t`` is None. Its parameters are the energy's."""

    def __init__(self, energy, loc, scale, level_unit=1.0):
        super().__init__()
        self.energy, self.scale = energy, float(scale)
        self.level_factor = (float(level_unit) / self.scale) ** 2
        self.register_buffer("loc", loc)

    def forward(self, x, t=None):
        t = None if t is None else t * self.level_factor
        return self.energy((x - self.loc) / self.scale, t)

    def loss(self, objective, x, eps, sigma=None):
        """``objective`` (e.g. :class:`DualScoreObjective`) on raw points ``x``."""
        return objective(self.energy, (x - self.loc) / self.scale, eps, sigma)


class LevelGeneratorObjective:
    """The generator's step over levels: :func:`level_generator_loss` at levels drawn
    by :func:`sample_levels` from ``t_low`` up to the step's top level (absolute),
    each row weighted ``(t / t_low) ** power``. The energies are called with levels
    in units of ``unit ** 2`` (see :class:`InUnits`), so that any scale of the
    points fits in float32.

    Called as the generator's trainer calls :func:`skdde._loss.generator_loss`;
    its ``sigma`` argument is the square root of the step's top level.
    """

    def __init__(self, t_low, floor_share, power, generator, unit=1.0):
        self.t_low, self.floor_share = t_low, floor_share
        self.power, self.generator, self.unit = power, generator, float(unit)

    def __call__(self, model, target, x, eps, sigma):
        low, top = self.t_low / self.unit**2, (sigma / self.unit) ** 2
        t = sample_levels(x.shape[0], low, top, self.floor_share, self.generator, x.device)
        weight = (t / low) ** self.power
        return level_generator_loss(model, target, x, eps, t, weight, self.unit)
