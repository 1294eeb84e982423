// Calls to init (rpc_client.hpp).
#include "rpc_client.hpp"

#include "lmp_transport.hpp"

#include <aos/ipc/rpc.hpp>
#include <aos/proto/messages.hpp>

#include <new>

namespace aos::rpc {

namespace {

using InitClient = ipc::Client<user::LmpTransport, core::NullLock, user::YieldWait>;

constexpr std::uint32_t landing_slot = abi::l2_cnode_slots - 1;

struct Channel {
    user::LmpTransport transport{abi::caddr(abi::root_slot_task, abi::task_slot_init_endpoint),
                                 abi::caddr(abi::root_slot_task, abi::task_slot_arguments + 1),
                                 user::SlotAllocator::Slot{abi::root_slot_slot_alloc0, landing_slot}};
    InitClient client{transport};
};

alignas(Channel) unsigned char channel_storage[sizeof(Channel)];
constinit Channel* channel = nullptr;

// Made on the first call: a process that never calls init needs nothing.
Result<InitClient*> init_client() {
    if (channel == nullptr) {
        Result<sys::CapIdentity> ep =
            sys::cap_identify(abi::caddr(abi::root_slot_task, abi::task_slot_init_endpoint));
        if (!ep || ep->type != abi::ObjType::endpoint)
            return error(Errc::not_found);
        channel = ::new (channel_storage) Channel();
    }
    return &channel->client;
}

} // namespace

Result<void> send_number(std::uint64_t n) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::SendNumber{n}));
    return ok();
}

Result<void> send_string(core::StringRef text) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::SendString{text}));
    return ok();
}

Result<void> putchar(char ch) {
    InitClient* c = AOS_TRY(init_client());
    AOS_TRY(c->call(proto::Putchar{ch}));
    return ok();
}

Result<RamGrant> get_ram(std::uint64_t size, std::uint64_t alignment, abi::CNodeRef cnode,
                         std::uint32_t slot) {
    InitClient* c = AOS_TRY(init_client());
    proto::RamReply r = AOS_TRY(c->call(proto::RamRequest{size, alignment}));
    abi::CapAddr landed = abi::caddr(abi::root_slot_slot_alloc0, landing_slot);
    if (r.ram.ref != landed)
        return error(Errc::malformed);
    AOS_TRY(sys::cap_copy(landed, cnode, slot));
    (void)sys::cap_delete(landed);
    return RamGrant{abi::caddr(cnode, slot), r.size};
}

} // namespace aos::rpc
