"""The caller's data as fitting reads it: rows of a split, never copied whole (a
memmap stays on disk), mini-batches moved to the device, and moments in chunks."""

import mmap

import numpy as np
import torch

from ._base import to_tensor

#: Rows per chunk when computing the data's moments.
MOMENT_CHUNK = 65536


def centred_tensor(X, mean, device):
    """``X - mean`` in float64 (keeps precision far from the origin), as a float32
    tensor on ``device``."""
    return to_tensor(np.asarray(X, dtype=np.float64) - mean, device)


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

    def __init__(self, rows, mean, device):
        self.rows, self.mean, self.device = rows, mean, torch.device(device)
        self.shape = rows.shape

    def __getitem__(self, idx):
        return centred_tensor(self.rows[idx.cpu().numpy()], self.mean, self.device)


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
    for s in range(0, n, MOMENT_CHUNK):
        c = np.asarray(X[s : s + MOMENT_CHUNK], np.float64) - mean
        cov += (c * weight[s : s + MOMENT_CHUNK, None]).T @ c
    with np.errstate(over="ignore", invalid="ignore"):
        cov /= total
    if not np.isfinite(cov).all():
        largest = max(np.abs(X[s : s + MOMENT_CHUNK]).max() for s in range(0, n, MOMENT_CHUNK))
        raise ValueError(
            f"X's values are too large (up to {largest:.3g}): their covariance "
            "overflows float64. Rescale X, e.g. with StandardScaler."
        )
    return mean, cov
