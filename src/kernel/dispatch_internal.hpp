// Between dispatch.cpp (dispatchers, scheduling, system calls) and boot_programs.cpp (the programs the
// kernel loads at boot, init's CSpace and bootinfo). Not for the rest of the kernel: dispatch.hpp is.
#pragma once

#include "caps.hpp"
#include "dispatcher.hpp"
#include "platform.hpp"

#include <aos/core/result.hpp>
#include <aos/core/string_ref.hpp>

#include <cstdint>

namespace kernel {

// boot_programs.cpp: a frame from the boot frame allocator (boot_frames_init, in dispatch.hpp).
aos::Result<std::uint64_t> boot_frames_alloc(std::uint64_t bytes);

// dispatch.cpp: a free boot slot made a dispatcher with an empty address space (its tables from the boot
// allocator) and the given name; the dispatcher with that id, or null; a capability to it with every
// right.
aos::Result<Dispatcher*> new_dispatcher(aos::core::StringRef name);
Dispatcher* dispatcher_by_id(std::uint64_t id);
Capability dispatcher_cap(const Dispatcher& d);

} // namespace kernel
