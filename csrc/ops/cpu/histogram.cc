// _histogram (behind mx.nd.histogram): counts of data's elements in bins, as numpy.histogram:
// either bin_cnt equal bins over `range` (then data is the only input), or the bin edges
// given as the second input `bins` (increasing). Each bin holds [edge, next edge), the last
// one its right edge too; elements outside every bin are not counted. Two outputs: the int64
// counts and the float edges. Counting has no gradient.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "_histogram";

struct HistogramAttrs : OpAttrs {
  std::optional<int64_t> bin_cnt;
  double lo = 0, hi = 0;
};

// "(0, 4)" or "[0.5, 2.5]": two numbers, the first below the second.
void ParseRange(const std::string& raw, double* lo, double* hi) {
  auto bad = [&] { return OpArgumentError(kOp, "range", Quoted(raw), "a pair of numbers (min, max) with min < max"); };
  std::string t = Trim(raw);
  if (t.size() < 2 || !((t.front() == '(' && t.back() == ')') || (t.front() == '[' && t.back() == ']'))) throw bad();
  t = t.substr(1, t.size() - 2);
  const size_t comma = t.find(',');
  if (comma == std::string::npos) throw bad();
  double v[2];
  const std::string parts[2] = {Trim(t.substr(0, comma)), Trim(t.substr(comma + 1))};
  for (int i = 0; i < 2; ++i) {
    char* end = nullptr;
    v[i] = std::strtod(parts[i].c_str(), &end);
    if (parts[i].empty() || end != parts[i].c_str() + parts[i].size() || !std::isfinite(v[i])) throw bad();
  }
  if (!(v[0] < v[1])) throw bad();
  *lo = v[0];
  *hi = v[1];
}

template <class T, class E>
void Count(const T* x, int64_t n, const E* edges, int64_t bins, int64_t* counts) {
  std::fill(counts, counts + bins, int64_t{0});
  const double first = static_cast<double>(edges[0]), last = static_cast<double>(edges[bins]);
  for (int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    if (!(v >= first && v <= last)) continue;  // NaN too
    const E* pos = std::upper_bound(edges, edges + bins + 1, static_cast<E>(v));
    const int64_t b = std::min<int64_t>(pos - edges - 1, bins - 1);
    ++counts[b];
  }
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.list_inputs = [](const OpAttrs& attrs) {
    return static_cast<const HistogramAttrs&>(attrs).bin_cnt ? std::vector<std::string>{"data"}
                                                             : std::vector<std::string>{"data", "bins"};
  };
  def.num_outputs = 2;
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kOp, attrs, {"bin_cnt", "range"});
    auto p = std::make_shared<HistogramAttrs>();
    p->bin_cnt = GetOptionalInt(kOp, attrs, "bin_cnt");
    const bool has_range = Has(attrs, "range") && Trim(attrs.at("range")) != "None";
    if (p->bin_cnt) {
      if (*p->bin_cnt < 1) throw OpArgumentError(kOp, "bin_cnt", attrs.at("bin_cnt"), "a number of bins >= 1");
      if (!has_range)
        throw OpArgumentError(kOp, "range", "None", "(min, max) with bin_cnt (or the edges as the input bins)");
      ParseRange(attrs.at("range"), &p->lo, &p->hi);
    } else if (has_range) {
      throw OpArgumentError(kOp, "range", Quoted(attrs.at("range")), "None when the edges come as the input bins");
    }
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const HistogramAttrs&>(attrs);
    int64_t bins = -1;
    if (a.bin_cnt) {
      bins = *a.bin_cnt;
    } else if (IsKnown(in[1])) {
      if (in[1].size() != 1 || in[1][0] < 2)
        throw OpArgumentError(kOp, "bins", "an array of shape " + ShapeString(in[1]), "a 1-D array of at least 2 edges");
      bins = in[1][0] - 1;
    }
    if (bins < 0) return;
    MergeShape(kOp, "output", out[0], Shape{bins});
    MergeShape(kOp, "output", out[1], Shape{bins + 1});
  };
  def.infer_type = [](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(kOp, "output", out[0], DType::kInt64);
    if (in[0] == DType::kBool)
      throw OpArgumentError(kOp, "data", "an array of type bool", "an array of numbers");
    if (!static_cast<const HistogramAttrs&>(attrs).bin_cnt) MergeType(kOp, "bins", in[1], in[0]);
    if (in[0] != DType::kUnknown) MergeType(kOp, "output", out[1], in[0]);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const auto& a = static_cast<const HistogramAttrs&>(attrs);
    const int64_t bins = out[0].size();
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      if constexpr (!std::is_same_v<T, bool>) {
        T* edges = out[1].ptr<T>();
        if (a.bin_cnt) {
          for (int64_t i = 0; i <= bins; ++i)
            edges[i] = static_cast<T>(a.lo + (a.hi - a.lo) * static_cast<double>(i) / static_cast<double>(bins));
        } else {
          const T* given = in[1].ptr<T>();
          for (int64_t i = 0; i < bins; ++i)
            if (!(given[i] < given[i + 1]))
              throw std::invalid_argument("_histogram: bins must increase (edge " + std::to_string(i + 1) +
                                          " is not above edge " + std::to_string(i) + ")");
          std::copy(given, given + bins + 1, edges);
        }
        Count(in[0].ptr<T>(), in[0].size(), edges, bins, out[0].ptr<int64_t>());
      } else {
        throw std::logic_error("_histogram of a bool array");
      }
    });
  };
  Registry::Add(Described(std::move(def), "The counts of data's elements in bins (bin_cnt equal ones over range, or between the edges of bins), and the bin edges.", {{"data", "The values counted."}, {"bins", "The bin edges, increasing (not taken when bin_cnt is given)."}}, {Optional("bin_cnt", "int or None", "'None'", "The number of equal bins over range."), Optional("range", "", "None", "The (min, max) the equal bins cover.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
