#include "ops/dnnl_gemm.h"

#ifdef FLOWMOD_WITH_ONEDNN

#include <oneapi/dnnl/dnnl.hpp>

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

extern "C" void omp_set_num_threads(int);  // libgomp, which oneDNN's OpenMP build runs on

namespace flowmod::ops::dnnl_gemm {

namespace {

using dnnl::memory;
using Dims = memory::dims;
constexpr memory::data_type kF32 = memory::data_type::f32;

// Never destroyed: the workers' streams and compiled products may outlive static destructors.
const dnnl::engine& Cpu() {
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

// Prepares the calling thread: oneDNN would start a team of omp_get_max_threads() threads for
// every product, but the engine already runs one compute worker per core and splits large
// products across them itself (blas.cc), so each thread runs its products alone. The setting
// is the calling thread's own.
dnnl::stream& ThreadStream() {
  thread_local bool one_thread = (omp_set_num_threads(1), true);
  thread_local dnnl::stream stream(Cpu());
  (void)one_thread;
  return stream;
}

// Each thread's scratch memory for the kernels (user-managed, so that products running at once
// on different threads never share it).
void* ThreadScratch(size_t bytes) {
  thread_local std::vector<std::byte> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

memory::desc MatrixDesc(int64_t rows, int64_t cols, bool transposed, int64_t ld) {
  // A rows x cols operand stored row-major with row stride ld, or transposed (cols x rows).
  return memory::desc(Dims{rows, cols}, kF32, transposed ? Dims{1, ld} : Dims{ld, 1});
}

dnnl::primitive_attr Attr(bool accumulate) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

struct Key {
  bool ta, tb, accumulate;
  int64_t m, n, k, lda, ldb, ldc;
  bool operator==(const Key&) const = default;
};

struct KeyHash {
  size_t operator()(const Key& key) const {
    size_t h = (size_t{key.ta} << 2) | (size_t{key.tb} << 1) | size_t{key.accumulate};
    for (int64_t v : {key.m, key.n, key.k, key.lda, key.ldb, key.ldc}) h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

// A compiled product for one shape and layout; empty when oneDNN has no kernel for it.
struct Compiled {
  dnnl::matmul primitive;
  memory::desc a, b, c, scratch;
  bool ok = false;
};

std::shared_ptr<const Compiled> Compile(const Key& key) {
  auto out = std::make_shared<Compiled>();
  try {
    out->a = MatrixDesc(key.m, key.k, key.ta, key.lda);
    out->b = MatrixDesc(key.k, key.n, key.tb, key.ldb);
    out->c = MatrixDesc(key.m, key.n, false, key.ldc);
    const dnnl::matmul::primitive_desc pd(Cpu(), out->a, out->b, out->c, Attr(key.accumulate));
    out->scratch = pd.scratchpad_desc();
    out->primitive = dnnl::matmul(pd);
    out->ok = true;
  } catch (const dnnl::error&) {
    out->ok = false;
  }
  return out;
}

// The compiled products by shape. A shape's first product costs milliseconds (oneDNN generates
// its kernels: 28-33 ms for an RNN's 400 x 200 x 800 weight gradient, against 1 ms after); a
// training loop uses a few dozen shapes (per bucket, per layer), so they are kept, and the
// table is emptied should some program use more than kCapacity.
std::shared_ptr<const Compiled> Lookup(const Key& key) {
  constexpr size_t kCapacity = 1024;
  static std::mutex mu;
  static std::unordered_map<Key, std::shared_ptr<const Compiled>, KeyHash> table;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = table.find(key); it != table.end()) return it->second;
  }
  auto compiled = Compile(key);  // outside the lock: another thread may compile the same key
  std::lock_guard<std::mutex> lock(mu);
  if (table.size() >= kCapacity) table.clear();
  return table.emplace(key, std::move(compiled)).first->second;
}

void Execute(const dnnl::matmul& primitive, const memory& a, const memory& b, const memory& c,
             const memory::desc& scratch) {
  dnnl::stream& stream = ThreadStream();
  const memory pad(scratch, Cpu(), ThreadScratch(scratch.get_size()));
  primitive.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}, {DNNL_ARG_SCRATCHPAD, pad}});
  stream.wait();
}

}  // namespace

bool Available() { return true; }

bool Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, bool accumulate, float* c, int64_t ldc) {
  const auto compiled = Lookup(Key{ta, tb, accumulate, m, n, k, lda, ldb, ldc});
  if (!compiled->ok) return false;
  Execute(compiled->primitive, memory(compiled->a, Cpu(), const_cast<float*>(a)),
          memory(compiled->b, Cpu(), const_cast<float*>(b)), memory(compiled->c, Cpu(), c), compiled->scratch);
  return true;
}

struct PackedB::Impl {
  dnnl::matmul primitive;
  memory::desc a, c, scratch;
  memory b;  // B in the kernel's layout
};

PackedB::PackedB(int64_t m, int64_t n, int64_t k, int64_t lda, bool tb, const float* b, int64_t ldb, int64_t ldc,
                 bool accumulate)
    : impl_(std::make_unique<Impl>()) {
  ThreadStream();
  impl_->a = MatrixDesc(m, k, false, lda);
  impl_->c = MatrixDesc(m, n, false, ldc);
  const memory::desc plain = MatrixDesc(k, n, tb, ldb);
  const memory::desc any(Dims{k, n}, kF32, memory::format_tag::any);
  const dnnl::matmul::primitive_desc pd(Cpu(), impl_->a, any, impl_->c, Attr(accumulate));
  impl_->scratch = pd.scratchpad_desc();
  impl_->primitive = dnnl::matmul(pd);
  memory source(plain, Cpu(), const_cast<float*>(b));
  impl_->b = memory(pd.weights_desc(), Cpu());
  dnnl::reorder(source, impl_->b).execute(ThreadStream(), source, impl_->b);
  ThreadStream().wait();
}

PackedB::~PackedB() = default;

void PackedB::Run(const float* a, float* c) const {
  Execute(impl_->primitive, memory(impl_->a, Cpu(), const_cast<float*>(a)), impl_->b, memory(impl_->c, Cpu(), c),
          impl_->scratch);
}

}  // namespace flowmod::ops::dnnl_gemm

#else  // without oneDNN: blas.cc keeps every product on OpenBLAS

namespace flowmod::ops::dnnl_gemm {

bool Available() { return false; }

bool Gemm(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, bool, float*,
          int64_t) {
  return false;
}

struct PackedB::Impl {};
PackedB::~PackedB() = default;

}  // namespace flowmod::ops::dnnl_gemm

#endif
