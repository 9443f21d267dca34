//! Bloom filters: the 8192-bit reachability filter and per-peer filter state.
