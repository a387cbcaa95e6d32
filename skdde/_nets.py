"""Energy networks: the scalar function s(x) whose gradient is trained to match a score.

A DDE's energy is written on a Gaussian base::

    s(x) = h(u) - u^T P u / 2,    u = W (x - mean)

with ``W`` a fixed whitening matrix, ``P`` the precision of the Gaussian part
(the identity at the final noise level) and ``h`` a network. Networks built from
Linear layers and Lipschitz activations grow at most linearly, so the quadratic
term dominates far from the data: exp(s) is integrable for every parameter value,
and importance weights exp(s) / N(u; 0, I) = exp(h(u)) (up to a constant) have
finite variance under the proposal ``N(0, P^-1)``.
"""

import math

import torch
from torch import nn

ACTIVATIONS = {"softplus": nn.Softplus, "silu": nn.SiLU, "tanh": nn.Tanh}


def _softplus_slope(z, a):
    return torch.sigmoid(z)


def _silu_slope(z, a):
    p = torch.sigmoid(z)
    return p + a * (1 - p)


def _tanh_slope(z, a):
    return 1 - a * a


#: Each activation's derivative from its input ``z`` and output ``a``.
SLOPES = {"softplus": _softplus_slope, "silu": _silu_slope, "tanh": _tanh_slope}
#: A generator is differentiated once (through the energies), so ReLU is allowed.
GENERATOR_ACTIVATIONS = {**ACTIVATIONS, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}
OUTPUT_ACTIVATIONS = {"identity": nn.Identity, "sigmoid": nn.Sigmoid}


def _stack(widths):
    """Linear layers between successive ``widths``; which of them are residual."""
    pairs = list(zip(widths, widths[1:]))
    return nn.ModuleList(nn.Linear(a, b) for a, b in pairs), [a == b for a, b in pairs]


def _hidden(layers, residual, act, h):
    """The hidden features of :func:`_stack`'s layers (residual where marked)."""
    for layer, skip in zip(layers, residual):
        a = act(layer(h))
        h = h + a if skip else a
    return h


class ResidualMLP(nn.Module):
    """Scalar MLP ``R^d -> R``; a layer whose width equals its input's is residual.

    The first layer starts as multi-scale random features: unit directions times
    gains log-uniform in ``[1, 1 / resolution]``, offsets spread over ``[-2, 2]``
    whitened units, so that from the first step some features bend at the finest
    scale of the smoothed density (``resolution``, about sigma in whitened units)
    and some at the data's scale. PyTorch's default initialization makes features
    almost linear on whitened data and training stalls for thousands of steps.
    Hidden layers start uniform in ``+-2 / sqrt(fan_in)``. The output layer starts
    at zero, so a fresh energy is exactly its Gaussian base. ``n_context`` more
    inputs (a noise level's features) follow the point's ``n_features``; their
    first-layer weights start uniform in ``+-1 / sqrt(n_context)``.
    """

    def __init__(
        self, n_features, hidden_layer_sizes, activation="softplus", resolution=1.0, n_context=0
    ):
        super().__init__()
        widths = (n_features + n_context, *hidden_layer_sizes)
        self.layers, self.residual = _stack(widths)
        self.act = ACTIVATIONS[activation]()
        self.slope = SLOPES[activation]
        self.out = nn.Linear(widths[-1], 1)
        with torch.no_grad():
            first = self.layers[0]
            direction = nn.functional.normalize(torch.randn(first.out_features, n_features), dim=1)
            log_gain = torch.rand(first.out_features) * math.log(1 / min(resolution, 1.0))
            gain = torch.exp(log_gain)
            first.weight[:, :n_features] = direction * gain[:, None]
            first.bias.copy_((4 * torch.rand(first.out_features) - 2) * gain)
            if n_context:
                bound = 1 / math.sqrt(n_context)
                first.weight[:, n_features:].uniform_(-bound, bound)
            for layer in self.layers[1:]:
                bound = 2 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, u):
        return self.out(_hidden(self.layers, self.residual, self.act, u)).squeeze(-1)

    def value_and_grad(self, u):
        """``(h(u), grad_u h(u))``, the gradient by a hand-written backward pass.

        Both are differentiable in the weights. A training step that backpropagates
        a loss on the gradient through this pass ran 1.27x faster on one thread,
        1.16x on two, than through autograd's double backward (``benchmarks/speed.py``).
        """
        h, slopes = u, []
        for layer, skip in zip(self.layers, self.residual):
            z = layer(h)
            a = self.act(z)
            slopes.append(self.slope(z, a))
            h = h + a if skip else a
        grad = self.out.weight.expand(h.shape[0], -1)
        for layer, skip, slope in zip(self.layers[::-1], self.residual[::-1], slopes[::-1]):
            delta = grad * slope
            grad = torch.addmm(grad, delta, layer.weight) if skip else delta @ layer.weight
        return self.out(h).squeeze(-1), grad


class Generator(nn.Module):
    """``g(z) = out(loc + (A z + f(z)) @ scale^T)``: latent codes to data points.

    ``A`` is linear and ``f`` an MLP (a layer as wide as its input is residual)
    whose output layer starts at zero; ``loc`` and ``scale`` are fixed buffers,
    the data's location and a square root of its covariance. ``A`` starts
    (semi-)orthogonal, so with ``latent_dim >= n_features`` a fresh generator
    is the moment-matched Gaussian ``N(loc, scale scale^T)`` of the data (before
    the output activation): training starts where the energy networks' Gaussian
    bases are right.

    Parameters
    ----------
    latent_dim, n_features : int
    hidden_layer_sizes : tuple of int
    activation : str
        A key of ``GENERATOR_ACTIVATIONS``.
    output_activation : str
        A key of ``OUTPUT_ACTIVATIONS``, applied last (``"sigmoid"``: data in [0, 1]).
    loc : Tensor of shape (d,)
    scale : Tensor of shape (d, d)
    """

    def __init__(
        self,
        latent_dim,
        n_features,
        hidden_layer_sizes,
        activation,
        output_activation,
        loc,
        scale,
    ):
        super().__init__()
        widths = (latent_dim, *hidden_layer_sizes)
        self.layers, self.residual = _stack(widths)
        self.act = GENERATOR_ACTIVATIONS[activation]()
        self.out = nn.Linear(widths[-1], n_features)
        self.linear = nn.Linear(latent_dim, n_features, bias=False)
        self.output = OUTPUT_ACTIVATIONS[output_activation]()
        self.register_buffer("loc", loc)
        self.register_buffer("scale", scale)
        with torch.no_grad():
            nn.init.orthogonal_(self.linear.weight)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, z):
        u = self.linear(z) + self.out(_hidden(self.layers, self.residual, self.act, z))
        return self.output(self.loc + u @ self.scale.T)


def make_net(network, n_features, hidden_layer_sizes, activation, resolution, n_context=0):
    """A fresh ``network(n_features + n_context)``, or the default :class:`ResidualMLP`
    when ``network`` is None."""
    if network is not None:
        return network(n_features + n_context)
    return ResidualMLP(n_features, hidden_layer_sizes, activation, resolution, n_context)


class GaussianBaseEnergy(nn.Module):
    """``s(x) = h(W x) - (W x)^T P (W x) / 2`` on centred input ``x``.

    Parameters
    ----------
    net : nn.Module
        Maps ``(n, d)`` whitened points to ``(n,)`` or ``(n, 1)`` values ``h``.
    whitening : Tensor of shape (d, d)
        Fixed matrix ``W``; stored as a buffer, not trained.

    The precision ``P`` of the Gaussian part, in whitened units, is a buffer too:
    the identity, or that of the moment-matched Gaussian at another noise level
    (see :meth:`set_precision`), so that ``h`` only models what is not Gaussian.
    """

    def __init__(self, net, whitening):
        super().__init__()
        self.net = net
        self.register_buffer("whitening", whitening)
        self.register_buffer("precision", torch.eye(whitening.shape[0], dtype=whitening.dtype))

    def set_precision(self, precision):
        self.precision.copy_(torch.as_tensor(precision, dtype=self.precision.dtype))

    @property
    def whitened(self):
        """The energy as a function of the whitened point ``u`` (a callable with
        ``value_and_grad``, like the module itself)."""
        return _Whitened(self)

    def _whitened(self, u):
        return self.net(u).reshape(u.shape[0]) - 0.5 * ((u @ self.precision) * u).sum(-1)

    def _whitened_value_and_grad(self, u):
        if hasattr(self.net, "value_and_grad"):
            h, grad = self.net.value_and_grad(u)
        else:
            h, grad = input_gradient(self.net, u, create_graph=torch.is_grad_enabled())
        pu = u @ self.precision
        s = h.reshape(u.shape[0]) - 0.5 * (pu * u).sum(-1)
        return s, grad - 0.5 * (pu + u @ self.precision.T)

    def forward(self, x):
        return self._whitened(x @ self.whitening.T)

    def value_and_grad(self, x):
        """``(s(x), grad_x s(x))``; see :func:`input_gradient`."""
        s, grad = self._whitened_value_and_grad(x @ self.whitening.T)
        return s, grad @ self.whitening


class _Whitened:
    """:attr:`GaussianBaseEnergy.whitened`: the energy of whitened points."""

    def __init__(self, energy):
        self.energy = energy

    def __call__(self, u):
        return self.energy._whitened(u)

    def value_and_grad(self, u):
        return self.energy._whitened_value_and_grad(u)


class Shifted(nn.Module):
    """``energy(x - loc)``: an energy on centred input, applied to raw points.

    Its parameters and state are the energy's, so a training loop can hold it.
    """

    def __init__(self, energy, loc):
        super().__init__()
        self.energy = energy
        self.register_buffer("loc", loc)

    def forward(self, x):
        return self.energy(x - self.loc)

    def value_and_grad(self, x):
        return input_gradient(self.energy, x - self.loc, create_graph=torch.is_grad_enabled())


def input_gradient(energy, x, create_graph=False):
    """Return ``(energy(x), grad_x energy(x))`` for a batch of points.

    An energy with a ``value_and_grad`` method computes both itself; otherwise
    autograd does. With ``create_graph`` both are differentiable in the
    energy's weights (to train on the gradient); without it neither need be.
    """
    value_and_grad = getattr(energy, "value_and_grad", None)
    if value_and_grad is not None:
        with torch.set_grad_enabled(create_graph):
            return value_and_grad(x)
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        s = energy(x)
        (grad,) = torch.autograd.grad(s.sum(), x, create_graph=create_graph)
    return s, grad


#: Rows per forward pass of :func:`evaluate`: on a CPU, a chunk whose activations fit
#: in cache (4096 beat 8192 by 10% on one thread, ``benchmarks/speed.py``); on an
#: accelerator, large enough to fill it.
EVALUATE_CHUNK = {"cpu": 4096}
ACCELERATOR_CHUNK = 65536


def evaluate(fn, z, chunk_size=None):
    """``fn`` on ``z`` in chunks, without gradients, as float64."""
    if chunk_size is None:
        chunk_size = EVALUATE_CHUNK.get(z.device.type, ACCELERATOR_CHUNK)
    with torch.no_grad():
        return torch.cat([fn(c).double() for c in z.split(chunk_size)])
