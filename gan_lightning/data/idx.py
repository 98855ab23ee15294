"""Reader for the IDX format of the MNIST family (plain or gzip), with precise errors."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

UBYTE = 0x08


def read_idx(path: str | Path) -> Tensor:
    """Read an unsigned-byte IDX file (magic 0x0000_08_NN) into a uint8 tensor.

    Raises ValueError naming the file when the header is wrong or the payload is short.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(shape))
    payload = len(raw) - header_size
    if payload < expected:
        raise ValueError(
            f"{path} is truncated: header promises {expected} bytes of data, file has {payload}"
        )
    array = np.frombuffer(raw, dtype=np.uint8, count=expected, offset=header_size)
    return torch.from_numpy(array.reshape(shape).copy())
