// Float math written without branches or library calls, so that loops over arrays vectorize
// (built with -fno-trapping-math, see CMakeLists.txt). Accurate to a few float ulps.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace flowmod::ops {

// x = n ln2 + r with |r| <= ln2 / 2: 2^n and expm1(r), expm1(r) from its Taylor series to r^8
// (the first term left out is below 3e-10). x is clamped to [-87, 88], where 2^n stays a
// normal float.
struct ExpParts {
  float two_n;  // 2^n
  float q;      // expm1(r)
};

inline ExpParts ReduceExp(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  // ln2 in two parts: the first has few enough bits that n * it is exact.
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-06f;
  float p = 1.0f / 40320;
  p = p * r + 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return {two_n, r + r * r * p};
}

// exp(x) - 1 for float, accurate near 0 too: 2^n expm1(r) + (2^n - 1).
inline float Expm1Float(float x) {
  const ExpParts e = ReduceExp(x);
  return e.two_n * e.q + (e.two_n - 1.0f);
}

// exp(x) for float: 2^n (1 + expm1(r)), relative error of a few ulps (1 + expm1(r) lies in
// [0.7, 1.5], so nothing cancels).
inline float ExpFloat(float x) {
  const ExpParts e = ReduceExp(x);
  return e.two_n * (1.0f + e.q);
}

// tanh(x) = -m / (2 + m) with m = expm1(-2|x|), signed like x.
inline float TanhFloat(float x) {
  const float m = Expm1Float(-2.0f * std::fabs(x));
  return std::copysign(-m / (2.0f + m), x);
}

// 1 / (1 + exp(-x)) = 1 / (2 + expm1(-x)).
inline float SigmoidFloat(float x) { return 1.0f / (2.0f + Expm1Float(-x)); }

}  // namespace flowmod::ops
