//! The token endpoint: redeeming codes and refresh tokens, and client-credentials grants.
//! Vendors differ in small ways (Slack answers 200 with `"ok": false`, some send
//! `expires_in` as a string, GitHub answers form-encoded unless asked for JSON); they are all
//! read into one [`TokenGrant`] or one [`TokenError`].

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{Map, Value};

use crate::catalog::{TokenAuth, TokenRequest};

/// How long a token request may take.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's credentials at the token endpoint.
#[derive(Clone)]
pub struct ClientAuth {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// How the endpoint takes them.
    pub method: TokenAuth,
    /// How the endpoint takes its parameters.
    pub encoding: TokenRequest,
}

/// A token request.
#[derive(Debug, Clone)]
pub enum Grant {
    /// Redeem an authorization code.
    AuthorizationCode {
        /// The code from the callback.
        code: String,
        /// The redirect URI of the authorization request.
        redirect_uri: String,
        /// The PKCE verifier, when one was sent.
        code_verifier: Option<String>,
    },
    /// Redeem a refresh token.
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
    },
    /// Client credentials.
    ClientCredentials {
        /// Scopes, joined as the provider wants.
        scope: Option<String>,
    },
}

impl Grant {
    fn form(&self) -> Vec<(&'static str, String)> {
        match self {
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let mut form = vec![
                    ("grant_type", "authorization_code".to_owned()),
                    ("code", code.clone()),
                    ("redirect_uri", redirect_uri.clone()),
                ];
                if let Some(verifier) = code_verifier {
                    form.push(("code_verifier", verifier.clone()));
                }
                form
            }
            Grant::RefreshToken { refresh_token } => vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh_token.clone()),
            ],
            Grant::ClientCredentials { scope } => {
                let mut form = vec![("grant_type", "client_credentials".to_owned())];
                if let Some(scope) = scope {
                    form.push(("scope", scope.clone()));
                }
                form
            }
        }
    }
}

/// A successful token response.
#[derive(Clone, PartialEq)]
pub struct TokenGrant {
    /// The access token.
    pub access_token: String,
    /// A refresh token, when issued (absent: keep the old one).
    pub refresh_token: Option<String>,
    /// Usually `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires, when said.
    pub expires_in: Option<i64>,
    /// Seconds until the refresh token expires, when said.
    pub refresh_token_expires_in: Option<i64>,
    /// The granted scopes, when said.
    pub scope: Option<String>,
    /// Every other field of the response.
    pub fields: Map<String, Value>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The vendor answered with an OAuth error (`invalid_grant`, …).
    #[error("{code}{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected {
        /// The OAuth error code.
        code: String,
        /// The vendor's description.
        description: Option<String>,
        /// The HTTP status.
        status: u16,
    },
    /// The vendor could not be reached, or failed (5xx, 429, timeout); worth retrying.
    #[error("token endpoint unavailable: {0}")]
    Unavailable(String),
    /// The vendor answered something that is not a token response.
    #[error("token endpoint answered an unreadable response: {0}")]
    Malformed(String),
}

impl TokenError {
    /// The OAuth error code, when the vendor gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            TokenError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Sends one token request.
pub async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientAuth,
    grant: &Grant,
    extra: &[(String, String)],
) -> Result<TokenGrant, TokenError> {
    let mut form: Vec<(String, String)> = grant
        .form()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    form.extend(extra.iter().cloned());
    let mut request = http
        .post(token_url)
        .timeout(TOKEN_TIMEOUT)
        .header(reqwest::header::ACCEPT, "application/json");
    match client.method {
        TokenAuth::ClientSecretBasic => {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                encode(&client.client_id),
                encode(&client.client_secret)
            );
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", B64.encode(pair)),
            );
        }
        TokenAuth::ClientSecretPost => {
            form.push(("client_id".into(), client.client_id.clone()));
            form.push(("client_secret".into(), client.client_secret.clone()));
        }
    }
    let (content_type, body) = match client.encoding {
        TokenRequest::Form => (
            "application/x-www-form-urlencoded",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish(),
        ),
        TokenRequest::Json => (
            "application/json",
            serde_json::Value::Object(
                form.into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )
            .to_string(),
        ),
    };
    let response = request
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| TokenError::Unavailable(crate::outbound::deliver::describe_error(e)))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| TokenError::Unavailable(e.to_string()))?;
    read_response(status, &text)
}

/// Reads a token endpoint's answer.
pub fn read_response(status: u16, text: &str) -> Result<TokenGrant, TokenError> {
    let fields = parse_fields(text);
    let error_code = fields
        .as_ref()
        .and_then(|f| f.get("error"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let excerpt = || text.chars().take(300).collect::<String>();
    if status >= 500 || status == 429 {
        return Err(TokenError::Unavailable(format!(
            "HTTP {status}: {}",
            excerpt()
        )));
    }
    let slack_refused = fields
        .as_ref()
        .and_then(|f| f.get("ok"))
        .and_then(Value::as_bool)
        == Some(false);
    if !(200..300).contains(&status) || error_code.is_some() || slack_refused {
        let description = fields
            .as_ref()
            .and_then(|f| f.get("error_description"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Err(TokenError::Rejected {
            code: error_code.unwrap_or_else(|| format!("http_{status}")),
            description: description.or_else(|| (fields.is_none()).then(excerpt)),
            status,
        });
    }
    let mut fields = fields.ok_or_else(|| TokenError::Malformed(excerpt()))?;
    let access_token = take_string(&mut fields, "access_token")
        .ok_or_else(|| TokenError::Malformed("no access_token in the response".into()))?;
    Ok(TokenGrant {
        access_token,
        refresh_token: take_string(&mut fields, "refresh_token"),
        token_type: take_string(&mut fields, "token_type").unwrap_or_else(|| "Bearer".into()),
        expires_in: take_seconds(&mut fields, "expires_in"),
        refresh_token_expires_in: take_seconds(&mut fields, "refresh_token_expires_in")
            .or_else(|| take_seconds(&mut fields, "x_refresh_token_expires_in")),
        scope: take_string(&mut fields, "scope"),
        fields,
    })
}

fn parse_fields(text: &str) -> Option<Map<String, Value>> {
    if let Ok(Value::Object(map)) = serde_json::from_str(text) {
        return Some(map);
    }
    let pairs: Map<String, Value> = url::form_urlencoded::parse(text.trim().as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    (pairs.contains_key("access_token") || pairs.contains_key("error")).then_some(pairs)
}

fn take_string(fields: &mut Map<String, Value>, name: &str) -> Option<String> {
    match fields.remove(name)? {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn take_seconds(fields: &mut Map<String, Value>, name: &str) -> Option<i64> {
    match fields.remove(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_standard_and_vendor_flavoured_responses() {
        let grant = read_response(
            200,
            r#"{"access_token":"a","refresh_token":"r","expires_in":"3600","scope":"x y","instance_url":"https://i"}"#,
        )
        .expect("grant");
        assert_eq!(grant.expires_in, Some(3600));
        assert_eq!(grant.refresh_token.as_deref(), Some("r"));
        assert_eq!(
            grant.fields.get("instance_url"),
            Some(&Value::from("https://i"))
        );
        let form = read_response(200, "access_token=gho_x&scope=repo&token_type=bearer")
            .expect("form-encoded");
        assert_eq!(form.access_token, "gho_x");
        assert_eq!(form.expires_in, None);
        assert!(!format!("{grant:?}").contains("\"r\""));
    }

    #[tokio::test]
    async fn json_vendors_get_a_json_body_and_basic_auth_is_form_encoded() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post({
                let seen = seen.clone();
                move |headers: axum::http::HeaderMap, body: String| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    seen.lock().expect("lock").push((
                        header("content-type"),
                        header("authorization"),
                        body,
                    ));
                    r#"{"access_token":"t","expires_in":60}"#
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/token", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let grant = Grant::RefreshToken {
            refresh_token: "r 1".into(),
        };
        for (method, encoding) in [
            (TokenAuth::ClientSecretBasic, TokenRequest::Json),
            (TokenAuth::ClientSecretPost, TokenRequest::Form),
        ] {
            let client = ClientAuth {
                client_id: "id:1".into(),
                client_secret: "s&2".into(),
                method,
                encoding,
            };
            let granted = request_token(&reqwest::Client::new(), &url, &client, &grant, &[])
                .await
                .expect("token");
            assert_eq!(granted.access_token, "t");
        }
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen[0].0, "application/json");
        let json: Value = serde_json::from_str(&seen[0].2).expect("json body");
        assert_eq!(json["refresh_token"], "r 1");
        // RFC 6749 2.3.1: the id and secret are form-encoded before they are joined.
        assert_eq!(seen[0].1, format!("Basic {}", B64.encode("id%3A1:s%262")));
        assert_eq!(seen[1].0, "application/x-www-form-urlencoded");
        assert!(seen[1].2.contains("client_secret=s%262"), "{}", seen[1].2);
        assert!(seen[1].1.is_empty());
    }

    #[test]
    fn reads_errors_as_the_vendor_said_them() {
        assert_eq!(
            read_response(
                400,
                r#"{"error":"invalid_grant","error_description":"revoked"}"#
            ),
            Err(TokenError::Rejected {
                code: "invalid_grant".into(),
                description: Some("revoked".into()),
                status: 400
            })
        );
        let slack = read_response(200, r#"{"ok":false,"error":"invalid_refresh_token"}"#);
        assert_eq!(
            slack.err().as_ref().and_then(TokenError::code),
            Some("invalid_refresh_token")
        );
        assert!(matches!(
            read_response(503, "busy"),
            Err(TokenError::Unavailable(_))
        ));
        assert!(matches!(
            read_response(200, "<html>"),
            Err(TokenError::Malformed(_))
        ));
    }
}
