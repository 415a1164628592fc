// The model zoo: architectures the studies describe.
#include "models/zoo.h"

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/spec.h"

namespace digitlab::models {

namespace {
std::vector<ZooEntry> base_zoo() {
  return {
      {"seed002-cnn", "C32-P-C64-P-128-10-logsoftmax", "seed 002",
       "conv 32@3x3 pad 1, ReLU, maxpool 2, conv 64@3x3 pad 1, ReLU, maxpool 2, fc 128, ReLU, "
       "fc 10, LogSoftmax + NLL loss; the default model"},
      {"seed000-cnn", "C32v-P-C64v-P-128-10", "seed 000",
       "Keras baseline: valid 3x3 convs 32 and 64 each followed by a 2x2 pool, dense 128, "
       "softmax"},
      {"seed000-cnn-dropout", "C32v-P-D0.25-C64v-P-D0.25-128-D0.5-10", "seed 000",
       "the Keras baseline with dropout 0.25 after each pool and 0.5 before the last dense"},
      {"seed003-mlp", "100-10-sigmoid", "seed 003",
       "784-100-10 with a ReLU hidden layer and sigmoid outputs, trained as the study did with "
       "Keras' sparse categorical cross-entropy (outputs renormalized to sum to 1)"},
      {"seed004-mlp", "128-64-10", "seed 004",
       "784-128-64-10 MLP with ReLU, trained with SGD at batch 32 (lr and epochs unstated)"},
      // Traditional baselines, which seed 003 promises to compare against (it gives no figures).
      {"knn3", "knn3", "seed 003",
       "k-nearest neighbours, k = 3, L2 distance over all training images (stored in the "
       "checkpoint, 43 MB for MNIST)"},
      {"logreg", "10", "seed 003",
       "multinomial logistic regression: one linear layer, softmax, cross-entropy"},
      {"linear-svm", "10-svm", "seed 003",
       "linear SVM: one linear layer trained with the multi-class hinge loss (one-vs-rest margins, "
       "as torch's multi_margin_loss)"},
  };
}

// Seed 001 gives layer sizes only. Choices, applied to every row alike: ReLU everywhere (as the
// study says); 'same' convolutions (the only padding that puts the deep net of Table 6 over its
// stated 900,000 parameters: 909,866 here, 369,066 with 'valid'), 3x3 except in Table 4 (below);
// LeNet-5 with its classic 5x5 kernels, the first padded as the original's 32x32 input; "with
// dropout" means 0.2 after each hidden dense layer, of an MLP or a CNN, plus 0.25 after each pool
// of a CNN (the Keras CNN example's); Table 3 states its rates. The Keras example's 0.5 after dense
// layers left the small CNNs underfit after 40 epochs (measured: 32-P-32-10 at 1.85% against the
// published 1.46%).
std::vector<ZooEntry> seed001_models() {
  std::vector<ZooEntry> out;
  // The choices go into each description, since the study states none of them.
  auto add = [&](const std::string& name, const std::string& spec, const std::string& what) {
    std::string d = what;
    const bool conv = spec[0] == 'C';
    if (conv && name.rfind("lenet5", 0) != 0) {
      d += spec.find("k5") != std::string::npos
               ? "; 5x5 'same' convolution (kernel size unstated; 3x3 overfit this table's "
                 "32-P-100-50-10, 5x5 as in the study's reference, Nielsen's book)"
               : "; 3x3 'same' convolutions (kernel and padding unstated; 'same' is the only "
                 "padding that gives Table 6's net its stated 900,000+ parameters)";
    }
    if (conv && spec.find('D') != std::string::npos) {
      d += "; dropout 0.25 after each pool (as the Keras CNN example) and 0.2 after each hidden "
           "dense layer (as this study's MLP rows; rates and placement unstated)";
    }
    d += "; ReLU, Adam, batch 128 as the study";
    out.push_back({"seed001-" + name, spec, "seed 001", d});
  };
  // Dropout 0.2 reproduces the 64- and 128-unit rows, but on 16 units it costs 2.4 points where
  // the study lost 0.76 (measured: 7.14% vs 5.77% published); 0.05 reproduces it (5.16%).
  for (int h : {16, 64, 128}) {
    const std::string n = std::to_string(h);
    const std::string rate = h == 16 ? "0.05" : "0.2";
    add("mlp" + n, n + "-10", "Table 1: 784-" + n + "-10");
    add("mlp" + n + "-dropout", n + "-D" + rate + "-10",
        "Table 1: 784-" + n + "-10 with dropout " + rate +
            (h == 16 ? " (the study states no rate; 0.2 costs this small net 2.4 points where the "
                       "study lost 0.76, 0.05 reproduces its figure)"
                     : std::string(" after the hidden layer (rate unstated; the Keras MLP "
                                   "example's)")));
  }
  add("mlp16-16", "16-16-10", "Table 2: 784-16-16-10");
  add("mlp64-16", "64-16-10", "Table 2: 784-64-16-10");
  add("mlp64-64", "64-64-10", "Table 2: 784-64-64-10");
  add("mlp1000-500", "1000-500-10", "Table 2: 784-1000-500-10");
  add("mlp1500-1000-500", "1500-1000-500-10", "Table 3: 784-1500-1000-500-10, no dropout");
  for (const char* r : {"0.15", "0.2", "0.25", "0.5"}) {
    const std::string d = std::string("D") + r;
    add(std::string("mlp1500-1000-500-d") + r, "1500-" + d + "-1000-" + d + "-500-" + d + "-10",
        std::string("Table 3: 784-1500-1000-500-10, dropout ") + r + " after each hidden layer");
  }
  // Table 4 uses 5x5 kernels: the study states none, and with 3x3 its 32-P-100-50-10 overfits
  // from epoch 5 (median of three seeds 1.41% against 1.04%) where 5x5 gives 1.16%; its
  // reference [5], Nielsen's book, uses 5x5 kernels. Tables 5-6 keep 3x3 (they reproduce).
  add("c32-p-32", "C32k5-P-32-10", "Table 4: 32-P-32-10");
  add("c32-p-32-dropout", "C32k5-P-D0.25-32-D0.2-10", "Table 4: 32-P-32-10 with dropout");
  add("c32-p-100-50", "C32k5-P-100-50-10", "Table 4: 32-P-100-50-10");
  add("c32-p-100-50-dropout", "C32k5-P-D0.25-100-D0.2-50-D0.2-10",
      "Table 4: 32-P-100-50-10 with dropout");
  add("c32-p-150-100-50", "C32k5-P-150-100-50-10", "Table 4: 32-P-150-100-50-10");
  add("c32-p-150-100-50-dropout", "C32k5-P-D0.25-150-D0.2-100-D0.2-50-D0.2-10",
      "Table 4: 32-P-150-100-50-10 with dropout");
  add("c32-p-c32-p-100-50", "C32-P-C32-P-100-50-10", "Table 5: 32-P-32-P-100-50-10");
  add("c32-p-c32-p-100-50-dropout", "C32-P-D0.25-C32-P-D0.25-100-D0.2-50-D0.2-10",
      "Table 5: 32-P-32-P-100-50-10 with dropout");
  add("c32-p-c32-p-1000-500", "C32-P-C32-P-1000-500-10", "Table 5: 32-P-32-P-1000-500-10");
  add("c32-p-c32-p-1000-500-dropout", "C32-P-D0.25-C32-P-D0.25-1000-D0.2-500-D0.2-10",
      "Table 5: 32-P-32-P-1000-500-10 with dropout");
  add("lenet5", "C6k5-P-C16k5v-P-120-84-10", "Table 5: LeNet-5, 6-P-16-P-120-84-10, 5x5 kernels");
  add("lenet5-dropout", "C6k5-P-C16k5v-P-D0.25-120-D0.2-84-D0.2-10",
      "Table 5: LeNet-5 with dropout");
  add("deep", "C32-C32-P-C64-C64-P-256-128-64-10", "Table 6: 32-32-P-64-64-P-256-128-64-10");
  add("deep-dropout", "C32-C32-P-D0.25-C64-C64-P-D0.25-256-D0.2-128-D0.2-64-D0.2-10",
      "Table 6: the deep CNN with dropout");
  return out;
}

}  // namespace

const std::vector<ZooEntry>& zoo() {
  static const std::vector<ZooEntry> kAll = [] {
    std::vector<ZooEntry> all = base_zoo();
    for (auto& e : seed001_models()) all.push_back(e);
    return all;
  }();
  return kAll;
}

const ZooEntry& find_model(const std::string& name) {
  for (const auto& e : zoo()) {
    if (e.name == name) return e;
  }
  throw core::UsageError("--model: unknown model '" + name +
                         "' ('digitlab models' lists them; or describe one with --arch)");
}

int models_command(bool json) {
  nlohmann::json out = nlohmann::json::array();
  if (!json) std::printf("%-38s %10s  %-9s %s\n", "name", "params", "source", "spec");
  for (const auto& e : zoo()) {
    const int64_t params = count_parameters(parse_spec(e.spec));
    if (json) {
      out.push_back({{"name", e.name},
                     {"spec", e.spec},
                     {"parameters", params},
                     {"source", e.source},
                     {"description", e.description}});
    } else {
      std::printf("%-38s %10lld  %-9s %s\n", e.name.c_str(), static_cast<long long>(params),
                  e.source.c_str(), e.spec.c_str());
    }
  }
  if (json) std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace digitlab::models
