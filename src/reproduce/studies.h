// The result tables of the five studies: rows, published test errors and training protocols.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace digitlab::reproduce {

// How a table's rows are trained; a row may override epochs and early stopping.
struct Protocol {
  std::string optimizer = "adam";
  double lr = 1e-3;
  double momentum = 0;
  int64_t batch_size = 64;
  int epochs = 10;
  int patience = 0;  // early stopping on `monitor`, best weights restored; 0 = off
  std::string monitor = "val_acc";
  int64_t val_split = 5000;
  std::string normalization = "unit";
  std::string augment = "none";
  // >0: the test set is also measured every N epochs and the table adds the best of those, the
  // figure a study that "records the best test error" reported (it selects on the test set).
  int test_every = 0;
  std::string init = "torch";  // "glorot" for the Keras studies: Keras' default initializers
  std::string note;            // what the study states and what we chose
};

struct Row {
  std::string model;                      // zoo name
  std::optional<double> published_error;  // percent on the test set, as the study reports it
  std::optional<int> epochs, patience;    // overrides of the protocol
  std::string note;
};

struct Table {
  std::string id;  // seed000, seed001-t1, ...
  std::string title;
  Protocol protocol;
  std::vector<Row> rows;
};

const std::vector<Table>& tables();

// Looks a table up by id. Throws core::UsageError listing the ids.
const Table& find_table(const std::string& id);

}  // namespace digitlab::reproduce
