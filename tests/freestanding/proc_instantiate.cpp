// Instantiates the process table and the ELF reader for AArch64, freestanding, with init-style policies.
#include <aos/proc/elf.hpp>
#include <aos/proc/process_table.hpp>

#include <cstdint>

namespace {
struct ArenaNames {
    char* next = nullptr;
    char* end = nullptr;
    char* allocate(std::size_t n) {
        if (static_cast<std::size_t>(end - next) < n)
            return nullptr;
        char* p = next;
        next += n;
        return p;
    }
    void release(char*, std::size_t) {}
};
struct NullLoader {
    std::uint8_t* page = nullptr;
    aos::Result<std::uint8_t*> writable(const aos::proc::ElfSegment&) { return page; }
    aos::Result<void> commit(const aos::proc::ElfSegment&) { return aos::ok(); }
};
} // namespace

extern "C" std::uint32_t aos_freestanding_proc(aos::proc::Process* slots, unsigned n, char* arena,
                                               unsigned arena_size, const void* elf, unsigned elf_size,
                                               std::uint8_t* page) {
    ArenaNames names{arena, arena + arena_size};
    aos::proc::ProcessTable<ArenaNames, aos::core::SpinLock> table({slots, n}, names, 1);
    aos::Result<aos::proc::Pid> pid = table.create(aos::core::StringRef::from_c_str("init"));
    if (!pid || !table.exit(*pid, 0) || !table.check_invariants())
        return 0;
    auto image = aos::proc::ElfImage::parse(elf, elf_size);
    NullLoader loader{page};
    if (!image || !image->load(loader))
        return 0;
    return *pid;
}
