//! Inspection: reads the first payload bytes of an unnamed flow to find the name of its server.
//!
//! Inspection runs only while a flow is unnamed and within its byte and packet budget; a named flow
//! never comes here again.

use crate::record::NameSource;

/// What naming found out about a flow; allocated once, when the flow is named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowName {
    /// The name that identifies the flow, lower case.
    pub server_name: Option<String>,
    /// Where `server_name` came from.
    pub source: Option<NameSource>,
    /// The ClientHello SNI when it differs from `server_name`.
    pub sni: Option<String>,
    /// ALPN protocols offered by the client.
    pub alpn: Vec<String>,
    /// The ClientHello offered ECH.
    pub ech: bool,
    /// JA4 fingerprint of the ClientHello.
    pub ja4: Option<String>,
}

/// Per-flow inspection state, boxed in the flow entry only while the flow is being inspected.
#[derive(Debug, Default)]
pub(crate) struct Inspector {}
