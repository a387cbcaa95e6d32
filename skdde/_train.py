"""Training loop for an energy network on the denoising loss.

Mini-batches of a tensor held on the device (or of anything indexed like one, e.g.
rows streamed from a memmap), Adam, a learning-rate schedule, optional
sigma annealing, early stopping on a held-out denoising loss with fixed noise, and
recovery from divergence. All randomness comes from the ``generator`` passed in.

Past 400 lines because ``train`` is one loop whose epoch, divergence, early-stopping
and sigma-search bookkeeping share state; the schedules beside it (sigma's, the
learning rate's, the epoch budget) are the few lines each that it reads.
"""

import copy
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ._average import Average
from ._compile import Compiled
from ._loss import denoising_loss, likelihood_loss

#: Divergence is met by restoring the epoch's starting state and halving the learning
#: rate, at most this many times.
MAX_DIVERGENCE_RETRIES = 6
#: An epoch whose mean loss exceeds this multiple of its first batch's (taken before
#: that batch's update), or of 1 (what a constant energy scores), has blown up, even
#: if every number stays finite. Early in annealing the loss is legitimately far
#: above 1, so the reference is the epoch's own start.
DIVERGENCE_FACTOR = 10.0
#: On an accelerator the non-finite check is read every this many steps (a read is a
#: host sync); on the CPU it is read at every step, before the update.
FINITE_CHECK_STEPS = 32
#: The likelihood term is skipped on steps whose importance batch has a smaller ESS:
#: its gradient would rest on a handful of proposal points.
MIN_LIKELIHOOD_ESS = 32
#: max_iter="auto": this many epochs, fewer when they would exceed MAX_AUTO_STEPS.
AUTO_EPOCHS = 400
MAX_AUTO_STEPS = 20_000


@dataclass
class TrainResult:
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    best_loss: float = math.inf
    best_validation_score: float = -math.inf
    n_iter: int = 0
    n_steps: int = 0
    converged: bool = False
    interrupted: bool = False
    sigma_path: list = field(default_factory=list)
    sigma_path_scores: list = field(default_factory=list)
    sigma_path_learning_rates: list = field(default_factory=list)
    n_restarts: int = 0


def sigma_schedule(sigma, sigma_start, n_epochs, annealing_fraction):
    """Per-epoch noise levels: divided by 1.1 at even intervals from ``sigma_start``.

    The published schedule, stretched so that ``sigma`` is reached after
    ``annealing_fraction`` of the epochs; ``sigma_start=None`` means no annealing.
    """
    if sigma_start is None or sigma_start <= sigma:
        return [sigma] * n_epochs
    n_div = math.ceil(math.log(sigma_start / sigma) / math.log(1.1))
    n_anneal = max(1, int(annealing_fraction * n_epochs))
    return [
        max(sigma, sigma_start / 1.1 ** math.floor(e * n_div / n_anneal)) if e < n_anneal else sigma
        for e in range(n_epochs)
    ]


def sigma_path(sigma_start, sigma_min, n_epochs):
    """Per-epoch noise levels for a search: ``sigma_start / 1.1^k`` down to
    ``sigma_min``, each level held for an equal share of ``n_epochs``. With fewer
    epochs than levels, evenly spaced levels (the first and the last among them)
    get one epoch each: the search never takes more than ``n_epochs``."""
    levels = [sigma_start]
    while levels[-1] / 1.1 > sigma_min:
        levels.append(levels[-1] / 1.1)
    if n_epochs < len(levels):
        picks = sorted({round(i) for i in np.linspace(0, len(levels) - 1, max(1, n_epochs))})
        return [levels[i] for i in picks]
    per_level = n_epochs // len(levels)
    return [s for s in levels for _ in range(per_level)]


def evenly(levels, k):
    """At most ``k`` of ``levels``, evenly spaced by position, keeping both ends."""
    if len(levels) <= k:
        return list(levels)
    return [levels[round(i)] for i in np.linspace(0, len(levels) - 1, k)]


def training_budget(n_train, batch_size="auto", max_iter="auto"):
    """``(batch_size, max_iter)`` for ``n_train`` rows: "auto" is ``n_train // 32``
    rows clipped to [32, 512], and ``AUTO_EPOCHS`` epochs, fewer when they would
    exceed ``MAX_AUTO_STEPS`` steps."""
    if batch_size == "auto":
        batch_size = min(512, max(32, n_train // 32))
    if max_iter == "auto":
        steps_per_epoch = math.ceil(n_train / batch_size)
        max_iter = min(AUTO_EPOCHS, max(10, MAX_AUTO_STEPS // steps_per_epoch))
    return batch_size, max_iter


def learning_rate_factor(schedule, progress):
    """Multiplier of the initial learning rate at ``progress`` in [0, 1)."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":  # halved each quarter, as published (every 100 of 400)
        return 0.5 ** math.floor(4 * progress)
    return 1.0


def validation_loss(energy, x, eps, sigma, weight, chunk_size=4096):
    total = 0.0
    for xc, ec, wc in zip(x.split(chunk_size), eps.split(chunk_size), weight.split(chunk_size)):
        loss = denoising_loss(energy, xc, ec, sigma, wc, create_graph=False)
        total += loss.detach() * wc.sum()
    return (total / weight.sum()).item()  # train refuses a zero-weight validation split


class _Patience:
    """Early-stopping bookkeeping for one criterion (lower is better): the best
    value and state, and the judged epochs since it last improved by ``tol``.
    Epochs that cannot be judged (``NaN``) count as stalls once one was judged."""

    def __init__(self, tol):
        self.tol, self.best, self.state = tol, math.inf, None
        self.stall, self.judged = 0, False

    def update(self, value, module, keep_state):
        if math.isnan(value):
            self.stall += self.judged
            return
        self.judged = True
        self.stall = self.stall + 1 if value > self.best - self.tol else 0
        if value < self.best:
            self.best = value
            if keep_state:
                self.state = copy.deepcopy(module.state_dict())


def adam(params, lr, weight_decay=0.0):
    """Adam (AdamW with a ``weight_decay``), with torch's fused kernel (one per
    step) where the device has one."""
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    if weight_decay:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def _finite(module):
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


class _FiniteWatch:
    """Watches losses for a non-finite value without a host sync per step where
    one costs (accelerators): ``watch(*losses)`` is True when one was seen and
    this step's flag was read (every step on the CPU)."""

    def __init__(self, device):
        self.cpu = torch.device(device).type == "cpu"
        self.ok = torch.ones((), dtype=torch.bool, device=device)
        self.bad, self.steps = False, 0

    def __call__(self, *losses):
        if self.cpu:  # one read per loss, no device flag to update
            self.bad = self.bad or not all(math.isfinite(loss.item()) for loss in losses)
            return self.bad
        for loss in losses:
            self.ok = self.ok & torch.isfinite(loss).all()
        self.steps += 1
        return self.steps % FINITE_CHECK_STEPS == 0 and self.failed()

    def failed(self):
        return self.bad or not bool(self.ok)


def train(
    module,
    x,
    weight,
    x_val,
    weight_val,
    *,
    sigmas,
    batch_size,
    learning_rate_init,
    learning_rate,
    early_stopping,
    n_iter_no_change,
    tol,
    generator,
    log_normalizer=None,
    likelihood_weight=0.0,
    validation_score=None,
    sigma_search=False,
    n_stages_no_change=5,
    on_sigma=None,
    compile=False,
    ema_decay=None,
    weight_decay=0.0,
    objective=None,
    judge_start=False,
    verbose=0,
    result=None,
):
    """Train ``module`` in place on Eq. 5, one epoch per entry of ``sigmas``.

    With ``early_stopping``, the best weights at the final sigma (by held-out loss)
    are restored at the end. At the final sigma, ``likelihood_weight`` adds
    :func:`likelihood_loss` on the noisy points, with ``log_normalizer(generator,
    sigma)`` giving a differentiable log Z estimate and its ESS. ``loss_curve`` records the
    denoising loss alone. Pass a previous ``result`` to extend its curves.

    Held-out epochs are judged by ``validation_score(sigma)`` (higher is better,
    ``None`` when it cannot be judged), by default minus the held-out denoising
    loss with fixed noise. With ``sigma_search``, each noise level of ``sigmas``
    is a stage of a search: its last epoch's score (and learning rate) is
    recorded in ``result.sigma_path(_scores, _learning_rates)``, training stops
    after ``n_stages_no_change`` stages without a better one, and the weights of
    the best stage are restored.
    Every stage is then a candidate final model, so the likelihood term acts in
    the last epoch of every stage.
    ``on_sigma(sigma)`` is called before each epoch whose noise level differs
    from the previous one's (the estimator moves the energy's Gaussian part).
    With ``compile``, the loss and its backward run through :class:`Compiled`.
    With ``ema_decay``, epochs are judged, and the model returned, with an
    exponential moving average of the weights instead of the last ones.
    ``weight_decay`` is AdamW's decoupled decay of every weight (0: Adam).
    ``objective`` replaces :func:`denoising_loss` as the training loss, with its
    signature (e.g. :class:`skdde._levels.DualScoreObjective`). With
    ``judge_start``, a fresh run (no ``result``) first judges the untrained module
    by ``validation_score``: it is kept if no epoch beats it.
    """
    result = TrainResult() if result is None else result
    result.converged = result.interrupted = False
    device = x.device
    uniform = bool((weight == weight[0]).all())  # a plain mean then
    # zero-weighted rows are dropped rows: never drawn into a batch, so no batch
    # weighs zero and each batch's mean is over rows that count
    rows = None if uniform else torch.nonzero(weight > 0).squeeze(1)
    n = x.shape[0] if rows is None else len(rows)
    if not bool(weight.sum() > 0):
        raise ValueError("The training weights sum to zero: there is nothing to fit.")
    if early_stopping and not bool(weight_val.sum() > 0):
        raise ValueError("The validation weights sum to zero: nothing to judge early stopping by.")
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps_per_epoch * len(sigmas)
    eps_val = None
    likelihood = bool(likelihood_weight) and log_normalizer is not None
    if early_stopping:
        eps_val = torch.randn(x_val.shape, generator=generator, device=device)
    start_state = best_stage_state = None
    dsm, lik, train_patience = _Patience(tol), _Patience(tol), _Patience(tol)
    best_stage, stages_no_change = -math.inf, 0
    retries, lr_scale = 0, 1.0
    optimizer = adam(module.parameters(), learning_rate_init, weight_decay)
    average = None if ema_decay is None else Average(module, ema_decay)
    objective = denoising_loss if objective is None else objective
    loss_fn = Compiled(objective) if compile else objective
    bar = _progress(len(sigmas), verbose)
    epoch = step = 0
    if judge_start and early_stopping and validation_score is not None and not result.n_iter:
        module.eval()
        score = validation_score(sigmas[-1])
        lik.update(math.nan if score is None else -score, module, True)
    try:
        while epoch < len(sigmas):
            sigma = sigmas[epoch]
            if on_sigma is not None and (epoch == 0 or sigmas[epoch - 1] != sigma):
                on_sigma(sigma)
            start_state = copy.deepcopy(module.state_dict())
            average_start = None if average is None else average.state()
            module.train()
            losses, sizes = [], []  # summed at the epoch's end: no work per step
            # a search ends each stage with the likelihood term (every stage is a
            # candidate model); otherwise it acts at the final sigma
            stage_last = epoch + 1 == len(sigmas) or sigmas[epoch + 1] != sigma
            use_likelihood = likelihood and (stage_last if sigma_search else sigma == sigmas[-1])
            # compiled: a tensor, so that every noise level shares one graph
            noise = torch.tensor(sigma, device=device) if compile else sigma
            perm = torch.randperm(n, generator=generator, device=device)
            perm = perm if rows is None else rows[perm]
            watch, epoch_start_step = _FiniteWatch(device), step
            for idx in perm.split(batch_size):
                factor = learning_rate_factor(learning_rate, step / total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate_init * lr_scale * factor
                xb, wb = x[idx], None if uniform else weight[idx]
                eps = torch.randn(xb.shape, generator=generator, device=device)

                def forward_backward():
                    # energies only when needed: a compiled step returning them
                    # ran 9% slower
                    out = loss_fn(module, xb, eps, noise, wb, return_energy=use_likelihood)
                    loss = total = out[0] if use_likelihood else out
                    if use_likelihood:
                        log_z, ess = log_normalizer(generator, sigma)
                        nll = likelihood_loss(out[1], log_z, wb).float()
                        nll = torch.where(ess >= MIN_LIKELIHOOD_ESS, nll, torch.zeros_like(nll))
                        total = loss + likelihood_weight * nll
                    optimizer.zero_grad(set_to_none=True)
                    total.backward()
                    return loss, total

                loss, total = loss_fn.run(forward_backward) if compile else forward_backward()
                if watch(total.detach()):  # on the CPU: before a bad update
                    break
                optimizer.step()
                if average is not None:
                    average.update()
                losses.append(loss.detach())
                sizes.append(len(idx) if wb is None else wb.sum())  # the batch's share
                step += 1
            diverged = watch.failed()
            if not diverged:
                curve = torch.stack(losses).double().cpu()
                # the weighted mean over the epoch's rows, as the loss is per batch
                shares = (
                    torch.tensor(sizes, dtype=torch.float64)
                    if uniform
                    else torch.stack(sizes).double().cpu()
                )
                epoch_loss = float(curve @ shares / shares.sum())
                limit = DIVERGENCE_FACTOR * max(1.0, float(curve[0]))
                diverged = not (epoch_loss <= limit and _finite(module))
            if diverged:
                retries += 1
                module.load_state_dict(start_state)  # a failed fit leaves no NaN model
                if average is not None:
                    average.restore(average_start)
                if retries > MAX_DIVERGENCE_RETRIES:
                    what = (
                        f"a non-finite loss at step {step - epoch_start_step + 1}"
                        if watch.failed()
                        else "an exploding loss or non-finite weights"
                    )
                    raise FloatingPointError(
                        f"Training diverged ({what}) in epoch {result.n_iter + 1}, also "
                        f"after halving the learning rate {MAX_DIVERGENCE_RETRIES} times. "
                        f"Lower learning_rate_init (now {learning_rate_init}) or rescale X."
                    )
                lr_scale *= 0.5
                result.n_restarts += 1
                optimizer = adam(module.parameters(), learning_rate_init, weight_decay)
                step = epoch_start_step
                continue
            result.loss_curve.append(epoch_loss)
            result.n_iter += 1
            result.n_steps += steps_per_epoch
            epoch += 1
            final_sigma = epoch == len(sigmas) or sigma == sigmas[-1]
            stage_end = sigma_search and (epoch == len(sigmas) or sigmas[epoch] != sigma)
            judge = early_stopping and final_sigma and not sigma_search
            if judge or stage_end:
                module.eval()
                if average is not None:
                    average.swap()
            if stage_end:
                score = validation_score(sigma)
                score = math.nan if score is None else score
                result.validation_scores.append(score)
                result.sigma_path.append(sigma)
                result.sigma_path_scores.append(score)
                result.sigma_path_learning_rates.append(optimizer.param_groups[0]["lr"])
                stages_no_change += 1
                if score > best_stage:
                    best_stage, stages_no_change = score, 0
                    best_stage_state = copy.deepcopy(module.state_dict())
                if stages_no_change >= n_stages_no_change:
                    if average is not None:
                        average.swap()
                    _update_bar(bar, result)
                    break
            elif judge:
                # the likelihood when it can be judged; the denoising loss decides
                # only while it never could be (e.g. overfit models IS cannot normalize)
                if not lik.judged:  # once the likelihood is judged, it alone decides
                    loss = validation_loss(module, x_val, eps_val, sigma, weight_val)
                    dsm.update(loss, module, True)
                if validation_score is None:
                    result.validation_scores.append(-loss)
                else:
                    score = validation_score(sigma)
                    score = math.nan if score is None else score
                    lik.update(-score, module, True)
                    result.validation_scores.append(score)
            elif early_stopping or sigma_search:  # an epoch of annealing: not judged
                result.validation_scores.append(math.nan)
            elif final_sigma:
                train_patience.update(epoch_loss, module, False)
            if (judge or stage_end) and average is not None:
                average.swap()
            _update_bar(bar, result)
            stopper = lik if lik.judged else (dsm if early_stopping else train_patience)
            if final_sigma and not sigma_search and stopper.stall >= n_iter_no_change:
                result.converged = True
                break
    except KeyboardInterrupt:
        warnings.warn(
            "Training interrupted by the user; keeping the best model so far.",
            RuntimeWarning,
            stacklevel=3,
        )
        result.interrupted = True
        if start_state is not None and not _finite(module):
            module.load_state_dict(start_state)
    finally:
        if bar is not None:
            bar.close()
    best_state = (lik if lik.judged else dsm).state
    if best_state is not None:
        module.load_state_dict(best_state)
    if best_stage_state is not None:
        module.load_state_dict(best_stage_state)
    if average is not None and best_state is None and best_stage_state is None:
        average.swap()
    result.best_loss = min(result.loss_curve, default=math.inf)
    if early_stopping:
        judged = lik if lik.judged else dsm if validation_score is None else None
        result.best_validation_score = -judged.best if judged else math.nan
    module.eval()
    return result


def _progress(total, verbose, desc="DDE fit", unit="epoch"):
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=verbose > 1)


def _update_bar(bar, result):
    if bar is None:
        return
    postfix = {"loss": f"{result.loss_curve[-1]:.4f}"}
    if result.validation_scores:
        postfix["val"] = f"{-result.validation_scores[-1]:.4f}"
    bar.set_postfix(postfix)
    bar.update(1)
