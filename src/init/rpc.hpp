// init's side of LMP RPC: one channel per child (a badged endpoint to init, the child's own endpoint back),
// each with the library's ipc::Server over a transport that hands it the frames init received for that
// child, and a handler per protocol message init serves.
#pragma once

#include "memory.hpp"

#include <aos/core/string_ref.hpp>
#include <aos/ipc/frame.hpp>
#include <aos/ipc/rpc.hpp>
#include <aos/proc/process_table.hpp>
#include <aos/proto/messages.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace aos::init {

class ProcessManager;

// A child's side of the server: replies go out through the child's endpoint; requests are the frames init
// took from its own endpoint with this child's badge.
class ChildTransport {
public:
    explicit ChildTransport(abi::CapAddr child_endpoint) : to_child_(child_endpoint) {}

    static constexpr unsigned max_send_attempts = 1000;

    Result<void> send(const ipc::Frame& f, const ipc::Capability* cap);
    bool stuck() const { return stuck_; }
    Result<void> try_recv(ipc::Frame& out, ipc::Capability& cap);
    void deliver(const ipc::Frame& f, abi::CapAddr cap) {
        stash_ = f;
        stash_cap_ = cap;
    }

private:
    abi::CapAddr to_child_;
    std::optional<ipc::Frame> stash_;
    abi::CapAddr stash_cap_ = abi::no_capability;
    bool stuck_ = false;
};
static_assert(ipc::Transport<ChildTransport>);

template <class Req>
using Answer = Result<std::optional<typename Req::Response>>;

// A `wait` waiting: answered from the process table when the process exits.
struct PendingWait : proc::ProcessWaiter {
    class Channel* channel = nullptr;
    ipc::ReplyToken<proto::Wait> token;
};

// Per child: its channel, its server and what it was given (returned when it ends).
class Channel {
public:
    // The largest request: a 1 MiB string and its header (the reassembly buffer init maps per child slot).
    static constexpr std::size_t request_bytes = 1024 * 1024 + 4096;
    static constexpr std::size_t reply_bytes = 4096;
    static constexpr std::size_t max_grants = 64; // RAM requests a child may have outstanding
    static constexpr std::size_t max_waits = 4;

    Channel(core::StringRef name, proto::Pid pid, abi::CapAddr child_endpoint,
            std::span<std::byte> request_buffer, MemoryServer& mm, ProcessManager& pm);
    ~Channel();
    Result<void> start();

    ChildTransport transport;
    ipc::Server<ChildTransport> server;

    std::uint64_t ram_bytes() const;
    // Gives back every RAM grant (after the child's capabilities are gone).
    void return_grants();

    // The handlers, one per message (the server calls them by type).
    Answer<proto::SendNumber> operator()(const proto::SendNumber& m, ipc::ReplyToken<proto::SendNumber>);
    Answer<proto::SendString> operator()(const proto::SendString& m, ipc::ReplyToken<proto::SendString>);
    Answer<proto::Putchar> operator()(const proto::Putchar& m, ipc::ReplyToken<proto::Putchar>);
    Answer<proto::RamRequest> operator()(const proto::RamRequest& m, ipc::ReplyToken<proto::RamRequest>);
    Answer<proto::SpawnCmdline> operator()(const proto::SpawnCmdline& m,
                                           ipc::ReplyToken<proto::SpawnCmdline>);
    Answer<proto::ProcessList> operator()(const proto::ProcessList& m, ipc::ReplyToken<proto::ProcessList>);
    Answer<proto::Status> operator()(const proto::Status& m, ipc::ReplyToken<proto::Status>);
    Answer<proto::NameByPid> operator()(const proto::NameByPid& m, ipc::ReplyToken<proto::NameByPid>);
    Answer<proto::PidByName> operator()(const proto::PidByName& m, ipc::ReplyToken<proto::PidByName>);
    Answer<proto::Suspend> operator()(const proto::Suspend& m, ipc::ReplyToken<proto::Suspend>);
    Answer<proto::Resume> operator()(const proto::Resume& m, ipc::ReplyToken<proto::Resume>);
    Answer<proto::Kill> operator()(const proto::Kill& m, ipc::ReplyToken<proto::Kill>);
    Answer<proto::KillAll> operator()(const proto::KillAll& m, ipc::ReplyToken<proto::KillAll>);
    Answer<proto::Wait> operator()(const proto::Wait& m, ipc::ReplyToken<proto::Wait>);
    Answer<proto::Getchar> operator()(const proto::Getchar& m, ipc::ReplyToken<proto::Getchar>);
    Answer<proto::SpawnWithCaps> operator()(const proto::SpawnWithCaps& m,
                                            ipc::ReplyToken<proto::SpawnWithCaps>);
    Answer<proto::SpawnDefault> operator()(const proto::SpawnDefault& m,
                                           ipc::ReplyToken<proto::SpawnDefault>);
    Answer<proto::Handshake> operator()(const proto::Handshake& m, ipc::ReplyToken<proto::Handshake>);

private:
    core::StringRef name_;
    proto::Pid pid_;
    MemoryServer& mm_;
    ProcessManager& pm_;
    std::byte reply_buffer_[reply_bytes];
    RamGrant grants_[max_grants];
    user::SlotAllocator::Slot derived_[max_grants]; // init's capability derived from each grant
    std::size_t grant_count_ = 0;
    PendingWait waits_[max_waits];
};

} // namespace aos::init
