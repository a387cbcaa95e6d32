"""Training and scoring speed of DDEDensity's default network, against the machine.

Training: one denoising step (Eq. 5, double backpropagation) of the default energy
(3 x 128 residual Softplus MLP on a Gaussian base) at d = 10, batch 512. Reported in
steps/s (median of 5 repeats, taken round robin) for

- ``plain``: a loop in the style of the reference code: ``autograd.grad(...,
  create_graph=True)`` per step, torch's default Adam, one ``.item()`` per step;
- ``+ hand-written gradient``: the same loop with the energy's own input gradient
  (``value_and_grad``) in place of autograd's double backward;
- ``+ fused Adam, no .item()``: and torch's fused Adam, no host sync per step;
- ``skdde train()``: the package's training loop (mini-batch epochs, learning-rate
  schedule, the per-step non-finite check);
- ``torch.compile of the loss``: the hand-written loss compiled by inductor
  (compile time reported apart);
- ``skdde train(compile=True)``: the package's loop with ``compile=True`` (its
  first, compiling, run is not timed; the compile time printed is the first
  run's time less the second's);

Each is also given as a share of the roofline: the step's matmul FLOPs (counted by
torch's FLOP counter on the plain step) at the machine's measured matmul rate for
the step's largest shape (512 x 128 x 128). A profile of the fused step, and one of
scoring, then say where the time goes: the share in matmul kernels and their
rate, and the costliest other ops (the roofline share is the matmul share times
the in-step matmul rate over the peak, so the other ops cap it).

Scoring: ``DDEDensity.score_samples`` rows/s on 1,000,000 x 10 rows, and
``KernelDensity.score_samples`` (Scott's bandwidth) against n_train = 1e4, 1e5, 1e6
on 1,000 rows, next to a DDE fitted (one epoch) on the same rows: a KDE's cost grows
with n_train, a DDE's does not.

Multi-level step (``--levels``): ``skdde train()`` steps/s of the default
``DDEDensity`` against ``DDEDensity(levels="all")``'s, whose step computes both
objectives (the denoising score in x and the time score in t, one double
backward), at the same d, batch and network width.

    python benchmarks/speed.py                 # threads 1 and 2, CPU, ~10 minutes
    python benchmarks/speed.py --threads 1 --device cuda
    python benchmarks/speed.py --threads 1 --levels
"""

import argparse
import copy
import functools
import math
import time
import warnings

import numpy as np
import sklearn
import torch
from sklearn.neighbors import KernelDensity
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import flop_registry

from skdde import DDEDensity
from skdde._levels import DualScoreObjective
from skdde._loss import denoising_loss
from skdde._train import adam, train

B, D, SIGMA, HIDDEN = 512, 10, 0.3, 128
warnings.simplefilter("ignore")


def median_rate(run, count, repeats=3):
    """``count`` per second of ``run()``, the median of ``repeats`` timings."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return count / float(np.median(times))


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class _CountFlops(TorchDispatchMode):
    """Matmul FLOPs of every op run inside, by torch's own FLOP formulas."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            shape = lambda t: t.shape if isinstance(t, torch.Tensor) else t  # noqa: E731
            self.total += count(*tree_map(shape, args), **tree_map(shape, kwargs),
                                out_val=tree_map(shape, out))
        return out


def loop(module, x, *, hand_written, fused, item, compiled=False):
    """A ``run(steps)`` closure: the plain training loop with the chosen parts."""
    optimizer = adam(module.parameters(), 1e-3) if fused else torch.optim.Adam(
        module.parameters(), lr=1e-3)
    g = torch.Generator(x.device).manual_seed(0)

    def autograd_loss(m, xb, eps):
        y = (xb + SIGMA * eps).requires_grad_(True)
        (grad,) = torch.autograd.grad(m(y).sum(), y, create_graph=True)
        return (SIGMA * grad + eps).square().mean()

    def own_loss(m, xb, eps):
        return denoising_loss(m, xb, eps, SIGMA)

    loss_fn = own_loss if hand_written else autograd_loss
    if compiled:
        loss_fn = torch.compile(loss_fn)

    def run(steps):
        for _ in range(steps):
            idx = torch.randint(len(x), (B,), generator=g, device=x.device)
            eps = torch.randn(B, D, generator=g, device=x.device)
            loss = loss_fn(module, x[idx], eps)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if item:
                loss.item()

    return run


def training(energy, device, steps, repeats=5):
    x = torch.randn(B * 40, D, device=device)
    w = torch.ones(len(x), device=device)
    counter = _CountFlops()
    with counter:
        loop(copy.deepcopy(energy), x, hand_written=False, fused=False, item=True)(1)
    flops = counter.total
    matmul = matmul_rate(device)
    print(f"  step: {flops / 1e6:.0f} MFLOP in matmuls ({flops / B / 1e3:.0f} kFLOP per "
          f"sample, {flops / (2 * B * sum_forward(energy)):.1f} forward passes); "
          f"matmul {matmul / 1e9:.0f} GFLOP/s -> roofline {matmul / flops:.0f} steps/s")
    variants = {
        "plain (reference style)": dict(hand_written=False, fused=False, item=True),
        "+ hand-written gradient": dict(hand_written=True, fused=False, item=True),
        "+ fused Adam, no .item()": dict(hand_written=True, fused=True, item=False),
        "torch.compile of the loss": dict(hand_written=True, fused=True, item=False,
                                          compiled=True),
    }
    runs = {name: loop(copy.deepcopy(energy), x, **kw) for name, kw in variants.items()}
    for name, run in runs.items():
        start = time.perf_counter()
        run(10)  # warm up; compiles the compiled one
        if "compile" in name:
            print(f"  (compiling took {time.perf_counter() - start:.0f} s)")
    epochs = math.ceil(steps / 40)

    def package(compile):
        module = copy.deepcopy(energy)

        def run():
            train(module, x, w, None, None, sigmas=[SIGMA] * epochs, batch_size=B,
                  learning_rate_init=1e-3, learning_rate="constant", early_stopping=False,
                  n_iter_no_change=epochs + 1, tol=0.0, compile=compile,
                  generator=torch.Generator(device).manual_seed(0))

        return run

    compiling, durations = package(True), []
    for _ in range(2):  # the first run compiles; later ones reuse its graphs
        start = time.perf_counter()
        compiling()
        durations.append(time.perf_counter() - start)
    print(f"  (compiling in train() took {durations[0] - durations[1]:.0f} s)")
    timed = {name: (functools.partial(run, steps), steps) for name, run in runs.items()}
    timed["skdde train()"] = (package(False), 40 * epochs)
    timed["skdde train(compile=True)"] = (package(True), 40 * epochs)
    # round robin, so that a slow spell of the machine hits every variant alike
    times = {name: [] for name in timed}
    for _ in range(repeats):
        for name, (run, count) in timed.items():
            start = time.perf_counter()
            run()
            sync()
            times[name].append((time.perf_counter() - start) / count)
    rows = {name: 1 / float(np.median(t)) for name, t in times.items()}
    plain = rows["plain (reference style)"]
    for name, rate in rows.items():
        print(f"  {name:<42s} {rate:7.0f} steps/s {rate * B:9.0f} samples/s "
              f"{rate * flops / matmul:5.0%} of roofline  x{rate / plain:.2f}")
    print("  where a step of skdde train()'s loop (+ fused Adam, no .item()) spends its time:")
    breakdown(lambda: runs["+ fused Adam, no .item()"](20), 20, flops, matmul)


#: Ops whose self time is matrix multiplication.
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv"}


def breakdown(run, count, flops, matmul):
    """Profile ``run()`` (``count`` steps or rows): the share of wall time in matmul
    kernels and their rate, and the costliest other ops. The roofline share is
    exactly (matmul share) x (matmul rate in the step / peak rate), so it cannot
    pass the matmul share while the other ops take the rest."""
    run()
    start = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run()
        sync()
    wall = time.perf_counter() - start
    ops = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    in_matmul = sum(t for k, t in ops.items() if k in MATMUL_OPS)
    others = sorted(((t, k) for k, t in ops.items() if k not in MATMUL_OPS), reverse=True)
    rate, rest = flops * count / in_matmul, sum(ops.values()) - in_matmul
    print(f"    matmul kernels {in_matmul / wall:4.0%} of the time at {rate / 1e9:.0f} GFLOP/s "
          f"({rate / matmul:.0%} of peak); other ops {rest / wall:4.0%}, led by "
          + ", ".join(f"{k.removeprefix('aten::')} {t / wall:.0%}" for t, k in others[:4])
          + " (profiled, so slower than unprofiled)")


def matmul_rate(device, repeats=5):
    """Peak FLOP/s of the step's largest matmul shape (512 x 128 x 128): the best of
    ``repeats`` timings, as a busy spell of the machine only ever lowers a rate."""
    a = torch.randn(B, HIDDEN, device=device)
    m = torch.randn(HIDDEN, HIDDEN, device=device)

    def matmuls():
        for _ in range(2000):
            torch.mm(a, m)

    matmuls()
    return max(median_rate(matmuls, 2000 * 2 * B * HIDDEN**2, repeats=1) for _ in range(repeats))


def sum_forward(energy):
    """Matmul multiply-adds of one forward pass per sample."""
    net = energy.net
    widths = [D] + [layer.out_features for layer in net.layers] + [1]
    return D * D + sum(a * b for a, b in zip(widths, widths[1:]))


def scoring(est, device):
    X = np.random.default_rng(1).normal(size=(1_000_000, D))
    rate = median_rate(lambda: est.score_samples(X), len(X))
    print(f"  DDEDensity.score_samples, 1,000,000 x {D}: {rate:,.0f} rows/s")
    print("  where scoring 200,000 rows spends its time:")
    row_flops = 2 * sum_forward(est.module_)
    breakdown(lambda: est.score_samples(X[:200_000]), 200_000, row_flops, matmul_rate(device))


def kde_table(device):
    rng = np.random.default_rng(2)
    X_test = rng.normal(size=(1000, D))
    print(f"  {'n_train':>9s} {'KDE rows/s':>11s} {'DDE rows/s':>11s} {'DDE fit s':>9s}")
    for n in (10_000, 100_000, 1_000_000):
        X = rng.normal(size=(n, D))
        kde = KernelDensity(bandwidth="scott").fit(X)
        kde_rate = median_rate(lambda: kde.score_samples(X_test), len(X_test), repeats=1)
        start = time.perf_counter()
        est = DDEDensity(sigma=SIGMA, max_iter=1, random_state=0, device=device).fit(X)
        fit_seconds = time.perf_counter() - start
        dde_rate = median_rate(lambda: est.score_samples(X_test), len(X_test))
        print(f"  {n:9d} {kde_rate:11,.0f} {dde_rate:11,.0f} {fit_seconds:9.1f}")


def levels_training(device, steps, repeats=5):
    """train() steps/s on Eq. 5 (the default model) and on both objectives of the
    multi-level model, round robin."""
    X = np.random.default_rng(0).normal(size=(2000, D))
    x = torch.randn(B * 40, D, device=device)
    w = torch.ones(len(x), device=device)
    epochs = math.ceil(steps / 40)
    runs = {}
    for levels in ("single", "all"):
        est = DDEDensity(sigma=SIGMA, levels=levels, max_iter=2, random_state=0,
                         device=device).fit(X)
        module = est.module_
        g = torch.Generator(device).manual_seed(0)
        objective = None
        if levels == "all":
            objective = DualScoreObjective(module.t_min, module.t_max, 0.25, g)

        def run(module=module, objective=objective, g=g):
            train(module, x, w, None, None, sigmas=[SIGMA] * epochs, batch_size=B,
                  learning_rate_init=1e-3, learning_rate="constant", early_stopping=False,
                  n_iter_no_change=epochs + 1, tol=0.0, generator=g, objective=objective)

        runs[levels] = run
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            sync()
            times[name].append((time.perf_counter() - start) / (40 * epochs))
    rates = {name: 1 / float(np.median(t)) for name, t in times.items()}
    for name, label in (("single", "Eq. 5 (levels='single')"),
                        ("all", "both objectives (levels='all')")):
        print(f"  {label:<42s} {rates[name]:7.0f} steps/s  x{rates[name] / rates['single']:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--levels", action="store_true")
    args = parser.parse_args()
    if args.levels:
        for threads in args.threads:
            torch.set_num_threads(threads)
            print(f"torch threads: {torch.get_num_threads()}; training, d = {D}, batch {B}, "
                  "default network, skdde train():")
            levels_training(args.device, args.steps)
        return
    print(f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
          f"device {args.device}")
    X = np.random.default_rng(0).normal(size=(2000, D))
    est = DDEDensity(sigma=SIGMA, max_iter=2, random_state=0, device=args.device).fit(X)
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\ntorch threads: {torch.get_num_threads()}")
        print(f"training, d = {D}, batch {B}, default network:")
        training(est.module_, args.device, args.steps)
        print("scoring:")
        scoring(est, args.device)
    print(f"\nKernelDensity against a DDE, d = {D}, 1,000 rows scored, "
          f"torch threads {torch.get_num_threads()}:")
    kde_table(args.device)


if __name__ == "__main__":
    main()
