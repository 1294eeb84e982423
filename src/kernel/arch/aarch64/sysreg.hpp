// Reading and writing AArch64 system registers by name.
#pragma once

#include <cstdint>

#define KERNEL_READ_SYSREG(name)                                                                             \
    ({                                                                                                       \
        std::uint64_t kernel_sysreg_value_;                                                                  \
        __asm__ volatile("mrs %0, " #name : "=r"(kernel_sysreg_value_));                                     \
        kernel_sysreg_value_;                                                                                \
    })

#define KERNEL_WRITE_SYSREG(name, value) __asm__ volatile("msr " #name ", %0" ::"r"(std::uint64_t{value}))
