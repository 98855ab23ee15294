"""``python -m gan_lightning [overrides]`` trains one run (or a sweep with ``-m``)."""

from gan_lightning.train import cli

cli()
