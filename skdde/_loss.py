"""The DDE paper's two objectives, the denoising density estimation loss (Eq. 5)
and the generator's reverse-KL step (Algorithm 1), and dual score matching of an
energy over noise levels with the generator's step over those levels.

Written in its dimensionless form: with ``eta = sigma * eps``, ``eps ~ N(0, I)``::

    L = E || sigma * grad_x s(x + sigma * eps) + eps ||^2 / d

which is Eq. 5 multiplied by ``sigma^2 / d``. The minimizer is unchanged
(``grad s = grad log p~``); the scaling makes the loss O(1) for every sigma and
dimension, so one learning rate means the same thing across a grid of sigma.
For every ``s``, ``L = (sigma^2 / d) * F(p~, s) + C`` with ``F`` the Fisher divergence
``E_p~ ||grad s - grad log p~||^2`` and ``C`` independent of ``s``: a held-out
value of ``L`` ranks models by their distance to the population's ``p~``.
"""

import torch

from ._nets import input_gradient


def _mean(values, weight):
    """Weighted mean; zero (with a zero gradient) where every weight is zero, so a
    mini-batch of zero-weighted rows contributes nothing instead of a NaN."""
    if weight is None:
        return values.mean()
    total = weight.sum()
    return (weight * values).sum() / torch.where(total > 0, total, torch.ones_like(total))


def denoising_loss(energy, x, eps, sigma, weight=None, create_graph=True, return_energy=False):
    """Weighted mean of the per-sample denoising loss.

    Parameters
    ----------
    energy : callable
        Maps ``(n, d)`` points to ``(n,)`` energies.
    x : Tensor of shape (n, d)
        Clean points.
    eps : Tensor of shape (n, d)
        Standard-normal noise; the noisy points are ``x + sigma * eps``.
    sigma : float
        Noise standard deviation, in the units of ``x``.
    weight : Tensor of shape (n,), default=None
        Sample weights; ``None`` weighs points equally. Weights that sum to zero
        give a loss of zero (and no gradient).
    create_graph : bool, default=True
        Keep the graph of the input gradient, to backpropagate into the weights.
    return_energy : bool, default=False
        Also return the energies at the noisy points (samples of ``p~``), e.g. for
        :func:`likelihood_loss`.

    Returns
    -------
    loss : Tensor of shape ()
    energy : Tensor of shape (n,)
        Only with ``return_energy=True``.
    """
    s, grad = input_gradient(energy, x + sigma * eps, create_graph=create_graph)
    loss = _mean((sigma * grad + eps).square().mean(-1), weight)
    return (loss, s) if return_energy else loss


def likelihood_loss(energy_values, log_z, weight=None):
    """Negative log-likelihood ``log Z - mean s(x)`` of points with energies ``s(x)``.

    On noisy points ``x + sigma * eps`` (samples of ``p~``) its minimizer is ``p~``,
    as Eq. 5's is. Unlike Eq. 5 it sees how mass is shared between modes that are
    far apart relative to sigma. ``log_z`` must carry the gradient of log Z.
    With ``weight`` summing to zero the term is zero, ``log_z`` included.
    """
    nll = log_z - _mean(energy_values.to(log_z.dtype), weight)
    if weight is None:
        return nll
    return torch.where(weight.sum() > 0, nll, torch.zeros_like(nll))  # no rows, no term


def generator_loss(model, target, x, eps, sigma):
    """The generator's objective ``E[s_q(x + eta) - s_p(x + eta)]``, ``eta = sigma * eps``.

    ``x`` are generator outputs (differentiable in the generator's weights),
    ``model`` the energy ``s_q`` of the smoothed generated density and ``target``
    the energy ``s_p`` of the smoothed target. Both see the same noisy points: the
    expectation is then ``KL(q~ || p~)`` up to ``log Z_q - log Z_p``, which do not
    depend on the generator's weights, so its gradient is the reverse KL's.
    """
    y = x + sigma * eps
    return (model(y) - target(y)).mean()


def level_generator_loss(model, target, x, eps, t, weight=None, unit=1.0):
    """The generator's objective over noise levels: the weighted mean over rows of
    ``f_q(x + unit * sqrt(t) * eps, t) - f_p(x + unit * sqrt(t) * eps, t)``.

    As :func:`generator_loss`, one noise draw for both energies, each row at its
    own level ``t`` (a variance, in units of ``unit ** 2`` times those of ``x``
    squared, so that levels stay within float32 at any scale of ``x``); ``model`` and
    ``target`` map ``(points, levels)`` to energies. Its gradient is that of
    ``E_t[w(t) KL(q_t || p_t)]`` (Diff-Instruct, Luo et al. 2023; DMD, Yin et al.
    2024), the reverse KL of Algorithm 1 integrated over levels with weights
    ``weight``.
    """
    y = x + unit * torch.sqrt(t)[:, None] * eps
    return _mean(model(y, t) - target(y, t), weight)


def dual_score_loss(energy, x, eps, t, weight=None, time_weight=1.0, create_graph=True):
    """Dual score matching of a multi-level energy ``f(x, t)``: weighted mean over rows
    of the denoising loss in ``x`` plus ``time_weight`` times the one in ``t``.

    With ``x_t = x + sqrt(t) * eps``, each row's loss is::

        || sqrt(t) * grad_x f(x_t, t) + eps ||^2 / d
          + time_weight * (t * df/dt(x_t, t) - (||eps||^2 - d) / 2)^2 / d

    The second target is ``t`` times ``d/dt log N(x_t; x, t I)``, whose mean given
    ``x_t`` is ``t d/dt log p_t(x_t)``: so both terms are minimized by
    ``f = log p_t + const`` and the constant is the same at every level (Guth,
    Kadkhodaie and Simoncelli, 2025). Both are dimensionless, as
    :func:`denoising_loss` is.

    Parameters
    ----------
    energy : object
        Has ``value_and_grads(x, t, create_graph) -> (f, grad_x f, df/dt)``.
    x : Tensor of shape (n, d)
        Clean points.
    eps : Tensor of shape (n, d)
        Standard-normal noise.
    t : Tensor of shape (n,)
        Each row's noise level (a variance, in the units of ``x`` squared).
    weight : Tensor of shape (n,), default=None
        Sample weights; ``None`` weighs rows equally.
    time_weight : float, default=1.0
    create_graph : bool, default=True
        Keep the graph of both derivatives, to backpropagate into the weights.

    Returns
    -------
    loss : Tensor of shape ()
    """
    d = x.shape[1]
    root = torch.sqrt(t)[:, None]
    _, grad_x, grad_t = energy.value_and_grads(x + root * eps, t, create_graph=create_graph)
    in_x = (root * grad_x + eps).square().mean(-1)
    in_t = (t * grad_t - 0.5 * (eps.square().sum(-1) - d)).square() / d
    return _mean(in_x + time_weight * in_t, weight)
