//! eBPF enforcement: load, attach, replace and remove the eth0 classifier; read its counters.
