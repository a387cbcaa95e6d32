"""log Z = log integral exp(s(z)) dz by importance sampling, with diagnostics.

Finite importance sampling biases log Z low (Jensen's inequality), which biases
log-likelihoods high; the standard error and the effective sample size say how far
an estimate can be trusted. Weights and log-sum-exp are computed in float64.
"""

import math
from typing import NamedTuple

import torch

from ._nets import evaluate


class LogNormalizerWarning(UserWarning):
    """The importance-sampling estimate of log Z is unreliable."""


class LogNormalizerEstimate(NamedTuple):
    log_z: float
    stderr: float
    ess: float
    n_samples: int


class StandardNormal:
    """Proposal ``N(0, I_d)``."""

    def __init__(self, n_features):
        self.n_features = n_features

    def sample(self, n, generator, device):
        return torch.randn(n, self.n_features, generator=generator, device=device)

    def log_prob(self, z):
        z = z.double()
        return -0.5 * z.square().sum(-1) - 0.5 * self.n_features * math.log(2 * math.pi)


def importance_sampling(log_target, proposal, n_samples, n_batches, generator, device):
    """Estimate ``log integral exp(log_target)`` from ``n_batches`` independent batches.

    The estimate pools all samples; its standard error is the spread of the
    per-batch estimates divided by ``sqrt(n_batches)``; the effective sample size is
    Kish's ``(sum w)^2 / sum w^2`` over the pooled weights.
    """
    batch = n_samples // n_batches
    log_w = []
    for _ in range(n_batches):
        z = proposal.sample(batch, generator, device)
        log_w.append(evaluate(log_target, z) - proposal.log_prob(z))
    log_w = torch.stack(log_w)
    log_w = torch.nan_to_num(log_w, nan=-torch.inf)
    per_batch = torch.logsumexp(log_w, 1) - math.log(batch)
    flat = log_w.reshape(-1)
    log_z = torch.logsumexp(flat, 0) - math.log(flat.numel())
    ess = torch.exp(2 * torch.logsumexp(flat, 0) - torch.logsumexp(2 * flat, 0))
    stderr = per_batch.std() / math.sqrt(n_batches)
    return LogNormalizerEstimate(
        log_z.item(), stderr.item(), float(torch.nan_to_num(ess, nan=0.0)), flat.numel()
    )


def batch_log_normalizer(log_target, proposal, n_samples, generator, device):
    """One differentiable importance-sampling estimate of log Z, with its ESS.

    The gradient of the estimate is the self-normalized importance estimate of
    ``E_p[grad log_target]``. Both results stay tensors: no host synchronization.
    """
    z = proposal.sample(n_samples, generator, device)
    log_w = log_target(z).double() - proposal.log_prob(z)
    total = torch.logsumexp(log_w, 0)
    ess = torch.exp(2 * total - torch.logsumexp(2 * log_w, 0)).detach()
    return total - math.log(n_samples), ess
