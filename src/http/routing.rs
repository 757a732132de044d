//! The routing headers: `X-Helios-Namespace` and `X-Helios-Scope`, which let
//! a load balancer shard by namespace (or scope) without reading the body.
//!
//! This module owns their parsing (an actix extractor, [`RoutingHeaders`])
//! and the rules that tie them to the body, so that what the balancer routed
//! on is what the node does:
//!
//! - **`X-Helios-Namespace`**: when the body names a namespace too, the two
//!   must be equal (else 400 `namespace_mismatch`); when only the header
//!   names it, it is the request's namespace (lookup, store, and the
//!   namespace filter of invalidate).
//! - **`X-Helios-Scope`** (optional): the scope key, exactly
//!   `NAMESPACE|TASK_TYPE` with the defaults applied (`default`, `general`),
//!   see [`scope_key`]. `|` cannot occur in either name, so the key is
//!   unambiguous. When sent it must equal the key of the request's own
//!   namespace and task type (else 400 `scope_mismatch`); on invalidate the
//!   request must name both filters (an invalidation of a whole namespace
//!   spans several scopes, so a balancer hashing on the scope could not send
//!   it to one node).
//!
//! Each header may appear once (HAProxy routes on the last occurrence, the
//! node would otherwise have to pick one): a repeated header is 400
//! `duplicate_header`, a value that is not a valid name 400 `invalid_name`.

use std::future::{ready, Ready};

use actix_web::http::header::HeaderMap;
use actix_web::{dev::Payload, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::cache::request::{self, ScopeFields};
use crate::error::CacheError;

/// The namespace routing header.
pub const NAMESPACE_HEADER: &str = "X-Helios-Namespace";
/// The scope-key routing header.
pub const SCOPE_HEADER: &str = "X-Helios-Scope";
/// Separates namespace and task type in a scope key; never part of a name.
pub const SCOPE_SEPARATOR: char = '|';

/// The scope key of a namespace and a task type: `NAMESPACE|TASK_TYPE`.
/// Clients send it in `X-Helios-Scope` with the defaults applied
/// (`default|general` for a request naming neither).
pub fn scope_key(namespace: &str, task_type: &str) -> String {
    format!("{namespace}{SCOPE_SEPARATOR}{task_type}")
}

/// A parsed `X-Helios-Scope`: its two checked names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeKey {
    pub namespace: String,
    pub task_type: String,
}

impl ScopeKey {
    /// Parses `NAMESPACE|TASK_TYPE`; both parts must be valid names.
    pub fn parse(value: &str) -> Result<ScopeKey, CacheError> {
        let (ns, task) = value.split_once(SCOPE_SEPARATOR).ok_or_else(|| {
            CacheError::invalid(
                "invalid_scope_key",
                format!("{SCOPE_HEADER} must be NAMESPACE|TASK_TYPE, got {value:?}"),
            )
        })?;
        Ok(ScopeKey {
            namespace: request::name(SCOPE_HEADER, Some(ns), "")?,
            task_type: request::name(SCOPE_HEADER, Some(task), "")?,
        })
    }
}

impl std::fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&scope_key(&self.namespace, &self.task_type))
    }
}

/// The routing headers of one request, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingHeaders {
    /// `X-Helios-Namespace`, a valid name.
    pub namespace: Option<String>,
    /// `X-Helios-Scope`, parsed.
    pub scope: Option<ScopeKey>,
}

/// The one value of header `name`, if present; a repeated header or one
/// that is not visible ASCII is an error.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, CacheError> {
    let mut values = headers.get_all(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(CacheError::invalid(
            "duplicate_header",
            format!("{name} must be sent at most once"),
        ));
    }
    let text = first.to_str().map_err(|_| {
        CacheError::invalid("invalid_name", format!("{name} must be visible ASCII"))
    })?;
    Ok(Some(text.trim()))
}

impl RoutingHeaders {
    /// Reads and checks both headers.
    pub fn from_headers(headers: &HeaderMap) -> Result<RoutingHeaders, CacheError> {
        let namespace = single(headers, NAMESPACE_HEADER)?
            .map(|v| request::name(NAMESPACE_HEADER, Some(v), ""))
            .transpose()?;
        let scope = single(headers, SCOPE_HEADER)?
            .map(ScopeKey::parse)
            .transpose()?;
        Ok(RoutingHeaders { namespace, scope })
    }

    /// The request's namespace from the body's and the header's: equal when
    /// both are given, else whichever is given (`None`: neither).
    pub fn namespace(&self, body: Option<String>) -> Result<Option<String>, CacheError> {
        match (body, &self.namespace) {
            (Some(b), Some(h)) if b != *h => Err(CacheError::invalid(
                "namespace_mismatch",
                format!(
                    "{NAMESPACE_HEADER} is {h:?} but the body's namespace is {b:?}; \
                     they must be equal (or send only one)"
                ),
            )),
            (Some(b), _) => Ok(Some(b)),
            (None, h) => Ok(h.clone()),
        }
    }

    /// Checks `X-Helios-Scope`, when sent, against the scope of a lookup or
    /// store (its namespace and task type, defaults applied).
    pub fn check_scope(&self, fields: &ScopeFields) -> Result<(), CacheError> {
        self.check_filters(Some(&fields.namespace), Some(&fields.task_type))
    }

    /// Checks `X-Helios-Scope`, when sent, against the namespace and task
    /// type filters of an invalidation, which must both be given and equal.
    pub fn check_filters(
        &self,
        namespace: Option<&str>,
        task_type: Option<&str>,
    ) -> Result<(), CacheError> {
        let Some(key) = &self.scope else {
            return Ok(());
        };
        if namespace == Some(key.namespace.as_str()) && task_type == Some(key.task_type.as_str()) {
            return Ok(());
        }
        let got = scope_key(namespace.unwrap_or("(any)"), task_type.unwrap_or("(any)"));
        Err(CacheError::invalid(
            "scope_mismatch",
            format!(
                "{SCOPE_HEADER} is {key:?} but the request's scope is {got:?}",
                key = key.to_string()
            ),
        ))
    }
}

impl FromRequest for RoutingHeaders {
    type Error = ApiError;
    type Future = Ready<Result<RoutingHeaders, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(RoutingHeaders::from_headers(req.headers()).map_err(ApiError))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    fn code<T: std::fmt::Debug>(r: Result<T, CacheError>) -> &'static str {
        r.unwrap_err().code()
    }

    #[test]
    fn headers_are_parsed_and_checked() {
        let h = RoutingHeaders::from_headers(&headers(&[
            ("x-helios-namespace", b" team-a "),
            ("x-helios-scope", b"team-a|qa"),
        ]))
        .unwrap();
        assert_eq!(h.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            h.scope,
            Some(ScopeKey {
                namespace: "team-a".into(),
                task_type: "qa".into()
            })
        );
        assert_eq!(
            RoutingHeaders::from_headers(&HeaderMap::new()).unwrap(),
            RoutingHeaders::default()
        );
        let bad = |pairs: &[(&str, &[u8])]| code(RoutingHeaders::from_headers(&headers(pairs)));
        assert_eq!(bad(&[("x-helios-namespace", b"a b")]), "invalid_name");
        assert_eq!(bad(&[("x-helios-namespace", b"")]), "invalid_name");
        assert_eq!(
            bad(&[("x-helios-namespace", b"caf\xc3\xa9")]),
            "invalid_name"
        );
        assert_eq!(
            bad(&[("x-helios-namespace", b"a"), ("x-helios-namespace", b"a")]),
            "duplicate_header"
        );
        assert_eq!(bad(&[("x-helios-scope", b"team-a")]), "invalid_scope_key");
        assert_eq!(bad(&[("x-helios-scope", b"team-a|")]), "invalid_name");
        assert_eq!(bad(&[("x-helios-scope", b"a|b|c")]), "invalid_name");
    }

    #[test]
    fn header_and_body_namespaces_must_agree() {
        let none = RoutingHeaders::default();
        let a = RoutingHeaders {
            namespace: Some("a".into()),
            scope: None,
        };
        assert_eq!(none.namespace(None).unwrap(), None);
        assert_eq!(
            none.namespace(Some("b".into())).unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(a.namespace(None).unwrap().as_deref(), Some("a"));
        assert_eq!(a.namespace(Some("a".into())).unwrap().as_deref(), Some("a"));
        assert_eq!(code(a.namespace(Some("b".into()))), "namespace_mismatch");
    }

    #[test]
    fn the_scope_key_must_name_the_requests_scope() {
        assert_eq!(scope_key("team-a", "qa"), "team-a|qa");
        let key = ScopeKey::parse(&scope_key("ns/1", "t:2")).unwrap();
        assert_eq!(
            (key.namespace.as_str(), key.task_type.as_str()),
            ("ns/1", "t:2")
        );
        let h = RoutingHeaders {
            namespace: None,
            scope: Some(ScopeKey::parse("default|general").unwrap()),
        };
        let fields = ScopeFields::new(None, None, Some("sys".into())).unwrap();
        assert!(h.check_scope(&fields).is_ok());
        let other = ScopeFields::new(None, Some("qa"), None).unwrap();
        assert_eq!(code(h.check_scope(&other)), "scope_mismatch");
        assert!(h.check_filters(Some("default"), Some("general")).is_ok());
        assert_eq!(
            code(h.check_filters(Some("default"), None)),
            "scope_mismatch"
        );
        assert_eq!(code(h.check_filters(None, None)), "scope_mismatch");
        assert!(RoutingHeaders::default().check_filters(None, None).is_ok());
        assert_eq!(
            scope_key(
                crate::cache::scope::DEFAULT_NAMESPACE,
                crate::cache::scope::DEFAULT_TASK_TYPE
            ),
            "default|general"
        );
    }
}
