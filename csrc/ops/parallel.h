// Splitting one large kernel across the cores that the engine's other compute workers leave
// idle.
//
// The parts run on the calling worker and on idle compute workers (engine/assist.h), never
// on threads of their own, so a split kernel and the engine's other operators never put
// more threads on the cores than the engine has workers. A large kernel splits into one part
// per core (Cores); a part no worker has taken by the time the caller is done with its own
// runs on the caller, so a worker that is busy with an operator of its own delays nothing,
// and joins in once it is done. Matrix products (blas.h), the softmax heads and the optimizer
// updates split this way; other kernels run on the worker that called them.
#pragma once

#include <cstdint>
#include <functional>

namespace flowmod::ops::parallel {

// The machine's cores (>= 1): the most parts worth cutting a kernel into.
int Cores();

// Runs part(0) .. part(parts - 1), part 0 on the caller, the rest on idle workers (or on the
// caller, when none has taken them); returns when all are done.
void Run(int parts, const std::function<void(int)>& part);

// fn(lo, hi) over [0, n) cut into up to `parts` contiguous ranges, one per part.
void For(int64_t n, int parts, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace flowmod::ops::parallel
