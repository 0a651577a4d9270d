"""Building the network a spec describes, with its variables created.

A built model can be copied, saved or loaded at once; nothing needs a first forward pass.
"""

from __future__ import annotations

from a3c_cartpole.networks.actor_critic import ActorCriticModel
from a3c_cartpole.networks.conv import ConvActorCritic
from a3c_cartpole.networks.spec import NetworkSpec


def build_model(spec: NetworkSpec) -> ActorCriticModel | ConvActorCritic:
    """The MLP or the conv net of `spec`, built for a batch of its observations."""
    if spec.is_conv:
        model = ConvActorCritic(spec)
    else:
        model = ActorCriticModel(spec.n_actions, spec.hidden, spec.layers, spec.activation, spec.normalize_obs)
        model.spec = spec
    model.build((None, *spec.obs_shape))
    return model
