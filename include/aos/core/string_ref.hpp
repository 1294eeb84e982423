// A non-owning view of characters that need not be NUL-terminated (a word of a command line, a name in a
// message). The freestanding subset has no std::string_view we can rely on, so this is ours.
//
//   aos::core::StringRef word{line + 4, 6};
//   if (word.equals("memtest")) ...;
#pragma once

#include <cstddef>

namespace aos::core {

struct StringRef {
    const char* data = nullptr;
    std::size_t size = 0;

    static constexpr StringRef from_c_str(const char* s) {
        std::size_t n = 0;
        while (s != nullptr && s[n] != '\0')
            ++n;
        return StringRef{s, n};
    }

    // Equal to the NUL-terminated string s.
    constexpr bool equals(const char* s) const {
        std::size_t i = 0;
        for (; i < size; ++i) {
            if (s[i] != data[i])
                return false;
        }
        return s[i] == '\0';
    }
    constexpr bool operator==(const StringRef& o) const {
        if (size != o.size)
            return false;
        for (std::size_t i = 0; i < size; ++i) {
            if (data[i] != o.data[i])
                return false;
        }
        return true;
    }
};

} // namespace aos::core
