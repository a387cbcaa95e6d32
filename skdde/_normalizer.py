"""log Z = log integral exp(s(z)) dz by importance sampling or AIS, with diagnostics.

Both estimators here average unbiased estimates of Z, so by Jensen's inequality
their log Z is biased low on average (a stochastic lower bound), which biases
log-likelihoods high. The standard error, the effective sample size and the
Pareto k-hat of the weights' tail say how far an estimate can be trusted.
Weights and log-sum-exp are computed in float64.
"""

import math
from typing import NamedTuple

import numpy as np
import torch
from arviz_stats.base import array_stats

from ._mcmc import ladder_chains, mala_step
from ._nets import evaluate, input_gradient

#: An estimate is flagged when its ESS is below this fraction of the samples ...
MIN_ESS_FRACTION = 0.01
#: ... or its standard error exceeds this many nats ...
MAX_STDERR = 0.1
#: ... or the Pareto k-hat of its weights exceeds this (Vehtari et al.: above 0.7
#: the weights' variance is effectively infinite and the error converges too slowly).
MAX_KHAT = 0.7
#: log Z is pooled from this many independent batches; their spread gives the stderr.
N_NORMALIZER_BATCHES = 8
#: method="ais": temperatures, and chains as a fraction of the samples (each chain
#: costs one gradient per temperature). At equal cost, 1024 x n/64 beat 256 x n/16 on
#: 13 targets with a trusted log Z: mean error 0.010 nats against 0.060, largest
#: 0.047 against 0.305 (benchmarks/ablations/ais_schedule.py).
AIS_TEMPERATURES = 1024
AIS_CHAIN_FRACTION = 1 / 64
#: method="ladder": chains as a fraction of the samples (each costs one gradient
#: per level of the ladder).
LADDER_CHAIN_FRACTION = 1 / 16
#: The methods of :func:`estimate_log_normalizer`.
METHODS = ("auto", "gaussian", "mixture", "ais", "ladder")


class LogNormalizerWarning(UserWarning):
    """An estimate of the log-normalizer is unreliable.

    Raised by :meth:`DDEDensity.fit` and :meth:`DDEDensity.estimate_log_normalizer`
    (with ``update=True``) when the effective sample size, the standard error or
    the Pareto k-hat of the estimate is out of bounds; the message names them.

    Examples
    --------
    >>> import warnings
    >>> from skdde import LogNormalizerWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", LogNormalizerWarning)  # fail loudly
    ...     pass
    """


class LogNormalizerEstimate(NamedTuple):
    """An estimate of ``log Z`` with its diagnostics.

    Attributes
    ----------
    log_z : float
        The estimate. Biased low on average (a stochastic lower bound of the
        true log Z), so log-likelihoods computed with it are biased high.
    stderr : float
        Standard error, from the spread of independent batches.
    ess : float
        Kish effective sample size ``(sum w)^2 / sum w^2`` of the pooled weights.
    khat : float
        Pareto k-hat of the weights' upper tail (PSIS): below 0.5 the weights have
        finite variance, above 0.7 the estimate is unreliable whatever ``stderr``
        says; ``-inf`` when the weights have no tail (all equal).
    n_samples : int
        Weights pooled (proposal draws, or AIS chains).
    method : str
        ``"gaussian"``, ``"mixture"`` or ``"ais"``.

    Examples
    --------
    >>> from skdde import LogNormalizerEstimate
    >>> est = LogNormalizerEstimate(2.3, 0.3, 12.0, 0.9, 4096, "gaussian")
    >>> est.reliable
    False
    >>> est.problems
    ['effective sample size 12.0 of 4096', 'standard error 0.300 nats', 'Pareto k-hat 0.90 > 0.7']
    """

    log_z: float
    stderr: float
    ess: float
    khat: float
    n_samples: int
    method: str

    @property
    def problems(self):
        """Human-readable reasons to distrust the estimate; empty when none."""
        out = []
        if not self.ess >= MIN_ESS_FRACTION * self.n_samples:
            out.append(f"effective sample size {self.ess:.1f} of {self.n_samples}")
        if not self.stderr <= MAX_STDERR:
            out.append(f"standard error {self.stderr:.3f} nats")
        if self.khat > MAX_KHAT:
            out.append(f"Pareto k-hat {self.khat:.2f} > {MAX_KHAT}")
        return out

    @property
    def reliable(self):
        """Whether ESS, standard error and k-hat are all within their limits."""
        return math.isfinite(self.log_z) and not self.problems


def pareto_khat(log_weights):
    """Pareto k-hat of the upper tail of importance weights, by arviz-stats' PSIS."""
    lw = np.asarray(log_weights, dtype=np.float64).ravel()
    finite = np.isfinite(lw)
    if finite.sum() < 2:
        return math.inf
    lw = np.where(finite, lw, lw[finite].min() - 50.0)  # zero weights, kept in the count
    try:  # psislw takes log-likelihoods, whose negatives are the LOO log weights
        return float(array_stats.psislw(-lw, r_eff=1.0)[1])
    except ValueError:  # every tail weight equal: no tail at all
        return -math.inf


def summarize(log_w, method):
    """Estimate from a ``(n_batches, batch)`` tensor of log weights."""
    log_w = torch.nan_to_num(log_w.double(), nan=-torch.inf)
    n_batches, batch = log_w.shape
    per_batch = torch.logsumexp(log_w, 1) - math.log(batch)
    flat = log_w.reshape(-1)
    total = torch.logsumexp(flat, 0)
    log_z = total - math.log(flat.numel())
    ess = torch.nan_to_num(torch.exp(2 * total - torch.logsumexp(2 * flat, 0)), nan=0.0)
    stderr = per_batch.std() / math.sqrt(n_batches)
    return LogNormalizerEstimate(
        log_z.item(),
        stderr.item(),
        ess.item(),
        pareto_khat(flat.cpu().numpy()),
        flat.numel(),
        method,
    )


def importance_sampling(log_target, proposal, n_samples, n_batches, generator, method="gaussian"):
    """Estimate ``log integral exp(log_target)`` from ``n_batches`` independent batches.

    The estimate pools all samples; its standard error is the spread of the
    per-batch estimates divided by ``sqrt(n_batches)``.
    """
    batch = n_samples // n_batches
    log_w = []
    for _ in range(n_batches):
        z = proposal.sample(batch, generator)
        log_w.append(evaluate(log_target, z) - proposal.log_prob(z))
    return summarize(torch.stack(log_w), method)


def sigmoid_schedule(n_temperatures, delta=4.0):
    """Inverse temperatures from 0 to 1, dense at both ends (Grosse et al., 2015)."""
    t = torch.linspace(-delta, delta, n_temperatures + 1, dtype=torch.float64)
    b = torch.sigmoid(t)
    return ((b - b[0]) / (b[-1] - b[0])).tolist()


def annealed_importance_sampling(
    log_target,
    proposal,
    n_chains,
    n_temperatures,
    n_batches,
    generator,
    step_size=0.5,
    target_accept=0.574,
):
    """AIS from ``proposal`` to ``exp(log_target)`` with one MALA step per temperature.

    Chains follow ``pi_b = proposal^(1 - b) * exp(log_target)^b`` along a sigmoid
    schedule of ``b``; each chain's weight is ``sum_t (b_t - b_{t-1}) (log_target -
    log proposal)`` at its state before step ``t`` (Neal, 2001). ``E[w] = Z``, so
    the log of the mean weight is a stochastic lower bound of log Z, like plain
    importance sampling, and much tighter when the proposal is poor. The shared
    step size follows the population's acceptance rate from one temperature to
    the next (as in Wu et al., 2017); this couples the chains weakly, which the
    exact-log-Z tests of the package bound within the reported error.
    """
    betas = sigmoid_schedule(n_temperatures)

    def terms(z):
        lf, gf = input_gradient(log_target, z)
        lq, gq = proposal.value_and_grad(z)
        return lf.detach().double(), lq.detach(), gf, gq.float()

    def tempered(b):
        def target(z):
            lf, lq, gf, gq = terms(z)
            return (1 - b) * lq + b * lf, (1 - b) * gq + b * gf, lf, lq, gf, gq

        return target

    z = proposal.sample(n_chains - n_chains % n_batches, generator)
    lf, lq, gf, gq = terms(z)
    state = (z, lq, gq, lf, lq, gf, gq)
    log_w = torch.zeros(z.shape[0], dtype=torch.float64, device=z.device)
    h = float(step_size)
    for b_prev, b in zip(betas[:-1], betas[1:]):
        _, _, _, lf, lq, gf, gq = state
        log_w += (b - b_prev) * (lf - lq)
        if b == 1.0:
            break
        state = (state[0], (1 - b) * lq + b * lf, (1 - b) * gq + b * gf, lf, lq, gf, gq)
        state, accept = mala_step(tempered(b), state, h, generator)
        h *= math.exp(accept.double().mean().item() - target_accept)
    return summarize(log_w.view(n_batches, -1), "ais")


def batch_log_normalizer(log_target, proposal, n_samples, generator):
    """One differentiable importance-sampling estimate of log Z, with its ESS.

    The gradient of the estimate is the self-normalized importance estimate of
    ``E_p[grad log_target]``. Both results stay tensors: no host synchronization.
    """
    z = proposal.sample(n_samples, generator)
    log_w = log_target(z).double() - proposal.log_prob(z)
    total = torch.logsumexp(log_w, 0)
    ess = torch.exp(2 * total - torch.logsumexp(2 * log_w, 0)).detach()
    return total - math.log(n_samples), ess


def ladder_importance_sampling(
    log_targets,
    proposal,
    n_chains,
    n_batches,
    generator,
    n_steps=1,
    step_size=0.5,
    target_accept=0.574,
):
    """log Z of ``log_targets[-1]`` by AIS down a ladder of energies
    (:func:`~skdde._mcmc.ladder_chains`) from a normalized ``proposal``.

    For a :class:`~skdde._levels.LevelEnergy` the intermediate targets are its own
    levels, each a learned smoothed density close to the next, and the proposal is
    its exact top level.
    """
    n_chains -= n_chains % n_batches
    _, log_w = ladder_chains(
        log_targets, proposal, n_chains, generator, n_steps, step_size, target_accept
    )
    return summarize(log_w.view(n_batches, -1), "ladder")


def estimate_log_normalizer(method, log_target, proposal, n_samples, generator, ladder=None):
    """log Z of ``log_target`` by one method of :data:`METHODS`, or by ``"auto"``.

    Parameters
    ----------
    method : str
        ``"gaussian"`` or ``"mixture"``: importance sampling from ``proposal(method)``;
        ``"ais"``: AIS from ``proposal("mixture")``; ``"ladder"``: AIS down
        ``ladder()``; ``"auto"``: both importance samplers, then, only while neither
        is reliable (each costs far more), the ladder and AIS. It returns the largest
        reliable estimate, each being a lower bound in expectation, or else the
        largest of them all: ``exp(log_z)`` is unbiased, so by Markov's inequality
        ``log_z`` exceeds the true log Z by ``k`` nats with probability at most
        ``exp(-k)`` whatever its diagnostics, while an unreliable estimate can fall
        short by any amount (and its k-hat means little at an ESS near 1).
    log_target : callable
        Unnormalized log-density on float32 points.
    proposal : callable
        ``proposal("gaussian" | "mixture")``: a normalized proposal density.
    n_samples : int
        Importance samples; AIS and the ladder run fewer chains at the same cost.
    generator : torch.Generator
    ladder : callable, default=None
        ``ladder() -> (log_targets, top)`` for :func:`ladder_importance_sampling`;
        None where the model has no ladder.
    """
    if method == "auto":
        args = (log_target, proposal, n_samples, generator, ladder)
        tried = [estimate_log_normalizer(m, *args) for m in ("gaussian", "mixture")]
        for fallback in ("ladder",) * (ladder is not None) + ("ais",):
            if not any(e.reliable for e in tried):
                tried.append(estimate_log_normalizer(fallback, *args))
        reliable = [e for e in tried if e.reliable]  # a reliable log_z is finite
        finite = lambda e: e.log_z if math.isfinite(e.log_z) else -math.inf  # noqa: E731
        return max(reliable or tried, key=finite)
    if method == "ladder":
        n_chains = max(2 * N_NORMALIZER_BATCHES, int(n_samples * LADDER_CHAIN_FRACTION))
        targets, top = ladder()
        return ladder_importance_sampling(targets, top, n_chains, N_NORMALIZER_BATCHES, generator)
    if method == "ais":
        n_chains = max(2 * N_NORMALIZER_BATCHES, int(n_samples * AIS_CHAIN_FRACTION))
        return annealed_importance_sampling(
            log_target,
            proposal("mixture"),
            n_chains,
            AIS_TEMPERATURES,
            N_NORMALIZER_BATCHES,
            generator,
        )
    return importance_sampling(
        log_target, proposal(method), n_samples, N_NORMALIZER_BATCHES, generator, method
    )


def validation_score(module, proposal, x, weight, log_det, n_samples, generator):
    """``f(sigma)``: the weighted mean log-likelihood of the rows ``x`` under
    ``module`` (an energy with a ``whitened`` view), normalized by the first reliable
    of the "gaussian" and "mixture" ``proposal(method, sigma)``; None when neither is
    reliable (a biased log Z would flatter). ``log_det``: that of the whitening."""

    def score(sigma):
        for method in ("gaussian", "mixture"):
            est = importance_sampling(
                module.whitened,
                proposal(method, sigma),
                n_samples,
                N_NORMALIZER_BATCHES,
                generator,
            )
            if est.reliable:
                ll = evaluate(module, x) - est.log_z + log_det
                return float((ll * weight).sum() / weight.sum())
        return None

    return score
