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
    /// Measure L3 accuracy on labelled pairs (JSONL: a, b, label; .gz ok).
    /// Server options (e.g. --embedding-model, --l3-guard) go before `eval`.
    Eval(EvalArgs),
    /// Write a consistent copy of the data directory to --to (absent or
    /// empty). Works on a stopped server's directory, and on a running
    /// server's (which writes the copy itself; writes pause meanwhile).
    Backup {
        /// Destination directory; start a server with `--data-dir` on it to restore.
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Pair files to evaluate.
    #[arg(long = "pairs", required = true)]
    pairs: Vec<PathBuf>,
    /// `pairwise`, `replay`, `both` or `isolated` (each pair alone in its
    /// own namespace, stored and looked up through the real waterfall).
    #[arg(long, default_value = "both")]
    mode: String,
    /// Only pairs whose `split` field is this (e.g. `test`).
    #[arg(long)]
    split: Option<String>,
    /// Similarity threshold. [default: the configured / measured L3 threshold]
    #[arg(long)]
    threshold: Option<f64>,
    /// Use only the first N pairs of each file.
    #[arg(long)]
    limit: Option<usize>,
    /// Print the full results as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn run_eval(settings: helios_cache::config::Settings, args: EvalArgs) -> Result<(), String> {
    use helios_cache::cache::eval;
    let settings = settings.cache;
    if !["pairwise", "replay", "both", "isolated"].contains(&args.mode.as_str()) {
        return Err(format!(
            "--mode must be pairwise, replay, both or isolated, not {:?}",
            args.mode
        ));
    }
    let embedder = helios_cache::embed::from_options(&settings.embedding, &settings.store.data_dir)
        .map_err(|e| e.to_string())?;
    let threshold = args
        .threshold
        .or(settings.l3.threshold)
        .or(embedder.default_threshold())
        .unwrap_or(0.90);
    #[derive(serde::Serialize)]
    struct FileReport {
        embedder: String,
        pairwise: Option<eval::PairwiseReport>,
        replay: Option<eval::ReplayReport>,
        isolated: Option<eval::IsolatedReport>,
    }
    let mut all = std::collections::BTreeMap::new();
    for path in &args.pairs {
        let mut pairs = eval::read_pairs(path, None)?;
        if let Some(split) = &args.split {
            pairs.retain(|p| p.split.as_deref() == Some(split.as_str()));
        }
        if let Some(limit) = args.limit {
            pairs.truncate(limit);
        }
        let mode = args.mode.as_str();
        let pw = matches!(mode, "pairwise" | "both")
            .then(|| eval::pairwise(embedder.as_ref(), settings.l3.guard, &pairs, threshold));
        let rp = match matches!(mode, "replay" | "both") {
            true => Some(eval::replay(&settings, &pairs, args.threshold)?),
            false => None,
        };
        let iso = match mode == "isolated" {
            true => Some(eval::isolated(&settings, &pairs, args.threshold)?),
            false => None,
        };
        let name = path.display().to_string();
        if args.json {
            all.insert(
                name,
                FileReport {
                    embedder: embedder.id().to_string(),
                    pairwise: pw,
                    replay: rp,
                    isolated: iso,
                },
            );
        } else {
            eval::print_report(&name, pw.as_ref(), rp.as_ref(), iso.as_ref());
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&all).map_err(|e| e.to_string())?
        );
    }
    Ok(())
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
        Command::Serve => {
            helios_cache::http::run(settings.server, settings.cache).map_err(|e| e.to_string())
        }
        Command::Eval(args) => run_eval(settings, args),
        Command::Backup { to } => helios_cache::cli::backup::run(&settings, &to).map(|r| {
            println!(
                "backup written to {}: {} records in {} trees",
                r.to, r.records, r.trees
            )
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
