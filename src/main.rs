//! The `helios-cache` command: parses flags, sets up logging, runs the server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use helios_cache::config::{LogFormat, Options};

/// A single-binary LLM response cache (L1 prompt-cache tracking, L2 exact
/// match, L3 semantic match) served over REST.
///
/// Every option can also be given as a HELIOS_* environment variable or as a
/// key in the TOML file named by --config. Precedence: flag > env > file > default.
#[derive(Parser)]
#[command(name = "helios-cache", version)]
struct Cli {
    /// Optional TOML configuration file (keys are the option names with `_`).
    #[arg(long, env = "HELIOS_CONFIG", global = true)]
    config: Option<PathBuf>,

    #[command(flatten)]
    options: Options,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API (the default).
    Serve,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match cli.config.as_deref().map(Options::from_file).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => {
            eprintln!("helios-cache: {e}");
            return ExitCode::from(2);
        }
    };
    let settings = match cli.options.or(file).resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("helios-cache: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => helios_cache::server::run(settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
