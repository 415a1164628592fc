// core: SHA-256 vectors, atomic writes, layered settings and their error messages.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <vector>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "core/settings.h"
#include "core/sha256.h"
#include "core/system.h"
#include "test_util.h"

namespace digitlab::core {
namespace {

using testing::TempDir;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsWhole) {
  std::string s(1000, 'x');
  for (size_t i = 0; i < s.size(); ++i) s[i] = char(i * 7);
  Sha256 h;
  for (size_t i = 0; i < s.size(); i += 37)
    h.update(s.data() + i, std::min<size_t>(37, s.size() - i));
  EXPECT_EQ(h.hex_digest(), sha256_hex(s));
  TempDir dir;
  write_file_atomic(dir / "f", s);
  EXPECT_EQ(sha256_file(dir / "f"), sha256_hex(s));
}

TEST(Files, AtomicWriteReplacesAndLeavesNoTemporary) {
  TempDir dir;
  write_file_atomic(dir / "a.json", "one");
  write_file_atomic(dir / "a.json", "two");
  EXPECT_EQ(read_file(dir / "a.json"), "two");
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

// A temporary left by a process that died mid-write is removed by the next write of that file;
// one of a live process (pid 1 here) is another writer's and stays.
TEST(Files, StaleTemporariesOfDeadProcessesAreRemoved) {
  TempDir dir;
  pid_t dead = 4000000;
  while (dead > 2 && ::kill(dead, 0) == 0) --dead;
  const std::string stale = dir / ("run.json.tmp." + std::to_string(dead));
  const std::string live = dir / "run.json.tmp.1";
  const std::string other = dir / ("other.json.tmp." + std::to_string(dead));
  for (const auto& f : {stale, live, other}) core::write_file_atomic(f, "partial");
  core::write_file_atomic(dir / "run.json", "{}");
  EXPECT_FALSE(core::file_exists(stale));
  EXPECT_TRUE(core::file_exists(live));
  EXPECT_TRUE(core::file_exists(other)) << "only temporaries of the file being written";
  EXPECT_EQ(core::read_file(dir / "run.json"), "{}");
}

// One holder at a time; the second names the first's PID; released when the holder goes.
TEST(Files, DirLockAdmitsOneHolder) {
  TempDir dir;
  {
    core::DirLock first(dir.path(), "--out");
    try {
      core::DirLock second(dir.path(), "--out");
      ADD_FAILURE() << "a second holder was admitted";
    } catch (const core::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("is being written by another process (pid " +
                                           std::to_string(::getpid()) + ")"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_NO_THROW(core::DirLock again(dir.path(), "--out"));
}

TEST(Files, FailedWriterKeepsThePreviousFile) {
  TempDir dir;
  write_file_atomic(dir / "c.pt", "old");
  EXPECT_THROW(write_atomic_with(dir / "c.pt",
                                 [](const std::string& tmp) {
                                   std::ofstream(tmp) << "half";
                                   throw RuntimeError("disk full");
                                 }),
               RuntimeError);
  EXPECT_EQ(read_file(dir / "c.pt"), "old");
  EXPECT_THROW(write_file_atomic(dir / "no/such/dir/x", "y"), RuntimeError);
}

// Nesting past the limit is refused while parsing, so nothing recursive ever walks it: 100,000
// levels once overflowed the stack in the config flattening and in dump().
TEST(Json, NestingDeeperThanTheLimitIsRefused) {
  auto nested = [](int depth) {
    return "{\"x\": " + std::string(size_t(depth), '[') + std::string(size_t(depth), ']') + "}";
  };
  std::string error;
  EXPECT_FALSE(core::parse_json(nested(core::kMaxJsonDepth - 1), &error).is_discarded()) << error;
  EXPECT_TRUE(core::parse_json(nested(core::kMaxJsonDepth + 1), &error).is_discarded());
  EXPECT_EQ(error, "nested deeper than 64 levels");
  EXPECT_TRUE(core::parse_json(nested(100000), &error).is_discarded());
  EXPECT_EQ(error, "nested deeper than 64 levels");
  EXPECT_TRUE(core::parse_json("{\"a\": ", &error).is_discarded());
  EXPECT_NE(error.find("parse error"), std::string::npos) << error;
  EXPECT_EQ(core::parse_json("{\"a\": [1, {\"b\": 2}]}")["a"][1]["b"], 2);

  TempDir dir;
  core::write_file_atomic(dir / "deep.json", nested(100000));
  core::Settings s;
  try {
    s.load_config_file(dir / "deep.json", {});
    ADD_FAILURE() << "a config nested 100,000 deep was accepted";
  } catch (const core::RuntimeError& e) {
    EXPECT_NE(
        std::string(e.what()).find("deep.json: not valid JSON (nested deeper than 64 levels)"),
        std::string::npos)
        << e.what();
  }
}

TEST(Settings, LaterSourcesWin) {
  Settings s;
  s.set("epochs", "5", Source::kFlag);
  s.set("epochs", "3", Source::kEnv);
  s.set("epochs", "1", Source::kConfig);
  EXPECT_EQ(s.get_int("epochs", 0), 5);
  s.set("lr", "0.1", Source::kConfig);
  s.set("lr", "0.2", Source::kEnv);
  EXPECT_DOUBLE_EQ(s.get_double("lr", 0), 0.2);
  EXPECT_EQ(s.get_int("missing", 7), 7);
}

TEST(Settings, BadValuesNameTheirOrigin) {
  Settings s;
  s.set("batch_size", "big", Source::kFlag);
  s.set("epochs", "2x", Source::kEnv);
  s.set("restore_best", "maybe", Source::kConfig, "run.toml");
  try {
    s.get_int("batch_size", 0);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--batch-size: 'big' is not a whole number");
  }
  try {
    s.get_int("epochs", 0);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "DIGITLAB_EPOCHS: '2x' is not a whole number");
  }
  try {
    s.get_bool("restore_best", true);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "run.toml: restore_best: 'maybe' is not true or false");
  }
}

TEST(Settings, ConfigFilesTomlAndJson) {
  TempDir dir;
  write_file_atomic(dir / "a.toml",
                    "epochs = 3\nlr = 0.01\nmodel = \"seed000-cnn\"\n"
                    "batch-size = 32\n");
  Settings s;
  s.load_config_file(dir / "a.toml", {"epochs", "lr", "model", "batch_size"});
  EXPECT_EQ(s.get_int("epochs", 0), 3);
  EXPECT_DOUBLE_EQ(s.get_double("lr", 0), 0.01);
  EXPECT_EQ(s.get_string("model", ""), "seed000-cnn");
  EXPECT_EQ(s.get_int("batch_size", 0), 32);

  write_file_atomic(dir / "b.json", R"({"epochs": 4, "overwrite": true})");
  Settings j;
  j.load_config_file(dir / "b.json", {});
  EXPECT_EQ(j.get_int("epochs", 0), 4);
  EXPECT_TRUE(j.get_bool("overwrite", false));

  write_file_atomic(dir / "c.toml", "epochz = 3\n");
  try {
    s.load_config_file(dir / "c.toml", {"epochs"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown option 'epochz'"), std::string::npos);
  }
  write_file_atomic(dir / "d.toml", "epochs = = 3\n");
  try {
    s.load_config_file(dir / "d.toml", {"epochs"});
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "d.toml"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("not valid TOML"), std::string::npos);
  }
  write_file_atomic(dir / "e.json", "[1,2]");
  EXPECT_THROW(s.load_config_file(dir / "e.json", {}), RuntimeError);
}

TEST(Settings, ConfigTextNamesItsOrigin) {
  Settings s;
  s.load_config_text("epochs = 3\n[augment]\nrotate = 10\n", false, {"epochs", "augment"},
                     "space.toml");
  EXPECT_EQ(s.get_int("epochs", 0), 3);
  EXPECT_EQ(s.get_string("augment.rotate", ""), "10");
  try {
    s.load_config_text(R"({"lr": "fast"})", true, {}, "run.json");
    s.get_double("lr", 0);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "run.json: lr: 'fast' is not a finite number");
  }
  EXPECT_THROW(s.load_config_text("{", true, {}, "x.json"), RuntimeError);
}

// NaN would pass every range check and ints would narrow silently (fuzz_config's regress-* inputs).
TEST(Settings, RejectsNonFiniteAndOutOfRange) {
  Settings s;
  s.load_config_text("momentum = nan\nlr = inf\nepochs = 4294967297\n", false, {}, "c.toml");
  EXPECT_THROW(s.get_double("momentum", 0), UsageError);
  EXPECT_THROW(s.get_double("lr", 0), UsageError);
  EXPECT_EQ(s.get_int("epochs", 0), 4294967297LL);
  try {
    s.get_int32("epochs", 0);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "c.toml: epochs: '4294967297' is not a whole number in the int range");
  }
  s.set("threads", "-7", Source::kFlag);
  EXPECT_EQ(s.get_int32("threads", 0), -7);
  EXPECT_EQ(s.get_int32("unset", 12), 12);
}

TEST(Settings, EnvNames) {
  EXPECT_EQ(env_name("batch_size"), "DIGITLAB_BATCH_SIZE");
  EXPECT_EQ(key_from_flag("--val-split"), "val_split");
}

TEST(System, CpuFlagsMemoryAndAge) {
  // Every x86-64 CPU has SSE2; no CPU has a flag with a space in it.
  EXPECT_TRUE(cpu_has_flag("sse2"));
  EXPECT_FALSE(cpu_has_flag("no such flag"));
  EXPECT_FALSE(cpu_has_flag(""));
  EXPECT_NE(cpu_model_name(), "");
  const double before = peak_rss_mib();
  EXPECT_GT(before, 1.0);
  // Larger than the peak so far, and touched, so resident: the peak must pass it.
  std::vector<char> block((size_t(before) + 64) << 20, 1);
  EXPECT_GE(peak_rss_mib(), before + 60) << int(block[12345]);
  const double age = process_age_seconds();
  EXPECT_GT(age, 0.0);
  EXPECT_LT(age, 3600.0);
}

TEST(Errors, OneLine) { EXPECT_EQ(one_line("a\nb\r\nc\n"), "a b c"); }

}  // namespace
}  // namespace digitlab::core
