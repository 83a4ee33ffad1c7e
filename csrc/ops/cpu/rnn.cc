// RNN: MXNet's fused multi-layer recurrent operator (rnn_relu, rnn_tanh, lstm, gru), over
// time-major data (seq_len, batch, input_size).
//
// Parameters are one flat vector in MXNet's layout: every weight first (for each layer, for
// each direction: i2h (G*H, in) then h2h (G*H, H)), then every bias in the same order. Gates
// are stacked in MXNet's order: lstm i, f, g, o; gru r, z, n with
// n = tanh(W_n x + b_in + r * (U_n h + b_hn)).
//
// Outputs: out (seq_len, batch, dirs*H), hy and (lstm) cy, visible with state_outputs, then a
// hidden workspace that forward fills with what backward needs: the activated gates of every
// step, the cell states (lstm) or U_n h + b_hn (gru), the outputs of the inner layers, and
// the dropout masks and dropped inputs between layers.
//
// Costs: the input projection of a layer and direction is one GEMM over all steps, each step
// one h2h GEMM followed by one fused pass over the gates; backward runs one h2h GEMM per step
// and the weight gradients as one GEMM over all steps. The h2h weights are packed once per
// layer and direction for all its steps (blas::FixedB), and a large recurrence runs in blocks
// of batch rows, one per core (RowBlocks), each block through every step on its own.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ops/blas.h"
#include "ops/cpu/fast_math.h"
#include "ops/cpu/target_clones.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/parallel.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "RNN";

enum class Mode { kRelu, kTanh, kLstm, kGru };

struct RNNAttrs : OpAttrs {
  int64_t state_size = 0;
  int64_t num_layers = 0;
  bool bidirectional = false;
  Mode mode = Mode::kLstm;
  double p = 0;
  bool state_outputs = false;

  int64_t dirs() const { return bidirectional ? 2 : 1; }
  int64_t gates() const { return mode == Mode::kLstm ? 4 : mode == Mode::kGru ? 3 : 1; }
  int num_states() const { return mode == Mode::kLstm ? 2 : 1; }
};

std::shared_ptr<const OpAttrs> ParseRNN(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"state_size", "num_layers", "bidirectional", "mode", "p", "state_outputs",
                          "projection_size", "lstm_state_clip_min", "lstm_state_clip_max",
                          "lstm_state_clip_nan", "use_sequence_length", "cudnn_off"});
  auto a = std::make_shared<RNNAttrs>();
  a->state_size = GetInt(kOp, attrs, "state_size");
  if (a->state_size < 1)
    throw OpArgumentError(kOp, "state_size", std::to_string(a->state_size), "an integer >= 1");
  a->num_layers = GetInt(kOp, attrs, "num_layers");
  if (a->num_layers < 1)
    throw OpArgumentError(kOp, "num_layers", std::to_string(a->num_layers), "an integer >= 1");
  a->bidirectional = GetBool(kOp, attrs, "bidirectional", false);
  const std::string mode = GetEnum(kOp, attrs, "mode", {"rnn_relu", "rnn_tanh", "lstm", "gru"});
  a->mode = mode == "rnn_relu" ? Mode::kRelu : mode == "rnn_tanh" ? Mode::kTanh : mode == "lstm" ? Mode::kLstm : Mode::kGru;
  a->p = GetFloat(kOp, attrs, "p", 0.0);
  if (!(a->p >= 0 && a->p < 1)) throw OpArgumentError(kOp, "p", attrs.at("p"), "a number in [0, 1)");
  a->state_outputs = GetBool(kOp, attrs, "state_outputs", false);
  if (GetOptionalInt(kOp, attrs, "projection_size"))
    throw OpArgumentError(kOp, "projection_size", attrs.at("projection_size"),
                          "None (LSTM projection is not supported)");
  for (const char* key : {"lstm_state_clip_min", "lstm_state_clip_max"})
    if (GetOptionalFloat(kOp, attrs, key))
      throw OpArgumentError(kOp, key, attrs.at(key), "None (LSTM state clipping is not supported)");
  GetBool(kOp, attrs, "lstm_state_clip_nan", false);
  if (GetBool(kOp, attrs, "use_sequence_length", false))
    throw OpArgumentError(kOp, "use_sequence_length", attrs.at("use_sequence_length"),
                          "False (variable sequence lengths are not supported)");
  // cuDNN does not exist here; the flag is accepted and has no effect.
  if (Has(attrs, "cudnn_off") && attrs.at("cudnn_off") != "None") GetBool(kOp, attrs, "cudnn_off", false);
  return a;
}

// Where each layer and direction finds its parameters and keeps its saved values.
struct Layout {
  struct Cell {
    int64_t in = 0;                   // input width of the layer
    int64_t wi = 0, wh = 0, bi = 0, bh = 0;  // offsets into the parameter vector
    int64_t gates = 0, extra = 0;     // workspace offsets: activated gates, c (lstm) / U_n h + b_hn (gru)
  };
  std::vector<Cell> cells;  // layer-major: cells[l * dirs + d]
  // Per inner layer l < L-1: its output, and with dropout the mask and the next layer's input.
  std::vector<int64_t> y, mask, x;
  int64_t param_size = 0, workspace_size = 0;
};

Layout MakeLayout(const RNNAttrs& a, int64_t seq, int64_t batch, int64_t input) {
  Layout lay;
  const int64_t D = a.dirs(), H = a.state_size, GH = a.gates() * H, L = a.num_layers;
  const int64_t tn = seq * batch;
  int64_t p = 0;
  lay.cells.resize(static_cast<size_t>(L * D));
  for (int64_t l = 0; l < L; ++l)
    for (int64_t d = 0; d < D; ++d) {
      Layout::Cell& c = lay.cells[l * D + d];
      c.in = l == 0 ? input : D * H;
      c.wi = p;
      p += GH * c.in;
      c.wh = p;
      p += GH * H;
    }
  for (auto& c : lay.cells) {
    c.bi = p;
    p += GH;
    c.bh = p;
    p += GH;
  }
  lay.param_size = p;
  int64_t w = 0;
  const bool extra = a.mode == Mode::kLstm || a.mode == Mode::kGru;
  for (auto& c : lay.cells) {
    c.gates = w;
    w += tn * GH;
    c.extra = w;
    if (extra) w += tn * H;
  }
  for (int64_t l = 0; l + 1 < L; ++l) {
    lay.y.push_back(w);
    w += tn * D * H;
    if (a.p > 0) {
      lay.mask.push_back(w);
      lay.x.push_back(w + tn * D * H);
      w += 2 * tn * D * H;
    } else {
      // Without dropout the next layer reads this layer's output itself.
      lay.mask.push_back(-1);
      lay.x.push_back(lay.y.back());
    }
  }
  // At least one element, so the hidden output is never an empty array.
  lay.workspace_size = std::max<int64_t>(w, 1);
  return lay;
}

std::vector<std::string> ArgNames(const OpAttrs& attrs) {
  if (static_cast<const RNNAttrs&>(attrs).mode == Mode::kLstm) return {"data", "parameters", "state", "state_cell"};
  return {"data", "parameters", "state"};
}

void InferRNNShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const RNNAttrs&>(attrs);
  const auto args = ArgNames(attrs);
  Shape& d = in[0];
  if (d != kUnknownShape && d.size() != 3)
    throw OpArgumentError(kOp, "data", "an array of shape " + ShapeString(d),
                          "a 3-d array (seq_len, batch_size, input_size)");
  if (d == kUnknownShape) d = Shape{-1, -1, -1};
  const int64_t D = a.dirs(), H = a.state_size, LD = a.num_layers * D;
  // The batch size and length may come from the states or the output.
  for (size_t i = 2; i < args.size(); ++i)
    if (in[i] != kUnknownShape && in[i].size() == 3 && d[1] < 0) d[1] = in[i][1];
  if (out[0] != kUnknownShape && out[0].size() == 3) {
    if (d[0] < 0) d[0] = out[0][0];
    if (d[1] < 0) d[1] = out[0][1];
  }
  const int64_t T = d[0], N = d[1], I = d[2];
  for (size_t i = 2; i < args.size(); ++i) MergeShape(kOp, args[i], in[i], Shape{LD, N, H});
  MergeShape(kOp, "output", out[0], Shape{T, N, D * H});
  const int ns = a.num_states();
  for (int s = 0; s < ns; ++s) MergeShape(kOp, s == 0 ? "state" : "state_cell", out[1 + s], Shape{LD, N, H});
  if (I >= 0) MergeShape(kOp, "parameters", in[1], Shape{MakeLayout(a, 1, 1, I).param_size});
  if (IsKnown(d)) MergeShape(kOp, "workspace", out[1 + ns], Shape{MakeLayout(a, T, N, I).workspace_size});
}

void InferRNNType(const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
  const auto args = ArgNames(attrs);
  DType t = DType::kUnknown;
  for (DType x : in)
    if (t == DType::kUnknown) t = x;
  for (DType x : out)
    if (t == DType::kUnknown) t = x;
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] != DType::kUnknown && in[i] != t)
      throw OpArgumentError(kOp, args[i], std::string("an array of type ") + DTypeName(in[i]),
                            std::string(DTypeName(t)) + ", the type of the other inputs");
  if (t != DType::kUnknown && t != DType::kFloat32 && t != DType::kFloat64)
    throw OpArgumentError(kOp, "data", std::string("an array of type ") + DTypeName(t), "float32 or float64");
  for (auto& x : in) x = t;
  for (auto& x : out) x = t;
}

template <class T>
inline T Sigmoid(T x) {
  if constexpr (std::is_same_v<T, float>) return SigmoidFloat(x);
  else return T(1) / (T(1) + std::exp(-x));
}
template <class T>
inline T Tanh(T x) {
  if constexpr (std::is_same_v<T, float>) return TanhFloat(x);
  else return std::tanh(x);
}

// One LSTM step for one batch row, its four gates (i, f, g, o) H wide each. The gate blocks
// come as separate restrict-qualified pointers, so that the loop over j vectorizes; the
// helpers are always inlined, so that the loops are compiled for each target clone below.
//
// Forward: the pre-activations plus their biases become the activated gates,
// c = f c_prev + i g, h = o tanh(c).
template <class T>
[[gnu::always_inline]] inline void LstmRowForward(int64_t H, T* __restrict gi, T* __restrict gf, T* __restrict gg,
                                                  T* __restrict go, const T* __restrict bias, const T* __restrict cp,
                                                  T* __restrict cn, T* __restrict hn) {
  for (int64_t j = 0; j < H; ++j) {
    const T i = Sigmoid<T>(gi[j] + bias[j]), f = Sigmoid<T>(gf[j] + bias[H + j]);
    const T u = Tanh<T>(gg[j] + bias[2 * H + j]), o = Sigmoid<T>(go[j] + bias[3 * H + j]);
    const T c = f * cp[j] + i * u;
    gi[j] = i;
    gf[j] = f;
    gg[j] = u;
    go[j] = o;
    cn[j] = c;
    hn[j] = o * Tanh<T>(c);
  }
}

// Backward: from the activated gates, the cell states c_prev and c, and the gradient of h
// (dh from the next step plus dy from the output), the gradients of the gate pre-activations;
// dc, the gradient of c from the next step, becomes that of c_prev.
template <class T>
[[gnu::always_inline]] inline void LstmRowBackward(int64_t H, const T* __restrict gi, const T* __restrict gf,
                                                   const T* __restrict gg, const T* __restrict go,
                                                   const T* __restrict cp, const T* __restrict cn,
                                                   const T* __restrict dy, const T* __restrict dh, T* __restrict dc,
                                                   T* __restrict di, T* __restrict df, T* __restrict du,
                                                   T* __restrict d_o) {
  for (int64_t j = 0; j < H; ++j) {
    const T i = gi[j], f = gf[j], u = gg[j], o = go[j];
    const T tc = Tanh<T>(cn[j]);
    const T dht = dh[j] + dy[j];
    const T dct = dc[j] + dht * o * (T(1) - tc * tc);
    di[j] = dct * u * i * (T(1) - i);
    df[j] = dct * cp[j] * f * (T(1) - f);
    du[j] = dct * i * (T(1) - u * u);
    d_o[j] = dht * tc * o * (T(1) - o);
    dc[j] = dct * f;
  }
}

// One LSTM step over a batch of N rows: gates g (N x 4H), their biases (4H, forward), cell
// states (N x H), h and dy with rows ldh and ldy apart, gate gradients dg (N x 4H).
template <class T>
[[gnu::always_inline]] inline void LstmCellForwardRows(int64_t N, int64_t H, T* g, const T* bias, const T* c_prev, T* c,
                                                       T* h, int64_t ldh) {
  for (int64_t b = 0; b < N; ++b) {
    T* gr = g + b * 4 * H;
    LstmRowForward(H, gr, gr + H, gr + 2 * H, gr + 3 * H, bias, c_prev + b * H, c + b * H, h + b * ldh);
  }
}

template <class T>
[[gnu::always_inline]] inline void LstmCellBackwardRows(int64_t N, int64_t H, const T* g, const T* c_prev, const T* c,
                                                        const T* dy, int64_t ldy, const T* dh, T* dc, T* dg) {
  for (int64_t b = 0; b < N; ++b) {
    const T* gr = g + b * 4 * H;
    T* dr = dg + b * 4 * H;
    LstmRowBackward(H, gr, gr + H, gr + 2 * H, gr + 3 * H, c_prev + b * H, c + b * H, dy + b * ldy, dh + b * H,
                    dc + b * H, dr, dr + H, dr + 2 * H, dr + 3 * H);
  }
}

// The float cells are bound by their exponentials: the machine's widest vectors (see
// target_clones.h).
FLOWMOD_TARGET_CLONES void LstmCellForward(int64_t N, int64_t H, float* g, const float* bias, const float* c_prev,
                                           float* c, float* h, int64_t ldh) {
  LstmCellForwardRows(N, H, g, bias, c_prev, c, h, ldh);
}
void LstmCellForward(int64_t N, int64_t H, double* g, const double* bias, const double* c_prev, double* c, double* h,
                     int64_t ldh) {
  LstmCellForwardRows(N, H, g, bias, c_prev, c, h, ldh);
}

FLOWMOD_TARGET_CLONES void LstmCellBackward(int64_t N, int64_t H, const float* g, const float* c_prev,
                                            const float* c, const float* dy, int64_t ldy, const float* dh,
                                            float* dc, float* dg) {
  LstmCellBackwardRows(N, H, g, c_prev, c, dy, ldy, dh, dc, dg);
}
void LstmCellBackward(int64_t N, int64_t H, const double* g, const double* c_prev, const double* c,
                      const double* dy, int64_t ldy, const double* dh, double* dc, double* dg) {
  LstmCellBackwardRows(N, H, g, c_prev, c, dy, ldy, dh, dc, dg);
}

// C (m x n, row stride ldc) = A · Bᵀ (+ C when accumulate), A m x k, B n x k.
template <class T>
void GemmNT(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
            int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0 || k == 0) return;
  blas::Gemm(false, true, m, n, k, T(1), a, lda, b, ldb, accumulate ? T(1) : T(0), c, ldc);
}

// The sizes a kernel works with.
struct Dims {
  int64_t T, N, I, H, D, G, GH, L;
};

Dims DimsOf(const RNNAttrs& a, const Shape& data) {
  return Dims{data[0], data[1], data[2], a.state_size, a.dirs(), a.gates(), a.gates() * a.state_size, a.num_layers};
}

// The step order of direction d: forward in time for d = 0, backward for d = 1.
inline int64_t StepTime(int64_t d, int64_t s, int64_t T) { return d == 0 ? s : T - 1 - s; }

// h(t-1) at step s of layer-direction sidx (direction d), from batch row r0 on, and its row
// stride: the initial state at the first step, the layer's previous output after it.
template <class T>
std::pair<const T*, int64_t> PrevH(const Dims& z, const T* h0, const T* y, int64_t sidx, int64_t d, int64_t s,
                                   int64_t r0) {
  if (s == 0) return {h0 + (sidx * z.N + r0) * z.H, z.H};
  const int64_t DH = z.D * z.H;
  return {y + (StepTime(d, s - 1, z.T) * z.N + r0) * DH + d * z.H, DH};
}

// How many blocks of batch rows a layer's recurrence runs in: one per core once its products
// (T steps of N x G*H x H) are worth splitting, with blocks of at least 8 rows.
int RowBlocks(const Dims& z) {
  if (z.T * z.N * z.GH * z.H < (int64_t{1} << 21)) return 1;
  return static_cast<int>(std::clamp<int64_t>(z.N / 8, 1, parallel::Cores()));
}

// The gates before the input projection is added: the LSTM cell adds both biases as it
// activates the gates (bias = b_i + b_h); GRU starts from b_i, the others from b_i + b_h.
template <class T>
void StartGates(Mode mode, int64_t TN, int64_t GH, const T* bi, const T* bh, T* g, std::vector<T>& bias) {
  if (mode == Mode::kLstm) {
    for (int64_t j = 0; j < GH; ++j) bias[j] = bi[j] + bh[j];
    return;
  }
  for (int64_t r = 0; r < TN; ++r) {
    T* row = g + r * GH;
    if (mode == Mode::kGru) {
      std::copy_n(bi, GH, row);
    } else {
      for (int64_t j = 0; j < GH; ++j) row[j] = bi[j] + bh[j];
    }
  }
}

// One GRU step over n rows: gates gt (input part, activated in place), u = U h + b_h, the
// previous h (rows ldh apart); writes h (rows DH apart) and keeps U_n h + b_hn in nt.
template <class T>
void GruStepForward(int64_t n, int64_t H, int64_t GH, int64_t DH, T* gt, const T* u_all, const T* hp, int64_t ldh,
                    T* ht, T* nt) {
  for (int64_t b = 0; b < n; ++b) {
    T* gr = gt + b * GH;
    const T* u = u_all + b * GH;
    const T* hprev = hp + b * ldh;
    T* hout = ht + b * DH;
    T* nrow = nt + b * H;
    for (int64_t j = 0; j < H; ++j) {
      const T r = Sigmoid<T>(gr[j] + u[j]);
      const T zg = Sigmoid<T>(gr[H + j] + u[H + j]);
      const T nn = Tanh<T>(gr[2 * H + j] + r * u[2 * H + j]);
      gr[j] = r;
      gr[H + j] = zg;
      gr[2 * H + j] = nn;
      nrow[j] = u[2 * H + j];
      hout[j] = (T(1) - zg) * nn + zg * hprev[j];
    }
  }
}

// One relu/tanh step over n rows: the gates activated in place and copied to h.
template <class T>
void SimpleStepForward(int64_t n, int64_t H, int64_t GH, int64_t DH, bool relu, T* gt, T* ht) {
  for (int64_t b = 0; b < n; ++b) {
    T* gr = gt + b * GH;
    T* hout = ht + b * DH;
    for (int64_t j = 0; j < H; ++j) {
      const T v = relu ? (gr[j] > T(0) ? gr[j] : T(0)) : Tanh<T>(gr[j]);
      gr[j] = v;
      hout[j] = v;
    }
  }
}

// The next layer's input: this layer's output y, dropped out in training (mask m kept for
// backward; all ones outside training).
template <class T>
void DropoutBetweenLayers(const OpContext& ctx, double p, int64_t count, const T* y, T* m, T* xn) {
  if (!(p > 0 && ctx.is_train)) {
    std::fill_n(m, count, T(1));
    std::copy_n(y, count, xn);
    return;
  }
  const double keep = 1.0 - p;
  const T scale = static_cast<T>(1.0 / keep);
  const uint64_t threshold = static_cast<uint64_t>(std::ldexp(keep, 32));
  std::mt19937_64& gen = *ctx.rng;
  for (int64_t i = 0; i < count; i += 2) {
    const uint64_t r = gen();
    m[i] = (r & 0xFFFFFFFFu) < threshold ? scale : T(0);
    if (i + 1 < count) m[i + 1] = (r >> 32) < threshold ? scale : T(0);
  }
  for (int64_t i = 0; i < count; ++i) xn[i] = y[i] * m[i];
}

template <class T>
void Forward(const OpContext& ctx, const RNNAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const Dims z = DimsOf(a, in[0].shape);
  const Layout lay = MakeLayout(a, z.T, z.N, z.I);
  const int blocks = RowBlocks(z);
  const T* params = in[1].ptr<T>();
  const T* h0 = in[2].ptr<T>();
  const T* c0 = a.mode == Mode::kLstm ? in[3].ptr<T>() : nullptr;
  const int ns = a.num_states();
  T* hy = out[1].ptr<T>();
  T* cy = a.mode == Mode::kLstm ? out[2].ptr<T>() : nullptr;
  T* ws = out[1 + ns].ptr<T>();
  const int64_t H = z.H, N = z.N, GH = z.GH, DH = z.D * H, TN = z.T * z.N;
  std::vector<T> bias(a.mode == Mode::kLstm ? GH : 0);    // lstm: b_i + b_h
  for (int64_t l = 0; l < z.L; ++l) {
    const T* x = l == 0 ? in[0].ptr<T>() : ws + lay.x[l - 1];
    T* y = l + 1 == z.L ? out[0].ptr<T>() : ws + lay.y[l];
    for (int64_t d = 0; d < z.D; ++d) {
      const Layout::Cell& c = lay.cells[l * z.D + d];
      const T* wi = params + c.wi;
      const T* wh = params + c.wh;
      const T* bi = params + c.bi;
      const T* bh = params + c.bh;
      T* g = ws + c.gates;
      T* ex = ws + c.extra;
      // Input projections of every step in one product.
      StartGates(a.mode, TN, GH, bi, bh, g, bias);
      GemmNT<T>(TN, GH, c.in, x, c.in, wi, c.in, g, GH, a.mode != Mode::kLstm);
      const int64_t sidx = l * z.D + d;
      // The steps of batch rows [r0, r1): each row's recurrence is independent of the others',
      // so blocks of rows run all their steps on different cores without waiting on each other.
      auto recur = [&](int64_t r0, int64_t r1) {
        const int64_t n = r1 - r0;
        // h(t-1) · Uᵀ added to the gates (gru: to U h + b_h), U packed once for every step
        // after the first (whose h(t-1), the initial state, has its own row stride).
        const blas::FixedB<T> recurrent(n, GH, H, DH, true, wh, H, GH, true, /*split=*/blocks == 1);
        auto add_recurrent = [&](int64_t s, const T* hp, int64_t ldh, T* dst) {
          if (s == 0) GemmNT<T>(n, GH, H, hp, ldh, wh, H, dst, GH, true);
          else recurrent.Run(hp, dst);
        };
        std::vector<T> hh(a.mode == Mode::kGru ? n * GH : 0);  // gru: U h + b_h of one step
        for (int64_t s = 0; s < z.T; ++s) {
          const int64_t t = StepTime(d, s, z.T);
          const auto [hp, ldh] = PrevH(z, h0, y, sidx, d, s, r0);
          T* gt = g + (t * N + r0) * GH;
          T* ht = y + (t * N + r0) * DH + d * H;
          if (a.mode == Mode::kGru) {
            for (int64_t b = 0; b < n; ++b) std::copy_n(bh, GH, hh.data() + b * GH);
            add_recurrent(s, hp, ldh, hh.data());
            GruStepForward(n, H, GH, DH, gt, hh.data(), hp, ldh, ht, ex + (t * N + r0) * H);
            continue;
          }
          add_recurrent(s, hp, ldh, gt);
          if (a.mode == Mode::kLstm) {
            const T* cp = (s == 0 ? c0 + sidx * N * H : ex + StepTime(d, s - 1, z.T) * N * H) + r0 * H;
            LstmCellForward(n, H, gt, bias.data(), cp, ex + (t * N + r0) * H, ht, DH);
          } else {
            SimpleStepForward(n, H, GH, DH, a.mode == Mode::kRelu, gt, ht);
          }
        }
      };
      parallel::For(N, blocks, recur);
      // The final states: the last step of each direction.
      const int64_t last = StepTime(d, z.T - 1, z.T);
      for (int64_t b = 0; b < N; ++b) {
        std::copy_n(y + last * N * DH + b * DH + d * H, H, hy + sidx * N * H + b * H);
        if (cy) std::copy_n(ex + last * N * H + b * H, H, cy + sidx * N * H + b * H);
      }
    }
    if (l + 1 < z.L && a.p > 0) DropoutBetweenLayers(ctx, a.p, TN * DH, y, ws + lay.mask[l], ws + lay.x[l]);
  }
}

// dst = src stored under `req`.
template <class T>
void StoreState(T* dst, const T* src, int64_t n, OpReq req) {
  if (req == OpReq::kNull) return;
  for (int64_t i = 0; i < n; ++i) Store(dst[i], src[i], req);
}

// One GRU step back over n rows: from dh (the running gradient of h, rows H apart) and dy,
// the gradients of the input gates (drx) and recurrent gates (drh); dh keeps the direct path.
template <class T>
void GruStepBackward(int64_t n, int64_t H, int64_t GH, int64_t DH, const T* gt, const T* nt, const T* hp,
                     int64_t ldh, const T* dyt, T* dhb, T* dgt, T* dht_h) {
  for (int64_t b = 0; b < n; ++b) {
    const T* gr = gt + b * GH;
    T* drx = dgt + b * GH;
    T* drh = dht_h + b * GH;
    const T* un = nt + b * H;
    const T* hprev = hp + b * ldh;
    T* dhr = dhb + b * H;
    const T* dyr = dyt + b * DH;
    for (int64_t j = 0; j < H; ++j) {
      const T r = gr[j], zg = gr[H + j], nn = gr[2 * H + j];
      const T dht = dhr[j] + dyr[j];
      const T dan = dht * (T(1) - zg) * (T(1) - nn * nn);
      const T dar = dan * un[j] * r * (T(1) - r);
      const T daz = dht * (hprev[j] - nn) * zg * (T(1) - zg);
      drx[j] = dar;
      drx[H + j] = daz;
      drx[2 * H + j] = dan;
      drh[j] = dar;
      drh[H + j] = daz;
      drh[2 * H + j] = dan * r;
      dhr[j] = dht * zg;  // the direct path; the recurrent product adds the rest
    }
  }
}

// One relu/tanh step back over n rows: the gate gradients from dh + dy.
template <class T>
void SimpleStepBackward(int64_t n, int64_t H, int64_t GH, int64_t DH, bool relu, const T* gt, const T* dhb,
                        const T* dyt, T* dgt) {
  for (int64_t b = 0; b < n; ++b) {
    const T* gr = gt + b * GH;
    T* dr = dgt + b * GH;
    const T* dhr = dhb + b * H;
    const T* dyr = dyt + b * DH;
    for (int64_t j = 0; j < H; ++j) {
      const T v = gr[j];
      const T dht = dhr[j] + dyr[j];
      dr[j] = relu ? (v > T(0) ? dht : T(0)) : dht * (T(1) - v * v);
    }
  }
}

// dW = dgates_xᵀ · x and dU = dgates_hᵀ · h(t-1), each one product over all steps but the
// first, whose h(t-1) is the initial state; the biases' gradients are the gates' sums.
template <class T>
void CellWeightGradients(const Dims& z, int64_t d, int64_t sidx, int64_t in_w, const T* dgx, const T* dgh,
                         const T* x, const T* y, const T* h0, T* dwi, T* dwh, T* dbi, T* dbh) {
  const int64_t N = z.N, H = z.H, GH = z.GH, DH = z.D * z.H, TN = z.T * z.N;
  blas::Gemm(true, false, GH, in_w, TN, T(1), dgx, GH, x, in_w, T(1), dwi, in_w);
  const int64_t first = StepTime(d, 0, z.T);
  if (z.T > 1) {
    // Steps 1.. of direction 0 read outputs 0..T-2; of direction 1, steps T-2..0 read 1..T-1.
    const T* dg_rest = dgh + (d == 0 ? N * GH : 0);
    const T* h_rest = y + (d == 0 ? 0 : N * DH) + d * H;
    blas::Gemm(true, false, GH, H, (z.T - 1) * N, T(1), dg_rest, GH, h_rest, DH, T(1), dwh, H);
  }
  blas::Gemm(true, false, GH, H, N, T(1), dgh + first * N * GH, GH, h0 + sidx * N * H, H, T(1), dwh, H);
  for (int64_t r = 0; r < TN; ++r) {
    const T* rx = dgx + r * GH;
    const T* rh = dgh + r * GH;
    for (int64_t j = 0; j < GH; ++j) {
      dbi[j] += rx[j];
      dbh[j] += rh[j];
    }
  }
}

// The running gradient of a layer-direction's state at its last step: the head gradient of
// the final state (dfinal, every layer-direction's N x H block in turn), or zero.
template <class T>
void SeedState(const T* dfinal, int64_t sidx, std::vector<T>& state) {
  if (state.empty()) return;
  if (dfinal) std::copy_n(dfinal + sidx * state.size(), state.size(), state.data());
  else std::fill(state.begin(), state.end(), T(0));
}

template <class T>
void Backward(const RNNAttrs& a, const BackwardIO& io) {
  const Dims z = DimsOf(a, io.inputs[0].shape);
  const Layout lay = MakeLayout(a, z.T, z.N, z.I);
  const int blocks = RowBlocks(z);
  const int ns = a.num_states();
  const T* params = io.inputs[1].ptr<T>();
  const T* h0 = io.inputs[2].ptr<T>();
  const T* c0 = a.mode == Mode::kLstm ? io.inputs[3].ptr<T>() : nullptr;
  const T* ws = io.outputs[1 + ns].ptr<T>();
  // Head gradients of the final states: zero when they are not visible outputs.
  const T* dhy = a.state_outputs ? io.out_grads[1].ptr<T>() : nullptr;
  const T* dcy = a.state_outputs && a.mode == Mode::kLstm ? io.out_grads[2].ptr<T>() : nullptr;
  const int64_t H = z.H, N = z.N, GH = z.GH, DH = z.D * H, TN = z.T * z.N;
  const OpReq req_data = io.req[0], req_params = io.req[1], req_h = io.req[2];
  const OpReq req_c = a.mode == Mode::kLstm ? io.req[3] : OpReq::kNull;
  T* dparams = io.in_grads[1].ptr<T>();
  if (req_params == OpReq::kWrite) std::fill_n(dparams, lay.param_size, T(0));
  const bool weights = req_params != OpReq::kNull;

  // Scratch that every step writes before reading: left uninitialized.
  auto scratch = [](int64_t n) { return std::make_unique_for_overwrite<T[]>(static_cast<size_t>(n)); };
  auto dgx = scratch(TN * GH), dgh = scratch(a.mode == Mode::kGru ? TN * GH : 0);
  auto dy_below = scratch(z.L > 1 ? TN * DH : 0), dy_this = scratch(z.L > 1 ? TN * DH : 0);
  std::vector<T> dh(N * H), dc(a.mode == Mode::kLstm ? N * H : 0);
  const T* dy = io.out_grads[0].ptr<T>();
  for (int64_t l = z.L - 1; l >= 0; --l) {
    const T* x = l == 0 ? io.inputs[0].ptr<T>() : ws + lay.x[l - 1];
    const T* y = l + 1 == z.L ? io.outputs[0].ptr<T>() : ws + lay.y[l];
    const int64_t in_w = l == 0 ? z.I : DH;
    // Where d(input) goes: the data's gradient, or the layer below's output gradient.
    T* dx = l > 0 ? dy_below.get() : (req_data != OpReq::kNull ? io.in_grads[0].ptr<T>() : nullptr);
    const bool dx_accumulate = l == 0 && req_data == OpReq::kAdd;
    for (int64_t d = 0; d < z.D; ++d) {
      const Layout::Cell& c = lay.cells[l * z.D + d];
      const T* wi = params + c.wi;
      const T* wh = params + c.wh;
      const T* g = ws + c.gates;
      const T* ex = ws + c.extra;
      const int64_t sidx = l * z.D + d;
      T* dgh_p = a.mode == Mode::kGru ? dgh.get() : dgx.get();
      SeedState(dhy, sidx, dh);
      SeedState(dcy, sidx, dc);
      // The steps of batch rows [r0, r1), in reverse; blocks of rows run on different cores.
      auto recur = [&](int64_t r0, int64_t r1) {
        const int64_t n = r1 - r0;
        // dh(t-1) = dgates_h · U at every step (gru: added to the direct path), U packed once.
        const blas::FixedB<T> recurrent(n, H, GH, GH, false, wh, H, H, a.mode == Mode::kGru,
                                        /*split=*/blocks == 1);
        T* dhb = dh.data() + r0 * H;
        for (int64_t s = z.T - 1; s >= 0; --s) {
          const int64_t t = StepTime(d, s, z.T);
          const auto [hp, ldh] = PrevH(z, h0, y, sidx, d, s, r0);
          const T* gt = g + (t * N + r0) * GH;
          const T* dyt = dy + (t * N + r0) * DH + d * H;
          T* dgt = dgx.get() + (t * N + r0) * GH;
          if (a.mode == Mode::kLstm) {
            const T* cp = (s == 0 ? c0 + sidx * N * H : ex + StepTime(d, s - 1, z.T) * N * H) + r0 * H;
            LstmCellBackward(n, H, gt, cp, ex + (t * N + r0) * H, dyt, DH, dhb, dc.data() + r0 * H, dgt);
            recurrent.Run(dgt, dhb);
          } else if (a.mode == Mode::kGru) {
            T* dht_h = dgh.get() + (t * N + r0) * GH;
            GruStepBackward(n, H, GH, DH, gt, ex + (t * N + r0) * H, hp, ldh, dyt, dhb, dgt, dht_h);
            recurrent.Run(dht_h, dhb);
          } else {
            SimpleStepBackward(n, H, GH, DH, a.mode == Mode::kRelu, gt, dhb, dyt, dgt);
            recurrent.Run(dgt, dhb);
          }
        }
      };
      parallel::For(N, blocks, recur);
      StoreState(io.in_grads[2].ptr<T>() + sidx * N * H, dh.data(), N * H, req_h);
      if (req_c != OpReq::kNull) StoreState(io.in_grads[3].ptr<T>() + sidx * N * H, dc.data(), N * H, req_c);
      if (dx) {
        // d(input) = dgates_x · W over every step; the second direction adds to the first.
        blas::Gemm(false, false, TN, in_w, GH, T(1), dgx.get(), GH, wi, in_w,
                   (d > 0 || dx_accumulate) ? T(1) : T(0), dx, in_w);
      }
      if (weights)
        CellWeightGradients(z, d, sidx, in_w, dgx.get(), dgh_p, x, y, h0, dparams + c.wi, dparams + c.wh,
                            dparams + c.bi, dparams + c.bh);
    }
    if (l > 0) {
      // Through the dropout between layers: d(output below) = d(input) * mask.
      if (a.p > 0) {
        const T* m = ws + lay.mask[l - 1];
        for (int64_t i = 0; i < TN * DH; ++i) dy_below[i] *= m[i];
      }
      std::swap(dy_below, dy_this);
      dy = dy_this.get();
    }
  }
}

void RNNForward(const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef> in,
                std::span<const TensorRef> out) {
  const auto& a = static_cast<const RNNAttrs&>(attrs);
  switch (in[0].dtype) {
    case DType::kFloat32: Forward<float>(ctx, a, in, out); break;
    case DType::kFloat64: Forward<double>(ctx, a, in, out); break;
    default: throw std::logic_error("RNN called on a non-float array");
  }
}

void RNNBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const RNNAttrs&>(attrs);
  switch (io.inputs[0].dtype) {
    case DType::kFloat32: Backward<float>(a, io); break;
    case DType::kFloat64: Backward<double>(a, io); break;
    default: throw std::logic_error("RNN called on a non-float array");
  }
}

OpDef MakeRNN() {
  OpDef def;
  def.name = kOp;
  def.description =
      "A fused recurrent layer stack (vanilla RNN with relu or tanh, LSTM or GRU) over a whole sequence, in "
      "MXNet's layout: time-major data and every layer's weights and biases in one flat parameter vector.";
  def.input_docs = {{"data", "The input sequence, (steps, batch, features)."},
                    {"parameters", "Every layer's weights and biases, flattened into one vector."},
                    {"state", "The initial hidden state, (layers * directions, batch, state_size)."},
                    {"state_cell", "The initial cell state (lstm only)."},
                    {"sequence_length", "Each sequence's length (use_sequence_length; not supported yet)."}};
  def.params = {
      Required("state_size", "int (non-negative)", "The size of the hidden state."),
      Required("num_layers", "int (non-negative)", "The number of stacked layers."),
      Optional("bidirectional", "boolean", "0", "Whether each layer also runs backwards in time."),
      Required("mode", "{'gru', 'lstm', 'rnn_relu', 'rnn_tanh'}", "The kind of recurrent cell."),
      Optional("p", "float", "0", "The dropout probability between layers, in training."),
      Optional("state_outputs", "boolean", "0", "Whether the final states are outputs too."),
      Optional("projection_size", "int or None", "'None'", "LSTM projection size (not supported yet)."),
      Optional("lstm_state_clip_min", "double or None", "None", "LSTM cell state clipping minimum (not supported yet)."),
      Optional("lstm_state_clip_max", "double or None", "None", "LSTM cell state clipping maximum (not supported yet)."),
      Optional("lstm_state_clip_nan", "boolean", "0", "Whether clipping maps NaN to the bounds (not supported yet)."),
      Optional("use_sequence_length", "boolean", "0", "Whether to take per-sequence lengths (not supported yet)."),
  };
  def.list_inputs = &ArgNames;
  def.count_outputs = [](const OpAttrs& attrs) {
    return 2 + static_cast<const RNNAttrs&>(attrs).num_states();  // out, states, workspace
  };
  def.count_visible_outputs = [](const OpAttrs& attrs) {
    const auto& a = static_cast<const RNNAttrs&>(attrs);
    return a.state_outputs ? 1 + a.num_states() : 1;
  };
  def.list_outputs = [](const OpAttrs& attrs) -> std::vector<std::string> {
    const auto& a = static_cast<const RNNAttrs&>(attrs);
    if (!a.state_outputs) return {"output"};
    if (a.mode == Mode::kLstm) return {"output", "state", "state_cell"};
    return {"output", "state"};
  };
  def.parse = &ParseRNN;
  def.infer_shape = &InferRNNShape;
  def.infer_type = &InferRNNType;
  def.forward = &RNNForward;
  def.backward = &RNNBackward;
  def.needs_rng_if = [](const OpAttrs& attrs) {
    const auto& a = static_cast<const RNNAttrs&>(attrs);
    return a.p > 0 && a.num_layers > 1;
  };
  return def;
}

FLOWMOD_REGISTER_OP(MakeRNN());

}  // namespace

}  // namespace flowmod::ops
