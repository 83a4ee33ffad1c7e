// flowmod._native.GraphExecutor: the planned graph behind flowmod.executor.Executor. Python
// checks the user's arguments and builds the node list; this layer converts it once at bind,
// and forward/backward are one call each.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "executor/graph_executor.h"

namespace py = pybind11;

namespace flowmod::bindings {

namespace {

ops::OpReq ReqOf(const std::string& r) {
  if (r == "null") return ops::OpReq::kNull;
  if (r == "write") return ops::OpReq::kWrite;
  if (r == "add") return ops::OpReq::kAdd;
  throw std::invalid_argument("grad_req='" + r + "': expected 'write', 'add' or 'null'");
}

using NodeTuple = std::tuple<std::string, std::string, ops::AttrMap, std::vector<std::pair<int, int>>, int>;
using VarTuple = std::tuple<std::optional<NDArray>, std::optional<NDArray>, std::string>;

}  // namespace

void BindExecutor(py::module_& m) {
  using executor::GraphExecutor;
  py::class_<GraphExecutor, std::shared_ptr<GraphExecutor>>(
      m, "GraphExecutor", "A symbolic graph planned once and run by pushing its nodes to the engine.")
      .def(py::init([](const std::vector<NodeTuple>& nodes, std::vector<std::pair<int, int>> heads,
                       const std::vector<VarTuple>& vars, int dev_type, int dev_id,
                       const std::shared_ptr<GraphExecutor>& shared) {
             if (dev_type != 1 || dev_id < 0)
               throw std::invalid_argument("bind: device (" + std::to_string(dev_type) + ", " +
                                           std::to_string(dev_id) + "): expected a CPU device");
             std::vector<executor::NodeSpec> specs;
             specs.reserve(nodes.size());
             for (const auto& [op, name, attrs, inputs, device] : nodes)
               specs.push_back(executor::NodeSpec{op, name, attrs, inputs, device});
             std::vector<executor::VarBinding> bindings;
             bindings.reserve(vars.size());
             for (const auto& [value, grad, req] : vars)
               bindings.push_back(executor::VarBinding{value, grad, ReqOf(req)});
             return std::make_shared<GraphExecutor>(std::move(specs), std::move(heads), std::move(bindings),
                                                    engine::DeviceId::Cpu(dev_id), shared.get());
           }),
           py::arg("nodes"), py::arg("heads"), py::arg("vars"), py::arg("dev_type"), py::arg("dev_id"),
           py::arg("shared") = nullptr,
           "GraphExecutor(nodes, heads, vars, dev_type, dev_id, shared=None): nodes are (op, name,\n"
           "attrs, [(node, output)], device index or -1) in topological order (op '' for a\n"
           "variable), heads (node, output) pairs, vars one (value, grad, req) per node.")
      .def("forward", &GraphExecutor::Forward, py::arg("is_train"), py::arg("monitor") = false,
           py::arg("monitor_inputs") = false,
           "forward(is_train, monitor=False, monitor_inputs=False) -> [(name, copy)]: pushes the\n"
           "forward pass; with monitor, copies of every operator's outputs (and inputs).")
      .def("backward", &GraphExecutor::Backward, py::arg("head_grads"), py::arg("is_train") = true,
           py::arg("monitor") = false,
           "backward(head_grads, is_train=True, monitor=False) -> [(name, copy)]: pushes the\n"
           "backward pass; head_grads holds one array or None (for a loss head) per output, or is\n"
           "empty (only loss heads); with monitor, copies of every backward node's outputs.")
      .def("measure_kernels", &GraphExecutor::MeasureKernels, py::arg("is_train"), py::arg("reps"),
           py::call_guard<py::gil_scoped_release>(),
           "measure_kernels(is_train, reps) -> [(name, seconds)]: waits for pushed work, then runs\n"
           "every forward and backward kernel directly, reps passes in order, and gives each\n"
           "kernel's mean time per pass, for benchmarks.")
      .def_property_readonly("outputs", &GraphExecutor::outputs)
      .def_property_readonly("has_backward", &GraphExecutor::has_backward)
      .def_property_readonly("stats", [](const GraphExecutor& e) {
        const executor::PlanStats& s = e.stats();
        py::dict d;
        d["op_nodes"] = s.op_nodes;
        d["backward_nodes"] = s.backward_nodes;
        d["entries"] = s.entries;
        d["blocks"] = s.blocks;
        d["inplace"] = s.inplace;
        d["shared_blocks"] = s.shared_blocks;
        d["planned_bytes"] = s.planned_bytes;
        d["naive_bytes"] = s.naive_bytes;
        return d;
      });
}

}  // namespace flowmod::bindings
