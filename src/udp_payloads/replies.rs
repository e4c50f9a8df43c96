//! Does a datagram answer one of our requests? Structural checks, one per
//! payload, plus the two readers that pull text out of an answer
//! (a DNS TXT record, an SNMP OCTET STRING value).
//!
//! A port is open on *any* reply; these checks only say whether the reply
//! is the service we addressed (our ID echoed, the right message type), so
//! tests and a later service report can tell a DNS server from something
//! else that happens to listen on port 53. Every reader is bounded by the
//! input: offsets are checked, nothing allocates more than the reply.

use super::{
    CLASS_CH, DHCP_CHADDR, IKE_COOKIE, MEMCACHED_REQUEST_ID, NTP_TRANSMIT, QUERY_ID, RPC_XID,
    SNMP_REQUEST_ID, TYPE_TXT,
};

/// Any datagram (ports whose payload is empty).
pub fn any(_reply: &[u8]) -> bool {
    true
}

/// A DNS response (QR set) carrying our ID (RFC 1035 §4.1.1).
pub fn dns(reply: &[u8]) -> bool {
    reply.len() >= 12 && be16(reply, 0) == Some(QUERY_ID) && reply[2] & 0x80 != 0
}

/// An NTP server packet (mode 4) whose origin timestamp is our transmit
/// timestamp (RFC 5905 §8).
pub fn ntp(reply: &[u8]) -> bool {
    reply.len() >= 48 && reply[0] & 7 == 4 && reply[24..32] == NTP_TRANSMIT
}

/// An SNMP Response-PDU (tag 0xA2) to our request-id, v1 or v2c.
pub fn snmp(reply: &[u8]) -> bool {
    snmp_response(reply).is_some_and(|r| r.request_id == SNMP_REQUEST_ID)
}

/// A NetBIOS name service response (R bit) with our ID (RFC 1002 §4.2.1).
pub fn netbios(reply: &[u8]) -> bool {
    reply.len() >= 12 && be16(reply, 0) == Some(QUERY_ID) && reply[2] & 0x80 != 0
}

/// An HTTP-over-UDP status line, as SSDP answers a search.
pub fn ssdp(reply: &[u8]) -> bool {
    reply.starts_with(b"HTTP/1.")
}

/// An ONC RPC REPLY (msg_type 1) to our xid (RFC 5531 §9).
pub fn rpc(reply: &[u8]) -> bool {
    be32(reply, 0) == Some(RPC_XID) && be32(reply, 4) == Some(1)
}

/// A BOOTREPLY with our xid and the DHCP magic cookie (RFC 2131 §2).
pub fn dhcp(reply: &[u8]) -> bool {
    reply.len() >= 240
        && reply[0] == 2
        && be32(reply, 4) == Some(RPC_XID)
        && reply[28..34] == DHCP_CHADDR
        && reply[236..240] == [99, 130, 83, 99]
}

/// A TFTP DATA, ERROR or OACK packet (RFC 1350 §5, RFC 2347).
pub fn tftp(reply: &[u8]) -> bool {
    matches!(be16(reply, 0), Some(3 | 5 | 6))
}

/// An ISAKMP message echoing our initiator cookie (RFC 2408 §3.1).
pub fn ike(reply: &[u8]) -> bool {
    reply.len() >= 28 && reply[..8] == IKE_COOKIE
}

/// A memcached UDP frame with our request id and a `VERSION` line.
pub fn memcached(reply: &[u8]) -> bool {
    be16(reply, 0) == Some(MEMCACHED_REQUEST_ID)
        && reply.get(8..).is_some_and(|b| b.starts_with(b"VERSION "))
}

/// The first TXT string of the first answer of a DNS response to our
/// `version.bind` CH TXT query, e.g. `dnsmasq-2.89`. `None` when the
/// response has no such answer (refused, truncated, malformed).
pub fn dns_version_txt(msg: &[u8]) -> Option<&[u8]> {
    if !dns(msg) || be16(msg, 6)? == 0 || be16(msg, 4)? != 1 {
        return None;
    }
    let mut at = skip_dns_name(msg, 12)? + 4; // question: name, type, class
    at = skip_dns_name(msg, at)?; // answer owner name
    let (rtype, class) = (be16(msg, at)?, be16(msg, at + 2)?);
    let rdlen = be16(msg, at + 8)? as usize;
    let rdata = msg.get(at + 10..at + 10 + rdlen)?;
    if rtype != TYPE_TXT || class != CLASS_CH {
        return None;
    }
    let len = *rdata.first()? as usize;
    rdata.get(1..1 + len)
}

/// Offset just past the (possibly compressed) DNS name at `at`.
fn skip_dns_name(msg: &[u8], mut at: usize) -> Option<usize> {
    // A name has at most 127 labels; a pointer ends it.
    for _ in 0..128 {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2).filter(|&end| end <= msg.len()),
            l if l < 64 => at += 1 + l as usize,
            _ => return None,
        }
    }
    None
}

/// The parts of an SNMP response that tell whose answer it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmpResponse<'a> {
    /// 0 for SNMPv1, 1 for SNMPv2c.
    pub version: i64,
    /// The community string echoed.
    pub community: &'a [u8],
    /// The request-id echoed.
    pub request_id: i32,
    /// The first variable binding's value when it is an OCTET STRING
    /// (sysDescr.0 for our request).
    pub first_string: Option<&'a [u8]>,
}

/// Reads an SNMP v1/v2c message whose PDU is a Response (tag 0xA2).
pub fn snmp_response(msg: &[u8]) -> Option<SnmpResponse<'_>> {
    let (tag, body, _) = ber_tlv(msg)?;
    if tag != 0x30 {
        return None;
    }
    let (version, rest) = ber_expect_int(body)?;
    let (tag, community, rest) = ber_tlv(rest)?;
    let (pdu_tag, pdu, _) = ber_tlv(rest)?;
    if tag != 0x04 || pdu_tag != 0xa2 {
        return None;
    }
    let (request_id, rest) = ber_expect_int(pdu)?;
    let (_error_status, rest) = ber_expect_int(rest)?;
    let (_error_index, rest) = ber_expect_int(rest)?;
    let first_string = first_varbind_string(rest);
    Some(SnmpResponse {
        version,
        community,
        request_id: i32::try_from(request_id).ok()?,
        first_string,
    })
}

fn first_varbind_string(varbinds: &[u8]) -> Option<&[u8]> {
    let (_, list, _) = ber_tlv(varbinds)?;
    let (_, varbind, _) = ber_tlv(list)?;
    let (_, _oid, rest) = ber_tlv(varbind)?;
    let (tag, value, _) = ber_tlv(rest)?;
    (tag == 0x04).then_some(value)
}

/// One BER TLV with a definite length: `(tag, content, rest)`. Only
/// single-byte tags, which is all SNMP uses.
fn ber_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(2..2 + n)?;
        (
            bytes.iter().fold(0usize, |acc, b| acc << 8 | *b as usize),
            2 + n,
        )
    };
    let content = input.get(header..header.checked_add(len)?)?;
    Some((tag, content, &input[header + len..]))
}

/// A BER INTEGER of at most 8 bytes, and what follows it.
fn ber_expect_int(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, content, rest) = ber_tlv(input)?;
    if tag != 0x02 || content.is_empty() || content.len() > 8 {
        return None;
    }
    let sign = if content[0] & 0x80 != 0 { -1i64 } else { 0 };
    let v = content.iter().fold(sign, |acc, b| acc << 8 | *b as i64);
    Some((v, rest))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
