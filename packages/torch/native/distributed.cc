// torch.distributed on libtorch's own c10d: a TCPStore for the rendezvous, ProcessGroupGloo for
// the collectives, c10d::Reducer for DistributedDataParallel's bucketed gradient all-reduce.
// No collective is implemented here; this file only moves arguments, waits and reports errors.
//
// One process group per process (torch.distributed's default group). Its objects are allocated
// and never freed at exit: ProcessGroupGloo's destructor waits for queued work, and after a peer
// has died that wait must not keep a process that is exiting alive.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <cstdlib>
#include <memory>
#include <string>

#include "ops.h"

namespace dt {
namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};
Group* g_group = nullptr;  // leaked on purpose (see the header comment)

// The first line of an exception's message: Gloo and c10d append source paths and backtraces.
std::string FirstLine(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  // Gloo prefixes "[/build/.../pair.cc:598] "; the path says nothing to a user.
  if (!line.empty() && line[0] == '[') {
    size_t end = line.find("] ");
    if (end != std::string::npos && line.find(".cc:") < end) line = line.substr(end + 2);
  }
  return line;
}

std::string ExceptionText(std::exception_ptr p) {
  try {
    std::rethrow_exception(p);
  } catch (const c10::Error& e) {
    return FirstLine(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return FirstLine(e.what());
  } catch (...) {
    return "unknown error";
  }
}

[[noreturn]] void Fail(Napi::Env env, const std::string& what, std::exception_ptr p) {
  int rank = g_group ? g_group->rank : -1;
  std::string who = rank >= 0 ? "distributed (rank " + std::to_string(rank) + "): " : "distributed: ";
  throw Napi::Error::New(env, who + what + " failed: " + ExceptionText(p));
}

Group& Need(Napi::Env env, const char* what) {
  if (g_group == nullptr || !g_group->pg) {
    throw Napi::Error::New(env, std::string("distributed: ") + what +
                                    " needs a process group; call distributed.initProcessGroup() first");
  }
  return *g_group;
}

// initProcessGroup(host, port, rank, worldSize, timeoutMs)
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_group != nullptr && g_group->pg) {
    throw Napi::Error::New(env, "distributed: the process group is already initialized; call destroyProcessGroup() first");
  }
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  int rank = info[2].As<Napi::Number>().Int32Value();
  int size = info[3].As<Napi::Number>().Int32Value();
  std::chrono::milliseconds timeout(info[4].As<Napi::Number>().Int64Value());
  auto* group = new Group();
  group->rank = rank;
  group->size = size;
  group->timeout = timeout;
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(port);
    o.isServer = rank == 0;
    o.numWorkers = static_cast<size_t>(size);
    o.waitWorkers = false;  // the process group's own rendezvous waits for everyone
    o.timeout = timeout;
    group->store = c10::make_intrusive<c10d::TCPStore>(host, o);
  } catch (...) {
    std::string where = host + ":" + std::to_string(port);
    std::string what = rank == 0 ? "starting the rendezvous store on " + where : "connecting to the rendezvous store at " + where;
    g_group = group;
    Fail(env, what, std::current_exception());
  }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
    if (iface != nullptr && *iface) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    } else if (host == "localhost" || host.rfind("127.", 0) == 0) {
      // Every worker is on this machine: talk over loopback whatever the hostname resolves to.
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    group->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(group->store, rank, size, opts);
  } catch (...) {
    g_group = group;
    Fail(env, "joining the process group (" + std::to_string(size) + " processes)", std::current_exception());
  }
  g_group = group;
  return env.Undefined();
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  if (g_group != nullptr) {
    g_group->pg.reset();
    g_group->store.reset();
    g_group = nullptr;
  }
  return info.Env().Undefined();
}

Napi::Value IsInitialized(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), g_group != nullptr && g_group->pg);
}

// --- Work handles ----------------------------------------------------------------------------
// A collective returns a Work; `finish` runs on the JS thread after it completed (copy results
// into non-contiguous destinations, divide for an average, wrap all-gather outputs).
struct WorkBox {
  std::string what;
  c10::intrusive_ptr<c10d::Work> work;
  std::function<void()> finish;
  bool finished = false;
  std::vector<at::Tensor> outputs;
};
using WorkPtr = std::shared_ptr<WorkBox>;

Napi::Value WrapWork(Napi::Env env, WorkPtr w) {
  auto* boxed = new WorkPtr(std::move(w));
  return Napi::External<WorkPtr>::New(env, boxed, [](Napi::Env, WorkPtr* p) { delete p; });
}

WorkPtr UnwrapWork(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(env, "expected a distributed Work handle");
  return *v.As<Napi::External<WorkPtr>>().Data();
}

Napi::Value FinishWork(Napi::Env env, WorkBox& w) {
  if (!w.finished) {
    w.finished = true;
    DT_GUARD(env, { if (w.finish) w.finish(); })
  }
  if (w.outputs.empty()) return env.Undefined();
  Napi::Array arr = Napi::Array::New(env, w.outputs.size());
  for (size_t i = 0; i < w.outputs.size(); i++) arr.Set(i, WrapTensor(env, w.outputs[i]));
  return arr;
}

// workWait(work): blocks this thread until the collective is done (or failed / timed out).
Napi::Value WorkWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WorkPtr w = UnwrapWork(env, info[0]);
  try {
    w->work->wait();
  } catch (...) {
    Fail(env, w->what, std::current_exception());
  }
  return FinishWork(env, *w);
}

Napi::Value WorkIsCompleted(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), UnwrapWork(info.Env(), info[0])->work->isCompleted());
}

// Waits on a libuv worker thread so the event loop keeps running; resolves on the JS thread.
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, WorkPtr w) : Napi::AsyncWorker(env), work_(std::move(w)), deferred_(env) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      work_->work->wait();
    } catch (...) {
      error_ = ExceptionText(std::current_exception());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!error_.empty()) {
      int rank = g_group ? g_group->rank : -1;
      deferred_.Reject(Napi::Error::New(env, "distributed (rank " + std::to_string(rank) + "): " + work_->what +
                                                 " failed: " + error_).Value());
      return;
    }
    try {
      deferred_.Resolve(FinishWork(env, *work_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  WorkPtr work_;
  Napi::Promise::Deferred deferred_;
  std::string error_;
};

Napi::Value WorkWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* worker = new WaitWorker(env, UnwrapWork(env, info[0]));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// --- Collectives -------------------------------------------------------------------------------

// Gloo reads and writes raw contiguous buffers; a strided tensor goes through a contiguous copy
// that is written back when the collective has finished. Gloo in libtorch 1.13 has no bfloat16
// or bool: those travel as float32 / uint8 (exact: every bfloat16 is a float32, and a sum of
// bfloat16 values is rounded once, on the way back).
c10::ScalarType Carrier(c10::ScalarType s) {
  if (s == at::kBFloat16) return at::kFloat;
  if (s == at::kBool) return at::kByte;
  return s;
}

at::Tensor Staged(const at::Tensor& t, std::function<void()>& finish) {
  c10::ScalarType carrier = Carrier(t.scalar_type());
  if (t.is_contiguous() && carrier == t.scalar_type()) return t;
  at::Tensor c = t.to(carrier).contiguous();
  at::Tensor dst = t;
  auto prev = finish;
  finish = [prev, dst, c]() mutable {
    dst.copy_(c);
    if (prev) prev();
  };
  return c;
}

c10d::ReduceOp ParseOp(Napi::Env env, const std::string& op) {
  if (op == "sum" || op == "avg") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  throw Napi::RangeError::New(env, "distributed: unknown reduce op '" + op + "' (sum, avg, max, min, product)");
}

// allReduce(t, op) -> Work. 'avg' is a sum divided by the world size: Gloo has no AVG.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = Need(env, "allReduce");
  at::Tensor t = UnwrapTensor(env, info[0], "allReduce tensor");
  std::string op = info[1].As<Napi::String>().Utf8Value();
  c10d::AllreduceOptions o;
  o.reduceOp = ParseOp(env, op);
  if (op == "avg" && !at::isFloatingType(t.scalar_type())) {
    throw Napi::TypeError::New(env, "distributed: allReduce 'avg' needs a floating tensor, got " +
                                        std::string(c10::toString(t.scalar_type())));
  }
  auto w = std::make_shared<WorkBox>();
  w->what = "allReduce(" + op + ")";
  std::vector<at::Tensor> ts{Staged(t, w->finish)};
  if (op == "avg") {
    at::Tensor c = ts[0];
    int size = g.size;
    auto copyBack = w->finish;
    w->finish = [c, size, copyBack]() mutable {
      c.div_(size);
      if (copyBack) copyBack();
    };
  }
  try {
    w->work = g.pg->allreduce(ts, o);
  } catch (...) {
    Fail(env, w->what, std::current_exception());
  }
  return WrapWork(env, w);
}

// broadcast(t, src) -> Work
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = Need(env, "broadcast");
  at::Tensor t = UnwrapTensor(env, info[0], "broadcast tensor");
  c10d::BroadcastOptions o;
  o.rootRank = info[1].As<Napi::Number>().Int32Value();
  auto w = std::make_shared<WorkBox>();
  w->what = "broadcast(from " + std::to_string(o.rootRank) + ")";
  std::vector<at::Tensor> ts{Staged(t, w->finish)};
  try {
    w->work = g.pg->broadcast(ts, o);
  } catch (...) {
    Fail(env, w->what, std::current_exception());
  }
  return WrapWork(env, w);
}

// allGather(t) -> Work whose result is one tensor per rank.
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = Need(env, "allGather");
  at::Tensor src = UnwrapTensor(env, info[0], "allGather tensor");
  at::Tensor t = src.to(Carrier(src.scalar_type())).contiguous();
  auto w = std::make_shared<WorkBox>();
  w->what = "allGather";
  std::vector<at::Tensor> outs;
  for (int i = 0; i < g.size; i++) outs.push_back(at::empty_like(t, at::MemoryFormat::Contiguous));
  w->outputs = outs;
  if (t.scalar_type() != src.scalar_type()) {
    WorkBox* box = w.get();
    c10::ScalarType dtype = src.scalar_type();
    w->finish = [box, dtype]() {
      for (auto& o : box->outputs) o = o.to(dtype);
    };
  }
  std::vector<std::vector<at::Tensor>> out{outs};
  std::vector<at::Tensor> in{t};
  try {
    w->work = g.pg->allgather(out, in);
  } catch (...) {
    Fail(env, w->what, std::current_exception());
  }
  return WrapWork(env, w);
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = Need(env, "barrier");
  auto w = std::make_shared<WorkBox>();
  w->what = "barrier";
  try {
    w->work = g.pg->barrier();
  } catch (...) {
    Fail(env, w->what, std::current_exception());
  }
  return WrapWork(env, w);
}

// --- DistributedDataParallel's reducer ---------------------------------------------------------
using ReducerPtr = std::shared_ptr<c10d::Reducer>;

std::vector<at::Tensor> Tensors(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(UnwrapTensor(env, a.Get(i), what));
  return out;
}

// broadcastCoalesced(tensors, src): one flattened broadcast per ~bufferBytes of tensors.
Napi::Value BroadcastCoalesced(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = Need(env, "broadcastCoalesced");
  auto ts = Tensors(env, info[0], "broadcastCoalesced tensors");
  int src = info[1].As<Napi::Number>().Int32Value();
  size_t bufferBytes = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  try {
    at::NoGradGuard noGrad;
    c10d::broadcast_coalesced(g.pg, ts, bufferBytes, src);
  } catch (...) {
    Fail(env, "broadcasting the parameters from rank " + std::to_string(src), std::current_exception());
  }
  return env.Undefined();
}

// reducerNew(params, bucketCapBytes, firstBucketCapBytes, findUnusedParameters) -> handle.
// Buckets as PyTorch's DistributedDataParallel builds them: by size over the parameters in
// definition order, then reversed, because backward produces the last layers' gradients first
// and the reducer launches buckets in order.
Napi::Value ReducerNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Group& g = Need(env, "DistributedDataParallel");
  auto params = Tensors(env, info[0], "DistributedDataParallel parameters");
  size_t cap = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  size_t firstCap = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  bool findUnused = info[3].ToBoolean().Value();
  ReducerPtr reducer;
  try {
    std::vector<bool> sparse(params.size(), false);
    std::vector<std::vector<size_t>> buckets;
    std::vector<size_t> limits;
    std::tie(buckets, limits) = c10d::compute_bucket_assignment_by_size(params, {firstCap, cap}, sparse);
    std::reverse(buckets.begin(), buckets.end());
    std::reverse(limits.begin(), limits.end());
    std::unordered_map<size_t, std::string> names;
    // gradient_as_bucket_view = false: .grad stays its own tensor, as the optimizers expect.
    reducer.reset(new c10d::Reducer(params, buckets, limits, g.pg, sparse, static_cast<int64_t>(cap), findUnused,
                                    false, names, static_cast<int64_t>(firstCap)));
  } catch (...) {
    Fail(env, "setting up DistributedDataParallel's buckets", std::current_exception());
  }
  auto* boxed = new ReducerPtr(std::move(reducer));
  return Napi::External<ReducerPtr>::New(env, boxed, [](Napi::Env, ReducerPtr* p) { delete p; });
}

ReducerPtr UnwrapReducer(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(env, "expected a DistributedDataParallel reducer handle");
  ReducerPtr r = *v.As<Napi::External<ReducerPtr>>().Data();
  if (!r) throw Napi::Error::New(env, "DistributedDataParallel: the reducer was disposed");
  return r;
}

// reducerPrepare(reducer, outputs): arms the autograd hooks for the next backward (skipping it
// is how no_sync() accumulates locally). outputs are searched for unused parameters.
Napi::Value ReducerPrepare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReducerPtr r = UnwrapReducer(env, info[0]);
  auto outputs = Tensors(env, info[1], "DistributedDataParallel outputs");
  DT_GUARD(env, { r->prepare_for_backward(outputs); })
  return env.Undefined();
}

Napi::Value ReducerDispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) throw Napi::TypeError::New(env, "expected a DistributedDataParallel reducer handle");
  info[0].As<Napi::External<ReducerPtr>>().Data()->reset();
  return env.Undefined();
}

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
  Napi::Object d = Napi::Object::New(env);
  d.Set("init", Napi::Function::New(env, Init));
  d.Set("destroy", Napi::Function::New(env, Destroy));
  d.Set("isInitialized", Napi::Function::New(env, IsInitialized));
  d.Set("allReduce", Napi::Function::New(env, AllReduce));
  d.Set("broadcast", Napi::Function::New(env, Broadcast));
  d.Set("allGather", Napi::Function::New(env, AllGather));
  d.Set("barrier", Napi::Function::New(env, Barrier));
  d.Set("workWait", Napi::Function::New(env, WorkWait));
  d.Set("workWaitAsync", Napi::Function::New(env, WorkWaitAsync));
  d.Set("workIsCompleted", Napi::Function::New(env, WorkIsCompleted));
  d.Set("broadcastCoalesced", Napi::Function::New(env, BroadcastCoalesced));
  d.Set("reducerNew", Napi::Function::New(env, ReducerNew));
  d.Set("reducerPrepare", Napi::Function::New(env, ReducerPrepare));
  d.Set("reducerDispose", Napi::Function::New(env, ReducerDispose));
  d.Set("backends", Napi::String::New(env, "gloo"));
  exports.Set("distributed", d);
}

}  // namespace dt
