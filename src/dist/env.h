// Data-parallel process groups as torchrun describes them, and `digitlab launch`; no torch.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace digitlab::dist {

// torchrun's variables: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK,
// LOCAL_WORLD_SIZE.
struct DistEnv {
  bool active = false;  // WORLD_SIZE was set
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int world_size = 1, rank = 0, local_rank = 0, local_world_size = 1;
};

// Reads the variables through `get` (getenv in the program). Requires nothing. Guarantees: active
// when WORLD_SIZE is set, then RANK in [0, WORLD_SIZE), LOCAL_RANK in [0, LOCAL_WORLD_SIZE) and a
// port in 1..65535 (defaults: 127.0.0.1, 29500, LOCAL_RANK = RANK, LOCAL_WORLD_SIZE =
// WORLD_SIZE); throws core::UsageError naming the variable otherwise.
DistEnv dist_env(const std::function<const char*(const char*)>& get);

// Compute threads for one rank when the user gave none: the cores shared by the local ranks.
int threads_per_rank(const DistEnv& env);

struct LaunchOptions {
  int nproc = 1;   // ranks on this machine
  int nnodes = 1;  // machines
  int node_rank = 0;
  std::string master = "127.0.0.1:29500";  // HOST:PORT of rank 0's store
  double timeout = 60;                     // seconds the others get to end after one rank failed
  std::vector<std::string> command;        // digitlab arguments, e.g. {"train", "--epochs", "3"}
  std::string program;                     // the digitlab executable
};

// `digitlab launch`: starts `nproc` local ranks of `program command...` with torchrun's variables
// (RANK = node_rank * nproc + local rank). Rank output goes to this process's stdout/stderr.
// When a rank fails, the others get `timeout` seconds to end (their group notices the loss),
// then SIGTERM. Ctrl-C/SIGTERM to launch is passed on once. Returns the first failing rank's
// exit code, or 0. Throws core::UsageError for bad options.
int launch_command(const LaunchOptions& options);

}  // namespace digitlab::dist
