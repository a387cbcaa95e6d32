"""Metropolis-adjusted Langevin (MALA) on an energy, as one batch of parallel chains."""

import math
from typing import NamedTuple

import torch

from ._nets import evaluate, input_gradient


class MALAResult(NamedTuple):
    samples: torch.Tensor
    step_size: float
    acceptance_rate: float
    burn_in_acceptance_rate: float


def _log_proposal(to, frm, grad_frm, h):
    # log q(to | frm) up to a constant shared by forward and reverse moves
    mean = frm + 0.5 * h**2 * grad_frm
    return -(to - mean).square().sum(-1) / (2 * h**2)


def mala_step(target, state, h, generator):
    """One Metropolis-adjusted Langevin step of every chain.

    ``state`` is a tuple ``(z, log_prob(z), grad log_prob(z), *extra)`` and
    ``target(z)`` returns the same tuple's tail for new points; all entries are
    carried along per chain, so callers can keep per-point quantities (such as
    the terms of a tempered density) without recomputing them. The proposal is
    ``z' = z + h^2/2 grad + h xi``. Returns the new state and the accept mask.
    """
    z, logp, grad = state[:3]
    xi = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    prop = z + 0.5 * h**2 * grad + h * xi
    new = (prop, *target(prop))
    log_alpha = new[1] - logp + _log_proposal(z, prop, new[2], h) - _log_proposal(prop, z, grad, h)
    log_alpha = torch.nan_to_num(log_alpha, nan=-torch.inf)
    u = torch.rand(log_alpha.shape, generator=generator, device=z.device)
    accept = torch.log(u) < log_alpha
    state = tuple(
        torch.where(accept.view(-1, *[1] * (old.dim() - 1)), fresh, old).detach()
        for old, fresh in zip(state, new)
    )
    return state, accept


def mala(
    log_prob,
    z,
    *,
    n_burn_in,
    n_steps,
    generator,
    step_size=0.5,
    target_accept=0.574,
):
    """Run MALA chains from ``z``; adapt one shared step size during burn-in.

    During burn-in, ``log h`` follows a Robbins-Monro recursion towards
    ``target_accept``; after it ``h`` is fixed, so the kept steps leave
    ``exp(log_prob)`` invariant.

    Parameters
    ----------
    log_prob : callable
        Maps ``(n, d)`` points to ``(n,)`` unnormalized log-densities.
    z : Tensor of shape (n, d)
        Starting points, one per chain.
    n_burn_in, n_steps : int
        Adapting steps, then fixed-step steps.
    generator : torch.Generator
        Source of all randomness.
    step_size : float, default=0.5
        Initial step size ``h``.
    target_accept : float, default=0.574
        Acceptance rate aimed at during burn-in (optimal for MALA).

    Returns
    -------
    MALAResult
    """
    h = float(step_size)

    def target(x):
        return input_gradient(log_prob, x)

    state = (z, *target(z))
    accepted = {True: [], False: []}
    for t in range(n_burn_in + n_steps):
        burning = t < n_burn_in
        state, accept = mala_step(target, state, h, generator)
        rate = accept.double().mean()
        accepted[burning].append(rate)
        if burning:
            h *= float(torch.exp((rate - target_accept) / (t + 1) ** 0.6))
    rate = torch.stack(accepted[False]).mean().item() if n_steps else float("nan")
    burn = torch.stack(accepted[True]).mean().item() if n_burn_in else float("nan")
    return MALAResult(state[0], h, rate, burn)


def importance_resample(log_weights, n, generator):
    """Indices of ``n`` draws with probabilities proportional to ``exp(log_weights)``."""
    p = torch.softmax(log_weights.double(), 0)
    return torch.multinomial(p, n, replacement=True, generator=generator)


def ladder_chains(
    log_targets, proposal, n_chains, generator, n_steps=1, step_size=0.5, target_accept=0.574
):
    """Chains annealed down a ladder of energies, with their AIS log weights.

    Chains start from ``proposal`` and pass through ``log_targets[0], ...,
    log_targets[-1]``, ``n_steps`` MALA steps on each but the last; each chain's
    log weight is ``sum_k log_targets[k](z) - log_targets[k - 1](z)`` at its state
    on arrival at level ``k`` (with ``proposal.log_prob`` before the first), so
    ``E[w]`` is the ratio of the last energy's normalizer to the proposal's (Neal,
    2001), and the weighted final states are samples of the last energy. The shared
    step size follows the population's acceptance rate from one level to the next.
    Returns the final states and the float64 log weights.
    """
    z = proposal.sample(n_chains, generator)
    previous = proposal.log_prob(z)
    log_w = torch.zeros(z.shape[0], dtype=torch.float64, device=z.device)
    h = float(step_size)
    for k, log_target in enumerate(log_targets):

        def target(x, log_target=log_target):
            value, grad = input_gradient(log_target, x)
            return value.detach().double(), grad.detach()

        state = (z, *target(z))
        log_w += state[1] - previous
        if k == len(log_targets) - 1:
            break
        for _ in range(n_steps):
            state, accept = mala_step(target, state, h, generator)
            h *= math.exp(accept.double().mean().item() - target_accept)
        z = state[0]
        previous = evaluate(log_target, z)
    return z.detach(), log_w


def sample_energy(
    log_prob, proposal, n_samples, *, generator, chunk_size, oversampling, start=None, **mala_kw
):
    """Samples of ``exp(log_prob)``: importance-resampled starting points refined by MALA.

    Chains run in batches of ``chunk_size`` so memory stays bounded; each batch draws
    ``oversampling`` starting points per chain, resamples them by importance weight
    (so well-separated modes start with about the right shares), then runs
    :func:`mala`. The starting points are ``proposal``'s draws, or those of
    ``start(n, generator) -> (points, log_weights)`` (e.g. :func:`ladder_chains`).
    Returns the samples and the mean of each batch's
    ``(acceptance_rate, burn_in_acceptance_rate, step_size)``.
    """
    out, stats = [], []
    for first in range(0, n_samples, chunk_size):
        n = min(chunk_size, n_samples - first)
        if start is None:
            z = proposal.sample(oversampling * n, generator)
            log_w = evaluate(log_prob, z) - proposal.log_prob(z)
        else:
            z, log_w = start(oversampling * n, generator)
        z = z[importance_resample(log_w, n, generator)]
        res = mala(log_prob, z, generator=generator, **mala_kw)
        out.append(res.samples)
        stats.append((res.acceptance_rate, res.burn_in_acceptance_rate, res.step_size))
    return torch.cat(out), [sum(col) / len(stats) for col in zip(*stats)]
