//! The process-wide memory allocator of every Switchyard binary: jemalloc, linked by `use switchyard_alloc as _;`
//! in each binary's `main.rs`.
//!
//! Why not glibc's malloc: identity hashes passwords with argon2id, 19 MiB per hash. glibc serves the first such
//! block with mmap and, when it is freed, raises its mmap threshold to that size, so every later block comes from
//! a heap arena and stays resident after the login (identity idled at ~39 MiB after one login, 135 MiB peak under
//! 16 logins). Tuning glibc (`mallopt`) takes unsafe code, which the workspace forbids.
//!
//! jemalloc's configuration is compiled in (`JEMALLOC_SYS_WITH_MALLOC_CONF` in `.cargo/config.toml`, so every
//! build gets it, the container image's too): `background_thread:true` purges freed pages on a timer of its own
//! even when the process is idle (otherwise jemalloc only purges while it is being called), `dirty_decay_ms:1000`
//! returns freed pages to the OS within about a second, and `muzzy_decay_ms:0` uses MADV_DONTNEED rather than
//! MADV_FREE so the resident size drops at once. `narenas:1`: one arena rather than jemalloc's default of four per
//! CPU, each with its own dirty pages and metadata, which the tokio workers, the blocking pool that runs argon2id and
//! jemalloc's own thread would otherwise spread over; `tcache_max:4096`: threads cache freed blocks of up to 4 KiB
//! (default 32 KiB), so an idle thread holds less. Together 0.5-0.7 MiB less idle RSS per binary (identity 4.1 ->
//! 3.4 MiB anonymous) at the same `/v1/users/me` throughput and p99 in the same run (README, "Idle RSS"); turning the
//! thread caches off (`tcache:false`) saved 0.5 MiB more but cost ~5% of that throughput and 20% of its p99.
//! `_RJEM_MALLOC_CONF` overrides it at run time; `tests/infra/test_build.py` checks the built binaries carry it.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
