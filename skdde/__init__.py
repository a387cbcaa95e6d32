"""skdde: denoising density estimators for scikit-learn."""

from ._density import DDEDensity
from ._generator import DDEGenerator
from ._normalizer import LogNormalizerEstimate, LogNormalizerWarning
from ._version import __version__

__all__ = [
    "DDEDensity",
    "DDEGenerator",
    "LogNormalizerEstimate",
    "LogNormalizerWarning",
    "__version__",
]
