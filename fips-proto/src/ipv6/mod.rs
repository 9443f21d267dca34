//! IPv6 dataplane helpers: ICMPv6 errors, TCP MSS clamping, packet checks.
