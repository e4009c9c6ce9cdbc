#!/usr/bin/env python3
"""Which crates' code a running Switchyard binary keeps resident (issue #12's idle RSS).

    tools/resident-code.py PID [TOP]

Reads the process's mappings of its own executable and `/proc/PID/pagemap` (the present bit needs no privilege),
then attributes every resident page of `.text` to the symbols it holds (`nm`, so a build with symbols: the bench
profile keeps them) and sums them per crate: the first path segment of the demangled name, so generic code
instantiated from `core`/`alloc` counts as theirs. Prints each ELF section's resident share first. Run it against
a process held idle by the footprint part (`FOOTPRINT_HOLD_SECS=60 make bench BENCH_ARGS="--only footprint"`).
The kernel maps file pages in fault-around windows (64 KiB by default), so a page is resident when any code near it
ran: the figures say where the resident pages are, not which functions ran.
"""

from __future__ import annotations

import collections
import os
import re
import struct
import subprocess
import sys

PAGE = 4096


def resident_pages(pid: int, exe: str) -> set[int]:
    """Offsets from the load base of the executable's resident pages."""
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == exe:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                maps.append((lo, hi, int(parts[2], 16)))
    if not maps:
        sys.exit(f"pid {pid}: no mapping of {exe}")
    base = min(lo - off for lo, _, off in maps)
    pages = set()
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for lo, hi, _ in maps:
            pm.seek(lo // PAGE * 8)
            data = pm.read((hi - lo) // PAGE * 8)
            for i in range(len(data) // 8):
                (entry,) = struct.unpack_from("<Q", data, i * 8)
                if entry >> 63 & 1 or entry >> 62 & 1:  # present or swapped
                    pages.add(lo - base + i * PAGE)
    return pages


def sections(exe: str) -> list[tuple[str, int, int]]:
    out = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout
    found = []
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        name, addr, size = m.group(1), int(m.group(2), 16), int(m.group(3), 16)
        if addr:
            found.append((name, addr, size))
    return found


def crate(symbol: str) -> str:
    name = re.sub(r"^(?:[<&*( ]|dyn |impl |mut |const )+", "", symbol)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    return m.group(1) if m else "(other: C, asm, unmangled)"


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pid = int(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    exe = os.readlink(f"/proc/{pid}/exe")
    pages = resident_pages(pid, exe)
    mib = 2**20
    print(f"{exe}: {len(pages) * PAGE / mib:.1f} MiB of the executable resident")
    for name, addr, size in sections(exe):
        n = sum(1 for p in range(addr // PAGE * PAGE, addr + size, PAGE) if p in pages)
        if n * PAGE >= 64 * 1024:
            print(f"  {name:20} {size / mib:7.2f} MiB, {n * PAGE / mib:6.2f} MiB resident")
    nm = subprocess.run(["nm", "-S", "-C", "--defined-only", exe], capture_output=True, text=True, check=True).stdout
    total: collections.Counter[str] = collections.Counter()
    resident: collections.Counter[str] = collections.Counter()
    for line in nm.splitlines():
        fields = line.split(" ", 3)
        if len(fields) < 4 or fields[2] not in "tTwW":
            continue
        addr, size, c = int(fields[0], 16), int(fields[1], 16), crate(fields[3])
        total[c] += size
        a = addr
        while a < addr + size:
            page = a // PAGE * PAGE
            end = min(addr + size, page + PAGE)
            if page in pages:
                resident[c] += end - a
            a = end
    if not total:
        sys.exit(f"{exe} has no symbols (stripped): use a bench-profile build")
    print(f"\n{'crate':30} {'code MiB':>9} {'resident MiB':>13}")
    for c, r in resident.most_common(top):
        print(f"{c:30} {total[c] / mib:9.2f} {r / mib:13.2f}")
    print(f"{'(all)':30} {sum(total.values()) / mib:9.2f} {sum(resident.values()) / mib:13.2f}")


if __name__ == "__main__":
    main()
