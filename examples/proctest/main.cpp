// Process management through init: spawns children by RPC, lists them, looks them up by name and PID,
// suspends, resumes and kills a ticking process (watching its ticks), kills all of one name, and waits for
// children that exit with distinct statuses. Prints one line per check and a summary.
#include "checks.hpp"
#include "print.hpp"
#include "rpc_client.hpp"

#include <aos/proto/messages.hpp>

namespace {

constinit aos::user::Checks checks{"proctest"};

using aos::core::StringRef;
using aos::proto::ProcessState;

constexpr std::uint64_t us_per_ms = 1000;

bool state_is(aos::rpc::Pid pid, ProcessState s) {
    aos::Result<aos::rpc::ProcessStatus> st = aos::rpc::status(pid);
    return st && st->state == static_cast<std::uint8_t>(s);
}

} // namespace

int main() {
    aos::Result<aos::rpc::Pid> ticker = aos::rpc::spawn(StringRef::from_c_str("ticker"));
    checks.check("spawn ticker", ticker.has_value());
    if (!ticker)
        return 1;
    aos::rpc::ProcessEntry list[16];
    aos::Result<std::size_t> n = aos::rpc::process_list(list, 16);
    bool listed = false;
    for (std::size_t i = 0; n && i < *n; ++i)
        listed = listed || (list[i].pid == *ticker && StringRef::from_c_str(list[i].name).equals("ticker"));
    checks.check("the process list has it", listed);
    aos::Result<aos::rpc::Pid> by_name = aos::rpc::pid_by_name(StringRef::from_c_str("ticker"));
    checks.check("its PID by name", by_name && *by_name == *ticker);
    char name[32];
    checks.check("its name by PID", aos::rpc::name_by_pid(*ticker, name, sizeof(name)) &&
                                        StringRef::from_c_str(name).equals("ticker"));
    checks.check("it is running", state_is(*ticker, ProcessState::running));
    checks.check("status of a PID nobody has",
                 !aos::rpc::status(0x00ff0000) &&
                     aos::rpc::status(0x00ff0000).error() == aos::Errc::not_found);
    aos::Result<aos::rpc::Pid> missing = aos::rpc::spawn(StringRef::from_c_str("nosuch"));
    checks.check("spawn an unknown program", !missing && missing.error() == aos::Errc::not_found);

    (void)aos::sys::sleep_us(60 * us_per_ms);
    checks.check("suspend it",
                 aos::rpc::suspend(*ticker).has_value() && state_is(*ticker, ProcessState::suspended));
    aos::sys::print("proctest: ticker suspended\n");
    (void)aos::sys::sleep_us(150 * us_per_ms);
    aos::sys::print("proctest: resuming ticker\n");
    checks.check("resume it",
                 aos::rpc::resume(*ticker).has_value() && state_is(*ticker, ProcessState::running));
    (void)aos::sys::sleep_us(60 * us_per_ms);
    checks.check("kill it", aos::rpc::kill(*ticker).has_value());
    aos::Result<std::int32_t> killed = aos::rpc::wait(*ticker);
    checks.check("wait reports the kill", killed && *killed == -1);

    aos::Result<aos::rpc::Pid> a = aos::rpc::spawn(StringRef::from_c_str("ticker"));
    aos::Result<aos::rpc::Pid> b = aos::rpc::spawn(StringRef::from_c_str("ticker"));
    aos::Result<std::uint32_t> all = aos::rpc::kill_all(StringRef::from_c_str("ticker"));
    checks.check("kill all tickers", a && b && all && *all == 2 && aos::rpc::wait(*a) && aos::rpc::wait(*b));

    aos::Result<aos::rpc::Pid> me = aos::rpc::handshake();
    aos::Result<aos::rpc::Pid> me_by_name = aos::rpc::pid_by_name(StringRef::from_c_str("proctest"));
    checks.check("the handshake names this process", me && me_by_name && *me == *me_by_name);
    aos::Result<aos::rpc::Pid> plain = aos::rpc::spawn_default(StringRef::from_c_str("exitwith"));
    aos::Result<std::int32_t> s0 =
        plain ? aos::rpc::wait(*plain) : aos::Result<std::int32_t>(aos::error(aos::Errc::not_found));
    checks.check("spawn by name alone (no arguments: status 0)", s0 && *s0 == 0);

    aos::Result<aos::rpc::Pid> three = aos::rpc::spawn(StringRef::from_c_str("exitwith 3"));
    aos::Result<aos::rpc::Pid> five = aos::rpc::spawn(StringRef::from_c_str("exitwith 5"));
    aos::Result<std::int32_t> s5 =
        five ? aos::rpc::wait(*five) : aos::Result<std::int32_t>(aos::error(aos::Errc::not_found));
    aos::Result<std::int32_t> s3 =
        three ? aos::rpc::wait(*three) : aos::Result<std::int32_t>(aos::error(aos::Errc::not_found));
    checks.check("wait returns each child's status", s3 && *s3 == 3 && s5 && *s5 == 5);
    return checks.finish();
}
