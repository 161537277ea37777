//! The `hookrail` binary: `hookrail dev` runs the whole system in one process on the embedded
//! backend; operator commands manage tenants on whichever backend the environment configures.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hookrail::backend::Services;
use hookrail::config::{BackendConfig, Config};
use hookrail::dev::{ensure_dev_tenant, DevServer};
use hookrail::queue::JobQueue;

#[derive(Parser)]
#[command(name = "hookrail", version, about = "Hookrail integrations hub")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every function in one process on the embedded backend (no AWS account needed).
    Dev {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the embedded database and master key live.
        #[arg(long, env = "HOOKRAIL_DATA_DIR", default_value = ".hookrail")]
        data_dir: PathBuf,
    },
    /// Create, in the embedded backend, the integration the sample events in events/ are
    /// addressed to, so `cargo lambda invoke --data-file events/…` is accepted.
    Samples {
        #[command(subcommand)]
        command: SampleCommand,
    },
    /// Publish events through a fresh embedded system to a local receiver and report
    /// delivered events per second and publish→arrival latency.
    Load {
        /// Events to publish.
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Concurrent publishers.
        #[arg(long, default_value_t = 32)]
        publishers: usize,
        /// Seconds to wait for every delivery.
        #[arg(long, default_value_t = 300)]
        deadline_secs: u64,
    },
    /// Operate the job queues (on the backend HOOKRAIL_BACKEND names; embedded by default).
    Queues {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Manage tenants (on the backend HOOKRAIL_BACKEND names; embedded by default).
    Tenants {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Across all tenants: failing endpoints, open circuits, dead letters, connections needing
    /// attention (on the backend HOOKRAIL_BACKEND names; embedded by default).
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Where the embedded database lives (ignored with HOOKRAIL_BACKEND=aws; the
        /// dead-letter queues' URLs come from HOOKRAIL_INBOUND_DLQ_URL and
        /// HOOKRAIL_DISPATCH_DLQ_URL there).
        #[arg(long, env = "HOOKRAIL_DATA_DIR", default_value = ".hookrail")]
        data_dir: PathBuf,
    },
    /// Register the operator's OAuth apps, which tenants without their own inherit (Secrets
    /// Manager with HOOKRAIL_BACKEND=aws; sealed in the embedded store otherwise).
    OauthApps {
        #[command(subcommand)]
        command: OAuthAppCommand,
    },
}

#[derive(Subcommand)]
enum OAuthAppCommand {
    /// Set a provider's client id and secret. The secret is read from
    /// HOOKRAIL_OAUTH_CLIENT_SECRET, or from the first line of standard input, never from
    /// the command line (where `ps` and shell history would keep it).
    Set {
        /// The provider, as `GET /v1/providers` names it.
        provider: String,
        /// The OAuth client id.
        #[arg(long)]
        client_id: String,
        /// Where the embedded database lives (ignored with HOOKRAIL_BACKEND=aws).
        #[arg(long, env = "HOOKRAIL_DATA_DIR", default_value = ".hookrail")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its API key (shown only once).
    Create {
        /// The tenant's display name.
        name: String,
        /// Where the embedded database lives (ignored with HOOKRAIL_BACKEND=aws).
        #[arg(long, env = "HOOKRAIL_DATA_DIR", default_value = ".hookrail")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Move every job in a queue's dead-letter queue back to the queue. On AWS the DLQ's URL
    /// comes from HOOKRAIL_INBOUND_DLQ_URL or HOOKRAIL_DISPATCH_DLQ_URL (stack outputs).
    Redrive {
        /// Which queue.
        #[arg(value_parser = ["inbound", "dispatch"])]
        queue: String,
        /// Where the embedded database lives (ignored with HOOKRAIL_BACKEND=aws).
        #[arg(long, env = "HOOKRAIL_DATA_DIR", default_value = ".hookrail")]
        data_dir: PathBuf,
        /// At most this many jobs.
        #[arg(long, default_value_t = 100_000)]
        max: usize,
    },
}

#[derive(Subcommand)]
enum SampleCommand {
    /// Create the sample GitHub integration (secret `hookrail-sample-secret`).
    Load {
        /// Where the embedded database lives.
        #[arg(long, env = "HOOKRAIL_DATA_DIR", default_value = ".hookrail")]
        data_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A load run logs every job at `info`; what it measures is the system, not the logging.
    let default_filter = match cli.command {
        Command::Load { .. } => "warn",
        _ => "info",
    };
    hookrail::runtime::init_tracing_at(false, default_filter);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hookrail: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Dev { listen, data_dir } => dev(listen, data_dir).await,
        Command::Load {
            events,
            publishers,
            deadline_secs,
        } => {
            let report = hookrail::load::run(hookrail::load::LoadOptions {
                events,
                publishers,
                deadline: std::time::Duration::from_secs(deadline_secs),
            })
            .await
            .map_err(|e| e.to_string())?;
            println!("{report}");
            if report.delivered < report.published {
                return Err(format!(
                    "{} of {} events were not delivered in time",
                    report.published - report.delivered,
                    report.published
                ));
            }
            Ok(())
        }
        Command::Samples {
            command: SampleCommand::Load { data_dir },
        } => load_samples(data_dir).await,
        Command::Queues {
            command:
                QueueCommand::Redrive {
                    queue,
                    data_dir,
                    max,
                },
        } => redrive(&queue, data_dir, max).await,
        Command::Tenants {
            command: TenantCommand::Create { name, data_dir },
        } => create_tenant(&name, data_dir).await,
        Command::Status { json, data_dir } => status(json, data_dir).await,
        Command::OauthApps {
            command:
                OAuthAppCommand::Set {
                    provider,
                    client_id,
                    data_dir,
                },
        } => set_oauth_app(&provider, client_id, data_dir).await,
    }
}

async fn status(json: bool, data_dir: PathBuf) -> Result<(), String> {
    let services = operator_services(data_dir.clone()).await?;
    let (inbound_dead, _) = queue_pair("inbound", &data_dir).await?;
    let (dispatch_dead, _) = queue_pair("dispatch", &data_dir).await?;
    let report = hookrail::status::report(
        services.store.as_ref(),
        inbound_dead.as_ref(),
        dispatch_dead.as_ref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// The services of the backend the environment names, the embedded one under `data_dir`.
async fn operator_services(data_dir: PathBuf) -> Result<Services, String> {
    let mut config = Config::from_env().map_err(|e| e.to_string())?;
    if let BackendConfig::Embedded { .. } = config.backend {
        config.backend = BackendConfig::Embedded { data_dir };
    }
    Services::connect(&config).await.map_err(|e| e.to_string())
}

async fn set_oauth_app(provider: &str, client_id: String, data_dir: PathBuf) -> Result<(), String> {
    let services = operator_services(data_dir).await?;
    let known = services
        .catalog
        .get(provider)
        .ok_or_else(|| format!("unknown provider {provider:?}; see GET /v1/providers"))?;
    if !known.auth.is_oauth() {
        return Err(format!("{} uses API keys, not OAuth", known.display_name));
    }
    let client_secret = match std::env::var("HOOKRAIL_OAUTH_CLIENT_SECRET") {
        Ok(secret) if !secret.trim().is_empty() => secret.trim().to_owned(),
        _ => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("reading the client secret from stdin: {e}"))?;
            line.trim().to_owned()
        }
    };
    if client_id.trim().is_empty() || client_secret.is_empty() {
        return Err("both the client id and the client secret are needed".into());
    }
    let app = hookrail::secrets::OAuthApp {
        client_id: client_id.trim().to_owned(),
        client_secret,
    };
    hookrail::secrets::put_oauth_app(services.operator_secrets.as_ref(), provider, &app)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "oauth app for {provider}: client id {} stored",
        app.client_id
    );
    Ok(())
}

async fn dev(listen: SocketAddr, data_dir: PathBuf) -> Result<(), String> {
    let mut config = Config::from_env().map_err(|e| e.to_string())?;
    config.backend = BackendConfig::Embedded {
        data_dir: data_dir.clone(),
    };
    // Local receivers live on loopback, which deliveries are otherwise refused.
    let loopback_opened = config.outbound_allow.is_empty();
    if loopback_opened {
        config.outbound_allow =
            hookrail::outbound::ssrf::AddressPolicy::parse_allow_list("127.0.0.0/8,::1/128")
                .map_err(|e| e.to_string())?;
    }
    let services = Services::connect(&config)
        .await
        .map_err(|e| e.to_string())?;
    let (tenant, key) = ensure_dev_tenant(&services)
        .await
        .map_err(|e| e.to_string())?;
    let server = DevServer::start(services, listen)
        .await
        .map_err(|e| e.to_string())?;
    // The server must outlive whoever reads these lines (`hookrail dev | head -3`), so a
    // closed stdout is ignored rather than allowed to panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "hookrail dev: embedded backend in {}",
        data_dir.display()
    );
    let _ = writeln!(out, "base url: {}", server.base_url);
    let _ = writeln!(out, "tenant: {tenant}");
    let _ = writeln!(out, "api key: {key}");
    let _ = writeln!(out, "openapi: {}/v1/openapi.json", server.base_url);
    if loopback_opened {
        let _ = writeln!(
            out,
            "outbound: deliveries to loopback (127.0.0.0/8, ::1) are allowed for local receivers; set HOOKRAIL_OUTBOUND_ALLOW to choose"
        );
    }
    let _ = out.flush();
    drop(out);
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    let _ = writeln!(std::io::stdout(), "hookrail dev: stopping");
    server.shutdown().await;
    Ok(())
}

async fn create_tenant(name: &str, data_dir: PathBuf) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the tenant name must not be empty".into());
    }
    let services = operator_services(data_dir).await?;
    let (tenant, key) =
        hookrail::repo::tenants::create(services.store.as_ref(), name, services.clock.now())
            .await
            .map_err(|e| e.to_string())?;
    println!("tenant: {}", tenant.id);
    println!("api key: {key}");
    Ok(())
}

async fn load_samples(data_dir: PathBuf) -> Result<(), String> {
    let services = Services::connect(&Config::embedded(&data_dir))
        .await
        .map_err(|e| e.to_string())?;
    let id = hookrail::dev::load_samples(&services)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "sample integration: {id} (github, secret {SAMPLE})",
        SAMPLE = hookrail::dev::SAMPLE_SIGNING_SECRET
    );
    Ok(())
}

/// A queue and its dead-letter queue, `(dead, source)`, on the backend the environment names.
async fn queue_pair(
    queue: &str,
    data_dir: &std::path::Path,
) -> Result<(Box<dyn JobQueue>, Box<dyn JobQueue>), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    Ok(match config.backend {
        BackendConfig::Embedded { .. } => {
            let db = hookrail::embedded::EmbeddedDb::open(data_dir).map_err(|e| e.to_string())?;
            let (name, receives) = match queue {
                "inbound" => (
                    hookrail::backend::INBOUND_QUEUE,
                    hookrail::backend::MAX_RECEIVES,
                ),
                _ => (
                    hookrail::backend::DISPATCH_QUEUE,
                    hookrail::backend::DISPATCH_MAX_RECEIVES,
                ),
            };
            let source = hookrail::queue::embedded::EmbeddedQueue::new(db, name, receives);
            (Box::new(source.dead_letters()), Box::new(source))
        }
        BackendConfig::Aws {
            inbound_queue_url,
            dispatch_queue_url,
            ..
        } => {
            let (source_url, dlq_variable) = match queue {
                "inbound" => (inbound_queue_url, "HOOKRAIL_INBOUND_DLQ_URL"),
                _ => (dispatch_queue_url, "HOOKRAIL_DISPATCH_DLQ_URL"),
            };
            let dead_url = std::env::var(dlq_variable)
                .map_err(|_| format!("{dlq_variable} must name the dead-letter queue's URL"))?;
            (
                Box::new(hookrail::queue::sqs::SqsQueue::from_env(dead_url).await),
                Box::new(hookrail::queue::sqs::SqsQueue::from_env(source_url).await),
            )
        }
    })
}

async fn redrive(queue: &str, data_dir: PathBuf, max: usize) -> Result<(), String> {
    let (dead, source) = queue_pair(queue, &data_dir).await?;
    let moved = hookrail::queue::redrive(dead.as_ref(), source.as_ref(), max)
        .await
        .map_err(|e| e.to_string())?;
    println!("redriven: {moved} jobs from the {queue} dead-letter queue");
    Ok(())
}
