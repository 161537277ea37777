//! Configuration, read once at start from the environment into a typed struct. `template.yaml`
//! sets these variables on Lambda; `hookrail dev` builds the embedded variant from its flags.

use std::path::PathBuf;

/// How long a worker holds a job before another may take it over.
pub const DEFAULT_JOB_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// How long one delivery attempt may take.
pub const DEFAULT_DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The default largest webhook body accepted, in bytes (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Which adapters to run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// SQLite file, embedded queue and local master key under `data_dir`.
    Embedded {
        /// Where the database and master key live.
        data_dir: PathBuf,
    },
    /// DynamoDB, SQS and KMS, reached through the standard AWS environment.
    Aws {
        /// The DynamoDB table.
        table: String,
        /// The SQS queue of inbound processing jobs.
        inbound_queue_url: String,
        /// The SQS queue of fan-out and delivery jobs.
        dispatch_queue_url: String,
        /// The KMS key that wraps data keys.
        kms_key_id: String,
        /// The Secrets Manager name prefix of operator secrets.
        secrets_prefix: String,
    },
}

/// Everything a function or `hookrail` needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The adapters.
    pub backend: BackendConfig,
    /// The base URL webhook URLs are built on; derived from each request's Host when absent.
    pub public_url: Option<String>,
    /// The tenants' dashboard, which chat notifications link to (`{dashboard}/endpoints/{id}`,
    /// `/integrations/{id}`); the API's resource URLs under `public_url` when absent.
    pub dashboard_url: Option<String>,
    /// The largest webhook body accepted.
    pub max_body_bytes: usize,
    /// Requests each tenant may make to `/v1` per minute.
    pub api_requests_per_minute: u32,
    /// Address ranges deliveries may reach although they are special-purpose (loopback,
    /// private, …); empty by default.
    pub outbound_allow: Vec<ipnet::IpNet>,
    /// The total time one delivery attempt may take.
    pub delivery_timeout: std::time::Duration,
    /// How long a worker holds a job (embedded queue visibility) and a delivery attempt's
    /// claim: longer than one job can take.
    pub job_lease: std::time::Duration,
    /// A directory of provider files that add to or replace the built-in catalog.
    pub providers_dir: Option<PathBuf>,
}

/// The default Secrets Manager name prefix of operator secrets.
pub const DEFAULT_SECRETS_PREFIX: &str = "hookrail/";

/// A missing or unusable setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} must be set when HOOKRAIL_BACKEND=aws")]
    Missing(&'static str),
    /// A variable has a value that cannot be used.
    #[error("{name} is {value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Config {
    /// The embedded backend under `data_dir`, with defaults.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            backend: BackendConfig::Embedded {
                data_dir: data_dir.into(),
            },
            public_url: None,
            dashboard_url: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            api_requests_per_minute: crate::api::rate_limit::DEFAULT_REQUESTS_PER_MINUTE,
            outbound_allow: Vec::new(),
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT,
            job_lease: DEFAULT_JOB_LEASE,
            providers_dir: None,
        }
    }

    /// Reads `HOOKRAIL_*` variables from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `HOOKRAIL_*` variables through `lookup` (testable without touching the process).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let backend = match get("HOOKRAIL_BACKEND").as_deref() {
            None | Some("embedded") => BackendConfig::Embedded {
                data_dir: get("HOOKRAIL_DATA_DIR")
                    .map_or_else(|| PathBuf::from(".hookrail"), PathBuf::from),
            },
            Some("aws") => BackendConfig::Aws {
                table: required("HOOKRAIL_TABLE")?,
                inbound_queue_url: required("HOOKRAIL_INBOUND_QUEUE_URL")?,
                dispatch_queue_url: required("HOOKRAIL_DISPATCH_QUEUE_URL")?,
                kms_key_id: required("HOOKRAIL_KMS_KEY_ID")?,
                secrets_prefix: get("HOOKRAIL_SECRETS_PREFIX")
                    .unwrap_or_else(|| DEFAULT_SECRETS_PREFIX.to_owned()),
            },
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "HOOKRAIL_BACKEND",
                    value: other.to_owned(),
                    reason: "expected `embedded` or `aws`",
                })
            }
        };
        let max_body_bytes = positive::<usize>(
            get("HOOKRAIL_MAX_BODY_BYTES"),
            "HOOKRAIL_MAX_BODY_BYTES",
            "expected a positive number of bytes",
        )?
        .unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let api_requests_per_minute = positive::<u32>(
            get("HOOKRAIL_API_RATE_LIMIT"),
            "HOOKRAIL_API_RATE_LIMIT",
            "expected a positive number of requests per minute",
        )?
        .unwrap_or(crate::api::rate_limit::DEFAULT_REQUESTS_PER_MINUTE);
        let outbound_allow = match get("HOOKRAIL_OUTBOUND_ALLOW") {
            None => Vec::new(),
            Some(raw) => {
                crate::outbound::ssrf::AddressPolicy::parse_allow_list(&raw).map_err(|_| {
                    ConfigError::Invalid {
                        name: "HOOKRAIL_OUTBOUND_ALLOW",
                        value: raw.clone(),
                        reason: "expected comma-separated CIDR ranges such as 10.0.0.0/8",
                    }
                })?
            }
        };
        let job_lease = positive::<u64>(
            get("HOOKRAIL_JOB_LEASE_SECS"),
            "HOOKRAIL_JOB_LEASE_SECS",
            "expected a positive number of seconds",
        )?
        .map_or(DEFAULT_JOB_LEASE, std::time::Duration::from_secs);
        let public_url = http_url("HOOKRAIL_PUBLIC_URL", get("HOOKRAIL_PUBLIC_URL"))?;
        let dashboard_url = http_url("HOOKRAIL_DASHBOARD_URL", get("HOOKRAIL_DASHBOARD_URL"))?;
        Ok(Self {
            backend,
            public_url,
            dashboard_url,
            max_body_bytes,
            api_requests_per_minute,
            outbound_allow,
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT,
            job_lease,
            providers_dir: get("HOOKRAIL_PROVIDERS_DIR").map(PathBuf::from),
        })
    }
}

/// A positive number from a variable's value, `None` when unset; the error names the variable.
fn positive<T: std::str::FromStr + PartialEq + Default>(
    raw: Option<String>,
    name: &'static str,
    reason: &'static str,
) -> Result<Option<T>, ConfigError> {
    raw.map(|raw| {
        raw.parse::<T>()
            .ok()
            .filter(|n| *n != T::default())
            .ok_or(ConfigError::Invalid {
                name,
                value: raw,
                reason,
            })
    })
    .transpose()
}

/// An optional http(s) base URL setting, without its trailing slash.
fn http_url(name: &'static str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        None => Ok(None),
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Ok(Some(url.trim_end_matches('/').to_owned()))
        }
        Some(url) => Err(ConfigError::Invalid {
            name,
            value: url,
            reason: "expected an http:// or https:// URL",
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_to_the_embedded_backend() {
        assert_eq!(from(&[]), Ok(Config::embedded(".hookrail")));
    }

    #[test]
    fn aws_backend_names_each_missing_variable() {
        assert_eq!(
            from(&[("HOOKRAIL_BACKEND", "aws"), ("HOOKRAIL_TABLE", "t")]),
            Err(ConfigError::Missing("HOOKRAIL_INBOUND_QUEUE_URL"))
        );
    }

    #[test]
    fn rejects_unusable_values_with_their_name() {
        let error = from(&[("HOOKRAIL_MAX_BODY_BYTES", "lots")]).unwrap_err();
        assert!(error.to_string().starts_with("HOOKRAIL_MAX_BODY_BYTES"));
        assert!(from(&[("HOOKRAIL_BACKEND", "azure")]).is_err());
        assert!(from(&[("HOOKRAIL_PUBLIC_URL", "example.com")]).is_err());
        assert!(from(&[("HOOKRAIL_API_RATE_LIMIT", "4294967296")]).is_err());
        assert!(from(&[("HOOKRAIL_API_RATE_LIMIT", "0")]).is_err());
        assert!(from(&[("HOOKRAIL_JOB_LEASE_SECS", "0")]).is_err());
        assert!(from(&[("HOOKRAIL_OUTBOUND_ALLOW", "not-a-cidr")]).is_err());
        assert_eq!(
            from(&[("HOOKRAIL_JOB_LEASE_SECS", "2")]).map(|c| c.job_lease),
            Ok(std::time::Duration::from_secs(2))
        );
    }
}
