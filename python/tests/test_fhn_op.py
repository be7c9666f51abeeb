"""dynpmnn.torch's FHN op against a plain-PyTorch unfused reference and finite differences.

Run: python3 -m unittest discover -s python/tests -v  (CTest runs it as python_fhn_op; see docs/python.md).
"""
import itertools
import math
import os
import sys
import unittest

from torch_or_skip import torch, require_torch

require_torch()

from dynpmnn import _capi  # noqa: E402
from dynpmnn import torch as dtorch  # noqa: E402

# Every integrator × coupling, each without and with an active clamp: 16 gradcheck cases.
CASES = list(itertools.product(dtorch.INTEGRATORS, dtorch.COUPLINGS, (0.0, 0.6)))
# 40 steps: three checkpoint segments of the op (interval 16), the last one partial.
DT, T_END = 0.05, 2.0
STEPS = 40
BATCH, NEURONS = 3, 2


def inputs(coupling, seed, requires_grad=True, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    width = 2 * NEURONS if coupling == "initial" else NEURONS
    x = torch.randn(BATCH, width, generator=gen, dtype=dtype)
    if coupling == "current":
        x = 1.5 * x  # currents that move the neurons
    # a in (0, 1), b, g > 0, I: around the paper's values, different per neuron.
    a = torch.tensor([0.2, 0.35], dtype=dtype)
    b = torch.tensor([0.5, 0.8], dtype=dtype)
    g = torch.tensor([1.5, 3.0], dtype=dtype)
    current = torch.tensor([0.3, -0.2], dtype=dtype)
    out = [x, a, b, g, current]
    for t in out:
        t.requires_grad_(requires_grad)
    return out


def op(integrator, coupling, clip):
    def f(x, a, b, g, current):
        return dtorch.fhn(x, a, b, g, current, dt=DT, t_end=T_END, integrator=integrator, coupling=coupling, clip=clip)
    return f


def reference(integrator, coupling, clip):
    def f(x, a, b, g, current):
        return dtorch.fhn_unfused(x, a, b, g, current, dt=DT, steps=STEPS, integrator=integrator, coupling=coupling,
                                  clip=clip)
    return f


class GradcheckAgainstReference(unittest.TestCase):
    def test_every_integrator_and_coupling(self):
        for integrator, coupling, clip in CASES:
            with self.subTest(integrator=integrator, coupling=coupling, clip=clip):
                args = inputs(coupling, seed=len(integrator) + 7 * len(coupling))
                # Finite differences of the op itself against its own backward (float64).
                self.assertTrue(torch.autograd.gradcheck(op(integrator, coupling, clip), args, eps=1e-6, atol=1e-7,
                                                         rtol=1e-6))
                # The unfused reference: same outputs and, through PyTorch's autograd, same gradients.
                y = op(integrator, coupling, clip)(*args)
                ref_args = [t.detach().clone().requires_grad_(True) for t in args]
                y_ref = reference(integrator, coupling, clip)(*ref_args)
                self.assertTrue(torch.isfinite(y).all())
                torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
                if clip > 0:
                    # The clamp is active somewhere, or this case would test nothing of it.
                    self.assertTrue((y_ref.detach().abs() == clip).any(), "clip 0.6 never clamped")
                weight = torch.randn(y.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
                grads = torch.autograd.grad((y * weight).sum(), args)
                grads_ref = torch.autograd.grad((y_ref * weight).sum(), ref_args)
                for name, got, want in zip(("x", "a", "b", "g", "I"), grads, grads_ref):
                    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12, msg=lambda m: f"d{name}: {m}")

    def test_physical_parameter_maps(self):
        # Trained a, b, g stored as θ (a = sigmoid, b, g = softplus): the module's gradient with respect
        # to θ, by finite differences and against the unfused module.
        for integrator in dtorch.INTEGRATORS:
            with self.subTest(integrator=integrator):
                keys = dict(dt=DT, t_end=T_END, integrator=integrator, coupling="current", a=0.3, b=0.4, g=2.0, I=0.1,
                            train_a=True, train_b=True, train_g=True, train_I=True, dtype=torch.float64)
                fused = dtorch.FHN(NEURONS, **keys)
                unfused = dtorch.FHN(NEURONS, implementation="unfused", **keys)
                x = torch.randn(BATCH, NEURONS, dtype=torch.float64, requires_grad=True)
                params = [fused.a, fused.b, fused.g, fused.I]

                def run(x, ta, tb, tg, ti):
                    a, b, g = torch.sigmoid(ta), dtorch._softplus(tb), dtorch._softplus(tg)
                    return dtorch.fhn(x, a, b, g, ti, dt=DT, t_end=T_END, integrator=integrator, coupling="current")

                self.assertTrue(torch.autograd.gradcheck(run, [x, *params], eps=1e-6, atol=1e-7, rtol=1e-6))
                fused(x).sum().backward()
                unfused(x.detach()).sum().backward()
                for n in "abgI":
                    torch.testing.assert_close(getattr(fused, n).grad, getattr(unfused, n).grad, rtol=1e-10,
                                               atol=1e-12)
                self.assertAlmostEqual(float(fused.physical()[0][0].detach()), 0.3, places=14)


class Dtypes(unittest.TestCase):
    def test_float64_is_read_in_place(self):
        # The op receives the address of the caller's storage: a contiguous row slice of a larger
        # tensor, and the parameters as they are.
        seen = {}
        original = _capi.forward_cpu_f64

        def spy(shape, x, a, b, g, current, out, ckpt_v, ckpt_w):
            seen.update(x=x, a=a, batch=shape.batch)
            return original(shape, x, a, b, g, current, out, ckpt_v, ckpt_w)

        big = torch.randn(10, 2 * NEURONS, dtype=torch.float64)
        view = big[4:7]
        a, b, g, current = inputs("initial", seed=1, requires_grad=False)[1:]
        _capi.forward_cpu_f64 = spy
        try:
            y = dtorch.fhn(view, a, b, g, current, dt=DT, t_end=T_END)
        finally:
            _capi.forward_cpu_f64 = original
        self.assertEqual(seen["x"], big.data_ptr() + 4 * 2 * NEURONS * 8)
        self.assertEqual(seen["a"], a.data_ptr())
        self.assertEqual(seen["batch"], 3)
        # And what it read there is the view's rows.
        torch.testing.assert_close(y, dtorch.fhn_unfused(view.clone(), a, b, g, current, dt=DT, steps=STEPS),
                                   rtol=1e-12, atol=1e-12)

    def test_non_contiguous_input(self):
        big = torch.randn(3, 3 * NEURONS, dtype=torch.float64)
        view = big[:, NEURONS:]  # not contiguous: made contiguous (a copy) before the op
        self.assertFalse(view.is_contiguous())
        a, b, g, current = inputs("initial", seed=1, requires_grad=False)[1:]
        torch.testing.assert_close(dtorch.fhn(view, a, b, g, current, dt=DT, t_end=T_END),
                                   dtorch.fhn_unfused(view, a, b, g, current, dt=DT, steps=STEPS), rtol=1e-12,
                                   atol=1e-12)

    def test_float32_goes_through_the_double_op(self):
        x, a, b, g, current = inputs("initial", seed=2, requires_grad=False)
        y32 = dtorch.fhn(x.float().requires_grad_(), a.float(), b.float(), g.float(), current.float(), dt=DT,
                         t_end=T_END)
        self.assertEqual(y32.dtype, torch.float32)
        # The op ran on the float32 values widened to double: the result is that double result, rounded.
        y64 = dtorch.fhn(x.float().double(), a.float().double(), b.float().double(), g.float().double(),
                         current.float().double(), dt=DT, t_end=T_END)
        self.assertTrue(torch.equal(y32, y64.float()))
        x32 = x.float().requires_grad_()
        dtorch.fhn(x32, a.float(), b.float(), g.float(), current.float(), dt=DT, t_end=T_END).sum().backward()
        self.assertEqual(x32.grad.dtype, torch.float32)
        self.assertTrue(torch.isfinite(x32.grad).all())

    def test_other_dtypes_are_refused(self):
        x, a, b, g, current = inputs("initial", seed=2, requires_grad=False)
        for dtype in (torch.float16, torch.bfloat16, torch.int64, torch.complex128):
            with self.subTest(dtype=dtype):
                with self.assertRaises(TypeError) as e:
                    dtorch.fhn(x.to(dtype), a, b, g, current, dt=DT, t_end=T_END)
                self.assertIn(str(dtype), str(e.exception))

    def test_module_float32_and_float64(self):
        m = dtorch.FHN(NEURONS, dt=DT, t_end=T_END, integrator="imex")
        self.assertEqual(m.a.dtype, torch.get_default_dtype())
        x = torch.randn(4, 2 * NEURONS)
        self.assertEqual(m(x).dtype, torch.float32)
        self.assertEqual(m.double()(x.double()).dtype, torch.float64)


class BadSettings(unittest.TestCase):
    def test_each_bad_value_is_named(self):
        cases = [
            (dict(neurons=0), "neurons = 0"),
            (dict(dt=-1.0), "dt = -1"),
            (dict(t_end=0.33, dt=0.1), "t_end = 0.33 is not a multiple of dt = 0.1"),
            (dict(integrator="leapfrog"), "unknown integrator 'leapfrog'"),
            (dict(coupling="voltage"), "unknown coupling 'voltage'"),
            (dict(clip=math.nan), "clip = nan"),
            (dict(train_a=True, a=1.5), "a = 1.5 is outside the range of its sigmoid map"),
            (dict(train_g=True, g=0.0), "g = 0.0 is outside the range of its softplus map"),
            (dict(param_space="log"), "param_space = 'log'"),
        ]
        for kwargs, message in cases:
            with self.subTest(**{k: str(v) for k, v in kwargs.items()}):
                keys = dict(neurons=2, dt=0.1, t_end=1.0)
                keys.update(kwargs)
                with self.assertRaises(ValueError) as e:
                    dtorch.FHN(keys.pop("neurons"), **keys)
                self.assertIn(message, str(e.exception))

    def test_the_c_abi_reports_a_bad_code_by_value(self):
        # The library checks what crosses the C boundary itself, for callers other than this module.
        x, a, b, g, current = inputs("initial", seed=2, requires_grad=False)
        out = torch.empty(BATCH, 2 * NEURONS, dtype=torch.float64)
        shape = _capi.FhnShape(BATCH, NEURONS, STEPS, DT, 0.0, 0, 9)
        with self.assertRaises(_capi.FhnError) as e:
            _capi.forward_cpu_f64(shape, x.data_ptr(), a.data_ptr(), b.data_ptr(), g.data_ptr(), current.data_ptr(),
                                  out.data_ptr(), 0, 0)
        self.assertIn("integrator code 9", str(e.exception))
        shape = _capi.FhnShape(BATCH, 0, STEPS, DT, 0.0, 0, 0)
        with self.assertRaises(_capi.FhnError) as e:
            _capi.checkpoint_elems(shape)
        self.assertIn("neurons must be > 0, got 0", str(e.exception))

    def test_wrong_input_width(self):
        m = dtorch.FHN(3, dt=0.1, t_end=1.0, coupling="current", dtype=torch.float64)
        with self.assertRaises(ValueError) as e:
            m(torch.zeros(2, 6, dtype=torch.float64))
        self.assertIn("input of shape (2, 6), expected (batch, 3)", str(e.exception))


class Cuda(unittest.TestCase):
    def setUp(self):
        if not torch.cuda.is_available():
            self.skipTest("no CUDA device visible to PyTorch")
        if not _capi.has_cuda():
            self.fail(f"a CUDA device exists but {_capi.library_path()} was built without the CUDA op")

    def test_float32_on_the_current_stream_matches_the_double_op(self):
        for integrator, coupling in itertools.product(dtorch.INTEGRATORS, dtorch.COUPLINGS):
            with self.subTest(integrator=integrator, coupling=coupling):
                args = inputs(coupling, seed=5)
                stream = torch.cuda.Stream()
                with torch.cuda.stream(stream):
                    dev = [t.detach().float().cuda().requires_grad_() for t in args]
                    y = op(integrator, coupling, 0.0)(*dev)
                    y.sum().backward()
                stream.synchronize()
                y_ref = op(integrator, coupling, 0.0)(*args)
                y_ref.sum().backward()
                torch.testing.assert_close(y.double().cpu(), y_ref.detach(), rtol=1e-4, atol=1e-5)
                for got, want in zip(dev, args):
                    torch.testing.assert_close(got.grad.double().cpu(), want.grad, rtol=1e-3, atol=1e-4)

    def test_float64_on_cuda_is_refused(self):
        x, a, b, g, current = (t.cuda() for t in inputs("initial", seed=2, requires_grad=False))
        with self.assertRaises(TypeError) as e:
            dtorch.fhn(x, a, b, g, current, dt=DT, t_end=T_END)
        self.assertIn("torch.float64", str(e.exception))


class Compile(unittest.TestCase):
    def test_fullgraph_custom_op(self):
        if not dtorch.HAS_CUSTOM_OP:
            self.skipTest(f"torch {torch.__version__} has no torch.library.custom_op (PyTorch 2.4 or later): the op "
                          f"cannot be an opaque node of torch.compile(fullgraph=True) here")
        m = dtorch.DynPMNN(4, 1, neurons=3, dt=DT, t_end=T_END, integrator="imex", coupling="current",
                           train_a=True, dtype=torch.float64)
        compiled = torch.compile(m, fullgraph=True)
        x = torch.randn(5, 4, dtype=torch.float64)
        y = compiled(x)
        torch.testing.assert_close(y, m(x), rtol=1e-12, atol=1e-12)
        y.sum().backward()
        self.assertIsNotNone(m.layers[0].fhn.a.grad)


if __name__ == "__main__":
    unittest.main()
