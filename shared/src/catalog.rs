//! The provider catalog: one declarative TOML file per vendor (`shared/providers/`), saying how
//! to connect to it, call its API, probe it and verify its webhooks.
//!
//! The built-in files are compiled in; an operator may add or replace entries with a directory
//! of the same files (`HOOKRAIL_PROVIDERS_DIR`). Every entry is checked when the catalog loads,
//! so a typo fails at start rather than on a tenant's first call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

include!(concat!(env!("OUT_DIR"), "/providers.rs"));

/// How a connection authenticates to the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// OAuth 2.0 authorization code grant, with a user's consent.
    Oauth2Code,
    /// OAuth 2.0 client credentials grant, no user.
    ClientCredentials,
    /// An API key (or several fields) in the connection's config.
    ApiKey,
    /// HTTP basic authentication from config fields.
    Basic,
}

impl AuthKind {
    /// Whether connections hold OAuth tokens.
    pub fn is_oauth(self) -> bool {
        matches!(self, Self::Oauth2Code | Self::ClientCredentials)
    }
}

/// The families the catalog groups vendors in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Chat, messaging, support chat.
    Communication,
    /// Source control, issues, projects.
    CodeAndWork,
    /// CRM, help desks, incident response, email marketing.
    CrmAndSupport,
    /// Documents and files.
    DataAndFiles,
    /// Calendar and mail.
    CalendarAndMail,
    /// Payments and commerce.
    Payments,
    /// Productivity and meetings.
    Productivity,
    /// Tools of managed service providers.
    Msp,
    /// Anything reachable over HTTP.
    Generic,
}

/// One config field a connection takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The key in the integration's `config`.
    pub name: String,
    /// A label for forms.
    pub label: String,
    /// Sealed at rest and never returned.
    pub secret: bool,
    /// Whether a connection needs it.
    pub required: bool,
    /// Where to find it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How the token endpoint authenticates the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// `Authorization: Basic` with client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// How a token request's body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenRequest {
    /// `application/x-www-form-urlencoded`, as RFC 6749 says.
    #[default]
    Form,
    /// A JSON object of the same parameters.
    Json,
}

/// The OAuth side of a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthSpec {
    /// Where the user consents (authorization code only); may hold `{field}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Where codes and refresh tokens are redeemed; may hold placeholders.
    pub token_url: String,
    /// The scopes asked for by default.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How scopes are joined in the request.
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// How the token endpoint authenticates the client.
    pub token_auth: TokenAuth,
    /// How token requests are encoded: `form` (RFC 6749, the default) or `json` (Notion,
    /// Zendesk document JSON bodies).
    #[serde(default)]
    pub token_request: TokenRequest,
    /// Whether the vendor takes PKCE (S256).
    #[serde(default)]
    pub pkce: bool,
    /// Extra query parameters of the authorization request (or, for client credentials, of
    /// the token request).
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// Whether each refresh returns a new refresh token that revokes the old one.
    #[serde(default)]
    pub rotating_refresh_tokens: bool,
    /// Lifetime assumed when a token response omits `expires_in`; none: such tokens don't
    /// expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expires_in: Option<i64>,
    /// Seconds before expiry at which a token is refreshed.
    #[serde(default = "default_refresh_buffer")]
    pub refresh_buffer: i64,
    /// The refresh token's known lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_lifetime_days: Option<i64>,
    /// Token-response fields kept beside the tokens (e.g. Salesforce `instance_url`).
    #[serde(default)]
    pub token_extras: Vec<String>,
    /// OAuth error codes meaning the grant is gone and the user must reconnect.
    #[serde(default = "default_reconnect_errors")]
    pub reconnect_errors: Vec<String>,
}

fn default_scope_separator() -> String {
    " ".to_owned()
}

fn default_refresh_buffer() -> i64 {
    15 * 60
}

fn default_reconnect_errors() -> Vec<String> {
    vec!["invalid_grant".to_owned()]
}

/// How credentials go on an API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthStyle {
    /// `Authorization: Bearer <access token or api_key>`.
    Bearer,
    /// A named header with a templated value.
    Header,
    /// HTTP basic from templates.
    Basic,
    /// A query parameter with a templated value.
    Query,
}

/// The vendor's API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    /// The base URL; may hold `{field}` placeholders.
    pub base_url: String,
    /// Regional base URLs, chosen by the connection's `config.region`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub regions: BTreeMap<String, String>,
    /// How credentials go on a request.
    pub auth_style: AuthStyle,
    /// Header style: the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    /// Header and query style: the value template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_value: Option<String>,
    /// Basic style: the user name template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_username: Option<String>,
    /// Basic style: the password template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_password: Option<String>,
    /// Query style: the parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_query: Option<String>,
    /// Fixed headers (values may hold placeholders).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// The cheapest authenticated request that proves credentials work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// `GET` or `POST`.
    pub method: String,
    /// Appended to the base URL; may hold placeholders.
    pub path: String,
    /// A request body (JSON), for GraphQL vendors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Statuses that count as success; empty: any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_status: Vec<u16>,
}

/// How the vendor's webhooks are verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// A scheme of [`crate::verify::VENDORS`], or `none`.
    pub scheme: String,
}

/// The vendor's rate-limit headers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// The limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_header: Option<String>,
    /// What is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_header: Option<String>,
    /// When it resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_header: Option<String>,
    /// Whether 429s carry `Retry-After`.
    #[serde(default)]
    pub retry_after: bool,
}

/// How the vendor pages lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaginationSpec {
    /// `link_header`, `cursor`, `page`, `offset` or `none`.
    pub style: String,
    /// The request parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// The page-size parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_param: Option<String>,
    /// Dotted path of the next cursor in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_field: Option<String>,
}

/// One vendor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The id, as an integration's `vendor` takes it.
    pub name: String,
    /// The vendor's own name.
    pub display_name: String,
    /// Its family.
    pub family: Family,
    /// The vendor's API documentation.
    pub docs_url: String,
    /// How connections authenticate.
    pub auth: AuthKind,
    /// Config fields a connection takes.
    #[serde(default)]
    pub fields: Vec<Field>,
    /// The OAuth side (OAuth providers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSpec>,
    /// The API.
    pub api: ApiSpec,
    /// The health probe.
    pub probe: ProbeSpec,
    /// Inbound webhooks.
    pub webhooks: WebhookSpec,
    /// Rate-limit headers.
    pub rate_limit: RateLimitSpec,
    /// Pagination.
    pub pagination: PaginationSpec,
}

/// Names every secret config field may take: they are sealed whatever the provider.
pub const SECRET_FIELD_NAMES: &[&str] = &[
    "api_key",
    "api_token",
    "password",
    "token",
    "client_secret",
    "private_key",
    "secret",
];

/// Names a template may use besides config fields and token extras.
const CREDENTIAL_PLACEHOLDERS: &[&str] = &["access_token", "api_key", "region"];

/// Why a catalog entry or a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The TOML does not match the schema.
    #[error("provider file {file}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The operator's directory could not be read.
    #[error("provider directory {dir}: {reason}")]
    Directory {
        /// The directory.
        dir: String,
        /// The I/O error.
        reason: String,
    },
    /// A template names a value the connection doesn't have.
    #[error("the connection has no `{0}` (needed by the provider's URL or headers)")]
    MissingValue(String),
}

impl Provider {
    /// Parses and checks one file's contents.
    pub fn parse(file: &str, text: &str) -> Result<Self, CatalogError> {
        let invalid = |reason: String| CatalogError::Invalid {
            file: file.to_owned(),
            reason,
        };
        let provider: Provider = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        provider.check().map_err(invalid)?;
        Ok(provider)
    }

    fn check(&self) -> Result<(), String> {
        if self.auth.is_oauth() != self.oauth.is_some() {
            return Err("[oauth] is required for OAuth providers and only for them".into());
        }
        if let Some(oauth) = &self.oauth {
            if (self.auth == AuthKind::Oauth2Code) != oauth.authorize_url.is_some() {
                return Err("oauth.authorize_url is for oauth2_code providers only".into());
            }
        }
        for field in &self.fields {
            if field.secret && !SECRET_FIELD_NAMES.contains(&field.name.as_str()) {
                return Err(format!(
                    "secret field {} must take one of the sealed names: {}",
                    field.name,
                    SECRET_FIELD_NAMES.join(", ")
                ));
            }
        }
        if self.webhooks.scheme != "none"
            && !crate::verify::VENDORS.contains(&self.webhooks.scheme.as_str())
        {
            return Err(format!("unknown webhook scheme {}", self.webhooks.scheme));
        }
        if !["GET", "POST"].contains(&self.probe.method.as_str()) {
            return Err("probe.method must be GET or POST".into());
        }
        let known = self.placeholder_names();
        for template in self.templates() {
            for name in placeholders(template) {
                if !known.contains(name) {
                    return Err(format!(
                        "placeholder {{{name}}} in {template:?} names no field"
                    ));
                }
            }
        }
        Ok(())
    }

    fn placeholder_names(&self) -> BTreeSet<&str> {
        let mut names: BTreeSet<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        names.extend(CREDENTIAL_PLACEHOLDERS);
        if let Some(oauth) = &self.oauth {
            names.extend(oauth.token_extras.iter().map(String::as_str));
        }
        names
    }

    fn templates(&self) -> Vec<&str> {
        let mut all = vec![self.api.base_url.as_str(), self.probe.path.as_str()];
        all.extend(self.api.regions.values().map(String::as_str));
        all.extend(self.api.headers.values().map(String::as_str));
        for value in [
            &self.api.auth_value,
            &self.api.basic_username,
            &self.api.basic_password,
        ]
        .into_iter()
        .flatten()
        {
            all.push(value);
        }
        if let Some(oauth) = &self.oauth {
            all.push(&oauth.token_url);
            if let Some(url) = &oauth.authorize_url {
                all.push(url);
            }
        }
        all
    }

    /// The base URL for a region (or the default), before placeholders are filled.
    pub fn base_url_template(&self, region: Option<&str>) -> Option<&str> {
        match region {
            Some(region) => self.api.regions.get(region).map(String::as_str),
            None => Some(&self.api.base_url),
        }
    }
}

/// The `{name}` placeholders of a template, in order.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|rest| {
        let (name, _) = rest.split_once('}')?;
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some(name)
    })
}

/// Fills a template's placeholders from `value`.
pub fn render(
    template: &str,
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<String, CatalogError> {
    let mut out = template.to_owned();
    for name in placeholders(template) {
        let filled = value(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| CatalogError::MissingValue(name.to_owned()))?;
        out = out.replace(&format!("{{{name}}}"), &filled);
    }
    Ok(out)
}

/// The whole catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    providers: BTreeMap<String, Arc<Provider>>,
}

impl Catalog {
    /// The compiled-in entries; they are checked by a unit test, so this cannot fail in a
    /// released build.
    pub fn built_in() -> &'static Catalog {
        static BUILT: OnceLock<Catalog> = OnceLock::new();
        BUILT.get_or_init(|| {
            let mut catalog = Catalog::default();
            for (stem, text) in BUILT_IN {
                match Provider::parse(stem, text) {
                    Ok(provider) => catalog.insert(provider),
                    Err(error) => tracing::error!(%error, "built-in provider skipped"),
                }
            }
            catalog
        })
    }

    /// The built-in entries plus, when given, an operator's directory of `*.toml` files that
    /// add providers or replace built-in ones.
    pub fn load(extra_dir: Option<&Path>) -> Result<Catalog, CatalogError> {
        let mut catalog = Self::built_in().clone();
        let Some(dir) = extra_dir else {
            return Ok(catalog);
        };
        let directory = |e: std::io::Error| CatalogError::Directory {
            dir: dir.display().to_string(),
            reason: e.to_string(),
        };
        for entry in std::fs::read_dir(dir).map_err(directory)? {
            let path = entry.map_err(directory)?.path();
            if path.extension().is_none_or(|ext| ext != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(directory)?;
            let provider = Provider::parse(&path.display().to_string(), &text)?;
            catalog.insert(provider);
        }
        Ok(catalog)
    }

    fn insert(&mut self, provider: Provider) {
        self.providers
            .insert(provider.name.clone(), Arc::new(provider));
    }

    /// One provider by name.
    pub fn get(&self, name: &str) -> Option<Arc<Provider>> {
        self.providers.get(name).cloned()
    }

    /// Every provider, by name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.providers.values()
    }

    /// The inbound signature scheme of `vendor`'s webhooks: the provider's, or the vendor
    /// name itself when it names a scheme; `None` when the vendor sends no webhooks.
    pub fn webhook_scheme(&self, vendor: &str) -> Option<String> {
        match self.providers.get(vendor) {
            Some(provider) if provider.webhooks.scheme == "none" => None,
            Some(provider) => Some(provider.webhooks.scheme.clone()),
            None => Some(vendor.to_owned()),
        }
    }

    /// How many providers there are.
    pub fn len(&self) -> usize {
        self.providers.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_file_parses_and_checks() {
        let mut failures = Vec::new();
        for (stem, text) in BUILT_IN {
            match Provider::parse(stem, text) {
                Ok(provider) if provider.name != *stem => {
                    failures.push(format!("{stem}: name is {}", provider.name))
                }
                Ok(_) => {}
                Err(error) => failures.push(error.to_string()),
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn the_catalog_covers_the_families_users_run() {
        let catalog = Catalog::built_in();
        assert!(catalog.len() >= 28, "only {} providers", catalog.len());
        for name in [
            "slack",
            "microsoft-teams",
            "github",
            "jira",
            "salesforce",
            "google-drive",
            "stripe",
            "quickbooks",
            "zoom",
            "itglue",
            "autotask",
            "http",
        ] {
            assert!(catalog.get(name).is_some(), "{name} missing");
        }
        let itglue = catalog.get("itglue").expect("itglue");
        assert!(itglue.api.regions.contains_key("eu"));
    }

    #[test]
    fn webhook_vendors_of_the_verifiers_are_providers_with_their_scheme() {
        let catalog = Catalog::built_in();
        for vendor in ["github", "gitlab", "stripe", "slack", "shopify"] {
            let provider = catalog.get(vendor).expect(vendor);
            assert_eq!(provider.webhooks.scheme, vendor);
        }
    }

    #[test]
    fn renders_placeholders_and_names_what_is_missing() {
        let value = |name: &str| (name == "subdomain").then(|| "acme".to_owned());
        assert_eq!(
            render("https://{subdomain}.zendesk.com/api/v2", &value),
            Ok("https://acme.zendesk.com/api/v2".to_owned())
        );
        assert_eq!(
            render("{instance_url}/services", &value),
            Err(CatalogError::MissingValue("instance_url".into()))
        );
        assert_eq!(
            placeholders("/organizations?page[size]=1").count(),
            0,
            "brackets in a query are not placeholders"
        );
    }

    #[test]
    fn refuses_unknown_keys_and_placeholders_naming_no_field() {
        let base = r#"
            name = "x"
            display_name = "X"
            family = "generic"
            docs_url = "https://x"
            auth = "api_key"
            [api]
            base_url = "https://{host}"
            auth_style = "bearer"
            [probe]
            method = "GET"
            path = "/"
            [webhooks]
            scheme = "none"
            [rate_limit]
            [pagination]
            style = "none"
        "#;
        let error = Provider::parse("x", base).unwrap_err();
        assert!(error.to_string().contains("{host}"), "{error}");
        let typo = base.replace("auth_style", "auth_styel");
        assert!(Provider::parse("x", &typo).is_err());
    }
}
