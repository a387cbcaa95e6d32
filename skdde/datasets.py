"""Toy data sets of the DDE paper, with exact (smoothed) log-densities where they exist.

The ``make_*`` functions return arrays, as ``sklearn.datasets`` does. Mixtures of
Gaussians are also available as :class:`GaussianMixtureDensity` objects, whose
``log_density(X, sigma)`` is the exact log-density of the mixture convolved with
``N(0, sigma^2 I)``: the quantity a DDE at that ``sigma`` estimates.

``load_fashion_mnist`` and ``load_tabular`` read benchmark data from local files;
nothing in this module downloads.
"""

import gzip
import math
import struct
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.datasets import make_moons as _sk_make_moons
from sklearn.utils import check_random_state

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


#: Where Debian's ``dataset-fashion-mnist`` package puts the files.
FASHION_MNIST_HOME = "/usr/share/datasets/fashion-mnist"


def _read_idx(path):
    """An IDX file (the MNIST format), gzipped or not, as an ndarray."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        magic = f.read(4)
        if len(magic) != 4 or magic[:2] != b"\0\0" or magic[2] != 0x08:
            raise ValueError(f"{path} is not an IDX file of unsigned bytes.")
        shape = struct.unpack(f">{magic[3]}I", f.read(4 * magic[3]))
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != math.prod(shape):
        raise ValueError(f"{path} holds {data.size} values, its header says {shape}.")
    return data.reshape(shape)


def load_fashion_mnist(subset="train", *, data_home=None):
    """Fashion-MNIST images and labels from local files; nothing is downloaded.

    Reads the four ``*-idx?-ubyte(.gz)`` files of the original distribution, as
    Debian's ``dataset-fashion-mnist`` package installs them
    (``apt install dataset-fashion-mnist``).

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        The 60,000 training or the 10,000 test images.
    data_home : str or path-like, default=None
        Folder of the files; ``None`` means :data:`FASHION_MNIST_HOME`.

    Returns
    -------
    X : ndarray of shape (n_images, 784), dtype uint8
        Pixel values in 0-255, rows of 28 x 28 images.
    y : ndarray of shape (n_images,), dtype uint8
        Class labels 0-9.

    Raises
    ------
    FileNotFoundError
        When the files are not there; the message says how to get them.

    Examples
    --------
    >>> from skdde.datasets import load_fashion_mnist
    >>> try:
    ...     X, y = load_fashion_mnist("test")
    ... except FileNotFoundError:
    ...     X, y = np.zeros((10000, 784), np.uint8), np.zeros(10000, np.uint8)
    >>> X.shape, y.shape
    ((10000, 784), (10000,))
    """
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}.")
    home = Path(FASHION_MNIST_HOME if data_home is None else data_home)
    prefix = "train" if subset == "train" else "t10k"
    paths = []
    for kind in ("images-idx3", "labels-idx1"):
        found = [p for p in (home / f"{prefix}-{kind}-ubyte.gz", home / f"{prefix}-{kind}-ubyte")
                 if p.exists()]
        if not found:
            raise FileNotFoundError(
                f"No {prefix}-{kind}-ubyte(.gz) in {home}. Install Debian's "
                "dataset-fashion-mnist package (apt install dataset-fashion-mnist) or "
                "pass data_home= a folder holding the files of "
                "https://github.com/zalandoresearch/fashion-mnist."
            )
        paths.append(found[0])
    images, labels = map(_read_idx, paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{paths[0]} and {paths[1]} do not hold matching images and labels.")
    return images.reshape(len(images), -1), labels


#: The five data sets of the tabular benchmark (Papamakarios et al., 2017), as the
#: DDE paper uses them: the file each is read from, relative to ``data_home``.
TABULAR_FILES = {
    "power": "power/data.npy",
    "gas": "gas/ethylene_CO.pickle",
    "hepmass": "hepmass",
    "miniboone": "miniboone/data.npy",
    "bsds300": "BSDS300/BSDS300.hdf5",
}


def _tail_splits(data):
    """The last 10% is test, the last 10% of the rest validation, as published."""
    n_test = int(0.1 * len(data))
    rest, test = data[: len(data) - n_test], data[len(data) - n_test :]
    n_val = int(0.1 * len(rest))
    return rest[: len(rest) - n_val], rest[len(rest) - n_val :], test


def _standardized(train, val, test, reference):
    mean, std = reference.mean(axis=0), reference.std(axis=0)
    return tuple((part - mean) / std for part in (train, val, test))


def _power(path):
    rng = np.random.RandomState(42)
    data = np.load(path)
    rng.shuffle(data)
    n = len(data)
    data = np.delete(np.delete(data, 3, axis=1), 1, axis=1)
    noise = np.hstack([
        0.001 * rng.rand(n, 1),  # global reactive power
        0.01 * rng.rand(n, 1),  # voltage
        rng.rand(n, 3),  # sub-metering, integer watt-hours
        np.zeros((n, 1)),  # time
    ])
    train, val, test = _tail_splits(data + noise)
    return _standardized(train, val, test, np.vstack([train, val]))


def _pandas():
    try:
        import pandas
    except ImportError as error:
        raise ImportError("Reading GAS and HEPMASS needs pandas (pip install pandas).") from error
    return pandas


def _gas(path):
    data = _pandas().read_pickle(path).drop(columns=["Meth", "Eth", "Time"])

    def n_correlated(frame):
        return (frame.corr() > 0.98).to_numpy().sum(axis=1)

    # drop, one at a time, the first column correlated above 0.98 with another
    while np.any(n_correlated(data) > 1):
        data = data.drop(columns=data.columns[np.flatnonzero(n_correlated(data) > 1)[0]])
    data = ((data - data.mean()) / data.std()).to_numpy()
    return _tail_splits(data)


def _hepmass(folder):
    pd = _pandas()
    train, test = (
        pd.read_csv(Path(folder) / f"1000_{part}.csv", index_col=False)
        for part in ("train", "test")
    )
    # signal events only, without the label; the test file has one column more
    train = train[train[train.columns[0]] == 1].drop(columns=train.columns[0])
    test = test[test[test.columns[0]] == 1].drop(columns=test.columns[0])
    test = test.drop(columns=test.columns[-1])
    mean, std = train.mean(), train.std()
    train, test = ((train - mean) / std).to_numpy(), ((test - mean) / std).to_numpy()
    # features whose smallest value recurs more than 5 times are near-discrete
    keep = [j for j, column in enumerate(train.T) if np.sum(column == column.min()) <= 5]
    train, test = train[:, keep], test[:, keep]
    n_val = int(0.1 * len(train))
    return train[: len(train) - n_val], train[len(train) - n_val :], test


def _miniboone(path):
    train, val, test = _tail_splits(np.load(path))
    return _standardized(train, val, test, np.vstack([train, val]))


def _bsds300(path):
    try:
        import h5py
    except ImportError as error:
        raise ImportError("Reading BSDS300 needs h5py (pip install h5py).") from error
    with h5py.File(path, "r") as f:
        return tuple(np.asarray(f[part]) for part in ("train", "validation", "test"))


_TABULAR_READERS = {
    "power": _power,
    "gas": _gas,
    "hepmass": _hepmass,
    "miniboone": _miniboone,
    "bsds300": _bsds300,
}


def load_tabular(name, data_home):
    """One data set of the tabular density-estimation benchmark, split and preprocessed.

    POWER, GAS, HEPMASS, MINIBOONE and BSDS300 in the preprocessed form of
    Papamakarios et al. (2017), the one the DDE paper reports on: the files of
    that paper's data archive, read from a folder the user gives (nothing is
    downloaded), then split and standardized exactly as its code does, so that
    log-likelihoods are comparable with published ones.

    Parameters
    ----------
    name : {"power", "gas", "hepmass", "miniboone", "bsds300"}
        The data set.
    data_home : str or path-like
        The archive's ``data`` folder, holding ``power/data.npy``,
        ``gas/ethylene_CO.pickle``, ``hepmass/1000_{train,test}.csv``,
        ``miniboone/data.npy`` and ``BSDS300/BSDS300.hdf5`` (see
        :data:`TABULAR_FILES`). GAS and HEPMASS need pandas, BSDS300 h5py.

    Returns
    -------
    X_train, X_val, X_test : ndarray of shape (n, d)
        The published splits, as float64. Dimensions: POWER 6,
        GAS 8, HEPMASS 21, MINIBOONE 43, BSDS300 63.

    Raises
    ------
    FileNotFoundError
        When the data set's file is not in ``data_home``.

    Examples
    --------
    >>> import tempfile, os
    >>> from skdde.datasets import load_tabular
    >>> home = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(home, "miniboone"))
    >>> np.save(os.path.join(home, "miniboone", "data.npy"), np.random.rand(1000, 43))
    >>> X_train, X_val, X_test = load_tabular("miniboone", home)
    >>> X_train.shape, X_val.shape, X_test.shape
    ((810, 43), (90, 43), (100, 43))
    """
    if name not in TABULAR_FILES:
        raise ValueError(f"name must be one of {sorted(TABULAR_FILES)}, got {name!r}.")
    path = Path(data_home) / TABULAR_FILES[name]
    needed = [path / "1000_train.csv", path / "1000_test.csv"] if name == "hepmass" else [path]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"{name}: no {', '.join(missing)}. Pass data_home= the 'data' folder of the "
            "preprocessed archive of Papamakarios et al. (2017), "
            "https://zenodo.org/record/1161203 (data.tar.gz)."
        )
    return tuple(np.asarray(part, dtype=np.float64) for part in _TABULAR_READERS[name](path))
