"""DDEDensity(levels="single"): the estimator's side of the paper's model, one
energy at one noise level.

Eq. 5 with the likelihood term is trained by ``_train.train`` down an annealing
schedule to ``sigma_``, or down the path of sigma="auto", which judges each stage
by the validation likelihood and keeps the best. Kept out of ``_density.py``,
which it extends, as ``_density_levels.py`` holds levels="all".
"""

import warnings

import numpy as np

from ._data import data_scale
from ._normalizer import LogNormalizerWarning
from ._train import evenly, sigma_path, sigma_schedule, train

#: sigma="auto": the stages without a better validation likelihood after which the
#: search stops.
N_STAGES_NO_CHANGE = 5
#: Annealing levels whose weights are kept after fit (evenly spaced in log sigma),
#: for a DDEGenerator to anneal through; each costs a copy of the network.
N_KEPT_LEVELS = 8


class SingleLevelMixin:
    """``levels="single"`` for :class:`~skdde.DDEDensity`: the annealed training,
    the search of sigma="auto", and the levels kept for a generator."""

    def _train_single(self, data, max_iter, train_kw, X_train, w_train, warm):
        """levels="single": Eq. 5 (with the likelihood term) at ``sigma_``, after
        annealing from ``sigma_start`` or the search of sigma="auto"."""
        sigma_start = None if warm else self._options["sigma_start"]  # annealing happens once
        if sigma_start == "auto" or (self.sigma == "auto" and sigma_start is None):
            sigma_start = data_scale(X_train, w_train)
        result, searched = self._train_result, self.sigma == "auto" and not warm
        if searched:
            n_epochs, learning_rate = self._search_sigma(data, sigma_start, max_iter, train_kw)
            sigma_start, max_iter = None, max(1, max_iter - n_epochs)
            # go on from the best stage's learning rate: a restart at the initial
            # rate knocked a tuned small-sigma model far off (measured)
            train_kw["learning_rate_init"] = learning_rate
            result = self._train_result
        if not (searched and result.interrupted):  # Ctrl-C in the search ends the fit
            sigmas = sigma_schedule(
                self.sigma_, sigma_start, max_iter, self._options["annealing_fraction"]
            )
            if not searched:
                self._level_keep = evenly(sorted(set(sigmas) - {self.sigma_}), N_KEPT_LEVELS)
            result = train(
                self.module_,
                *data,
                sigmas=sigmas,
                early_stopping=self.early_stopping,
                result=result,
                **train_kw,
            )
        return result

    def _search_sigma(self, data, sigma_start, max_iter, train_kw):
        """sigma="auto": anneal down a path of noise levels, judging each stage by
        the normalized log-likelihood of the validation split; keep the best.

        Returns the epochs spent and the learning rate at the best stage; sets
        ``sigma_``, ``sigma_path_`` and ``sigma_path_scores_`` and leaves the best
        stage's weights in ``module_``.
        """
        sigma_min = self.sigma_
        n_epochs = max(1, int(self._options["annealing_fraction"] * max_iter))
        path = sigma_path(max(sigma_start, sigma_min), sigma_min, n_epochs)
        self._level_keep = evenly(sorted(set(path)), 2 * N_KEPT_LEVELS)
        result = train(
            self.module_,
            *data,
            sigmas=path,
            early_stopping=self.early_stopping,
            sigma_search=True,
            n_stages_no_change=N_STAGES_NO_CHANGE,
            **train_kw,
        )
        self._train_result = result
        self.sigma_path_ = np.array(result.sigma_path)
        self.sigma_path_scores_ = np.array(result.sigma_path_scores)
        if not len(self.sigma_path_):  # interrupted within the first stage
            self.sigma_ = float(path[0])
            return result.n_iter, self.learning_rate_init
        if np.isnan(self.sigma_path_scores_).all():
            warnings.warn(
                "sigma='auto' could not normalize any stage of the sigma path "
                f"reliably; using the last one, sigma={self.sigma_path_[-1]:.4g}.",
                LogNormalizerWarning,
                stacklevel=3,
            )
            best = -1
        else:
            best = int(np.nanargmax(self.sigma_path_scores_))
        self.sigma_ = float(self.sigma_path_[best])
        return result.n_iter, result.sigma_path_learning_rates[best]

    def _set_sigma(self, sigma):
        """Move the energy's Gaussian part to ``p~``'s moments at ``sigma``.

        The weights reached at the levels of the annealing listed in
        ``_level_keep`` are kept in ``_level_states``, keyed by sigma: a
        DDEGenerator trained against this density anneals through them.
        """
        previous = getattr(self, "_sigma_now", None)
        if previous in getattr(self, "_level_keep", ()) and previous != sigma:
            # on the CPU: no device memory held, and pickles load anywhere
            state = self.module_.state_dict()
            self._level_states[previous] = {k: v.detach().cpu().clone() for k, v in state.items()}
        self._sigma_now = sigma
        self.module_.set_precision(self._gaussian_part(sigma, power=-1))

    def _trim_kept_levels(self):
        """After a fit: at most ``N_KEPT_LEVELS`` kept levels above ``sigma_``."""
        levels = getattr(self, "_level_states", {})
        kept = evenly(sorted(s for s in levels if s > self.sigma_), N_KEPT_LEVELS)
        self._level_states = {s: levels[s] for s in kept}
        self._level_keep = ()
