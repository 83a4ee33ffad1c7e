// UpSampling, as MXNet 1.9 defines it on NCHW data:
// - nearest: each of num_args inputs (arg0, arg1, ...) is repeated to the output's size,
//   scale * the first input's height and width (each input's own factor is that size over
//   its own), and the results are joined along the channels (multi_input_mode='concat') or
//   summed ('sum'). The gradient sums each output block back onto its source element.
// - bilinear: a depthwise transposed convolution of data (one channel a group) with a learned
//   weight of shape (C, 1, k, k), k = 2 * scale - scale % 2, stride scale and padding
//   ceil((scale - 1) / 2), without bias: MXNet computes it as a Deconvolution with
//   num_group = num_filter = C. The output is (N, C, scale * H, scale * W).
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/parallel.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "UpSampling";

// Planes smaller than this many output elements are not worth splitting across workers.
constexpr int64_t kSplitElements = 1 << 15;

struct UpSamplingAttrs : OpAttrs {
  int64_t scale = 1, num_filter = 0, num_args = 1;
  bool bilinear = false, sum = false;
};

std::shared_ptr<const OpAttrs> ParseUpSampling(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"scale", "num_filter", "sample_type", "multi_input_mode", "num_args", "workspace"});
  auto a = std::make_shared<UpSamplingAttrs>();
  a->scale = GetInt(kOp, attrs, "scale");
  if (a->scale < 1) throw OpArgumentError(kOp, "scale", attrs.at("scale"), "an integer >= 1");
  a->num_filter = GetInt(kOp, attrs, "num_filter", 0);
  a->bilinear = GetEnum(kOp, attrs, "sample_type", {"nearest", "bilinear"}) == "bilinear";
  a->sum = GetEnum(kOp, attrs, "multi_input_mode", {"concat", "sum"}, "concat") == "sum";
  a->num_args = GetInt(kOp, attrs, "num_args");
  if (a->num_args < 1) throw OpArgumentError(kOp, "num_args", attrs.at("num_args"), "at least 1");
  if (GetInt(kOp, attrs, "workspace", 512) < 0)
    throw OpArgumentError(kOp, "workspace", attrs.at("workspace"), "a non-negative size in MB");
  // Bilinear always takes data and weight, whatever num_args says (a symbol given only the
  // data creates the weight), as in MXNet.
  if (a->bilinear) {
    if (a->num_filter < 1)
      throw OpArgumentError(kOp, "num_filter", std::to_string(a->num_filter),
                            "the number of channels of data for sample_type='bilinear'");
  }
  return a;
}

int64_t KernelSize(int64_t scale) { return 2 * scale - scale % 2; }
int64_t Padding(int64_t scale) { return scale / 2; }  // ceil((scale - 1) / 2)

std::vector<std::string> UpSamplingArguments(const OpAttrs& attrs) {
  const auto& a = static_cast<const UpSamplingAttrs&>(attrs);
  if (a.bilinear) return {"data", "weight"};
  std::vector<std::string> names;
  for (int64_t i = 0; i < a.num_args; ++i) names.push_back("arg" + std::to_string(i));
  return names;
}

void Check4D(const std::string& arg, const Shape& s) {
  if (s.size() != 4)
    throw OpArgumentError(kOp, arg, "an array of shape " + ShapeString(s), "4 dimensions (batch, channel, height, width)");
}

void NearestShape(const UpSamplingAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  for (size_t i = 0; i < in.size(); ++i)
    if (ShapeKnownRank(in[i])) Check4D("arg" + std::to_string(i), in[i]);
  if (ShapeKnownRank(out[0])) Check4D("output", out[0]);
  // A single input follows from the output.
  if (in.size() == 1 && ShapeKnownRank(out[0])) {
    const Shape& o = out[0];
    for (int d = 2; d < 4; ++d)
      if (o[d] >= 0 && o[d] % a.scale != 0)
        throw OpArgumentError(kOp, "output", "an array of shape " + ShapeString(o),
                              "height and width divisible by scale=" + std::to_string(a.scale));
    Shape s{o[0], o[1], o[2] < 0 ? -1 : o[2] / a.scale, o[3] < 0 ? -1 : o[3] / a.scale};
    MergeShape(kOp, "arg0", in[0], s);
  }
  for (const Shape& s : in)
    if (!IsKnown(s) || !ShapeKnownRank(s)) return;
  const int64_t oh = in[0][2] * a.scale, ow = in[0][3] * a.scale;
  int64_t channels = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& s = in[i];
    const std::string arg = "arg" + std::to_string(i);
    if (s[0] != in[0][0])
      throw OpArgumentError(kOp, arg, "an array of shape " + ShapeString(s),
                            "the batch size of arg0, " + std::to_string(in[0][0]));
    if (s[2] == 0 || s[3] == 0 || oh % s[2] != 0 || ow % s[3] != 0 || oh / s[2] != ow / s[3])
      throw OpArgumentError(kOp, arg, "an array of shape " + ShapeString(s),
                            "a height and width that divide the output's " + std::to_string(oh) + "x" +
                                std::to_string(ow) + " by one integer factor");
    if (a.sum) {
      if (i > 0 && s[1] != channels)
        throw OpArgumentError(kOp, arg, "an array of shape " + ShapeString(s),
                              std::to_string(channels) + " channels, as arg0 (multi_input_mode='sum')");
      channels = s[1];
    } else {
      channels += s[1];
    }
  }
  MergeShape(kOp, "output", out[0], Shape{in[0][0], channels, oh, ow});
}

void BilinearShape(const UpSamplingAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (ShapeKnownRank(in[0])) Check4D("data", in[0]);
  if (ShapeKnownRank(out[0])) {
    Check4D("output", out[0]);
    const Shape& o = out[0];
    Shape s{o[0], o[1], o[2] < 0 || o[2] % a.scale ? -1 : o[2] / a.scale,
            o[3] < 0 || o[3] % a.scale ? -1 : o[3] / a.scale};
    MergeShape(kOp, "data", in[0], s);
  }
  if (!ShapeKnownRank(in[0])) return;
  const Shape& d = in[0];
  if (d[1] >= 0 && d[1] != a.num_filter)
    throw OpArgumentError(kOp, "data", "an array of shape " + ShapeString(d),
                          std::to_string(a.num_filter) + " channels (num_filter)");
  const int64_t k = KernelSize(a.scale);
  MergeShape(kOp, "weight", in[1], Shape{a.num_filter, 1, k, k});
  MergeShape(kOp, "output", out[0],
             Shape{d[0], a.num_filter, d[2] < 0 ? -1 : d[2] * a.scale, d[3] < 0 ? -1 : d[3] * a.scale});
}

void UpSamplingInferShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const UpSamplingAttrs&>(attrs);
  if (a.bilinear) BilinearShape(a, in, out);
  else NearestShape(a, in, out);
}

void UpSamplingInferType(const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
  const auto names = UpSamplingArguments(attrs);
  DType t = out[0];
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != DType::kUnknown && t != DType::kUnknown && in[i] != t)
      throw OpArgumentError(kOp, names[i], std::string("an array of type ") + DTypeName(in[i]),
                            std::string(DTypeName(t)) + ", the type of the other inputs");
    if (t == DType::kUnknown) t = in[i];
  }
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16)
    throw OpArgumentError(kOp, names[0], std::string("an array of type ") + DTypeName(t), "a floating point type");
  for (auto& x : in) x = t;
  out[0] = t;
}

// Runs fn(lo, hi) over planes [0, planes), split across idle workers when large.
void ForPlanes(int64_t planes, int64_t plane_elements, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t parts = std::min<int64_t>(parallel::Cores(), planes * plane_elements / kSplitElements);
  if (parts <= 1) fn(0, planes);
  else parallel::For(planes, static_cast<int>(parts), fn);
}

// ---- Nearest ------------------------------------------------------------------------------------

// y (planes of oh x ow, row stride ow) gets each element of x (planes of h x w) repeated
// s x s times.
template <class T>
void RepeatPlanes(const T* x, int64_t planes, int64_t h, int64_t w, int64_t s, T* y, int64_t y_plane, OpReq req,
                  bool add) {
  const int64_t ow = w * s;
  ForPlanes(planes, h * s * ow, [&](int64_t lo, int64_t hi) {
    std::vector<T> row(static_cast<size_t>(ow));
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t i = 0; i < h; ++i) {
        const T* src = x + (p * h + i) * w;
        if (s == 2) {
          for (int64_t j = 0; j < w; ++j) row[2 * j] = row[2 * j + 1] = src[j];
        } else {
          for (int64_t j = 0; j < w; ++j) std::fill_n(row.data() + j * s, s, src[j]);
        }
        T* dst = y + p * y_plane + i * s * ow;
        for (int64_t r = 0; r < s; ++r, dst += ow) {
          if (req == OpReq::kWrite && !add) {
            std::memcpy(dst, row.data(), static_cast<size_t>(ow) * sizeof(T));
          } else {
            for (int64_t j = 0; j < ow; ++j) dst[j] = static_cast<T>(dst[j] + row[j]);
          }
        }
      }
  });
}

// dx (planes of h x w) gets the sum of each s x s block of dy (planes of row stride w * s).
template <class T>
void SumBlocks(const T* dy, int64_t planes, int64_t h, int64_t w, int64_t s, int64_t dy_plane, T* dx, OpReq req) {
  if (req == OpReq::kNull) return;
  const int64_t ow = w * s;
  ForPlanes(planes, h * s * ow, [&](int64_t lo, int64_t hi) {
    std::vector<AccT<T>> acc(static_cast<size_t>(w));
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t i = 0; i < h; ++i) {
        std::fill(acc.begin(), acc.end(), AccT<T>(0));
        const T* src = dy + p * dy_plane + i * s * ow;
        for (int64_t r = 0; r < s; ++r, src += ow)
          for (int64_t j = 0; j < w; ++j)
            for (int64_t k = 0; k < s; ++k) acc[j] += static_cast<AccT<T>>(src[j * s + k]);
        T* dst = dx + (p * h + i) * w;
        for (int64_t j = 0; j < w; ++j) Store(dst[j], static_cast<T>(acc[j]), req);
      }
  });
}

template <class T>
void NearestForward(const UpSamplingAttrs& a, std::span<const TensorRef> in, const TensorRef& out) {
  const Shape& o = out.shape;
  const int64_t plane = o[2] * o[3];
  int64_t c0 = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& s = in[i].shape;
    const int64_t f = o[2] / s[2];
    T* y = out.ptr<T>();
    if (a.sum) {
      // Channel c of every batch item: planes are batch-major in both arrays.
      RepeatPlanes(in[i].ptr<T>(), s[0] * s[1], s[2], s[3], f, y, plane, OpReq::kWrite, i > 0);
    } else {
      for (int64_t n = 0; n < s[0]; ++n)
        RepeatPlanes(in[i].ptr<T>() + n * s[1] * s[2] * s[3], s[1], s[2], s[3], f, y + (n * o[1] + c0) * plane,
                     plane, OpReq::kWrite, false);
      c0 += s[1];
    }
  }
}

template <class T>
void NearestBackward(const UpSamplingAttrs& a, const BackwardIO& io) {
  const Shape& o = io.out_grads[0].shape;
  const int64_t plane = o[2] * o[3];
  int64_t c0 = 0;
  for (size_t i = 0; i < io.in_grads.size(); ++i) {
    const Shape& s = io.inputs[i].shape;
    const int64_t f = o[2] / s[2];
    const T* dy = io.out_grads[0].ptr<T>();
    if (a.sum) {
      SumBlocks(dy, s[0] * s[1], s[2], s[3], f, plane, io.in_grads[i].ptr<T>(), io.req[i]);
    } else {
      for (int64_t n = 0; n < s[0]; ++n)
        SumBlocks(dy + (n * o[1] + c0) * plane, s[1], s[2], s[3], f, plane,
                  io.in_grads[i].ptr<T>() + n * s[1] * s[2] * s[3], io.req[i]);
      c0 += s[1];
    }
  }
}

// ---- Bilinear (depthwise transposed convolution) ---------------------------------------------------

struct DeconvGeom {
  int64_t planes, channels, h, w, oh, ow, k, stride, pad;
};

DeconvGeom Geom(const UpSamplingAttrs& a, const Shape& data) {
  return {data[0] * data[1], data[1], data[2], data[3], data[2] * a.scale, data[3] * a.scale,
          KernelSize(a.scale), a.scale, Padding(a.scale)};
}

// Calls tap(x_index, y_index, weight_index) for every (input element, kernel tap) pair of one
// plane whose output falls inside the output.
template <class Tap>
void ForEachTap(const DeconvGeom& g, Tap&& tap) {
  for (int64_t i = 0; i < g.h; ++i)
    for (int64_t ki = 0; ki < g.k; ++ki) {
      const int64_t y = i * g.stride - g.pad + ki;
      if (y < 0 || y >= g.oh) continue;
      for (int64_t j = 0; j < g.w; ++j)
        for (int64_t kj = 0; kj < g.k; ++kj) {
          const int64_t x = j * g.stride - g.pad + kj;
          if (x < 0 || x >= g.ow) continue;
          tap(i * g.w + j, y * g.ow + x, ki * g.k + kj);
        }
    }
}

template <class T>
void BilinearForward(const DeconvGeom& g, const T* x, const T* w, T* y) {
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow, taps = g.k * g.k;
  ForPlanes(g.planes, out_plane * taps / 4, [&](int64_t lo, int64_t hi) {
    std::vector<AccT<T>> acc(static_cast<size_t>(out_plane));
    for (int64_t p = lo; p < hi; ++p) {
      std::fill(acc.begin(), acc.end(), AccT<T>(0));
      const T* xp = x + p * in_plane;
      const T* wp = w + (p % g.channels) * taps;
      ForEachTap(g, [&](int64_t xi, int64_t yi, int64_t wi) {
        acc[yi] += static_cast<AccT<T>>(xp[xi]) * static_cast<AccT<T>>(wp[wi]);
      });
      T* yp = y + p * out_plane;
      for (int64_t i = 0; i < out_plane; ++i) yp[i] = static_cast<T>(acc[i]);
    }
  });
}

template <class T>
void BilinearBackward(const DeconvGeom& g, const T* x, const T* w, const T* dy, T* dx, OpReq dx_req, T* dw,
                      OpReq dw_req) {
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow, taps = g.k * g.k;
  if (dx_req != OpReq::kNull) {
    ForPlanes(g.planes, out_plane * taps / 4, [&](int64_t lo, int64_t hi) {
      std::vector<AccT<T>> acc(static_cast<size_t>(in_plane));
      for (int64_t p = lo; p < hi; ++p) {
        std::fill(acc.begin(), acc.end(), AccT<T>(0));
        const T* dyp = dy + p * out_plane;
        const T* wp = w + (p % g.channels) * taps;
        ForEachTap(g, [&](int64_t xi, int64_t yi, int64_t wi) {
          acc[xi] += static_cast<AccT<T>>(dyp[yi]) * static_cast<AccT<T>>(wp[wi]);
        });
        T* dxp = dx + p * in_plane;
        for (int64_t i = 0; i < in_plane; ++i) Store(dxp[i], static_cast<T>(acc[i]), dx_req);
      }
    });
  }
  if (dw_req != OpReq::kNull) {
    // One channel's taps sum over the batch: split by channel so no two parts share a tap.
    const int64_t batch = g.planes / g.channels;
    ForPlanes(g.channels, batch * out_plane * taps / 4, [&](int64_t lo, int64_t hi) {
      std::vector<AccT<T>> acc(static_cast<size_t>(taps));
      for (int64_t c = lo; c < hi; ++c) {
        std::fill(acc.begin(), acc.end(), AccT<T>(0));
        for (int64_t n = 0; n < batch; ++n) {
          const int64_t p = n * g.channels + c;
          const T* xp = x + p * in_plane;
          const T* dyp = dy + p * out_plane;
          ForEachTap(g, [&](int64_t xi, int64_t yi, int64_t wi) {
            acc[wi] += static_cast<AccT<T>>(xp[xi]) * static_cast<AccT<T>>(dyp[yi]);
          });
        }
        T* dwp = dw + c * taps;
        for (int64_t i = 0; i < taps; ++i) Store(dwp[i], static_cast<T>(acc[i]), dw_req);
      }
    });
  }
}

void UpSamplingForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
  const auto& a = static_cast<const UpSamplingAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    if (a.bilinear) BilinearForward<T>(Geom(a, in[0].shape), in[0].ptr<T>(), in[1].ptr<T>(), out[0].ptr<T>());
    else NearestForward<T>(a, in, out[0]);
  });
}

void UpSamplingBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const UpSamplingAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    if (a.bilinear)
      BilinearBackward<T>(Geom(a, io.inputs[0].shape), io.inputs[0].ptr<T>(), io.inputs[1].ptr<T>(),
                          io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), io.req[0], io.in_grads[1].ptr<T>(),
                          io.req[1]);
    else NearestBackward<T>(a, io);
  });
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.list_inputs = &UpSamplingArguments;
  def.key_var_num_args = "num_args";
  def.parse = &ParseUpSampling;
  def.infer_shape = &UpSamplingInferShape;
  def.infer_type = &UpSamplingInferType;
  def.forward = &UpSamplingForward;
  def.backward = &UpSamplingBackward;
  Registry::Add(Described(
      std::move(def),
      "Upsamples NCHW data by an integer scale: by repeating each element (nearest, of one or several inputs, "
      "joined or summed) or by a learned depthwise transposed convolution (bilinear, with data and weight).",
      {{"data", "The arrays to upsample; for sample_type='bilinear', the data and the weight."}},
      {Required("scale", "int", "The upsampling factor."),
       Optional("num_filter", "int", "'0'", "The number of channels; used (and required) by sample_type='bilinear'."),
       Required("sample_type", "{'bilinear', 'nearest'}", "The upsampling method."),
       Optional("multi_input_mode", "{'concat', 'sum'}", "'concat'",
                "How several nearest inputs combine: joined along the channels, or summed."),
       Required("num_args", "int", "The number of inputs to nearest upsampling (bilinear always takes data and weight)."),
       Optional("workspace", "long (non-negative)", "512", "A scratch memory limit in MB (accepted; unused).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
