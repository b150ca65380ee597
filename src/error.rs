//! The error of loading a catalog or a policy file.

use std::fmt;

/// Why a catalog or policy file was rejected: where (line, field path) and what.
///
/// `Display` renders `line 12: apps[3].category: unknown category 'foo'`, leaving out what is not
/// known. JSON files give a line for syntax and shape errors only; lint errors in JSON carry the
/// field path alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// 1-based line in the source text, when known.
    pub line: Option<usize>,
    /// Path of the offending field, such as `apps[3].category` or `schema_version`.
    pub field: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl LoadError {
    pub(crate) fn new(
        line: Option<usize>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        LoadError {
            line,
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}
