// bf16 autocast scope, precision choice and the inference path, on small random networks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/autocast_mode.h>

#include <thread>

#include "core/error.h"
#include "core/system.h"
#include "models/builder.h"
#include "train/precision.h"
#include "train/runtime.h"

namespace digitlab::train {
namespace {

TEST(Precision, ChoiceFollowsTheRequestTheCpuAndTheModel) {
  const auto cnn = models::parse_spec("C8-P-16-10");
  EXPECT_EQ(choose_precision("fp32", cnn, torch::kCPU).name, "fp32");
  EXPECT_EQ(choose_precision("bf16", cnn, torch::kCPU).name, "bf16");
  // auto follows the CPU: bf16 with AMX, or with AVX512-BF16 on AMD; fp32 elsewhere.
  const PrecisionChoice a = choose_precision("auto", cnn, torch::kCPU);
  const bool bf16 = core::cpu_has_flag("amx_bf16") ||
                    (core::cpu_has_flag("avx512_bf16") && core::cpu_vendor() == "AuthenticAMD");
  EXPECT_EQ(a.name, bf16 ? "bf16" : "fp32") << a.reason;
  EXPECT_EQ(a.reason.rfind("auto: ", 0), 0u) << a.reason;
  // Distances in bf16 would reorder neighbours: kNN stays fp32 even when asked.
  EXPECT_EQ(choose_precision("bf16", models::parse_spec("knn3"), torch::kCPU).name, "fp32");
  EXPECT_THROW(choose_precision("fp16", cnn, torch::kCPU), core::UsageError);
  EXPECT_EQ(choose_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_THROW(choose_device("tpu"), core::UsageError);
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(choose_device("cuda"), core::UsageError);
    EXPECT_EQ(choose_device("auto"), torch::Device(torch::kCPU));
  }
}

// Small batches run on one thread of the calling thread's team; the team comes back after, and
// another thread's is untouched meanwhile.
TEST(Precision, SingleThreadScopeNarrowsOnlyTheCallingThread) {
  const int before = torch::get_num_threads();
  configure_threads(2);
  {
    SingleThreadScope one(true);
    EXPECT_EQ(torch::get_num_threads(), 1);
    int other = 0;
    std::thread t([&] { other = torch::get_num_threads(); });
    t.join();
    EXPECT_EQ(other, 2);
    SingleThreadScope off(false);
    EXPECT_EQ(torch::get_num_threads(), 1);
  }
  EXPECT_EQ(torch::get_num_threads(), 2);
  {
    SingleThreadScope off(false);
    EXPECT_EQ(torch::get_num_threads(), 2);
  }
  configure_threads(before);
}

TEST(Precision, AutocastScopeRunsBf16AndForgetsItsWeightCopies) {
  torch::manual_seed(0);
  torch::nn::Linear lin(8, 4);
  auto x = torch::randn({3, 8});
  torch::Tensor first;
  {
    AutocastScope scope(true, torch::kCPU);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    first = lin(x);
    EXPECT_EQ(first.scalar_type(), torch::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(lin(x).scalar_type(), torch::kFloat32);
  {
    torch::NoGradGuard no_grad;
    lin->weight.add_(1.0);  // what an optimizer step does
  }
  torch::Tensor second;
  {
    AutocastScope scope(true, torch::kCPU);
    second = lin(x);
  }
  // A stale cached bf16 copy of the weight would give `first` again.
  const auto expected = lin(x);
  EXPECT_TRUE(torch::allclose(second.to(torch::kFloat32), expected, 0.05, 0.05));
  EXPECT_FALSE(torch::allclose(second.to(torch::kFloat32), first.to(torch::kFloat32), 0.05, 0.05));
  {
    AutocastScope off(false, torch::kCPU);
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
  }
}

TEST(Precision, Bf16InferenceKeepsShapesAndNearlyAllArgmaxes) {
  for (const char* text : {"C16-P-C32-P-64-10-logsoftmax", "C8k5-BN-P-32-BN-10", "64-10-sigmoid"}) {
    torch::manual_seed(1);
    auto fp32 = models::build_network(models::parse_spec(text));
    auto bf16 = models::build_network(models::parse_spec(text));
    {
      torch::NoGradGuard no_grad;
      auto src = fp32->parameters();
      auto dst = bf16->parameters();
      for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
    prepare_for_inference(fp32, Precision::kFp32);
    prepare_for_inference(bf16, Precision::kBf16);
    EXPECT_EQ(parameter_options(bf16).dtype().toScalarType(), torch::kBFloat16) << text;
    auto x = torch::randn({256, 1, 28, 28});
    auto a = infer(fp32, x);
    auto b = infer(bf16, x);
    ASSERT_EQ(b.sizes(), (std::vector<int64_t>{256, 10})) << text;
    EXPECT_EQ(b.scalar_type(), torch::kFloat32) << text;
    // Random networks have close logits, the hard case for argmax agreement.
    const double agree = a.argmax(1).eq(b.argmax(1)).to(torch::kFloat64).mean().item<double>();
    EXPECT_GE(agree, 0.9) << text;
    EXPECT_TRUE(torch::allclose(a, b, 0.1, 0.1)) << text;
  }
  // kNN keeps its fp32 path.
  auto knn = models::build_network(models::parse_spec("knn1"));
  prepare_for_inference(knn, Precision::kBf16);
  EXPECT_EQ(parameter_options(knn).dtype().toScalarType(), torch::kFloat32);
}

}  // namespace
}  // namespace digitlab::train
