// The checks of the test programs, counted one way: each prints "<program>: <what>: ok" (or only its
// failures, when quiet) and "FAILED" on a failure, and finish() prints "<program>: N checks, M failed",
// which the QEMU system tests read.
//
//   aos::user::Checks checks("captest");
//   checks.check("the root CNode is there", aos::sys::cap_identify(root).has_value());
//   checks.refused("a copy into itself", aos::sys::invoke(...), aos::Errc::invalid_argument, 2);
//   return checks.finish();
#pragma once

#include "caps.hpp"
#include "print.hpp"

#include <aos/abi/syscall.hpp>
#include <aos/core/errc.hpp>

#include <cstdint>

namespace aos::user {

class Checks {
public:
    constexpr explicit Checks(const char* program, bool quiet = false) : program_(program), quiet_(quiet) {}

    bool check(const char* what, bool good) {
        ++checks_;
        failed_ += good ? 0 : 1;
        if (!good || !quiet_)
            sys::print("{}: {}: {}\n", program_, what, good ? "ok" : "FAILED");
        return good;
    }

    // A raw invocation that must be refused with `e`, naming argument register `arg`.
    bool refused(const char* what, const sys::InvokeResult& r, Errc e, std::uint64_t arg) {
        bool good = r.error == static_cast<std::uint64_t>(e) && r.value[0] == arg;
        ++checks_;
        failed_ += good ? 0 : 1;
        if (r.error == abi::syscall_success)
            sys::print("{}: {}: accepted (FAILED)\n", program_, what);
        else if (!good || !quiet_)
            sys::print("{}: {}: {} in argument {}{}\n", program_, what, static_cast<Errc>(r.error),
                       r.value[0], good ? "" : " (FAILED)");
        return good;
    }

    // Prints the count; the exit status: 0 when nothing failed.
    int finish() const {
        sys::print("{}: {} checks, {} failed\n", program_, checks_, failed_);
        return failed_ == 0 ? 0 : 1;
    }

private:
    const char* program_;
    bool quiet_;
    unsigned checks_ = 0;
    unsigned failed_ = 0;
};

} // namespace aos::user
