// The boot-module table packed into the kernel image at build time (tools/pack_modules.py writes it): each
// module an ELF image with a name, the equivalent of multiboot modules.
//
//   auto table = aos::abi::ModuleTable::parse(blob, blob_size);
//   for (unsigned i = 0; i < table->count(); ++i) use(table->name(i), table->data(i), table->size(i));
#pragma once

#include <aos/core/result.hpp>
#include <aos/core/string_ref.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::abi {

inline constexpr std::uint64_t module_table_magic = 0x53444f4d534f41; // "AOSMODS" little endian
inline constexpr std::uint32_t module_table_version = 1;
inline constexpr std::size_t module_name_max = 32; // including the terminating NUL
inline constexpr std::uint32_t module_max_count = 32;
inline constexpr std::uint64_t module_alignment = 4096; // each module's bytes start on a page

struct ModuleTableHeader {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t count;
};
struct ModuleEntry {
    char name[module_name_max];
    std::uint64_t offset; // from the start of the table
    std::uint64_t size;
};
static_assert(sizeof(ModuleTableHeader) == 16);
static_assert(sizeof(ModuleEntry) == 48);
static_assert(alignof(ModuleEntry) == 8);

// A validated view of a table: names NUL-terminated, every module inside the blob and page aligned.
class ModuleTable {
public:
    static Result<ModuleTable> parse(const void* blob, std::size_t size) {
        const auto* base = static_cast<const std::uint8_t*>(blob);
        if (base == nullptr || size < sizeof(ModuleTableHeader))
            return error(Errc::truncated);
        const auto* header = reinterpret_cast<const ModuleTableHeader*>(base);
        if (header->magic != module_table_magic)
            return error(Errc::bad_magic);
        if (header->version != module_table_version)
            return error(Errc::bad_version);
        if (header->count > module_max_count)
            return error(Errc::unsupported);
        std::uint64_t entries_end =
            sizeof(ModuleTableHeader) + std::uint64_t{header->count} * sizeof(ModuleEntry);
        if (entries_end > size)
            return error(Errc::truncated);
        const auto* entries = reinterpret_cast<const ModuleEntry*>(base + sizeof(ModuleTableHeader));
        for (std::uint32_t i = 0; i < header->count; ++i) {
            const ModuleEntry& e = entries[i];
            bool terminated = false;
            for (std::size_t c = 0; c < module_name_max && !terminated; ++c)
                terminated = e.name[c] == '\0';
            if (!terminated || e.name[0] == '\0')
                return error(Errc::malformed);
            if (e.offset % module_alignment != 0 || e.offset < entries_end)
                return error(Errc::misaligned);
            if (e.offset > size || e.size > size - e.offset)
                return error(Errc::truncated);
        }
        return ModuleTable(base, header->count);
    }

    unsigned count() const { return count_; }
    const char* name(unsigned i) const { return entry(i).name; }
    const std::uint8_t* data(unsigned i) const { return base_ + entry(i).offset; }
    std::uint64_t size(unsigned i) const { return entry(i).size; }

    // The module named `name`, or not_found.
    Result<unsigned> find(core::StringRef module_name) const {
        for (unsigned i = 0; i < count_; ++i) {
            if (module_name.equals(name(i)))
                return i;
        }
        return error(Errc::not_found);
    }
    Result<unsigned> find(const char* module_name) const {
        return find(core::StringRef::from_c_str(module_name));
    }

private:
    ModuleTable(const std::uint8_t* base, unsigned count) : base_(base), count_(count) {}
    const ModuleEntry& entry(unsigned i) const {
        return reinterpret_cast<const ModuleEntry*>(base_ + sizeof(ModuleTableHeader))[i];
    }

    const std::uint8_t* base_;
    unsigned count_;
};

} // namespace aos::abi
