// The FitzHugh–Nagumo op on the GPU by its (a, b, g, I) and (v, w) names: neuron_gpu.cuh's kernels
// for the model of kernels/neurons/fhn.h, instantiated here (the other models' in neuron.cu).
#include "kernels/fhn_gpu.h"

#include "common/cuda_launch.h"
#include "kernels/neuron_gpu.cuh"

namespace dynpmnn {

DYNPMNN_INSTANTIATE_NEURON_GPU(FitzHughNagumo)


void fhn_forward_gpu(const NeuronShape& s, const float* in, FhnParamPtrs<float> p, float* out, float* ckpt_v,
                     float* ckpt_w, int* nonfinite_flag, int layer_index, cudaStream_t stream) {
  require((ckpt_v == nullptr) == (ckpt_w == nullptr), "fhn_forward_gpu",
          "ckpt_v and ckpt_w must both be set or both be null");
  NeuronCheckpoints<float> ck;
  ck.plane[0] = ckpt_v;
  ck.plane[1] = ckpt_w;
  neuron_forward_gpu<FitzHughNagumo>(fhn_layout(s), in, fhn_neuron_params(p), out, ck, nonfinite_flag, layer_index, stream);
}

std::size_t fhn_backward_workspace_floats(const NeuronShape& s) {
  return neuron_backward_workspace_floats<FitzHughNagumo>(fhn_layout(s));
}

void fhn_backward_gpu(const NeuronShape& s, const float* in, FhnParamPtrs<float> p, const float* ckpt_v,
                      const float* ckpt_w, const float* d_out, float* d_in, FhnGradPtrs<float> d_params,
                      float* workspace, cudaStream_t stream) {
  NeuronCheckpoints<const float> ck;
  ck.plane[0] = ckpt_v;
  ck.plane[1] = ckpt_w;
  neuron_backward_gpu<FitzHughNagumo>(fhn_layout(s), in, fhn_neuron_params(p), ck, d_out, d_in,
                                      fhn_neuron_grads(d_params), workspace, stream);
}

}  // namespace dynpmnn
