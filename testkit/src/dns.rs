//! DNS messages (RFC 1035 §4.1): one question for an A record, answers by compression pointer.

fn message(id: u16, flags: [u8; 2], answers: usize, name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags);
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&(answers as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// A standard query (recursion desired) for the A records of `name`.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    message(id, [0x01, 0x00], 0, name)
}

/// A response for `name` with one A record per address of `addrs`, each with `ttl` seconds.
pub fn response_many(id: u16, name: &str, addrs: &[[u8; 4]], ttl: u32) -> Vec<u8> {
    let mut m = message(id, [0x81, 0x80], addrs.len(), name);
    for addr in addrs {
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&[0, 4]);
        m.extend_from_slice(addr);
    }
    m
}

/// A response for `name` with one A record.
pub fn response(id: u16, name: &str, addr: [u8; 4], ttl: u32) -> Vec<u8> {
    response_many(id, name, &[addr], ttl)
}
