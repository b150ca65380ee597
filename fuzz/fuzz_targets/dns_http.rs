//! DNS responses into a small cache, and HTTP request parsing, on the same bytes.
#![no_main]
use cloudsight::internal::inspect::{dns, http};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cache = dns::DnsCache::new(8, 1, 10);
    let _ = dns::message_kind(data);
    let _ = dns::parse_response(data, |name, ip, ttl| cache.insert(ip, name, ttl, 0));
    assert!(cache.len() <= 8);
    let _ = http::looks_like_request(data);
    let _ = http::parse_request(data);
});
