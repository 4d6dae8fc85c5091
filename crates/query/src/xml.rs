//! Response writing: a minimal streaming XML writer plus the success and error
//! envelopes of the EC2 and ELBv2 Query protocols.
//!
//! All text and attribute content is XML-escaped (`& < > " '`). Tag names are
//! expected to be valid XML names chosen by the caller; they are escaped as
//! well so that a stray value can never inject markup.

use std::fmt::{self, Write as _};

/// Namespace of every EC2 response (real responses carry the trailing slash).
pub const EC2_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
/// Namespace of every ELBv2 response.
pub const ELB_NAMESPACE: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Builds an XML fragment into a `String`.
///
/// Methods return `&mut Self` so a response body reads top to bottom:
///
/// ```
/// use query::XmlWriter;
/// let mut w = XmlWriter::new();
/// w.node("vpcEndpoint", |w| {
///     w.elem("vpcEndpointId", "vpce-1").elem_opt("policyDocument", None::<&str>);
///     w.list("subnetIdSet", "item", ["subnet-a"], |w, id| {
///         w.text(id);
///     });
/// });
/// assert_eq!(
///     w.as_str(),
///     "<vpcEndpoint><vpcEndpointId>vpce-1</vpcEndpointId>\
///      <subnetIdSet><item>subnet-a</item></subnetIdSet></vpcEndpoint>"
/// );
/// ```
#[derive(Debug, Default)]
pub struct XmlWriter {
    buf: String,
}

impl XmlWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// `<tag>`
    pub fn start(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        escape_into(&mut self.buf, tag);
        self.buf.push('>');
        self
    }

    /// `</tag>`
    pub fn end(&mut self, tag: &str) -> &mut Self {
        self.buf.push_str("</");
        escape_into(&mut self.buf, tag);
        self.buf.push('>');
        self
    }

    /// Escaped character data with no surrounding element, e.g. for list items
    /// whose content is a bare value.
    pub fn text(&mut self, text: impl fmt::Display) -> &mut Self {
        // Writing into a String cannot fail; an error could only come from a
        // broken `Display` impl, in which case its partial output is kept.
        let _ = write!(Escaper(&mut self.buf), "{text}");
        self
    }

    /// `<tag>escaped</tag>`
    pub fn elem(&mut self, tag: &str, text: impl fmt::Display) -> &mut Self {
        self.start(tag).text(text).end(tag)
    }

    /// `<tag>escaped</tag>`, or nothing when `None`.
    pub fn elem_opt<T: fmt::Display>(&mut self, tag: &str, text: Option<T>) -> &mut Self {
        match text {
            Some(text) => self.elem(tag, text),
            None => self,
        }
    }

    /// `<tag/>`
    pub fn empty(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        escape_into(&mut self.buf, tag);
        self.buf.push_str("/>");
        self
    }

    /// `<tag>…</tag>` around whatever `body` writes.
    pub fn node(&mut self, tag: &str, body: impl FnOnce(&mut XmlWriter)) -> &mut Self {
        self.start(tag);
        body(self);
        self.end(tag)
    }

    /// `<list_tag><item_tag>…</item_tag>…</list_tag>`; written (as
    /// `<list_tag/>`) even when `items` is empty, as AWS does.
    pub fn list<I: IntoIterator>(
        &mut self,
        list_tag: &str,
        item_tag: &str,
        items: I,
        mut each: impl FnMut(&mut XmlWriter, I::Item),
    ) -> &mut Self {
        let mut items = items.into_iter().peekable();
        if items.peek().is_none() {
            return self.empty(list_tag);
        }
        self.start(list_tag);
        for item in items {
            self.start(item_tag);
            each(self, item);
            self.end(item_tag);
        }
        self.end(list_tag)
    }

    /// Appends already-serialised XML verbatim (e.g. a fragment built by
    /// another writer). The caller vouches that it is well-formed.
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.buf.push_str(xml);
        self
    }

    /// The XML written so far.
    pub fn as_str(&self) -> &str {
        &self.buf
    }

    /// The XML written so far, by value.
    pub fn into_string(self) -> String {
        self.buf
    }
}

/// `<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="EC2_NAMESPACE"><requestId>{id}</requestId>{body}</{action}Response>`
/// (no Result wrapper). `body` is inserted verbatim.
pub fn ec2_success(action: &str, request_id: &str, body: &str) -> String {
    let root = format!("{action}Response");
    let mut w = XmlWriter::new();
    w.raw(XML_DECLARATION);
    open_with_namespace(&mut w, &root, EC2_NAMESPACE);
    w.elem("requestId", request_id).raw(body).end(&root);
    w.into_string()
}

/// `<?xml …?>\n<{action}Response xmlns="ELB_NAMESPACE"><{action}Result>{body}</{action}Result><ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></{action}Response>`.
/// `body` is inserted verbatim.
pub fn elb_success(action: &str, request_id: &str, body: &str) -> String {
    let root = format!("{action}Response");
    let result = format!("{action}Result");
    let mut w = XmlWriter::new();
    w.raw(XML_DECLARATION);
    open_with_namespace(&mut w, &root, ELB_NAMESPACE);
    w.start(&result).raw(body).end(&result);
    w.node("ResponseMetadata", |w| {
        w.elem("RequestId", request_id);
    });
    w.end(&root);
    w.into_string()
}

/// `<?xml …?>\n<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>`
pub fn ec2_error(code: &str, message: &str, request_id: &str) -> String {
    let mut w = XmlWriter::new();
    w.raw(XML_DECLARATION);
    w.node("Response", |w| {
        w.node("Errors", |w| {
            w.node("Error", |w| {
                w.elem("Code", code).elem("Message", message);
            });
        });
        // EC2 spells it `RequestID` here but `requestId` in successes.
        w.elem("RequestID", request_id);
    });
    w.into_string()
}

/// `<?xml …?>\n<ErrorResponse xmlns="ELB_NAMESPACE"><Error><Type>Sender|Receiver</Type><Code>…</Code><Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>`
pub fn elb_error(code: &str, message: &str, request_id: &str, sender_fault: bool) -> String {
    let mut w = XmlWriter::new();
    w.raw(XML_DECLARATION);
    open_with_namespace(&mut w, "ErrorResponse", ELB_NAMESPACE);
    w.node("Error", |w| {
        w.elem("Type", if sender_fault { "Sender" } else { "Receiver" })
            .elem("Code", code)
            .elem("Message", message);
    });
    w.elem("RequestId", request_id).end("ErrorResponse");
    w.into_string()
}

/// ISO-8601 with milliseconds and Z, as AWS writes timestamps:
/// `2017-09-05T17:55:27.583Z`. The instant is converted to UTC first.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// XML-escape `text` (`& < > " '`), for callers assembling XML by hand.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn open_with_namespace(w: &mut XmlWriter, tag: &str, namespace: &str) {
    w.raw("<");
    w.text(tag);
    w.raw(" xmlns=\"");
    w.text(namespace);
    w.raw("\">");
}

fn escape_into(out: &mut String, text: &str) {
    // Fast path: most text (ids, names, numbers) needs no escaping at all.
    let plain = |b: u8| b >= 0x20 && !matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | 0xEF);
    if text.bytes().all(plain) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A literal CR would be normalised away by the client's parser.
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            // These cannot appear in XML 1.0 at all, not even as character
            // references, so the only way to keep the document parseable is
            // to substitute them.
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            _ => out.push(c),
        }
    }
}

/// Escapes everything formatted through it, so `Display` values need no
/// intermediate `String`.
struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn elem_escapes_all_five() {
        let mut w = XmlWriter::new();
        w.elem("message", r#"a & b < c > d "e" 'f'"#);
        assert_eq!(
            w.as_str(),
            "<message>a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;</message>"
        );
    }

    #[test]
    fn escape_handles_control_characters() {
        assert_eq!(escape("a\tb\nc\rd"), "a\tb\nc&#xD;d");
        assert_eq!(
            escape("x\u{0}y\u{1b}z\u{FFFF}"),
            "x\u{FFFD}y\u{FFFD}z\u{FFFD}"
        );
        assert_eq!(escape("ሴ é"), "ሴ é");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn elem_accepts_display_values() {
        let mut w = XmlWriter::new();
        w.elem("port", 443).elem("enabled", true).elem("ratio", 1.5);
        assert_eq!(
            w.as_str(),
            "<port>443</port><enabled>true</enabled><ratio>1.5</ratio>"
        );
    }

    #[test]
    fn elem_opt_writes_only_some() {
        let mut w = XmlWriter::new();
        w.elem_opt("a", Some("x<y")).elem_opt("b", None::<String>);
        w.elem_opt("c", Some(7u16));
        assert_eq!(w.as_str(), "<a>x&lt;y</a><c>7</c>");
    }

    #[test]
    fn start_end_empty_node() {
        let mut w = XmlWriter::new();
        w.start("outer").empty("nothing");
        w.node("inner", |w| {
            w.elem("x", "1");
        });
        w.node("blank", |_| {});
        w.end("outer");
        assert_eq!(
            w.into_string(),
            "<outer><nothing/><inner><x>1</x></inner><blank></blank></outer>"
        );
    }

    #[test]
    fn tags_cannot_inject_markup() {
        let mut w = XmlWriter::new();
        w.elem("a><b", "x");
        assert_eq!(w.as_str(), "<a&gt;&lt;b>x</a&gt;&lt;b>");
    }

    #[test]
    fn list_of_items() {
        let mut w = XmlWriter::new();
        w.list(
            "subnetIdSet",
            "item",
            ["subnet-a", "subnet-<b>"],
            |w, id| {
                w.text(id);
            },
        );
        assert_eq!(
            w.as_str(),
            "<subnetIdSet><item>subnet-a</item><item>subnet-&lt;b&gt;</item></subnetIdSet>"
        );
    }

    #[test]
    fn list_of_structures() {
        let mut w = XmlWriter::new();
        let entries = [("a.example", "Z1"), ("b.example", "Z2")];
        w.list("dnsEntrySet", "item", entries.iter(), |w, (name, zone)| {
            w.elem("dnsName", name).elem("hostedZoneId", zone);
        });
        assert_eq!(
            w.as_str(),
            "<dnsEntrySet><item><dnsName>a.example</dnsName><hostedZoneId>Z1</hostedZoneId></item>\
             <item><dnsName>b.example</dnsName><hostedZoneId>Z2</hostedZoneId></item></dnsEntrySet>"
        );
    }

    #[test]
    fn list_of_zero_items_is_still_written() {
        let mut w = XmlWriter::new();
        w.list("tagSet", "item", Vec::<&str>::new(), |w, t| {
            w.text(t);
        });
        w.list(
            "LoadBalancers",
            "member",
            std::iter::empty::<u8>(),
            |_, _| {},
        );
        assert_eq!(w.as_str(), "<tagSet/><LoadBalancers/>");
    }

    #[test]
    fn raw_is_verbatim() {
        let mut inner = XmlWriter::new();
        inner.elem("x", "&");
        let mut w = XmlWriter::new();
        w.node("o", |w| {
            w.raw(inner.as_str());
        });
        assert_eq!(w.as_str(), "<o><x>&amp;</x></o>");
    }

    #[test]
    fn ec2_success_envelope() {
        assert_eq!(
            ec2_success("DescribeVpcEndpoints", "req-1", "<vpcEndpointSet/>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DescribeVpcEndpointsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>req-1</requestId><vpcEndpointSet/></DescribeVpcEndpointsResponse>"
        );
    }

    #[test]
    fn elb_success_envelope() {
        assert_eq!(
            elb_success("DescribeLoadBalancers", "req-2", "<LoadBalancers/>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DescribeLoadBalancersResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <DescribeLoadBalancersResult><LoadBalancers/></DescribeLoadBalancersResult>\
             <ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata>\
             </DescribeLoadBalancersResponse>"
        );
        assert_eq!(
            elb_success("DeleteLoadBalancer", "r", ""),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DeleteLoadBalancerResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <DeleteLoadBalancerResult></DeleteLoadBalancerResult>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
             </DeleteLoadBalancerResponse>"
        );
    }

    #[test]
    fn ec2_error_envelope() {
        assert_eq!(
            ec2_error(
                "InvalidInstanceID.NotFound",
                "The instance ID 'i-1a2b3c4d' does not exist",
                "ea966190-f9aa-478e-9ede-example"
            ),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>\
             <Message>The instance ID &apos;i-1a2b3c4d&apos; does not exist</Message></Error></Errors>\
             <RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
        );
    }

    #[test]
    fn elb_error_envelope() {
        assert_eq!(
            elb_error(
                "LoadBalancerNotFound",
                "One or more load balancers not found",
                "r-1",
                true
            ),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code>\
             <Message>One or more load balancers not found</Message></Error>\
             <RequestId>r-1</RequestId></ErrorResponse>"
        );
        assert_eq!(
            elb_error("InternalFailure", "a < b", "r-2", false),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <Error><Type>Receiver</Type><Code>InternalFailure</Code>\
             <Message>a &lt; b</Message></Error>\
             <RequestId>r-2</RequestId></ErrorResponse>"
        );
    }

    #[test]
    fn envelopes_escape_request_ids() {
        assert!(ec2_success("X", "<&>", "").contains("<requestId>&lt;&amp;&gt;</requestId>"));
        assert!(ec2_error("C", "M", "\"").contains("<RequestID>&quot;</RequestID>"));
    }

    #[test]
    fn timestamp_format() {
        assert_eq!(
            timestamp(datetime!(2017-09-05 17:55:27.583 UTC)),
            "2017-09-05T17:55:27.583Z"
        );
        assert_eq!(
            timestamp(datetime!(2020-01-02 03:04:05 UTC)),
            "2020-01-02T03:04:05.000Z"
        );
        // Sub-millisecond precision is truncated, not rounded.
        assert_eq!(
            timestamp(datetime!(2020-01-02 03:04:05.999_999 UTC)),
            "2020-01-02T03:04:05.999Z"
        );
        // Non-UTC offsets are converted.
        assert_eq!(
            timestamp(datetime!(2020-01-02 01:00:00.5 +02:00)),
            "2020-01-01T23:00:00.500Z"
        );
    }
}
