"""Benchmark data read from local files: Fashion-MNIST and the tabular protocol.

Re-exported by :mod:`skdde.datasets`; kept apart from its toy generators because
these only parse and preprocess files. Nothing here downloads.
"""

import gzip
import math
import struct
from pathlib import Path

import numpy as np

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
