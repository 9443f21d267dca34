//! The protocol core the daemon pumps: `fips_proto::node::Node` as a `Core`.

use std::net::SocketAddr;
use std::time::Instant;

use fips_proto::node::Node;

use super::Core;

impl Core for Node {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        Node::handle_datagram(self, now, from, data)
    }
    fn handle_tun_packet(&mut self, now: Instant, packet: &[u8]) {
        Node::handle_tun_packet(self, now, packet)
    }
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        Node::poll_transmit(self, buf)
    }
    fn poll_tun(&mut self, buf: &mut Vec<u8>) -> bool {
        Node::poll_tun(self, buf)
    }
}
