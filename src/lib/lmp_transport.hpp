// LMP as an aos::ipc::Transport, so the library's marshaller, Client and Server run over kernel endpoints: a
// frame goes out through one endpoint and comes in on another; a capability beside a frame travels with it
// (ipc::Capability::ref is its capability address in the sender's CSpace; on receipt, the arrival slot it
// was moved to; its size is not looked up: 0).
//
//   aos::user::LmpTransport to_init(caddr(root_slot_task, task_slot_init_endpoint),
//                                   caddr(root_slot_task, task_slot_arguments + 1), landing, first_arrival,
//                                   4);
//   aos::ipc::Client<aos::user::LmpTransport, aos::thread::Mutex, aos::user::LmpWait> init{
//       to_init, aos::user::LmpWait{&to_init}};
#pragma once

#include "cap_vspace.hpp"
#include "caps.hpp"
#include "syscalls.hpp"
#include "thread.hpp"

#include <aos/ipc/frame.hpp>
#include <aos/ipc/transport.hpp>

namespace aos::user {

// An LMP message's words are exactly an ipc::Frame's.
static_assert(abi::lmp_words == sizeof(ipc::Frame::words) / sizeof(ipc::Frame::words[0]));
inline ipc::Frame frame_of(const sys::LmpWords& words) {
    ipc::Frame f{};
    for (std::size_t i = 0; i < abi::lmp_words; ++i)
        f.words[i] = words[i];
    return f;
}

// Sends one frame (and the capability beside it) on an endpoint, yielding while the receiver's queue is
// full: forever when max_attempts is 0, otherwise would_block after that many tries.
Result<void> send_frame(abi::CapAddr to, const ipc::Frame& f, const ipc::Capability* cap,
                        unsigned max_attempts);

class LmpTransport {
public:
    // `landing`: the empty slot the kernel puts a received capability in. It is moved out at once into an
    // empty one of `arrivals` slots from `first_arrival` (same CNode), so the next receive (perhaps another
    // thread's) finds the landing slot empty. It waits there until its taker moves it out; only when every
    // arrival slot is full does the oldest go (capabilities nobody takes cannot block the channel).
    LmpTransport(abi::CapAddr send_to, abi::CapAddr receive_on, SlotAllocator::Slot landing,
                 SlotAllocator::Slot first_arrival, std::uint32_t arrivals)
        : send_to_(send_to), receive_on_(receive_on), landing_(landing), first_arrival_(first_arrival),
          arrivals_(arrivals) {}

    // Waits (yielding) while the receiver's queue is full: backpressure, never a drop.
    Result<void> send(const ipc::Frame& f, const ipc::Capability* cap);
    // would_block when no frame is there.
    Result<void> try_recv(ipc::Frame& out, ipc::Capability& cap);
    // Blocks until a frame comes; the next try_recv returns it.
    Result<void> wait_for_frame();

private:
    Result<void> receive(bool block);
    abi::CapAddr move_to_arrival();

    sys::LmpMessage held_{};
    bool holding_ = false;
    abi::CapAddr send_to_;
    abi::CapAddr receive_on_;
    SlotAllocator::Slot landing_;
    SlotAllocator::Slot first_arrival_;
    std::uint32_t arrivals_;
    std::uint32_t next_arrival_ = 0;
};
static_assert(ipc::Transport<LmpTransport>);

// The RPC client's wait between polls: block on the endpoint until the next frame, no spinning. While other
// threads exist it yields instead: a thread asleep in the kernel would not notice that another thread had
// already routed its reply.
struct LmpWait {
    LmpTransport* transport;
    void wait(unsigned) {
        if (thread::running() > 0)
            (void)sys::yield();
        else
            (void)transport->wait_for_frame();
    }
};

} // namespace aos::user
