//! The egress policy: the `[network]` table of a settings file (and of the config file, for
//! defaults), checked and compiled once when a module loads, so a bad pattern refuses the
//! module with its reason instead of failing requests later.
//!
//! Pattern rules (`allowed_hosts`): a scheme (`http` or `https`) is required; no port means
//! the scheme's default port only; `*.` may only be the whole leftmost label and matches
//! subdomains at any depth but not the bare domain; IPv6 literals go in brackets; no path. A
//! pattern matches the URI's host as written (`localhost` does not match `127.0.0.1`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::rate::{Bucket, RateLimitSettings};

/// Default `max_requests_per_call`.
pub const DEFAULT_MAX_REQUESTS_PER_CALL: u64 = 50;
/// Default `request_timeout_ms`: integrator.io's own calls to an extension time out well
/// before a minute; one outbound request should not take a third of that.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Default `max_response_bytes`: 10 MiB, twice the protocol's default response size.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;

/// The `[network]` table as written: every key optional, so a connector's table overrides
/// the config file's key by key.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// URL patterns guests may call (none: no network).
    pub allowed_hosts: Option<Vec<String>>,
    /// Outbound requests one call may issue (allowed or not).
    pub max_requests_per_call: Option<u64>,
    /// Time one outbound request may take, connecting included.
    pub request_timeout_ms: Option<u64>,
    /// Largest response body a guest may read.
    pub max_response_bytes: Option<u64>,
    /// Extra trusted root certificates (PEM), relative to the file that names it.
    pub ca_file: Option<PathBuf>,
    /// `"host:port" = "ip:port"`: where connections to that host go (as curl's `--resolve`).
    pub resolve: Option<BTreeMap<String, String>>,
    /// A client-side rate limit for some of the allowed hosts.
    pub rate_limit: Option<RateLimitSettings>,
}

impl NetworkSettings {
    /// Parses a `[network]` table's paths relative to `dir` (the directory of the file that
    /// holds it).
    pub fn anchored(mut self, dir: &Path) -> Self {
        if let Some(ca) = self.ca_file.take() {
            self.ca_file = Some(if ca.is_absolute() { ca } else { dir.join(ca) });
        }
        self
    }

    /// These settings with `over`'s keys applied on top.
    pub fn with(&self, over: &NetworkSettings) -> Self {
        Self {
            allowed_hosts: over
                .allowed_hosts
                .clone()
                .or_else(|| self.allowed_hosts.clone()),
            max_requests_per_call: over.max_requests_per_call.or(self.max_requests_per_call),
            request_timeout_ms: over.request_timeout_ms.or(self.request_timeout_ms),
            max_response_bytes: over.max_response_bytes.or(self.max_response_bytes),
            ca_file: over.ca_file.clone().or_else(|| self.ca_file.clone()),
            resolve: over.resolve.clone().or_else(|| self.resolve.clone()),
            rate_limit: over.rate_limit.clone().or_else(|| self.rate_limit.clone()),
        }
    }
}

/// Which hosts a pattern names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Exactly this name (lowercase) or IP literal.
    Exact(String),
    /// Any subdomain of this domain, at any depth, not the domain itself.
    Subdomains(String),
}

/// One compiled `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// `http` or `https`.
    pub https: bool,
    /// The host part.
    pub host: HostMatch,
    /// The port (the scheme's default when the pattern gives none).
    pub port: u16,
    /// The pattern as written.
    pub text: String,
}

impl Pattern {
    /// Parses one pattern.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            bail!("{text:?}: a scheme is required (http:// or https://)");
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            bail!("{text:?}: a pattern names a scheme, a host and a port, nothing more");
        }
        let (host, port) = split_host_port(rest).with_context(|| format!("{text:?}"))?;
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .with_context(|| format!("{text:?}: {port:?} is not a port"))?,
            None if https => 443,
            None => 80,
        };
        let host = host.to_ascii_lowercase();
        let host = match host.strip_prefix("*.") {
            Some(domain) if !domain.contains('*') && !domain.is_empty() => {
                valid_name(domain).with_context(|| format!("{text:?}"))?;
                HostMatch::Subdomains(domain.to_string())
            }
            _ if host.contains('*') => {
                bail!("{text:?}: `*.` may only stand as the whole leftmost label")
            }
            _ => {
                if host.parse::<IpAddr>().is_err() {
                    valid_name(&host).with_context(|| format!("{text:?}"))?;
                }
                HostMatch::Exact(host)
            }
        };
        Ok(Self {
            https,
            host,
            port,
            text: text.to_string(),
        })
    }

    /// Whether a request to `host` (as written in the URI, brackets removed) on `port`
    /// over `https` matches.
    pub fn matches(&self, https: bool, host: &str, port: u16) -> bool {
        if self.https != https || self.port != port {
            return false;
        }
        match &self.host {
            HostMatch::Exact(name) => match (name.parse::<IpAddr>(), host.parse::<IpAddr>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => name.eq_ignore_ascii_case(host),
            },
            HostMatch::Subdomains(domain) => {
                let host = host.to_ascii_lowercase();
                host.len() > domain.len() + 1
                    && host.ends_with(domain.as_str())
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
        }
    }

    /// The IP address this pattern names literally, if it does.
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match &self.host {
            HostMatch::Exact(name) => name.parse().ok(),
            HostMatch::Subdomains(_) => None,
        }
    }

    /// Whether the pattern names `localhost` explicitly.
    pub fn is_localhost(&self) -> bool {
        self.host == HostMatch::Exact("localhost".into())
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(text: &str) -> anyhow::Result<(&str, Option<&str>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .context("an IPv6 literal is missing its closing bracket")?;
        v6.parse::<std::net::Ipv6Addr>()
            .with_context(|| format!("{v6:?} is not an IPv6 address"))?;
        return match after {
            "" => Ok((v6, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((v6, Some(port))),
                None => bail!("unexpected text after the IPv6 literal"),
            },
        };
    }
    if text.matches(':').count() > 1 {
        bail!("IPv6 literals go in brackets");
    }
    Ok(match text.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    })
}

fn valid_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ok {
        bail!("{name:?} is not a host name");
    }
    Ok(())
}

/// Outbound traffic counted for one plugin (shown in `GET /plugins`).
#[derive(Debug, Default)]
pub struct EgressStats {
    /// Requests issued (allowed or not).
    pub requests: AtomicU64,
    /// Requests refused by the policy.
    pub denied: AtomicU64,
    /// Response body bytes read.
    pub bytes: AtomicU64,
    /// Milliseconds spent in requests.
    pub ms: AtomicU64,
}

impl EgressStats {
    /// The counters as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "denied": self.denied.load(Ordering::Relaxed),
            "bytes": self.bytes.load(Ordering::Relaxed),
            "ms": self.ms.load(Ordering::Relaxed),
        })
    }
}

/// A compiled policy, shared by every call of one plugin.
pub struct NetworkPolicy {
    /// The allowed patterns (empty: no network).
    pub allowed: Vec<Pattern>,
    /// Outbound requests per call.
    pub max_requests_per_call: u64,
    /// Time per outbound request.
    pub request_timeout_ms: u64,
    /// Response body cap.
    pub max_response_bytes: u64,
    /// Operator-named destinations: (lowercase host, port) → address.
    pub resolve: BTreeMap<(String, u16), SocketAddr>,
    /// The extra CA file, if any.
    pub ca_file: Option<PathBuf>,
    /// TLS settings (web roots plus `ca_file`).
    pub tls: Arc<rustls::ClientConfig>,
    /// Traffic so far.
    pub stats: EgressStats,
    /// The rate limit: the hosts it covers and their shared bucket.
    pub rate_limit: Option<(Vec<Pattern>, Bucket, RateLimitSettings)>,
}

impl std::fmt::Debug for NetworkPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkPolicy")
            .field("allowed", &self.allowed)
            .field("max_requests_per_call", &self.max_requests_per_call)
            .finish_non_exhaustive()
    }
}

/// What `GET /plugins` shows of a policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct PolicyView {
    allowed_hosts: Vec<String>,
    max_requests_per_call: u64,
    request_timeout_ms: u64,
    max_response_bytes: u64,
    resolve: BTreeMap<String, String>,
    ca_file: Option<String>,
    rate_limit: Option<RateLimitSettings>,
}

impl NetworkPolicy {
    /// Compiles settings; every problem is an error naming the key.
    pub fn compile(settings: &NetworkSettings) -> anyhow::Result<Self> {
        let allowed = settings
            .allowed_hosts
            .iter()
            .flatten()
            .map(|p| Pattern::parse(p))
            .collect::<anyhow::Result<Vec<_>>>()
            .context("network.allowed_hosts")?;
        let mut resolve = BTreeMap::new();
        for (from, to) in settings.resolve.iter().flatten() {
            let (host, port) = split_host_port(from)
                .ok()
                .and_then(|(h, p)| Some((h, p?.parse::<u16>().ok()?)))
                .with_context(|| format!("network.resolve: {from:?} is not host:port"))?;
            let to: SocketAddr = to
                .parse()
                .with_context(|| format!("network.resolve: {to:?} is not ip:port"))?;
            resolve.insert((host.to_ascii_lowercase(), port), to);
        }
        let rate_limit = match &settings.rate_limit {
            Some(rate) => {
                let hosts = rate
                    .hosts
                    .iter()
                    .map(|p| Pattern::parse(p))
                    .collect::<anyhow::Result<Vec<_>>>()
                    .context("network.rate_limit.hosts")?;
                if !(rate.per_second > 0.0 && rate.per_second.is_finite()) || rate.burst == 0 {
                    bail!("network.rate_limit: burst and per_second must be positive");
                }
                Some((
                    hosts,
                    Bucket::new(rate.burst, rate.per_second),
                    rate.clone(),
                ))
            }
            None => None,
        };
        let tls = match &settings.ca_file {
            Some(path) => Arc::new(super::tls::client_config(Some(path))?),
            None => super::tls::default_client_config()?,
        };
        Ok(Self {
            allowed,
            max_requests_per_call: settings
                .max_requests_per_call
                .unwrap_or(DEFAULT_MAX_REQUESTS_PER_CALL),
            request_timeout_ms: settings
                .request_timeout_ms
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS),
            max_response_bytes: settings
                .max_response_bytes
                .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            resolve,
            ca_file: settings.ca_file.clone(),
            tls,
            stats: EgressStats::default(),
            rate_limit,
        })
    }

    /// The policy that denies everything (a module with no `[network]`).
    pub fn deny_all() -> anyhow::Result<Self> {
        Self::compile(&NetworkSettings::default())
    }

    /// The rate limit's bucket, if this destination is rate limited.
    pub fn bucket(&self, https: bool, host: &str, port: u16) -> Option<&Bucket> {
        let (hosts, bucket, _) = self.rate_limit.as_ref()?;
        hosts
            .iter()
            .any(|p| p.matches(https, host, port))
            .then_some(bucket)
    }

    /// The first pattern allowing this destination.
    pub fn allows(&self, https: bool, host: &str, port: u16) -> Option<&Pattern> {
        self.allowed.iter().find(|p| p.matches(https, host, port))
    }

    /// The listing's view.
    pub fn view(&self) -> PolicyView {
        PolicyView {
            allowed_hosts: self.allowed.iter().map(|p| p.text.clone()).collect(),
            max_requests_per_call: self.max_requests_per_call,
            request_timeout_ms: self.request_timeout_ms,
            max_response_bytes: self.max_response_bytes,
            resolve: self
                .resolve
                .iter()
                .map(|((h, p), to)| (format!("{h}:{p}"), to.to_string()))
                .collect(),
            ca_file: self.ca_file.as_ref().map(|p| p.display().to_string()),
            rate_limit: self.rate_limit.as_ref().map(|(_, _, s)| s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    #[test]
    fn patterns_need_a_scheme_and_default_to_its_port() {
        assert!(Pattern::parse("api.example.com").is_err());
        assert!(Pattern::parse("ftp://api.example.com").is_err());
        let https = p("https://api.example.com");
        assert!(https.matches(true, "api.example.com", 443));
        assert!(!https.matches(true, "api.example.com", 8443));
        assert!(!https.matches(false, "api.example.com", 443));
        assert!(p("http://localhost:9000").matches(false, "localhost", 9000));
        assert!(!p("http://localhost:9000").matches(false, "127.0.0.1", 9000));
    }

    #[test]
    fn wildcards_match_subdomains_at_any_depth_but_not_the_domain() {
        let w = p("https://*.myshopify.com");
        assert!(w.matches(true, "a.myshopify.com", 443));
        assert!(w.matches(true, "a.b.myshopify.com", 443));
        assert!(!w.matches(true, "myshopify.com", 443));
        assert!(!w.matches(true, "evilmyshopify.com", 443));
        for bad in [
            "https://*",
            "https://a.*.com",
            "https://*a.com",
            "https://api.*",
            "https://**.a.com",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_literals_go_in_brackets() {
        let v6 = p("http://[::1]:8080");
        assert!(v6.matches(false, "::1", 8080));
        assert!(v6.matches(false, "0:0::1", 8080));
        assert!(Pattern::parse("http://::1:8080").is_err());
        assert!(Pattern::parse("https://api.example.com/path").is_err());
        assert!(Pattern::parse("https://api.example.com:0").is_err());
    }

    #[test]
    fn a_connector_table_overrides_the_defaults_key_by_key_and_paths_follow_their_file() {
        let defaults: NetworkSettings = toml::from_str(
            "allowed_hosts = [\"https://api.integrator.io\"]\nmax_requests_per_call = 5\nca_file = \"ca.pem\"\n",
        )
        .unwrap();
        let defaults = defaults.anchored(Path::new("/etc/host"));
        let connector: NetworkSettings =
            toml::from_str("max_requests_per_call = 9\nca_file = \"/abs/ca.pem\"\n").unwrap();
        let merged = defaults.with(&connector.anchored(Path::new("/plugins")));
        assert_eq!(
            merged.allowed_hosts.as_deref(),
            Some(&["https://api.integrator.io".to_string()][..])
        );
        assert_eq!(merged.max_requests_per_call, Some(9));
        assert_eq!(merged.ca_file.as_deref(), Some(Path::new("/abs/ca.pem")));
        assert_eq!(
            defaults.ca_file.as_deref(),
            Some(Path::new("/etc/host/ca.pem"))
        );
    }

    #[test]
    fn unknown_keys_and_bad_resolve_entries_are_refused() {
        assert!(toml::from_str::<NetworkSettings>("allowed_host = []").is_err());
        let bad = NetworkSettings {
            resolve: Some([("api.example.com".into(), "127.0.0.1:1".into())].into()),
            ..Default::default()
        };
        assert!(NetworkPolicy::compile(&bad).is_err());
    }
}
