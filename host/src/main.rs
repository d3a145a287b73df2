//! `extension-host serve --plugins DIR --port PORT --system-token TOKEN`,
//! `extension-host call OUT.wasm FUNCTION [--type TYPE] [--options FILE|-]`,
//! `extension-host inspect OUT.wasm`, `extension-host build DIR -o OUT.wasm`,
//! `extension-host new DIR --lang rust|js|python`, `extension-host lambda --plugins DIR`,
//! `extension-host compile DIR`, `extension-host package-lambda --plugins DIR -o FILE.zip`
//! (run as `bootstrap` with no arguments, it is `lambda`), `extension-host probe`.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use host::config::{CallArgs, Cli, Command, ServeArgs};

#[tokio::main]
async fn main() -> ExitCode {
    // A Lambda custom runtime starts `bootstrap` with no arguments: that is `lambda`.
    let invoked_as_bootstrap = std::env::args_os().count() == 1
        && std::env::args_os()
            .next()
            .map(std::path::PathBuf::from)
            .is_some_and(|argv0| argv0.file_name().is_some_and(|n| n == "bootstrap"));
    let cli = if invoked_as_bootstrap {
        Cli::parse_from(["extension-host", "lambda"])
    } else {
        Cli::parse()
    };
    let outcome = match cli.command {
        Command::Serve(args) => {
            host::telemetry::init();
            serve(args).await.map(|()| ExitCode::SUCCESS)
        }
        Command::Call(args) => call(args).await,
        Command::Build(args) => {
            host::telemetry::init_tools();
            host::tools::build::build(&args).await.map(|listing| {
                let count = listing["functions"].as_array().map_or(0, Vec::len);
                eprintln!("built {} ({count} functions)", args.output.display());
                ExitCode::SUCCESS
            })
        }
        Command::New(args) => host::tools::scaffold::new(&args).map(|files| {
            eprintln!("created {}: {}", args.dir.display(), files.join(", "));
            ExitCode::SUCCESS
        }),
        Command::Lambda(args) => {
            host::telemetry::init();
            match host::ServeConfig::for_lambda(&args) {
                Ok(config) => host::lambda::run(config).await.map(|()| ExitCode::SUCCESS),
                Err(err) => Err(err),
            }
        }
        Command::Compile(args) => {
            host::telemetry::init_tools();
            host::tools::package::compile(&args).await.map(|compiled| {
                for c in &compiled {
                    eprintln!("{}: {}", c.id, c.artifact.display());
                }
                eprintln!("compiled {} modules", compiled.len());
                ExitCode::SUCCESS
            })
        }
        Command::PackageLambda(args) => {
            host::telemetry::init_tools();
            host::tools::package::package_lambda(&args)
                .await
                .map(|package| {
                    for entry in &package.entries {
                        eprintln!("  {entry}");
                    }
                    eprintln!("wrote {}", args.output.display());
                    ExitCode::SUCCESS
                })
        }
        Command::Probe(args) => host::tools::probe::probe(&args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Inspect(args) => {
            host::telemetry::init_tools();
            host::tools::inspect(&args).await.map(|listing| {
                print(&format!("{listing:#}"));
                ExitCode::SUCCESS
            })
        }
    };
    outcome.unwrap_or_else(|err| {
        eprintln!("extension-host: {err:#}");
        ExitCode::FAILURE
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.system_token.is_empty() {
        anyhow::bail!("the system token is empty: set --system-token or SYSTEM_TOKEN");
    }
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let config = host::ServeConfig::from_args(&args)?;
    host::serve(listener, config, shutdown_signal()).await
}

/// Prints the answer's body on stdout and `status · fuel · time` on stderr; exits 0 only on a
/// 200 answer, so scripts can tell a failed function.
async fn call(args: CallArgs) -> anyhow::Result<ExitCode> {
    let fuel = host::telemetry::init_tools();
    let answer = host::tools::call(&args, &fuel).await?;
    print(&answer.body);
    let fuel = answer
        .fuel_used
        .map_or_else(|| "-".to_string(), |f| f.to_string());
    eprintln!(
        "{} · fuel {fuel} · {:.2} ms",
        answer.status,
        answer.elapsed.as_secs_f64() * 1000.0
    );
    Ok(if answer.status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes `text` and a newline to stdout; a closed pipe (`| head`) is not an error.
fn print(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
