// Option resolution and validation for train/evaluate.
#include "train/options.h"

#include <algorithm>

#include "core/error.h"
#include "core/files.h"
#include "data/augment.h"

namespace digitlab::train {
using core::UsageError;

const std::vector<std::string>& train_option_keys() {
  static const std::vector<std::string> kKeys = {"model",
                                                 "arch",
                                                 "dataset",
                                                 "epochs",
                                                 "batch_size",
                                                 "optimizer",
                                                 "lr",
                                                 "lr_schedule",
                                                 "lr_step",
                                                 "lr_gamma",
                                                 "lr_patience",
                                                 "lr_min",
                                                 "warmup_epochs",
                                                 "label_smoothing",
                                                 "momentum",
                                                 "weight_decay",
                                                 "val_split",
                                                 "val_strategy",
                                                 "augment",
                                                 "workers",
                                                 "drop_last",
                                                 "normalization",
                                                 "init",
                                                 "precision",
                                                 "device",
                                                 "seed",
                                                 "split_seed",
                                                 "threads",
                                                 "train_limit",
                                                 "test_every",
                                                 "early_stopping",
                                                 "monitor",
                                                 "min_delta",
                                                 "restore_best",
                                                 "out",
                                                 "overwrite",
                                                 "tensorboard",
                                                 "tb_every_steps",
                                                 "tb_histograms",
                                                 "tb_images",
                                                 "dist_timeout"};
  return kKeys;
}

uint64_t split_seed_of(const TrainOptions& o) { return o.split_seed.value_or(o.seed); }

TrainOptions train_options_from(const core::Settings& s) {
  TrainOptions o;
  o.model = s.get_string("model", "");
  o.arch = s.get_string("arch", "");
  o.dataset = s.get_string("dataset", o.dataset);
  o.data_root = s.get_string("data_root", o.data_root);
  o.epochs = s.get_int32("epochs", o.epochs);
  o.batch_size = s.get_int("batch_size", o.batch_size);
  o.optimizer = s.get_string("optimizer", o.optimizer);
  o.lr = s.get_double("lr", o.lr);
  o.lr_schedule = s.get_string("lr_schedule", o.lr_schedule);
  o.lr_step = s.get_int32("lr_step", o.lr_step);
  o.lr_gamma = s.get_double("lr_gamma", o.lr_gamma);
  o.lr_patience = s.get_int32("lr_patience", o.lr_patience);
  o.lr_min = s.get_double("lr_min", o.lr_min);
  o.warmup_epochs = s.get_double("warmup_epochs", o.warmup_epochs);
  o.label_smoothing = s.get_double("label_smoothing", o.label_smoothing);
  o.momentum = s.get_double("momentum", o.momentum);
  o.weight_decay = s.get_double("weight_decay", o.weight_decay);
  o.val_split = s.get_int("val_split", o.val_split);
  o.val_strategy = s.get_string("val_strategy", o.val_strategy);
  // The spec string first, then a config file's [augment] table items, which refine it.
  std::string augment = s.get_string("augment", "");
  for (const auto& key : s.keys_with_prefix("augment.")) {
    augment += (augment.empty() ? "" : ",") + key.substr(8) + "=" + s.get_string(key, "");
  }
  o.augment = data::to_string(data::parse_augment(augment));
  o.workers = s.get_int32("workers", o.workers);
  o.drop_last = s.get_bool("drop_last", o.drop_last);
  o.normalization = s.get_string("normalization", o.normalization);
  o.init = s.get_string("init", o.init);
  o.precision = s.get_string("precision", o.precision);
  o.device = s.get_string("device", o.device);
  const long long seed = s.get_int("seed", static_cast<long long>(o.seed));
  const long long split_seed = s.get_int("split_seed", -1);
  const bool has_split_seed = s.has("split_seed");
  o.threads = s.get_int32("threads", o.threads);
  o.train_limit = s.get_int("train_limit", o.train_limit);
  o.test_every = s.get_int32("test_every", o.test_every);
  o.tensorboard = s.get_bool("tensorboard", o.tensorboard);
  o.tb_every_steps = s.get_int("tb_every_steps", o.tb_every_steps);
  o.tb_histograms = s.get_bool("tb_histograms", o.tb_histograms);
  o.tb_images = s.get_bool("tb_images", o.tb_images);
  o.dist_timeout = s.get_double("dist_timeout", o.dist_timeout);
  o.early_stopping.patience = s.get_int32("early_stopping", 0);
  o.early_stopping.monitor = s.get_string("monitor", o.early_stopping.monitor);
  o.early_stopping.min_delta = s.get_double("min_delta", 0.0);
  o.early_stopping.restore_best = s.get_bool("restore_best", true);
  o.out_dir = s.get_string("out", "");
  o.overwrite = s.get_bool("overwrite", false);

  if (!o.model.empty() && !o.arch.empty()) throw UsageError("--model and --arch: give only one");
  if (o.epochs < 1 || o.epochs > 100000) throw UsageError("--epochs: must be 1 to 100000");
  if (o.batch_size < 1 || o.batch_size > 65536)
    throw UsageError("--batch-size: must be 1 to 65536");
  const std::vector<std::string> opts = {"adam", "adamw", "sgd", "rmsprop"};
  if (std::find(opts.begin(), opts.end(), o.optimizer) == opts.end()) {
    throw UsageError("--optimizer: unknown '" + o.optimizer +
                     "' (allowed: adam, adamw, sgd, rmsprop)");
  }
  if (!(o.lr > 0 && o.lr < 100)) throw UsageError("--lr: must be above 0 and below 100");
  const std::vector<std::string> schedules = {"constant", "cosine", "onecycle", "step", "plateau"};
  if (std::find(schedules.begin(), schedules.end(), o.lr_schedule) == schedules.end()) {
    throw UsageError("--lr-schedule: unknown '" + o.lr_schedule +
                     "' (allowed: constant, cosine, onecycle, step, plateau)");
  }
  if (o.lr_step < 1 || o.lr_step > 100000) throw UsageError("--lr-step: must be 1 to 100000");
  if (!(o.lr_gamma > 0 && o.lr_gamma <= 1)) {
    throw UsageError("--lr-gamma: must be above 0 and at most 1");
  }
  if (o.lr_patience < 1 || o.lr_patience > 100000) {
    throw UsageError("--lr-patience: must be 1 to 100000");
  }
  if (!(o.lr_min >= 0 && o.lr_min < o.lr)) {
    throw UsageError("--lr-min: must be 0 or more and below --lr");
  }
  if (!(o.warmup_epochs >= 0 && o.warmup_epochs <= 100000)) {
    throw UsageError("--warmup-epochs: must be 0 to 100000");
  }
  if (o.warmup_epochs > 0 && o.lr_schedule == "onecycle") {
    throw UsageError(
        "--warmup-epochs: onecycle warms up by itself; use it with constant, cosine, step or "
        "plateau");
  }
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1)) {
    throw UsageError("--label-smoothing: must be in [0, 1)");
  }
  if (o.momentum < 0 || o.momentum >= 1) throw UsageError("--momentum: must be in [0, 1)");
  if (o.weight_decay < 0) throw UsageError("--weight-decay: must not be negative");
  if (o.val_split < 0) throw UsageError("--val-split: must not be negative");
  if (o.precision != "auto" && o.precision != "fp32" && o.precision != "bf16") {
    throw UsageError("--precision: unknown '" + o.precision + "' (allowed: auto, fp32, bf16)");
  }
  if (o.device != "cpu" && o.device != "cuda" && o.device != "auto") {
    throw UsageError("--device: unknown '" + o.device + "' (allowed: cpu, cuda, auto)");
  }
  if (o.test_every < 0) throw UsageError("--test-every: must be 0 (off) or more");
  if (!(o.dist_timeout >= 1 && o.dist_timeout <= 86400)) {
    throw UsageError("--dist-timeout: must be 1 to 86400 seconds");
  }
  if (o.tb_every_steps < 0) throw UsageError("--tb-every-steps: must be 0 (off) or more");
  if (!o.tensorboard && (o.tb_every_steps > 0 || o.tb_histograms || o.tb_images)) {
    throw UsageError(
        "--tensorboard false: --tb-every-steps, --tb-histograms and --tb-images "
        "need TensorBoard logs");
  }
  if (o.init != "torch" && o.init != "glorot") {
    throw UsageError("--init: unknown '" + o.init + "' (allowed: torch, glorot)");
  }
  if (o.val_strategy != "random" && o.val_strategy != "stratified") {
    throw UsageError("--val-strategy: unknown '" + o.val_strategy +
                     "' (allowed: random, stratified)");
  }
  if (o.workers < 0 || o.workers > 64) throw UsageError("--workers: must be 0 to 64");
  if (seed < 0) throw UsageError("--seed: must not be negative");
  o.seed = static_cast<uint64_t>(seed);
  if (has_split_seed) {
    if (split_seed < 0) throw UsageError("--split-seed: must not be negative");
    o.split_seed = static_cast<uint64_t>(split_seed);
  }
  if (o.threads < 0 || o.threads > 1024)
    throw UsageError("--threads: must be 0 (all cores) to 1024");
  if (o.train_limit < 0) throw UsageError("--train-limit: must not be negative");
  if (o.early_stopping.patience < 0)
    throw UsageError("--early-stopping: patience must not be negative");
  const auto& m = o.early_stopping.monitor;
  if (m != "val_loss" && m != "val_acc") {
    throw UsageError("--monitor: unknown '" + m + "' (allowed: val_loss, val_acc)");
  }
  if (o.early_stopping.min_delta < 0) throw UsageError("--min-delta: must not be negative");
  if (o.early_stopping.patience > 0 && o.val_split == 0) {
    throw UsageError("--early-stopping: needs a validation split (--val-split above 0)");
  }
  if (o.lr_schedule == "plateau" && o.val_split == 0) {
    throw UsageError("--lr-schedule: plateau needs a validation split (--val-split above 0)");
  }
  return o;
}

nlohmann::json to_json(const TrainOptions& o) {
  return {{"model", o.model},
          {"arch", o.arch},
          {"dataset", o.dataset},
          {"epochs", o.epochs},
          {"batch_size", o.batch_size},
          {"optimizer", o.optimizer},
          {"lr", o.lr},
          {"lr_schedule", o.lr_schedule},
          {"lr_step", o.lr_step},
          {"lr_gamma", o.lr_gamma},
          {"lr_patience", o.lr_patience},
          {"lr_min", o.lr_min},
          {"warmup_epochs", o.warmup_epochs},
          {"label_smoothing", o.label_smoothing},
          {"momentum", o.momentum},
          {"weight_decay", o.weight_decay},
          {"val_split", o.val_split},
          {"val_strategy", o.val_strategy},
          {"augment", o.augment},
          {"workers", o.workers},
          {"drop_last", o.drop_last},
          {"normalization", o.normalization},
          {"init", o.init},
          {"precision", o.precision},
          {"device", o.device},
          {"seed", o.seed},
          {"split_seed", split_seed_of(o)},
          {"threads", o.threads},
          {"train_limit", o.train_limit},
          {"test_every", o.test_every},
          {"tensorboard", o.tensorboard},
          {"tb_every_steps", o.tb_every_steps},
          {"tb_histograms", o.tb_histograms},
          {"tb_images", o.tb_images},
          {"dist_timeout", o.dist_timeout},
          {"early_stopping",
           {{"patience", o.early_stopping.patience},
            {"monitor", o.early_stopping.monitor},
            {"min_delta", o.early_stopping.min_delta},
            {"restore_best", o.early_stopping.restore_best}}},
          {"out", o.out_dir}};
}

TrainOptions resume_options(const std::string& run_dir, const core::Settings& flags) {
  for (const auto& key : train_option_keys()) {
    if (flags.has(key) && key != "epochs" && key != "threads") {
      throw UsageError(
          "--resume: the run's own options are used; only --epochs and --threads "
          "may be given (not --" +
          key + ")");
    }
  }
  const std::string path = core::join_path(run_dir, "config.json");
  if (!core::file_exists(path)) {
    throw core::RuntimeError("--resume: " + run_dir + " is not a run directory (no config.json)");
  }
  const auto config = nlohmann::json::parse(core::read_file(path), nullptr, false);
  if (config.is_discarded() || !config.contains("options") || !config["options"].is_object()) {
    throw core::RuntimeError(path + ": not valid JSON with an \"options\" object");
  }
  nlohmann::json options = config["options"];
  if (options.contains("early_stopping") && options["early_stopping"].is_object()) {
    const nlohmann::json es = options["early_stopping"];
    options.erase("early_stopping");
    if (es.contains("patience")) options["early_stopping"] = es["patience"];
    for (const char* k : {"monitor", "min_delta", "restore_best"}) {
      if (es.contains(k)) options[k] = es[k];
    }
  }
  core::Settings s = flags;
  for (const auto& [key, value] : options.items()) {
    // The run's resolved spec is what it trained; its model name is restored after validation.
    if (value.is_null() || key == "out" || key == "model") continue;
    s.set(key, value.is_string() ? value.get<std::string>() : value.dump(), core::Source::kConfig,
          path);
  }
  TrainOptions o = train_options_from(s);
  o.model = options.value("model", "");
  o.out_dir = run_dir;
  o.resume = run_dir;
  return o;
}

TrainOptions train_options_from_json(const nlohmann::json& j) {
  TrainOptions o;
  o.model = j.value("model", "");
  o.arch = j.value("arch", "");
  o.dataset = j.value("dataset", o.dataset);
  o.epochs = j.value("epochs", o.epochs);
  o.batch_size = j.value("batch_size", o.batch_size);
  o.optimizer = j.value("optimizer", o.optimizer);
  o.lr = j.value("lr", o.lr);
  o.lr_schedule = j.value("lr_schedule", o.lr_schedule);
  o.lr_step = j.value("lr_step", o.lr_step);
  o.lr_gamma = j.value("lr_gamma", o.lr_gamma);
  o.lr_patience = j.value("lr_patience", o.lr_patience);
  o.lr_min = j.value("lr_min", o.lr_min);
  o.warmup_epochs = j.value("warmup_epochs", o.warmup_epochs);
  o.label_smoothing = j.value("label_smoothing", o.label_smoothing);
  o.val_split = j.value("val_split", o.val_split);
  o.val_strategy = j.value("val_strategy", o.val_strategy);
  o.augment = j.value("augment", o.augment);
  o.normalization = j.value("normalization", o.normalization);
  o.init = j.value("init", o.init);
  o.precision = j.value("precision", o.precision);
  o.device = j.value("device", o.device);
  o.seed = j.value("seed", o.seed);
  // Checkpoints from before split_seed existed drew their split from seed.
  if (j.contains("split_seed")) o.split_seed = j.at("split_seed").get<uint64_t>();
  o.threads = j.value("threads", o.threads);
  o.train_limit = j.value("train_limit", o.train_limit);
  o.out_dir = j.value("out", "");
  return o;
}

}  // namespace digitlab::train
