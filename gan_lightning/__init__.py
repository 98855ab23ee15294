"""gan-lightning: GAN experiments on PyTorch Lightning, configured by Hydra."""

from gan_lightning.resolvers import register as _register_resolvers

__version__ = "0.2.0"

_register_resolvers()
