// Options of `train` and `evaluate`, resolved from layered settings; no torch.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/settings.h"

namespace digitlab::train {

// Keras' EarlyStopping: stop after `patience` epochs without an improvement of at least
// `min_delta` in `monitor` (val_loss falls, val_acc rises); patience 0 turns it off.
struct EarlyStoppingOptions {
  int patience = 0;
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  bool restore_best = true;
};

struct TrainOptions {
  std::string model;  // zoo name; empty when `arch` is given
  std::string arch;   // spec text (resolved from the zoo when `model` is given)
  std::string dataset = "mnist";
  std::string data_root = "data";
  int epochs = 10;
  int64_t batch_size = 64;
  std::string optimizer = "adam";  // adam, adamw, sgd, rmsprop
  double lr = 1e-3;
  // constant, cosine, onecycle, step or plateau (train/schedule.h)
  std::string lr_schedule = "constant";
  int lr_step = 10;              // step: epochs between decays
  double lr_gamma = 0.1;         // step, plateau: the factor of each decay, in (0, 1]
  int lr_patience = 3;           // plateau: epochs without improvement before a decay
  double lr_min = 0.0;           // plateau: the rate never falls below this
  double warmup_epochs = 0.0;    // linear warm-up, in epochs (may be fractional); 0 = off
  double label_smoothing = 0.0;  // training loss only (softmax, logsoftmax heads), in [0, 1)
  double momentum = 0.0;
  double weight_decay = 0.0;
  // Images held out of the training split for validation: a fraction in (0, 1) of them (0.1 =
  // 10%, Keras' validation_split) or a whole count (0 = none); val_count_of() resolves it.
  double val_split = 5000;
  std::string val_strategy = "random";  // random, or stratified (each class keeps its share)
  std::string augment = "none";         // data::parse_augment text, canonical
  int workers = 1;                      // loader threads making batches ahead of the step
  bool drop_last = false;               // drop the last partial batch of an epoch
  std::string normalization = "standard";
  std::string init = "torch";      // torch (LibTorch's defaults) or glorot (Keras': zero biases)
  std::string precision = "auto";  // auto, fp32 or bf16 (autocast); see train/precision.h
  std::string device = "cpu";      // cpu, cuda or auto
  uint64_t seed = 42;
  // Seed of the validation split alone; unset: `seed`. Runs at different seeds that share it
  // hold out the same images, so `ensemble --split val` can compare them.
  std::optional<uint64_t> split_seed;
  int threads = 0;          // 0: one per core
  int64_t train_limit = 0;  // >0: use only the first N training images (quick runs, tests)
  // >0: also measure the test split every N epochs, for reports only (never for stopping or
  // checkpoints), as studies that "record the best test error" did.
  int test_every = 0;
  // TensorBoard event files under RUN_DIR/tensorboard/{train,validation,test}: epoch scalars
  // always (when on), batch scalars every N steps, weight histograms and a sample-prediction
  // image per epoch when asked (each costs a pass over the weights or a forward).
  bool tensorboard = true;
  int64_t tb_every_steps = 0;
  bool tb_histograms = false;
  bool tb_images = false;
  EarlyStoppingOptions early_stopping;
  std::string out_dir;
  bool overwrite = false;
  bool summary = false;  // print the layer table before training (changes nothing else)
  std::string resume;    // run directory to continue from its checkpoints/last.pt
  // >0: also keep checkpoints/epoch-NNN.pt after every epoch divisible by N.
  int save_every = 0;
  // Fine-tuning: a run directory or checkpoint whose weights replace the random initialization
  // (and whose normalization the run uses), and how many of its first weight layers (conv,
  // dense, batch norm, in spec order) stay fixed.
  std::string init_from;
  int freeze = 0;
  // Test hook (DIGITLAB_TEST_FAULT=STEP:SIGNAL): the process sends itself SIGNAL right after
  // global step STEP, so tests interrupt or kill a run at an exact point. 0 = off.
  int64_t fault_step = 0;
  int fault_signal = 0;
  int fault_rank = -1;  // data parallelism: only this rank (-1: every rank)
  // Data parallelism: seconds a rank waits for the others (to join, or at any step) before it
  // gives up with an error.
  double dist_timeout = 60;
  std::vector<std::string> argv;  // for config.json
};

// The seed that draws the run's validation split: split_seed when set, else seed.
uint64_t split_seed_of(const TrainOptions& o);

// The images `val_split` holds out of `n` training images: the count itself, or a fraction of
// n rounded (at least 1). Requires a validated val_split. A count of n or more is cut to 10% of
// n, with `note` (when given) set to one line saying what was held out instead. Throws
// core::UsageError naming --val-split when what is held out leaves no training image.
int64_t val_count_of(double val_split, int64_t n, std::string* note = nullptr);

// The largest batch any command accepts (train, bench, evaluate).
constexpr int64_t kMaxBatchSize = 65536;

// One train option, declared once: its settings key (snake_case; also the config-file key, the
// DIGITLAB_* variable and, with - for _, the flag), help, default and how it is read and written.
// Everything else (flag registration, help, config keys, JSON round trip) is generated from the
// table, so adding an option is one entry in train_option_table() plus its use.
struct TrainOptionDef {
  std::string key;
  std::string help;                    // without the default
  std::string default_text;            // shown as "(default X)"; empty: none shown
  bool is_switch = false;              // a flag without a value (--overwrite), else --key VALUE
  std::vector<std::string> json_path;  // where config.json's "options" hold it: {key} mostly
  // Sets the field from `s` when s has the key (else leaves it); throws core::UsageError.
  std::function<void(const core::Settings& s, TrainOptions& o)> read;
  // Writes the field into a config.json "options" object; null for options not recorded.
  std::function<void(const TrainOptions& o, nlohmann::json& j)> write;
  // Reads the field back from such an object when present.
  std::function<void(const nlohmann::json& j, TrainOptions& o)> read_json;
};

// Every train option, in help order.
const std::vector<TrainOptionDef>& train_option_table();

// Keys accepted from config files, DIGITLAB_* variables and flags (snake_case).
const std::vector<std::string>& train_option_keys();

// The runtime flags every computing command shares (train, evaluate, ensemble, predict, serve,
// bench): --threads 0 (one per core) to 1024, --precision auto|fp32|bf16, --device cpu|cuda|auto.
// Throws core::UsageError naming the flag.
void validate_runtime(int threads, const std::string& precision, const std::string& device);

// Throws core::UsageError naming the flag for an invalid value or combination. train() calls it,
// so no caller can skip it.
void validate(const TrainOptions& o);

// Resolves options from settings (defaults < config < env < flags already merged in `s`) and
// validates them. Throws core::UsageError naming the option for an invalid value or combination.
TrainOptions train_options_from(const core::Settings& s);

// The layers a train run's options come from, below the built-in defaults. `train` and `tune`
// (which checks each trial before it starts) resolve through the same function.
struct TrainLayers {
  std::string config_path;  // a TOML or JSON file; or, when empty, config_text:
  std::string config_text;  // TOML text (a search's [train] table), named config_origin
  std::string config_origin;
  std::map<std::string, std::string> env;    // by key (see train_env)
  std::map<std::string, std::string> flags;  // by key
};

// The DIGITLAB_* variables of the train keys, read through `getenv`.
std::map<std::string, std::string> train_env(const std::function<const char*(const char*)>& getenv);

// Settings of `layers` in precedence order (config < env < flags). Throws core::Error for an
// unreadable config or an unknown key in it.
core::Settings layer_train_settings(const TrainLayers& layers);

// Every recorded option as JSON (config.json's "options"; checkpoints' meta).
nlohmann::json to_json(const TrainOptions& o);

// Options for `train --resume RUN_DIR`: the run's own (its config.json), validated again, with
// `epochs` and `threads` replaced when `flags` sets them (any other flag is a core::UsageError:
// a resumed run must stay the run it was). Throws core::RuntimeError when RUN_DIR has no
// readable config.json.
TrainOptions resume_options(const std::string& run_dir, const core::Settings& flags);
// Inverse of to_json: every option present in `j`; absent ones keep their defaults (checkpoints
// written before an option existed). Not validated.
TrainOptions train_options_from_json(const nlohmann::json& j);

struct EvalOptions {
  std::string target;  // run directory or checkpoint file
  std::string split = "test";
  // Another data set's test split to score the model on (the same classes, e.g. one's own digits
  // brought in by `data import`); empty: the run's own data set.
  std::string dataset;
  bool json = false;
  std::string data_root = "data";
  int threads = 0;
  int64_t batch_size = 1000;
  std::string precision = "auto";  // inference precision: auto, fp32 or bf16 weights
  std::string device = "cpu";
  bool write_files = true;  // eval/ files when the target is a run directory
  // Test-time augmentation: average the probabilities of each image and its four one-pixel
  // shifts (train/evaluate.h).
  bool tta = false;
};

struct EnsembleOptions {
  std::vector<std::string> members;  // run directories or checkpoint files
  std::string combine = "average";   // average or vote: what --save stores
  std::string split = "test";        // test, or val when every member has the same partition
  bool tta = false;
  std::string save;  // write the ensemble as one checkpoint file here
  bool json = false;
  std::string data_root = "data";
  int threads = 0;
  int64_t batch_size = 1000;
  std::string precision = "auto";
  std::string device = "cpu";
};

}  // namespace digitlab::train
