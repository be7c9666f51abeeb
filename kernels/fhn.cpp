#include "kernels/fhn.h"

#include "kernels/neuron_cpu.h"

namespace dynpmnn {

DYNPMNN_INSTANTIATE_NEURON_CPU_BOTH(FitzHughNagumo)


template <typename T>
bool fhn_forward_cpu(const NeuronShape& s, const T* in, FhnParamPtrs<T> p, T* out, T* ckpt_v, T* ckpt_w) {
  NeuronCheckpoints<T> ck;
  ck.plane[0] = ckpt_v;
  ck.plane[1] = ckpt_w;
  return neuron_forward_cpu<FitzHughNagumo>(fhn_layout(s), in, fhn_neuron_params(p), out, ck);
}

template <typename T>
void fhn_backward_cpu(const NeuronShape& s, const T* in, FhnParamPtrs<T> p, const T* ckpt_v, const T* ckpt_w,
                      const T* d_out, T* d_in, FhnGradPtrs<T> d_params) {
  NeuronCheckpoints<const T> ck;
  ck.plane[0] = ckpt_v;
  ck.plane[1] = ckpt_w;
  neuron_backward_cpu<FitzHughNagumo>(fhn_layout(s), in, fhn_neuron_params(p), ck, d_out, d_in,
                                      fhn_neuron_grads(d_params));
}

template bool fhn_forward_cpu<float>(const NeuronShape&, const float*, FhnParamPtrs<float>, float*, float*, float*);
template bool fhn_forward_cpu<double>(const NeuronShape&, const double*, FhnParamPtrs<double>, double*, double*, double*);
template void fhn_backward_cpu<float>(const NeuronShape&, const float*, FhnParamPtrs<float>, const float*,
                                      const float*, const float*, float*, FhnGradPtrs<float>);
template void fhn_backward_cpu<double>(const NeuronShape&, const double*, FhnParamPtrs<double>, const double*,
                                       const double*, const double*, double*, FhnGradPtrs<double>);

}  // namespace dynpmnn
