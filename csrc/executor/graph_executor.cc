#include "executor/graph_executor.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace flowmod::executor {

namespace eng = engine;

GraphExecutor::GraphExecutor(std::vector<NodeSpec> nodes, std::vector<std::pair<int, int>> heads,
                             std::vector<VarBinding> vars, eng::DeviceId device,
                             const GraphExecutor* shared)
    : device_(device),
      plan_(MakePlan(Graph{nodes, heads, vars, device}, shared != nullptr ? &shared->plan_.pool : nullptr)) {}

void GraphExecutor::Push(const std::shared_ptr<const Step>& step, bool is_train) {
  if (step->run_async) {
    eng::Engine::Get()->Push(eng::Operation::Async([step, is_train](const eng::RunContext&, eng::Completion done) {
                               step->run_async(is_train, std::move(done));
                             }),
                             step->reads, step->writes, eng::Placement{step->device, step->lane}, step->name);
    return;
  }
  eng::Engine::Get()->Push(
      eng::Operation::Sync([step, is_train](const eng::RunContext&) { step->run(is_train); }), step->reads,
      step->writes, eng::Placement{step->device}, step->name);
}

std::vector<std::pair<std::string, NDArray>> GraphExecutor::Forward(bool is_train, bool monitor,
                                                                    bool monitor_inputs) {
  std::vector<std::pair<std::string, NDArray>> copies;
  for (size_t t = 0; t < plan_.steps.forward.size(); ++t) {
    Push(plan_.steps.forward[t], is_train);
    if (!monitor) continue;
    auto copy_all = [&](const std::vector<std::pair<std::string, NDArray>>& arrays) {
      for (const auto& [name, a] : arrays) {
        NDArray c(a.shape(), a.dtype(), a.device());
        Copy(a, c);
        copies.emplace_back(name, std::move(c));
      }
    };
    if (monitor_inputs) copy_all(plan_.steps.monitored_inputs[t]);
    copy_all(plan_.steps.monitored_outputs[t]);
  }
  return copies;
}

std::vector<std::pair<std::string, double>> GraphExecutor::MeasureKernels(bool is_train, int reps) {
  eng::Engine::Get()->WaitForAll();
  // `reps` passes in order, back to back (caches see what they see in a real run), and each
  // kernel's mean over them: the statistic a timed run of the executor gives, so that the two
  // compare like for like (the fastest single pass would be a floor no run reaches).
  std::vector<std::pair<std::string, double>> mean;
  for (const auto* steps : {&plan_.steps.forward, &plan_.steps.backward})
    for (const auto& s : *steps) mean.emplace_back(s->label, 0.0);
  for (int r = 0; r < std::max(reps, 1); ++r) {
    size_t i = 0;
    for (const auto* steps : {&plan_.steps.forward, &plan_.steps.backward})
      for (const auto& s : *steps) {
        // An asynchronous kernel (Python) needs the engine to run: it is not a native kernel's
        // cost, and counts as none here.
        if (!s->run) {
          ++i;
          continue;
        }
        const auto t0 = std::chrono::steady_clock::now();
        s->run(is_train);
        mean[i++].second += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
  }
  for (auto& m : mean) m.second /= std::max(reps, 1);
  return mean;
}

std::vector<std::pair<std::string, NDArray>> GraphExecutor::Backward(
    const std::vector<std::optional<NDArray>>& head_grads, bool is_train, bool monitor) {
  const std::vector<NDArray>& outputs = plan_.steps.outputs;
  // As in MXNet, an executor without gradients (grad_req 'null' everywhere) has nothing to do.
  if (!plan_.has_backward) return {};
  if (!head_grads.empty() && head_grads.size() != outputs.size())
    throw std::invalid_argument("backward: out_grads has " + std::to_string(head_grads.size()) +
                                " arrays, expected one per output (" + std::to_string(outputs.size()) + ")");
  for (size_t k = 0; k < head_grads.size(); ++k) {
    if (!head_grads[k]) continue;
    const NDArray& g = *head_grads[k];
    if (g.shape() != outputs[k].shape() || g.dtype() != outputs[k].dtype())
      throw std::invalid_argument("backward: out_grads[" + std::to_string(k) + "] has shape " +
                                  ShapeString(g.shape()) + " and type " + DTypeName(g.dtype()) + ", expected " +
                                  ShapeString(outputs[k].shape()) + " and " + DTypeName(outputs[k].dtype()));
    if (g.device().type != device_.type)
      throw std::invalid_argument("backward: out_grads[" + std::to_string(k) + "] is on " +
                                  DeviceString(g.device()) + ", expected " + DeviceString(device_));
  }
  // MXNet's rule and message: an output whose gradient flows back (not a loss head) needs one.
  for (size_t k = 0; k < outputs.size(); ++k)
    if (plan_.steps.head_grads[k].req != ops::OpReq::kNull && (k >= head_grads.size() || !head_grads[k]))
      throw std::invalid_argument(
          "backward: output " + std::to_string(k) + " is not a loss head, so its gradient is "
          "required (pass out_grads, one per output). Because the last operator is not Loss "
          "function, head_gradient is required when calling backward. If you are attempting to "
          "minimize the output as an objective, please modify your network and pass it "
          "through the make_loss symbol.");
  static const eng::OpName head_name = Intern("_head_grad");
  for (size_t k = 0; k < outputs.size(); ++k) {
    const HeadGrad& h = plan_.steps.head_grads[k];
    if (h.req == ops::OpReq::kNull) continue;
    const NDArray& src = *head_grads[k];
    eng::Var* reads[] = {src.var()};
    eng::Var* writes[] = {h.grad->var()};
    eng::Engine::Get()->Push(
        eng::Operation::Sync([s = RefOf(src), d = RefOf(*h.grad), req = h.req](const eng::RunContext&) {
          Accumulate(s, d, req);
        }),
        reads, writes, eng::Placement{device_}, head_name);
  }
  std::vector<std::pair<std::string, NDArray>> copies;
  for (size_t t = 0; t < plan_.steps.backward.size(); ++t) {
    Push(plan_.steps.backward[t], is_train);
    if (!monitor) continue;
    for (const auto& m : plan_.steps.monitored_backward[t]) {
      NDArray c(m.array.shape(), m.array.dtype(), m.array.device());
      if (m.computed)
        Copy(m.array, c);
      else
        Fill(c, 0.0);
      copies.emplace_back(m.name, std::move(c));
    }
  }
  return copies;
}

}  // namespace flowmod::executor
