//! The command line: `serve`, `migrate`, `callcenter validate FILE`, `callcenter render`,
//! `hash-password`, `contacts databases create|list`, `contacts import --database N FILE`.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad input (configuration, arguments, an invalid
//! call-center file).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, FlagOverrides, LogFormat};
use crate::telephony::DriverKind;

/// Exit code for bad input: an invalid configuration or file.
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Parser)]
#[command(name = "ctibridge", version, about = "Salesforce Open CTI connector backend", long_about = None)]
pub struct Cli {
    /// TOML configuration file; its keys are overridden by CTIBRIDGE_SECTION__KEY variables,
    /// which are overridden by flags.
    #[arg(long, short, global = true, env = "CTIBRIDGE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: adapter page, NeoApi-style RPC proxy, agent websockets, health checks.
    /// Applies pending database migrations first. Stops gracefully on SIGTERM / Ctrl-C.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Work with the Salesforce call-center definition XML.
    #[command(subcommand)]
    Callcenter(CallcenterCommand),
    /// Print the argon2 hash of a password read from standard input, for
    /// `[[telephony.agents]] password_hash`.
    HashPassword,
    /// Manage the telephony-side contact databases (CONTACTO_INSERT_SALESFORCE). Applies
    /// pending database migrations first.
    #[command(subcommand)]
    Contacts(ContactsCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [config: server.bind; default 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Log format [config: log.format; default human].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Telephony driver [config: telephony.driver; default embedded].
    #[arg(long, value_enum)]
    pub telephony_driver: Option<DriverKind>,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB [config: database.url; default
    /// sqlite://ctibridge.db].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CallcenterCommand {
    /// Check a call-center definition file: prints its sections and items, warnings (unknown
    /// sections or items, kept as they are) and errors with line and column. Exits 2 when the
    /// file has errors.
    Validate {
        /// The call-center XML file to check.
        file: PathBuf,
    },
    /// Write the call-center XML for this deployment from the configuration ([callcenter]
    /// section and server.public_url): adapter URL, softphone size, neotelConfigOptions.
    Render {
        /// Where to write the XML; standard output when absent.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Create or list contact databases.
    #[command(subcommand)]
    Databases(DatabasesCommand),
    /// Load contacts from a CSV file with a header row (clave_1,phone,name,… ; other columns
    /// are kept as extra data). Phones are stored in E.164, national numbers read in
    /// contacts.default_country. A key already in the database updates its contact. Rejected
    /// rows are listed with their line numbers; the other rows are imported unless
    /// --all-or-nothing. Exits 2 when the file is unusable or any row was rejected.
    Import {
        /// The contact database (IDDATABASE) to load into.
        #[arg(long, value_name = "N")]
        database: i64,
        /// Import nothing if any row is rejected.
        #[arg(long)]
        all_or_nothing: bool,
        #[command(flatten)]
        db: DatabaseArgs,
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatabasesCommand {
    /// Create a contact database.
    Create {
        /// Its IDDATABASE, as the telephony configuration names it.
        #[arg(long, value_name = "N")]
        id: i64,
        #[arg(long)]
        name: String,
        /// How inbound calls find contacts: by Clave_1 (DATA) or by the caller's phone.
        #[arg(long, value_enum)]
        key: crate::contacts::KeyKind,
        /// The contact-center CRM the database belongs to (crmId).
        #[arg(long, value_name = "N")]
        crm: i64,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List the contact databases with their number of contacts.
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(ref args) => {
            let flags = FlagOverrides {
                server: crate::config::ServerFlags { bind: args.bind },
                database: crate::config::DatabaseFlags {
                    url: args.database.database_url.clone(),
                },
                log: crate::config::LogFlags {
                    format: args.log_format,
                },
                telephony: crate::config::TelephonyFlags {
                    driver: args.telephony_driver,
                },
            };
            let Some(config) = load_config(&cli, &flags) else {
                return ExitCode::from(EXIT_BAD_INPUT);
            };
            if let Err(e) = crate::telemetry::init(&config.log) {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            run_async(serve(config))
        }
        Command::Migrate(ref args) => {
            let flags = FlagOverrides {
                database: crate::config::DatabaseFlags {
                    url: args.database_url.clone(),
                },
                ..FlagOverrides::default()
            };
            let Some(config) = load_config(&cli, &flags) else {
                return ExitCode::from(EXIT_BAD_INPUT);
            };
            run_async(migrate(config))
        }
        Command::HashPassword => hash_password(),
        Command::Callcenter(CallcenterCommand::Validate { ref file }) => {
            crate::callcenter::cli::validate(file)
        }
        Command::Callcenter(CallcenterCommand::Render { ref output }) => {
            let Some(config) = load_config(&cli, &FlagOverrides::default()) else {
                return ExitCode::from(EXIT_BAD_INPUT);
            };
            crate::callcenter::cli::render(&config, output.as_deref())
        }
        Command::Contacts(ref command) => {
            let db = match command {
                ContactsCommand::Import { db, .. } => db,
                ContactsCommand::Databases(DatabasesCommand::Create { db, .. })
                | ContactsCommand::Databases(DatabasesCommand::List { db }) => db,
            };
            let flags = FlagOverrides {
                database: crate::config::DatabaseFlags {
                    url: db.database_url.clone(),
                },
                ..FlagOverrides::default()
            };
            let Some(config) = load_config(&cli, &flags) else {
                return ExitCode::from(EXIT_BAD_INPUT);
            };
            crate::contacts::cli::run(&config, command)
        }
    }
}

fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("error: cannot read the password from standard input: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("error: the password is empty");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    match crate::telephony::engine::roster::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli, flags: &FlagOverrides) -> Option<Config> {
    match Config::load(cli.config.as_deref(), flags) {
        Ok(config) => Some(config),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

fn run_async(task: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = crate::startup::Application::build(config).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = crate::store::Store::connect_and_migrate(&config.database.url, 1).await?;
    let readiness = store.readiness().await?;
    println!(
        "{} database at {}: {} of {} migrations applied",
        match readiness.backend {
            crate::store::Backend::Sqlite => "SQLite",
            crate::store::Backend::Postgres => "PostgreSQL",
        },
        crate::store::redact_url(&config.database.url),
        readiness.applied_migrations,
        readiness.expected_migrations
    );
    store.close().await;
    Ok(())
}
