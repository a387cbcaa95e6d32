"""levels="all": two training constants, measured at each data set's chosen sigma.

``floor-share``: dual score matching draws each row's level with ``log t`` uniform from
``sigma^2`` up to the top, and puts ``LEVEL_FLOOR_SHARE`` of the rows at ``sigma^2``
itself (0.25, the issue's prototype's setting). A larger share gives the scored level
more of the network's training at the cost of the levels above, which tie its
normalization to the exact top.

``time-weight``: the time-score term's weight ``LEVEL_TIME_WEIGHT / d``, at ``1 / d``
and ``1 / sqrt(d)``. ``benchmarks/levels.py --time-weight`` compared them at sigma 0.2
and 100 epochs by likelihood alone; this adds what the term is for, the family's
consistency across levels: the probability-flow ODE's likelihood minus the score's
(``flow - score``) on the first 200 validation rows, where both are exactly normalized
densities and a consistent family makes them agree.

``targets``: the two terms' regression targets. Dual score matching regresses on
``eps`` and ``(||eps||^2 - d) / 2``, whose means given the noisy point are the
scores; their noise is the same at every level. Posterior targets (the "stable
target field" of Xu et al., ICLR 2023) replace each by its mean over the clean rows
that could have made the noisy point: weights ``N(x_t; x_j, t I)`` over the batch and
the last 1,024 training rows seen, which include the row's own. Less noisy at large
levels, where many rows share the mass; the same at small ones. Either for the time
score alone ("posterior, time") or for both. Flow and score as for ``time-weight``.

``residual``: what the ODE's gap integrates, the residual ``R = df/dt - (laplacian f +
|grad f|^2) / 2`` of the heat equation that ``log p_t`` solves, penalized on every
training row at 1 to 1,000 times the time term's weight (``1 / d``), or at a weight of
1.5 whatever ``d`` ("fixed"; "fixed0.3" and "fixed0.75" at those weights), its
Laplacian by Hutchinson's estimator (FP-Diffusion's regularizer, Lai et al., ICML 2023).
Variants named on the command line (``x100``) run beside the default alone.

Each variant fits every data set at the sigma the grid over levels chose on its
validation split (``benchmarks/compare_levels_output.txt``), defaults otherwise
(``random_state=0``), and is scored on ``compare.py``'s validation split (the test
split is never read): the mean log-likelihood as ``score`` reports it, whether the
estimator called its log Z reliable, the model's own normalization error
(``log_normalizer_residual_``), the epochs and the fit seconds. Variants run side by
side, one torch thread each.

    python benchmarks/ablations/level_training.py floor-share [DATA ...]
    python benchmarks/ablations/level_training.py time-weight [DATA ...]
    python benchmarks/ablations/level_training.py targets [DATA ...]
    python benchmarks/ablations/level_training.py residual [VARIANT ...] [DATA ...]

Output: ``benchmarks/ablations/level_floor_share_output.txt``,
``benchmarks/ablations/level_time_weight_output.txt``,
``benchmarks/ablations/level_targets_output.txt`` and
``benchmarks/ablations/level_residual_output.txt``.
"""

import math
import sys
import time
from unittest import mock

import torch
from _suite import compare
from joblib import Parallel, delayed

import skdde._density_levels as levels
from skdde._levels import DualScoreObjective, sample_levels
from skdde._loss import _mean

#: clean training rows the posterior targets average over, besides the batch
BANK_ROWS = 1024
#: the heat residual's weight in the "fixed" variant
FIXED_RESIDUAL_WEIGHT = 1.5


class PosteriorTargets(DualScoreObjective):
    """Dual score matching with each target replaced by its mean under the
    posterior over the batch and a bank of recent training rows."""

    both = False

    def __call__(self, energy, x, eps, sigma, weight=None, create_graph=True, return_energy=False):
        d, bank = x.shape[1], getattr(self, "bank", x[:0])
        t = sample_levels(x.shape[0], self.t_low, self.t_max, self.floor_share,
                          self.generator, x.device)
        root = torch.sqrt(t)[:, None]
        x_t = x + root * eps
        _, grad_x, grad_t = energy.value_and_grads(x_t, t, create_graph=create_graph)
        with torch.no_grad():
            diff = x_t[:, None, :] - torch.cat([x, bank])[None]
            squared = diff.square().sum(-1)
            w = torch.softmax(-0.5 * squared / t[:, None], -1)
            time_target = 0.5 * ((w * squared).sum(-1) / t - d)
            score_target = (w[:, :, None] * diff).sum(1) / root if self.both else eps
            if create_graph:  # a training step
                self.bank = torch.cat([x, bank])[:BANK_ROWS]
        in_x = (root * grad_x + score_target).square().mean(-1)
        in_t = (t * grad_t - time_target).square() / d
        return _mean(in_x + self.time_weight * in_t, weight)


class PosteriorBoth(PosteriorTargets):
    both = True


class _Recording:
    """An energy that keeps its last ``value_and_grads`` call, with the noisy points
    made differentiable, so that a penalty can reuse the loss's derivatives."""

    def __init__(self, energy):
        self.energy = energy

    def value_and_grads(self, x, t, create_graph=False):
        x = x.requires_grad_(create_graph)
        self.last = x, t, self.energy.value_and_grads(x, t, create_graph=create_graph)
        return self.last[2]


class HeatResidual(DualScoreObjective):
    """Dual score matching plus ``penalty`` times the time term's weight times
    ``(t * R)^2 / d``, ``R = df/dt - (laplacian f + |grad f|^2) / 2`` the residual of
    the heat equation that ``log p_t`` solves, its Laplacian by Hutchinson's
    estimator with one Rademacher vector per row (as FP-Diffusion, Lai et al. 2023)."""

    penalty = 1.0

    def __call__(self, energy, x, eps, sigma, weight=None, create_graph=True, return_energy=False):
        recording = _Recording(energy)
        loss = super().__call__(recording, x, eps, sigma, weight, create_graph)
        if not create_graph:  # not a training step
            return loss
        x_t, t, (_, grad_x, grad_t) = recording.last
        v = torch.randint(0, 2, x.shape, generator=self.generator, device=x.device) * 2.0 - 1
        (hessian_v,) = torch.autograd.grad((grad_x * v).sum(), x_t, create_graph=True)
        laplacian = (hessian_v * v).sum(-1)
        residual = t * (grad_t - 0.5 * (laplacian + grad_x.square().sum(-1)))
        penalty = _mean(residual.square() / x.shape[1], weight)
        return loss + self.penalty * self.time_weight * penalty


def heat_residual(penalty):
    return type(f"HeatResidual{penalty:g}", (HeatResidual,), {"penalty": penalty})


def heat_residual_fixed(weight=FIXED_RESIDUAL_WEIGHT):
    """The penalty at ``weight`` on ``(t R)^2 / d`` whatever ``d`` (``x100`` gives
    digits, d = 64, about 1.56)."""

    def __init__(self, *args, **kwargs):
        HeatResidual.__init__(self, *args, **kwargs)
        self.penalty = weight / self.time_weight

    return type(f"HeatResidualFixed{weight:g}", (HeatResidual,), {"__init__": __init__})


#: study -> (column title, module constant, {label: value, or value given d})
STUDIES = {
    "floor-share": ("floor share", "LEVEL_FLOOR_SHARE",
                    {"0.25 (default)": 0.25, "0.5": 0.5, "0.75": 0.75}),
    "time-weight": ("time weight", "LEVEL_TIME_WEIGHT",
                    {"1/d (default)": lambda d: 1.0, "1/sqrt(d)": math.sqrt}),
    "targets": ("targets", "DualScoreObjective",
                {"noisy (default)": lambda d: DualScoreObjective,
                 "posterior, time": lambda d: PosteriorTargets,
                 "posterior, both": lambda d: PosteriorBoth}),
    "residual": ("heat residual", "DualScoreObjective",
                 {"none (default)": lambda d: DualScoreObjective,
                  **{f"x{p:g}": lambda d, p=p: heat_residual(p) for p in (1, 10, 100, 1000)},
                  "fixed": lambda d: heat_residual_fixed(),
                  **{f"fixed{w:g}": lambda d, w=w: heat_residual_fixed(w) for w in (0.3, 0.75)}}),
}
#: data set prefix -> the sigma the grid over levels chose on validation
SIGMAS = {"eight": 0.025, "mixture": 0.1, "two": 0.1, "digits": 0.2, "wine": 0.4,
          "breast": 0.025}
N_FLOW_ROWS = 200
FLOW_STUDIES = ("time-weight", "targets", "residual")


def run(study, label, value, names):
    torch.set_num_threads(1)
    constant = STUDIES[study][1]
    rows = []
    for name in compare.DATA:
        prefix = next((p for p in names if name.startswith(p)), None)
        if prefix is None:
            continue
        train, val = compare.train_and_validation(name)
        setting = value(train.shape[1]) if callable(value) else value
        start = time.perf_counter()
        with mock.patch.multiple(levels, **{constant: setting}):
            model, ok = compare.fit_dde(SIGMAS[prefix], train, "auto", levels="all")
        seconds = time.perf_counter() - start
        row = (f"{name:24s} {label:15s} {model.score(val):9.3f} {'ok' if ok else '--':>5s} "
               f"{model.log_normalizer_residual_:8.3f}")
        if study in FLOW_STUDIES:
            flow = model.flow_score_samples(val[:N_FLOW_ROWS]).mean()
            row += f" {flow - model.score(val[:N_FLOW_ROWS]):8.3f}"
        rows.append(row + f" {model.n_iter_:6d} {seconds:7.0f}")
    return rows


def main():
    study, args = sys.argv[1], sys.argv[2:]
    title, _, variants = STUDIES[study]
    # variants named on the command line run beside the default (the first) alone
    named = [a for a in args if a in variants]
    names = [a for a in args if a not in variants] or list(SIGMAS)
    if named:
        variants = {k: v for i, (k, v) in enumerate(variants.items()) if i == 0 or k in named}
    print(f"torch {torch.__version__}, 1 thread per variant")
    flow = f" {'ODE gap':>8s}" if study in FLOW_STUDIES else ""
    print(f"{'data':24s} {title:15s} {'val ll':>9s} {'log Z':>5s} {'residual':>8s}{flow} "
          f"{'epochs':>6s} {'fit s':>7s}")
    results = Parallel(n_jobs=2)(
        delayed(run)(study, label, value, names) for label, value in variants.items())
    for i in range(len(results[0])):
        for rows in results:
            print(rows[i])


if __name__ == "__main__":
    main()
