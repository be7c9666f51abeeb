// The vector kernels of kernels/fhn_cpu_simd.h, written once: each fhn_cpu_simd_<isa>.cpp defines
// DYNPMNN_SIMD_NS (a namespace of its own, so that no template instantiated here with its vector
// type is shared with another object), DYNPMNN_SIMD_LANES and DYNPMNN_SIMD_ENTRY(name), then
// includes this. Where fhn_simd_neuron_lanes says so a lane is one neuron of a sample (below);
// otherwise a lane is one sample, and a job is one neuron's block of `lanes` samples (the last
// block padded with copies of the last sample, whose lanes are computed and dropped, so a sample's
// bits do not depend on where in the batch it is). kGroup jobs of one neuron run interleaved,
// enough independent chains to hide the step's latency.
//
// The arithmetic is fhn.h's and neuron_math.h's own, instantiated with the vector type: the
// FitzHugh–Nagumo (v, z) stepper of unclamped Euler, and M::euler_step / semi_implicit_step and
// their reverses under the clamp of neuron_math.h's general stepper. The baseline build contracts
// nothing (-ffp-contract=off), so its lanes round as the scalar reference does; the AVX2 and AVX-512
// builds contract to FMA (CMakeLists.txt), the same contractions in every layout and group size
// because each lane's step is the same inlined expression.
#pragma once

#include <array>
#include <cstddef>
#include <utility>

#include "kernels/fhn_cpu_simd_isa.h"
#include "kernels/neurons/fhn.h"

#if !defined(DYNPMNN_SIMD_NS) || !defined(DYNPMNN_SIMD_LANES)
#error "define DYNPMNN_SIMD_NS and DYNPMNN_SIMD_LANES before including fhn_cpu_simd_kernel.h"
#endif

namespace dynpmnn {
namespace DYNPMNN_SIMD_NS {

constexpr int kLanes = DYNPMNN_SIMD_LANES;
constexpr int kGroup = kFhnSimdGroup;

// W doubles, with the arithmetic operators fhn.h's templates use.
struct Vec {
  typedef double Raw __attribute__((vector_size(kLanes * sizeof(double))));
  Raw r;
  Vec() = default;
  Vec(double x) {  // NOLINT: fhn.h writes T(1) and `T sum = 0`
    for (int i = 0; i < kLanes; ++i) r[i] = x;
  }
  static Vec raw(Raw r) {
    Vec v;
    v.r = r;
    return v;
  }
  Vec& operator+=(Vec o) { r += o.r; return *this; }
  Vec& operator-=(Vec o) { r -= o.r; return *this; }
  Vec& operator*=(Vec o) { r *= o.r; return *this; }
};
inline Vec operator+(Vec a, Vec b) { return Vec::raw(a.r + b.r); }
inline Vec operator-(Vec a, Vec b) { return Vec::raw(a.r - b.r); }
inline Vec operator*(Vec a, Vec b) { return Vec::raw(a.r * b.r); }
inline Vec operator/(Vec a, Vec b) { return Vec::raw(a.r / b.r); }
inline Vec operator-(Vec a) { return Vec::raw(-a.r); }

// fhn_clamp's x > clip ? clip : (x < −clip ? −clip : x), lane by lane (NaN passes, as there).
inline Vec clamp(Vec x, Vec clip) {
  const Vec::Raw neg = -clip.r;
  return Vec::raw(x.r > clip.r ? clip.r : (x.r < neg ? neg : x.r));
}
// l where −clip <= xn <= clip, else 0 (torch.clamp's gradient, as NeuronStepper::reverse).
inline Vec cut_outside(Vec l, Vec xn, Vec clip) {
  const Vec::Raw neg = -clip.r;
  const Vec::Raw zero = {};
  return Vec::raw((xn.r > clip.r) | (xn.r < neg) ? zero : l.r);
}

using M = FitzHughNagumo;
using Grad = NeuronGrad<M, Vec>;

// neuron_math.h's general stepper for FitzHugh–Nagumo (which UnrollsSteps: the clamp is kClip).
template <Integrator S, bool kClip>
struct GeneralStepper {
  Vec p[4];
  Vec current, dt, clip;

  GeneralStepper(const Vec (&prm)[4], Vec cur, Vec step, Vec c) : current(cur), dt(step), clip(c) {
    for (int i = 0; i < 4; ++i) p[i] = prm[i];
  }
  void enter(Vec (&)[2]) const {}
  void leave(Vec (&)[2]) const {}
  void step(Vec (&x)[2]) const {
    Vec xn[2];
    neuron_raw_step<M, S>(x, p, current, dt, xn);
    for (int i = 0; i < 2; ++i) x[i] = kClip ? clamp(xn[i], clip) : xn[i];
  }
  void adjoint_enter(Vec (&)[2]) const {}
  void reverse(const Vec (&x)[2], Vec (&l)[2], Grad& g) const {
    if (kClip) {
      Vec xn[2];
      neuron_raw_step<M, S>(x, p, current, dt, xn);
      for (int i = 0; i < 2; ++i) l[i] = cut_outside(l[i], xn[i], clip);
    }
    neuron_raw_reverse<M, S>(x, p, current, dt, l, g);
  }
  void adjoint_leave(Vec (&)[2], Grad&) const {}
};

// The stepper the scalar op runs for (S, kClip): unclamped Euler is fhn.h's (v, z) specialisation.
template <Integrator S, bool kClip>
struct StepperOf {
  using type = GeneralStepper<S, kClip>;
};
template <>
struct StepperOf<Integrator::kEuler, false> {
  using type = NeuronStepper<M, Integrator::kEuler, false, Vec>;
};

// Sample b's lane of a job whose first sample is b0 (padding lanes repeat the last sample).
inline int lane_sample(int b0, int i, int batch) { return b0 + i < batch ? b0 + i : batch - 1; }

// base[lane_sample(b0, i) · stride] for every lane i, built in registers (element stores to the
// stack and a vector load stall on store forwarding: they were most of a short job's time).
template <std::size_t... I>
Vec gather_rows(const double* base, std::size_t stride, int b0, int batch, std::index_sequence<I...>) {
  return Vec::raw(Vec::Raw{base[static_cast<std::size_t>(lane_sample(b0, static_cast<int>(I), batch)) * stride]...});
}
inline Vec gather(const double* base, std::size_t stride, int b0, int batch) {
  return gather_rows(base, stride, b0, batch, std::make_index_sequence<kLanes>{});
}

// The initial state and current of job (n, b0), as neuron_cpu.h's initial_state.
inline void load_job(const FhnSimdModelArgs& a, int n, int b0, const Vec (&q)[4], Vec (&x)[2], Vec& current) {
  const std::size_t N = a.neurons;
  if (a.current_coupling) {
    x[0] = Vec(0.0);
    x[1] = Vec(0.0);
    current = q[3] + gather(a.in + n, N, b0, a.batch);
  } else {
    x[0] = gather(a.in + n, 2 * N, b0, a.batch);
    x[1] = gather(a.in + N + n, 2 * N, b0, a.batch);
    current = q[3];
  }
}

inline void load_params(const FhnSimdModelArgs& a, int n, Vec (&q)[4]) {
  for (int k = 0; k < 4; ++k) q[k] = Vec(a.p[k][n]);
}

inline void store_state(double* at, const Vec (&x)[2]) {
  for (int k = 0; k < 2; ++k) __builtin_memcpy(at + k * kLanes, &x[k].r, sizeof(Vec::Raw));
}
inline void load_state(const double* at, Vec (&x)[2]) {
  for (int k = 0; k < 2; ++k) __builtin_memcpy(&x[k].r, at + k * kLanes, sizeof(Vec::Raw));
}

inline bool finite_lane(double x) { return x - x == 0.0; }

template <class St, class F, std::size_t... I>
std::array<St, sizeof...(I)> make_steppers(F&& make, std::index_sequence<I...>) {
  return {{make(static_cast<int>(I))...}};
}

// kG jobs of neuron n, blocks blk0 .. blk0 + kG − 1: the forward.
template <class St, int kG, bool kStore>
bool __attribute__((flatten)) forward_group(const FhnSimdModelArgs& a, int n, int blk0, const Vec (&q)[4]) {
  Vec x[kG][2];
  Vec current[kG];
  for (int u = 0; u < kG; ++u) load_job(a, n, (blk0 + u) * kLanes, q, x[u], current[u]);
  const Vec dt(a.dt), clip(a.clip);
  std::array<St, kG> st = make_steppers<St>([&](int u) { return St(q, current[u], dt, clip); },
                                            std::make_index_sequence<kG>{});
  const int blocks = (a.batch + kLanes - 1) / kLanes;
  double* traj[kG] = {};
  if constexpr (kStore)
    for (int u = 0; u < kG; ++u)
      traj[u] = a.trajectory + (static_cast<std::size_t>(n) * blocks + blk0 + u) * a.job_stride;
  for (int u = 0; u < kG; ++u) st[u].enter(x[u]);
  for (int t = 0; t < a.steps; ++t) {
#pragma GCC unroll 4
    for (int u = 0; u < kG; ++u) {
      if constexpr (kStore) store_state(traj[u] + static_cast<std::size_t>(t) * 2 * kLanes, x[u]);
      st[u].step(x[u]);
    }
  }
  bool finite = true;
  const std::size_t N = a.neurons, W = a.voltage_readout ? N : 2 * N;
  for (int u = 0; u < kG; ++u) {
    st[u].leave(x[u]);
    const int b0 = (blk0 + u) * kLanes;
    for (int i = 0; i < kLanes && b0 + i < a.batch; ++i) {
      double* row = a.out + static_cast<std::size_t>(b0 + i) * W;
      row[n] = x[u][0].r[i];
      finite = finite && finite_lane(x[u][0].r[i]);
      if (!a.voltage_readout) {
        row[N + n] = x[u][1].r[i];
        finite = finite && finite_lane(x[u][1].r[i]);
      }
    }
  }
  return finite;
}

// The reverse of kG jobs, what both job layouts share: over their trajectories (kept[u] where the
// forward kept them, else the jobs' forward run again from x0 into a.scratch, small enough for the
// cache), l[u] from the adjoints of the final states to those of the initial states, and g[u] the
// gradients of their parameters (the current's added to I's where kGrads).
template <class St, int kG, bool kGrads>
inline __attribute__((always_inline)) void reverse_jobs(const FhnSimdModelArgs& a, const Vec (&q)[4],
                                                        const Vec (&current)[kG], Vec (&x0)[kG][2],
                                                        const double* const (&kept)[kG], Vec (&l)[kG][2],
                                                        Grad (&g)[kG]) {
  const Vec dt(a.dt), clip(a.clip);
  std::array<St, kG> st = make_steppers<St>([&](int u) { return St(q, current[u], dt, clip); },
                                            std::make_index_sequence<kG>{});
  const double* traj[kG];
  if (kept[0]) {
    for (int u = 0; u < kG; ++u) traj[u] = kept[u];
  } else {
    double* scratch[kG];
    for (int u = 0; u < kG; ++u) {
      scratch[u] = a.scratch + static_cast<std::size_t>(u) * a.job_stride;
      traj[u] = scratch[u];
      st[u].enter(x0[u]);
    }
    for (int t = 0; t < a.steps; ++t) {
#pragma GCC unroll 4
      for (int u = 0; u < kG; ++u) {
        store_state(scratch[u] + static_cast<std::size_t>(t) * 2 * kLanes, x0[u]);
        st[u].step(x0[u]);
      }
    }
  }
  for (int u = 0; u < kG; ++u) st[u].adjoint_enter(l[u]);
  for (int t = a.steps - 1; t >= 0; --t) {
#pragma GCC unroll 4
    for (int u = 0; u < kG; ++u) {
      Vec x[2];
      load_state(traj[u] + static_cast<std::size_t>(t) * 2 * kLanes, x);
      st[u].reverse(x, l[u], g[u]);
    }
  }
  for (int u = 0; u < kG; ++u) {
    st[u].adjoint_leave(l[u], g[u]);
    if constexpr (kGrads) g[u].p[3] += g[u].current;
  }
}

// The backward of the same jobs from their trajectories; adds the samples' parameter gradients to
// sum in sample order.
template <class St, int kG, bool kGrads>
void __attribute__((flatten)) backward_group(const FhnSimdModelArgs& a, int n, int blk0, const Vec (&q)[4], double (&sum)[4]) {
  Vec x0[kG][2], l[kG][2];
  Vec current[kG];
  const std::size_t N = a.neurons, W = a.voltage_readout ? N : 2 * N;
  for (int u = 0; u < kG; ++u) {
    const int b0 = (blk0 + u) * kLanes;
    load_job(a, n, b0, q, x0[u], current[u]);
    // Padding lanes take the last sample's adjoint too; they are dropped below.
    l[u][0] = gather(a.d_out + n, W, b0, a.batch);
    l[u][1] = a.voltage_readout ? Vec(0.0) : gather(a.d_out + N + n, W, b0, a.batch);
  }
  const int blocks = (a.batch + kLanes - 1) / kLanes;
  const double* kept[kG];
  for (int u = 0; u < kG; ++u)
    kept[u] = a.trajectory ? a.trajectory + (static_cast<std::size_t>(n) * blocks + blk0 + u) * a.job_stride : nullptr;
  Grad g[kG] = {};
  reverse_jobs<St, kG, kGrads>(a, q, current, x0, kept, l, g);
  for (int u = 0; u < kG; ++u) {
    const int b0 = (blk0 + u) * kLanes;
    for (int i = 0; i < kLanes && b0 + i < a.batch; ++i) {
      double* drow = a.d_in + static_cast<std::size_t>(b0 + i) * (a.current_coupling ? N : 2 * N);
      if (a.current_coupling) {
        drow[n] = g[u].current.r[i];
      } else {
        drow[n] = l[u][0].r[i];
        drow[N + n] = l[u][1].r[i];
      }
      if constexpr (kGrads)
        for (int k = 0; k < 4; ++k) sum[k] += g[u].p[k].r[i];
    }
  }
}

// --- The neurons on the lanes (fhn_simd_neuron_lanes): a job is sample b's block of neurons
// n0 .. n0 + lanes − 1, the last block padded with copies of the last neuron (computed and dropped);
// kGroup jobs of one block, consecutive samples, run interleaved. Rows are read and written whole.

// row[n0 + i] for every lane i, the lanes past `count` repeating row[n0 + count − 1].
inline Vec load_block(const double* row, int n0, int neurons) {
  Vec v;
  if (n0 + kLanes <= neurons) {
    __builtin_memcpy(&v.r, row + n0, sizeof(Vec::Raw));
  } else {
    for (int i = 0; i < kLanes; ++i) v.r[i] = row[n0 + i < neurons ? n0 + i : neurons - 1];
  }
  return v;
}
inline void store_block(double* row, int n0, int neurons, Vec v) {
  if (n0 + kLanes <= neurons) {
    __builtin_memcpy(row + n0, &v.r, sizeof(Vec::Raw));
  } else {
    for (int i = 0; n0 + i < neurons; ++i) row[n0 + i] = v.r[i];
  }
}
// Whether every lane of v and w is finite (x − x is 0 exactly then). A padding lane holds a copy of a real
// neuron's value, so it may be checked with the others.
inline bool finite_vec(Vec v, Vec w = Vec(0.0)) {
  const Vec::Raw z = (v.r - v.r) + (w.r - w.r);  // 0 where both are finite, NaN otherwise
  typedef long long Mask __attribute__((vector_size(sizeof(Vec::Raw))));
  const Mask bad = z != 0.0;  // NaN compares unequal too
  long long any = 0;
  for (int i = 0; i < kLanes; ++i) any |= bad[i];
  return any == 0;
}

inline void load_neuron_job(const FhnSimdModelArgs& a, int n0, int b, const Vec (&q)[4], Vec (&x)[2], Vec& current) {
  const std::size_t N = a.neurons;
  if (a.current_coupling) {
    x[0] = Vec(0.0);
    x[1] = Vec(0.0);
    current = q[3] + load_block(a.in + b * N, n0, a.neurons);
  } else {
    const double* row = a.in + b * 2 * N;
    x[0] = load_block(row, n0, a.neurons);
    x[1] = load_block(row + N, n0, a.neurons);
    current = q[3];
  }
}

// kG jobs of block nb, samples b0 .. b0 + kG − 1: the forward.
template <class St, int kG, bool kStore>
bool __attribute__((flatten)) forward_neuron_group(const FhnSimdModelArgs& a, int nb, int b0, const Vec (&q)[4]) {
  const int n0 = nb * kLanes;
  Vec x[kG][2];
  Vec current[kG];
  for (int u = 0; u < kG; ++u) load_neuron_job(a, n0, b0 + u, q, x[u], current[u]);
  const Vec dt(a.dt), clip(a.clip);
  std::array<St, kG> st = make_steppers<St>([&](int u) { return St(q, current[u], dt, clip); },
                                            std::make_index_sequence<kG>{});
  double* traj[kG] = {};
  if constexpr (kStore)
    for (int u = 0; u < kG; ++u)
      traj[u] = a.trajectory + (static_cast<std::size_t>(nb) * a.batch + b0 + u) * a.job_stride;
  for (int u = 0; u < kG; ++u) st[u].enter(x[u]);
  for (int t = 0; t < a.steps; ++t) {
#pragma GCC unroll 4
    for (int u = 0; u < kG; ++u) {
      if constexpr (kStore) store_state(traj[u] + static_cast<std::size_t>(t) * 2 * kLanes, x[u]);
      st[u].step(x[u]);
    }
  }
  bool finite = true;
  const std::size_t N = a.neurons, W = a.voltage_readout ? N : 2 * N;
  for (int u = 0; u < kG; ++u) {
    st[u].leave(x[u]);
    double* row = a.out + static_cast<std::size_t>(b0 + u) * W;
    store_block(row, n0, a.neurons, x[u][0]);
    if (a.voltage_readout) {
      finite = finite_vec(x[u][0]) && finite;
    } else {
      store_block(row + N, n0, a.neurons, x[u][1]);
      finite = finite_vec(x[u][0], x[u][1]) && finite;
    }
  }
  return finite;
}

// The backward of the same jobs; adds their parameter gradients to sum in sample order.
template <class St, int kG, bool kGrads>
void __attribute__((flatten)) backward_neuron_group(const FhnSimdModelArgs& a, int nb, int b0, const Vec (&q)[4], Vec (&sum)[4]) {
  const int n0 = nb * kLanes;
  Vec x0[kG][2], l[kG][2];
  Vec current[kG];
  const std::size_t N = a.neurons, W = a.voltage_readout ? N : 2 * N;
  for (int u = 0; u < kG; ++u) {
    load_neuron_job(a, n0, b0 + u, q, x0[u], current[u]);
    const double* drow = a.d_out + static_cast<std::size_t>(b0 + u) * W;
    l[u][0] = load_block(drow, n0, a.neurons);
    l[u][1] = a.voltage_readout ? Vec(0.0) : load_block(drow + N, n0, a.neurons);
  }
  const double* kept[kG];
  for (int u = 0; u < kG; ++u)
    kept[u] = a.trajectory ? a.trajectory + (static_cast<std::size_t>(nb) * a.batch + b0 + u) * a.job_stride : nullptr;
  Grad g[kG] = {};
  reverse_jobs<St, kG, kGrads>(a, q, current, x0, kept, l, g);
  for (int u = 0; u < kG; ++u) {
    double* drow = a.d_in + static_cast<std::size_t>(b0 + u) * (a.current_coupling ? N : 2 * N);
    if (a.current_coupling) {
      store_block(drow, n0, a.neurons, g[u].current);
    } else {
      store_block(drow, n0, a.neurons, l[u][0]);
      store_block(drow + N, n0, a.neurons, l[u][1]);
    }
    if constexpr (kGrads)
      for (int k = 0; k < 4; ++k) sum[k] += g[u].p[k];
  }
}

template <class St, bool kStore>
bool forward_neuron_model(const FhnSimdModelArgs& a) {
  const int blocks = (a.neurons + kLanes - 1) / kLanes;
  bool finite = true;
  for (int nb = 0; nb < blocks; ++nb) {
    Vec q[4];
    for (int k = 0; k < 4; ++k) q[k] = load_block(a.p[k], nb * kLanes, a.neurons);
    int b = 0;
    for (; b + kGroup <= a.batch; b += kGroup) finite = forward_neuron_group<St, kGroup, kStore>(a, nb, b, q) && finite;
    for (; b < a.batch; ++b) finite = forward_neuron_group<St, 1, kStore>(a, nb, b, q) && finite;
  }
  return finite;
}

// kGrads: some parameter is trained. Without it the per-step parameter terms are never read, and
// the compiler drops them from the reverse step (the paper's setting freezes a, b, g and I).
template <class St, bool kGrads>
void backward_neuron_model(const FhnSimdModelArgs& a) {
  const int blocks = (a.neurons + kLanes - 1) / kLanes;
  for (int nb = 0; nb < blocks; ++nb) {
    Vec q[4];
    for (int k = 0; k < 4; ++k) q[k] = load_block(a.p[k], nb * kLanes, a.neurons);
    Vec sum[4] = {Vec(0.0), Vec(0.0), Vec(0.0), Vec(0.0)};
    int b = 0;
    for (; b + kGroup <= a.batch; b += kGroup) backward_neuron_group<St, kGroup, kGrads>(a, nb, b, q, sum);
    for (; b < a.batch; ++b) backward_neuron_group<St, 1, kGrads>(a, nb, b, q, sum);
    for (int k = 0; k < 4; ++k)
      if (a.d_p[k]) store_block(a.d_p[k], nb * kLanes, a.neurons, sum[k]);
  }
}

// --- The samples on the lanes.

template <class St, bool kStore>
bool forward_model(const FhnSimdModelArgs& a) {
  const int blocks = (a.batch + kLanes - 1) / kLanes;
  bool finite = true;
  for (int n = 0; n < a.neurons; ++n) {
    Vec q[4];
    load_params(a, n, q);
    int blk = 0;
    for (; blk + kGroup <= blocks; blk += kGroup) finite = forward_group<St, kGroup, kStore>(a, n, blk, q) && finite;
    for (; blk < blocks; ++blk) finite = forward_group<St, 1, kStore>(a, n, blk, q) && finite;
  }
  return finite;
}

template <class St, bool kGrads>
void backward_model(const FhnSimdModelArgs& a) {
  const int blocks = (a.batch + kLanes - 1) / kLanes;
  for (int n = 0; n < a.neurons; ++n) {
    Vec q[4];
    load_params(a, n, q);
    double sum[4] = {};
    int blk = 0;
    for (; blk + kGroup <= blocks; blk += kGroup) backward_group<St, kGroup, kGrads>(a, n, blk, q, sum);
    for (; blk < blocks; ++blk) backward_group<St, 1, kGrads>(a, n, blk, q, sum);
    for (int k = 0; k < 4; ++k)
      if (a.d_p[k]) a.d_p[k][n] = sum[k];
  }
}

// The scheme and the clamp become template parameters once per model.
template <class F>
auto with_stepper(const FhnSimdModelArgs& a, F&& f) {
  const bool clamp = a.clip > 0;
  if (a.imex) {
    if (clamp) return f(StepperOf<Integrator::kImex, true>{});
    return f(StepperOf<Integrator::kImex, false>{});
  }
  if (clamp) return f(StepperOf<Integrator::kEuler, true>{});
  return f(StepperOf<Integrator::kEuler, false>{});
}

inline bool forward(const FhnSimdModelArgs& a) {
  return with_stepper(a, [&](auto of) {
    using St = typename decltype(of)::type;
    if (fhn_simd_neuron_lanes(a.batch, a.neurons, kLanes))
      return a.trajectory ? forward_neuron_model<St, true>(a) : forward_neuron_model<St, false>(a);
    return a.trajectory ? forward_model<St, true>(a) : forward_model<St, false>(a);
  });
}

inline void backward(const FhnSimdModelArgs& a) {
  with_stepper(a, [&](auto of) {
    using St = typename decltype(of)::type;
    const bool grads = a.d_p[0] || a.d_p[1] || a.d_p[2] || a.d_p[3];
    if (fhn_simd_neuron_lanes(a.batch, a.neurons, kLanes)) {
      if (grads) backward_neuron_model<St, true>(a); else backward_neuron_model<St, false>(a);
    } else {
      if (grads) backward_model<St, true>(a); else backward_model<St, false>(a);
    }
    return 0;
  });
}

}  // namespace DYNPMNN_SIMD_NS
}  // namespace dynpmnn
