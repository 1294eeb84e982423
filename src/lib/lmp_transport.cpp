// LMP as an aos::ipc::Transport (lmp_transport.hpp).
#include "lmp_transport.hpp"

namespace aos::user {

Result<void> send_frame(abi::CapAddr to, const ipc::Frame& f, const ipc::Capability* cap,
                        unsigned max_attempts) {
    sys::LmpWords words;
    for (std::size_t i = 0; i < abi::lmp_words; ++i)
        words[i] = f.words[i];
    abi::CapAddr c = cap != nullptr ? cap->ref : abi::no_capability;
    for (unsigned attempt = 0; max_attempts == 0 || attempt < max_attempts; ++attempt) {
        Result<void> r = sys::lmp_send(to, words, c);
        if (r || r.error() != Errc::would_block)
            return r;
        (void)sys::yield();
    }
    return error(Errc::would_block);
}

// Backpressure from init: wait as long as it takes.
Result<void> LmpTransport::send(const ipc::Frame& f, const ipc::Capability* cap) {
    return send_frame(send_to_, f, cap, 0);
}

// A capability delivered with an earlier frame lives in the landing slot only until the next receive: what
// the caller did not move out by then goes, so an unexpected capability cannot block the channel.
Result<void> LmpTransport::receive(bool block) {
    if (landed_) {
        (void)sys::cap_delete(landing_.addr());
        landed_ = false;
    }
    held_ = AOS_TRY(sys::lmp_receive(receive_on_, block, abi::destination(landing_.cnode, landing_.index)));
    holding_ = true;
    landed_ = (held_.flags & abi::lmp_cap_delivered) != 0;
    return ok();
}

Result<void> LmpTransport::wait_for_frame() {
    if (holding_)
        return ok();
    return receive(true);
}

Result<void> LmpTransport::try_recv(ipc::Frame& out, ipc::Capability& cap) {
    if (!holding_)
        AOS_TRY(receive(false));
    holding_ = false;
    for (std::size_t i = 0; i < abi::lmp_words; ++i)
        out.words[i] = held_.words[i];
    if ((held_.flags & abi::lmp_cap_delivered) != 0) {
        Result<sys::CapIdentity> id = sys::cap_identify(landing_.addr());
        cap = ipc::Capability{landing_.addr(), id ? id->size : 0};
    }
    return ok();
}

} // namespace aos::user
