"""The caller's data as fitting reads it: rows of a split, never copied whole (a
memmap stays on disk), mini-batches moved to the device, and moments in chunks."""

import math
import mmap

import numpy as np
import torch
from scipy.linalg import solve_triangular

from ._base import to_tensor

#: Rows per chunk when computing the data's moments.
MOMENT_CHUNK = 65536


def centred_tensor(X, mean, device, scale=1.0):
    """``(X - mean) / scale`` in float64 (keeps precision far from the origin), as a
    float32 tensor on ``device``."""
    return to_tensor((np.asarray(X, dtype=np.float64) - mean) / scale, device)


def is_memory_mapped(X):
    """Whether ``X`` is, or is a view of, a memory-mapped file."""
    while X is not None:
        if isinstance(X, (np.memmap, mmap.mmap)):
            return True
        X = getattr(X, "base", None)
    return False


class Rows:
    """Rows ``index`` of the caller's array ``X``, read when indexed: a training
    split that is never copied whole (a memmap stays on disk)."""

    def __init__(self, X, index):
        self.X, self.index = X, index
        self.shape = (len(index), X.shape[1])

    def __len__(self):
        return len(self.index)

    def __getitem__(self, key):
        return self.X[self.index[key]]


class Batches:
    """Mini-batches of :class:`Rows` as a trainer indexes a data tensor:
    ``batches[idx]`` (a tensor of positions) is :func:`centred_tensor` of those
    rows, read only then."""

    def __init__(self, rows, mean, device, scale=1.0):
        self.rows, self.mean, self.device = rows, mean, torch.device(device)
        self.shape, self.scale = rows.shape, scale

    def __getitem__(self, idx):
        return centred_tensor(self.rows[idx.cpu().numpy()], self.mean, self.device, self.scale)


class Mapped:
    """The rows of ``X`` under the affine map ``z = (x - shift) @ A^T``, computed
    when indexed: a memmap stays on disk."""

    def __init__(self, X, shift, A):
        self.X, self.shift, self.A = X, shift, A
        self.shape = X.shape

    def __len__(self):
        return len(self.X)

    def __getitem__(self, key):
        return (np.asarray(self.X[key], dtype=np.float64) - self.shift) @ self.A.T


#: The covariance whitened by :func:`whitening_map` is ridged by this fraction of
#: each feature's variance, so that collinear features keep a finite map.
WHITENING_RIDGE = 1e-6


def whitening_map(X, weight):
    """``(shift, A, A_inv, log|det A|)``: an affine map ``z = (x - shift) @ A^T``
    under which the weighted rows of ``X`` have mean zero and identity covariance.

    ``A_inv`` is the lower Cholesky factor of the covariance, ridged by
    ``WHITENING_RIDGE`` of each feature's variance: rescaling a feature leaves
    ``z`` unchanged. A constant feature keeps unit scale (it centres to zero).
    """
    mean, cov = moments(X, weight)
    variance = np.diag(cov).copy()
    ridge = np.where(variance > 0, WHITENING_RIDGE * variance, 1.0)
    L = np.linalg.cholesky(cov + np.diag(ridge))
    A = solve_triangular(L, np.eye(len(L)), lower=True)
    return mean, A, L, -float(np.log(np.diag(L)).sum())


def moments(X, weight):
    """Weighted mean and (biased) covariance of the rows of ``X``, in float64.

    Two passes over chunks of rows, so a memmap is read, never copied whole. The
    first row is subtracted before averaging: a constant feature centres to
    exactly zero, however large its value.
    """
    n, total = X.shape[0], weight.sum()
    shift = np.asarray(X[0], dtype=np.float64)
    acc = sum(
        weight[s : s + MOMENT_CHUNK] @ (np.asarray(X[s : s + MOMENT_CHUNK], np.float64) - shift)
        for s in range(0, n, MOMENT_CHUNK)
    )
    mean = shift + acc / total
    cov = np.zeros((X.shape[1], X.shape[1]))
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is raised below
        for s in range(0, n, MOMENT_CHUNK):
            c = np.asarray(X[s : s + MOMENT_CHUNK], np.float64) - mean
            cov += (c * weight[s : s + MOMENT_CHUNK, None]).T @ c
        cov /= total
    if not np.isfinite(cov).all():
        largest = max(np.abs(X[s : s + MOMENT_CHUNK]).max() for s in range(0, n, MOMENT_CHUNK))
        raise ValueError(
            f"X's values are too large (up to {largest:.3g}): their covariance "
            "overflows float64. Rescale X, e.g. with StandardScaler."
        )
    return mean, cov


def mean_and_root(X):
    """Mean and symmetric square root of the covariance (floored) of ``X``."""
    mean, cov = moments(X, np.ones(len(X)))
    evals, evecs = np.linalg.eigh(cov)
    evals = np.maximum(evals, 1e-6 * max(evals.max(), 1e-12))
    return mean, (evecs * np.sqrt(evals)) @ evecs.T


def data_scale(X, weight):
    """Root mean square of the features' (weighted) standard deviations."""
    return math.sqrt(np.trace(moments(X, weight)[1]) / X.shape[1])


def resolve_sigma(sigma, X, weight, auto_fraction):
    """``sigma`` as a number: "scott" and "silverman" are the rules of thumb on the
    data's scale (:func:`data_scale`), "auto" is ``auto_fraction`` of that scale
    (the floor sigma="auto" trains from)."""
    if not isinstance(sigma, str):
        return float(sigma)
    # zero-weighted rows are dropped rows: they do not count towards n
    n_samples, n_features = np.count_nonzero(weight), X.shape[1]
    scale = data_scale(X, weight)
    if not scale > 0:
        raise ValueError(
            f"sigma={sigma!r} scales with the data's spread, but every feature of X "
            "is constant; give sigma as a number."
        )
    if sigma == "auto":
        return auto_fraction * scale
    if sigma == "scott":
        factor = n_samples ** (-1 / (n_features + 4))
    else:
        factor = (n_samples * (n_features + 2) / 4) ** (-1 / (n_features + 4))
    return float(factor * scale)


def split_rows(weight, validation_fraction, held_out, rng):
    """Sorted training and validation row indices (no validation rows unless
    ``held_out``), without the zero-weighted rows, which are dropped rows; a clear
    error when too few rows remain on either side."""
    n_samples = len(weight)
    n_val = int(math.ceil(validation_fraction * n_samples)) if held_out else 0
    if n_samples - n_val < 2 or (held_out and n_val < 1):
        raise ValueError(
            f"n_samples={n_samples} is too few: DDEDensity needs at least 2 "
            "training samples, plus validation_fraction of them held out when "
            "early_stopping=True or sigma='auto'."
        )
    perm = rng.permutation(n_samples)
    train, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    train, val = train[weight[train] > 0], val[weight[val] > 0]
    if weight[train].sum() <= 0:
        raise ValueError("sample_weight of the training samples sums to zero.")
    if len(train) < 2:
        raise ValueError(
            "Only one training sample has a positive sample_weight: DDEDensity needs at least 2."
        )
    if held_out and not len(val):
        raise ValueError(
            "sample_weight of the validation samples sums to zero: nothing to judge "
            "early stopping or sigma='auto' by. Drop the zero-weighted rows or raise "
            "validation_fraction."
        )
    return train, val
