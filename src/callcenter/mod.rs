//! The call-center definition XML that Salesforce admins import
//! (`<callCenter><section><item>`): typed model, parser with line/column errors, validator,
//! renderer, and the `[callcenter]` configuration that renders this deployment's file.
//!
//! - [`parse`]: bytes → [`CallCenter`] + warnings, or every error;
//! - [`check`]: the full [`Report`] (document as read, model, diagnostics) for `validate`;
//! - [`render`]: [`CallCenter`] → XML;
//! - [`DeploymentConfig::call_center`]: configuration → [`CallCenter`].

pub mod cli;
mod deployment;
mod diagnostic;
mod document;
mod model;
mod parse;
mod position;
mod render;
mod validate;
pub mod values;

pub use deployment::{DeploymentConfig, DeploymentError};
pub use diagnostic::{Diagnostic, Hint, Problem, Severity};
pub use document::{Document, RawItem, RawSection};
pub use model::{
    CallCenter, DialingOptions, GeneralInfo, Item, NeotelConfigOptions, OtherItem, OtherSection, SectionInfo,
    Standby, names,
};
pub use parse::MAX_FILE_SIZE;
pub use position::Position;
pub use render::render;

/// Everything known about one file: what could be read, the typed model when the file is
/// valid, and every error and warning in file order.
#[derive(Debug, Clone)]
pub struct Report {
    /// `None` when the file is not readable XML of the expected shape.
    pub document: Option<Document>,
    /// `Some` only when there are no errors.
    pub call_center: Option<CallCenter>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }

    pub fn is_valid(&self) -> bool {
        self.call_center.is_some()
    }
}

/// Reads and validates a call-center file.
pub fn check(input: &[u8]) -> Report {
    let mut diagnostics = Vec::new();
    let document = parse::read_document(input, &mut diagnostics);
    let typed = document
        .as_ref()
        .and_then(|d| validate::to_call_center(d, &mut diagnostics));
    diagnostics.sort_by_key(|d| d.position);
    let call_center = typed.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    Report {
        document,
        call_center,
        diagnostics,
    }
}

/// A valid file: the model and the warnings (unknown sections or items, kept in the model).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub call_center: CallCenter,
    pub warnings: Vec<Diagnostic>,
}

/// An invalid file: every error and warning, errors first in the message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid call-center XML: {}", self.errors().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidCallCenter {
    pub diagnostics: Vec<Diagnostic>,
}

impl InvalidCallCenter {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

/// Parses and validates a call-center file.
pub fn parse(input: &[u8]) -> Result<Parsed, InvalidCallCenter> {
    let report = check(input);
    match report.call_center {
        Some(call_center) => Ok(Parsed {
            call_center,
            warnings: report.diagnostics,
        }),
        None => Err(InvalidCallCenter {
            diagnostics: report.diagnostics,
        }),
    }
}
