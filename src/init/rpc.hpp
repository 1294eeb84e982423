// init's side of LMP RPC: one channel per child (a badged endpoint to init, the child's own endpoint back),
// each with the library's ipc::Server over a transport that hands it the frames init received for that
// child. Served so far: send number, send string, putchar, RAM request.
#pragma once

#include "memory.hpp"

#include <aos/ipc/frame.hpp>
#include <aos/ipc/rpc.hpp>
#include <aos/proto/messages.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace aos::init {

// A child's side of the server: replies go out through the child's endpoint; requests are the frames init
// took from its own endpoint with this child's badge.
class ChildTransport {
public:
    explicit ChildTransport(abi::CapAddr child_endpoint) : to_child_(child_endpoint) {}

    Result<void> send(const ipc::Frame& f, const ipc::Capability* cap);
    Result<void> try_recv(ipc::Frame& out, ipc::Capability& cap);
    void deliver(const ipc::Frame& f) { stash_ = f; }

private:
    abi::CapAddr to_child_;
    std::optional<ipc::Frame> stash_;
};
static_assert(ipc::Transport<ChildTransport>);

// Per child: its channel, its server and what it was given (returned when it ends).
struct Channel {
    static constexpr std::size_t request_bytes = 4096;
    static constexpr std::size_t max_grants = 8;

    Channel(const char* name, abi::CapAddr child_endpoint, MemoryServer& mm);
    Result<void> start();

    const char* name;
    MemoryServer& mm;
    ChildTransport transport;
    std::byte request_buffer[request_bytes];
    ipc::Server<ChildTransport> server;
    RamGrant grants[max_grants];
    std::size_t grant_count = 0;

    // The handlers (the server calls them by type).
    struct OnNumber {
        Channel* c;
        Result<std::optional<proto::Ack>> operator()(const proto::SendNumber& m,
                                                     ipc::ReplyToken<proto::SendNumber>);
    } on_number{this};
    struct OnString {
        Channel* c;
        Result<std::optional<proto::Ack>> operator()(const proto::SendString& m,
                                                     ipc::ReplyToken<proto::SendString>);
    } on_string{this};
    struct OnPutchar {
        Channel* c;
        Result<std::optional<proto::Ack>> operator()(const proto::Putchar& m,
                                                     ipc::ReplyToken<proto::Putchar>);
    } on_putchar{this};
    struct OnRam {
        Channel* c;
        Result<std::optional<proto::RamReply>> operator()(const proto::RamRequest& m,
                                                          ipc::ReplyToken<proto::RamRequest>);
    } on_ram{this};

    // Gives back every RAM grant (after the child's capabilities are gone).
    void return_grants();
};

} // namespace aos::init
