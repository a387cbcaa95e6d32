"""Compiling a training step with :func:`torch.compile`, and falling back without it.

``DDEDensity(compile=True)`` runs its loss and backward pass through
:class:`Compiled`; where inductor cannot build kernels (on a CPU it needs a C++
compiler) training warns and goes on uncompiled instead of failing.
"""

import warnings

import torch


class Compiled:
    """``fn`` compiled by :func:`torch.compile`, or ``fn`` itself after a warning
    where compiling fails (inductor's CPU kernels need a C++ compiler).

    Failures surface when a new graph is first called or differentiated (the
    first step, an epoch's short last batch, the first likelihood epoch), so
    :meth:`run` runs each step, forward and backward, under a guard.
    """

    def __init__(self, fn, backend="inductor"):
        self.fn, self.fast = fn, torch.compile(fn, backend=backend)

    def __call__(self, *args, **kwargs):
        return self.fast(*args, **kwargs)

    def run(self, step):
        """Run ``step()`` (a forward and backward through ``self``); on a compiler
        failure, warn and run it again uncompiled."""
        try:
            return step()
        except Exception as exc:
            if not _compiler_error(exc):
                raise
            reason = (str(exc).strip().splitlines() or [""])[0][:200]
            warnings.warn(
                f"torch.compile failed ({type(exc).__name__}: {reason}); training without it.",
                RuntimeWarning,
                stacklevel=4,
            )
            self.fast = self.fn
            return step()


def _compiler_error(exc):
    from torch._dynamo.exc import BackendCompilerFailed
    from torch._inductor.exc import InductorError

    return isinstance(exc, (BackendCompilerFailed, InductorError))
