"""Antithetic noise in the denoising loss: the gradient variance it removes, and
what that buys in training.

Eq. 5 is estimated with one noise draw per point. Its antithetic form averages
the loss at ``x + sigma * eps`` and ``x - sigma * eps``: the expectation is the same
(``eps`` and ``-eps`` have one law), and the term ``2 eps . grad s(x) / sigma``,
whose variance grows as sigma shrinks, cancels between the two. A pair costs two
network evaluations, as two independent draws do, so those are compared at
equal cost.

- ``--variance``: a ``DDEDensity(sigma=0.2, max_iter=100)`` fitted on the train
  split, then, for a fixed batch of 256 training rows and each sigma, the total
  variance over 30 noise draws of the loss gradient in the network's weights
  (trace of its covariance) with one draw per point, two independent draws, and
  one antithetic pair; and the norm of the mean gradient (the signal).
- Otherwise: ``DDEDensity(sigma, random_state=seed)`` at default settings
  (``max_iter="auto"``), fitted with the plain and the antithetic loss (swapped
  into the training loop for the fit), seeds 0 and 1. Prints the validation
  log-likelihood, the normalizer's method, ESS and k-hat, ``ok`` when the
  estimator calls its log Z reliable (an unreliable one flatters), the epochs
  and the fit seconds.

Data and splits are those of ``compare.py`` (train / validation; the test split is
never read). One torch thread.

    python benchmarks/ablations/antithetic_noise.py [--variance] [--fashion-mnist DIR] [DATA ...]
"""

import functools
import warnings
from unittest.mock import patch

import smoothing_floor
import torch
from _suite import compare

import skdde._train
from skdde import DDEDensity
from skdde._loss import denoising_loss

warnings.simplefilter("ignore")
SIGMAS = {  # the best reliable sigma of smoothing_floor.py, and a neighbour
    "wine (13-D)": (0.1, 0.3),
    "breast_cancer (30-D)": (0.05, 0.1),
    "digits (64-D)": (0.1, 0.2),
    "fashion_mnist_pca (32-D)": (0.1, 0.2),
}
VARIANCE_SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5)
SEEDS = (0, 1)


def antithetic_loss(energy, x, eps, sigma, weight=None, **kwargs):
    """Eq. 5 averaged over the pair ``(eps, -eps)`` of each point."""
    weight = None if weight is None else torch.cat([weight, weight])
    return denoising_loss(energy, torch.cat([x, x]), torch.cat([eps, -eps]), sigma, weight,
                          **kwargs)


def gradient(module, params, x, eps, sigma):
    loss = denoising_loss(module, x, eps, sigma)
    grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
    return torch.cat([g.flatten() for g in grads])


def variance(name):
    train, _ = compare.train_and_validation(name)
    model = DDEDensity(sigma=0.2, max_iter=100, random_state=0).fit(train)
    module = model.module_
    params = [p for p in module.parameters() if p.requires_grad]
    x = model._tensor(train[:256])
    generator = torch.Generator().manual_seed(0)
    print(f"\n{name}: gradient of Eq. 5 over 30 noise draws, 256 rows, model fitted at "
          "sigma 0.2\n  sigma  var 1 draw  var 2 draws  var pair   |mean grad|   2 draws / pair")
    for sigma in VARIANCE_SIGMAS:
        model._set_sigma(sigma)
        draws = {"one": [], "two": [], "pair": []}
        for _ in range(30):
            eps = torch.randn(x.shape, generator=generator)
            other = torch.randn(x.shape, generator=generator)
            xx = torch.cat([x, x])
            draws["one"].append(gradient(module, params, x, eps, sigma))
            draws["two"].append(gradient(module, params, xx, torch.cat([eps, other]), sigma))
            draws["pair"].append(gradient(module, params, xx, torch.cat([eps, -eps]), sigma))
        var = {k: torch.stack(v).var(0).sum().item() for k, v in draws.items()}
        signal = torch.stack(draws["pair"]).mean(0).norm().item()
        print(f"  {sigma:5.2f}  {var['one']:10.3e}  {var['two']:11.3e}  {var['pair']:8.3e}  "
              f"{signal:11.3e}  {var['two'] / var['pair']:14.1f}", flush=True)


def training(name):
    variants = {
        label: (functools.partial(patch.object, skdde._train, "denoising_loss", loss), {})
        for label, loss in (("plain", denoising_loss), ("antithetic", antithetic_loss))
    }
    smoothing_floor.variant_rows(name, SIGMAS[name], variants, "loss", SEEDS)


def main():
    smoothing_floor.ablation_main(__doc__, SIGMAS, training, (
        "--variance", "gradient variance by sigma instead of training runs", variance))


if __name__ == "__main__":
    main()
