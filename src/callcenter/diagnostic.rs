//! What the parser and the validator report: errors (the file cannot be imported as it is) and
//! warnings (unknown sections or items, kept and rendered back), each with its position.

use std::fmt;

use super::position::Position;
use super::values::ValueError;

/// Whether a problem makes the file invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a call-center file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where the problem is; `None` for problems of the file as a whole (size, encoding).
    pub position: Option<Position>,
    pub problem: Problem,
}

impl Diagnostic {
    pub(crate) fn error(position: impl Into<Option<Position>>, problem: Problem) -> Self {
        Self {
            severity: Severity::Error,
            position: position.into(),
            problem,
        }
    }

    pub(crate) fn warning(position: Position, problem: Problem) -> Self {
        Self {
            severity: Severity::Warning,
            position: Some(position),
            problem,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(position) => write!(f, "{position}: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

/// The problems, worded to say what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the file is {size} bytes; call-center definitions are limited to {limit} bytes (1 MiB)")]
    TooLarge { size: u64, limit: usize },
    #[error("the file is not UTF-8 text (invalid byte sequence); save it as UTF-8")]
    NotUtf8,
    #[error("the XML declaration names encoding {0:?}; only UTF-8 files are accepted")]
    NotUtf8Declared(String),
    #[error("character U+{0:04X} is not allowed in an XML document")]
    IllegalCharacter(u32),
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("DOCTYPE declarations are not accepted in call-center files; remove it")]
    Doctype,
    #[error(
        "unknown entity &{0}; (only &lt; &gt; &amp; &apos; &quot; and character references are accepted)"
    )]
    UnknownEntity(String),
    #[error("the file has no <callCenter> element")]
    NoRoot,
    #[error("the root element must be <callCenter>, got <{0}>")]
    WrongRoot(String),
    #[error("<{found}> is not expected inside <{parent}>; expected {expected}")]
    UnexpectedElement {
        found: String,
        parent: String,
        expected: &'static str,
    },
    #[error("text {0:?} is not expected here; values go inside <item> elements")]
    UnexpectedText(String),
    #[error("<{found}> after the end of <callCenter>; a file has one root element")]
    AfterRoot { found: String },
    #[error("<{element}> is not closed (opened at {opened})")]
    Unclosed { element: String, opened: Position },
    #[error("<{element}> has a malformed attribute: {reason}")]
    BadAttribute { element: String, reason: String },
    #[error("<{element}> has an unexpected attribute {attribute}; expected sortOrder, name and label")]
    UnexpectedAttribute { element: String, attribute: String },
    #[error("<{element}> is missing the attribute {attribute}")]
    MissingAttribute {
        element: String,
        attribute: &'static str,
    },
    #[error("<{element}> attribute sortOrder must be a whole number ≥ 0, got {value:?}")]
    BadSortOrder { element: String, value: String },
    #[error("section {name} appears twice (first at {first})")]
    DuplicateSection { name: String, first: Position },
    #[error("item {name} appears twice in section {section} (first at {first})")]
    DuplicateItem {
        section: String,
        name: String,
        first: Position,
    },
    #[error("section {0} is missing")]
    MissingSection(&'static str),
    #[error("section {section} is missing item {item}")]
    MissingItem {
        section: &'static str,
        item: &'static str,
    },
    #[error("section reqGeneralInfo must have sortOrder 0, got {0}")]
    GeneralInfoNotFirst(u32),
    #[error("item {item} {error}")]
    InvalidValue { item: &'static str, error: ValueError },
    #[error("item {present} is set without {missing}; give both or neither")]
    Unpaired {
        present: &'static str,
        missing: &'static str,
    },
    #[error("unknown section {name}{hint}; it is kept as it is")]
    UnknownSection { name: String, hint: Hint },
    #[error("unknown item {name} in section {section}{hint}; it is kept as it is")]
    UnknownItem {
        section: String,
        name: String,
        hint: Hint,
    },
}

/// "did you mean …" for a name that differs from a known one only in letter case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hint(pub Option<&'static str>);

impl Hint {
    pub(crate) fn for_name(name: &str, known: &[&'static str]) -> Self {
        Self(known.iter().copied().find(|k| k.eq_ignore_ascii_case(name)))
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, " (did you mean {name}?)"),
            None => Ok(()),
        }
    }
}
