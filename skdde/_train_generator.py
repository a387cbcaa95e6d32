"""Training loop of the generator (Algorithm 1 of the DDE paper).

Alternates one step of the generator on the reverse KL (:func:`generator_loss`)
with ``n_inner_steps`` steps of the model energy ``s_q`` on Eq. 5 over fresh
generator samples, so that ``s_q`` tracks ``log q~`` as the generator moves.
The target energy ``s_p`` is not trained here; with a schedule of noise levels,
the caller swaps in ``s_p`` at each level (``on_sigma``): at large sigma the
modes of ``p~`` overlap and mass moves between them freely; at the final sigma,
far-apart modes exchange mass only through samples crossing near-empty gaps,
which the reverse KL does very slowly (``benchmarks/generator.py``).

Over noise levels (``levels="all"``) the caller passes the two losses instead:
dual score matching for ``s_q`` and the reverse KL integrated over levels for
the generator; the loop, its checks and its rollbacks are the same.

Losses stay on the device between checkpoints; every ``check_interval`` steps
they are checked (non-finite values, or the model's loss exploding), a good state
is kept, and divergence rolls both networks back to the last good state at half
the learning rates.
"""

import copy
import math
import warnings
from dataclasses import dataclass, field

import torch

from ._loss import denoising_loss, generator_loss
from ._train import (
    DIVERGENCE_FACTOR,
    MAX_DIVERGENCE_RETRIES,
    _finite,
    _FiniteWatch,
    _progress,
    adam,
    learning_rate_factor,
)


@dataclass
class GeneratorTrainResult:
    loss_curve: list = field(default_factory=list)
    model_loss_curve: list = field(default_factory=list)
    divergence_steps: list = field(default_factory=list)
    divergence_curve: list = field(default_factory=list)
    n_iter: int = 0
    n_retries: int = 0
    interrupted: bool = False
    #: Both optimizers' states at the last good checkpoint (on the CPU), so that a
    #: warm start continues Adam's moments instead of restarting them.
    optimizer_states: list = None


def _state(*modules):
    return [copy.deepcopy(m.state_dict()) for m in modules]


def _on_cpu(state):
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {k: _on_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_on_cpu(v) for v in state)
    return state


def train_generator(
    generator,
    model,
    target,
    *,
    latent_dim,
    sigmas,
    n_inner_steps,
    n_warmup_steps,
    batch_size,
    learning_rate_init,
    model_learning_rate_init,
    learning_rate,
    rng,
    check_interval=100,
    on_sigma=None,
    monitor=None,
    verbose=0,
    result=None,
    model_loss=denoising_loss,
    objective=generator_loss,
):
    """Train ``generator`` against ``target``, one generator step per entry of ``sigmas``.

    Parameters
    ----------
    generator : nn.Module
        Maps ``(n, latent_dim)`` codes to ``(n, d)`` points.
    model : nn.Module
        Energy ``s_q`` of the smoothed generated density; trained on Eq. 5.
    target : callable
        Energy ``s_p`` (or any log-density) on ``(n, d)`` points; not trained.
    sigmas : list of float
        Noise level of each generator step.
    n_warmup_steps : int
        Steps of ``model`` on the generator's first output before the alternation.
    learning_rate : {"constant", "cosine"}
        Schedule of both learning rates over all the steps.
    rng : torch.Generator
        Source of all randomness.
    on_sigma : callable, default=None
        ``on_sigma(sigma)`` before the steps at a new noise level (and again after
        a rollback): the caller moves ``target`` and ``model``'s Gaussian part.
    monitor : callable, default=None
        ``monitor(sigma)``, called at every checkpoint; returns an estimate of
        the divergence (NaN when it cannot be trusted), recorded with the step.
    result : GeneratorTrainResult, default=None
        A previous result to extend (warm start).
    model_loss : callable, default=denoising_loss
        ``model_loss(model, x, eps, sigma)``: the loss ``model`` is trained on over
        generated points ``x`` (e.g. dual score matching over levels, through
        :meth:`skdde._levels.InUnits.loss`).
    objective : callable, default=generator_loss
        ``objective(model, target, x, eps, sigma)``: the generator's loss (e.g.
        :class:`skdde._levels.LevelGeneratorObjective`, over levels).
    """
    result = GeneratorTrainResult() if result is None else result
    result.interrupted = False
    device = next(generator.parameters()).device
    g_params = list(generator.parameters())
    lr_scale = 1.0

    def optimizers():
        return (
            adam(g_params, learning_rate_init),
            adam(model.parameters(), model_learning_rate_init),
        )

    def codes():
        return torch.randn(batch_size, latent_dim, generator=rng, device=device)

    def noise(x):
        return torch.randn(x.shape, generator=rng, device=device)

    def model_step(opt, sigma):
        with torch.no_grad():
            x = generator(codes())
        loss = model_loss(model, x, noise(x), sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    def generator_step(opt, sigma):
        x = generator(codes())
        loss = objective(model, target, x, noise(x), sigma)
        # gradients for the generator only: the energies' weights are not trained here
        for p, g in zip(g_params, torch.autograd.grad(loss, g_params)):
            p.grad = g
        opt.step()
        return loss.detach()

    opt_g, opt_q = optimizers()
    for opt, state in zip((opt_g, opt_q), result.optimizer_states or ()):
        opt.load_state_dict(state)  # moves the moments to the parameters' device
    generator.train()
    model.train()
    n_iter, applied = len(sigmas), None
    bar = _progress(n_iter, verbose, "DDE generator", "step")
    good = _state(generator, model, opt_g, opt_q)
    try:
        step = 0
        while step < n_iter:
            sigma = sigmas[step]
            if sigma != applied and on_sigma is not None:
                on_sigma(sigma)
            applied = sigma
            if not result.n_iter and step == 0:
                for _ in range(n_warmup_steps):
                    model_step(opt_q, sigma)
                good = _state(generator, model, opt_g, opt_q)
            # a checkpoint's steps share one noise level, so a rollback stays on it
            n = 1
            while n < check_interval and step + n < n_iter and sigmas[step + n] == sigma:
                n += 1
            g_losses = torch.zeros(n, device=device)
            q_losses = torch.zeros(n, device=device)
            watch = _FiniteWatch(device)
            for i in range(n):
                factor = learning_rate_factor(learning_rate, (step + i) / n_iter) * lr_scale
                opt_g.param_groups[0]["lr"] = learning_rate_init * factor
                opt_q.param_groups[0]["lr"] = model_learning_rate_init * factor
                g_losses[i] = generator_step(opt_g, sigma)
                q_losses[i] = torch.stack(
                    [model_step(opt_q, sigma) for _ in range(n_inner_steps)]
                ).mean()
                if watch(g_losses[i], q_losses[i]):
                    break
            g_list, q_list = (
                g_losses.tolist(),
                q_losses.tolist(),
            )  # the checkpoint's one sync
            reference = result.model_loss_curve[-1] if result.model_loss_curve else 1.0
            limit = DIVERGENCE_FACTOR * max(1.0, reference)
            healthy = (
                not watch.failed()
                and all(map(math.isfinite, g_list))
                and max(q_list) <= limit  # also False for NaN
                and _finite(generator)
                and _finite(model)
            )
            if not healthy:
                result.n_retries += 1
                for obj, state in zip((generator, model), good):
                    obj.load_state_dict(state)
                if result.n_retries > MAX_DIVERGENCE_RETRIES:
                    raise FloatingPointError(
                        f"Generator training diverged near step {result.n_iter + n} "
                        f"(non-finite or exploding loss or weights), also after halving "
                        f"the learning rates {MAX_DIVERGENCE_RETRIES} times. Lower "
                        f"learning_rate_init (now {learning_rate_init}) and "
                        f"dde_learning_rate_init (now {model_learning_rate_init})."
                    )
                lr_scale *= 0.5
                opt_g, opt_q = optimizers()
                for obj, state in zip((opt_g, opt_q), good[2:]):
                    obj.load_state_dict(state)
                applied = None  # the restored model has the old Gaussian part
                continue
            step += n
            result.n_iter += n
            result.loss_curve += g_list
            result.model_loss_curve += q_list
            good = _state(generator, model, opt_g, opt_q)
            if monitor is not None:
                result.divergence_steps.append(result.n_iter)
                result.divergence_curve.append(float(monitor(sigma)))
            if bar is not None:
                bar.set_postfix(loss=f"{sum(g_list) / n:.4f}")
                bar.update(n)
    except KeyboardInterrupt:
        warnings.warn(
            "Training interrupted by the user; keeping the last checked state.",
            RuntimeWarning,
            stacklevel=3,
        )
        result.interrupted = True
        for obj, state in zip((generator, model), good):
            obj.load_state_dict(state)
    finally:
        if bar is not None:
            bar.close()
    result.optimizer_states = [_on_cpu(state) for state in good[2:]]
    generator.eval()
    model.eval()
    return result
