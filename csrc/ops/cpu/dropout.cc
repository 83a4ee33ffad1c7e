// Dropout: in training (or always, with mode='always') each element is kept with probability
// 1 - p and scaled by 1 / (1 - p), otherwise zeroed. The hidden second output is the mask of
// those factors (0 or 1 / (1 - p)); with `axes` one factor is shared along those axes and the
// mask has size 1 there. Outside training the output is the input and the mask all ones, so
// the gradient is always head gradient * mask.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct DropoutAttrs : OpAttrs {
  double p = 0.5;
  bool always = false;
  std::vector<int64_t> axes;
};

const char* const kName = "Dropout";

Shape MaskShape(const DropoutAttrs& a, const Shape& data) {
  Shape m = data;
  for (int64_t axis : a.axes) m[NormalizeAxis(kName, "axes", axis, static_cast<int>(data.size()))] = 1;
  return m;
}

// out = a * mask, with the mask broadcast along its size-1 axes, stored under `req`.
template <class T>
void MulMask(const T* a, const Shape& shape, const T* mask, const Shape& mshape, T* out, OpReq req) {
  const int64_t n = NumElements(shape);
  if (req == OpReq::kNull || n == 0) return;
  if (mshape == shape) {
    for (int64_t i = 0; i < n; ++i) Store(out[i], static_cast<T>(a[i] * mask[i]), req);
    return;
  }
  // Mask strides seen from the data: 0 along the shared axes.
  const size_t nd = shape.size();
  std::vector<int64_t> stride(nd, 0);
  for (size_t k = nd, s = 1; k-- > 0;) {
    stride[k] = mshape[k] == 1 ? 0 : static_cast<int64_t>(s);
    s *= static_cast<size_t>(mshape[k]);
  }
  const int64_t inner = shape[nd - 1], inner_stride = stride[nd - 1];
  std::vector<int64_t> index(nd, 0);
  int64_t m = 0;
  for (int64_t base = 0; base < n; base += inner) {
    if (inner_stride == 0) {
      const T f = mask[m];
      for (int64_t i = 0; i < inner; ++i) Store(out[base + i], static_cast<T>(a[base + i] * f), req);
    } else {
      for (int64_t i = 0; i < inner; ++i) Store(out[base + i], static_cast<T>(a[base + i] * mask[m + i]), req);
    }
    // Next row: an odometer over the outer axes.
    for (size_t d = nd - 1; d-- > 0;) {
      m += stride[d];
      if (++index[d] < shape[d]) break;
      m -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
}

void DropoutForward(const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef> in,
                    std::span<const TensorRef> out) {
  const auto& a = static_cast<const DropoutAttrs&>(attrs);
  const TensorRef& data = in[0];
  const TensorRef& mask = out[1];
  const bool active = a.p > 0 && (ctx.is_train || a.always);
  FLOWMOD_FLOAT_SWITCH(data.dtype, T, {
    T* m = mask.ptr<T>();
    const int64_t count = mask.size();
    if (!active) {
      std::fill_n(m, count, T(1));
      if (data.data != out[0].data)
        std::memcpy(out[0].data, data.data, static_cast<size_t>(data.size()) * sizeof(T));
      return;
    }
    const double keep = 1.0 - a.p;
    const T scale = static_cast<T>(1.0 / keep);
    // Kept when a 32-bit random integer falls below keep * 2^32; two draws per generator output.
    const uint64_t threshold = static_cast<uint64_t>(std::ldexp(keep, 32));
    std::mt19937_64& gen = *ctx.rng;
    int64_t i = 0;
    for (; i + 1 < count; i += 2) {
      const uint64_t r = gen();
      m[i] = (r & 0xFFFFFFFFu) < threshold ? scale : T(0);
      m[i + 1] = (r >> 32) < threshold ? scale : T(0);
    }
    if (i < count) m[i] = (gen() & 0xFFFFFFFFu) < threshold ? scale : T(0);
    MulMask(data.ptr<T>(), data.shape, m, mask.shape, out[0].ptr<T>(), OpReq::kWrite);
  });
}

void DropoutBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    MulMask(io.out_grads[0].ptr<T>(), io.out_grads[0].shape, io.outputs[1].ptr<T>(), io.outputs[1].shape,
            io.in_grads[0].ptr<T>(), io.req[0]);
  });
}

OpDef MakeDropout() {
  OpDef def;
  def.name = kName;
  def.description =
      "Dropout: in training, zeroes each element with probability p and scales the others by 1 / (1 - p); "
      "otherwise the identity.";
  def.input_docs = {{"data", "The input array."}};
  def.params = {
      Optional("p", "float", "0.5", "The probability of zeroing an element."),
      Optional("mode", "{'always', 'training'}", "'training'", "Whether dropout applies in training only or always."),
      Optional("axes", "Shape(tuple)", "[]", "Axes along which one mask is shared (variational dropout)."),
      Optional("cudnn_off", "boolean or None", "0",
               "Whether to avoid cuDNN (accepted for compatibility; no effect on CPU)."),
  };
  def.inputs = {"data"};
  def.num_outputs = 2;  // output, mask
  def.num_visible_outputs = 1;
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kName, attrs, {"p", "mode", "axes", "cudnn_off"});
    auto a = std::make_shared<DropoutAttrs>();
    a->p = GetFloat(kName, attrs, "p", 0.5);
    if (!(a->p >= 0 && a->p < 1)) throw OpArgumentError(kName, "p", std::to_string(a->p), "a number in [0, 1)");
    a->always = GetEnum(kName, attrs, "mode", {"training", "always"}, "training") == "always";
    a->axes = GetTuple(kName, attrs, "axes", {});
    // cuDNN does not exist here; the flag is accepted and has no effect.
    if (Has(attrs, "cudnn_off") && attrs.at("cudnn_off") != "None") GetBool(kName, attrs, "cudnn_off", false);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(kName, "data", in[0], out[0]);
    out[0] = in[0];
    if (in[0] == kUnknownShape) return;
    MergeShape(kName, "mask", out[1], MaskShape(static_cast<const DropoutAttrs&>(attrs), in[0]));
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kName, in, out);
  };
  def.forward = &DropoutForward;
  def.backward = &DropoutBackward;
  def.needs_rng = true;
  def.inplace = {{0, 0}};
  return def;
}

FLOWMOD_REGISTER_OP(MakeDropout());

}  // namespace

}  // namespace flowmod::ops
