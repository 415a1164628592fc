// The digitlab program: parses flags and environment, then makes one library call per subcommand.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "core/process.h"
#include "subcommands.h"

namespace {

using digitlab::app::Command;

// Where data sets live: $DIGITLAB_DATA, or ./data.
std::string data_root() {
  const char* env = std::getenv("DIGITLAB_DATA");
  return env && *env ? env : "data";
}

int run(int argc, char** argv) {
  CLI::App app{"digitlab: train, evaluate and compare handwritten-digit classifiers"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");
  std::vector<std::pair<CLI::App*, std::unique_ptr<Command>>> commands;
  for (const auto& s : digitlab::app::subcommands()) {
    commands.emplace_back(app.add_subcommand(s.name, s.help), s.make());
    commands.back().second->declare(*commands.back().first);
  }
  auto known = [&](const std::string& name) {
    for (const auto& [sub, command] : commands) {
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
  digitlab::app::Context ctx;
  ctx.data_root = data_root();
  ctx.argv.assign(argv, argv + argc);
  std::error_code ec;
  ctx.program = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  for (auto& [sub, command] : commands) {
    if (*sub) return command->run(ctx);
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
