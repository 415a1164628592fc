// Line reader checkpoints: a torch archive holding "meta" (JSON text) and "model".
#include "train/line_checkpoint.h"

#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "train/checkpoint.h"

namespace digitlab::train {
namespace {

bool read_meta(torch::serialize::InputArchive& archive, nlohmann::json& meta) {
  c10::IValue value;
  if (!archive.try_read("meta", value) || !value.isString()) return false;
  meta = core::parse_json(value.toStringRef());
  return !meta.is_discarded() && meta.is_object() &&
         meta.value("format", "") == kLineCheckpointFormat;
}

}  // namespace

void save_line_checkpoint(const std::string& path, models::LineNet& net, nlohmann::json meta) {
  meta["format"] = kLineCheckpointFormat;
  meta["layout"] = kLineLayout;
  std::ostringstream bytes;
  try {
    torch::serialize::OutputArchive archive;
    archive.write("meta", c10::IValue(meta.dump()));
    torch::serialize::OutputArchive model;
    net->save(model);
    archive.write("model", model);
    archive.save_to(bytes);
  } catch (const c10::Error& e) {
    throw core::RuntimeError(path + ": cannot serialize the line reader (" +
                             core::one_line(e.what_without_backtrace()) + ")");
  }
  core::write_file_atomic(path, bytes.str());
}

bool is_line_checkpoint(const std::string& target) {
  try {
    const std::string path = resolve_checkpoint_path(target);
    if (!core::file_exists(path)) return false;
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);
    nlohmann::json meta;
    return read_meta(archive, meta);
  } catch (const std::exception&) {
    return false;
  }
}

LoadedLineReader load_line_checkpoint(const std::string& target) {
  LoadedLineReader out;
  out.path = resolve_checkpoint_path(target);
  if (!core::file_exists(out.path)) throw core::RuntimeError(out.path + ": no such checkpoint");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(out.path, torch::kCPU);
  } catch (const std::exception&) {
    throw core::RuntimeError(out.path +
                             ": not a readable checkpoint (truncated or not a torch archive)");
  }
  if (!read_meta(archive, out.meta)) {
    throw core::RuntimeError(out.path + ": not a line reader checkpoint");
  }
  // A checkpoint without "layout" may still fit (written before the key was): try it.
  const bool layout_given = out.meta.contains("layout");
  if (layout_given && out.meta["layout"] != kLineLayout) {
    throw core::RuntimeError(out.path + ": a line reader of another layout (" +
                             out.meta["layout"].dump() + ", this version reads " +
                             std::to_string(kLineLayout) + ")");
  }
  try {
    out.spec = models::parse_line_spec(out.meta.value("spec", ""));
    out.net = models::LineNet(out.spec);
    torch::serialize::InputArchive model;
    archive.read("model", model);
    out.net->load(model);
  } catch (const core::Error& e) {
    throw core::RuntimeError(out.path + ": " + e.what());
  } catch (const std::exception& e) {
    if (!layout_given) {
      throw core::RuntimeError(
          out.path +
          ": a line reader of an earlier layout, whose weights do not fit this version; train it "
          "again: digitlab train --config recipes/read-numbers.toml");
    }
    throw core::RuntimeError(out.path + ": the line reader's weights do not load (" +
                             core::one_line(e.what()) + ")");
  }
  out.net->eval();
  return out;
}

}  // namespace digitlab::train
