#!/usr/bin/env python3
"""Compares what two binaries wrote for one preset, bit for bit, less what depends on the clock.

  bench/compare_runs.py OLD_DIR NEW_DIR

Each folder holds what bench/compare_bits.sh collected from one binary: run/ (the run folder),
status.json (exit codes), train.out/train.err, eval.json and predict.csv. Prints "identical", or
"DIFFERENT: <the first differing field>" and exits 1. Compared, in this order:
  exit codes of train, eval and predict;
  final.json and train's JSON line, less epoch_seconds and run_dir;
  metrics.jsonl, less each epoch's seconds;
  best_params.json, byte for byte;
  checkpoint.bin and best.bin, parsed (host/io/checkpoint.h's layout): every field but the history's
    seconds and the checksum over them, every parameter and Adam moment as its 8 bytes;
  eval.json; predict.csv, byte for byte; config.toml; loss_curve.png; train's stderr.
Floating-point values in JSON are compared as the doubles they parse to: nlohmann::json writes the
shortest text that reads back as the same double, so that is their bits. Only the standard library.

A configuration key added since the old binary appears in the new config.toml and in the
checkpoints' stored configuration only. COMPARE_ADDED_KEYS (lines separated by ';', e.g.
'target_scaling = "none"') names such lines, with the value that keeps the old behaviour: each is
dropped from the new side's configuration text where the old side has no line for that key, and
nothing else is forgiven (a new key with any other value still differs). COMPARE_RENAMED_VALUES
('OLD LINE => NEW LINE' pairs separated by ';', e.g. 'split = "0.7,0.15,0.15" => split = "paper"')
names a value the new version spells differently for the same run: the new side's line is read as
the old one where the old side has exactly that old line.
"""
import json
import math
import os
import struct
import sys

TIMING_KEYS = {"seconds", "epoch_seconds", "run_dir"}


class Differs(Exception):
    pass


ADDED_KEY_LINES = [l.strip() for l in os.environ.get("COMPARE_ADDED_KEYS", "").split(";") if l.strip()]
RENAMED_VALUES = [tuple(part.strip() for part in pair.split("=>", 1))
                  for pair in os.environ.get("COMPARE_RENAMED_VALUES", "").split(";") if "=>" in pair]


def without_added_keys(old_text, new_text):
    """new_text less the COMPARE_ADDED_KEYS lines whose key old_text does not set."""
    old_keys = {l.split("=")[0].strip() for l in old_text.splitlines() if "=" in l and not l.startswith("#")}
    old_lines = {l.strip() for l in old_text.splitlines()}
    keep = []
    for l in new_text.splitlines(keepends=True):
        if l.strip() in ADDED_KEY_LINES and l.split("=")[0].strip() not in old_keys:
            continue
        for old, new in RENAMED_VALUES:
            if l.strip() == new and old in old_lines:
                l = l.replace(new, old)
        keep.append(l)
    return "".join(keep)


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def same_number(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def compare_json(where, a, b):
    """Raises Differs naming the first path at which a and b differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k in TIMING_KEYS:
                continue
            if k not in a or k not in b:
                raise Differs(f"{where}: key {k!r} only in {'new' if k not in a else 'old'}")
            compare_json(f"{where}.{k}", a[k], b[k])
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            raise Differs(f"{where}: {len(a)} entries against {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            compare_json(f"{where}[{i}]", x, y)
    elif not same_number(a, b):
        raise Differs(f"{where}: old {a!r}, new {b!r}")


def load_json_text(text, where):
    # The writers emit NaN/Infinity as null; Python's parser also takes NaN and Infinity.
    try:
        return json.loads(text)
    except ValueError as e:
        raise Differs(f"{where}: not JSON ({e})")


def compare_file_json(name, old_dir, new_dir, lines=False):
    a, b = read_bytes(os.path.join(old_dir, name)), read_bytes(os.path.join(new_dir, name))
    if a is None or b is None:
        if a is None and b is None:
            return
        raise Differs(f"{name}: only {'new' if a is None else 'old'} wrote it")
    if lines:
        la = [l for l in a.decode().splitlines() if l.strip()]
        lb = [l for l in b.decode().splitlines() if l.strip()]
        if len(la) != len(lb):
            raise Differs(f"{name}: {len(la)} lines against {len(lb)}")
        for i, (x, y) in enumerate(zip(la, lb)):
            compare_json(f"{name} line {i + 1}", load_json_text(x, name), load_json_text(y, name))
    else:
        compare_json(name, load_json_text(a, name), load_json_text(b, name))


def compare_file_bytes(name, old_dir, new_dir, config=False):
    a, b = read_bytes(os.path.join(old_dir, name)), read_bytes(os.path.join(new_dir, name))
    if config and a is not None and b is not None:
        b = without_added_keys(a.decode(), b.decode()).encode()
    if a == b:
        return
    if a is None or b is None:
        raise Differs(f"{name}: only {'new' if a is None else 'old'} wrote it")
    i = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    line = a[:i].count(b"\n") + 1
    raise Differs(f"{name}: first difference at byte {i} (line {line}); sizes {len(a)} and {len(b)}")


# --- checkpoints --------------------------------------------------------------------------------

class Reader:
    def __init__(self, data, name):
        self.data, self.pos, self.name = data, 0, name

    def take(self, n):
        if self.pos + n > len(self.data):
            raise Differs(f"{self.name}: truncated at byte {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def i32(self):
        return struct.unpack("<i", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def i64(self):
        return struct.unpack("<q", self.take(8))[0]

    def str(self):
        return self.take(self.u64()).decode("utf-8", "replace")


def parse_checkpoint(data, name):
    """The checkpoint's fields as (name, value) in file order; arrays stay raw bytes."""
    r = Reader(data, name)
    if r.take(8) != b"DYNPMNNC":
        raise Differs(f"{name}: no checkpoint magic")
    fields = []
    version = r.u32()
    fields.append(("version", version))
    length = r.u64()
    if length != len(data):
        raise Differs(f"{name}: header length {length}, file {len(data)} bytes")
    fields.append(("config", r.str()))
    features = []
    for _ in range(r.u32()):
        features.append((r.str(), r.take(8), r.take(8)))
    fields.append(("features and scaler", features))
    if version >= 2:
        fields.append(("class labels", [r.str() for _ in range(r.u32())]))
    if version >= 3:
        fields.append(("target scaler", (r.take(8), r.take(8))))
    tensors = []
    for _ in range(r.u32()):
        tname, trainable, rank = r.str(), r.u8(), r.u32()
        tensors.append((tname, trainable, [r.u32() for _ in range(rank)]))
    fields.append(("tensors", tensors))
    P = sum(math.prod(dims) for _, _, dims in tensors)
    for array in ("params", "best params"):
        fields.append((array, r.take(8 * P)))
    fields.append(("adam step", r.i64()))
    for array in ("adam m", "adam v"):
        fields.append((array, r.take(8 * P)))
    for f in ("epochs completed", "best epoch", "epochs waited"):
        fields.append((f, r.i32()))
    for f in ("best val mse", "patience reference"):
        fields.append((f, r.take(8)))
    history = []
    for _ in range(r.u32()):
        epoch, train_loss, val_mse, _seconds, improved = r.i32(), r.take(8), r.take(8), r.take(8), r.u8()
        history.append((epoch, train_loss, val_mse, improved))
    fields.append(("history (less seconds)", history))
    r.take(8)  # the checksum covers the seconds too
    if r.pos != len(data):
        raise Differs(f"{name}: {len(data) - r.pos} bytes after the checksum")
    return fields, tensors


def element_name(tensors, index):
    for tname, _, dims in tensors:
        n = math.prod(dims)
        if index < n:
            return f"{tname}[{index}]"
        index -= n
    return f"[{index}]"


def compare_checkpoint(name, old_dir, new_dir):
    a, b = read_bytes(os.path.join(old_dir, name)), read_bytes(os.path.join(new_dir, name))
    if a is None or b is None:
        if a is None and b is None:
            return
        raise Differs(f"{name}: only {'new' if a is None else 'old'} wrote it")
    fa, tensors = parse_checkpoint(a, "old " + name)
    fb, _ = parse_checkpoint(b, "new " + name)
    old_config = dict(fa)["config"]
    fb = [(f, without_added_keys(old_config, x) if f == "config" else x) for f, x in fb]
    for (field, x), (_, y) in zip(fa, fb):
        if x == y:
            continue
        if isinstance(x, bytes) and len(x) == len(y) and len(x) % 8 == 0 and len(x) > 8:
            i = next(i for i in range(0, len(x), 8) if x[i:i + 8] != y[i:i + 8]) // 8
            dx, dy = struct.unpack_from("<d", x, 8 * i)[0], struct.unpack_from("<d", y, 8 * i)[0]
            raise Differs(f"{name}: {field} {element_name(tensors, i)}: old {dx!r}, new {dy!r}")
        if isinstance(x, str) and isinstance(y, str):
            lx, ly = x.splitlines(), y.splitlines()
            k = next((k for k in range(min(len(lx), len(ly))) if lx[k] != ly[k]), min(len(lx), len(ly)))
            raise Differs(f"{name}: {field} line {k + 1}: old {lx[k:k + 1]}, new {ly[k:k + 1]}")
        raise Differs(f"{name}: {field} differs")
    if len(fa) != len(fb):
        raise Differs(f"{name}: {len(fa)} fields against {len(fb)}")


def compare(old_dir, new_dir):
    compare_file_json("status.json", old_dir, new_dir)
    old_run, new_run = os.path.join(old_dir, "run"), os.path.join(new_dir, "run")
    compare_file_json("final.json", old_run, new_run)
    # train's stdout: its last JSON line is final.json again; earlier lines (if any) must agree too.
    compare_file_json("train.out", old_dir, new_dir, lines=True)
    compare_file_json("metrics.jsonl", old_run, new_run, lines=True)
    compare_file_bytes("best_params.json", old_run, new_run)
    compare_checkpoint("checkpoint.bin", old_run, new_run)
    compare_checkpoint("best.bin", old_run, new_run)
    compare_file_json("eval.json", old_dir, new_dir)
    compare_file_bytes("predict.csv", old_dir, new_dir)
    compare_file_bytes("predict.err", old_dir, new_dir)
    compare_file_bytes("config.toml", old_run, new_run, config=True)
    compare_file_bytes("loss_curve.png", old_run, new_run)
    compare_file_bytes("train.err", old_dir, new_dir)
    names = lambda d: sorted(f for f in os.listdir(d) if not f.startswith("."))
    if names(old_run) != names(new_run):
        raise Differs(f"run folder files: old {names(old_run)}, new {names(new_run)}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        compare(sys.argv[1], sys.argv[2])
    except Differs as e:
        print(f"DIFFERENT: {e}")
        return 1
    print("identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
