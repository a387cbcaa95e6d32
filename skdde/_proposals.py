"""Proposal densities for importance sampling, AIS and MCMC starts.

Each proposal samples float32 points (the networks' dtype) on its own device and
evaluates its normalized log-density in float64, differentiably in ``z``;
``value_and_grad(z)`` gives the log-density with its gradient in closed form (AIS
needs it at every temperature; by autograd it took 5.9 s of a 15 s AIS run on
32-D data).
"""

import math

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

#: The data's mixture proposal: at most this many components (and at least 5 d
#: rows each), plus the moment-matched Gaussian with this weight, which bounds the
#: importance weights by 1 / weight times the Gaussian's (whose variance is finite
#: for every network).
MIXTURE_COMPONENTS = 10
DEFENSIVE_WEIGHT = 0.1
#: A mixture that is the multi-level model's base (level_base="mixture"): its
#: number of components searched among powers of two up to this (and 5 d rows
#: each); memory while scoring grows with it.
BASE_MAX_COMPONENTS = 64


class Gaussian:
    """``N(mean, L L^T)``; the standard normal when both are omitted.

    Parameters
    ----------
    n_features : int
        Dimension.
    mean : Tensor of shape (d,), default=None
        Zero when omitted.
    scale_tril : Tensor of shape (d, d), default=None
        Lower-triangular Cholesky factor ``L`` of the covariance; identity when
        omitted.
    device : str or torch.device, default="cpu"
    """

    def __init__(self, n_features, mean=None, scale_tril=None, device="cpu"):
        self.n_features = n_features
        kw = dict(dtype=torch.float64, device=device)
        self.mean = torch.zeros(n_features, **kw) if mean is None else torch.as_tensor(mean, **kw)
        self.scale_tril = None if scale_tril is None else torch.as_tensor(scale_tril, **kw)
        log_det = 0.0
        if self.scale_tril is not None:
            log_det = float(torch.log(torch.diagonal(self.scale_tril)).sum())
        self._log_norm = 0.5 * n_features * math.log(2 * math.pi) + log_det

    @property
    def device(self):
        return self.mean.device

    def sample(self, n, generator):
        eps = torch.randn(n, self.n_features, generator=generator, device=self.device)
        z = eps.double() if self.scale_tril is None else eps.double() @ self.scale_tril.T
        return (z + self.mean).float()

    def _standardized(self, z):
        """``L^-1 (z - mean)``, transposed: shape ``(d, n)``."""
        r = (z.double() - self.mean).T
        if self.scale_tril is None:
            return r
        return torch.linalg.solve_triangular(self.scale_tril, r, upper=False)

    def log_prob(self, z):
        return -0.5 * self._standardized(z).square().sum(0) - self._log_norm

    def value_and_grad(self, z):
        """``(log_prob(z), grad_z log_prob(z))``, the gradient ``-Sigma^-1 (z - mean)``."""
        w = self._standardized(z)
        if self.scale_tril is not None:
            w_grad = torch.linalg.solve_triangular(self.scale_tril.T, w, upper=True)
        else:
            w_grad = w
        return -0.5 * w.square().sum(0) - self._log_norm, -w_grad.T.to(z.dtype)


class Mixture:
    """A finite mixture of proposals, e.g. Gaussians plus a defensive component.

    Parameters
    ----------
    components : list of proposals
        Objects with ``sample(n, generator)`` and ``log_prob(z)``, on one device.
    weights : sequence of float
        Mixing weights; normalized here.
    """

    def __init__(self, components, weights):
        self.components = list(components)
        self.n_features = self.components[0].n_features
        w = torch.as_tensor(weights, dtype=torch.float64, device=self.device)
        self.log_weights = torch.log(w / w.sum())

    @property
    def device(self):
        return self.components[0].device

    def sample(self, n, generator):
        counts = torch.bincount(
            torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator),
            minlength=len(self.components),
        ).tolist()
        z = torch.cat([c.sample(k, generator) for c, k in zip(self.components, counts)])
        # shuffle so that batches of the output are draws from the whole mixture
        return z[torch.randperm(n, generator=generator, device=self.device)]

    def log_prob(self, z):
        parts = torch.stack([c.log_prob(z) for c in self.components], -1)
        return torch.logsumexp(parts + self.log_weights, -1)

    def value_and_grad(self, z):
        """``(log_prob(z), grad_z log_prob(z))``: the components' gradients weighted by
        their responsibilities, accumulated one component at a time (memory
        ``O(n d)``, not ``O(n d K)``)."""
        log_total = grad = None
        for component, log_weight in zip(self.components, self.log_weights):
            value, g = component.value_and_grad(z)
            value, g = value + log_weight, g.double()
            if log_total is None:
                log_total, grad = value, g
                continue
            new = torch.logaddexp(log_total, value)
            grad = grad * torch.exp(log_total - new)[:, None] + g * torch.exp(value - new)[:, None]
            log_total = new
        return log_total, grad.to(z.dtype)


def fit_mixture(u, random_state, search=False, validation=None):
    """A full-covariance GaussianMixture of whitened rows ``u``, as plain arrays
    (``weights``, ``means``, ``covariances``) that pickle without sklearn objects.

    ``MIXTURE_COMPONENTS`` components (at most ``n // (5 d)``), or with ``search``
    the best of 1, 2, 4, ... up to ``BASE_MAX_COMPONENTS``, stopping at the first
    that is no better than the one before: by the weighted mean log-likelihood of
    the ``validation`` rows and weights, or, without them, by BIC.
    """
    n, d = u.shape
    most = max(1, n // (5 * d))
    sizes = [min(MIXTURE_COMPONENTS, most)]
    if search:
        sizes = [2**k for k in range(int(math.log2(min(BASE_MAX_COMPONENTS, most))) + 1)]
    best = None
    for k in sizes:
        gmm = GaussianMixture(k, covariance_type="full", random_state=random_state).fit(u)
        if validation is not None:
            loss = -np.average(gmm.score_samples(validation[0]), weights=validation[1])
        else:
            loss = gmm.bic(u) if search else 0.0
        if best is not None and loss >= best[0]:
            break
        best = (loss, gmm)
    gmm = best[1]
    return dict(weights=gmm.weights_, means=gmm.means_, covariances=gmm.covariances_)


def moment_matched(eigh, base_sigma, sigma, power=1):
    """Covariance (``power=-1``: precision) of the data smoothed by ``sigma``,
    ``W (Cov + sigma^2 I) W``, in the units whitened at ``base_sigma`` (the
    identity at ``sigma = base_sigma``); ``eigh`` holds the data covariance's
    eigenvalues and eigenvectors."""
    evals, evecs = eigh
    ratio = (evals + sigma**2) / (evals + base_sigma**2)
    return (evecs * ratio**power) @ evecs.T


def smoothed_proposal(method, sigma, eigh, base_sigma, whitening, mixture, device):
    """The proposal ``method`` ("gaussian" or "mixture") for the data smoothed by
    ``sigma``, in whitened units: the moment-matched Gaussian, or the data's
    ``mixture`` (:func:`fit_mixture`) widened by the noise plus that Gaussian."""
    d = len(eigh[0])
    base = Gaussian(d, device=device)
    if sigma != base_sigma:
        tril = np.linalg.cholesky(moment_matched(eigh, base_sigma, sigma))
        base = Gaussian(d, scale_tril=tril, device=device)
    if method == "gaussian":
        return base
    noise = sigma**2 * whitening @ whitening.T
    trils = np.linalg.cholesky(mixture["covariances"] + noise)
    parts = [Gaussian(d, m, L, device=device) for m, L in zip(mixture["means"], trils)]
    weights = list((1 - DEFENSIVE_WEIGHT) * mixture["weights"]) + [DEFENSIVE_WEIGHT]
    return Mixture(parts + [base], weights)
