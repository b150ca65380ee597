//! The host an HTTP/1.x client names in its first request: the Host header (RFC 9110 §7.2), or the
//! authority of an absolute-form or CONNECT request-target (RFC 9112 §3.2.2, §3.2.3).
//! The parser borrows the first client bytes of a flow, allocates nothing, reads at most
//! [`MAX_HEADER`] bytes, and answers [`Progress::NeedMore`] while a growing prefix is still a
//! plausible request, so the caller can append in-order segments and call it again.

use super::{GiveUp, Progress};

/// Bytes of request line plus header block read before giving up with `GiveUp::NoHost`.
pub const MAX_HEADER: usize = 8 * 1024;

/// Longest method token accepted; real methods are far shorter, and the bound makes a stream of
/// letters fail fast instead of asking for more.
const MAX_METHOD: usize = 24;

/// The host the start of a client-to-server stream names: the payload of a complete
/// [`parse_request`] (its [`Progress::Complete`]).
///
/// Hosts are returned as sent (case kept, no trailing-dot removal), without `:port`; an IPv6
/// literal (`[2001:db8::1]:8080`) is returned without its brackets (`2001:db8::1`), so it parses
/// as an address. A value that is neither `host`, `host:port` nor `[v6]...` is returned whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The first Host header's value (OWS trimmed, port stripped), or the authority host of an
    /// absolute-form request-target, which takes precedence over Host (RFC 9112 §3.2.2).
    Host(&'a [u8]),
    /// The host part of a CONNECT request's authority-form target (RFC 9112 §3.2.3).
    Connect(&'a [u8]),
}

/// What [`parse_request`] found: the host once the request names one (the inspectors'
/// [`Progress::Complete`], with its payload), otherwise how far it got —
/// [`Progress::NeedMore`] for a plausible prefix (call again with more bytes appended),
/// [`Progress::NotThisProtocol`] for bytes that cannot begin an HTTP/1.x request, and
/// `Progress::GaveUp(GiveUp::NoHost)` for a request without a usable host (the header block
/// ended without a non-empty Host, or no end of headers came within [`MAX_HEADER`] bytes).
/// `Err(Progress::Complete)` is never returned.
pub type HttpRequest<'a> = Result<Target<'a>, Progress>;

/// tchar (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A request-target octet: visible ASCII, or obs-text that some clients send unencoded.
fn is_target_byte(b: u8) -> bool {
    (0x21..=0x7E).contains(&b) || b >= 0x80
}

/// Outcome of one parsing step over a prefix.
enum Step<T> {
    Done(T),
    More,
    Bad,
}

/// A complete request line: method, request-target (when the line is a well-formed
/// `method SP request-target SP HTTP/1.x`), and the offset of the first header line.
struct RequestLine<'a> {
    method: &'a [u8],
    /// `None` for a loose line (see [`request_line`]): only the Host header can name it.
    target: Option<&'a [u8]>,
    rest: usize,
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Methods known to be HTTP's: IANA's HTTP Method Registry and the extensions' methods Wireshark
/// also reads as HTTP (a Cisco phone's `CCM_POST`, SSDP's `M-SEARCH` ...): the only ones a loose
/// request line may start with. Other token methods are taken in well-formed lines only, so
/// text that merely starts with a word and a space (a server's body seen before the client is
/// known, a mail or chat command) is let go at once.
fn is_registered_method(method: &[u8]) -> bool {
    matches!(
        method,
        // IANA's HTTP Method Registry (RFC 9110, WebDAV RFC 4918, DeltaV RFC 3253, RFC 5789,
        // CalDAV, ACL, BIND, ordered collections, redirect references, QUERY), but PRI, the
        // HTTP/2 preface.
        b"ACL"
            | b"BASELINE-CONTROL"
            | b"BIND"
            | b"CHECKIN"
            | b"CHECKOUT"
            | b"CONNECT"
            | b"COPY"
            | b"DELETE"
            | b"GET"
            | b"HEAD"
            | b"LABEL"
            | b"LINK"
            | b"LOCK"
            | b"MERGE"
            | b"MKACTIVITY"
            | b"MKCALENDAR"
            | b"MKCOL"
            | b"MKREDIRECTREF"
            | b"MKWORKSPACE"
            | b"MOVE"
            | b"OPTIONS"
            | b"ORDERPATCH"
            | b"PATCH"
            | b"POST"
            | b"PROPFIND"
            | b"PROPPATCH"
            | b"PUT"
            | b"QUERY"
            | b"REBIND"
            | b"REPORT"
            | b"SEARCH"
            | b"TRACE"
            | b"UNBIND"
            | b"UNCHECKOUT"
            | b"UNLINK"
            | b"UNLOCK"
            | b"UPDATE"
            | b"UPDATEREDIRECTREF"
            | b"VERSION-CONTROL"
            // Methods of HTTP's extensions outside the registry that Wireshark reads as HTTP
            // too: Exchange's batch WebDAV, UPnP's GENA and SSDP, RFC 2774's mandatory
            // extensions, Cisco CallManager, RPC over HTTP (MS-RPCH), SSTP.
            | b"BCOPY"
            | b"BDELETE"
            | b"BMOVE"
            | b"BPROPFIND"
            | b"BPROPPATCH"
            | b"POLL"
            | b"NOTIFY"
            | b"SUBSCRIBE"
            | b"UNSUBSCRIBE"
            | b"M-SEARCH"
            | b"M-POST"
            | b"CCM_POST"
            | b"RPC_CONNECT"
            | b"RPC_IN_DATA"
            | b"RPC_OUT_DATA"
            | b"SSTP_DUPLEX_POST"
    )
}

// RFC 9112 §3 — request-line = method SP request-target SP HTTP-version CRLF
//   method = token; HTTP-version = "HTTP/" DIGIT "." DIGIT (only "HTTP/1." is taken as well formed)
//   Read as leniently as servers do: §3 lets a recipient split on whitespace words (any run of
//   SP / HTAB as the separator; nginx also takes whitespace before the CRLF), §2.2 lets it
//   ignore empty lines before the request line and accept a bare LF as the line end.
//   Looser still for a known method (`is_registered_method`), as Wireshark reads them: the
//   method alone, or followed by words that are not `target HTTP/1.x` ("OPTIONS HTTP/1.1",
//   "GET /HTTP/1.1", "GET / HTTP/1.") is a loose request line; it names nothing itself, and
//   [`parse_request`] then wants field lines and a Host header.
/// Parses the request line at the start of `buf`, telling a short prefix from a non-request.
fn request_line(buf: &[u8]) -> Step<RequestLine<'_>> {
    // RFC 9112 §2.2: at least one empty line (CRLF) before the request-line is ignored.
    let mut start = 0;
    loop {
        match &buf[start..] {
            [b'\r', b'\n', ..] => start += 2,
            [b'\n', ..] => start += 1,
            [b'\r'] => return Step::More,
            _ => break,
        }
        if start > MAX_LEADING_EMPTY {
            return Step::Bad;
        }
    }
    let buf = &buf[start..];
    let Some(method_len) = buf.iter().position(|&b| !is_tchar(b)) else {
        return if buf.len() > MAX_METHOD {
            Step::Bad
        } else {
            Step::More
        };
    };
    let method = &buf[..method_len];
    if method_len == 0 || method_len > MAX_METHOD {
        return Step::Bad;
    }
    if !is_registered_method(method) {
        return strict_line(buf, method_len, start);
    }
    if !(is_ws(buf[method_len]) || matches!(buf[method_len], b'\r' | b'\n')) {
        return Step::Bad;
    }
    // The rest of the line: words of target bytes separated by whitespace, then CRLF or LF.
    let tail = &buf[method_len..];
    let Some(lf) = tail.iter().position(|&b| b == b'\n') else {
        // A CR may only be the last byte so far (its LF still to come).
        let body = match tail.split_last() {
            Some((b'\r', body)) => body,
            _ => tail,
        };
        return if body.iter().all(|&b| is_ws(b) || is_target_byte(b)) {
            Step::More
        } else {
            Step::Bad
        };
    };
    let line = &tail[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.iter().all(|&b| is_ws(b) || is_target_byte(b)) {
        return Step::Bad;
    }
    let mut words = line.split(|&b| is_ws(b)).filter(|w| !w.is_empty());
    let target = match (words.next(), words.next(), words.next()) {
        (Some(target), Some(version), None) if is_http1_version(version) => Some(target),
        _ => None,
    };
    Step::Done(RequestLine {
        method,
        target,
        rest: start + method_len + lf + 1,
    })
}

/// The index of the first byte at or after `from` that is not whitespace, if one came yet.
fn past_ws(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|&b| !is_ws(b))
        .map(|n| from + n)
}

/// A well-formed request line after a method of `method_len` bytes that is not registered
/// (`start`: the empty lines skipped before it): `method SP target SP HTTP/1.x`, told apart from
/// a short prefix of one byte by byte.
fn strict_line(buf: &[u8], method_len: usize, start: usize) -> Step<RequestLine<'_>> {
    if !is_ws(buf[method_len]) {
        return Step::Bad;
    }
    let Some(target_start) = past_ws(buf, method_len) else {
        return Step::More;
    };
    let Some(target_len) = buf[target_start..].iter().position(|&b| !is_target_byte(b)) else {
        return Step::More;
    };
    let target_end = target_start + target_len;
    if target_len == 0 || !is_ws(buf[target_end]) {
        return Step::Bad;
    }
    let Some(version_start) = past_ws(buf, target_end) else {
        return Step::More;
    };
    const VERSION: &[u8] = b"HTTP/1.";
    let version = &buf[version_start..];
    let common = version.len().min(VERSION.len());
    if version[..common] != VERSION[..common] {
        return Step::Bad;
    }
    if common < VERSION.len() {
        return Step::More;
    }
    let tail = &version[common..];
    let Some((&digit, after)) = tail.split_first() else {
        return Step::More;
    };
    if !digit.is_ascii_digit() {
        return Step::Bad;
    }
    let ws = after.iter().take_while(|&&b| is_ws(b)).count();
    let eol = match &after[ws..] {
        [] | [b'\r'] => return Step::More,
        [b'\n', ..] => 1,
        [b'\r', b'\n', ..] => 2,
        _ => return Step::Bad,
    };
    let rest = version_start + VERSION.len() + 1 + ws + eol;
    Step::Done(RequestLine {
        method: &buf[..method_len],
        target: Some(&buf[target_start..target_end]),
        rest: start + rest,
    })
}

/// `HTTP/1.` and one digit.
fn is_http1_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit())
}

/// Empty lines skipped before a request line (bytes): a stream of line ends is not a request.
const MAX_LEADING_EMPTY: usize = 64;

/// Host part of `authority` (`host`, `host:port`, `[v6]`, `[v6]:port`); anything else whole.
fn host_of(authority: &[u8]) -> &[u8] {
    if authority.first() == Some(&b'[') {
        return match authority.iter().position(|&b| b == b']') {
            Some(end) => &authority[1..end],
            None => authority,
        };
    }
    let mut colons = authority.iter().enumerate().filter(|(_, b)| **b == b':');
    match (colons.next(), colons.next()) {
        (Some((at, _)), None) => &authority[..at],
        _ => authority,
    }
}

// RFC 3986 §3 — absolute-URI = scheme ":" "//" authority path-abempty [ "?" query ]
//   scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); authority = [ userinfo "@" ] host [ ":" port ]
/// Host of an absolute-form target, if it is one with a non-empty host.
fn absolute_form_host(target: &[u8]) -> Option<&[u8]> {
    let sep = target.windows(3).position(|w| w == b"://")?;
    let scheme = &target[..sep];
    let valid_scheme = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid_scheme {
        return None;
    }
    let rest = &target[sep + 3..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    Some(host_of(authority)).filter(|h| !h.is_empty())
}

/// `field-name ":"` at the start (RFC 9112 §5.1), or an obs-fold continuation line (§5.2).
fn is_field_line(field: &[u8]) -> bool {
    let name = field.iter().take_while(|&&b| is_tchar(b)).count();
    (name > 0 && field.get(name) == Some(&b':')) || field.first().is_some_and(|&b| is_ws(b))
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

// RFC 9112 §2.1 — HTTP-message = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]
// RFC 9112 §5.1 — field-line = field-name ":" OWS field-value OWS   (no space before the colon)
// RFC 9110 §7.2 — Host = uri-host [ ":" port ]; field names are case-insensitive (§5.1).
/// Parse the start of a client-to-server HTTP/1.x stream: a request line with any token as method,
/// a request-target and `HTTP/1.x`, then header lines up to the empty line. A CONNECT
/// authority-form target gives [`Target::Connect`] and an absolute-form target gives
/// [`Target::Host`] as soon as the request line is complete; otherwise the first Host header
/// gives `Host` as soon as its line is complete. A loose request line (a letters-only method
/// alone, or with words that are not `target HTTP/1.x`) is read too, as Wireshark reads it: then
/// only field lines may precede the Host header, and anything else is not HTTP. At most [`MAX_HEADER`] bytes are read; a prefix that could still become a request is
/// [`Progress::NeedMore`] below that bound and `GiveUp::NoHost` at it.
pub fn parse_request(buf: &[u8]) -> HttpRequest<'_> {
    let at_bound = buf.len() >= MAX_HEADER;
    let buf = &buf[..buf.len().min(MAX_HEADER)];
    let incomplete = if at_bound {
        Err(Progress::GaveUp(GiveUp::NoHost))
    } else {
        Err(Progress::NeedMore)
    };
    let line = match request_line(buf) {
        Step::Done(line) => line,
        Step::More => return incomplete,
        Step::Bad => return Err(Progress::NotThisProtocol),
    };
    if let Some(target) = line.target {
        if line.method == b"CONNECT" {
            // An authority-form target names the tunnel; anything else ("CONNECT / HTTP/1.1",
            // which a server refuses) leaves the Host header to name it, as for other methods.
            let host = host_of(target);
            if !host.is_empty() && !target.iter().any(|b| b"/?#@".contains(b)) {
                return Ok(Target::Connect(host));
            }
        } else if let Some(host) = absolute_form_host(target) {
            return Ok(Target::Host(host));
        }
    }
    let mut pos = line.rest;
    loop {
        let Some(len) = buf[pos..].iter().position(|&b| b == b'\n') else {
            return incomplete;
        };
        let field = &buf[pos..pos + len];
        let field = field.strip_suffix(b"\r").unwrap_or(field);
        if field.is_empty() {
            return Err(Progress::GaveUp(GiveUp::NoHost));
        }
        if field.len() >= 5 && field[..5].eq_ignore_ascii_case(b"host:") {
            let host = host_of(trim_ows(&field[5..]));
            return if host.is_empty() {
                Err(Progress::GaveUp(GiveUp::NoHost))
            } else {
                Ok(Target::Host(host))
            };
        }
        // After a loose request line only HTTP field lines (RFC 9112 §5.1: a token, then ':';
        // or an obs-fold continuation) keep it a request: another text protocol stops here.
        if line.target.is_none() && !is_field_line(field) {
            return Err(Progress::NotThisProtocol);
        }
        pos += len + 1;
    }
}

/// Cheap test on the first bytes of a flow: do they start (after any empty lines) with a method
/// token (any RFC 9110 §5.6.2 token: methods are not a closed list, §9.1) and whitespace or a
/// line end, with the rest still a possible (perhaps loose) request line? Case-sensitive, as
/// methods are.
pub fn looks_like_request(first: &[u8]) -> bool {
    let body = {
        let mut b = first;
        while let [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] = b {
            b = rest;
        }
        b
    };
    let method = body.iter().take_while(|&&b| is_tchar(b)).count();
    (1..=MAX_METHOD).contains(&method)
        && body
            .get(method)
            .is_some_and(|&b| is_ws(b) || b == b'\r' || b == b'\n')
        && !matches!(request_line(first), Step::Bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn host(h: &[u8]) -> HttpRequest<'_> {
        Ok(Target::Host(h))
    }

    #[test]
    fn request_line_and_host() {
        let req = b"GET /index.html HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nHost: www.example.com\r\nAccept: */*\r\n\r\n";
        assert_eq!(parse_request(req), host(b"www.example.com"));
    }

    #[test]
    fn host_with_port_and_ows() {
        let req = b"POST /api HTTP/1.0\r\nHost: \t api.example.com:8080 \t\r\n\r\n";
        assert_eq!(parse_request(req), host(b"api.example.com"));
    }

    #[test]
    fn ipv6_literal_loses_brackets_and_port() {
        let req = b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n";
        assert_eq!(parse_request(req), host(b"2001:db8::1"));
        let req = b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n";
        assert_eq!(parse_request(req), host(b"::1"));
        // Unbracketed v6 (invalid, but seen): returned whole rather than cut at a colon.
        let req = b"GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n";
        assert_eq!(parse_request(req), host(b"2001:db8::1"));
    }

    #[test]
    fn header_name_any_case_value_case_kept() {
        for name in ["host", "HOST", "hOsT"] {
            let req = format!("GET / HTTP/1.1\r\nAccept: */*\r\n{name}: Example.COM\r\n\r\n");
            assert_eq!(
                parse_request(req.as_bytes()),
                host(b"Example.COM"),
                "{name}"
            );
        }
    }

    #[test]
    fn first_host_wins_and_lookalikes_do_not_match() {
        let req = b"GET / HTTP/1.1\r\nX-Host: evil\r\nHostile: evil\r\nHost: a.example\r\nHost: b.example\r\n\r\n";
        assert_eq!(parse_request(req), host(b"a.example"));
        // No space allowed between field name and colon (RFC 9112 section 5.1).
        let req = b"GET / HTTP/1.1\r\nHost : a.example\r\n\r\n";
        assert_eq!(parse_request(req), Err(Progress::GaveUp(GiveUp::NoHost)));
    }

    #[test]
    fn absolute_form_overrides_host_header() {
        let req = b"GET http://user:pw@proxy.example.net:3128/path?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n";
        assert_eq!(parse_request(req), host(b"proxy.example.net"));
        // Host known as soon as the request line is complete.
        assert_eq!(
            parse_request(b"GET http://a.example/ HTTP/1.1\r\n"),
            host(b"a.example")
        );
        assert_eq!(
            parse_request(b"GET https://[2001:db8::5]/x HTTP/1.1\r\n"),
            host(b"2001:db8::5")
        );
        // Not a URI scheme: origin-form, so the Host header decides.
        let req = b"GET /redirect?to=http://x.example HTTP/1.1\r\nHost: y.example\r\n\r\n";
        assert_eq!(parse_request(req), host(b"y.example"));
    }

    #[test]
    fn connect_gives_authority_host() {
        let req = b"CONNECT tunnel.example.org:443 HTTP/1.1\r\n";
        assert_eq!(
            parse_request(req),
            Ok(Target::Connect(b"tunnel.example.org"))
        );
        let req = b"CONNECT [2001:db8::7]:443 HTTP/1.1\r\nHost: [2001:db8::7]:443\r\n\r\n";
        assert_eq!(parse_request(req), Ok(Target::Connect(b"2001:db8::7")));
        assert_eq!(
            parse_request(b"CONNECT tunnel.example.org:443 HTTP/1."),
            Err(Progress::NeedMore)
        );
    }

    #[test]
    fn split_at_every_byte_boundary() {
        let req: &[u8] = b"GET /a/b?c=d HTTP/1.1\r\nUser-Agent: test\r\nHost: split.example:80\r\nAccept: */*\r\n\r\n";
        let host_line_end = req.windows(4).position(|w| w == b":80\r").unwrap() + 5;
        for k in 0..req.len() {
            let expected = if k < host_line_end {
                Err(Progress::NeedMore)
            } else {
                host(b"split.example")
            };
            assert_eq!(parse_request(&req[..k]), expected, "prefix of {k} bytes");
        }
        // Every two-segment split, appended as the caller does.
        for cut in 0..req.len() {
            let mut buf = Vec::new();
            buf.extend_from_slice(&req[..cut]);
            if parse_request(&buf) == Err(Progress::NeedMore) {
                buf.extend_from_slice(&req[cut..]);
            }
            assert_eq!(parse_request(&buf), host(b"split.example"), "cut {cut}");
        }
    }

    #[test]
    fn split_without_host_needs_more_then_no_host() {
        let req: &[u8] = b"GET / HTTP/1.0\nAccept: */*\n\n";
        for k in 0..req.len() {
            assert_eq!(parse_request(&req[..k]), Err(Progress::NeedMore), "{k}");
        }
        assert_eq!(parse_request(req), Err(Progress::GaveUp(GiveUp::NoHost)));
    }

    #[test]
    fn no_host_and_empty_host() {
        assert_eq!(
            parse_request(b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\nHost: body.example\r\n"),
            Err(Progress::GaveUp(GiveUp::NoHost))
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nHost:   \r\n\r\n"),
            Err(Progress::GaveUp(GiveUp::NoHost))
        );
    }

    #[test]
    fn unknown_token_method_is_accepted_when_the_line_is_valid() {
        let req = b"FOO-BAR /x HTTP/1.1\r\nHost: odd.example\r\n\r\n";
        assert_eq!(parse_request(req), host(b"odd.example"));
        assert!(looks_like_request(req));
    }

    #[test]
    fn lenient_request_lines_as_servers_accept() {
        for req in [
            &b"GET  /  HTTP/1.1\r\nHost: a.example\r\n\r\n"[..],
            b"GET\t/\tHTTP/1.1\r\nHost: a.example\r\n\r\n",
            b"GET / HTTP/1.1 \r\nHost: a.example\r\n\r\n",
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
            b"\nGET / HTTP/1.0\nhOsT:a.example\n\n",
            b"X-CUSTOM_Method! / HTTP/1.1\r\nHOST:\t a.example:8080\r\n\r\n",
        ] {
            assert_eq!(
                parse_request(req),
                host(b"a.example"),
                "{}",
                req.escape_ascii()
            );
            assert!(looks_like_request(req), "{}", req.escape_ascii());
        }
        assert_eq!(
            parse_request(b"CONNECT  a.example:443  HTTP/1.1\r\n"),
            Ok(Target::Connect(b"a.example"))
        );
        for k in 0..6 {
            assert_eq!(parse_request(&b"\r\nGET "[..k]), Err(Progress::NeedMore));
        }
    }

    #[test]
    fn garbage_is_not_http() {
        let cases: [&[u8]; 13] = [
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b" GET / HTTP/1.1\r\n",
            b"GET\x0b/ HTTP/1.1\r\n",
            b"GET/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF",
            // Loose request lines followed by something other than a field line.
            b"GET\r\nnot a field\r\nHost: a.example\r\n\r\n",
            b"EHLO mail.example\r\nMAIL FROM:<a@b.example>\r\n",
            b"NICK someone\r\nUSER a b c :Real Name\r\n",
            // A loose line needs a registered method: other words are a tag, a command, text.
            b"a1 LOGIN user pass\r\nHost: a.example\r\n\r\n",
            b"FOO_POST / HTTP/1.\r\nHost: a.example\r\n\r\n",
            b"Some text of a page\r\nHost: a.example\r\n\r\n",
            b"CAPA\r\n",
        ];
        for c in cases {
            assert_eq!(
                parse_request(c),
                Err(Progress::NotThisProtocol),
                "{:?}",
                c.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn loose_request_lines_named_by_their_host_as_wireshark_reads_them() {
        // zeek's http_methods / http_no-uri captures: request lines a server answers 400 (or, for
        // "CCM_POST / HTTP/1.", Google's front end 405: it read the request), whose Host
        // Wireshark reads all the same.
        for line in [
            &b"OPTIONS HTTP/1.1"[..],
            b"CCM_POST / HTTP/1.",
            b"CCM_POST /HTTP/1.1",
            b"PROPFIND /HTTP/1.1",
            b"M-SEARCH * HTTP/1.",
            b"OPTIONS",
            b"GET / HTTP/1.",
            b"GET /HTTP/1.1",
            b"GET HTTP/1.1",
            b"TRACE /HTTP/1.1",
            b"GET / HTTP/2.0",
            b"GET / HTTP/1.1 x",
            b"GET /",
        ] {
            let mut req = line.to_vec();
            req.extend_from_slice(
                b"\r\nUser-Agent: x\r\n123User-Agent: y\r\n folded\r\nHost: www.google.com\r\n\r\n",
            );
            let text = req.escape_ascii().to_string();
            assert_eq!(parse_request(&req), host(b"www.google.com"), "{text}");
            assert!(looks_like_request(&req), "{text}");
            // Every prefix up to the Host line's end still wants more.
            let host_end = req.windows(2).rposition(|w| w == b"m\r").unwrap() + 2;
            for k in 0..host_end {
                assert_eq!(
                    parse_request(&req[..k]),
                    Err(Progress::NeedMore),
                    "{text} at {k}"
                );
            }
        }
        // A loose line names nothing by itself: no absolute form, no CONNECT authority.
        assert_eq!(
            parse_request(b"GET http://a.example/ HTTP/1.\r\nHost: b.example\r\n\r\n"),
            host(b"b.example")
        );
        assert_eq!(
            parse_request(b"GET http://a.example/ HTTP/1.\r\n\r\n"),
            Err(Progress::GaveUp(GiveUp::NoHost))
        );
    }

    #[test]
    fn connect_without_authority_is_named_by_host() {
        // "CONNECT / HTTP/1.1": "/" is no authority; the Host header names the request.
        for target in ["/", "/x", "a.example/x", "u@a.example:443"] {
            let req = format!("CONNECT {target} HTTP/1.1\r\nHost: www.google.com\r\n\r\n");
            assert_eq!(
                parse_request(req.as_bytes()),
                host(b"www.google.com"),
                "{target}"
            );
        }
    }

    #[test]
    fn oversized_headers_give_up() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        while req.len() < MAX_HEADER - 100 {
            req.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(parse_request(&req), Err(Progress::NeedMore));
        while req.len() < MAX_HEADER + 10 {
            req.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(parse_request(&req), Err(Progress::GaveUp(GiveUp::NoHost)));
        // A Host beyond the bound is not read.
        req.extend_from_slice(b"Host: late.example\r\n\r\n");
        assert_eq!(parse_request(&req), Err(Progress::GaveUp(GiveUp::NoHost)));
        // An endless request-target also stops at the bound.
        let mut long = b"GET /".to_vec();
        long.resize(MAX_HEADER + 1, b'a');
        assert_eq!(
            parse_request(&long[..MAX_HEADER - 1]),
            Err(Progress::NeedMore)
        );
        assert_eq!(parse_request(&long), Err(Progress::GaveUp(GiveUp::NoHost)));
    }

    #[test]
    fn looks_like_request_needs_method_and_space() {
        assert!(looks_like_request(b"GET / HTTP/1.1"));
        assert!(looks_like_request(b"CONNECT "));
        assert!(looks_like_request(b"PROPFIND /x"));
        assert!(!looks_like_request(b"GET"));
        assert!(looks_like_request(b"get / HTTP/1.1"));
        assert!(looks_like_request(b"GETX / HTTP/1.1"));
        assert!(looks_like_request(b"OPTIONS\r\n"));
        assert!(looks_like_request(b"GET / HTTX"));
        assert!(!looks_like_request(b"GET/ HTTP/1.1"));
        assert!(!looks_like_request(b"GET / \x01"));
        assert!(!looks_like_request(b"SSH-2.0-OpenSSH_9.6\r\n"));
        assert!(!looks_like_request(b"\x16\x03\x01"));
        assert!(!looks_like_request(b""));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let r = parse_request(&bytes);
            if let Ok(Target::Host(h)) | Ok(Target::Connect(h)) = r {
                prop_assert!(!h.is_empty());
            }
            let _ = looks_like_request(&bytes);
        }

        #[test]
        fn random_headers_after_valid_line_never_panic(
            tail in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(b'['), Just(b']'), any::<u8>()],
                0..300,
            )
        ) {
            let mut req = b"GET / HTTP/1.1\r\nHost:".to_vec();
            req.extend_from_slice(&tail);
            let r = parse_request(&req);
            prop_assert!(r != Err(Progress::NotThisProtocol));
        }
    }
}
