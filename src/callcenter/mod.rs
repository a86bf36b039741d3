//! The call-center definition XML that Salesforce admins import: typed model, parser with
//! line/column errors, validator and renderer.

pub mod cli;

use serde::Deserialize;

/// The `[callcenter]` configuration section: what `ctibridge callcenter render` writes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeploymentConfig {}
