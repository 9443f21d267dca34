use std::os::fd::AsRawFd;
use std::time::Duration;

use super::*;

fn pair() -> (std::net::UdpSocket, std::net::UdpSocket) {
    let a = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let b = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    b.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    (a, b)
}

fn queue(out: &mut SendBatch, to: SocketAddr, sizes: &[usize]) {
    for (i, &size) in sizes.iter().enumerate() {
        assert!(out.push_with(|buf| {
            buf.clear();
            buf.resize(size, i as u8);
            Some(to)
        }));
    }
}

/// Receives with recvmmsg until `want` datagrams arrived (GRO may deliver
/// them in fewer messages).
fn collect(b: &std::net::UdpSocket, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    collect_counting(b, want).0
}

/// Also counts the messages recvmmsg returned.
fn collect_counting(b: &std::net::UdpSocket, want: usize) -> (Vec<(SocketAddr, Vec<u8>)>, usize) {
    let mut inb = RecvBatch::new();
    let mut got = Vec::new();
    let mut messages = 0;
    for _ in 0..50 {
        if got.len() >= want {
            break;
        }
        match inb.recv(b.as_raw_fd()) {
            Ok(n) => {
                messages += n;
                inb.for_each(|from, d| got.push((from, d.to_vec())));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("recvmmsg: {e}"),
        }
    }
    (got, messages)
}

#[test]
fn sends_and_receives_a_batch_without_gso() {
    let (a, b) = pair();
    let to = b.local_addr().expect("addr");
    let mut out = SendBatch::new(false);
    queue(&mut out, to, &[100, 200, 300]);
    assert_eq!(out.send(a.as_raw_fd()).expect("sendmmsg"), 3);
    assert!(out.is_empty());
    let got = collect(&b, 3);
    assert_eq!(
        got.iter().map(|(_, d)| d.len()).collect::<Vec<_>>(),
        vec![100, 200, 300]
    );
    assert!(got
        .iter()
        .all(|(from, _)| *from == a.local_addr().expect("addr")));
}

#[test]
fn gso_run_arrives_as_the_same_datagrams_in_order() {
    let (a, b) = pair();
    assert!(enable_gro(b.as_raw_fd()), "UDP GRO on this kernel");
    let to = b.local_addr().expect("addr");
    let mut out = SendBatch::new(true);
    let sizes = [1200, 1200, 1200, 1200, 700, 1200, 50];
    queue(&mut out, to, &sizes);
    let runs = out.runs();
    assert_eq!(
        runs.iter().map(|r| r.count).collect::<Vec<_>>(),
        vec![5, 2],
        "equal sizes then a shorter last"
    );
    let mut sent = 0;
    while !out.is_empty() {
        sent += out.send(a.as_raw_fd()).expect("sendmmsg");
    }
    assert_eq!(sent, sizes.len());
    let (got, messages) = collect_counting(&b, sizes.len());
    assert_eq!(
        got.iter().map(|(_, d)| d.len()).collect::<Vec<_>>(),
        sizes.to_vec()
    );
    assert!(
        messages < sizes.len(),
        "GRO coalesced the runs: {messages} messages"
    );
    for (i, (_, d)) in got.iter().enumerate() {
        assert!(d.iter().all(|&x| x == i as u8), "datagram {i} intact");
    }
}

#[test]
fn runs_split_on_destination_and_limits() {
    let (_a, b) = pair();
    let to = b.local_addr().expect("addr");
    let other: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let mut out = SendBatch::new(true);
    queue(&mut out, to, &[1000, 1000]);
    queue(&mut out, other, &[1000]);
    queue(&mut out, to, &[1000; 61]);
    let counts: Vec<usize> = out.runs().iter().map(|r| r.count).collect();
    // 65000 bytes of payload at most per GSO send: 65 x 1000.
    assert_eq!(counts, vec![2, 1, 61]);
    let mut big = SendBatch::new(true);
    queue(&mut big, to, &[1400; 64]);
    let counts: Vec<usize> = big.runs().iter().map(|r| r.count).collect();
    assert_eq!(counts, vec![46, 18], "46 x 1400 = 64400 <= 65000");
}

#[test]
fn receive_on_an_empty_socket_would_block() {
    let (_a, b) = pair();
    let err = RecvBatch::new()
        .recv(b.as_raw_fd())
        .expect_err("nothing queued");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
}
