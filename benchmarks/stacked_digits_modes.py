"""
Mode counting on stacked digits (the paper's Fig. 5, in small)
==============================================================

Three 8x8 digits stacked as channels make a 192-D point whose "mode" is one of
1000 classes (000 to 999). A classifier trained on single real digits labels
each channel of a generated point, and we count

- the distinct modes in a batch of 512 samples (real data: about 400 of the 512
  draws hit distinct classes out of 1000), and
- the KL divergence from the class distribution of 10,240 samples to uniform
  (real data give a small positive value from finite sampling alone),

for the training data itself, :class:`skdde.DDEGenerator` over all noise levels
(``levels="all"``, against a multi-level data DDE) and at one level (Algorithm 1
of the paper), samples of a ``GaussianMixture`` (components by BIC among a few)
and each generator's data DDE's own samples (:meth:`skdde.DDEDensity.sample`).
Writes ``stacked_digits_modes.png``.

Run ``python benchmarks/stacked_digits_modes.py`` (``--quick`` for a smoke run); its
output is in ``benchmarks/stacked_digits_modes_output.txt``. It is kept with the
benchmarks, not in the gallery: a full run took about 25 minutes on one thread, far
longer than an example may.
"""

# %%
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdde import DDEDensity, DDEGenerator

torch.set_num_threads(1)
quick = "--quick" in sys.argv
digits, labels = load_digits(return_X_y=True)
digits = digits / 16.0
clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(digits, labels)

rng = np.random.default_rng(0)
n_train = 2048 if quick else 10240  # whole 512-sample batches
idx = rng.integers(len(digits), size=(n_train, 3))
X = digits[idx].reshape(n_train, 192)


def modes(samples):
    """Class 0-999 of each stacked sample, by the single-digit classifier."""
    channels = np.clip(samples, 0, 1).reshape(-1, 3, 64)
    digit = [clf.predict(channels[:, c]) for c in range(3)]
    return 100 * digit[0] + 10 * digit[1] + digit[2]


def report(name, samples, seconds):
    m = modes(samples)
    per_batch = np.mean([len(np.unique(b)) for b in np.array_split(m, len(m) // 512)])
    share = np.bincount(m, minlength=1000) / len(m)
    kl = float(np.sum(share[share > 0] * np.log(1000 * share[share > 0])))
    print(f"{name:>22} {per_batch:>18.1f} {kl:>14.3f} {seconds:>9.0f}")
    return per_batch, kl


n_samples = n_train
print(f"{'':>22} {'modes / 512 batch':>18} {'KL to uniform':>14} {'seconds':>9}")
results = {"training data": report("training data", X[:n_samples], 0)}

# %%
gens = {}
for levels in ("all", "single"):
    start = time.perf_counter()
    density = DDEDensity(
        sigma=0.1, levels=levels, random_state=0, max_iter=5 if quick else "auto"
    )
    gen = DDEGenerator(
        density=density,
        latent_dim=16,
        output_activation="sigmoid",
        max_iter=30 if quick else 3000,
        random_state=0,
    ).fit(X)
    samples = gen.sample(n_samples, random_state=1)
    name = f"DDEGenerator {levels}"
    results[name] = report(name, samples, time.perf_counter() - start)
    gens[levels] = gen

start = time.perf_counter()
gmms = [
    GaussianMixture(k, covariance_type="full", reg_covar=1e-3, random_state=0).fit(X)
    for k in ((1, 4) if quick else (1, 4, 16))
]
gmm = min(gmms, key=lambda g: g.bic(X))
samples = gmm.sample(n_samples)[0]
name = f"GaussianMixture({gmm.n_components})"
results[name] = report(name, samples, time.perf_counter() - start)

for levels, gen in gens.items():
    start = time.perf_counter()
    samples = gen.density_.sample(n_samples, random_state=1)
    name = f"DDEDensity {levels}"
    results[name] = report(name, samples, time.perf_counter() - start)
print("(DDEDensity rows: sampling time only, of each generator's own data DDE: annealed")
print(" Langevin down the levels for levels='all', MALA at sigma for 'single'.)")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(results)
ax.bar(names, [results[n][0] for n in names])
ax.set_ylabel("distinct modes per 512 samples")
ax.tick_params(axis="x", rotation=20)
fig.savefig("stacked_digits_modes.png", dpi=120, bbox_inches="tight")
print("wrote stacked_digits_modes.png")
