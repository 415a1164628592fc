// The line reader's training loop: width-bucketed batches, CTC loss, greedy validation.
#include "train/line_train.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "core/run_files.h"
#include "data/idx.h"
#include "models/line_net.h"
#include "read/line_set.h"
#include "read/reader.h"
#include "train/line_checkpoint.h"
#include "train/runtime.h"
#include "train/schedule.h"

namespace digitlab::train {
namespace {

using Clock = std::chrono::steady_clock;

// Lines as stored (kLineHeight x kLineWidth, left-aligned), their digits and their ink widths.
struct Lines {
  std::vector<const uint8_t*> pixels;
  std::vector<std::string> texts;
  std::vector<int> widths;  // columns to feed: the ink and a margin, a multiple of kLineFrame
};

Lines load_lines(const std::string& dir, bool train, data::IdxArray& images,
                 data::IdxArray& labels) {
  const std::string stem = train ? "train" : "t10k";
  images = data::read_idx(core::join_path(dir, stem + "-images-idx3-ubyte"));
  labels = data::read_idx(core::join_path(dir, stem + "-labels-idx2-ubyte"));
  if (images.dims.size() != 3 || images.dims[1] != uint32_t(read::kLineHeight) ||
      images.dims[2] != uint32_t(read::kLineWidth) || labels.dims.size() != 2 ||
      labels.dims[1] != uint32_t(read::kLineMaxDigits) || labels.count() != images.count()) {
    throw core::RuntimeError(dir + ": " + stem + " files are not mnist-lines (" +
                             std::to_string(read::kLineHeight) + "x" +
                             std::to_string(read::kLineWidth) + " lines with label rows)");
  }
  Lines l;
  const size_t size = size_t(read::kLineHeight) * read::kLineWidth;
  for (size_t i = 0; i < images.count(); ++i) {
    const uint8_t* p = images.data.data() + i * size;
    int last = 0;
    for (int y = 0; y < read::kLineHeight; ++y) {
      for (int x = read::kLineWidth - 1; x > last; --x) {
        if (p[y * read::kLineWidth + x]) last = x;
      }
    }
    const int w = std::min(read::kLineWidth, (last + 1 + read::kLineMargin + 3) / 4 * 4);
    std::string text;
    for (int k = 0; k < read::kLineMaxDigits; ++k) {
      const uint8_t d = labels.data[i * read::kLineMaxDigits + size_t(k)];
      if (d == read::kLinePad) break;
      if (d > 9) throw core::RuntimeError(dir + ": " + stem + " label " + std::to_string(d));
      text += char('0' + d);
    }
    if (text.empty()) continue;
    l.pixels.push_back(p);
    l.texts.push_back(text);
    l.widths.push_back(std::max(8, w));
  }
  return l;
}

// The batch of lines `index` as [N, 1, 32, W] in 0-1, W the widest of them.
torch::Tensor batch_tensor(const Lines& l, const std::vector<size_t>& index) {
  int w = 0;
  for (size_t i : index) w = std::max(w, l.widths[i]);
  auto x = torch::zeros({int64_t(index.size()), 1, read::kLineHeight, w}, torch::kUInt8);
  auto a = x.accessor<uint8_t, 4>();
  for (size_t b = 0; b < index.size(); ++b) {
    const uint8_t* p = l.pixels[index[b]];
    for (int y = 0; y < read::kLineHeight; ++y) {
      for (int c = 0; c < w; ++c) a[int64_t(b)][0][y][c] = p[y * read::kLineWidth + c];
    }
  }
  return x.to(torch::kFloat32).div_(255);
}

// Batches of similar widths (a little noise mixes them between epochs), in random order.
std::vector<std::vector<size_t>> width_batches(const std::vector<size_t>& items, const Lines& l,
                                               int64_t batch, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> noise(0, 8);
  std::vector<std::pair<double, size_t>> keyed;
  for (size_t i : items) keyed.push_back({l.widths[i] + noise(rng), i});
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::vector<size_t>> out;
  for (size_t s = 0; s < keyed.size(); s += size_t(batch)) {
    out.emplace_back();
    for (size_t k = s; k < std::min(keyed.size(), s + size_t(batch)); ++k)
      out.back().push_back(keyed[k].second);
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

// What a reader meets that composition varies little: writing wider or narrower, higher or
// lower in the line.
torch::Tensor augment(torch::Tensor x, std::mt19937_64& rng) {
  const double stretch = std::uniform_real_distribution<double>(0.8, 1.2)(rng);
  const int64_t w = std::max<int64_t>(8, int64_t(x.size(3) * stretch) / 4 * 4);
  x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{read::kLineHeight, w})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
  const int64_t dy = std::uniform_int_distribution<int64_t>(-2, 2)(rng);
  return torch::roll(x, {dy}, {2});
}

struct Score {
  double loss = 0, exact = 0, digits = 0;
};

// Greedy readings of `items` as `read` would make them: exact numbers and 1 - edits / digits.
Score score(models::LineNet& net, const Lines& l, const std::vector<size_t>& items) {
  torch::NoGradGuard no_grad;
  net->eval();
  Score s;
  int64_t exact = 0, edits = 0, digits = 0;
  std::mt19937_64 order(1);
  for (const auto& b : width_batches(items, l, 256, order)) {
    const torch::Tensor p = net->forward(batch_tensor(l, b)).exp().permute({0, 2, 1}).contiguous();
    const auto a = p.accessor<float, 3>();
    for (size_t k = 0; k < b.size(); ++k) {
      read::LineFrames frames(size_t(l.widths[b[k]] / read::kLineFrame));
      for (size_t t = 0; t < frames.size(); ++t) {
        frames[t].resize(read::kLineClasses);
        for (int c = 0; c < read::kLineClasses; ++c)
          frames[t][size_t(c)] = a[int64_t(k)][int64_t(t)][c];
      }
      std::string text;
      for (const read::FrameDigit& d : read::decode_frames(frames)) text += char('0' + d.label);
      const std::string& truth = l.texts[b[k]];
      exact += text == truth;
      edits += read::edit_distance(truth, text);
      digits += int64_t(truth.size());
    }
  }
  net->train();
  s.exact = items.empty() ? 0 : double(exact) / double(items.size());
  s.digits = digits ? std::max(0.0, 1 - double(edits) / double(digits)) : 0;
  return s;
}

}  // namespace

bool is_line_training(const TrainOptions& o) {
  return o.dataset == kLineDataset || models::is_line_spec(o.arch);
}

namespace {

void check_line_options(TrainOptions& o) {
  validate(o);
  if (!o.model.empty()) {
    throw core::UsageError("--model: a line reader is given by --arch " +
                           std::string(kDefaultLineSpec) + " (or other widths), not a zoo name");
  }
  if (o.arch.empty()) o.arch = kDefaultLineSpec;
  if (o.dataset != kLineDataset) {
    throw core::UsageError("--arch " + o.arch + ": a line reader trains on --dataset " +
                           kLineDataset + ", not " + o.dataset);
  }
  if (!models::is_line_spec(o.arch)) {
    throw core::UsageError("--dataset " + std::string(kLineDataset) +
                           ": trains a line reader; give --arch line:C1,C2,C3,C4,H (default " +
                           kDefaultLineSpec + "), not " + o.arch);
  }
  models::parse_line_spec(o.arch);
  auto refuse = [](bool given, const std::string& flag) {
    if (given) throw core::UsageError(flag + ": not for a line reader (--dataset mnist-lines)");
  };
  refuse(!o.resume.empty(), "--resume");
  refuse(!o.init_from.empty(), "--init-from");
  refuse(o.precision == "bf16", "--precision bf16");
  refuse(o.device == "cuda", "--device cuda");
  refuse(o.optimizer != "adam" && o.optimizer != "adamw", "--optimizer " + o.optimizer);
  refuse(o.lr_schedule == "plateau" || o.lr_schedule == "step", "--lr-schedule " + o.lr_schedule);
  refuse(o.augment != "none", "--augment (lines are always stretched and shifted)");
  refuse(o.early_stopping.patience > 0, "--patience");
  refuse(!o.early_stopping.restore_best, "--restore-best false");
  refuse(o.warmup_epochs > 0, "--warmup-epochs");
  refuse(o.label_smoothing > 0, "--label-smoothing");
  refuse(o.val_strategy != "random", "--val-strategy " + o.val_strategy);
  refuse(o.test_every > 0, "--test-every");
  refuse(o.save_every > 0, "--save-every");
  refuse(o.tb_every_steps > 0 || o.tb_histograms || o.tb_images, "--tb-*");
  if (o.out_dir.empty()) o.out_dir = "runs/line-reader";
  for (const char* f : {core::run_files::kConfig, core::run_files::kMetrics,
                        core::run_files::kBestCheckpoint, core::run_files::kLastCheckpoint}) {
    if (!o.overwrite && core::file_exists(core::join_path(o.out_dir, f))) {
      throw core::UsageError("--out: " + o.out_dir +
                             " already holds a run; choose another directory or pass --overwrite");
    }
  }
}

// One optimizer step on a batch; returns its loss.
double line_step(models::LineNet& net, torch::optim::Optimizer& opt, const Lines& l,
                 const std::vector<size_t>& batch, std::mt19937_64& rng) {
  const torch::Tensor log_probs = net->forward(augment(batch_tensor(l, batch), rng));
  std::vector<int64_t> targets, target_lengths;
  for (size_t i : batch) {
    for (char c : l.texts[i]) targets.push_back(c - '0');
    target_lengths.push_back(int64_t(l.texts[i].size()));
  }
  const std::vector<int64_t> input_lengths(batch.size(), log_probs.size(2));
  const torch::Tensor loss =
      torch::ctc_loss(log_probs.permute({2, 0, 1}), torch::tensor(targets), input_lengths,
                      target_lengths, models::kLineBlank, at::Reduction::Mean,
                      /*zero_infinity=*/true);
  opt.zero_grad();
  loss.backward();
  opt.step();
  return loss.item<double>();
}

// The run's lines: `fit` to train on and `val` held out of the training split, and the test split.
struct LineData {
  data::IdxArray storage[4];  // the files' bytes, which Lines point into
  Lines train, test;
  std::vector<size_t> fit, val, all_test;
};

void load_line_data(const TrainOptions& o, LineData& d) {
  const std::string dir = core::join_path(o.data_root, kLineDataset);
  if (!core::file_exists(core::join_path(dir, "train-images-idx3-ubyte"))) {
    throw core::RuntimeError(dir + ": no lines; make them first: digitlab data make --dataset " +
                             kLineDataset);
  }
  d.train = load_lines(dir, true, d.storage[0], d.storage[1]);
  d.test = load_lines(dir, false, d.storage[2], d.storage[3]);
  int64_t n = int64_t(d.train.texts.size());
  if (o.train_limit > 0) n = std::min(n, o.train_limit);
  std::string note;
  const int64_t held = n > 0 ? val_count_of(o.val_split, n, &note) : 0;
  if (!note.empty()) std::printf("%s\n", note.c_str());
  std::vector<size_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), size_t(0));
  std::mt19937_64 split(split_seed_of(o));
  std::shuffle(order.begin(), order.end(), split);
  d.val.assign(order.begin(), order.begin() + held);
  d.fit.assign(order.begin() + held, order.end());
  if (d.fit.empty()) throw core::RuntimeError(dir + ": no training lines");
  d.all_test.resize(d.test.texts.size());
  std::iota(d.all_test.begin(), d.all_test.end(), size_t(0));
}

// A fresh run directory, locked by the caller: the earlier run's files gone, config.json written.
void start_run_dir(const TrainOptions& o, const LineData& d, int64_t parameters, int threads) {
  for (const char* f : {core::run_files::kMetrics, core::run_files::kBestCheckpoint,
                        core::run_files::kLastCheckpoint}) {
    std::remove(core::join_path(o.out_dir, f).c_str());
  }
  const nlohmann::json config = {
      {"options", to_json(o)},    {"model", "line-reader"},  {"spec", o.arch},
      {"parameters", parameters}, {"dataset", kLineDataset}, {"train_size", d.fit.size()},
      {"val_size", d.val.size()}, {"threads", threads},      {"argv", o.argv}};
  core::write_file_atomic(core::join_path(o.out_dir, core::run_files::kConfig),
                          config.dump(2) + "\n");
}

std::unique_ptr<torch::optim::Optimizer> line_optimizer(const TrainOptions& o,
                                                        models::LineNet& net) {
  if (o.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        net->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::Adam>(
      net->parameters(), torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
}

// Trains o.epochs epochs, writing metrics.jsonl and the checkpoints; returns the best epoch.
// Ctrl-C saves last.pt and throws core::Interrupted.
int train_epochs(const TrainOptions& o, models::LineNet& net, const LineData& d,
                 int64_t parameters) {
  const auto opt = line_optimizer(o, net);
  const int64_t steps = (int64_t(d.fit.size()) + o.batch_size - 1) / o.batch_size * o.epochs;
  const nlohmann::json options = to_json(o);
  const std::string last = core::join_path(o.out_dir, core::run_files::kLastCheckpoint);
  std::mt19937_64 rng(o.seed);
  core::InterruptGuard interrupts;
  std::string log;
  Score best{0, -1, -1};
  int best_epoch = 0;
  int64_t step = 0;
  net->train();
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto t0 = Clock::now();
    double loss_sum = 0;
    int64_t batches = 0;
    for (const auto& b : width_batches(d.fit, d.train, o.batch_size, rng)) {
      for (auto& g : opt->param_groups())
        g.options().set_lr(scheduled_lr(o.lr_schedule, o.lr, step, steps));
      loss_sum += line_step(net, *opt, d.train, b, rng);
      ++batches, ++step;
      if (const int signal = core::interrupt_signal()) {
        save_line_checkpoint(last, net,
                             {{"spec", o.arch}, {"epoch", epoch - 1}, {"options", options}});
        throw core::Interrupted(signal, "stopped in epoch " + std::to_string(epoch) +
                                            "; the weights so far are in " + last);
      }
    }
    Score s = d.val.empty() ? Score{} : score(net, d.train, d.val);
    s.loss = loss_sum / double(std::max<int64_t>(1, batches));
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    // The keys of a classifier's metrics.jsonl where they mean the same, so that the report
    // draws the curves: val_acc is the share of numbers read exactly.
    const nlohmann::json metrics = {{"epoch", epoch},
                                    {"train_loss", s.loss},
                                    {"val_acc", s.exact},
                                    {"val_digit_acc", s.digits},
                                    {"lr", scheduled_lr(o.lr_schedule, o.lr, step - 1, steps)},
                                    {"seconds", seconds},
                                    {"images_per_second", double(d.fit.size()) / seconds}};
    std::printf("epoch %d/%d: loss %.4f", epoch, o.epochs, s.loss);
    if (!d.val.empty()) {
      std::printf(", validation numbers %.2f%%, digits %.2f%%", 100 * s.exact, 100 * s.digits);
    }
    std::printf(" (%.1f s)\n", seconds);
    std::fflush(stdout);
    log += metrics.dump() + "\n";
    core::write_file_atomic(core::join_path(o.out_dir, core::run_files::kMetrics), log);
    const nlohmann::json meta = {{"spec", o.arch},
                                 {"epoch", epoch},
                                 {"metrics", metrics},
                                 {"options", options},
                                 {"parameters", parameters}};
    save_line_checkpoint(last, net, meta);
    if (d.val.empty() || s.exact > best.exact ||
        (s.exact == best.exact && s.digits > best.digits)) {
      best = s, best_epoch = epoch;
      save_line_checkpoint(core::join_path(o.out_dir, core::run_files::kBestCheckpoint), net, meta);
    }
  }
  return best_epoch;
}

}  // namespace

int train_lines_command(TrainOptions o, std::string* run_dir) {
  check_line_options(o);
  const int threads = configure_threads(o.threads);
  torch::manual_seed(o.seed);
  LineData d;
  load_line_data(o, d);
  models::LineNet net(models::parse_line_spec(o.arch));
  int64_t parameters = 0;
  for (const auto& p : net->parameters()) parameters += p.numel();
  core::make_dirs(core::join_path(o.out_dir, core::run_files::kCheckpoints));
  core::DirLock lock(o.out_dir, "--out");
  start_run_dir(o, d, parameters, threads);
  std::printf("line reader %s (%lld parameters) on %zu lines of %s, %zu held out; %d threads\n",
              o.arch.c_str(), (long long)parameters, d.fit.size(), kLineDataset, d.val.size(),
              threads);
  std::fflush(stdout);
  const auto start = Clock::now();
  const int best_epoch = train_epochs(o, net, d, parameters);
  models::LineNet best = load_line_checkpoint(o.out_dir).net;
  const Score t = score(best, d.test, d.all_test);
  std::printf(
      "test (%zu lines of MNIST test digits): numbers %.2f%%, digits %.2f%% (epoch %d); "
      "%.1f s in all\nbest epoch %d; checkpoints in %s/checkpoints (best.pt, last.pt)\n",
      d.all_test.size(), 100 * t.exact, 100 * t.digits, best_epoch,
      std::chrono::duration<double>(Clock::now() - start).count(), best_epoch, o.out_dir.c_str());
  if (run_dir) *run_dir = o.out_dir;
  return 0;
}

}  // namespace digitlab::train
