// Checkpoint files: a torch archive holding "meta" (JSON text) and "model" (parameters, buffers).
#include "train/checkpoint.h"

#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "core/run_files.h"
#include "core/sha256.h"
#include "models/builder.h"
#include "models/ensemble.h"

namespace digitlab::train {
using core::RuntimeError;

nlohmann::json CheckpointMeta::to_json() const {
  nlohmann::json j = {{"format", kCheckpointFormat},
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
                      {"resume", resume},
                      {"torch_version", TORCH_VERSION},
                      {"digitlab_version", DIGITLAB_VERSION}};
  if (!members.is_null()) {
    j["combine"] = combine;
    j["members"] = members;
  }
  if (!tensors_sha256.empty()) j["tensors_sha256"] = tensors_sha256;
  if (!state_sha256.empty()) j["state_sha256"] = state_sha256;
  return j;
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
  m.resume = j.value("resume", nlohmann::json());
  m.members = j.value("members", nlohmann::json());
  m.combine = j.value("combine", std::string("average"));
  m.tensors_sha256 = j.value("tensors_sha256", std::string());
  m.state_sha256 = j.value("state_sha256", std::string());
  if (!m.members.is_null() && (!m.members.is_array() || m.members.empty())) {
    throw core::UsageError("'members' is not a list of ensemble members");
  }
  return m;
}

namespace {

// The training state's checksum: the optimizer archive's bytes, then the generator state's.
std::string state_digest(const std::string& optimizer_bytes, const torch::Tensor& rng) {
  core::Sha256 h;
  h.update(optimizer_bytes.data(), optimizer_bytes.size());
  const torch::Tensor c = rng.contiguous();
  if (c.numel() > 0) h.update(c.data_ptr(), size_t(c.numel()) * c.element_size());
  return h.hex_digest();
}

}  // namespace

std::string tensors_sha256(torch::nn::Sequential& net) {
  core::Sha256 h;
  auto add = [&h](const std::string& name, const torch::Tensor& t) {
    const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const std::string head =
        name + "|" + c10::toString(c.scalar_type()) + "|" + c10::str(c.sizes()) + "\n";
    h.update(head.data(), head.size());
    if (c.numel() > 0) h.update(c.data_ptr(), size_t(c.numel()) * c.element_size());
  };
  for (const auto& p : net->named_parameters()) add("parameter " + p.key(), p.value());
  for (const auto& b : net->named_buffers()) add("buffer " + b.key(), b.value());
  return h.hex_digest();
}

void save_checkpoint(const std::string& path, torch::nn::Sequential& net,
                     const CheckpointMeta& meta, torch::optim::Optimizer* optimizer) {
  // Serialized in memory, then written by the checked atomic writer: LibTorch's file writer
  // throws from its destructor when the disk fills up, which ends the process.
  std::ostringstream bytes;
  try {
    CheckpointMeta m = meta;
    m.tensors_sha256 = tensors_sha256(net);
    // The optimizer's state travels as the bytes of its own archive, so that its checksum is
    // over exactly what a later load reads.
    std::string optimizer_bytes;
    torch::Tensor rng;
    if (optimizer) {
      torch::serialize::OutputArchive optimizer_archive;
      optimizer->save(optimizer_archive);
      std::ostringstream os;
      optimizer_archive.save_to(os);
      optimizer_bytes = os.str();
      auto generator = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(generator.mutex());
      rng = generator.get_state();
      m.state_sha256 = state_digest(optimizer_bytes, rng);
    }
    torch::serialize::OutputArchive archive;
    archive.write("meta", c10::IValue(m.to_json().dump()));
    torch::serialize::OutputArchive model_archive;
    net->save(model_archive);
    archive.write("model", model_archive);
    if (optimizer) {
      const torch::Tensor blob =
          torch::from_blob(optimizer_bytes.data(), {int64_t(optimizer_bytes.size())}, torch::kUInt8)
              .clone();
      archive.write("optimizer_state", blob, /*is_buffer=*/true);
      archive.write("cpu_rng_state", rng, /*is_buffer=*/true);
    }
    archive.save_to(bytes);
  } catch (const c10::Error& e) {
    throw RuntimeError(path + ": cannot write checkpoint (" +
                       core::one_line(e.what_without_backtrace()) + ")");
  }
  core::write_file_atomic(path, bytes.str());
}

torch::nn::Sequential build_from_meta(const CheckpointMeta& meta, models::ArchSpec& spec) {
  const int64_t classes = int64_t(meta.class_names.size());
  if (meta.members.is_null()) {
    spec = models::parse_spec(meta.spec);
    return models::build_network(spec, classes);
  }
  std::vector<models::EnsembleMember> members;
  for (const auto& m : meta.members) {
    const auto norm = data::Normalization::from_json(m.at("normalization"));
    members.push_back(
        {models::parse_spec(m.at("spec").get<std::string>()), norm.scale(), norm.shift()});
  }
  spec = models::ArchSpec{};  // no layers of its own; its outputs are log-probabilities
  spec.head = models::Head::kSoftmax;
  torch::nn::Sequential net;
  net->push_back(
      models::Ensemble(members, classes, models::parse_combine(meta.combine, "combine")));
  return net;
}

std::string resolve_checkpoint_path(const std::string& target) {
  if (core::dir_exists(target)) {
    // A run trained with restore_best = false ends on its last weights, as in Keras.
    std::string name = core::run_files::kBestCheckpoint;
    const std::string config = core::join_path(target, core::run_files::kConfig);
    if (core::file_exists(config)) {
      // An unreadable or odd config.json only loses this choice: best.pt is the default.
      auto j = core::parse_json(core::read_file(config));
      try {
        if (!j.is_discarded() && j.contains("options") && j["options"].is_object() &&
            !j["options"].value("/early_stopping/restore_best"_json_pointer, true)) {
          name = core::run_files::kLastCheckpoint;
        }
      } catch (const nlohmann::json::exception&) {
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
    archive.load_from(path, torch::kCPU);  // a GPU-trained checkpoint loads anywhere
  } catch (const std::exception& e) {  // c10::Error, or TorchScript's own errors for odd archives
    throw RuntimeError(path + ": not a readable checkpoint (truncated or not a torch archive)");
  }
  c10::IValue meta_value;
  if (!archive.try_read("meta", meta_value) || !meta_value.isString()) {
    throw RuntimeError(path + ": not a digitlab checkpoint (no metadata)");
  }
  try {
    std::string error;
    auto j = core::parse_json(meta_value.toStringRef(), &error);
    if (j.is_discarded()) {
      throw RuntimeError(path + ": checkpoint metadata is malformed (" + core::one_line(error) +
                         ")");
    }
    if (j.value("format", "") == "digitlab-line-reader") {
      throw RuntimeError(path +
                         ": a line reader, which reads whole numbers (read, bench --what read, "
                         "serve --reader), not a digit classifier");
    }
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
    out.net = build_from_meta(out.meta, out.spec);
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError(path + ": ensemble members are malformed (" + core::one_line(e.what()) +
                       ")");
  } catch (const core::Error& e) {
    throw RuntimeError(path + ": " + e.what());
  }
  // InputArchive::read replaces a tensor of another shape or type instead of failing, so record
  // what the spec implies and compare after loading. A tensor the spec leaves empty (the training
  // set a knn<K> stores) may hold any number of rows.
  struct Expected {
    std::string name;
    std::vector<int64_t> shape;
    c10::ScalarType dtype;
    bool any_rows;
  };
  std::vector<Expected> expected;
  for (const auto& p : out.net->named_parameters()) {
    expected.push_back({p.key(), p.value().sizes().vec(), p.value().scalar_type(), false});
  }
  for (const auto& b : out.net->named_buffers()) {
    expected.push_back(
        {b.key(), b.value().sizes().vec(), b.value().scalar_type(), b.value().numel() == 0});
  }
  try {
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    out.net->load(model_archive);
    auto params = out.net->named_parameters();
    auto buffers = out.net->named_buffers();
    int64_t rows = -1;  // the stored training set's size, which every any_rows tensor shares
    for (const auto& e : expected) {
      const torch::Tensor* t = params.find(e.name);
      if (!t) t = buffers.find(e.name);
      std::vector<int64_t> have = t ? t->sizes().vec() : std::vector<int64_t>{};
      if (t && e.any_rows && !have.empty() && have.size() == e.shape.size()) {
        if (rows < 0) rows = have[0];
        if (have[0] == rows) have[0] = e.shape[0];
      }
      if (!t || have != e.shape || t->scalar_type() != e.dtype) {
        throw RuntimeError(path + ": weights do not match architecture '" + out.meta.spec +
                           "' (tensor " + e.name + " is " +
                           (t ? c10::str(t->scalar_type(), t->sizes()) : std::string("missing")) +
                           ", expected " + c10::str(e.dtype, c10::IntArrayRef(e.shape)) + ")");
      }
    }
    if (models::find_knn(out.net)) {
      const torch::Tensor* labels = buffers.find("0.labels");
      const int64_t classes = int64_t(out.meta.class_names.size());
      if (labels && labels->numel() > 0 &&
          (labels->min().item<int64_t>() < 0 || labels->max().item<int64_t>() >= classes)) {
        throw RuntimeError(path + ": stored labels fall outside the " + std::to_string(classes) +
                           " classes");
      }
    }
  } catch (const core::Error&) {
    throw;
  } catch (const std::exception& e) {
    const auto* c10e = dynamic_cast<const c10::Error*>(&e);
    throw RuntimeError(path + ": weights do not match architecture '" + out.meta.spec + "' (" +
                       core::one_line(c10e ? c10e->what_without_backtrace() : e.what()) + ")");
  }
  // Torch archives carry no checksum a reader checks, so damaged values would load silently.
  if (!out.meta.tensors_sha256.empty() && tensors_sha256(out.net) != out.meta.tensors_sha256) {
    throw RuntimeError(path +
                       ": damaged checkpoint: its weights do not match the checksum recorded "
                       "when it was written");
  }
  out.net->eval();
  return out;
}

namespace {

torch::serialize::InputArchive open_archive(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, torch::kCPU);
  } catch (const std::exception&) {
    throw RuntimeError(path + ": not a readable checkpoint (truncated or not a torch archive)");
  }
  return archive;
}

}  // namespace

CheckpointMeta load_weights_for_resume(const std::string& path, torch::nn::Sequential& net) {
  // load_checkpoint validates the file, its metadata and every tensor's shape; its weights then
  // go into the caller's network, whose parameters the optimizer will hold.
  LoadedCheckpoint ck = load_checkpoint(path);
  if (ck.meta.resume.is_null() || !ck.meta.resume.is_object()) {
    throw RuntimeError(path + ": holds no training state to resume from");
  }
  torch::NoGradGuard no_grad;
  auto source = ck.net->named_parameters();
  for (auto& p : net->named_parameters()) {
    const torch::Tensor* t = source.find(p.key());
    if (!t || t->sizes() != p.value().sizes()) {
      throw RuntimeError(path + ": weights do not match the run's architecture (" + p.key() + ")");
    }
    p.value().copy_(*t);
  }
  auto source_buffers = ck.net->named_buffers();
  for (auto& b : net->named_buffers()) {
    const torch::Tensor* t = source_buffers.find(b.key());
    if (!t || t->sizes() != b.value().sizes()) {
      throw RuntimeError(path + ": buffers do not match the run's architecture (" + b.key() + ")");
    }
    b.value().copy_(*t);
  }
  return ck.meta;
}

void load_training_state(const std::string& path, torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive archive = open_archive(path);
  torch::Tensor blob;
  torch::Tensor rng;
  torch::serialize::InputArchive optimizer_archive;
  const bool has_rng = archive.try_read("cpu_rng_state", rng, /*is_buffer=*/true);
  try {
    if (has_rng && archive.try_read("optimizer_state", blob, /*is_buffer=*/true)) {
      const std::string bytes(static_cast<const char*>(blob.contiguous().data_ptr()),
                              size_t(blob.numel()));
      c10::IValue meta_value;
      const auto meta = archive.try_read("meta", meta_value) && meta_value.isString()
                            ? core::parse_json(meta_value.toStringRef())
                            : nlohmann::json();
      const std::string expected = meta.is_object() ? meta.value("state_sha256", "") : "";
      if (expected != state_digest(bytes, rng)) {
        throw RuntimeError(path +
                           ": damaged checkpoint: its training state does not match the checksum "
                           "recorded when it was written");
      }
      optimizer_archive.load_from(bytes.data(), bytes.size(), torch::kCPU);
    } else if (!has_rng || !archive.try_read("optimizer", optimizer_archive)) {
      throw RuntimeError(path + ": holds no optimizer state to resume from");
    }
    optimizer.load(optimizer_archive);
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng);
  } catch (const core::Error&) {
    throw;
  } catch (const std::exception& e) {
    const auto* c10e = dynamic_cast<const c10::Error*>(&e);
    throw RuntimeError(path + ": optimizer state does not fit this run (" +
                       core::one_line(c10e ? c10e->what_without_backtrace() : e.what()) + ")");
  }
}

}  // namespace digitlab::train
