// Splitting one large kernel across the cores that the engine's other compute workers leave
// idle.
//
// The parts run on the calling worker and on idle compute workers (engine/assist.h), never
// on threads of their own, so a split kernel and the engine's other operators never put
// more threads on the cores than the engine has workers. A kernel asks how many cores it may
// use when it starts (FreeCores) and splits into that many parts at most; a part no worker
// has taken by the time the caller is done with its own runs on the caller, so a worker that
// meanwhile got an operator of its own delays nothing. Matrix products (blas.h) and the
// softmax heads split this way; other kernels run on the worker that called them.
#pragma once

#include <cstdint>
#include <functional>

namespace flowmod::ops::parallel {

// The cores a kernel starting now may split across: its own and one per idle compute worker,
// at most the machine's cores (>= 1).
int FreeCores();

// Runs part(0) .. part(parts - 1), part 0 on the caller, the rest on idle workers (or on the
// caller, when none has taken them); returns when all are done.
void Run(int parts, const std::function<void(int)>& part);

// fn(lo, hi) over [0, n) cut into up to `parts` contiguous ranges, one per part.
void For(int64_t n, int parts, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace flowmod::ops::parallel
