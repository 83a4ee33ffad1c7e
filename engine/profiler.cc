#include "profiler.h"

#include <string>

namespace flowmod::engine {

namespace {
// Numbers recording threads for the trace's tracks, in the order they first recorded.
uint32_t NextThreadNumber() {
  static std::atomic<uint32_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

Profiler::Buffer::Buffer() : tail(new Chunk), head(tail), thread(NextThreadNumber()) {}

Profiler::Buffer::~Buffer() {
  for (Chunk* c = head; c != nullptr;) {
    Chunk* next = c->next.load(std::memory_order_acquire);
    delete c;
    c = next;
  }
}

Profiler::Slot* Profiler::Reserve(Buffer& b, uint32_t slots, uint32_t* at) {
  Chunk* c = b.tail;
  uint32_t size = c->size.load(std::memory_order_relaxed);
  if (size + slots > kChunkSlots) {
    // The owner never touches a chunk again once it has linked the next: from then on the
    // reader may free it.
    Chunk* fresh = new Chunk;
    c->next.store(fresh, std::memory_order_release);
    b.tail = fresh;
    c = fresh;
    size = 0;
  }
  *at = size;
  return &c->slots[size];
}

void Profiler::Take(Buffer& b, ThreadTrace* out) {
  for (;;) {
    Chunk* c = b.head;
    uint32_t size = c->size.load(std::memory_order_acquire);
    Chunk* next = c->next.load(std::memory_order_acquire);
    // Linked after the owner's last store to this chunk: its size is final now.
    if (next != nullptr) size = c->size.load(std::memory_order_acquire);
    for (uint32_t i = b.read; i < size;) {
      const OpSlot& h = c->slots[i].op;
      TraceOp op{h.start_ns, h.end_ns, h.name, h.slot, (h.flags & kFailed) != 0,
                 (h.flags & kAsync) != 0, {}};
      op.deps.reserve(h.num_deps);
      for (uint32_t k = 0; k < h.num_deps; ++k) {
        const DepSlot& d = c->slots[i + 1 + k / 2].dep[k % 2];
        op.deps.push_back(TraceDep{d.var, d.version_and_write >> 1, (d.version_and_write & 1) != 0});
      }
      i += 1 + (h.num_deps + 1) / 2;
      out->ops.push_back(std::move(op));
    }
    b.read = size;
    if (next == nullptr) return;
    delete c;
    b.head = next;
    b.read = 0;
  }
}

OpName Profiler::Label(OpName kind, std::string_view label, std::string detail) {
  kind = KindOf(kind);
  std::string key = std::to_string(kind) + ':' + std::string(label);
  std::lock_guard<std::mutex> lock(label_mu_);
  auto it = label_ids_.find(key);
  if (it != label_ids_.end()) {
    labels_[(it->second >> kKindBits) - 1].detail = std::move(detail);
    return it->second;
  }
  if (labels_.size() >= (size_t{1} << (32 - kKindBits)) - 1) return kind;
  labels_.push_back(LabelInfo{std::string(label), std::move(detail)});
  const OpName id = static_cast<OpName>(labels_.size()) << kKindBits | kind;
  label_ids_.emplace(std::move(key), id);
  return id;
}

std::string Profiler::LabelOf(OpName name) const {
  const OpName n = name >> kKindBits;
  std::lock_guard<std::mutex> lock(label_mu_);
  return n == 0 || n > labels_.size() ? std::string() : labels_[n - 1].label;
}

std::string Profiler::DetailOf(OpName name) const {
  const OpName n = name >> kKindBits;
  std::lock_guard<std::mutex> lock(label_mu_);
  return n == 0 || n > labels_.size() ? std::string() : labels_[n - 1].detail;
}

std::vector<ThreadTrace> Profiler::Collect() {
  std::lock_guard<std::mutex> lock(collect_mu_);
  std::vector<ThreadTrace> traces;
  // ForEach hands out const blocks; the reader's fields are guarded by collect_mu_.
  buffers_.ForEach([&](const Buffer& cb) {
    auto& b = const_cast<Buffer&>(cb);
    ThreadTrace t;
    t.thread = b.thread;
    Take(b, &t);
    if (!t.ops.empty()) traces.push_back(std::move(t));
  });
  return traces;
}

}  // namespace flowmod::engine
