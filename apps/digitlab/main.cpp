// The digitlab program: parses flags and environment, then makes one library call per subcommand.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/bench.h"
#include "core/error.h"
#include "core/process.h"
#include "core/settings.h"
#include "data/bench.h"
#include "data/preview.h"
#include "data/store.h"
#include "dist/env.h"
#include "dist/group.h"
#include "export/export.h"
#include "models/zoo.h"
#include "report/commands.h"
#include "reproduce/reproduce.h"
#include "serve/serve.h"
#include "train/commands.h"
#include "tune/tune.h"

namespace {

using digitlab::core::Settings;
using digitlab::core::Source;

// Where data sets live: $DIGITLAB_DATA, or ./data.
std::string data_root() {
  const char* env = std::getenv("DIGITLAB_DATA");
  return env && *env ? env : "data";
}

struct TrainFlag {
  const char* key;
  const char* help;
};

// The train flags, by settings key; each is also a config-file key and a DIGITLAB_* variable.
const std::vector<TrainFlag> kTrainFlags = {
    {"model", "zoo model name (see 'digitlab models'); default seed002-cnn"},
    {"arch", "architecture spec, e.g. C32-P-C64-P-128-10"},
    {"dataset", "mnist or fashion-mnist (default mnist)"},
    {"epochs", "epochs to train (default 10)"},
    {"batch_size", "batch size (default 64)"},
    {"optimizer", "adam, adamw, sgd or rmsprop (default adam)"},
    {"lr", "learning rate (default 0.001)"},
    {"lr_schedule",
     "constant, cosine (decays to 0 over the run), onecycle (warm-up to --lr over 30% of the "
     "steps, then down), step (x --lr-gamma every --lr-step epochs) or plateau (x --lr-gamma "
     "after --lr-patience epochs without improvement of --monitor; needs --val-split) (default "
     "constant)"},
    {"lr_step", "step schedule: epochs between decays (default 10)"},
    {"lr_gamma", "step and plateau schedules: factor of each decay, in (0, 1] (default 0.1)"},
    {"lr_patience",
     "plateau schedule: epochs without improvement (by --min-delta) before a decay (default 3)"},
    {"lr_min", "plateau schedule: the learning rate never falls below this (default 0)"},
    {"warmup_epochs",
     "linear warm-up of the learning rate over this many epochs (may be fractional, e.g. 0.5), "
     "then the schedule; not with onecycle (default 0)"},
    {"label_smoothing",
     "label smoothing of the training loss, in [0, 1); softmax and logsoftmax heads only; "
     "validation and test losses stay unsmoothed (default 0)"},
    {"momentum", "momentum for sgd/rmsprop (default 0)"},
    {"weight_decay", "L2 weight decay (default 0)"},
    {"val_split", "training images held out for validation (default 5000)"},
    {"val_strategy", "random or stratified (each class keeps its share; default random)"},
    {"augment",
     "training augmentation, e.g. seed002 or rotate=10,scale=0.7:1,ratio=0.9:1.1,"
     "translate=0.1,elastic=34:4,erase=0.5 (default none)"},
    {"workers", "loader threads preparing batches ahead of the step (default 1)"},
    {"normalization", "standard, unit or none (default standard)"},
    {"init",
     "weight initialization: torch (LibTorch's) or glorot (Keras', zero biases; default torch)"},
    {"precision",
     "auto, fp32 or bf16 (autocast); auto picks bf16 on a GPU or a CPU with AMX-BF16, "
     "fp32 elsewhere (default auto)"},
    {"device", "cpu, cuda or auto (default cpu)"},
    {"seed",
     "random seed for initialization and shuffling, and for the validation split unless "
     "--split-seed is given (default 42)"},
    {"split_seed",
     "seed of the validation split alone (default: --seed); members of one ensemble share it so "
     "that `ensemble --split val` can compare them"},
    {"threads", "compute threads, 0 = one per core (default 0)"},
    {"train_limit", "use only the first N training images (default: all)"},
    {"test_every",
     "also report test accuracy every N epochs (never used for stopping; default 0 = off)"},
    {"tensorboard",
     "write TensorBoard event files to RUN_DIR/tensorboard/{train,validation,test} (default "
     "true)"},
    {"tb_every_steps", "also log batch loss and accuracy every N steps (default 0 = off)"},
    {"tb_histograms", "log a histogram of every layer's weights per epoch (default false)"},
    {"tb_images", "log an image of sample validation predictions per epoch (default false)"},
    {"dist_timeout",
     "data-parallel runs (digitlab launch, torchrun variables): seconds to wait for the other "
     "ranks before giving up (default 60)"},
    {"early_stopping", "patience in epochs; 0 = off (default 0)"},
    {"monitor", "early-stopping metric: val_loss or val_acc (default val_loss)"},
    {"min_delta", "smallest change that counts as an improvement (default 0)"},
    {"restore_best", "end on the best weights (default true)"},
    {"out", "run directory (default runs/<model>-<time>)"},
};

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

// DIGITLAB_TEST_FAULT=STEP:SIGNAL[:RANK], for the interruption tests (train/options.h).
void set_test_fault(digitlab::train::TrainOptions& o) {
  const char* v = std::getenv("DIGITLAB_TEST_FAULT");
  if (!v || !*v) return;
  long long step = 0;
  int sig = 0, rank = -1;
  const int n = std::sscanf(v, "%lld:%d:%d", &step, &sig, &rank);
  if (n < 2 || step < 1 || sig < 1 || sig > 64 || (n == 3 && rank < 0)) {
    throw digitlab::core::UsageError("DIGITLAB_TEST_FAULT: expected STEP:SIGNAL[:RANK], got '" +
                                     std::string(v) + "'");
  }
  o.fault_step = step;
  o.fault_signal = sig;
  o.fault_rank = rank;
}

std::string flag_name(const std::string& key) {
  std::string f = "--" + key;
  for (char& c : f) c = c == '_' ? '-' : c;
  return f;
}

// torchrun's variables, read once.
const digitlab::dist::DistEnv& dist_env() {
  static const digitlab::dist::DistEnv env =
      digitlab::dist::dist_env([](const char* name) { return std::getenv(name); });
  return env;
}

// Trains alone, or as one rank of a data-parallel group when torchrun's variables are set.
int train_maybe_in_group(digitlab::train::TrainOptions options) {
  const auto& env = dist_env();
  if (!env.active) return digitlab::report::train_command(options);
  if (options.out_dir.empty()) {
    throw digitlab::core::UsageError(
        "--out: a data-parallel run needs one (every rank must name the same directory)");
  }
  if (options.threads == 0) options.threads = digitlab::dist::threads_per_rank(env);
  auto group = digitlab::dist::join_group(env, options.dist_timeout);
  return digitlab::report::train_command(options, group.get());
}

int run(int argc, char** argv) {
  CLI::App app{"digitlab: train, evaluate and compare handwritten-digit classifiers"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  // data
  auto* data_cmd = app.add_subcommand("data", "fetch, verify or describe data sets");
  data_cmd->require_subcommand(1);
  std::string dataset;
  bool json = false;
  auto add_dataset = [&](CLI::App* c) {
    c->add_option("--dataset", dataset, "mnist, fashion-mnist or all (default all)");
  };
  auto* fetch = data_cmd->add_subcommand("fetch", "install and verify data set files");
  auto* verify = data_cmd->add_subcommand("verify", "check data set files against SHA-256 sums");
  auto* info = data_cmd->add_subcommand("info", "class counts and pixel mean/std");
  for (auto* c : {fetch, verify, info}) add_dataset(c);
  info->add_flag("--json", json, "one JSON document on stdout");

  // models
  auto* models_cmd = app.add_subcommand("models", "list the model zoo");
  models_cmd->add_flag("--json", json, "one JSON document on stdout");

  // preview
  auto* preview_cmd =
      app.add_subcommand("preview", "PNG grid of training images and augmentations");
  digitlab::data::PreviewOptions preview;
  preview_cmd->add_option("--dataset", preview.dataset, "mnist or fashion-mnist (default mnist)");
  preview_cmd->add_option("--augment", preview.augment, "augmentation spec (default seed002)");
  preview_cmd->add_option("--out", preview.out, "PNG file to write")->required();
  preview_cmd->add_option("--rows", preview.rows, "images, one per row (default 8)");
  preview_cmd->add_option("--variants", preview.variants, "augmented versions of each (default 6)");
  preview_cmd->add_option("--seed", preview.seed, "which images and draws (default 42)");

  // bench
  auto* bench_cmd = app.add_subcommand("bench", "measure speed: loader, models, time to accuracy");
  std::string bench_what = "model";
  digitlab::data::LoaderBenchOptions bench;
  digitlab::bench::ModelBenchOptions model_bench;
  digitlab::bench::TimeToAccuracyOptions tta;
  std::string bench_models, bench_precision;
  int64_t bench_batch = 0;
  int bench_threads = 0;
  std::string bench_device = "cpu";
  bool bench_json = false;
  bench_cmd
      ->add_option("--what", bench_what,
                   "model (training and inference speed; default), time-to-accuracy, loader, or "
                   "scan (a trained run's accuracy on scan-like images)")
      ->check(CLI::IsMember({"model", "time-to-accuracy", "loader", "scan"}));
  bench_cmd->add_option("--model", bench_models,
                        "model: zoo names or specs, comma-separated (default seed002-cnn)");
  bench_cmd->add_option("--precision", bench_precision,
                        "model: fp32, bf16, auto, comma-separated (default fp32,bf16); "
                        "time-to-accuracy: one (default auto)");
  bench_cmd->add_option("--steps", model_bench.steps, "model: timed training steps (default 300)");
  bench_cmd->add_option("--arch", tta.arch,
                        std::string("time-to-accuracy: model name or spec (default ") +
                            digitlab::bench::kFastArch + ")");
  bench_cmd->add_option("--target", tta.target, "time-to-accuracy: test accuracy (default 0.99)");
  bench_cmd->add_option("--epochs", tta.epochs,
                        "time-to-accuracy: length of the one-cycle schedule (default 1)");
  bench_cmd->add_option("--lr", tta.lr, "time-to-accuracy: peak learning rate (default 0.003)");
  bench_cmd->add_option("--evals-per-epoch", tta.evals_per_epoch,
                        "time-to-accuracy: test evaluations per epoch (default 1)");
  bench_cmd->add_option("--seed", tta.seed, "time-to-accuracy: random seed (default 42)");
  bench_cmd->add_option("--eval-from", tta.eval_from,
                        "time-to-accuracy: first epoch with test evaluations (default 1)");
  bench_cmd->add_option("--label-smoothing", tta.label_smoothing,
                        "time-to-accuracy: label smoothing of the training loss (default 0)");
  bench_cmd->add_flag("--tta", tta.tta,
                      "time-to-accuracy: evaluate with test-time augmentation (the image and its "
                      "four one-pixel shifts)");
  bench_cmd->add_option("--dataset", bench.dataset,
                        "loader: mnist or fashion-mnist (default mnist)");
  bench_cmd->add_option("--augment", bench.augment,
                        "loader, time-to-accuracy: one augmentation spec (loader default: none, "
                        "seed002, seed002 + elastic; time-to-accuracy default none)");
  bench_cmd->add_option("--workers", bench.workers, "loader: loader threads (default 1)");
  bench_cmd->add_option("--batch-size", bench_batch, "batch size (default 64)");
  bench_cmd->add_option("--threads", bench_threads, "compute threads, 0 = one per core");
  bench_cmd->add_option("--device", bench_device, "cpu, cuda or auto (default cpu)");
  bench_cmd->add_flag("--json", bench_json, "one JSON document on stdout");
  std::string bench_run;
  int bench_count = 1000;
  bench_cmd->add_option("--run", bench_run, "scan: the trained run (or checkpoint) to measure");
  bench_cmd->add_option("--count", bench_count, "scan: test digits per variant (default 1000)");

  // reproduce
  auto* repro_cmd = app.add_subcommand("reproduce", "re-run a study's result table");
  digitlab::reproduce::ReproduceOptions repro;
  repro_cmd
      ->add_option("table", repro.table,
                   "seed000, seed001-t1 ... seed001-t6, seed002, seed003, seed004 or all")
      ->required();
  repro_cmd->add_flag("--quick", repro.quick, "1 epoch on 3,000 images per row (a smoke test)");
  repro_cmd->add_option("--out", repro.out, "output folder (default runs/reproduce-TABLE)");
  repro_cmd->add_option("--threads", repro.threads, "compute threads, 0 = one per core");
  repro_cmd->add_option("--seed", repro.seed, "random seed (default 42)");
  repro_cmd
      ->add_option("--seeds", repro.seeds,
                   "train each row at this many seeds (--seed and the next ones) and report the "
                   "median run (default 1)")
      ->check(CLI::Range(1, 100));

  // train
  auto* train_cmd = app.add_subcommand("train", "train a model");
  std::map<std::string, std::string> train_values;
  std::map<std::string, CLI::Option*> train_opts;
  for (const auto& f : kTrainFlags) {
    train_opts[f.key] = train_cmd->add_option(flag_name(f.key), train_values[f.key], f.help);
  }
  std::string config_path;
  bool overwrite = false, drop_last = false;
  train_cmd->add_option("--config", config_path,
                        "TOML or JSON file of options (flag names, _ for -)");
  train_cmd->add_flag("--overwrite", overwrite, "replace an existing run in --out");
  train_cmd->add_flag("--drop-last", drop_last, "drop the last partial batch of each epoch");
  std::string resume_dir;
  train_cmd->add_option("--resume", resume_dir,
                        "continue the run in this directory from checkpoints/last.pt, with its own "
                        "options (--epochs and --threads may change)");

  // tune
  auto* tune_cmd = app.add_subcommand(
      "tune", "search hyperparameters (grid, random or Hyperband); every trial is a train run");
  digitlab::tune::TuneOptions tune;
  tune_cmd->add_option("--space", tune.space_file,
                       "TOML search space: [tune], [train] (fixed options) and [space] tables");
  tune_cmd->add_option("--param", tune.params,
                       "a searched parameter, NAME=a,b,c or NAME=MIN..MAX[/STEP][:log] "
                       "(repeatable; replaces the file's entry)");
  tune_cmd->add_option("--set", tune.fixed,
                       "a fixed train option of every trial, KEY=VALUE (repeatable)");
  std::vector<CLI::Option*> tune_settings = {
      tune_cmd->add_option("--tuner", tune.tuner, "grid, random or hyperband (default grid)"),
      tune_cmd->add_option("--objective", tune.objective,
                           "val_acc (maximized) or val_loss (minimized); default val_acc"),
      tune_cmd->add_option("--trials", tune.trials,
                           "random: trials to run (default 10); grid: at most this many"),
      tune_cmd->add_option("--max-epochs", tune.max_epochs,
                           "hyperband: epochs of a fully trained trial (default: [train] epochs)"),
      tune_cmd->add_option("--factor", tune.factor, "hyperband: reduction factor (default 3)"),
      tune_cmd->add_option("--iterations", tune.iterations,
                           "hyperband: times to run all brackets (default 1)"),
      tune_cmd->add_option("--seed", tune.seed, "seed of the random draws (default 42)"),
      tune_cmd->add_option("--out", tune.out, "search directory (default runs/tune-<time>)")};
  tune_cmd->add_option("--parallel", tune.parallel, "trials trained at once (default 1)");
  tune_cmd->add_option("--threads", tune.threads,
                       "compute threads per trial (default: the cores divided among the parallel "
                       "trials)");
  tune_cmd->add_option("--resume", tune.resume,
                       "continue the search in this directory; finished trials are kept");

  // launch
  auto* launch_cmd = app.add_subcommand(
      "launch",
      "start data-parallel ranks on this machine as torchrun does: launch --nproc N -- "
      "train ...");
  digitlab::dist::LaunchOptions launch;
  launch_cmd->add_option("--nproc", launch.nproc, "ranks on this machine (default 1)");
  launch_cmd->add_option("--nnodes", launch.nnodes, "machines taking part (default 1)");
  launch_cmd->add_option("--node-rank", launch.node_rank, "this machine's index (default 0)");
  launch_cmd->add_option("--master", launch.master,
                         "HOST:PORT where rank 0 serves the group's store (default "
                         "127.0.0.1:29500)");
  launch_cmd->add_option("--timeout", launch.timeout,
                         "seconds the other ranks get to end after one failed (default 60)");
  launch_cmd->add_option("command", launch.command, "after --: the digitlab command each rank runs")
      ->required();

  // evaluate
  auto* eval_cmd = app.add_subcommand("evaluate", "evaluate a trained model");
  digitlab::train::EvalOptions eval;
  eval_cmd->add_option("target", eval.target, "run directory or checkpoint file")->required();
  eval_cmd->add_option("--split", eval.split, "test or val (default test)");
  eval_cmd->add_option("--threads", eval.threads, "compute threads, 0 = one per core");
  eval_cmd->add_flag("--json", eval.json, "one JSON document on stdout");
  eval_cmd->add_option("--precision", eval.precision,
                       "auto, fp32 or bf16 weights (default auto: bf16 on AMX-BF16 CPUs and GPUs)");
  eval_cmd->add_option("--device", eval.device, "cpu, cuda or auto (default cpu)");
  eval_cmd->add_flag("--tta", eval.tta,
                     "test-time augmentation: average over the image and its 1-pixel shifts");

  // ensemble
  auto* ens_cmd = app.add_subcommand(
      "ensemble", "combine trained runs: accuracy of each and of their mean and vote; --save");
  digitlab::train::EnsembleOptions ens;
  ens_cmd->add_option("members", ens.members, "run directories or checkpoint files")->required();
  ens_cmd->add_option("--combine", ens.combine,
                      "what --save stores: average (mean of probabilities) or vote (default "
                      "average); both are reported");
  ens_cmd->add_option("--split", ens.split,
                      "test, or val when all members held out the same images (default test)");
  ens_cmd->add_flag("--tta", ens.tta, "test-time augmentation of each member");
  ens_cmd->add_option("--save", ens.save,
                      "write the ensemble as one checkpoint file (for evaluate, predict, serve)");
  ens_cmd->add_flag("--json", ens.json, "one JSON document on stdout");
  ens_cmd->add_option("--threads", ens.threads, "compute threads, 0 = one per core");
  ens_cmd->add_option("--batch-size", ens.batch_size, "images per forward (default 1000)");
  ens_cmd->add_option("--precision", ens.precision, "auto, fp32 or bf16 weights (default auto)");
  ens_cmd->add_option("--device", ens.device, "cpu, cuda or auto (default cpu)");

  // predict, serve
  auto* predict_cmd = app.add_subcommand(
      "predict", "read digit images (PNG, JPEG, BMP, GIF, PGM; files or directories)");
  digitlab::serve::PredictOptions predict;
  predict_cmd->add_option("--model", predict.model, "run directory or checkpoint file")->required();
  predict_cmd->add_option("images", predict.inputs, "image files or directories")->required();
  predict_cmd->add_option("--top-k", predict.top_k, "classes to list per image (default 3)");
  predict_cmd->add_flag("--json", predict.json, "one JSON array on stdout");
  predict_cmd->add_option("--save-preprocessed", predict.save_preprocessed,
                          "directory for the 28x28 images the model saw");
  predict_cmd->add_option("--threads", predict.threads, "compute threads, 0 = one per core");
  predict_cmd->add_option("--precision", predict.precision, "auto, fp32 or bf16 weights");
  auto* serve_cmd = app.add_subcommand(
      "serve",
      "HTTP service: POST /v1/predict, a drawing page at /, /healthz, /v1/model, /metrics");
  digitlab::serve::ServeOptions serve;
  serve_cmd->add_option("--model", serve.model, "run directory or checkpoint file")->required();
  serve_cmd->add_option("--host", serve.server.host, "address to listen on (default 127.0.0.1)");
  serve_cmd->add_option("--port", serve.server.port, "port (default 8080; 0 = any free port)");
  serve_cmd->add_option("--max-body", serve.server.max_body,
                        "largest request body in bytes (default 4 MiB)");
  serve_cmd->add_option("--connections", serve.server.threads,
                        "requests served at once (default 8)");
  serve_cmd->add_option("--threads", serve.threads, "compute threads, 0 = one per core");
  serve_cmd->add_option("--precision", serve.precision, "auto, fp32 or bf16 weights");

  // export
  auto* export_cmd = app.add_subcommand(
      "export", "write a trained model for other runtimes: ONNX, or PyTorch (model.py + weights)");
  digitlab::exporter::ExportOptions exporting;
  export_cmd->add_option("target", exporting.target, "run directory or checkpoint file")
      ->required();
  export_cmd->add_option("--format", exporting.format, "onnx or pytorch")->required();
  export_cmd->add_option("--out", exporting.out, "ONNX file, or directory for pytorch")->required();
  export_cmd->add_option("--opset", exporting.opset, "ONNX opset, 13 to 17 (default 17)");

  // report, compare
  auto* report_cmd = app.add_subcommand(
      "report", "write RUN_DIR/report/index.html (curves, confusion, mistakes) and PNG figures");
  digitlab::report::ReportCommandOptions report;
  report_cmd->add_option("run_dir", report.run_dir, "run directory")->required();
  auto* compare_cmd =
      app.add_subcommand("compare", "table of runs side by side and a page overlaying curves");
  digitlab::report::CompareOptions compare;
  compare_cmd
      ->add_option("runs", compare.runs, "run directories, or a directory of runs (a search)")
      ->required();
  compare_cmd->add_option("--out", compare.out, "HTML page to write (default compare.html)");
  compare_cmd->add_flag("--json", compare.json, "one JSON document on stdout");

  auto known = [&](const std::string& name) {
    for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      if (sub->get_name() == name) return true;
    }
    return false;
  };
  if (argc > 1 && argv[1][0] != '-' && !known(argv[1])) {
    std::cerr << "digitlab: unknown command '" << argv[1] << "' (see --help)\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "digitlab: " << e.what() << " (see --help)\n";
    return 2;
  }

  const std::string root = data_root();
  if (*fetch) return digitlab::data::fetch_command(root, dataset);
  if (*verify) return digitlab::data::verify_command(root, dataset);
  if (*info) return digitlab::data::info_command(root, dataset, json);
  if (*models_cmd) return digitlab::models::models_command(json);
  if (*preview_cmd) {
    preview.data_root = root;
    return digitlab::data::preview_command(preview);
  }
  if (*repro_cmd) {
    repro.data_root = root;
    return digitlab::reproduce::reproduce_command(repro);
  }
  if (*bench_cmd) {
    if (bench_what == "loader") {
      bench.data_root = root;
      bench.json = bench_json;
      if (bench_batch > 0) bench.batch_size = bench_batch;
      return digitlab::data::loader_bench_command(bench);
    }
    if (bench_what == "scan") {
      if (bench_run.empty()) throw digitlab::core::UsageError("--what scan: give --run RUN_DIR");
      digitlab::serve::ScanBenchOptions scan;
      scan.model = bench_run;
      scan.data_root = root;
      scan.count = bench_count;
      scan.json = bench_json;
      scan.threads = bench_threads;
      return digitlab::serve::scan_bench_command(scan);
    }
    if (bench_what == "time-to-accuracy") {
      tta.data_root = root;
      tta.json = bench_json;
      tta.threads = bench_threads;
      tta.device = bench_device;
      if (!bench.augment.empty()) tta.augment = bench.augment;
      if (!bench_precision.empty()) tta.precision = bench_precision;
      if (bench_batch > 0) tta.batch_size = bench_batch;
      return digitlab::bench::time_to_accuracy_command(tta);
    }
    model_bench.data_root = root;
    model_bench.json = bench_json;
    model_bench.threads = bench_threads;
    model_bench.device = bench_device;
    if (!bench_models.empty()) model_bench.models = split_list(bench_models);
    if (!bench_precision.empty()) model_bench.precisions = split_list(bench_precision);
    if (bench_batch > 0) model_bench.batch_size = bench_batch;
    return digitlab::bench::model_bench_command(model_bench);
  }
  if (*export_cmd) return digitlab::exporter::export_command(exporting);
  if (*predict_cmd) return digitlab::serve::predict_command(predict);
  if (*serve_cmd) {
    if (serve.server.port < 0 || serve.server.port > 65535) {
      throw digitlab::core::UsageError("--port: must be 0 to 65535");
    }
    if (serve.server.threads < 1 || serve.server.threads > 1024) {
      throw digitlab::core::UsageError("--connections: must be 1 to 1024");
    }
    return digitlab::serve::serve_command(serve);
  }
  if (*report_cmd) {
    report.data_root = root;
    return digitlab::report::report_command(report);
  }
  if (*compare_cmd) return digitlab::report::compare_command(compare);
  if (*launch_cmd) {
    std::error_code ec;
    launch.program = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    return digitlab::dist::launch_command(launch);
  }
  if (*tune_cmd) {
    for (auto* opt : tune_settings) tune.resume_flags_given |= opt->count() > 0;
    std::error_code ec;
    tune.program = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    for (const auto& key : digitlab::train::train_option_keys()) {
      if (const char* v = std::getenv(digitlab::core::env_name(key).c_str())) tune.env[key] = v;
    }
    // Under `digitlab launch` the ranks share the search's trials.
    std::shared_ptr<digitlab::tune::Sync> sync;
    if (dist_env().active) {
      sync = digitlab::dist::join_search(dist_env(), 60);
      tune.sync = sync.get();
      tune.local_ranks = dist_env().local_world_size;
    }
    return digitlab::tune::tune_command(tune);
  }
  if (*ens_cmd) {
    ens.data_root = root;
    return digitlab::train::ensemble_command(ens);
  }
  if (*eval_cmd) {
    eval.data_root = root;
    return digitlab::report::evaluate_command(eval);
  }
  if (*train_cmd && !resume_dir.empty()) {
    if (!config_path.empty()) {
      throw digitlab::core::UsageError("--resume: the run's own options are used; not --config");
    }
    Settings flags;
    for (const auto& [key, opt] : train_opts) {
      if (opt->count() > 0) flags.set(key, train_values[key], Source::kFlag);
    }
    if (overwrite) flags.set("overwrite", "true", Source::kFlag);
    if (drop_last) flags.set("drop_last", "true", Source::kFlag);
    flags.set("data_root", root, Source::kFlag);
    auto options = digitlab::train::resume_options(resume_dir, flags);
    options.argv.assign(argv, argv + argc);
    set_test_fault(options);
    return train_maybe_in_group(options);
  }
  if (*train_cmd) {
    Settings s;
    const auto& keys = digitlab::train::train_option_keys();
    if (!config_path.empty()) s.load_config_file(config_path, keys);
    for (const auto& key : keys) {
      if (const char* v = std::getenv(digitlab::core::env_name(key).c_str())) {
        s.set(key, v, Source::kEnv);
      }
    }
    for (const auto& [key, opt] : train_opts) {
      if (opt->count() > 0) s.set(key, train_values[key], Source::kFlag);
    }
    if (overwrite) s.set("overwrite", "true", Source::kFlag);
    if (drop_last) s.set("drop_last", "true", Source::kFlag);
    s.set("data_root", root, Source::kFlag);
    auto options = digitlab::train::train_options_from(s);
    options.argv.assign(argv, argv + argc);
    set_test_fault(options);
    return train_maybe_in_group(options);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  digitlab::core::tune_compute_environment(argv);
  try {
    return run(argc, argv);
  } catch (const digitlab::core::Error& e) {
    // Ranks of a data-parallel group say which one speaks.
    const char* rank = std::getenv("WORLD_SIZE") ? std::getenv("RANK") : nullptr;
    // One write, so that lines of ranks sharing a terminal do not interleave.
    std::cerr << "digitlab" + (rank ? std::string(" (rank ") + rank + ")" : std::string()) + ": " +
                     digitlab::core::one_line(e.what()) + "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "digitlab: internal error: " << digitlab::core::one_line(e.what()) << "\n";
    return 1;
  }
}
