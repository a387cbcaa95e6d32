"""Toy data sets of the DDE paper, with exact (smoothed) log-densities where they exist.

The ``make_*`` functions return arrays, as ``sklearn.datasets`` does. Mixtures of
Gaussians are also available as :class:`GaussianMixtureDensity` objects, whose
``log_density(X, sigma)`` is the exact log-density of the mixture convolved with
``N(0, sigma^2 I)``: the quantity a DDE at that ``sigma`` estimates.

``load_fashion_mnist`` and ``load_tabular`` read benchmark data from local files;
nothing downloads. They live in ``_files.py``, apart from the generators.
"""

import numpy as np
from scipy.special import logsumexp
from sklearn.datasets import make_moons as _sk_make_moons
from sklearn.utils import check_random_state

from ._files import FASHION_MNIST_HOME, TABULAR_FILES, load_fashion_mnist, load_tabular

__all__ = [
    "FASHION_MNIST_HOME",
    "GaussianMixtureDensity",
    "TABULAR_FILES",
    "eight_gaussians",
    "eight_gaussians_1d",
    "load_fashion_mnist",
    "load_tabular",
    "make_checkerboard",
    "make_eight_gaussians",
    "make_moons",
    "make_rings",
    "make_two_spirals",
    "random_gaussian_mixture",
    "rotated_gaussian",
]


class GaussianMixtureDensity:
    """A mixture of Gaussians with exact sampling and smoothed log-densities.

    Parameters
    ----------
    means : array-like of shape (n_components, n_features)
        Component means.
    covariances : array-like of shape (n_components, n_features, n_features)
        Component covariance matrices.
    weights : array-like of shape (n_components,), default=None
        Mixture weights; equal when ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdde.datasets import GaussianMixtureDensity
    >>> g = GaussianMixtureDensity(np.zeros((1, 2)), np.eye(2)[None])
    >>> round(float(g.log_density(np.zeros((1, 2)), sigma=0.0)[0]), 4)
    -1.8379
    """

    def __init__(self, means, covariances, weights=None):
        self.means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        k, d = self.means.shape
        self.covariances = np.asarray(covariances, dtype=np.float64).reshape(k, d, d)
        w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()

    @property
    def n_features(self):
        return self.means.shape[1]

    def sample(self, n_samples, random_state=None):
        """Draw ``n_samples`` points; returns an ndarray (n_samples, n_features)."""
        rng = check_random_state(random_state)
        comp = rng.choice(len(self.weights), size=n_samples, p=self.weights)
        chol = np.linalg.cholesky(self.covariances)
        noise = rng.standard_normal((n_samples, self.n_features))
        return self.means[comp] + np.einsum("nij,nj->ni", chol[comp], noise)

    def log_density(self, X, sigma=0.0):
        """Exact log-density of the mixture convolved with ``N(0, sigma^2 I)``."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        d = self.n_features
        cov = self.covariances + sigma**2 * np.eye(d)
        chol = np.linalg.cholesky(cov)
        log_det = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(-1)
        comps = []
        for mean, L, ld, w in zip(self.means, chol, log_det, self.weights):
            z = np.linalg.solve(L, (X - mean).T)
            maha = np.square(z).sum(0)
            comps.append(np.log(w) - 0.5 * (maha + ld + d * np.log(2 * np.pi)))
        return logsumexp(np.stack(comps), axis=0)


def _isotropic(means, std):
    means = np.asarray(means, dtype=np.float64)
    d = means.shape[1]
    return GaussianMixtureDensity(means, np.repeat(std**2 * np.eye(d)[None], len(means), 0))


def eight_gaussians(radius=2.0, std=0.1):
    """Eight equal Gaussians evenly spaced on a circle (the paper's 2-D toy).

    Returns
    -------
    GaussianMixtureDensity
    """
    angles = 2 * np.pi * np.arange(8) / 8
    return _isotropic(radius * np.c_[np.cos(angles), np.sin(angles)], std)


def eight_gaussians_1d(spacing=2.0, std=0.25):
    """Eight equal 1-D Gaussians centred at ``spacing * (k - 3.5)``, k = 0..7.

    Returns
    -------
    GaussianMixtureDensity
    """
    return _isotropic(spacing * (np.arange(8) - 3.5)[:, None], std)


def random_gaussian_mixture(n_components=4, n_features=10, *, std=0.5, spread=1.5, random_state=0):
    """Equal isotropic Gaussians with means drawn from ``N(0, spread^2 I)``.

    With the defaults, the 10-D truth case of the test suite: four Gaussians of
    std 0.5, means ~ N(0, 1.5^2 I).

    Returns
    -------
    GaussianMixtureDensity

    Examples
    --------
    >>> from skdde.datasets import random_gaussian_mixture
    >>> random_gaussian_mixture().means.shape
    (4, 10)
    """
    rng = check_random_state(random_state)
    return _isotropic(rng.normal(0, spread, size=(n_components, n_features)), std)


def rotated_gaussian(n_features=20, *, scales=(0.1, 10.0), shift=5.0, random_state=0):
    """A Gaussian with a random rotation, log-spaced scales and a shifted mean.

    The standard deviations along the rotated axes run log-evenly from
    ``scales[0]`` to ``scales[1]``; the mean is drawn from ``N(0, shift^2 I)``.
    With the defaults, the 20-D truth case of the test suite: badly conditioned
    (condition number 10^4) and far from the origin.

    Returns
    -------
    GaussianMixtureDensity

    Examples
    --------
    >>> from skdde.datasets import rotated_gaussian
    >>> rotated_gaussian().covariances.shape
    (1, 20, 20)
    """
    rng = check_random_state(random_state)
    rot, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    std = np.geomspace(scales[0], scales[1], n_features)
    cov = (rot * std**2) @ rot.T
    return GaussianMixtureDensity(rng.normal(0, shift, size=(1, n_features)), cov[None])


def make_eight_gaussians(n_samples=1000, *, radius=2.0, std=0.1, random_state=None):
    """Sample the 2-D eight-Gaussians toy; see :func:`eight_gaussians`.

    Examples
    --------
    >>> from skdde.datasets import make_eight_gaussians
    >>> make_eight_gaussians(10, random_state=0).shape
    (10, 2)
    """
    return eight_gaussians(radius, std).sample(n_samples, random_state)


def make_two_spirals(n_samples=1000, *, noise=0.1, random_state=None):
    """Two interleaved spirals, scaled to roughly [-4, 4]^2.

    Examples
    --------
    >>> from skdde.datasets import make_two_spirals
    >>> make_two_spirals(10, random_state=0).shape
    (10, 2)
    """
    rng = check_random_state(random_state)
    t = np.sqrt(rng.uniform(size=n_samples)) * 3 * np.pi
    sign = np.where(rng.uniform(size=n_samples) < 0.5, 1.0, -1.0)
    X = sign[:, None] * np.c_[t * np.cos(t), t * np.sin(t)] / 2.5
    return X + noise * rng.standard_normal(X.shape)


def make_checkerboard(n_samples=1000, *, random_state=None):
    """Uniform on the dark squares of a 4 x 4 checkerboard on [-4, 4]^2.

    Examples
    --------
    >>> from skdde.datasets import make_checkerboard
    >>> make_checkerboard(10, random_state=0).shape
    (10, 2)
    """
    rng = check_random_state(random_state)
    x1 = rng.uniform(-2, 2, size=n_samples)
    x2 = rng.uniform(0, 1, size=n_samples) - 2 * rng.randint(0, 2, size=n_samples)
    x2 += np.floor(x1) % 2
    return 2 * np.c_[x1, x2]


def make_rings(n_samples=1000, *, noise=0.08, random_state=None):
    """Four concentric rings of radii 1 to 4, points spread evenly by length.

    Examples
    --------
    >>> from skdde.datasets import make_rings
    >>> make_rings(10, random_state=0).shape
    (10, 2)
    """
    rng = check_random_state(random_state)
    radii = np.arange(1, 5)
    r = rng.choice(radii, size=n_samples, p=radii / radii.sum()).astype(float)
    theta = rng.uniform(0, 2 * np.pi, size=n_samples)
    X = r[:, None] * np.c_[np.cos(theta), np.sin(theta)]
    return X + noise * rng.standard_normal(X.shape)


def make_moons(n_samples=1000, *, noise=0.05, random_state=None):
    """sklearn's two moons without labels.

    Examples
    --------
    >>> from skdde.datasets import make_moons
    >>> make_moons(10, random_state=0).shape
    (10, 2)
    """
    X, _ = _sk_make_moons(n_samples, noise=noise, random_state=random_state)
    return X
