// Error codes shared by every library component, the kernel's system calls and the OS protocol.
//
//   if (auto r = alloc.free(base, size); !r) log(aos::to_string(r.error()));
#pragma once

#include <cstdint>

namespace aos {

// Values cross the system-call ABI and the message protocol: append only, never renumber.
enum class Errc : std::uint16_t {
    invalid_argument = 1, // an argument is outside what the call accepts
    misaligned,           // an address or size is not aligned as required
    zero_size,            // a size of zero where a range is needed
    overflow,             // arithmetic on the arguments would wrap around
    out_of_range,         // an address, index or offset lies outside the allowed range
    overlap,              // the range overlaps one already present
    not_found,            // nothing matches the key or address
    already_exists,       // an equal key is already present
    already_linked,       // an intrusive node is already in a container
    not_linked,           // an intrusive node is not in this container
    no_memory,            // the allocator or a policy ran out of memory
    not_allocated,        // freeing what is not allocated (or already freed)
    would_block,          // the operation cannot proceed now (full or empty)
    truncated,            // input ends before its declared length
    bad_magic,            // a format's magic number is wrong
    bad_version,          // a format's version is not supported
    malformed,            // a structural rule of a format is broken
    unsupported,          // valid, but not supported by this implementation
    busy,                 // the object is in use
    permission_denied,    // the rights do not allow the operation
    corrupt,              // an internal invariant does not hold
    invalid_state,        // the object is not in a state that allows the operation
};

constexpr const char* to_string(Errc e) {
    switch (e) {
    case Errc::invalid_argument:
        return "invalid argument";
    case Errc::misaligned:
        return "misaligned";
    case Errc::zero_size:
        return "zero size";
    case Errc::overflow:
        return "overflow";
    case Errc::out_of_range:
        return "out of range";
    case Errc::overlap:
        return "overlap";
    case Errc::not_found:
        return "not found";
    case Errc::already_exists:
        return "already exists";
    case Errc::already_linked:
        return "already linked";
    case Errc::not_linked:
        return "not linked";
    case Errc::no_memory:
        return "no memory";
    case Errc::not_allocated:
        return "not allocated";
    case Errc::would_block:
        return "would block";
    case Errc::truncated:
        return "truncated";
    case Errc::bad_magic:
        return "bad magic";
    case Errc::bad_version:
        return "bad version";
    case Errc::malformed:
        return "malformed";
    case Errc::unsupported:
        return "unsupported";
    case Errc::busy:
        return "busy";
    case Errc::permission_denied:
        return "permission denied";
    case Errc::corrupt:
        return "corrupt";
    case Errc::invalid_state:
        return "invalid state";
    }
    return "unknown error";
}

} // namespace aos
