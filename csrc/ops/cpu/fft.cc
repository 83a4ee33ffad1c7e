// _contrib_fft and _contrib_ifft: the 1-d discrete Fourier transform along the last axis, in
// MXNet 1.9.1's layout (MXNet runs them on GPUs only, through cuFFT; these are the same
// transforms on the CPU):
// - fft: real data (..., d) -> complex (..., 2d) interleaved [re0, im0, re1, im1, ...],
//   out[k] = sum_j data[j] exp(-2 pi i j k / d);
// - ifft: complex (..., 2d) interleaved -> the real part (..., d) of the unnormalized inverse,
//   out[j] = Re(sum_k z[k] exp(+2 pi i j k / d)) (cuFFT's inverse is not divided by d).
// Data has 2 or 4 dimensions, as MXNet's shape inference accepts. Each one's gradient is the
// other transform applied to the head gradient (exactly the adjoint of the forward map).
// The transform is computed in double: radix 2 for powers of two, Bluestein's chirp
// z-transform (three power-of-two transforms) for every other length.
#include <cmath>
#include <complex>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

using Complex = std::complex<double>;

// In-place iterative radix-2 transform of a power-of-two length; sign -1 forward, +1 inverse
// (unnormalized).
void Radix2(std::vector<Complex>& a, int sign) {
  const size_t n = a.size();
  for (size_t i = 1, j = 0; i < n; ++i) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    const double angle = sign * 2.0 * std::numbers::pi / static_cast<double>(len);
    const Complex step(std::cos(angle), std::sin(angle));
    std::vector<Complex> w(len / 2);
    w[0] = 1.0;
    for (size_t k = 1; k < len / 2; ++k)
      // Direct evaluation every 64 steps keeps the rounding of the running product small.
      w[k] = k % 64 == 0 ? Complex(std::cos(angle * k), std::sin(angle * k)) : w[k - 1] * step;
    for (size_t i = 0; i < n; i += len)
      for (size_t k = 0; k < len / 2; ++k) {
        const Complex u = a[i + k], v = a[i + k + len / 2] * w[k];
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
      }
  }
}

// A transform of one length, planned once per kernel call and applied to every row.
class Plan {
 public:
  Plan(size_t n, int sign) : n_(n), sign_(sign) {
    if (n_ == 0 || (n_ & (n_ - 1)) == 0) return;
    size_t m = 1;
    while (m < 2 * n_ - 1) m <<= 1;
    chirp_.resize(n_);
    for (size_t k = 0; k < n_; ++k) {
      // k^2 mod 2n keeps the angle's argument small for long transforms.
      const double e = static_cast<double>((k * k) % (2 * n_));
      const double angle = sign_ * std::numbers::pi * e / static_cast<double>(n_);
      chirp_[k] = Complex(std::cos(angle), std::sin(angle));
    }
    kernel_.assign(m, 0.0);
    kernel_[0] = std::conj(chirp_[0]);
    for (size_t k = 1; k < n_; ++k) kernel_[k] = kernel_[m - k] = std::conj(chirp_[k]);
    Radix2(kernel_, -1);
  }

  // a (length n) transformed in place.
  void Apply(std::vector<Complex>& a) const {
    if (chirp_.empty()) {
      Radix2(a, sign_);
      return;
    }
    const size_t m = kernel_.size();
    std::vector<Complex> b(m, 0.0);
    for (size_t k = 0; k < n_; ++k) b[k] = a[k] * chirp_[k];
    Radix2(b, -1);
    for (size_t k = 0; k < m; ++k) b[k] *= kernel_[k];
    Radix2(b, +1);
    for (size_t k = 0; k < n_; ++k) a[k] = b[k] * chirp_[k] / static_cast<double>(m);
  }

 private:
  size_t n_;
  int sign_;
  std::vector<Complex> chirp_, kernel_;  // empty for powers of two
};

// Rows of d real values -> rows of d interleaved complex values (sign -1: forward).
template <class T>
void RealToComplex(const T* x, T* y, int64_t rows, int64_t d, int sign, OpReq req) {
  const Plan plan(static_cast<size_t>(d), sign);
  std::vector<Complex> a(d);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < d; ++j) a[j] = Complex(static_cast<double>(x[r * d + j]), 0.0);
    plan.Apply(a);
    for (int64_t k = 0; k < d; ++k) {
      Store(y[r * 2 * d + 2 * k], static_cast<T>(a[k].real()), req);
      Store(y[r * 2 * d + 2 * k + 1], static_cast<T>(a[k].imag()), req);
    }
  }
}

// Rows of d interleaved complex values -> the real parts of their transforms.
template <class T>
void ComplexToReal(const T* z, T* y, int64_t rows, int64_t d, int sign, OpReq req) {
  const Plan plan(static_cast<size_t>(d), sign);
  std::vector<Complex> a(d);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < d; ++k)
      a[k] = Complex(static_cast<double>(z[r * 2 * d + 2 * k]), static_cast<double>(z[r * 2 * d + 2 * k + 1]));
    plan.Apply(a);
    for (int64_t j = 0; j < d; ++j) Store(y[r * d + j], static_cast<T>(a[j].real()), req);
  }
}

struct FFTAttrs : OpAttrs {
  int64_t compute_size = 128;
};

// `inverse`: ifft (complex in, real out); otherwise fft.
OpDef TransformDef(bool inverse) {
  const std::string name = inverse ? "_contrib_ifft" : "_contrib_fft";
  OpDef def = UnaryDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"compute_size"});
    auto a = std::make_shared<FFTAttrs>();
    a->compute_size = GetInt(name, attrs, "compute_size", 128);
    if (a->compute_size < 1) throw OpArgumentError(name, "compute_size", attrs.at("compute_size"), "an integer >= 1");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name, inverse](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (in[0] == kUnknownShape || !IsKnown(in[0])) return;
    const Shape& s = in[0];
    if (s.size() != 2 && s.size() != 4)
      throw OpArgumentError(name, "data", "an array of shape " + ShapeString(s), "2 or 4 dimensions");
    if (inverse && s.back() % 2 != 0)
      throw OpArgumentError(name, "data", "an array of shape " + ShapeString(s),
                            "an even last dimension (interleaved real and imaginary parts)");
    Shape o = s;
    o.back() = inverse ? s.back() / 2 : s.back() * 2;
    MergeShape(name, "output", out[0], o);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(name, in, out);
  };
  def.forward = [inverse](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const int64_t d = inverse ? in[0].shape.back() / 2 : in[0].shape.back();
    const int64_t rows = d == 0 ? 0 : out[0].size() / (inverse ? d : 2 * d);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      if (inverse) ComplexToReal(in[0].ptr<T>(), out[0].ptr<T>(), rows, d, +1, OpReq::kWrite);
      else RealToComplex(in[0].ptr<T>(), out[0].ptr<T>(), rows, d, -1, OpReq::kWrite);
    });
  };
  def.backward = [inverse](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const int64_t d = inverse ? io.inputs[0].shape.back() / 2 : io.inputs[0].shape.back();
    const int64_t rows = d == 0 ? 0 : io.inputs[0].size() / (inverse ? 2 * d : d);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
      if (inverse) RealToComplex(io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), rows, d, -1, io.req[0]);
      else ComplexToReal(io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), rows, d, +1, io.req[0]);
    });
  };
  const std::string what =
      inverse ? "The real part of the unnormalized inverse discrete Fourier transform along the last axis of "
                "complex data laid out [re0, im0, re1, im1, ...]: (N, 2d) -> (N, d), or (N1, N2, N3, 2d) -> "
                "(N1, N2, N3, d)."
              : "The discrete Fourier transform along the last axis of real data, as complex values laid out "
                "[re0, im0, re1, im1, ...]: (N, d) -> (N, 2d), or (N1, N2, N3, d) -> (N1, N2, N3, 2d).";
  return Described(std::move(def), what,
                   {{"data", inverse ? "Input data to the IFFTOp." : "Input data to the FFTOp."}},
                   {Optional("compute_size", "int", "'128'",
                             "Maximum size of sub-batch to be forwarded at one time (MXNet's cuFFT batching; "
                             "it does not change the result).")});
}

FLOWMOD_REGISTER_OP(TransformDef(false));
FLOWMOD_REGISTER_OP(TransformDef(true));

}  // namespace

}  // namespace flowmod::ops
