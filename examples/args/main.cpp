// Prints its arguments, one per line: a parent's command line arrives as argc/argv.
#include "caps.hpp"
#include "print.hpp"

int main(int argc, char** argv) {
    // The page's frame is in the task CNode too, as Barrelfish's arguments-page slot has it.
    auto page =
        aos::sys::cap_identify(aos::abi::caddr(aos::abi::root_slot_task, aos::abi::task_slot_args_page));
    aos::sys::print("args: argc {}, arguments page capability {}\n", argc,
                    page && page->type == aos::abi::ObjType::frame ? "present" : "MISSING");
    for (int i = 0; i < argc; ++i)
        aos::sys::print("args: argv[{}] = {}\n", i, static_cast<const char*>(argv[i]));
    return 0;
}
