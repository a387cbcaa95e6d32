"""DDEGenerator over noise levels against Algorithm 1 at one level, on 2-D toys and digits.

For each data set and each ``levels`` ("all", the default, and "single", the
paper's Algorithm 1) it fits ``DDEGenerator(random_state=0, levels=...)`` with
default settings otherwise (``sigma`` 0.1, the default data DDE's) and judges
2,000 samples of ``DDEGenerator.sample`` (one forward pass) and of the data DDE's
own ``DDEDensity.sample`` (Langevin chains; annealed down the learned levels
with ``levels="all"``), with the rows each draws per second:

- toys (eight Gaussians, two spirals; 5,000 training points): the data's
  k-means cells (k = 8 and 40) that hold at least half their share of the
  samples ("cells held"), the KL divergence of the samples' cell shares to the
  data's, and the share of samples within 0.3 (three times the toys' noise) of
  a training point;
- digits (80% of scikit-learn's digits, pixels divided by 16): a logistic
  regression trained on the same real digits labels the samples. The classes
  holding more than 3% of them, the KL of the class shares to uniform, the mean
  top class probability, and the mean distance to the nearest training digit
  (a generator that memorizes has it near zero), each next to the held-out real
  digits' value. DDEDensity's samples carry noise of std sigma and are clipped
  to [0, 1].

Run ``python benchmarks/generator_levels.py [--data eight spirals digits]
[--levels all single] [--sigma S] [--threads T]``; the committed run is in
``benchmarks/generator_levels_output.txt``.
"""

import argparse
import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdde import DDEGenerator
from skdde.datasets import make_eight_gaussians, make_two_spirals


def _kl(p, q):
    p, q = np.asarray(p), np.maximum(np.asarray(q), 1e-12)
    return float(np.sum(p[p > 0] * np.log(p[p > 0] / q[p > 0])))


def toy_judge(X_train, n_cells):
    """Cells held, KL of the cell shares to the data's, share near a training point."""
    cells = KMeans(n_cells, n_init=4, random_state=0).fit(X_train)
    data_share = np.bincount(cells.labels_, minlength=n_cells) / len(X_train)
    neighbours = NearestNeighbors().fit(X_train)
    header = f"{'cells held':>10s} {'KL cells':>8s} {'near data':>9s}"

    def judge(S):
        share = np.bincount(cells.predict(S), minlength=n_cells) / len(S)
        near = float((neighbours.kneighbors(S, 1)[0][:, 0] < 0.3).mean())
        held = int((share >= 0.5 * data_share).sum())
        return f"{f'{held}/{n_cells}':>10s} {_kl(share, data_share):8.3f} {near:9.3f}"

    return header, judge


def digits_judge(X_train, y_train):
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    neighbours = NearestNeighbors().fit(X_train)
    header = f"{'classes>3%':>10s} {'KL unif':>8s} {'confidence':>10s} {'NN dist':>8s}"
    header += "  class shares"

    def judge(S):
        proba = clf.predict_proba(S)
        share = np.bincount(proba.argmax(1), minlength=10) / len(S)
        distance = neighbours.kneighbors(S, 1)[0].mean()
        return (f"{int((share > 0.03).sum()):10d} {_kl(share, np.full(10, 0.1)):8.3f} "
                f"{proba.max(1).mean():10.3f} {distance:8.3f}  {np.round(share, 2)}")

    return header, judge


def data_set(name):
    """Training rows, a held-out real sample (or None) and the judge."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, _ = train_test_split(X / 16.0, y, test_size=0.2, random_state=0)
        return X_train, X_test, digits_judge(X_train, y_train), (0, 1)
    make, k = {"eight": (make_eight_gaussians, 8), "spirals": (make_two_spirals, 40)}[name]
    X_train, X_test = make(5000, random_state=0), make(2000, random_state=1)
    return X_train, X_test, toy_judge(X_train, k), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["eight", "spirals", "digits"])
    parser.add_argument("--levels", nargs="+", default=["all", "single"])
    parser.add_argument("--sigma", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# python benchmarks/generator_levels.py --data {' '.join(args.data)} --levels "
          f"{' '.join(args.levels)}" + (f" --sigma {args.sigma}" if args.sigma else "")
          + f"   (torch threads: {args.threads})")
    for name in args.data:
        X_train, X_test, (header, judge), clip = data_set(name)
        print(f"\n## {name}: {X_train.shape[0]} training rows, {X_train.shape[1]} features")
        print(f"{'samples':34s} {'rows/s':>8s} {header}")
        print(f"{'real held-out data':34s} {'':>8s} {judge(X_test)}")
        for levels in args.levels:
            start = time.perf_counter()
            gen = DDEGenerator(random_state=0, levels=levels, sigma=args.sigma).fit(X_train)
            seconds = time.perf_counter() - start
            samplers = {
                "DDEGenerator.sample": gen.sample,
                "DDEDensity.sample": gen.density_.sample,
            }
            for sampler, sample in samplers.items():
                start = time.perf_counter()
                S = sample(2000, random_state=1)
                rate = len(S) / (time.perf_counter() - start)
                S = S if clip is None else np.clip(S, *clip)
                print(f"{f'{sampler} levels={levels!r}':34s} {rate:8.0f} {judge(S)}")
            print(f"{'':34s} (fit {seconds:.0f} s, sigma_ {gen.sigma_:.3g})")


if __name__ == "__main__":
    main()
