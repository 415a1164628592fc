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
  std::string source;   // where `data fetch` gets it
  std::string made_by;  // a data set made here from others: the command that makes it; its
                        // files have no fixed checksums and "all" leaves it out
  std::vector<DatasetFile> files() const {
    return {train_images, train_labels, test_images, test_labels};
  }
};

// All known data sets, in a fixed order.
const std::vector<DatasetInfo>& datasets();

// Looks a data set up by name. Throws core::UsageError listing the known names.
const DatasetInfo& find_dataset(const std::string& name);

}  // namespace digitlab::data
