"""ctypes binding of the FHN op's C ABI (python/capi/dynpmnn_fhn.h).

Why ctypes over a C ABI and not a compiled extension: the library links nothing of Python or
PyTorch, so one build serves Debian's PyTorch 1.13 and a GPU machine's recent one alike, and the
package needs no PyTorch headers to build. Tensors cross as raw pointers (``tensor.data_ptr()``);
the autograd glue is Python (``dynpmnn.torch``).

The library is looked up at ``$DYNPMNN_FHN_LIBRARY`` (the CMake build's tests set it), then beside
this file (where ``pip install ./python`` puts it).
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

ABI_VERSION = 1
_LIBRARY_NAME = "libdynpmnn_fhn.so"
LIBRARY_ENV = "DYNPMNN_FHN_LIBRARY"


class FhnShape(ctypes.Structure):
    _fields_ = [
        ("batch", ctypes.c_int),
        ("neurons", ctypes.c_int),
        ("steps", ctypes.c_int),
        ("dt", ctypes.c_double),
        ("clip", ctypes.c_double),
        ("coupling", ctypes.c_int),
        ("integrator", ctypes.c_int),
    ]


class FhnError(RuntimeError):
    """An error the C++ op reported (its message says what was wrong)."""


_lib = None
_P = ctypes.c_void_p  # every array crosses as an untyped pointer: data_ptr() integers go straight in


def library_path() -> Path:
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / _LIBRARY_NAME


def lib():
    """The loaded library, loaded and checked on first use."""
    global _lib
    if _lib is not None:
        return _lib
    path = library_path()
    if not path.is_file():
        raise FhnError(
            f"dynpmnn: the FHN op library {path} does not exist: install the package with "
            f"`pip install ./python` (docs/python.md), or point ${LIBRARY_ENV} at the "
            f"libdynpmnn_fhn.so of a CMake build (build/python/libdynpmnn_fhn.so)")
    handle = ctypes.CDLL(str(path))
    version = handle.dynpmnn_fhn_abi_version()
    if version != ABI_VERSION:
        raise FhnError(f"dynpmnn: {path} has C ABI version {version}, this package needs {ABI_VERSION}: "
                       f"rebuild the library from the same checkout as the package")
    shape_p = ctypes.POINTER(FhnShape)
    sigs = {
        "dynpmnn_fhn_has_cuda": [],
        "dynpmnn_fhn_integrator_code": [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)],
        "dynpmnn_fhn_coupling_code": [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)],
        "dynpmnn_fhn_time_steps": [ctypes.c_double, ctypes.c_double, ctypes.POINTER(ctypes.c_int)],
        "dynpmnn_fhn_checkpoint_elems": [shape_p, ctypes.POINTER(ctypes.c_size_t)],
        "dynpmnn_fhn_backward_workspace_floats": [shape_p, ctypes.POINTER(ctypes.c_size_t)],
        "dynpmnn_fhn_forward_cpu_f64": [shape_p] + [_P] * 8 + [ctypes.POINTER(ctypes.c_int)],
        "dynpmnn_fhn_backward_cpu_f64": [shape_p] + [_P] * 13,
        "dynpmnn_fhn_forward_cuda_f32": [shape_p] + [_P] * 8 + [_P],
        "dynpmnn_fhn_backward_cuda_f32": [shape_p] + [_P] * 14 + [_P],
    }
    for name, argtypes in sigs.items():
        fn = getattr(handle, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int
    handle.dynpmnn_fhn_last_error.restype = ctypes.c_char_p
    handle.dynpmnn_fhn_last_error.argtypes = []
    _lib = handle
    return _lib


def check(status: int) -> None:
    if status != 0:
        raise FhnError(lib().dynpmnn_fhn_last_error().decode("utf-8", "replace"))


def has_cuda() -> bool:
    return bool(lib().dynpmnn_fhn_has_cuda())


def integrator_code(name: str) -> int:
    code = ctypes.c_int()
    _check_value(lib().dynpmnn_fhn_integrator_code(str(name).encode(), ctypes.byref(code)))
    return code.value


def coupling_code(name: str) -> int:
    code = ctypes.c_int()
    _check_value(lib().dynpmnn_fhn_coupling_code(str(name).encode(), ctypes.byref(code)))
    return code.value


def time_steps(dt: float, t_end: float) -> int:
    steps = ctypes.c_int()
    _check_value(lib().dynpmnn_fhn_time_steps(float(dt), float(t_end), ctypes.byref(steps)))
    return steps.value


def _check_value(status: int) -> None:
    # A refused key value is the caller's mistake: ValueError, as Python code expects.
    if status != 0:
        raise ValueError(lib().dynpmnn_fhn_last_error().decode("utf-8", "replace"))


def checkpoint_elems(shape: FhnShape) -> int:
    n = ctypes.c_size_t()
    check(lib().dynpmnn_fhn_checkpoint_elems(ctypes.byref(shape), ctypes.byref(n)))
    return n.value


def backward_workspace_floats(shape: FhnShape) -> int:
    n = ctypes.c_size_t()
    check(lib().dynpmnn_fhn_backward_workspace_floats(ctypes.byref(shape), ctypes.byref(n)))
    return n.value


# The four entry points of the op, pointers as integers (0: null). Tests wrap these to see which
# pointers reach the op.
def forward_cpu_f64(shape, x, a, b, g, current, out, ckpt_v, ckpt_w) -> bool:
    finite = ctypes.c_int(1)
    check(lib().dynpmnn_fhn_forward_cpu_f64(ctypes.byref(shape), x, a, b, g, current, out, ckpt_v, ckpt_w,
                                            ctypes.byref(finite)))
    return bool(finite.value)


def backward_cpu_f64(shape, x, a, b, g, current, ckpt_v, ckpt_w, d_out, d_in, d_a, d_b, d_g, d_current) -> None:
    check(lib().dynpmnn_fhn_backward_cpu_f64(ctypes.byref(shape), x, a, b, g, current, ckpt_v, ckpt_w, d_out, d_in,
                                             d_a, d_b, d_g, d_current))


def forward_cuda_f32(shape, x, a, b, g, current, out, ckpt_v, ckpt_w, stream) -> None:
    check(lib().dynpmnn_fhn_forward_cuda_f32(ctypes.byref(shape), x, a, b, g, current, out, ckpt_v, ckpt_w, stream))


def backward_cuda_f32(shape, x, a, b, g, current, ckpt_v, ckpt_w, d_out, d_in, d_a, d_b, d_g, d_current,
                      workspace, stream) -> None:
    check(lib().dynpmnn_fhn_backward_cuda_f32(ctypes.byref(shape), x, a, b, g, current, ckpt_v, ckpt_w, d_out, d_in,
                                              d_a, d_b, d_g, d_current, workspace, stream))
