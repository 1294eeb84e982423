// A waitset over one endpoint (waitset.hpp).
#include "waitset.hpp"

namespace aos::user {

Result<void> Waitset::add(std::uint64_t value, std::uint64_t mask, Kind kinds, Handler handler,
                          void* context) {
    if (handler == nullptr || (kinds & both) == 0 || (value & ~mask) != 0)
        return error(Errc::invalid_argument);
    if (count_ == max_handlers)
        return error(Errc::no_memory);
    entries_[count_++] = Entry{value, mask, kinds, handler, context};
    return ok();
}

Result<void> Waitset::event_dispatch() {
    sys::LmpMessage m =
        AOS_TRY(sys::lmp_receive(endpoint_, true, abi::destination(landing_.cnode, landing_.index)));
    bool with_cap = (m.flags & abi::lmp_cap_delivered) != 0;
    Kind kind = (m.flags & abi::lmp_notification) != 0 ? notices : messages;
    Result<void> r = error(Errc::not_found);
    for (unsigned i = 0; i < count_; ++i) {
        const Entry& e = entries_[i];
        if ((e.kinds & kind) != 0 && (m.badge & e.mask) == e.value) {
            e.handler(e.context, m, with_cap ? landing_.addr() : abi::no_capability);
            r = ok();
            break;
        }
    }
    // The landing slot is empty again for the next event, whatever the handler did.
    if (with_cap)
        (void)sys::cap_delete(landing_.addr());
    return r;
}

} // namespace aos::user
