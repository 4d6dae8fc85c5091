//! Reading queries and writing responses, on hickory's types.

use hickory_proto::op::{Edns, Header, Message, MessageType, Metadata, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};

/// The UDP payload size this resolver offers and answers within (DNS flag day 2020).
pub(crate) const UDP_PAYLOAD: u16 = 1232;

/// A query as read from the wire.
pub(crate) struct Request {
    pub meta: Metadata,
    /// The question(s) as the client wrote them: echoed byte for byte.
    pub queries: Queries,
    pub edns: Option<Edns>,
}

pub(crate) enum Parsed {
    Request(Request),
    /// Unreadable past the header: answer this code with no question.
    Error(Metadata, ResponseCode),
    /// Not a query we answer (too short for a header, or a response).
    Drop,
}

pub(crate) fn parse(packet: &[u8]) -> Parsed {
    let mut decoder = BinDecoder::new(packet);
    let Ok(header) = Header::read(&mut decoder) else {
        return Parsed::Drop;
    };
    let meta = header.metadata;
    if meta.message_type == MessageType::Response {
        // Never answer answers: no reflection loops.
        return Parsed::Drop;
    }
    let counts = header.counts;
    let Ok(queries) = Queries::read(&mut decoder, counts.queries as usize) else {
        return Parsed::Error(meta, ResponseCode::FormErr);
    };
    let mut edns = None;
    for (count, additional) in [
        (counts.answers, false),
        (counts.authorities, false),
        (counts.additionals, true),
    ] {
        match Message::read_records(&mut decoder, count as usize, additional, meta.op_code) {
            Ok((_, found, _)) => edns = edns.or(found),
            Err(_) => return Parsed::Error(meta, ResponseCode::FormErr),
        }
    }
    Parsed::Request(Request {
        meta,
        queries,
        edns,
    })
}

/// The records of a response, by section.
#[derive(Default)]
pub(crate) struct Sections<'a> {
    pub answers: &'a [Record],
    pub authorities: &'a [Record],
    pub additionals: &'a [Record],
}

/// What the response says about itself.
#[derive(Clone, Copy)]
pub(crate) struct Flags {
    pub code: ResponseCode,
    pub authoritative: bool,
}

/// How big a response may be: the client's UDP size within ours, unbounded over TCP.
pub(crate) fn max_size(request: &Request, udp: bool) -> u16 {
    if !udp {
        return u16::MAX;
    }
    let asked = request.edns.as_ref().map_or(512, Edns::max_payload);
    asked.clamp(512, UDP_PAYLOAD)
}

/// Writes a response to `request` into `out` (cleared first), truncated (TC) to `max_size`.
pub(crate) fn write(
    out: &mut Vec<u8>,
    meta: &Metadata,
    queries: &Queries,
    client_edns: Option<&Edns>,
    flags: Flags,
    sections: Sections<'_>,
    max_size: u16,
) {
    let mut response_meta = Metadata::response_from_request(meta);
    response_meta.response_code = flags.code;
    response_meta.authoritative = flags.authoritative;
    response_meta.recursion_available = true;
    // A response carries OPT when the query did (RFC 6891), offering our size.
    let edns = client_edns.map(|_| {
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_PAYLOAD);
        edns
    });
    let response = MessageResponseBuilder::new(queries, edns.as_ref()).build(
        response_meta,
        sections.answers.iter(),
        sections.authorities.iter(),
        std::iter::empty(),
        sections.additionals.iter(),
    );
    out.clear();
    let mut encoder = BinEncoder::new(out);
    encoder.set_max_size(max_size);
    if response.destructive_emit(&mut encoder).is_ok() {
        return;
    }
    // Unwritable (a record hickory cannot emit): a bare SERVFAIL instead.
    out.clear();
    let mut encoder = BinEncoder::new(out);
    response_meta.response_code = ResponseCode::ServFail;
    response_meta.authoritative = false;
    let empty = Queries::read(&mut BinDecoder::new(&[]), 0);
    if let Ok(empty) = empty {
        let bare = MessageResponseBuilder::new(&empty, None).build_no_records(response_meta);
        let _ = bare.destructive_emit(&mut encoder);
    }
}

/// Writes an error response with no question (for requests unreadable past the header).
pub(crate) fn write_error(out: &mut Vec<u8>, meta: &Metadata, code: ResponseCode) {
    out.clear();
    let Ok(empty) = Queries::read(&mut BinDecoder::new(&[]), 0) else {
        return;
    };
    let mut response_meta = Metadata::response_from_request(meta);
    response_meta.response_code = code;
    response_meta.recursion_available = true;
    let response = MessageResponseBuilder::new(&empty, None).build_no_records(response_meta);
    let mut encoder = BinEncoder::new(out);
    if response.destructive_emit(&mut encoder).is_err() {
        out.clear();
    }
}
