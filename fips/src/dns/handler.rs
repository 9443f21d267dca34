//! The hickory `RequestHandler`: checks the request, answers `.fips` and
//! fd00::/8 reverse names from the `NameBook`, tells the node about named
//! identities, and refuses or forwards the rest. Work is bounded: a fixed
//! number of requests in flight (extra ones are dropped, as a loaded server
//! does) and a smaller number of forwards (extra ones get SERVFAIL at once).

use std::sync::Arc;
use std::time::Instant;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::{DNSClass, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::sync::{mpsc, Semaphore};
use tracing::debug;

use super::answer::{answer, Reply};
use super::forward::Upstream;
use super::names::NameBook;
use super::PeerIdentity;
use crate::limits;

/// EDNS version we speak (RFC 6891).
const EDNS_VERSION: u8 = 0;

pub struct FipsHandler {
    pub(crate) book: Arc<NameBook>,
    pub(crate) upstream: Option<Upstream>,
    pub(crate) on_identity: mpsc::Sender<PeerIdentity>,
    pub(crate) in_flight: Semaphore,
    pub(crate) forwards: Semaphore,
}

#[async_trait::async_trait]
impl RequestHandler for FipsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response: R,
    ) -> ResponseInfo {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            debug!(src = %request.src(), "too many DNS requests in flight; dropping one");
            limits::count(&limits::DNS_DROPPED);
            return dropped(request);
        };
        if points_into_header(request.queries.as_bytes()) {
            debug!(src = %request.src(), "DNS question compressed into the header; dropping it");
            return dropped(request);
        }
        let edns = response_edns(request);
        match check(request) {
            Err(rcode) => send_error(request, edns.as_ref(), rcode, response).await,
            Ok(()) => self.query(request, edns.as_ref(), response).await,
        }
    }
}

impl FipsHandler {
    async fn query<R: ResponseHandler>(
        &self,
        request: &Request,
        edns: Option<&Edns>,
        response: R,
    ) -> ResponseInfo {
        let Some(query) = request.queries.queries().first() else {
            return send_error(request, edns, ResponseCode::FormErr, response).await;
        };
        match answer(&self.book, query) {
            Reply::Local {
                rcode,
                answers,
                authority,
                named,
            } => {
                if matches!(query.query_type(), RecordType::AXFR | RecordType::IXFR) {
                    return send_error(request, edns, ResponseCode::Refused, response).await;
                }
                if let Some(id) = named {
                    self.tell_node(id);
                }
                let mut meta = self.metadata(request, rcode);
                meta.authoritative = true;
                send(request, edns, meta, &answers, &authority, &[], response).await
            }
            Reply::Foreign => match self.upstream {
                None => send_error(request, edns, ResponseCode::Refused, response).await,
                Some(upstream) => self.forward(upstream, request, edns, response).await,
            },
        }
    }

    /// Queued before the answer leaves, so the node knows the identity by
    /// the time the application sends its first packet. Never blocks: a
    /// full channel means the node is busy, and the next answer retries.
    fn tell_node(&self, id: PeerIdentity) {
        if self.book.remember(id, id.ipv6(), Instant::now()) {
            if let Err(e) = self.on_identity.try_send(id) {
                debug!(error = %e, "identity channel full or closed; the node was not told");
                self.book.untold(&id.ipv6());
            }
        }
    }

    async fn forward<R: ResponseHandler>(
        &self,
        upstream: Upstream,
        request: &Request,
        edns: Option<&Edns>,
        response: R,
    ) -> ResponseInfo {
        let Ok(_permit) = self.forwards.try_acquire() else {
            debug!("too many forwards in flight");
            limits::count(&limits::DNS_FORWARDS_REFUSED);
            return send_error(request, edns, ResponseCode::ServFail, response).await;
        };
        match upstream.query(request.as_slice(), request.protocol()).await {
            Ok(msg) if msg.metadata.id == request.metadata.id => {
                let mut meta = self.metadata(request, msg.metadata.response_code);
                meta.authoritative = msg.metadata.authoritative;
                meta.truncation = msg.metadata.truncation;
                meta.recursion_available = msg.metadata.recursion_available;
                meta.authentic_data = msg.metadata.authentic_data;
                send(
                    request,
                    edns,
                    meta,
                    &msg.answers,
                    &msg.authorities,
                    &msg.additionals,
                    response,
                )
                .await
            }
            Ok(_) => {
                debug!("upstream answered with another id");
                send_error(request, edns, ResponseCode::ServFail, response).await
            }
            Err(e) => {
                debug!(error = %e, "forward failed");
                send_error(request, edns, ResponseCode::ServFail, response).await
            }
        }
    }

    fn metadata(&self, request: &Request, rcode: ResponseCode) -> Metadata {
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.response_code = rcode;
        meta.recursion_available = self.upstream.is_some();
        meta
    }
}

/// What we refuse to look at: other opcodes, not exactly one question,
/// classes other than IN, EDNS versions we don't speak.
fn check(request: &Request) -> Result<(), ResponseCode> {
    if request.metadata.op_code != OpCode::Query {
        return Err(ResponseCode::NotImp);
    }
    if request.queries.len() != 1 {
        return Err(ResponseCode::FormErr);
    }
    if request
        .edns
        .as_ref()
        .is_some_and(|e| e.version() > EDNS_VERSION)
    {
        return Err(ResponseCode::BADVERS);
    }
    match request.queries.queries().first().map(|q| q.query_class()) {
        Some(DNSClass::IN) => Ok(()),
        _ => Err(ResponseCode::NotImp),
    }
}

/// Whether a question name uses a compression pointer into the 12-byte
/// header. Every reply echoes the question section's raw bytes after a
/// header of its own, so such a name would decode to something else there,
/// or not at all (found by the dns_query fuzz target). No client writes
/// one; pointers to earlier questions are echoed intact and allowed.
fn points_into_header(questions: &[u8]) -> bool {
    const HEADER_LEN: usize = 12;
    let mut at = 0;
    while let Some(&len) = questions.get(at) {
        match len {
            0 => at += 1 + 4, // root label, then type and class
            l if l & 0xc0 == 0xc0 => {
                let low = questions.get(at + 1).copied().unwrap_or(0);
                if usize::from(u16::from_be_bytes([l & 0x3f, low])) < HEADER_LEN {
                    return true;
                }
                at += 2 + 4;
            }
            l => at += 1 + usize::from(l),
        }
    }
    false
}

/// An OPT in the answer iff the query had one; its size is the client's,
/// which is what limits the UDP answer's length (longer ones get TC).
fn response_edns(request: &Request) -> Option<Edns> {
    request.edns.as_ref().map(|_| {
        let mut edns = Edns::new();
        edns.set_max_payload(request.max_payload());
        edns.set_version(EDNS_VERSION);
        edns
    })
}

async fn send<R: ResponseHandler>(
    request: &Request,
    edns: Option<&Edns>,
    meta: Metadata,
    answers: &[Record],
    authority: &[Record],
    additionals: &[Record],
    mut response: R,
) -> ResponseInfo {
    super::stats::count(meta.response_code);
    let mut builder = MessageResponseBuilder::new(&request.queries, None);
    if let Some(edns) = edns {
        builder.edns(edns);
    }
    let message = builder.build(
        meta,
        answers.iter(),
        authority.iter(),
        [],
        additionals.iter(),
    );
    match response.send_response(message).await {
        Ok(info) => info,
        Err(e) => {
            debug!(error = %e, "could not send a DNS response");
            dropped(request)
        }
    }
}

async fn send_error<R: ResponseHandler>(
    request: &Request,
    edns: Option<&Edns>,
    rcode: ResponseCode,
    response: R,
) -> ResponseInfo {
    let mut meta = Metadata::response_from_request(&request.metadata);
    meta.response_code = rcode;
    send(request, edns, meta, &[], &[], &[], response).await
}

/// The ResponseInfo for a request we did not answer.
fn dropped(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{NameBook, Responder};

    #[test]
    fn a_question_compressed_into_the_header_gets_no_reply() {
        // The dns_query fuzz target's crash: the name is a pointer to
        // offset 0, and the reply's header differs from the query's, so
        // the echoed question did not decode.
        let query = [
            0x01, 0xe4, 0x0f, 0xfa, 0, 1, 0, 0, 0, 0, 0, 0, // header, 1 question
            0xc0, 0x00, 0x00, 0x1c, 0x00, 0x01, // pointer to 0, AAAA, IN
        ];
        let r = Responder::new(NameBook::new(PathBuf::from("/nonexistent/fips/hosts"), &[]));
        let src = "127.0.0.1:5300".parse().expect("lit");
        assert_eq!(r.respond(&query, src, false), None);
    }

    #[test]
    fn a_second_question_may_point_at_the_first() {
        let mut query = vec![0, 7, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0];
        query.extend_from_slice(b"\x04fips\x00\x00\x06\x00\x01"); // fips. SOA IN
        query.extend_from_slice(&[0xc0, 12, 0x00, 0x02, 0x00, 0x01]); // -> fips. NS IN
        let r = Responder::new(NameBook::new(PathBuf::from("/nonexistent/fips/hosts"), &[]));
        let src = "127.0.0.1:5300".parse().expect("lit");
        let reply = r.respond(&query, src, false).expect("a FORMERR");
        assert_eq!(reply[3] & 0x0f, 1, "FORMERR for two questions");
        assert_eq!(&reply[12..], &query[12..], "questions echoed as sent");
    }
}
