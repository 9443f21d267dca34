//! Types shared between the `fips-ebpf` classifier and the daemon's loader.
//! `#![no_std]` so the eBPF program can use them; `user` adds `aya::Pod`.
#![no_std]
