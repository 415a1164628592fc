// Export: ONNX checked by onnx::checker, python3-onnx and OpenCV DNN, PyTorch by python3-torch.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <torch/torch.h>
#include <opencv2/dnn.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "export/export.h"
#include "export/exporters.h"
#include "models/builder.h"
#include "models/zoo.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/precision.h"

namespace digitlab::exporter {
namespace {

using testing::TempDir;

constexpr int64_t kTestImages = 200;
constexpr int64_t kTrainImages = 1920;

struct Images {
  torch::Tensor train_u8, train_labels, test_u8;  // [N,28,28] uint8, [N] int64
  bool real = false;
};

torch::Tensor to_tensor(const data::IdxArray& a, int64_t n) {
  n = std::min<int64_t>(n, int64_t(a.count()));
  const int64_t item = int64_t(a.data.size() / a.count());
  auto t = torch::from_blob(const_cast<uint8_t*>(a.data.data()), {n * item}, torch::kUInt8).clone();
  return item == 1 ? t.to(torch::kInt64) : t.reshape({n, 28, 28});
}

// MNIST slices when the data set is there (real digits make the agreement meaningful), else
// the synthetic digits of test_util.h.
const Images& images() {
  static const Images im = [] {
    Images out;
    const std::string dir = testing::real_data_root() + "/mnist/";
    data::IdxArray ti, tl, si, sl;
    if (core::file_exists(dir + "t10k-images-idx3-ubyte") &&
        core::file_exists(dir + "train-images-idx3-ubyte")) {
      ti = data::read_idx(dir + "train-images-idx3-ubyte");
      tl = data::read_idx(dir + "train-labels-idx1-ubyte");
      si = data::read_idx(dir + "t10k-images-idx3-ubyte");
      out.real = true;
    } else {
      testing::make_synthetic(size_t(kTrainImages), 1, ti, tl);
      testing::make_synthetic(size_t(kTestImages), 2, si, sl);
    }
    out.train_u8 = to_tensor(ti, kTrainImages);
    out.train_labels = to_tensor(tl, kTrainImages);
    out.test_u8 = to_tensor(si, kTestImages);
    return out;
  }();
  return im;
}

std::string python() {
  const char* env = std::getenv("DIGITLAB_PYTHON");
  return env && *env ? env : DIGITLAB_PYTHON3;
}

// Runs a shell command, returning its exit status and (through `log`) its output.
int run(const std::string& cmd, const std::string& log_path, std::string* log) {
  const int rc = std::system((cmd + " > '" + log_path + "' 2>&1").c_str());
  *log = core::file_exists(log_path) ? core::read_file(log_path) : "";
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

void write_floats(const std::string& path, const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat32).contiguous();
  core::write_file_atomic(path, std::string_view(static_cast<const char*>(c.data_ptr()),
                                                 size_t(c.numel()) * sizeof(float)));
}

train::CheckpointMeta meta_for(const std::string& model, const std::string& spec,
                               const data::Normalization& norm) {
  train::CheckpointMeta m;
  m.model = model;
  m.spec = spec;
  m.dataset = "mnist";
  m.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  m.normalization = norm;
  m.options = nlohmann::json::object();
  m.epoch = 1;
  return m;
}

// A few Adam steps: enough for decisive argmaxes (and batch-norm statistics away from 0 and 1),
// so agreement on the argmax tests the export rather than ties.
void train_briefly(torch::nn::Sequential& net, models::Head head, const torch::Tensor& x,
                   const torch::Tensor& y, int steps) {
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-3));
  net->train();
  const int64_t batch = 64, n = x.size(0);
  for (int s = 0; s < steps; ++s) {
    const int64_t start = (s * batch) % (n - batch);
    opt.zero_grad();
    auto loss =
        models::head_loss(head, net->forward(x.narrow(0, start, batch)), y.narrow(0, start, batch));
    loss.backward();
    opt.step();
  }
  net->eval();
}

// The output layer's scores: the network without its head module.
torch::Tensor logits_of(torch::nn::Sequential& net, models::Head head, torch::Tensor x) {
  torch::NoGradGuard no_grad;
  const bool head_module = head == models::Head::kLogSoftmax || head == models::Head::kSigmoid;
  const size_t n = net->size() - (head_module ? 1 : 0);
  size_t i = 0;
  for (auto it = net->begin(); it != net->end() && i < n; ++it, ++i) x = it->forward(x);
  return x;
}

struct Case {
  const char* name;   // test name
  const char* model;  // zoo name, or "" for `spec`
  const char* spec;
  const char* normalization;
  int opset;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ExportAgrees : public ::testing::TestWithParam<Case> {};

TEST_P(ExportAgrees, OnnxAndPytorchMatchDigitlab) {
  const Case& c = GetParam();
  const Images& im = images();
  TempDir dir;
  const std::string spec = *c.model ? models::find_model(c.model).spec : c.spec;
  const models::ArchSpec arch = models::parse_spec(spec);

  // Train, save a checkpoint, export it both ways through the command.
  torch::manual_seed(11);
  auto net = models::build_network(arch);
  const data::Normalization norm = data::make_normalization(c.normalization, im.train_u8);
  train_briefly(net, arch.head, data::to_input(im.train_u8, norm), im.train_labels, 30);
  const std::string ckpt = dir / "ck.pt";
  train::save_checkpoint(ckpt, net, meta_for(*c.model ? c.model : "custom", spec, norm));
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(export_command({ckpt, "onnx", dir / "model.onnx", c.opset}), 0);
  EXPECT_EQ(export_command({ckpt, "pytorch", dir / "py", c.opset}), 0);
  const std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(printed.find("wrote " + (dir / "model.onnx")), std::string::npos) << printed;
  EXPECT_NE(printed.find("weights.pt"), std::string::npos) << printed;

  // digitlab's own answers on the test images.
  train::LoadedCheckpoint ck = train::load_checkpoint(ckpt);
  const torch::Tensor pixels = im.test_u8.to(torch::kFloat32).unsqueeze(1).contiguous();
  const torch::Tensor inputs = data::to_input(im.test_u8, norm);
  const torch::Tensor outputs = train::infer(ck.net, inputs);
  const torch::Tensor probs = models::head_probabilities(arch.head, outputs);
  const torch::Tensor logits = logits_of(ck.net, arch.head, inputs);
  const torch::Tensor labels = probs.argmax(1);
  if (im.real) {
    // Decisive answers need a trained network; 30 steps take every case well over chance.
    EXPECT_GT(labels
                  .eq(to_tensor(
                      data::read_idx(testing::real_data_root() + "/mnist/t10k-labels-idx1-ubyte"),
                      kTestImages))
                  .sum()
                  .item<int64_t>(),
              kTestImages / 4);
  }

  // The C++ checker on what was written, and the promised interface.
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(core::read_file(dir / "model.onnx")));
  EXPECT_NO_THROW(onnx::checker::check_model(model));
  EXPECT_EQ(model.opset_import(0).version(), c.opset);
  ASSERT_EQ(model.graph().input_size(), 1);
  EXPECT_EQ(model.graph().input(0).name(), "input");
  EXPECT_EQ(model.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  ASSERT_EQ(model.graph().output_size(), 2);
  EXPECT_EQ(model.graph().output(0).name(), "probabilities");
  EXPECT_EQ(model.graph().output(1).name(), "logits");
  std::map<std::string, std::string> props;
  for (const auto& p : model.metadata_props()) props[p.key()] = p.value();
  EXPECT_EQ(nlohmann::json::parse(props["digitlab.class_names"]).size(), 10u);
  EXPECT_EQ(nlohmann::json::parse(props["digitlab.normalization"])["mode"], c.normalization);
  EXPECT_EQ(props["digitlab.spec"], spec);
  int adds = 0;  // besides normalization's: one per residual block
  for (const auto& n : model.graph().node()) {
    EXPECT_NE(n.op_type(), "Reshape");
    EXPECT_NE(n.op_type(), "Dropout");
    adds += n.op_type() == "Add" && n.name() != "normalization.Add";
  }
  EXPECT_EQ(adds, std::count(spec.begin(), spec.end(), 'R'));

  // OpenCV DNN on the raw pixels, at two batch sizes with one network (a frozen batch fails).
  cv::dnn::Net cvnet = cv::dnn::readNetFromONNX(dir / "model.onnx");
  for (int64_t n : {kTestImages, int64_t(7)}) {
    const int sizes[] = {int(n), 1, 28, 28};
    cv::Mat blob(4, sizes, CV_32F, pixels.data_ptr<float>());
    cvnet.setInput(blob, "input");
    std::vector<cv::Mat> outs;
    cvnet.forward(outs, std::vector<cv::String>{"probabilities", "logits"});
    ASSERT_EQ(outs.size(), 2u);
    ASSERT_EQ(outs[0].total(), size_t(n * 10));
    auto cv_probs = torch::from_blob(outs[0].ptr<float>(), {n, 10}, torch::kFloat32).clone();
    auto cv_logits = torch::from_blob(outs[1].ptr<float>(), {n, 10}, torch::kFloat32).clone();
    const double dp = (cv_probs - probs.narrow(0, 0, n)).abs().max().item<double>();
    const double dl = (cv_logits - logits.narrow(0, 0, n)).abs().max().item<double>();
    EXPECT_LE(dp, 1e-4) << "batch " << n;
    EXPECT_LE(dl, 1e-3 * std::max(1.0, logits.abs().max().item<double>())) << "batch " << n;
    // Equal argmax, except where digitlab's own top two are closer than the tolerance.
    auto top2 = std::get<0>(probs.narrow(0, 0, n).topk(2, 1));
    auto differ = cv_probs.argmax(1).ne(labels.narrow(0, 0, n));
    auto decisive = (top2.select(1, 0) - top2.select(1, 1)).gt(1e-4);
    EXPECT_EQ(differ.logical_and(decisive).sum().item<int64_t>(), 0) << "batch " << n;
    EXPECT_LE(differ.sum().item<int64_t>(), 1) << "batch " << n;
    if (n == kTestImages) {
      std::cout << "opencv: probabilities " << dp << " logits " << dl << " argmax differ "
                << differ.sum().item<int64_t>() << "/" << n << "\n";
    }
  }

  // python3-onnx full check, and python3-torch running model.py + weights.pt.
  write_floats(dir / "pixels.f32", pixels);
  write_floats(dir / "inputs.f32", inputs);
  write_floats(dir / "outputs.f32", outputs);
  write_floats(dir / "probs.f32", probs);
  const std::string script = dir / "check.py";
  core::write_file_atomic(script, R"py(
import importlib.util, sys
import numpy as np
import onnx
import torch

onnx_path, py_dir, data_dir, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
m = onnx.load(onnx_path)
onnx.checker.check_model(m, full_check=True)
assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"

spec = importlib.util.spec_from_file_location("exported_model", py_dir + "/model.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
state = torch.load(py_dir + "/weights.pt")
assert type(state) is dict, type(state)
for k, v in state.items():
    assert v.dtype in (torch.float32, torch.int64) and v.is_contiguous(), k
net = mod.build_model()
result = net.load_state_dict(state, strict=True)
assert not result.missing_keys and not result.unexpected_keys, result
net = mod.load_model()

def load(name, shape):
    a = np.fromfile(data_dir + "/" + name, dtype="<f4").reshape((n,) + shape)
    return torch.from_numpy(a.copy())

pixels, inputs = load("pixels.f32", (1, 28, 28)), load("inputs.f32", (1, 28, 28))
outputs, probs = load("outputs.f32", (10,)), load("probs.f32", (10,))
with torch.no_grad():
    d_in = (mod.normalize(pixels) - inputs).abs().max().item()
    d_out = (net(inputs) - outputs).abs().max().item()
    d_prob = (mod.predict(net, pixels) - probs).abs().max().item()
    d_u8 = (mod.predict(net, pixels.numpy().astype(np.uint8)[:, 0]) - probs).abs().max().item()
print(f"normalize {d_in:.3g} outputs {d_out:.3g} probabilities {d_prob:.3g} uint8 {d_u8:.3g}")
sys.exit(0 if max(d_in, d_out, d_prob, d_u8) <= 1e-5 else 1)
)py");
  std::string log;
  const int rc = run(python() + " '" + script + "' '" + (dir / "model.onnx") + "' '" +
                         (dir / "py") + "' '" + dir.path() + "' " + std::to_string(kTestImages),
                     dir / "python.log", &log);
  EXPECT_EQ(rc, 0) << python() << " (Debian python3-torch, python3-onnx; scripts/setup):\n" << log;
  std::cout << "python3-torch: " << log;
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, ExportAgrees,
    ::testing::Values(
        Case{"mlp", "seed004-mlp", "", "standard", 17},
        Case{"seed002_cnn_logsoftmax", "seed002-cnn", "", "standard", 13},
        Case{"lenet5", "seed001-lenet5", "", "standard", 17},
        Case{"batchnorm_tanh_dropout", "", "C8-BN-P-D0.25-tanh-16-BN-D0.5-10", "unit", 13},
        Case{"seed003_mlp_sigmoid", "seed003-mlp", "", "unit", 17},
        Case{"sigmoid_svm", "", "sigmoid-24-10-svm", "none", 15},
        // Identity and projection shortcuts, batch norm inside, a nested block.
        Case{"residual", "", "C8-R(C8-BN-C8-BN)-P-tanh-R(C12-R(C12))-P-24-10", "standard", 17}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// A saved network with batch norm, trained a little so its statistics are not the defaults.
std::string save_bn_checkpoint(const TempDir& dir) {
  const std::string spec = "C4-BN-P-12-BN-10-logsoftmax";
  torch::manual_seed(5);
  auto net = models::build_network(models::parse_spec(spec));
  net->train();
  net->forward(torch::randn({16, 1, 28, 28}) * 2 + 0.5);
  net->eval();
  const std::string path = dir / "bn.pt";
  train::save_checkpoint(path, net, meta_for("custom", spec, {"standard", 0.13, 0.31}));
  return path;
}

TEST(Export, ChannelsLastAndBf16WeightsBecomePlainFloat32) {
  TempDir dir;
  const std::string path = save_bn_checkpoint(dir);
  const train::LoadedCheckpoint plain = train::load_checkpoint(path);
  const std::string reference = onnx_model(plain, 17);

  train::LoadedCheckpoint nhwc = train::load_checkpoint(path);
  train::prepare_for_inference(nhwc.net, train::Precision::kFp32);  // channels_last convs
  ASSERT_EQ(nhwc.net->named_parameters()["0.weight"].suggest_memory_format(),
            at::MemoryFormat::ChannelsLast);
  EXPECT_EQ(onnx_model(nhwc, 17), reference);  // byte for byte

  train::LoadedCheckpoint bf16 = train::load_checkpoint(path);
  train::prepare_for_inference(bf16.net, train::Precision::kBf16);
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(onnx_model(bf16, 17)));
  auto params = plain.net->named_parameters();
  auto buffers = plain.net->named_buffers();
  int checked = 0;
  for (const auto& init : model.graph().initializer()) {
    ASSERT_EQ(init.data_type(), onnx::TensorProto_DataType_FLOAT) << init.name();
    const torch::Tensor* src = params.find(init.name());
    if (!src) src = buffers.find(init.name());
    if (!src) continue;  // normalization constants
    ASSERT_EQ(init.raw_data().size(), size_t(src->numel()) * 4) << init.name();
    auto got =
        torch::from_blob(const_cast<char*>(init.raw_data().data()), src->sizes(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(got, src->to(torch::kBFloat16).to(torch::kFloat32))) << init.name();
    ++checked;
  }
  EXPECT_EQ(checked, 14);  // conv, two linear layers (weight, bias), two batch norms (four each)

  const std::string out = dir / "py";
  write_pytorch(bf16, out);
  auto bytes = core::read_file(out + "/weights.pt");
  auto dict = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  EXPECT_EQ(dict.size(),
            size_t(plain.net->named_parameters().size() + plain.net->named_buffers().size()));
  for (const auto& e : dict) {
    const torch::Tensor t = e.value().toTensor();
    EXPECT_TRUE(t.is_contiguous()) << e.key().toStringRef();
    EXPECT_TRUE(t.dtype() == torch::kFloat32 || t.dtype() == torch::kInt64)
        << e.key().toStringRef();
  }
}

// One line naming `what`, of the given error type.
template <typename E>
void expect_error(const ExportOptions& o, const std::string& what) {
  try {
    export_command(o);
    ADD_FAILURE() << "no error for " << what;
  } catch (const E& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Export, RefusesBadFlagsMissingFilesAndKnn) {
  TempDir dir;
  const std::string ckpt = save_bn_checkpoint(dir);
  expect_error<core::UsageError>({ckpt, "torchscript", dir / "m", 17}, "--format");
  expect_error<core::UsageError>({ckpt, "onnx", "", 17}, "--out");
  expect_error<core::UsageError>({ckpt, "onnx", dir / "m.onnx", 12}, "--opset");
  expect_error<core::UsageError>({ckpt, "onnx", dir / "m.onnx", 18}, "--opset");
  expect_error<core::UsageError>({ckpt, "pytorch", ckpt, 17}, "--out");
  expect_error<core::RuntimeError>({dir / "missing.pt", "onnx", dir / "m.onnx", 17},
                                   dir / "missing.pt");
  EXPECT_FALSE(core::file_exists(dir / "m.onnx"));

  // k-nearest neighbours: exit 2 (a usage error), naming the checkpoint.
  auto knn = models::build_network(models::parse_spec("knn3"));
  const Images& im = images();
  models::find_knn(knn)->fit(im.train_u8.narrow(0, 0, 50), im.train_labels.narrow(0, 0, 50),
                             1 / 255.0, 0);
  const std::string knn_path = dir / "knn.pt";
  train::save_checkpoint(knn_path, knn, meta_for("knn3", "knn3", {"unit", 0, 1}));
  expect_error<core::UsageError>({knn_path, "onnx", dir / "k.onnx", 17}, knn_path);
  expect_error<core::UsageError>({knn_path, "pytorch", dir / "k", 17}, "k-nearest");
  EXPECT_FALSE(core::file_exists(dir / "k.onnx"));
  EXPECT_FALSE(core::dir_exists(dir / "k"));

  // An existing directory as --out for onnx receives model.onnx.
  core::make_dirs(dir / "outdir");
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(export_command({ckpt, "onnx", dir / "outdir", 13}), 0);
  ::testing::internal::GetCapturedStdout();
  EXPECT_TRUE(core::file_exists(dir / "outdir/model.onnx"));
}

}  // namespace
}  // namespace digitlab::exporter
