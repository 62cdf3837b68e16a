//! pcapng block encoding (Section Header, Interface Description and Enhanced
//! Packet blocks), written from the layout in the IETF pcapng draft
//! (draft-ietf-opsawg-pcapng).
//!
//! Everything is little-endian: pcapng lets the writer pick its byte order
//! (readers detect it from the byte-order magic), and a fixed order keeps the
//! files identical across hosts, which the tests rely on.

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const EPB_TYPE: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;

/// An option value is length-prefixed with a u16; longer text is cut at a
/// character boundary so the option stays valid UTF-8.
const MAX_OPTION_LEN: usize = 65_000;

/// Accumulates one block; the total length is known only at the end.
pub(crate) struct Block {
    buf: Vec<u8>,
    has_options: bool,
}

impl Block {
    fn new(block_type: u32, body_hint: usize) -> Self {
        let mut buf = Vec::with_capacity(body_hint + 64);
        buf.extend_from_slice(&block_type.to_le_bytes());
        // Placeholder for the leading total length, patched in `finish`.
        buf.extend_from_slice(&0u32.to_le_bytes());
        Block {
            buf,
            has_options: false,
        }
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn padded(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        let pad = (4 - bytes.len() % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
    }

    fn option(&mut self, code: u16, value: &[u8]) {
        // `value` is already bounded by the callers (MAX_OPTION_LEN or a
        // fixed-size value), so the cast cannot truncate.
        let len = value.len().min(MAX_OPTION_LEN);
        self.u16(code);
        self.u16(len as u16);
        self.padded(&value[..len]);
        self.has_options = true;
    }

    fn text_option(&mut self, code: u16, text: &str) {
        if text.is_empty() {
            return;
        }
        self.option(code, truncate_utf8(text, MAX_OPTION_LEN).as_bytes());
    }

    /// Closes the option list (if any) and writes both length fields.
    fn finish(mut self) -> Vec<u8> {
        if self.has_options {
            self.u16(OPT_END);
            self.u16(0);
        }
        let total = (self.buf.len() + 4) as u32;
        self.u32(total);
        self.buf[4..8].copy_from_slice(&total.to_le_bytes());
        self.buf
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Section Header Block: starts the file and names the writing application.
pub(crate) fn section_header(app: &str) -> Vec<u8> {
    let mut b = Block::new(SHB_TYPE, 32);
    b.u32(BYTE_ORDER_MAGIC);
    b.u16(1); // major version
    b.u16(0); // minor version
              // Section length unknown (-1): we stream and never seek back.
    b.buf.extend_from_slice(&(-1i64).to_le_bytes());
    b.text_option(SHB_USERAPPL, app);
    b.finish()
}

/// Interface Description Block for one link type, with nanosecond
/// timestamps.
pub(crate) fn interface(link_type: u16, name: &str, description: &str) -> Vec<u8> {
    let mut b = Block::new(IDB_TYPE, 64);
    b.u16(link_type);
    b.u16(0); // reserved
    b.u32(0); // snaplen 0 = unlimited: we never cut packets
    b.text_option(IF_NAME, name);
    b.text_option(IF_DESCRIPTION, description);
    // if_tsresol: high bit clear = power of ten, value 9 = 10^-9 s. Without
    // it readers assume microseconds and our ns counts would be 1000x off.
    b.option(IF_TSRESOL, &[9]);
    b.finish()
}

/// Enhanced Packet Block with a 64-bit nanosecond timestamp and a comment.
pub(crate) fn enhanced_packet(
    interface_id: u32,
    t_ns: u64,
    packet: &[u8],
    comment: &str,
) -> Vec<u8> {
    let mut b = Block::new(EPB_TYPE, packet.len() + comment.len());
    b.u32(interface_id);
    b.u32((t_ns >> 32) as u32);
    b.u32(t_ns as u32);
    // Packets are built by this crate and always fit in an IP datagram, so
    // the length fits in u32 with room to spare.
    let len = packet.len() as u32;
    b.u32(len); // captured length
    b.u32(len); // original length
    b.padded(packet);
    b.text_option(OPT_COMMENT, comment);
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_consistent_and_aligned() {
        for block in [
            section_header("x"),
            section_header(""),
            interface(228, "ipv4", "d"),
            enhanced_packet(0, u64::MAX, &[1, 2, 3], "é"),
            enhanced_packet(0, 0, &[], ""),
        ] {
            assert_eq!(block.len() % 4, 0);
            let lead = u32::from_le_bytes(block[4..8].try_into().unwrap()) as usize;
            let trail = u32::from_le_bytes(block[block.len() - 4..].try_into().unwrap()) as usize;
            assert_eq!(lead, block.len());
            assert_eq!(trail, block.len());
        }
    }

    #[test]
    fn long_comment_is_cut_on_char_boundary() {
        let s = "é".repeat(40_000);
        let t = truncate_utf8(&s, MAX_OPTION_LEN);
        assert!(t.len() <= MAX_OPTION_LEN);
        let block = enhanced_packet(0, 0, &[0], &s);
        assert_eq!(block.len() % 4, 0);
    }
}
