//! The dataplane's inputs with arbitrary bytes: TUN packets, SessionDatagram
//! link messages (transit and local delivery: handshakes, encrypted
//! messages, error signals, CP coordinates), lookups and timer ticks.
//! Each chunk between 0xff bytes is one input; its first byte picks the
//! kind. Nothing may panic and the output queues stay bounded.
#![no_main]

use std::time::{Duration, Instant};

use fips_proto::identity::Identity;
use fips_proto::routing::{Cx, MeshView, Outbox, PeerInfo};
use fips_proto::session::{Dataplane, DataplaneConfig};
use fips_proto::wire::link::{LookupRequest, LookupResponse};
use fips_proto::NodeAddr;
use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct Mesh {
    id: Identity,
    coords: Vec<NodeAddr>,
    peer: NodeAddr,
    peer_coords: Vec<NodeAddr>,
}

impl MeshView for Mesh {
    fn identity(&self) -> &Identity {
        &self.id
    }
    fn my_coords(&self) -> &[NodeAddr] {
        &self.coords
    }
    fn peers_for(&self, target: &NodeAddr) -> impl Iterator<Item = PeerInfo<'_>> {
        let t = *target;
        std::iter::once(PeerInfo {
            addr: self.peer,
            is_tree_peer: true,
            may_reach: t.0[0] & 1 == 0,
            coords: Some(&self.peer_coords[..]),
            link_mtu: 1280,
            link_cost: 1.0,
            silent: false,
        })
    }
    fn peer(&self, addr: &NodeAddr, target: &NodeAddr) -> Option<PeerInfo<'_>> {
        self.peers_for(target).find(|p| p.addr == *addr)
    }
    fn link_mtu(&self, peer: &NodeAddr) -> Option<u16> {
        (*peer == self.peer).then_some(1280)
    }
}

fuzz_target!(|data: &[u8]| {
    let id = Identity::from_secret_bytes([0x21; 32]).expect("valid key");
    let other = Identity::from_secret_bytes([0x22; 32]).expect("valid key");
    let me = id.node_addr();
    let peer = other.node_addr();
    let root = NodeAddr([0; 16]);
    let mesh = Mesh { id, coords: vec![me, root], peer, peer_coords: vec![peer, root] };
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let mut out = Outbox::default();
    let mut dp = Dataplane::new(DataplaneConfig::default(), me);
    let mut now = Instant::now();
    dp.learn_identity(now, *other.public());
    let mut buf = Vec::new();
    for chunk in data.split(|x| *x == 0xff) {
        let Some((&kind, rest)) = chunk.split_first() else { continue };
        let mut bytes = rest.to_vec();
        let mut cx = Cx { mesh: &mesh, rng: &mut rng, out: &mut out };
        match kind % 5 {
            0 => dp.handle_tun_packet(now, &bytes, &mut cx),
            1 => {
                // Aim local delivery at us half the time.
                if bytes.len() >= 36 && kind & 0x10 != 0 {
                    bytes[0] = 0;
                    bytes[20..36].copy_from_slice(me.as_bytes());
                }
                dp.handle_session_datagram(now, peer, &mut bytes, &mut cx);
            }
            2 => {
                if let Ok(req) = LookupRequest::parse(&bytes) {
                    dp.handle_lookup_request(now, peer, req, &mut cx);
                }
            }
            3 => {
                if let Ok(resp) = LookupResponse::parse(&bytes) {
                    dp.handle_lookup_response(now, peer, resp, &mut cx);
                }
            }
            _ => {
                now += Duration::from_millis(u64::from(kind) * 100);
                dp.handle_timeout(now, &mut cx);
            }
        }
        while let Some((to, msg)) = out.poll() {
            assert!(to == peer && !msg.is_empty());
        }
        let mut n = 0;
        while dp.poll_tun(&mut buf) {
            assert!(buf.len() <= 1280 || buf.len() <= 65_575);
            n += 1;
        }
        assert!(n <= 4096);
    }
});
