// Reshaping operators: Flatten, Reshape, transpose, expand_dims and squeeze, with MXNet 1.9's
// legacy (non-numpy) semantics. Each writes its own output (none returns a view); all but
// transpose keep the element order, so the executor may run them in place.
#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

// A copy with another shape: the executor may have placed the output on the input.
void CopyForward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                 std::span<const TensorRef> out) {
  CopyData(in[0], out[0]);
}

void CopyBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  CopyWithReq(io.out_grads[0], io.in_grads[0], io.req[0]);
}

// ---- Flatten -----------------------------------------------------------------------------

OpDef FlattenDef(const std::string& name) {
  OpDef def = UnaryDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::make_shared<const NoAttrs>();
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    const Shape& d = in[0];
    if (!IsKnown(d)) return;
    if (d.empty())
      throw OpArgumentError(name, "data", "an array of shape ()", "an array with at least one dimension");
    MergeShape(name, "output", out[0], Shape{d[0], Product(d, 1, d.size())});
  };
  def.forward = &CopyForward;
  def.backward = &CopyBackward;
  def.inplace = {{0, 0}};
  return def;
}

// ---- Reshape -----------------------------------------------------------------------------

struct ReshapeAttrs : OpAttrs {
  std::vector<int64_t> shape;
  bool reverse = false;
};

// The shape Reshape gives data of shape `src`, with MXNet's special values: 0 copies an input
// dimension, -1 is inferred from the others, -2 copies every remaining input dimension, -3
// merges two consecutive input dimensions, and -4 splits one input dimension into the two
// values after it (one of them may be -1). With `reverse` the values are matched from the
// right; a -4 and its two parts then still read left to right.
Shape InferReshape(const std::string& op, const Shape& src_in, const std::vector<int64_t>& target,
                   bool reverse) {
  auto fail = [&](const std::string& why) {
    return OpArgumentError(op, "shape", ShapeString(target),
                           "a shape for data of shape " + ShapeString(src_in) + " (" + why + ")");
  };
  struct Token {
    int64_t code, a = 0, b = 0;
  };
  std::vector<Token> tokens;
  for (size_t i = 0; i < target.size(); ++i) {
    const int64_t t = target[i];
    if (t < -4) throw fail(std::to_string(t) + " is neither a dimension nor one of 0, -1, -2, -3, -4");
    if (t == -4) {
      if (i + 2 >= target.size())
        throw fail("-4 at position " + std::to_string(i) +
                   " must be followed by the two dimensions it splits into");
      tokens.push_back({t, target[i + 1], target[i + 2]});
      i += 2;
    } else {
      tokens.push_back({t});
    }
  }
  Shape src = src_in;
  if (reverse) {
    std::reverse(tokens.begin(), tokens.end());
    std::reverse(src.begin(), src.end());
    for (auto& tok : tokens)
      if (tok.code == -4) std::swap(tok.a, tok.b);
  }
  Shape out;
  int infer_at = -1;
  size_t j = 0;  // the next input dimension
  for (const Token& tok : tokens) {
    switch (tok.code) {
      case 0:
        if (j >= src.size()) throw fail("a 0 has no input dimension left to copy");
        out.push_back(src[j++]);
        break;
      case -1:
        if (infer_at >= 0) throw fail("at most one -1 can be inferred");
        infer_at = static_cast<int>(out.size());
        out.push_back(1);
        ++j;
        break;
      case -2:
        while (j < src.size()) out.push_back(src[j++]);
        break;
      case -3:
        if (j + 1 >= src.size()) throw fail("a -3 needs two input dimensions to merge");
        out.push_back(src[j] * src[j + 1]);
        j += 2;
        break;
      case -4: {
        if (j >= src.size()) throw fail("a -4 has no input dimension left to split");
        const int64_t d = src[j++];
        int64_t a = tok.a, b = tok.b;
        if (a == -1 && b > 0 && d % b == 0) a = d / b;
        else if (b == -1 && a > 0 && d % a == 0) b = d / a;
        if (a <= 0 || b <= 0 || a * b != d)
          throw fail("-4 cannot split dimension " + std::to_string(d) + " into (" + std::to_string(tok.a) +
                     ", " + std::to_string(tok.b) + ")");
        out.push_back(a);
        out.push_back(b);
        break;
      }
      default:
        out.push_back(tok.code);
        ++j;
        break;
    }
  }
  const int64_t total = NumElements(src);
  if (infer_at >= 0) {
    int64_t known = 1;
    for (size_t k = 0; k < out.size(); ++k)
      if (static_cast<int>(k) != infer_at) known *= out[k];
    if (known == 0 || total % known != 0) throw fail("-1 cannot be inferred");
    out[infer_at] = total / known;
  }
  if (reverse) std::reverse(out.begin(), out.end());
  if (NumElements(out) != total)
    throw fail(std::to_string(total) + " elements cannot take shape " + ShapeString(out));
  return out;
}

OpDef ReshapeDef(const std::string& name) {
  OpDef def = UnaryDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"shape", "reverse", "target_shape", "keep_highest"});
    auto a = std::make_shared<ReshapeAttrs>();
    // The deprecated target_shape/keep_highest pair predates the special values; shape
    // covers everything it did.
    if (!GetTuple(name, attrs, "target_shape", {}).empty())
      throw OpArgumentError(name, "target_shape", Quoted(attrs.at("target_shape")),
                            "no target_shape (deprecated in MXNet, not supported): use shape=");
    if (GetBool(name, attrs, "keep_highest", false))
      throw OpArgumentError(name, "keep_highest", Quoted(attrs.at("keep_highest")),
                            "False (deprecated in MXNet, not supported): use shape= with 0 for the kept "
                            "dimension");
    a->shape = GetTuple(name, attrs, "shape", {});
    if (a->shape.empty())
      throw OpArgumentError(name, "shape", Has(attrs, "shape") ? Quoted(attrs.at("shape")) : "(missing)",
                            "a non-empty target shape such as (0, -1)");
    a->reverse = GetBool(name, attrs, "reverse", false);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const ReshapeAttrs&>(attrs);
    if (IsKnown(in[0])) {
      MergeShape(name, "output", out[0], InferReshape(name, in[0], a.shape, a.reverse));
      return;
    }
    // As MXNet: data with one unknown dimension takes it from a known output.
    if (!ShapeKnownRank(in[0]) || !IsKnown(out[0])) return;
    int unknown = -1, count = 0;
    int64_t known = 1;
    for (size_t i = 0; i < in[0].size(); ++i) {
      if (in[0][i] < 0) {
        unknown = static_cast<int>(i);
        ++count;
      } else {
        known *= in[0][i];
      }
    }
    if (count == 1 && known > 0) in[0][unknown] = NumElements(out[0]) / known;
  };
  def.forward = &CopyForward;
  def.backward = &CopyBackward;
  def.inplace = {{0, 0}};
  return def;
}

// ---- transpose ---------------------------------------------------------------------------

struct TransposeAttrs : OpAttrs {
  std::vector<int64_t> axes;  // empty: reverse the axes
};

// The permutation transpose applies to an array of rank `ndim` (negative axes count from the
// end).
std::vector<int> Permutation(const std::string& op, const std::vector<int64_t>& axes, size_t ndim) {
  std::vector<int> perm(ndim);
  if (axes.empty()) {
    for (size_t i = 0; i < ndim; ++i) perm[i] = static_cast<int>(ndim - 1 - i);
    return perm;
  }
  const std::string expected = "a permutation of the " + std::to_string(ndim) + " axes of data";
  if (axes.size() != ndim) throw OpArgumentError(op, "axes", ShapeString(axes), expected);
  std::vector<bool> seen(ndim, false);
  for (size_t i = 0; i < ndim; ++i) {
    const int64_t a = axes[i] < 0 ? axes[i] + static_cast<int64_t>(ndim) : axes[i];
    if (a < 0 || a >= static_cast<int64_t>(ndim) || seen[a])
      throw OpArgumentError(op, "axes", ShapeString(axes), expected);
    seen[a] = true;
    perm[i] = static_cast<int>(a);
  }
  return perm;
}

OpDef TransposeDef() {
  const std::string name = "transpose";
  OpDef def = UnaryDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axes"});
    auto a = std::make_shared<TransposeAttrs>();
    a->axes = GetTuple(name, attrs, "axes", {});
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const TransposeAttrs&>(attrs);
    if (IsKnown(in[0])) {
      const auto perm = Permutation(name, a.axes, in[0].size());
      Shape o(in[0].size());
      for (size_t i = 0; i < o.size(); ++i) o[i] = in[0][perm[i]];
      MergeShape(name, "output", out[0], o);
    } else if (IsKnown(out[0])) {
      const auto perm = Permutation(name, a.axes, out[0].size());
      Shape d(out[0].size());
      for (size_t i = 0; i < d.size(); ++i) d[perm[i]] = out[0][i];
      MergeShape(name, "data", in[0], d);
    }
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto perm = Permutation("transpose", static_cast<const TransposeAttrs&>(attrs).axes, in[0].shape.size());
    const auto in_strides = Strides(in[0].shape);
    std::vector<int64_t> strides(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) strides[i] = in_strides[perm[i]];
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T,
                         Gather(in[0].ptr<T>(), out[0].shape, strides, 0, out[0].ptr<T>(), OpReq::kWrite));
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const TensorRef& og = io.out_grads[0];
    const TensorRef& g = io.in_grads[0];
    const auto perm = Permutation("transpose", static_cast<const TransposeAttrs&>(attrs).axes, g.shape.size());
    // Input axis perm[i] is output axis i.
    const auto og_strides = Strides(og.shape);
    std::vector<int64_t> strides(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) strides[perm[i]] = og_strides[i];
    FLOWMOD_DTYPE_SWITCH(g.dtype, T, Gather(og.ptr<T>(), g.shape, strides, 0, g.ptr<T>(), io.req[0]));
  };
  return def;
}

// ---- expand_dims / squeeze -----------------------------------------------------------------

struct AxisAttrs : OpAttrs {
  int64_t axis = 0;
};

OpDef ExpandDimsDef() {
  const std::string name = "expand_dims";
  OpDef def = UnaryDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis"});
    auto a = std::make_shared<AxisAttrs>();
    a->axis = GetInt(name, attrs, "axis");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const int64_t axis = static_cast<const AxisAttrs&>(attrs).axis;
    auto position = [&](int64_t ndim) {
      // The new axis may go anywhere in [-ndim-1, ndim].
      if (axis < -ndim - 1 || axis > ndim)
        throw OpArgumentError(name, "axis", std::to_string(axis),
                              "an axis in [" + std::to_string(-ndim - 1) + ", " + std::to_string(ndim) +
                                  "] for data of rank " + std::to_string(ndim));
      return static_cast<size_t>(axis < 0 ? axis + ndim + 1 : axis);
    };
    if (IsKnown(in[0])) {
      Shape o = in[0];
      o.insert(o.begin() + position(static_cast<int64_t>(o.size())), 1);
      MergeShape(name, "output", out[0], o);
    } else if (IsKnown(out[0]) && !out[0].empty()) {
      Shape d = out[0];
      d.erase(d.begin() + position(static_cast<int64_t>(d.size()) - 1));
      MergeShape(name, "data", in[0], d);
    }
  };
  def.forward = &CopyForward;
  def.backward = &CopyBackward;
  def.inplace = {{0, 0}};
  return def;
}

struct SqueezeAttrs : OpAttrs {
  std::optional<std::vector<int64_t>> axes;
};

OpDef SqueezeDef() {
  const std::string name = "squeeze";
  OpDef def = UnaryDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis"});
    auto a = std::make_shared<SqueezeAttrs>();
    auto it = attrs.find("axis");
    if (it != attrs.end() && it->second != "None") a->axes = GetTuple(name, attrs, "axis");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const SqueezeAttrs&>(attrs);
    const Shape& d = in[0];
    if (!IsKnown(d)) return;
    const int64_t ndim = static_cast<int64_t>(d.size());
    std::vector<bool> drop(d.size(), false);
    if (a.axes) {
      for (int64_t axis : *a.axes) {
        const std::string value = ShapeString(*a.axes);
        const int64_t k = axis < 0 ? axis + ndim : axis;
        if (k < 0 || k >= ndim)
          throw OpArgumentError(name, "axis", value,
                                "axes in [" + std::to_string(-ndim) + ", " + std::to_string(ndim) +
                                    ") for data of shape " + ShapeString(d));
        if (d[k] != 1)
          throw OpArgumentError(name, "axis", value,
                                "axes of size 1, but axis " + std::to_string(axis) + " of data of shape " +
                                    ShapeString(d) + " has size " + std::to_string(d[k]));
        if (drop[k]) throw OpArgumentError(name, "axis", value, "distinct axes");
        drop[k] = true;
      }
    } else {
      for (size_t i = 0; i < d.size(); ++i) drop[i] = d[i] == 1;
    }
    Shape o;
    for (size_t i = 0; i < d.size(); ++i)
      if (!drop[i]) o.push_back(d[i]);
    // Squeezing every axis leaves (1,), as MXNet's legacy arrays keep one dimension.
    if (o.empty()) o.push_back(1);
    MergeShape(name, "output", out[0], o);
  };
  def.forward = &CopyForward;
  def.backward = &CopyBackward;
  def.inplace = {{0, 0}};
  return def;
}

const bool registered = [] {
  // Aliases are separate definitions, so that errors name the operator as it was called.
  Registry::Add(FlattenDef("Flatten"));
  Registry::Add(FlattenDef("flatten"));
  Registry::Add(ReshapeDef("Reshape"));
  Registry::Add(ReshapeDef("reshape"));
  Registry::Add(TransposeDef());
  Registry::Add(ExpandDimsDef());
  Registry::Add(SqueezeDef());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
