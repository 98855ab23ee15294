"""LightningDataModules, one file per dataset family. Images come out as floats in [-1, 1]."""
