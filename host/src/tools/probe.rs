//! `extension-host probe`: a health check for images with no shell or curl (the container's
//! `HEALTHCHECK`): one GET to the host on loopback, success only on a 200 answer.

use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::config::ProbeArgs;

/// GETs `args.path` from `127.0.0.1:args.port`; fails unless it answers 200 within the timeout.
pub async fn probe(args: &ProbeArgs) -> anyhow::Result<()> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("connecting to 127.0.0.1:{}", args.port))?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            args.path
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        anyhow::Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    let head = tokio::time::timeout(Duration::from_millis(args.timeout_ms), exchange)
        .await
        .context("no answer in time")??;
    let status = head.split(' ').nth(1).unwrap_or_default();
    if status != "200" {
        bail!(
            "{} answered {:?}",
            args.path,
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(())
}
