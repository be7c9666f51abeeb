// The CPU reference of the fused epoch (fused_epoch.h): one "thread" a block, models in turn.
#include <algorithm>
#include <vector>

#include "kernels/fused_epoch.h"
#include "kernels/integrator_dispatch.h"
#include "kernels/neurons/fhn.h"

namespace dynpmnn {

namespace {

// Block::each on the CPU: the indices in order; the barrier is the loop's end.
struct SerialBlock {
  template <typename F>
  void each(int n, F&& f) {
    for (int i = 0; i < n; ++i) f(i);
  }
};

}  // namespace

void fused_epoch_cpu(const FusedLayout& L, const FusedHyper* hyper, FusedStatus* st, const FusedParamInfo* info,
                     const double* x, const double* y, const std::uint32_t* order, double* params, double* m,
                     double* v, int models, Integrator integrator, int chunk) {
  std::vector<unsigned char> shared(fused_shared_bytes<double>(L.batch, L.total) + 16);
  std::vector<double> ck(fused_checkpoint_floats(L));
  SerialBlock blk;
  for (int k = 0; k < models; ++k) {
    if (st[k].epoch <= 0) continue;
    const std::size_t P = L.total;
    const int steps = fused_epoch_steps(L), per_call = chunk > 0 ? chunk : std::max(steps, 1);
    for (int s = 0; s < std::max(steps, 1); s += per_call)
      dispatch_integrator_clamp(integrator, hyper[k].clip > 0, "fused_epoch_cpu", [&](auto scheme, auto clamp) {
        fused_epoch<FitzHughNagumo, decltype(scheme)::value, decltype(clamp)::value>(
            blk, L, hyper[k], st[k], info, x, y, order + static_cast<std::size_t>(k) * L.rows, params + k * P,
            m + k * P, v + k * P, ck.data(), fused_shared_carve<double>(shared.data(), L.batch, L.total), s,
            s + per_call);
      });
  }
}

void fused_predict_cpu(const FusedLayout& L, const FusedHyper* hyper, const FusedParamInfo* info, const double* x,
                       int rows, const double* params, double* pred, int models, Integrator integrator) {
  for (int k = 0; k < models; ++k) {
    dispatch_integrator_clamp(integrator, hyper[k].clip > 0, "fused_predict_cpu", [&](auto scheme, auto clamp) {
      for (int r = 0; r < rows; ++r)
        fused_predict_row<FitzHughNagumo, decltype(scheme)::value, decltype(clamp)::value>(
            L, hyper[k], params + static_cast<std::size_t>(k) * L.total, info, x + static_cast<std::size_t>(r) * L.F,
            pred + (static_cast<std::size_t>(k) * rows + r) * L.O);
    });
  }
}

}  // namespace dynpmnn
