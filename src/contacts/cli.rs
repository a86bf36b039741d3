//! `ctibridge contacts …`: create and list contact databases, import CSV files.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::import::{ImportError, ImportOptions, import_csv};
use super::{ContactDirectory, ContactsError, NewContactDatabase};
use crate::cli::{ContactsCommand, DatabasesCommand, EXIT_BAD_INPUT};
use crate::config::Config;
use crate::store::Store;

/// How a command failed: the user's input, or the system.
enum Failure {
    BadInput(String),
    Runtime(anyhow::Error),
}

impl From<ContactsError> for Failure {
    fn from(e: ContactsError) -> Self {
        match e {
            ContactsError::UnknownDatabase(_)
            | ContactsError::DatabaseExists(_)
            | ContactsError::InvalidDatabase(_)
            | ContactsError::InvalidPhone { .. } => Failure::BadInput(e.to_string()),
            other => Failure::Runtime(other.into()),
        }
    }
}

impl From<ImportError> for Failure {
    fn from(e: ImportError) -> Self {
        if e.is_bad_input() {
            Failure::BadInput(e.to_string())
        } else {
            Failure::Runtime(e.into())
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::Runtime(e.into())
    }
}

/// Runs a `contacts` command; exit 0, 1 (runtime failure) or 2 (bad input).
pub fn run(config: &Config, command: &ContactsCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(config, command)) {
        Ok(code) => code,
        Err(Failure::BadInput(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(config: &Config, command: &ContactsCommand) -> Result<ExitCode, Failure> {
    // Validate the file before touching the database.
    let file = match command {
        ContactsCommand::Import { file, .. } => Some(open(file)?),
        _ => None,
    };
    let store = Store::connect_and_migrate(&config.database.url, 2).await?;
    let directory = ContactDirectory::new(store.clone(), config.contacts.default_country);
    let result = match command {
        ContactsCommand::Databases(DatabasesCommand::Create {
            id, name, key, crm, ..
        }) => {
            let created = directory
                .create_database(&NewContactDatabase {
                    id: *id,
                    name: name.clone(),
                    key_kind: *key,
                    crm_id: *crm,
                })
                .await?;
            println!(
                "created contact database {} \"{}\" (key {}, CRM {})",
                created.id, created.name, created.key_kind, created.crm_id
            );
            Ok(ExitCode::SUCCESS)
        }
        ContactsCommand::Databases(DatabasesCommand::List { .. }) => {
            let listings = directory.list_databases().await?;
            println!(
                "{:>10}  {:<8}  {:>6}  {:>10}  NAME",
                "ID", "KEY", "CRM", "CONTACTS"
            );
            for l in &listings {
                println!(
                    "{:>10}  {:<8}  {:>6}  {:>10}  {}",
                    l.database.id, l.database.key_kind, l.database.crm_id, l.contacts, l.database.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ContactsCommand::Import {
            database,
            all_or_nothing,
            file: path,
            ..
        } => {
            let (file, size) = file.expect("opened above");
            import(&directory, *database, path, file, size, *all_or_nothing).await
        }
    };
    store.close().await;
    result
}

fn open(path: &Path) -> Result<(File, u64), Failure> {
    let file =
        File::open(path).map_err(|e| Failure::BadInput(format!("cannot open `{}`: {e}", path.display())))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((file, size))
}

async fn import(
    directory: &ContactDirectory,
    database_id: i64,
    path: &Path,
    file: File,
    size: u64,
    all_or_nothing: bool,
) -> Result<ExitCode, Failure> {
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} importing {msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(path.display().to_string());
        bar
    } else {
        ProgressBar::hidden()
    };
    let report = import_csv(
        directory,
        database_id,
        BufReader::with_capacity(64 * 1024, file),
        ImportOptions { all_or_nothing },
        &progress,
    )
    .await;
    progress.finish_and_clear();
    let report = report?;
    for rejection in &report.rejected {
        println!("{rejection}");
    }
    if report.applied {
        println!(
            "{}: imported {}, updated {}, rejected {} (database {})",
            path.display(),
            report.imported,
            report.updated,
            report.rejected.len(),
            database_id
        );
    } else {
        println!(
            "{}: rejected {} rows; nothing imported (--all-or-nothing)",
            path.display(),
            report.rejected.len()
        );
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BAD_INPUT)
    })
}
