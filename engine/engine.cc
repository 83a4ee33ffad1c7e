#include "engine.h"

#include <pthread.h>

#include <cstdlib>
#include <mutex>

#include "naive_engine.h"
#include "threaded_engine.h"
#include "var.h"

namespace flowmod::engine {

std::string ErrorInfo::What() const {
  return "operator '" + op_name + "' failed: " + message;
}

OpError::OpError(std::shared_ptr<const ErrorInfo> info)
    : std::runtime_error(info->What()), info_(std::move(info)) {}

void Completion::Fail(std::string message) const { Finish(&message); }

void Completion::Finish(std::string* error) const {
  if (finish_ != nullptr) finish_(owner_, op_, error);
}

Engine::Engine() : stats_(std::make_unique<Stats>()) {}

uint64_t Engine::VersionOf(const Var* var) { return var->version(); }

Profiler& ProfilerOf(Engine* engine) {
  if (auto* t = dynamic_cast<ThreadedEngine*>(engine)) return t->profiler();
  return dynamic_cast<NaiveEngine&>(*engine).profiler();
}

std::unique_ptr<Engine> CreateEngine(std::string_view type) {
  if (type == "NaiveEngine") return std::make_unique<NaiveEngine>();
  if (type == "ThreadedEngine" || type == "ThreadedEnginePerDevice" || type.empty())
    return std::make_unique<ThreadedEngine>();
  throw std::invalid_argument("FLOWMOD_ENGINE_TYPE='" + std::string(type) +
                              "': expected 'ThreadedEngine' or 'NaiveEngine'");
}

namespace {
Engine* global_engine = nullptr;

ThreadedEngine* GlobalThreaded() { return dynamic_cast<ThreadedEngine*>(global_engine); }
void ForkPrepare() {
  if (auto* e = GlobalThreaded()) e->PrepareFork();
}
void ForkParent() {
  if (auto* e = GlobalThreaded()) e->AfterForkParent();
}
void ForkChild() {
  if (auto* e = GlobalThreaded()) e->AfterForkChild();
}
}  // namespace

Engine* Engine::Get() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* type = std::getenv("FLOWMOD_ENGINE_TYPE");
    // Never destroyed: worker threads may still be running while static destructors run at
    // exit, and they must not find the engine gone. Shutdown() stops them in an orderly way.
    global_engine = CreateEngine(type ? type : "").release();
    pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  });
  return global_engine;
}

}  // namespace flowmod::engine
