// Threads (thread.hpp).
#include "thread.hpp"

#include "caps.hpp"
#include "heap.hpp"
#include "syscalls.hpp"

#include <atomic>
#include <new>

namespace aos::thread {

namespace {

constexpr std::size_t stack_bytes = 64 * 1024;
constexpr std::size_t fault_stack_bytes = 16 * 1024;
constexpr std::size_t page = abi::object_granule;

std::atomic<unsigned> live{0};

} // namespace

struct Thread {
    abi::CapAddr self = 0; // first: own_dispatcher() reads it through TPIDR_EL0
    Fn fn = nullptr;
    void* arg = nullptr;
    unsigned char* stack = nullptr;
    unsigned char* fault_stack = nullptr;
};

namespace {

// Where a thread begins (x0 = its Thread): it names itself, takes the heap's page-fault handler on its own
// stack, runs, and exits with fn's result (the kernel ends only this dispatcher).
[[noreturn]] void start(Thread* t) {
    __asm__ volatile("msr tpidr_el0, %0" ::"r"(t));
    (void)heap::install_fault_handler(t->fault_stack + fault_stack_bytes);
    sys::exit(t->fn(t->arg));
}

// Backs every page of a fresh stack now: the thread runs on it before it has a fault handler.
void touch(unsigned char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; i += page)
        static_cast<volatile unsigned char*>(p)[i] = 0;
}

} // namespace

Result<Thread*> create(Fn fn, void* arg) {
    auto* t = static_cast<Thread*>(malloc(sizeof(Thread)));
    auto* stack = static_cast<unsigned char*>(malloc(stack_bytes));
    auto* fault_stack = static_cast<unsigned char*>(malloc(fault_stack_bytes));
    if (t == nullptr || stack == nullptr || fault_stack == nullptr) {
        free(t);
        free(stack);
        free(fault_stack);
        return error(Errc::no_memory);
    }
    ::new (t) Thread{0, fn, arg, stack, fault_stack};
    touch(stack, stack_bytes);
    touch(fault_stack, fault_stack_bytes);
    Result<abi::CapAddr> d = heap::retype(abi::ObjType::dispatcher, abi::dispatcher_bytes);
    if (!d) {
        free(t);
        free(stack);
        free(fault_stack);
        return error(d.error());
    }
    t->self = *d;
    auto top =
        (reinterpret_cast<std::uintptr_t>(stack) + stack_bytes) & ~std::uintptr_t{abi::stack_alignment - 1};
    Result<void> r = sys::invoke_status(*d, abi::CapOp::dispatcher_setup,
                                        abi::caddr(abi::root_slot_task, abi::task_slot_root),
                                        abi::caddr(abi::root_slot_task, abi::task_slot_root_vnode),
                                        reinterpret_cast<std::uint64_t>(&start), top);
    if (r)
        r = sys::invoke_status(*d, abi::CapOp::dispatcher_configure, reinterpret_cast<std::uint64_t>(t),
                               abi::pack_name("thread").word[0], 0, 0);
    if (r) {
        live.fetch_add(1);
        r = sys::dispatcher_start(*d);
        if (!r)
            live.fetch_sub(1);
    }
    if (!r) {
        (void)sys::cap_delete(*d);
        free(t);
        free(stack);
        free(fault_stack);
        return error(r.error());
    }
    return t;
}

Result<int> join(Thread* t) {
    if (t == nullptr)
        return error(Errc::invalid_argument);
    for (;;) {
        Result<sys::CapIdentity> id = AOS_TRY(sys::cap_identify(t->self));
        abi::DispatcherStatus s = abi::dispatcher_status(id->status);
        if (s == abi::DispatcherStatus::exited || s == abi::DispatcherStatus::stopped) {
            int status = s == abi::DispatcherStatus::exited ? abi::dispatcher_exit_status(id->status) : -1;
            (void)sys::cap_delete(t->self);
            free(t->stack);
            free(t->fault_stack);
            free(t);
            live.fetch_sub(1);
            return status;
        }
        (void)sys::yield();
    }
}

unsigned running() {
    return live.load();
}

} // namespace aos::thread
