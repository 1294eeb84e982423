// Prints its arguments, one per line: a parent's command line arrives as argc/argv.
#include "caps.hpp"
#include "print.hpp"
#include "syscalls.hpp"

#include <aos/core/format.hpp>

int main(int argc, char** argv) {
    // The page's frame is in the task CNode too, as Barrelfish's arguments-page slot has it.
    auto page =
        aos::sys::cap_identify(aos::abi::caddr(aos::abi::root_slot_task, aos::abi::task_slot_args_page));
    aos::sys::print("args: argc {}, arguments page capability {}\n", argc,
                    page && page->type == aos::abi::ObjType::frame ? "present" : "MISSING");
    // And the rest of the well-known CSpace a spawned process gets.
    using namespace aos::abi;
    auto l0 = aos::sys::cap_identify(caddr(root_slot_page_cnode, 0));
    auto last_page = aos::sys::cap_identify(caddr(root_slot_base_page, base_page_count - 1));
    auto alloc1 = aos::sys::cap_identify(root_slot_caddr(root_slot_slot_alloc1));
    bool cspace_ok = l0 && l0->type == ObjType::vnode_l0 && last_page && last_page->type == ObjType::ram &&
                     last_page->size == object_granule && alloc1 && alloc1->type == ObjType::l2_cnode;
    aos::sys::print("args: page CNode, {} base pages and two slot CNodes {}\n", base_page_count,
                    cspace_ok ? "present" : "MISSING");
    const char* pid = aos::sys::getenv("PID");
    aos::sys::print("args: environment PID={} CORE={}\n", pid != nullptr ? pid : "(none)",
                    aos::sys::getenv("CORE") != nullptr ? aos::sys::getenv("CORE") : "(none)");
    // The record of what it was given: names, and each checked against its slot.
    const ArgsPage* a = aos::sys::arguments();
    aos::core::FixedString<256> names;
    bool records_ok = a != nullptr && a->capc > 0;
    for (std::uint32_t i = 0; a != nullptr && i < a->capc; ++i) {
        auto id = aos::sys::cap_identify(a->caps[i].addr);
        records_ok = records_ok && id && static_cast<std::uint8_t>(id->type) == a->caps[i].type;
        aos::core::format_to(names, "{}{}", i == 0 ? "" : " ", static_cast<const char*>(a->caps[i].name));
    }
    aos::sys::print("args: capabilities recorded: {} ({})\n", names.c_str(),
                    records_ok ? "each where it says" : "WRONG");
    for (int i = 0; i < argc; ++i)
        aos::sys::print("args: argv[{}] = {}\n", i, static_cast<const char*>(argv[i]));
    return 0;
}
