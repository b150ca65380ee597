//! The `discover` tool as DESIGN.md names it: `cargo run --release --example discover -- [OPTIONS]
//! [CAPTURE...]` (with no capture: the bundled sample). The tool itself lives in `cli/`
//! (`cargo run --release -p cloudsight-cli`, which builds none of the test dependencies); this
//! example compiles the same source, so both commands run the same program.

#[path = "../cli/src/bin/discover.rs"]
mod discover;

fn main() -> std::process::ExitCode {
    discover::main()
}
