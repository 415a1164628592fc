// digitlab's own layer kernels against LibTorch's general path: models::MaxPool's 2x2 kernel and
// models::Conv2d's Winograd kernel.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "data/idx.h"
#include "models/builder.h"
#include "models/conv.h"
#include "models/max_pool.h"
#include "models/pool_kernel.h"
#include "models/winograd_kernel.h"
#include "test_util.h"
#include "train/fused_adam.h"
#include "train/precision.h"

namespace digitlab::models {
namespace {

namespace nn = torch::nn;

torch::Tensor channels_last(const torch::Tensor& t) {
  return t.to(t.options(), /*non_blocking=*/false, /*copy=*/true,
              torch::MemoryFormat::ChannelsLast);
}

// The same bits, where `nan_bits` is true; else the same bits except that a NaN may be any NaN
// (LibTorch's bf16 pooling rewrites a NaN's bits by its vector width; digitlab's keeps them).
bool same(const torch::Tensor& a, const torch::Tensor& b, bool nan_bits) {
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  const auto bits_type = a.scalar_type() == torch::kBFloat16 ? torch::kInt16 : torch::kInt32;
  const torch::Tensor ca = a.contiguous(), cb = b.contiguous();
  const torch::Tensor nan = ca.isnan();
  if (!torch::equal(nan, cb.isnan())) return false;
  const torch::Tensor differ = ca.view(bits_type).ne(cb.view(bits_type));
  return !(nan_bits ? differ : differ.logical_and(nan.logical_not())).any().item<bool>();
}

// Runs the kernel build `name` while it lives, then the one that ran before.
class KernelBuild {
 public:
  explicit KernelBuild(const std::string& name) : before_(pool_kernel_build()) {
    use_pool_kernel_build(name);
  }
  ~KernelBuild() { use_pool_kernel_build(before_); }

 private:
  std::string before_;
};

// Noise, or small integers so that windows hold equal values (the first must win), with a few
// NaN, infinities and zeros of either sign among them.
torch::Tensor awkward_input(const std::vector<int64_t>& shape, torch::Dtype dtype, bool ties) {
  torch::Tensor x = ties ? torch::randint(-3, 4, shape).to(torch::kFloat32) : torch::randn(shape);
  const int64_t n = x.numel();
  auto flat = x.view({-1});
  const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f};
  for (int64_t i = 0; i < std::min<int64_t>(n / 7, 40); ++i) {
    flat[(i * 7919) % n].fill_(specials[i % 5]);
  }
  return channels_last(x.to(dtype));
}

// Every build of the kernel this CPU runs (AVX-512, AVX2, baseline), so that an AVX-512 machine
// checks the AVX2 loops that AVX2-only CPUs run. Incoming gradients hold -0 and NaN too, which
// LibTorch's backward turns into +0 and (in bf16) one quiet NaN.
TEST(MaxPoolFastPath, OutputsAndGradientsEqualTorchsBitForBit) {
  torch::manual_seed(11);
  MaxPool pool(nn::MaxPool2dOptions(2).stride(2));
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3, 8, 6}, {3, 5, 7, 9}, {1, 1, 2, 2}, {4, 32, 28, 28}, {2, 64, 14, 15}, {1, 20, 5, 4}};
  EXPECT_EQ(pool_kernel_build(), pool_kernel_builds().front());
  EXPECT_THROW(use_pool_kernel_build("sse9"), std::invalid_argument);
  for (const std::string& build : pool_kernel_builds()) {
    KernelBuild use(build);
    for (const torch::Dtype dtype : {torch::kFloat32, torch::kBFloat16}) {
      for (const auto& shape : shapes) {
        for (const bool ties : {false, true}) {
          const std::string what = build + " " + std::string(c10::toString(dtype)) + " " +
                                   c10::str(torch::IntArrayRef(shape)) + (ties ? " ties" : "");
          const torch::Tensor x = awkward_input(shape, dtype, ties);
          ASSERT_TRUE(max_pool_fast_path_applies(x, pool->options)) << what;
          const torch::Tensor fast_x = x.clone().requires_grad_();
          const torch::Tensor general_x = x.clone().requires_grad_();
          const torch::Tensor fast = pool->forward(fast_x);
          const torch::Tensor general = torch::max_pool2d(general_x, 2, 2);
          ASSERT_NE(fast.grad_fn(), nullptr) << what;
          EXPECT_NE(fast.grad_fn()->name().find("MaxPool2x2"), std::string::npos) << what;
          EXPECT_TRUE(same(fast, general, /*nan_bits=*/false)) << what;
          EXPECT_EQ(fast.strides(), general.strides()) << what;
          const torch::Tensor grad = awkward_input(general.sizes().vec(), dtype, ties);
          fast.backward(grad);
          general.backward(grad);
          EXPECT_TRUE(same(fast_x.grad(), general_x.grad(), /*nan_bits=*/true)) << what;
          EXPECT_EQ(fast_x.grad().strides(), general_x.grad().strides()) << what;
          // Without autograd (inference), the kernel runs without recording winners.
          torch::NoGradGuard no_grad;
          EXPECT_TRUE(same(pool->forward(x), general.detach(), /*nan_bits=*/false)) << what;
        }
      }
    }
  }
}

TEST(MaxPoolFastPath, OtherInputsAndOptionsTakeTheGeneralPath) {
  torch::manual_seed(12);
  const torch::Tensor nchw = torch::randn({2, 3, 8, 8});
  const torch::Tensor nhwc = channels_last(nchw);
  const auto two = nn::MaxPool2dOptions(2).stride(2);
  EXPECT_TRUE(max_pool_fast_path_applies(nhwc, two));
  EXPECT_FALSE(max_pool_fast_path_applies(nchw, two));
  EXPECT_FALSE(max_pool_fast_path_applies(nhwc.to(torch::kFloat64), two));
  EXPECT_FALSE(max_pool_fast_path_applies(channels_last(torch::randn({2, 3, 1, 8})), two));
  EXPECT_FALSE(max_pool_fast_path_applies(channels_last(torch::randn({0, 3, 8, 8})), two));
  const std::vector<nn::MaxPool2dOptions> others = {
      nn::MaxPool2dOptions(3).stride(3),
      nn::MaxPool2dOptions(2).stride(1),
      nn::MaxPool2dOptions(2).stride(2).padding(1),
      nn::MaxPool2dOptions(2).stride(2).dilation(2),
      nn::MaxPool2dOptions(2).stride(2).ceil_mode(true),
      nn::MaxPool2dOptions({2, 1})};
  for (const auto& o : others) {
    EXPECT_FALSE(max_pool_fast_path_applies(nhwc, o));
    MaxPool pool(o);
    nn::MaxPool2d general(o);
    EXPECT_TRUE(same(pool->forward(nhwc), general->forward(nhwc), true));
  }
  MaxPool pool(two);
  EXPECT_TRUE(same(pool->forward(nchw), torch::max_pool2d(nchw, 2, 2), true));
  // One channel in NCHW also passes is_contiguous(ChannelsLast); LibTorch keeps it NCHW, and so
  // must the layers after it.
  const torch::Tensor one = torch::randn({2, 1, 8, 8});
  EXPECT_FALSE(max_pool_fast_path_applies(one, two));
  EXPECT_EQ(pool->forward(one).strides(), torch::max_pool2d(one, 2, 2).strides());
  EXPECT_THROW(max_pool2x2_channels_last(one), c10::Error);
  // A graph of the gradient (for second derivatives) would be silently wrong through the kernel:
  // it is refused.
  const torch::Tensor x = nhwc.clone().requires_grad_();
  const torch::Tensor y = pool->forward(x).pow(2).sum();
  EXPECT_THROW(torch::autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true),
               c10::Error);
  EXPECT_EQ(torch::autograd::grad({y}, {x})[0].sizes(), x.sizes());
}

// A network's clone keeps digitlab's layer types (Sequential::clone() needs each child's clone to
// be of its own type) and computes the same function from copied parameters.
TEST(MaxPoolFastPath, ClonedNetworksKeepTheirLayersAndOutputs) {
  torch::manual_seed(13);
  auto net = build_network(parse_spec("C8-P-16-10"));
  ASSERT_TRUE(train::use_channels_last(net));
  auto copy = std::dynamic_pointer_cast<nn::SequentialImpl>(net->clone());
  ASSERT_NE(copy, nullptr);
  ASSERT_EQ(copy->size(), net->size());
  for (size_t i = 0; i < net->size(); ++i) {
    EXPECT_EQ(bool(net->ptr(i)->as<MaxPoolImpl>()), bool(copy->ptr(i)->as<MaxPoolImpl>())) << i;
    EXPECT_EQ(bool(net->ptr(i)->as<DenseImpl>()), bool(copy->ptr(i)->as<DenseImpl>())) << i;
    EXPECT_EQ(bool(net->ptr(i)->as<Conv2dImpl>()), bool(copy->ptr(i)->as<Conv2dImpl>())) << i;
  }
  const torch::Tensor x = channels_last(torch::randn({3, 1, 28, 28}));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(copy->forward(x), net->forward(x)));
  net->parameters()[0].add_(1);  // copies, not shared tensors
  EXPECT_FALSE(torch::equal(copy->forward(x), net->forward(x)));
}

// The same network with LibTorch's nn::MaxPool2d in place of each MaxPool, sharing nothing else.
nn::Sequential with_general_pooling(nn::Sequential& net) {
  nn::Sequential general;
  for (const auto& any : *net) {
    if (const auto* pool = any.ptr()->as<MaxPoolImpl>()) {
      general->push_back(nn::MaxPool2d(pool->options));
    } else {
      general->push_back(any);
    }
  }
  return general;
}

double accuracy(nn::Sequential& net, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  net->eval();
  const double right = net->forward(x).argmax(1).eq(y).sum().item<double>();
  net->train();
  return right / double(y.size(0));
}

// 1,024 training and 256 test images of the synthetic digits, as float [N,1,28,28] in [0, 1] and
// int64 labels.
struct Split {
  torch::Tensor train_x, train_y, test_x, test_y;
};
Split synthetic_split(int seed) {
  data::IdxArray images, labels;
  digitlab::testing::make_synthetic(1280, seed, images, labels);
  const auto x = [&](int64_t begin, int64_t end) {
    return torch::from_blob(images.data.data() + begin * 784, {end - begin, 1, 28, 28},
                            torch::kUInt8)
        .to(torch::kFloat32)
        .div(255);
  };
  const auto y = [&](int64_t begin, int64_t end) {
    return torch::from_blob(labels.data.data() + begin, {end - begin}, torch::kUInt8)
        .to(torch::kInt64);
  };
  return {x(0, 1024), y(0, 1024), x(1024, 1280), y(1024, 1280)};
}

// Two copies of a small CNN from the same draw, one on each path, trained on the same batches:
// their losses agree step by step and they end at the same test accuracy, in fp32 and (where the
// CPU has it natively) bf16.
TEST(MaxPoolFastPath, BuiltNetworksUseItAndTrainAsTheGeneralPath) {
  const Split data = synthetic_split(5);
  const auto& [train_x, train_y, test_x, test_y] = data;
  const ArchSpec spec = parse_spec("C8-P-C16-P-32-10");
  std::vector<bool> precisions = {false};
  if (train::cpu_has_native_bf16()) precisions.push_back(true);
  for (const bool bf16 : precisions) {
    torch::manual_seed(21);
    auto fast = build_network(spec);
    torch::manual_seed(21);
    auto built = build_network(spec);
    int pools = 0;
    for (const auto& m : built->modules(false)) pools += m->as<MaxPoolImpl>() ? 1 : 0;
    ASSERT_EQ(pools, 2);
    auto general = with_general_pooling(built);
    const torch::Device cpu(torch::kCPU);
    ASSERT_TRUE(train::use_channels_last(fast));
    ASSERT_TRUE(train::use_channels_last(general));
    {
      // The fast network's pooling runs the kernel on what training feeds it.
      train::AutocastScope autocast(bf16, cpu);
      const torch::Tensor x = train::to_network_input(train_x.narrow(0, 0, 4), true, cpu);
      const torch::Tensor pooled =
          fast->ptr(1)->as<MaxPoolImpl>()->forward(fast->ptr(0)->as<nn::Conv2dImpl>()->forward(x));
      ASSERT_NE(pooled.grad_fn(), nullptr);
      EXPECT_NE(pooled.grad_fn()->name().find("MaxPool2x2"), std::string::npos);
    }
    train::FusedAdam fast_adam(fast->parameters(), torch::optim::AdamOptions(3e-3));
    train::FusedAdam general_adam(general->parameters(), torch::optim::AdamOptions(3e-3));
    for (int epoch = 0; epoch < 3; ++epoch) {
      for (int64_t s = 0; s < 1024; s += 32) {
        const torch::Tensor x = train::to_network_input(train_x.narrow(0, s, 32), true, cpu);
        const torch::Tensor y = train_y.narrow(0, s, 32);
        const float a =
            train::train_step(fast, fast_adam, spec.head, x, y, bf16, cpu).loss.item<float>();
        const float b =
            train::train_step(general, general_adam, spec.head, x, y, bf16, cpu).loss.item<float>();
        ASSERT_NEAR(a, b, 1e-4 * std::max(1.0f, std::abs(b))) << "bf16 " << bf16 << " step " << s;
      }
    }
    const torch::Tensor x = train::to_network_input(test_x, true, cpu);
    const double fast_accuracy = accuracy(fast, x, test_y);
    EXPECT_GT(fast_accuracy, 0.9) << "bf16 " << bf16;
    EXPECT_NEAR(fast_accuracy, accuracy(general, x, test_y), 0.01) << "bf16 " << bf16;
  }
}

// The largest absolute difference, against a tolerance of `relative` times the reference's
// largest magnitude (at least 1).
::testing::AssertionResult close(const torch::Tensor& got, const torch::Tensor& want,
                                 double relative, const std::string& what) {
  if (got.sizes() != want.sizes()) {
    return ::testing::AssertionFailure()
           << what << ": sizes " << got.sizes() << " and " << want.sizes();
  }
  const double scale = std::max(1.0, want.abs().max().item<double>());
  const double diff = (got - want).abs().max().item<double>();
  if (diff <= relative * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": differs by " << diff << " at scale " << scale;
}

// Restores the automatic choice when a test ends, however it ends.
struct ConvPathScope {
  explicit ConvPathScope(ConvPath p) { use_conv_path(p); }
  ~ConvPathScope() { use_conv_path(ConvPath::kAuto); }
};

// One fast-path convolution `conv(x, weight, bias, pad)` against torch::conv2d on copies of the
// same tensors: output (channels-last), autograd node `node`, the gradients of the weights, the
// bias (when there is one) and, where `input_gradient`, the input; then the same values without
// autograd.
template <typename Conv>
void check_against_torch(Conv conv, const torch::Tensor& x0, const torch::Tensor& w0,
                         const torch::Tensor& b0, int64_t pad, bool input_gradient,
                         const std::string& node, const std::string& what) {
  torch::Tensor x = x0.clone().requires_grad_(input_gradient), w = w0.clone().requires_grad_();
  torch::Tensor rx = x0.clone().requires_grad_(input_gradient), rw = w0.clone().requires_grad_();
  torch::Tensor b, rb;
  if (b0.defined()) b = b0.clone().requires_grad_(), rb = b0.clone().requires_grad_();
  const torch::Tensor y = conv(x, w, b, pad);
  const torch::Tensor want = torch::conv2d(rx, rw, rb, 1, pad);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast)) << what;
  ASSERT_TRUE(close(y, want, 1e-5, what + " output"));
  EXPECT_NE(y.grad_fn()->name().find(node), std::string::npos) << what;
  const torch::Tensor gy = torch::randn_like(want);
  y.backward(gy);
  want.backward(gy);
  if (input_gradient) EXPECT_TRUE(close(x.grad(), rx.grad(), 1e-5, what + " input gradient"));
  EXPECT_TRUE(close(w.grad(), rw.grad(), 1e-5, what + " weight gradient"));
  if (b0.defined()) EXPECT_TRUE(close(b.grad(), rb.grad(), 1e-5, what + " bias gradient"));
  torch::NoGradGuard no_grad;  // inference: no autograd node, same values
  const torch::Tensor z = conv(x0, w0, b0, pad);
  EXPECT_EQ(z.grad_fn(), nullptr);
  EXPECT_TRUE(torch::equal(z, y.detach())) << what;
}

// Outputs and all three gradients of the Winograd path against LibTorch's convolution of the same
// tensors, for both paddings, odd sizes (tiles that stick out), a 1x1 image, with and without bias.
TEST(ConvFastPath, OutputsAndGradientsAgreeWithTorchs) {
  if (!winograd_supported()) GTEST_SKIP() << "this CPU lacks AVX2 and FMA, which the kernel needs";
  struct Case {
    int64_t n, in, out, h, w, pad;
    bool bias;
  };
  const std::vector<Case> cases = {{2, 8, 16, 5, 7, 1, true},    {3, 32, 64, 14, 14, 1, true},
                                   {2, 32, 64, 12, 12, 0, true}, {1, 8, 8, 3, 3, 0, false},
                                   {1, 16, 8, 2, 5, 1, true},    {4, 24, 40, 6, 9, 0, false},
                                   {1, 8, 24, 1, 1, 1, true},    {50, 8, 8, 4, 4, 1, true}};
  torch::manual_seed(5);
  for (const Case& c : cases) {
    const std::string what = std::to_string(c.n) + "x" + std::to_string(c.in) + "x" +
                             std::to_string(c.h) + "x" + std::to_string(c.w) + " -> " +
                             std::to_string(c.out) + ", pad " + std::to_string(c.pad);
    const torch::Tensor x = channels_last(torch::randn({c.n, c.in, c.h, c.w}));
    const torch::Tensor w = torch::randn({c.out, c.in, 3, 3});
    const torch::Tensor b = c.bias ? torch::randn({c.out}) : torch::Tensor();
    check_against_torch(conv3x3_winograd, x, w, b, c.pad, true, "Conv3x3", what);
  }
}

// The direct kernel for one-channel inputs against LibTorch's convolution: output, weight and bias
// gradients, 3x3 and 5x5, every padding it takes, odd sizes, a 1x1 image.
TEST(ConvFastPath, SingleChannelOutputsAndGradientsAgreeWithTorchs) {
  if (!winograd_supported()) GTEST_SKIP() << "this CPU lacks AVX2 and FMA, which the kernel needs";
  struct Case {
    int64_t n, out, kernel, h, w, pad;
    bool bias;
  };
  const std::vector<Case> cases = {{3, 32, 3, 28, 28, 1, true}, {2, 32, 5, 28, 28, 0, true},
                                   {1, 8, 3, 1, 1, 1, true},    {2, 24, 5, 7, 9, 2, false},
                                   {1, 16, 5, 5, 5, 0, true},   {5, 40, 3, 6, 13, 2, true},
                                   {2, 8, 5, 3, 4, 4, true}};
  torch::manual_seed(6);
  for (const Case& c : cases) {
    const std::string what = std::to_string(c.n) + "x" + std::to_string(c.h) + "x" +
                             std::to_string(c.w) + " -> " + std::to_string(c.out) + ", kernel " +
                             std::to_string(c.kernel) + ", pad " + std::to_string(c.pad);
    const torch::Tensor x = torch::randn({c.n, 1, c.h, c.w});
    const torch::Tensor w = torch::randn({c.out, 1, c.kernel, c.kernel});
    const torch::Tensor b = c.bias ? torch::randn({c.out}) : torch::Tensor();
    check_against_torch(conv_single_channel, x, w, b, c.pad, false, "SingleChannelConv", what);
  }
}

// Inference reuses the transformed weights only while the weights are unchanged: after an
// in-place update (as an optimizer step makes) the layer computes with the new weights.
TEST(ConvFastPath, InferenceFollowsWeightUpdates) {
  if (!winograd_supported()) GTEST_SKIP() << "this CPU lacks AVX2 and FMA, which the kernel needs";
  ConvPathScope fast(ConvPath::kFast);
  torch::manual_seed(8);
  Conv2d conv(nn::Conv2dOptions(16, 32, 3).padding(1));
  conv->weight.set_data(channels_last(conv->weight.detach()));
  const torch::Tensor x = channels_last(torch::randn({2, 16, 7, 7}));
  torch::NoGradGuard no_grad;
  for (int round = 0; round < 3; ++round) {
    const torch::Tensor want = torch::conv2d(x, conv->weight, conv->bias, 1, 1);
    EXPECT_TRUE(close(conv->forward(x), want, 1e-5, "round " + std::to_string(round)));
    EXPECT_TRUE(close(conv->forward(x), want, 1e-5, "again, round " + std::to_string(round)));
    conv->weight.mul_(-0.5).add_(0.01);
  }
  const auto copy = std::dynamic_pointer_cast<Conv2dImpl>(conv->clone());
  ASSERT_NE(copy, nullptr);
  copy->weight.add_(1);
  EXPECT_TRUE(
      close(copy->forward(x), torch::conv2d(x, copy->weight, copy->bias, 1, 1), 1e-5, "clone"));
  EXPECT_TRUE(
      close(conv->forward(x), torch::conv2d(x, conv->weight, conv->bias, 1, 1), 1e-5, "original"));
}

TEST(ConvFastPath, OtherOptionsAndInputsTakeTheGeneralPath) {
  const auto options = [] { return nn::Conv2dOptions(8, 16, 3).padding(1); };
  const torch::Tensor x = channels_last(torch::randn({2, 8, 6, 6}));
  EXPECT_EQ(conv_fast_path_applies(x, Conv2d(options())->options), winograd_supported());
  const std::vector<std::pair<std::string, nn::Conv2dOptions>> others = {
      {"5x5", nn::Conv2dOptions(8, 16, 5)},
      {"stride 2", options().stride(2)},
      {"dilation 2", options().dilation(2)},
      {"groups 2", options().groups(2)},
      {"padding 2", options().padding(2)},
      {"uneven padding", options().padding({0, 1})},
      {"reflect padding", options().padding_mode(torch::kReflect)},
      {"4 in channels", nn::Conv2dOptions(4, 16, 3)},
      {"12 out channels", nn::Conv2dOptions(8, 12, 3)}};
  for (const auto& [name, o] : others) {
    Conv2d conv(o);
    const torch::Tensor in = channels_last(torch::randn({2, o.in_channels(), 6, 6}));
    EXPECT_FALSE(conv_fast_path_applies(in, conv->options)) << name;
    ConvPathScope fast(ConvPath::kFast);
    nn::Conv2d general(o);
    general->weight.set_data(conv->weight.detach().clone());
    general->bias.set_data(conv->bias.detach().clone());
    EXPECT_TRUE(torch::equal(conv->forward(in), general->forward(in))) << name;
  }
  const torch::Tensor one = torch::randn({2, 1, 6, 6});
  EXPECT_EQ(conv_fast_path_applies(one, Conv2d(nn::Conv2dOptions(1, 16, 5))->options),
            winograd_supported());
  EXPECT_FALSE(conv_fast_path_applies(one, Conv2d(nn::Conv2dOptions(1, 16, 7))->options)) << "7x7";
  EXPECT_FALSE(conv_fast_path_applies(one, Conv2d(nn::Conv2dOptions(1, 16, 3).stride(2))->options))
      << "one channel, stride 2";
  EXPECT_FALSE(conv_fast_path_applies(one.clone().requires_grad_(),
                                      Conv2d(nn::Conv2dOptions(1, 16, 3))->options))
      << "one channel, input gradient";
  EXPECT_THROW(conv_single_channel(one, torch::randn({16, 1, 3, 3}), {}, 3), c10::Error);
  const auto o = Conv2d(options())->options;
  EXPECT_FALSE(conv_fast_path_applies(x.contiguous(), o)) << "NCHW";
  EXPECT_FALSE(conv_fast_path_applies(x.to(torch::kBFloat16), o)) << "bfloat16";
  EXPECT_FALSE(conv_fast_path_applies(x.to(torch::kFloat64), o)) << "float64";
  EXPECT_FALSE(conv_fast_path_applies(channels_last(torch::randn({2, 8, 1, 1})),
                                      Conv2d(nn::Conv2dOptions(8, 16, 3))->options))
      << "no output";
  {
    at::autocast::set_cpu_enabled(true);
    EXPECT_FALSE(conv_fast_path_applies(x, o)) << "autocast";
    at::autocast::set_cpu_enabled(false);
  }
  EXPECT_THROW(conv3x3_winograd(x.contiguous(), torch::randn({16, 8, 3, 3}), {}, 1), c10::Error);
  EXPECT_THROW(conv3x3_winograd(x, torch::randn({16, 8, 5, 5}), {}, 1), c10::Error);
  EXPECT_THROW(conv3x3_winograd(x, torch::randn({16, 8, 3, 3}), torch::randn({3}), 1), c10::Error);
}

// Two copies of a small CNN from the same draw trained on the same batches, one with its 8-to-16
// channel convolution on the Winograd path and one on LibTorch's: the losses stay close step by
// step and the test accuracies end close.
TEST(ConvFastPath, BuiltNetworksTrainAsTheGeneralPath) {
  if (!winograd_supported()) GTEST_SKIP() << "this CPU lacks AVX2 and FMA, which the kernel needs";
  const Split data = synthetic_split(6);
  const auto& [train_x, train_y, test_x, test_y] = data;
  const ArchSpec spec = parse_spec("C8-P-C16-P-32-10");
  torch::manual_seed(22);
  auto fast = build_network(spec);
  torch::manual_seed(22);
  auto general = build_network(spec);
  const torch::Device cpu(torch::kCPU);
  ASSERT_TRUE(train::use_channels_last(fast));
  ASSERT_TRUE(train::use_channels_last(general));
  ASSERT_NE(fast->ptr(3)->as<Conv2dImpl>(), nullptr);
  ConvPathScope scope(ConvPath::kFast);
  {
    const torch::Tensor x = train::to_network_input(train_x.narrow(0, 0, 4), true, cpu);
    const torch::Tensor y = fast->forward(x);
    const torch::Tensor h =
        fast->ptr(3)->as<Conv2dImpl>()->forward(fast->ptr(2)->as<nn::ReLUImpl>()->forward(
            fast->ptr(1)->as<MaxPoolImpl>()->forward(fast->ptr(0)->as<Conv2dImpl>()->forward(x))));
    EXPECT_NE(h.grad_fn()->name().find("Conv3x3"), std::string::npos);
    const torch::Tensor first = fast->ptr(0)->as<Conv2dImpl>()->forward(x);
    EXPECT_NE(first.grad_fn()->name().find("SingleChannelConv"), std::string::npos);
  }
  train::FusedAdam fast_adam(fast->parameters(), torch::optim::AdamOptions(3e-3));
  train::FusedAdam general_adam(general->parameters(), torch::optim::AdamOptions(3e-3));
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (int64_t s = 0; s < 1024; s += 32) {
      const torch::Tensor x = train::to_network_input(train_x.narrow(0, s, 32), true, cpu);
      const torch::Tensor y = train_y.narrow(0, s, 32);
      use_conv_path(ConvPath::kFast);
      const float a =
          train::train_step(fast, fast_adam, spec.head, x, y, false, cpu).loss.item<float>();
      use_conv_path(ConvPath::kGeneral);
      const float b =
          train::train_step(general, general_adam, spec.head, x, y, false, cpu).loss.item<float>();
      ASSERT_NEAR(a, b, 1e-2 * std::max(1.0f, std::abs(b))) << "epoch " << epoch << " step " << s;
    }
  }
  const torch::Tensor x = train::to_network_input(test_x, true, cpu);
  use_conv_path(ConvPath::kFast);
  const double fast_accuracy = accuracy(fast, x, test_y);
  use_conv_path(ConvPath::kGeneral);
  const double general_accuracy = accuracy(general, x, test_y);
  EXPECT_GT(fast_accuracy, 0.9);
  EXPECT_NEAR(fast_accuracy, general_accuracy, 0.02);
}

}  // namespace
}  // namespace digitlab::models
