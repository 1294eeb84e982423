#!/usr/bin/env python3
"""Writes a copy of an ELF file whose program-header count runs past the end of the file: a boot module that
init must refuse to spawn (tests/system: user-init-refuses-corrupt-elf).

  corrupt_elf.py in.elf out.elf
"""
import pathlib
import struct
import sys

E_PHNUM = 56  # offset of e_phnum in an ELF64 header
data = bytearray(pathlib.Path(sys.argv[1]).read_bytes())
if data[:4] != b"\x7fELF" or data[4] != 2:
    sys.exit(f"{sys.argv[1]}: not an ELF64 file")
struct.pack_into("<H", data, E_PHNUM, 0xFFF0)
pathlib.Path(sys.argv[2]).write_bytes(bytes(data))
