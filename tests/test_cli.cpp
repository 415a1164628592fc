// The real program on a tiny data set the test writes: files, JSON output, exit codes, messages.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "data/decode.h"
#include "data/idx.h"
#include "data/image_io.h"
#include "data/number_render.h"
#include "data/scan_render.h"
#include "monitor/tfevents.h"
#include "socket_util.h"
#include "test_util.h"

namespace digitlab {
namespace {

using testing::count_of;
using testing::metrics_without_timing;
using testing::TempDir;

using Result = testing::ProgramResult;

// Runs the digitlab binary with `args` (shell words) and environment `env` ("K=V ..." prefix).
Result run(const std::string& args, const std::string& env, const TempDir& dir) {
  return testing::run_program(args, env, dir.path());
}

size_t count_lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_mnist(data_.path(), 700, 200);
    env_ = "DIGITLAB_DATA=" + data_.path();
  }
  Result digitlab(const std::string& args, const std::string& extra_env = "") {
    return run(args, env_ + " " + extra_env, io_);
  }
  // Starts `digitlab serve ARGS --port 0` in the background, its output in io_/serve.log; waits
  // up to 60 s for the model to load. Returns the port (0 if it never listened) and sets `pid`.
  int start_serve(const std::string& args, int& pid, const std::string& extra_env = "") {
    const std::string log = io_ / "serve.log", pidfile = io_ / "serve.pid";
    const std::string cmd = env_ + " " + extra_env + " " + testing::program() + " serve " + args +
                            " --port 0 >" + log + " 2>&1 & echo $! >" + pidfile;
    if (std::system(("bash -c '" + cmd + "'").c_str()) != 0) return 0;
    int port = 0;
    for (int i = 0; i < 600 && port == 0; ++i) {
      const std::string text = core::file_exists(log) ? core::read_file(log) : "";
      const auto at = text.find("serving on http://127.0.0.1:");
      if (at != std::string::npos) port = std::atoi(text.c_str() + at + 28);
      if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    pid = std::atoi(core::read_file(pidfile).c_str());
    return port;
  }
  TempDir data_, io_, runs_;
  std::string env_;
};

// Monitoring end to end: TensorBoard files decoded, the report after train and after evaluate,
// a damaged metrics file, and the comparison of three runs.
TEST_F(Cli, TensorBoardReportAndCompare) {
  const std::string a = runs_ / "a", b = runs_ / "b", c = runs_ / "c";
  Result t = digitlab(
      "train --arch C4-P-16-10 --epochs 3 --val-split 100 --batch-size 50 --threads 2 "
      "--test-every 3 --tb-every-steps 4 --tb-histograms true --tb-images true --out " +
      a);
  ASSERT_EQ(t.code, 0) << t.err;

  // Keras' layout: train/ and validation/ runs with epoch scalars; test/ on --test-every epochs.
  std::map<std::string, std::map<std::string, std::vector<int64_t>>> steps;  // run -> tag -> steps
  int histograms = 0, images = 0;
  for (const char* run : {"train", "validation", "test"}) {
    const auto files = monitor::find_event_files(a + "/tensorboard/" + run);
    ASSERT_EQ(files.size(), 1u) << run;
    const auto events = monitor::read_event_file(files[0]);  // checks both CRCs of every record
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events[0].file_version, "brain.Event:2");
    for (const auto& e : events) {
      for (const auto& v : e.values) {
        if (v.simple_value) steps[run][v.tag].push_back(e.step);
        if (v.histogram) {
          ++histograms;
          EXPECT_GT(v.histogram->num, 0);
        }
        if (v.image) {
          ++images;
          EXPECT_EQ(v.image->encoded.substr(1, 3), "PNG");
        }
      }
    }
  }
  const std::vector<int64_t> epochs = {1, 2, 3};
  for (const char* tag : {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}) {
    EXPECT_EQ(steps["train"][tag], epochs) << tag;
  }
  EXPECT_EQ(steps["validation"]["epoch_accuracy"], epochs);
  EXPECT_EQ(steps["test"]["epoch_accuracy"], std::vector<int64_t>{3});
  // 600 images / batch 50 = 12 steps per epoch; every 4th global step.
  EXPECT_EQ(steps["train"]["batch_loss"].size(), 9u);
  EXPECT_EQ(histograms, 3 * 6);  // weight and bias of the conv and both dense layers, per epoch
  EXPECT_EQ(images, 3);

  // The report after train has the curves and says how to get the rest.
  const std::string page = core::read_file(a + "/report/index.html");
  EXPECT_NE(page.find("id=\"loss-chart\""), std::string::npos);
  EXPECT_NE(page.find("digitlab evaluate"), std::string::npos);
  EXPECT_NE(t.err.find("report: " + a + "/report/index.html"), std::string::npos) << t.err;

  // After evaluate: the confusion heatmap and the misclassified grid; --json keeps stdout clean.
  Result e = digitlab("evaluate " + a + " --json");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NO_THROW(nlohmann::json::parse(e.out));
  const std::string full = core::read_file(a + "/report/index.html");
  EXPECT_NE(full.find("id=\"confusion-heatmap\""), std::string::npos);
  EXPECT_NE(full.find("id=\"misclassified\""), std::string::npos);
  EXPECT_EQ(full.find("http://"), std::string::npos);
  EXPECT_EQ(full.find("https://"), std::string::npos);
  EXPECT_TRUE(core::file_exists(a + "/report/curves.png"));
  EXPECT_TRUE(core::file_exists(a + "/report/confusion.png"));

  // A truncated metrics file: a warning naming the line, and still a report.
  ASSERT_EQ(digitlab("train --arch 16-10 --epochs 3 --val-split 100 --out " + b).code, 0);
  std::string metrics = core::read_file(b + "/metrics.jsonl");
  core::write_file_atomic(b + "/metrics.jsonl", metrics.substr(0, metrics.size() - 20));
  Result r = digitlab("report " + b);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: metrics.jsonl line 3"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find(b + "/report/index.html"), std::string::npos);
  std::remove((b + "/metrics.jsonl").c_str());
  EXPECT_EQ(digitlab("report " + b).code, 0);  // config.json alone still makes a page

  Result missing = digitlab("report " + (runs_ / "nowhere"));
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(count_lines(missing.err), 1u) << missing.err;
  EXPECT_NE(missing.err.find(runs_ / "nowhere"), std::string::npos) << missing.err;

  // compare: one row per run in the order given, and the overlay page.
  ASSERT_EQ(digitlab("train --arch C4-P-10 --epochs 2 --val-split 100 --out " + c).code, 0);
  const std::string html = runs_ / "cmp.html";
  Result cmp = digitlab("compare " + a + " " + b + " " + c + " --out " + html);
  ASSERT_EQ(cmp.code, 0) << cmp.err;
  EXPECT_EQ(count_lines(cmp.out), 5u) << cmp.out;  // header, three runs, page
  EXPECT_LT(cmp.out.find(a), cmp.out.find(c));
  EXPECT_NE(cmp.out.find("C4-P-16-10"), std::string::npos) << cmp.out;
  EXPECT_NE(core::read_file(html).find("id=\"compare-table\""), std::string::npos);
  Result cj = digitlab("compare " + a + " " + c + " --json --out " + html);
  ASSERT_EQ(cj.code, 0) << cj.err;
  auto j = nlohmann::json::parse(cj.out);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][1]["epochs"], 2);
  EXPECT_EQ(j["runs"][0]["parameters"], 4 * 9 + 4 + 4 * 14 * 14 * 16 + 16 + 16 * 10 + 10);
}

// Interrupted and killed runs resume to exactly the metrics of an uninterrupted one: dropout and
// augmentation exercise the random-number state, Adam the optimizer state.
TEST_F(Cli, ResumeEqualsUninterrupted) {
  const std::string common =
      "train --arch C4-P-D0.25-16-D0.5-10 --epochs 3 --val-split 100 --batch-size 50 --threads 2 "
      "--augment rotate=10 --tensorboard false --out ";
  const std::string a = runs_ / "a", b = runs_ / "b", c = runs_ / "c";
  ASSERT_EQ(digitlab(common + a).code, 0);
  const auto expected = metrics_without_timing(a);
  ASSERT_EQ(expected.size(), 3u);

  // SIGTERM after global step 17 (epoch 2, batch 5 of 12): exit 143 and a loadable last.pt.
  Result t = digitlab(common + b, "DIGITLAB_TEST_FAULT=17:15");
  EXPECT_EQ(t.code, 143) << t.err;
  EXPECT_NE(t.err.find("terminated in epoch 2 after batch 5"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("digitlab train --resume " + b), std::string::npos) << t.err;
  EXPECT_EQ(count_lines(t.err), 1u) << t.err;
  EXPECT_EQ(digitlab("evaluate " + b + "/checkpoints/last.pt --json").code, 0);
  Result r = digitlab("train --resume " + b);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resuming at epoch 2, batch 6 of 12"), std::string::npos) << r.out;
  EXPECT_EQ(metrics_without_timing(b), expected);

  // kill -9 mid-epoch 2: the run restarts epoch 2 from the epoch-1 checkpoint.
  Result k = digitlab(common + c, "DIGITLAB_TEST_FAULT=17:9");
  EXPECT_NE(k.code, 0);
  Result rk = digitlab("train --resume " + c);
  ASSERT_EQ(rk.code, 0) << rk.err;
  EXPECT_NE(rk.out.find("resuming at epoch 2, batch 1 of 12"), std::string::npos) << rk.out;
  EXPECT_EQ(metrics_without_timing(c), expected);
  // metrics.csv follows metrics.jsonl through both interruptions: every epoch once, same values.
  auto csv_without_timing = [](const std::string& run) {
    std::vector<std::string> rows;
    std::istringstream in(core::read_file(run + "/metrics.csv"));
    for (std::string line; std::getline(in, line);) {
      size_t cut = 0;
      for (int i = 0; i < 8 && cut != std::string::npos; ++i) cut = line.find(',', cut + 1);
      rows.push_back(line.substr(0, cut));  // epoch to lr; seconds and images/s vary
    }
    return rows;
  };
  ASSERT_EQ(csv_without_timing(a).size(), 4u);
  EXPECT_EQ(csv_without_timing(b), csv_without_timing(a));
  EXPECT_EQ(csv_without_timing(c), csv_without_timing(a));
  Result ea = digitlab("evaluate " + a + " --json"), ec = digitlab("evaluate " + c + " --json");
  ASSERT_EQ(ea.code, 0);
  EXPECT_EQ(nlohmann::json::parse(ea.out)["loss"], nlohmann::json::parse(ec.out)["loss"]);

  // Ctrl-C: exit 130. More epochs continue a finished run; options may not change.
  EXPECT_EQ(digitlab(common + (runs_ / "d"), "DIGITLAB_TEST_FAULT=3:2").code, 130);
  Result more = digitlab("train --resume " + a + " --epochs 4");
  EXPECT_EQ(more.code, 0) << more.err;
  EXPECT_EQ(metrics_without_timing(a).size(), 4u);
  Result done = digitlab("train --resume " + a);
  EXPECT_EQ(done.code, 2);
  EXPECT_NE(done.err.find("already trained 4 epochs"), std::string::npos) << done.err;
  Result changed = digitlab("train --resume " + a + " --lr 0.1");
  EXPECT_EQ(changed.code, 2);
  EXPECT_NE(changed.err.find("not --lr"), std::string::npos) << changed.err;
  // An edited config.json (another data set, another rate) does not continue the weights.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"dataset\": \"mnist\"", "\"dataset\": \"fashion-mnist\""},
           {"\"lr\": 0.001", "\"lr\": 0.01"}}) {
    const std::string original = core::read_file(c + "/config.json");
    std::string edited = original;
    const size_t at = edited.rfind(from);  // in "options", after the summary fields
    ASSERT_NE(at, std::string::npos) << from;
    edited.replace(at, from.size(), to);
    core::write_file_atomic(c + "/config.json", edited);
    Result e = digitlab("train --resume " + c + " --epochs 4");
    EXPECT_EQ(e.code, 1) << e.err;
    EXPECT_NE(e.err.find("the run's config.json was changed"), std::string::npos) << e.err;
    EXPECT_EQ(count_lines(e.err), 1u) << e.err;
    core::write_file_atomic(c + "/config.json", original);
  }
  Result nowhere = digitlab("train --resume " + (runs_ / "nowhere"));
  EXPECT_EQ(nowhere.code, 1);
  EXPECT_EQ(count_lines(nowhere.err), 1u) << nowhere.err;
}

// A real SIGTERM from outside, while training: the process saves and exits 143.
TEST_F(Cli, SigtermFromOutsideLeavesALoadableCheckpoint) {
  const std::string out = runs_ / "t";
  const std::string cmd = env_ + " " + testing::program() +
                          " train --arch 32-10 --epochs 500 --val-split 100 --tensorboard false "
                          "--out " +
                          out + " >/dev/null 2>" + (io_ / "err") + " & pid=$!; while [ ! -f " +
                          out +
                          "/checkpoints/last.pt ]; do sleep 0.05; done; kill -TERM $pid; "
                          "wait $pid; exit $?";
  const int status = std::system(("bash -c '" + cmd + "'").c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 143) << core::read_file(io_ / "err");
  EXPECT_NE(core::read_file(io_ / "err").find("terminated"), std::string::npos);
  Result e = digitlab("evaluate " + out + "/checkpoints/last.pt --json");
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_GT(nlohmann::json::parse(e.out)["epoch"].get<int>(), 0);
}

// `serve` end to end on loopback: every route, every malformed request with its status and the
// next request still answered, concurrent clients, metrics, and a clean stop on SIGTERM.
TEST_F(Cli, ServeAnswersAndSurvivesBadRequests) {
  const std::string run = runs_ / "s";
  ASSERT_EQ(digitlab("train --arch 32-10 --epochs 2 --val-split 100 --out " + run).code, 0);
  const std::string log = io_ / "serve.log";
  int pid = 0;
  const int port = start_serve("--model " + run + " --max-body 20000", pid);
  ASSERT_GT(port, 0) << core::read_file(log);
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("<canvas id=\"pad\""), std::string::npos);
  auto model = client.Get("/v1/model");
  ASSERT_TRUE(model);
  EXPECT_EQ(nlohmann::json::parse(model->body)["spec"], "32-10");

  // A test image of the synthetic set, as PNG and as pixels.
  const data::IdxArray images = data::read_idx(data_.path() + "/mnist/t10k-images-idx3-ubyte");
  std::vector<uint8_t> digit(images.data.begin(), images.data.begin() + 784);
  const std::string png = data::encode_png(28, 28, 1, digit, "digit");
  auto good = [&] {
    auto r = client.Post("/v1/predict", png, "image/png");
    return r && r->status == 200 && nlohmann::json::parse(r->body).contains("label");
  };
  EXPECT_TRUE(good());
  nlohmann::json px = {{"pixels", std::vector<int>(digit.begin(), digit.end())}};
  auto pj = client.Post("/v1/predict", px.dump(), "application/json");
  ASSERT_TRUE(pj);
  EXPECT_EQ(pj->status, 200) << pj->body;

  const std::vector<std::tuple<std::string, std::string, int>> bad = {
      {std::string(30000, 'x'), "image/png", 413},
      {"hello", "text/plain", 415},
      {"{\"pixels\": [1,", "application/json", 400},
      {"{\"pixels\": [1, 2, 3]}", "application/json", 400},
      {"not an image", "image/png", 400},
  };
  for (const auto& [body, type, status] : bad) {
    auto r = client.Post("/v1/predict", body, type.c_str());
    ASSERT_TRUE(r) << type;
    EXPECT_EQ(r->status, status) << type << ": " << r->body;
    EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["status"], status) << r->body;
    EXPECT_TRUE(good()) << "after " << status;
  }
  // POST /v1/read: the same body, read as a number.
  auto read = client.Post("/v1/read", png, "image/png");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200) << read->body;
  EXPECT_EQ(nlohmann::json::parse(read->body)["numbers"].size(), 1u) << read->body;
  auto missing = client.Get("/nowhere");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing->body)["error"]["status"], 404);

  // Concurrent clients.
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", port);
      for (int i = 0; i < 10; ++i) {
        auto r = c.Post("/v1/predict", png, "image/png");
        if (r && r->status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 60);

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("digitlab_requests_total{path=\"/v1/predict\",code=\"415\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("digitlab_requests_total{path=\"/v1/predict\",code=\"413\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("digitlab_predict_latency_seconds_count 67"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("digitlab_requests_total{path=\"/v1/read\",code=\"200\"} 1"),
            std::string::npos)
      << metrics->body;

  // Hostile and unusual clients. 200 requests that never end hold no worker: health and
  // predictions are still answered at once.
  std::vector<int> slow;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(testing::connect_to(port));
    testing::send_all(slow.back(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Wait: ");
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(testing::exchange(port, "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  EXPECT_TRUE(good());
  for (int fd : slow) close(fd);
  // A client that half-closes after its request still gets the answer.
  const int half = testing::connect_to(port);
  testing::send_all(half,
                    "POST /v1/predict HTTP/1.1\r\nContent-Type: image/png\r\n"
                    "Content-Length: " +
                        std::to_string(png.size()) + "\r\n\r\n" + png);
  shutdown(half, SHUT_WR);
  EXPECT_NE(testing::read_until_close(half).find("\"label\""), std::string::npos);
  close(half);
  // A wrong method is 405 (404 is for paths); a POST without a length is refused at once.
  EXPECT_EQ(testing::exchange(port, "GET /v1/predict HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0),
            0u);
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(testing::exchange(port, "POST /v1/predict HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 411", 0),
            0u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(), 1.0);
  // 50 pipelined requests, 50 answers.
  const int pipe = testing::connect_to(port);
  std::string burst;
  for (int i = 0; i < 50; ++i) burst += "GET /healthz HTTP/1.1\r\n\r\n";
  testing::send_all(pipe, burst + "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  const std::string answers = testing::read_until_close(pipe);
  close(pipe);
  size_t count = 0;
  for (size_t at = answers.find("HTTP/1.1 200"); at != std::string::npos;
       at = answers.find("HTTP/1.1 200", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 51u);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(kill(pid, 0), 0) << "serve did not stop on SIGTERM";
  EXPECT_NE(core::read_file(log).find("stopped"), std::string::npos) << core::read_file(log);
}

// `predict` on scan-like photographs of real MNIST test digits (dark ink on light paper, random
// size and margins): MNIST-style preprocessing, top-k, --save-preprocessed, and a bad file that is
// reported while the others are still read.
TEST_F(Cli, PredictReadsScanLikeImages) {
  const std::string real = "DIGITLAB_DATA=" + testing::real_data_root();
  if (!core::file_exists(testing::real_data_root() + "/mnist/t10k-images-idx3-ubyte")) {
    GTEST_SKIP() << "MNIST is not installed (scripts/setup)";
  }
  const std::string run = runs_ / "p";
  ASSERT_EQ(digitlab("train --arch C16-P-C32-P-64-10 --train-limit 12000 --val-split 1000 "
                     "--epochs 2 --lr-schedule onecycle --lr 0.003 --tensorboard false --out " +
                         run,
                     real)
                .code,
            0);
  const data::IdxArray images =
      data::read_idx(testing::real_data_root() + "/mnist/t10k-images-idx3-ubyte");
  const data::IdxArray labels =
      data::read_idx(testing::real_data_root() + "/mnist/t10k-labels-idx1-ubyte");
  const std::string dir = runs_ / "scans";
  core::make_dirs(dir);
  const int n = 40;
  for (int i = 0; i < n; ++i) {
    const data::GrayImage scan = data::render_scan_like(
        images.data.data() + i * 784, data::scan_variant("dark-on-light"), uint64_t(i));
    char name[32];
    std::snprintf(name, sizeof name, "/d%02d.png", i);
    data::write_png(dir + name, scan);
  }
  core::write_file_atomic(dir + "/broken.png", "not a png");
  // A symlink loop is one more bad file, not the end of the folder.
  ASSERT_EQ(::symlink("loop.png", (dir + "/loop.png").c_str()), 0);
  const std::string seen = runs_ / "seen";
  Result r = digitlab(
      "predict --model " + run + " " + dir + " --json --top-k 2 --save-preprocessed " + seen, real);
  EXPECT_EQ(r.code, 1);  // two unreadable files
  EXPECT_EQ(count_lines(r.err), 2u) << r.err;
  EXPECT_NE(r.err.find("broken.png: not a supported image"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("loop.png"), std::string::npos) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), size_t(n));
  int correct = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(j[i]["top_k"].size(), 2u);
    EXPECT_TRUE(j[i]["inverted"].get<bool>());  // dark ink on light paper
    correct += j[i]["label"] == std::to_string(labels.data[size_t(i)]);
  }
  EXPECT_GE(correct, n * 9 / 10) << r.out;
  EXPECT_TRUE(core::file_exists(seen + "/d00.png"));
  Result text = digitlab("predict --model " + run + " " + dir + "/d00.png", real);
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_EQ(count_lines(text.out), 1u);
  EXPECT_EQ(text.out.rfind(dir + "/d00.png\t", 0), 0u) << text.out;
}

// The line reader end to end on the synthetic digits: its data set, the recipe (at small widths
// and 2 epochs: the accuracy is measured by `bench --what read`, docs/reading.md), reading, the
// service's /v1/read, and the refusals.
TEST_F(Cli, LineReaderTrainsFromTheRecipeReadsAndServes) {
  if (!core::file_exists(testing::real_data_root() + "/mnist/t10k-images-idx3-ubyte")) {
    GTEST_SKIP() << "MNIST is not installed (scripts/setup)";
  }
  // MNIST's digits (the synthetic ones are blocks at two heights, no number), in a data root of
  // the test's own, so that the lines made here replace nobody's.
  const std::string root = io_ / "lines-data";
  core::make_dirs(root);
  std::filesystem::create_directory_symlink(testing::real_data_root() + "/mnist", root + "/mnist");
  const std::string lines_env = "DIGITLAB_DATA=" + root;
  auto digitlab = [&](const std::string& args) { return Cli::digitlab(args, lines_env); };
  const std::string run = runs_ / "lines";
  const std::string recipe = testing::source_dir() + "/recipes/read-numbers.toml";
  Result missing = digitlab("train --config " + recipe + " --out " + run);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("data make --dataset mnist-lines"), std::string::npos) << missing.err;
  Result made = digitlab("data make --dataset mnist-lines --numbers 300");
  ASSERT_EQ(made.code, 0) << made.err;
  EXPECT_NE(made.out.find("train: "), std::string::npos) << made.out;
  Result t = digitlab("train --config " + recipe +
                      " --arch line:8,8,16,16,32 --epochs 2 --val-split 40 --out " + run);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("epoch 2/2: loss"), std::string::npos) << t.out;
  // A sixth as many test numbers as training numbers: 50, less those not found as one number.
  const auto at = t.out.find("test (");
  ASSERT_NE(at, std::string::npos) << t.out;
  const int tested = std::atoi(t.out.c_str() + at + 6);
  EXPECT_GT(tested, 25) << t.out;
  EXPECT_LE(tested, 50) << t.out;
  EXPECT_EQ(count_lines(core::read_file(run + "/metrics.jsonl")), 2u);
  const auto config = nlohmann::json::parse(core::read_file(run + "/config.json"));
  EXPECT_EQ(config["spec"], "line:8,8,16,16,32");
  EXPECT_EQ(config["val_size"], 40);
  EXPECT_TRUE(core::file_exists(run + "/checkpoints/last.pt"));

  // Reading with it: the JSON document, whatever a 2-epoch model reads.
  const std::string page = io_ / "page.png";
  data::GrayImage img(300, 100, 200);
  for (int y = 30; y < 70; ++y) {
    for (int x = 100; x < 106; ++x) img.at(x, y) = 30;
  }
  data::write_png(page, img);
  Result r = digitlab("read --model " + run + " " + page + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto results = nlohmann::json::parse(r.out)["results"];
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].contains("text"));
  EXPECT_TRUE(results[0]["numbers"].empty() ? results[0].contains("reason") : true);

  // Refusals, one line each: a line reader is no digit classifier, and the reverse.
  Result p = digitlab("predict --model " + run + " " + page);
  EXPECT_EQ(p.code, 1);
  EXPECT_EQ(count_lines(p.err), 1u) << p.err;
  EXPECT_NE(p.err.find("a line reader"), std::string::npos) << p.err;
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--dataset mnist-lines --arch C8-10", "trains a line reader"},
           {"--arch line:8,8 --dataset mnist-lines", "needs five numbers"},
           {"--arch line:8,8,8,8,8", "trains on --dataset mnist-lines"},
           {"--config " + recipe + " --optimizer sgd", "--optimizer sgd: not for a line reader"},
       }) {
    Result bad = digitlab("train " + args + " --out " + (runs_ / "bad"));
    EXPECT_EQ(bad.code, 2) << args;
    EXPECT_EQ(count_lines(bad.err), 1u) << bad.err;
    EXPECT_NE(bad.err.find(message), std::string::npos) << bad.err;
  }

  // serve --reader: /v1/read answers with the line reader, /v1/predict with the classifier.
  const std::string digits = runs_ / "digits";
  ASSERT_EQ(Cli::digitlab("train --arch 16-10 --epochs 1 --val-split 100 --tensorboard false "
                          "--out " +
                          digits)
                .code,
            0);
  const std::string log = io_ / "serve.log";
  int pid = 0;
  const int port = start_serve("--model " + digits + " --reader " + run, pid, lines_env);
  struct Stop {  // the service goes, whichever check fails
    int pid;
    ~Stop() {
      if (pid <= 0) return;  // never kill(0): that is the whole process group
      kill(pid, SIGTERM);
      for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  } stop{pid};
  ASSERT_GT(port, 0) << core::read_file(log);
  EXPECT_NE(core::read_file(log).find("read by line-reader (line:8,8,16,16,32)"), std::string::npos)
      << core::read_file(log);
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  auto answer = client.Post("/v1/read", core::read_file(page), "image/png");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;
  EXPECT_TRUE(nlohmann::json::parse(answer->body).contains("text")) << answer->body;
  auto bad = client.Post("/v1/read", "not an image", "image/png");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

// `read` on numbers composed from MNIST test digits as a scan shows them (grey paper, light
// falloff, noise, some with a ruled line or a box), several numbers on one page, a blank page and
// a broken file.
TEST_F(Cli, ReadFindsAndReadsWholeNumbers) {
  const std::string real = "DIGITLAB_DATA=" + testing::real_data_root();
  if (!core::file_exists(testing::real_data_root() + "/mnist/t10k-images-idx3-ubyte")) {
    GTEST_SKIP() << "MNIST is not installed (scripts/setup)";
  }
  const std::string run = runs_ / "reader";
  ASSERT_EQ(digitlab("train --arch C16-P-C32-P-64-10 --train-limit 20000 --val-split 1000 "
                     "--epochs 2 --lr-schedule onecycle --lr 0.003 --augment seed002 "
                     "--tensorboard false --out " +
                         run,
                     real)
                .code,
            0);
  const data::IdxArray images =
      data::read_idx(testing::real_data_root() + "/mnist/t10k-images-idx3-ubyte");
  const data::IdxArray labels =
      data::read_idx(testing::real_data_root() + "/mnist/t10k-labels-idx1-ubyte");
  const std::string dir = runs_ / "numbers";
  core::make_dirs(dir);
  data::NumberStyle style;
  style.gap_lo = 0.15;  // apart: a model trained for 2 epochs is no judge of touching digits
  style.jpeg_prob = 0;
  std::vector<std::string> truths;
  for (int i = 0; i < 10; ++i) {
    std::vector<const uint8_t*> digits;
    std::string truth;
    for (int k = 0; k < 3 + i % 4; ++k) {
      const size_t at = size_t(i * 7 + k);
      digits.push_back(images.data.data() + at * 784);
      truth += char('0' + labels.data[at]);
    }
    const data::RenderedNumber number = data::render_number(digits, truth, style, uint64_t(i));
    char name[32];
    std::snprintf(name, sizeof name, "/n%02d.png", i);
    data::write_png(dir + name, number.image);
    truths.push_back(truth);
  }
  data::write_png(dir + "/page.png", data::GrayImage(300, 200, 190));  // blank paper
  core::write_file_atomic(dir + "/zz-broken.png", "not a png");
  Result r = digitlab("read --model " + run + " " + dir + " --json", real);
  EXPECT_EQ(r.code, 1) << r.err;  // the broken file
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("zz-broken.png: not a supported image"), std::string::npos) << r.err;
  const auto results = nlohmann::json::parse(r.out)["results"];
  ASSERT_EQ(results.size(), 11u);
  int exact = 0;
  for (int i = 0; i < 10; ++i) {
    const auto& one = results[size_t(i)];
    exact += one["text"] == truths[size_t(i)];
    ASSERT_EQ(one["numbers"].size(), 1u) << one.dump();
    // One box per digit read (a 2-epoch model may still read a digit too many or too few).
    const auto& digits = one["numbers"][0]["digits"];
    EXPECT_EQ(digits.size(), one["text"].get<std::string>().size()) << one.dump();
    for (size_t k = 1; k < digits.size(); ++k) {  // left to right, boxes inside the image
      EXPECT_LT(digits[k - 1]["box"][0].get<int>(), digits[k]["box"][0].get<int>());
      EXPECT_LE(digits[k]["box"][2].get<int>(), style.width);
    }
  }
  EXPECT_GE(exact, 6) << r.out;  // 8 of 10 on the 2-core machine, 2026-12-07
  EXPECT_EQ(results[10]["file"], dir + "/page.png");
  EXPECT_EQ(results[10]["text"], "");
  EXPECT_TRUE(results[10].contains("reason"));
  // Text output: the file and its numbers; two numbers on one page are both read.
  const data::GrayImage a = data::read_image_file(dir + "/n00.png");
  const data::GrayImage b = data::read_image_file(dir + "/n01.png");
  data::GrayImage page(a.width, a.height + b.height, 0);
  std::copy(a.pixels.begin(), a.pixels.end(), page.pixels.begin());
  std::copy(b.pixels.begin(), b.pixels.end(), page.pixels.begin() + long(a.pixels.size()));
  data::write_png(runs_ / "two.png", page);
  Result text = digitlab("read --model " + run + " " + (runs_ / "two.png"), real);
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_EQ(text.out.rfind(runs_ / "two.png" + "\t", 0), 0u) << text.out;
  EXPECT_EQ(count_lines(text.out), 3u) << text.out;  // the page, then one line per number
  // The benchmark on digits drawn from a font (fonts-dejavu-core, scripts/setup), and a file
  // that is no font.
  const std::string font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
  ASSERT_TRUE(core::file_exists(font)) << "scripts/setup installs fonts-dejavu-core";
  Result bench = digitlab("bench --what read --run " + run + " --count 20 --json --fonts " + font);
  ASSERT_EQ(bench.code, 0) << bench.err;
  const auto measured = nlohmann::json::parse(bench.out);
  EXPECT_EQ(measured["count"], 20);
  EXPECT_EQ(measured["digits"], nlohmann::json::array({font}));
  EXPECT_GT(measured["all"]["digit_accuracy"].get<double>(), 0.5) << bench.out;
  Result no_font = digitlab("bench --what read --run " + run + " --fonts " + dir + "/n00.png");
  EXPECT_NE(no_font.code, 0);
  EXPECT_EQ(count_lines(no_font.err), 1u) << no_font.err;
  EXPECT_NE(no_font.err.find("n00.png: not a TrueType or OpenType font"), std::string::npos)
      << no_font.err;
}

TEST_F(Cli, TrainThenEvaluateWritesTheRunDirectory) {
  const std::string out = runs_ / "r1";
  Result t = digitlab(
      "train --epochs 2 --val-split 100 --batch-size 32 --threads 2 --test-every 2 --out " + out);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("epoch 2/2"), std::string::npos) << t.out;
  // Not a terminal: one line per epoch, no carriage-return redraws.
  EXPECT_EQ(t.out.find('\r'), std::string::npos);
  for (const char* f :
       {"config.json", "metrics.jsonl", "checkpoints/best.pt", "checkpoints/last.pt"}) {
    EXPECT_TRUE(core::file_exists(out + "/" + f)) << f;
  }
  const std::string metrics = core::read_file(out + "/metrics.jsonl");
  ASSERT_EQ(count_lines(metrics), 2u);
  std::istringstream lines(metrics);
  std::string line;
  int epoch = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["epoch"], ++epoch);
    for (const char* k :
         {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_second"}) {
      EXPECT_TRUE(j.contains(k) && j[k].is_number()) << k;
    }
    // --test-every 2: the test split is measured on epoch 2 only.
    EXPECT_EQ(j.contains("test_acc"), epoch == 2) << line;
  }
  EXPECT_NE(t.out.find("test_acc "), std::string::npos) << t.out;
  auto config = nlohmann::json::parse(core::read_file(out + "/config.json"));
  EXPECT_EQ(config["spec"], "C32-P-C64-P-128-10-logsoftmax");
  EXPECT_EQ(config["parameters"], 421642);
  EXPECT_EQ(config["train_size"], 600);

  Result e = digitlab("evaluate " + out + " --json");
  ASSERT_EQ(e.code, 0) << e.err;
  auto j = nlohmann::json::parse(e.out);  // stdout is exactly one JSON document
  EXPECT_GT(j["accuracy"].get<double>(), 0.9);
  EXPECT_LE(j["accuracy"].get<double>(), 1.0);
  EXPECT_TRUE(j["loss"].is_number());
  ASSERT_EQ(j["confusion"].size(), 10u);
  int64_t total = 0, diagonal = 0;
  for (int i = 0; i < 10; ++i) {
    for (int k = 0; k < 10; ++k) total += j["confusion"][i][k].get<int64_t>();
    diagonal += j["confusion"][i][i].get<int64_t>();
  }
  EXPECT_EQ(total, 200);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), double(diagonal) / 200.0);
  ASSERT_EQ(j["per_class"].size(), 10u);
  EXPECT_EQ(j["per_class"][3]["support"], 20);
  for (const char* f : {"eval/summary.json", "eval/confusion.csv", "eval/predictions.csv"}) {
    EXPECT_TRUE(core::file_exists(out + "/" + f)) << f;
  }
  EXPECT_EQ(count_lines(core::read_file(out + "/eval/predictions.csv")), 201u);

  Result v = digitlab("evaluate " + out + " --split val --json");
  ASSERT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(nlohmann::json::parse(v.out)["count"], 100);

  Result text = digitlab("evaluate " + out);
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("test accuracy: "), std::string::npos);

  // Options that fail once the data is read leave the existing run as it was.
  Result bad_split = digitlab("train --overwrite --val-split 0.99999 --out " + out);
  EXPECT_EQ(bad_split.code, 2);
  EXPECT_TRUE(core::file_exists(out + "/checkpoints/best.pt"));
  EXPECT_EQ(count_lines(core::read_file(out + "/metrics.jsonl")), 2u);
  Result tiny =
      digitlab("train --train-limit 120 --val-split 100 --batch-size 64 --drop-last --out " +
               (runs_ / "tiny"));
  EXPECT_EQ(tiny.code, 2);
  EXPECT_NE(tiny.err.find("--drop-last: the 20 training images do not fill one batch of 64"),
            std::string::npos)
      << tiny.err;

  // The same directory again needs --overwrite.
  Result again = digitlab("train --epochs 1 --out " + out);
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos);
}

// The training conveniences through the program: an oversized holdout warns and shrinks, an
// epoch checkpoint evaluates, lr-find prints one JSON document, and --help lists the new flags.
TEST_F(Cli, TrainConveniencesFromTheCommandLine) {
  const std::string out = runs_ / "small";
  Result t = digitlab(
      "train --arch 16-10 --epochs 1 --train-limit 300 --save-every 1 "
      "--tensorboard false --out " +
      out);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(testing::count_of(t.err, "warning"), 1u) << t.err;
  EXPECT_NE(t.err.find("warning: --val-split 5000: not below the 300 training images; held out "
                       "30 (10%) instead"),
            std::string::npos)
      << t.err;
  EXPECT_EQ(count_lines(core::read_file(out + "/metrics.csv")), 2u);
  Result ev = digitlab("evaluate " + out + "/checkpoints/epoch-001.pt --split val --json");
  ASSERT_EQ(ev.code, 0) << ev.err;
  EXPECT_EQ(nlohmann::json::parse(ev.out)["count"], 30);
  Result lr = digitlab(
      "lr-find --arch 16-10 --train-limit 300 --val-split 0.1 --steps 20 --json "
      "--out " +
      (runs_ / "lr"));
  ASSERT_EQ(lr.code, 0) << lr.err;
  const auto doc = nlohmann::json::parse(lr.out);
  EXPECT_GE(doc["suggested_lr"].get<double>(), 1e-7);
  EXPECT_LE(doc["suggested_lr"].get<double>(), 10);
  EXPECT_TRUE(core::file_exists(runs_ / "lr/lr_find.png"));
  Result help = digitlab("train --help");
  for (const char* flag : {"--init-from", "--freeze", "--save-every", "--val-split"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
}

// Ensembles end to end: members alone and combined, the saved ensemble evaluated, predicted and
// refused where it cannot go.
TEST_F(Cli, EnsembleSavesOneModelThatEvaluateAndPredictAccept) {
  // Weak members (one small epoch) so that they disagree on some test images.
  std::vector<std::string> members;
  for (int seed : {1, 2, 3}) {
    members.push_back(runs_ / ("m" + std::to_string(seed)));
    ASSERT_EQ(digitlab("train --arch 8-10 --epochs 1 --lr 0.0005 --val-split 100 --seed " +
                       std::to_string(seed) + " --tensorboard false --out " + members.back())
                  .code,
              0);
  }
  const std::string list = members[0] + " " + members[1] + " " + members[2];
  const std::string avg = runs_ / "avg.pt", vote = runs_ / "vote.pt";
  Result r = digitlab("ensemble " + list + " --json --save " + avg);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["members"].size(), 3u);
  EXPECT_EQ(j["count"], 200);
  for (size_t i = 0; i < 3; ++i) {
    // Each member's accuracy is what evaluate says of it alone.
    Result e = digitlab("evaluate " + members[i] + " --json");
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_DOUBLE_EQ(j["members"][i]["accuracy"].get<double>(),
                     nlohmann::json::parse(e.out)["accuracy"].get<double>());
  }
  Result ea = digitlab("evaluate " + avg + " --json");
  ASSERT_EQ(ea.code, 0) << ea.err;
  const auto saved = nlohmann::json::parse(ea.out);
  EXPECT_DOUBLE_EQ(saved["accuracy"].get<double>(), j["average_accuracy"].get<double>());
  EXPECT_EQ(saved["model"], "ensemble");
  ASSERT_EQ(digitlab("ensemble " + list + " --combine vote --save " + vote).code, 0);
  Result ev = digitlab("evaluate " + vote + " --json");
  ASSERT_EQ(ev.code, 0) << ev.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(ev.out)["accuracy"].get<double>(),
                   j["vote_accuracy"].get<double>());

  // Text output names every member and both combinations.
  Result text = digitlab("ensemble " + list + " --tta");
  ASSERT_EQ(text.code, 0) << text.err;
  for (const auto& m : members) EXPECT_NE(text.out.find(m), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("majority vote"), std::string::npos);
  EXPECT_NE(text.out.find("test-time augmentation"), std::string::npos);
  Result tta = digitlab("evaluate " + avg + " --tta --json");
  ASSERT_EQ(tta.code, 0) << tta.err;
  EXPECT_TRUE(nlohmann::json::parse(tta.out)["tta"].get<bool>());

  // predict reads an image with the ensemble.
  data::IdxArray im, lb;
  testing::make_synthetic(10, 9, im, lb);
  data::GrayImage digit(28, 28, 0);
  digit.pixels.assign(im.data.begin() + 3 * 784, im.data.begin() + 4 * 784);
  data::write_png(runs_ / "three.png", digit);
  Result p = digitlab("predict --model " + avg + " " + (runs_ / "three.png") + " --json");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(nlohmann::json::parse(p.out).size(), 1u);

  // Where an ensemble cannot go: one line, exit 2.
  for (const std::string& args :
       {"export " + avg + " --format onnx --out " + (runs_ / "x.onnx"),
        "evaluate " + avg + " --split val", "ensemble " + avg + " " + members[0],
        "ensemble " + list + " --combine median", "ensemble " + list + " --split val"}) {
    Result bad = digitlab(args);
    EXPECT_EQ(bad.code, 2) << args << ": " << bad.err;
    EXPECT_EQ(count_lines(bad.err), 1u) << args << ": " << bad.err;
  }
  // Members that held out the same images (same seed and split) combine on validation too.
  const std::string twin = runs_ / "twin";
  ASSERT_EQ(digitlab("train --arch 16-10 --epochs 1 --val-split 100 --seed 1 --tensorboard false "
                     "--out " +
                     twin)
                .code,
            0);
  Result val = digitlab("ensemble " + members[0] + " " + twin + " --split val --json");
  ASSERT_EQ(val.code, 0) << val.err;
  EXPECT_EQ(nlohmann::json::parse(val.out)["count"], 100);

  // A member at another seed holds out the same images when it shares --split-seed: training,
  // evaluate and ensemble all draw its validation split from the split seed.
  const std::string cousin = runs_ / "cousin";
  ASSERT_EQ(digitlab("train --arch 8-10 --epochs 1 --lr 0.0005 --val-split 100 --seed 7 "
                     "--split-seed 1 --tensorboard false --out " +
                     cousin)
                .code,
            0);
  const auto cousin_options =
      nlohmann::json::parse(core::read_file(cousin + "/config.json"))["options"];
  EXPECT_EQ(cousin_options["seed"], 7);
  EXPECT_EQ(cousin_options["split_seed"], 1);
  EXPECT_EQ(
      nlohmann::json::parse(core::read_file(members[0] + "/config.json"))["options"]["split_seed"],
      1)
      << "without --split-seed the split seed is --seed";
  const auto trained =
      nlohmann::json::parse(core::read_file(cousin + "/metrics.jsonl"));  // one epoch, one line
  const double trained_val = trained["val_acc"].get<double>();
  Result cousin_val = digitlab("evaluate " + cousin + " --split val --json");
  ASSERT_EQ(cousin_val.code, 0) << cousin_val.err;
  const auto cousin_eval = nlohmann::json::parse(cousin_val.out);
  EXPECT_DOUBLE_EQ(cousin_eval["accuracy"].get<double>(), trained_val);
  // The loss, unlike the accuracy, tells any two sets of 100 images apart.
  EXPECT_NEAR(cousin_eval["loss"].get<double>(), trained["val_loss"].get<double>(), 1e-5);
  // Same images in the same order: the label column of both runs' validation predictions.
  for (const std::string& m : {members[0], members[1]}) {
    ASSERT_EQ(digitlab("evaluate " + m + " --split val").code, 0) << m;
  }
  auto labels_of = [](const std::string& run) {
    std::istringstream csv(core::read_file(run + "/eval/val_predictions.csv"));
    std::string line, labels;
    std::getline(csv, line);  // header: index,label,predicted,confidence
    while (std::getline(csv, line)) {
      const size_t a = line.find(','), b = line.find(',', a + 1);
      labels += line.substr(a + 1, b - a - 1);
    }
    return labels;
  };
  EXPECT_EQ(labels_of(cousin).size(), 100u);
  EXPECT_EQ(labels_of(cousin), labels_of(members[0]));
  EXPECT_NE(labels_of(cousin), labels_of(members[1])) << "seed 2's split is another draw";
  Result pair = digitlab("ensemble " + members[0] + " " + cousin + " --split val --json");
  ASSERT_EQ(pair.code, 0) << pair.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(pair.out)["members"][1]["accuracy"].get<double>(),
                   trained_val);
  Result other = digitlab("ensemble " + members[1] + " " + cousin + " --split val");
  EXPECT_EQ(other.code, 2);
  EXPECT_EQ(count_lines(other.err), 1u) << other.err;
  EXPECT_NE(other.err.find("--split-seed"), std::string::npos) << other.err;
  EXPECT_EQ(digitlab("train --split-seed -1 --out " + (runs_ / "neg")).code, 2);
}

// A residual network through the program: train --summary prints the layer table before
// training and changes nothing else; predict reads an image with the run. (summary's own flags and
// errors are tested in-process, train_tests.)
TEST_F(Cli, ResidualRunTrainsWithSummaryAndPredicts) {
  const std::string out = runs_ / "res", spec = "C4-P-R(C4-BN-C4)-R(C8)-P-10";
  Result t = digitlab("train --arch '" + spec +
                      "' --epochs 1 --train-limit 300 --val-split 60 --batch-size 32 --threads 2 "
                      "--tensorboard false --summary --out " +
                      out);
  ASSERT_EQ(t.code, 0) << t.err;
  const size_t table = t.out.find("residual_1 (Residual)");
  ASSERT_NE(table, std::string::npos) << t.out;
  EXPECT_LT(table, t.out.find("epoch 1/1")) << t.out;
  EXPECT_NE(t.out.find("  conv2d_5 (Conv2D 1x1 shortcut)"), std::string::npos) << t.out;
  auto config = nlohmann::json::parse(core::read_file(out + "/config.json"));
  // 40 + block (148 + 8 + 148) + block (296 + projection 40) + 8*7*7*10+10.
  EXPECT_EQ(config["parameters"], 4610);
  EXPECT_NE(t.out.find("Total params: 4,610\n"), std::string::npos) << t.out;
  EXPECT_FALSE(config["options"].contains("summary")) << config.dump();

  data::IdxArray im, lb;
  testing::make_synthetic(10, 9, im, lb);
  data::GrayImage digit(28, 28, 0);
  digit.pixels.assign(im.data.begin() + 3 * 784, im.data.begin() + 4 * 784);
  data::write_png(runs_ / "three.png", digit);
  Result p = digitlab("predict --model " + out + " " + (runs_ / "three.png") + " --json");
  ASSERT_EQ(p.code, 0) << p.err;
  auto j = nlohmann::json::parse(p.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_GT(j[0]["confidence"].get<double>(), 0.1) << p.out;  // the top of 10 probabilities
  EXPECT_EQ(j[0]["label"].get<std::string>().size(), 1u) << p.out;
}

TEST_F(Cli, TruncatedImagesFileExitsOneNamingTheFile) {
  const std::string path = data_.path() + "/mnist/train-images-idx3-ubyte";
  const std::string bytes = core::read_file(path);
  core::write_file_atomic(path, bytes.substr(0, bytes.size() - 1000));
  Result r = digitlab("train --epochs 1 --out " + (runs_ / "t"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(path + ": truncated"), std::string::npos) << r.err;
  EXPECT_FALSE(core::dir_exists(runs_ / "t")) << "a failed start leaves no run directory";
}

TEST_F(Cli, WrongMagicInLabelsExitsOneNamingTheFile) {
  const std::string path = data_.path() + "/mnist/t10k-labels-idx1-ubyte";
  std::string bytes = core::read_file(path);
  bytes[2] = 0x09;
  core::write_file_atomic(path, bytes);
  Result r = digitlab("data info --dataset mnist");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(path + ": bad magic number"), std::string::npos) << r.err;
}

TEST_F(Cli, UsageErrorsExitTwo) {
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"train --epochs abc", "--epochs: 'abc' is not a whole number"},
           {"train --model nope", "--model: unknown model 'nope'"},
           {"train --arch C32-X-10", "token 2 'X': unknown token"},
           {"train --optimizer lbfgs", "--optimizer: unknown 'lbfgs'"},
           {"train --dataset cifar", "--dataset: unknown data set 'cifar'"},
           {"train --no-such-flag", "no-such-flag"},
           {"train --augment spin=3", "--augment: spin: unknown key (allowed: rotate, scale"},
           {"train --augment scale=0.5:2",
            "--augment: scale: '0.5:2' is out of range (allowed: LO:HI"},
           {"train --augment rotate=", "--augment: rotate: '' is not a number"},
           {"train --val-strategy even", "--val-strategy: unknown 'even'"},
           {"preview --augment rotate=-1", "--augment: rotate: '-1' is out of range"},
           {"preview --grid 8by8", "--grid: '8by8' is not COLUMNSxROWS with each 1 to 64"},
           {"preview --grid 4x4 --augment seed002", "with --augment use --rows and --variants"},
           // Without an augmentation there are no draws: refused, not ignored.
           {"preview --variants 3", "--variants: lays out augmentation draws; give --augment"},
           {"frobnicate", "unknown command 'frobnicate'"},
           {"", "A subcommand is required"},
       }) {
    Result r = digitlab(c.args + " --out " + (runs_ / "u"));
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << c.args << ": " << r.err;
  }
  Result env = digitlab("train --out " + (runs_ / "u"), "DIGITLAB_BATCH_SIZE=huge");
  EXPECT_EQ(env.code, 2);
  EXPECT_NE(env.err.find("DIGITLAB_BATCH_SIZE: 'huge' is not a whole number"), std::string::npos);
}

// Every command that computes checks its shared runtime flags the same way, before it loads a
// model or data (the model paths here do not exist: the flag is what is refused).
TEST_F(Cli, RuntimeFlagsAreCheckedByEveryCommand) {
  const std::string model = runs_ / "none";
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"evaluate " + model + " --threads 100000", "--threads: must be 0 (all cores) to 1024"},
           {"evaluate " + model + " --threads -1", "--threads: must be 0 (all cores) to 1024"},
           {"predict --model " + model + " x.png --threads 100000", "--threads: must be 0"},
           {"serve --model " + model + " --threads -1", "--threads: must be 0"},
           {"ensemble " + model + " --threads 2000", "--threads: must be 0"},
           {"bench --threads -3", "--threads: must be 0"},
           {"evaluate " + model + " --precision fp16", "--precision: unknown 'fp16'"},
           {"predict --model " + model + " x.png --precision int8", "--precision: unknown 'int8'"},
           {"ensemble " + model + " --device tpu", "--device: unknown 'tpu'"},
           {"train --threads 100000", "--threads: must be 0 (all cores) to 1024"},
           {"serve --model " + model + " --max-body 0", "--max-body: must be 1 to 1073741824"},
       }) {
    Result r = digitlab(c.args);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << c.args << ": " << r.err;
  }
  Result negative = digitlab("serve --model " + model + " --max-body -1");
  EXPECT_EQ(negative.code, 2) << negative.err;
}

TEST_F(Cli, ConfigEnvironmentAndFlagsLayer) {
  core::write_file_atomic(io_ / "run.toml",
                          "epochs = 1\nbatch_size = 50\nlr = 0.002\nval_split = 100\n");
  const std::string out = runs_ / "layers";
  Result r =
      digitlab("train --config " + (io_ / "run.toml") + " --lr 0.003 --threads 2 --out " + out,
               "DIGITLAB_BATCH_SIZE=25 DIGITLAB_LR=0.001");
  ASSERT_EQ(r.code, 0) << r.err;
  auto o = nlohmann::json::parse(core::read_file(out + "/config.json"))["options"];
  EXPECT_EQ(o["epochs"], 1);                       // config
  EXPECT_EQ(o["batch_size"], 25);                  // environment beats config
  EXPECT_DOUBLE_EQ(o["lr"].get<double>(), 0.003);  // flag beats environment
}

TEST_F(Cli, PreviewWritesALabelledPng) {
  const std::string png = io_ / "grid.png";
  Result r = digitlab("preview --augment seed002,elastic=34:4 --rows 3 --variants 4 --out " + png);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string bytes = core::read_file(png);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto be32 = [&](size_t at) {
    return uint32_t(uint8_t(bytes[at])) << 24 | uint32_t(uint8_t(bytes[at + 1])) << 16 |
           uint32_t(uint8_t(bytes[at + 2])) << 8 | uint32_t(uint8_t(bytes[at + 3]));
  };
  // Label column, original and 4 variants of 84 px with gaps; 3 rows of 84 px with gaps.
  EXPECT_EQ(be32(16), 30u + 5 * (84 + 6) + 12);
  EXPECT_EQ(be32(20), 3u * (84 + 6) + 6);
}

TEST_F(Cli, PreviewDrawsALabelledMosaicByDefault) {
  auto size_of = [](const std::string& png) {
    const std::string b = core::read_file(png);
    auto be32 = [&](size_t at) {
      return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 |
             uint32_t(uint8_t(b[at + 2])) << 8 | uint32_t(uint8_t(b[at + 3]));
    };
    return std::make_pair(be32(16), be32(20));
  };
  const std::string png = io_ / "mosaic.png";
  Result r = digitlab("preview --out " + png);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("8x8 mosaic"), std::string::npos) << r.out;
  // 8 columns and 8 rows of 56-pixel images over a 20-pixel label, 6 pixels apart.
  EXPECT_EQ(size_of(png), std::make_pair(8u * 62 + 6, 8u * 82 + 6));
  ASSERT_EQ(digitlab("preview --augment none --grid 5x2 --out " + png).code, 0);
  EXPECT_EQ(size_of(png), std::make_pair(5u * 62 + 6, 2u * 82 + 6));
}

TEST_F(Cli, EvaluateReportsAveragesCurvesProbabilitiesAndSaliency) {
  const std::string out = runs_ / "small";
  ASSERT_EQ(digitlab("train --arch C4-P-16-10 --epochs 1 --train-limit 300 --val-split 100 "
                     "--batch-size 50 --threads 2 --out " +
                     out)
                .code,
            0);
  Result text = digitlab("evaluate " + out);
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(
      text.out.find("scored " + out + "/checkpoints/best.pt (epoch 1 of 1, best validation loss)"),
      std::string::npos)
      << text.out;
  for (const char* row : {"macro avg", "weighted avg", "roc auc", "avg prec"}) {
    EXPECT_NE(text.out.find(row), std::string::npos) << row << "\n" << text.out;
  }
  // eval/summary.json is what --json prints.
  const auto j = nlohmann::json::parse(core::read_file(out + "/eval/summary.json"));
  EXPECT_EQ(j["checkpoint_choice"], "best validation loss");
  EXPECT_EQ(j["epochs"], 1);
  Result last = digitlab("evaluate " + out + "/checkpoints/last.pt");
  EXPECT_NE(last.out.find("scored " + out + "/checkpoints/last.pt (epoch 1 of 1, last epoch)"),
            std::string::npos)
      << last.out;
  EXPECT_EQ(j["macro_avg"]["support"], 200);
  // Support-weighted recall is accuracy; macro F1 is the mean of the classes' F1.
  EXPECT_NEAR(j["weighted_avg"]["recall"].get<double>(), j["accuracy"].get<double>(), 1e-12);
  double f1 = 0, auc = 0;
  for (const auto& c : j["per_class"]) {
    f1 += c["f1"].get<double>() / 10;
    auc += c["roc_auc"].get<double>() / 10;
    EXPECT_GE(c["roc_auc"].get<double>(), 0.5) << c;  // trained, it ranks its own class higher
    EXPECT_LE(c["average_precision"].get<double>(), 1.0) << c;
  }
  EXPECT_NEAR(j["macro_avg"]["f1"].get<double>(), f1, 1e-12);
  EXPECT_NEAR(j["macro_roc_auc"].get<double>(), auc, 1e-12);

  // Every class's probability after the four columns readers already know; they sum to 1.
  std::istringstream csv(core::read_file(out + "/eval/predictions.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "index,label,predicted,confidence,p_0,p_1,p_2,p_3,p_4,p_5,p_6,p_7,p_8,p_9");
  int rows = 0;
  while (std::getline(csv, line)) {
    std::vector<double> f;
    std::stringstream fields(line);
    for (std::string v; std::getline(fields, v, ',');) f.push_back(std::stod(v));
    ASSERT_EQ(f.size(), 14u) << line;
    double sum = 0;
    for (int c = 0; c < 10; ++c) sum += f[size_t(4 + c)];
    EXPECT_NEAR(sum, 1.0, 1e-4) << line;
    EXPECT_NEAR(f[size_t(4 + int(f[2]))], f[3], 1e-5) << line;  // confidence is p_predicted
    ++rows;
  }
  EXPECT_EQ(rows, 200);

  const std::string sal = core::read_file(out + "/eval/saliency.png");
  EXPECT_EQ(sal.substr(1, 3), "PNG");
  const std::string page = core::read_file(out + "/report/index.html");
  for (const char* part :
       {"<svg id=\"roc-chart\"", "<svg id=\"pr-chart\"",
        "<img id=\"saliency-image\" src=\"data:image/png;base64,", "macro avg", "weighted avg"}) {
    EXPECT_NE(page.find(part), std::string::npos) << part;
  }
  EXPECT_TRUE(core::file_exists(out + "/report/roc_pr.png"));
}

TEST_F(Cli, AugmentedTrainingFromAConfigTable) {
  core::write_file_atomic(io_ / "aug.toml",
                          "epochs = 1\nval_split = 100\nval_strategy = \"stratified\"\n"
                          "[augment]\nrotate = 10\nscale = \"0.7:1\"\nelastic = \"20:4\"\n");
  const std::string out = runs_ / "aug";
  Result r = digitlab("train --config " + (io_ / "aug.toml") + " --threads 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  auto o = nlohmann::json::parse(core::read_file(out + "/config.json"))["options"];
  EXPECT_EQ(o["augment"], "rotate=10,scale=0.7:1,elastic=20:4");
  EXPECT_EQ(o["val_strategy"], "stratified");
  Result v = digitlab("evaluate " + out + " --split val --json");
  ASSERT_EQ(v.code, 0) << v.err;
  auto j = nlohmann::json::parse(v.out);
  for (int c = 0; c < 10; ++c) EXPECT_EQ(j["per_class"][c]["support"], 10) << c;
}

TEST_F(Cli, ReproduceQuickWritesBothTables) {
  const std::string out = runs_ / "repro";
  Result r = digitlab("reproduce seed004 --quick --threads 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(core::read_file(out + "/results.json"));
  EXPECT_TRUE(j["quick"].get<bool>());
  ASSERT_EQ(j["tables"].size(), 1u);
  const auto& row = j["tables"][0]["rows"][0];
  EXPECT_EQ(row["model"], "seed004-mlp");
  EXPECT_EQ(row["parameters"], 109386);
  EXPECT_TRUE(row["published_error"].is_null());  // seed 004 measured nothing
  EXPECT_GE(row["error"].get<double>(), 0.0);
  EXPECT_LE(row["error"].get<double>(), 100.0);
  EXPECT_TRUE(core::file_exists(out + "/seed004/seed004-mlp/checkpoints/best.pt"));
  const std::string md = core::read_file(out + "/results.md");
  EXPECT_NE(md.find("| seed004-mlp | `128-64-10` | 109386 | — |"), std::string::npos) << md;
  EXPECT_NE(md.find("Quick protocol"), std::string::npos);

  // Three seeds: the median run stands for the row, every seed's run is kept and listed.
  const std::string multi = runs_ / "multi";
  Result m = digitlab("reproduce seed004 --quick --threads 2 --seeds 3 --seed 7 --out " + multi);
  ASSERT_EQ(m.code, 0) << m.err;
  const auto mj = nlohmann::json::parse(core::read_file(multi + "/results.json"));
  const auto& mrow = mj["tables"][0]["rows"][0];
  ASSERT_EQ(mrow["seeds"].size(), 3u);
  std::vector<double> errors;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(mrow["seeds"][i]["seed"], 7 + i);
    errors.push_back(mrow["seeds"][i]["error"].get<double>());
    EXPECT_TRUE(core::file_exists(multi + "/seed004/seed004-mlp/seed-" + std::to_string(7 + i) +
                                  "/checkpoints/best.pt"));
  }
  std::sort(errors.begin(), errors.end());
  EXPECT_EQ(mrow["error"].get<double>(), errors[1]);
  EXPECT_NE(core::read_file(multi + "/results.md").find("3 seeds (7 to 9)"), std::string::npos);

  Result bad = digitlab("reproduce seed009");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("unknown table 'seed009'"), std::string::npos);
  EXPECT_EQ(digitlab("reproduce seed004 --seeds 0").code, 2);
}

TEST_F(Cli, BenchModelAndTimeToAccuracy) {
  Result m = digitlab(
      "bench --model seed004-mlp,C4-P-10 --precision fp32,bf16 --steps 3 --batch-size 16 "
      "--threads 2 --json");
  ASSERT_EQ(m.code, 0) << m.err;
  auto j = nlohmann::json::parse(m.out);
  ASSERT_EQ(j["results"].size(), 4u);
  EXPECT_EQ(j["results"][1]["model"], "seed004-mlp");
  EXPECT_EQ(j["results"][1]["precision"], "bf16");
  EXPECT_EQ(j["results"][2]["spec"], "C4-P-10");
  for (const auto& r : j["results"]) {
    for (const char* k : {"train_images_per_second", "infer_images_per_second", "latency_median_us",
                          "peak_rss_mib"}) {
      EXPECT_GT(r[k].get<double>(), 0.0) << k;
    }
    EXPECT_LE(r["latency_median_us"].get<double>(), r["latency_p90_us"].get<double>());
    EXPECT_NEAR(r["train_gflops"].get<double>(),
                3 * r["forward_flops_per_image"].get<double>() *
                    r["train_images_per_second"].get<double>() / 1e9,
                1e-9);
    EXPECT_NEAR(r["train_share_of_matmul"].get<double>(),
                r["train_gflops"].get<double>() / j["matmul_gflops"].get<double>(), 1e-12);
  }
  EXPECT_GT(j["matmul_gflops"].get<double>(), 0.1);
  // C4-P-10: a 3x3 conv to 4 channels at 28x28, then 4x14x14 features to 10 units; 2 FLOPs each.
  EXPECT_EQ(j["results"][2]["forward_flops_per_image"].get<double>(),
            2.0 * (28 * 28 * 9 * 4 + 784 * 10));
  Result knn = digitlab("bench --model knn3");
  EXPECT_EQ(knn.code, 2);
  EXPECT_NE(knn.err.find("--model: knn3 has no training step to time"), std::string::npos);

  // Synthetic digits: 50% test accuracy comes within three small epochs.
  Result t = digitlab(
      "bench --what time-to-accuracy --arch C8-P-32-10 --target 0.5 --epochs 3 "
      "--evals-per-epoch 2 --batch-size 32 --lr 0.01 --threads 2 --json");
  ASSERT_EQ(t.code, 0) << t.err << t.out;
  auto tj = nlohmann::json::parse(t.out);
  EXPECT_TRUE(tj["reached"].get<bool>());
  const double at = tj["seconds_to_target"].get<double>();
  EXPECT_GT(at, 0.0);
  EXPECT_GE(tj["process_seconds"].get<double>(), at);
  ASSERT_GE(tj["evaluations"].size(), 1u);
  EXPECT_GE(tj["evaluations"].back()["test_accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(tj["evaluations"][0]["epoch"].get<double>(), 0.5);  // two per epoch
  // An unreachable target is reported, with exit code 1.
  Result miss = digitlab(
      "bench --what time-to-accuracy --arch C8-P-32-10 --target 1.0 --epochs 1 --lr 1e-6 "
      "--threads 2");
  EXPECT_EQ(miss.code, 1);
  EXPECT_NE(miss.out.find("not reached"), std::string::npos) << miss.out;
  // Label smoothing and TTA evaluation go into the recipe and its report.
  Result s = digitlab(
      "bench --what time-to-accuracy --arch C8-P-32-10 --target 0.5 --epochs 3 "
      "--batch-size 32 --lr 0.01 --threads 2 --label-smoothing 0.1 --tta --eval-from 2 --json");
  ASSERT_EQ(s.code, 0) << s.err << s.out;
  auto sj = nlohmann::json::parse(s.out);
  EXPECT_TRUE(sj["reached"].get<bool>());
  ASSERT_GE(sj["evaluations"].size(), 1u);
  EXPECT_DOUBLE_EQ(sj["evaluations"][0]["epoch"].get<double>(), 2.0);  // none in epoch 1
  EXPECT_TRUE(sj["tta"].get<bool>());
  EXPECT_DOUBLE_EQ(sj["label_smoothing"].get<double>(), 0.1);
  Result bad = digitlab("bench --what time-to-accuracy --label-smoothing 1 --threads 2");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--label-smoothing: must be in [0, 1)"), std::string::npos) << bad.err;
  Result late = digitlab("bench --what time-to-accuracy --epochs 2 --eval-from 3 --threads 2");
  EXPECT_EQ(late.code, 2);
  EXPECT_NE(late.err.find("--eval-from: must be 1 to --epochs (2)"), std::string::npos) << late.err;
}

TEST_F(Cli, PrecisionAndDeviceFlags) {
  const std::string out = runs_ / "p";
  Result t = digitlab(
      "train --epochs 1 --val-split 100 --precision bf16 --model seed004-mlp "
      "--threads 2 --out " +
      out);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("cpu bf16 (as asked)"), std::string::npos) << t.out;
  Result e = digitlab("evaluate " + out + " --precision fp32 --json");
  ASSERT_EQ(e.code, 0) << e.err;
  auto j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["precision"], "fp32");
  Result eb = digitlab("evaluate " + out + " --precision bf16 --json");
  ASSERT_EQ(eb.code, 0) << eb.err;
  EXPECT_EQ(nlohmann::json::parse(eb.out)["precision"], "bf16");
  EXPECT_NEAR(nlohmann::json::parse(eb.out)["accuracy"].get<double>(), j["accuracy"].get<double>(),
              0.02);
  Result bad = digitlab("evaluate " + out + " --precision fp8");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--precision: unknown 'fp8'"), std::string::npos) << bad.err;
  Result cuda = digitlab("train --device cuda --out " + (runs_ / "c"));
  if (cuda.code != 0) {  // a CPU-only LibTorch, as Debian's
    EXPECT_EQ(cuda.code, 2);
    EXPECT_NE(cuda.err.find("--device: cuda is not available"), std::string::npos) << cuda.err;
  }
}

// JSON nested 100,000 deep, as a config and as a run's own config.json: one line each, no crash.
TEST_F(Cli, DeeplyNestedJsonIsRefusedInOneLine) {
  const std::string deep = "{\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  core::write_file_atomic(io_ / "deep.json", deep);
  Result config = digitlab("train --config " + (io_ / "deep.json") + " --out " + (runs_ / "d"));
  EXPECT_EQ(config.code, 1) << config.err;
  EXPECT_NE(config.err.find("nested deeper than 64 levels"), std::string::npos) << config.err;
  EXPECT_EQ(count_lines(config.err), 1u) << config.err;

  const std::string run = runs_ / "r";
  ASSERT_EQ(
      digitlab("train --arch 16-10 --epochs 1 --val-split 100 --tensorboard false --out " + run)
          .code,
      0);
  core::write_file_atomic(run + "/config.json", deep);
  Result resume = digitlab("train --resume " + run + " --epochs 2");
  EXPECT_EQ(resume.code, 1) << resume.err;
  EXPECT_EQ(count_lines(resume.err), 1u) << resume.err;
  Result report = digitlab("report " + run);
  EXPECT_EQ(report.code, 0) << report.err;
  EXPECT_NE(report.err.find("config.json: not a valid JSON object"), std::string::npos)
      << report.err;
  Result compare = digitlab("compare " + run + " --out " + (io_ / "c.html"));
  EXPECT_EQ(compare.code, 0) << compare.err;
  Result evaluate = digitlab("evaluate " + run + " --json");
  EXPECT_EQ(evaluate.code, 0) << evaluate.err;
}

// A disk that fills up while a checkpoint is written: one line with the path and the system's
// reason, exit 1, the previous files intact and no temporary left (LibTorch's own file writer
// aborted the process here). Needs a small tmpfs, so root; skipped elsewhere.
TEST_F(Cli, AFullDiskIsOneLineAndLeavesNoTemporary) {
  TempDir mnt;
  if (std::system(("mount -t tmpfs -o size=2m tmpfs " + mnt.path() + " 2>/dev/null").c_str()) !=
      0) {
    GTEST_SKIP() << "cannot mount a 2 MiB tmpfs here (needs root)";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { std::system(("umount " + path).c_str()); }
  } unmount{mnt.path()};
  const std::string run = mnt / "run";
  // 421,642 parameters: best.pt (1.7 MB) fits, last.pt with Adam's state does not.
  Result r = digitlab(
      "train --arch C32-P-C64-P-128-10 --epochs 2 --val-split 100 --threads 2 "
      "--tensorboard false --out " +
      run);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(run + "/checkpoints/"), std::string::npos) << r.err;
  for (const auto& e : std::filesystem::directory_iterator(run + "/checkpoints")) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
}

// While one process writes a run directory, another `train --overwrite` or `--resume` of it is
// refused, naming the holder (this test process holds the lock here).
TEST_F(Cli, ARunDirectoryHasOneWriter) {
  const std::string run = runs_ / "locked";
  ASSERT_EQ(
      digitlab("train --arch 16-10 --epochs 1 --val-split 100 --tensorboard false --out " + run)
          .code,
      0);
  const std::string config = core::read_file(run + "/config.json");
  {
    core::DirLock held(run, "test");
    for (const std::string& args :
         {"train --arch 16-10 --epochs 1 --val-split 100 --overwrite --out " + run,
          "train --resume " + run + " --epochs 2"}) {
      Result r = digitlab(args);
      EXPECT_EQ(r.code, 2) << args << ": " << r.err;
      EXPECT_NE(r.err.find("is being written by another process (pid " +
                           std::to_string(::getpid()) + ")"),
                std::string::npos)
          << r.err;
      EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    }
    EXPECT_EQ(core::read_file(run + "/config.json"), config) << "the refused run wrote into it";
  }
  EXPECT_EQ(digitlab("train --resume " + run + " --epochs 2").code, 0);
}

TEST_F(Cli, MissingTargetsAndDataExitOne) {
  Result e = digitlab("evaluate " + (runs_ / "nothing-here"));
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(e.err.find("no such run directory or file"), std::string::npos);
  core::write_file_atomic(io_ / "fake.pt", "not a checkpoint");
  Result f = digitlab("evaluate " + (io_ / "fake.pt"));
  EXPECT_EQ(f.code, 1);
  EXPECT_NE(f.err.find("fake.pt: not a readable checkpoint"), std::string::npos);
  Result d = digitlab("data info --dataset fashion-mnist");
  EXPECT_EQ(d.code, 1);
  EXPECT_NE(d.err.find("missing; run 'digitlab data fetch --dataset fashion-mnist'"),
            std::string::npos);
  Result v = digitlab("data verify --dataset mnist");
  EXPECT_EQ(v.code, 1);  // synthetic files do not match the real checksums
  EXPECT_NE(v.out.find("MISMATCH"), std::string::npos);
}

// A folder of three classes with names, not digits: imported, then trained, evaluated and
// predicted with --dataset and the run (test_import.cpp has the bad inputs).
TEST_F(Cli, ImportedFolderTrainsEvaluatesAndPredictsByName) {
  const std::vector<std::string> names = {"bar", "dash", "ring"};
  TempDir src;
  for (int c = 0; c < 3; ++c) {
    std::filesystem::create_directories(src / names[size_t(c)]);
    for (int i = 0; i < 12; ++i) {  // dark ink on light paper, as photographed
      data::GrayImage g(28 + i % 5, 28, 230);
      const int x0 = 6 + i % 4, y0 = 5 + i % 3;
      for (int y = 0; y < 16; ++y) {
        for (int x = 0; x < 16; ++x) {
          const bool ring = (x < 3 || y < 3 || x > 12 || y > 12);
          const bool ink = c == 0 ? x < 3 : c == 1 ? y < 3 : ring;
          if (ink) g.at(x0 + x, y0 + y) = 20;
        }
      }
      data::write_png(src / (names[size_t(c)] + "/" + std::to_string(i) + ".png"), g);
    }
  }
  Result imp = digitlab("data import " + src.path() + " --name shapes");
  ASSERT_EQ(imp.code, 0) << imp.err;
  EXPECT_NE(imp.out.find("30 training and 6 test images of 28x28, 3 classes"), std::string::npos)
      << imp.out;
  const std::string run = runs_ / "shapes";
  Result t = digitlab(
      "train --dataset shapes --arch 16-3 --epochs 1 --val-split 6 --lr 0.01 "
      "--tensorboard false --out " +
      run);
  ASSERT_EQ(t.code, 0) << t.err;
  Result e = digitlab("evaluate " + run + " --json");
  ASSERT_EQ(e.code, 0) << e.err;
  const auto j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["dataset"], "shapes");
  ASSERT_EQ(j["per_class"].size(), 3u);
  EXPECT_EQ(j["per_class"][2]["name"], "ring");
  // The same images under another name score the same, and their files sit beside the run's own;
  // a data set of other classes is refused.
  ASSERT_EQ(digitlab("data import " + src.path() + " --name shapes-again").code, 0);
  Result other = digitlab("evaluate " + run + " --dataset shapes-again --json");
  ASSERT_EQ(other.code, 0) << other.err;
  EXPECT_EQ(nlohmann::json::parse(other.out)["accuracy"], j["accuracy"]);
  EXPECT_TRUE(std::filesystem::exists(run + "/eval/shapes-again_summary.json"));
  EXPECT_TRUE(std::filesystem::exists(run + "/eval/summary.json"));
  Result mismatch = digitlab("evaluate " + run + " --dataset mnist");
  EXPECT_EQ(mismatch.code, 2);
  EXPECT_NE(mismatch.err.find("--dataset mnist: has 10 classes, the model 3"), std::string::npos)
      << mismatch.err;
  Result p = digitlab("predict --model " + run + " --json " + (src / "ring/0.png"));
  ASSERT_EQ(p.code, 0) << p.err;
  const auto label = nlohmann::json::parse(p.out)[0]["label"].get<std::string>();
  EXPECT_TRUE(label == "bar" || label == "dash" || label == "ring") << p.out;
}

TEST_F(Cli, ModelsAndDataInfoJson) {
  Result m = digitlab("models --json");
  ASSERT_EQ(m.code, 0);
  auto j = nlohmann::json::parse(m.out);
  bool found = false;
  for (auto& e : j) {
    if (e["name"] == "seed002-cnn") found = e["parameters"] == 421642;
  }
  EXPECT_TRUE(found);
  Result i = digitlab("data info --dataset mnist --json");
  ASSERT_EQ(i.code, 0) << i.err;
  auto info = nlohmann::json::parse(i.out);
  EXPECT_EQ(info["mnist"]["train"]["count"], 700);
  EXPECT_EQ(info["mnist"]["train"]["class_counts"][4], 70);
}

}  // namespace
}  // namespace digitlab

namespace digitlab {
namespace {

// Trials of a search directory as its leaderboard.json lists them, by id.
std::map<std::string, nlohmann::json> leaderboard_trials(const std::string& dir) {
  std::map<std::string, nlohmann::json> out;
  const auto j = nlohmann::json::parse(core::read_file(dir + "/leaderboard.json"));
  for (const auto& t : j["trials"]) out[t["id"].get<std::string>()] = t;
  return out;
}

const char* const kTinyTrials =
    "--set 'arch={units}-10' --set val_split=100 --set batch_size=50 --set tensorboard=false ";

// A grid search stopped by SIGTERM from outside resumes without re-running finished trials,
// then ranks every trial and writes a config that `train --config` retrains.
TEST_F(Cli, TuneGridResumesAfterSigtermWithoutRedoingTrials) {
  const std::string dir = runs_ / "grid";
  core::write_file_atomic(
      io_ / "kill.sh", env_ + " " + testing::program() + " tune " + kTinyTrials +
                           "--set epochs=3 --param units=8,16,24,32,40 --threads 1 --out " + dir +
                           " >" + (io_ / "out") + " 2>" + (io_ / "err") +
                           " &\npid=$!\nwhile ! grep -q '\"status\": \"done\"' " + dir +
                           "/search.json 2>/dev/null; do sleep 0.02; done\n"
                           "kill -TERM $pid\nwait $pid\nexit $?\n");
  const int status = std::system(("bash " + (io_ / "kill.sh")).c_str());
  ASSERT_TRUE(WIFEXITED(status));
  const std::string err = core::read_file(io_ / "err");
  ASSERT_EQ(WEXITSTATUS(status), 143) << err;
  EXPECT_NE(err.find("continue with: digitlab tune --resume " + dir), std::string::npos) << err;
  EXPECT_EQ(count_lines(err), 1u) << err;

  const auto before = nlohmann::json::parse(core::read_file(dir + "/search.json"));
  std::map<std::string, std::string> finished;  // id -> metrics.jsonl, timings included
  for (const auto& t : before["trials"]) {
    if (t["status"] == "done") {
      const std::string id = t["id"];
      finished[id] = core::read_file(dir + "/" + id + "/metrics.jsonl");
    }
  }
  ASSERT_GE(finished.size(), 1u);
  ASSERT_LT(finished.size(), 5u) << "the search ended before the signal";

  Result bad = digitlab("tune --resume " + dir + " --tuner random");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("only --parallel and --threads"), std::string::npos) << bad.err;
  Result r = digitlab("tune --resume " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const auto& [id, metrics] : finished) {
    EXPECT_EQ(core::read_file(dir + "/" + id + "/metrics.jsonl"), metrics) << id;
    EXPECT_EQ(r.out.find("start " + id), std::string::npos) << id << " ran again:\n" << r.out;
    EXPECT_EQ(count_of(core::read_file(dir + "/logs/" + id + ".log"), "training custom"), 1u);
  }
  const auto trials = leaderboard_trials(dir);
  ASSERT_EQ(trials.size(), 5u);
  for (const auto& [id, t] : trials) {
    EXPECT_EQ(t["status"], "done") << id;
    EXPECT_EQ(t["epochs"], 3) << id;
    EXPECT_GT(t["score"].get<double>(), 0.1) << id;
  }
  EXPECT_NE(r.out.find("Results summary"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Objective(name=\"val_acc\", direction=\"max\")"), std::string::npos);
  const std::string md = core::read_file(dir + "/leaderboard.md");
  EXPECT_EQ(count_of(md, "| trial-"), 5u) << md;

  // The best configuration retrains to the same validation accuracy (same seed and threads).
  const auto best = nlohmann::json::parse(core::read_file(dir + "/leaderboard.json"))["trials"][0];
  Result again =
      digitlab("train --config " + dir + "/best.toml --threads 1 --out " + (runs_ / "best"));
  ASSERT_EQ(again.code, 0) << again.err;
  const std::string best_run = runs_ / "best";
  EXPECT_EQ(metrics_without_timing(best_run),
            metrics_without_timing(dir + "/" + best["id"].get<std::string>()));
  auto cfg = nlohmann::json::parse(core::read_file(best_run + "/config.json"));
  EXPECT_EQ(cfg["spec"], std::to_string(best["params"]["units"].get<int>()) + "-10");

  Result cmp = digitlab("compare " + dir + " --json --out " + (io_ / "cmp.html"));
  ASSERT_EQ(cmp.code, 0) << cmp.err;
  EXPECT_EQ(nlohmann::json::parse(cmp.out)["runs"].size(), 5u);
}

// Hyperband trains fewer epochs than random search with as many trials, and promoted trials
// continue from their checkpoints.
TEST_F(Cli, TuneHyperbandTrainsFewerEpochsThanRandom) {
  const std::string space =
      std::string(kTinyTrials) + "--param units=8..32/8 --param lr=0.001..0.03:log --threads 1 ";
  const std::string hb = runs_ / "hb", rs = runs_ / "rs";
  Result h = digitlab("tune --tuner hyperband --max-epochs 3 --factor 3 " + space + "--out " + hb);
  ASSERT_EQ(h.code, 0) << h.err;
  // Two trials at a time: the search waits for both and records each.
  Result r = digitlab("tune --tuner random --trials 5 --set epochs=3 --parallel 2 " + space +
                      "--out " + rs);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto hbj = nlohmann::json::parse(core::read_file(hb + "/leaderboard.json"));
  const auto rsj = nlohmann::json::parse(core::read_file(rs + "/leaderboard.json"));
  // max_epochs 3, factor 3: bracket s=1 starts 3 trials at 1 epoch and promotes 1 to 3;
  // bracket s=0 trains 2 at 3. 11 epochs against 5 x 3.
  EXPECT_EQ(hbj["total_epochs"], 11);
  EXPECT_EQ(rsj["total_epochs"], 15);
  EXPECT_EQ(rsj["trials"].size(), 5u);
  std::multiset<int> epochs;
  for (const auto& t : hbj["trials"]) epochs.insert(t["epochs"].get<int>());
  EXPECT_EQ(epochs, (std::multiset<int>{1, 1, 3, 3, 3}));
  // The promoted trial is one of the first bracket's three, resumed at epoch 2.
  int promoted = 0;
  for (const auto& t : hbj["trials"]) {
    const std::string id = t["id"];
    const std::string log = core::read_file(hb + "/logs/" + id + ".log");
    if (id <= "trial-0002" && t["epochs"] == 3) {
      ++promoted;
      EXPECT_NE(log.find("resuming at epoch 2"), std::string::npos) << log;
      EXPECT_EQ(count_lines(core::read_file(hb + "/" + id + "/metrics.jsonl")), 3u);
    }
  }
  EXPECT_EQ(promoted, 1);
  EXPECT_NE(h.out.find("Epochs: "), std::string::npos) << h.out;
  EXPECT_NE(core::read_file(hb + "/best.toml").find("epochs = "), std::string::npos);
}

// A bad space is refused before any trial runs: exit 2, one line naming the entry.
TEST_F(Cli, TuneBadSpacesExitTwoNamingTheEntry) {
  core::write_file_atomic(io_ / "space.toml",
                          "[train]\narch = \"{units}-10\"\n[space]\nunits = [8, 16]\n"
                          "dropout = {min = 0.1, max = 0.5, sampling = \"normal\"}\n");
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"tune --param units=8,16 --param width=3,4 --set 'arch={units}-10'",
            "space.width: unknown parameter"},
           {"tune --param lr=0.1..0.01 --set arch=16-10",
            "--param 'lr=0.1..0.01': empty range (min 0.1 > max 0.01)"},
           {"tune --param lr=0..0.1:log --set arch=16-10", "log sampling needs min > 0"},
           {"tune --space " + (io_ / "space.toml"),
            "space.dropout: unknown sampling 'normal' (linear or log)"},
           {"tune --param lr=0.001..0.01 --set arch=16-10", "space.lr: a grid needs a step"},
           {"tune --param units=8,16 --set 'arch={units}-{depth}'", "placeholder {depth}"},
           {"tune --param optimizer=adam,lbfgs --set arch=16-10",
            "trial optimizer=lbfgs: --optimizer: unknown 'lbfgs'"},
           {"tune --param units=8,16 --set 'arch=C{units}-X-10'", "unknown token"},
           {"tune --tuner hyperband --param lr=0.01,0.1 --set arch=16-10", "give max_epochs"},
           {"tune --set arch=16-10", "give a search space"},
       }) {
    Result r = digitlab(c.args + " --out " + (runs_ / "bad"));
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << c.args << ": " << r.err;
    EXPECT_FALSE(core::dir_exists(runs_ / "bad")) << c.args;
  }
  Result missing = digitlab("tune --resume " + (runs_ / "nowhere"));
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("not a search directory"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace digitlab
