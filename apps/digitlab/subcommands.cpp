// The subcommands of digitlab: each one's flags and its one library call, in a table.
#include "subcommands.h"

#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "bench/bench.h"
#include "core/error.h"
#include "core/files.h"
#include "core/process.h"
#include "core/settings.h"
#include "data/font_digits.h"
#include "data/import.h"
#include "data/loader_bench.h"
#include "data/preview.h"
#include "data/store.h"
#include "dist/env.h"
#include "dist/group.h"
#include "export/export.h"
#include "models/zoo.h"
#include "read/line_set.h"
#include "read/piece_set.h"
#include "report/lr_find_plot.h"
#include "report/report_commands.h"
#include "reproduce/reproduce.h"
#include "serve/serve.h"
#include "train/lr_find.h"
#include "train/train_commands.h"
#include "tune/tune.h"

namespace digitlab::app {
namespace {

// Flags several subcommands share, declared by one function so that they read the same everywhere.
struct RuntimeFlags {
  int threads = 0;
  std::string precision = "auto";
  std::string device = "cpu";
  bool json = false;
};
enum RuntimeFlag { kThreads = 1, kPrecision = 2, kDevice = 4, kJson = 8 };

void add_runtime_flags(CLI::App& c, RuntimeFlags& f, int which) {
  if (which & kThreads) c.add_option("--threads", f.threads, "compute threads, 0 = one per core");
  if (which & kPrecision) {
    c.add_option("--precision", f.precision,
                 "auto, fp32 or bf16 weights (default auto: bf16 on AMX-BF16 CPUs and GPUs)");
  }
  if (which & kDevice) c.add_option("--device", f.device, "cpu, cuda or auto (default cpu)");
  if (which & kJson) c.add_flag("--json", f.json, "one JSON document on stdout");
}

// One check of the shared flags for every command (train's own validate() makes the same).
void check(const RuntimeFlags& f) { train::validate_runtime(f.threads, f.precision, f.device); }

// "a,b,,c" -> {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// torchrun's variables, read once.
const dist::DistEnv& dist_env() {
  static const dist::DistEnv env =
      dist::dist_env([](const char* name) { return std::getenv(name); });
  return env;
}

class DataCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.require_subcommand(1);
    fetch_ = c.add_subcommand("fetch", "install and verify data set files");
    verify_ = c.add_subcommand("verify", "check data set files against SHA-256 sums");
    info_ = c.add_subcommand("info", "class counts and pixel mean/std");
    make_ = c.add_subcommand("make",
                             "make a data set from others: mnist-pieces (what `read` "
                             "shows its classifier, for training one for it)");
    import_ = c.add_subcommand("import",
                               "bring in a data set of your own: class folders of images, a "
                               "Kaggle-style CSV, or IDX files");
    for (auto* s : {fetch_, verify_, info_}) {
      s->add_option("--dataset", dataset_,
                    "mnist, fashion-mnist, an imported data set, or all (default all)");
    }
    import_
        ->add_option("source", import_o_.source, "folder of class folders or IDX files, or a .csv")
        ->required();
    import_->add_option("--name", import_o_.name, "the data set's name for --dataset")->required();
    import_->add_option("--format", import_o_.format,
                        "folder, csv or idx (default: what the source looks like)");
    import_->add_option("--size", import_o_.size, "side of the images written (default 28)");
    import_->add_option("--invert", import_o_.invert,
                        "dark ink on light paper: auto (per image, as predict), yes, no "
                        "(default auto)");
    import_->add_flag("--strict", import_o_.strict, "the first bad input fails the import");
    import_->add_option("--test-share", import_o_.test_share,
                        "share of each class for the test split when the source has none "
                        "(default 0.2)");
    import_->add_option("--seed", import_o_.seed, "which images the test share takes (default 42)");
    make_->add_option("--dataset", dataset_, "mnist-lines, mnist-pieces or font-digits")
        ->required();
    make_->add_option("--out", font_out_, "font-digits: the image folder to write");
    make_->add_option("--per-digit", per_digit_,
                      "font-digits: images of each digit, spread over the fonts (default 100)");
    numbers_ = make_->add_option(
        "--numbers", pieces_.train_numbers,
        "numbers composed from the training digits (default 40000 for mnist-lines, 8000 for "
        "mnist-pieces; a sixth as many from the test digits, at most 2000 for mnist-lines)");
    make_->add_option("--fonts", fonts_,
                      "font files or folders (.ttf, .otf; comma-separated): mnist-pieces: their "
                      "digits join the training digits; font-digits: the fonts drawn");
    info_->add_flag("--json", json_, "one JSON document on stdout");
  }
  int run(const Context& ctx) override {
    if (*import_) {
      import_o_.data_root = ctx.data_root;
      return data::import_command(import_o_);
    }
    if (*make_ && dataset_ == "font-digits") {
      if (fonts_.empty()) throw core::UsageError("--fonts: required for font-digits");
      return data::make_font_digits_command(split_list(fonts_), font_out_, per_digit_, 42);
    }
    if (*make_ && dataset_ == "mnist-lines") {
      if (!font_out_.empty() || !fonts_.empty()) {
        throw core::UsageError(std::string(font_out_.empty() ? "--fonts" : "--out") +
                               ": not for --dataset mnist-lines");
      }
      read::LineSetOptions lo;
      if (numbers_->count() > 0) {
        lo.train_numbers = pieces_.train_numbers;
        lo.test_numbers = std::clamp(pieces_.train_numbers / 6, 1, lo.test_numbers);
      }
      return read::make_lines_command(ctx.data_root, lo);
    }
    if (*make_) {
      if (!font_out_.empty()) throw core::UsageError("--out: only for --dataset font-digits");
      if (dataset_ != "mnist-pieces") {
        throw core::UsageError(
            "--dataset: only mnist-lines, mnist-pieces and font-digits are "
            "made, not '" +
            dataset_ + "'");
      }
      pieces_.test_numbers = std::max(1, pieces_.train_numbers / 6);
      if (!fonts_.empty()) pieces_.fonts = split_list(fonts_);
      return read::make_pieces_command(ctx.data_root, pieces_);
    }
    if (*fetch_) return data::fetch_command(ctx.data_root, dataset_);
    if (*verify_) return data::verify_command(ctx.data_root, dataset_);
    return data::info_command(ctx.data_root, dataset_, json_);
  }

 private:
  CLI::App *fetch_ = nullptr, *verify_ = nullptr, *info_ = nullptr, *make_ = nullptr,
           *import_ = nullptr;
  CLI::Option* numbers_ = nullptr;
  read::PieceSetOptions pieces_;
  data::ImportOptions import_o_;
  std::string font_out_;
  int per_digit_ = 100;
  std::string fonts_;
  std::string dataset_;
  bool json_ = false;
};

class ModelsCommand : public Command {
 public:
  void declare(CLI::App& c) override { add_runtime_flags(c, flags_, kJson); }
  int run(const Context&) override { return models::models_command(flags_.json); }

 private:
  RuntimeFlags flags_;
};

class PreviewCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("--dataset", o_.dataset,
                 "mnist, fashion-mnist or an imported data set (default mnist)");
    c.add_option("--augment", o_.augment,
                 "augmentation spec: rows of an image beside its draws (default none: the mosaic)");
    c.add_option("--grid", o_.grid, "mosaic COLUMNSxROWS, each image once, labelled (default 8x8)");
    c.add_option("--out", o_.out, "PNG file to write")->required();
    c.add_option("--rows", o_.rows, "with --augment: images, one per row (default 8)");
    c.add_option("--variants", o_.variants, "augmented versions of each (default 6)");
    c.add_option("--seed", o_.seed, "which images and draws (default 42)");
    c.add_flag("--numbers", o_.numbers,
               "whole numbers composed from training digits, as `read` is trained and measured on");
  }
  int run(const Context& ctx) override {
    o_.data_root = ctx.data_root;
    return data::preview_command(o_);
  }

 private:
  data::PreviewOptions o_;
};

class BenchCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("--what", what_,
                 "model (training and inference speed; default), time-to-accuracy, loader, or "
                 "scan (a trained run's accuracy on scan-like images), or read (a trained run "
                 "reading numbers composed from test digits)")
        ->check(CLI::IsMember({"model", "time-to-accuracy", "loader", "scan", "read"}));
    c.add_option("--model", models_,
                 "model: zoo names or specs, comma-separated (default seed002-cnn)");
    c.add_option("--precision", precision_,
                 "model: fp32, bf16, auto, comma-separated (default fp32,bf16); "
                 "time-to-accuracy: one (default auto)");
    c.add_option("--steps", model_.steps, "model: timed training steps (default 300)");
    c.add_option(
        "--arch", accuracy_.arch,
        std::string("time-to-accuracy: model name or spec (default ") + bench::kFastArch + ")");
    c.add_option("--target", accuracy_.target, "time-to-accuracy: test accuracy (default 0.99)");
    c.add_option("--epochs", accuracy_.epochs,
                 "time-to-accuracy: length of the one-cycle schedule (default 1)");
    c.add_option("--lr", accuracy_.lr, "time-to-accuracy: peak learning rate (default 0.003)");
    c.add_option("--evals-per-epoch", accuracy_.evals_per_epoch,
                 "time-to-accuracy: test evaluations per epoch (default 1)");
    c.add_option("--seed", accuracy_.seed, "time-to-accuracy: random seed (default 42)");
    c.add_option("--eval-from", accuracy_.eval_from,
                 "time-to-accuracy: first epoch with test evaluations (default 1)");
    c.add_option("--label-smoothing", accuracy_.label_smoothing,
                 "time-to-accuracy: label smoothing of the training loss (default 0)");
    c.add_flag("--tta", accuracy_.tta,
               "time-to-accuracy: evaluate with test-time augmentation (the image and its "
               "four one-pixel shifts)");
    c.add_option("--dataset", loader_.dataset, "loader: mnist or fashion-mnist (default mnist)");
    c.add_option("--augment", loader_.augment,
                 "loader, time-to-accuracy: one augmentation spec (loader default: none, "
                 "seed002, seed002 + elastic; time-to-accuracy default none)");
    c.add_option("--workers", loader_.workers, "loader: loader threads (default 1)");
    c.add_option("--batch-size", batch_, "batch size (default 64)");
    add_runtime_flags(c, flags_, kThreads | kDevice | kJson);
    c.add_option("--run", run_, "scan, read: the trained run (or checkpoint) to measure");
    count_option_ =
        c.add_option("--count", count_,
                     "scan: test digits per variant (default 1000); read: numbers (default 2000)");
    c.add_option("--save-errors", save_errors_, "read: directory for the first 100 misread images");
    c.add_option("--fonts", fonts_,
                 "read: font files (TTF, OTF; comma-separated) to draw the digits from instead "
                 "of MNIST's test digits");
  }
  int run(const Context& ctx) override {
    check(flags_);
    if (what_ == "loader") return loader(ctx);
    if (what_ == "scan") return scan(ctx);
    if (what_ == "read") return read(ctx);
    if (what_ == "time-to-accuracy") return time_to_accuracy(ctx);
    model_.data_root = ctx.data_root;
    model_.json = flags_.json;
    model_.threads = flags_.threads;
    model_.device = flags_.device;
    if (!models_.empty()) model_.models = split_list(models_);
    if (!precision_.empty()) model_.precisions = split_list(precision_);
    if (batch_ > 0) model_.batch_size = batch_;
    return bench::model_bench_command(model_);
  }

 private:
  int loader(const Context& ctx) {
    loader_.data_root = ctx.data_root;
    loader_.json = flags_.json;
    if (batch_ > 0) loader_.batch_size = batch_;
    return data::loader_bench_command(loader_);
  }
  int scan(const Context& ctx) {
    if (run_.empty()) throw core::UsageError("--what scan: give --run RUN_DIR");
    serve::ScanBenchOptions scan;
    scan.model = run_;
    scan.data_root = ctx.data_root;
    scan.count = count_;
    scan.json = flags_.json;
    scan.threads = flags_.threads;
    return serve::scan_bench_command(scan);
  }
  int read(const Context& ctx) {
    if (run_.empty()) throw core::UsageError("--what read: give --run RUN_DIR");
    serve::ReadBenchOptions o;
    o.model = run_;
    o.data_root = ctx.data_root;
    if (count_option_->count() > 0) o.count = count_;
    o.save_errors = save_errors_;
    if (!fonts_.empty()) o.fonts = split_list(fonts_);
    o.json = flags_.json;
    o.threads = flags_.threads;
    return serve::read_bench_command(o);
  }
  int time_to_accuracy(const Context& ctx) {
    accuracy_.data_root = ctx.data_root;
    accuracy_.json = flags_.json;
    accuracy_.threads = flags_.threads;
    accuracy_.device = flags_.device;
    if (!loader_.augment.empty()) accuracy_.augment = loader_.augment;
    if (!precision_.empty()) accuracy_.precision = precision_;
    if (batch_ > 0) accuracy_.batch_size = batch_;
    return bench::time_to_accuracy_command(accuracy_);
  }

  std::string what_ = "model", models_, precision_, run_;
  data::LoaderBenchOptions loader_;
  bench::ModelBenchOptions model_;
  bench::TimeToAccuracyOptions accuracy_;
  int64_t batch_ = 0;
  int count_ = 1000;
  CLI::Option* count_option_ = nullptr;
  std::string save_errors_;
  std::string fonts_;
  RuntimeFlags flags_;
};

class ReproduceCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("table", o_.table,
                 "seed000, seed001-t1 ... seed001-t6, seed002, seed003, seed004 or all")
        ->required();
    c.add_flag("--quick", o_.quick, "1 epoch on 3,000 images per row (a smoke test)");
    c.add_option("--out", o_.out, "output folder (default runs/reproduce-TABLE)");
    c.add_option("--threads", o_.threads, "compute threads, 0 = one per core");
    c.add_option("--seed", o_.seed, "random seed (default 42)");
    c.add_option("--seeds", o_.seeds,
                 "train each row at this many seeds (--seed and the next ones) and report the "
                 "median run (default 1)")
        ->check(CLI::Range(1, 100));
  }
  int run(const Context& ctx) override {
    o_.data_root = ctx.data_root;
    return reproduce::reproduce_command(o_);
  }

 private:
  reproduce::ReproduceOptions o_;
};

// DIGITLAB_TEST_FAULT=STEP:SIGNAL[:RANK], for the interruption tests (train/options.h).
void set_test_fault(train::TrainOptions& o) {
  const char* v = std::getenv("DIGITLAB_TEST_FAULT");
  if (!v || !*v) return;
  long long step = 0;
  int sig = 0, rank = -1;
  const int n = std::sscanf(v, "%lld:%d:%d", &step, &sig, &rank);
  if (n < 2 || step < 1 || sig < 1 || sig > 64 || (n == 3 && rank < 0)) {
    throw core::UsageError("DIGITLAB_TEST_FAULT: expected STEP:SIGNAL[:RANK], got '" +
                           std::string(v) + "'");
  }
  o.fault_step = step;
  o.fault_signal = sig;
  o.fault_rank = rank;
}

class TrainCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    for (const auto& d : train::train_option_table()) {
      std::string flag = "--" + d.key, help = d.help;
      std::replace(flag.begin(), flag.end(), '_', '-');
      if (!d.default_text.empty()) help += " (default " + d.default_text + ")";
      given_[d.key] = d.is_switch ? c.add_flag(flag, switches_[d.key], help)
                                  : c.add_option(flag, values_[d.key], help);
    }
    c.add_option("--config", config_, "TOML or JSON file of options (flag names, _ for -)");
    c.add_option("--resume", resume_,
                 "continue the run in this directory from checkpoints/last.pt, with its own "
                 "options (--epochs and --threads may change)");
  }
  int run(const Context& ctx) override {
    train::TrainLayers layers;
    for (const auto& [key, opt] : given_) {
      if (opt->count() > 0) layers.flags[key] = switches_.count(key) ? "true" : values_[key];
    }
    layers.flags["data_root"] = ctx.data_root;
    train::TrainOptions options;
    if (!resume_.empty()) {
      if (!config_.empty()) {
        throw core::UsageError("--resume: the run's own options are used; not --config");
      }
      options = train::resume_options(resume_, train::layer_train_settings(layers));
    } else {
      layers.config_path = config_;
      layers.env = train::train_env([](const char* name) { return std::getenv(name); });
      options = train::train_options_from(train::layer_train_settings(layers));
    }
    options.argv = ctx.argv;
    set_test_fault(options);
    return train_alone_or_in_group(options);
  }

 private:
  // Trains alone, or as one rank of a data-parallel group when torchrun's variables are set;
  // then the lead writes the run's report.
  static int train_alone_or_in_group(train::TrainOptions options) {
    const auto& env = dist_env();
    std::string run_dir;
    std::shared_ptr<train::Collective> group;
    if (env.active) {
      if (options.out_dir.empty()) {
        throw core::UsageError(
            "--out: a data-parallel run needs one (every rank must name the same directory)");
      }
      if (options.threads == 0) options.threads = dist::threads_per_rank(env);
      group = dist::join_group(env, options.dist_timeout);
    }
    const int code = train::train_command(options, &run_dir, group.get());
    if (code == 0 && (!env.active || env.rank == 0))
      report::report_after(run_dir, options.data_root);
    return code;
  }

  std::map<std::string, std::string> values_;
  std::map<std::string, bool> switches_;
  std::map<std::string, CLI::Option*> given_;
  std::string config_, resume_;
};

// The train flags that shape a sweep's steps (model, data, batch, optimizer, seed...); the rest
// (epochs, schedules, logs, checkpoints) mean nothing to one short sweep.
bool lr_find_flag(const std::string& key) {
  static const std::set<std::string> kSkipped = {"epochs",
                                                 "lr",
                                                 "lr_schedule",
                                                 "lr_step",
                                                 "lr_gamma",
                                                 "lr_patience",
                                                 "lr_min",
                                                 "warmup_epochs",
                                                 "test_every",
                                                 "tensorboard",
                                                 "tb_every_steps",
                                                 "tb_histograms",
                                                 "tb_images",
                                                 "dist_timeout",
                                                 "early_stopping",
                                                 "monitor",
                                                 "min_delta",
                                                 "restore_best",
                                                 "out",
                                                 "overwrite",
                                                 "save_every",
                                                 "init_from",
                                                 "freeze"};
  return kSkipped.count(key) == 0;
}

class LrFindCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    for (const auto& d : train::train_option_table()) {
      if (!lr_find_flag(d.key)) continue;
      std::string flag = "--" + d.key, help = d.help;
      std::replace(flag.begin(), flag.end(), '_', '-');
      if (!d.default_text.empty()) help += " (default " + d.default_text + ")";
      given_[d.key] = d.is_switch ? c.add_flag(flag, switches_[d.key], help)
                                  : c.add_option(flag, values_[d.key], help);
    }
    c.add_option("--start", o_.start, "first learning rate (default 1e-7)");
    c.add_option("--end", o_.end, "last learning rate, reached at the last step (default 10)");
    c.add_option("--steps", o_.steps,
                 "steps, one batch each, rates rising exponentially (default 100)");
    c.add_option("--out", o_.out_dir,
                 "folder for lr_find.csv and lr_find.png (default runs/lr-find-<model>-<time>)");
    c.add_flag("--json", o_.json, "one JSON document on stdout");
  }
  int run(const Context& ctx) override {
    train::TrainLayers layers;
    for (const auto& [key, opt] : given_) {
      if (opt->count() > 0) layers.flags[key] = switches_.count(key) ? "true" : values_[key];
    }
    layers.flags["data_root"] = ctx.data_root;
    o_.train = train::train_options_from(train::layer_train_settings(layers));
    return train::lr_find_command(o_, report::write_lr_find_png);
  }

 private:
  train::LrFindOptions o_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> switches_;
  std::map<std::string, CLI::Option*> given_;
};

class TuneCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("--space", o_.space_file,
                 "TOML search space: [tune], [train] (fixed options) and [space] tables");
    c.add_option("--param", o_.params,
                 "a searched parameter, NAME=a,b,c or NAME=MIN..MAX[/STEP][:log] "
                 "(repeatable; replaces the file's entry)");
    c.add_option("--set", o_.fixed, "a fixed train option of every trial, KEY=VALUE (repeatable)");
    settings_ = {
        c.add_option("--tuner", o_.tuner, "grid, random or hyperband (default grid)"),
        c.add_option("--objective", o_.objective,
                     "val_acc (maximized) or val_loss (minimized); default val_acc"),
        c.add_option("--trials", o_.trials,
                     "random: trials to run (default 10); grid: at most this many"),
        c.add_option("--max-epochs", o_.max_epochs,
                     "hyperband: epochs of a fully trained trial (default: [train] epochs)"),
        c.add_option("--factor", o_.factor, "hyperband: reduction factor (default 3)"),
        c.add_option("--iterations", o_.iterations,
                     "hyperband: times to run all brackets (default 1)"),
        c.add_option("--seed", o_.seed, "seed of the random draws (default 42)"),
        c.add_option("--out", o_.out, "search directory (default runs/tune-<time>)")};
    c.add_option("--parallel", o_.parallel, "trials trained at once (default 1)");
    c.add_option("--threads", o_.threads,
                 "compute threads per trial (default: the cores divided among the parallel "
                 "trials)");
    c.add_option("--resume", o_.resume,
                 "continue the search in this directory; finished trials are kept");
  }
  int run(const Context& ctx) override {
    for (auto* opt : settings_) o_.resume_flags_given |= opt->count() > 0;
    o_.program = ctx.program;
    o_.env = train::train_env([](const char* name) { return std::getenv(name); });
    // Under `digitlab launch` the ranks share the search's trials.
    std::shared_ptr<tune::Sync> sync;
    if (dist_env().active) {
      sync = dist::join_search(dist_env(), 60);
      o_.sync = sync.get();
      o_.local_ranks = dist_env().local_world_size;
    }
    return tune::tune_command(o_);
  }

 private:
  tune::TuneOptions o_;
  std::vector<CLI::Option*> settings_;
};

class LaunchCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("--nproc", o_.nproc, "ranks on this machine (default 1)");
    c.add_option("--nnodes", o_.nnodes, "machines taking part (default 1)");
    c.add_option("--node-rank", o_.node_rank, "this machine's index (default 0)");
    c.add_option("--master", o_.master,
                 "HOST:PORT where rank 0 serves the group's store (default 127.0.0.1:29500)");
    c.add_option("--timeout", o_.timeout,
                 "seconds the other ranks get to end after one failed (default 60)");
    c.add_option("command", o_.command, "after --: the digitlab command each rank runs")
        ->required();
  }
  int run(const Context& ctx) override {
    o_.program = ctx.program;
    return dist::launch_command(o_);
  }

 private:
  dist::LaunchOptions o_;
};

class EvaluateCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("target", o_.target, "run directory or checkpoint file")->required();
    c.add_option("--split", o_.split, "test or val (default test)");
    c.add_option("--dataset", o_.dataset,
                 "score on another data set's test split with the same classes (an imported "
                 "one: your own digits); default the run's own; files go to eval/NAME_*");
    add_runtime_flags(c, flags_, kThreads | kJson | kPrecision | kDevice);
    c.add_flag("--tta", o_.tta,
               "test-time augmentation: average over the image and its 1-pixel shifts");
  }
  // Evaluates; a run directory's report is then rewritten with the new eval/ files (messages on
  // stderr, so --json keeps stdout to one document).
  int run(const Context& ctx) override {
    check(flags_);
    o_.data_root = ctx.data_root;
    o_.threads = flags_.threads;
    o_.json = flags_.json;
    o_.precision = flags_.precision;
    o_.device = flags_.device;
    const int code = train::evaluate_command(o_);
    if (code == 0 && o_.write_files && o_.split == "test" && o_.dataset.empty() &&
        core::dir_exists(o_.target)) {
      report::report_after(o_.target, o_.data_root);
    }
    return code;
  }

 private:
  train::EvalOptions o_;
  RuntimeFlags flags_;
};

class EnsembleCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("members", o_.members, "run directories or checkpoint files")->required();
    c.add_option("--combine", o_.combine,
                 "what --save stores: average (mean of probabilities) or vote (default "
                 "average); both are reported");
    c.add_option("--split", o_.split,
                 "test, or val when all members held out the same images (default test)");
    c.add_flag("--tta", o_.tta, "test-time augmentation of each member");
    c.add_option("--save", o_.save,
                 "write the ensemble as one checkpoint file (for evaluate, predict, serve)");
    add_runtime_flags(c, flags_, kJson | kThreads);
    c.add_option("--batch-size", o_.batch_size, "images per forward (default 1000)");
    add_runtime_flags(c, flags_, kPrecision | kDevice);
  }
  int run(const Context& ctx) override {
    check(flags_);
    o_.data_root = ctx.data_root;
    o_.threads = flags_.threads;
    o_.json = flags_.json;
    o_.precision = flags_.precision;
    o_.device = flags_.device;
    return train::ensemble_command(o_);
  }

 private:
  train::EnsembleOptions o_;
  RuntimeFlags flags_;
};

class PredictCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("--model", o_.model, "run directory or checkpoint file")->required();
    c.add_option("images", o_.inputs, "image files or directories")->required();
    c.add_option("--top-k", o_.top_k, "classes to list per image (default 3)");
    c.add_flag("--json", o_.json, "one JSON array on stdout");
    c.add_option("--save-preprocessed", o_.save_preprocessed,
                 "directory for the 28x28 images the model saw");
    add_runtime_flags(c, flags_, kThreads | kPrecision);
  }
  int run(const Context&) override {
    check(flags_);
    o_.threads = flags_.threads;
    o_.precision = flags_.precision;
    return serve::predict_command(o_);
  }

 private:
  serve::PredictOptions o_;
  RuntimeFlags flags_;
};

class ReadCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("--model", o_.model, "run directory or checkpoint file")->required();
    c.add_option("images", o_.inputs, "image files or directories")->required();
    c.add_flag("--json", o_.json, "one JSON document on stdout");
    c.add_option("--min-confidence", o_.min_confidence,
                 "digits read with less are marked uncertain, '?' in the text (default 0.6)");
    add_runtime_flags(c, flags_, kThreads | kPrecision);
  }
  int run(const Context&) override {
    check(flags_);
    o_.threads = flags_.threads;
    o_.precision = flags_.precision;
    return serve::read_command(o_);
  }

 private:
  serve::ReadCommandOptions o_;
  RuntimeFlags flags_;
};

// A request body over a gibibyte is no digit image; the limit keeps --max-body meaningful.
constexpr size_t kMaxBodyLimit = size_t(1) << 30;

class ServeCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("--model", o_.model, "run directory or checkpoint file")->required();
    c.add_option("--reader", o_.reader,
                 "run that reads numbers for POST /v1/read and the page's number pad: a line "
                 "reader (train --config recipes/read-numbers.toml) or a classifier (default: "
                 "--model)");
    c.add_option("--host", o_.server.host, "address to listen on (default 127.0.0.1)");
    c.add_option("--port", o_.server.port, "port (default 8080; 0 = any free port)");
    c.add_option("--max-body", o_.server.max_body, "largest request body in bytes (default 4 MiB)");
    c.add_option("--connections", o_.server.max_connections,
                 "connections open at once (default 512); past it the longest-waiting idle one "
                 "is closed");
    c.add_option("--workers", o_.server.workers,
                 "requests decoded and predicted at once (default 8)");
    c.add_option("--timeout", o_.server.timeout_seconds,
                 "seconds a client has to send a request's headers, and an idle connection stays "
                 "open (default 10)");
    add_runtime_flags(c, flags_, kThreads | kPrecision);
  }
  int run(const Context&) override {
    check(flags_);
    if (o_.server.port < 0 || o_.server.port > 65535) {
      throw core::UsageError("--port: must be 0 to 65535");
    }
    if (o_.server.max_connections < 1 || o_.server.max_connections > 100000) {
      throw core::UsageError("--connections: must be 1 to 100000");
    }
    if (o_.server.workers < 1 || o_.server.workers > 1024) {
      throw core::UsageError("--workers: must be 1 to 1024");
    }
    if (!(o_.server.timeout_seconds >= 0.1 && o_.server.timeout_seconds <= 3600)) {
      throw core::UsageError("--timeout: must be 0.1 to 3600 seconds");
    }
    if (o_.server.max_body < 1 || o_.server.max_body > kMaxBodyLimit) {
      throw core::UsageError("--max-body: must be 1 to " + std::to_string(kMaxBodyLimit) +
                             " bytes");
    }
    o_.threads = flags_.threads;
    o_.precision = flags_.precision;
    return serve::serve_command(o_);
  }

 private:
  serve::ServeOptions o_;
  RuntimeFlags flags_;
};

class ExportCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("target", o_.target, "run directory or checkpoint file")->required();
    c.add_option("--format", o_.format, "onnx or pytorch")->required();
    c.add_option("--out", o_.out, "ONNX file, or directory for pytorch")->required();
    c.add_option("--opset", o_.opset, "ONNX opset, 13 to 17 (default 17)");
  }
  int run(const Context&) override { return exporter::export_command(o_); }

 private:
  exporter::ExportOptions o_;
};

class SummaryCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("target", o_.target, "run directory or checkpoint file (or --model, --arch)");
    c.add_option("--model", o_.model, "zoo model name (see 'digitlab models')");
    c.add_option("--arch", o_.arch, "architecture spec, e.g. C32-P-R(C32-BN-C32)-P-128-10");
    c.add_option("--dataset", o_.dataset,
                 "data set whose classes the output layer has, for --model or --arch (default "
                 "mnist)");
    c.add_flag("--json", o_.json, "one JSON document on stdout");
  }
  int run(const Context& ctx) override {
    o_.data_root = ctx.data_root;
    return train::summary_command(o_);
  }

 private:
  train::SummaryOptions o_;
};

class ReportCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("run_dir", o_.run_dir, "run directory")->required();
  }
  int run(const Context& ctx) override {
    o_.data_root = ctx.data_root;
    return report::report_command(o_);
  }

 private:
  report::ReportCommandOptions o_;
};

class CompareCommand : public Command {
 public:
  void declare(CLI::App& c) override {
    c.add_option("runs", o_.runs, "run directories, or a directory of runs (a search)")->required();
    c.add_option("--out", o_.out, "HTML page to write (default compare.html)");
    c.add_flag("--json", o_.json, "one JSON document on stdout");
  }
  int run(const Context&) override { return report::compare_command(o_); }

 private:
  report::CompareOptions o_;
};

template <typename T>
std::unique_ptr<Command> make() {
  return std::make_unique<T>();
}

}  // namespace

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> kTable = {
      {"data", "fetch, verify, describe or make data sets", make<DataCommand>},
      {"models", "list the model zoo", make<ModelsCommand>},
      {"summary", "layer table of a model: output shapes and parameter counts (Keras' summary)",
       make<SummaryCommand>},
      {"preview", "PNG mosaic of labelled training images, or of augmentations",
       make<PreviewCommand>},
      {"bench", "measure speed: loader, models, time to accuracy", make<BenchCommand>},
      {"reproduce", "re-run a study's result table", make<ReproduceCommand>},
      {"train", "train a model", make<TrainCommand>},
      {"lr-find",
       "learning-rate range test: loss over exponentially rising rates, a suggested --lr, a plot",
       make<LrFindCommand>},
      {"tune", "search hyperparameters (grid, random or Hyperband); every trial is a train run",
       make<TuneCommand>},
      {"launch",
       "start data-parallel ranks on this machine as torchrun does: launch --nproc N -- train ...",
       make<LaunchCommand>},
      {"evaluate", "evaluate a trained model", make<EvaluateCommand>},
      {"ensemble", "combine trained runs: accuracy of each and of their mean and vote; --save",
       make<EnsembleCommand>},
      {"predict", "read digit images (PNG, JPEG, BMP, GIF, PGM; files or directories)",
       make<PredictCommand>},
      {"read", "find and read whole numbers (postcodes, amounts, form fields) in photos and scans",
       make<ReadCommand>},
      {"serve",
       "HTTP service: POST /v1/predict, a drawing page at /, /healthz, /v1/model, /metrics",
       make<ServeCommand>},
      {"export", "write a trained model for other runtimes: ONNX, or PyTorch (model.py + weights)",
       make<ExportCommand>},
      {"report", "write RUN_DIR/report/index.html (curves, confusion, mistakes) and PNG figures",
       make<ReportCommand>},
      {"compare", "table of runs side by side and a page overlaying curves", make<CompareCommand>},
  };
  return kTable;
}

}  // namespace digitlab::app
