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
    /// Metrics, health, invalidate or backup on every node of a sharded
    /// deployment (deploy/README.md), summed. Prints JSON; exits non-zero
    /// when a node fails (named on stderr; the others' results are printed).
    Cluster(helios_cache::cli::cluster::ClusterArgs),
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Pair files to evaluate.
    #[arg(long = "pairs", required = true)]
    pairs: Vec<PathBuf>,
    /// `pairwise`, `replay`, `both` or `isolated` (each pair alone in its
    /// own namespace, stored and looked up through the real waterfall);
    /// `conversation` for pairs of message lists (replayed as messages and
    /// as the two baselines: last message only, pasted transcript).
    #[arg(long, default_value = "both")]
    mode: String,
    /// Only pairs whose `split` field is this (e.g. `test`).
    #[arg(long)]
    split: Option<String>,
    /// Conversation mode: how to send each chat: messages, last_message,
    /// transcript, or all three.
    #[arg(long = "as", default_value = "all")]
    sent_as: String,
    /// Conversation mode: also sweep the thresholds (as messages) and print them.
    #[arg(long)]
    sweep: bool,
    /// Conversation mode: user turns of context in the standalone text
    /// (overrides the default, for measuring).
    #[arg(long)]
    chat_window: Option<usize>,
    /// Conversation mode: names must agree between contexts (true/false;
    /// overrides the default, for measuring).
    #[arg(long)]
    chat_names: Option<bool>,
    /// Similarity threshold. [default: the configured / measured L3 threshold]
    #[arg(long)]
    threshold: Option<f64>,
    /// Use only the first N pairs of each file.
    #[arg(long)]
    limit: Option<usize>,
    /// Print the full results as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Isolated and conversation modes (the latter as messages): write one
    /// JSON line per pair (label, texts or id, hit and the lookup's
    /// `l3_result`) to this file.
    #[arg(long)]
    decisions: Option<PathBuf>,
}

fn run_eval(settings: helios_cache::config::Settings, args: EvalArgs) -> Result<(), String> {
    use helios_cache::cache::eval;
    let settings = settings.cache;
    if !["pairwise", "replay", "both", "isolated", "conversation"].contains(&args.mode.as_str()) {
        return Err(format!(
            "--mode must be pairwise, replay, both, isolated or conversation, not {:?}",
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
    if args.mode == "conversation" {
        return run_chat_eval(settings, embedder.as_ref(), threshold, &args);
    }
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
            true => {
                let mut file = match &args.decisions {
                    Some(p) => Some(std::io::BufWriter::new(
                        std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
                    )),
                    None => None,
                };
                let out = file.as_mut().map(|f| f as &mut dyn std::io::Write);
                let report = eval::isolated(&settings, &pairs, args.threshold, out)?;
                if let Some(mut f) = file {
                    std::io::Write::flush(&mut f).map_err(|e| e.to_string())?;
                }
                Some(report)
            }
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

fn run_cluster(
    settings: &helios_cache::config::Settings,
    args: &helios_cache::cli::cluster::ClusterArgs,
) -> Result<(), String> {
    let out = helios_cache::cli::cluster::run(args, settings.server.api_key.as_deref())?;
    let text = serde_json::to_string_pretty(&out.report).map_err(|e| e.to_string())?;
    println!("{text}");
    for f in &out.failures {
        eprintln!("helios-cache cluster: {f}");
    }
    match out.failures.len() {
        0 => Ok(()),
        n => Err(format!("{n} of {} nodes failed", args.nodes.len())),
    }
}

fn run_chat_eval(
    mut settings: helios_cache::cache::CacheSettings,
    embedder: &dyn helios_cache::embed::Embedder,
    threshold: f64,
    args: &EvalArgs,
) -> Result<(), String> {
    use helios_cache::cache::eval;
    if let Some(w) = args.chat_window {
        settings.l3.chat.window = w;
    }
    if let Some(n) = args.chat_names {
        settings.l3.chat.names = n;
    }

    let hows = match args.sent_as.as_str() {
        "all" => vec![
            eval::ChatAs::Messages,
            eval::ChatAs::LastMessage,
            eval::ChatAs::Transcript,
        ],
        one => vec![eval::ChatAs::parse(one)?],
    };
    let mut all = std::collections::BTreeMap::new();
    for path in &args.pairs {
        let mut pairs = eval::read_chat_pairs(path, args.split.as_deref())?;
        if let Some(l) = args.limit {
            pairs.truncate(l);
        }
        let name = path.display().to_string();
        let mut reports = Vec::new();
        for how in &hows {
            let t = match how {
                eval::ChatAs::Messages => args.threshold,
                _ => Some(threshold),
            };
            let mut file = match (&args.decisions, how) {
                (Some(p), eval::ChatAs::Messages) => Some(std::io::BufWriter::new(
                    std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
                )),
                _ => None,
            };
            let out = file.as_mut().map(|f| f as &mut dyn std::io::Write);
            let r = eval::chat_replay(&settings, &pairs, *how, t, out)?;
            if let Some(mut f) = file {
                std::io::Write::flush(&mut f).map_err(|e| e.to_string())?;
            }
            if !args.json {
                eval::print_chat_report(&name, &r);
            }
            reports.push(r);
        }
        let sweep = match args.sweep {
            true => Some(eval::chat_sweep(
                embedder,
                settings.l3.guard,
                &settings.l3.chat,
                settings.l3.verifier.load()?.as_deref(),
                &pairs,
            )?),
            false => None,
        };
        if let (Some(points), false) = (&sweep, args.json) {
            println!("sweep (messages): t  t_final  lang served% wrong% ...");
            for p in points {
                let cells: Vec<String> = p
                    .by_lang
                    .iter()
                    .map(|(l, c)| {
                        format!(
                            "{l} {:5.1} {:5.1}",
                            100.0 * c.served_rate,
                            100.0 * c.wrong_rate
                        )
                    })
                    .collect();
                println!(
                    "{:.2} {:.2}  {}",
                    p.threshold,
                    p.final_threshold,
                    cells.join("   ")
                );
            }
        }
        all.insert(
            name,
            serde_json::json!({"embedder": embedder.id(), "replays": reports, "sweep": sweep}),
        );
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
        Command::Cluster(args) => run_cluster(&settings, &args),
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
