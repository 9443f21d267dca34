//! Tests on real sockets: loopback, and a veth pair between throwaway
//! namespaces.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::batch::{group_runs, Group};
use super::{AsyncUdpSocket, RecvBatch, SendBatch, UdpSocket, MAX_GRO_BYTES};
use fips_testkit::netns::{veth, NetNs};

fn loopback() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap()
}

/// Datagram `i` of a test stream: its index then a pattern, `len` bytes.
fn datagram(i: usize, len: usize) -> Vec<u8> {
    let mut d: Vec<u8> = (0..len).map(|j| (i * 7 + j) as u8).collect();
    d[..4].copy_from_slice(&(i as u32).to_be_bytes());
    d
}

/// Receives until `n` datagrams arrived or 2 s passed; returns them with
/// their senders and the number of kernel messages they came in.
fn recv_n(sock: &UdpSocket, n: usize) -> (Vec<(SocketAddr, Vec<u8>)>, usize) {
    let mut batch = RecvBatch::new(32, MAX_GRO_BYTES);
    let (mut got, mut messages) = (Vec::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < n && Instant::now() < deadline {
        match sock.try_recv_batch(&mut batch) {
            Ok(_) => {
                messages += batch.messages();
                got.extend(batch.iter().map(|(a, d)| (a, d.to_vec())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    (got, messages)
}

/// Sends the whole batch, waiting out a full socket buffer.
fn send_all(sock: &UdpSocket, batch: &mut SendBatch) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !batch.is_empty() {
        match sock.try_send_batch(batch) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "send buffer never drained");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("send: {e}"),
        }
    }
}

#[test]
fn gso_run_arrives_as_the_separate_datagrams_sent_when_gro_is_off() {
    let (tx, rx) = (loopback(), loopback());
    rx.disable_gro().unwrap();
    assert!(tx.offloads().gso, "this kernel has UDP GSO");
    let mut batch = SendBatch::new(64);
    // 20 full datagrams and a short last one: one GSO message.
    let sent: Vec<Vec<u8>> = (0..21)
        .map(|i| datagram(i, if i == 20 { 300 } else { 1200 }))
        .collect();
    for d in &sent {
        batch.push(rx.local_addr(), d);
    }
    send_all(&tx, &mut batch);
    assert_eq!((batch.syscalls, batch.messages), (1, 1));
    let (got, messages) = recv_n(&rx, sent.len());
    let got: Vec<Vec<u8>> = got.into_iter().map(|(_, d)| d).collect();
    assert_eq!(got, sent);
    assert_eq!(
        messages,
        sent.len(),
        "without GRO each datagram is a message"
    );
}

#[test]
fn gro_coalesced_messages_split_back_into_the_datagrams_in_order() {
    let (tx, rx) = (loopback(), loopback());
    assert!(rx.offloads().gro, "this kernel has UDP GRO");
    let mut batch = SendBatch::new(64);
    let sent: Vec<Vec<u8>> = (0..40).map(|i| datagram(i, 1300)).collect();
    for d in &sent {
        batch.push(rx.local_addr(), d);
    }
    send_all(&tx, &mut batch);
    let (got, messages) = recv_n(&rx, sent.len());
    assert!(got.iter().all(|(from, _)| *from == tx.local_addr()));
    let got: Vec<Vec<u8>> = got.into_iter().map(|(_, d)| d).collect();
    assert_eq!(got, sent);
    assert!(messages < sent.len(), "GRO coalesced ({messages} messages)");
}

#[test]
fn interleaved_destinations_and_sizes_keep_their_order() {
    let (tx, rx1, rx2) = (loopback(), loopback(), loopback());
    let mut batch = SendBatch::new(128);
    let mut want1 = Vec::new();
    let mut want2 = Vec::new();
    for i in 0..100 {
        let d = datagram(i, 100 + (i % 3) * 500);
        if i % 5 < 3 {
            batch.push(rx1.local_addr(), &d);
            want1.push(d);
        } else {
            batch.push(rx2.local_addr(), &d);
            want2.push(d);
        }
    }
    send_all(&tx, &mut batch);
    let got1: Vec<Vec<u8>> = recv_n(&rx1, want1.len())
        .0
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let got2: Vec<Vec<u8>> = recv_n(&rx2, want2.len())
        .0
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(got1, want1);
    assert_eq!(got2, want2);
}

#[test]
fn a_batch_the_kernel_takes_in_part_is_finished_in_order_on_the_next_calls() {
    let (tx, rx) = (loopback(), loopback());
    // sendmmsg stops at a failing message and reports the ones before it:
    // a partial send. The failing one is dropped, the rest go on.
    let unreachable: SocketAddr = "192.0.2.1:9".parse().unwrap();
    let mut batch = SendBatch::new(64);
    let mut want = Vec::new();
    for i in 0..30 {
        let d = datagram(i, 1200);
        if i == 17 {
            batch.push(unreachable, &d);
        } else {
            batch.push(rx.local_addr(), &d);
            want.push(d);
        }
    }
    let first = tx.try_send_batch(&mut batch);
    assert!(first.is_err(), "the unreachable message is reported");
    assert_eq!(batch.pending(), 12, "17 sent, 1 dropped, 12 left");
    send_all(&tx, &mut batch);
    let got: Vec<Vec<u8>> = recv_n(&rx, want.len())
        .0
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(got, want);
    assert!(batch.syscalls >= 3, "sent in parts: {}", batch.syscalls);
}

#[test]
fn an_unreachable_destination_is_dropped_and_the_rest_still_sent() {
    let (tx, rx) = (loopback(), loopback());
    let mut batch = SendBatch::new(8);
    batch.push(rx.local_addr(), b"one");
    // A socket bound to 127.0.0.1 cannot reach a non-local address.
    batch.push("192.0.2.1:9".parse().unwrap(), b"lost");
    batch.push(rx.local_addr(), b"two");
    let mut errors = 0;
    while !batch.is_empty() {
        if tx.try_send_batch(&mut batch).is_err() {
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
    let got: Vec<Vec<u8>> = recv_n(&rx, 2).0.into_iter().map(|(_, d)| d).collect();
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn gso_and_gro_work_across_a_veth_pair_between_namespaces() {
    let (a, b) = (NetNs::new("udpa"), NetNs::new("udpb"));
    veth(&a, "fp-va", "10.77.0.1/24", &b, "fp-vb", "10.77.0.2/24");
    let rx = b.enter(|| UdpSocket::bind("10.77.0.2:4000".parse().unwrap()).unwrap());
    let tx = a.enter(|| UdpSocket::bind("0.0.0.0:4001".parse().unwrap()).unwrap());
    let mut batch = SendBatch::new(256);
    let sent: Vec<Vec<u8>> = (0..200).map(|i| datagram(i, 1280)).collect();
    for d in &sent {
        batch.push(rx.local_addr(), d);
    }
    send_all(&tx, &mut batch);
    assert!(batch.messages < 10, "GSO runs: {} messages", batch.messages);
    let (got, messages) = recv_n(&rx, sent.len());
    assert!(got
        .iter()
        .all(|(from, _)| *from == "10.77.0.1:4001".parse().unwrap()));
    let got: Vec<Vec<u8>> = got.into_iter().map(|(_, d)| d).collect();
    assert_eq!(got, sent);
    assert!(
        messages < sent.len(),
        "GRO kept runs together ({messages} messages)"
    );
}

#[test]
fn ipv4_peer_of_a_dual_stack_socket_is_reported_as_ipv4() {
    let rx = UdpSocket::bind("[::]:0".parse().unwrap()).unwrap();
    let tx = loopback();
    let to: SocketAddr = format!("127.0.0.1:{}", rx.local_addr().port())
        .parse()
        .unwrap();
    tx.try_send_to(b"hi", to).unwrap();
    let (got, _) = recv_n(&rx, 1);
    assert_eq!(got, vec![(tx.local_addr(), b"hi".to_vec())]);
    // And the dual-stack socket reaches an IPv4 destination through the batch.
    let mut batch = SendBatch::new(2);
    batch.push(tx.local_addr(), b"back");
    send_all(&rx, &mut batch);
    assert_eq!(recv_n(&tx, 1).0[0].1, b"back");
}

#[test]
fn socket_cookie_is_stable_and_distinct_per_socket() {
    let (s1, s2) = (loopback(), loopback());
    let c1 = s1.socket_cookie().unwrap();
    assert_ne!(c1, 0);
    assert_eq!(s1.socket_cookie().unwrap(), c1);
    assert_ne!(s2.socket_cookie().unwrap(), c1);
}

#[test]
fn socket_buffers_are_two_mebibytes() {
    let s = loopback();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
    // The kernel reports double what was set (it counts its bookkeeping).
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        let v = super::sys::getsockopt_int(fd, libc::SOL_SOCKET, opt).unwrap();
        assert_eq!(v, 2 * super::SOCKET_BUFFER_BYTES);
    }
}

#[tokio::test]
async fn async_socket_sends_and_receives_batches() {
    let tx = AsyncUdpSocket::new(loopback()).unwrap();
    let rx = AsyncUdpSocket::new(loopback()).unwrap();
    let mut batch = SendBatch::new(16);
    for i in 0..16 {
        batch.push(rx.get_ref().local_addr(), &datagram(i, 1000));
    }
    tx.send_batch(&mut batch).await.unwrap();
    let mut recv = RecvBatch::new(16, MAX_GRO_BYTES);
    let mut got = Vec::new();
    while got.len() < 16 {
        tokio::time::timeout(Duration::from_secs(2), rx.recv_batch(&mut recv))
            .await
            .expect("datagrams arrive")
            .unwrap();
        got.extend(recv.iter().map(|(_, d)| d.to_vec()));
    }
    assert_eq!(got, (0..16).map(|i| datagram(i, 1000)).collect::<Vec<_>>());
}

fn addr(p: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], p))
}

#[test]
fn runs_group_by_destination_and_size_with_a_shorter_last_datagram() {
    let items = [
        (1, 100),
        (1, 100),
        (1, 40),
        (1, 100),
        (2, 100),
        (2, 120),
        (2, 0),
    ];
    let groups = group_runs(items.iter().map(|&(p, l)| (addr(p), l)), true, 64);
    let g = |p, count, segment| Group {
        dest: addr(p),
        count,
        segment,
    };
    assert_eq!(
        groups,
        vec![
            g(1, 3, 100),
            g(1, 1, 100),
            g(2, 1, 100),
            g(2, 1, 120),
            g(2, 1, 0)
        ]
    );
}

#[test]
fn runs_stop_at_the_kernel_segment_and_size_limits() {
    let many = (0..100).map(|_| (addr(1), 100));
    let counts: Vec<usize> = group_runs(many, true, 64).iter().map(|g| g.count).collect();
    assert_eq!(counts, vec![64, 36]);
    let big = (0..100).map(|_| (addr(1), 1400));
    let counts: Vec<usize> = group_runs(big, true, 64).iter().map(|g| g.count).collect();
    assert_eq!(counts, vec![46, 46, 8]);
    let no_gso = (0..3).map(|_| (addr(1), 100));
    assert_eq!(group_runs(no_gso, false, 2).len(), 2);
}
