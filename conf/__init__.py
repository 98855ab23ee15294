"""Hydra configs, shipped in the wheel as the package gan_lightning.conf."""
