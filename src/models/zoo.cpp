// The model zoo: architectures the studies describe.
#include "models/zoo.h"

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/spec.h"

namespace digitlab::models {

const std::vector<ZooEntry>& zoo() {
  static const std::vector<ZooEntry> kZoo = {
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
  };
  return kZoo;
}

const ZooEntry& find_model(const std::string& name) {
  for (const auto& e : zoo()) {
    if (e.name == name) return e;
  }
  std::string known;
  for (const auto& e : zoo()) known += (known.empty() ? "" : ", ") + e.name;
  throw core::UsageError("--model: unknown model '" + name + "' (known: " + known +
                         "; or describe one with --arch)");
}

int models_command(bool json) {
  nlohmann::json out = nlohmann::json::array();
  if (!json) std::printf("%-22s %10s  %-9s %s\n", "name", "params", "source", "spec");
  for (const auto& e : zoo()) {
    const int64_t params = count_parameters(parse_spec(e.spec));
    if (json) {
      out.push_back({{"name", e.name},
                     {"spec", e.spec},
                     {"parameters", params},
                     {"source", e.source},
                     {"description", e.description}});
    } else {
      std::printf("%-22s %10lld  %-9s %s\n", e.name.c_str(), static_cast<long long>(params),
                  e.source.c_str(), e.spec.c_str());
    }
  }
  if (json) std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace digitlab::models
