// The `ensemble` command: members evaluated alone and combined, and saved as one checkpoint.
#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "data/dataset.h"
#include "models/ensemble.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/precision.h"
#include "train/runtime.h"
#include "train/train_commands.h"

namespace digitlab::train {
namespace {

// The options that decide which training images a run held out for validation.
nlohmann::json partition_of(const LoadedCheckpoint& ck) {
  const TrainOptions t = train_options_from_json(ck.meta.options);
  return {{"val_split", t.val_split},
          {"split_seed", split_seed_of(t)},
          {"val_strategy", t.val_strategy},
          {"train_limit", t.train_limit}};
}

double accuracy_of(const torch::Tensor& probabilities, const torch::Tensor& labels) {
  return probabilities.argmax(1).eq(labels).sum().item<double>() / double(labels.size(0));
}

// Copies `from`'s parameters and buffers into `to`, a network built from the same spec.
void copy_weights(torch::nn::Sequential& from, torch::nn::Sequential& to) {
  torch::NoGradGuard no_grad;
  auto params = from->named_parameters();
  for (auto& p : to->named_parameters()) p.value().copy_(params[p.key()]);
  auto buffers = from->named_buffers();
  for (auto& b : to->named_buffers()) {
    const torch::Tensor& src = buffers[b.key()];
    if (src.sizes() != b.value().sizes()) b.value().set_data(src.clone());
    b.value().copy_(src);
  }
}

}  // namespace

int ensemble_command(const EnsembleOptions& o) {
  if (o.members.empty()) throw core::UsageError("ensemble: give at least one run directory");
  const models::Combine combine = models::parse_combine(o.combine);
  if (o.split != "test" && o.split != "val") {
    throw core::UsageError("--split: unknown split '" + o.split + "' (allowed: test, val)");
  }
  configure_threads(o.threads);
  const torch::Device device = choose_device(o.device);

  std::vector<LoadedCheckpoint> members;
  for (const auto& target : o.members) {
    LoadedCheckpoint ck = load_checkpoint(target);
    if (!ck.meta.members.is_null()) {
      throw core::UsageError(target + ": is itself an ensemble; list its members instead");
    }
    if (ck.spec.is_knn()) {
      throw core::UsageError(target + ": k-nearest neighbours cannot be an ensemble member");
    }
    if (!members.empty()) {
      const auto& first = members.front();
      if (ck.meta.dataset != first.meta.dataset || ck.meta.class_names != first.meta.class_names) {
        throw core::UsageError(target + ": trained on " + ck.meta.dataset + ", the first member (" +
                               first.path + ") on " + first.meta.dataset +
                               "; members must share data set and classes");
      }
      if (o.split == "val" && partition_of(ck) != partition_of(first)) {
        throw core::UsageError(
            "--split val: " + target + " held out other validation images than " + first.path +
            " (split seed, val-split or strategy differ: train the members with one --split-seed), "
            "or use the test split");
      }
    }
    members.push_back(std::move(ck));
  }
  const data::DatasetInfo info = data::find_dataset(members.front().meta.dataset, o.data_root);
  const data::TensorSplit split = load_eval_split(members.front(), o.split, o.data_root, info);

  // The saved ensemble: fp32 copies of the members' weights, before any inference conversion.
  CheckpointMeta meta;
  meta.model = "ensemble";
  meta.dataset = members.front().meta.dataset;
  meta.class_names = members.front().meta.class_names;
  meta.normalization.mode = "none";  // members normalize raw pixels themselves
  meta.options = nlohmann::json::object();
  meta.combine = models::combine_name(combine);
  meta.members = nlohmann::json::array();
  std::string spec_text;
  for (const auto& m : members) {
    meta.members.push_back({{"model", m.meta.model},
                            {"spec", m.meta.spec},
                            {"normalization", m.meta.normalization.to_json()},
                            {"source", m.path},
                            {"epoch", m.meta.epoch}});
    meta.parameters += m.meta.parameters;
    spec_text += (spec_text.empty() ? "" : " | ") + m.meta.spec;
  }
  meta.spec =
      "ensemble of " + std::to_string(members.size()) + " (" + meta.combine + "): " + spec_text;

  // Built before the members are converted for inference, so it holds their fp32 weights.
  torch::nn::Sequential saved;
  if (!o.save.empty()) {
    models::ArchSpec spec;
    saved = build_from_meta(meta, spec);
    auto* ensemble = models::find_ensemble(saved);
    for (size_t i = 0; i < members.size(); ++i) copy_weights(members[i].net, ensemble->member(i));
  }

  nlohmann::json rows = nlohmann::json::array();
  std::vector<torch::Tensor> probs;
  const PrecisionChoice precision = choose_precision(o.precision, members.front().spec, device);
  for (auto& m : members) {
    m.net->to(device);
    prepare_for_inference(m.net, precision.precision);
    const SplitPredictions p = predict_checkpoint(m, split, o.batch_size, o.tta);
    probs.push_back(p.probabilities);
    rows.push_back({{"checkpoint", m.path},
                    {"model", m.meta.model},
                    {"spec", m.meta.spec},
                    {"epoch", m.meta.epoch},
                    {"accuracy", p.accuracy},
                    {"loss", p.loss}});
  }
  double mean_acc = 0, best_acc = 0;
  for (const auto& r : rows) {
    mean_acc += r["accuracy"].get<double>() / double(rows.size());
    best_acc = std::max(best_acc, r["accuracy"].get<double>());
  }
  const double average_acc =
      accuracy_of(models::combine_probabilities(probs, models::Combine::kAverage), split.labels);
  const double vote_acc =
      accuracy_of(models::combine_probabilities(probs, models::Combine::kVote), split.labels);
  meta.metrics = {{"split", o.split},
                  {"accuracy", combine == models::Combine::kVote ? vote_acc : average_acc},
                  {"tta", o.tta}};
  if (!o.save.empty()) save_checkpoint(o.save, saved, meta);

  const nlohmann::json summary = {
      {"dataset", info.name},
      {"split", o.split},
      {"count", split.size()},
      {"tta", o.tta},
      {"precision", precision.name},
      {"members", rows},
      {"member_mean_accuracy", mean_acc},
      {"member_best_accuracy", best_acc},
      {"average_accuracy", average_acc},
      {"vote_accuracy", vote_acc},
      {"saved", o.save.empty() ? nlohmann::json() : nlohmann::json(o.save)},
      {"saved_combine", meta.combine}};
  if (o.json) {
    std::cout << summary.dump(2) << "\n";
    return 0;
  }
  std::printf("%zu members on the %s %s split (%lld images, %s%s)\n\n", members.size(),
              info.name.c_str(), o.split.c_str(), static_cast<long long>(split.size()),
              precision.name.c_str(), o.tta ? ", test-time augmentation" : "");
  std::printf("  %-9s %-6s %s\n", "accuracy", "epoch", "member");
  for (const auto& r : rows) {
    std::printf("  %7.2f%%  %5d  %s (%s)\n", 100 * r["accuracy"].get<double>(),
                r["epoch"].get<int>(), r["checkpoint"].get<std::string>().c_str(),
                r["model"].get<std::string>().c_str());
  }
  std::printf("\n  %7.2f%%  members' mean (best %.2f%%)\n", 100 * mean_acc, 100 * best_acc);
  std::printf("  %7.2f%%  ensemble, mean of probabilities\n", 100 * average_acc);
  std::printf("  %7.2f%%  ensemble, majority vote\n", 100 * vote_acc);
  if (!o.save.empty()) {
    std::printf("\nsaved %s (%s); evaluate, predict and serve accept it\n", o.save.c_str(),
                meta.combine.c_str());
  }
  return 0;
}

}  // namespace digitlab::train
