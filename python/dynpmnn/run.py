"""A run folder trained by ``dynpmnn train`` as a PyTorch model.

    model = dynpmnn.run.load_run("runs/my-run")      # RUN_DIR/best.bin: its config and best weights
    x = dynpmnn.run.read_inputs(model, "rows.csv")   # the rows `dynpmnn predict --input` takes
    y = model(x)                                     # what `dynpmnn predict` writes, in the target's units
    dynpmnn.run.export_onnx(model, "model.onnx", x[:1])  # standard operators, a dynamic batch axis

The loaded module is ``RunModel``: the inputs standardised with the run's feature scaler, the network
(``DynPMNN`` or ``MLP`` of dynpmnn.torch, built from the stored config keys and holding the best
parameters as the CLI stores them), and the regression target's standardisation undone. A
classification run returns the K logits (``predict_proba`` gives the softmax).
"""
from __future__ import annotations

import csv
from pathlib import Path

import torch
from torch import nn

from .checkpoint import Checkpoint, load_checkpoint
from .torch import DynPMNN, MLP

CALIFORNIA_COLUMNS = ("longitude", "latitude", "housingMedianAge", "totalRooms", "totalBedrooms", "population",
                      "households", "medianIncome", "medianHouseValue")


class RunModel(nn.Module):
    """Raw feature rows (B, F) in the run's feature order → predictions as `dynpmnn predict` gives them."""

    def __init__(self, network: nn.Module, checkpoint: Checkpoint, dtype):
        super().__init__()
        self.network = network
        self.checkpoint = checkpoint
        self.config = checkpoint.config
        self.feature_names = list(checkpoint.feature_names)
        self.class_labels = list(checkpoint.class_labels)
        self.register_buffer("feature_mean", torch.tensor(checkpoint.feature_mean, dtype=dtype))
        self.register_buffer("feature_std", torch.tensor(checkpoint.feature_std, dtype=dtype))
        self.register_buffer("target_mean", torch.tensor(checkpoint.target_mean, dtype=dtype))
        self.register_buffer("target_std", torch.tensor(checkpoint.target_std, dtype=dtype))

    @property
    def uses_california(self) -> bool:
        return not self.config.get("target", "")

    def forward(self, x):
        y = self.network((x - self.feature_mean) / self.feature_std)
        if self.class_labels:
            return y
        return y * self.target_std + self.target_mean

    def predict_proba(self, x):
        if not self.class_labels:
            raise ValueError(f"{self.checkpoint.path}: a regression run has no class probabilities")
        return torch.softmax(self.forward(x), dim=1)


def build_network(config: dict, inputs: int, outputs: int, dtype=torch.float64, implementation="kernel"):
    model = config.get("model", "dynpmnn")
    if model == "dynpmnn":
        return DynPMNN.from_config(config, inputs, outputs, dtype=dtype, implementation=implementation)
    if model == "mlp":
        return MLP.from_config(config, inputs, outputs, dtype=dtype)
    raise ValueError(f"model = {model!r}: dynpmnn.run loads the dynpmnn and mlp models so far (cfc and node "
                     f"runs are not ported)")


def load_run(run_dir, *, dtype=torch.float64, implementation="kernel", best=True) -> RunModel:
    """The run's best model (best.bin; best=False: the last epoch's parameters of checkpoint.bin)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    ck = load_checkpoint(run_dir / ("best.bin" if best else "checkpoint.bin"))
    outputs = len(ck.class_labels) or 1
    network = build_network(ck.config, len(ck.feature_names), outputs, dtype, implementation)
    names = network.checkpoint_names()
    stored = {t.name for t in ck.tensors}
    if stored != set(names):
        raise ValueError(f"{ck.path}: its tensors {sorted(stored)} are not the ones the config's model has "
                         f"{sorted(names)}")
    with torch.no_grad():
        for t in ck.tensors:
            target = names[t.name]
            if tuple(target.shape) != t.shape:
                raise ValueError(f"{ck.path}: tensor {t.name} has shape {t.shape}, the model's is "
                                 f"{tuple(target.shape)}")
            values = ck.best_params if best else ck.params
            target.copy_(torch.tensor(values[t.offset:t.offset + t.size], dtype=torch.float64).reshape(t.shape))
    return RunModel(network, ck, dtype).eval()


def export_onnx(model: nn.Module, f, example: torch.Tensor, opset: int = 17) -> None:
    """ONNX export with standard operators (the FHN layers in their unfused form, the time loop
    unrolled), a dynamic batch axis, input "x" and output "y". `f` is a path or a binary file object.

    Through PyTorch's TorchScript-based exporter on every version: from 2.9 on torch.onnx.export
    defaults to the dynamo exporter, which needs the onnxscript package; dynamo=False keeps the one
    exporter that needs no package beyond PyTorch."""
    import inspect
    kwargs = dict(input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                  opset_version=opset)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    torch.onnx.export(model, (example,), f, **kwargs)


def california_features(raw: torch.Tensor) -> torch.Tensor:
    """Raw StatLib rows (B, 8 or 9) → MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup,
    Latitude, Longitude (data/california.h california_features)."""
    if raw.dim() != 2 or raw.shape[1] not in (8, 9):
        raise ValueError(f"California rows of shape {tuple(raw.shape)}, expected (rows, 8) or (rows, 9)")
    lon, lat, age, rooms, bedrooms, population, households, income = raw[:, :8].unbind(1)
    bad = ~(households > 0)
    if bad.any():
        row = int(bad.nonzero()[0, 0])
        raise ValueError(f"row {row + 1}: households = {float(households[row])}, expected > 0 to derive AveRooms, "
                         f"AveBedrms and AveOccup")
    return torch.stack([income, age, rooms / households, bedrooms / households, population, population / households,
                        lat, lon], dim=1)


def read_inputs(model: RunModel, path, dtype=torch.float64) -> torch.Tensor:
    """The rows of a `dynpmnn predict --input` file as the model's input (B, F), unscaled: California
    runs take raw StatLib rows (an optional header of those names), CSV runs a header naming the
    run's feature columns."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if not rows:
        raise ValueError(f"{path}: no rows")
    if model.uses_california:
        if rows[0][0].strip() == CALIFORNIA_COLUMNS[0]:
            rows = rows[1:]
        raw = torch.tensor([[float(v) for v in r] for r in rows], dtype=dtype)
        return california_features(raw)
    header = [h.strip() for h in rows[0]]
    missing = [n for n in model.feature_names if n not in header]
    if missing:
        raise ValueError(f"{path}: the header lacks the run's feature columns {missing}")
    cols = [header.index(n) for n in model.feature_names]
    return torch.tensor([[float(r[c]) for c in cols] for r in rows[1:]], dtype=dtype)
