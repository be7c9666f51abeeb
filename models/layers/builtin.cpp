// The layer units that come with dynpmnn: one registration line each.
#include "models/layers/cfc_layer.h"
#include "models/layers/dense_layer.h"
#include "models/layers/fhn_layer.h"
#include "models/layers/ode_layer.h"

namespace dynpmnn {

void register_builtin_layer_units(void (*add)(const LayerUnit&)) {
  static const FhnUnit fhn;
  add(fhn);
  static const DenseUnit dense;
  add(dense);
  static const CfcUnit cfc;
  add(cfc);
  static const OdeUnit ode;
  add(ode);
}

}  // namespace dynpmnn
