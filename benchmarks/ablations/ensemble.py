"""Ensembles of seeds: do several DDEs fitted to the same data score better
together than each alone?

``DDEDensity(sigma, random_state=seed)`` at default settings (``max_iter="auto"``)
for seeds 0 to 3; each member's row as in the other ablations (validation
log-likelihood, the normalizer's method, ESS and k-hat, ``ok`` when the estimator
calls its log Z reliable, the epochs and the fit seconds). Then two ways of
combining the first k members, k = 2 and 4:

- ``mixture``: the equal-weight mixture of the members' normalized densities,
  ``log p(x) = logsumexp_k log p_k(x) - log k``. It needs no new normalizer, and
  by Jensen's inequality it scores at least the members' mean on every point. It is
  ``ok`` when every member's log Z is.
- ``mean energy``: the energy ``mean_k s_k(x)``, a product of the members'
  densities each to the power ``1/k``, which averages out what the seeds disagree
  on. Its log Z is estimated afresh (``normalizer="auto"``, member 0's proposals),
  with its own diagnostics and verdict.

Both cost k fits to train, and k network evaluations per scored row. With
``--longer``, the single fit at the same cost instead: seeds 0 and 1 with four
times the epochs of ``max_iter="auto"``, so annealing and the final sigma each
get four times as long.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

    python benchmarks/ablations/ensemble.py [--longer] [--fashion-mnist DIR] [DATA ...]
"""

import copy
import math
import warnings

import numpy as np
import smoothing_floor
import torch
from _suite import compare
from architecture import SIGMAS
from scipy.special import logsumexp

from skdde import DDEDensity
from skdde._train import training_budget

warnings.simplefilter("ignore")
SEEDS = (0, 1, 2, 3)
SIZES = (2, 4)


class MeanEnergy(torch.nn.Module):
    """``mean_k s_k`` of fitted ``DDEDensity`` models, on points centred as
    ``models[0]`` centres them; ``whitened`` in ``models[0]``'s whitened units, so
    that its normalizer can estimate log Z. Each member keeps its own centring
    and whitening (they come from its own split of the training data)."""

    def __init__(self, models):
        super().__init__()
        ref = models[0]
        self.members = torch.nn.ModuleList([m.module_ for m in models])
        shifts = np.stack([ref._mean - m._mean for m in models])
        self.register_buffer("shifts", torch.tensor(shifts, dtype=torch.float32))
        self.register_buffer("unwhitening", torch.tensor(ref._unwhitening, dtype=torch.float32))

    def forward(self, x):
        return torch.stack([m(x + s) for m, s in zip(self.members, self.shifts)]).mean(0)

    def value_and_grad(self, x):
        pairs = [m.value_and_grad(x + s) for m, s in zip(self.members, self.shifts)]
        values, grads = zip(*pairs)
        return torch.stack(values).mean(0), torch.stack(grads).mean(0)

    @property
    def whitened(self):
        return _Whitened(self)


class _Whitened:
    """``MeanEnergy`` of the whitened point ``u`` (``x = U u``, ``U`` symmetric)."""

    def __init__(self, energy):
        self.energy = energy

    def __call__(self, u):
        return self.energy(u @ self.energy.unwhitening)

    def value_and_grad(self, u):
        s, grad = self.energy.value_and_grad(u @ self.energy.unwhitening)
        return s, grad @ self.energy.unwhitening


def mixture_row(models, val):
    log_p = logsumexp([m.score_samples(val) for m in models], axis=0) - math.log(len(models))
    verdict = "--" if any(m.log_normalizer_problems_ for m in models) else "ok"
    return f"{log_p.mean():9.3f} {'':>8s} {'':>7s} {'':>5s} {verdict:>2s}"


def mean_energy_row(models, val, seed):
    model = copy.deepcopy(models[0])
    model.module_ = MeanEnergy(models)
    est = model.estimate_log_normalizer(random_state=seed, update=True)
    verdict = "ok" if est.reliable else "--"
    return (f"{model.score(val):9.3f} {est.method:>8s} {est.ess:7.0f} {est.khat:5.2f} "
            f"{verdict:>2s}")


def header(name, train, val, setting):
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows, {setting}\n"
          f"  sigma member             val ll log Z by     ESS k-hat    epochs fit s")


def run(name):
    train, val = compare.train_and_validation(name)
    header(name, train, val, "default settings")
    for sigma in SIGMAS[name]:
        models = []
        for seed in SEEDS:
            row, model = smoothing_floor.dde_row(train, val, sigma, epochs=True,
                                                 max_iter="auto", random_state=seed)
            models.append(model)
            print(f"  {sigma:5.2f} seed {seed:<13d} {row}", flush=True)
        for k in SIZES:
            print(f"  {sigma:5.2f} mixture of {k:<7d} {mixture_row(models[:k], val)}")
            print(f"  {sigma:5.2f} mean energy of {k:<3d} "
                  f"{mean_energy_row(models[:k], val, seed=10 + k)}", flush=True)


def longer(name, factor=4):
    train, val = compare.train_and_validation(name)
    n_fit = len(train) - math.ceil(DDEDensity().validation_fraction * len(train))
    max_iter = factor * training_budget(n_fit)[1]
    header(name, train, val, f"max_iter={max_iter}")
    for sigma in SIGMAS[name]:
        for seed in SEEDS[:2]:
            row, _ = smoothing_floor.dde_row(train, val, sigma, epochs=True, max_iter=max_iter,
                                             random_state=seed)
            print(f"  {sigma:5.2f} seed {seed:<13d} {row}", flush=True)


def main():
    smoothing_floor.ablation_main(
        __doc__, SIGMAS, run,
        ("--longer", "fit seeds 0 and 1 alone with four times the epochs", longer))


if __name__ == "__main__":
    main()
