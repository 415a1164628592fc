// Reproduction of the studies' tables.
#include "reproduce/reproduce.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/run_files.h"
#include "core/terminal.h"
#include "data/dataset.h"
#include "models/spec.h"
#include "models/zoo.h"
#include "reproduce/studies.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/observers.h"
#include "train/trainer.h"

namespace digitlab::reproduce {
namespace {

constexpr int64_t kQuickImages = 3000;

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string machine_description() {
  std::ifstream cpu("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, libtorch " +
         TORCH_VERSION + " (CPU, fp32)";
}

train::TrainOptions row_options(const Table& t, const Row& r, const ReproduceOptions& o,
                                const std::string& dir) {
  const Protocol& p = t.protocol;
  train::TrainOptions to;
  to.model = r.model;
  to.data_root = o.data_root;
  to.optimizer = p.optimizer;
  to.lr = p.lr;
  to.momentum = p.momentum;
  to.batch_size = p.batch_size;
  to.epochs = r.epochs.value_or(p.epochs);
  to.early_stopping.patience = r.patience.value_or(p.patience);
  to.early_stopping.monitor = p.monitor;
  to.val_split = p.val_split;
  to.normalization = p.normalization;
  to.augment = p.augment;
  to.init = p.init;
  to.precision = "fp32";  // the studies trained in fp32
  to.test_every = p.test_every;
  to.seed = o.seed;
  to.threads = o.threads;
  to.out_dir = core::join_path(core::join_path(dir, t.id), r.model);
  to.overwrite = true;
  if (o.quick) {
    to.epochs = 1;
    to.train_limit = kQuickImages;
    to.val_split = std::min(to.val_split, 500.0);
    to.early_stopping.patience = 0;
    to.test_every = 0;
  }
  return to;
}

std::string difference_cell(const nlohmann::json& d) {
  if (d.is_null()) return "n/a";
  const double v = d.get<double>();
  return (v > 0 ? "+" : "") + fixed(v, 2) + (v <= 0.3 ? " ✓" : "");
}

std::string markdown(const nlohmann::json& results) {
  std::string md = "# Reproduction of the studies' result tables\n\n";
  md += "Machine: " + results["machine"].get<std::string>() +
        ". Date: " + results["date"].get<std::string>() + ". Seed " +
        std::to_string(results["seed"].get<int64_t>()) + ".";
  const int seeds = results.value("seeds", 1);
  if (seeds > 1) {
    const int64_t first = results["seed"].get<int64_t>();
    md += " Every row was trained with " + std::to_string(seeds) + " seeds (" +
          std::to_string(first) + " to " + std::to_string(first + seeds - 1) +
          "): \"our error\" is the median run's test error, \"best test\" the median of the "
          "runs' own best tests, and epochs and training time are the median run's; \"by "
          "seed\" lists every run's test error in seed order.";
  }
  if (results["quick"].get<bool>()) {
    md += " **Quick protocol** (1 epoch on " + std::to_string(kQuickImages) +
          " training images per row): these figures check the machinery, not the studies.";
  }
  md +=
      "\n\nError is the test-set error in percent; difference is ours minus published, in "
      "percentage points (negative is better). ✓ marks a row within 0.3 points of the published "
      "figure or better.\n";
  for (const auto& t : results["tables"]) {
    md += "\n## " + t["id"].get<std::string>() + ": " + t["title"].get<std::string>() + "\n\n";
    md += t["protocol"].get<std::string>() + ".\n\n";
    const int every = t.value("test_every", 0);
    if (every > 0) {
      md += "Our error selects on validation; \"best test, every " + std::to_string(every) +
            " epochs\" is the lowest test error measured every " + std::to_string(every) +
            " epochs of the same run, the study's own selection.\n\n";
      md +=
          "| model | spec | parameters | published error | our error | difference | best test, "
          "every " +
          std::to_string(every) + " epochs | difference | epochs | training time |" +
          std::string(seeds > 1 ? " by seed |" : "") +
          "\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" +
          (seeds > 1 ? " ---: |" : "") + "\n";
    } else {
      md +=
          "| model | spec | parameters | published error | our error | difference | epochs | "
          "training time |" +
          std::string(seeds > 1 ? " by seed |" : "") +
          "\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |" +
          (seeds > 1 ? " ---: |" : "") + "\n";
    }
    std::string notes;
    for (const auto& r : t["rows"]) {
      const bool has_pub = !r["published_error"].is_null();
      md += "| " + r["model"].get<std::string>() + " | `" + r["spec"].get<std::string>() + "` | " +
            std::to_string(r["parameters"].get<int64_t>()) + " | " +
            (has_pub ? fixed(r["published_error"].get<double>(), 2) : std::string("—")) + " | " +
            fixed(r["error"].get<double>(), 2) + " | " + difference_cell(r["difference"]) + " | ";
      if (every > 0) {
        const auto& s = r["study_error"];
        md += (s.is_null() ? std::string("—")
                           : fixed(s.get<double>(), 2) + " (epoch " +
                                 (r["study_epoch"].is_null()
                                      ? std::string("?")
                                      : std::to_string(r["study_epoch"].get<int>())) +
                                 ")") +
              " | " + difference_cell(r["study_difference"]) + " | ";
      }
      md += std::to_string(r["epochs"].get<int>()) + " | " +
            train::format_duration(r["train_seconds"].get<double>()) + " |";
      if (r.contains("seeds")) {
        std::string cell;
        for (const auto& run : r["seeds"]) {
          cell += (cell.empty() ? "" : ", ") + fixed(run["error"].get<double>(), 2);
        }
        md += " " + cell + " |";
      }
      md += "\n";
      if (!r["note"].get<std::string>().empty()) {
        notes += "- " + r["model"].get<std::string>() + ": " + r["note"].get<std::string>() + "\n";
      }
    }
    if (!notes.empty()) md += "\n" + notes;
  }
  return md;
}

// Trains one row at one seed and measures it on the test set; the published figures are added
// by the caller.
nlohmann::json run_row(const train::TrainOptions& to, const Row& r, const data::TensorSplit& test) {
  train::ConsoleProgress progress(core::stdout_is_terminal());
  train::TrainResult tr;
  train::MetricsLog log(core::join_path(to.out_dir, core::run_files::kMetrics));
  try {
    tr = train::train(to, {&progress, &log});
  } catch (const c10::Error& e) {
    throw core::RuntimeError(r.model + ": training failed (" +
                             core::one_line(e.what_without_backtrace()) + ")");
  }
  train::LoadedCheckpoint ck = train::load_checkpoint(tr.run_dir);
  const auto p =
      train::predict_split(ck.net, ck.spec.head, test.images, test.labels, ck.meta.normalization);
  double seconds = 0;
  for (const auto& e : tr.history) seconds += e.seconds;
  const double error = 100.0 * (1.0 - p.accuracy);
  nlohmann::json row = {{"model", r.model},
                        {"spec", ck.meta.spec},
                        {"parameters", ck.meta.parameters},
                        {"published_error", nullptr},
                        {"error", error},
                        {"difference", nullptr},
                        {"test_loss", p.loss},
                        {"epochs", int(tr.history.size())},
                        {"best_epoch", tr.best_epoch},
                        {"train_seconds", seconds},
                        {"run_dir", tr.run_dir},
                        {"note", r.note}};
  // The study's selection: the lowest of the test errors measured during training.
  nlohmann::json study_error = nullptr, study_epoch = nullptr;
  for (const auto& e : tr.history) {
    if (!e.test_acc) continue;
    const double err = 100.0 * (1.0 - *e.test_acc);
    if (study_error.is_null() || err < study_error.get<double>()) {
      study_error = err;
      study_epoch = e.epoch;
    }
  }
  row["study_error"] = study_error;
  row["study_epoch"] = study_epoch;
  std::printf(
      "%s: test error %.2f%%%s\n", r.model.c_str(), error,
      r.published_error ? (" (published " + fixed(*r.published_error, 2) + "%)").c_str() : "");
  return row;
}

}  // namespace

int reproduce_command(const ReproduceOptions& o) {
  std::vector<const Table*> selected;
  if (o.table == "all") {
    for (const auto& t : tables()) selected.push_back(&t);
  } else {
    selected.push_back(&find_table(o.table));
  }
  const std::string dir =
      o.out.empty() ? "runs/reproduce-" + o.table + (o.quick ? "-quick" : "") : o.out;
  core::make_dirs(dir);

  const auto& info = data::find_dataset("mnist");
  const data::TensorSplit test =
      data::to_tensors(data::load_raw_split(o.data_root, info, data::Split::kTest));

  char date[32];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d", std::localtime(&now));
  nlohmann::json results = {{"machine", machine_description()},
                            {"date", date},
                            {"quick", o.quick},
                            {"seed", o.seed},
                            {"seeds", o.seeds},
                            {"tables", nlohmann::json::array()}};
  for (const Table* t : selected) {
    results["tables"].push_back({{"id", t->id},
                                 {"title", t->title},
                                 {"protocol", t->protocol.note},
                                 {"test_every", o.quick ? 0 : t->protocol.test_every},
                                 {"rows", nlohmann::json::array()}});
    for (const Row& r : t->rows) {
      std::vector<nlohmann::json> runs;
      for (int i = 0; i < o.seeds; ++i) {
        ReproduceOptions so = o;
        so.seed = o.seed + uint64_t(i);
        std::printf("\n== %s: %s%s\n", t->id.c_str(), r.model.c_str(),
                    o.seeds > 1 ? (", seed " + std::to_string(so.seed)).c_str() : "");
        train::TrainOptions to = row_options(*t, r, so, dir);
        if (o.seeds > 1)
          to.out_dir = core::join_path(to.out_dir, "seed-" + std::to_string(so.seed));
        runs.push_back(run_row(to, r, test));
        runs.back()["seed"] = so.seed;
      }
      // The median run by test error stands for the row; the others are listed beside it.
      std::vector<size_t> order(runs.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return runs[a]["error"].get<double>() < runs[b]["error"].get<double>();
      });
      // With an even count the worse of the middle two stands, so the report never flatters.
      nlohmann::json row = runs[order[order.size() / 2]];
      if (o.seeds > 1) {
        nlohmann::json per_seed = nlohmann::json::array();
        std::vector<double> study;
        for (const auto& run : runs) {
          per_seed.push_back({{"seed", run["seed"]},
                              {"error", run["error"]},
                              {"study_error", run["study_error"]},
                              {"epochs", run["epochs"]},
                              {"train_seconds", run["train_seconds"]},
                              {"run_dir", run["run_dir"]}});
          if (!run["study_error"].is_null()) study.push_back(run["study_error"].get<double>());
        }
        row["seeds"] = per_seed;
        // The study's selection is also a median over the seeds, taken separately.
        if (study.size() == runs.size()) {
          std::sort(study.begin(), study.end());
          row["study_error"] = study[study.size() / 2];
          row["study_epoch"] = nullptr;
          for (const auto& run : runs) {
            if (run["study_error"].get<double>() == row["study_error"].get<double>()) {
              row["study_epoch"] = run["study_epoch"];
            }
          }
        }
      }
      row["study_difference"] = nullptr;
      if (r.published_error) {
        row["published_error"] = *r.published_error;
        row["difference"] = row["error"].get<double>() - *r.published_error;
        if (!row["study_error"].is_null()) {
          row["study_difference"] = row["study_error"].get<double>() - *r.published_error;
        }
      }
      if (o.seeds > 1) {
        std::printf("%s: median test error %.2f%% over %d seeds\n", r.model.c_str(),
                    row["error"].get<double>(), o.seeds);
      }
      results["tables"].back()["rows"].push_back(row);
      core::write_file_atomic(core::join_path(dir, "results.json"), results.dump(2) + "\n");
      core::write_file_atomic(core::join_path(dir, "results.md"), markdown(results));
    }
  }
  std::printf("\nwrote %s/results.md and results.json\n", dir.c_str());
  return 0;
}

}  // namespace digitlab::reproduce
