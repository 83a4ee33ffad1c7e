// Devices and lanes: where an operation runs.
#pragma once

#include <cstdint>
#include <functional>

namespace flowmod::engine {

enum class DeviceType : uint8_t { kCPU = 1, kGPU = 2 };

// A device is a type and an index. Every distinct DeviceId has its own workers, so cpu(0) and
// cpu(1) are independent pools even on one socket (as MXNet's cpu(i) contexts are).
struct DeviceId {
  DeviceType type = DeviceType::kCPU;
  int32_t index = 0;

  static constexpr DeviceId Cpu(int32_t i) { return {DeviceType::kCPU, i}; }
  static constexpr DeviceId Gpu(int32_t i) { return {DeviceType::kGPU, i}; }
  friend constexpr bool operator==(DeviceId a, DeviceId b) {
    return a.type == b.type && a.index == b.index;
  }
  friend constexpr bool operator<(DeviceId a, DeviceId b) {
    return a.type != b.type ? a.type < b.type : a.index < b.index;
  }
};

// Each device has a lane for compute and a lane for copies, so that transfers never wait
// behind kernels (on a CUDA device each maps to a stream), and a lane for operators written
// in Python, whose workers take the interpreter's lock while they run: kept off the compute
// workers, so that native work keeps flowing meanwhile and no compute worker waits on Python.
enum class Lane : uint8_t { kCompute = 0, kCopy = 1, kPython = 2 };
inline constexpr int kNumLanes = 3;

const char* LaneName(Lane lane);
const char* DeviceTypeName(DeviceType type);

// What an operation is handed when it runs.
struct RunContext {
  DeviceId device;
  Lane lane = Lane::kCompute;
  // The lane's native queue: a cudaStream_t on a GPU lane, nullptr on a CPU lane.
  void* stream = nullptr;
};

}  // namespace flowmod::engine
