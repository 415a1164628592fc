// The data sets digitlab knows: where their files live, their checksums, their class names.
#pragma once

#include <string>
#include <vector>

namespace digitlab::data {

enum class Split { kTrain, kTest };

struct DatasetFile {
  std::string name;    // file name under the data set's folder
  std::string sha256;  // of the file as stored
};

struct DatasetInfo {
  std::string name;  // "mnist", "fashion-mnist"
  std::string dir;   // folder under the data root
  DatasetFile train_images, train_labels, test_images, test_labels;
  std::vector<std::string> class_names;
  std::string source;     // where `data fetch` gets it
  std::string made_by;    // a data set made here from others: the command that makes it; its
                          // files have no fixed checksums and "all" leaves it out
  bool imported = false;  // brought in by `data import`: checksums from its manifest.json, and
                          // fetch and verify "all" leave it out
  std::vector<DatasetFile> files() const {
    return {train_images, train_labels, test_images, test_labels};
  }
};

// All known data sets, in a fixed order.
const std::vector<DatasetInfo>& datasets();

// The file in an imported data set's folder that describes it (data/import.h writes it).
constexpr const char* kManifestName = "manifest.json";

// Whether `name` can name an imported data set: 1 to 64 of [a-z0-9-_], not starting with '-',
// and not a built-in data set's name.
bool valid_import_name(const std::string& name);

// The data sets imported into `data_root`: every sub-folder with a valid name and a
// manifest.json, in name order. Throws core::RuntimeError naming a manifest that is not valid.
std::vector<DatasetInfo> imported_datasets(const std::string& data_root);

// Looks a data set up by name: the built-in ones, then, when `data_root` is given, one imported
// there (DATA_ROOT/NAME/manifest.json). Throws core::UsageError listing the known names when
// there is none, core::RuntimeError naming the manifest when it is not valid.
DatasetInfo find_dataset(const std::string& name, const std::string& data_root = "");

}  // namespace digitlab::data
