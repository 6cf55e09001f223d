//! The server side of the RTMP handshake: C0 C1 in, S0 S1 S2 out, C2 in
//! ([`Handshake`]).
//!
//! Packets (RTMP 1.0 specification, section 5.2; 1536 bytes each after the
//! one-byte C0/S0 version):
//!
//! ```text
//! C0/S0: version (u8) = 3
//! C1/S1: time (u32) | zero or a version (u32) | 1528 random bytes
//! C2/S2: the peer's C1/S1 echoed, or, in the digest variant, random bytes
//!        whose last 32 bytes are an HMAC-SHA-256 signature
//! ```
//!
//! The digest variant (what Flash Player and ffmpeg send; C1's version field is
//! non-zero) hides an HMAC-SHA-256 of C1 under the "Genuine Adobe Flash Player
//! 001" key inside one of two 764-byte blocks, at an offset computed from four
//! bytes of that block (schema 0: the block at byte 772; schema 1: the block at
//! byte 8). When C1 carries a valid digest the server answers in kind: S1
//! carries its own digest under the Flash Media Server key at the same schema,
//! and S2 is signed with a key derived from the client's digest, which players
//! (ffmpeg among them) check. Otherwise the simple handshake is used: S2 echoes
//! C1. C2 is read and not checked, so a recorded session replays against any S1.

use bytes::{BufMut, BytesMut};

use crate::crypto::{hmac_sha256, sha256, DIGEST_LEN};
use crate::error::RtmpError;

/// The only RTMP version this server speaks.
pub const RTMP_VERSION: u8 = 3;
/// Bytes of C1, C2, S1 and S2.
pub const HANDSHAKE_PACKET_LEN: usize = 1536;

/// "Genuine Adobe Flash Media Server 001" and 32 constant bytes: the S1 digest
/// key is its first 36 bytes, the S2 signature key derivation uses all 68.
const FMS_KEY: [u8; 68] = [
    0x47, 0x65, 0x6e, 0x75, 0x69, 0x6e, 0x65, 0x20, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x20, 0x46, 0x6c,
    0x61, 0x73, 0x68, 0x20, 0x4d, 0x65, 0x64, 0x69, 0x61, 0x20, 0x53, 0x65, 0x72, 0x76, 0x65, 0x72,
    0x20, 0x30, 0x30, 0x31, 0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1,
    0x02, 0x9e, 0x7e, 0x57, 0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36,
    0xcf, 0xeb, 0x31, 0xae,
];
/// Length of the text part of [`FMS_KEY`], the key of the S1 digest.
const FMS_KEY_TEXT_LEN: usize = 36;
/// "Genuine Adobe Flash Player 001", the key of the C1 digest.
const FP_KEY_TEXT: &[u8; 30] = b"Genuine Adobe Flash Player 001";
/// The version field of a digest S1 (a Flash Media Server version).
const SERVER_VERSION: [u8; 4] = [4, 5, 0, 1];

/// Where the digest of a C1/S1 lives (the 764-byte block whose first four
/// bytes give its offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestSchema {
    /// Key block first, digest block at byte 772.
    Schema0,
    /// Digest block first, at byte 8.
    Schema1,
}

impl DigestSchema {
    fn block_start(self) -> usize {
        match self {
            DigestSchema::Schema0 => 772,
            DigestSchema::Schema1 => 8,
        }
    }
}

/// Which variant of the handshake the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeMode {
    /// S2 echoes C1.
    Simple,
    /// HMAC-SHA-256 digests in C1, S1 and S2.
    Digest(DigestSchema),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for C0 and C1.
    AwaitC0C1,
    /// S0 S1 S2 were sent; waiting for C2.
    AwaitC2,
    Done,
}

/// The server handshake state machine.
#[derive(Debug)]
pub struct Handshake {
    stage: Stage,
    /// Bytes of the packet being collected (C0+C1, then C2); never more than
    /// 1 + [`HANDSHAKE_PACKET_LEN`].
    buf: Vec<u8>,
    mode: Option<HandshakeMode>,
}

impl Default for Handshake {
    fn default() -> Self {
        Handshake::new()
    }
}

impl Handshake {
    pub fn new() -> Handshake {
        Handshake {
            stage: Stage::AwaitC0C1,
            buf: Vec::with_capacity(1 + HANDSHAKE_PACKET_LEN),
            mode: None,
        }
    }

    /// True once C2 has arrived: what follows is the chunk stream.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The variant the client used, once C1 has arrived.
    pub fn mode(&self) -> Option<HandshakeMode> {
        self.mode
    }

    /// Reads handshake bytes from the start of `data`, appending S0 S1 S2 to
    /// `out` once C0 and C1 are in. Returns how many bytes were consumed: all
    /// of `data`, or fewer when the handshake completed part-way (the rest is
    /// the chunk stream).
    pub fn receive(&mut self, data: &[u8], out: &mut BytesMut) -> Result<usize, RtmpError> {
        let mut used = 0;
        while used < data.len() && self.stage != Stage::Done {
            let rest = data.get(used..).unwrap_or_default();
            let want = match self.stage {
                Stage::AwaitC0C1 => 1 + HANDSHAKE_PACKET_LEN,
                _ => HANDSHAKE_PACKET_LEN,
            };
            let take = want.saturating_sub(self.buf.len()).min(rest.len());
            self.buf
                .extend_from_slice(rest.get(..take).unwrap_or_default());
            used += take;
            if let (Stage::AwaitC0C1, Some(&version)) = (self.stage, self.buf.first()) {
                // Refuse garbage at its first byte rather than after 1537.
                if version != RTMP_VERSION {
                    return Err(RtmpError::BadVersion { version });
                }
            }
            if self.buf.len() < want {
                break;
            }
            match self.stage {
                Stage::AwaitC0C1 => {
                    let c1 = self.buf.get(1..).unwrap_or_default();
                    let (mode, reply) = server_reply(c1);
                    tracing::debug!(?mode, "rtmp handshake: C1 received");
                    self.mode = Some(mode);
                    out.put_u8(RTMP_VERSION);
                    out.extend_from_slice(&reply);
                    self.stage = Stage::AwaitC2;
                }
                _ => {
                    // C2 should echo S1 (or sign it); nothing is gained by
                    // checking, and not checking lets recorded sessions replay.
                    self.stage = Stage::Done;
                    self.buf = Vec::new();
                }
            }
            self.buf.clear();
        }
        Ok(used)
    }
}

/// The position of the 32-byte digest in a 1536-byte packet: the sum of the
/// block's first four bytes, modulo 728, past those four bytes.
pub fn digest_offset(packet: &[u8], schema: DigestSchema) -> Option<usize> {
    let start = schema.block_start();
    let sum: usize = packet
        .get(start..start + 4)?
        .iter()
        .map(|&b| usize::from(b))
        .sum();
    let offset = start + 4 + sum % 728;
    (offset + DIGEST_LEN <= packet.len()).then_some(offset)
}

/// The HMAC of `packet` without its 32 digest bytes at `offset`.
pub fn packet_digest(packet: &[u8], offset: usize, key: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    let before = packet.get(..offset)?;
    let after = packet.get(offset.checked_add(DIGEST_LEN)?..)?;
    Some(hmac_sha256(key, &[before, after]))
}

/// The client digest of C1 if it carries a valid one under either schema.
fn client_digest(c1: &[u8]) -> Option<(DigestSchema, [u8; DIGEST_LEN])> {
    // A zero version field means the simple handshake.
    if c1.get(4..8)? == [0, 0, 0, 0] {
        return None;
    }
    [DigestSchema::Schema0, DigestSchema::Schema1]
        .into_iter()
        .find_map(|schema| {
            let offset = digest_offset(c1, schema)?;
            let expected = packet_digest(c1, offset, FP_KEY_TEXT)?;
            let found = c1.get(offset..offset + DIGEST_LEN)?;
            (found == expected).then_some((schema, expected))
        })
}

/// Fills `out` with bytes derived from `seed` (SHA-256 in counter mode). The
/// handshake's "random" bytes need no secrecy, and the session has no RNG.
fn fill_derived(out: &mut [u8], seed: &[u8], label: u8) {
    for (counter, chunk) in out.chunks_mut(DIGEST_LEN).enumerate() {
        let block = sha256(&[seed, &[label], &(counter as u64).to_be_bytes()]);
        chunk.copy_from_slice(block.get(..chunk.len()).unwrap_or_default());
    }
}

/// S1 and S2 (3072 bytes) for the client's C1, and the variant used.
fn server_reply(c1: &[u8]) -> (HandshakeMode, Vec<u8>) {
    let mut s1 = vec![0u8; HANDSHAKE_PACKET_LEN];
    let mut s2 = vec![0u8; HANDSHAKE_PACKET_LEN];
    // Time 0 in the first four bytes; random bytes after the version field.
    if let Some(random) = s1.get_mut(8..) {
        fill_derived(random, c1, 1);
    }
    let mode = match client_digest(c1) {
        Some((schema, client)) => {
            if let Some(version) = s1.get_mut(4..8) {
                version.copy_from_slice(&SERVER_VERSION);
            }
            if let Some(offset) = digest_offset(&s1, schema) {
                let key = FMS_KEY.get(..FMS_KEY_TEXT_LEN).unwrap_or_default();
                if let (Some(digest), Some(dst)) = (
                    packet_digest(&s1, offset, key),
                    s1.get_mut(offset..offset + DIGEST_LEN),
                ) {
                    dst.copy_from_slice(&digest);
                }
            }
            fill_derived(&mut s2, c1, 2);
            let signing_key = hmac_sha256(&FMS_KEY, &[&client]);
            let body_len = HANDSHAKE_PACKET_LEN - DIGEST_LEN;
            let signature = hmac_sha256(&signing_key, &[s2.get(..body_len).unwrap_or_default()]);
            if let Some(dst) = s2.get_mut(body_len..) {
                dst.copy_from_slice(&signature);
            }
            HandshakeMode::Digest(schema)
        }
        None => {
            s2.copy_from_slice(c1.get(..HANDSHAKE_PACKET_LEN).unwrap_or(&[0; 1536]));
            HandshakeMode::Simple
        }
    };
    s1.extend_from_slice(&s2);
    (mode, s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A C1 like ffmpeg's: a client version and a digest at `schema`.
    fn digest_c1(schema: DigestSchema) -> Vec<u8> {
        let mut c1: Vec<u8> = (0..HANDSHAKE_PACKET_LEN)
            .map(|i| (i * 31 + 7) as u8)
            .collect();
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        let offset = digest_offset(&c1, schema).unwrap();
        let digest = packet_digest(&c1, offset, FP_KEY_TEXT).unwrap();
        c1[offset..offset + 32].copy_from_slice(&digest);
        c1
    }

    fn run(c1: &[u8]) -> (Handshake, Vec<u8>) {
        let mut hs = Handshake::new();
        let mut out = BytesMut::new();
        let mut input = vec![RTMP_VERSION];
        input.extend_from_slice(c1);
        assert_eq!(hs.receive(&input, &mut out).unwrap(), input.len());
        assert!(!hs.is_done());
        assert_eq!(out.len(), 1 + 2 * HANDSHAKE_PACKET_LEN);
        assert_eq!(out[0], RTMP_VERSION);
        (hs, out.to_vec())
    }

    #[test]
    fn simple_handshake_echoes_c1_and_ends_at_c2() {
        let c1 = vec![0x5a; HANDSHAKE_PACKET_LEN];
        let (mut hs, out) = run(&c1);
        assert_eq!(hs.mode(), Some(HandshakeMode::Simple));
        assert_eq!(&out[1 + HANDSHAKE_PACKET_LEN..], &c1[..]);
        // C2 then the first chunk bytes in the same read: only C2 is consumed.
        let mut more = vec![0u8; HANDSHAKE_PACKET_LEN];
        more.extend_from_slice(&[0x03, 0, 0]);
        let mut out = BytesMut::new();
        assert_eq!(hs.receive(&more, &mut out).unwrap(), HANDSHAKE_PACKET_LEN);
        assert!(hs.is_done());
        assert!(out.is_empty());
    }

    #[test]
    fn digest_handshake_signs_s1_and_s2_as_players_check() {
        for schema in [DigestSchema::Schema0, DigestSchema::Schema1] {
            let c1 = digest_c1(schema);
            let (hs, out) = run(&c1);
            assert_eq!(hs.mode(), Some(HandshakeMode::Digest(schema)));
            let s1 = &out[1..1 + HANDSHAKE_PACKET_LEN];
            let s2 = &out[1 + HANDSHAKE_PACKET_LEN..];
            assert_eq!(&s1[4..8], &SERVER_VERSION);
            // The S1 digest verifies under the server key at the same schema.
            let offset = digest_offset(s1, schema).unwrap();
            let expected = packet_digest(s1, offset, &FMS_KEY[..36]).unwrap();
            assert_eq!(&s1[offset..offset + 32], &expected);
            // S2's signature, as a player computes it from its own C1 digest.
            let c1_offset = digest_offset(&c1, schema).unwrap();
            let key = hmac_sha256(&FMS_KEY, &[&c1[c1_offset..c1_offset + 32]]);
            let signature = hmac_sha256(&key, &[&s2[..HANDSHAKE_PACKET_LEN - 32]]);
            assert_eq!(&s2[HANDSHAKE_PACKET_LEN - 32..], &signature);
        }
    }

    #[test]
    fn a_wrong_digest_falls_back_to_the_simple_handshake() {
        let mut c1 = digest_c1(DigestSchema::Schema1);
        let offset = digest_offset(&c1, DigestSchema::Schema1).unwrap();
        c1[offset] ^= 1;
        let (hs, out) = run(&c1);
        assert_eq!(hs.mode(), Some(HandshakeMode::Simple));
        assert_eq!(&out[1 + HANDSHAKE_PACKET_LEN..], &c1[..]);
    }

    #[test]
    fn bad_version_is_refused_at_the_first_byte() {
        for version in [0u8, 6, 0x16, b'G'] {
            let mut hs = Handshake::new();
            let mut out = BytesMut::new();
            assert!(matches!(
                hs.receive(&[version], &mut out),
                Err(RtmpError::BadVersion { version: v }) if v == version
            ));
            assert!(out.is_empty());
        }
    }

    #[test]
    fn byte_by_byte_input_gives_the_same_reply() {
        let c1 = digest_c1(DigestSchema::Schema0);
        let (_, whole) = run(&c1);
        let mut hs = Handshake::new();
        let mut out = BytesMut::new();
        let mut input = vec![RTMP_VERSION];
        input.extend_from_slice(&c1);
        input.extend_from_slice(&[1; HANDSHAKE_PACKET_LEN]);
        for byte in &input {
            assert_eq!(hs.receive(std::slice::from_ref(byte), &mut out).unwrap(), 1);
        }
        assert!(hs.is_done());
        assert_eq!(&out[..], &whole[..]);
        // After the handshake nothing more is consumed.
        assert_eq!(hs.receive(&[3], &mut out).unwrap(), 0);
    }
}
