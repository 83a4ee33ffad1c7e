// Recycles OpBlocks. Blocks are allocated by pushing threads and freed by workers, a pattern
// that defeats malloc's per-thread caches; here each thread keeps its own free list and
// trades whole batches with a shared list, so the shared lock is taken once per batch.
#pragma once

#include <mutex>
#include <vector>

#include "op_block.h"

namespace flowmod::engine {

class OpPool {
 public:
  static OpBlock* Get();
  // Resets `op` (dropping its callable and error) and keeps it for reuse.
  static void Put(OpBlock* op);
};

}  // namespace flowmod::engine
