//! PROXY protocol version 2 headers (haproxy `doc/proxy-protocol.txt` §2.2), with AWS's
//! PrivateLink TLV (`PP2_TYPE_AWS` 0xEA, subtype `PP2_SUBTYPE_AWS_VPCE_ID` 0x01).
//!
//! Layout: 12-byte signature, version/command byte (`0x21` PROXY, `0x20` LOCAL), family/transport
//! byte (`0x11` TCP over IPv4, `0x21` TCP over IPv6, `0x00` UNSPEC), big-endian length of what
//! follows, then source address, destination address, source port, destination port, then TLVs
//! (`type`, big-endian 16-bit length, value). The spec needs no padding or alignment.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use ppp::v2::{Builder, Command, Protocol, Version};

/// The 12-byte v2 signature; it contains a NUL, so it is never a C string.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// AWS's custom TLV type for PrivateLink information.
pub const PP2_TYPE_AWS: u8 = 0xEA;
/// The AWS TLV subtype carrying the VPC endpoint id.
pub const PP2_SUBTYPE_AWS_VPCE_ID: u8 = 0x01;

/// Errors building a header.
#[derive(Debug, thiserror::Error)]
pub enum Ppv2Error {
    /// The endpoint id would not fit a TLV, or is not `[A-Za-z0-9-]` (what receivers accept).
    #[error("invalid VPC endpoint id for the PROXY v2 TLV: {0:?}")]
    InvalidEndpointId(String),
    /// The encoder refused the header (only on oversized payloads).
    #[error("PROXY v2 encoding failed: {0}")]
    Encode(#[from] std::io::Error),
}

/// The header for a proxied connection: command PROXY, TCP, `source` = the consumer's address and
/// port, `destination` = the endpoint's address and port, plus the AWS TLV when `vpce_id` is set.
/// Mixed families are sent as IPv6 with the IPv4 side mapped (`::ffff:a.b.c.d`).
pub fn proxy_header(
    source: SocketAddr,
    destination: SocketAddr,
    vpce_id: Option<&str>,
) -> Result<Vec<u8>, Ppv2Error> {
    let (source, destination) = same_family(source, destination);
    let mut builder = Builder::with_addresses(
        Version::Two | Command::Proxy,
        Protocol::Stream,
        (source, destination),
    );
    if let Some(id) = vpce_id {
        builder = builder.write_tlv(PP2_TYPE_AWS, &aws_vpce_tlv_value(id)?)?;
    }
    Ok(builder.build()?)
}

/// The header for a connection the proxy makes itself (health checks): command LOCAL, family
/// UNSPEC, no addresses; receivers use the real connection endpoints.
pub fn local_header() -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&SIGNATURE);
    out.push(0x20);
    out.push(0x00);
    out.extend_from_slice(&0u16.to_be_bytes());
    out
}

/// The value of the 0xEA TLV: subtype 0x01 followed by the endpoint id in ASCII.
pub fn aws_vpce_tlv_value(vpce_id: &str) -> Result<Vec<u8>, Ppv2Error> {
    let valid = !vpce_id.is_empty()
        && vpce_id.len() < usize::from(u16::MAX)
        && vpce_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(Ppv2Error::InvalidEndpointId(vpce_id.to_string()));
    }
    let mut value = Vec::with_capacity(1 + vpce_id.len());
    value.push(PP2_SUBTYPE_AWS_VPCE_ID);
    value.extend_from_slice(vpce_id.as_bytes());
    Ok(value)
}

fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    match (a, b) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => (a, b),
        _ => (to_v6(a), to_v6(b)),
    }
}

fn to_v6(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) => SocketAddr::V6(SocketAddrV6::new(ip.to_ipv6_mapped(), a.port(), 0, 0)),
        IpAddr::V6(_) => a,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Hand-assembled from the spec, independent of the encoder.
    fn expected_v4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, id: &str) -> Vec<u8> {
        let mut v = vec![
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
        ];
        v.push(0x21);
        v.push(0x11);
        let len = 12 + 3 + 1 + id.len();
        v.extend_from_slice(&(len as u16).to_be_bytes());
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.push(0xEA);
        v.extend_from_slice(&((1 + id.len()) as u16).to_be_bytes());
        v.push(0x01);
        v.extend_from_slice(id.as_bytes());
        v
    }

    #[test]
    fn signature_is_the_spec_bytes() {
        assert_eq!(
            SIGNATURE,
            [
                0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
            ]
        );
    }

    #[test]
    fn proxy_header_matches_the_aws_sample_layout() {
        // Addresses, ports and id from AWS's captured NLB header (without its CRC and NOOP TLVs).
        let id = "vpce-08d2bf15fac5001c9";
        let got = proxy_header(sa("172.31.7.113:51442"), sa("172.31.10.31:80"), Some(id)).unwrap();
        let want = expected_v4([172, 31, 7, 113], [172, 31, 10, 31], 51442, 80, id);
        assert_eq!(got, want);
        assert_eq!(got.len(), 16 + 12 + 3 + 1 + 22);
        assert_eq!(&got[12..16], &[0x21, 0x11, 0x00, 0x26]);
        // The TLV as in the capture: ea 0017 01 "vpce-…".
        assert_eq!(&got[28..32], &[0xEA, 0x00, 0x17, 0x01]);
    }

    #[test]
    fn proxy_header_without_endpoint_id_has_no_tlv() {
        let got = proxy_header(sa("127.0.0.1:1"), sa("127.0.0.2:65535"), None).unwrap();
        assert_eq!(got.len(), 28);
        assert_eq!(&got[14..16], &[0x00, 0x0C]);
        assert_eq!(
            &got[16..28],
            &[127, 0, 0, 1, 127, 0, 0, 2, 0, 1, 0xFF, 0xFF]
        );
    }

    #[test]
    fn proxy_header_round_trips_through_ppp() {
        use ppp::v2::{Addresses, Header};
        let id = "vpce-0123456789abcdef0";
        let bytes = proxy_header(sa("10.0.0.7:40000"), sa("10.0.1.9:443"), Some(id)).unwrap();
        let parsed = Header::try_from(bytes.as_slice()).unwrap();
        assert_eq!(parsed.command, Command::Proxy);
        assert_eq!(parsed.protocol, Protocol::Stream);
        match parsed.addresses {
            Addresses::IPv4(a) => {
                assert_eq!(a.source_address.to_string(), "10.0.0.7");
                assert_eq!(a.source_port, 40000);
                assert_eq!(a.destination_address.to_string(), "10.0.1.9");
                assert_eq!(a.destination_port, 443);
            }
            other => panic!("unexpected addresses {other:?}"),
        }
        let tlvs: Vec<_> = parsed.tlvs().collect::<Result<_, _>>().unwrap();
        assert_eq!(tlvs.len(), 1);
        assert_eq!(tlvs[0].kind, 0xEA);
        assert_eq!(tlvs[0].value[0], 0x01);
        assert_eq!(&tlvs[0].value[1..], id.as_bytes());
        assert_eq!(parsed.len(), bytes.len());
    }

    #[test]
    fn ipv6_and_mixed_families() {
        let got = proxy_header(sa("[::1]:5"), sa("[2001:db8::2]:6"), None).unwrap();
        assert_eq!(&got[12..16], &[0x21, 0x21, 0x00, 36]);
        assert_eq!(got.len(), 16 + 36);
        let mixed = proxy_header(sa("127.0.0.1:5"), sa("[::1]:6"), None).unwrap();
        assert_eq!(mixed[13], 0x21);
        // ::ffff:127.0.0.1
        assert_eq!(
            &mixed[16..32],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 1]
        );
    }

    #[test]
    fn local_header_is_exact_and_parses() {
        let h = local_header();
        let mut want = SIGNATURE.to_vec();
        want.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(h, want);
        let parsed = ppp::v2::Header::try_from(h.as_slice()).unwrap();
        assert_eq!(parsed.command, Command::Local);
    }

    #[test]
    fn bad_endpoint_ids_are_refused() {
        for bad in ["", "vpce 1", "vpce-\u{e9}", "a\nb"] {
            assert!(aws_vpce_tlv_value(bad).is_err(), "{bad:?}");
        }
        assert_eq!(aws_vpce_tlv_value("vpce-1").unwrap(), b"\x01vpce-1");
    }
}
