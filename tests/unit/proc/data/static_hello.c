/* Linked statically against Debian's arm64 glibc by the test build: a real-world ET_EXEC for the ELF test. */
#include <stdio.h>

int main(void) {
    puts("hello");
    return 0;
}
