#include "ndarray/ndarray.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "storage/host_pool.h"

namespace flowmod {

namespace eng = engine;

namespace {

eng::Engine* TheEngine() { return eng::Engine::Get(); }

eng::OpName Named(const char* name) { return TheEngine()->stats().Intern(name); }

// Converts `n` elements from `src` (of type `from`) to `dst` (of type `to`).
void ConvertElements(const void* src, DType from, void* dst, DType to, int64_t n) {
  FLOWMOD_DTYPE_SWITCH(from, S, {
    FLOWMOD_DTYPE_SWITCH(to, D, {
      const S* s = static_cast<const S*>(src);
      D* d = static_cast<D*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(s[i]);
    });
  });
}

}  // namespace

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kFloat16: return "float16";
    case DType::kUint8: return "uint8";
    case DType::kInt32: return "int32";
    case DType::kInt8: return "int8";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
    case DType::kUnknown: return "unknown";
  }
  return "unknown";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeString(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

Chunk::Chunk(size_t bytes, eng::DeviceId device)
    : data_(storage::HostPool::Get().Alloc(bytes)),
      bytes_(bytes),
      var_(TheEngine()->NewVar()),
      device_(device) {}

Chunk::Chunk(Borrowed, void* data, size_t bytes, eng::DeviceId device)
    : data_(data), bytes_(bytes), var_(TheEngine()->NewVar()), device_(device), owned_(false) {}

Chunk::~Chunk() {
  if (!owned_) {
    TheEngine()->DeleteVar(var_);
    return;
  }
  void* data = data_;
  const size_t bytes = bytes_;
  eng::Var* writes[] = {var_};
  try {
    // Ordered after every operation pushed on the array: none of them can see freed bytes.
    static const eng::OpName name = Named("free_storage");
    TheEngine()->Push(eng::Operation::Sync([data, bytes](const eng::RunContext&) {
                        storage::HostPool::Get().Free(data, bytes);
                      }),
                      {}, writes, eng::Placement{device_}, name);
  } catch (const eng::EngineUnavailable&) {
    // The engine has stopped, so nothing is using the bytes any more.
    storage::HostPool::Get().Free(data, bytes);
  }
  TheEngine()->DeleteVar(var_);
}

NDArray::NDArray(Shape shape, DType dtype, eng::DeviceId device)
    : shape_(std::move(shape)), dtype_(dtype) {
  chunk_ = std::make_shared<Chunk>(nbytes(), device);
}

NDArray NDArray::SliceFirstAxis(int64_t begin, int64_t end) const {
  if (shape_.empty() || begin < 0 || end > shape_[0] || begin > end)
    throw std::out_of_range("slice [" + std::to_string(begin) + ", " + std::to_string(end) +
                            ") is outside the first axis");
  NDArray view = *this;
  const int64_t row = shape_[0] == 0 ? 0 : size() / shape_[0];
  view.offset_ += static_cast<size_t>(begin * row) * DTypeSize(dtype_);
  view.shape_[0] = end - begin;
  return view;
}

NDArray NDArray::Reshaped(Shape shape) const {
  if (NumElements(shape) != size())
    throw std::invalid_argument("cannot reshape an array of " + std::to_string(size()) +
                                " elements into one of " + std::to_string(NumElements(shape)));
  NDArray view = *this;
  view.shape_ = std::move(shape);
  return view;
}

NDArray NDArray::OnChunk(std::shared_ptr<Chunk> chunk, Shape shape, DType dtype) {
  NDArray a;
  a.shape_ = std::move(shape);
  a.dtype_ = dtype;
  if (a.nbytes() > chunk->bytes())
    throw std::invalid_argument("an array of " + std::to_string(a.nbytes()) +
                                " bytes does not fit in storage of " + std::to_string(chunk->bytes()));
  a.chunk_ = std::move(chunk);
  return a;
}

void Fill(const NDArray& dst, double value) {
  static const eng::OpName name = Named("fill");
  void* data = dst.data();
  const int64_t n = dst.size();
  const DType dtype = dst.dtype();
  eng::Var* writes[] = {dst.var()};
  TheEngine()->Push(eng::Operation::Sync([data, n, dtype, value](const eng::RunContext&) {
                      FLOWMOD_DTYPE_SWITCH(dtype, T, {
                        T* d = static_cast<T*>(data);
                        const T v = static_cast<T>(value);
                        for (int64_t i = 0; i < n; ++i) d[i] = v;
                      });
                    }),
                    {}, writes, eng::Placement{dst.device()}, name);
}

void Copy(const NDArray& src, const NDArray& dst) {
  if (src.size() != dst.size())
    throw std::invalid_argument("cannot copy an array of " + std::to_string(src.size()) +
                                " elements into one of " + std::to_string(dst.size()));
  static const eng::OpName copy_name = Named("copy");
  static const eng::OpName cast_name = Named("cast");
  const void* from = src.data();
  void* to = dst.data();
  const DType st = src.dtype(), dt = dst.dtype();
  const int64_t n = src.size();
  const size_t bytes = dst.nbytes();
  eng::Var* reads[] = {src.var()};
  eng::Var* writes[] = {dst.var()};
  const bool across = !(src.device() == dst.device());
  TheEngine()->Push(eng::Operation::Sync([from, to, st, dt, n, bytes](const eng::RunContext&) {
                      if (from == to && st == dt) return;
                      if (st == dt) std::memmove(to, from, bytes);
                      else ConvertElements(from, st, to, dt, n);
                    }),
                    reads, writes,
                    eng::Placement{dst.device(), across ? eng::Lane::kCopy : eng::Lane::kCompute},
                    st == dt ? copy_name : cast_name);
}

void CopyFromHost(const NDArray& dst, std::vector<char> bytes) {
  if (bytes.size() != dst.nbytes())
    throw std::invalid_argument("expected " + std::to_string(dst.nbytes()) + " bytes, got " +
                                std::to_string(bytes.size()));
  static const eng::OpName name = Named("copy_from_host");
  auto held = std::make_shared<std::vector<char>>(std::move(bytes));
  void* to = dst.data();
  eng::Var* writes[] = {dst.var()};
  TheEngine()->Push(eng::Operation::Sync([held, to](const eng::RunContext&) {
                      std::memcpy(to, held->data(), held->size());
                    }),
                    {}, writes, eng::Placement{dst.device(), eng::Lane::kCopy}, name);
}

void CopyToHost(const NDArray& src, void* out, const std::shared_ptr<const void>& keep_out) {
  static const eng::OpName name = Named("copy_to_host");
  eng::Engine* engine = TheEngine();
  // The copy is an operation reading the array, so that no write pushed later (by any
  // thread) can change the bytes under it; `done` tells when it ran.
  struct DoneVar {
    eng::Var* var = TheEngine()->NewVar();
    ~DoneVar() { TheEngine()->DeleteVar(var); }
  } done;
  const void* from = src.data();
  const size_t bytes = src.nbytes();
  eng::Var* reads[] = {src.var()};
  eng::Var* writes[] = {done.var};
  engine->Push(eng::Operation::Sync([from, out, bytes](const eng::RunContext&) {
                 std::memcpy(out, from, bytes);
               }),
               reads, writes, eng::Placement{src.device(), eng::Lane::kCopy}, name);
  try {
    engine->WaitForVar(done.var);
  } catch (const eng::WaitInterrupted&) {
    // The copy is still queued and writes into `out` when it runs.
    engine->OnComplete(done.var, [keep = keep_out](const eng::ErrorInfo*) {});
    throw;
  }
}

}  // namespace flowmod
