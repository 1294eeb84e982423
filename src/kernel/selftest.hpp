// Boot-time self tests chosen with `selftest=NAME` on the kernel command line; the system tests use them to
// prove that the kernel reports faults and ends the run with the right status.
#pragma once

#include "power.hpp"

#include <aos/boot/cmdline.hpp>

namespace kernel {

// Runs the named test; returns its status (a fault test does not return: the fault ends the run).
ExitStatus run_selftest(aos::boot::StringRef name, const aos::boot::CommandLine& cmdline);

} // namespace kernel
