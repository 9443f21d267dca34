use std::time::{Duration, Instant};

use super::*;
use crate::identity::Identity;
use crate::routing::testmesh::{kat, kat_hex, kat_identity, TestMesh, TestPeer};
use crate::routing::IdentityCache;
use crate::wire::link::LOOKUP_REQUEST;

fn addr(b: u8) -> NodeAddr {
    NodeAddr([b; 16])
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn request(id: u64, target: NodeAddr, origin: NodeAddr, ttl: u8) -> LookupRequest {
    LookupRequest {
        request_id: id,
        target,
        origin,
        ttl,
        min_mtu: 0,
        origin_coords: Coords(vec![origin]),
    }
}

fn req_of(bytes: &[u8]) -> LookupRequest {
    LookupRequest::parse(bytes).expect("request parses")
}

fn resp_of(bytes: &[u8]) -> LookupResponse {
    LookupResponse::parse(bytes).expect("response parses")
}

fn relay_mesh() -> TestMesh {
    // Us (0x50) with a tree parent 0x10 (root), a tree child 0x60 whose
    // filter holds 0x99, and a non-tree peer 0x70 that also reaches 0x99.
    let me = Identity::from_secret_bytes([0x50; 32]).expect("key");
    let my = me.node_addr();
    let mut child = TestPeer::new(addr(0x60), vec![addr(0x60), my, addr(0x10)]);
    child.reaches.push(addr(0x99));
    let mut side = TestPeer::new(addr(0x70), vec![addr(0x70), addr(0x10)]);
    side.tree = false;
    side.reaches.push(addr(0x99));
    side.reaches.push(addr(0x98));
    let parent = TestPeer::new(addr(0x10), vec![addr(0x10)]);
    TestMesh::new(me, vec![my, addr(0x10)], vec![parent, child, side])
}

#[test]
fn answers_a_request_for_us_with_the_kat_proof() {
    let k = kat();
    let c = kat_identity("C");
    let [a, b] = ["A", "B"].map(|n| kat_identity(n).node_addr());
    let mut mesh = TestMesh::new(
        c.clone(),
        vec![c.node_addr(), b, a],
        vec![TestPeer::new(b, vec![b, a])],
    );
    mesh.rng.random.push_back([0; 32]); // BIP-340 aux = 0, as in kat.json
    let mut d = Discovery::new(DiscoveryConfig::default());
    let id = k["lookup_response_proof_C"]["request_id"]
        .as_u64()
        .expect("id");
    let req = request(id, c.node_addr(), a, 63);
    let out = d
        .handle_request(Instant::now(), b, req.clone(), &mut mesh.cx())
        .expect("answered");
    assert_eq!(out, RequestOutcome::Answered);
    let sent = mesh.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].0, b,
        "answer goes back to the peer the request came from"
    );
    let resp = LookupResponse::parse(&sent[0].1).expect("response parses");
    assert_eq!(
        resp.proof_bytes(),
        kat_hex(&["lookup_response_proof_C", "proof_bytes"])
    );
    assert_eq!(
        resp.proof.to_vec(),
        kat_hex(&["lookup_response_proof_C", "proof_bip340_aux0"])
    );
    assert_eq!(
        resp.path_mtu, 1280,
        "the target starts path_mtu at its link MTU"
    );
}

#[test]
fn originator_verifies_the_proof_from_its_identity_cache() {
    let t0 = Instant::now();
    let [a, b, c] = ["A", "B", "C"].map(kat_identity);
    let (aa, ba, ca) = (a.node_addr(), b.node_addr(), c.node_addr());
    let mut peer = TestPeer::new(ba, vec![ba, aa]);
    peer.reaches.push(ca);
    let mut mesh_a = TestMesh::new(a, vec![aa], vec![peer]);
    let mut d = Discovery::new(DiscoveryConfig::default());
    assert!(d.start(t0, ca, &mut mesh_a.cx()));
    let (to, req) = mesh_a.take_sent().pop().expect("request sent");
    assert_eq!((to, req[0]), (ba, LOOKUP_REQUEST));

    let mut mesh_c = TestMesh::new(
        c.clone(),
        vec![ca, ba, aa],
        vec![TestPeer::new(ba, vec![ba, aa])],
    );
    let mut dc = Discovery::new(DiscoveryConfig::default());
    dc.handle_request(t0, ba, req_of(&req), &mut mesh_c.cx())
        .expect("answered");
    let (_, resp) = mesh_c.take_sent().pop().expect("response");

    let mut ids = IdentityCache::new(16);
    assert!(matches!(
        d.handle_response(t0, resp_of(&resp), &mut mesh_a.cx(), &mut ids),
        Err(DiscoveryError::UnknownIdentity { .. })
    ));
    let mut forged = resp.clone();
    let n = forged.len();
    forged[n - 1] ^= 1;
    ids.insert(t0, *c.public(), |_| false);
    assert!(matches!(
        d.handle_response(t0, resp_of(&forged), &mut mesh_a.cx(), &mut ids),
        Err(DiscoveryError::BadProof { .. })
    ));
    let out = d
        .handle_response(t0, resp_of(&resp), &mut mesh_a.cx(), &mut ids)
        .expect("verified");
    assert_eq!(
        out,
        ResponseOutcome::Resolved {
            target: ca,
            coords: Coords(vec![ca, ba, aa]),
            path_mtu: 1280
        }
    );
    assert!(!d.is_pending(&ca));
}

#[test]
fn retries_with_fresh_ids_at_1_2_4_8_seconds_then_fails() {
    let t0 = Instant::now();
    let mut mesh = relay_mesh();
    let mut d = Discovery::new(DiscoveryConfig::default());
    let target = addr(0x99);
    d.start(t0, target, &mut mesh.cx());
    let mut failed = Vec::new();
    let mut ids = vec![];
    let mut t = t0;
    for wait in [1, 2, 4, 8] {
        let sent = mesh.take_sent();
        assert_eq!(sent.len(), 1, "one tree peer (the child) matches");
        assert_eq!(sent[0].0, addr(0x60));
        ids.push(LookupRequest::parse(&sent[0].1).expect("req").request_id);
        assert_eq!(d.poll_timeout(), Some(t + secs(wait)));
        d.handle_timeout(
            t + secs(wait) - Duration::from_millis(1),
            &mut mesh.cx(),
            &mut failed,
        );
        assert!(
            mesh.take_sent().is_empty() && failed.is_empty(),
            "not before the deadline"
        );
        t += secs(wait);
        d.handle_timeout(t, &mut mesh.cx(), &mut failed);
    }
    assert_eq!(failed, vec![target], "declared unreachable after 15 s");
    assert_eq!(t - t0, secs(15));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every attempt has a fresh request_id");
}

#[test]
fn asks_the_tree_peers_while_no_filter_contains_the_target_and_keeps_trying() {
    // A reference parent may forward by a child's filter it never merged
    // into its own (FINDINGS F5), so with no matching filter the attempt
    // goes to the tree peers (parent 0x10, child 0x60), not the side peer.
    let t0 = Instant::now();
    let mut mesh = relay_mesh();
    let mut d = Discovery::new(DiscoveryConfig::default());
    d.start(t0, addr(0x42), &mut mesh.cx());
    let mut first: Vec<NodeAddr> = mesh.take_sent().into_iter().map(|(to, _)| to).collect();
    first.sort();
    assert_eq!(first, vec![addr(0x10), addr(0x60)]);
    mesh.view.peers[0].reaches.push(addr(0x42));
    let mut failed = Vec::new();
    d.handle_timeout(t0 + secs(1), &mut mesh.cx(), &mut failed);
    let next: Vec<NodeAddr> = mesh.take_sent().into_iter().map(|(to, _)| to).collect();
    assert_eq!(
        next,
        vec![addr(0x10)],
        "the next attempt goes to the peer whose filter matches"
    );
}

#[test]
fn transit_forwards_to_matching_tree_peers_once_and_decrements_ttl() {
    let t0 = Instant::now();
    let mut mesh = relay_mesh();
    let mut d = Discovery::new(DiscoveryConfig::default());
    let req = request(7, addr(0x99), addr(0x10), 10);
    let out = d
        .handle_request(t0, addr(0x10), req.clone(), &mut mesh.cx())
        .expect("forwarded");
    assert_eq!(out, RequestOutcome::Forwarded { peers: 1 });
    let (to, fwd) = mesh.take_sent().pop().expect("sent");
    assert_eq!(to, addr(0x60), "tree peer preferred over the non-tree one");
    assert_eq!(LookupRequest::parse(&fwd).expect("req").ttl, 9);
    assert!(matches!(
        d.handle_request(t0, addr(0x60), req.clone(), &mut mesh.cx()),
        Err(DiscoveryError::Duplicate { request_id: 7 })
    ));
    let again = request(8, addr(0x99), addr(0x10), 10);
    assert!(matches!(
        d.handle_request(t0 + secs(1), addr(0x10), again.clone(), &mut mesh.cx()),
        Err(DiscoveryError::RateLimited)
    ));
    let later = request(9, addr(0x99), addr(0x10), 10);
    assert!(d
        .handle_request(t0 + secs(2), addr(0x10), later.clone(), &mut mesh.cx())
        .is_ok());
    let dead = request(10, addr(0x98), addr(0x10), 0);
    assert!(matches!(
        d.handle_request(t0, addr(0x10), dead.clone(), &mut mesh.cx()),
        Err(DiscoveryError::TtlExhausted)
    ));
}

#[test]
fn a_lookup_that_found_no_candidate_does_not_hold_back_the_next_one() {
    let t0 = Instant::now();
    let mut mesh = relay_mesh();
    let mut d = Discovery::new(DiscoveryConfig::default());
    // No peer's filter has 0x42 yet (filters still converging).
    let first = request(21, addr(0x42), addr(0x10), 10);
    assert!(matches!(
        d.handle_request(t0, addr(0x10), first, &mut mesh.cx()),
        Err(DiscoveryError::NoCandidate)
    ));
    // A second later the child's filter has it: the retry goes through.
    mesh.view.peers[1].reaches.push(addr(0x42));
    let retry = request(22, addr(0x42), addr(0x10), 10);
    let out = d
        .handle_request(t0 + secs(1), addr(0x10), retry, &mut mesh.cx())
        .expect("forwarded");
    assert_eq!(out, RequestOutcome::Forwarded { peers: 1 });
    // Forwarded once, the target is held back as before.
    let third = request(23, addr(0x42), addr(0x10), 10);
    assert!(matches!(
        d.handle_request(t0 + secs(2), addr(0x10), third, &mut mesh.cx()),
        Err(DiscoveryError::RateLimited)
    ));
}

#[test]
fn transit_falls_back_to_non_tree_peers_and_never_back_to_the_sender() {
    let t0 = Instant::now();
    let mut mesh = relay_mesh();
    let mut d = Discovery::new(DiscoveryConfig::default());
    let req = request(11, addr(0x98), addr(0x10), 10);
    d.handle_request(t0, addr(0x10), req.clone(), &mut mesh.cx())
        .expect("forwarded");
    assert_eq!(mesh.take_sent()[0].0, addr(0x70));
    let from_side = request(12, addr(0x98), addr(0x70), 10);
    assert!(matches!(
        d.handle_request(t0 + secs(3), addr(0x70), from_side.clone(), &mut mesh.cx()),
        Err(DiscoveryError::NoCandidate)
    ));
}

#[test]
fn responses_return_along_the_reverse_path_once_with_path_mtu_min() {
    let t0 = Instant::now();
    let mut mesh = relay_mesh();
    mesh.view.peers[0].mtu = 1200;
    let mut d = Discovery::new(DiscoveryConfig::default());
    let req = request(21, addr(0x99), addr(0x10), 10);
    d.handle_request(t0, addr(0x10), req.clone(), &mut mesh.cx())
        .expect("forwarded");
    mesh.take_sent();
    let resp = LookupResponse {
        request_id: 21,
        target: addr(0x99),
        path_mtu: 1280,
        target_coords: Coords(vec![addr(0x99), addr(0x60), addr(0x10)]),
        proof: [3; 64],
    };
    let mut bytes = Vec::new();
    resp.emit(&mut bytes);
    let mut ids = IdentityCache::new(4);
    let out = d
        .handle_response(t0, resp_of(&bytes), &mut mesh.cx(), &mut ids)
        .expect("forwarded");
    assert_eq!(out, ResponseOutcome::Forwarded);
    let (to, fwd) = mesh.take_sent().pop().expect("sent");
    assert_eq!(to, addr(0x10));
    assert_eq!(LookupResponse::parse(&fwd).expect("resp").path_mtu, 1200);
    assert!(matches!(
        d.handle_response(t0, resp_of(&bytes), &mut mesh.cx(), &mut ids),
        Err(DiscoveryError::AlreadyAnswered { request_id: 21 })
    ));
}
