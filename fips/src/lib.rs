//! The FIPS sidecar daemon: the I/O around `fips-proto` (UDP, TUN, the
//! control socket, the embedded DNS server and the eBPF enforcement loader).
