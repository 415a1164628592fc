// digitlab's own layer kernels against LibTorch's general path: models::MaxPool's 2x2 kernel.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "data/idx.h"
#include "models/builder.h"
#include "models/max_pool.h"
#include "models/pool_kernel.h"
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

// Two copies of a small CNN from the same draw, one on each path, trained on the same batches:
// their losses agree step by step and they end at the same test accuracy, in fp32 and (where the
// CPU has it natively) bf16.
TEST(MaxPoolFastPath, BuiltNetworksUseItAndTrainAsTheGeneralPath) {
  data::IdxArray images, labels;
  digitlab::testing::make_synthetic(1280, 5, images, labels);
  const auto to_tensors = [&](size_t begin, size_t end) {
    const torch::Tensor x = torch::from_blob(images.data.data() + begin * 784,
                                             {int64_t(end - begin), 1, 28, 28}, torch::kUInt8)
                                .to(torch::kFloat32)
                                .div(255);
    const torch::Tensor y =
        torch::from_blob(labels.data.data() + begin, {int64_t(end - begin)}, torch::kUInt8)
            .to(torch::kInt64);
    return std::make_pair(x, y);
  };
  const auto [train_x, train_y] = to_tensors(0, 1024);
  const auto [test_x, test_y] = to_tensors(1024, 1280);
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

}  // namespace
}  // namespace digitlab::models
