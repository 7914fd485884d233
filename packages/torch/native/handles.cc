#include "handles.h"

#include <unordered_map>

namespace dt {
namespace {

// Distinct tags so a generator handle can never be read as a tensor (or a stale object as either).
const napi_type_tag kTensorTag = {0x6469666675736574ULL, 0x74656e736f720001ULL};
const napi_type_tag kGeneratorTag = {0x6469666675736574ULL, 0x67656e6572610001ULL};

struct TensorBox {
  at::Tensor t;
  const void* storageKey = nullptr;
  bool live = true;
};

struct StorageEntry {
  int64_t handles;
  int64_t bytes;
};

std::unordered_map<const void*, StorageEntry> g_storages;
int64_t g_tensors = 0;
int64_t g_bytes = 0;
bool g_tearingDown = false;

void Account(Napi::Env env, TensorBox* box) {
  g_tensors++;
  if (!box->t.defined() || !box->t.has_storage()) return;
  const void* key = box->t.storage().unsafeGetStorageImpl();
  box->storageKey = key;
  auto it = g_storages.find(key);
  if (it != g_storages.end()) {
    it->second.handles++;
    return;
  }
  int64_t bytes = static_cast<int64_t>(box->t.storage().nbytes());
  g_storages.emplace(key, StorageEntry{1, bytes});
  g_bytes += bytes;
  if (bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
}

void Release(napi_env env, TensorBox* box) {
  if (!box->live) return;
  box->live = false;
  g_tensors--;
  if (box->storageKey != nullptr) {
    auto it = g_storages.find(box->storageKey);
    if (it != g_storages.end() && --it->second.handles == 0) {
      int64_t bytes = it->second.bytes;
      g_bytes -= bytes;
      g_storages.erase(it);
      if (bytes > 0 && !g_tearingDown && env != nullptr) {
        int64_t ignored;
        napi_adjust_external_memory(env, -bytes, &ignored);
      }
    }
  }
  box->t = at::Tensor();
}

bool HasTag(Napi::Env env, Napi::Value v, const napi_type_tag& tag) {
  if (!v.IsExternal()) return false;
  bool result = false;
  if (napi_check_object_type_tag(env, v, &tag, &result) != napi_ok) return false;
  return result;
}

}  // namespace

Napi::Value WrapTensor(Napi::Env env, at::Tensor t) {
  auto* box = new TensorBox();
  box->t = std::move(t);
  Account(env, box);
  auto ext = Napi::External<TensorBox>::New(env, box, [](Napi::Env e, TensorBox* b) {
    Release(e, b);
    delete b;
  });
  napi_type_tag_object(env, ext, &kTensorTag);
  return ext;
}

bool IsTensorHandle(Napi::Env env, Napi::Value v) { return HasTag(env, v, kTensorTag); }

const at::Tensor& UnwrapTensor(Napi::Env env, Napi::Value v, const char* what) {
  if (!HasTag(env, v, kTensorTag)) {
    throw Napi::TypeError::New(env, std::string("expected a Tensor for ") + what);
  }
  auto* box = v.As<Napi::External<TensorBox>>().Data();
  if (!box->live) {
    throw Napi::Error::New(env, std::string("tensor used after dispose() (") + what + ")");
  }
  return box->t;
}

void DisposeTensor(Napi::Env env, Napi::Value v) {
  if (!HasTag(env, v, kTensorTag)) throw Napi::TypeError::New(env, "dispose: expected a Tensor handle");
  Release(env, v.As<Napi::External<TensorBox>>().Data());
}

Napi::Value WrapGenerator(Napi::Env env, at::Generator g) {
  auto* boxed = new at::Generator(std::move(g));
  auto ext = Napi::External<at::Generator>::New(env, boxed, [](Napi::Env, at::Generator* p) { delete p; });
  napi_type_tag_object(env, ext, &kGeneratorTag);
  return ext;
}

bool IsGeneratorHandle(Napi::Env env, Napi::Value v) { return HasTag(env, v, kGeneratorTag); }

at::Generator UnwrapGenerator(Napi::Env env, Napi::Value v) {
  if (!HasTag(env, v, kGeneratorTag)) throw Napi::TypeError::New(env, "expected a Generator");
  return *v.As<Napi::External<at::Generator>>().Data();
}

MemoryStats GetMemoryStats() {
  return MemoryStats{g_tensors, static_cast<int64_t>(g_storages.size()), g_bytes};
}

void MarkTearingDown() { g_tearingDown = true; }

[[noreturn]] void ThrowJs(Napi::Env env, const JsErrorInfo& info) {
  // Users see one line; a multi-line libtorch message keeps its full text on `.detail`.
  std::string message = info.message;
  std::string detail;
  size_t start = message.find_first_not_of("\n ");
  if (start != std::string::npos && start > 0) message = message.substr(start);
  size_t nl = message.find('\n');
  if (nl != std::string::npos) {
    detail = message;
    message = message.substr(0, nl);
  }
  Napi::Error err;
  if (info.kind == "TypeError") {
    err = Napi::TypeError::New(env, message);
  } else if (info.kind == "RangeError") {
    err = Napi::RangeError::New(env, message);
  } else {
    err = Napi::Error::New(env, message);
  }
  if (!detail.empty()) err.Set("detail", Napi::String::New(env, detail));
  if (!info.backtrace.empty()) err.Set("backtrace", Napi::String::New(env, info.backtrace));
  throw err;
}

}  // namespace dt
