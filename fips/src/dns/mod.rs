//! The embedded .fips DNS server, built on hickory-server.
