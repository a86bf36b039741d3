//! `ctibridge callcenter validate` and `render`.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

pub fn validate(_file: &Path) -> ExitCode {
    ExitCode::FAILURE
}

pub fn render(_config: &Config, _output: Option<&Path>) -> ExitCode {
    ExitCode::FAILURE
}
