// The training loop.
#include "train/trainer.h"

#include <signal.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>

#include <torch/torch.h>

#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "core/run_files.h"
#include "core/system.h"
#include "core/terminal.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "models/builder.h"
#include "models/zoo.h"
#include "train/checkpoint.h"
#include "train/collective.h"
#include "train/early_stopping.h"
#include "train/evaluate.h"
#include "train/fine_tune.h"
#include "train/observers.h"
#include "train/optimizer.h"
#include "train/precision.h"
#include "train/runtime.h"
#include "train/schedule.h"
#include "train/tensorboard_log.h"

namespace digitlab::train {
namespace {

using Clock = std::chrono::steady_clock;

// One contiguous float32 buffer holding `tensors`, and back.
torch::Tensor flatten_tensors(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.detach().reshape({-1}).to(torch::kFloat32));
  return torch::cat(flat).contiguous();
}

void unflatten_into(const torch::Tensor& flat, std::vector<torch::Tensor>& tensors) {
  int64_t offset = 0;
  for (auto& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(flat.narrow(0, offset, n).view_as(t));
    offset += n;
  }
}

// Averages the gradients of the group in one allreduce: each rank's gradient of its shard's mean
// loss, weighted by its share of the global batch, summed. The signal a rank was asked to stop
// with rides in the same buffer (one element more), so stopping costs no extra message.
// Returns the largest such signal over the ranks, or 0.
int allreduce_gradients(Collective& group, torch::nn::Sequential& net, double weight, int signal) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (auto& p : net->parameters()) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  std::vector<torch::Tensor> parts;
  for (const auto& g : grads) parts.push_back(g.reshape({-1}).to(torch::kFloat32) * weight);
  parts.push_back(torch::full({1}, float(signal), torch::kFloat32));
  torch::Tensor flat = torch::cat(parts).contiguous();
  group.allreduce_sum(flat);
  unflatten_into(flat, grads);
  // Signals are 2 or 15 and at most one per rank: any non-zero sum means stop. Report SIGTERM
  // unless this rank has its own.
  const float sum = flat[flat.size(0) - 1].item<float>();
  if (sum == 0) return 0;
  return signal ? signal : SIGTERM;
}

// Replaces every floating-point buffer (batch norm's running mean and variance) by its average
// over the group.
void average_buffers(Collective& group, torch::nn::Sequential& net) {
  std::vector<torch::Tensor> buffers;
  for (const auto& b : net->buffers()) {
    if (b.is_floating_point()) buffers.push_back(b);
  }
  if (buffers.empty()) return;
  torch::NoGradGuard no_grad;
  torch::Tensor flat = flatten_tensors(buffers);
  group.allreduce_sum(flat);
  flat.div_(double(group.world_size()));
  unflatten_into(flat, buffers);
}

// Sums the epoch's loss, correct count and images over the group; returns a stop signal as
// allreduce_gradients does.
int reduce_sums(Collective& group, double& loss_sum, int64_t& correct, int64_t& seen,
                int signal = 0) {
  torch::Tensor t =
      torch::tensor({loss_sum, double(correct), double(seen), double(signal)}, torch::kFloat64);
  group.allreduce_sum(t);
  loss_sum = t[0].item<double>();
  correct = int64_t(std::llround(t[1].item<double>()));
  seen = int64_t(std::llround(t[2].item<double>()));
  if (t[3].item<double>() == 0) return 0;
  return signal ? signal : SIGTERM;
}

// Mean loss and accuracy of `set`; with a group each rank takes a contiguous part and the sums
// are reduced.
std::pair<double, double> evaluate_split(torch::nn::Sequential& net, models::Head head,
                                         const data::TensorSplit& set,
                                         const data::Normalization& norm, Collective* group) {
  if (!group) {
    const auto p = predict_split(net, head, set.images, set.labels, norm);
    return {p.loss, p.accuracy};
  }
  const int64_t n = set.images.size(0);
  const int64_t lo = n * group->rank() / group->world_size();
  const int64_t hi = n * (group->rank() + 1) / group->world_size();
  double sums[3] = {0, 0, double(hi - lo)};
  if (hi > lo) {
    const auto p = predict_split(net, head, set.images.narrow(0, lo, hi - lo),
                                 set.labels.narrow(0, lo, hi - lo), norm);
    sums[0] = p.loss * double(hi - lo);
    sums[1] = p.accuracy * double(hi - lo);
  }
  torch::Tensor t = torch::tensor({sums[0], sums[1], sums[2]}, torch::kFloat64);
  group->allreduce_sum(t);
  const double total = std::max(t[2].item<double>(), 1.0);
  return {t[0].item<double>() / total, t[1].item<double>() / total};
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string default_run_dir(const std::string& model) {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + model + "-" + buf;
}

// True when the directory holds files of an earlier run.
bool holds_run(const std::string& dir) {
  for (const char* f : {core::run_files::kConfig, core::run_files::kMetrics,
                        core::run_files::kBestCheckpoint, core::run_files::kLastCheckpoint}) {
    if (core::file_exists(core::join_path(dir, f))) return true;
  }
  return false;
}

// Refuses, before any work, to mix a new run into an old one.
void check_run_dir(const TrainOptions& o) {
  if (!o.overwrite && holds_run(o.out_dir)) {
    throw core::UsageError("--out: " + o.out_dir +
                           " already holds a run; choose another directory or pass --overwrite");
  }
}

// Creates the run directory, clearing an earlier run's files (check_run_dir allowed it): stale
// event files would put two runs' curves into one TensorBoard run.
void prepare_run_dir(const TrainOptions& o) {
  const bool used = holds_run(o.out_dir);
  core::make_dirs(core::join_path(o.out_dir, core::run_files::kCheckpoints));
  if (used) {
    for (const char* f : {core::run_files::kBestCheckpoint, core::run_files::kLastCheckpoint,
                          core::run_files::kMetrics, core::run_files::kMetricsCsv}) {
      std::remove(core::join_path(o.out_dir, f).c_str());
    }
    // The earlier run's --save-every checkpoints would pass for this run's epochs.
    std::error_code ec;
    std::vector<std::filesystem::path> stale;
    const std::string checkpoints = core::join_path(o.out_dir, core::run_files::kCheckpoints);
    for (std::filesystem::directory_iterator it(checkpoints, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().filename().string().rfind("epoch-", 0) == 0) stale.push_back(it->path());
    }
    for (const auto& p : stale) std::filesystem::remove(p, ec);
    for (const char* d : {"tensorboard", "report", "eval"}) {
      std::error_code ec;
      std::filesystem::remove_all(core::join_path(o.out_dir, d), ec);
    }
  }
}

// "torch::nn::Conv2dImpl" -> "conv2d".
std::string layer_kind(const std::string& module_name) {
  std::string k = module_name.substr(module_name.rfind(':') + 1);
  if (k.size() > 4 && k.compare(k.size() - 4, 4, "Impl") == 0) k.resize(k.size() - 4);
  for (char& c : k) c = char(std::tolower(static_cast<unsigned char>(c)));
  return k;
}

// Every layer's parameters as float vectors, tagged "<index>_<kind>/<name>" (e.g.
// "0_conv2d/weight"), the way Keras names its histogram tags by layer.
std::vector<std::pair<std::string, std::vector<float>>> weight_values(torch::nn::Sequential& net) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  const auto children = net->children();
  for (size_t i = 0; i < children.size(); ++i) {
    for (const auto& p : children[i]->named_parameters(/*recurse=*/true)) {
      const torch::Tensor t = p.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
      // models::Dense is a Linear and keeps Linear's tags, as earlier runs wrote them.
      const std::string kind = children[i]->as<torch::nn::LinearImpl>()
                                   ? std::string("linear")
                                   : layer_kind(children[i]->name());
      out.emplace_back(std::to_string(i) + "_" + kind + "/" + p.key(),
                       std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel()));
    }
  }
  return out;
}

// A grid of the first validation images with "true-predicted" above each; a frame marks the
// mistakes. Returns an empty image when there is no validation split.
data::GrayImage sample_predictions(torch::nn::Sequential& net, const data::TensorSplit& val,
                                   const data::Normalization& norm, bool channels_last,
                                   const torch::Device& device) {
  constexpr int kCols = 8, kRows = 3, kZoom = 2, kCellW = 28 * kZoom + 8, kCellH = 28 * kZoom + 16;
  const int64_t n = std::min<int64_t>(kCols * kRows, val.size());
  if (n == 0) return {};
  torch::Tensor predicted;
  {
    torch::NoGradGuard no_grad;
    net->eval();
    const torch::Tensor images = val.images.narrow(0, 0, n);
    const torch::Tensor x = to_network_input(data::to_input(images, norm), channels_last, device);
    predicted = net->forward(x).argmax(1).to(torch::kCPU);
    net->train();
  }
  const torch::Tensor images = val.images.narrow(0, 0, n).contiguous();
  const torch::Tensor labels = val.labels.narrow(0, 0, n).to(torch::kCPU);
  data::GrayImage grid(kCols * kCellW, kRows * kCellH, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int x0 = int(i % kCols) * kCellW, y0 = int(i / kCols) * kCellH;
    const int64_t truth = labels[i].item<int64_t>(), guess = predicted[i].item<int64_t>();
    data::draw_text(grid, x0 + 4, y0 + 4, std::to_string(truth) + "-" + std::to_string(guess), 1,
                    255);
    data::blit(grid, images[i].data_ptr<uint8_t>(), 28, 28, x0 + 4, y0 + 14, kZoom);
    if (truth != guess) {
      for (int x = x0 + 1; x < x0 + kCellW - 1; ++x)
        grid.at(x, y0 + 1) = grid.at(x, y0 + kCellH - 2) = 160;
      for (int y = y0 + 1; y < y0 + kCellH - 1; ++y)
        grid.at(x0 + 1, y) = grid.at(x0 + kCellW - 2, y) = 160;
    }
  }
  return grid;
}

// One training run from setup to its end. The constructor sets it up (data, model, run
// directory, observers' begin); run() is a loop of one epoch, itself a loop of one step.
class Run {
 public:
  Run(TrainOptions options, const std::vector<Observer*>& observers, Collective* group)
      : o_(std::move(options)),
        observers_(observers),
        group_(group),
        rank_(group ? group->rank() : 0),
        world_(group ? group->world_size() : 1),
        lead_(rank_ == 0),
        stopper_(o_.early_stopping),
        plateau_(plateau_options(o_)) {
    setup_options();
    setup_model();  // before the data: a resumed run's checkpoint is checked first
    setup_precision();
    setup_data();
    write_config();
    setup_loader();
    if (resuming_) restore();
    for (auto* ob : observers_) ob->on_train_begin(begin_);
  }

  TrainResult run();

 private:
  void setup_options();
  void setup_data();
  void setup_model();
  void setup_precision();
  void check_resumed_options(const nlohmann::json& saved) const;
  void write_config();
  void setup_loader();
  void restore();
  // Trains the epoch's batches from `first`; throws core::Interrupted after saving when asked to
  // stop mid-epoch.
  void train_batches(int epoch, int64_t first, Clock::time_point t0);
  void step(const data::Batch& batch, int epoch, int64_t& b, Clock::time_point t0);
  // Validation, checkpoints and observers after an epoch; returns true when training stops.
  bool end_epoch(int epoch, Clock::time_point t0);
  EpochEnd measure_epoch(int epoch, Clock::time_point t0, int& signal);
  void epoch_extras(int epoch);
  nlohmann::json resume_state(int epoch, int64_t batch) const;
  [[noreturn]] void interrupted(int sig, int epochs_done, const std::string& where);

  TrainOptions o_;
  const std::vector<Observer*>& observers_;
  Collective* group_;
  const int rank_, world_;
  const bool lead_;  // writes the run directory
  models::ArchSpec spec_;
  data::DatasetInfo info_;
  int64_t num_classes_ = 0, parameters_ = 0;
  bool resuming_ = false;
  std::string last_path_;
  std::unique_ptr<core::DirLock> lock_;  // the lead's hold on the run directory
  int threads_ = 0;
  torch::Device device_{torch::kCPU};
  PrecisionChoice precision_;
  bool bf16_ = false;
  data::Normalization norm_;
  data::TensorSplit train_set_, val_set_, test_set_;
  bool has_val_ = false;
  // Fine-tuning: the source's normalization (or, resumed, the one last.pt trained with).
  std::optional<data::Normalization> init_norm_;
  torch::nn::Sequential net_{nullptr};
  bool channels_last_ = false;
  models::KnnImpl* knn_ = nullptr;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  nlohmann::json resume_;  // where the interrupted run stood
  int64_t gradient_values_ = 0;
  CheckpointMeta meta_;
  std::unique_ptr<data::Loader> loader_;
  TrainBegin begin_;
  EarlyStopping stopper_;
  ScheduleSpec schedule_;
  PlateauTracker plateau_;
  TrainResult result_;
  int first_epoch_ = 1;
  int64_t first_batch_ = 0, step_ = 0;
  // Sums of the epoch in progress (restored when resuming in the middle of one).
  double loss_sum_ = 0, partial_seconds_ = 0;
  int64_t correct_ = 0, seen_ = 0;
  double lr_ = 0;  // the rate of the last step taken
  Clock::time_point start_;
};

void Run::setup_options() {
  spec_ = models::parse_spec(o_.arch);
  if (spec_.is_knn()) o_.epochs = 1;  // fitting k-nearest neighbours is storing the training set
  models::check_label_smoothing(spec_, o_.label_smoothing);
  info_ = data::find_dataset(o_.dataset, o_.data_root);
  num_classes_ = int64_t(info_.class_names.size());
  parameters_ = models::count_parameters(spec_, num_classes_);
  resuming_ = !o_.resume.empty();
  last_path_ = core::join_path(o_.out_dir, core::run_files::kLastCheckpoint);
  if (resuming_ && !core::file_exists(last_path_)) {
    throw core::RuntimeError("--resume: " + o_.out_dir +
                             " has no checkpoints/last.pt to resume from");
  }
  if (lead_) {
    // One writer per run directory: a second `train --overwrite` or `--resume` of it is refused.
    core::make_dirs(o_.out_dir);
    lock_ = std::make_unique<core::DirLock>(o_.out_dir, resuming_ ? "--resume" : "--out");
  }
  if (!resuming_ && lead_) check_run_dir(o_);
  threads_ = configure_threads(o_.threads);
  // k-nearest neighbours keeps its training set in host memory.
  device_ = spec_.is_knn() ? torch::Device(torch::kCPU) : choose_device(o_.device);
  if (group_ && device_.is_cuda()) {
    throw core::UsageError("--device: data-parallel runs train on CPUs (Gloo); use --device cpu");
  }
  torch::manual_seed(o_.seed);
}

// The whole training split as uint8, partitioned once; batches are gathered per step.
void Run::setup_data() {
  const data::RawSplit raw = data::load_raw_split(o_.data_root, info_, data::Split::kTrain);
  if (raw.images.dims[1] != 28 || raw.images.dims[2] != 28) {  // every model takes MNIST's size
    throw core::RuntimeError(raw.images_path + ": images of " + std::to_string(raw.images.dims[1]) +
                             "x" + std::to_string(raw.images.dims[2]) +
                             "; the models take 28x28 (import with --size 28)");
  }
  const data::TensorSplit all = data::to_tensors(raw, o_.train_limit);
  norm_ = init_norm_ ? *init_norm_ : data::make_normalization(o_.normalization, all.images);
  std::string note;
  const int64_t val_count = val_count_of(o_.val_split, all.size(), &note);
  if (!note.empty() && lead_) std::fprintf(stderr, "%s\n", note.c_str());
  const data::TrainValIndices parts =
      data::partition(all, val_count, split_seed_of(o_), o_.val_strategy, int(num_classes_));
  auto as_index = [](const std::vector<int64_t>& v) {
    return torch::tensor(torch::ArrayRef<int64_t>(v), torch::kInt64);
  };
  train_set_ = data::subset(all, as_index(parts.train));
  has_val_ = !parts.val.empty();
  if (has_val_) val_set_ = data::subset(all, as_index(parts.val));
  if (o_.test_every > 0) {
    test_set_ = data::to_tensors(data::load_raw_split(o_.data_root, info_, data::Split::kTest));
  }
  if (!spec_.is_knn() && o_.drop_last && int64_t(parts.train.size()) < o_.batch_size * world_) {
    throw core::UsageError("--drop-last: the " + std::to_string(parts.train.size()) +
                           " training images do not fill one batch of " +
                           std::to_string(o_.batch_size * world_));
  }
  if (!resuming_ && lead_)
    prepare_run_dir(o_);  // only now: bad data or options leave a run untouched
}

// config.json is what --resume reads the run's options from; last.pt records the options it was
// trained with. A difference (an edited config.json) would continue the weights on other data or
// another recipe without a word, so it is refused, naming the option.
void Run::check_resumed_options(const nlohmann::json& saved) const {
  if (!saved.is_object()) return;
  const nlohmann::json now = to_json(o_);
  for (const auto& [key, value] : saved.items()) {
    if (key == "out" || key == "epochs" || key == "threads" || !now.contains(key)) continue;
    if (now[key] != value) {
      throw core::RuntimeError("--resume: " + o_.out_dir + "/config.json says " + key + " " +
                               now[key].dump() + " but " + last_path_ + " was trained with " +
                               value.dump() + "; the run's config.json was changed");
    }
  }
}

void Run::setup_model() {
  net_ = models::build_network(spec_, num_classes_);
  models::initialize(net_, o_.init);
  if (resuming_) {
    const CheckpointMeta saved = load_weights_for_resume(last_path_, net_);
    check_resumed_options(saved.options);
    resume_ = saved.resume;
    if (!o_.init_from.empty()) init_norm_ = saved.normalization;
  } else if (!o_.init_from.empty()) {
    if (spec_.is_knn()) {
      throw core::UsageError("--init-from: k-nearest neighbours has no weights to start from");
    }
    const InitSource source = init_from(o_.init_from, spec_, num_classes_, net_);
    init_norm_ = source.normalization;
    if (!source.note.empty() && lead_) std::fprintf(stderr, "%s\n", source.note.c_str());
  }
  freeze_layers(net_, o_.freeze);
  net_->to(device_);
  channels_last_ = use_channels_last(net_);
  knn_ = models::find_knn(net_);
  if (resuming_ && knn_) {
    throw core::UsageError("--resume: k-nearest neighbours has nothing to resume");
  }
  if (!knn_) optimizer_ = make_optimizer(o_, net_);
  if (resuming_) load_training_state(last_path_, *optimizer_);
  if (!group_) return;
  if (knn_) throw core::UsageError("k-nearest neighbours does not train in parallel");
  for (const auto& p : net_->parameters()) gradient_values_ += p.numel();
  ++gradient_values_;  // the stop signal rides along
  // Every rank starts from rank 0's weights, whatever its own initialization drew.
  std::vector<torch::Tensor> state;
  for (const auto& p : net_->parameters()) state.push_back(p);
  for (const auto& b : net_->buffers()) {
    if (b.is_floating_point()) state.push_back(b);
  }
  torch::NoGradGuard no_grad;
  torch::Tensor flat = flatten_tensors(state);
  group_->broadcast(flat, 0);
  unflatten_into(flat, state);
}

// One run, one numerics: `auto` follows the CPU (choose_precision), but a run resumed on another
// CPU kind keeps the precision it trained in (where this CPU has it natively), and the ranks of a
// data-parallel run spread over machines of several kinds all take rank 0's.
void Run::setup_precision() {
  const std::string saved =
      resume_.is_object() ? resume_.value("precision", std::string()) : std::string();
  if (o_.precision == "auto" && !device_.is_cuda() &&
      (saved == "fp32" || (saved == "bf16" && cpu_has_native_bf16()))) {
    precision_ = {saved == "bf16" ? Precision::kBf16 : Precision::kFp32, saved,
                  "auto: the precision the resumed run trained in"};
  } else if (o_.precision == "auto" && !device_.is_cuda() && resuming_ && saved.empty() &&
             !core::cpu_has_flag("amx_bf16")) {
    // Saved before checkpoints recorded it, when auto meant bf16 only with AMX-BF16.
    precision_ = {Precision::kFp32, "fp32", "auto: the precision the resumed run trained in"};
  } else {
    precision_ = choose_precision(o_.precision, spec_, device_);
  }
  if (group_) {
    torch::Tensor flag = torch::full({1}, precision_.precision == Precision::kBf16 ? 1.0f : 0.0f);
    group_->broadcast(flag, 0);
    const bool bf16 = flag.item<float>() > 0.5f;
    if (bf16 != (precision_.precision == Precision::kBf16)) {
      precision_ = {bf16 ? Precision::kBf16 : Precision::kFp32, bf16 ? "bf16" : "fp32",
                    "auto: rank 0's choice"};
      if (bf16 && !cpu_has_native_bf16()) {
        std::fprintf(stderr,
                     "warning: rank %d: bf16 as rank 0 chose, but this CPU has no native bf16; it "
                     "is emulated and runs many times slower than fp32\n",
                     rank_);
      }
    }
  }
  bf16_ = precision_.precision == Precision::kBf16;
}

void Run::write_config() {
  nlohmann::json config = {
      {"options", to_json(o_)},
      {"model", o_.model},
      {"spec", models::to_string(spec_)},
      {"parameters", parameters_},
      {"dataset", info_.name},
      {"normalization", norm_.to_json()},
      {"train_size", train_set_.size()},
      {"val_size", has_val_ ? val_set_.size() : 0},
      {"threads", threads_},
      {"argv", o_.argv},
      {"versions", {{"digitlab", DIGITLAB_VERSION}, {"torch", TORCH_VERSION}}}};
  if (group_) config["ranks"] = world_;
  if (lead_) {
    core::write_file_atomic(core::join_path(o_.out_dir, core::run_files::kConfig),
                            config.dump(2) + "\n");
  }
  meta_.model = o_.model;
  meta_.spec = config["spec"];
  meta_.dataset = info_.name;
  meta_.class_names = info_.class_names;
  meta_.normalization = norm_;
  meta_.options = config["options"];
  meta_.parameters = parameters_;
}

void Run::setup_loader() {
  data::LoaderOptions lo;
  lo.batch_size = o_.batch_size;
  lo.drop_last = o_.drop_last;
  lo.seed = o_.seed;
  lo.workers = o_.workers;
  lo.augment = data::parse_augment(o_.augment);
  lo.normalization = norm_;
  lo.rank = rank_;
  lo.world = world_;
  loader_ = std::make_unique<data::Loader>(train_set_, lo);
  begin_.model = o_.model;
  begin_.spec = meta_.spec;
  begin_.dataset = info_.name;
  begin_.out_dir = o_.out_dir;
  begin_.optimizer = o_.optimizer;
  begin_.parameters = parameters_;
  begin_.train_size = train_set_.size();
  begin_.val_size = has_val_ ? val_set_.size() : 0;
  begin_.batch_size = o_.batch_size;
  begin_.batches_per_epoch = loader_->batches_per_epoch();
  begin_.epochs = o_.epochs;
  begin_.threads = threads_;
  begin_.lr = o_.lr;
  begin_.device = device_.str();
  begin_.precision = precision_.name;
  begin_.precision_reason = precision_.reason;
  schedule_ = schedule_spec(o_, begin_.batches_per_epoch);
  result_.gradient_values = gradient_values_;
  result_.run_dir = o_.out_dir;
}

void Run::restore() {
  try {
    const nlohmann::json& r = resume_;
    first_epoch_ = r.at("epoch").get<int>();
    first_batch_ = r.at("batch").get<int64_t>();
    step_ = r.at("step").get<int64_t>();
    loss_sum_ = r.at("loss_sum").get<double>();
    correct_ = r.at("correct").get<int64_t>();
    seen_ = r.at("seen").get<int64_t>();
    // The saved sums are the whole group's; the other ranks add theirs from here on.
    if (!lead_) loss_sum_ = 0, correct_ = 0, seen_ = 0;
    partial_seconds_ = r.value("partial_seconds", 0.0);
    result_.best_epoch = r.at("best_epoch").get<int>();
    stopper_.restore(r.at("early_stopping"));
    if (o_.lr_schedule == "plateau") plateau_.restore(r.at("plateau"));
    for (const auto& e : r.at("history")) begin_.previous_epochs.push_back(e);
  } catch (const nlohmann::json::exception& e) {
    throw core::RuntimeError(last_path_ + ": training state is malformed (" +
                             core::one_line(e.what()) + ")");
  }
  // A batch index means WORLD_SIZE x batch_size images: mid-epoch, only the same group size
  // continues with the right images (at an epoch boundary any size may).
  const int saved_ranks = resume_.value("ranks", 1);
  if (first_batch_ > 0 && saved_ranks != world_) {
    throw core::UsageError("--resume: the run stopped in the middle of epoch " +
                           std::to_string(first_epoch_) + " with " + std::to_string(saved_ranks) +
                           " rank(s); continue it with " + std::to_string(saved_ranks));
  }
  if (first_batch_ < 0 || first_batch_ > begin_.batches_per_epoch || first_epoch_ < 1) {
    throw core::RuntimeError(last_path_ + ": training state does not fit this run (epoch " +
                             std::to_string(first_epoch_) + ", batch " +
                             std::to_string(first_batch_) + ")");
  }
  begin_.start_epoch = first_epoch_;
  begin_.start_batch = first_batch_;
}

// What last.pt must hold to continue at (epoch, batch) exactly as an uninterrupted run would.
nlohmann::json Run::resume_state(int epoch, int64_t batch) const {
  nlohmann::json history = nlohmann::json::array();
  for (const auto& e : begin_.previous_epochs) history.push_back(e);
  for (const auto& e : result_.history) history.push_back(e.to_json());
  return nlohmann::json{{"epoch", epoch},
                        {"batch", batch},
                        {"step", step_},
                        {"loss_sum", batch ? loss_sum_ : 0.0},
                        {"correct", batch ? correct_ : 0},
                        {"seen", batch ? seen_ : 0},
                        {"best_epoch", result_.best_epoch},
                        {"early_stopping", stopper_.state()},
                        {"plateau", plateau_.state()},
                        {"history", history},
                        {"ranks", world_},
                        {"precision", precision_.name}};
}

void Run::interrupted(int sig, int epochs_done, const std::string& where) {
  TrainEnd te{epochs_done,           false,
              result_.best_epoch,    stopper_.monitor(),
              stopper_.best_value(), seconds_since(start_)};
  te.interrupted = true;
  for (auto* ob : observers_) ob->on_train_end(te);
  throw core::Interrupted(sig, std::string(sig == SIGINT ? "interrupted" : "terminated") + " " +
                                   where + "; saved " + last_path_ +
                                   "; continue with: digitlab train --resume " + o_.out_dir);
}

TrainResult Run::run() {
  start_ = Clock::now();
  lr_ = resuming_ && first_batch_ > 0 && step_ > 0 ? scheduled_lr(schedule_, step_ - 1, &plateau_)
                                                   : o_.lr;
  if (first_epoch_ > o_.epochs) {
    throw core::UsageError("--epochs: the run already trained " + std::to_string(first_epoch_ - 1) +
                           " epochs; give more to continue it");
  }
  // At an epoch boundary the step count follows this run's batches per epoch, which a resumed
  // group of another size changes; the schedule then goes on from the right point.
  if (resuming_ && first_batch_ == 0) step_ = int64_t(first_epoch_ - 1) * begin_.batches_per_epoch;
  int epoch = first_epoch_;
  for (; epoch <= o_.epochs; ++epoch) {
    const auto t0 = Clock::now();
    const bool mid_epoch = epoch == first_epoch_ && first_batch_ > 0;
    if (!mid_epoch) loss_sum_ = 0, correct_ = 0, seen_ = 0, partial_seconds_ = 0;
    train_batches(epoch, mid_epoch ? first_batch_ : 0, t0);
    if (end_epoch(epoch, t0)) {
      result_.stopped_early = true;
      break;
    }
  }
  TrainEnd te{std::min(epoch, o_.epochs), result_.stopped_early, result_.best_epoch,
              stopper_.monitor(),         stopper_.best_value(), seconds_since(start_)};
  for (auto* ob : observers_) ob->on_train_end(te);
  return result_;
}

void Run::train_batches(int epoch, int64_t first, Clock::time_point t0) {
  net_->train();
  keep_frozen_statistics(net_, o_.freeze);
  int64_t b = first;
  if (knn_) {
    knn_->fit(train_set_.images, train_set_.labels, norm_.scale(), norm_.shift());
    seen_ = train_set_.size();
    return;
  }
  loader_->start_epoch(epoch, b);
  while (auto batch = loader_->next()) step(*batch, epoch, b, t0);
}

void Run::step(const data::Batch& batch, int epoch, int64_t& b, Clock::time_point t0) {
  lr_ = scheduled_lr(schedule_, step_++, &plateau_);
  for (auto& g : optimizer_->param_groups()) g.options().set_lr(lr_);
  const torch::Tensor x = to_network_input(batch.x, channels_last_, device_);
  const torch::Tensor y = batch.y.to(device_);
  int group_signal = 0;  // a Ctrl-C/SIGTERM on any rank, as of this step
  std::function<void()> average;
  if (group_) {
    average = [&] {
      const double weight = double(y.size(0)) / double(batch.global_size);
      const auto a0 = Clock::now();
      group_signal = allreduce_gradients(*group_, net_, weight, core::interrupt_signal());
      result_.allreduce_seconds += seconds_since(a0);
      ++result_.allreduce_steps;
    };
  }
  const auto [out, loss] =
      train_step(net_, *optimizer_, spec_.head, x, y, bf16_, device_, average, o_.label_smoothing);
  const int64_t bs = y.size(0);
  loss_sum_ += loss.item<double>() * double(bs);
  correct_ += out.argmax(1).eq(y).sum().item<int64_t>();
  seen_ += bs;
  ++b;
  if (o_.fault_step > 0 && step_ == o_.fault_step &&
      (o_.fault_rank < 0 || o_.fault_rank == rank_)) {
    raise(o_.fault_signal);
  }
  if (const int sig = group_ ? group_signal : core::interrupt_signal()) {
    // The step is done: save it, so that --resume goes on from the next batch.
    if (group_) reduce_sums(*group_, loss_sum_, correct_, seen_);
    meta_.epoch = epoch - 1;
    meta_.resume = resume_state(epoch, b);
    meta_.resume["partial_seconds"] = partial_seconds_ + seconds_since(t0);
    if (lead_) save_checkpoint(last_path_, net_, meta_, optimizer_.get());
    interrupted(sig, epoch - 1,
                "in epoch " + std::to_string(epoch) + " after batch " + std::to_string(b));
  }
  if (observers_.empty()) return;
  const double secs = seconds_since(t0);
  BatchEnd be{epoch,
              o_.epochs,
              b,
              begin_.batches_per_epoch,
              loss_sum_ / double(seen_),
              double(correct_) / double(seen_),
              double(seen_) / std::max(secs, 1e-9),
              secs};
  for (auto* ob : observers_) ob->on_batch_end(be);
}

// The epoch's metrics over the group (sums over ranks) and whether any rank was asked to stop.
EpochEnd Run::measure_epoch(int epoch, Clock::time_point t0, int& signal) {
  signal = core::interrupt_signal();
  if (group_) {
    signal = reduce_sums(*group_, loss_sum_, correct_, seen_, signal);
    // Batch norm's running statistics came from each rank's own shards: validate and save the
    // ranks' average, the same on every rank.
    average_buffers(*group_, net_);
  }
  EpochEnd ee;
  ee.epoch = epoch;
  ee.epochs = o_.epochs;
  // k-nearest neighbours has no training loss; NaN is written as null in metrics.jsonl.
  ee.train_loss = knn_ ? std::nan("") : loss_sum_ / double(seen_);
  ee.train_acc = knn_ ? std::nan("") : double(correct_) / double(seen_);
  ee.lr = lr_;
  const double train_secs = partial_seconds_ + seconds_since(t0);
  ee.images_per_second = double(seen_) / std::max(train_secs, 1e-9);
  if (has_val_) {
    AutocastScope autocast(bf16_, device_);
    const auto [loss, accuracy] = evaluate_split(net_, spec_.head, val_set_, norm_, group_);
    ee.val_loss = loss;
    ee.val_acc = accuracy;
  }
  ee.seconds = partial_seconds_ + seconds_since(t0);
  if (!knn_ && lead_ && (o_.tb_histograms || o_.tb_images)) epoch_extras(epoch);
  if (o_.test_every > 0 && epoch % o_.test_every == 0) {
    AutocastScope autocast(bf16_, device_);
    const auto [loss, accuracy] = evaluate_split(net_, spec_.head, test_set_, norm_, group_);
    ee.test_loss = loss;
    ee.test_acc = accuracy;
  }
  return ee;
}

void Run::epoch_extras(int epoch) {
  EpochExtras extras;
  extras.epoch = epoch;
  if (o_.tb_histograms) extras.histograms = weight_values(net_);
  if (o_.tb_images && has_val_) {
    const data::GrayImage grid = sample_predictions(net_, val_set_, norm_, channels_last_, device_);
    extras.image_png =
        data::encode_png(grid.width, grid.height, 1, grid.pixels, "sample predictions");
    extras.image_width = grid.width;
    extras.image_height = grid.height;
  }
  for (auto* ob : observers_) ob->on_epoch_extras(extras);
}

bool Run::end_epoch(int epoch, Clock::time_point t0) {
  int epoch_signal = 0;
  EpochEnd ee = measure_epoch(epoch, t0, epoch_signal);
  const bool val_acc = o_.early_stopping.monitor == "val_acc";
  // Without validation the newest weights count as the best.
  ee.improved = has_val_ ? stopper_.update(epoch, val_acc ? *ee.val_acc : *ee.val_loss) : true;
  // After ee.lr took this epoch's rate: a reduction applies from the next epoch on, and is in
  // the resume state saved below.
  if (has_val_ && o_.lr_schedule == "plateau")
    plateau_.update(val_acc ? *ee.val_acc : *ee.val_loss);
  bool stop = stopper_.should_stop();
  if (group_) {
    // Rank 0 decides; the reduced metrics make every rank agree anyway.
    torch::Tensor decision = torch::tensor({double(ee.improved), double(stop)}, torch::kFloat64);
    group_->broadcast(decision, 0);
    ee.improved = decision[0].item<double>() != 0;
    stop = decision[1].item<double>() != 0;
  }
  if (ee.improved) result_.best_epoch = epoch;
  meta_.epoch = epoch;
  meta_.metrics = ee.to_json();
  meta_.resume = nullptr;
  if (ee.improved && lead_) {
    save_checkpoint(core::join_path(o_.out_dir, core::run_files::kBestCheckpoint), net_, meta_);
  }
  if (o_.save_every > 0 && epoch % o_.save_every == 0 && lead_) {
    char name[32];
    std::snprintf(name, sizeof name, "epoch-%03d.pt", epoch);
    save_checkpoint(
        core::join_path(core::join_path(o_.out_dir, core::run_files::kCheckpoints), name), net_,
        meta_);
  }
  result_.history.push_back(ee);
  if (!knn_) {
    meta_.resume = resume_state(epoch + 1, 0);
    if (lead_) save_checkpoint(last_path_, net_, meta_, optimizer_.get());
  } else {
    save_checkpoint(last_path_, net_, meta_);
  }
  for (auto* ob : observers_) ob->on_epoch_end(ee);
  if (stop) return true;
  const int sig = group_ ? epoch_signal : core::interrupt_signal();
  if (sig && epoch < o_.epochs) interrupted(sig, epoch, "after epoch " + std::to_string(epoch));
  return false;
}

}  // namespace

void resolve_model(TrainOptions& o) {
  if (o.arch.empty() && o.model.empty() && !o.init_from.empty()) {
    const int64_t classes = int64_t(data::find_dataset(o.dataset, o.data_root).class_names.size());
    o.arch = init_spec(o.init_from, classes, o.model);
  }
  if (o.arch.empty()) {
    if (o.model.empty()) o.model = models::kDefaultModel;
    o.arch = models::find_model(o.model).spec;
  } else if (o.model.empty()) {
    o.model = "custom";
  }
  if (o.out_dir.empty()) o.out_dir = default_run_dir(o.model);
}

TrainResult train(TrainOptions o, const std::vector<Observer*>& observers, Collective* group) {
  validate(o);
  resolve_model(o);
  const std::string dir = o.out_dir;
  const bool existed = core::dir_exists(dir);
  std::optional<Run> run;
  try {
    run.emplace(std::move(o), observers, group);
  } catch (...) {
    // A start that failed (bad data, options, a locked directory) leaves no new run directory
    // behind: only the lock file can be in one this call created.
    std::error_code ec;
    bool only_lock = !existed;
    for (std::filesystem::directory_iterator it(dir, ec), end; only_lock && !ec && it != end;
         it.increment(ec)) {
      only_lock = it->path().filename() == ".lock";
    }
    if (only_lock && !ec) std::filesystem::remove_all(dir, ec);
    throw;
  }
  return run->run();
}

}  // namespace digitlab::train
