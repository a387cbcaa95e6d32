"""scikit-learn's estimator checks on cheap CPU instances."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skdde import DDEDensity, DDEGenerator

CHEAP = dict(
    hidden_layer_sizes=(8,),
    max_iter=3,
    training_options=dict(n_importance_samples=256, mala_burn_in=5, mala_n_steps=2),
    device="cpu",
)


GENERATOR = dict(
    hidden_layer_sizes=(8,),
    max_iter=3,
    training_options=dict(dde_hidden_layer_sizes=(8,), n_importance_samples=256),
    density=DDEDensity(**CHEAP),
    device="cpu",
)


@parametrize_with_checks(
    [
        DDEDensity(**CHEAP),
        DDEDensity(sigma="scott", early_stopping=False, **CHEAP),
        DDEDensity(levels="all", **CHEAP),
        DDEDensity(levels="all", sigma="auto", **CHEAP),
        DDEGenerator(**GENERATOR),
    ],
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
