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

Result<void> LmpTransport::receive(bool block) {
    held_ = AOS_TRY(sys::lmp_receive(receive_on_, block, abi::destination(landing_.cnode, landing_.index)));
    holding_ = true;
    return ok();
}

// Into the next empty arrival slot (a copy into a full one is refused), so a capability waits there until
// its taker moves it out; when all are full, the oldest goes. no_capability if the move failed; the landing
// slot is emptied either way.
abi::CapAddr LmpTransport::move_to_arrival() {
    abi::CapAddr moved = abi::no_capability;
    for (std::uint32_t k = 0; k <= arrivals_ && moved == abi::no_capability; ++k) {
        std::uint32_t i = (next_arrival_ + k) % arrivals_;
        SlotAllocator::Slot a{first_arrival_.cnode, first_arrival_.index + i};
        if (k == arrivals_)
            (void)sys::cap_delete(a.addr()); // every one is full: the oldest goes
        if (sys::cap_copy(landing_.addr(), a.cnode, a.index)) {
            moved = a.addr();
            next_arrival_ = (i + 1) % arrivals_;
        }
    }
    (void)sys::cap_delete(landing_.addr());
    return moved;
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
    out = frame_of(held_.words);
    if ((held_.flags & abi::lmp_cap_delivered) != 0)
        cap = ipc::Capability{move_to_arrival(), 0};
    return ok();
}

} // namespace aos::user
