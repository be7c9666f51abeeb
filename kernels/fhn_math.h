// Per-(sample, neuron) FitzHugh–Nagumo arithmetic, shared by the CPU reference (fhn.cpp) and the
// CUDA kernels (fhn.cu): both call these very functions, so the CPU tests exercise the GPU's math.
//
//   dv/dt = I − v (v − a)(v − 1) − w,     dw/dt = b (v − g w)
//
// integrated by explicit Euler with step dt, optionally clamping v and w to [−clip, clip] after
// every step (the authors' later code does this to stop blow-ups). The backward runs the discrete
// map in reverse (exact gradient of what the forward computed, clamp included: zero gradient where
// a value was clamped, as torch.clamp). The trajectory is not stored: the forward writes the state
// at the start of every checkpoint segment, and the backward recomputes each segment in register
// blocks of R steps, so memory is O(steps / interval) with interval ≈ √steps.
#pragma once

#include <cmath>
#include <cstddef>

#if defined(__CUDACC__)
#define DYNPMNN_HD __host__ __device__ __forceinline__
#else
#define DYNPMNN_HD inline
#endif

namespace dynpmnn {

// Steps recomputed and held in registers at a time by the backward; a compile-time constant so
// that the unrolled loops keep the states in registers on the GPU.
inline constexpr int kFhnRegisterBlock = 16;

template <typename T>
struct FhnParams {
  T a, b, g, I;
};

// Gradient of the loss with respect to one neuron's parameters, summed over the steps (and, by the
// caller, over the batch). dI is also the gradient of the per-sample input current.
template <typename T>
struct FhnParamGrad {
  T a = 0, b = 0, g = 0, I = 0;
};

// Steps between stored checkpoints: a multiple of the register block near √steps, so both the
// stored states (steps / interval) and the recomputation (interval / R blocks) stay small.
DYNPMNN_HD int fhn_checkpoint_interval(int steps) {
  int root = 1;
  while (root * root < steps) ++root;
  const int blocks = (root + kFhnRegisterBlock - 1) / kFhnRegisterBlock;
  return blocks * kFhnRegisterBlock;
}

// Number of stored checkpoints (the state at the start of every segment but the first, which is
// the layer's initial state itself).
DYNPMNN_HD int fhn_num_checkpoints(int steps) {
  const int interval = fhn_checkpoint_interval(steps);
  return (steps + interval - 1) / interval - 1;
}

template <typename T>
DYNPMNN_HD T fhn_clamp(T x, T clip) {
  return x > clip ? clip : (x < -clip ? -clip : x);
}

// One explicit-Euler step, unclipped result in (v_next, w_next). `current` is the neuron's I plus
// any input current of this sample.
template <typename T>
DYNPMNN_HD void fhn_euler_raw(T v, T w, const FhnParams<T>& p, T current, T dt, T& v_next, T& w_next) {
  const T dv = current - v * (v - p.a) * (v - T(1)) - w;
  const T dw = p.b * (v - p.g * w);
  v_next = v + dt * dv;
  w_next = w + dt * dw;
}

// clip <= 0 means no clamping.
template <typename T>
DYNPMNN_HD void fhn_euler_step(T& v, T& w, const FhnParams<T>& p, T current, T dt, T clip) {
  T vn, wn;
  fhn_euler_raw(v, w, p, current, dt, vn, wn);
  if (clip > T(0)) {
    vn = fhn_clamp(vn, clip);
    wn = fhn_clamp(wn, clip);
  }
  v = vn;
  w = wn;
}

// Reverse of one step. (v, w) is the state before the step; on entry (lv, lw) is the adjoint of the
// state after it, on exit the adjoint of the state before it. Parameter gradients accumulate in g.
template <typename T>
DYNPMNN_HD void fhn_euler_step_backward(T v, T w, const FhnParams<T>& p, T current, T dt, T clip,
                                        T& lv, T& lw, FhnParamGrad<T>& grad) {
  T lu = lv, lz = lw;
  if (clip > T(0)) {
    T vn, wn;
    fhn_euler_raw(v, w, p, current, dt, vn, wn);
    // torch.clamp passes the gradient where min <= x <= max, so only strictly outside is cut.
    if (vn > clip || vn < -clip) lu = T(0);
    if (wn > clip || wn < -clip) lz = T(0);
  }
  // d/dv of v (v − a)(v − 1) = 3v² − 2(1 + a) v + a
  const T dcubic = T(3) * v * v - T(2) * (T(1) + p.a) * v + p.a;
  const T dt_lu = dt * lu;
  const T dt_lz = dt * lz;
  grad.a += dt_lu * (v * v - v);
  grad.I += dt_lu;
  grad.b += dt_lz * (v - p.g * w);
  grad.g -= dt_lz * p.b * w;
  lv = lu - dt_lu * dcubic + dt_lz * p.b;
  lw = lz - dt_lu - dt_lz * p.b * p.g;
}

// Whole forward trajectory of one (sample, neuron). (v, w): initial state in, final state out.
// When ckpt_v is not null, the state at the start of segment s >= 1 is written to
// ckpt_v[(s − 1) * ckpt_stride] (and likewise w), the layout the backward reads.
template <typename T>
DYNPMNN_HD void fhn_forward_trajectory(T& v, T& w, const FhnParams<T>& p, T current, T dt, int steps,
                                       T clip, T* ckpt_v, T* ckpt_w, std::size_t ckpt_stride) {
  const int interval = fhn_checkpoint_interval(steps);
  for (int step = 0; step < steps; ++step) {
    if (ckpt_v != nullptr && step > 0 && step % interval == 0) {
      const std::size_t at = static_cast<std::size_t>(step / interval - 1) * ckpt_stride;
      ckpt_v[at] = v;
      ckpt_w[at] = w;
    }
    fhn_euler_step(v, w, p, current, dt, clip);
  }
}

// Whole backward of one (sample, neuron). (v0, w0): the initial state; (lv, lw): on entry the
// adjoint of the final state, on exit that of the initial state; grad accumulates this pair's
// parameter gradients (grad.I is also the gradient of the sample's input current).
template <typename T>
DYNPMNN_HD void fhn_backward_trajectory(T v0, T w0, const FhnParams<T>& p, T current, T dt, int steps,
                                        T clip, const T* ckpt_v, const T* ckpt_w,
                                        std::size_t ckpt_stride, T& lv, T& lw, FhnParamGrad<T>& grad) {
  constexpr int R = kFhnRegisterBlock;
  const int interval = fhn_checkpoint_interval(steps);
  const int segments = (steps + interval - 1) / interval;
  for (int seg = segments - 1; seg >= 0; --seg) {
    T seg_v = v0, seg_w = w0;
    if (seg > 0) {
      const std::size_t at = static_cast<std::size_t>(seg - 1) * ckpt_stride;
      seg_v = ckpt_v[at];
      seg_w = ckpt_w[at];
    }
    const int seg_len = (seg == segments - 1) ? steps - seg * interval : interval;
    const int blocks = (seg_len + R - 1) / R;
    for (int blk = blocks - 1; blk >= 0; --blk) {
      T v = seg_v, w = seg_w;
      for (int k = 0; k < blk * R; ++k) fhn_euler_step(v, w, p, current, dt, clip);
      const int count = (blk == blocks - 1) ? seg_len - blk * R : R;
      T sv[R], sw[R];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int r = 0; r < R; ++r) {
        if (r < count) {
          sv[r] = v;
          sw[r] = w;
          fhn_euler_step(v, w, p, current, dt, clip);
        }
      }
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int r = R - 1; r >= 0; --r) {
        if (r < count) fhn_euler_step_backward(sv[r], sw[r], p, current, dt, clip, lv, lw, grad);
      }
    }
  }
}

template <typename T>
DYNPMNN_HD bool is_finite_value(T x) {
  return x - x == T(0);  // false for NaN and ±Inf, also under fast-math-free builds on both sides
}

}  // namespace dynpmnn
