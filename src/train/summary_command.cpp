// `digitlab summary`: the layer table of a zoo model, a spec or a trained run, as text or JSON.
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/registry.h"
#include "models/spec.h"
#include "models/zoo.h"
#include "train/checkpoint.h"
#include "train/train_commands.h"

namespace digitlab::train {
namespace {

nlohmann::json summary_json(const std::string& name, const std::string& spec,
                            const models::ModelSummary& s) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : s.rows) {
    rows.push_back({{"name", r.name},
                    {"type", r.type},
                    {"output_shape", r.shape},
                    {"parameters", r.parameters},
                    {"depth", r.depth}});
  }
  return {{"model", name},
          {"spec", spec},
          {"input_shape", {s.input.channels, s.input.height, s.input.width}},
          {"layers", rows},
          {"total_parameters", s.total},
          {"trainable_parameters", s.trainable},
          {"non_trainable_parameters", s.non_trainable},
          {"batch_norm_statistics", s.bn_statistics},
          {"multiply_adds", s.multiply_adds},
          {"head", models::head_name(s.head)}};
}

}  // namespace

std::string summary_text(const std::string& name, const std::string& spec, int64_t classes) {
  const models::ModelSummary s = models::summarize(models::parse_spec(spec), classes);
  return "Model: \"" + name + "\" (" + spec + ")\n" + models::format_summary(s);
}

int summary_command(const SummaryOptions& o) {
  const int given = int(!o.model.empty()) + int(!o.arch.empty()) + int(!o.target.empty());
  if (given != 1) {
    throw core::UsageError(
        "summary: give exactly one of --model NAME, --arch SPEC or a run directory or checkpoint");
  }
  std::string name, spec;
  int64_t classes = 0;
  if (!o.target.empty()) {
    if (!o.dataset.empty()) {
      throw core::UsageError(
          "--dataset: a run's classes come from its checkpoint; give --dataset "
          "with --model or --arch only");
    }
    const LoadedCheckpoint ck = load_checkpoint(o.target);
    if (!ck.meta.members.is_null()) {
      throw core::UsageError(ck.path + ": is an ensemble of " +
                             std::to_string(ck.meta.members.size()) +
                             " networks; summarize its members one by one");
    }
    name = ck.meta.model, spec = ck.meta.spec;
    classes = int64_t(ck.meta.class_names.size());
  } else {
    name = o.model.empty() ? "custom" : o.model;
    spec = o.model.empty() ? o.arch : models::find_model(o.model).spec;
    classes = int64_t(data::find_dataset(o.dataset.empty() ? "mnist" : o.dataset, o.data_root)
                          .class_names.size());
  }
  if (o.json) {
    const models::ModelSummary s = models::summarize(models::parse_spec(spec), classes);
    std::cout << summary_json(name, spec, s).dump(2) << "\n";
  } else {
    std::cout << summary_text(name, spec, classes);
  }
  return 0;
}

}  // namespace digitlab::train
