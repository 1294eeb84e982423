// What the randomized programs share: a seed from an argument (the library's number parser) or the clock,
// and a small deterministic generator, so that a printed seed repeats a run exactly.
//
//   aos::user::Rng rng{aos::user::seed_from(argc > 1 ? argv[1] : nullptr)};
//   aos::sys::print("prog: seed {}\n", rng.s);
#pragma once

#include "syscalls.hpp"

#include <aos/boot/cmdline.hpp>
#include <aos/core/string_ref.hpp>

#include <cstdint>

namespace aos::user {

// xorshift64*: small, deterministic from the seed (which must not be 0).
struct Rng {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1d;
    }
    std::uint64_t below(std::uint64_t n) { return next() % n; }
};

// `arg` as a number (decimal or 0x-hexadecimal) when it is one, else a seed from the counter; made odd,
// never 0.
inline std::uint64_t seed_from(const char* arg) {
    Result<std::uint64_t> n = arg != nullptr ? boot::CommandLine::parse_u64(core::StringRef::from_c_str(arg))
                                             : Result<std::uint64_t>(error(Errc::not_found));
    return (n ? *n : sys::counter()) | 1;
}

} // namespace aos::user
