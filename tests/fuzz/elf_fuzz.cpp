// libFuzzer target: aos::proc::ElfImage::parse and load on arbitrary bytes. Seeded with real AArch64 ELF
// files (Debian's arm64 libc and loader, programs linked by the test build); AddressSanitizer checks that
// nothing is read or written out of bounds, and the asserts that what parse accepts is consistent.
#include <aos/proc/elf.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

extern "C" void aos_hook_panic(const char* message, const char* file, int line) {
    std::fprintf(stderr, "panic: %s at %s:%d\n", message, file, line);
    std::abort();
}
extern "C" void aos_hook_log(const char*) {}

namespace {

// The most a load may ask for; larger images are parsed but not loaded (a real loader would run out of
// memory the same way).
constexpr std::uint64_t max_load_bytes = 16u << 20;

struct BoundedLoader {
    std::vector<std::vector<std::uint8_t>> pages;
    aos::Result<std::uint8_t*> writable(const aos::proc::ElfSegment& s) {
        pages.emplace_back(s.page_end() - s.page_start());
        return pages.back().data();
    }
    aos::Result<void> commit(const aos::proc::ElfSegment&) { return aos::ok(); }
};

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "inconsistent: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto image = aos::proc::ElfImage::parse(data, size);
    if (!image)
        return 0;
    std::uint64_t total = 0;
    bool entry_found = false;
    for (unsigned i = 0; i < image->segment_count(); ++i) {
        const aos::proc::ElfSegment& s = image->segment(i);
        check(s.filesz <= s.memsz, "filesz <= memsz");
        check(s.offset + s.filesz <= size, "segment inside the file");
        check(!(s.perms.write && s.perms.execute), "W^X");
        check(i == 0 || image->segment(i - 1).page_end() <= s.page_start(),
              "segments ordered, not sharing pages");
        entry_found = entry_found ||
                      (s.perms.execute && image->entry() >= s.vaddr && image->entry() - s.vaddr < s.memsz);
        total += s.page_end() - s.page_start();
    }
    check(entry_found, "entry in an executable segment");
    if (image->is_executable_type() && total <= max_load_bytes) {
        BoundedLoader loader;
        check(static_cast<bool>(image->load(loader)), "an accepted image loads");
    }
    return 0;
}
