//! Builders for the Ethernet frames the classifier tests feed it.
//! Checksums stay zero: the classifier never looks at them.

// Shared by several test binaries, each using a part.
#![allow(dead_code)]

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;

pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&src.to_be_bytes());
    u.extend_from_slice(&dst.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// An IPv4 packet; `options` must be a multiple of 4 bytes; `frag` is the
/// flags+offset field (0x2000 = more fragments).
pub fn ipv4_with(proto: u8, options: &[u8], frag: u16, payload: &[u8]) -> Vec<u8> {
    let ihl = (20 + options.len()) / 4;
    let total = (ihl * 4 + payload.len()) as u16;
    let mut p = vec![0x40 | ihl as u8, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend_from_slice(options);
    p.extend_from_slice(payload);
    p
}

pub fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_with(proto, &[], 0, payload)
}

pub fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(payload);
    p
}

/// An IPv6 extension header of 8 bytes carrying `next`.
pub fn ext_header(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![next, 0, 1, 4, 0, 0, 0, 0];
    h.extend_from_slice(payload);
    h
}

pub fn icmpv6(kind: u8) -> Vec<u8> {
    let mut m = vec![kind, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[0; 16]);
    m
}

/// An ARP request; `ptype` 0x0800 is IPv4.
pub fn arp(ptype: u16) -> Vec<u8> {
    let mut a = vec![0, 1];
    a.extend_from_slice(&ptype.to_be_bytes());
    a.extend_from_slice(&[6, 4, 0, 1]);
    a.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    a.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    eth(ETH_P_ARP, &a)
}

/// A frame with an 802.1Q (or 802.1ad) tag in the frame itself.
pub fn vlan_tagged(tpid: u16, inner_ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut tagged = vec![0, 5];
    tagged.extend_from_slice(&inner_ethertype.to_be_bytes());
    tagged.extend_from_slice(payload);
    eth(tpid, &tagged)
}
