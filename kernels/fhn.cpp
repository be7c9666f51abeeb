#include "kernels/fhn.h"

#include "kernels/neuron_cpu.h"

namespace dynpmnn {

DYNPMNN_INSTANTIATE_NEURON_CPU_BOTH(FitzHughNagumo)

namespace {

template <typename T>
NeuronParamPtrs<T> params_of(FhnParamPtrs<T> p) {
  NeuronParamPtrs<T> q;
  q.p[0] = p.a;
  q.p[1] = p.b;
  q.p[2] = p.g;
  q.p[3] = p.I;
  return q;
}

NeuronShape fhn_layout(NeuronShape s) {
  s.states = FitzHughNagumo::kStates;
  s.coupled = FitzHughNagumo::kCoupled;
  s.voltage_readout = false;
  return s;
}

}  // namespace

template <typename T>
bool fhn_forward_cpu(const NeuronShape& s, const T* in, FhnParamPtrs<T> p, T* out, T* ckpt_v, T* ckpt_w) {
  NeuronCheckpoints<T> ck;
  ck.plane[0] = ckpt_v;
  ck.plane[1] = ckpt_w;
  return neuron_forward_cpu<FitzHughNagumo>(fhn_layout(s), in, params_of(p), out, ck);
}

template <typename T>
void fhn_backward_cpu(const NeuronShape& s, const T* in, FhnParamPtrs<T> p, const T* ckpt_v, const T* ckpt_w,
                      const T* d_out, T* d_in, FhnGradPtrs<T> d_params) {
  NeuronCheckpoints<const T> ck;
  ck.plane[0] = ckpt_v;
  ck.plane[1] = ckpt_w;
  NeuronGradPtrs<T> g;
  g.p[0] = d_params.a;
  g.p[1] = d_params.b;
  g.p[2] = d_params.g;
  g.p[3] = d_params.I;
  neuron_backward_cpu<FitzHughNagumo>(fhn_layout(s), in, params_of(p), ck, d_out, d_in, g);
}

template bool fhn_forward_cpu<float>(const NeuronShape&, const float*, FhnParamPtrs<float>, float*, float*, float*);
template bool fhn_forward_cpu<double>(const NeuronShape&, const double*, FhnParamPtrs<double>, double*, double*, double*);
template void fhn_backward_cpu<float>(const NeuronShape&, const float*, FhnParamPtrs<float>, const float*,
                                      const float*, const float*, float*, FhnGradPtrs<float>);
template void fhn_backward_cpu<double>(const NeuronShape&, const double*, FhnParamPtrs<double>, const double*,
                                       const double*, const double*, double*, FhnGradPtrs<double>);

}  // namespace dynpmnn
