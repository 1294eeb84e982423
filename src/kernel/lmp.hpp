// LMP: endpoints made by retype from RAM, each a queue of small messages (eight words, a badge and at most
// one capability) with the dispatchers waiting to receive from it.
#pragma once

#include "arch/aarch64/trap_frame.hpp"
#include "caps.hpp"

#include <aos/abi/capability.hpp>

#include <cstdint>

namespace kernel {

struct Dispatcher;

inline constexpr unsigned lmp_queue_length = aos::abi::lmp_queue_length;

// The endpoint object in zeroed memory at `pa` (retype).
void endpoint_construct(std::uint64_t pa);
// The last capability to the endpoint at `pa` went: its waiting receivers wake with not_found, and the
// capabilities still queued in it are handed back (up to lmp_queue_length) for the caller to release.
unsigned endpoint_destroy(std::uint64_t pa, Cte* (&queued)[lmp_queue_length]);

bool is_endpoint_op(aos::abi::CapOp op);
// Send reads the frame and capability registers, receive writes its results into `frame` (x0..x11).
InvokeOutcome invoke_endpoint(const Cte& root, const Cte& target, aos::abi::CapOp op, TrapFrame& frame);
// The dispatcher given the endpoint at `pa` with `badge` for its end has ended: a waiting receiver hears at
// once, otherwise the badge's bit waits in the endpoint.
void endpoint_notify(std::uint64_t pa, std::uint64_t badge);

// A receiver stops waiting (it was suspended or stopped).
void lmp_cancel_receive(Dispatcher& d);

} // namespace kernel
