"""Reader of the CLI's checkpoint files (best.bin, checkpoint.bin), in plain Python.

The format is host/io/checkpoint.h's (versions 1 to 3): magic "DYNPMNNC", u32 version, u64 length,
the resolved config as TOML, the feature scaler, class labels (versions 2, 3), the target scaler
(version 3), the parameter table, then the current and best parameters (the stored values: trained
a, b, g as their free θ under fhn_param_space = "physical"), the optimizer and training state, and an
FNV-1a 64 checksum of everything before it. Like the C++ reader it trusts nothing: the magic,
version, length and checksum are checked first, and every count against the bytes left.
"""
from __future__ import annotations

import struct
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"DYNPMNNC"
VERSIONS = (1, 2, 3)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read; the message names the file and the byte offset."""


@dataclass
class Tensor:
    name: str
    shape: tuple
    trainable: bool
    offset: int  # into params / best_params

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class Checkpoint:
    path: str
    version: int
    config: dict
    feature_names: list
    feature_mean: list
    feature_std: list
    class_labels: list
    target_mean: float
    target_std: float
    tensors: list
    params: list = field(repr=False)
    best_params: list = field(repr=False)
    epoch: int = 0
    best_epoch: int = 0

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"{self.path}: no tensor named {name!r} (it has {[t.name for t in self.tensors]})")

    def values(self, name: str, best: bool = True) -> list:
        t = self.tensor(name)
        source = self.best_params if best else self.params
        return source[t.offset:t.offset + t.size]


def _fnv1a64(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


class _Reader:
    def __init__(self, data: bytes, end: int, name: str):
        self.data, self.end, self.name, self.pos = data, end, name, 0

    def fail(self, what: str):
        raise CheckpointError(f"{self.name}: byte {self.pos}: {what}")

    def take(self, n: int) -> bytes:
        if n > self.end - self.pos:
            self.fail(f"needs {n} bytes, {self.end - self.pos} left before the checksum")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def count(self, what: str, min_bytes_each: int) -> int:
        n = self.unpack("I")
        if n * min_bytes_each > self.end - self.pos:
            self.fail(f"{n} {what} cannot fit in the {self.end - self.pos} bytes left")
        return n

    def str(self) -> str:
        n = self.unpack("Q")
        return self.take(n).decode("utf-8")

    def f64s(self, n: int) -> list:
        return list(struct.unpack(f"<{n}d", self.take(8 * n)))


def load_checkpoint(path) -> Checkpoint:
    path = Path(path)
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{name}: cannot read: {e.strerror}") from e
    if len(data) < 28 or data[:8] != MAGIC:
        raise CheckpointError(f"{name}: not a dynpmnn checkpoint (no DYNPMNNC magic at byte 0)")
    version, length = struct.unpack_from("<IQ", data, 8)
    if version not in VERSIONS:
        raise CheckpointError(f"{name}: byte 8: format version {version}, this reader knows {VERSIONS}")
    if length != len(data):
        raise CheckpointError(f"{name}: byte 12: the header says {length} bytes, the file has {len(data)} "
                              f"(truncated or appended to)")
    body_end = len(data) - 8
    (stored_sum,) = struct.unpack_from("<Q", data, body_end)
    if _fnv1a64(data[:body_end]) != stored_sum:
        raise CheckpointError(f"{name}: byte {body_end}: checksum mismatch (the file is corrupt)")

    r = _Reader(data, body_end, name)
    r.pos = 20
    config_text = r.str()
    try:
        config = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as e:
        raise CheckpointError(f"{name}: the stored config is not TOML: {e}") from e
    names, mean, std = [], [], []
    for _ in range(r.count("features", 24)):
        names.append(r.str())
        mean.append(r.unpack("d"))
        std.append(r.unpack("d"))
    labels = []
    if version >= 2:
        labels = [r.str() for _ in range(r.count("class labels", 8))]
    target_mean, target_std = 0.0, 1.0
    if version == 3:
        target_mean = r.unpack("d")
        target_std = r.unpack("d")
    tensors, total = [], 0
    for _ in range(r.count("tensors", 13)):
        tname = r.str()
        trainable = r.unpack("B") != 0
        dims = tuple(r.unpack("I") for _ in range(r.count("dimensions", 4)))
        t = Tensor(tname, dims, trainable, total)
        tensors.append(t)
        total += t.size
    params = r.f64s(total)
    best = r.f64s(total)
    r.unpack("q")  # Adam's step count
    r.f64s(total)  # m
    r.f64s(total)  # v
    epoch = r.unpack("i")
    best_epoch = r.unpack("i")
    return Checkpoint(name, version, config, names, mean, std, labels, target_mean, target_std, tensors, params,
                      best, epoch, best_epoch)
