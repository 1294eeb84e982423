// init's side of LMP RPC (rpc.hpp).
#include "rpc.hpp"

#include "print.hpp"

namespace aos::init {

Result<void> ChildTransport::send(const ipc::Frame& f, const ipc::Capability* cap) {
    sys::LmpWords words;
    for (std::size_t i = 0; i < abi::lmp_words; ++i)
        words[i] = f.words[i];
    abi::CapAddr c = cap != nullptr ? cap->ref : abi::no_capability;
    for (;;) {
        Result<void> r = sys::lmp_send(to_child_, words, c);
        if (r || r.error() != Errc::would_block)
            return r;
        (void)sys::yield(); // the child's queue is full: let it run
    }
}

Result<void> ChildTransport::try_recv(ipc::Frame& out, ipc::Capability&) {
    if (!stash_)
        return error(Errc::would_block);
    out = *stash_;
    stash_.reset();
    return ok();
}

Channel::Channel(const char* n, abi::CapAddr child_endpoint, MemoryServer& memory)
    : name(n), mm(memory), transport(child_endpoint),
      server(transport, std::span<std::byte>(request_buffer)) {}

Result<void> Channel::start() {
    AOS_TRY(server.on<proto::SendNumber>(on_number));
    AOS_TRY(server.on<proto::SendString>(on_string));
    AOS_TRY(server.on<proto::Putchar>(on_putchar));
    AOS_TRY(server.on<proto::RamRequest>(on_ram));
    return ok();
}

Result<std::optional<proto::Ack>> Channel::OnNumber::operator()(const proto::SendNumber& m,
                                                                ipc::ReplyToken<proto::SendNumber>) {
    sys::print("init: number {} from {}\n", m.number, c->name);
    return std::optional<proto::Ack>{proto::Ack{}};
}

// One string, however long: printed in one piece per debug_print call, with nothing else in between.
Result<std::optional<proto::Ack>> Channel::OnString::operator()(const proto::SendString& m,
                                                                ipc::ReplyToken<proto::SendString>) {
    sys::print("init: string of {} bytes from {}: ", m.text.size, c->name);
    for (std::size_t at = 0; at < m.text.size; at += abi::debug_print_max) {
        std::size_t n = m.text.size - at < abi::debug_print_max ? m.text.size - at : abi::debug_print_max;
        (void)sys::debug_print(m.text.data + at, n);
    }
    (void)sys::debug_print("\n", 1);
    return std::optional<proto::Ack>{proto::Ack{}};
}

Result<std::optional<proto::Ack>> Channel::OnPutchar::operator()(const proto::Putchar& m,
                                                                 ipc::ReplyToken<proto::Putchar>) {
    (void)sys::debug_print(&m.c, 1);
    return std::optional<proto::Ack>{proto::Ack{}};
}

// RAM is accounted to the child: init keeps the grant and takes it back when the child ends.
Result<std::optional<proto::RamReply>> Channel::OnRam::operator()(const proto::RamRequest& m,
                                                                  ipc::ReplyToken<proto::RamRequest>) {
    if (c->grant_count == max_grants)
        return error(Errc::no_memory);
    RamGrant g = AOS_TRY(c->mm.alloc(m.size, m.alignment));
    c->grants[c->grant_count++] = g;
    return std::optional<proto::RamReply>{
        proto::RamReply{ipc::Capability{g.cap.slot.addr(), g.size}, g.size}};
}

void Channel::return_grants() {
    for (std::size_t i = 0; i < grant_count; ++i)
        (void)mm.free(grants[i]);
    grant_count = 0;
}

} // namespace aos::init
