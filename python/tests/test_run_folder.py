"""From the CLI to PyTorch and to ONNX: tiny runs trained by `dynpmnn train`, loaded with
dynpmnn.run.load_run, must predict what `dynpmnn predict` writes; exported to ONNX, onnxruntime must
give the same.

Tolerance: both sides compute in float64 (the CLI's CPU backend, the PyTorch model and the ONNX
graph), in different orders of summation, so predictions agree to |Δ| <= 1e-9 · (1 + |y|); the
largest difference seen is printed.
"""
import csv
import io
import os
import random
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from torch_or_skip import torch, require_torch, optional_module

require_torch()

from dynpmnn import checkpoint as dckpt  # noqa: E402
from dynpmnn import run as drun  # noqa: E402
from dynpmnn import torch as dtorch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CLI = os.environ.get("DYNPMNN_CLI") or str(REPO / "build" / "dynpmnn")
TOL = 1e-9

# The runs: keys over each --set, chosen so that every part of the loader is used at least once.
RUNS = {
    # two FHN layers with LayerNorm, initial-state coupling, Euler with an active clamp, raw target
    "dynpmnn-initial-euler-clip": ["layers=2", "neurons=3", "coupling=initial", "integrator=euler", "dt=0.1",
                                   "t_end=1", "clip=1.5", "layernorm=true", "target_scaling=none", "train_a=true"],
    # one layer, the input as a current, IMEX, every neuron parameter trained through its map, the
    # target standardised (checkpoint version 3)
    "dynpmnn-current-imex-maps": ["layers=1", "neurons=4", "coupling=current", "integrator=imex", "dt=0.2",
                                  "t_end=2", "layernorm=false", "activation=tanh", "train_a=true", "train_b=true",
                                  "train_g=true", "train_I=true", "target_scaling=standard"],
    # RK4 with parameters trained unmapped (fhn_param_space = raw)
    "dynpmnn-rk4-raw": ["neurons=2", "coupling=initial", "integrator=rk4", "dt=0.25", "t_end=1", "train_b=true",
                        "train_I=true", "fhn_param_space=raw", "target_scaling=standard"],
    # the DNN baseline
    "mlp": ["model=mlp", "hidden=8,5", "activation=relu", "layernorm=true", "target_scaling=standard"],
}


def make_csv(path: Path, rows: int, seed: int):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["f0", "f1", "f2", "f3", "y"])
        for _ in range(rows):
            x = [rng.gauss(0, 1), rng.uniform(0, 10), rng.gauss(5, 2), rng.gauss(0, 0.1)]
            y = 3 * x[0] ** 2 - 0.5 * x[1] + 0.1 * x[1] * x[2] + 20 * x[3] + 50 + rng.gauss(0, 0.3)
            w.writerow([repr(v) for v in x + [y]])


def onnx_runtime(test):
    """onnxruntime, and where this PyTorch's exporter needs it (2.9 and later: the TorchScript-based
    exporter too) the onnx package; a skip or, with DYNPMNN_REQUIRE_TORCH=1, a failure without them."""
    if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 9):
        optional_module(test, "onnx")
    return optional_module(test, "onnxruntime")


def cli(*args, cwd=None):
    r = subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        raise AssertionError(f"dynpmnn {' '.join(args)} exited {r.returncode}:\n{r.stderr[-3000:]}")
    return r


def read_predictions(path: Path):
    with open(path) as f:
        lines = f.read().split()
    return torch.tensor([float(v) for v in lines[1:]], dtype=torch.float64).reshape(-1, 1)


def largest_difference(got, want):
    return float(((got - want).abs() / (1 + want.abs())).max())


class RunFolders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not Path(CLI).is_file():
            raise AssertionError(f"the dynpmnn CLI is not at {CLI}: build it, or set DYNPMNN_CLI")
        cls.tmp = Path(tempfile.mkdtemp(prefix="dynpmnn-pytest-"))
        cls.data = cls.tmp / "train.csv"
        make_csv(cls.data, rows=240, seed=1)
        cls.inputs = cls.tmp / "inputs.csv"
        make_csv(cls.inputs, rows=37, seed=2)  # new rows; the target column is there and ignored
        cls.runs = {}
        for name, keys in RUNS.items():
            out = cls.tmp / name
            args = ["train", "--data", str(cls.data), "--target", "y", "--task", "regression", "--epochs", "3",
                    "--device", "cpu", "--quiet", "--seed", "4", "--out", str(out)]
            for k in keys + ["batch_size=16", "lr=0.01", "patience=0"]:
                args += ["--set", k]
            cli(*args)
            pred = cls.tmp / f"{name}.pred.csv"
            cli("predict", str(out), "--input", str(cls.inputs), "--output", str(pred), "--device", "cpu")
            cls.runs[name] = (out, read_predictions(pred))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_loaded_runs_predict_what_the_cli_predicts(self):
        for name, (run_dir, expected) in self.runs.items():
            with self.subTest(run=name):
                model = drun.load_run(run_dir)
                x = drun.read_inputs(model, self.inputs)
                self.assertEqual(tuple(x.shape), (37, 4))
                with torch.no_grad():
                    got = model(x)
                diff = largest_difference(got, expected)
                print(f"{name}: PyTorch vs dynpmnn predict, largest |diff| / (1 + |y|) = {diff:.3g}")
                self.assertLessEqual(diff, TOL)
                # The predictions are not constant: a model that ignored its input would fail here.
                self.assertGreater(float(expected.std()), 1e-3)

    def test_the_loaded_model_trains_on(self):
        # The loaded network is an ordinary module: gradients reach every stored parameter.
        model = drun.load_run(self.runs["dynpmnn-current-imex-maps"][0])
        x = drun.read_inputs(model, self.inputs)
        model(x).pow(2).mean().backward()
        fhn = model.network.layers[0].fhn
        for n in "abgI":
            self.assertIsInstance(getattr(fhn, n), torch.nn.Parameter)
            self.assertTrue(torch.isfinite(getattr(fhn, n).grad).all())
        # physical values in range, as the CLI's maps keep them
        a, b, g, _ = fhn.physical()
        self.assertTrue(((a > 0) & (a < 1)).all() and (b > 0).all() and (g > 0).all())

    def test_the_unfused_model_agrees(self):
        run_dir, expected = self.runs["dynpmnn-initial-euler-clip"]
        model = drun.load_run(run_dir, implementation="unfused")
        with torch.no_grad():
            got = model(drun.read_inputs(model, self.inputs))
        self.assertLessEqual(largest_difference(got, expected), TOL)

    def test_onnx_round_trip(self):
        ort = onnx_runtime(self)
        for name, (run_dir, expected) in self.runs.items():
            with self.subTest(run=name):
                model = drun.load_run(run_dir)
                x = drun.read_inputs(model, self.inputs)
                f = io.BytesIO()
                drun.export_onnx(model, f, x[:2])
                session = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])
                got = torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
                diff = largest_difference(got, expected)
                print(f"{name}: onnxruntime vs dynpmnn predict, largest |diff| / (1 + |y|) = {diff:.3g}")
                self.assertLessEqual(diff, TOL)
                # The graph holds no custom operator: standard ONNX only.
                self.assertNotIn(b"dynpmnn", f.getvalue())

    def test_onnx_float32(self):
        # Deployment usually wants float32: the same export of a float32 copy of the model, within
        # float32's rounding of the double predictions (|Δ| <= 1e-4 · (1 + |y|) over tens of steps).
        ort = onnx_runtime(self)
        run_dir, expected = self.runs["dynpmnn-current-imex-maps"]
        model = drun.load_run(run_dir, dtype=torch.float32)
        x = drun.read_inputs(model, self.inputs, dtype=torch.float32)
        f = io.BytesIO()
        drun.export_onnx(model, f, x[:2])
        session = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"x": x.numpy()})[0]).double()
        diff = largest_difference(got, expected)
        print(f"float32 ONNX vs dynpmnn predict, largest |diff| / (1 + |y|) = {diff:.3g}")
        self.assertLessEqual(diff, 1e-4)

    def test_corrupt_checkpoint_is_refused(self):
        run_dir = self.runs["mlp"][0]
        data = bytearray((run_dir / "best.bin").read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad = self.tmp / "corrupt.bin"
        bad.write_bytes(bytes(data))
        with self.assertRaises(dckpt.CheckpointError) as e:
            dckpt.load_checkpoint(bad)
        self.assertIn("checksum mismatch", str(e.exception))
        bad.write_bytes(bytes(data[:100]))
        with self.assertRaises(dckpt.CheckpointError) as e:
            dckpt.load_checkpoint(bad)
        self.assertIn("truncated", str(e.exception))


class ClassificationRun(unittest.TestCase):
    def test_probabilities_and_labels_are_the_clis(self):
        rng = random.Random(7)
        with tempfile.TemporaryDirectory(prefix="dynpmnn-pytest-cls-") as tmp:
            tmp = Path(tmp)
            for name, rows in (("train.csv", 210), ("inputs.csv", 25)):
                with open(tmp / name, "w", newline="") as f:
                    w = csv.writer(f)
                    w.writerow(["u", "v", "kind"])
                    for _ in range(rows):
                        u, v = rng.gauss(0, 1), rng.gauss(0, 1)
                        kind = "left" if u < -0.4 else ("right" if u + 0.3 * v > 0.5 else "middle")
                        w.writerow([repr(u), repr(v), kind])
            cli("train", "--data", str(tmp / "train.csv"), "--target", "kind", "--task", "classification", "--epochs",
                "3", "--device", "cpu", "--quiet", "--out", str(tmp / "run"), "--set", "neurons=3", "--set", "dt=0.1",
                "--set", "t_end=1", "--set", "integrator=heun", "--set", "coupling=current")
            cli("predict", str(tmp / "run"), "--input", str(tmp / "inputs.csv"), "--output", str(tmp / "pred.csv"),
                "--device", "cpu")
            with open(tmp / "pred.csv", newline="") as f:
                table = list(csv.reader(f))
            model = drun.load_run(tmp / "run")
            self.assertEqual(table[0], ["kind"] + [f"p_{c}" for c in model.class_labels])
            expected = torch.tensor([[float(v) for v in r[1:]] for r in table[1:]], dtype=torch.float64)
            with torch.no_grad():
                probs = model.predict_proba(drun.read_inputs(model, tmp / "inputs.csv"))
            diff = float((probs - expected).abs().max())
            print(f"classification: PyTorch vs dynpmnn predict, largest probability difference = {diff:.3g}")
            self.assertLessEqual(diff, TOL)
            labels = [model.class_labels[int(i)] for i in probs.argmax(dim=1)]
            self.assertEqual(labels, [r[0] for r in table[1:]])


def california_file():
    for place in (os.environ.get("DYNPMNN_DATA"), REPO / "data" / "cache" / "cal_housing.data",
                  REPO.parent / "shared" / "data" / "cal_housing.data"):
        if place and Path(place).is_file():
            return Path(place)
    return None


class CaliforniaRun(unittest.TestCase):
    def test_paper_stable_preset(self):
        data = california_file()
        if data is None:
            if os.environ.get("DYNPMNN_REQUIRE_DATA") == "1":
                self.fail("cal_housing.data not found ($DYNPMNN_DATA, data/cache/, ../shared/data/)")
            self.skipTest("cal_housing.data not found ($DYNPMNN_DATA, data/cache/, ../shared/data/)")
        with tempfile.TemporaryDirectory(prefix="dynpmnn-pytest-cal-") as tmp:
            tmp = Path(tmp)
            cli("train", "--preset", "paper-california-stable", "--data", str(data), "--epochs", "1", "--device",
                "cpu", "--quiet", "--out", str(tmp / "run"))
            rows = tmp / "rows.csv"
            with open(data) as f, open(rows, "w") as out:
                out.write(",".join(drun.CALIFORNIA_COLUMNS) + "\n")
                for _, line in zip(range(50), f):
                    out.write(line)
            cli("predict", str(tmp / "run"), "--input", str(rows), "--output", str(tmp / "pred.csv"), "--device",
                "cpu")
            model = drun.load_run(tmp / "run")
            self.assertTrue(model.uses_california)
            with torch.no_grad():
                got = model(drun.read_inputs(model, rows))
            expected = read_predictions(tmp / "pred.csv")
            diff = largest_difference(got, expected)
            print(f"paper-california-stable: PyTorch vs dynpmnn predict, largest |diff| / (1 + |y|) = {diff:.3g}")
            self.assertLessEqual(diff, TOL)


if __name__ == "__main__":
    unittest.main()
