// Splitting one large kernel across cores the engine's other workers leave idle.
//
// Helper threads (one per core beyond the first, idle otherwise) take parts of a kernel while
// the calling worker computes its own part. A kernel that may split holds a Busy for as long
// as it runs: kernels starting meanwhile on the engine's other workers count it and split
// only across the cores left, so helpers and workers never outnumber the cores. Splitting a
// kernel across threads that compete with busy workers is far worse than not splitting it
// (see blas.h). Matrix products (blas.h) and the softmax heads split this way; other kernels
// run on the worker that called them.
#pragma once

#include <cstdint>
#include <functional>

namespace flowmod::ops::parallel {

class Busy {
 public:
  Busy();
  ~Busy();
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;
  // Cores no other Busy kernel held when this one began, this kernel's own included (>= 1).
  int free_cores() const { return free_cores_; }

 private:
  int free_cores_;
};

// Runs part(0) .. part(parts - 1), part 0 on the caller, the rest on helpers (or on the
// caller, when it finds them still queued); returns when all are done.
void Run(int parts, const std::function<void(int)>& part);

// fn(lo, hi) over [0, n) cut into up to `parts` contiguous ranges, one per part.
void For(int64_t n, int parts, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace flowmod::ops::parallel
