// Threads: 8 threads each make 1000 RPCs to init on the process's one channel (every answer checked; every
// 200th also asks for RAM, which comes as a capability, and for a status, whose reply decodes into a
// buffer), add to a counter under a mutex, and hand a token around a ring with a condition variable. Half
// of them also fill and free large heap blocks now and then, so that free gives memory back while the
// others fault theirs in.
#include "caps.hpp"
#include "heap.hpp"
#include "paging.hpp"
#include "print.hpp"
#include "rpc_client.hpp"
#include "sync.hpp"
#include "thread.hpp"

#include <aos/core/string_ref.hpp>
#include <aos/proto/messages.hpp>

namespace {

constexpr unsigned thread_count = 8;
constexpr unsigned calls_per_thread = 1000;
constexpr unsigned passes = 5; // times the token goes round the ring
constexpr std::uint64_t page = aos::abi::object_granule;
// Five chunks: its whole chunks go back when it is freed.
constexpr std::size_t big_block = 5 * aos::user::PagingState::lazy_chunk;

// A block filled page by page with a pattern of this thread's, checked, and freed; false if it was wrong.
bool fill_and_free(unsigned me, unsigned round) {
    auto* block = static_cast<volatile std::uint64_t*>(malloc(big_block));
    if (block == nullptr)
        return false;
    constexpr std::size_t stride = page / sizeof(std::uint64_t);
    for (std::size_t k = 0; k < big_block / sizeof(std::uint64_t); k += stride)
        block[k] = (std::uint64_t{me} << 32) ^ (round << 20) ^ k;
    bool right = true;
    for (std::size_t k = 0; k < big_block / sizeof(std::uint64_t); k += stride)
        right = right && block[k] == ((std::uint64_t{me} << 32) ^ (round << 20) ^ k);
    free(const_cast<std::uint64_t*>(block));
    return right;
}

aos::thread::Mutex lock;
aos::thread::CondVar changed;
unsigned counter = 0;
unsigned token = 0; // whose turn it is
aos::rpc::Pid my_pid = 0;

int work(void* arg) {
    auto me = static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(arg));
    int wrong = 0;
    for (unsigned i = 0; i < calls_per_thread; ++i) {
        aos::Result<aos::rpc::Pid> pid = aos::rpc::pid_by_name(aos::core::StringRef::from_c_str("threads"));
        wrong += pid && *pid == my_pid ? 0 : 1;
        if (i % 200 == 0) { // 40 grants in all: init allows a child 64
            // Replies that carry a capability or need a buffer, while the other threads call too.
            aos::Result<aos::rpc::RamGrant> ram =
                aos::rpc::get_ram(page, page, aos::abi::root_slot_slot_alloc1, me);
            aos::Result<aos::sys::CapIdentity> id =
                ram ? aos::sys::cap_identify(ram->cap)
                    : aos::Result<aos::sys::CapIdentity>(aos::error(ram.error()));
            wrong += id && id->type == aos::abi::ObjType::ram && id->size == page ? 0 : 1;
            if (ram)
                (void)aos::sys::cap_delete(ram->cap);
            aos::Result<aos::rpc::ProcessStatus> st = aos::rpc::status(my_pid);
            wrong += st && st->state == static_cast<std::uint8_t>(aos::proto::ProcessState::running) ? 0 : 1;
        }
        if (me % 2 == 0 && i % 250 == 100)
            wrong += fill_and_free(me, i) ? 0 : 1;
        aos::core::LockGuard guard(lock);
        ++counter;
    }
    for (unsigned p = 0; p < passes; ++p) {
        lock.lock();
        while (token % thread_count != me)
            changed.wait(lock);
        ++token;
        changed.broadcast();
        lock.unlock();
    }
    return wrong;
}

} // namespace

int main() {
    // The channel is made by the first call: this one, before any thread.
    aos::Result<aos::rpc::Pid> pid = aos::rpc::pid_by_name(aos::core::StringRef::from_c_str("threads"));
    if (!pid) {
        aos::sys::print("threads: no channel to init: {}\n", pid.error());
        return 1;
    }
    my_pid = *pid;
    aos::thread::Thread* threads[thread_count];
    for (unsigned i = 0; i < thread_count; ++i) {
        aos::Result<aos::thread::Thread*> t =
            aos::thread::create(&work, reinterpret_cast<void*>(std::uintptr_t{i}));
        if (!t) {
            aos::sys::print("threads: cannot start thread {}: {}\n", i, t.error());
            return 1;
        }
        threads[i] = *t;
    }
    int wrong = 0;
    for (aos::thread::Thread* t : threads) {
        aos::Result<int> r = aos::thread::join(t);
        wrong += r ? *r : 1;
    }
    bool good = wrong == 0 && counter == thread_count * calls_per_thread && token == thread_count * passes;
    aos::sys::print(
        "threads: {} threads x {} RPCs, {} wrong answers, counter {}, token passed {} times: {}\n",
        thread_count, calls_per_thread, wrong, counter, token, good ? "ok" : "FAILED");
    aos::heap::Stats heap = aos::heap::stats();
    aos::sys::print("threads: the heap gave {} KiB back, {} KiB backed now\n", heap.given_back / 1024,
                    heap.backed / 1024);
    return good ? 0 : 1;
}
