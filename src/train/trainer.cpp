// The training loop.
#include "train/trainer.h"

#include <signal.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <memory>

#include <torch/torch.h>

#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "core/terminal.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "models/builder.h"
#include "models/zoo.h"
#include "train/checkpoint.h"
#include "train/collective.h"
#include "train/commands.h"
#include "train/early_stopping.h"
#include "train/evaluate.h"
#include "train/observers.h"
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

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& o,
                                                        torch::nn::Sequential& net) {
  auto params = net->parameters();
  if (o.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  }
  if (o.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  }
  if (o.optimizer == "rmsprop") {
    return std::make_unique<torch::optim::RMSprop>(
        params,
        torch::optim::RMSpropOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
}

std::string default_run_dir(const std::string& model) {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + model + "-" + buf;
}

// True when the directory holds files of an earlier run.
bool holds_run(const std::string& dir) {
  for (const char* f :
       {"config.json", "metrics.jsonl", "checkpoints/best.pt", "checkpoints/last.pt"}) {
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
  core::make_dirs(core::join_path(o.out_dir, "checkpoints"));
  if (used) {
    for (const char* f : {"checkpoints/best.pt", "checkpoints/last.pt", "metrics.jsonl"}) {
      std::remove(core::join_path(o.out_dir, f).c_str());
    }
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
      out.emplace_back(std::to_string(i) + "_" + layer_kind(children[i]->name()) + "/" + p.key(),
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

// Fills in the model name and spec: the default model, a zoo entry, or a custom --arch.
void resolve_model(TrainOptions& o) {
  if (o.arch.empty()) {
    if (o.model.empty()) o.model = models::kDefaultModel;
    o.arch = models::find_model(o.model).spec;
  } else if (o.model.empty()) {
    o.model = "custom";
  }
  if (o.out_dir.empty()) o.out_dir = default_run_dir(o.model);
}

}  // namespace

TrainResult train(TrainOptions o, const std::vector<Observer*>& observers, Collective* group) {
  resolve_model(o);
  const int rank = group ? group->rank() : 0;
  const int world = group ? group->world_size() : 1;
  const bool lead = rank == 0;  // writes the run directory
  const models::ArchSpec spec = models::parse_spec(o.arch);
  if (spec.is_knn()) o.epochs = 1;  // fitting k-nearest neighbours is storing the training set
  models::check_label_smoothing(spec, o.label_smoothing);
  const data::DatasetInfo& info = data::find_dataset(o.dataset);
  const int64_t num_classes = int64_t(info.class_names.size());
  const int64_t parameters = models::count_parameters(spec, num_classes);
  const bool resuming = !o.resume.empty();
  const std::string last_path = core::join_path(o.out_dir, "checkpoints/last.pt");
  if (resuming && !core::file_exists(last_path)) {
    throw core::RuntimeError("--resume: " + o.out_dir +
                             " has no checkpoints/last.pt to resume from");
  }
  if (!resuming && lead) check_run_dir(o);
  const int threads = configure_threads(o.threads);
  // k-nearest neighbours keeps its training set in host memory.
  const torch::Device device = spec.is_knn() ? torch::Device(torch::kCPU) : choose_device(o.device);
  if (group && device.is_cuda()) {
    throw core::UsageError("--device: data-parallel runs train on CPUs (Gloo); use --device cpu");
  }
  const PrecisionChoice precision = choose_precision(o.precision, spec, device);
  const bool bf16 = precision.precision == Precision::kBf16;
  torch::manual_seed(o.seed);

  // Data: the whole training split as uint8, partitioned once; batches are gathered per step.
  const data::RawSplit raw = data::load_raw_split(o.data_root, info, data::Split::kTrain);
  const data::TensorSplit all = data::to_tensors(raw, o.train_limit);
  const data::Normalization norm = data::make_normalization(o.normalization, all.images);
  const data::TrainValIndices parts =
      data::partition(all, o.val_split, split_seed_of(o), o.val_strategy, int(num_classes));
  auto as_index = [](const std::vector<int64_t>& v) {
    return torch::tensor(torch::ArrayRef<int64_t>(v), torch::kInt64);
  };
  const data::TensorSplit train_set = data::subset(all, as_index(parts.train));
  const data::TensorSplit val_set =
      parts.val.empty() ? data::TensorSplit{} : data::subset(all, as_index(parts.val));
  const bool has_val = !parts.val.empty();
  const data::TensorSplit test_set =
      o.test_every > 0
          ? data::to_tensors(data::load_raw_split(o.data_root, info, data::Split::kTest))
          : data::TensorSplit{};
  if (!spec.is_knn() && o.drop_last && int64_t(parts.train.size()) < o.batch_size * world) {
    throw core::UsageError("--drop-last: the " + std::to_string(parts.train.size()) +
                           " training images do not fill one batch of " +
                           std::to_string(o.batch_size * world));
  }
  if (!resuming && lead) prepare_run_dir(o);  // only now: bad data or options leave a run untouched

  torch::nn::Sequential net = models::build_network(spec, num_classes);
  models::initialize(net, o.init);
  nlohmann::json resume;  // where the interrupted run stood
  if (resuming) resume = load_weights_for_resume(last_path, net).resume;
  net->to(device);
  const bool channels_last = use_channels_last(net);
  models::KnnImpl* knn = models::find_knn(net);
  if (resuming && knn)
    throw core::UsageError("--resume: k-nearest neighbours has nothing to resume");
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (!knn) optimizer = make_optimizer(o, net);
  if (resuming) load_training_state(last_path, *optimizer);
  int64_t gradient_values = 0;
  if (group) {
    if (knn) throw core::UsageError("k-nearest neighbours does not train in parallel");
    for (const auto& p : net->parameters()) gradient_values += p.numel();
    ++gradient_values;  // the stop signal rides along
    // Every rank starts from rank 0's weights, whatever its own initialization drew.
    std::vector<torch::Tensor> state;
    for (const auto& p : net->parameters()) state.push_back(p);
    for (const auto& b : net->buffers()) {
      if (b.is_floating_point()) state.push_back(b);
    }
    torch::NoGradGuard no_grad;
    torch::Tensor flat = flatten_tensors(state);
    group->broadcast(flat, 0);
    unflatten_into(flat, state);
  }

  const std::string ckpt_dir = core::join_path(o.out_dir, "checkpoints");
  nlohmann::json config = {
      {"options", to_json(o)},
      {"model", o.model},
      {"spec", models::to_string(spec)},
      {"parameters", parameters},
      {"dataset", info.name},
      {"normalization", norm.to_json()},
      {"train_size", train_set.size()},
      {"val_size", has_val ? val_set.size() : 0},
      {"threads", threads},
      {"argv", o.argv},
      {"versions", {{"digitlab", DIGITLAB_VERSION}, {"torch", TORCH_VERSION}}}};
  if (group) config["ranks"] = world;
  if (lead) {
    core::write_file_atomic(core::join_path(o.out_dir, "config.json"), config.dump(2) + "\n");
  }

  CheckpointMeta meta;
  meta.model = o.model;
  meta.spec = config["spec"];
  meta.dataset = info.name;
  meta.class_names = info.class_names;
  meta.normalization = norm;
  meta.options = config["options"];
  meta.parameters = parameters;

  data::LoaderOptions loader_options;
  loader_options.batch_size = o.batch_size;
  loader_options.drop_last = o.drop_last;
  loader_options.seed = o.seed;
  loader_options.workers = o.workers;
  loader_options.augment = data::parse_augment(o.augment);
  loader_options.normalization = norm;
  loader_options.rank = rank;
  loader_options.world = world;
  data::Loader loader(train_set, loader_options);
  const int64_t n = train_set.size();
  const int64_t batches_per_epoch = loader.batches_per_epoch();
  TrainBegin begin;
  begin.model = o.model;
  begin.spec = meta.spec;
  begin.dataset = info.name;
  begin.out_dir = o.out_dir;
  begin.optimizer = o.optimizer;
  begin.parameters = parameters;
  begin.train_size = n;
  begin.val_size = has_val ? val_set.size() : 0;
  begin.batch_size = o.batch_size;
  begin.batches_per_epoch = batches_per_epoch;
  begin.epochs = o.epochs;
  begin.threads = threads;
  begin.lr = o.lr;
  begin.device = device.str();
  begin.precision = precision.name;
  begin.precision_reason = precision.reason;

  EarlyStopping stopper(o.early_stopping);
  const ScheduleSpec schedule = schedule_spec(o, batches_per_epoch);
  PlateauTracker plateau(plateau_options(o));
  TrainResult result;
  result.gradient_values = gradient_values;
  result.run_dir = o.out_dir;
  int first_epoch = 1;
  int64_t first_batch = 0, step = 0;
  // Sums of the epoch in progress (restored when resuming in the middle of one).
  double loss_sum = 0, partial_seconds = 0;
  int64_t correct = 0, seen = 0;
  if (resuming) {
    try {
      first_epoch = resume.at("epoch").get<int>();
      first_batch = resume.at("batch").get<int64_t>();
      step = resume.at("step").get<int64_t>();
      loss_sum = resume.at("loss_sum").get<double>();
      correct = resume.at("correct").get<int64_t>();
      seen = resume.at("seen").get<int64_t>();
      // The saved sums are the whole group's; the other ranks add theirs from here on.
      if (!lead) loss_sum = 0, correct = 0, seen = 0;
      partial_seconds = resume.value("partial_seconds", 0.0);
      result.best_epoch = resume.at("best_epoch").get<int>();
      stopper.restore(resume.at("early_stopping"));
      if (o.lr_schedule == "plateau") plateau.restore(resume.at("plateau"));
      for (const auto& e : resume.at("history")) begin.previous_epochs.push_back(e);
    } catch (const nlohmann::json::exception& e) {
      throw core::RuntimeError(last_path + ": training state is malformed (" +
                               core::one_line(e.what()) + ")");
    }
    // A batch index means WORLD_SIZE x batch_size images: mid-epoch, only the same group size
    // continues with the right images (at an epoch boundary any size may).
    const int saved_ranks = resume.value("ranks", 1);
    if (first_batch > 0 && saved_ranks != world) {
      throw core::UsageError("--resume: the run stopped in the middle of epoch " +
                             std::to_string(first_epoch) + " with " + std::to_string(saved_ranks) +
                             " rank(s); continue it with " + std::to_string(saved_ranks));
    }
    if (first_batch < 0 || first_batch > batches_per_epoch || first_epoch < 1) {
      throw core::RuntimeError(last_path + ": training state does not fit this run (epoch " +
                               std::to_string(first_epoch) + ", batch " +
                               std::to_string(first_batch) + ")");
    }
    begin.start_epoch = first_epoch;
    begin.start_batch = first_batch;
  }
  for (auto* ob : observers) ob->on_train_begin(begin);

  // What last.pt must hold to continue at (epoch, batch) exactly as an uninterrupted run would.
  auto resume_state = [&](int epoch, int64_t batch) {
    nlohmann::json history = nlohmann::json::array();
    for (const auto& e : begin.previous_epochs) history.push_back(e);
    for (const auto& e : result.history) history.push_back(e.to_json());
    return nlohmann::json{{"epoch", epoch},
                          {"batch", batch},
                          {"step", step},
                          {"loss_sum", batch ? loss_sum : 0.0},
                          {"correct", batch ? correct : 0},
                          {"seen", batch ? seen : 0},
                          {"best_epoch", result.best_epoch},
                          {"early_stopping", stopper.state()},
                          {"plateau", plateau.state()},
                          {"history", history},
                          {"ranks", world}};
  };
  const auto start = Clock::now();
  int epoch = 0;
  // The rate of the last step taken: what the epoch reports, even one resumed after its last batch.
  double lr =
      resuming && first_batch > 0 && step > 0 ? scheduled_lr(schedule, step - 1, &plateau) : o.lr;
  if (first_epoch > o.epochs) {
    throw core::UsageError("--epochs: the run already trained " + std::to_string(first_epoch - 1) +
                           " epochs; give more to continue it");
  }
  // At an epoch boundary the step count follows this run's batches per epoch, which a resumed
  // group of another size changes; the schedule then goes on from the right point.
  if (resuming && first_batch == 0) step = int64_t(first_epoch - 1) * batches_per_epoch;
  for (epoch = first_epoch; epoch <= o.epochs; ++epoch) {
    net->train();
    const auto t0 = Clock::now();
    int64_t b = 0;
    if (epoch != first_epoch || first_batch == 0) {
      loss_sum = 0;
      correct = seen = 0;
      partial_seconds = 0;
    } else {
      b = first_batch;
    }
    if (knn) {
      knn->fit(train_set.images, train_set.labels, norm.scale(), norm.shift());
      seen = n;
    } else {
      loader.start_epoch(epoch, b);
    }
    while (auto batch = knn ? std::nullopt : loader.next()) {
      lr = scheduled_lr(schedule, step++, &plateau);
      for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);
      const torch::Tensor x = to_network_input(batch->x, channels_last, device);
      const torch::Tensor y = batch->y.to(device);
      int group_signal = 0;  // a Ctrl-C/SIGTERM on any rank, as of this step
      std::function<void()> average;
      if (group) {
        average = [&] {
          const double weight = double(y.size(0)) / double(batch->global_size);
          const auto a0 = Clock::now();
          group_signal = allreduce_gradients(*group, net, weight, core::interrupt_signal());
          result.allreduce_seconds += seconds_since(a0);
          ++result.allreduce_steps;
        };
      }
      const auto [out, loss] =
          train_step(net, *optimizer, spec.head, x, y, bf16, device, average, o.label_smoothing);
      const int64_t bs = y.size(0);
      loss_sum += loss.item<double>() * double(bs);
      correct += out.argmax(1).eq(y).sum().item<int64_t>();
      seen += bs;
      ++b;
      if (o.fault_step > 0 && step == o.fault_step && (o.fault_rank < 0 || o.fault_rank == rank)) {
        raise(o.fault_signal);
      }
      if (const int sig = group ? group_signal : core::interrupt_signal()) {
        // The step is done: save it, so that --resume goes on from the next batch.
        if (group) reduce_sums(*group, loss_sum, correct, seen);
        meta.epoch = epoch - 1;
        meta.resume = resume_state(epoch, b);
        meta.resume["partial_seconds"] = partial_seconds + seconds_since(t0);
        if (lead) save_checkpoint(last_path, net, meta, optimizer.get());
        TrainEnd te{
            epoch - 1,           false, result.best_epoch, stopper.monitor(), stopper.best_value(),
            seconds_since(start)};
        te.interrupted = true;
        for (auto* ob : observers) ob->on_train_end(te);
        throw core::Interrupted(sig, std::string(sig == SIGINT ? "interrupted" : "terminated") +
                                         " in epoch " + std::to_string(epoch) + " after batch " +
                                         std::to_string(b) + "; saved " + last_path +
                                         "; continue with: digitlab train --resume " + o.out_dir);
      }
      if (!observers.empty()) {
        const double secs = seconds_since(t0);
        BatchEnd be{epoch,
                    o.epochs,
                    b,
                    batches_per_epoch,
                    loss_sum / double(seen),
                    double(correct) / double(seen),
                    double(seen) / std::max(secs, 1e-9),
                    secs};
        for (auto* ob : observers) ob->on_batch_end(be);
      }
    }
    // The group's epoch: sums over ranks, and whether any rank was asked to stop.
    int epoch_signal = core::interrupt_signal();
    if (group) {
      epoch_signal = reduce_sums(*group, loss_sum, correct, seen, epoch_signal);
      // Batch norm's running statistics came from each rank's own shards: validate and save
      // the ranks' average, the same on every rank.
      average_buffers(*group, net);
    }
    EpochEnd ee;
    ee.epoch = epoch;
    ee.epochs = o.epochs;
    // k-nearest neighbours has no training loss; NaN is written as null in metrics.jsonl.
    ee.train_loss = knn ? std::nan("") : loss_sum / double(seen);
    ee.train_acc = knn ? std::nan("") : double(correct) / double(seen);
    ee.lr = lr;
    const double train_secs = partial_seconds + seconds_since(t0);
    ee.images_per_second = double(seen) / std::max(train_secs, 1e-9);
    if (has_val) {
      AutocastScope autocast(bf16, device);
      const auto [loss, accuracy] = evaluate_split(net, spec.head, val_set, norm, group);
      ee.val_loss = loss;
      ee.val_acc = accuracy;
    }
    ee.seconds = partial_seconds + seconds_since(t0);
    if (!knn && lead && (o.tb_histograms || o.tb_images)) {
      EpochExtras extras;
      extras.epoch = epoch;
      if (o.tb_histograms) extras.histograms = weight_values(net);
      if (o.tb_images && has_val) {
        const data::GrayImage grid = sample_predictions(net, val_set, norm, channels_last, device);
        extras.image_png =
            data::encode_png(grid.width, grid.height, 1, grid.pixels, "sample predictions");
        extras.image_width = grid.width;
        extras.image_height = grid.height;
      }
      for (auto* ob : observers) ob->on_epoch_extras(extras);
    }
    if (o.test_every > 0 && epoch % o.test_every == 0) {
      AutocastScope autocast(bf16, device);
      const auto [loss, accuracy] = evaluate_split(net, spec.head, test_set, norm, group);
      ee.test_loss = loss;
      ee.test_acc = accuracy;
    }
    // Without validation the newest weights count as the best.
    ee.improved = has_val
                      ? stopper.update(epoch, o.early_stopping.monitor == "val_acc" ? *ee.val_acc
                                                                                    : *ee.val_loss)
                      : true;
    // After ee.lr took this epoch's rate: a reduction applies from the next epoch on, and is in
    // the resume state saved below.
    if (has_val && o.lr_schedule == "plateau") {
      plateau.update(o.early_stopping.monitor == "val_acc" ? *ee.val_acc : *ee.val_loss);
    }
    bool stop = stopper.should_stop();
    if (group) {
      // Rank 0 decides; the reduced metrics make every rank agree anyway.
      torch::Tensor decision = torch::tensor({double(ee.improved), double(stop)}, torch::kFloat64);
      group->broadcast(decision, 0);
      ee.improved = decision[0].item<double>() != 0;
      stop = decision[1].item<double>() != 0;
    }
    if (ee.improved) result.best_epoch = epoch;
    meta.epoch = epoch;
    meta.metrics = ee.to_json();
    meta.resume = nullptr;
    if (ee.improved && lead) save_checkpoint(core::join_path(ckpt_dir, "best.pt"), net, meta);
    result.history.push_back(ee);
    if (!knn) {
      meta.resume = resume_state(epoch + 1, 0);
      if (lead) save_checkpoint(last_path, net, meta, optimizer.get());
    } else {
      save_checkpoint(last_path, net, meta);
    }
    for (auto* ob : observers) ob->on_epoch_end(ee);
    if (stop) {
      result.stopped_early = true;
      break;
    }
    if (const int sig = group ? epoch_signal : core::interrupt_signal(); sig && epoch < o.epochs) {
      TrainEnd te{epoch,
                  false,
                  result.best_epoch,
                  stopper.monitor(),
                  stopper.best_value(),
                  seconds_since(start)};
      te.interrupted = true;
      for (auto* ob : observers) ob->on_train_end(te);
      throw core::Interrupted(sig, std::string(sig == SIGINT ? "interrupted" : "terminated") +
                                       " after epoch " + std::to_string(epoch) + "; saved " +
                                       last_path + "; continue with: digitlab train --resume " +
                                       o.out_dir);
    }
  }
  TrainEnd te{std::min(epoch, o.epochs), result.stopped_early, result.best_epoch,
              stopper.monitor(),         stopper.best_value(), seconds_since(start)};
  for (auto* ob : observers) ob->on_train_end(te);
  return result;
}

int train_command(const TrainOptions& options, std::string* run_dir, Collective* group) {
  const bool lead = !group || group->rank() == 0;
  ConsoleProgress progress(core::stdout_is_terminal());
  TrainOptions o = options;
  resolve_model(o);
  MetricsLog log(core::join_path(o.out_dir, "metrics.jsonl"));
  std::vector<Observer*> observers;
  if (lead) observers = {&progress, &log};  // the other ranks train silently
  core::InterruptGuard interrupts;          // Ctrl-C and SIGTERM save a checkpoint before exiting
  std::unique_ptr<TensorBoardLog> tensorboard;
  if (o.tensorboard && lead) {
    tensorboard = std::make_unique<TensorBoardLog>(core::join_path(o.out_dir, "tensorboard"),
                                                   o.tb_every_steps);
    observers.push_back(tensorboard.get());
  }
  try {
    TrainResult r = train(o, observers, group);
    if (run_dir) *run_dir = r.run_dir;
    if (lead) {
      std::printf("best epoch %d; checkpoints in %s/checkpoints (best.pt, last.pt)\n", r.best_epoch,
                  r.run_dir.c_str());
    }
    if (lead && r.allreduce_steps > 0) {
      std::printf("data parallel: %d ranks; gradient allreduce %.2f ms per step (%lld floats)\n",
                  group->world_size(), 1000 * r.allreduce_seconds / double(r.allreduce_steps),
                  static_cast<long long>(r.gradient_values));
    }
  } catch (const c10::Error& e) {
    throw core::RuntimeError("training failed: " + core::one_line(e.what_without_backtrace()));
  }
  return 0;
}

}  // namespace digitlab::train
