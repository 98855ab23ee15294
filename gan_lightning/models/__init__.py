"""LightningModules: the training logic of each GAN variant."""
