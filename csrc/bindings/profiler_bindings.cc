// flowmod._native's face of the engine's timeline recorder; flowmod/profiler.py builds the
// trace and the aggregate table from what this hands over.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <unordered_map>

#include "engine.h"
#include "profiler.h"

namespace py = pybind11;
namespace eng = flowmod::engine;

namespace flowmod::bindings {

namespace {

eng::Engine* TheEngine() { return eng::Engine::Get(); }

// (threads, names, slots): threads is a list of (thread, ops), each op a tuple
// (name, slot, start_ns, end_ns, failed, async, deps) with deps a list of
// (var, version, write); names maps each name seen to (label, kind, detail); slots maps each
// slot seen to (device type, device index, lane).
py::tuple Collect() {
  std::vector<eng::ThreadTrace> traces;
  {
    py::gil_scoped_release nogil;
    traces = eng::ProfilerOf(TheEngine()).Collect();
  }
  std::unordered_map<eng::OpName, bool> names_seen;
  py::list threads;
  for (const auto& t : traces) {
    py::list ops;
    for (const auto& op : t.ops) {
      py::list deps;
      for (const auto& d : op.deps) deps.append(py::make_tuple(d.var, d.version, d.write));
      ops.append(py::make_tuple(op.name, op.slot, op.start_ns, op.end_ns, op.failed, op.async,
                                std::move(deps)));
      names_seen.emplace(op.name, true);
    }
    threads.append(py::make_tuple(t.thread, std::move(ops)));
  }
  eng::Stats& stats = TheEngine()->stats();
  py::dict names;
  for (const auto& [id, _] : names_seen)
    names[py::int_(id)] = py::make_tuple(eng::ProfilerOf(TheEngine()).LabelOf(id),
                                         stats.NameOf(id),
                                         eng::ProfilerOf(TheEngine()).DetailOf(id));
  py::dict slots;
  const eng::StatsSnapshot snap = stats.Snapshot();
  for (size_t s = 0; s < snap.lanes.size(); ++s) {
    const auto& l = snap.lanes[s];
    slots[py::int_(s)] = py::make_tuple(eng::DeviceTypeName(l.device.type), l.device.index,
                                        eng::LaneName(l.lane));
  }
  return py::make_tuple(std::move(threads), std::move(names), std::move(slots));
}

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

void BindProfiler(py::module_& m) {
  m.def("profiler_start", [] { eng::ProfilerOf(TheEngine()).Start(); });
  m.def("profiler_stop", [] { eng::ProfilerOf(TheEngine()).Stop(); });
  m.def("profiler_running", [] { return eng::ProfilerOf(TheEngine()).running(); });
  m.def("profiler_collect", &Collect,
        "profiler_collect() -> (threads, names, slots): every operation recorded since the "
        "last call.");
  m.def("profiler_now_ns", &NowNs, "The engine's clock (steady_clock), in nanoseconds.");
}

}  // namespace flowmod::bindings
