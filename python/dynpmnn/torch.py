"""The FitzHugh–Nagumo neuron layer as a PyTorch module over dynpmnn's own kernels.

    FHN(neurons, dt=..., t_end=..., integrator=..., coupling=..., clip=..., train_a=..., ...)

takes the layer's input (B, 2N) with coupling "initial" (v0 | w0) or (B, N) with coupling "current"
(each neuron's input current) and returns (B, 2N) = [v_T | w_T], as the CLI's FHN layer does; the
keys and their defaults are the CLI's (``dynpmnn train --help``; defaults of ``Config{}``, the
paper's setting).

Where it runs, by the input tensor:
  * CPU float64: the CPU reference op (kernels/fhn.cpp), reading the tensor's storage in place (no
    copy where it is contiguous; a non-contiguous view is made contiguous first, which copies).
  * CPU float32: cast to float64, through the same op, and the result cast back to float32 (the op
    is double precision on the CPU; the cast is the only difference).
  * CUDA float32: the fused CUDA kernels (kernels/fhn.cu), in place, on the caller's current CUDA
    stream (``torch.cuda.current_stream()``); needs a library built with the CUDA op.
  * anything else: TypeError naming the dtype and device.

The parameters a, b, g, I are per-neuron tensors (N); trained ones are ``nn.Parameter``s holding the
stored value (θ with a = sigmoid(θ), b, g = softplus(θ) under param_space = "physical", as the CLI
stores them), frozen ones buffers. ``fhn_unfused`` is the same discrete scheme in plain PyTorch
operations (any dtype and device, exportable to ONNX); the tests check the op against it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from . import _capi

__all__ = ["FHN", "DynPMNNLayer", "DynPMNN", "MLP", "fhn", "fhn_unfused", "physical_value", "stored_value",
           "INTEGRATORS", "COUPLINGS"]

INTEGRATORS = ("euler", "imex", "heun", "rk4")
COUPLINGS = ("initial", "current")
PARAM_SPACES = ("physical", "raw")
# torch.library.custom_op (an opaque op that torch.compile(fullgraph=True) keeps whole) is 2.4's.
HAS_CUSTOM_OP = hasattr(torch, "library") and hasattr(torch.library, "custom_op")


@dataclass(frozen=True)
class FhnStatic:
    """The op's settings that are not tensors, checked once where they enter (FHN.__init__ or fhn())."""
    neurons: int
    steps: int
    dt: float
    clip: float
    coupling: int
    integrator: int

    def shape(self, batch: int) -> _capi.FhnShape:
        return _capi.FhnShape(batch, self.neurons, self.steps, self.dt, self.clip, self.coupling, self.integrator)

    @property
    def input_width(self) -> int:
        return 2 * self.neurons if self.coupling == 0 else self.neurons


def make_static(neurons, dt, t_end, integrator, coupling, clip) -> FhnStatic:
    if isinstance(neurons, bool) or not isinstance(neurons, int) or neurons <= 0:
        raise ValueError(f"neurons = {neurons!r} must be an integer > 0")
    clip = float(clip)
    if math.isnan(clip):
        raise ValueError("clip = nan must be a number (0 or less: no clamping)")
    steps = _capi.time_steps(dt, t_end)  # the config's own check: dt, t_end > 0, t_end a multiple of dt
    return FhnStatic(neurons, steps, float(dt), clip, _capi.coupling_code(coupling), _capi.integrator_code(integrator))


# --- the op: forward and backward through the C ABI ------------------------------------------------

def _ptr(t) -> int:
    return 0 if t is None else t.data_ptr()


def _checkpoints_per_sample(static: FhnStatic) -> int:
    return _capi.checkpoint_elems(static.shape(1))


def _forward_impl(x, a, b, g, current, static: FhnStatic, checkpoints: bool):
    """out (B, 2N) and the two checkpoint arrays (empty when checkpoints is False). x is CPU float64 or
    CUDA float32, contiguous; a .. current (N) of the same dtype and device."""
    batch = x.shape[0]
    shape = static.shape(batch)
    out = torch.empty((batch, 2 * static.neurons), dtype=x.dtype, device=x.device)
    elems = _capi.checkpoint_elems(shape) if checkpoints else 0
    ckpt_v = torch.empty(elems, dtype=x.dtype, device=x.device)
    ckpt_w = torch.empty(elems, dtype=x.dtype, device=x.device)
    cv, cw = (_ptr(ckpt_v), _ptr(ckpt_w)) if elems else (0, 0)
    if x.device.type == "cpu":
        _capi.forward_cpu_f64(shape, _ptr(x), _ptr(a), _ptr(b), _ptr(g), _ptr(current), _ptr(out), cv, cw)
    else:
        if not _capi.has_cuda():
            raise RuntimeError(f"FHN: the dynpmnn_fhn library at {_capi.library_path()} was built without the CUDA "
                               f"op (build it where nvcc is found) and cannot take a CUDA tensor")
        with torch.cuda.device(x.device):
            stream = torch.cuda.current_stream(x.device).cuda_stream
            _capi.forward_cuda_f32(shape, _ptr(x), _ptr(a), _ptr(b), _ptr(g), _ptr(current), _ptr(out), cv, cw,
                                   stream)
    return out, ckpt_v, ckpt_w


def _backward_impl(x, a, b, g, current, ckpt_v, ckpt_w, d_out, static: FhnStatic, want=(True,) * 5):
    """d_x and the batch-summed d_a .. d_current (None where `want` says no)."""
    batch = x.shape[0]
    shape = static.shape(batch)
    d_out = d_out.contiguous()
    d_x = torch.empty_like(x)
    grads = [torch.empty_like(a) if w else None for w in want[1:5]]
    cv, cw = (_ptr(ckpt_v), _ptr(ckpt_w)) if ckpt_v.numel() else (0, 0)
    if x.device.type == "cpu":
        _capi.backward_cpu_f64(shape, _ptr(x), _ptr(a), _ptr(b), _ptr(g), _ptr(current), cv, cw, _ptr(d_out),
                               _ptr(d_x), *(_ptr(t) for t in grads))
    else:
        with torch.cuda.device(x.device):
            workspace = None
            if any(t is not None for t in grads):
                workspace = torch.empty(_capi.backward_workspace_floats(shape), dtype=torch.float32, device=x.device)
            stream = torch.cuda.current_stream(x.device).cuda_stream
            _capi.backward_cuda_f32(shape, _ptr(x), _ptr(a), _ptr(b), _ptr(g), _ptr(current), cv, cw, _ptr(d_out),
                                    _ptr(d_x), *(_ptr(t) for t in grads), _ptr(workspace), stream)
    return (d_x, *grads)


class _FhnFunction(torch.autograd.Function):
    """The op under autograd on every PyTorch (1.13 included)."""

    @staticmethod
    def forward(ctx, x, a, b, g, current, static):
        out, ckpt_v, ckpt_w = _forward_impl(x, a, b, g, current, static, checkpoints=True)
        ctx.save_for_backward(x, a, b, g, current, ckpt_v, ckpt_w)
        ctx.static = static
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out):
        x, a, b, g, current, ckpt_v, ckpt_w = ctx.saved_tensors
        want = ctx.needs_input_grad[:5]
        grads = _backward_impl(x, a, b, g, current, ckpt_v, ckpt_w, d_out, ctx.static, want)
        return (*(t if w else None for t, w in zip(grads, want)), None)


if HAS_CUSTOM_OP:
    # PyTorch 2.4 and later: the same op as torch.ops.dynpmnn.fhn_forward / fhn_backward, so that
    # torch.compile(fullgraph=True) keeps it as one opaque node instead of breaking the graph.
    from typing import Tuple

    @torch.library.custom_op("dynpmnn::fhn_forward", mutates_args=())
    def _fhn_forward_op(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, g: torch.Tensor, current: torch.Tensor,
                        neurons: int, steps: int, dt: float, clip: float, coupling: int, integrator: int,
                        checkpoints: bool) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        static = FhnStatic(neurons, steps, dt, clip, coupling, integrator)
        return _forward_impl(x, a, b, g, current, static, checkpoints)

    @_fhn_forward_op.register_fake
    def _(x, a, b, g, current, neurons, steps, dt, clip, coupling, integrator, checkpoints):
        static = FhnStatic(neurons, steps, dt, clip, coupling, integrator)
        elems = _checkpoints_per_sample(static) * x.shape[0] if checkpoints else 0
        return x.new_empty((x.shape[0], 2 * neurons)), x.new_empty((elems,)), x.new_empty((elems,))

    @torch.library.custom_op("dynpmnn::fhn_backward", mutates_args=())
    def _fhn_backward_op(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, g: torch.Tensor, current: torch.Tensor,
                         ckpt_v: torch.Tensor, ckpt_w: torch.Tensor, d_out: torch.Tensor, neurons: int, steps: int,
                         dt: float, clip: float, coupling: int, integrator: int, wanted: int
                         ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # wanted: bit i set for input i (x, a, b, g, current) whose gradient is needed; the others
        # come back empty (a custom op returns tensors, not None) and their reductions are skipped.
        static = FhnStatic(neurons, steps, dt, clip, coupling, integrator)
        want = tuple(bool(wanted >> i & 1) for i in range(5))
        grads = _backward_impl(x, a, b, g, current, ckpt_v, ckpt_w, d_out, static, want)
        return tuple(t if t is not None else x.new_empty((0,)) for t in grads)

    @_fhn_backward_op.register_fake
    def _(x, a, b, g, current, ckpt_v, ckpt_w, d_out, neurons, steps, dt, clip, coupling, integrator, wanted):
        like = (x, a, b, g, current)
        return tuple(torch.empty_like(t) if i == 0 or wanted >> i & 1 else x.new_empty((0,))
                     for i, t in enumerate(like))

    def _setup_context(ctx, inputs, output):
        x, a, b, g, current, *static_args = inputs
        _, ckpt_v, ckpt_w = output
        ctx.save_for_backward(x, a, b, g, current, ckpt_v, ckpt_w)
        ctx.static_args = tuple(static_args[:6])

    def _custom_backward(ctx, d_out, _d_ckpt_v, _d_ckpt_w):
        x, a, b, g, current, ckpt_v, ckpt_w = ctx.saved_tensors
        needs = getattr(ctx, "needs_input_grad", None) or (True,) * 5
        want = [True] + list(needs[1:5])
        wanted = sum(1 << i for i, w in enumerate(want) if w)
        grads = _fhn_backward_op(x, a, b, g, current, ckpt_v, ckpt_w, d_out, *ctx.static_args, wanted)
        return (*(t if w else None for t, w in zip(grads, want)), None, None, None, None, None, None, None)

    _fhn_forward_op.register_autograd(_custom_backward, setup_context=_setup_context)


def _run_op(x, a, b, g, current, static: FhnStatic):
    x = x.contiguous()  # a no-op (the same storage) for a contiguous tensor
    params = [p.contiguous() for p in (a, b, g, current)]
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (x, *params))
    if HAS_CUSTOM_OP:
        out, _, _ = torch.ops.dynpmnn.fhn_forward(x, *params, static.neurons, static.steps, static.dt, static.clip,
                                                  static.coupling, static.integrator, needs_grad)
        return out
    if needs_grad:
        return _FhnFunction.apply(x, *params, static)
    return _forward_impl(x, *params, static, checkpoints=False)[0]


def _check_tensors(x, params, static: FhnStatic):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"FHN: the input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != static.input_width:
        coupling = COUPLINGS[static.coupling]
        raise ValueError(f"FHN: input of shape {tuple(x.shape)}, expected (batch, {static.input_width}) for "
                         f"{static.neurons} neurons with coupling '{coupling}'")
    for name, p in zip("abgI", params):
        if p.shape != (static.neurons,):
            raise ValueError(f"FHN: parameter {name} of shape {tuple(p.shape)}, expected ({static.neurons},)")
        if p.device != x.device:
            raise ValueError(f"FHN: parameter {name} is on {p.device}, the input on {x.device}")


def fhn_op(x, a, b, g, current, static: FhnStatic):
    """The op on checked settings; dispatches on x's device and dtype (module docstring)."""
    params = (a, b, g, current)
    _check_tensors(x, params, static)
    if x.device.type == "cpu":
        if x.dtype == torch.float64:
            return _run_op(x, *(p.to(torch.float64) for p in params), static)
        if x.dtype == torch.float32:
            # The CPU op is double precision: the float32 input goes through it cast (documented).
            out = _run_op(x.to(torch.float64), *(p.to(torch.float64) for p in params), static)
            return out.to(torch.float32)
        raise TypeError(f"FHN: dtype {x.dtype} on the CPU is not supported: use torch.float64 (read in place) or "
                        f"torch.float32 (cast to float64 and back)")
    if x.device.type == "cuda":
        if x.dtype != torch.float32:
            raise TypeError(f"FHN: dtype {x.dtype} on CUDA is not supported: the CUDA op takes torch.float32")
        return _run_op(x, *(p.to(torch.float32) for p in params), static)
    raise TypeError(f"FHN: device {x.device} is not supported (cpu float64/float32 or cuda float32)")


def fhn(x, a, b, g, I, *, dt, t_end, integrator="euler", coupling="initial", clip=0.0):
    """Functional form: physical per-neuron a, b, g, I (N) and the layer input x."""
    static = make_static(int(a.shape[0]), dt, t_end, integrator, coupling, clip)
    return fhn_op(x, a, b, g, I, static)


# --- the same scheme in plain PyTorch operations --------------------------------------------------

def _field(v, w, a, b, g, current):
    return current - w - v * (v - a) * (v - 1), b * (v - g * w)


def _step(v, w, a, b, g, current, dt, integrator):
    if integrator == "euler":
        fv, fw = _field(v, w, a, b, g, current)
        return v + dt * fv, w + dt * fw
    if integrator == "imex":
        # v³ and a·v (v² lagged) and the linear w terms implicit, (1 + a)v² explicit: a 2×2 solve.
        m11 = 1 + dt * (v * v + a)
        m12 = dt
        m21 = -dt * b
        m22 = 1 + dt * b * g
        r1 = v + dt * (current + (1 + a) * v * v)
        r2 = w
        det = m11 * m22 - m12 * m21
        return (m22 * r1 - m12 * r2) / det, (m11 * r2 - m21 * r1) / det
    if integrator == "heun":
        k1v, k1w = _field(v, w, a, b, g, current)
        k2v, k2w = _field(v + dt * k1v, w + dt * k1w, a, b, g, current)
        return v + 0.5 * dt * (k1v + k2v), w + 0.5 * dt * (k1w + k2w)
    if integrator == "rk4":
        h = 0.5 * dt
        k1v, k1w = _field(v, w, a, b, g, current)
        k2v, k2w = _field(v + h * k1v, w + h * k1w, a, b, g, current)
        k3v, k3w = _field(v + h * k2v, w + h * k2w, a, b, g, current)
        k4v, k4w = _field(v + dt * k3v, w + dt * k3w, a, b, g, current)
        return (v + dt / 6 * (k1v + 2 * k2v + 2 * k3v + k4v), w + dt / 6 * (k1w + 2 * k2w + 2 * k3w + k4w))
    raise ValueError(f"integrator = {integrator!r} (expected one of {INTEGRATORS})")


def fhn_unfused(x, a, b, g, I, *, dt, t_end=None, steps=None, integrator="euler", coupling="initial", clip=0.0):
    """The FHN layer as PyTorch operations, one per term and step: the same discrete map as the op
    (up to rounding), differentiable by autograd, in any dtype and on any device, and made of standard
    ONNX operators (the time loop unrolls when traced). Give t_end or steps."""
    if steps is None:
        steps = _capi.time_steps(dt, t_end)
    n = a.shape[0]
    if coupling == "initial":
        v, w = x[:, :n], x[:, n:2 * n]
        current = I
    elif coupling == "current":
        v = torch.zeros_like(x)
        w = torch.zeros_like(x)
        current = I + x
    else:
        raise ValueError(f"coupling = {coupling!r} (expected one of {COUPLINGS})")
    for _ in range(steps):
        v, w = _step(v, w, a, b, g, current, dt, integrator)
        if clip > 0:
            v = torch.clamp(v, -clip, clip)
            w = torch.clamp(w, -clip, clip)
    return torch.cat([v, w], dim=1)


# --- the parameter maps (kernels/fhn_param_map_math.h) ------------------------------------------

def _softplus(x):
    # max(x, 0) + log1p(e^-|x|): exact for any x, as the C++ map (torch's softplus switches to x above 20).
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))


def physical_value(name: str, stored, mapped: bool):
    """The value the layer uses from the stored one: a = sigmoid(θ), b, g = softplus(θ) where mapped."""
    if not mapped or name == "I":
        return stored
    return torch.sigmoid(stored) if name == "a" else _softplus(stored)


def stored_value(name: str, value: float, mapped: bool) -> float:
    """The inverse: what a parameter starting at `value` is stored as. Refuses values out of the map's range."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} = {value} must be finite")
    if not mapped or name == "I":
        return value
    if name == "a":
        if not 0 < value < 1:
            raise ValueError(f"a = {value} is outside the range of its sigmoid map (a in (0, 1)); "
                             f"param_space = 'raw' trains it unmapped")
        return math.log(value) - math.log1p(-value)
    if not value > 0:
        raise ValueError(f"{name} = {value} is outside the range of its softplus map ({name} > 0); "
                         f"param_space = 'raw' trains it unmapped")
    return value + math.log(-math.expm1(-value))


# --- the modules -----------------------------------------------------------------------------------

class FHN(nn.Module):
    """N FitzHugh–Nagumo neurons integrated over t_end / dt steps (module docstring).

    implementation: "kernel" (dynpmnn's op) or "unfused" (fhn_unfused); ONNX export always takes the
    unfused form, whose operators are standard.
    """

    def __init__(self, neurons, *, dt=20.0, t_end=500.0, integrator="euler", coupling="initial", clip=0.0,
                 a=0.2, b=0.02, g=3.0, I=0.0, train_a=False, train_b=False, train_g=False, train_I=False,
                 param_space="physical", implementation="kernel", dtype=None):
        super().__init__()
        self.static = make_static(neurons, dt, t_end, integrator, coupling, clip)
        if param_space not in PARAM_SPACES:
            raise ValueError(f"param_space = {param_space!r} (expected 'physical' or 'raw')")
        if implementation not in ("kernel", "unfused"):
            raise ValueError(f"implementation = {implementation!r} (expected 'kernel' or 'unfused')")
        self.neurons, self.dt, self.t_end, self.clip = neurons, float(dt), float(t_end), float(clip)
        self.integrator, self.coupling = INTEGRATORS[self.static.integrator], COUPLINGS[self.static.coupling]
        self.param_space, self.implementation = param_space, implementation
        dtype = dtype or torch.get_default_dtype()
        self.mapped = {}
        for name, value, trained in (("a", a, train_a), ("b", b, train_b), ("g", g, train_g), ("I", I, train_I)):
            mapped = bool(trained) and param_space == "physical"
            self.mapped[name] = mapped
            tensor = torch.full((neurons,), stored_value(name, value, mapped), dtype=dtype)
            if trained:
                self.register_parameter(name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)

    @property
    def input_width(self) -> int:
        return self.static.input_width

    def physical(self):
        """(a, b, g, I) as the neurons use them, differentiable with respect to the stored values."""
        return tuple(physical_value(n, getattr(self, n), self.mapped[n]) for n in "abgI")

    def forward(self, x):
        a, b, g, current = self.physical()
        if self.implementation == "unfused" or (not _compiling() and _exporting()):
            return fhn_unfused(x, a.to(x.dtype), b.to(x.dtype), g.to(x.dtype), current.to(x.dtype), dt=self.dt,
                               steps=self.static.steps, integrator=self.integrator, coupling=self.coupling,
                               clip=self.clip)
        return fhn_op(x, a, b, g, current, self.static)

    def extra_repr(self):
        trained = [n for n in "abgI" if isinstance(getattr(self, n), nn.Parameter)]
        return (f"neurons={self.neurons}, dt={self.dt:g}, t_end={self.t_end:g}, steps={self.static.steps}, "
                f"integrator={self.integrator}, coupling={self.coupling}, clip={self.clip:g}, "
                f"trained={trained}, param_space={self.param_space}")


def _compiling() -> bool:
    # torch.compile traces this as a constant True: the ONNX check below is then not traced.
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and hasattr(compiler, "is_compiling") and compiler.is_compiling())


def _exporting() -> bool:
    return bool(getattr(torch.onnx, "is_in_onnx_export", lambda: False)())


class LecunTanh(nn.Module):
    """ncps's 1.7159 · tanh(0.666 x) (kernels/elementwise_math.h)."""

    def forward(self, x):
        return 1.7159 * torch.tanh(0.666 * x)


ACTIVATIONS = {"silu": nn.SiLU, "tanh": nn.Tanh, "identity": nn.Identity, "relu": nn.ReLU, "lecun_tanh": LecunTanh}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation = {name!r} (expected one of {tuple(ACTIVATIONS)})")
    return ACTIVATIONS[name]()


class LinearBlock(nn.Module):
    """Linear(in → D) → optional LayerNorm (eps 1e-5) → activation: the front of the CLI's layers."""

    def __init__(self, in_width, width, *, layernorm=True, activation_name="silu", dtype=None):
        super().__init__()
        self.linear = nn.Linear(in_width, width, dtype=dtype)
        self.norm = nn.LayerNorm(width, eps=1e-5, dtype=dtype) if layernorm else None
        self.act = activation(activation_name)

    def forward(self, x):
        x = self.linear(x)
        if self.norm is not None:
            x = self.norm(x)
        return self.act(x)


class DynPMNNLayer(nn.Module):
    """One layer of the CLI's DynPMNN: Linear(in → 2N or N) → optional LayerNorm → activation → FHN."""

    def __init__(self, in_width, neurons, *, layernorm=True, activation="silu", dtype=None, **fhn_keys):
        super().__init__()
        self.fhn = FHN(neurons, dtype=dtype, **fhn_keys)
        self.front = LinearBlock(in_width, self.fhn.input_width, layernorm=layernorm, activation_name=activation,
                                 dtype=dtype)

    @property
    def out_width(self) -> int:
        return 2 * self.fhn.neurons

    def forward(self, x):
        return self.fhn(self.front(x))


# Config keys (host/config/config_keys.cpp) → FHN arguments.
_FHN_KEYS = {"dt": "dt", "t_end": "t_end", "integrator": "integrator", "coupling": "coupling", "clip": "clip",
             "fhn_a": "a", "fhn_b": "b", "fhn_g": "g", "fhn_I": "I", "train_a": "train_a", "train_b": "train_b",
             "train_g": "train_g", "train_I": "train_I", "fhn_param_space": "param_space"}


class _Stack(nn.Module):
    """A model of the CLI: its layers (self.layers) in order, then the linear readout (self.readout)."""

    def forward(self, x):
        for block in self.layers:
            x = block(x)
        return self.readout(x)


class DynPMNN(_Stack):
    """The CLI's model = "dynpmnn": `layers` DynPMNNLayers, then Linear(2N → outputs)."""

    def __init__(self, inputs, outputs=1, *, layers=1, neurons=1, layernorm=True, activation="silu", dtype=None,
                 implementation="kernel", **fhn_keys):
        super().__init__()
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
            raise ValueError(f"layers = {layers!r} must be an integer >= 1")
        blocks, width = [], inputs
        for _ in range(layers):
            block = DynPMNNLayer(width, neurons, layernorm=layernorm, activation=activation, dtype=dtype,
                                 implementation=implementation, **fhn_keys)
            blocks.append(block)
            width = block.out_width
        self.layers = nn.ModuleList(blocks)
        self.readout = nn.Linear(width, outputs, dtype=dtype)

    @classmethod
    def from_config(cls, config: dict, inputs: int, outputs: int = 1, **kwargs):
        """From the CLI's config keys (a run folder's config.toml, as a dict); keys it does not hold keep
        this class's defaults, which are the CLI's Config{} ones."""
        fhn_keys = {arg: config[key] for key, arg in _FHN_KEYS.items() if key in config}
        for key in ("layers", "neurons", "layernorm", "activation"):
            if key in config:
                kwargs.setdefault(key, config[key])
        return cls(inputs, outputs, **fhn_keys, **kwargs)

    def checkpoint_names(self):
        """Each parameter or buffer of this module by the name the CLI's parameter table gives it."""
        names = {}
        for i, block in enumerate(self.layers):
            p = f"layer{i}."
            names[p + "linear.weight"] = block.front.linear.weight
            names[p + "linear.bias"] = block.front.linear.bias
            if block.front.norm is not None:
                names[p + "norm.weight"] = block.front.norm.weight
                names[p + "norm.bias"] = block.front.norm.bias
            for n in "abgI":
                names[f"{p}fhn.{n}"] = getattr(block.fhn, n)
        names["readout.weight"] = self.readout.weight
        names["readout.bias"] = self.readout.bias
        return names


class MLP(_Stack):
    """The CLI's model = "mlp" (the paper's DNN baseline): LinearBlocks of the `hidden` widths, then the readout."""

    def __init__(self, inputs, outputs=1, *, hidden=(512, 256, 128), layernorm=True, activation="silu", dtype=None):
        super().__init__()
        blocks, width = [], inputs
        for h in hidden:
            blocks.append(LinearBlock(width, h, layernorm=layernorm, activation_name=activation, dtype=dtype))
            width = h
        self.layers = nn.ModuleList(blocks)
        self.readout = nn.Linear(width, outputs, dtype=dtype)

    @classmethod
    def from_config(cls, config: dict, inputs: int, outputs: int = 1, **kwargs):
        for key in ("hidden", "layernorm", "activation"):
            if key in config:
                kwargs.setdefault(key, config[key])
        return cls(inputs, outputs, **kwargs)

    def checkpoint_names(self):
        names = {}
        for i, block in enumerate(self.layers):
            p = f"layer{i}."
            names[p + "linear.weight"] = block.linear.weight
            names[p + "linear.bias"] = block.linear.bias
            if block.norm is not None:
                names[p + "norm.weight"] = block.norm.weight
                names[p + "norm.bias"] = block.norm.bias
        names["readout.weight"] = self.readout.weight
        names["readout.bias"] = self.readout.bias
        return names
