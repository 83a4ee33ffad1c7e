// The gradient of operators MXNet gives none to pass on (indices, comparisons, shapes).
#pragma once

#include <cstring>

#include "ops/op_registry.h"

namespace flowmod::ops {

// Writes zeros into every gradient under kWrite and leaves the others alone.
inline void WriteZeroGradients(const BackwardIO& io) {
  for (size_t i = 0; i < io.in_grads.size(); ++i)
    if (io.req[i] == OpReq::kWrite && io.in_grads[i].size() > 0)
      std::memset(io.in_grads[i].data, 0, static_cast<size_t>(io.in_grads[i].size()) * DTypeSize(io.in_grads[i].dtype));
}

}  // namespace flowmod::ops
