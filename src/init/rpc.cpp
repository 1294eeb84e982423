// init's side of LMP RPC (rpc.hpp).
#include "rpc.hpp"

#include "lmp_transport.hpp"
#include "print.hpp"
#include "processes.hpp"

namespace aos::init {

// The child's queue is full: let it run and take its replies, but not forever. A child that does not receive
// must not stall init for everyone: it is marked stuck, and init stops it.
Result<void> ChildTransport::send(const ipc::Frame& f, const ipc::Capability* cap) {
    Result<void> r = user::send_frame(to_child_, f, cap, max_send_attempts);
    if (!r && r.error() == Errc::would_block)
        stuck_ = true;
    return r;
}

Result<void> ChildTransport::try_recv(ipc::Frame& out, ipc::Capability& cap) {
    if (!stash_)
        return error(Errc::would_block);
    out = *stash_;
    stash_.reset();
    if (stash_cap_ != abi::no_capability)
        cap = ipc::Capability{stash_cap_, 0};
    stash_cap_ = abi::no_capability;
    return ok();
}

Channel::Channel(core::StringRef name, proto::Pid pid, abi::CapAddr child_endpoint,
                 std::span<std::byte> request_buffer, MemoryServer& mm, ProcessManager& pm)
    : transport(child_endpoint), server(transport, request_buffer), name_(name), pid_(pid), mm_(mm), pm_(pm) {
}

// A channel ends with its child: waits it still has pending leave the process table unanswered.
Channel::~Channel() {
    pm_.forget_getchar(*this);
    for (PendingWait& w : waits_) {
        if (w.channel != nullptr)
            (void)pm_.table().cancel_wait(w);
    }
}

Result<void> Channel::start() {
    AOS_TRY(server.on<proto::SendNumber>(*this));
    AOS_TRY(server.on<proto::SendString>(*this));
    AOS_TRY(server.on<proto::Putchar>(*this));
    AOS_TRY(server.on<proto::RamRequest>(*this));
    AOS_TRY(server.on<proto::SpawnCmdline>(*this));
    AOS_TRY(server.on<proto::ProcessList>(*this));
    AOS_TRY(server.on<proto::Status>(*this));
    AOS_TRY(server.on<proto::NameByPid>(*this));
    AOS_TRY(server.on<proto::PidByName>(*this));
    AOS_TRY(server.on<proto::Suspend>(*this));
    AOS_TRY(server.on<proto::Resume>(*this));
    AOS_TRY(server.on<proto::Kill>(*this));
    AOS_TRY(server.on<proto::KillAll>(*this));
    AOS_TRY(server.on<proto::Wait>(*this));
    AOS_TRY(server.on<proto::Getchar>(*this));
    AOS_TRY(server.on<proto::SpawnWithCaps>(*this));
    AOS_TRY(server.on<proto::SpawnDefault>(*this));
    AOS_TRY(server.on<proto::Handshake>(*this));
    return ok();
}

Answer<proto::SendNumber> Channel::operator()(const proto::SendNumber& m,
                                              ipc::ReplyToken<proto::SendNumber>) {
    sys::print("init: number {} from {}\n", m.number, name_);
    return std::optional<proto::Ack>{proto::Ack{}};
}

// One string, however long: printed in one piece per debug_print call.
Answer<proto::SendString> Channel::operator()(const proto::SendString& m,
                                              ipc::ReplyToken<proto::SendString>) {
    sys::print("init: string of {} bytes from {}: ", m.text.size, name_);
    for (std::size_t at = 0; at < m.text.size; at += abi::debug_print_max) {
        std::size_t n = m.text.size - at < abi::debug_print_max ? m.text.size - at : abi::debug_print_max;
        (void)sys::debug_print(m.text.data + at, n);
    }
    (void)sys::debug_print("\n", 1);
    return std::optional<proto::Ack>{proto::Ack{}};
}

Answer<proto::Putchar> Channel::operator()(const proto::Putchar& m, ipc::ReplyToken<proto::Putchar>) {
    (void)sys::debug_print(&m.c, 1);
    return std::optional<proto::Ack>{proto::Ack{}};
}

// RAM is accounted to the child: init keeps the grant and takes it back when the child ends. The child gets a
// copy of a capability *derived* from the grant, so the revoke at the end reaches every copy the child made
// or passed on; a copy of the grant itself would survive it.
Answer<proto::RamRequest> Channel::operator()(const proto::RamRequest& m,
                                              ipc::ReplyToken<proto::RamRequest>) {
    if (grant_count_ == max_grants)
        return error(Errc::no_memory);
    RamGrant g = AOS_TRY(mm_.alloc(m.size, m.alignment));
    Result<user::SlotAllocator::Slot> derived = pm_.slots().alloc();
    Result<void> retyped = derived ? sys::cap_retype(g.cap.slot.addr(), abi::ObjType::ram, 0, g.size, 1,
                                                     derived->cnode, derived->index)
                                   : Result<void>(error(derived.error()));
    if (!retyped) {
        if (derived)
            pm_.slots().free(*derived);
        (void)mm_.free(g);
        return error(retyped.error());
    }
    grants_[grant_count_] = g;
    derived_[grant_count_++] = *derived;
    return std::optional<proto::RamReply>{proto::RamReply{ipc::Capability{derived->addr(), g.size}, g.size}};
}

std::uint64_t Channel::ram_bytes() const {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < grant_count_; ++i)
        n += grants_[i].size;
    return n;
}

void Channel::return_grants() {
    for (std::size_t i = 0; i < grant_count_; ++i) {
        (void)sys::cap_revoke(grants_[i].cap.slot.addr()); // every derived copy, wherever it went
        pm_.slots().free(derived_[i]);
        (void)mm_.free(grants_[i]);
    }
    grant_count_ = 0;
}

Answer<proto::SpawnCmdline> Channel::operator()(const proto::SpawnCmdline& m,
                                                ipc::ReplyToken<proto::SpawnCmdline>) {
    proto::Pid pid = AOS_TRY(pm_.spawn(m.cmdline, m.core));
    return std::optional<proto::SpawnReply>{proto::SpawnReply{pid}};
}

namespace {
proto::ProcessState state_of(proc::ProcessState s) {
    switch (s) {
    case proc::ProcessState::running:
        return proto::ProcessState::running;
    case proc::ProcessState::suspended:
        return proto::ProcessState::suspended;
    case proc::ProcessState::exited:
        return proto::ProcessState::exited;
    }
    return proto::ProcessState::running;
}
} // namespace

Answer<proto::ProcessList> Channel::operator()(const proto::ProcessList&,
                                               ipc::ReplyToken<proto::ProcessList>) {
    std::size_t pos = 0;
    std::uint32_t count = 0;
    Result<void> written = ok();
    pm_.table().for_each([&](const proc::Process& p) {
        if (written)
            written = ipc::write_record(proto::ProcessInfo{p.pid, state_of(p.state), 0, p.name},
                                        std::span<std::byte>(reply_buffer_), pos);
        count += written ? 1 : 0;
    });
    AOS_TRY(written);
    return std::optional<proto::ProcessListReply>{
        proto::ProcessListReply{count, std::span<const std::byte>(reply_buffer_, pos)}};
}

Answer<proto::Status> Channel::operator()(const proto::Status& m, ipc::ReplyToken<proto::Status>) {
    const proc::Process* p = AOS_TRY(pm_.table().find(m.pid));
    return std::optional<proto::StatusReply>{
        proto::StatusReply{p->pid, state_of(p->state), 0, p->exit_status, pm_.ram_of(p->pid), p->name}};
}

Answer<proto::NameByPid> Channel::operator()(const proto::NameByPid& m, ipc::ReplyToken<proto::NameByPid>) {
    const proc::Process* p = AOS_TRY(pm_.table().find(m.pid));
    return std::optional<proto::NameReply>{proto::NameReply{p->name}};
}

Answer<proto::PidByName> Channel::operator()(const proto::PidByName& m, ipc::ReplyToken<proto::PidByName>) {
    proto::Pid pid = AOS_TRY(pm_.table().find_by_name(m.name));
    return std::optional<proto::PidReply>{proto::PidReply{pid}};
}

Answer<proto::Suspend> Channel::operator()(const proto::Suspend& m, ipc::ReplyToken<proto::Suspend>) {
    AOS_TRY(pm_.control(m.pid, abi::CapOp::dispatcher_suspend));
    (void)pm_.table().suspend(m.pid);
    return std::optional<proto::Ack>{proto::Ack{}};
}

Answer<proto::Resume> Channel::operator()(const proto::Resume& m, ipc::ReplyToken<proto::Resume>) {
    AOS_TRY(pm_.control(m.pid, abi::CapOp::dispatcher_resume));
    (void)pm_.table().resume(m.pid);
    return std::optional<proto::Ack>{proto::Ack{}};
}

Answer<proto::Kill> Channel::operator()(const proto::Kill& m, ipc::ReplyToken<proto::Kill>) {
    AOS_TRY(pm_.control(m.pid, abi::CapOp::dispatcher_stop));
    return std::optional<proto::Ack>{proto::Ack{}};
}

Answer<proto::KillAll> Channel::operator()(const proto::KillAll& m, ipc::ReplyToken<proto::KillAll>) {
    std::uint32_t n = AOS_TRY(pm_.kill_all(m.name));
    return std::optional<proto::KillAllReply>{proto::KillAllReply{n}};
}

// The capability came beside the request (init's landing slot): the child gets a copy after its endpoints.
Answer<proto::SpawnWithCaps> Channel::operator()(const proto::SpawnWithCaps& m,
                                                 ipc::ReplyToken<proto::SpawnWithCaps>) {
    if (m.caps.ref == 0)
        return error(Errc::invalid_argument); // no capability came with it
    proto::Pid pid = AOS_TRY(pm_.spawn(m.cmdline, m.core, m.caps.ref));
    return std::optional<proto::SpawnReply>{proto::SpawnReply{pid}};
}

// The boot image keeps no arguments per module, so a program's default command line is its name.
Answer<proto::SpawnDefault> Channel::operator()(const proto::SpawnDefault& m,
                                                ipc::ReplyToken<proto::SpawnDefault>) {
    proto::Pid pid = AOS_TRY(pm_.spawn(m.name, m.core));
    return std::optional<proto::SpawnReply>{proto::SpawnReply{pid}};
}

// The channel exists from the spawn on (init made both ends), so the handshake only tells the caller who it
// is; the endpoint that comes with it is not needed and goes with the landing slot.
Answer<proto::Handshake> Channel::operator()(const proto::Handshake&, ipc::ReplyToken<proto::Handshake>) {
    return std::optional<proto::HandshakeReply>{proto::HandshakeReply{pid_}};
}

// Deferred when nothing was typed yet: init answers when the console's notice comes.
Answer<proto::Getchar> Channel::operator()(const proto::Getchar&, ipc::ReplyToken<proto::Getchar> token) {
    std::optional<char> c = AOS_TRY(pm_.getchar(*this, token));
    if (!c)
        return std::optional<proto::GetcharReply>{};
    return std::optional<proto::GetcharReply>{proto::GetcharReply{*c}};
}

// A deferred reply: the process table calls back when the process exits.
Answer<proto::Wait> Channel::operator()(const proto::Wait& m, ipc::ReplyToken<proto::Wait> token) {
    PendingWait* w = nullptr;
    for (PendingWait& slot : waits_) {
        if (slot.channel == nullptr)
            w = &slot;
    }
    if (w == nullptr)
        return error(Errc::no_memory);
    w->channel = this;
    w->token = token;
    w->done = [](proc::ProcessWaiter& self) {
        auto& pw = static_cast<PendingWait&>(self);
        Channel* c = pw.channel;
        pw.channel = nullptr;
        (void)c->server.reply(pw.token, proto::WaitReply{pw.status});
    };
    if (Result<void> r = pm_.table().wait(m.pid, *w); !r) {
        w->channel = nullptr;
        return error(r.error());
    }
    return std::optional<proto::WaitReply>{}; // answered later
}

} // namespace aos::init
