#include "image/to_chw.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "ops/cpu/target_clones.h"

namespace flowmod::image {

namespace {

// One output row of channel k: float results as MXNet computes them, in float, rounded
// once to the output type.
template <typename T>
void FloatRow(const ToCHWArgs& a, int k, const uint8_t* row, const float* mean_row, T* out) {
  const int c = a.channels, w = a.width, s = a.source[k];
  const float mean = a.mean[k], mult = a.mult[k], bias = a.bias[k];
  for (int j = 0; j < w; ++j) {
    const float m = mean_row != nullptr ? mean_row[j] : mean;
    const float v = (static_cast<float>(row[j * c + s]) - m) * mult + bias;
    out[a.mirror ? w - 1 - j : j] = static_cast<T>(v);
  }
}

void Uint8Row(const ToCHWArgs& a, int k, const uint8_t* row, uint8_t* out) {
  const int c = a.channels, w = a.width, s = a.source[k];
  if (a.mirror) {
    for (int j = 0; j < w; ++j) out[w - 1 - j] = row[j * c + s];
  } else {
    for (int j = 0; j < w; ++j) out[j] = row[j * c + s];
  }
}

void Int8Row(const ToCHWArgs& a, int k, const uint8_t* row, const float* mean_row,
             int8_t* out) {
  const int c = a.channels, w = a.width, s = a.source[k];
  const int mean = static_cast<int>(std::round(a.mean[k]));
  for (int j = 0; j < w; ++j) {
    const int m = mean_row != nullptr ? static_cast<int>(std::round(mean_row[j])) : mean;
    int v = static_cast<int>(row[j * c + s]) - m;
    v = v < -128 ? -128 : (v > 127 ? 127 : v);
    out[a.mirror ? w - 1 - j : j] = static_cast<int8_t>(v);
  }
}

// Without a mean image a float output is a function of the pixel value alone: a table of
// the 256 results per channel, computed with the same float arithmetic, then one lookup
// per value (the crop is read once, pixel by pixel, into all the planes).
template <typename T>
void TableRows(const ToCHWArgs& a, T* dst) {
  const int c = a.channels, w = a.width;
  T table[4][256];
  for (int k = 0; k < c; ++k)
    for (int v = 0; v < 256; ++v)
      table[k][v] = static_cast<T>((static_cast<float>(v) - a.mean[k]) * a.mult[k] + a.bias[k]);
  const int64_t hw = static_cast<int64_t>(a.height) * w;
  for (int i = 0; i < a.height; ++i) {
    const uint8_t* row = a.src + i * a.row_stride;
    for (int k = 0; k < c; ++k) {
      const T* t = table[k];
      const uint8_t* px = row + a.source[k];
      T* out = dst + k * hw + static_cast<int64_t>(i) * w;
      if (a.mirror) {
        for (int j = 0; j < w; ++j) out[w - 1 - j] = t[px[j * c]];
      } else {
        for (int j = 0; j < w; ++j) out[j] = t[px[j * c]];
      }
    }
  }
}

// The common case of ImageRecordIter, float32 planes of a 3-channel crop without a mean
// image, computed a row at a time with the three channels of a pixel read together, so that
// the loop vectorizes (the table's one lookup per value does not). `source` must be a
// permutation of 0, 1, 2: plane q[s] takes the source byte s of every pixel. The file is
// compiled without floating-point contraction, so that (v - mean) * mult + bias rounds twice
// here as in MXNet (and as the table computes it).
FLOWMOD_TARGET_CLONES
void Float3Rows(const ToCHWArgs& a, float* dst) {
  const int w = a.width;
  const int64_t hw = static_cast<int64_t>(a.height) * w;
  float* q[3];
  float mean[3], mult[3], bias[3];
  for (int k = 0; k < 3; ++k) {
    const int s = a.source[k];
    q[s] = dst + k * hw;
    mean[s] = a.mean[k];
    mult[s] = a.mult[k];
    bias[s] = a.bias[k];
  }
  for (int i = 0; i < a.height; ++i) {
    const uint8_t* __restrict row = a.src + i * a.row_stride;
    const int64_t at = static_cast<int64_t>(i) * w;
    float* __restrict p0 = q[0] + at;
    float* __restrict p1 = q[1] + at;
    float* __restrict p2 = q[2] + at;
    for (int j = 0; j < w; ++j) {
      const uint8_t* px = row + 3 * j;
      p0[j] = (static_cast<float>(px[0]) - mean[0]) * mult[0] + bias[0];
      p1[j] = (static_cast<float>(px[1]) - mean[1]) * mult[1] + bias[1];
      p2[j] = (static_cast<float>(px[2]) - mean[2]) * mult[2] + bias[2];
    }
    if (a.mirror) {  // reversing the finished rows costs less than reading pixels backwards
      std::reverse(p0, p0 + w);
      std::reverse(p1, p1 + w);
      std::reverse(p2, p2 + w);
    }
  }
}

bool IsPermutation3(const int* source) {
  return source[0] != source[1] && source[1] != source[2] && source[0] != source[2] &&
         source[0] >= 0 && source[0] < 3 && source[1] >= 0 && source[1] < 3 && source[2] >= 0 &&
         source[2] < 3;
}

template <typename T>
T* Plane(const ToCHWArgs& a, int k) {
  return static_cast<T*>(a.dst) + static_cast<int64_t>(k) * a.height * a.width;
}

}  // namespace

void ToCHW(const ToCHWArgs& a) {
  if (a.mean_img == nullptr && a.out_type == DType::kFloat32 && a.channels == 3 && IsPermutation3(a.source))
    return Float3Rows(a, static_cast<float*>(a.dst));
  if (a.mean_img == nullptr && a.out_type == DType::kFloat32)
    return TableRows(a, static_cast<float*>(a.dst));
  if (a.mean_img == nullptr && a.out_type == DType::kFloat16)
    return TableRows(a, static_cast<_Float16*>(a.dst));
  const int64_t hw = static_cast<int64_t>(a.height) * a.width;
  for (int k = 0; k < a.channels; ++k) {
    for (int i = 0; i < a.height; ++i) {
      const uint8_t* row = a.src + i * a.row_stride;
      const float* mean_row =
          a.mean_img != nullptr ? a.mean_img + k * hw + static_cast<int64_t>(i) * a.width : nullptr;
      const int64_t at = static_cast<int64_t>(i) * a.width;
      switch (a.out_type) {
        case DType::kFloat32: FloatRow(a, k, row, mean_row, Plane<float>(a, k) + at); break;
        case DType::kFloat16: FloatRow(a, k, row, mean_row, Plane<_Float16>(a, k) + at); break;
        case DType::kUint8: Uint8Row(a, k, row, Plane<uint8_t>(a, k) + at); break;
        case DType::kInt8: Int8Row(a, k, row, mean_row, Plane<int8_t>(a, k) + at); break;
        default: throw std::invalid_argument("image to CHW: unsupported output type");
      }
    }
  }
}

}  // namespace flowmod::image
