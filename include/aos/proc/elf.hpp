// A validating ELF64 reader and loader: every header field is checked before anything is loaded, and
// loading goes through an embedder-supplied policy that provides memory for each segment (a kernel maps
// frames into a new address space, init maps a child's frames into its own, a hosted test uses a buffer).
//
//   const char* bad = nullptr;
//   auto image = aos::proc::ElfImage::parse(module_base, module_size, {.lo = 0x1000, .hi = 1ull << 47},
//   &bad); if (!image) report(image.error(), bad); AOS_TRY(image->load(loader));           // copies file
//   bytes, zeroes BSS, then loader.commit() per segment start_at(image->entry());
#pragma once

#include <aos/arch/page.hpp>
#include <aos/core/result.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace aos::proc {

namespace elf {
// ELF-64 Object File Format (version 1.5) and the AArch64 ELF ABI: the values the reader checks.
inline constexpr std::uint8_t magic[4] = {0x7f, 'E', 'L', 'F'};
inline constexpr std::uint8_t class_64 = 2;
inline constexpr std::uint8_t data_lsb = 1;
inline constexpr std::uint8_t version_current = 1;
inline constexpr std::uint16_t type_exec = 2;
inline constexpr std::uint16_t type_dyn = 3;
inline constexpr std::uint16_t machine_aarch64 = 183;
inline constexpr std::uint32_t pt_load = 1;
inline constexpr std::uint32_t pf_x = 1;
inline constexpr std::uint32_t pf_w = 2;
inline constexpr std::uint32_t pf_r = 4;
inline constexpr std::size_t ehdr_size = 64;
inline constexpr std::size_t phdr_size = 56;
// Byte offsets in the file header.
inline constexpr std::size_t ei_class = 4, ei_data = 5, ei_version = 6, e_type = 16, e_machine = 18,
                             e_version = 20, e_entry = 24, e_phoff = 32, e_ehsize = 52, e_phentsize = 54,
                             e_phnum = 56;
// Byte offsets in a program header.
inline constexpr std::size_t p_type = 0, p_flags = 4, p_offset = 8, p_vaddr = 16, p_filesz = 32, p_memsz = 40,
                             p_align = 48;
} // namespace elf

// Limits the reader enforces beyond the format itself.
inline constexpr unsigned elf_max_segments = 16;
inline constexpr std::uint16_t elf_max_program_headers = 256;
inline constexpr std::uint64_t elf_page_size = aos::arch::page_size;

struct SegmentPermissions {
    bool read = false;
    bool write = false;
    bool execute = false;
};

struct ElfSegment {
    std::uint64_t vaddr = 0;
    std::uint64_t memsz = 0;
    std::uint64_t offset = 0;
    std::uint64_t filesz = 0;
    SegmentPermissions perms;
    // The page-aligned range the segment occupies: what a loader maps.
    std::uint64_t page_start() const { return vaddr & ~(elf_page_size - 1); }
    std::uint64_t page_end() const { return (vaddr + memsz + elf_page_size - 1) & ~(elf_page_size - 1); }
};

// The virtual range segments may occupy, [lo, hi): a kernel passes the user half minus the null page.
struct AddressLimits {
    std::uint64_t lo = elf_page_size;
    std::uint64_t hi = std::uint64_t{1} << 48;
};

// What a loader supplies. `writable(seg)` returns memory standing for [seg.page_start(), seg.page_end()),
// writable by the caller, which the library fills (file bytes, zeros elsewhere); `commit(seg)` then makes
// it the segment with its final permissions. The kernel maps fresh frames; init maps a child's frames into
// its own space first; hosted tests hand out buffers.
template <class L>
concept ElfLoader = requires(L& l, const ElfSegment& s) {
    { l.writable(s) } -> std::same_as<Result<std::uint8_t*>>;
    { l.commit(s) } -> std::same_as<Result<void>>;
};

class ElfImage {
public:
    // Validates the file header, every program header and the PT_LOAD set; `failed_field` names what was
    // wrong. ET_DYN files parse (their layout is checked) but only ET_EXEC files load.
    static Result<ElfImage> parse(const void* data, std::size_t size, AddressLimits limits = {},
                                  const char** failed_field = nullptr) {
        ElfImage image(static_cast<const std::uint8_t*>(data), size);
        const char* where = nullptr;
        Result<void> r = image.validate(limits, where);
        if (!r) {
            if (failed_field != nullptr)
                *failed_field = where;
            return error(r.error());
        }
        return image;
    }

    std::uint64_t entry() const { return entry_; }
    bool is_executable_type() const { return type_ == elf::type_exec; }
    unsigned segment_count() const { return count_; }
    const ElfSegment& segment(unsigned i) const { return segments_[i]; }

    // Loads every PT_LOAD segment through the loader. Stops at the first error the loader reports.
    template <ElfLoader L>
    Result<void> load(L& loader) const {
        if (type_ != elf::type_exec)
            return error(Errc::unsupported);
        for (unsigned i = 0; i < count_; ++i) {
            const ElfSegment& s = segments_[i];
            std::uint8_t* mem = AOS_TRY(loader.writable(s));
            std::uint64_t lead = s.vaddr - s.page_start();
            std::uint64_t total = s.page_end() - s.page_start();
            fill(mem, 0, lead);
            copy(mem + lead, data_ + s.offset, s.filesz);
            fill(mem, lead + s.filesz, total);
            AOS_TRY(loader.commit(s));
        }
        return ok();
    }

private:
    ElfImage(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    static std::uint64_t le(const std::uint8_t* p, unsigned bytes) {
        std::uint64_t v = 0;
        for (unsigned i = bytes; i > 0; --i)
            v = (v << 8) | p[i - 1];
        return v;
    }
    static void fill(std::uint8_t* mem, std::uint64_t from, std::uint64_t to) {
        for (std::uint64_t i = from; i < to; ++i)
            mem[i] = 0;
    }
    static void copy(std::uint8_t* dst, const std::uint8_t* src, std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i)
            dst[i] = src[i];
    }
    static bool add_overflows(std::uint64_t a, std::uint64_t b) { return a + b < a; }

    Result<void> validate(AddressLimits limits, const char*& where) {
        auto fail = [&](const char* field, Errc e) {
            where = field;
            return Result<void>(error(e));
        };
        if (data_ == nullptr)
            return fail("data", Errc::invalid_argument);
        if (size_ < elf::ehdr_size)
            return fail("file header", Errc::truncated);
        for (unsigned i = 0; i < 4; ++i) {
            if (data_[i] != elf::magic[i])
                return fail("e_ident magic", Errc::bad_magic);
        }
        if (data_[elf::ei_class] != elf::class_64)
            return fail("e_ident class", Errc::unsupported);
        if (data_[elf::ei_data] != elf::data_lsb)
            return fail("e_ident data encoding", Errc::unsupported);
        if (data_[elf::ei_version] != elf::version_current ||
            le(data_ + elf::e_version, 4) != elf::version_current)
            return fail("version", Errc::bad_version);
        type_ = static_cast<std::uint16_t>(le(data_ + elf::e_type, 2));
        if (type_ != elf::type_exec && type_ != elf::type_dyn)
            return fail("e_type", Errc::unsupported);
        if (le(data_ + elf::e_machine, 2) != elf::machine_aarch64)
            return fail("e_machine", Errc::unsupported);
        if (le(data_ + elf::e_ehsize, 2) != elf::ehdr_size)
            return fail("e_ehsize", Errc::malformed);
        std::uint64_t phoff = le(data_ + elf::e_phoff, 8);
        std::uint64_t phnum = le(data_ + elf::e_phnum, 2);
        if (phnum == 0)
            return fail("e_phnum", Errc::malformed);
        if (phnum > elf_max_program_headers)
            return fail("e_phnum", Errc::unsupported);
        if (le(data_ + elf::e_phentsize, 2) != elf::phdr_size)
            return fail("e_phentsize", Errc::malformed);
        if (phoff > size_ || phnum * elf::phdr_size > size_ - phoff)
            return fail("e_phoff", Errc::truncated);
        entry_ = le(data_ + elf::e_entry, 8);

        for (std::uint64_t i = 0; i < phnum; ++i) {
            const std::uint8_t* ph = data_ + phoff + i * elf::phdr_size;
            if (le(ph + elf::p_type, 4) != elf::pt_load)
                continue;
            AOS_TRY(validate_segment(ph, limits, where));
        }
        if (count_ == 0)
            return fail("no PT_LOAD segment", Errc::malformed);
        for (unsigned i = 0; i < count_; ++i) {
            const ElfSegment& s = segments_[i];
            if (s.perms.execute && entry_ >= s.vaddr && entry_ - s.vaddr < s.memsz)
                return ok();
        }
        return fail("e_entry", Errc::out_of_range);
    }

    Result<void> validate_segment(const std::uint8_t* ph, AddressLimits limits, const char*& where) {
        auto fail = [&](const char* field, Errc e) {
            where = field;
            return Result<void>(error(e));
        };
        ElfSegment s;
        std::uint32_t flags = static_cast<std::uint32_t>(le(ph + elf::p_flags, 4));
        s.offset = le(ph + elf::p_offset, 8);
        s.vaddr = le(ph + elf::p_vaddr, 8);
        s.filesz = le(ph + elf::p_filesz, 8);
        s.memsz = le(ph + elf::p_memsz, 8);
        std::uint64_t align = le(ph + elf::p_align, 8);
        s.perms = {(flags & elf::pf_r) != 0, (flags & elf::pf_w) != 0, (flags & elf::pf_x) != 0};
        if (s.memsz == 0)
            return ok(); // occupies nothing
        if (s.filesz > s.memsz)
            return fail("p_filesz", Errc::malformed);
        if (add_overflows(s.offset, s.filesz) || s.offset + s.filesz > size_)
            return fail("p_offset", Errc::truncated);
        if (add_overflows(s.vaddr, s.memsz) || add_overflows(s.vaddr + s.memsz, elf_page_size))
            return fail("p_memsz", Errc::overflow);
        if (align > 1 && ((align & (align - 1)) != 0 || (s.vaddr - s.offset) % align != 0))
            return fail("p_align", Errc::misaligned);
        if (s.perms.write && s.perms.execute)
            return fail("p_flags (writable and executable)", Errc::permission_denied);
        // A position-independent file's addresses are relative to a base chosen at load time.
        if (type_ == elf::type_exec && (s.page_start() < limits.lo || s.page_end() > limits.hi))
            return fail("p_vaddr", Errc::out_of_range);
        if (count_ == elf_max_segments)
            return fail("PT_LOAD count", Errc::unsupported);
        // Segments are sorted by address (the format requires it) and may not share a page: one page has
        // one set of permissions.
        if (count_ > 0 && s.page_start() < segments_[count_ - 1].page_end())
            return fail("p_vaddr (overlaps the previous segment)", Errc::overlap);
        segments_[count_++] = s;
        return ok();
    }

    const std::uint8_t* data_;
    std::size_t size_;
    std::uint64_t entry_ = 0;
    std::uint16_t type_ = 0;
    unsigned count_ = 0;
    ElfSegment segments_[elf_max_segments];
};

} // namespace aos::proc
