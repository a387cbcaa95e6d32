import functools
import math

import pytest
import torch

from skdde import _train
from skdde._compile import Compiled
from skdde._nets import GaussianBaseEnergy, ResidualMLP
from skdde._train import learning_rate_factor, sigma_path, sigma_schedule, train

_ADAM = _train.adam


def test_sigma_schedule_divides_by_1_1_down_to_sigma():
    s = sigma_schedule(0.1, 1.0, 100, 0.5)
    assert s[0] == 1.0 and s[-1] == 0.1 and len(s) == 100
    assert all(a >= b for a, b in zip(s, s[1:]))
    assert s.index(0.1) <= 50
    ratios = {round(a / b, 6) for a, b in zip(s, s[1:]) if a != b and b != 0.1}
    assert ratios == {1.1}


def test_no_annealing_without_a_larger_start():
    assert sigma_schedule(0.1, None, 5, 0.5) == [0.1] * 5
    assert sigma_schedule(0.1, 0.05, 5, 0.5) == [0.1] * 5


def test_sigma_path_holds_each_level_for_an_equal_share():
    path = sigma_path(1.0, 0.5, 40)
    levels = sorted(set(path), reverse=True)
    assert levels[0] == 1.0 and levels[-1] / 1.1 <= 0.5 < levels[-1]
    assert all(path.count(v) == path.count(1.0) for v in levels)
    assert path == sorted(path, reverse=True)
    # fewer epochs than levels: one epoch per level, spread from start to floor
    for n_epochs in (1, 3, 10):
        short = sigma_path(1.0, 0.01, n_epochs)
        assert len(short) == len(set(short)) == n_epochs
        assert short[0] == 1.0 and short == sorted(short)[::-1]
        assert n_epochs == 1 or short[-1] / 1.1 <= 0.01 < short[-1]


def test_learning_rate_schedules():
    assert learning_rate_factor("constant", 0.9) == 1.0
    assert learning_rate_factor("cosine", 0.0) == 1.0
    assert learning_rate_factor("cosine", 0.5) == pytest.approx(0.5)
    assert learning_rate_factor("step", 0.3) == 0.5


class _Exploding(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2))

    def forward(self, x):
        return (x * self.w).sum(-1) * math.inf


def _fit(module, **kw):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g)
    w = torch.ones(64)
    args = dict(sigmas=[0.5] * 3, batch_size=16, learning_rate_init=1e-2,
                learning_rate="constant", early_stopping=True, n_iter_no_change=5,
                tol=0.0, generator=g)
    args.update(kw)
    return train(module, x[:48], w[:48], x[48:], w[48:], **args)


def test_divergence_raises_a_clear_error_after_bounded_retries():
    module = _Exploding()
    with pytest.raises(FloatingPointError, match="non-finite loss at step 1"):
        _fit(module)
    assert torch.equal(module.w, torch.ones(2))  # the last good state, not NaN


class _NaNOnce(torch.nn.Module):
    """A quadratic energy whose ``at``-th training evaluation is NaN."""

    def __init__(self, at):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2))
        self.at, self.calls = at, 0

    def forward(self, x):
        s = -0.5 * (x * self.w).square().sum(-1)
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                return s * math.nan
        return s


def test_a_non_finite_loss_is_caught_at_its_step_before_the_update(monkeypatch):
    steps = []
    real_step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step",
                        lambda self, *a, **k: steps.append(1) or real_step(self, *a, **k))
    module = _NaNOnce(at=3)
    res = _fit(module, sigmas=[0.5] * 2, early_stopping=False)  # 3 steps per epoch
    # steps 1-2 applied, step 3 caught before its update, the epoch rerun: 2 + 3 + 3
    assert len(steps) == 8
    assert res.n_iter == 2 and all(map(math.isfinite, res.loss_curve))
    assert torch.isfinite(module.w).all()


class _Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2, 16), torch.nn.Softplus(), torch.nn.Linear(16, 1)
        )

    def forward(self, x):
        return self.net(x).squeeze(-1) - x.square().sum(-1)


def test_training_improves_the_validation_loss_and_keeps_the_best():
    torch.manual_seed(0)
    res = _fit(_Small(), sigmas=[0.5] * 30)  # judged by the held-out denoising loss
    assert res.n_iter == len(res.loss_curve) == len(res.validation_scores)
    assert res.best_validation_score == max(res.validation_scores)
    assert res.best_validation_score > res.validation_scores[0]


def test_likelihood_term_is_skipped_when_its_importance_batch_is_degenerate():
    # A log Z estimate with ESS 0 and a NaN value must not reach the weights.
    def bad_log_normalizer(generator, sigma):
        return torch.tensor(math.nan, dtype=torch.float64, requires_grad=True), torch.tensor(0.0)

    torch.manual_seed(0)
    module = _Small()
    res = _fit(module, sigmas=[0.5] * 5, log_normalizer=bad_log_normalizer,
               likelihood_weight=1.0)
    assert res.n_iter == 5
    assert all(torch.isfinite(p).all() for p in module.parameters())


def _small_with_log_z():
    """A fresh ``_Small`` and a differentiable log Z of it, for the likelihood term."""
    torch.manual_seed(0)
    module = _Small()

    def log_normalizer(generator, sigma):
        z = torch.randn(64, 2, generator=generator)
        return torch.logsumexp(module(z).double(), 0) - math.log(64), torch.tensor(64.0)

    return module, log_normalizer


def test_zero_weighted_rows_train_as_dropped_rows():
    # 33 rows that count at batch size 16 end each epoch on a one-row batch; with
    # the zero-weighted rows drawn into batches, one could weigh zero (0/0 = NaN)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 2, generator=g)
    w = torch.ones(40)
    w[torch.randperm(40, generator=g)[:7]] = 0
    results, modules = [], []
    for xs, ws in ((x, w), (x[w > 0], torch.ones(33))):
        module, log_normalizer = _small_with_log_z()
        res = train(module, xs, ws, x[:0], w[:0], sigmas=[0.5] * 4, batch_size=16,
                    learning_rate_init=1e-2, learning_rate="constant", early_stopping=False,
                    n_iter_no_change=10, tol=0.0, generator=torch.Generator().manual_seed(0),
                    log_normalizer=log_normalizer, likelihood_weight=1.0)
        results.append(res)
        modules.append(module)
    weighted, dropped = results
    assert weighted.n_restarts == dropped.n_restarts == 0
    assert weighted.n_iter == dropped.n_iter == 4
    torch.testing.assert_close(torch.tensor(weighted.loss_curve), torch.tensor(dropped.loss_curve))
    for a, b in zip(*(m.parameters() for m in modules)):
        torch.testing.assert_close(a, b)


def test_epoch_loss_is_the_weighted_mean_of_the_rows(monkeypatch):
    # each batch's loss is its rows' weighted mean: the epoch's weighs it by the
    # batch's weight, not its row count, and zero-weighted rows are never drawn
    seen, real_loss = [], _train.denoising_loss

    def recording_loss(energy, x, eps, sigma, weight=None, **kw):
        loss = real_loss(energy, x, eps, sigma, weight, **kw)
        seen.append((float(loss.detach()), weight))
        return loss

    monkeypatch.setattr(_train, "denoising_loss", recording_loss)
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(50, 2, generator=g), torch.rand(50, generator=g)
    w[:10] = 0
    torch.manual_seed(0)
    res = train(_Small(), x, w, x[:0], w[:0], sigmas=[0.5], batch_size=16,
                learning_rate_init=1e-2, learning_rate="constant", early_stopping=False,
                n_iter_no_change=10, tol=0.0, generator=g)
    weights = torch.cat([wb for _, wb in seen])
    assert len(seen) == 3 and len(weights) == 40 and bool((weights > 0).all())
    expected = sum(loss * float(wb.sum()) for loss, wb in seen) / float(weights.sum())
    assert res.loss_curve[0] == pytest.approx(expected, rel=1e-6)


def test_validation_loss_skips_chunks_of_zero_weight():
    torch.manual_seed(0)
    module = _Small()
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(30, 2, generator=g), torch.randn(30, 2, generator=g)
    w = torch.ones(30)
    w[10:20] = 0  # the second chunk weighs zero
    kept = w > 0
    value = _train.validation_loss(module, x, eps, 0.5, w, chunk_size=10)
    expected = _train.validation_loss(module, x[kept], eps[kept], 0.5, w[kept], chunk_size=10)
    assert value == pytest.approx(expected, rel=1e-6)


def test_weights_summing_to_zero_are_clear_errors():
    with pytest.raises(ValueError, match="training weights sum to zero"):
        train(_Small(), torch.randn(8, 2), torch.zeros(8), torch.randn(4, 2), torch.ones(4),
              sigmas=[0.5], batch_size=4, learning_rate_init=1e-2, learning_rate="constant",
              early_stopping=False, n_iter_no_change=5, tol=0.0, generator=torch.Generator())
    with pytest.raises(ValueError, match="validation weights sum to zero"):
        train(_Small(), torch.randn(8, 2), torch.ones(8), torch.randn(4, 2), torch.zeros(4),
              sigmas=[0.5], batch_size=4, learning_rate_init=1e-2, learning_rate="constant",
              early_stopping=True, n_iter_no_change=5, tol=0.0, generator=torch.Generator())


def test_sigma_search_scores_each_stage_and_restores_the_best():
    # a scripted validation score peaking at the third stage: that stage is kept,
    # and the search stops n_stages_no_change stages later
    peak = [0.8, 0.4, 0.2, 0.1, 0.05, 0.025, 0.0125]
    levels = [0.8 / 2**k for k in range(7)]
    snapshots, on_sigma = {}, []

    def score(sigma):
        snapshots[sigma] = [p.detach().clone() for p in module.parameters()]
        return -abs(math.log(sigma / 0.2))

    torch.manual_seed(0)
    module = _Small()
    res = _fit(module, sigmas=[s for s in levels for _ in range(2)], validation_score=score,
               sigma_search=True, n_stages_no_change=2, on_sigma=on_sigma.append)
    assert res.sigma_path == peak[:5] and res.sigma_path_scores[2] == 0.0
    assert on_sigma == peak[:5]  # called once per new level
    assert res.n_iter == 10 and len(res.validation_scores) == 10
    assert math.isnan(res.validation_scores[0])  # not a stage end: not judged
    for p, q in zip(module.parameters(), snapshots[0.2]):
        assert torch.equal(p, q)


def test_unjudged_likelihood_leaves_early_stopping_to_the_denoising_loss():
    # a validation likelihood that can never be computed: the held-out denoising
    # loss decides, exactly as without one
    torch.manual_seed(0)
    a, b = _Small(), _Small()
    b.load_state_dict(a.state_dict())
    plain = _fit(a, sigmas=[0.5] * 60, n_iter_no_change=2)
    res = _fit(b, sigmas=[0.5] * 60, validation_score=lambda s: None, n_iter_no_change=2)
    assert res.n_iter == plain.n_iter < 60 and res.converged
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert all(math.isnan(v) for v in res.validation_scores)
    # once an epoch was judged, unjudged ones count as epochs without improvement
    scores = iter([1.0] + [None] * 10)
    res = _fit(_Small(), sigmas=[0.5] * 8, validation_score=lambda s: next(scores),
               n_iter_no_change=3)
    assert res.converged and res.n_iter == 4 and res.best_validation_score == 1.0


def test_judge_start_keeps_the_untrained_module_if_no_epoch_beats_it():
    torch.manual_seed(0)
    module, calls = _Small(), []
    fresh = [p.detach().clone() for p in module.parameters()]

    def score(sigma):  # every epoch worse than the untrained module
        calls.append(sigma)
        return -float(len(calls))

    res = _fit(module, sigmas=[0.5] * 20, validation_score=score, n_iter_no_change=3,
               judge_start=True)
    assert res.converged and res.n_iter == 3 and len(calls) == 4  # the start, then 3 epochs
    assert res.best_validation_score == -1.0 and len(res.validation_scores) == 3
    assert all(torch.equal(p, q) for p, q in zip(module.parameters(), fresh))
    # a continued run is not fresh: its start is not judged again
    _fit(module, sigmas=[0.5] * 2, validation_score=score, judge_start=True, result=res)
    assert len(calls) == 6


def _energy():
    torch.manual_seed(0)
    return GaussianBaseEnergy(ResidualMLP(2, (16, 16)), torch.eye(2))


def test_compiled_training_follows_the_eager_one_with_one_graph_per_shape():
    # four noise levels and a short last batch (48 = 20 + 20 + 8 rows)
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    kw = dict(sigmas=[1.0, 0.8, 0.6, 0.5], batch_size=20, early_stopping=False)
    eager = _fit(_energy(), **kw)
    compiled = _fit(_energy(), compile=True, **kw)
    assert compiled.loss_curve == pytest.approx(eager.loss_curve, rel=1e-4)
    # one graph for the full batches and one for the short one, whatever sigma
    assert 1 <= counters["stats"]["unique_graphs"] <= 2


def test_a_failing_compiler_warns_and_training_goes_on_uncompiled(monkeypatch):
    def broken(graph, example_inputs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(_train, "Compiled", functools.partial(Compiled, backend=broken))
    kw = dict(sigmas=[0.5] * 2, early_stopping=False)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        fallback = _fit(_energy(), compile=True, **kw)
    assert fallback.loss_curve == _fit(_energy(), **kw).loss_curve


_ADAM_STEP = torch.optim.Adam.step


def _trajectory(monkeypatch, **kw):
    """The weights after every optimizer step, the weights each ``validation_score``
    call saw, and the module returned, for a fit of ``_Small``."""
    steps, seen = [], []

    def step(self, *a, **k):
        out = _ADAM_STEP(self, *a, **k)
        steps.append(torch.cat([p.detach().flatten() for p in module.parameters()]))
        return out

    def validation_score(sigma):
        seen.append(torch.cat([p.detach().flatten() for p in module.parameters()]))
        return -float(seen[-1].square().sum())  # any score: smaller weights win

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    torch.manual_seed(0)
    module = _Small()
    _fit(module, sigmas=[0.5] * 6, validation_score=validation_score, **kw)
    return steps, seen, torch.cat([p.detach().flatten() for p in module.parameters()])


def _average(steps, decay, start):
    shadow = start
    for t, weights in enumerate(steps, 1):
        shadow = torch.lerp(shadow, weights, 1 - min(decay, (1 + t) / (10 + t)))
    return shadow


@pytest.mark.parametrize("early_stopping", [False, True])
def test_weight_averaging_judges_and_returns_the_average_without_steering_training(
        monkeypatch, early_stopping):
    plain, _, _ = _trajectory(monkeypatch, early_stopping=early_stopping)
    steps, seen, out = _trajectory(monkeypatch, early_stopping=early_stopping,
                                   ema_decay=0.9)
    # the average is read, never trained: the training weights are the plain run's
    assert all(torch.equal(a, b) for a, b in zip(plain, steps)) and len(plain) == len(steps)
    torch.manual_seed(0)
    start = torch.cat([p.detach().flatten() for p in _Small().parameters()])
    per_epoch = len(steps) // 6
    if not early_stopping:
        torch.testing.assert_close(out, _average(steps, 0.9, start))
        assert not torch.allclose(out, steps[-1])
        return
    # every epoch was judged with the average up to its end, and the best one kept
    assert len(seen) == 6
    for epoch, weights in enumerate(seen, 1):
        torch.testing.assert_close(weights, _average(steps[: epoch * per_epoch], 0.9, start))
    best = max(seen, key=lambda w: -float(w.square().sum()))
    torch.testing.assert_close(out, best)


def test_weight_decay_is_decoupled_and_shrinks_every_weight_each_step(monkeypatch):
    # a loss with zero gradient leaves Adam's update at zero, so only the decay
    # moves the weights: each of the 9 steps scales them by 1 - lr * weight_decay
    def flat_loss(energy, x, eps, sigma, weight=None, **kw):
        return 0.0 * energy(x).sum()

    monkeypatch.setattr(_train, "denoising_loss", flat_loss)
    module = _energy()
    start = [p.detach().clone() for p in module.parameters()]
    _fit(module, early_stopping=False, weight_decay=0.5)
    for before, after in zip(start, module.parameters()):
        torch.testing.assert_close(after.detach(), before * (1 - 1e-2 * 0.5) ** 9)
    module = _energy()
    _fit(module, early_stopping=False)  # no decay: Adam, nothing moves
    assert all(torch.equal(a, b.detach()) for a, b in zip(start, module.parameters()))


def test_the_optimizer_rebuilt_after_a_divergence_keeps_the_weight_decay(monkeypatch):
    decays = []

    def recording_adam(params, lr, weight_decay=0.0):
        decays.append(weight_decay)
        return _ADAM(params, lr, weight_decay)

    monkeypatch.setattr(_train, "adam", recording_adam)
    with pytest.raises(FloatingPointError):
        _fit(_Exploding(), weight_decay=0.3)
    assert len(decays) > 1 and set(decays) == {0.3}  # the first optimizer and each retry's
