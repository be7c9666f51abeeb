// The CPU backend's vector op (kernels/fhn_cpu_simd.h) against the scalar reference op, on every
// instruction set this machine runs: the same bits on the baseline path, within rounding on the FMA
// paths (AVX2, AVX-512; the same bits run to run), forward and backward, with and without a kept
// trajectory, across shapes that break the vector blocks (batches that are not a multiple of the
// lanes, one step, odd neuron counts, populations with per-model steps), both schemes it takes,
// with and without the clamp, both couplings and the voltage readout. A sample's result does not
// depend on its position in the batch. Instruction sets this CPU lacks are refused by name.
//
// Then the vector SiLU, LayerNorm and GEMM of kernels/ops_cpu_simd.h: near the scalar code (the exp
// and the order of the row sums differ), the GEMM bit for bit the plain loop where it promises so, and
// an element's or a row's bits independent of where it sits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu_isa.h"
#include "kernels/elementwise_math.h"
#include "kernels/fhn_cpu_simd.h"
#include "kernels/neuron_cpu.h"
#include "kernels/neurons/fhn.h"
#include "kernels/ops_cpu_simd.h"

namespace dynpmnn {
namespace {

struct Case {
  int models, batch, neurons, steps;
  Integrator scheme;
  double dt, clip;
  Coupling coupling;
  bool voltage_readout;
};

std::string name(const Case& c) {
  return "models " + std::to_string(c.models) + " batch " + std::to_string(c.batch) + " neurons " +
         std::to_string(c.neurons) + " steps " + std::to_string(c.steps) + " " + to_string(c.scheme) + " dt " +
         std::to_string(c.dt) + " clip " + std::to_string(c.clip) + " " + to_string(c.coupling) +
         (c.voltage_readout ? " voltage" : "");
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Every element bit for bit; prints the first few differences.
void expect_same(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!same_bits(got[i], want[i])) {
      if (++bad <= 5) ADD_FAILURE() << what << " [" << i << "]: " << got[i] << " vs reference " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " differ";
}

struct Problem {
  NeuronShape shape;
  std::vector<NeuronModelStep> steps;
  std::vector<double> in, d_out, params[4];

  NeuronParamPtrs<double> p() const {
    NeuronParamPtrs<double> r;
    for (int k = 0; k < 4; ++k) r.p[k] = params[k].data();
    return r;
  }
};

Problem make_problem(const Case& c, std::uint64_t seed) {
  Problem pr;
  NeuronShape& s = pr.shape;
  s = neuron_shape_of<FitzHughNagumo>();
  s.models = c.models;
  s.batch = c.batch;
  s.neurons = c.neurons;
  s.steps = c.steps;
  s.dt = c.dt;
  s.clip = c.clip;
  s.coupling = c.coupling;
  s.integrator = c.scheme;
  s.voltage_readout = c.voltage_readout;
  if (c.models > 1) {
    // Each model its own step count, dt and clamp (one without).
    for (int m = 0; m < c.models; ++m)
      pr.steps.push_back({c.dt * (1.0 + 0.25 * m), c.steps + 3 * m, m == 1 ? 0.0 : c.clip});
    s.per_model = pr.steps.data();
  }
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.2, 1.2);
  pr.in.resize(static_cast<std::size_t>(c.models) * c.batch * s.input_width());
  for (double& x : pr.in) x = u(gen);
  pr.d_out.resize(static_cast<std::size_t>(c.models) * c.batch * s.output_width());
  for (double& x : pr.d_out) x = u(gen);
  std::uniform_real_distribution<double> a(0.1, 0.3), b(0.01, 0.05), g(1.0, 3.0), I(-0.3, 0.3);
  for (int k = 0; k < 4; ++k) pr.params[k].resize(static_cast<std::size_t>(c.models) * c.neurons);
  for (std::size_t i = 0; i < pr.params[0].size(); ++i) {
    pr.params[0][i] = a(gen);
    pr.params[1][i] = b(gen);
    pr.params[2][i] = g(gen);
    pr.params[3][i] = I(gen);
  }
  return pr;
}

struct Result {
  bool finite = false;
  std::vector<double> out, d_in, d_params[4];
};

Result poisoned(const NeuronShape& s) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Result r;
  r.out.assign(static_cast<std::size_t>(s.models) * s.batch * s.output_width(), nan);
  r.d_in.assign(static_cast<std::size_t>(s.models) * s.batch * s.input_width(), nan);
  for (auto& d : r.d_params) d.assign(static_cast<std::size_t>(s.models) * s.neurons, nan);
  return r;
}

NeuronGradPtrs<double> grads(Result& r) {
  NeuronGradPtrs<double> g;
  for (int k = 0; k < 4; ++k) g.p[k] = r.d_params[k].data();
  return g;
}

Result reference(const Problem& pr) {
  const NeuronShape& s = pr.shape;
  Result r = poisoned(s);
  std::vector<double> ck[2];
  NeuronCheckpoints<double> planes;
  NeuronCheckpoints<const double> cplanes;
  for (int i = 0; i < 2; ++i) {
    ck[i].resize(s.checkpoint_elems() + 1);
    planes.plane[i] = ck[i].data();
    cplanes.plane[i] = ck[i].data();
  }
  r.finite = neuron_forward_cpu<FitzHughNagumo, double>(s, pr.in.data(), pr.p(), r.out.data(), planes);
  neuron_backward_cpu<FitzHughNagumo, double>(s, pr.in.data(), pr.p(), cplanes, pr.d_out.data(), r.d_in.data(),
                                              grads(r));
  return r;
}

// frozen: every neuron parameter frozen (null gradients), as the paper's setting; the kernels then
// skip the parameter terms, and d_in must not change.
Result vectorised(CpuIsa isa, const Problem& pr, bool keep_trajectory, bool frozen = false) {
  const NeuronShape& s = pr.shape;
  Result r = poisoned(s);
  std::vector<double> traj(keep_trajectory ? fhn_simd_trajectory_doubles(s, isa) : 0,
                           std::numeric_limits<double>::quiet_NaN());
  double* t = keep_trajectory ? traj.data() : nullptr;
  r.finite = fhn_forward_simd(isa, s, pr.in.data(), pr.p(), r.out.data(), t);
  fhn_backward_simd(isa, s, pr.in.data(), pr.p(), t, pr.d_out.data(), r.d_in.data(),
                    frozen ? NeuronGradPtrs<double>{} : grads(r));
  return r;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  const Integrator schemes[] = {Integrator::kEuler, Integrator::kImex};
  for (Integrator scheme : schemes) {
    const double dt = scheme == Integrator::kImex ? 2.0 : 0.1;
    for (double clip : {0.0, 0.7}) {
      for (Coupling coupling : {Coupling::kInitialCondition, Coupling::kCurrent}) {
        out.push_back({1, 1, 1, 1, scheme, dt, clip, coupling, false});
        out.push_back({1, 7, 3, 16, scheme, dt, clip, coupling, false});
        out.push_back({1, 33, 5, 37, scheme, dt, clip, coupling, true});
        out.push_back({1, 64, 2, 20, scheme, dt, clip, coupling, false});
        out.push_back({3, 9, 4, 5, scheme, dt, clip, coupling, false});
        // The neurons on the lanes (fhn_simd_neuron_lanes), with a padded last block of neurons.
        out.push_back({1, 5, 19, 9, scheme, dt, clip, coupling, false});
        out.push_back({1, 6, 16, 4, scheme, dt, clip, coupling, true});
        out.push_back({2, 3, 11, 6, scheme, dt, clip, coupling, false});
      }
    }
  }
  // The paper's setting under the clamp: values reach it, and the gradient is cut there.
  out.push_back({1, 32, 1, 25, Integrator::kEuler, 20.0, 20.0, Coupling::kInitialCondition, false});
  return out;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double rtol, double atol,
                 const std::string& what);

// The baseline path (no FMA) has the scalar op's bits; the AVX2 and AVX-512 paths contract the
// steps to FMA, which moves last bits: within float64 rounding over these step counts, and the
// same bits run to run.
TEST(CpuSimd, EveryInstructionSetComputesTheScalarReference) {
  int checked = 0;
  for (CpuIsa isa : kAllCpuIsas) {
    if (!cpu_isa_supported(isa)) continue;
    ++checked;
    std::uint64_t seed = 1;
    for (const Case& c : cases()) {
      const Problem pr = make_problem(c, seed++);
      const Result want = reference(pr);
      for (bool keep : {true, false}) {
        const std::string what = std::string(to_string(isa)) + (keep ? " kept " : " replayed ") + name(c);
        const Result got = vectorised(isa, pr, keep);
        EXPECT_EQ(got.finite, want.finite) << what;
        if (isa == CpuIsa::kBaseline) {
          expect_same(got.out, want.out, what + ": out");
          expect_same(got.d_in, want.d_in, what + ": d_in");
          for (int k = 0; k < 4; ++k)
            expect_same(got.d_params[k], want.d_params[k], what + ": d_param " + FitzHughNagumo::kParamInfo[k].name);
        } else {
          expect_near(got.out, want.out, 1e-11, 1e-12, what + ": out");
          expect_near(got.d_in, want.d_in, 1e-10, 1e-11, what + ": d_in");
          for (int k = 0; k < 4; ++k)
            expect_near(got.d_params[k], want.d_params[k], 1e-10, 1e-10,
                        what + ": d_param " + FitzHughNagumo::kParamInfo[k].name);
          const Result again = vectorised(isa, pr, keep);
          expect_same(again.out, got.out, what + ": out run again");
          expect_same(again.d_in, got.d_in, what + ": d_in run again");
          for (int k = 0; k < 4; ++k) expect_same(again.d_params[k], got.d_params[k], what + ": d_param run again");
        }
        // Frozen parameters: their terms dropped, d_in the same (on the FMA paths within rounding: the
        // compiler may contract a product that no dropped term shares any more).
        const Result frozen = vectorised(isa, pr, keep, true);
        if (isa == CpuIsa::kBaseline)
          expect_same(frozen.d_in, got.d_in, what + " frozen: d_in");
        else
          expect_near(frozen.d_in, got.d_in, 1e-10, 1e-11, what + " frozen: d_in");
        for (int k = 0; k < 4; ++k) EXPECT_TRUE(std::isnan(frozen.d_params[k][0])) << what << ": a frozen gradient written";
      }
    }
  }
  EXPECT_GE(checked, 1);  // the baseline runs everywhere
}

// A sample alone and at every position of a batch that pads its last vector: the same bits (the
// data-parallel and population tests compare such splits bit for bit).
TEST(CpuSimd, ASamplesBitsDoNotDependOnItsPositionInTheBatch) {
  // The samples on the lanes, then the neurons (fhn_simd_neuron_lanes).
  for (const Case& c : {Case{1, 11, 3, 23, Integrator::kEuler, 0.1, 0.0, Coupling::kInitialCondition, false},
                        Case{1, 11, 21, 23, Integrator::kEuler, 0.1, 0.0, Coupling::kInitialCondition, false}}) {
  const Problem batch = make_problem(c, 99);
  for (CpuIsa isa : kAllCpuIsas) {
    if (!cpu_isa_supported(isa)) continue;
    const Result all = vectorised(isa, batch, false);
    for (int b = 0; b < c.batch; ++b) {
      Problem one = batch;
      one.shape.batch = 1;
      const std::size_t in_w = one.shape.input_width(), out_w = one.shape.output_width();
      one.in.assign(batch.in.begin() + b * in_w, batch.in.begin() + (b + 1) * in_w);
      one.d_out.assign(batch.d_out.begin() + b * out_w, batch.d_out.begin() + (b + 1) * out_w);
      const Result alone = vectorised(isa, one, true);
      const std::string what = std::string(to_string(isa)) + " sample " + std::to_string(b);
      expect_same(alone.out, std::vector<double>(all.out.begin() + b * out_w, all.out.begin() + (b + 1) * out_w),
                  what + ": out");
      expect_same(alone.d_in, std::vector<double>(all.d_in.begin() + b * in_w, all.d_in.begin() + (b + 1) * in_w),
                  what + ": d_in");
    }
  }
  }
}

TEST(CpuSimd, RefusesWhatItDoesNotTake) {
  Case c{1, 4, 2, 3, Integrator::kRk4, 0.1, 0.0, Coupling::kInitialCondition, false};
  const Problem pr = make_problem(c, 3);
  EXPECT_FALSE(fhn_simd_takes(pr.shape));
  std::vector<double> out(pr.d_out.size());
  EXPECT_THROW(fhn_forward_simd(CpuIsa::kBaseline, pr.shape, pr.in.data(), pr.p(), out.data(), nullptr),
               std::invalid_argument);
  c.scheme = Integrator::kEuler;
  const Problem ok = make_problem(c, 3);
  for (CpuIsa isa : kAllCpuIsas) {
    if (cpu_isa_supported(isa)) continue;
    try {
      fhn_forward_simd(isa, ok.shape, ok.in.data(), ok.p(), out.data(), nullptr);
      ADD_FAILURE() << to_string(isa) << " ran on a CPU without it";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(to_string(isa)), std::string::npos) << e.what();
    }
  }
}

TEST(CpuIsa, NamesRoundTripAndTheBestIsSupported) {
  for (CpuIsa isa : kAllCpuIsas) EXPECT_EQ(cpu_isa_from_string(to_string(isa)), isa);
  EXPECT_EQ(cpu_isa_from_string("sse2"), CpuIsa::kBaseline);
  EXPECT_THROW(cpu_isa_from_string("avx1024"), std::invalid_argument);
  EXPECT_TRUE(cpu_isa_supported(CpuIsa::kBaseline));
  EXPECT_TRUE(cpu_isa_supported(cpu_isa_best()));
  EXPECT_TRUE(cpu_isa_supported(cpu_isa_active()));
}

// |got − want| <= atol + rtol·|want| everywhere, both finite; prints the first few misses.
void expect_near(const std::vector<double>& got, const std::vector<double>& want, double rtol, double atol,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool ok = std::isfinite(got[i]) && std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]);
    if (!ok && ++bad <= 5) ADD_FAILURE() << what << " [" << i << "]: " << got[i] << " vs " << want[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " off";
}

std::vector<double> uniform(std::size_t n, double lo, double hi, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = u(gen);
  return v;
}

const double kNan = std::numeric_limits<double>::quiet_NaN();

// libmvec's exp is within a few ulps of libm's; SiLU and its derivative inherit that.
TEST(CpuSimdOps, SiluIsNearTheScalarOneAndAnElementsBitsDoNotDependOnItsPosition) {
  std::vector<double> x = uniform(61, -12.0, 12.0, 5);
  for (double big : {-800.0, -40.0, 0.0, -0.0, 40.0, 800.0}) x.push_back(big);
  const std::vector<double> dy = uniform(x.size(), -2.0, 2.0, 6);
  std::vector<double> y_ref(x.size()), dx_ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    y_ref[i] = activation_forward(Activation::kSiLU, x[i]);
    dx_ref[i] = dy[i] * activation_derivative(Activation::kSiLU, x[i]);
  }
  for (CpuIsa isa : kAllCpuIsas) {
    if (!cpu_isa_supported(isa)) continue;
    const std::string what = std::string(to_string(isa)) + " silu";
    std::vector<double> y(x.size(), kNan), dx(x.size(), kNan);
    silu_forward_simd(isa, x.data(), x.size(), y.data());
    silu_backward_simd(isa, x.data(), dy.data(), x.size(), dx.data());
    expect_near(y, y_ref, 1e-14, 1e-300, what + " forward");
    expect_near(dx, dx_ref, 1e-14, 1e-300, what + " backward");
    // Every element again from every start and length: in a vector's middle, in a tail, alone.
    for (std::size_t start = 0; start < 11; ++start) {
      for (std::size_t n : {std::size_t(1), std::size_t(3), std::size_t(17), x.size() - start}) {
        std::vector<double> part(n, kNan), dpart(n, kNan);
        silu_forward_simd(isa, x.data() + start, n, part.data());
        silu_backward_simd(isa, x.data() + start, dy.data() + start, n, dpart.data());
        expect_same(part, std::vector<double>(y.begin() + start, y.begin() + start + n), what + " slice forward");
        expect_same(dpart, std::vector<double>(dx.begin() + start, dx.begin() + start + n), what + " slice backward");
      }
    }
  }
}

TEST(CpuSimdOps, LayerNormIsNearTheScalarOneAndARowsBitsDoNotDependOnItsBatch) {
  for (int D : {1, 3, 8, 17, 64, 130}) {
    const int B = 5;
    const std::vector<double> x = uniform(static_cast<std::size_t>(B) * D, -3.0, 5.0, 11 + D);
    const std::vector<double> dy = uniform(x.size(), -1.0, 1.0, 12 + D);
    const std::vector<double> gamma = uniform(D, 0.5, 1.5, 13 + D), beta = uniform(D, -0.5, 0.5, 14 + D);
    std::vector<double> y_ref(x.size()), xhat_ref(x.size()), rstd_ref(B), dx_ref(x.size()), dg_ref(D, 0.0),
        db_ref(D, 0.0);
    for (int b = 0; b < B; ++b) {
      const std::size_t r = static_cast<std::size_t>(b) * D;
      rstd_ref[b] = layernorm_row_forward(x.data() + r, D, gamma.data(), beta.data(), y_ref.data() + r, xhat_ref.data() + r);
      layernorm_row_backward(dy.data() + r, xhat_ref.data() + r, rstd_ref[b], gamma.data(), D, dx_ref.data() + r);
      for (int i = 0; i < D; ++i) {
        dg_ref[i] += dy[r + i] * xhat_ref[r + i];
        db_ref[i] += dy[r + i];
      }
    }
    for (CpuIsa isa : kAllCpuIsas) {
      if (!cpu_isa_supported(isa)) continue;
      const std::string what = std::string(to_string(isa)) + " layernorm D " + std::to_string(D);
      std::vector<double> y(x.size(), kNan), xhat(x.size(), kNan), rstd(B, kNan), dx(x.size(), kNan), dg(D, kNan),
          db(D, kNan);
      layernorm_forward_simd(isa, x.data(), gamma.data(), beta.data(), B, D, y.data(), xhat.data(), rstd.data());
      layernorm_backward_simd(isa, dy.data(), xhat.data(), rstd.data(), gamma.data(), B, D, dx.data(), dg.data(),
                              db.data());
      expect_near(y, y_ref, 1e-13, 1e-13, what + " y");
      expect_near(rstd, rstd_ref, 1e-13, 0.0, what + " rstd");
      expect_near(dx, dx_ref, 1e-12, 1e-13, what + " dx");
      expect_near(dg, dg_ref, 1e-12, 1e-13, what + " dgamma");
      expect_near(db, db_ref, 1e-12, 1e-13, what + " dbeta");
      // Row 3 alone: the batch's bits.
      const std::size_t r = 3 * static_cast<std::size_t>(D);
      std::vector<double> y1(D, kNan), xhat1(D, kNan), rstd1(1, kNan), dx1(D, kNan);
      layernorm_forward_simd(isa, x.data() + r, gamma.data(), beta.data(), 1, D, y1.data(), xhat1.data(), rstd1.data());
      layernorm_backward_simd(isa, dy.data() + r, xhat1.data(), rstd1.data(), gamma.data(), 1, D, dx1.data(), nullptr,
                              nullptr);
      expect_same(y1, std::vector<double>(y.begin() + r, y.begin() + r + D), what + " row alone y");
      expect_same(dx1, std::vector<double>(dx.begin() + r, dx.begin() + r + D), what + " row alone dx");
    }
  }
}

// The plain loop (kernels/ops.cpp's gemm_loop): products added in order of k from 0.
std::vector<double> gemm_reference(bool ta, bool tb, int M, int N, int K, const std::vector<double>& A,
                                   const std::vector<double>& B) {
  const int lda = ta ? M : K, ldb = tb ? K : N;
  std::vector<double> C(static_cast<std::size_t>(M) * N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double acc = 0;
      for (int k = 0; k < K; ++k)
        acc += (ta ? A[static_cast<std::size_t>(k) * lda + i] : A[static_cast<std::size_t>(i) * lda + k]) *
               (tb ? B[static_cast<std::size_t>(j) * ldb + k] : B[static_cast<std::size_t>(k) * ldb + j]);
      C[static_cast<std::size_t>(i) * N + j] = acc;
    }
  return C;
}

TEST(CpuSimdOps, GemmHasThePlainLoopsBitsAndItsDotProductsAreNear) {
  struct Shape {
    int M, N, K;
  };
  // Wide rows, narrow columns (the lanes down a column), a readout (N = 1), one k, odd sizes.
  const Shape shapes[] = {{32, 512, 8}, {512, 8, 32}, {32, 1, 512}, {1, 512, 32}, {32, 512, 1},
                          {7, 3, 5},    {3, 7, 9},    {1, 1, 1},    {37, 45, 13}, {9, 2, 70}};
  std::uint64_t seed = 40;
  for (const Shape& s : shapes) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const std::vector<double> A = uniform(static_cast<std::size_t>(s.M) * s.K, -1.0, 1.0, ++seed);
        const std::vector<double> B = uniform(static_cast<std::size_t>(s.K) * s.N, -1.0, 1.0, ++seed);
        const std::vector<double> want = gemm_reference(ta, tb, s.M, s.N, s.K, A, B);
        for (CpuIsa isa : kAllCpuIsas) {
          if (!cpu_isa_supported(isa)) continue;
          const std::string what = std::string(to_string(isa)) + " gemm " + std::to_string(s.M) + "x" +
                                   std::to_string(s.N) + "x" + std::to_string(s.K) + (ta ? " Aᵀ" : "") +
                                   (tb ? " Bᵀ" : "");
          std::vector<double> C(want.size(), kNan);
          gemm_simd(isa, ta, tb, s.M, s.N, s.K, A.data(), ta ? s.M : s.K, B.data(), tb ? s.K : s.N, C.data(), s.N);
          const bool dot = s.N < cpu_isa_lanes(isa) && s.N < s.M && !ta && tb;
          if (dot)
            expect_near(C, want, 1e-13, 1e-13 * s.K, what + " (dot products)");
          else
            expect_same(C, want, what);
          // Rows 1.. alone (the batch of a forward is M): the same bits.
          if (!ta && s.M > 1) {
            std::vector<double> tail((s.M - 1) * static_cast<std::size_t>(s.N), kNan);
            gemm_simd(isa, ta, tb, s.M - 1, s.N, s.K, A.data() + s.K, s.K, B.data(), tb ? s.K : s.N, tail.data(), s.N);
            expect_same(tail, std::vector<double>(C.begin() + s.N, C.end()), what + " without row 0");
          }
        }
      }
    }
  }
}

TEST(CpuSimdOps, AdamHasTheScalarUpdatesBits) {
  const std::size_t n = 37;
  AdamHyper h;
  h.lr = 1e-2;
  h.weight_decay = 5e-3;
  const std::vector<double> p0 = uniform(n, -2.0, 2.0, 70), g = uniform(n, -1.0, 1.0, 71);
  const std::vector<double> m0 = uniform(n, -0.1, 0.1, 72), v0 = uniform(n, 0.0, 0.01, 73);
  const double bc1 = 1.0 - std::pow(h.beta1, 3.0), bc2_sqrt = std::sqrt(1.0 - std::pow(h.beta2, 3.0));
  std::vector<double> p_ref = p0, m_ref = m0, v_ref = v0;
  for (std::size_t i = 0; i < n; ++i)
    adam_update(p_ref[i], g[i], m_ref[i], v_ref[i], h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, bc1, bc2_sqrt);
  for (CpuIsa isa : kAllCpuIsas) {
    if (!cpu_isa_supported(isa)) continue;
    for (std::size_t start : {std::size_t(0), std::size_t(3)}) {
      std::vector<double> p = p0, m = m0, v = v0;
      adam_update_simd(isa, p.data() + start, g.data() + start, m.data() + start, v.data() + start, n - start, h, bc1,
                       bc2_sqrt);
      const std::string what = std::string(to_string(isa)) + " adam from " + std::to_string(start);
      auto from = [&](const std::vector<double>& x, const std::vector<double>& before) {
        std::vector<double> r(before.begin(), before.begin() + start);
        r.insert(r.end(), x.begin() + start, x.end());
        return r;
      };
      expect_same(p, from(p_ref, p0), what + ": param");
      expect_same(m, from(m_ref, m0), what + ": m");
      expect_same(v, from(v_ref, v0), what + ": v");
    }
  }
}

}  // namespace
}  // namespace dynpmnn
