// The learning-rate range test: a sweep of rising rates, its suggestions, table, CSV and plot.
#include "train/lr_find.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <torch/torch.h>

#include "core/error.h"
#include "core/files.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "models/builder.h"
#include "train/optimizer.h"
#include "train/precision.h"
#include "train/runtime.h"
#include "train/trainer.h"

namespace digitlab::train {
namespace {

constexpr double kBeta = 0.98;       // smoothing of the loss, as fastai and Lightning
constexpr double kDivergence = 4.0;  // stop when the smoothed loss exceeds this times its minimum

// The training images a run with these options trains on (the validation images held out).
data::TensorSplit training_images(const TrainOptions& o, const data::DatasetInfo& info,
                                  data::Normalization& norm) {
  const data::RawSplit raw = data::load_raw_split(o.data_root, info, data::Split::kTrain);
  const data::TensorSplit all = data::to_tensors(raw, o.train_limit);
  if (all.size() > 0 && (all.images.size(1) != 28 || all.images.size(2) != 28)) {
    throw core::UsageError("--dataset " + info.name + ": its images are " +
                           std::to_string(all.images.size(2)) + "x" +
                           std::to_string(all.images.size(1)) + " pixels; models take 28x28");
  }
  norm = data::make_normalization(o.normalization, all.images);
  std::string note;
  const int64_t val = val_count_of(o.val_split, all.size(), &note);
  if (!note.empty()) std::fprintf(stderr, "%s\n", note.c_str());
  const auto parts =
      data::partition(all, val, split_seed_of(o), o.val_strategy, int(info.class_names.size()));
  if (parts.train.empty()) {
    throw core::UsageError("lr-find: no training images left (--train-limit " +
                           std::to_string(o.train_limit) + ", validation " + std::to_string(val) +
                           ")");
  }
  return data::subset(all, torch::tensor(torch::ArrayRef<int64_t>(parts.train), torch::kInt64));
}

// The rate of the steepest fall of the smoothed loss against log10(rate) on the way down to its
// minimum (after it, a loss falling back from a spike is no rate to train at): central differences
// inside, one-sided at the ends, skipping the first tenth of the points (the noisiest, where the
// average has seen few batches).
double steepest_rate(const std::vector<LrFindPoint>& p) {
  size_t lowest = 0;
  for (size_t i = 1; i < p.size(); ++i) {
    if (p[i].smoothed < p[lowest].smoothed) lowest = i;
  }
  const size_t n = p.size();
  size_t best = lowest;
  double best_slope = INFINITY;
  for (size_t i = std::min(n / 10, lowest); i <= lowest && n > 1; ++i) {
    const size_t lo = i == 0 ? 0 : i - 1, hi = i + 1 < n ? i + 1 : i;
    const double slope =
        (p[hi].smoothed - p[lo].smoothed) / (std::log10(p[hi].lr) - std::log10(p[lo].lr));
    if (slope < best_slope) best_slope = slope, best = i;
  }
  return p[best].lr;
}

std::string rate_text(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", lr);
  return buf;
}

std::string default_out(const std::string& model) {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/lr-find-" + model + "-" + buf;
}

std::string csv_text(const LrFindResult& r) {
  std::string text = "step,lr,loss,smoothed_loss\n";
  char line[128];
  for (const auto& p : r.points) {
    std::snprintf(line, sizeof line, "%d,%.6g,%.6g,%.6g\n", p.step, p.lr, p.loss, p.smoothed);
    text += line;
  }
  return text;
}

void print_result(const LrFindResult& r, const LrFindOptions& o, const std::string& csv,
                  const std::string& png) {
  if (o.json) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : r.points) {
      points.push_back(
          {{"step", p.step}, {"lr", p.lr}, {"loss", p.loss}, {"smoothed_loss", p.smoothed}});
    }
    const nlohmann::json doc = {{"start", o.start},
                                {"end", o.end},
                                {"steps", o.steps},
                                {"points", points},
                                {"stopped_early", r.stopped_early},
                                {"stop_reason", r.stop_reason},
                                {"suggested_lr", r.suggested_lr},
                                {"min_loss_lr", r.min_loss_lr},
                                {"min_loss_lr_div10", r.min_loss_lr / 10},
                                {"csv", csv},
                                {"png", png}};
    std::printf("%s\n", doc.dump(2).c_str());
    return;
  }
  std::printf("%6s  %-10s  %-10s  %s\n", "step", "lr", "loss", "smoothed");
  const size_t every = std::max<size_t>(1, r.points.size() / 15);
  for (size_t i = 0; i < r.points.size(); ++i) {
    if (i % every != 0 && i + 1 != r.points.size()) continue;
    const auto& p = r.points[i];
    std::printf("%6d  %-10.3g  %-10.4f  %.4f\n", p.step, p.lr, p.loss, p.smoothed);
  }
  if (r.stopped_early) std::printf("stopped early: %s\n", r.stop_reason.c_str());
  std::printf(
      "suggested lr %.3g (steepest descent of the smoothed loss); minimum-loss lr / 10: %.3g\n",
      r.suggested_lr, r.min_loss_lr / 10);
  std::printf("wrote %s and %s\n", csv.c_str(), png.c_str());
}

}  // namespace

void validate(const LrFindOptions& o) {
  if (!(o.start > 0 && o.start < 100))
    throw core::UsageError("--start: must be above 0 and below 100");
  if (!(o.end > o.start && o.end <= 100)) {
    throw core::UsageError("--end: must be above --start and at most 100");
  }
  if (o.steps < 2 || o.steps > 100000) throw core::UsageError("--steps: must be 2 to 100000");
}

LrFindResult lr_find(const LrFindOptions& o) {
  validate(o);
  TrainOptions t = o.train;
  validate(t);
  resolve_model(t);
  const models::ArchSpec spec = models::parse_spec(t.arch);
  if (spec.is_knn()) throw core::UsageError("lr-find: k-nearest neighbours has no learning rate");
  const data::DatasetInfo info = data::find_dataset(t.dataset, t.data_root);
  configure_threads(t.threads);
  const torch::Device device = choose_device(t.device);
  const bool bf16 = choose_precision(t.precision, spec, device).precision == Precision::kBf16;
  data::Normalization norm;
  const data::TensorSplit train_set = training_images(t, info, norm);
  torch::manual_seed(t.seed);
  torch::nn::Sequential net = models::build_network(spec, int64_t(info.class_names.size()));
  models::initialize(net, t.init);
  net->to(device);
  const bool channels_last = use_channels_last(net);
  auto optimizer = make_optimizer(t, net);
  data::LoaderOptions lo;
  lo.batch_size = t.batch_size;
  lo.drop_last = t.drop_last;
  lo.seed = t.seed;
  lo.workers = t.workers;
  lo.augment = data::parse_augment(t.augment);
  lo.normalization = norm;
  data::Loader loader(train_set, lo);
  LrFindResult r;
  double average = 0, best = INFINITY;
  int64_t epoch = 1;
  loader.start_epoch(epoch);
  net->train();
  for (int i = 0; i < o.steps; ++i) {
    auto batch = loader.next();
    if (!batch) {
      loader.start_epoch(++epoch);
      batch = loader.next();
      if (!batch) throw core::UsageError("--drop-last: the training images do not fill one batch");
    }
    const double lr = o.start * std::pow(o.end / o.start, double(i) / double(o.steps - 1));
    for (auto& g : optimizer->param_groups()) g.options().set_lr(lr);
    const torch::Tensor x = to_network_input(batch->x, channels_last, device);
    const auto step = train_step(net, *optimizer, spec.head, x, batch->y.to(device), bf16, device,
                                 nullptr, t.label_smoothing);
    const double loss = step.loss.item<double>();
    if (!std::isfinite(loss)) {
      r.stopped_early = true;
      r.stop_reason = "the loss was not finite at lr " + rate_text(lr);
      break;
    }
    average = kBeta * average + (1 - kBeta) * loss;
    const double smoothed = average / (1 - std::pow(kBeta, i + 1));
    r.points.push_back({i, lr, loss, smoothed});
    if (smoothed < best) best = smoothed, r.min_loss_lr = lr;
    if (smoothed > kDivergence * best) {
      r.stopped_early = true;
      r.stop_reason = "the smoothed loss passed 4x its minimum at lr " + rate_text(lr);
      break;
    }
  }
  if (r.points.empty()) {
    throw core::RuntimeError("lr-find: the loss was not finite at the first rate, " +
                             rate_text(o.start) + "; try a lower --start");
  }
  r.suggested_lr = steepest_rate(r.points);
  return r;
}

int lr_find_command(LrFindOptions o, const LrFindPlotWriter& write_plot) {
  resolve_model(o.train);
  if (o.out_dir.empty()) o.out_dir = default_out(o.train.model);
  LrFindResult r;
  try {
    r = lr_find(o);
  } catch (const c10::Error& e) {
    throw core::RuntimeError("lr-find failed: " + core::one_line(e.what_without_backtrace()));
  }
  core::make_dirs(o.out_dir);
  const std::string csv = core::join_path(o.out_dir, "lr_find.csv");
  const std::string png = core::join_path(o.out_dir, "lr_find.png");
  core::write_file_atomic(csv, csv_text(r));
  write_plot(png, r);
  print_result(r, o, csv, png);
  return 0;
}

}  // namespace digitlab::train
