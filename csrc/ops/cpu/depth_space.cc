// depth_to_space and space_to_depth on NCHW data, MXNet 1.9's (DCR) ordering: depth_to_space
// moves blocks of block_size * block_size channels into block_size x block_size spatial
// blocks, the block's row index outermost among the channels,
//   y[n, c, h * b + i, w * b + j] = x[n, (i * b + j) * C / b^2 + c, h, w],
// and space_to_depth is its inverse. Both are permutations: read as strided views of the
// input, their gradients scatter the output gradient back through the same view.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct BlockAttrs : OpAttrs {
  int64_t block = 1;
};

ParseFn ParseBlock(const std::string& name) {
  return [name](const AttrMap& attrs) -> std::shared_ptr<const OpAttrs> {
    CheckAttrs(name, attrs, {"block_size"});
    auto a = std::make_shared<BlockAttrs>();
    a->block = GetInt(name, attrs, "block_size");
    if (a->block < 1) throw OpArgumentError(name, "block_size", attrs.at("block_size"), "an integer >= 1");
    return a;
  };
}

void Check4D(const std::string& name, const std::string& arg, const Shape& s) {
  if (ShapeKnownRank(s) && s.size() != 4)
    throw OpArgumentError(name, arg, "an array of shape " + ShapeString(s), "4 dimensions (batch, channel, height, width)");
}

int64_t Mul(int64_t v, int64_t k) { return v < 0 ? -1 : v * k; }

// to_space: depth_to_space's shapes; otherwise space_to_depth's. Each direction's output
// follows from its input and the input from its output.
InferShapeFn BlockShape(const std::string& name, bool to_space) {
  return [name, to_space](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const int64_t b = static_cast<const BlockAttrs&>(attrs).block;
    Check4D(name, "data", in[0]);
    Check4D(name, "output", out[0]);
    // `deep` is the array with the channels, `wide` the one with the spatial blocks.
    Shape& deep = to_space ? in[0] : out[0];
    Shape& wide = to_space ? out[0] : in[0];
    const std::string deep_name = to_space ? "data" : "output", wide_name = to_space ? "output" : "data";
    if (ShapeKnownRank(deep)) {
      if (deep[1] >= 0 && deep[1] % (b * b) != 0)
        throw OpArgumentError(name, deep_name, "an array of shape " + ShapeString(deep),
                              "channels divisible by block_size^2 = " + std::to_string(b * b));
      MergeShape(name, wide_name, wide, Shape{deep[0], deep[1] < 0 ? -1 : deep[1] / (b * b), Mul(deep[2], b), Mul(deep[3], b)});
    }
    if (ShapeKnownRank(wide)) {
      for (int d = 2; d < 4; ++d)
        if (wide[d] >= 0 && wide[d] % b != 0)
          throw OpArgumentError(name, wide_name, "an array of shape " + ShapeString(wide),
                                "height and width divisible by block_size=" + std::to_string(b));
      MergeShape(name, deep_name, deep,
                 Shape{wide[0], Mul(wide[1], b * b), wide[2] < 0 ? -1 : wide[2] / b, wide[3] < 0 ? -1 : wide[3] / b});
    }
  };
}

// The output as a 6-D view and the strides at which each of its axes reads the input.
struct View {
  Shape shape;
  std::vector<int64_t> strides;
};

View DepthToSpaceView(const Shape& x, int64_t b) {
  const int64_t C = x[1], H = x[2], W = x[3], c = C / (b * b), plane = H * W;
  // Output (N, c, H, b_i, W, b_j).
  return {{x[0], c, H, b, W, b}, {C * plane, plane, W, b * c * plane, 1, c * plane}};
}

View SpaceToDepthView(const Shape& x, int64_t b) {
  const int64_t C = x[1], H = x[2], W = x[3];
  // Output (N, b_i, b_j, C, H / b, W / b).
  return {{x[0], b, b, C, H / b, W / b}, {C * H * W, W, 1, H * W, b * W, b}};
}

OpDef BlockDef(const std::string& name, bool to_space) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.parse = ParseBlock(name);
  def.infer_shape = BlockShape(name, to_space);
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) { ElemwiseType(name, in, out); };
  auto view = [to_space](const OpAttrs& attrs, const Shape& x) {
    const int64_t b = static_cast<const BlockAttrs&>(attrs).block;
    return to_space ? DepthToSpaceView(x, b) : SpaceToDepthView(x, b);
  };
  def.forward = [view](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const View v = view(attrs, in[0].shape);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, Gather(in[0].ptr<T>(), v.shape, v.strides, 0, out[0].ptr<T>(), OpReq::kWrite));
  };
  def.backward = [view](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const View v = view(attrs, io.inputs[0].shape);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
      Accumulate(io.in_grads[0].ptr<T>(), io.in_grads[0].size(), io.req[0],
                 [&](auto* acc) { ScatterAdd(io.out_grads[0].ptr<T>(), v.shape, v.strides, 0, acc); });
    });
  };
  const std::string what = to_space
      ? "Rearranges blocks of channels of NCHW data into spatial blocks: (N, C, H, W) becomes (N, C / b^2, H * b, W * b)."
      : "Rearranges spatial blocks of NCHW data into channels: (N, C, H, W) becomes (N, C * b^2, H / b, W / b).";
  return Described(std::move(def), what, {{"data", "The input array, NCHW."}},
                   {Required("block_size", "int", "The side b of the blocks moved.")});
}

const bool registered = [] {
  Registry::Add(BlockDef("depth_to_space", true));
  Registry::Add(BlockDef("space_to_depth", false));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
