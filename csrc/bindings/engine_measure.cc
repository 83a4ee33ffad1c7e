// Measurements of the engine's own cost that must run entirely in C++ (a Python loop would
// measure Python): benchmarks/engine_bench.py calls these.
#include <pybind11/pybind11.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine.h"

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

}  // namespace

void BindEngineMeasure(py::module_& m) {
  m.def("measure_push", &MeasurePush, py::arg("pattern"), py::arg("n"), py::arg("num_vars") = 1,
        "measure_push(pattern, n, num_vars=1) -> (seconds, floor_seconds)\n\n"
        "Pushes n native no-op operations from C++ ('chain' or 'independent') and waits.");
}

}  // namespace flowmod::bindings
