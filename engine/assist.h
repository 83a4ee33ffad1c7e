// Splitting one running operation across the compute workers that have nothing else to run.
//
// An operation on a CPU compute worker may cut its work into parts (the blocks of a large
// matrix product). Part 0 runs on the calling worker; the others are offered to the idle
// compute workers of CPU devices, which take them while they wait for operations; the caller
// runs every part no one has taken. The workers are the only threads that run parts, so an
// operation that splits never puts more threads on the cores than the engine has workers:
// a worker that gets an operation of its own stops taking parts, and the caller takes the
// rest. (Threads kept just for the parts would compete with the workers whenever both had
// work, and a part whose thread lost its core holds up the whole operation.)
#pragma once

#include <functional>

namespace flowmod::engine {

class ReadyQueue;

namespace assist {

// Runs part(0) .. part(parts - 1) and returns once all are done: part 0 and any part no idle
// worker has taken on the caller, the others on idle workers. A part that calls Run runs its
// own parts itself. If a part throws, the other parts still run and the first exception is
// rethrown here.
void Run(int parts, const std::function<void(int)>& part);

// ---- for ReadyQueue --------------------------------------------------------------------------
// Whether a part is waiting for a worker (approximate; read without a lock).
bool Pending();
// Runs queued parts of the oldest operation that has some; false if there were none.
bool RunPending();
// A queue whose workers take parts while they wait; Run wakes its sleepers.
void Listen(ReadyQueue* queue);
void Unlisten(ReadyQueue* queue);

}  // namespace assist
}  // namespace flowmod::engine
