#include "ops/parallel.h"

#include <algorithm>
#include <thread>

#include "assist.h"

namespace flowmod::ops::parallel {

int Cores() {
  static const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return cores;
}

void Run(int parts, const std::function<void(int)>& part) { engine::assist::Run(parts, part); }

void For(int64_t n, int parts, const std::function<void(int64_t, int64_t)>& fn) {
  parts = static_cast<int>(std::clamp<int64_t>(n, 1, std::max(parts, 1)));
  Run(parts, [&](int i) {
    const int64_t lo = n * i / parts, hi = n * (i + 1) / parts;
    if (lo < hi) fn(lo, hi);
  });
}

}  // namespace flowmod::ops::parallel
