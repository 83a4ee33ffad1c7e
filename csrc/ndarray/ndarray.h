// Arrays that live on the engine: storage shared by an array and its views, guarded by one
// engine var, and the native operations every array needs (fill, copy, cast, transfers).
// Each operation pushes to the engine and returns at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine.h"
#include "ndarray/dtype.h"

namespace flowmod {

using Shape = std::vector<int64_t>;

int64_t NumElements(const Shape& shape);
// "(2, 3)", "(4,)", "()": as Python prints the tuple, for error messages.
std::string ShapeString(const Shape& shape);

// Storage of one array and its views. Its var orders every access to the bytes; dropping
// the last reference frees the bytes once the operations pushed before have finished.
class Chunk {
 public:
  Chunk(size_t bytes, engine::DeviceId device);
  // Bytes owned elsewhere, under a var of their own: what an operator written in Python sees
  // of its arrays while it runs (operations it pushes order on this var, and the operator
  // finishes once they have). The owner keeps the bytes alive meanwhile.
  struct Borrowed {};
  Chunk(Borrowed, void* data, size_t bytes, engine::DeviceId device);
  ~Chunk();
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  engine::Var* var() const { return var_; }
  engine::DeviceId device() const { return device_; }

 private:
  void* data_;
  size_t bytes_;
  engine::Var* var_;
  engine::DeviceId device_;
  bool owned_ = true;
};

class NDArray {
 public:
  // A new array (uninitialized bytes) of `shape` and `dtype` on `device`.
  NDArray(Shape shape, DType dtype, engine::DeviceId device);

  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  engine::DeviceId device() const { return chunk_->device(); }
  int64_t size() const { return NumElements(shape_); }
  size_t nbytes() const { return static_cast<size_t>(size()) * DTypeSize(dtype_); }
  void* data() const { return static_cast<char*>(chunk_->data()) + offset_; }
  engine::Var* var() const { return chunk_->var(); }
  const std::shared_ptr<Chunk>& chunk() const { return chunk_; }

  // Rows [begin, end) of the first axis, sharing storage.
  NDArray SliceFirstAxis(int64_t begin, int64_t end) const;
  // The same elements with another shape of the same size, sharing storage.
  NDArray Reshaped(Shape shape) const;
  // An array of `shape` and `dtype` over the first bytes of `chunk` (which must hold them).
  static NDArray OnChunk(std::shared_ptr<Chunk> chunk, Shape shape, DType dtype);

 private:
  NDArray() = default;
  std::shared_ptr<Chunk> chunk_;
  size_t offset_ = 0;  // bytes
  Shape shape_;
  DType dtype_ = DType::kFloat32;
};

// Sets every element to `value` (converted to the array's type).
void Fill(const NDArray& dst, double value);
// Copies `src` into `dst` (same number of elements), converting the type if they differ.
// Between devices the copy runs on the destination's copy lane.
void Copy(const NDArray& src, const NDArray& dst);
// Copies `bytes` (the array's raw contents, already converted to its type) into `dst`.
void CopyFromHost(const NDArray& dst, std::vector<char> bytes);
// Copies the array's contents into `out` (nbytes() bytes) once its pending writes are done,
// blocking the caller. Throws engine::OpError if the array holds a failed result. If the wait
// is interrupted (engine::WaitInterrupted), the copy still runs later: `keep_out` (the owner of
// `out`) is held until it has.
void CopyToHost(const NDArray& src, void* out, const std::shared_ptr<const void>& keep_out = nullptr);

}  // namespace flowmod
