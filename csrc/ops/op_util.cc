#include "ops/op_util.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace flowmod::ops {

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string Quoted(const std::string& v) { return "'" + v + "'"; }

namespace {

std::string Unquote(const std::string& s) {
  std::string t = Trim(s);
  if (t.size() >= 2 && (t.front() == '\'' || t.front() == '"') && t.back() == t.front())
    return t.substr(1, t.size() - 2);
  return t;
}

const std::string* Find(const AttrMap& attrs, const std::string& key) {
  auto it = attrs.find(key);
  return it == attrs.end() ? nullptr : &it->second;
}

bool ParseInt64(const std::string& text, int64_t* out) {
  const std::string t = Trim(text);
  if (t.empty()) return false;
  const char* s = t.c_str();
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (errno == 0 && *end == '\0') {
    *out = v;
    return true;
  }
  // "3.0" and "3L" as older MXNet JSON writes some integers.
  errno = 0;
  const double d = std::strtod(s, &end);
  if (errno == 0 && (*end == '\0' || (*end == 'L' && end[1] == '\0')) && d == static_cast<double>(static_cast<int64_t>(d))) {
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

bool ParseDouble(const std::string& text, double* out) {
  const std::string t = Trim(text);
  if (t.empty()) return false;
  const char* s = t.c_str();
  char* end = nullptr;
  *out = std::strtod(s, &end);
  return *end == '\0';
}

std::string ChoiceList(std::initializer_list<const char*> choices) {
  std::string out = "one of ";
  bool first = true;
  for (const char* c : choices) {
    out += (first ? "'" : ", '") + std::string(c) + "'";
    first = false;
  }
  return out;
}

}  // namespace

void CheckAttrs(const std::string& op, const AttrMap& attrs, std::initializer_list<const char*> known) {
  CheckAttrs(op, attrs, std::vector<std::string>(known.begin(), known.end()));
}

void CheckAttrs(const std::string& op, const AttrMap& attrs, const std::vector<OpParam>& params) {
  std::vector<std::string> known;
  for (const auto& p : params) known.push_back(p.name);
  CheckAttrs(op, attrs, known);
}

void CheckAttrs(const std::string& op, const AttrMap& attrs, const std::vector<std::string>& known) {
  for (const auto& [key, value] : attrs) {
    if (key.size() >= 4 && key.starts_with("__") && key.ends_with("__")) continue;
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string expected = "no attributes";
      if (!known.empty()) {
        expected = "an attribute of " + op + ": ";
        for (size_t i = 0; i < known.size(); ++i) expected += (i ? ", '" : "'") + known[i] + "'";
      }
      throw OpArgumentError(op, key, Quoted(value), expected);
    }
  }
}

bool Has(const AttrMap& attrs, const std::string& key) { return attrs.count(key) != 0; }

double GetFloat(const std::string& op, const AttrMap& attrs, const std::string& key) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr) throw OpArgumentError(op, key, "(missing)", "a number");
  double out;
  if (!ParseDouble(*v, &out)) throw OpArgumentError(op, key, Quoted(*v), "a number");
  return out;
}

double GetFloat(const std::string& op, const AttrMap& attrs, const std::string& key, double def) {
  return Has(attrs, key) ? GetFloat(op, attrs, key) : def;
}

int64_t GetInt(const std::string& op, const AttrMap& attrs, const std::string& key) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr) throw OpArgumentError(op, key, "(missing)", "an integer");
  int64_t out;
  if (!ParseInt64(*v, &out)) throw OpArgumentError(op, key, Quoted(*v), "an integer");
  return out;
}

int64_t GetInt(const std::string& op, const AttrMap& attrs, const std::string& key, int64_t def) {
  return Has(attrs, key) ? GetInt(op, attrs, key) : def;
}

std::optional<int64_t> GetOptionalInt(const std::string& op, const AttrMap& attrs, const std::string& key) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr || Trim(*v) == "None") return std::nullopt;
  int64_t out;
  if (!ParseInt64(*v, &out)) throw OpArgumentError(op, key, Quoted(*v), "an integer or None");
  return out;
}

std::optional<double> GetOptionalFloat(const std::string& op, const AttrMap& attrs, const std::string& key) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr || Trim(*v) == "None") return std::nullopt;
  double out;
  if (!ParseDouble(*v, &out)) throw OpArgumentError(op, key, Quoted(*v), "a number or None");
  return out;
}

bool GetBool(const std::string& op, const AttrMap& attrs, const std::string& key, bool def) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr) return def;
  const std::string t = Unquote(*v);
  if (t == "True" || t == "true" || t == "1") return true;
  if (t == "False" || t == "false" || t == "0") return false;
  throw OpArgumentError(op, key, Quoted(*v), "True or False");
}

std::vector<int64_t> GetTuple(const std::string& op, const AttrMap& attrs, const std::string& key) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr) throw OpArgumentError(op, key, "(missing)", "a tuple of integers such as (5, 5)");
  std::string t = Trim(*v);
  auto bad = [&] { return OpArgumentError(op, key, Quoted(*v), "a tuple of integers such as (5, 5)"); };
  if (!t.empty() && (t.front() == '(' || t.front() == '[')) {
    const char close = t.front() == '(' ? ')' : ']';
    if (t.back() != close) throw bad();
    t = t.substr(1, t.size() - 2);
  }
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= t.size()) {
    const size_t comma = t.find(',', pos);
    const std::string item = Trim(t.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (item.empty()) {
      // "(5,)" and "()" are fine; an empty item between commas is not.
      if (comma != std::string::npos && Trim(t.substr(comma + 1)).size() != 0) throw bad();
      if (comma == std::string::npos && !out.empty() && Trim(t).back() != ',') throw bad();
      break;
    }
    int64_t value;
    if (item == "None") value = -1;
    else if (!ParseInt64(item, &value)) throw bad();
    out.push_back(value);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::vector<int64_t> GetTuple(const std::string& op, const AttrMap& attrs, const std::string& key,
                              std::vector<int64_t> def) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr || Trim(*v) == "None") return def;
  return GetTuple(op, attrs, key);
}

std::vector<std::optional<int64_t>> GetOptionalTuple(const std::string& op, const AttrMap& attrs,
                                                     const std::string& key, bool required) {
  auto it = attrs.find(key);
  if (it == attrs.end()) {
    if (required) throw OpArgumentError(op, key, "(missing)", "a tuple such as (0, None, 2)");
    return {};
  }
  const std::string& raw = it->second;
  auto bad = [&] {
    return OpArgumentError(op, key, Quoted(raw), "a tuple of integers or None such as (0, None, 2)");
  };
  std::string t = Trim(raw);
  if (t == "None" && !required) return {};
  if (!t.empty() && (t.front() == '(' || t.front() == '[')) {
    if (t.back() != (t.front() == '(' ? ')' : ']')) throw bad();
    t = t.substr(1, t.size() - 2);
  }
  std::vector<std::optional<int64_t>> out;
  std::vector<std::string> items;
  size_t pos = 0;
  while (true) {
    const size_t comma = t.find(',', pos);
    items.push_back(Trim(t.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  // "()" and "(3,)": one empty item at the end is allowed, and only there.
  if (items.back().empty()) items.pop_back();
  for (const auto& item : items) {
    if (item.empty()) throw bad();
    if (item == "None") {
      out.emplace_back(std::nullopt);
      continue;
    }
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (errno != 0 || *end != '\0') throw bad();
    out.emplace_back(static_cast<int64_t>(v));
  }
  return out;
}

std::string GetEnum(const std::string& op, const AttrMap& attrs, const std::string& key,
                    std::initializer_list<const char*> choices, const std::string& def) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr) return def;
  const std::string t = Unquote(*v);
  for (const char* c : choices)
    if (t == c) return t;
  throw OpArgumentError(op, key, Quoted(*v), ChoiceList(choices));
}

std::string GetEnum(const std::string& op, const AttrMap& attrs, const std::string& key,
                    std::initializer_list<const char*> choices) {
  if (!Has(attrs, key)) throw OpArgumentError(op, key, "(missing)", ChoiceList(choices));
  return GetEnum(op, attrs, key, choices, "");
}

DType GetDType(const std::string& op, const AttrMap& attrs, const std::string& key) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr) throw OpArgumentError(op, key, "(missing)", "a type name such as 'float32'");
  const std::string t = Unquote(*v);
  for (int flag = 0; flag <= 7; ++flag)
    if (t == DTypeName(static_cast<DType>(flag))) return static_cast<DType>(flag);
  throw OpArgumentError(op, key, Quoted(*v),
                        "one of 'float32', 'float64', 'float16', 'uint8', 'int8', 'int32', 'int64', 'bool'");
}

DType GetDType(const std::string& op, const AttrMap& attrs, const std::string& key, DType def) {
  const std::string* v = Find(attrs, key);
  if (v == nullptr || Unquote(*v) == "None") return def;
  return GetDType(op, attrs, key);
}

void MergeShape(const std::string& op, const std::string& arg, Shape& slot, const Shape& value) {
  if (value == kUnknownShape) return;
  if (slot == kUnknownShape) {
    slot = value;
    return;
  }
  bool conflict = slot.size() != value.size();
  for (size_t i = 0; !conflict && i < slot.size(); ++i)
    conflict = slot[i] >= 0 && value[i] >= 0 && slot[i] != value[i];
  if (conflict)
    throw OpArgumentError(op, arg, "shape " + ShapeString(slot), "shape " + ShapeString(value));
  for (size_t i = 0; i < slot.size(); ++i)
    if (slot[i] < 0) slot[i] = value[i];
}

void MergeType(const std::string& op, const std::string& arg, DType& slot, DType value) {
  if (value == DType::kUnknown) return;
  if (slot == DType::kUnknown) {
    slot = value;
    return;
  }
  if (slot != value)
    throw OpArgumentError(op, arg, std::string("type ") + DTypeName(slot), DTypeName(value));
}

void ElemwiseShape(const std::string& op, std::vector<Shape>& in, std::vector<Shape>& out) {
  Shape common = kUnknownShape;
  for (size_t i = 0; i < in.size(); ++i) MergeShape(op, i == 0 ? "data" : "input " + std::to_string(i), common, in[i]);
  for (const auto& s : out) MergeShape(op, "output", common, s);
  for (auto& s : in) s = common;
  for (auto& s : out) s = common;
}

void ElemwiseType(const std::string& op, std::vector<DType>& in, std::vector<DType>& out) {
  DType common = DType::kUnknown;
  for (size_t i = 0; i < in.size(); ++i) MergeType(op, i == 0 ? "data" : "input " + std::to_string(i), common, in[i]);
  for (DType t : out) MergeType(op, "output", common, t);
  for (auto& t : in) t = common;
  for (auto& t : out) t = common;
}

void FloatElemwiseType(const std::string& op, std::vector<DType>& in, std::vector<DType>& out) {
  ElemwiseType(op, in, out);
  const DType t = in.empty() ? (out.empty() ? DType::kUnknown : out[0]) : in[0];
  if (t != DType::kUnknown && t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16)
    throw OpArgumentError(op, "data", std::string("an array of type ") + DTypeName(t),
                          "float32, float64 or float16");
}

int NormalizeAxis(const std::string& op, const std::string& arg, int64_t axis, int ndim) {
  if (axis < -ndim || axis >= std::max(ndim, 1))
    throw OpArgumentError(op, arg, std::to_string(axis),
                          "an axis in [" + std::to_string(-ndim) + ", " + std::to_string(ndim) + ")");
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

int AxisOf(const std::string& op, const std::string& arg, int64_t axis, const Shape& shape,
           const std::string& what) {
  if (shape.empty())
    throw OpArgumentError(op, what, "an array of shape ()", "an array with at least one dimension");
  return NormalizeAxis(op, arg, axis, static_cast<int>(shape.size()));
}

OpDef UnaryDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.input_docs = {{"data", "The input array."}};
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  return def;
}

}  // namespace flowmod::ops
