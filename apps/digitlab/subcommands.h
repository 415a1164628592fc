// The table of digitlab's subcommands: each declares its flags and makes one library call.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace digitlab::app {

// What every subcommand may need beyond its own flags.
struct Context {
  std::string data_root;          // $DIGITLAB_DATA, or ./data
  std::vector<std::string> argv;  // the whole command line, for config.json
  std::string program;            // this executable's path, for commands that start ranks
};

// One subcommand: flags are parsed into its members, then run() makes the call.
class Command {
 public:
  virtual ~Command() = default;
  // Registers the flags on `sub`; the members they write to live as long as the command.
  virtual void declare(CLI::App& sub) = 0;
  // Runs after a successful parse. Returns the exit code; throws core::Error for bad input.
  virtual int run(const Context& ctx) = 0;
};

struct Subcommand {
  const char* name;
  const char* help;
  std::unique_ptr<Command> (*make)();
};

// Every subcommand, in help order.
const std::vector<Subcommand>& subcommands();

}  // namespace digitlab::app
