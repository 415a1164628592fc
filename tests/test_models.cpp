// Every zoo model maps [N,1,28,28] to [N,10] with its pinned parameter count; heads behave.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "models/builder.h"
#include "models/ensemble.h"
#include "models/zoo.h"

namespace digitlab::models {
namespace {

int64_t trainable(torch::nn::Sequential& net) {
  int64_t n = 0;
  for (auto& p : net->parameters()) n += p.requires_grad() ? p.numel() : 0;
  return n;
}

TEST(Shape, EveryZooModel) {
  // Pinned from the studies (seed 000's Keras summary, seed 002's model) or computed by hand:
  // LeNet-5 156 + 2,416 + 48,120 + 10,164 + 850; the deep CNN 320 + 9,248 + 18,496 + 36,928 +
  // 803,072 + 32,896 + 8,256 + 650 (seed 001: "over 900,000"); 784-1500-1000-500-10
  // 1,177,500 + 1,501,000 + 500,500 + 5,010; 32-P-32-10 320 + 200,736 + 330.
  // Every zoo model, pinned (the printed `digitlab models` list, hand-checked where noted above).
  const std::map<std::string, int64_t> pinned = {{"seed002-cnn", 421642},
                                                 {"seed000-cnn", 225034},
                                                 {"seed000-cnn-dropout", 225034},
                                                 {"seed003-mlp", 79510},
                                                 {"seed004-mlp", 109386},
                                                 {"knn3", 0},
                                                 {"logreg", 7850},
                                                 {"linear-svm", 7850},
                                                 {"seed001-mlp16", 12730},
                                                 {"seed001-mlp16-dropout", 12730},
                                                 {"seed001-mlp64", 50890},
                                                 {"seed001-mlp64-dropout", 50890},
                                                 {"seed001-mlp128", 101770},
                                                 {"seed001-mlp128-dropout", 101770},
                                                 {"seed001-mlp16-16", 13002},
                                                 {"seed001-mlp64-16", 51450},
                                                 {"seed001-mlp64-64", 55050},
                                                 {"seed001-mlp1000-500", 1290510},
                                                 {"seed001-mlp1500-1000-500", 3184010},
                                                 {"seed001-mlp1500-1000-500-d0.15", 3184010},
                                                 {"seed001-mlp1500-1000-500-d0.2", 3184010},
                                                 {"seed001-mlp1500-1000-500-d0.25", 3184010},
                                                 {"seed001-mlp1500-1000-500-d0.5", 3184010},
                                                 {"seed001-c32-p-32", 201898},
                                                 {"seed001-c32-p-32-dropout", 201898},
                                                 {"seed001-c32-p-100-50", 633692},
                                                 {"seed001-c32-p-100-50-dropout", 633692},
                                                 {"seed001-c32-p-150-100-50", 962442},
                                                 {"seed001-c32-p-150-100-50-dropout", 962442},
                                                 {"seed001-c32-p-c32-p-100-50", 172028},
                                                 {"seed001-c32-p-c32-p-100-50-dropout", 172028},
                                                 {"seed001-c32-p-c32-p-1000-500", 2084078},
                                                 {"seed001-c32-p-c32-p-1000-500-dropout", 2084078},
                                                 {"seed001-lenet5", 61706},
                                                 {"seed001-lenet5-dropout", 61706},
                                                 {"seed001-deep", 909866},
                                                 {"seed001-deep-dropout", 909866}};
  EXPECT_EQ(pinned.size(), zoo().size());
  for (const auto& [name, count] : pinned) EXPECT_NO_THROW(find_model(name)) << name;
  torch::manual_seed(0);
  for (const auto& e : zoo()) {
    SCOPED_TRACE(e.name);
    ArchSpec spec = parse_spec(e.spec);
    auto net = build_network(spec);
    net->eval();
    auto y = net->forward(torch::randn({3, 1, 28, 28}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 10}));
    EXPECT_EQ(trainable(net), count_parameters(spec));
    EXPECT_EQ(trainable(net), summarize(spec).total);  // the layer table's total
    ASSERT_EQ(pinned.count(e.name), 1u);
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

// Residual blocks: parameter counts equal the spec's, and the function is
// act(body(x) + shortcut(x)) with the body's last conv left without its own activation.
TEST(Shape, ResidualBlocksComputeTheSpecsFunction) {
  for (const char* text : {"C8-R(C8-BN-C8)-P-R(C16)-P-10", "R(C4-R(C8-D0.1))-tanh-R(C8)-P4-10",
                           "sigmoid-C4-R(C4-BN-C4-BN)-16-10-logsoftmax"}) {
    SCOPED_TRACE(text);
    const ArchSpec spec = parse_spec(text);
    auto net = build_network(spec);
    EXPECT_EQ(trainable(net), count_parameters(spec));
    EXPECT_EQ(trainable(net), summarize(spec).total);
    net->train();
    EXPECT_EQ(net->forward(torch::randn({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
  }
  torch::manual_seed(6);
  auto net = build_network(parse_spec("C4-R(C4-BN-C4)-R(C8)-10"));
  net->eval();
  auto names = net->named_parameters();
  EXPECT_TRUE(names.contains("2.body.0.weight"));
  EXPECT_TRUE(names.contains("2.body.1.weight"));       // batch norm's scale
  EXPECT_FALSE(names.contains("2.projection.weight"));  // 4 -> 4 channels: the identity
  EXPECT_TRUE(names.contains("3.projection.weight"));   // 4 -> 8 channels: a 1x1 projection
  EXPECT_EQ(names["3.projection.weight"].sizes(), (std::vector<int64_t>{8, 4, 1, 1}));
  auto* block = net->ptr(2)->as<ResidualImpl>();
  auto* wide = net->ptr(3)->as<ResidualImpl>();
  ASSERT_TRUE(block && wide);
  ASSERT_EQ(block->body->size(), 4u);  // conv, batch norm, relu, conv: no relu after the last
  auto x = torch::randn({3, 1, 28, 28});
  torch::NoGradGuard no_grad;
  using torch::nn::BatchNorm2dImpl, torch::nn::Conv2dImpl, torch::nn::LinearImpl;
  auto h = torch::relu(net->ptr(0)->as<Conv2dImpl>()->forward(x));
  auto f = block->body->ptr(0)->as<Conv2dImpl>()->forward(h);
  f = torch::relu(block->body->ptr(1)->as<BatchNorm2dImpl>()->forward(f));
  f = block->body->ptr(3)->as<Conv2dImpl>()->forward(f);
  auto y = torch::relu(f + h);
  y = torch::relu(wide->body->forward(y) + wide->projection->forward(y));
  auto expected = net->ptr(5)->as<LinearImpl>()->forward(y.flatten(1));
  EXPECT_TRUE(torch::allclose(net->forward(x), expected, 1e-5, 1e-6));
}

// One row without gradients takes the matrix-vector path: the same outputs as Linear's product,
// in fp32 and from bf16 weights, and a change to the weights reaches the next call.
TEST(Dense, OneRowMatchesLinearAndFollowsItsWeights) {
  torch::manual_seed(0);
  Dense dense(40, 7);
  const torch::Tensor x = torch::randn({1, 40});
  const torch::Tensor expected =
      torch::nn::functional::linear(x, dense->weight, dense->bias).detach();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(dense->forward(x), expected, 1e-6, 1e-6));
  // Rows of a batch (Linear's own product) agree with the one-row path.
  const torch::Tensor batch = dense->forward(torch::cat({x, x}));
  EXPECT_TRUE(torch::allclose(batch[1], expected[0], 1e-5, 1e-5));

  dense->to(torch::kBFloat16);
  const torch::Tensor xb = x.to(torch::kBFloat16);
  const torch::Tensor one = dense->forward(xb);
  EXPECT_EQ(one.scalar_type(), torch::kBFloat16);
  const torch::Tensor reference = torch::nn::functional::linear(
      xb.to(torch::kFloat32), dense->weight.to(torch::kFloat32), dense->bias.to(torch::kFloat32));
  EXPECT_TRUE(torch::allclose(one.to(torch::kFloat32), reference, 1e-2, 1e-2));
  dense->weight.mul_(-1);
  dense->bias.zero_();
  const torch::Tensor flipped = dense->forward(xb).to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(
      flipped,
      torch::nn::functional::linear(xb.to(torch::kFloat32), dense->weight.to(torch::kFloat32)),
      1e-2, 1e-2));
  EXPECT_FALSE(torch::allclose(flipped, one.to(torch::kFloat32), 1e-2, 1e-2));
  // Built networks use it, and it still counts as a Linear (export, initialization).
  auto net = build_network(parse_spec("16-10"));
  int dense_layers = 0;
  for (const auto& m : net->modules(false)) {
    if (m->as<DenseImpl>()) {
      ++dense_layers;
      EXPECT_NE(m->as<torch::nn::LinearImpl>(), nullptr);
    }
  }
  EXPECT_EQ(dense_layers, 2);
}

// Glorot-uniform draws weights from U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) and zeroes
// biases; LibTorch's default bound for the same layer is sqrt(1 / fan_in), smaller here.
TEST(Init, GlorotBoundsAndZeroBiases) {
  torch::manual_seed(3);
  auto net = build_network(parse_spec("C32k5-P-100-10"));
  initialize(net, "glorot");
  int layers = 0;
  for (auto& m : net->modules(false)) {
    torch::Tensor w, b;
    int64_t fan_in = 0, fan_out = 0;
    if (auto* c = m->as<torch::nn::Conv2dImpl>()) {
      w = c->weight, b = c->bias;
      fan_in = w.size(1) * w.size(2) * w.size(3), fan_out = w.size(0) * w.size(2) * w.size(3);
    } else if (auto* l = m->as<torch::nn::LinearImpl>()) {
      w = l->weight, b = l->bias;
      fan_in = w.size(1), fan_out = w.size(0);
    } else {
      continue;
    }
    ++layers;
    const double a = std::sqrt(6.0 / double(fan_in + fan_out));
    EXPECT_LE(w.abs().max().item<double>(), a);
    // A uniform on [-a, a] has standard deviation a / sqrt(3).
    EXPECT_NEAR(w.std().item<double>(), a / std::sqrt(3.0), 0.1 * a);
    EXPECT_EQ(b.abs().max().item<double>(), 0.0);
  }
  EXPECT_EQ(layers, 3);
  auto torch_net = build_network(parse_spec("100-10"));
  auto before = torch_net->parameters()[0].clone();
  initialize(torch_net, "torch");  // keeps LibTorch's draw
  EXPECT_TRUE(torch::equal(before, torch_net->parameters()[0]));
  EXPECT_THROW(initialize(torch_net, "he"), core::UsageError);
}

// The builder pools before the activation (cheaper); the function is conv -> act -> pool as the
// spec says, for every activation.
TEST(Shape, PoolBeforeActivationComputesTheSpecsFunction) {
  for (const char* act : {"relu", "tanh", "sigmoid"}) {
    torch::manual_seed(4);
    auto net = build_network(parse_spec(std::string(act) + "-C4-BN-P-10"));
    net->eval();
    auto x = torch::randn({3, 1, 28, 28});
    auto* conv = net->ptr(0)->as<torch::nn::Conv2dImpl>();
    auto* bn = net->ptr(1)->as<torch::nn::BatchNorm2dImpl>();
    auto* lin = net->ptr(net->size() - 1)->as<torch::nn::LinearImpl>();
    ASSERT_TRUE(conv && bn && lin) << act;
    torch::NoGradGuard no_grad;
    auto y = bn->forward(conv->forward(x));
    y = std::string(act) == "relu"   ? torch::relu(y)
        : std::string(act) == "tanh" ? torch::tanh(y)
                                     : torch::sigmoid(y);
    auto expected = lin->forward(torch::max_pool2d(y, 2).flatten(1));
    EXPECT_TRUE(torch::allclose(net->forward(x), expected, 1e-5, 1e-6)) << act;
  }
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
  // SVM head: per sample, sum over j != y of max(0, 1 - s_y + s_j), divided by the classes.
  auto svm = head_loss(Head::kSvm, logits, target);
  double hinge = 0;
  for (int i = 0; i < 5; ++i) {
    const int64_t y = target[i].item<int64_t>();
    for (int j = 0; j < 10; ++j) {
      if (j == y) continue;
      hinge += std::max(0.0, 1 - logits[i][y].item<double>() + logits[i][j].item<double>());
    }
  }
  EXPECT_NEAR(svm.item<double>(), hinge / 10 / 5, 1e-5);
}

TEST(Knn, VotesOfTheNearestTrainingImages) {
  auto net = build_network(parse_spec("knn3"));
  KnnImpl* knn = find_knn(net);
  ASSERT_NE(knn, nullptr);
  // Training images: class c is a constant image of value 20 * c.
  auto images = torch::arange(10, torch::kUInt8).mul(20).view({10, 1, 1}).expand({10, 28, 28});
  images = torch::cat({images, images, images});  // three of each class
  auto labels = torch::arange(10, torch::kInt64).repeat({3});
  knn->fit(images, labels, 1.0 / 255, 0.0);
  // Queries near class 4's value (80) and class 7's (140), in the model's input space.
  auto q =
      torch::stack({torch::full({1, 28, 28}, 83.0 / 255), torch::full({1, 28, 28}, 138.0 / 255)});
  auto out = net->forward(q);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(out.argmax(1)[0].item<int64_t>(), 4);
  EXPECT_EQ(out.argmax(1)[1].item<int64_t>(), 7);
  auto p = head_probabilities(Head::kSoftmax, out);
  EXPECT_NEAR(p[0][4].item<double>(), 1.0, 0.01);  // all three neighbours agree
  auto linear = build_network(parse_spec("10"));
  EXPECT_EQ(find_knn(linear), nullptr);
}

TEST(Shape, BadSpecIsRefusedBeforeBuilding) {
  EXPECT_THROW(build_network(parse_spec("100-12")), core::UsageError);
}

TEST(Ensemble, AverageIsTheMeanOfProbabilities) {
  const auto a = torch::tensor({{0.6, 0.4, 0.0}, {0.1, 0.2, 0.7}}, torch::kFloat32);
  const auto b = torch::tensor({{0.2, 0.8, 0.0}, {0.3, 0.3, 0.4}}, torch::kFloat32);
  const auto mean = combine_probabilities({a, b}, Combine::kAverage);
  EXPECT_TRUE(torch::allclose(mean, torch::tensor({{0.4, 0.6, 0.0}, {0.2, 0.25, 0.55}})));
}

TEST(Ensemble, VoteCountsTopClassesAndBreaksTiesByTheMean) {
  // Row 0: votes 2 for class 0, 1 for class 1, although class 1 has the higher mean.
  // Row 1: one vote each for classes 1 and 2; the mean favours class 2.
  const auto a = torch::tensor({{0.51, 0.49, 0.0}, {0.0, 0.6, 0.4}}, torch::kFloat32);
  const auto b = torch::tensor({{0.51, 0.49, 0.0}, {0.0, 0.1, 0.9}}, torch::kFloat32);
  const auto c = torch::tensor({{0.0, 1.0, 0.0}, {1.0, 0.0, 0.0}}, torch::kFloat32);
  const auto mean = combine_probabilities({a, b, c}, Combine::kAverage);
  EXPECT_EQ(mean.argmax(1)[0].item<int64_t>(), 1);
  const auto vote = combine_probabilities({a, b, c}, Combine::kVote);
  EXPECT_EQ(vote.argmax(1)[0].item<int64_t>(), 0);
  // Row 1 has a three-way tie (one vote each for 1, 2 and 0): the mean (0.33, 0.23, 0.43) decides.
  EXPECT_EQ(vote.argmax(1)[1].item<int64_t>(), 2);
  EXPECT_TRUE(torch::allclose(vote.sum(1), torch::ones({2})));
}

TEST(Ensemble, ForwardNormalizesForEachMemberAndCombinesTheirHeads) {
  torch::manual_seed(5);
  const ArchSpec softmax = parse_spec("C4-P-16-10");
  const ArchSpec logsoftmax = parse_spec("8-10-logsoftmax");
  Ensemble ensemble(
      std::vector<EnsembleMember>{{softmax, 1.0 / 255, -0.5}, {logsoftmax, 2.0 / 255, 0.0}}, 10,
      Combine::kAverage);
  ensemble->eval();
  EXPECT_EQ(ensemble->size(), 2u);
  const auto raw = torch::randint(0, 256, {3, 1, 28, 28}).to(torch::kFloat32);
  torch::NoGradGuard no_grad;
  const auto p0 = torch::softmax(ensemble->member(0)->forward(raw / 255 - 0.5), 1);
  const auto p1 = ensemble->member(1)->forward(raw * 2 / 255).exp();
  EXPECT_TRUE(torch::allclose(ensemble->forward(raw).exp(), (p0 + p1) / 2, 1e-5, 1e-6));
}

TEST(Ensemble, RefusesNoMembersAndKnn) {
  const std::vector<EnsembleMember> none, knn = {{parse_spec("knn3"), 1.0, 0.0}};
  EXPECT_THROW(Ensemble(none, 10, Combine::kAverage), core::UsageError);
  EXPECT_THROW(Ensemble(knn, 10, Combine::kAverage), core::UsageError);
  EXPECT_THROW(parse_combine("median"), core::UsageError);
}

}  // namespace
}  // namespace digitlab::models
