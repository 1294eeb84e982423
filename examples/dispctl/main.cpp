// A test init for the dispatcher operations: with `run=dispctl,ticker,spin_a load=hello` it suspends,
// resumes and stops ticker (asleep between ticks), suspends and resumes spin_a (busy), and starts hello,
// through the dispatcher capabilities the kernel put in its CSpace; operations in the wrong state are
// refused.
#include "caps.hpp"
#include "print.hpp"

#include <aos/core/string_ref.hpp>

namespace {

constexpr std::uint64_t us_per_ms = 1000;

// The dispatcher capability of the program `name`, from bootinfo.
aos::Result<aos::abi::CapAddr> dispatcher_of(const aos::abi::BootInfo& bi, const char* name) {
    for (std::uint32_t i = 0; i < bi.program_count; ++i) {
        if (aos::core::StringRef::from_c_str(bi.programs[i].name).equals(name))
            return aos::abi::CapAddr{bi.programs[i].dispatcher};
    }
    return aos::error(aos::Errc::not_found);
}

unsigned failures = 0;

void expect(const char* what, aos::Result<void> r, aos::Errc wanted) {
    bool good = r ? false : r.error() == wanted;
    failures += good ? 0 : 1;
    aos::sys::print("dispctl: {}: {} ({})\n", what, r ? "accepted" : aos::to_string(r.error()),
                    good ? "as expected" : "WRONG");
}

void expect_ok(const char* what, aos::Result<void> r) {
    failures += r ? 0 : 1;
    if (!r)
        aos::sys::print("dispctl: {}: {} (WRONG)\n", what, r.error());
}

} // namespace

int main() {
    using namespace aos::sys;
    const aos::abi::BootInfo* bi = bootinfo();
    if (bi == nullptr)
        return 2;
    aos::Result<aos::abi::CapAddr> ticker = dispatcher_of(*bi, "ticker");
    aos::Result<aos::abi::CapAddr> spinner = dispatcher_of(*bi, "spin_a");
    aos::Result<aos::abi::CapAddr> hello = dispatcher_of(*bi, "hello");
    if (!ticker || !spinner || !hello) {
        print("dispctl: needs run=dispctl,ticker,spin_a load=hello\n");
        return 2;
    }
    aos::Result<CapIdentity> id = cap_identify(*ticker);
    if (!id || id->type != aos::abi::ObjType::dispatcher) {
        print("dispctl: the ticker capability is not a dispatcher\n");
        return 1;
    }
    print("dispctl: ticker is dispatcher {}\n", id->word);

    // A busy dispatcher is on the run queue, not asleep: suspend takes it off (for the whole ticker part
    // below), resume puts it back.
    expect_ok("suspend spin_a", dispatcher_suspend(*spinner));
    print("dispctl: suspended spin_a\n");

    expect_ok("sleep", sleep_us(60 * us_per_ms));
    expect_ok("suspend ticker", dispatcher_suspend(*ticker));
    print("dispctl: suspended ticker\n");
    expect("suspend ticker again", dispatcher_suspend(*ticker), aos::Errc::invalid_state);
    expect("start a started dispatcher", dispatcher_start(*ticker), aos::Errc::invalid_state);
    expect_ok("sleep", sleep_us(200 * us_per_ms));
    print("dispctl: resuming ticker\n");
    expect_ok("resume ticker", dispatcher_resume(*ticker));
    expect("resume ticker again", dispatcher_resume(*ticker), aos::Errc::invalid_state);
    expect_ok("sleep", sleep_us(60 * us_per_ms));
    expect_ok("stop ticker", dispatcher_stop(*ticker));
    print("dispctl: stopped ticker\n");
    expect("stop ticker again", dispatcher_stop(*ticker), aos::Errc::invalid_state);
    expect("resume a stopped dispatcher", dispatcher_resume(*ticker), aos::Errc::invalid_state);

    print("dispctl: resuming spin_a\n");
    expect_ok("resume spin_a", dispatcher_resume(*spinner));

    print("dispctl: starting hello\n");
    expect_ok("start hello", dispatcher_start(*hello));
    expect("start hello again", dispatcher_start(*hello), aos::Errc::invalid_state);
    print("dispctl: {} failures\n", failures);
    return failures == 0 ? 0 : 1;
}
