//! Client Initial keys: per-version salts and labels (RFC 9001 §5.2, RFC 9369 §3.3,
//! drafts 23-32), HKDF-Expand-Label (RFC 8446 §7.1), and the per-connection AEAD and header
//! protection ciphers (RFC 9001 §5.3-§5.4).

use hkdf::Hkdf;
use ring::aead::quic::{HeaderProtectionKey, AES_128};
use ring::aead::{LessSafeKey, UnboundKey, AES_128_GCM};
use sha2::Sha256;

use super::{MAX_CID_LEN, VERSION_1, VERSION_2};

/// Per-version constants: RFC 9001 §5.2 (v1), RFC 9369 §3.3.1-§3.3.2 (v2),
/// draft-ietf-quic-tls-29 §5.2 (drafts 29-32) and draft-ietf-quic-tls-23 §5.2 (drafts 23-28).
pub(super) struct VersionParams {
    pub(super) salt: [u8; 20],
    pub(super) key_label: &'static [u8],
    pub(super) iv_label: &'static [u8],
    pub(super) hp_label: &'static [u8],
    /// Long header packet type values (RFC 9000 §17.2 table 5; RFC 9369 §3.2).
    pub(super) initial_type: u8,
    pub(super) zero_rtt_type: u8,
    pub(super) handshake_type: u8,
    /// Frame type of CRYPTO: 0x06 (RFC 9000 §19.6), 0x08 in Google's T050/T051.
    pub(super) crypto_frame: u64,
}

pub(super) const PARAMS_V1: VersionParams = VersionParams {
    salt: [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c,
        0xad, 0xcc, 0xbb, 0x7f, 0x0a,
    ],
    key_label: b"quic key",
    iv_label: b"quic iv",
    hp_label: b"quic hp",
    initial_type: 0b00,
    zero_rtt_type: 0b01,
    handshake_type: 0b10,
    crypto_frame: 0x06,
};

pub(super) const PARAMS_V2: VersionParams = VersionParams {
    salt: [
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d,
        0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
    ],
    key_label: b"quicv2 key",
    iv_label: b"quicv2 iv",
    hp_label: b"quicv2 hp",
    initial_type: 0b01,
    zero_rtt_type: 0b10,
    handshake_type: 0b11,
    crypto_frame: 0x06,
};

// The salt changed in draft-29, so drafts 27 and 28 cannot share it: they keep the draft-23 one.
pub(super) const PARAMS_DRAFT_29: VersionParams = VersionParams {
    salt: [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,
        0xe0, 0x43, 0x90, 0xa8, 0x99,
    ],
    ..PARAMS_V1
};

pub(super) const PARAMS_DRAFT_23: VersionParams = VersionParams {
    salt: [
        0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63,
        0x65, 0xbe, 0xf9, 0xf5, 0x02,
    ],
    ..PARAMS_V1
};

/// draft-ietf-quic-tls-22 §5.2 (draft 22, and mvfst's 0xfaceb001).
pub(super) const PARAMS_DRAFT_22: VersionParams = VersionParams {
    salt: [
        0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e,
        0xbd, 0x7a, 0x02, 0x64, 0x4a,
    ],
    ..PARAMS_V1
};

/// Google QUIC T050 (TLS 1.3 handshake in IETF-style long headers), the salt Chromium published
/// in its QUIC sources and Wireshark decrypts with; its CRYPTO frame is type 0x08 (as Wireshark
/// and nDPI read it).
pub(super) const PARAMS_T050: VersionParams = VersionParams {
    salt: [
        0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36,
        0x7c, 0x60, 0x48, 0x83, 0x10,
    ],
    crypto_frame: 0x08,
    ..PARAMS_V1
};

/// Google QUIC T051, as T050 with its own salt.
pub(super) const PARAMS_T051: VersionParams = VersionParams {
    salt: [
        0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8,
        0xcc, 0xda, 0x6e, 0x03, 0x3d,
    ],
    crypto_frame: 0x08,
    ..PARAMS_V1
};

pub(super) fn version_params(version: u32) -> Option<&'static VersionParams> {
    match version {
        VERSION_1 => Some(&PARAMS_V1),
        VERSION_2 => Some(&PARAMS_V2),
        // Drafts 29-34 share the draft-29 salt; drafts 23-28 the draft-23 one.
        0xff00_001d..=0xff00_0022 => Some(&PARAMS_DRAFT_29),
        0xff00_0017..=0xff00_001c => Some(&PARAMS_DRAFT_23),
        // mvfst's draft-27 versions (Facebook's QUIC, and its experimental 0xfaceb00e), as
        // Wireshark decodes them: draft 27, so the draft-23 salt.
        0xface_b002 | 0xface_b00e => Some(&PARAMS_DRAFT_23),
        // Draft 22 and mvfst's draft-22 version.
        0xff00_0016 | 0xface_b001 => Some(&PARAMS_DRAFT_22),
        // Google's "T050" and "T051" (Q050 carries gQUIC's own handshake, not a ClientHello).
        0x5430_3530 => Some(&PARAMS_T050),
        0x5430_3531 => Some(&PARAMS_T051),
        // Reserved versions 0x?a?a?a?a (RFC 9000 §15), which clients send to exercise version
        // negotiation: their Initial keys are whatever the client chose; Wireshark reads them as
        // draft 29 (its draft-29 salt), which decrypts the Initials of the QUIC interop runner's
        // draft-29/30 clients, and so do we; a v1-era client's, which the draft-29 keys do not
        // open, get the v1 keys next (`fallback_params`).
        v if is_reserved(v) => Some(&PARAMS_DRAFT_29),
        _ => None,
    }
}

/// A reserved (greased) version, 0x?a?a?a?a (RFC 9000 §15).
fn is_reserved(version: u32) -> bool {
    version & 0x0f0f_0f0f == 0x0a0a_0a0a
}

/// The keys to try when `version_params(version)` does not open a packet: the v1 keys for a
/// reserved version (a client sending one picks its own keys: draft 29 first, as Wireshark reads
/// them, then v1, what current clients use).
pub(super) fn fallback_params(version: u32) -> Option<&'static VersionParams> {
    is_reserved(version).then_some(&PARAMS_V1)
}

/// Raw client Initial key material, kept separate so tests can compare it with the RFC vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawKeys {
    pub(super) key: [u8; 16],
    pub(super) iv: [u8; 12],
    pub(super) hp: [u8; 16],
}

/// HKDF-Expand-Label with an empty context (RFC 8446 §7.1, used by RFC 9001 §5.1).
pub(super) fn expand_label(prk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Option<()> {
    // struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; }
    let mut info = [0u8; 2 + 1 + 6 + 16 + 1];
    let full_label_len = 6 + label.len();
    let out_len = u16::try_from(out.len()).ok()?;
    let label_byte = u8::try_from(full_label_len).ok()?;
    let info_len = 2 + 1 + full_label_len + 1;
    let info = info.get_mut(..info_len)?;
    info[..2].copy_from_slice(&out_len.to_be_bytes());
    info[2] = label_byte;
    info[3..9].copy_from_slice(b"tls13 ");
    info[9..9 + label.len()].copy_from_slice(label);
    info[info_len - 1] = 0;
    prk.expand(info, out).ok()
}

/// RFC 9001 §5.2: initial_secret = HKDF-Extract(salt, dcid);
/// client_initial_secret = HKDF-Expand-Label(initial_secret, "client in", "", 32);
/// then key, iv and hp by the version's labels (RFC 9001 §5.1, RFC 9369 §3.3.2).
pub(super) fn derive_client_keys(params: &VersionParams, dcid: &[u8]) -> Option<RawKeys> {
    let (_, initial) = Hkdf::<Sha256>::extract(Some(&params.salt), dcid);
    let mut client_secret = [0u8; 32];
    expand_label(&initial, b"client in", &mut client_secret)?;
    let client = Hkdf::<Sha256>::from_prk(&client_secret).ok()?;
    let mut keys = RawKeys {
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&client, params.key_label, &mut keys.key)?;
    expand_label(&client, params.iv_label, &mut keys.iv)?;
    expand_label(&client, params.hp_label, &mut keys.hp)?;
    Some(keys)
}

/// Ciphers ready for one connection: derived once per (version, DCID), not per packet. The AEAD
/// and the header protection are ring's (BoringSSL's AES-GCM: AES-NI, VAES and carry-less
/// multiplication where the CPU has them); HKDF stays RustCrypto's, which uses the SHA extensions.
pub(super) struct ConnKeys {
    pub(super) version: u32,
    pub(super) dcid: [u8; MAX_CID_LEN],
    pub(super) dcid_len: u8,
    #[cfg_attr(fuzzing, allow(dead_code))]
    pub(super) aead: LessSafeKey,
    pub(super) iv: [u8; 12],
    pub(super) hp: HeaderProtectionKey,
}

impl ConnKeys {
    pub(super) fn new(version: u32, params: &VersionParams, dcid: &[u8]) -> Option<Self> {
        let raw = derive_client_keys(params, dcid)?;
        let mut stored = [0u8; MAX_CID_LEN];
        stored.get_mut(..dcid.len())?.copy_from_slice(dcid);
        Some(ConnKeys {
            version,
            dcid: stored,
            dcid_len: u8::try_from(dcid.len()).ok()?,
            aead: LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &raw.key).ok()?),
            iv: raw.iv,
            hp: HeaderProtectionKey::new(&AES_128, &raw.hp).ok()?,
        })
    }

    pub(super) fn matches(&self, version: u32, dcid: &[u8]) -> bool {
        self.version == version && &self.dcid[..usize::from(self.dcid_len)] == dcid
    }

    /// RFC 9001 §5.4.3: the first 5 bytes of AES-ECB(hp_key, sample), all a long header uses
    /// (the first byte's low bits and up to 4 packet number bytes). `None` if `sample` is not
    /// 16 bytes.
    pub(super) fn mask(&self, sample: &[u8]) -> Option<[u8; 5]> {
        self.hp.new_mask(sample).ok()
    }

    /// RFC 9001 §5.3: the nonce is the IV XORed with the packet number, left-padded to 12 bytes.
    pub(super) fn nonce(&self, packet_number: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, p) in nonce[4..].iter_mut().zip(packet_number.to_be_bytes()) {
            *n ^= p;
        }
        nonce
    }

    #[cfg(not(fuzzing))]
    pub(super) fn open(&self, packet_number: u64, aad: &[u8], body: &mut [u8], tag: &[u8]) -> bool {
        let nonce = ring::aead::Nonce::assume_unique_for_key(self.nonce(packet_number));
        let Ok(tag) = ring::aead::Tag::try_from(tag) else {
            return false;
        };
        self.aead
            .open_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), tag, body, 0..)
            .is_ok()
    }

    /// Fuzzing build: no AEAD at all, the payload is its own plaintext (see the module doc).
    #[cfg(fuzzing)]
    pub(super) fn open(
        &self,
        packet_number: u64,
        _aad: &[u8],
        _body: &mut [u8],
        _tag: &[u8],
    ) -> bool {
        let _ = self.nonce(packet_number);
        true
    }
}

#[cfg(all(test, not(fuzzing)))]
mod tests {
    use super::*;
    use crate::inspect::quic::VERSION_DRAFT_29;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The client DCID of RFC 9001 §A and RFC 9369 §A.
    const RFC_DCID: &str = "8394c8f03e515708";

    #[test]
    fn rfc9001_a1_client_keys() {
        let k = derive_client_keys(&PARAMS_V1, &hex(RFC_DCID)).unwrap();
        assert_eq!(k.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(k.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(k.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
    }

    #[test]
    fn rfc9369_a1_client_keys() {
        let k = derive_client_keys(&PARAMS_V2, &hex(RFC_DCID)).unwrap();
        assert_eq!(k.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(k.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(k.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    #[test]
    fn draft29_client_keys() {
        // draft-ietf-quic-tls-29 Appendix A.1, same DCID.
        let k =
            derive_client_keys(version_params(VERSION_DRAFT_29).unwrap(), &hex(RFC_DCID)).unwrap();
        assert_eq!(k.key.to_vec(), hex("175257a31eb09dea9366d8bb79ad80ba"));
        assert_eq!(k.iv.to_vec(), hex("6b26114b9cba2b63a9e8dd4f"));
        assert_eq!(k.hp.to_vec(), hex("9ddd12c994c0698b89374a9c077a3077"));
        // Drafts 27/28 predate the draft-29 salt; 30-32 kept it.
        assert_eq!(
            version_params(0xff00_0020).unwrap().salt,
            PARAMS_DRAFT_29.salt
        );
        assert_eq!(
            version_params(0xff00_001b).unwrap().salt,
            PARAMS_DRAFT_23.salt
        );
        assert_ne!(PARAMS_DRAFT_23.salt, PARAMS_DRAFT_29.salt);
        assert!(version_params(0xff00_0023).is_none());
    }

    #[test]
    fn reserved_versions_take_the_draft29_keys_and_mvfst_the_draft23_salt() {
        // A reserved (version-negotiation forcing) version's Initial is read with draft-29 keys,
        // as Wireshark reads it: the draft-29 Appendix A.1 vector, not RFC 9001's.
        for version in [0x0a0a_0a0a, 0x1a2a_3a4a, 0xfafa_fafa] {
            let k = derive_client_keys(version_params(version).unwrap(), &hex(RFC_DCID)).unwrap();
            assert_eq!(k.key.to_vec(), hex("175257a31eb09dea9366d8bb79ad80ba"));
            assert_eq!(k.hp.to_vec(), hex("9ddd12c994c0698b89374a9c077a3077"));
        }
        for version in [0xface_b002, 0xface_b00e] {
            assert_eq!(version_params(version).unwrap().salt, PARAMS_DRAFT_23.salt);
        }
        // Salts as Wireshark's QUIC dissector lists them: draft 22 (and mvfst 0xfaceb001),
        // Google T050 and T051; each version its own.
        for (version, salt) in [
            (0xff00_0016, "7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a"),
            (0xface_b001, "7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a"),
            (0x5430_3530, "7ff579e5acd072915580304c43a2367c60488310"),
            (0x5430_3531, "7a4edef4e7ccee5fa4506c19124fc8ccda6e033d"),
        ] {
            assert_eq!(version_params(version).unwrap().salt.to_vec(), hex(salt));
        }
        assert!(
            version_params(0x5130_3530).is_none(),
            "Q050 is gQUIC's handshake"
        );
    }

    #[test]
    fn rfc9001_a2_header_protection_mask() {
        let keys = ConnKeys::new(VERSION_1, &PARAMS_V1, &hex(RFC_DCID)).unwrap();
        let mask = keys.mask(&hex("d1b1c98dd7689fb8ec11d242b123dc9b")).unwrap();
        assert_eq!(mask.to_vec(), hex("437b9aec36"));
        assert_eq!(keys.nonce(2).to_vec(), hex("fa044b2f42a3fd3b46fb255e"));
    }
}
