"""Model selection that trusts a held-out log-likelihood only with a reliable log Z."""

import math

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted


def reliable_score(estimator, X, y=None):
    """Mean log-likelihood of ``X``, or ``-inf`` when the model's log Z failed its checks.

    A scorer for ``GridSearchCV(..., scoring=reliable_score)``. An unreliable log Z
    is biased low on average, so its model's log-likelihoods are biased high, and a
    search that takes the largest score favours exactly such models. This scorer
    ranks every fit whose ``log_normalizer_problems_`` is not empty below every fit
    whose log Z passed its checks; among those it is ``estimator.score``. When
    every candidate fails, scikit-learn warns of non-finite scores and its choice
    (the first candidate) means nothing: try larger sigmas, or more importance
    samples.

    Parameters
    ----------
    estimator : DDEDensity or Pipeline ending in one
        A fitted density estimator with ``log_normalizer_problems_``.
    X : array-like of shape (n_samples, n_features)
        Held-out data.
    y : Ignored
        Not used, present for API consistency by convention.

    Returns
    -------
    score : float
        ``estimator.score(X)``, or ``-inf``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdde import DDEDensity, reliable_score
    >>> from skdde.datasets import make_eight_gaussians
    >>> X = make_eight_gaussians(1000, random_state=0)
    >>> search = GridSearchCV(DDEDensity(max_iter=5, random_state=0),
    ...                       {"sigma": [0.2, 0.4]}, scoring=reliable_score, cv=2)
    >>> search.fit(X).best_estimator_.log_normalizer_problems_
    []
    """
    model = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    check_is_fitted(model)
    if not hasattr(model, "log_normalizer_problems_"):
        raise TypeError(
            f"reliable_score needs a fitted DDEDensity (or a Pipeline ending in one), "
            f"got {type(model).__name__}."
        )
    if model.log_normalizer_problems_:
        return -math.inf
    return float(estimator.score(X, y))
