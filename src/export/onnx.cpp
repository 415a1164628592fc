// ONNX export: a ModelProto built node by node from the network's modules, checked, then written.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "export/exporters.h"
#include "export/layers.h"

namespace digitlab::exporter {
using core::RuntimeError;

namespace {

// One graph under construction; names tensors after the modules ("3.weight", "3_relu").
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* g) : g_(g) {}

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output, const std::string& name) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(output);
    return n;
  }

  void initializer(const std::string& name, const torch::Tensor& t) {
    const torch::Tensor c = export_tensor(t);
    onnx::TensorProto* p = g_->add_initializer();
    p->set_name(name);
    p->set_data_type(onnx::TensorProto_DataType_FLOAT);
    for (int64_t d : c.sizes()) p->add_dims(d);
    // raw_data is little-endian, as the float32 tensor already is on every target here.
    p->set_raw_data(c.data_ptr(), size_t(c.numel()) * sizeof(float));
  }

 private:
  onnx::GraphProto* g_;
};

void set_ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> values) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto* n, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_INT);
  a->set_i(value);
}

void set_float(onnx::NodeProto* n, const std::string& name, float value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
  a->set_f(value);
}

// A float tensor value with a symbolic batch dimension "N" followed by `dims`.
void set_batched_type(onnx::ValueInfoProto* v, const std::string& name,
                      const std::vector<int64_t>& dims, const std::string& doc) {
  v->set_name(name);
  v->set_doc_string(doc);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  auto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

const torch::Tensor* find_tensor(const NetLayer& l, const std::string& key) {
  for (const auto& t : l.tensors) {
    if (t.first == l.name + "." + key) return &t.second;
  }
  return nullptr;
}

void add_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  auto* p = model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

// Adds the nodes of layer `l` reading tensor `x`; returns the name of its output. A residual block
// is its body's nodes, the projection Conv if any, an Add of the two paths and the activation.
std::string emit_layer(GraphBuilder& b, const NetLayer& l, std::string x, bool output) {
  const std::string& n = l.name;
  auto with_bias = [&](std::vector<std::string> in) {
    if (l.bias) in.push_back(n + ".bias");
    return in;
  };
  switch (l.type) {
    case LayerType::kConv: {
      b.initializer(n + ".weight", *find_tensor(l, "weight"));
      if (l.bias) b.initializer(n + ".bias", *find_tensor(l, "bias"));
      auto* node = b.node("Conv", with_bias({x, n + ".weight"}), n + "_conv", n + ".Conv");
      set_ints(node, "kernel_shape", {l.kernel, l.kernel});
      set_ints(node, "pads", {l.padding, l.padding, l.padding, l.padding});
      set_ints(node, "strides", {1, 1});
      set_ints(node, "dilations", {1, 1});
      set_int(node, "group", 1);
      x = n + "_conv";
      break;
    }
    case LayerType::kBatchNorm2d:
    case LayerType::kBatchNorm1d: {
      // Inference form: the running statistics, as the network computes in eval mode.
      const torch::Tensor* w = find_tensor(l, "weight");
      const torch::Tensor* bias = find_tensor(l, "bias");
      b.initializer(n + ".weight", w ? *w : torch::ones({l.out}));
      b.initializer(n + ".bias", bias ? *bias : torch::zeros({l.out}));
      b.initializer(n + ".running_mean", *find_tensor(l, "running_mean"));
      b.initializer(n + ".running_var", *find_tensor(l, "running_var"));
      auto* node = b.node("BatchNormalization",
                          {x, n + ".weight", n + ".bias", n + ".running_mean", n + ".running_var"},
                          n + "_batchnorm", n + ".BatchNormalization");
      set_float(node, "epsilon", float(l.eps));
      set_float(node, "momentum", float(1.0 - l.momentum));  // ONNX weighs the old value
      x = n + "_batchnorm";
      break;
    }
    case LayerType::kMaxPool: {
      auto* node = b.node("MaxPool", {x}, n + "_maxpool", n + ".MaxPool");
      set_ints(node, "kernel_shape", {l.kernel, l.kernel});
      set_ints(node, "strides", {l.kernel, l.kernel});
      set_ints(node, "pads", {0, 0, 0, 0});
      x = n + "_maxpool";
      break;
    }
    case LayerType::kRelu:
      b.node("Relu", {x}, n + "_relu", n + ".Relu");
      x = n + "_relu";
      break;
    case LayerType::kTanh:
      b.node("Tanh", {x}, n + "_tanh", n + ".Tanh");
      x = n + "_tanh";
      break;
    case LayerType::kSigmoid:
      b.node("Sigmoid", {x}, n + "_sigmoid", n + ".Sigmoid");
      x = n + "_sigmoid";
      break;
    case LayerType::kDropout:  // the identity at inference
      break;
    case LayerType::kFlatten: {
      // Flatten, not Shape/Gather/Concat/Reshape: OpenCV's importer freezes a computed shape,
      // batch size included, at the first input it sees.
      auto* node = b.node("Flatten", {x}, n + "_flatten", n + ".Flatten");
      set_int(node, "axis", 1);
      x = n + "_flatten";
      break;
    }
    case LayerType::kLinear: {
      b.initializer(n + ".weight", *find_tensor(l, "weight"));
      if (l.bias) b.initializer(n + ".bias", *find_tensor(l, "bias"));
      const std::string out = output ? "logits" : n + "_gemm";
      auto* node = b.node("Gemm", with_bias({x, n + ".weight"}), out, n + ".Gemm");
      set_int(node, "transB", 1);  // torch stores [out, in]
      x = out;
      break;
    }
    case LayerType::kLogSoftmax:  // only in the head, handled below
      break;
    case LayerType::kResidual: {
      std::string y = x;
      for (const NetLayer& inner : l.body) y = emit_layer(b, inner, y, false);
      std::string shortcut = x;
      for (const NetLayer& p : l.projection) shortcut = emit_layer(b, p, shortcut, false);
      b.node("Add", {y, shortcut}, n + "_add", n + ".Add");
      NetLayer act;
      act.type = l.activation;
      act.name = n;
      x = emit_layer(b, act, n + "_add", false);
      break;
    }
  }
  return x;
}

}  // namespace

std::string onnx_model(const train::LoadedCheckpoint& ck, int opset) {
  torch::nn::Sequential net = ck.net;
  const NetDescription d = describe_network(net, ck.spec.head, ck.path);
  const auto& meta = ck.meta;
  const int64_t classes = int64_t(meta.class_names.size());

  onnx::ModelProto model;
  // IR 7 came with opsets 12-14, IR 8 with 15-17: the lowest that carries the opset keeps the
  // file readable by the most runtimes.
  model.set_ir_version(opset <= 14 ? 7 : 8);
  model.set_producer_name("digitlab");
  model.set_producer_version(DIGITLAB_VERSION);
  model.set_model_version(1);
  model.set_doc_string("digitlab " + meta.model + " (" + meta.spec + "), trained on " +
                       meta.dataset + ". Input: " + kOnnxInputDoc + ". Outputs: probabilities [N," +
                       std::to_string(classes) + "] (sum to 1), logits [N," +
                       std::to_string(classes) + "] (the output layer before the head).");
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(opset);

  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("digitlab_" + meta.model);
  GraphBuilder b(g);
  set_batched_type(g->add_input(), "input", {1, 28, 28}, kOnnxInputDoc);

  // Normalization inside the graph: callers feed the pixels every image tool gives them, and no
  // one has to copy a mean and deviation out of the metadata to get the accuracy digitlab got.
  std::string x = "input";
  const float scale = float(meta.normalization.scale()), shift = float(meta.normalization.shift());
  if (scale != 1.0f) {
    b.initializer("normalization.scale", torch::tensor({scale}));
    b.node("Mul", {x, "normalization.scale"}, "input_scaled", "normalization.Mul");
    x = "input_scaled";
  }
  if (shift != 0.0f) {
    b.initializer("normalization.shift", torch::tensor({shift}));
    b.node("Add", {x, "normalization.shift"}, "input_normalized", "normalization.Add");
    x = "input_normalized";
  }

  for (size_t i = 0; i <= d.output_layer; ++i) {
    x = emit_layer(b, d.layers[i], x, i == d.output_layer);
  }

  switch (d.head) {
    case models::Head::kSoftmax:
    case models::Head::kSvm: {  // hinge-loss scores: softmax ranks them as they are ranked
      set_int(b.node("Softmax", {"logits"}, "probabilities", "head.Softmax"), "axis", 1);
      break;
    }
    case models::Head::kLogSoftmax: {
      // The network's own log-probabilities, exponentiated: the same path digitlab takes.
      set_int(b.node("LogSoftmax", {"logits"}, "log_probabilities", "head.LogSoftmax"), "axis", 1);
      b.node("Exp", {"log_probabilities"}, "probabilities", "head.Exp");
      break;
    }
    case models::Head::kSigmoid: {
      // Independent sigmoid outputs, renormalized to sum to 1 as the seed-003 loss did. The row
      // sums come from a product with a matrix of ones ([N,K] x [K,K]: every column holds its
      // row's sum) rather than ReduceSum, whose opset-13 form (axes as an input) OpenCV 4.6
      // refuses ("Unsupported ReduceSum operation of opset 13").
      b.node("Sigmoid", {"logits"}, "sigmoid", "head.Sigmoid");
      b.initializer("head.ones", torch::ones({classes, classes}));
      b.node("Gemm", {"sigmoid", "head.ones"}, "sigmoid_sum", "head.RowSum");
      b.node("Div", {"sigmoid", "sigmoid_sum"}, "probabilities", "head.Div");
      break;
    }
  }
  set_batched_type(g->add_output(), "probabilities", {classes},
                   "class probabilities, each row sums to 1; class names in metadata");
  set_batched_type(
      g->add_output(), "logits", {classes},
      "the output layer's scores before the head (" + std::string(models::head_name(d.head)) + ")");

  nlohmann::json norm = meta.normalization.to_json();
  norm["scale"] = meta.normalization.scale();
  norm["shift"] = meta.normalization.shift();
  norm["applied_in_graph"] = true;
  add_metadata(model, "digitlab.model", meta.model);
  add_metadata(model, "digitlab.spec", meta.spec);
  add_metadata(model, "digitlab.head", models::head_name(d.head));
  add_metadata(model, "digitlab.dataset", meta.dataset);
  add_metadata(model, "digitlab.class_names", nlohmann::json(meta.class_names).dump());
  add_metadata(model, "digitlab.normalization", norm.dump());
  add_metadata(model, "digitlab.input", kOnnxInputDoc);
  add_metadata(model, "digitlab.outputs",
               "probabilities [N,K] (rows sum to 1), logits [N,K] (output layer before the head)");
  add_metadata(model, "digitlab.epoch", std::to_string(meta.epoch));
  if (meta.metrics.is_object() && !meta.metrics.empty()) {
    add_metadata(model, "digitlab.metrics", meta.metrics.dump());
  }

  try {
    onnx::checker::check_model(model);
    // What python's check_model(full_check=True) adds: shape inference that fails on any error.
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true,
                                                                   /*strict_mode=*/1));
  } catch (const std::exception& e) {
    throw RuntimeError(ck.path + ": the ONNX graph built from it fails onnx::checker (" +
                       core::one_line(e.what()) + ")");
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) {
    throw RuntimeError(ck.path + ": the ONNX model could not be serialized (over 2 GiB?)");
  }
  return bytes;
}

std::string write_onnx(const train::LoadedCheckpoint& ck, const std::string& path, int opset) {
  const std::string bytes = onnx_model(ck, opset);
  const auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) core::make_dirs(path.substr(0, slash));
  core::write_file_atomic(path, bytes);
  return "wrote " + path + " (ONNX opset " + std::to_string(opset) + ", " +
         std::to_string(bytes.size()) +
         " bytes; input 'input' float [N,1,28,28] of pixels 0-255, outputs 'probabilities' and "
         "'logits')";
}

}  // namespace digitlab::exporter
