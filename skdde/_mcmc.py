"""Metropolis-adjusted Langevin (MALA) on an energy, as one batch of parallel chains."""

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

    The proposal is ``z' = z + h^2/2 grad log_prob(z) + h xi``. During burn-in,
    ``log h`` follows a Robbins-Monro recursion towards ``target_accept``; after it
    ``h`` is fixed, so the kept steps leave ``exp(log_prob)`` invariant.

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
    logp, grad = input_gradient(log_prob, z)
    accepted = {True: [], False: []}
    for t in range(n_burn_in + n_steps):
        burning = t < n_burn_in
        xi = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        prop = z + 0.5 * h**2 * grad + h * xi
        logp_prop, grad_prop = input_gradient(log_prob, prop)
        log_alpha = (
            logp_prop
            - logp
            + _log_proposal(z, prop, grad_prop, h)
            - _log_proposal(prop, z, grad, h)
        )
        log_alpha = torch.nan_to_num(log_alpha, nan=-torch.inf)
        u = torch.rand(log_alpha.shape, generator=generator, device=z.device)
        accept = torch.log(u) < log_alpha
        z = torch.where(accept[:, None], prop, z).detach()
        logp = torch.where(accept, logp_prop, logp).detach()
        grad = torch.where(accept[:, None], grad_prop, grad).detach()
        rate = accept.double().mean()
        accepted[burning].append(rate)
        if burning:
            h *= float(torch.exp((rate - target_accept) / (t + 1) ** 0.6))
    rate = torch.stack(accepted[False]).mean().item() if n_steps else float("nan")
    burn = torch.stack(accepted[True]).mean().item() if n_burn_in else float("nan")
    return MALAResult(z, h, rate, burn)


def importance_resample(log_weights, n, generator):
    """Indices of ``n`` draws with probabilities proportional to ``exp(log_weights)``."""
    p = torch.softmax(log_weights.double(), 0)
    return torch.multinomial(p, n, replacement=True, generator=generator)


def sample_energy(
    log_prob, proposal, n_samples, *, generator, device, chunk_size, oversampling, **mala_kw
):
    """Samples of ``exp(log_prob)``: importance-resampled proposal draws refined by MALA.

    Chains run in batches of ``chunk_size`` so memory stays bounded; each batch draws
    ``oversampling`` proposal points per chain, resamples them by importance weight
    (so well-separated modes start with about the right shares), then runs
    :func:`mala`. Returns the samples and the mean of each batch's
    ``(acceptance_rate, burn_in_acceptance_rate, step_size)``.
    """
    out, stats = [], []
    for start in range(0, n_samples, chunk_size):
        n = min(chunk_size, n_samples - start)
        z = proposal.sample(oversampling * n, generator, device)
        log_w = evaluate(log_prob, z) - proposal.log_prob(z)
        z = z[importance_resample(log_w, n, generator)]
        res = mala(log_prob, z, generator=generator, **mala_kw)
        out.append(res.samples)
        stats.append((res.acceptance_rate, res.burn_in_acceptance_rate, res.step_size))
    return torch.cat(out), [sum(col) / len(stats) for col in zip(*stats)]
