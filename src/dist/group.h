// The Gloo process group behind data-parallel training.
#pragma once

#include <memory>

#include "dist/env.h"

namespace digitlab::train {
class Collective;  // train/collective.h; kept out of this header so callers need no torch
}
namespace digitlab::tune {
class Sync;  // tune/sync.h
}

namespace digitlab::dist {

// Joins the group `env` describes: a c10d TCPStore at MASTER_ADDR:MASTER_PORT (served by rank
// 0) and a ProcessGroupGloo over it (the network interface from GLOO_SOCKET_IFNAME, else the
// one MASTER_ADDR is reached by). Requires env.active. Guarantees: returns once every rank has
// joined; throws core::RuntimeError naming the rank and the cause when they have not within
// `timeout_seconds`. The returned group turns a lost or late rank into core::RuntimeError within
// the same timeout.
std::shared_ptr<train::Collective> join_group(const DistEnv& env, double timeout_seconds);

// Joins a distributed search: the TCPStore of `env` (served by rank 0) carries each round's
// exchange between the `tune` ranks. Joining waits `timeout_seconds` for the others; a round
// waits up to 24 hours (trials take long), then throws core::RuntimeError.
std::shared_ptr<tune::Sync> join_search(const DistEnv& env, double timeout_seconds);

}  // namespace digitlab::dist
