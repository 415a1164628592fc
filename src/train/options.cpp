// The train option table, option resolution from layered settings, and validation.
#include "train/options.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <type_traits>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "core/run_files.h"
#include "data/augment.h"
#include "models/zoo.h"

namespace digitlab::train {
namespace {

using core::UsageError;
using nlohmann::json;

std::string flag_of(const std::string& key) {
  std::string f = "--" + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

template <typename T>
std::string text_of(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_floating_point_v<T>) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  } else {
    return std::to_string(v);
  }
}

// The JSON value at `path` in `j`, or null when absent.
const json* find_path(const json& j, const std::vector<std::string>& path) {
  const json* at = &j;
  for (const auto& p : path) {
    if (!at->is_object() || !at->contains(p)) return nullptr;
    at = &(*at)[p];
  }
  return at->is_null() ? nullptr : at;
}

// Reads a T from settings under `key`, keeping `current` when unset.
template <typename T>
T read_setting(const core::Settings& s, const std::string& key, const T& current) {
  if constexpr (std::is_same_v<T, std::string>) {
    return s.get_string(key, current);
  } else if constexpr (std::is_same_v<T, bool>) {
    return s.get_bool(key, current);
  } else if constexpr (std::is_same_v<T, int>) {
    return s.get_int32(key, current);
  } else if constexpr (std::is_same_v<T, double>) {
    return s.get_double(key, current);
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    const long long v = s.get_int(key, static_cast<long long>(current));
    if (v < 0) throw UsageError(flag_of(key) + ": must not be negative");
    return static_cast<uint64_t>(v);
  } else {
    static_assert(std::is_same_v<T, int64_t>);
    return s.get_int(key, current);
  }
}

// The declaration of one option whose value is the field `get(o)` returns, recorded in JSON at
// `path` (default: {key}).
template <typename Get>
TrainOptionDef field(const char* key, const char* help, Get get,
                     std::vector<std::string> path = {}) {
  using T = std::decay_t<decltype(get(std::declval<TrainOptions&>()))>;
  if (path.empty()) path = {key};
  TrainOptionDef d;
  d.key = key;
  d.help = help;
  TrainOptions defaults;
  d.default_text = text_of(get(defaults));
  d.json_path = path;
  d.read = [key = std::string(key), get](const core::Settings& s, TrainOptions& o) {
    get(o) = read_setting<T>(s, key, get(o));
  };
  d.write = [path, get](const TrainOptions& o, json& j) {
    json* at = &j;
    for (const auto& p : path) at = &(*at)[p];
    *at = get(const_cast<TrainOptions&>(o));
  };
  d.read_json = [path, get](const json& j, TrainOptions& o) {
    if (const json* v = find_path(j, path)) get(o) = v->get<T>();
  };
  return d;
}

// Shorthand for the accessor lambdas of the table.
#define DIGITLAB_FIELD(member) \
  [](TrainOptions & o) -> auto& { return o.member; }

std::vector<TrainOptionDef> make_table();

}  // namespace

namespace {

// The augmentation spec string first, then a config file's [augment] table items, which refine
// it; stored canonical.
TrainOptionDef augment_option() {
  TrainOptionDef d =
      field("augment",
            "training augmentation, e.g. seed002 or rotate=10,scale=0.7:1,ratio=0.9:1.1,"
            "translate=0.1,elastic=34:4,erase=0.5",
            DIGITLAB_FIELD(augment));
  d.read = [](const core::Settings& s, TrainOptions& o) {
    std::string text = s.get_string("augment", "");
    for (const auto& key : s.keys_with_prefix("augment.")) {
      text += (text.empty() ? "" : ",") + key.substr(8) + "=" + s.get_string(key, "");
    }
    o.augment = data::to_string(data::parse_augment(text));
  };
  return d;
}

// Unset means "the same as --seed"; config.json records the seed actually used.
TrainOptionDef split_seed_option() {
  TrainOptionDef d;
  d.key = "split_seed";
  d.help =
      "seed of the validation split alone; members of one ensemble share it so that `ensemble "
      "--split val` can compare them";
  d.default_text = "--seed";
  d.json_path = {"split_seed"};
  d.read = [](const core::Settings& s, TrainOptions& o) {
    if (!s.has("split_seed")) return;
    const long long v = s.get_int("split_seed", 0);
    if (v < 0) throw UsageError("--split-seed: must not be negative");
    o.split_seed = static_cast<uint64_t>(v);
  };
  d.write = [](const TrainOptions& o, json& j) { j["split_seed"] = split_seed_of(o); };
  // Checkpoints from before split_seed existed drew their split from seed.
  d.read_json = [](const json& j, TrainOptions& o) {
    if (const json* v = find_path(j, {"split_seed"})) o.split_seed = v->get<uint64_t>();
  };
  return d;
}

// A fraction or a whole count in one number. config.json keeps a count whole (5000, as before
// fractions existed), so older runs and their checkpoints compare and resume unchanged.
TrainOptionDef val_split_option() {
  TrainOptionDef d =
      field("val_split",
            "training images held out for validation: a fraction in (0, 1) (0.1 = 10%) or a "
            "whole count; a count not below the training images is cut to 10% with a warning",
            DIGITLAB_FIELD(val_split));
  d.write = [](const TrainOptions& o, json& j) {
    if (o.val_split == std::floor(o.val_split) && std::fabs(o.val_split) < 9e15) {
      j["val_split"] = static_cast<int64_t>(o.val_split);
    } else {
      j["val_split"] = o.val_split;
    }
  };
  return d;
}

std::vector<TrainOptionDef> make_table() {
  std::vector<TrainOptionDef> t = {
      field("model", "zoo model name (see 'digitlab models')", DIGITLAB_FIELD(model)),
      field("arch",
            "architecture spec, e.g. C32-P-C64-P-128-10 (with --dataset mnist-lines: "
            "line:C1,C2,C3,C4,H)",
            DIGITLAB_FIELD(arch)),
      field("init_from",
            "fine-tune: start from this run's (its best.pt) or checkpoint's weights, same "
            "architecture (a different class count gets a new output layer); the run uses that "
            "model's normalization, which its weights expect",
            DIGITLAB_FIELD(init_from)),
      field("freeze",
            "with --init-from: keep the first N weight layers (conv, dense, batch norm in spec "
            "order) fixed",
            DIGITLAB_FIELD(freeze)),
      field("dataset", "mnist, fashion-mnist or an imported data set (data import)",
            DIGITLAB_FIELD(dataset)),
      field("epochs", "epochs to train", DIGITLAB_FIELD(epochs)),
      field("batch_size", "batch size", DIGITLAB_FIELD(batch_size)),
      field("optimizer", "adam, adamw, sgd or rmsprop", DIGITLAB_FIELD(optimizer)),
      field("lr", "learning rate", DIGITLAB_FIELD(lr)),
      field("lr_schedule",
            "constant, cosine (decays to 0 over the run), onecycle (warm-up to --lr over 30% of "
            "the steps, then down), step (x --lr-gamma every --lr-step epochs) or plateau (x "
            "--lr-gamma after --lr-patience epochs without improvement of --monitor; needs "
            "--val-split)",
            DIGITLAB_FIELD(lr_schedule)),
      field("lr_step", "step schedule: epochs between decays", DIGITLAB_FIELD(lr_step)),
      field("lr_gamma", "step and plateau schedules: factor of each decay, in (0, 1]",
            DIGITLAB_FIELD(lr_gamma)),
      field("lr_patience",
            "plateau schedule: epochs without improvement (by --min-delta) before a decay",
            DIGITLAB_FIELD(lr_patience)),
      field("lr_min", "plateau schedule: the learning rate never falls below this",
            DIGITLAB_FIELD(lr_min)),
      field("warmup_epochs",
            "linear warm-up of the learning rate over this many epochs (may be fractional, e.g. "
            "0.5), then the schedule; not with onecycle",
            DIGITLAB_FIELD(warmup_epochs)),
      field("label_smoothing",
            "label smoothing of the training loss, in [0, 1); softmax and logsoftmax heads only; "
            "validation and test losses stay unsmoothed",
            DIGITLAB_FIELD(label_smoothing)),
      field("momentum", "momentum for sgd/rmsprop", DIGITLAB_FIELD(momentum)),
      field("weight_decay", "L2 weight decay", DIGITLAB_FIELD(weight_decay)),
      val_split_option(),
      field("val_strategy", "random or stratified (each class keeps its share)",
            DIGITLAB_FIELD(val_strategy)),
      augment_option(),
      field("workers", "loader threads preparing batches ahead of the step",
            DIGITLAB_FIELD(workers)),
      field("drop_last", "drop the last partial batch of each epoch", DIGITLAB_FIELD(drop_last)),
      field("normalization", "standard, unit or none", DIGITLAB_FIELD(normalization)),
      field("init", "weight initialization: torch (LibTorch's) or glorot (Keras', zero biases)",
            DIGITLAB_FIELD(init)),
      field("precision",
            "auto, fp32 or bf16 (autocast); auto picks bf16 on a GPU, a CPU with AMX-BF16 or an "
            "AMD CPU with AVX512-BF16, fp32 elsewhere",
            DIGITLAB_FIELD(precision)),
      field("device", "cpu, cuda or auto", DIGITLAB_FIELD(device)),
      field("seed",
            "random seed for initialization and shuffling, and for the validation split unless "
            "--split-seed is given",
            DIGITLAB_FIELD(seed)),
      split_seed_option(),
      field("threads", "compute threads, 0 = one per core", DIGITLAB_FIELD(threads)),
      field("train_limit", "use only the first N training images; 0 = all",
            DIGITLAB_FIELD(train_limit)),
      field("test_every",
            "also report test accuracy every N epochs (never used for stopping); 0 = off",
            DIGITLAB_FIELD(test_every)),
      field("tensorboard",
            "write TensorBoard event files to RUN_DIR/tensorboard/{train,validation,test}",
            DIGITLAB_FIELD(tensorboard)),
      field("tb_every_steps", "also log batch loss and accuracy every N steps; 0 = off",
            DIGITLAB_FIELD(tb_every_steps)),
      field("tb_histograms", "log a histogram of every layer's weights per epoch",
            DIGITLAB_FIELD(tb_histograms)),
      field("tb_images", "log an image of sample validation predictions per epoch",
            DIGITLAB_FIELD(tb_images)),
      field("dist_timeout",
            "data-parallel runs (digitlab launch, torchrun variables): seconds to wait for the "
            "other ranks before giving up",
            DIGITLAB_FIELD(dist_timeout)),
      field("early_stopping", "patience in epochs; 0 = off",
            DIGITLAB_FIELD(early_stopping.patience), {"early_stopping", "patience"}),
      field("monitor", "early-stopping and plateau metric: val_loss or val_acc",
            DIGITLAB_FIELD(early_stopping.monitor), {"early_stopping", "monitor"}),
      field("min_delta", "smallest change that counts as an improvement",
            DIGITLAB_FIELD(early_stopping.min_delta), {"early_stopping", "min_delta"}),
      field("restore_best", "end on the best weights", DIGITLAB_FIELD(early_stopping.restore_best),
            {"early_stopping", "restore_best"}),
      field("out", "run directory", DIGITLAB_FIELD(out_dir)),
      field("overwrite", "replace an existing run in --out", DIGITLAB_FIELD(overwrite)),
      field("summary",
            "print the layer table (as 'digitlab summary' does) before training starts; changes "
            "nothing else",
            DIGITLAB_FIELD(summary)),
      field("save_every",
            "also keep checkpoints/epoch-NNN.pt every N epochs (epochs divisible by N); 0 = off",
            DIGITLAB_FIELD(save_every)),
  };
  for (auto& d : t) {
    if (d.key == "model") d.default_text = models::kDefaultModel;
    if (d.key == "out") d.default_text = "runs/<model>-<time>";
    if (d.key == "train_limit") d.default_text = "0";
    if (d.key == "overwrite" || d.key == "drop_last" || d.key == "summary") d.is_switch = true;
    // Given per run, never part of what a run is.
    if (d.key == "overwrite" || d.key == "summary") d.write = nullptr, d.read_json = nullptr;
  }
  return t;
}

#undef DIGITLAB_FIELD

}  // namespace

const std::vector<TrainOptionDef>& train_option_table() {
  static const std::vector<TrainOptionDef> kTable = make_table();
  return kTable;
}

const std::vector<std::string>& train_option_keys() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys;
    for (const auto& d : train_option_table()) keys.push_back(d.key);
    return keys;
  }();
  return kKeys;
}

uint64_t split_seed_of(const TrainOptions& o) { return o.split_seed.value_or(o.seed); }

namespace {

// Throws unless `value` is one of `allowed`, naming the flag and the choices.
void check_member(const char* flag, const std::string& value,
                  const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  throw UsageError(std::string(flag) + ": unknown '" + value + "' (allowed: " + list + ")");
}

void validate_schedule(const TrainOptions& o) {
  check_member("--lr-schedule", o.lr_schedule,
               {"constant", "cosine", "onecycle", "step", "plateau"});
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
  if (o.lr_schedule == "plateau" && o.val_split == 0) {
    throw UsageError("--lr-schedule: plateau needs a validation split (--val-split above 0)");
  }
}

void validate_logging(const TrainOptions& o) {
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
}

void validate_stopping(const TrainOptions& o) {
  const EarlyStoppingOptions& e = o.early_stopping;
  if (e.patience < 0) throw UsageError("--early-stopping: patience must not be negative");
  check_member("--monitor", e.monitor, {"val_loss", "val_acc"});
  if (e.min_delta < 0) throw UsageError("--min-delta: must not be negative");
  if (e.patience > 0 && o.val_split == 0) {
    throw UsageError("--early-stopping: needs a validation split (--val-split above 0)");
  }
}

// A fraction in (0, 1) or a whole count; 1.5 is neither.
void validate_val_split(double v) {
  if (!std::isfinite(v)) throw UsageError("--val-split: must be a number");
  if (v < 0) throw UsageError("--val-split: must not be negative");
  if (v >= 1 && v != std::floor(v)) {
    throw UsageError("--val-split: " + text_of(v) +
                     " is neither a fraction in (0, 1) nor a whole count of images");
  }
  if (v > 1e12) throw UsageError("--val-split: " + text_of(v) + " is too large");
}

void validate_fine_tuning(const TrainOptions& o) {
  if (o.save_every < 0) throw UsageError("--save-every: must be 0 (off) or more");
  if (o.freeze < 0) throw UsageError("--freeze: must not be negative");
  if (o.freeze > 0 && o.init_from.empty()) {
    throw UsageError("--freeze: keeps pretrained layers fixed; give --init-from RUN|CHECKPOINT");
  }
}

}  // namespace

void validate_runtime(int threads, const std::string& precision, const std::string& device) {
  if (threads < 0 || threads > 1024) throw UsageError("--threads: must be 0 (all cores) to 1024");
  check_member("--precision", precision, {"auto", "fp32", "bf16"});
  check_member("--device", device, {"cpu", "cuda", "auto"});
}

void validate(const TrainOptions& o) {
  if (o.epochs < 1 || o.epochs > 100000) throw UsageError("--epochs: must be 1 to 100000");
  if (o.batch_size < 1 || o.batch_size > kMaxBatchSize) {
    throw UsageError("--batch-size: must be 1 to " + std::to_string(kMaxBatchSize));
  }
  check_member("--optimizer", o.optimizer, {"adam", "adamw", "sgd", "rmsprop"});
  if (!(o.lr > 0 && o.lr < 100)) throw UsageError("--lr: must be above 0 and below 100");
  validate_schedule(o);
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1)) {
    throw UsageError("--label-smoothing: must be in [0, 1)");
  }
  if (o.momentum < 0 || o.momentum >= 1) throw UsageError("--momentum: must be in [0, 1)");
  if (o.weight_decay < 0) throw UsageError("--weight-decay: must not be negative");
  validate_val_split(o.val_split);
  check_member("--val-strategy", o.val_strategy, {"random", "stratified"});
  validate_runtime(o.threads, o.precision, o.device);
  check_member("--init", o.init, {"torch", "glorot"});
  if (o.workers < 0 || o.workers > 64) throw UsageError("--workers: must be 0 to 64");
  if (o.train_limit < 0) throw UsageError("--train-limit: must not be negative");
  validate_logging(o);
  validate_stopping(o);
  validate_fine_tuning(o);
}

int64_t val_count_of(double val_split, int64_t n, std::string* note) {
  const std::string flag = "--val-split " + text_of(val_split);
  int64_t count = 0;
  if (val_split > 0 && val_split < 1) {
    count = std::max<int64_t>(1, std::llround(val_split * double(n)));
  } else {
    count = static_cast<int64_t>(val_split);
    if (count > 0 && count >= n) {
      count = std::llround(0.1 * double(n));
      if (note) {
        *note = "warning: " + flag + ": not below the " + std::to_string(n) +
                " training images; held out " + std::to_string(count) + " (10%) instead";
      }
    }
  }
  if (count > 0 && count >= n) {
    throw UsageError(flag + ": holds out " + std::to_string(count) + " of the " +
                     std::to_string(n) + " training images, leaving none to train on");
  }
  return count;
}

TrainOptions train_options_from(const core::Settings& s) {
  TrainOptions o;
  for (const auto& d : train_option_table()) d.read(s, o);
  o.data_root = s.get_string("data_root", o.data_root);
  if (!o.model.empty() && !o.arch.empty()) throw UsageError("--model and --arch: give only one");
  validate(o);
  return o;
}

std::map<std::string, std::string> train_env(
    const std::function<const char*(const char*)>& getenv) {
  std::map<std::string, std::string> env;
  for (const auto& key : train_option_keys()) {
    if (const char* v = getenv(core::env_name(key).c_str())) env[key] = v;
  }
  return env;
}

core::Settings layer_train_settings(const TrainLayers& l) {
  core::Settings s;
  if (!l.config_path.empty()) {
    s.load_config_file(l.config_path, train_option_keys());
  } else if (!l.config_text.empty()) {
    s.load_config_text(l.config_text, false, train_option_keys(), l.config_origin);
  }
  for (const auto& [k, v] : l.env) s.set(k, v, core::Source::kEnv);
  for (const auto& [k, v] : l.flags) s.set(k, v, core::Source::kFlag);
  return s;
}

nlohmann::json to_json(const TrainOptions& o) {
  json j = json::object();
  for (const auto& d : train_option_table()) {
    if (d.write) d.write(o, j);
  }
  return j;
}

TrainOptions train_options_from_json(const nlohmann::json& j) {
  TrainOptions o;
  for (const auto& d : train_option_table()) {
    if (d.read_json) d.read_json(j, o);
  }
  return o;
}

TrainOptions resume_options(const std::string& run_dir, const core::Settings& flags) {
  for (const auto& key : train_option_keys()) {
    if (flags.has(key) && key != "epochs" && key != "threads" && key != "summary") {
      throw UsageError(
          "--resume: the run's own options are used; only --epochs and --threads "
          "may be given (not --" +
          key + ")");
    }
  }
  const std::string path = core::join_path(run_dir, core::run_files::kConfig);
  if (!core::file_exists(path)) {
    throw core::RuntimeError("--resume: " + run_dir + " is not a run directory (no config.json)");
  }
  const auto config = core::parse_json(core::read_file(path));
  if (config.is_discarded() || !config.contains("options") || !config["options"].is_object()) {
    throw core::RuntimeError(path + ": not valid JSON with an \"options\" object");
  }
  // Through the settings layer, so that the run's values are checked as a config file's would be.
  const json& options = config["options"];
  core::Settings s = flags;
  for (const auto& d : train_option_table()) {
    // The run's resolved spec is what it trained; its model name is restored after validation.
    if (!d.write || d.key == "out" || d.key == "model") continue;
    const json* v = find_path(options, d.json_path);
    if (!v) continue;
    s.set(d.key, v->is_string() ? v->get<std::string>() : v->dump(), core::Source::kConfig, path);
  }
  TrainOptions o = train_options_from(s);
  o.model = options.value("model", "");
  o.out_dir = run_dir;
  o.resume = run_dir;
  return o;
}

}  // namespace digitlab::train
