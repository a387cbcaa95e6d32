"""The denoising density estimation loss (Eq. 5 of the DDE paper).

Written in its dimensionless form: with ``eta = sigma * eps``, ``eps ~ N(0, I)``::

    L = E || sigma * grad_x s(x + sigma * eps) + eps ||^2 / d

which is Eq. 5 multiplied by ``sigma^2 / d``. The minimizer is unchanged
(``grad s = grad log p~``); the scaling makes the loss O(1) for every sigma and
dimension, so one learning rate means the same thing across a grid of sigma.
For every ``s``, ``L = (sigma^2 / d) * F(p~, s) + C`` with ``F`` the Fisher divergence
``E_p~ ||grad s - grad log p~||^2`` and ``C`` independent of ``s``: a held-out
value of ``L`` ranks models by their distance to the population's ``p~``.
"""

from ._nets import input_gradient


def denoising_loss(energy, x, eps, sigma, weight=None, create_graph=True):
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
        Sample weights; ``None`` weighs points equally.
    create_graph : bool, default=True
        Keep the graph of the input gradient, to backpropagate into the weights.

    Returns
    -------
    loss : Tensor of shape ()
    """
    _, grad = input_gradient(energy, x + sigma * eps, create_graph=create_graph)
    per_sample = (sigma * grad + eps).square().mean(-1)
    if weight is None:
        return per_sample.mean()
    return (weight * per_sample).sum() / weight.sum()
