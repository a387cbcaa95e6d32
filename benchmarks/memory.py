"""Peak memory of scoring 10 million rows and of fitting on a memory-mapped file.

Each measurement runs in a fresh process, on one torch thread:

- ``score``: a DDEDensity (default network, a short fit on 10-D data) scores a
  10,000,000 x 10 float64 array (800 MB). Reported: the growth of the peak resident
  set (``ru_maxrss``) over what the process held once the array existed, and rows/s.
- ``fit-memmap`` / ``fit-array``: a DDEDensity is fitted for one epoch on
  2,000,000 x 10 float32 rows (80 MB), once from a ``np.load(mmap_mode="r")`` file
  (streamed one mini-batch at a time) and once from the same rows in memory (copied
  to a tensor). Reported: the growth of the peak anonymous memory (``RssAnon``,
  sampled every 2 ms; file pages the memmap reads are page cache, not the fit's).

    python benchmarks/memory.py            # all three, a few minutes
"""

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
import torch

torch.set_num_threads(1)
MB = 2**20


def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def max_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class PeakAnon:
    """Highest RssAnon seen while the block runs."""

    def __enter__(self):
        self.peak, self._stop = rss_anon(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_anon())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon())


def data(n, d=10, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1.5, size=(4, d))
    out = np.empty((n, d), dtype=dtype)
    for start in range(0, n, 1_000_000):  # in chunks: no float64 temporary of all of it
        stop = min(n, start + 1_000_000)
        k = rng.integers(4, size=stop - start)
        out[start:stop] = means[k] + 0.5 * rng.standard_normal((stop - start, d))
    return out


def quick_model(**kw):
    from skdde import DDEDensity

    return DDEDensity(sigma=0.15, max_iter=kw.pop("max_iter", 20), random_state=0,
                      device="cpu", **kw)


def part_score():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = quick_model().fit(data(20_000, seed=1))
    X = data(10_000_000)
    est.score_samples(X[:100_000])  # warm up
    before = max(max_rss(), rss_anon())
    start = time.perf_counter()
    scores = est.score_samples(X)
    seconds = time.perf_counter() - start
    growth = max_rss() - before
    assert np.isfinite(scores).all()
    print(f"score_samples, 10,000,000 x 10 float64 ({X.nbytes / MB:.0f} MB): "
          f"peak RSS +{growth / MB:.0f} MB (output {scores.nbytes / MB:.0f} MB), "
          f"{len(X) / seconds:,.0f} rows/s")


def part_fit(kind):
    n = 2_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, data(n, dtype=np.float32))
        X = np.load(path, mmap_mode="r") if kind == "memmap" else np.load(path)
        est = quick_model(max_iter=1, batch_size=512, early_stopping=False,
                          training_options=dict(sigma_start=None, n_importance_samples=16384))
        start = time.perf_counter()
        with PeakAnon() as peak, warnings.catch_warnings():
            before = rss_anon()
            warnings.simplefilter("ignore")
            est.fit(X)
        seconds = time.perf_counter() - start
        source = "memmap file" if kind == "memmap" else "array in memory"
        print(f"fit from {source}, {n:,} x 10 float32 ({n * 40 / MB:.0f} MB): "
              f"peak anonymous memory +{(peak.peak - before) / MB:.0f} MB, "
              f"{est.n_steps_} steps in {seconds:.0f} s")


def main():
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for part in ("score", "fit-memmap", "fit-array"):
        subprocess.run([sys.executable, __file__, part], check=True)


if __name__ == "__main__":
    if len(sys.argv) == 1:
        main()
    elif sys.argv[1] == "score":
        part_score()
    else:
        part_fit(sys.argv[1].split("-")[1])
