//! The fips0 TUN device and its rtnetlink configuration.
pub mod offload;
