"""gan-lightning: GAN experiments on PyTorch Lightning, configured by Hydra."""

__version__ = "0.1.0"
