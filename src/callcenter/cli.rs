//! `ctibridge callcenter validate FILE` and `ctibridge callcenter render [--output FILE]`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use super::{Document, MAX_FILE_SIZE, Report, Severity};
use crate::cli::EXIT_BAD_INPUT;
use crate::config::Config;

/// Checks a file and prints the report; exit 0 when valid (warnings allowed), 2 otherwise.
pub fn validate(file: &Path) -> ExitCode {
    let input = match read_limited(file) {
        Ok(input) => input,
        Err(message) => {
            eprintln!("error: {}: {message}", file.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let report = super::check(&input);
    print!("{}", describe(file, &report));
    if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} is not a valid call-center definition ({})",
            file.display(),
            count(report.errors().count(), "error")
        );
        ExitCode::from(EXIT_BAD_INPUT)
    }
}

/// Reads at most one byte more than the size limit, so a huge file is refused without being
/// loaded.
fn read_limited(file: &Path) -> Result<Vec<u8>, String> {
    let handle = std::fs::File::open(file).map_err(|e| format!("cannot read: {e}"))?;
    let mut input = Vec::new();
    handle
        .take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read: {e}"))?;
    if input.len() > MAX_FILE_SIZE {
        let size = std::fs::metadata(file)
            .map(|m| m.len())
            .unwrap_or(input.len() as u64);
        return Err(super::Problem::TooLarge {
            size,
            limit: MAX_FILE_SIZE,
        }
        .to_string());
    }
    Ok(input)
}

/// The readable report: sections with their items, then warnings and errors.
pub fn describe(file: &Path, report: &Report) -> String {
    let mut out = format!("{}\n", file.display());
    if let Some(document) = &report.document {
        describe_document(&mut out, document);
    }
    for (severity, title) in [(Severity::Warning, "warnings"), (Severity::Error, "errors")] {
        let lines: Vec<String> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .map(|d| format!("  {d}\n"))
            .collect();
        if !lines.is_empty() {
            out.push_str(&format!("{title}:\n{}", lines.concat()));
        }
    }
    let (errors, warnings) = (report.errors().count(), report.warnings().count());
    let warnings = count(warnings, "warning");
    if report.is_valid() {
        out.push_str(&format!("valid ({warnings})\n"));
    } else {
        out.push_str(&format!("invalid: {}, {warnings}\n", count(errors, "error")));
    }
    out
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn describe_document(out: &mut String, document: &Document) {
    for section in &document.sections {
        out.push_str(&format!(
            "  section {} {:?} (sortOrder {}, line {})\n",
            section.name,
            section.label,
            sort_order(section.sort_order),
            section.position.line
        ));
        for item in &section.items {
            out.push_str(&format!(
                "    {} = {:?}  (label {:?}, sortOrder {}, line {})\n",
                item.name,
                item.value,
                item.label,
                sort_order(item.sort_order),
                item.position.line
            ));
        }
    }
}

fn sort_order(order: Option<u32>) -> String {
    order.map_or_else(|| "?".to_owned(), |o| o.to_string())
}

/// Writes this deployment's XML to `output` or standard output; exit 2 on bad configuration.
pub fn render(config: &Config, output: Option<&Path>) -> ExitCode {
    let call_center = match config.callcenter.call_center(config.server.public_url.as_ref()) {
        Ok(call_center) => call_center,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let xml = super::render(&call_center);
    let written = match output {
        Some(path) => std::fs::write(path, &xml).map_err(|e| format!("{}: {e}", path.display())),
        None => std::io::stdout()
            .write_all(xml.as_bytes())
            .map_err(|e| format!("standard output: {e}")),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the call-center XML: {e}");
            ExitCode::FAILURE
        }
    }
}
