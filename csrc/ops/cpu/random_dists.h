// The distributions behind the sampling operators, shared by the scalar-parameter forms
// (_random_<dist>, _random_<dist>_like) and the array-parameter forms (_sample_<dist>): each
// draws n values for one setting of its parameters from a device's generator, and says which
// parameter values it refuses. Draws are in double; callers convert to the output's type.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/op_registry.h"

namespace flowmod::ops {

// The values a parameter may take.
enum class Bound { kAny, kPositive, kNonNegative, kProbability };

struct DistParam {
  const char* name;         // the attribute of _random_<dist> ("loc")
  const char* sample_name;  // the input of _sample_<dist> ("mu")
  const char* type;         // as MXNet documents the attribute ("float", "int")
  const char* default_text; // as MXNet prints the default ("1", "'1'")
  double default_value;
  Bound bound;
  const char* doc;
};

struct Distribution {
  const char* key;      // "normal": the operators are _random_normal, _sample_normal, ...
  const char* summary;  // what one draws, one sentence
  std::vector<DistParam> params;
  // Writes n draws for the parameter values p (one per entry of params).
  void (*fill)(std::mt19937_64& gen, const double* p, double* out, int64_t n);
  // The draws lie in [p[0], p[1]): a draw that rounds up to p[1] in a narrower output type is
  // drawn again (uniform).
  bool half_open = false;
};

// The distribution of that key (uniform, normal, exponential, gamma, poisson,
// negative_binomial, generalized_negative_binomial); throws std::logic_error for another.
const Distribution& FindDistribution(const std::string& key);

// Empty when the values p are within the distribution's bounds; otherwise the index of the
// first parameter out of them, with what was expected.
struct ParamProblem {
  int index = -1;
  std::string expected;
  bool ok() const { return index < 0; }
};
ParamProblem CheckParams(const Distribution& dist, const double* p);

// Writes n draws into y (of type T), drawing again where half_open rounding reached the bound.
template <class T>
void FillAs(const Distribution& dist, std::mt19937_64& gen, const double* p, T* y, int64_t n,
            std::vector<double>& buf) {
  buf.resize(static_cast<size_t>(n));
  if (n > 0) dist.fill(gen, p, buf.data(), n);
  const bool reject = dist.half_open && p[0] < p[1] && static_cast<double>(static_cast<T>(p[0])) < p[1];
  for (int64_t i = 0; i < n; ++i) {
    T v = static_cast<T>(buf[i]);
    while (reject && !(static_cast<double>(v) < p[1])) {
      double again;
      dist.fill(gen, p, &again, 1);
      v = static_cast<T>(again);
    }
    y[i] = v;
  }
}

// The gradient MXNet gives a sampler's inputs: zero (written under kWrite, nothing added under
// kAdd).
inline void ZeroSampleGradients(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  for (size_t i = 0; i < io.in_grads.size(); ++i) {
    if (io.req[i] != OpReq::kWrite) continue;
    const TensorRef& g = io.in_grads[i];
    std::memset(g.data, 0, static_cast<size_t>(g.size()) * DTypeSize(g.dtype));
  }
}

}  // namespace flowmod::ops
