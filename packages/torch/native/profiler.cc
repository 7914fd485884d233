// An operator profiler: a RecordFunction callback that sums, per operator name, the calls, the
// inclusive time and the self time (inclusive minus nested operators) on the thread that starts
// profiling — autograd's backward runs there too on the CPU, so forward and backward both show.
// Like torch.profiler's key_averages(), for finding where a step's time goes (docs/performance.md).
#include <ATen/record_function.h>

#include <chrono>
#include <ctime>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ops.h"

namespace dt {
namespace {

// Nanoseconds on the chosen clock: wall (steady) or this thread's CPU time. The CPU clock makes
// single-threaded profiles immune to other processes on a busy machine.
bool useCpuClock = false;
double nowNs() {
  if (useCpuClock) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Totals {
  int64_t calls = 0;
  double totalNs = 0, selfNs = 0;
};

struct Frame {
  double start;
  double childNs = 0;
};

struct ProfilerState {
  bool active = false;
  at::CallbackHandle handle = 0;
  std::thread::id thread;
  std::vector<Frame> stack;
  std::map<std::string, Totals> totals;
};

ProfilerState& state() {
  static ProfilerState s;
  return s;
}

std::unique_ptr<at::ObserverContext> onStart(const at::RecordFunction&) {
  auto& s = state();
  if (std::this_thread::get_id() == s.thread) s.stack.push_back(Frame{nowNs(), 0});
  return nullptr;
}

void onEnd(const at::RecordFunction& fn, at::ObserverContext*) {
  auto& s = state();
  if (std::this_thread::get_id() != s.thread || s.stack.empty()) return;
  const Frame f = s.stack.back();
  s.stack.pop_back();
  const double ns = nowNs() - f.start;
  Totals& t = s.totals[fn.name()];
  t.calls++;
  t.totalNs += ns;
  t.selfNs += ns - f.childNs;
  if (!s.stack.empty()) s.stack.back().childNs += ns;
}

// profilerStart(cpuClock: boolean): begins collecting on this thread (restarts if collecting).
Napi::Value ProfilerStart(const Napi::CallbackInfo& info) {
  auto& s = state();
  useCpuClock = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  if (s.active) at::removeCallback(s.handle);
  s.totals.clear();
  s.stack.clear();
  s.thread = std::this_thread::get_id();
  s.handle = at::addGlobalCallback(at::RecordFunctionCallback(onStart, onEnd).needsInputs(false));
  s.active = true;
  return info.Env().Undefined();
}

// profilerStop() -> [name, calls, totalMs, selfMs][]: stops and returns the sums.
Napi::Value ProfilerStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = state();
  if (s.active) at::removeCallback(s.handle);
  s.active = false;
  Napi::Array out = Napi::Array::New(env, s.totals.size());
  uint32_t i = 0;
  for (const auto& [name, t] : s.totals) {
    Napi::Array row = Napi::Array::New(env, 4);
    row.Set(0u, Napi::String::New(env, name));
    row.Set(1u, Napi::Number::New(env, static_cast<double>(t.calls)));
    row.Set(2u, Napi::Number::New(env, t.totalNs / 1e6));
    row.Set(3u, Napi::Number::New(env, t.selfNs / 1e6));
    out.Set(i++, row);
  }
  s.totals.clear();
  return out;
}

}  // namespace

void InitProfiler(Napi::Env env, Napi::Object exports) {
  exports.Set("profilerStart", Napi::Function::New(env, ProfilerStart));
  exports.Set("profilerStop", Napi::Function::New(env, ProfilerStop));
}

}  // namespace dt
