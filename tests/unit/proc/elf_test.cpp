// aos::proc::ElfImage: real AArch64 files (a freestanding program linked by the build, a static glibc
// program, Debian's arm64 libc.so.6), every validation rule with the field it names, loading with zeroed BSS
// and permissions, and randomly corrupted files read in bounds (AddressSanitizer watches).
#include "catch.hpp"
#include "test_files.hpp"
#include "test_support.hpp"

#include <aos/proc/elf.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

using aos::Errc;
using aos::proc::ElfImage;
using aos::proc::ElfSegment;

namespace {

void put(std::vector<std::uint8_t>& v, std::size_t off, std::uint64_t x, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i)
        v[off + i] = static_cast<std::uint8_t>(x >> (8 * i));
}
std::uint64_t get(const std::vector<std::uint8_t>& v, std::size_t off, unsigned bytes) {
    std::uint64_t x = 0;
    for (unsigned i = bytes; i > 0; --i)
        x = (x << 8) | v[off + i - 1];
    return x;
}

// Offset of the i-th program header of a file.
std::size_t phdr(const std::vector<std::uint8_t>& f, unsigned i) {
    return get(f, aos::proc::elf::e_phoff, 8) + i * aos::proc::elf::phdr_size;
}
// Index of the first PT_LOAD program header with the given flags.
unsigned load_with_flags(const std::vector<std::uint8_t>& f, std::uint32_t flags) {
    for (unsigned i = 0; i < get(f, aos::proc::elf::e_phnum, 2); ++i) {
        std::size_t p = phdr(f, i);
        if (get(f, p, 4) == aos::proc::elf::pt_load && get(f, p + 4, 4) == flags)
            return i;
    }
    FAIL("no such segment");
    return 0;
}

struct BufferLoader {
    std::map<std::uint64_t, std::vector<std::uint8_t>> memory; // page_start -> bytes
    std::vector<ElfSegment> committed;
    int fail_at = -1;

    aos::Result<std::uint8_t*> writable(const ElfSegment& s) {
        if (static_cast<int>(committed.size()) == fail_at)
            return aos::error(Errc::no_memory);
        auto& buf = memory[s.page_start()];
        buf.assign(s.page_end() - s.page_start(), 0xcc); // garbage the loader must overwrite
        return buf.data();
    }
    aos::Result<void> commit(const ElfSegment& s) {
        committed.push_back(s);
        return aos::ok();
    }
    std::uint8_t byte_at(std::uint64_t va) {
        for (auto& [start, buf] : memory) {
            if (va >= start && va < start + buf.size())
                return buf[va - start];
        }
        FAIL("address not loaded");
        return 0;
    }
};
static_assert(aos::proc::ElfLoader<BufferLoader>);

Errc parse_error(const std::vector<std::uint8_t>& f, std::string& field) {
    const char* where = nullptr;
    auto r = ElfImage::parse(f.data(), f.size(), {}, &where);
    REQUIRE_FALSE(r);
    field = where != nullptr ? where : "";
    return r.error();
}

} // namespace

TEST_CASE("freestanding program: segments, permissions, entry, load") {
    auto file = aos_test::read_test_file("AOS_ELF_PROGRAM");
    auto image = ElfImage::parse(file.data(), file.size());
    REQUIRE(image);
    REQUIRE(image->is_executable_type());
    REQUIRE(image->segment_count() == 3); // text (R X), rodata (R), data+bss (R W)
    const ElfSegment& text = image->segment(0);
    REQUIRE(text.vaddr == 0x400000);
    REQUIRE(text.perms.execute);
    REQUIRE_FALSE(text.perms.write);
    REQUIRE(image->entry() == 0x400000);
    const ElfSegment& data = image->segment(2);
    REQUIRE(data.perms.write);
    REQUIRE_FALSE(data.perms.execute);
    REQUIRE(data.memsz > data.filesz); // BSS
    REQUIRE(data.memsz - data.filesz >= 8 * 1024);

    BufferLoader loader;
    REQUIRE(image->load(loader));
    REQUIRE(loader.committed.size() == 3);
    const char expect[] = "hello from an ELF segment";
    const ElfSegment& ro = image->segment(1);
    bool found = false;
    for (std::uint64_t va = ro.vaddr; va + sizeof(expect) <= ro.vaddr + ro.memsz && !found; ++va) {
        found = true;
        for (std::size_t i = 0; i < sizeof(expect) && found; ++i)
            found = loader.byte_at(va + i) == static_cast<std::uint8_t>(expect[i]);
    }
    REQUIRE(found);
    // Initialized data arrives, and every byte past the file's bytes is zero (BSS and page padding).
    REQUIRE(loader.byte_at(data.vaddr) == 0x88);
    for (std::uint64_t va = data.vaddr + data.filesz; va < data.page_end(); ++va)
        REQUIRE(loader.byte_at(va) == 0);
    for (std::uint64_t va = text.page_start(); va < text.vaddr; ++va)
        REQUIRE(loader.byte_at(va) == 0);
}

TEST_CASE("a failing loader stops the load with its error") {
    auto file = aos_test::read_test_file("AOS_ELF_PROGRAM");
    auto image = ElfImage::parse(file.data(), file.size());
    REQUIRE(image);
    BufferLoader loader;
    loader.fail_at = 1;
    auto r = image->load(loader);
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == Errc::no_memory);
    REQUIRE(loader.committed.size() == 1);
}

TEST_CASE("static glibc program and Debian's libc.so.6 parse") {
    auto exe = aos_test::read_test_file("AOS_ELF_STATIC");
    auto image = ElfImage::parse(exe.data(), exe.size());
    REQUIRE(image);
    REQUIRE(image->is_executable_type());
    REQUIRE(image->segment_count() >= 2);
    BufferLoader loader;
    REQUIRE(image->load(loader));

    auto lib = aos_test::read_test_file("AOS_ELF_SHARED");
    auto so = ElfImage::parse(lib.data(), lib.size());
    REQUIRE(so);
    REQUIRE_FALSE(so->is_executable_type());
    BufferLoader unused;
    REQUIRE(so->load(unused).error() == Errc::unsupported);
}

TEST_CASE("file header errors name the field") {
    auto good = aos_test::read_test_file("AOS_ELF_PROGRAM");
    std::string field;
    auto mutated = [&](std::size_t off, std::uint64_t value, unsigned bytes) {
        auto f = good;
        put(f, off, value, bytes);
        return f;
    };
    namespace e = aos::proc::elf;
    REQUIRE(parse_error(mutated(0, 0x7e, 1), field) == Errc::bad_magic);
    REQUIRE(field == "e_ident magic");
    REQUIRE(parse_error(mutated(e::ei_class, 1, 1), field) == Errc::unsupported);
    REQUIRE(field == "e_ident class");
    REQUIRE(parse_error(mutated(e::ei_data, 2, 1), field) == Errc::unsupported);
    REQUIRE(parse_error(mutated(e::e_version, 2, 4), field) == Errc::bad_version);
    REQUIRE(parse_error(mutated(e::e_type, 1, 2), field) == Errc::unsupported);
    REQUIRE(field == "e_type");
    REQUIRE(parse_error(mutated(e::e_machine, 62, 2), field) == Errc::unsupported); // x86-64
    REQUIRE(field == "e_machine");
    REQUIRE(parse_error(mutated(e::e_phentsize, 32, 2), field) == Errc::malformed);
    REQUIRE(parse_error(mutated(e::e_phnum, 0, 2), field) == Errc::malformed);
    REQUIRE(parse_error(mutated(e::e_phnum, 0xffff, 2), field) == Errc::unsupported);
    REQUIRE(parse_error(mutated(e::e_phoff, good.size() - 10, 8), field) == Errc::truncated);
    REQUIRE(field == "e_phoff");
    REQUIRE(parse_error(mutated(e::e_phoff, ~std::uint64_t{0} - 8, 8), field) == Errc::truncated);
    REQUIRE(parse_error(mutated(e::e_entry, 0x500000, 8), field) == Errc::out_of_range);
    REQUIRE(field == "e_entry");
    std::vector<std::uint8_t> tiny(good.begin(), good.begin() + 40);
    REQUIRE(parse_error(tiny, field) == Errc::truncated);
    REQUIRE(ElfImage::parse(nullptr, 100).error() == Errc::invalid_argument);
}

TEST_CASE("program header errors name the field") {
    auto good = aos_test::read_test_file("AOS_ELF_PROGRAM");
    namespace e = aos::proc::elf;
    std::size_t text = phdr(good, load_with_flags(good, e::pf_r | e::pf_x));
    std::size_t data = phdr(good, load_with_flags(good, e::pf_r | e::pf_w));
    std::string field;
    auto mutated = [&](std::size_t off, std::uint64_t value, unsigned bytes) {
        auto f = good;
        put(f, off, value, bytes);
        return f;
    };
    REQUIRE(parse_error(mutated(data + e::p_filesz, get(good, data + e::p_memsz, 8) + 1, 8), field) ==
            Errc::malformed);
    REQUIRE(field == "p_filesz");
    REQUIRE(parse_error(mutated(data + e::p_offset, good.size(), 8), field) == Errc::truncated);
    REQUIRE(field == "p_offset");
    REQUIRE(parse_error(mutated(data + e::p_memsz, ~std::uint64_t{0} - 16, 8), field) == Errc::overflow);
    REQUIRE(parse_error(mutated(data + e::p_flags, e::pf_r | e::pf_w | e::pf_x, 4), field) ==
            Errc::permission_denied);
    REQUIRE(parse_error(mutated(text + e::p_align, 3000, 8), field) == Errc::misaligned);
    REQUIRE(parse_error(mutated(text + e::p_vaddr, 0, 8), field) == Errc::out_of_range); // the null page
    REQUIRE(field == "p_vaddr");
    {
        // Data moved onto the text's page (offset congruence kept): two permissions in one page.
        auto f = good;
        put(f, data + e::p_align, 4096, 8);
        put(f, data + e::p_vaddr, get(good, text + e::p_vaddr, 8) + get(good, data + e::p_offset, 8) % 4096,
            8);
        REQUIRE(parse_error(f, field) == Errc::overlap);
    }
    // No executable segment holds the entry when text loses its X.
    REQUIRE(parse_error(mutated(text + e::p_flags, e::pf_r, 4), field) == Errc::out_of_range);
    // Within caller-given limits only.
    const char* where = nullptr;
    auto r = ElfImage::parse(good.data(), good.size(), {.lo = 0x1000, .hi = 0x400000}, &where);
    REQUIRE(r.error() == Errc::out_of_range);
}

TEST_CASE("randomly corrupted files are rejected or read and loaded in bounds") {
    auto pristine = aos_test::read_test_file("AOS_ELF_PROGRAM");
    std::mt19937_64 rng(aos_test::seed("elf corruption"));
    unsigned accepted = 0;
    for (unsigned round = 0; round < aos_test::iterations(2000); ++round) {
        auto f = pristine;
        unsigned flips = 1 + static_cast<unsigned>(rng() % 6);
        for (unsigned i = 0; i < flips; ++i) {
            std::size_t limit = rng() % 2 ? 512 : f.size(); // headers hold the decisions
            f[rng() % std::min(limit, f.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        }
        auto image = ElfImage::parse(f.data(), f.size());
        if (!image)
            continue;
        ++accepted;
        for (unsigned i = 0; i < image->segment_count(); ++i)
            REQUIRE(image->segment(i).offset + image->segment(i).filesz <= f.size());
        BufferLoader loader;
        if (image->is_executable_type()) {
            // Refuse absurd sizes that a real loader's allocator would refuse too.
            std::uint64_t total = 0;
            for (unsigned i = 0; i < image->segment_count(); ++i)
                total += image->segment(i).page_end() - image->segment(i).page_start();
            if (total < (64u << 20))
                REQUIRE(image->load(loader));
        }
    }
    INFO("accepted " << accepted);
    REQUIRE(accepted > 0); // single bit flips outside the checked fields must still parse
}
