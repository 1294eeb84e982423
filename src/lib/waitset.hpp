// A waitset: several channels (and notices) on one endpoint, told apart by their badges, each with its
// handler; event_dispatch blocks until the next event and runs the handler it belongs to. A process can
// block on one endpoint at a time, so this is how it waits on many things at once: give each a badged copy
// of the one endpoint. init's server loop is one waitset (children's requests, their end notices, the
// console).
//
//   aos::user::Waitset ws(endpoint, landing_slot);
//   AOS_TRY(ws.add(console_badge, ~0ull, aos::user::Waitset::notices, on_console, ctx));
//   for (;;) AOS_TRY(ws.event_dispatch());
#pragma once

#include "cap_vspace.hpp"
#include "caps.hpp"

#include <aos/core/result.hpp>

#include <cstdint>

namespace aos::user {

class Waitset {
public:
    // `cap` is where a capability that came with the message is (abi::no_capability if none); the handler
    // moves it out if it wants it, the waitset deletes what is left.
    using Handler = void (*)(void* context, const sys::LmpMessage& message, abi::CapAddr cap);
    enum Kind : unsigned { messages = 1, notices = 2, both = 3 };
    static constexpr unsigned max_handlers = 8;

    Waitset(abi::CapAddr endpoint, SlotAllocator::Slot landing) : endpoint_(endpoint), landing_(landing) {}

    // Events whose badge & mask == value (and of the given kinds) go to `handler`; the first match wins.
    Result<void> add(std::uint64_t value, std::uint64_t mask, Kind kinds, Handler handler, void* context);
    // Blocks until one event arrives and hands it to its handler. not_found when no handler matched (the
    // event is dropped); the endpoint's error otherwise.
    Result<void> event_dispatch();

private:
    struct Entry {
        std::uint64_t value;
        std::uint64_t mask;
        Kind kinds;
        Handler handler;
        void* context;
    };
    abi::CapAddr endpoint_;
    SlotAllocator::Slot landing_;
    Entry entries_[max_handlers] = {};
    unsigned count_ = 0;
};

} // namespace aos::user
