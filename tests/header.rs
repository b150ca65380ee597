//! The checked-in C header `include/cloudsight.h` is what cbindgen (pinned) generates from
//! `src/capi/` with `cbindgen.toml`, and every item in it carries its doc comment.
//!
//! Regenerate the header with `CLOUDSIGHT_BLESS=1 cargo test --test header`.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    root().join("include").join("cloudsight.h")
}

/// The header as cbindgen generates it now. The parse starts at `src/capi/mod.rs` as if it were a
/// crate root and follows its `mod` declarations: the C ABI is exactly what the `capi` module
/// declares (public constants elsewhere in the crate, e.g. TCP flag bits, stay out), and no
/// `cargo metadata` runs, so the test needs no cargo lock and no network.
fn generate() -> String {
    let root = root();
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cannot read cbindgen.toml: {e}"));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src").join("capi").join("mod.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed: {e}"));
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen wrote UTF-8")
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (la, lb)) in a.lines().zip(b.lines()).enumerate() {
        if la != lb {
            return format!(
                "first difference at line {}:\n  checked in: {la}\n  generated:  {lb}",
                i + 1
            );
        }
    }
    format!(
        "one is a prefix of the other ({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn header_is_up_to_date() {
    let generated = generate();
    let path = header_path();
    if std::env::var_os("CLOUDSIGHT_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        eprintln!("CLOUDSIGHT_BLESS=1: wrote {}", path.display());
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        panic!(
            "{} is stale: it differs from what cbindgen generates from src/capi/ with \
             cbindgen.toml.\n{}\nRegenerate it with:\n    CLOUDSIGHT_BLESS=1 cargo test --test header\n\
             and commit the result.",
            path.display(),
            first_difference(&checked_in, &generated)
        );
    }
}

/// What a header line declares, if anything that needs a doc comment.
fn declaration(line: &str, in_struct_or_enum: bool) -> Option<String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with("/*") || t.starts_with('*') || t.starts_with("//") {
        return None;
    }
    if t.starts_with("#define CLOUDSIGHT_") && !t.starts_with("#define CLOUDSIGHT_H") {
        return Some(t.to_owned());
    }
    if t.starts_with('#')
        || t.starts_with('}')
        || t.starts_with("extern")
        || t.starts_with("CLOUDSIGHT_STATIC_ASSERT(")
    {
        return None;
    }
    // The typedef that follows an enum body (`typedef uint32_t cloudsight_result;`) is documented
    // by the enum's comment just above it.
    if t.starts_with("typedef uint") || t.starts_with("typedef int") {
        return None;
    }
    if in_struct_or_enum {
        return Some(t.to_owned());
    }
    if t.starts_with("typedef struct")
        || t.starts_with("enum ")
        || t.starts_with("struct ")
        || (t.contains("cloudsight_") && t.contains('('))
    {
        return Some(t.to_owned());
    }
    None
}

fn undocumented(header: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut depth = 0usize;
    let mut previous = "";
    let mut in_function = false;
    for line in header.lines() {
        let t = line.trim();
        // Continuation lines of a multi-line prototype are part of the one above.
        let decl = if in_function {
            None
        } else {
            declaration(line, depth > 0)
        };
        if let Some(decl) = decl {
            if !previous.ends_with("*/") {
                missing.push(decl);
            }
        }
        if depth == 0 && t.contains("cloudsight_") && t.contains('(') {
            in_function = !t.ends_with(';');
        } else if in_function && t.ends_with(';') {
            in_function = false;
        }
        depth += t.matches('{').count();
        depth = depth.saturating_sub(t.matches('}').count());
        // `extern "C" {` of the C++ guard does not open a struct or enum.
        if t.starts_with("extern \"C\"") {
            depth -= 1;
        }
        // The export macro stands on its own line between a function's comment and its prototype.
        if !t.is_empty() && t != "CLOUDSIGHT_API" {
            previous = t;
        }
    }
    missing
}

fn functions(header: &str) -> Vec<String> {
    header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('*') && !l.starts_with('/'))
        .filter_map(|l| {
            let open = l.find('(')?;
            let name = l[..open].rsplit([' ', '*']).next()?;
            name.starts_with("cloudsight_").then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn every_header_item_has_a_doc_comment() {
    // The generated text, so that these checks do not race `header_is_up_to_date` when blessing;
    // that test makes sure the checked-in file is this text.
    let header = generate();
    let missing = undocumented(&header);
    assert!(
        missing.is_empty(),
        "items without a doc comment in include/cloudsight.h (add a /// comment in src/capi/ and \
         regenerate):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn header_declares_the_api_and_hides_the_test_hook() {
    // The generated text, so that these checks do not race `header_is_up_to_date` when blessing;
    // that test makes sure the checked-in file is this text.
    let header = generate();
    let fns = functions(&header);
    for name in [
        "cloudsight_result_text",
        "cloudsight_version",
        "cloudsight_config_default",
        "cloudsight_engine_new",
        "cloudsight_engine_free",
        "cloudsight_engine_process_packet",
        "cloudsight_engine_bind_context",
        "cloudsight_engine_tick",
        "cloudsight_engine_flush",
        "cloudsight_engine_drain",
        "cloudsight_engine_drain_encoded",
        "cloudsight_engine_stats",
    ] {
        assert!(
            fns.iter().any(|f| f == name),
            "{name} missing from the header; found {fns:?}"
        );
    }
    assert!(
        !header.contains("cloudsight_test_panic"),
        "the test hook leaked into the header"
    );
    for needle in [
        "#ifndef CLOUDSIGHT_H",
        "#include <stdbool.h>",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "extern \"C\"",
        "typedef struct cloudsight_engine cloudsight_engine;",
        "CLOUDSIGHT_RESULT_OK = 0",
        "CLOUDSIGHT_RESULT_BUFFER_TOO_SMALL = 6",
        "CLOUDSIGHT_ENCODING_JSON_LINES = 1",
        "CLOUDSIGHT_ENCODING_BINCODE_BATCH = 2",
        "CLOUDSIGHT_VERDICT_BLOCK = 2",
        "CLOUDSIGHT_IP_FAMILY_V6 = 6",
        "GENERATED FILE",
    ] {
        assert!(header.contains(needle), "header lacks `{needle}`");
    }
}

/// Every name the header defines carries the prefix (nothing from outside the C ABI leaks in).
#[test]
fn every_header_name_is_prefixed() {
    let header = generate();
    let mut bad = Vec::new();
    for line in header.lines() {
        let t = line.trim();
        let name = if let Some(rest) = t.strip_prefix("#define ") {
            rest.split_whitespace().next()
        } else if let Some(rest) = t.strip_prefix("typedef struct ") {
            rest.split_whitespace().next()
        } else if let Some(rest) = t.strip_prefix("enum ") {
            rest.split_whitespace().next()
        } else {
            None
        };
        if let Some(name) = name {
            if !name.starts_with("cloudsight_") && !name.starts_with("CLOUDSIGHT_") {
                bad.push(name.to_owned());
            }
        }
    }
    for f in functions(&header) {
        assert!(f.starts_with("cloudsight_"));
    }
    assert!(
        bad.is_empty(),
        "header defines names without the cloudsight prefix: {bad:?}"
    );
}

/// The doc-coverage checker itself catches an undocumented prototype, field and constant.
#[test]
fn doc_checker_catches_missing_comments() {
    let sample = "/**\n * ok\n */\nint32_t cloudsight_a(void);\n\nint32_t cloudsight_b(int x,\n    int y);\n\
                  #define CLOUDSIGHT_X 1\ntypedef struct cloudsight_s {\n  /**\n   * ok\n   */\n  int a;\n  int b;\n} cloudsight_s;\n";
    let missing = undocumented(sample);
    assert_eq!(
        missing,
        vec![
            "int32_t cloudsight_b(int x,",
            "#define CLOUDSIGHT_X 1",
            "typedef struct cloudsight_s {",
            "int b;"
        ],
    );
    assert_eq!(functions(sample), vec!["cloudsight_a", "cloudsight_b"]);
}
