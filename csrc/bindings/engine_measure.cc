// Measurements of the engine's own cost that must run entirely in C++ (a Python loop would
// measure Python): benchmarks/engine_bench.py calls these.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine.h"
#include "ops/blas.h"

namespace py = pybind11;
namespace eng = flowmod::engine;

namespace flowmod::bindings {

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Pushes `n` no-op operations from C++ and waits for them. "chain": each writes the same var,
// so each depends on the one before. "independent": each writes one of `num_vars` vars in
// turn, so operations closer than `num_vars` apart share nothing. Returns the seconds taken
// and, as the floor, the seconds the same no-op takes called `n` times in a plain loop.
py::tuple MeasurePush(const std::string& pattern, int64_t n, int64_t num_vars) {
  if (pattern != "chain" && pattern != "independent")
    throw py::value_error("pattern='" + pattern + "': expected 'chain' or 'independent'");
  if (n <= 0 || num_vars <= 0)
    throw py::value_error("n and num_vars must be positive");
  eng::Engine* engine = eng::Engine::Get();
  const eng::OpName name = engine->stats().Intern("noop");
  const eng::Operation noop = eng::Operation::Sync([](const eng::RunContext&) {});
  std::vector<eng::Var*> vars(pattern == "chain" ? 1 : static_cast<size_t>(num_vars));
  for (auto& v : vars) v = engine->NewVar();

  double elapsed;
  {
    py::gil_scoped_release nogil;
    const auto t0 = std::chrono::steady_clock::now();
    const size_t k = vars.size();
    for (int64_t i = 0; i < n; ++i) {
      eng::Var* writes[] = {vars[static_cast<size_t>(i) % k]};
      engine->Push(noop, {}, writes, eng::Placement{}, name);
    }
    engine->WaitForAll();
    elapsed = Seconds(t0);
  }
  for (auto* v : vars) engine->DeleteVar(v);

  const eng::RunContext ctx{};
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) {
    noop.sync_fn()(ctx);
    // Keeps the compiler from dropping the loop: the call through std::function stays.
    asm volatile("" ::: "memory");
  }
  const double floor = Seconds(t0);
  return py::make_tuple(elapsed, floor);
}

// The time of one float32 product C(m x n) = op(A) op(B) through the BLAS the operators use,
// called directly (best of `reps`): the floor the matrix operators are measured against.
double MeasureSgemm(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, int reps) {
  if (m <= 0 || n <= 0 || k <= 0 || reps <= 0) throw py::value_error("m, n, k and reps must be positive");
  std::vector<float> a(static_cast<size_t>(m * k), 0.5f), b(static_cast<size_t>(k * n), 0.25f),
      c(static_cast<size_t>(m * n));
  double best = 1e30;
  py::gil_scoped_release nogil;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    ops::blas::Gemm(trans_a, trans_b, m, n, k, 1.0f, a.data(), trans_a ? m : k, b.data(), trans_b ? k : n,
                    0.0f, c.data(), n);
    best = std::min(best, Seconds(t0));
  }
  return best;
}

}  // namespace

void BindEngineMeasure(py::module_& m) {
  m.def("measure_push", &MeasurePush, py::arg("pattern"), py::arg("n"), py::arg("num_vars") = 1,
        "measure_push(pattern, n, num_vars=1) -> (seconds, floor_seconds)\n\n"
        "Pushes n native no-op operations from C++ ('chain' or 'independent') and waits.");
  m.def("blas_threads", &ops::blas::NumThreads, "blas_threads() -> int: threads per BLAS product.");
  m.def("gemm_backend", &ops::blas::Float32Backend,
        "gemm_backend() -> str: the library that runs float32 products, 'onednn' or 'openblas'.");
  m.def("measure_sgemm", &MeasureSgemm, py::arg("m"), py::arg("n"), py::arg("k"),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("reps") = 10,
        "measure_sgemm(m, n, k, trans_a=False, trans_b=False, reps=10) -> seconds\n\n"
        "The best time of one float32 BLAS product called directly from C++.");
}

}  // namespace flowmod::bindings
