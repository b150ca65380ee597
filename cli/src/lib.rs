//! The library side of the command-line tools: the capture reader and the `/proc` memory figures
//! that `discover`, `cloudsight-replay`, `cloudsight-replicate` and the tests share; the streaming
//! reader and the worker threads of `discover`.

pub mod capture;
pub mod memory;
pub mod reader;
pub mod workers;
