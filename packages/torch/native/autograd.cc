// Autograd: backward, grad, .grad access, grad mode, and checkpointing through a JS callback.
#include <torch/csrc/autograd/custom_function.h>

#include <unordered_map>

#include "ops.h"

namespace dt {
namespace {

std::vector<at::Tensor> TensorArray(Napi::Env env, Napi::Value v, const char* what, bool allowNull) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (allowNull && (e.IsNull() || e.IsUndefined())) {
      out.emplace_back();
    } else {
      out.push_back(UnwrapTensor(env, e, what));
    }
  }
  return out;
}

Napi::Array HandleArray(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) arr.Set(i, ts[i].defined() ? WrapTensor(env, ts[i]) : env.Null());
  return arr;
}

// backward(tensors, grads (null = ones), retainGraph, createGraph, inputs?)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto tensors = TensorArray(env, info[0], "backward tensors", false);
  auto grads = TensorArray(env, info[1], "backward gradients", true);
  c10::optional<bool> retain;
  if (info[2].IsBoolean()) retain = info[2].As<Napi::Boolean>().Value();
  bool create = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  std::vector<at::Tensor> inputs;
  if (info[4].IsArray()) inputs = TensorArray(env, info[4], "backward inputs", false);
  DT_GUARD(env, { torch::autograd::backward(tensors, grads, retain, create, inputs); })
  return env.Undefined();
}

// grad(outputs, inputs, gradOutputs, retainGraph, createGraph, allowUnused) -> (Tensor|null)[]
Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto outputs = TensorArray(env, info[0], "grad outputs", false);
  auto inputs = TensorArray(env, info[1], "grad inputs", false);
  auto gradOutputs = TensorArray(env, info[2], "grad gradOutputs", true);
  c10::optional<bool> retain;
  if (info[3].IsBoolean()) retain = info[3].As<Napi::Boolean>().Value();
  bool create = info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  bool allowUnused = info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value();
  std::vector<at::Tensor> result;
  DT_GUARD(env, { result = torch::autograd::grad(outputs, inputs, gradOutputs, retain, create, allowUnused); })
  return HandleArray(env, result);
}

Napi::Value GetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = UnwrapTensor(env, info[0]);
  const at::Tensor& g = t.grad();
  return g.defined() ? WrapTensor(env, g) : env.Null();
}

// setGrad(t, g | null)
Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = UnwrapTensor(env, info[0]);
  DT_GUARD(env, {
    if (info[1].IsNull() || info[1].IsUndefined()) {
      t.mutable_grad().reset();
    } else {
      // The checks PyTorch makes on `x.grad = g`; libtorch's mutable_grad() makes none, and a
      // mismatched gradient would corrupt the next accumulation or optimizer step.
      const at::Tensor& g = UnwrapTensor(env, info[1], "grad");
      TORCH_CHECK(g.sizes() == t.sizes(), "assigned grad has data of a different size: ", g.sizes(),
                  " for a tensor of size ", t.sizes());
      TORCH_CHECK(g.scalar_type() == t.scalar_type(), "assigned grad has data of a different type: ",
                  g.scalar_type(), " for a tensor of type ", t.scalar_type());
      TORCH_CHECK(g.device() == t.device(), "assigned grad has data on a different device: ", g.device(),
                  " for a tensor on ", t.device());
      t.mutable_grad() = g;
    }
  })
  return env.Undefined();
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = UnwrapTensor(env, info[0]);
  if (!info[1].IsBoolean()) throw Napi::TypeError::New(env, "requiresGrad_ expects a boolean");
  DT_GUARD(env, { t.set_requires_grad(info[1].As<Napi::Boolean>().Value()); })
  return env.Undefined();
}

// setData(t, src): t takes src's data (any dtype/device) keeping its identity and autograd
// flags, as Python's `param.data = src` (Module.to() relies on it).
Napi::Value SetData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = UnwrapTensor(env, info[0]);
  const at::Tensor& src = UnwrapTensor(env, info[1], "data");
  DT_GUARD(env, { t.set_data(src); })
  return env.Undefined();
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), UnwrapTensor(info.Env(), info[0]).is_leaf());
}

Napi::Value GradFnName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = UnwrapTensor(env, info[0]);
  auto fn = t.grad_fn();
  return fn ? Napi::String::New(env, fn->name()) : env.Null();
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "setGradEnabled expects a boolean");
  at::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled());
}

// --- Gradient checkpointing -------------------------------------------------------------
// The forward runs the JS function without grad; backward runs it again with grad enabled and
// backpropagates through the recomputed graph (PyTorch's torch.utils.checkpoint, reentrant form).
// CPU backward runs on the calling (JS) thread, which is what makes calling JS from here legal.

struct CheckpointClosure : torch::CustomClassHolder {
  napi_env env;
  Napi::FunctionReference fn;
};
using ClosurePtr = c10::intrusive_ptr<CheckpointClosure>;

std::vector<at::Tensor> CallClosure(CheckpointClosure& c, const std::vector<at::Tensor>& inputs) {
  Napi::Env env(c.env);
  Napi::Value result = c.fn.Call({HandleArray(env, inputs)});
  return TensorArray(env, result, "checkpoint function result", false);
}

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                at::TensorList inputList, ClosurePtr closure) {
    // Taken as a TensorList: that is the form apply() counts as differentiable inputs.
    std::vector<at::Tensor> inputs = inputList.vec();
    // The graph node owns the closure (a capsule), so it lives exactly as long as the graph.
    ctx->saved_data["closure"] = c10::IValue::make_capsule(closure);
    ctx->save_for_backward(inputs);
    at::NoGradGuard noGrad;
    return CallClosure(*closure, inputs);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    auto closure = c10::static_intrusive_pointer_cast<CheckpointClosure>(ctx->saved_data["closure"].toCapsule());
    auto saved = ctx->get_saved_variables();
    std::vector<at::Tensor> inputs;
    for (auto& s : saved) inputs.push_back(s.detach().requires_grad_(s.requires_grad()));
    std::vector<at::Tensor> outputs;
    {
      at::AutoGradMode enable(true);
      outputs = CallClosure(*closure, inputs);
    }
    std::vector<at::Tensor> outs, grads;
    for (size_t i = 0; i < outputs.size() && i < gradOutputs.size(); i++) {
      if (outputs[i].requires_grad() && gradOutputs[i].defined()) {
        outs.push_back(outputs[i]);
        grads.push_back(gradOutputs[i]);
      }
    }
    if (!outs.empty()) torch::autograd::backward(outs, grads);
    torch::autograd::variable_list result;
    for (auto& in : inputs) result.push_back(in.requires_grad() ? in.grad() : at::Tensor());
    result.emplace_back();  // the closure is not differentiable
    return result;
  }
};

// checkpoint(fn, inputs) -> outputs; fn(inputs: handle[]) must return handle[].
Napi::Value Checkpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "checkpoint(fn, inputs): fn must be a function");
  auto inputs = TensorArray(env, info[1], "checkpoint inputs", false);
  auto closure = c10::make_intrusive<CheckpointClosure>();
  closure->env = env;
  closure->fn = Napi::Persistent(info[0].As<Napi::Function>());
  std::vector<at::Tensor> outputs;
  DT_GUARD(env, { outputs = CheckpointFunction::apply(at::TensorList(inputs), closure); })
  return HandleArray(env, outputs);
}

}  // namespace

void InitAutograd(Napi::Env env, Napi::Object exports) {
  exports.Set("backward", Napi::Function::New(env, Backward));
  exports.Set("grad", Napi::Function::New(env, Grad));
  exports.Set("getGrad", Napi::Function::New(env, GetGrad));
  exports.Set("setGrad", Napi::Function::New(env, SetGrad));
  exports.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad));
  exports.Set("setData", Napi::Function::New(env, SetData));
  exports.Set("isLeaf", Napi::Function::New(env, IsLeaf));
  exports.Set("gradFnName", Napi::Function::New(env, GradFnName));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
  exports.Set("checkpoint", Napi::Function::New(env, Checkpoint));
}

}  // namespace dt
