//! The DNS server's request path for one message, without sockets: the
//! bytes a client sent in, the bytes the server would send back out. It
//! runs the same `FipsHandler` as the listener and encodes the reply as
//! hickory's UDP/TCP response handle does (size limit, truncation), so the
//! fuzz targets (fuzz/fuzz_targets/dns_*.rs) and tests reach every branch
//! of the real path. Only answers from our zones: no upstream, so nothing
//! here opens a socket or needs a runtime.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::net::NetError;
use hickory_server::proto::op::{
    Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::Record;
use hickory_server::proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_server::proto::ProtoError;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::sync::{mpsc, Semaphore};

use super::handler::FipsHandler;
use super::{NameBook, PeerIdentity};

/// Identities queued for the node between two `told` calls.
const TOLD_QUEUE: usize = 1024;

/// A `FipsHandler` over a `NameBook`, fed one request at a time.
pub struct Responder {
    handler: FipsHandler,
    told: mpsc::Receiver<PeerIdentity>,
}

impl Responder {
    pub fn new(book: NameBook) -> Responder {
        let (on_identity, told) = mpsc::channel(TOLD_QUEUE);
        let handler = FipsHandler {
            book: Arc::new(book),
            upstream: None,
            on_identity,
            in_flight: Semaphore::new(1),
            forwards: Semaphore::new(1),
        };
        Responder { handler, told }
    }

    /// What the server sends back for `raw` from `src` over UDP (or TCP,
    /// where replies are not cut to the client's size), or None when it
    /// sends nothing (shorter than a header, a response, or unparsable:
    /// hickory answers the last with its own FORMERR, not our code).
    pub fn respond(&self, raw: &[u8], src: SocketAddr, over_tcp: bool) -> Option<Vec<u8>> {
        let protocol = if over_tcp {
            Protocol::Tcp
        } else {
            Protocol::Udp
        };
        let request = Request::from_bytes(raw.to_vec(), src, protocol).ok()?;
        if request.metadata.message_type == MessageType::Response {
            return None;
        }
        let sent = Capture {
            protocol,
            bytes: Arc::default(),
        };
        let handled = self
            .handler
            .handle_request::<_, TokioTime>(&request, sent.clone());
        futures::executor::block_on(handled);
        let bytes = sent
            .bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        bytes
    }

    /// The identities the node was told about since the last call.
    pub fn told(&mut self) -> Vec<PeerIdentity> {
        std::iter::from_fn(|| self.told.try_recv().ok()).collect()
    }
}

/// Keeps the encoded response instead of sending it.
#[derive(Clone)]
struct Capture {
    protocol: Protocol,
    bytes: Arc<Mutex<Option<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let (info, bytes) = encode(response, self.protocol)?;
        *self.bytes.lock().unwrap_or_else(PoisonError::into_inner) = Some(bytes);
        Ok(info)
    }
}

/// As hickory's `MessageResponse::encode` (crate-private there): UDP answers
/// fit the client's EDNS size or 512 bytes, and a response that cannot be
/// encoded becomes a bare SERVFAIL.
fn encode<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    protocol: Protocol,
) -> Result<(ResponseInfo, Vec<u8>), ProtoError> {
    let id = response.metadata().id;
    let max = match (protocol, response.edns()) {
        (Protocol::Udp, Some(edns)) => edns.max_payload(),
        (Protocol::Udp, None) => 512,
        _ => u16::MAX,
    };
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(max);
    if let Ok(info) = response.destructive_emit(&mut encoder) {
        return Ok((info, bytes));
    }
    bytes.clear();
    let mut encoder = BinEncoder::new(&mut bytes);
    let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
    metadata.response_code = ResponseCode::ServFail;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    header.emit(&mut encoder)?;
    Ok((ResponseInfo::from(header), bytes))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const A: &str = fips_testkit::keys::A.npub;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            m.push(u8::try_from(label.len()).expect("short label"));
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]); // class IN
        m
    }

    fn responder() -> Responder {
        Responder::new(NameBook::new(PathBuf::from("/nonexistent/fips/hosts"), &[]))
    }

    #[test]
    fn responder_answers_an_npub_and_tells_the_node_once() {
        let mut r = responder();
        let src = "127.0.0.1:5300".parse().expect("lit");
        let reply = r
            .respond(&query(&format!("{A}.fips"), 28), src, false)
            .expect("a reply");
        assert_eq!(&reply[..2], &[0xab, 0xcd]);
        assert_eq!(reply[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1, "one answer");
        let id = PeerIdentity::from_npub(A).expect("vector");
        assert!(reply.ends_with(&id.ipv6().octets()));
        assert_eq!(r.told(), vec![id]);
        assert!(r
            .respond(&query(&format!("{A}.fips"), 28), src, true)
            .is_some());
        assert_eq!(r.told(), vec![], "told again within a minute");
    }

    #[test]
    fn responder_sends_nothing_for_a_short_header_or_a_response() {
        let r = responder();
        let src = "127.0.0.1:5300".parse().expect("lit");
        assert_eq!(r.respond(&[0; 11], src, false), None);
        let mut response = query("fips", 6);
        response[2] |= 0x80;
        assert_eq!(r.respond(&response, src, false), None);
    }
}
