"""One noise-conditional energy s(x, sigma) against a DDEDensity per sigma.

A DDE is trained at one noise level (annealed down to it). The alternative the
model-quality issue names: one network that takes sigma as an input, trained by
Eq. 5 with a sigma drawn per point, log-uniform in [SIGMA_LOW, SIGMA_HIGH], and
evaluated at each sigma of a grid. Every sigma of the grid then gets a model
trained on all noise levels at once, which is what ``sigma="auto"``'s short
stages lack.

The energy is built like DDEDensity's (``skdde._nets``): the default residual
Softplus network of the whitened point, here with ``log sigma`` as one more input,
minus the quadratic form of the data's moment-matched Gaussian at that sigma (so
``exp(s)`` is integrable at every sigma). Batch size, epochs (at most 400, or
20,000 steps) and Adam with a cosine learning rate follow DDEDensity's defaults;
early stopping is on the held-out Eq. 5 loss (fixed noise and sigmas; patience 50
epochs, as 10 stopped wine after 14). log Z at each sigma is estimated as ``normalizer="auto"``
does with the Gaussian proposal: importance sampling with 65,536 draws, and AIS
(1024 chains x 1024 temperatures, from the same Gaussian) when that fails its
checks; ``ok`` when the estimate used passed them.

Each row: validation mean log-likelihood of the noise-conditional model at sigma,
its log Z method, ESS, k-hat, verdict and seconds, and ``DDEDensity(sigma=...)``
at its defaults on the same split. Validation splits of ``compare.py`` only;
nothing looks at test data.

    python benchmarks/ablations/noise_conditional.py [--fashion-mnist DIR] [DATA ...]
"""

import argparse
import math
import time

import numpy as np
import torch
from _suite import compare
from smoothing_floor import dde_row

from skdde._nets import ResidualMLP
from skdde._normalizer import annealed_importance_sampling, importance_sampling
from skdde._proposals import Gaussian
from skdde._train import learning_rate_factor, training_budget

SIGMAS = (0.05, 0.1, 0.2, 0.4)
SIGMA_LOW, SIGMA_HIGH = 0.03, 1.0
PATIENCE = 50
N_IMPORTANCE, AIS_CHAINS, AIS_TEMPERATURES = 65_536, 1024, 1024


class NoiseConditional(torch.nn.Module):
    """``s(x, sigma) = h(u, log sigma) - u^T P(sigma) u / 2``, ``u = W (x - mean)``.

    ``W`` whitens ``Cov + SIGMA_LOW^2 I``; ``P(sigma)`` is the precision of the
    smoothed data's Gaussian at ``sigma`` in those units.
    """

    def __init__(self, X):
        super().__init__()
        d = X.shape[1]
        lam, vec = np.linalg.eigh(np.cov(X, rowvar=False))
        lam = np.maximum(lam, 0.0)
        ref = lam + SIGMA_LOW**2
        tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        self.register_buffer("mean", tensor(X.mean(0)))
        self.register_buffer("vec", tensor(vec))
        self.register_buffer("lam", tensor(lam))
        self.register_buffer("ref", tensor(ref))
        self.register_buffer("whitening", tensor((vec / np.sqrt(ref)) @ vec.T))
        self.log_det_whitening = -0.5 * float(np.log(ref).sum())
        resolution = SIGMA_LOW * math.exp(self.log_det_whitening / d)
        self.net = ResidualMLP(d + 1, (128, 128, 128), "softplus", resolution)

    def whitened(self, u, sigma):
        """The energy of whitened points ``u`` at noise levels ``sigma`` (shape (n,))."""
        c = torch.log(sigma / SIGMA_LOW)[:, None] / math.log(SIGMA_HIGH / SIGMA_LOW)
        v = u @ self.vec
        quad = (v.square() * self.ref / (self.lam + sigma[:, None] ** 2)).sum(-1)
        return self.net(torch.cat([u, c], 1)) - 0.5 * quad

    def forward(self, x, sigma):
        return self.whitened((x - self.mean) @ self.whitening.T, sigma)

    def proposal(self, sigma):
        """The Gaussian part at ``sigma`` as a density of ``u``."""
        cov = (self.vec * ((self.lam + sigma**2) / self.ref)) @ self.vec.T
        return Gaussian(len(self.lam), scale_tril=torch.linalg.cholesky(cov.double()))


def eq5(model, x, eps, sigma, create_graph=True):
    """Eq. 5 in its dimensionless form (``skdde._loss``), sigma per point."""
    y = (x + sigma[:, None] * eps).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(y, sigma).sum(), y, create_graph=create_graph)
    return (sigma[:, None] * grad + eps).square().mean(-1).mean()


def log_uniform(n, generator):
    r = torch.rand(n, generator=generator)
    return SIGMA_LOW * (SIGMA_HIGH / SIGMA_LOW) ** r


def fit(train, seed=0):
    """The trained model and its epochs; early stopping on the held-out Eq. 5 loss."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    n_val = int(math.ceil(0.1 * len(train)))  # DDEDensity's validation_fraction
    idx = torch.randperm(len(train), generator=generator)
    x_all = torch.tensor(train, dtype=torch.float32)
    x, x_hold = x_all[idx[n_val:]], x_all[idx[:n_val]]
    model = NoiseConditional(x.numpy())
    batch, epochs = training_budget(len(x))
    per_epoch = math.ceil(len(x) / batch)
    eps_hold = torch.randn(x_hold.shape, generator=generator)
    sigma_hold = log_uniform(len(x_hold), generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    best, best_state, stall, step = math.inf, None, 0, 0
    for epoch in range(epochs):
        for b in torch.randperm(len(x), generator=generator).split(batch):
            for group in optimizer.param_groups:
                group["lr"] = 1e-3 * learning_rate_factor("cosine", step / (epochs * per_epoch))
            xb = x[b]
            loss = eq5(model, xb, torch.randn(xb.shape, generator=generator),
                       log_uniform(len(xb), generator))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
        held = float(eq5(model, x_hold, eps_hold, sigma_hold, create_graph=False))
        stall = stall + 1 if held > best - 1e-4 else 0
        if held < best:
            best, best_state = held, {k: v.clone() for k, v in model.state_dict().items()}
        if stall >= PATIENCE:
            break
    model.load_state_dict(best_state)
    return model.eval(), epoch + 1


def log_normalizer(model, sigma, generator):
    """log Z of ``u -> s(u, sigma)`` as ``normalizer="auto"`` would, Gaussian-based."""
    proposal = model.proposal(sigma)

    def target(u):
        return model.whitened(u, torch.full((len(u),), sigma))

    est = importance_sampling(target, proposal, N_IMPORTANCE, 8, generator)
    if not est.reliable:
        est = annealed_importance_sampling(target, proposal, AIS_CHAINS, AIS_TEMPERATURES, 8,
                                           generator)
    return est


def run(name):
    train, val = compare.train_and_validation(name)
    start = time.perf_counter()
    model, epochs = fit(train)
    seconds = time.perf_counter() - start
    print(f"\n{name}: {len(train)} train / {len(val)} validation rows; noise-conditional "
          f"{epochs} epochs in {seconds:.0f} s; DDEDensity at its defaults")
    head = f"{'val ll':>9s} {'log Z by':>8s} {'ESS':>7s} {'k-hat':>5s} {'':>2s}"
    print(f"  {'sigma':>5s}   noise-cond. {head} {'s':>5s}   DDEDensity {head} {'fit s':>5s}")
    x_val = torch.tensor(val, dtype=torch.float32)
    for sigma in SIGMAS:
        start = time.perf_counter()
        est = log_normalizer(model, sigma, torch.Generator().manual_seed(1))
        with torch.no_grad():
            s = model(x_val, torch.full((len(x_val),), sigma)).double().mean().item()
        ll = s - est.log_z + model.log_det_whitening
        ok = "ok" if est.reliable else "--"
        print(f"  {sigma:5.2f}   {ll:20.3f} {est.method:>8s} {est.ess:7.0f} {est.khat:5.2f} "
              f"{ok:>2s} {time.perf_counter() - start:5.0f}   "
              f"{dde_row(train, val, sigma, max_iter='auto')[0]}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    compare.add_fashion_mnist_argument(parser)
    parser.add_argument("data", nargs="*", help="name prefixes (default: the real data sets)")
    args = parser.parse_args()
    compare.FASHION_MNIST_HOME = args.fashion_mnist
    torch.set_num_threads(1)
    real = [n for n in compare.DATA if n.split()[0] in
            ("wine", "breast_cancer", "digits", "fashion_mnist_pca")]
    print(f"torch {torch.__version__}, 1 thread; sigma per point log-uniform in "
          f"[{SIGMA_LOW}, {SIGMA_HIGH}]")
    compare.for_each(real, args.data, run)


if __name__ == "__main__":
    main()
