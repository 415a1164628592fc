// Every zoo model maps [N,1,28,28] to [N,10] with its pinned parameter count; heads behave.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>

#include "core/error.h"
#include "models/builder.h"
#include "models/zoo.h"

namespace digitlab::models {
namespace {

int64_t trainable(torch::nn::Sequential& net) {
  int64_t n = 0;
  for (auto& p : net->parameters()) n += p.requires_grad() ? p.numel() : 0;
  return n;
}

TEST(Shape, EveryZooModel) {
  // Pinned from the studies (seed 000 Keras summary, seed 002 PyTorch model) or by hand.
  const std::map<std::string, int64_t> pinned = {{"seed002-cnn", 421642},
                                                 {"seed000-cnn", 225034},
                                                 {"seed000-cnn-dropout", 225034},
                                                 {"seed003-mlp", 79510},
                                                 {"seed004-mlp", 109386}};
  EXPECT_EQ(pinned.size(), zoo().size());
  torch::manual_seed(0);
  for (const auto& e : zoo()) {
    SCOPED_TRACE(e.name);
    ArchSpec spec = parse_spec(e.spec);
    auto net = build_network(spec);
    net->eval();
    auto y = net->forward(torch::randn({3, 1, 28, 28}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 10}));
    EXPECT_EQ(trainable(net), count_parameters(spec));
    ASSERT_TRUE(pinned.count(e.name));
    EXPECT_EQ(trainable(net), pinned.at(e.name));
    auto p = head_probabilities(spec.head, y);
    EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({3}), 1e-5, 1e-5));
    EXPECT_TRUE((p >= 0).all().item<bool>());
  }
}

TEST(Shape, BatchNormAndActivationsBuild) {
  ArchSpec spec = parse_spec("C8-BN-P-tanh-C8v-P-sigmoid-32-BN-D0.5-10");
  auto net = build_network(spec);
  net->train();
  auto y = net->forward(torch::randn({4, 1, 28, 28}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4, 10}));
  int64_t n = 0;
  for (auto& p : net->parameters()) n += p.numel();
  EXPECT_EQ(n, count_parameters(spec));
}

TEST(Heads, LossesAgreeWithDefinitions) {
  torch::manual_seed(1);
  auto logits = torch::randn({5, 10});
  auto target = torch::tensor({0, 3, 9, 2, 2}, torch::kInt64);
  auto ce = head_loss(Head::kSoftmax, logits, target);
  auto nll = head_loss(Head::kLogSoftmax, torch::log_softmax(logits, 1), target);
  EXPECT_NEAR(ce.item<double>(), nll.item<double>(), 1e-6);
  // Manual cross-entropy of row 0.
  double manual = 0;
  auto ls = torch::log_softmax(logits, 1);
  for (int i = 0; i < 5; ++i) manual -= ls[i][target[i].item<int64_t>()].item<double>();
  EXPECT_NEAR(ce.item<double>(), manual / 5, 1e-6);
  // Sigmoid head: Keras' categorical cross-entropy of outputs renormalized to sum to 1.
  auto probs = torch::sigmoid(logits);
  auto keras = head_loss(Head::kSigmoid, probs, target);
  double expect = 0;
  for (int i = 0; i < 5; ++i) {
    expect -= std::log(probs[i][target[i].item<int64_t>()].item<double>() /
                       probs[i].sum().item<double>());
  }
  EXPECT_NEAR(keras.item<double>(), expect / 5, 1e-5);
}

TEST(Shape, BadSpecIsRefusedBeforeBuilding) {
  EXPECT_THROW(build_network(parse_spec("100-12")), core::UsageError);
}

}  // namespace
}  // namespace digitlab::models
