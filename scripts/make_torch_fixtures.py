#!/usr/bin/python3
"""Writes the PyTorch autograd fixtures that tests/test_torch_fixtures.cpp compares the C++ model with.

Run (from anywhere; needs torch and numpy, e.g. Debian's /usr/bin/python3 with torch 1.13 CPU):

    /usr/bin/python3 scripts/make_torch_fixtures.py            # writes tests/fixtures/torch_*.json
    /usr/bin/python3 scripts/make_torch_fixtures.py --out DIR  # somewhere else

and commit the files: CI has no torch, the C++ test reads the committed copies. The output is
deterministic (torch.manual_seed per fixture, float64 throughout), so rerunning it on an unchanged
script reproduces the files byte for byte.

Each fixture is a small network built here independently of the C++ code, in float64 torch, equal
to our DynPMNN: per layer Linear(in, D) -> optional LayerNorm(D, eps=1e-5) -> activation -> N
FitzHugh-Nagumo neurons stepped by the layer's integrator (explicit Euler, semi-implicit Euler,
Heun or RK4, each written out plainly in step() below; per-neuron a, b, g, I; optional clamp of v
and w to [-clip, clip] after every step, as torch.clamp) -> concat(v_T, w_T); then Linear(2N_last, outputs).
Coupling "initial": D = 2N, v0 = h[:, :N], w0 = h[:, N:], current = I. Coupling "current": D = N,
v0 = w0 = 0, current = I + h. The loss is the mean squared error against random targets.

A fixture holds (JSON, floats as Python's repr, i.e. round-trip exact):
  spec          inputs, outputs and per layer: neurons, coupling, integrator, layernorm, activation, dt, t_end,
                steps, clip (0 = none), a, b, g, I (the spec's initial values), train_a/b/g/I
  param_tensors name, shape, size, trainable of every tensor, in our ParamTable order
  params        the flat parameter vector in ParamTable order (models/dynpmnn.cpp): per layer
                linear.weight (D, in) row-major, linear.bias, [norm.weight, norm.bias], fhn.a,
                fhn.b, fhn.g, fhn.I; then readout.weight (outputs, 2N), readout.bias
  batch, x (batch, inputs), targets (batch, outputs), predictions (batch, outputs), loss
  grad          d loss / d params, flat in the same order; zeros for frozen FHN parameters
  clamped       raw step results that fell strictly outside [-clip, clip] (0 without clip)
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "tests", "fixtures")
LN_EPS = 1e-5


def layer(neurons, coupling="initial", layernorm=True, activation="silu", dt=0.5, t_end=10.0, clip=0.0,
          a=0.2, b=0.02, g=3.0, I=0.0, train=(False, False, False, False), integrator="euler"):
    return dict(neurons=neurons, coupling=coupling, integrator=integrator, layernorm=layernorm,
                activation=activation, dt=dt, t_end=t_end, steps=int(round(t_end / dt)), clip=clip, a=a, b=b,
                g=g, I=I, train_a=train[0], train_b=train[1], train_g=train[2], train_I=train[3])


ALL = (True, True, True, True)

# name -> (description, spec, batch, perturb): perturb moves LayerNorm and FHN parameters off their
# defaults (per neuron), so that no gradient coincides by symmetry; the paper's fixtures keep them.
FIXTURES = {
    "paper_dt20_clip20": (
        "The paper's architecture (N=1, LayerNorm, SiLU, initial-condition coupling, dt 20, t_end 500) "
        "with the clamp at 20 of the authors' later code, which keeps it finite",
        dict(inputs=8, outputs=1, layers=[layer(1, dt=20.0, t_end=500.0, clip=20.0)]), 8, False),
    "paper_dt0.5": (
        "The paper's architecture at a stable step: dt 0.5, t_end 10, no clamp",
        dict(inputs=8, outputs=1, layers=[layer(1, dt=0.5, t_end=10.0)]), 8, False),
    "current_tanh_2x3_trainfhn": (
        "Two layers of 3 neurons, current coupling, tanh, no LayerNorm, dt 0.2, t_end 4, every FHN parameter trained",
        dict(inputs=5, outputs=1, layers=[
            layer(3, "current", False, "tanh", dt=0.2, t_end=4.0, train=ALL),
            layer(3, "current", False, "tanh", dt=0.2, t_end=4.0, train=ALL)]), 6, True),
    "identity_n4_clip1.5": (
        "4 neurons, LayerNorm, identity, dt 0.25, t_end 5, clamp at 1.5 (some states clamped), a and I trained",
        dict(inputs=6, outputs=1, layers=[
            layer(4, "initial", True, "identity", dt=0.25, t_end=5.0, clip=1.5, train=(True, False, False, True))]),
        6, True),
    "steps100_two_layers": (
        "100 steps (several checkpoint segments) then a current-coupled layer, 2 outputs",
        dict(inputs=4, outputs=2, layers=[
            layer(2, "initial", True, "silu", dt=0.1, t_end=10.0, train=(True, False, True, False)),
            layer(3, "current", True, "tanh", dt=0.25, t_end=5.0, train=(False, True, False, True))]), 5, True),
    # The other schemes: autograd differentiates the plain formulas below, independently of the
    # hand-written reverses in kernels/neurons/fhn.h.
    "imex_dt20_current_trainfhn": (
        "Semi-implicit Euler at the paper's dt 20 (t_end 100), 3 neurons, current coupling, all FHN parameters trained",
        dict(inputs=5, outputs=1, layers=[
            layer(3, "current", True, "silu", dt=20.0, t_end=100.0, train=ALL, integrator="imex")]), 6, True),
    "heun_n3_clip0.6": (
        "Heun (RK2), 3 neurons, dt 0.3, t_end 6, clamp at 0.6, a and g trained",
        dict(inputs=4, outputs=1, layers=[
            layer(3, "initial", True, "identity", dt=0.3, t_end=6.0, clip=0.6, train=(True, False, True, False),
                  integrator="heun")]), 6, True),
    "rk4_two_layers": (
        "Classic RK4 in two layers (initial then current coupling), dt 0.5, every FHN parameter trained",
        dict(inputs=4, outputs=2, layers=[
            layer(2, "initial", True, "tanh", dt=0.5, t_end=5.0, train=ALL, integrator="rk4"),
            layer(2, "current", False, "silu", dt=0.5, t_end=3.0, train=ALL, integrator="rk4")]), 5, True),
}


def activation(name, h):
    if name == "silu":
        return F.silu(h)
    if name == "tanh":
        return torch.tanh(h)
    if name == "identity":
        return h
    raise ValueError(name)


def field(v, w, a, b, g, current):
    return current - v * (v - a) * (v - 1.0) - w, b * (v - g * w)


def step(integrator, v, w, a, b, g, current, dt):
    if integrator == "euler":
        dv, dw = field(v, w, a, b, g, current)
        return v + dt * dv, w + dt * dw
    if integrator == "imex":
        # [1 + dt(v^2 + a), dt; -dt b, 1 + dt b g] (v', w') = (v + dt(I + (1 + a) v^2), w), by Cramer's rule.
        m11, m12 = 1.0 + dt * (v * v + a), dt
        m21, m22 = -dt * b, 1.0 + dt * b * g
        r1, r2 = v + dt * (current + (1.0 + a) * v * v), w
        det = m11 * m22 - m12 * m21
        return (m22 * r1 - m12 * r2) / det, (m11 * r2 - m21 * r1) / det
    if integrator == "heun":
        k1v, k1w = field(v, w, a, b, g, current)
        k2v, k2w = field(v + dt * k1v, w + dt * k1w, a, b, g, current)
        return v + 0.5 * dt * (k1v + k2v), w + 0.5 * dt * (k1w + k2w)
    if integrator == "rk4":
        h = 0.5 * dt
        k1v, k1w = field(v, w, a, b, g, current)
        k2v, k2w = field(v + h * k1v, w + h * k1w, a, b, g, current)
        k3v, k3w = field(v + h * k2v, w + h * k2w, a, b, g, current)
        k4v, k4w = field(v + dt * k3v, w + dt * k3w, a, b, g, current)
        return (v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v),
                w + dt / 6.0 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w))
    raise ValueError(integrator)


def fhn(integrator, v, w, a, b, g, current, dt, steps, clip, counter):
    for _ in range(steps):
        v, w = step(integrator, v, w, a, b, g, current, dt)
        if clip > 0:
            counter[0] += int((v.abs() > clip).sum()) + int((w.abs() > clip).sum())
            v, w = v.clamp(-clip, clip), w.clamp(-clip, clip)
    return v, w


def make_params(spec, perturb):
    """Tensors in ParamTable order: list of (name, tensor, trainable)."""
    out = []
    width = spec["inputs"]
    for l, L in enumerate(spec["layers"]):
        N = L["neurons"]
        D = 2 * N if L["coupling"] == "initial" else N
        lin = torch.nn.Linear(width, D).double()  # PyTorch's default initialisation
        p = f"layer{l}."
        out.append((p + "linear.weight", lin.weight.detach().clone(), True))
        out.append((p + "linear.bias", lin.bias.detach().clone(), True))
        if L["layernorm"]:
            gamma, beta = torch.ones(D, dtype=torch.float64), torch.zeros(D, dtype=torch.float64)
            if perturb:
                gamma += 0.3 * (2 * torch.rand(D, dtype=torch.float64) - 1)
                beta += 0.2 * (2 * torch.rand(D, dtype=torch.float64) - 1)
            out.append((p + "norm.weight", gamma, True))
            out.append((p + "norm.bias", beta, True))
        for key, spread in (("a", 0.1), ("b", 0.2), ("g", 0.5), ("I", 0.2)):
            t = torch.full((N,), float(L[key]), dtype=torch.float64)
            if perturb:
                t += spread * (2 * torch.rand(N, dtype=torch.float64) - 1)
            out.append((p + "fhn." + key, t, L["train_" + key]))
        width = 2 * N
    ro = torch.nn.Linear(width, spec["outputs"]).double()
    out.append(("readout.weight", ro.weight.detach().clone(), True))
    out.append(("readout.bias", ro.bias.detach().clone(), True))
    return out


def forward(spec, P, x, counter):
    h_in = x
    for l, L in enumerate(spec["layers"]):
        N = L["neurons"]
        p = f"layer{l}."
        h = F.linear(h_in, P[p + "linear.weight"], P[p + "linear.bias"])
        if L["layernorm"]:
            h = F.layer_norm(h, (h.shape[1],), P[p + "norm.weight"], P[p + "norm.bias"], eps=LN_EPS)
        h = activation(L["activation"], h)
        a, b, g, I = (P[p + "fhn." + k] for k in "abgI")
        if L["coupling"] == "initial":
            v, w, current = h[:, :N], h[:, N:], I
        else:
            v = w = torch.zeros_like(h)
            current = I + h
        v, w = fhn(L["integrator"], v, w, a, b, g, current, L["dt"], L["steps"], L["clip"], counter)
        h_in = torch.cat([v, w], dim=1)
    return F.linear(h_in, P["readout.weight"], P["readout.bias"])


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def build(name, description, spec, batch, perturb, seed):
    torch.manual_seed(seed)
    tensors = make_params(spec, perturb)
    P = {}
    for n, t, trainable in tensors:
        P[n] = t.clone().requires_grad_(trainable)
    x = torch.randn(batch, spec["inputs"], dtype=torch.float64)
    targets = torch.randn(batch, spec["outputs"], dtype=torch.float64)
    counter = [0]
    pred = forward(spec, P, x, counter)
    loss = F.mse_loss(pred, targets)
    loss.backward()
    if not torch.isfinite(pred).all():
        sys.exit(f"{name}: non-finite predictions")
    if any(L["clip"] > 0 for L in spec["layers"]) and counter[0] == 0:
        sys.exit(f"{name}: a clamp is set but no state reached it")
    grad, params, table = [], [], []
    for n, t, trainable in tensors:
        g = P[n].grad if trainable else None
        grad += flat(g) if g is not None else [0.0] * t.numel()
        params += flat(t)
        table.append(dict(name=n, shape=list(t.shape), size=t.numel(), trainable=trainable))
    return dict(
        name=name, description=description, generator="scripts/make_torch_fixtures.py",
        torch=torch.__version__, seed=seed, spec=spec, param_tensors=table, params=params, batch=batch,
        x=flat(x), targets=flat(targets), predictions=flat(pred), loss=float(loss), grad=grad,
        clamped=counter[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    os.makedirs(args.out, exist_ok=True)
    for seed, (name, (description, spec, batch, perturb)) in enumerate(FIXTURES.items(), start=1):
        fx = build(name, description, spec, batch, perturb, seed)
        path = os.path.join(args.out, f"torch_{name}.json")
        with open(path, "w") as f:
            json.dump(fx, f, indent=1)  # json writes floats with repr: round-trip exact
            f.write("\n")
        gnorm = {t["name"]: sum(v * v for v in fx["grad"][o:o + t["size"]]) ** 0.5
                 for t, o in zip(fx["param_tensors"], offsets(fx["param_tensors"]))}
        smallest = min((v, k) for k, v in gnorm.items() if v > 0)
        print(f"{path}: {len(fx['params'])} params, loss {fx['loss']:.6g}, clamped {fx['clamped']}, "
              f"smallest non-zero |grad| {smallest[0]:.2e} ({smallest[1]}), "
              f"zero: {[k for k, v in gnorm.items() if v == 0]}")


def offsets(table):
    o, out = 0, []
    for t in table:
        out.append(o)
        o += t["size"]
    return out


if __name__ == "__main__":
    main()
