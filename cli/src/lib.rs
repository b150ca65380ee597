//! The library side of the command-line tools: the capture reader and the `/proc` memory figures
//! that `discover`, `cloudsight-replay`, `cloudsight-replicate` and the tests share.

pub mod capture;
pub mod memory;
