// Checkpoint files: a torch archive holding "meta" (JSON text) and "model" (parameters, buffers).
#include "train/checkpoint.h"

#include "core/error.h"
#include "core/files.h"
#include "models/builder.h"

namespace digitlab::train {
using core::RuntimeError;

nlohmann::json CheckpointMeta::to_json() const {
  return {{"format", kCheckpointFormat},
          {"version", kCheckpointVersion},
          {"model", model},
          {"spec", spec},
          {"dataset", dataset},
          {"class_names", class_names},
          {"normalization", normalization.to_json()},
          {"options", options},
          {"epoch", epoch},
          {"metrics", metrics},
          {"parameters", parameters},
          {"torch_version", TORCH_VERSION},
          {"digitlab_version", DIGITLAB_VERSION}};
}

CheckpointMeta CheckpointMeta::from_json(const nlohmann::json& j) {
  CheckpointMeta m;
  m.model = j.at("model").get<std::string>();
  m.spec = j.at("spec").get<std::string>();
  m.dataset = j.at("dataset").get<std::string>();
  m.class_names = j.at("class_names").get<std::vector<std::string>>();
  m.normalization = data::Normalization::from_json(j.at("normalization"));
  m.options = j.at("options");
  m.epoch = j.at("epoch").get<int>();
  m.metrics = j.value("metrics", nlohmann::json::object());
  m.parameters = j.value("parameters", int64_t{0});
  return m;
}

void save_checkpoint(const std::string& path, torch::nn::Sequential& net,
                     const CheckpointMeta& meta) {
  core::write_atomic_with(path, [&](const std::string& tmp) {
    try {
      torch::serialize::OutputArchive archive;
      archive.write("meta", c10::IValue(meta.to_json().dump()));
      torch::serialize::OutputArchive model_archive;
      net->save(model_archive);
      archive.write("model", model_archive);
      archive.save_to(tmp);
    } catch (const c10::Error& e) {
      throw RuntimeError(path + ": cannot write checkpoint (" +
                         core::one_line(e.what_without_backtrace()) + ")");
    }
  });
}

std::string resolve_checkpoint_path(const std::string& target) {
  if (core::dir_exists(target)) {
    // A run trained with restore_best = false ends on its last weights, as in Keras.
    std::string name = "checkpoints/best.pt";
    const std::string config = core::join_path(target, "config.json");
    if (core::file_exists(config)) {
      auto j = nlohmann::json::parse(core::read_file(config), nullptr, false);
      if (!j.is_discarded() && j.contains("options") &&
          !j["options"].value("/early_stopping/restore_best"_json_pointer, true)) {
        name = "checkpoints/last.pt";
      }
    }
    const std::string path = core::join_path(target, name);
    if (!core::file_exists(path)) {
      throw RuntimeError(target + ": not a run directory with " + name);
    }
    return path;
  }
  if (!core::file_exists(target)) throw RuntimeError(target + ": no such run directory or file");
  return target;
}

LoadedCheckpoint load_checkpoint(const std::string& target) {
  LoadedCheckpoint out;
  out.path = resolve_checkpoint_path(target);
  const std::string& path = out.path;
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw RuntimeError(path + ": not a readable checkpoint (truncated or not a torch archive)");
  }
  c10::IValue meta_value;
  if (!archive.try_read("meta", meta_value) || !meta_value.isString()) {
    throw RuntimeError(path + ": not a digitlab checkpoint (no metadata)");
  }
  try {
    auto j = nlohmann::json::parse(meta_value.toStringRef());
    if (j.value("format", "") != kCheckpointFormat) {
      throw RuntimeError(path + ": not a digitlab checkpoint (format '" + j.value("format", "") +
                         "')");
    }
    if (j.value("version", 0) > kCheckpointVersion) {
      throw RuntimeError(path + ": checkpoint version " + std::to_string(j.value("version", 0)) +
                         " is newer than this digitlab reads (" +
                         std::to_string(kCheckpointVersion) + ")");
    }
    out.meta = CheckpointMeta::from_json(j);
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError(path + ": checkpoint metadata is malformed (" + core::one_line(e.what()) +
                       ")");
  } catch (const core::UsageError& e) {
    throw RuntimeError(path + ": " + e.what());
  }
  try {
    out.spec = models::parse_spec(out.meta.spec);
    out.net = models::build_network(out.spec, int64_t(out.meta.class_names.size()));
  } catch (const core::Error& e) {
    throw RuntimeError(path + ": " + e.what());
  }
  // InputArchive::read replaces a tensor of another shape instead of failing, so record the
  // shapes the spec implies and compare after loading.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& p : out.net->named_parameters()) {
    expected.emplace_back(p.key(), p.value().sizes().vec());
  }
  // A tensor the spec leaves empty (the training set a knn<K> stores) may hold any size.
  for (const auto& b : out.net->named_buffers()) {
    if (b.value().numel() > 0) expected.emplace_back(b.key(), b.value().sizes().vec());
  }
  try {
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    out.net->load(model_archive);
    auto params = out.net->named_parameters();
    auto buffers = out.net->named_buffers();
    for (const auto& [name, shape] : expected) {
      const torch::Tensor* t = params.find(name);
      if (!t) t = buffers.find(name);
      if (!t || t->sizes().vec() != shape) {
        throw RuntimeError(path + ": weights do not match architecture '" + out.meta.spec +
                           "' (tensor " + name + " has shape " +
                           (t ? c10::str(t->sizes()) : std::string("none")) + ", expected " +
                           c10::str(c10::IntArrayRef(shape)) + ")");
      }
    }
  } catch (const c10::Error& e) {
    throw RuntimeError(path + ": weights do not match architecture '" + out.meta.spec + "' (" +
                       core::one_line(e.what_without_backtrace()) + ")");
  }
  out.net->eval();
  return out;
}

}  // namespace digitlab::train
