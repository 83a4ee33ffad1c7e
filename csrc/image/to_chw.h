// The last step of ImageRecordIter's per-image work, as MXNet's ImageRecordIOParser2 does it
// (src/io/iter_image_recordio_2.cc, CreateMeanImg/ProcessImage): the cropped HWC image,
// channels reordered BGR(A) -> RGB(A), mirrored if asked, normalized, written as CHW planes
// into a batch slot, in one pass over the pixels.
#pragma once

#include <cstdint>

#include "ndarray/dtype.h"

namespace flowmod::image {

struct ToCHWArgs {
  const uint8_t* src = nullptr;  // the crop's first pixel
  int64_t row_stride = 0;        // bytes from one row of src to the next
  int channels = 3;              // 1, 3 or 4; pixels are `channels` bytes apart
  int height = 0, width = 0;     // the crop, the slot's H and W
  bool mirror = false;           // the slot's column j takes the crop's column width-1-j
  // Per output channel k: the source byte of a pixel (2-k for BGR -> RGB), and the
  // normalization (pixel - mean[k]) * mult[k] + bias[k] (float output) or the saturated
  // pixel - round(mean[k]) (int8 output). uint8 output is the raw pixel.
  int source[4] = {0, 1, 2, 3};
  float mean[4] = {0, 0, 0, 0};
  float mult[4] = {1, 1, 1, 1};
  float bias[4] = {0, 0, 0, 0};
  // A per-pixel mean (CHW float32, indexed as the crop, before mirroring) in place of mean.
  const float* mean_img = nullptr;
  DType out_type = DType::kFloat32;  // float32, float16, uint8 or int8
  void* dst = nullptr;               // channels x height x width, contiguous
};

// Writes the slot. Plain C++ over raw pointers: the caller releases the GIL around it.
void ToCHW(const ToCHWArgs& a);

}  // namespace flowmod::image
