// Box geometry shared by the detection operators (box_iou, box_nms, box_decode, the MultiBox
// family): the two encodings MXNet names 'corner' [xmin, ymin, xmax, ymax] and 'center'
// [x, y, width, height], their overlap and area, and the zero gradients of the operators
// MXNet defines as not differentiable (their gradient is zero, not an error).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_util.h"

namespace flowmod::ops::box {

// A tuple of numbers, as MultiBoxPrior's sizes: "(0.5, 0.25)", "[1,2]", "(0.5,)", "0.5".
// A missing key or "None" gives `def`.
inline std::vector<double> GetFloatTuple(const std::string& op, const AttrMap& attrs, const std::string& key,
                                         std::vector<double> def) {
  auto it = attrs.find(key);
  if (it == attrs.end() || Trim(it->second) == "None") return def;
  auto bad = [&] { return OpArgumentError(op, key, Quoted(it->second), "a tuple of numbers such as (0.5, 0.25)"); };
  std::string t = Trim(it->second);
  if (!t.empty() && (t.front() == '(' || t.front() == '[')) {
    if (t.back() != (t.front() == '(' ? ')' : ']')) throw bad();
    t = t.substr(1, t.size() - 2);
  }
  std::vector<std::string> items;
  for (size_t pos = 0;;) {
    const size_t comma = t.find(',', pos);
    items.push_back(Trim(t.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  // "()" and "(0.5,)": one empty item at the end is allowed, and only there.
  if (items.back().empty()) items.pop_back();
  std::vector<double> out;
  for (const auto& item : items) {
    char* end = nullptr;
    const double v = item.empty() ? 0.0 : std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0') throw bad();
    out.push_back(v);
  }
  return out;
}

enum class Format { kCorner, kCenter };

inline Format GetFormat(const std::string& op, const AttrMap& attrs, const std::string& key, const char* def) {
  return GetEnum(op, attrs, key, {"center", "corner"}, def) == "corner" ? Format::kCorner : Format::kCenter;
}

// The overlap of two boxes along one axis: a and b point at (min, max) in corner encoding and
// at (center, extent) in center encoding, two elements apart. Never negative.
template <class T>
T Overlap1D(const T* a, const T* b, Format f) {
  T lo, hi;
  if (f == Format::kCorner) {
    lo = std::max(a[0], b[0]);
    hi = std::min(a[2], b[2]);
  } else {
    lo = std::max(a[0] - a[2] / 2, b[0] - b[2] / 2);
    hi = std::min(a[0] + a[2] / 2, b[0] + b[2] / 2);
  }
  const T w = hi - lo;
  return w > T(0) ? w : T(0);
}

// A box's area; a box of negative width or height has none.
template <class T>
T Area(const T* box, Format f) {
  const T w = f == Format::kCorner ? box[2] - box[0] : box[2];
  const T h = f == Format::kCorner ? box[3] - box[1] : box[3];
  return (w < T(0) || h < T(0)) ? T(0) : w * h;
}

// Intersection over union of two boxes of four coordinates each; 0 where they do not meet.
template <class T>
T IoU(const T* a, const T* b, Format f) {
  const T inter = Overlap1D(a, b, f) * Overlap1D(a + 1, b + 1, f);
  if (inter <= T(0)) return T(0);
  return inter / (Area(a, f) + Area(b, f) - inter);
}

// The gradient of an operator MXNet defines as constant: zero for every argument asked for.
inline void ZeroGradients(const BackwardIO& io) {
  for (size_t i = 0; i < io.in_grads.size(); ++i) {
    if (io.req[i] != OpReq::kWrite || io.in_grads[i].data == nullptr) continue;
    const TensorRef& g = io.in_grads[i];
    std::fill_n(static_cast<char*>(g.data), g.size() * DTypeSize(g.dtype), char(0));
  }
}

}  // namespace flowmod::ops::box
