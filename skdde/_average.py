"""Exponential moving average of a module's weights, for judging and keeping."""

import torch


class Average:
    """Exponential moving average of the trainable weights (decay warmed up as
    ``min(decay, (1 + t) / (10 + t))`` so early steps do not pin it to the start),
    swapped into the module while it is judged."""

    def __init__(self, module, decay):
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.decay, self.t = decay, 0
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self):
        self.t += 1
        weight = 1 - min(self.decay, (1 + self.t) / (10 + self.t))
        for s, p in zip(self.shadow, self.params):
            s.lerp_(p, weight)

    @torch.no_grad()
    def swap(self):
        """Exchange the module's weights and the average (twice: back as before)."""
        for s, p in zip(self.shadow, self.params):
            held = p.detach().clone()
            p.copy_(s)
            s.copy_(held)

    def state(self):
        return [s.clone() for s in self.shadow], self.t

    @torch.no_grad()
    def restore(self, state):
        for s, saved in zip(self.shadow, state[0]):
            s.copy_(saved)
        self.t = state[1]
