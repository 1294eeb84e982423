// Calls init over LMP through the library's RPC client: a number, a string longer than many frames, a few
// characters, and RAM (which it retypes, maps... here: identifies and checks the size of).
#include "caps.hpp"
#include "heap.hpp"
#include "print.hpp"
#include "rpc_client.hpp"

namespace {

constexpr std::size_t long_string = 3000;
char text[long_string + 1];

} // namespace

int main() {
    bool ok = aos::rpc::send_number(42).has_value();
    for (std::size_t i = 0; i < long_string; ++i)
        text[i] = static_cast<char>('a' + i % 26);
    ok = aos_rpc_send_string(text).has_value() && ok;
    for (char c : {'o', 'k', '\n'})
        ok = aos::rpc::putchar(c).has_value() && ok;
    // A 1 MiB string (from the heap): about 22 000 frames, reassembled by init into one string.
    constexpr std::size_t mib = 1024 * 1024;
    auto* big = static_cast<char*>(malloc(mib + 1));
    if (big != nullptr) {
        for (std::size_t i = 0; i < mib; ++i)
            big[i] = static_cast<char>('A' + i % 26);
        big[mib] = '\0';
        ok = aos_rpc_send_string(big).has_value() && ok;
        free(big);
    }
    ok = big != nullptr && ok;
    // Longer than init takes in (its buffer is 1 MiB): refused with an error, not cut and not left
    // unanswered.
    constexpr std::size_t too_long = mib + mib / 2;
    auto* huge = static_cast<char*>(malloc(too_long + 1));
    if (huge != nullptr) {
        for (std::size_t i = 0; i < too_long; ++i)
            huge[i] = 'x';
        huge[too_long] = '\0';
        aos::Result<void> r = aos_rpc_send_string(huge);
        aos::sys::print("rpcdemo: a 1.5 MiB string: {}\n",
                        r ? "accepted (WRONG)" : aos::to_string(r.error()));
        ok = !r && ok;
        free(huge);
    }
    // 64 MiB of RAM, which init accounts to this process.
    aos::Result<aos::rpc::RamGrant> large =
        aos::rpc::get_ram(64 * mib, 4096, aos::abi::root_slot_slot_alloc0, 201);
    aos::sys::print("rpcdemo: 64 MiB from init: {}\n",
                    large && large->size == 64 * mib ? "granted" : "REFUSED");
    ok = large && ok;
    aos::Result<aos::rpc::RamGrant> ram =
        aos::rpc::get_ram(64 * 1024, 4096, aos::abi::root_slot_slot_alloc0, 200);
    aos::Result<aos::sys::CapIdentity> id =
        ram ? aos::sys::cap_identify(ram->cap)
            : aos::Result<aos::sys::CapIdentity>(aos::error(aos::Errc::not_found));
    bool ram_ok = id && id->type == aos::abi::ObjType::ram && id->size == 64 * 1024;
    aos::sys::print("rpcdemo: RAM from init: {}\n", ram_ok ? "a 64 KiB RAM capability" : "MISSING");
    // A null RPC's cost: PidByName (init looks a name up and prints nothing), many times. Instructions
    // come from the PMU (non-zero under QEMU's -icount), time from the virtual counter.
    constexpr unsigned rounds = 1000;
    std::uint64_t i0 = aos::sys::instructions();
    std::uint64_t t0 = aos::sys::counter();
    for (unsigned i = 0; i < rounds; ++i)
        ok = aos::rpc::pid_by_name(aos::core::StringRef::from_c_str("rpcdemo")).has_value() && ok;
    std::uint64_t ticks = aos::sys::counter() - t0;
    std::uint64_t instructions = (aos::sys::instructions() - i0) / rounds;
    std::uint64_t per_second = ticks == 0 ? 0 : rounds * aos::sys::counter_frequency() / ticks;
    aos::sys::print(
        "rpcdemo: null RPC round trip: {} instructions (both processes and the kernel), {} calls/s\n",
        instructions, per_second);
    aos::sys::print("rpcdemo: {}\n", ok && ram_ok ? "every call answered" : "a call FAILED");
    return ok && ram_ok ? 0 : 1;
}
